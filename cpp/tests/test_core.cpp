// C++-only checks of the header-only core (no Python): a hand-made forest, its predictions,
// SHAP additivity, thread-count invariance and argument validation.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <vector>

#include "xplain/predict.hpp"
#include "xplain/treeshap.hpp"

static int failures = 0;
#define CHECK(cond)                                                   \
  do {                                                                \
    if (!(cond)) {                                                    \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                     \
    }                                                                 \
  } while (0)

int main() {
  // Two trees on 3 features: tree 0 splits x0 then x1 (left) / x0 again (right); tree 1 is a stump on x2.
  std::vector<int32_t> left{1, 3, 5, -1, -1, -1, -1, 8, -1, -1};
  std::vector<int32_t> right{2, 4, 6, -1, -1, -1, -1, 9, -1, -1};
  std::vector<int32_t> feature{0, 1, 0, -1, -1, -1, -1, 2, -1, -1};
  std::vector<double> threshold{0.0, 1.0, 2.0, 0, 0, 0, 0, 0.5, 0, 0};
  std::vector<uint8_t> default_left{1, 0, 1, 0, 0, 0, 0, 0, 0, 0};
  std::vector<double> value{0, 0, 0, 1.0, 2.0, 3.0, 4.0, 0, -1.0, 1.0};
  std::vector<double> cover{10, 6, 4, 2, 4, 3, 1, 10, 7, 3};
  std::vector<int64_t> tree_offset{0, 7, 10};
  std::vector<int32_t> tree_output{0, 0};
  std::vector<double> base{0.5};
  xplain::ForestView f;
  f.left = left.data(); f.right = right.data(); f.feature = feature.data(); f.threshold = threshold.data();
  f.default_left = default_left.data(); f.value = value.data(); f.cover = cover.data();
  f.tree_offset = tree_offset.data(); f.tree_output = tree_output.data(); f.base_value = base.data();
  f.n_nodes = 10; f.n_trees = 2; f.n_features = 3;
  f.check();

  std::mt19937_64 gen(1);
  std::normal_distribution<double> normal(0.0, 1.5);
  const int64_t n = 100;
  std::vector<double> X(static_cast<size_t>(n * 3));
  for (auto& x : X) x = normal(gen);
  X[0] = NAN;  // row 0 takes the default direction at the root

  std::vector<double> pred(n), phi1(static_cast<size_t>(n * 3)), phi2(phi1.size());
  xplain::predict_raw(f, X.data(), n, pred.data(), 2);
  CHECK(pred[0] == 0.5 + (X[1] <= 1.0 ? 1.0 : 2.0) + (X[2] <= 0.5 ? -1.0 : 1.0));

  const auto tables = xplain::build_path_shap_tables(f);
  // E = 0.5 + (2*1 + 4*2 + 3*3 + 1*4)/10 + (7*-1 + 3*1)/10
  CHECK(std::fabs(tables.expected[0] - (0.5 + 2.3 - 0.4)) < 1e-12);
  xplain::path_shap_values(f, tables, X.data(), n, phi1.data(), 1);
  xplain::path_shap_values(f, tables, X.data(), n, phi2.data(), 2);
  for (int64_t r = 0; r < n; ++r) {
    const double total = phi1[r * 3] + phi1[r * 3 + 1] + phi1[r * 3 + 2] + tables.expected[0];
    CHECK(std::fabs(total - pred[static_cast<size_t>(r)]) < 1e-12);
  }
  CHECK(phi1 == phi2);

  bool threw = false;
  feature[1] = 7;  // out of range
  try { f.check(); } catch (const std::invalid_argument&) { threw = true; }
  CHECK(threw);

  if (failures == 0) std::printf("1 passed, 0 failed\n");
  return failures == 0 ? 0 : 1;
}
