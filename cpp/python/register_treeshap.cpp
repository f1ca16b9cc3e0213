// Path-dependent TreeSHAP.
#include "bindings.hpp"
#include "xplain/interactions.hpp"
#include "xplain/treeshap.hpp"

namespace xplain_py {

void register_treeshap(py::module_& m) {
  py::class_<xplain::PathShapTables>(m, "PathShapTables",
                                     "Model-only tables of path-dependent TreeSHAP for one Forest.")
      .def_property_readonly("expected_value", [](const xplain::PathShapTables& t) {
        return py::array_t<double>(static_cast<py::ssize_t>(t.expected.size()), t.expected.data());
      });

  m.def(
      "build_path_shap_tables",
      [](const ForestHandle& forest) {
        xplain::PathShapTables tables;
        // Safe without the GIL: reads only the immutable forest and writes a local object.
        {
          py::gil_scoped_release release;
          tables = xplain::build_path_shap_tables(forest.view());
        }
        return tables;
      },
      py::arg("forest"), "Precompute the per-node quadrature tables of path-dependent TreeSHAP.");

  m.def(
      "path_shap_values",
      [](const ForestHandle& forest, const xplain::PathShapTables& tables, const py::array& X, int n_jobs) {
        const auto& f = forest.view();
        return attributions_without_gil(f, X, [&](const double* x, int64_t n, double* out) {
          xplain::path_shap_values(f, tables, x, n, out, n_jobs, python_interrupt_check());
        });
      },
      py::arg("forest"), py::arg("tables"), py::arg("X"), py::arg("n_jobs") = 1,
      "Path-dependent SHAP values [n_rows, n_features, n_outputs] for float64 rows X.");

  m.def(
      "path_interaction_values",
      [](const ForestHandle& forest, const xplain::PathShapTables& tables, const py::array& X,
         const carray<int64_t>& features, int n_jobs) {
        const auto& f = forest.view();
        return interactions_without_gil(
            f, X, features, [&](const double* x, int64_t n, const int32_t* subset, int64_t n_sub, double* out) {
              xplain::path_interaction_values(f, tables, x, n, subset, n_sub, out, n_jobs, python_interrupt_check());
            });
      },
      py::arg("forest"), py::arg("tables"), py::arg("X"), py::arg("features"), py::arg("n_jobs") = 1,
      "Path-dependent SHAP interaction values [n_rows, n_sub, n_sub, n_outputs] for the listed features.");
}

}  // namespace xplain_py
