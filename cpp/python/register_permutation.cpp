// Permutation importance of tree models: permuted scores for every (group, repeat) task.
#include <pybind11/stl.h>

#include <vector>

#include "bindings.hpp"
#include "xplain/permutation.hpp"

namespace xplain_py {

namespace {

/// Arrays that the ScoringSpec points into, kept alive for the call.
struct SpecArrays {
  carray<double> y;
  carray<int32_t> y_class;
  carray<double> sample_weight;
};

xplain::ScoringSpec make_spec(bool classifier, int link, double divisor, int predict_rule, bool auc_uses_raw,
                              bool float32_output, int64_t n_classes, const py::object& y, const py::object& y_class,
                              const py::object& sample_weight, const std::vector<int>& metrics, int64_t n,
                              SpecArrays& keep) {
  xplain::ScoringSpec s;
  s.classifier = classifier;
  s.link = link;
  s.divisor = divisor;
  s.predict_rule = predict_rule;
  s.auc_uses_raw = auc_uses_raw;
  s.float32_output = float32_output;
  s.n_classes = n_classes;
  s.metrics = metrics;
  auto length_check = [n](const py::array& a, const char* name) {
    if (a.ndim() != 1 || a.shape(0) != n)
      throw py::value_error(std::string(name) + " must be 1-D with one entry per row (" + std::to_string(n) + ")");
  };
  if (!y.is_none()) {
    keep.y = carray<double>::ensure(y);
    length_check(keep.y, "y");
    s.y = keep.y.data();
  }
  if (!y_class.is_none()) {
    keep.y_class = carray<int32_t>::ensure(y_class);
    length_check(keep.y_class, "y_class");
    s.y_class = keep.y_class.data();
  }
  if (!sample_weight.is_none()) {
    keep.sample_weight = carray<double>::ensure(sample_weight);
    length_check(keep.sample_weight, "sample_weight");
    s.sample_weight = keep.sample_weight.data();
  }
  if (metrics.empty()) throw py::value_error("no metric to compute");
  for (int m : metrics)
    if (m < xplain::kR2 || m > xplain::kRocAucOvr) throw py::value_error("unknown metric id " + std::to_string(m));
  if (classifier && (n_classes < 2 || !s.y_class)) throw py::value_error("a classifier needs n_classes >= 2 and y_class");
  if (!classifier && !s.y) throw py::value_error("a regressor needs y");
  if (s.y_class)
    for (int64_t i = 0; i < n; ++i)
      if (s.y_class[i] < 0 || s.y_class[i] >= n_classes) throw py::value_error("y_class out of range");
  return s;
}

carray<double> checked_value(const py::array& value, const xplain::ForestView& f) {
  auto v = carray<double>::ensure(value);
  if (!v || v.ndim() != 2 || v.shape(0) != f.n_nodes || v.shape(1) != f.value_width)
    throw py::value_error("value must be a float64 array [n_nodes, value_width] like the Forest's");
  return v;
}

}  // namespace

void register_permutation(py::module_& m) {
  m.def(
      "permutation_scores",
      [](const ForestHandle& forest, const py::array& value, bool exact_order, const py::array& X,
         carray<int64_t> perms, carray<int64_t> group_offsets, carray<int64_t> group_columns, bool classifier,
         int link, double divisor, int predict_rule, bool auc_uses_raw, bool float32_output, int64_t n_classes, const py::object& y,
         const py::object& y_class, const py::object& sample_weight, const std::vector<int>& metrics,
         int n_jobs, int64_t task_memory_bytes) {
        if (task_memory_bytes < 1) throw py::value_error("task_memory_bytes must be positive");
        const auto& f = forest.view();
        auto rows = checked_rows(X, f.n_features);
        auto values = checked_value(value, f);
        const int64_t n = rows.shape(0);
        if (perms.ndim() != 2 || perms.shape(1) != n)
          throw py::value_error("perms must be [n_repeats, n_rows]");
        if (group_offsets.ndim() != 1 || group_offsets.shape(0) < 2)
          throw py::value_error("group_offsets must hold n_groups + 1 >= 2 entries");
        const int64_t G = group_offsets.shape(0) - 1;
        if (group_offsets.at(G) != group_columns.size())
          throw py::value_error("group_offsets must end at the number of group columns");
        SpecArrays keep;
        xplain::ScoringSpec spec = make_spec(classifier, link, divisor, predict_rule, auc_uses_raw, float32_output, n_classes, y,
                                             y_class, sample_weight, metrics, n, keep);
        xplain::PermutationInput in;
        in.value = values.data();
        in.exact_order = exact_order;
        in.X = rows.data();
        in.n_rows = n;
        in.perms = perms.data();
        in.n_repeats = perms.shape(0);
        in.group_offsets = group_offsets.data();
        in.group_columns = group_columns.data();
        in.n_groups = G;
        const int64_t R = in.n_repeats, n_metrics = static_cast<int64_t>(metrics.size());
        py::array_t<double> out({G, R, n_metrics});
        py::array_t<double> baseline(static_cast<py::ssize_t>(n_metrics));
        double* o = out.mutable_data();
        double* base = baseline.mutable_data();
        // Safe without the GIL: the forest is immutable, every array read by the workers is owned
        // by a local (rows, values, perms, groups, `keep`) that outlives the call, and each task
        // writes only its own slot of `out`; no Python object is touched by the workers.
        run_without_gil(
            [&] { xplain::permutation_scores(f, in, spec, o, base, n_jobs, python_interrupt_check(), task_memory_bytes); });
        return py::make_tuple(baseline, out);
      },
      py::arg("forest"), py::arg("value"), py::arg("exact_order"), py::arg("X"), py::arg("perms"),
      py::arg("group_offsets"), py::arg("group_columns"), py::arg("classifier"), py::arg("link"),
      py::arg("divisor"), py::arg("predict_rule"), py::arg("auc_uses_raw"), py::arg("float32_output"), py::arg("n_classes"), py::arg("y"),
      py::arg("y_class"), py::arg("sample_weight"), py::arg("metrics"), py::arg("n_jobs") = 1,
      py::arg("task_memory_bytes") = int64_t{256} << 20,
      "(baseline scores [n_metrics], scores [n_groups, n_repeats, n_metrics] after permuting each column group of X).\n"
      "task_memory_bytes bounds the permuted raw sums (and the kept baseline leaves) held at once.");

  m.def("permutation_scan_uses_avx512", &xplain::permutation_scan_uses_avx512,
        "Whether permutation_scores scans float rows with AVX-512 here (XPLAIN_FAST_NO_AVX512 in the "
        "environment turns it off).");

  m.def(
      "forest_scores",
      [](const ForestHandle& forest, const py::array& value, const py::array& X, bool classifier, int link,
         double divisor, int predict_rule, bool auc_uses_raw, bool float32_output, int64_t n_classes, const py::object& y,
         const py::object& y_class, const py::object& sample_weight, const std::vector<int>& metrics, int n_jobs) {
        const auto& f = forest.view();
        auto rows = checked_rows(X, f.n_features);
        auto values = checked_value(value, f);
        const int64_t n = rows.shape(0);
        SpecArrays keep;
        xplain::ScoringSpec spec = make_spec(classifier, link, divisor, predict_rule, auc_uses_raw, float32_output, n_classes, y,
                                             y_class, sample_weight, metrics, n, keep);
        py::array_t<double> out(static_cast<py::ssize_t>(metrics.size()));
        double* o = out.mutable_data();
        const double* x = rows.data();
        const double* v = values.data();
        // Safe without the GIL: as above; the raw sums live in a local vector.
        run_without_gil([&] {
          std::vector<double> raw(static_cast<size_t>(n * f.n_outputs));
          xplain::predict_raw(f, x, n, raw.data(), n_jobs, python_interrupt_check(), v);
          xplain::ScoreScratch scratch;
          xplain::score_raw(spec, raw.data(), n, f.n_outputs, o, scratch);
        });
        return out;
      },
      py::arg("forest"), py::arg("value"), py::arg("X"), py::arg("classifier"), py::arg("link"), py::arg("divisor"),
      py::arg("predict_rule"), py::arg("auc_uses_raw"), py::arg("float32_output"), py::arg("n_classes"), py::arg("y"), py::arg("y_class"),
      py::arg("sample_weight"), py::arg("metrics"), py::arg("n_jobs") = 1,
      "Scores [n_metrics] of the forest's predictions on X (the unpermuted baseline).");
}

}  // namespace xplain_py
