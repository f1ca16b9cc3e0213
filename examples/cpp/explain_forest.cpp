// SHAP values of a hand-made forest with the header-only core: validate the forest, build the
// model-only tables once, explain rows on two threads, check that each row's values add up.
#include <cmath>
#include <cstdio>
#include <vector>

#include "xplain/predict.hpp"
#include "xplain/treeshap.hpp"
#include "xplain/version.hpp"

int main() {
  // One tree on two features: x0 <= 0 ? (x1 <= 1 ? 1 : 2) : 3, with the training rows per node.
  std::vector<int32_t> left{1, 3, -1, -1, -1}, right{2, 4, -1, -1, -1}, feature{0, 1, -1, -1, -1};
  std::vector<double> threshold{0.0, 1.0, 0, 0, 0}, value{0, 0, 3.0, 1.0, 2.0}, cover{10, 6, 4, 2, 4};
  std::vector<uint8_t> default_left{1, 1, 0, 0, 0};
  std::vector<int64_t> tree_offset{0, 5};
  std::vector<int32_t> tree_output{0};
  std::vector<double> base{0.0};
  xplain::ForestView forest;
  forest.left = left.data(); forest.right = right.data(); forest.feature = feature.data();
  forest.threshold = threshold.data(); forest.default_left = default_left.data(); forest.value = value.data();
  forest.cover = cover.data(); forest.tree_offset = tree_offset.data(); forest.tree_output = tree_output.data();
  forest.base_value = base.data();
  forest.n_nodes = 5; forest.n_trees = 1; forest.n_features = 2;
  forest.check();  // throws std::invalid_argument naming what is wrong

  const std::vector<double> X{-1.0, 0.5, -1.0, 4.0, 2.0, 0.0, NAN, NAN};
  const int64_t n = 4;
  const xplain::PathShapTables tables = xplain::build_path_shap_tables(forest);
  std::vector<double> phi(static_cast<size_t>(n * 2)), prediction(static_cast<size_t>(n));
  xplain::path_shap_values(forest, tables, X.data(), n, phi.data(), /*n_jobs=*/2);
  xplain::predict_raw(forest, X.data(), n, prediction.data());

  std::printf("xplain %s, expected value %.3f\n", XPLAIN_VERSION_STRING, tables.expected[0]);
  bool additive = true;
  for (int64_t r = 0; r < n; ++r) {
    const double total = tables.expected[0] + phi[static_cast<size_t>(2 * r)] + phi[static_cast<size_t>(2 * r + 1)];
    std::printf("row %lld: phi = (%+.3f, %+.3f), prediction %.3f\n", static_cast<long long>(r),
                phi[static_cast<size_t>(2 * r)], phi[static_cast<size_t>(2 * r + 1)], prediction[static_cast<size_t>(r)]);
    additive = additive && std::fabs(total - prediction[static_cast<size_t>(r)]) < 1e-12;
  }
  std::printf(additive ? "additivity holds\n" : "additivity FAILED\n");
  return additive ? 0 : 1;
}
