// Interventional (background-data) TreeSHAP.
#include <optional>

#include <pybind11/stl.h>

#include "bindings.hpp"
#include "xplain/interventional.hpp"

namespace xplain_py {

namespace {

/// InterventionalTables, its defaults and build_interventional_tables.
void register_tables(py::module_& m) {
  m.attr("DEFAULT_MAX_TABLE_BYTES") = xplain::kDefaultMaxTableBytes;
  m.attr("DEFAULT_MAX_TABLE_K") = xplain::kDefaultMaxTableK;
  m.attr("DEFAULT_TABLE_RATIO") = xplain::kDefaultTableRatio;
  py::class_<xplain::InterventionalTables>(
      m, "InterventionalTables", "Background statistics of interventional TreeSHAP for one Forest.")
      .def_property_readonly("expected_value",
                             [](const xplain::InterventionalTables& t) {
                               return py::array_t<double>(static_cast<py::ssize_t>(t.expected.size()),
                                                          t.expected.data());
                             })
      .def_property_readonly("n_background", [](const xplain::InterventionalTables& t) { return t.n_background; })
      .def_property_readonly("n_table_leaves", [](const xplain::InterventionalTables& t) { return t.n_table_leaves; })
      .def_property_readonly("n_pattern_leaves",
                             [](const xplain::InterventionalTables& t) { return t.n_pattern_leaves; })
      .def_property_readonly("table_bytes",
                             [](const xplain::InterventionalTables& t) { return int64_t(8) * int64_t(t.table.size()); })
      .def_property_readonly("nbytes", &xplain::InterventionalTables::nbytes)
      .def(tables_pickle<xplain::InterventionalTables>("xplain-fast InterventionalTables 1"));

  m.def(
      "build_interventional_tables",
      [](const ForestHandle& forest, const py::array& background, int64_t max_table_bytes, int max_table_k,
         double table_ratio, int n_jobs, bool statistics) {
        const auto& f = forest.view();
        auto rows = checked_rows(background, f.n_features);
        const int64_t n = rows.shape(0);
        xplain::InterventionalOptions options;
        options.max_table_bytes = max_table_bytes;
        options.max_table_k = max_table_k;
        options.table_ratio = table_ratio;
        options.statistics = statistics;
        const double* b = rows.data();
        xplain::InterventionalTables tables;
        // Safe without the GIL: reads the immutable forest and `rows` (owned here for the whole
        // call) and writes only the local `tables`; workers touch no Python object. The core's
        // std::invalid_argument (no rows, bad options) reaches Python as a ValueError.
        run_without_gil([&](const std::function<bool()>& interrupted) {
          tables = xplain::build_interventional_tables(f, b, n, options, n_jobs, interrupted);
        });
        return tables;
      },
      py::arg("forest"), py::arg("background"), py::arg("max_table_bytes") = xplain::kDefaultMaxTableBytes,
      py::arg("max_table_k") = xplain::kDefaultMaxTableK, py::arg("table_ratio") = xplain::kDefaultTableRatio,
      py::arg("n_jobs") = 1, py::arg("statistics") = true,
      "Fit interventional TreeSHAP to float64 background rows (per-leaf pattern tables).");
}

/// OutputTransform and pair_shap_values.
void register_pair(py::module_& m) {
  bind_enum(m, "OutputTransform", xplain::kOutputTransformNames,
            "What pair_shap_values explains: the raw margin (identity), its logistic, the logistic log loss "
            "or the squared loss against labels y.");
  m.def(
      "pair_shap_values",
      [](const ForestHandle& forest, const xplain::InterventionalTables& tables, const py::array& background,
         const py::array& X, std::optional<carray<double>> y, xplain::OutputTransform transform, int n_jobs) {
        const auto& f = forest.view();
        auto rows = checked_rows(X, f.n_features);
        auto bg = checked_rows(background, f.n_features);
        const int64_t n = rows.shape(0), R = bg.shape(0);
        if (y && y->size() != n) throw py::value_error("y needs one label per row of X");
        py::array_t<double> phi({n, f.n_features});
        py::array_t<double> base(n);
        const double* x = rows.data();
        const double* b = bg.data();
        const double* yp = y ? y->data() : nullptr;
        double* out = phi.mutable_data();
        double* bo = base.mutable_data();
        // Safe without the GIL: forest and tables are immutable and held by the caller; rows,
        // background, y, phi and base are owned here for the whole call; workers write disjoint
        // row slices of phi and base. std::invalid_argument reaches Python as a ValueError.
        run_without_gil([&](const std::function<bool()>& interrupted) {
          xplain::pair_shap_values(f, tables, b, R, x, yp, n, transform, out, bo, n_jobs, interrupted);
        });
        return py::make_tuple(phi, base);
      },
      py::arg("forest"), py::arg("tables"), py::arg("background"), py::arg("X"), py::arg("y"),
      py::arg("transform"), py::arg("n_jobs") = 1,
      "(phi [n_rows, n_features], base [n_rows]) of a transformed one-output model, per (row, background row) "
      "pair as the shap package defines it; transform: an OutputTransform.");
}

}  // namespace

void register_interventional(py::module_& m) {
  register_tables(m);
  register_pair(m);

  def_shap_engine<xplain::InterventionalTables>(
      m, "interventional", &xplain::interventional_shap_values, &xplain::interventional_interaction_values,
      "Interventional SHAP values of the raw output [n_rows, n_features, n_outputs] for float64 rows X.",
      "Interventional SHAP interaction values [n_rows, n_sub, n_sub, n_outputs] (tables fitted with\n"
      "max_table_bytes=0, so that every leaf keeps its background patterns).");
}

}  // namespace xplain_py
