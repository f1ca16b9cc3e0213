// Permutation importance of tree models: permuted scores for every (group, repeat) task, the
// scoring spec and its enums. Every check is the core's (ScoringSpec::check,
// PermutationInput::check): this file converts arrays and releases the GIL.
#include <pybind11/stl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "bindings.hpp"
#include "xplain/permutation.hpp"

namespace xplain_py {

namespace {

/// Points `spec` at the targets and weights (1-D arrays owned by the caller for the whole call).
void attach_targets(xplain::ScoringSpec& spec, const std::optional<carray<double>>& y,
                    const std::optional<carray<int32_t>>& y_class, const std::optional<carray<double>>& sample_weight) {
  if (y) {
    spec.y = one_dimensional(*y, "y").data();
    spec.y_size = y->size();
  }
  if (y_class) {
    spec.y_class = one_dimensional(*y_class, "y_class").data();
    spec.y_class_size = y_class->size();
  }
  if (sample_weight) {
    spec.sample_weight = one_dimensional(*sample_weight, "sample_weight").data();
    spec.sample_weight_size = sample_weight->size();
  }
}

void register_scoring_spec(py::module_& m) {
  bind_enum(m, "Metric", xplain::kMetricNames,
            "The scikit-learn scorers computed natively, by their scikit-learn names (Metric.__members__).");
  bind_enum(m, "Link", xplain::kLinkNames, "How the raw output becomes predictions.");
  bind_enum(m, "PredictRule", xplain::kPredictRuleNames,
            "Which class predict returns: argmax of the probabilities, or the sign of the raw margin "
            "(raw > 0: HistGradientBoosting, raw >= 0: GradientBoosting).");
  py::class_<xplain::ScoringSpec>(m, "ScoringSpec",
                                  "What to score and how (targets and weights are passed to the scoring calls).")
      .def(py::init<>())
      .def_readwrite("classifier", &xplain::ScoringSpec::classifier)
      .def_readwrite("link", &xplain::ScoringSpec::link)
      .def_readwrite("divisor", &xplain::ScoringSpec::divisor, "raw sums are divided by this before the link")
      .def_readwrite("predict_rule", &xplain::ScoringSpec::predict_rule)
      .def_readwrite("auc_uses_raw", &xplain::ScoringSpec::auc_uses_raw,
                     "binary roc_auc on the decision function (the raw margin)")
      .def_readwrite("float32_output", &xplain::ScoringSpec::float32_output,
                     "the library predicts in float32: round like it, and skip the exact tree-order re-sum "
                     "of near ties (the model's own arithmetic is float32)")
      .def_readwrite("n_classes", &xplain::ScoringSpec::n_classes)
      .def_readwrite("metrics", &xplain::ScoringSpec::metrics,
                     "list of Metric (a copy: assign a new list to change it)");
}

void register_permutation_scores(py::module_& m) {
  m.attr("DEFAULT_TASK_MEMORY_BYTES") = xplain::kDefaultTaskMemoryBytes;
  m.def(
      "permutation_scores",
      [](const ForestHandle& forest, const carray<double>& value, const py::array& X, const carray<int64_t>& perms,
         const carray<int64_t>& group_offsets, const carray<int64_t>& group_columns, xplain::ScoringSpec spec,
         const std::optional<carray<double>>& y, const std::optional<carray<int32_t>>& y_class,
         const std::optional<carray<double>>& sample_weight, int n_jobs, int64_t task_memory_bytes,
         bool allow_avx512) {
        const auto& f = forest.view();
        auto rows = checked_rows(X, f.n_features);
        attach_targets(spec, y, y_class, sample_weight);
        xplain::PermutationInput in;
        in.allow_avx512 = allow_avx512;
        in.value = two_dimensional(value, "value").data();
        in.value_rows = value.shape(0);
        in.value_cols = value.shape(1);
        in.X = rows.data();
        in.n_rows = rows.shape(0);
        in.perms = two_dimensional(perms, "perms").data();
        in.n_repeats = perms.shape(0);
        in.perm_length = perms.shape(1);
        in.group_offsets = one_dimensional(group_offsets, "group_offsets").data();
        in.n_groups = group_offsets.size() - 1;
        in.group_columns = one_dimensional(group_columns, "group_columns").data();
        in.n_group_columns = group_columns.size();
        // Output shapes clamped at 0: bad extents are reported by the core's checks.
        const int64_t n_metrics = static_cast<int64_t>(spec.metrics.size());
        py::array_t<double> out({std::max<int64_t>(0, in.n_groups), in.n_repeats, n_metrics});
        py::array_t<double> baseline(static_cast<py::ssize_t>(n_metrics));
        double* o = out.mutable_data();
        double* base = baseline.mutable_data();
        // Safe without the GIL: the forest is immutable, every array read by the workers is held
        // by this call's arguments or locals (rows, value, perms, groups, y, y_class,
        // sample_weight) until it returns, `spec` is a local copy, and each task writes only its
        // own slot of `out`; no Python object is touched by the workers.
        run_without_gil([&](const std::function<bool()>& interrupted) {
          xplain::permutation_scores(f, in, spec, o, base, n_jobs, interrupted, task_memory_bytes);
        });
        return py::make_tuple(baseline, out);
      },
      py::arg("forest"), py::arg("value"), py::arg("X"), py::arg("perms"), py::arg("group_offsets"),
      py::arg("group_columns"), py::arg("spec"), py::arg("y") = py::none(), py::arg("y_class") = py::none(),
      py::arg("sample_weight") = py::none(), py::arg("n_jobs") = 1,
      py::arg("task_memory_bytes") = xplain::kDefaultTaskMemoryBytes, py::arg("allow_avx512") = true,
      "(baseline scores [n_metrics], scores [n_groups, n_repeats, n_metrics] after permuting each column group of X).\n"
      "value: the per-node values to sum [n_nodes, value_width]; perms [n_repeats, n_rows]; group g is\n"
      "group_columns[group_offsets[g]:group_offsets[g + 1]]. y (regressors) or y_class (class indices) and\n"
      "sample_weight have one entry per row. task_memory_bytes bounds the permuted raw sums (and the kept\n"
      "baseline leaves) held at once. allow_avx512=False keeps the portable scan where the CPU has AVX-512\n"
      "(the same bits). ValueError for bad input.");
}

}  // namespace

void register_permutation(py::module_& m) {
  register_scoring_spec(m);
  register_permutation_scores(m);

  m.def("permutation_scan_can_use_avx512", &xplain::permutation_scan_can_use_avx512,
        "Whether this CPU runs permutation_scores' AVX-512 scan of float rows (see allow_avx512).");

  m.def(
      "forest_scores",
      [](const ForestHandle& forest, const carray<double>& value, const py::array& X, xplain::ScoringSpec spec,
         const std::optional<carray<double>>& y, const std::optional<carray<int32_t>>& y_class,
         const std::optional<carray<double>>& sample_weight, int n_jobs) {
        const auto& f = forest.view();
        auto rows = checked_rows(X, f.n_features);
        attach_targets(spec, y, y_class, sample_weight);
        two_dimensional(value, "value");
        py::array_t<double> out(static_cast<py::ssize_t>(spec.metrics.size()));
        double* o = out.mutable_data();
        const double* x = rows.data();
        const double* v = value.data();
        const int64_t n = rows.shape(0), value_rows = value.shape(0), value_cols = value.shape(1);
        // Safe without the GIL: the forest is immutable, rows, value and the targets are held by
        // this call until it returns, `spec` is a local copy, and the raw sums live in the core's
        // own vector; workers write disjoint rows of it and touch no Python object.
        run_without_gil([&](const std::function<bool()>& interrupted) {
          xplain::forest_scores(f, v, value_rows, value_cols, x, n, spec, o, n_jobs, interrupted);
        });
        return out;
      },
      py::arg("forest"), py::arg("value"), py::arg("X"), py::arg("spec"), py::arg("y") = py::none(),
      py::arg("y_class") = py::none(), py::arg("sample_weight") = py::none(), py::arg("n_jobs") = 1,
      "Scores [n_metrics] of the forest's predictions on X with per-node values `value` (the unpermuted "
      "baseline). ValueError for bad input.");
}

}  // namespace xplain_py
