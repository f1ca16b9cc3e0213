// Path-dependent TreeSHAP.
#include "bindings.hpp"
#include "xplain/interactions.hpp"
#include "xplain/simd.hpp"
#include "xplain/treeshap.hpp"

namespace xplain_py {

void register_treeshap(py::module_& m) {
  py::enum_<xplain::SimdLevel>(m, "SimdLevel", "Instruction sets of the SHAP walks, narrowest first.")
      .value("portable", xplain::SimdLevel::portable)
      .value("avx2", xplain::SimdLevel::avx2);
  m.def("set_simd_limit", &xplain::set_simd_limit, py::arg("level"),
        "Cap the instruction set later SHAP calls may use (portable: the baseline build only). Both give the "
        "same bits.");
  m.def("simd_level", &xplain::simd_level, "The instruction set a SHAP call starting now uses.");
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

  def_shap_engine<xplain::PathShapTables>(
      m, "path", &xplain::path_shap_values, &xplain::path_interaction_values,
      "Path-dependent SHAP values [n_rows, n_features, n_outputs] for float64 rows X.",
      "Path-dependent SHAP interaction values [n_rows, n_sub, n_sub, n_outputs] for the listed features.");
}

}  // namespace xplain_py
