// Forest handle and raw prediction.
#include "bindings.hpp"
#include "xplain/predict.hpp"

namespace xplain_py {

ForestHandle::ForestHandle(carray<int32_t> left, carray<int32_t> right, carray<int32_t> feature,
                           carray<double> threshold, carray<uint8_t> default_left,
                           carray<uint8_t> missing_rule, carray<double> value, carray<double> cover,
                           carray<int64_t> tree_offset, carray<int32_t> tree_output,
                           carray<double> base_value, carray<int64_t> cat_offset,
                           carray<int32_t> cat_words, carray<uint32_t> cat_bits, int64_t n_features,
                           bool strict_less, bool float32_input, bool categorical_truncation) {
  const int64_t n = left.size();
  auto same_length = [n](const py::array& a, const char* name) {
    if (a.size() != n)
      throw py::value_error(std::string("Forest array '") + name + "' has " + std::to_string(a.size()) +
                            " entries, expected one per node (" + std::to_string(n) + ")");
  };
  same_length(right, "right");
  same_length(feature, "feature");
  same_length(threshold, "threshold");
  same_length(default_left, "default_left");
  same_length(cover, "cover");
  if (missing_rule.size() != 0) same_length(missing_rule, "missing_rule");
  if (cat_offset.size() != 0) {
    same_length(cat_offset, "cat_offset");
    same_length(cat_words, "cat_words");
  }
  if (value.ndim() != 2 || value.shape(0) != n) throw py::value_error("Forest 'value' must be [n_nodes, width]");
  if (tree_output.size() + 1 != tree_offset.size())
    throw py::value_error("Forest 'tree_output' needs one entry per tree");
  // Every array stays referenced for the handle's life; an empty optional one is a null pointer.
  auto keep = [this](const auto& a) {
    keep_alive_.append(a);
    return a.size() == 0 ? nullptr : a.data();
  };
  view_.left = keep(left); view_.right = keep(right); view_.feature = keep(feature);
  view_.threshold = keep(threshold); view_.default_left = keep(default_left);
  view_.missing_rule = keep(missing_rule);
  view_.value = keep(value); view_.cover = keep(cover);
  view_.tree_offset = keep(tree_offset); view_.tree_output = keep(tree_output);
  view_.base_value = keep(base_value);
  view_.cat_offset = keep(cat_offset); view_.cat_words = keep(cat_words); view_.cat_bits = keep(cat_bits);
  view_.n_cat_bits = cat_bits.size();
  view_.n_nodes = n;
  view_.n_trees = static_cast<int64_t>(tree_output.size());
  view_.n_features = n_features;
  view_.n_outputs = base_value.size();
  view_.value_width = value.shape(1);
  view_.strict_less = strict_less;
  view_.float32_input = float32_input;
  view_.categorical_truncation = categorical_truncation;
  view_.check();  // std::invalid_argument reaches Python as a ValueError
}

void register_forest(py::module_& m) {
  bind_enum(m, "MissingRule", xplain::kMissingRuleNames,
            "How a node treats NaN and zeros: the codes of Forest.missing_rule (int(rule) is the stored byte).");
  py::class_<ForestHandle>(m, "ForestHandle",
                           "Validated, immutable view of a Forest's arrays (built by xplain_fast.Forest).")
      .def(py::init<carray<int32_t>, carray<int32_t>, carray<int32_t>, carray<double>, carray<uint8_t>,
                    carray<uint8_t>, carray<double>, carray<double>, carray<int64_t>, carray<int32_t>,
                    carray<double>, carray<int64_t>, carray<int32_t>, carray<uint32_t>, int64_t, bool, bool,
                    bool>(),
           py::arg("left"), py::arg("right"), py::arg("feature"), py::arg("threshold"),
           py::arg("default_left"), py::arg("missing_rule"), py::arg("value"), py::arg("cover"),
           py::arg("tree_offset"), py::arg("tree_output"), py::arg("base_value"), py::arg("cat_offset"),
           py::arg("cat_words"), py::arg("cat_bits"), py::arg("n_features"), py::arg("strict_less"),
           py::arg("float32_input"), py::arg("categorical_truncation"));

  m.def(
      "predict_raw",
      [](const ForestHandle& forest, const py::array& X, int n_jobs) {
        const auto& f = forest.view();
        auto rows = checked_rows(X, f.n_features);
        const int64_t n = rows.shape(0);
        py::array_t<double> out({n, f.n_outputs});
        const double* x = rows.data();
        double* o = out.mutable_data();
        // Safe without the GIL: the forest is immutable, `rows` and `out` are owned here and
        // kept alive for the whole call, and no Python object is touched by the workers.
        run_without_gil([&](const std::function<bool()>& interrupted) {
          xplain::predict_raw(f, x, n, o, n_jobs, interrupted);
        });
        return out;
      },
      py::arg("forest"), py::arg("X"), py::arg("n_jobs") = 1,
      "Raw output [n_rows, n_outputs] of the forest for float64 rows X.");
}

}  // namespace xplain_py
