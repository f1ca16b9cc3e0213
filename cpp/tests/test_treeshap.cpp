// treeshap.hpp, interactions.hpp, row_blocks.hpp: path-dependent SHAP values and interaction
// values against brute-force enumeration of every coalition, on random trees with NaNs, several
// outputs and repeated features along paths; n_jobs invariance; the AVX2 walk's bits; additivity.
#include <cstring>
#include <tuple>

#include "support.hpp"
#include "xplain/interactions.hpp"
#include "xplain/predict.hpp"
#include "xplain/treeshap.hpp"

static void shap_values_equal_brute_force(uint64_t seed, int n_trees, int depth, int64_t M, int64_t K) {
  const test::OwnedForest owned = test::random_forest(seed, n_trees, depth, M, K);
  const xplain::ForestView f = owned.view();
  f.check();
  const int64_t n = 20;
  const std::vector<double> X = test::random_rows(seed + 1, n, M);
  const xplain::PathShapTables tables = xplain::build_path_shap_tables(f);
  std::vector<double> phi(static_cast<size_t>(n * M * K)), inter(static_cast<size_t>(n * M * M * K));
  std::vector<int32_t> all(static_cast<size_t>(M));
  for (int64_t i = 0; i < M; ++i) all[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  xplain::path_shap_values(f, tables, X.data(), n, phi.data(), 2);
  xplain::path_interaction_values(f, tables, X.data(), n, all.data(), M, inter.data(), 2);
  std::vector<double> pred(static_cast<size_t>(n * K));
  xplain::predict_raw(f, X.data(), n, pred.data());
  for (int64_t r = 0; r < n; ++r) {
    const test::Game game = test::path_dependent_game(f, X.data() + r * M);
    const std::vector<double> expected = test::brute_force_shapley(game, M, K);
    const std::vector<double> expected_inter = test::brute_force_interactions(game, M, K);
    for (int64_t k = 0; k < K; ++k) {
      CHECK_NEAR(tables.expected[static_cast<size_t>(k)], game(0, k), 1e-12);
      double total = tables.expected[static_cast<size_t>(k)];
      for (int64_t i = 0; i < M; ++i) {
        CHECK_NEAR(phi[static_cast<size_t>((r * M + i) * K + k)], expected[static_cast<size_t>(i * K + k)], 1e-10);
        total += phi[static_cast<size_t>((r * M + i) * K + k)];
        for (int64_t j = 0; j < M; ++j)
          CHECK_NEAR(inter[static_cast<size_t>(((r * M + i) * M + j) * K + k)],
                     expected_inter[static_cast<size_t>((i * M + j) * K + k)], 1e-10);
      }
      CHECK_NEAR(total, pred[static_cast<size_t>(r * K + k)], 1e-10);
    }
  }
}

static void results_do_not_depend_on_threads_or_subsets() {
  const test::OwnedForest owned = test::random_forest(21, 30, 6, 8, 1);
  const xplain::ForestView f = owned.view();
  const int64_t n = 700, M = 8;  // several chunks and a partial block
  const std::vector<double> X = test::random_rows(22, n, M);
  const xplain::PathShapTables tables = xplain::build_path_shap_tables(f);
  std::vector<double> a(static_cast<size_t>(n * M)), b(a.size());
  xplain::path_shap_values(f, tables, X.data(), n, a.data(), 1);
  xplain::path_shap_values(f, tables, X.data(), n, b.data(), 3);
  CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0);
  // A subset's block equals the same block of the full matrix, bit for bit.
  std::vector<int32_t> all(static_cast<size_t>(M)), subset(static_cast<size_t>(M), -1);
  for (int64_t i = 0; i < M; ++i) all[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  subset[5] = 0;
  subset[2] = 1;
  std::vector<double> full(static_cast<size_t>(n * M * M)), part(static_cast<size_t>(n * 4)), full2(full.size());
  xplain::path_interaction_values(f, tables, X.data(), n, all.data(), M, full.data(), 1);
  xplain::path_interaction_values(f, tables, X.data(), n, all.data(), M, full2.data(), 2);
  xplain::path_interaction_values(f, tables, X.data(), n, subset.data(), 2, part.data(), 2);
  CHECK(std::memcmp(full.data(), full2.data(), full.size() * sizeof(double)) == 0);
  for (int64_t r = 0; r < n; ++r) {
    const double* m = full.data() + r * M * M;
    const double* p = part.data() + r * 4;
    CHECK(p[0] == m[5 * M + 5] && p[1] == m[5 * M + 2] && p[2] == m[2 * M + 5] && p[3] == m[2 * M + 2]);
  }
  std::vector<int32_t> too_far(static_cast<size_t>(M), -1);
  too_far[0] = 3;
  CHECK(test::throws_invalid([&] {
    xplain::path_interaction_values(f, tables, X.data(), n, too_far.data(), 2, part.data(), 1);
  }, "subset index"));
  xplain::path_shap_values(f, tables, X.data(), 0, a.data(), 2);  // no rows: nothing to do
}

// The AVX2 clone of the walk (simd.hpp) against the portable walk, bit for bit, for SHAP values and
// interactions, with few (compiled) and many (run-time) quadrature points; on a CPU without AVX2
// both calls run the portable walk.
static void avx2_walk_gives_the_portable_bits() {
  for (const auto& [seed, depth, M] : {std::tuple<uint64_t, int, int64_t>{31, 6, 8}, {32, 20, 24}}) {
    const test::OwnedForest owned = test::random_forest(seed, 8, depth, M, 2);
    const xplain::ForestView f = owned.view();
    const int64_t n = 150;
    const std::vector<double> X = test::random_rows(seed + 1, n, M);
    const xplain::PathShapTables tables = xplain::build_path_shap_tables(f);
    std::vector<int32_t> all(static_cast<size_t>(M));
    for (int64_t i = 0; i < M; ++i) all[static_cast<size_t>(i)] = static_cast<int32_t>(i);
    std::vector<double> phi[2], inter[2];
    for (const xplain::SimdLevel level : {xplain::SimdLevel::avx2, xplain::SimdLevel::portable}) {
      xplain::set_simd_limit(level);
      const int i = level == xplain::SimdLevel::portable;
      phi[i].resize(static_cast<size_t>(n * M * 2));
      inter[i].resize(static_cast<size_t>(40 * M * M * 2));
      xplain::path_shap_values(f, tables, X.data(), n, phi[i].data(), 2);
      xplain::path_interaction_values(f, tables, X.data(), 40, all.data(), M, inter[i].data(), 2);
    }
    xplain::set_simd_limit(xplain::SimdLevel::avx2);
    CHECK(std::memcmp(phi[0].data(), phi[1].data(), phi[0].size() * sizeof(double)) == 0);
    CHECK(std::memcmp(inter[0].data(), inter[1].data(), inter[0].size() * sizeof(double)) == 0);
  }
}

static void zero_cover_parent_gives_numbers() {
  // A parent whose children have no cover (e.g. a pruned or hand-made tree): weights split evenly.
  test::OwnedForest f;
  f.n_features = 2;
  f.base_value = {0.0};
  f.add_node(0, 0.0, true, 0.0, 0.0);
  f.left[0] = f.add_node(-1, 0, false, 1.0, 0.0);
  f.right[0] = f.add_node(-1, 0, false, 3.0, 0.0);
  f.tree_offset.push_back(3);
  f.tree_output.push_back(0);
  const xplain::ForestView v = f.view();
  v.check();
  const xplain::PathShapTables tables = xplain::build_path_shap_tables(v);
  const double x[2] = {-1.0, 0.0};
  double phi[2];
  xplain::path_shap_values(v, tables, x, 1, phi, 1);
  CHECK(std::isfinite(phi[0]) && phi[1] == 0.0);
  CHECK_NEAR(phi[0] + tables.expected[0], 1.0, 1e-12);
}

int main() {
  shap_values_equal_brute_force(1, 1, 3, 3, 1);
  shap_values_equal_brute_force(2, 5, 5, 4, 1);   // repeated features along paths
  shap_values_equal_brute_force(3, 6, 6, 5, 2);   // two outputs
  shap_values_equal_brute_force(4, 3, 8, 3, 1);   // deep, few features: many repeats
  results_do_not_depend_on_threads_or_subsets();
  avx2_walk_gives_the_portable_bits();
  zero_cover_parent_gives_numbers();
  return test::finish("test_treeshap");
}
