// C++-only checks of the header-only core (no Python): a hand-made forest, its predictions,
// SHAP additivity (path-dependent and interventional), permutation scores, thread-count
// invariance and argument validation.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <vector>

#include "xplain/interventional.hpp"
#include "xplain/permutation.hpp"
#include "xplain/predict.hpp"
#include "xplain/treeshap.hpp"

static int failures = 0;
template <typename F>
static bool throws_invalid_argument(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument&) {
    return true;
  }
  return false;
}

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

  // Interventional: values against 30 background rows sum to prediction - mean background prediction.
  const int64_t R = 30;
  const auto itables = xplain::build_interventional_tables(f, X.data() + 50 * 3, R, {}, 2);
  std::vector<double> phi3(phi1.size()), background_pred(R);
  xplain::interventional_shap_values(f, itables, X.data(), n, phi3.data(), 2);
  xplain::predict_raw(f, X.data() + 50 * 3, R, background_pred.data());
  double mean_background = 0.0;
  for (double p : background_pred) mean_background += p / R;
  CHECK(std::fabs(itables.expected[0] - mean_background) < 1e-12);
  for (int64_t r = 0; r < n; ++r) {
    const double total = phi3[r * 3] + phi3[r * 3 + 1] + phi3[r * 3 + 2] + itables.expected[0];
    CHECK(std::fabs(total - pred[static_cast<size_t>(r)]) < 1e-12);
  }

  // Permutation scores (neg MSE) against scoring the permuted rows directly; n_jobs invariant.
  std::vector<double> y(pred);
  for (auto& v : y) v += normal(gen);
  std::vector<int64_t> perms(static_cast<size_t>(2 * n)), offsets{0, 1, 3}, columns{0, 1, 2};
  for (int64_t r = 0; r < n; ++r) {
    perms[static_cast<size_t>(r)] = r;  // the identity: the baseline score
    perms[static_cast<size_t>(n + r)] = (r * 37 + 11) % n;
  }
  xplain::PermutationInput in;
  in.value = value.data();
  in.value_rows = 10;
  in.value_cols = 1;
  in.X = X.data();
  in.n_rows = n;
  in.perms = perms.data();
  in.n_repeats = 2;
  in.perm_length = n;
  in.group_offsets = offsets.data();
  in.group_columns = columns.data();
  in.n_groups = 2;
  in.n_group_columns = 3;
  xplain::ScoringSpec spec;
  spec.metrics = {xplain::Metric::neg_mean_squared_error};
  spec.y = y.data();
  spec.y_size = n;
  std::vector<double> scores1(4), scores2(4);
  double baseline = 0.0;
  xplain::permutation_scores(f, in, spec, scores1.data(), &baseline, 1);
  xplain::permutation_scores(f, in, spec, scores2.data(), nullptr, 2);
  CHECK(scores1 == scores2);
  CHECK(scores1[0] == baseline && scores1[2] == baseline);
  for (int64_t g = 0; g < 2; ++g) {
    std::vector<double> Xp(X), raw(static_cast<size_t>(n));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t q = offsets[g]; q < offsets[g + 1]; ++q) Xp[r * 3 + columns[q]] = X[perms[n + r] * 3 + columns[q]];
    xplain::predict_raw(f, Xp.data(), n, raw.data());
    double expected = 0.0;
    xplain::forest_scores(f, value.data(), 10, 1, Xp.data(), n, spec, &expected, 1);
    CHECK(std::fabs(scores1[g * 2 + 1] - expected) < 1e-12);
  }

  // Validation: the core names what is wrong.
  CHECK(throws_invalid_argument([&] {
    xplain::ScoringSpec bad = spec;
    bad.metrics = {xplain::Metric::accuracy};  // a classification metric for a regressor
    bad.check(n, 1);
  }));
  CHECK(throws_invalid_argument([&] {
    xplain::PermutationInput bad = in;
    bad.perm_length = n - 1;
    bad.check(f);
  }));
  CHECK(throws_invalid_argument([&] {
    xplain::PermutationInput bad = in;
    bad.n_groups = 0;
    xplain::permutation_scores(f, bad, spec, scores1.data(), nullptr, 1);
  }));

  bool threw = false;
  feature[1] = 7;  // out of range
  try { f.check(); } catch (const std::invalid_argument&) { threw = true; }
  CHECK(threw);

  if (failures == 0) std::printf("1 passed, 0 failed\n");
  return failures == 0 ? 0 : 1;
}
