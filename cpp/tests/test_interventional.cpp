// interventional.hpp and interventional/*.hpp: interventional SHAP values and interaction values
// against brute-force enumeration of the background game, for table and pattern leaves; the
// probability transform against its per-pair definition; n_jobs invariance.
#include <cstring>

#include "support.hpp"
#include "xplain/interventional.hpp"
#include "xplain/predict.hpp"

/// v(S)[k] = mean over background rows b of f(x_S, b_notS)[k].
static test::Game background_game(const xplain::ForestView& f, const double* x, const std::vector<double>& bg,
                                  int64_t R) {
  return [&f, x, &bg, R](uint64_t S, int64_t k) {
    const int64_t M = f.n_features;
    std::vector<double> hybrid(static_cast<size_t>(M)), out(static_cast<size_t>(f.n_outputs));
    double total = 0.0;
    for (int64_t b = 0; b < R; ++b) {
      for (int64_t i = 0; i < M; ++i) hybrid[static_cast<size_t>(i)] = (S >> i & 1) ? x[i] : bg[static_cast<size_t>(b * M + i)];
      xplain::predict_raw(f, hybrid.data(), 1, out.data());
      total += out[static_cast<size_t>(k)];
    }
    return total / static_cast<double>(R);
  };
}

static void values_equal_brute_force(uint64_t seed, int64_t M, int64_t K, bool patterns_only) {
  const test::OwnedForest owned = test::random_forest(seed, 6, 5, M, K);
  const xplain::ForestView f = owned.view();
  f.check();
  const int64_t n = 12, R = 9;
  const std::vector<double> X = test::random_rows(seed + 1, n, M), bg = test::random_rows(seed + 2, R, M);
  xplain::InterventionalOptions options;
  if (patterns_only) options.max_table_bytes = 0;
  const xplain::InterventionalTables T = xplain::build_interventional_tables(f, bg.data(), R, options, 2);
  std::vector<double> phi(static_cast<size_t>(n * M * K)), phi1(phi.size());
  xplain::interventional_shap_values(f, T, X.data(), n, phi.data(), 2);
  xplain::interventional_shap_values(f, T, X.data(), n, phi1.data(), 1);
  CHECK(std::memcmp(phi.data(), phi1.data(), phi.size() * sizeof(double)) == 0);
  std::vector<double> inter(static_cast<size_t>(n * M * M * K));
  std::vector<int32_t> all(static_cast<size_t>(M));
  for (int64_t i = 0; i < M; ++i) all[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  if (patterns_only) xplain::interventional_interaction_values(f, T, X.data(), n, all.data(), M, inter.data(), 2);
  for (int64_t r = 0; r < n; ++r) {
    const test::Game game = background_game(f, X.data() + r * M, bg, R);
    const std::vector<double> expected = test::brute_force_shapley(game, M, K);
    const std::vector<double> expected_inter = test::brute_force_interactions(game, M, K);
    for (int64_t k = 0; k < K; ++k) {
      CHECK_NEAR(T.expected[static_cast<size_t>(k)], game(0, k), 1e-12);
      for (int64_t i = 0; i < M; ++i) {
        CHECK_NEAR(phi[static_cast<size_t>((r * M + i) * K + k)], expected[static_cast<size_t>(i * K + k)], 1e-10);
        if (!patterns_only) continue;
        for (int64_t j = 0; j < M; ++j)
          CHECK_NEAR(inter[static_cast<size_t>(((r * M + i) * M + j) * K + k)],
                     expected_inter[static_cast<size_t>((i * M + j) * K + k)], 1e-10);
      }
    }
  }
  if (!patterns_only)
    CHECK(test::throws_invalid([&] {
      xplain::interventional_interaction_values(f, T, X.data(), n, all.data(), M, inter.data(), 1);
    }, "pattern statistics"));
}

static void probability_output_matches_per_pair_definition() {
  const test::OwnedForest owned = test::random_forest(31, 5, 4, 3, 1);
  const xplain::ForestView f = owned.view();
  const int64_t n = 6, R = 5, M = 3;
  const std::vector<double> X = test::random_rows(32, n, M), bg = test::random_rows(33, R, M);
  xplain::InterventionalOptions structure_only;
  structure_only.statistics = false;
  const xplain::InterventionalTables T = xplain::build_interventional_tables(f, bg.data(), R, structure_only, 1);
  std::vector<double> phi(static_cast<size_t>(n * M)), base(static_cast<size_t>(n));
  xplain::pair_shap_values(f, T, bg.data(), R, X.data(), nullptr, n, xplain::OutputTransform::logistic, phi.data(),
                           base.data(), 2);
  for (int64_t r = 0; r < n; ++r) {
    // Per background row b: the Shapley values of the raw game against b alone, rescaled.
    std::vector<double> expected(static_cast<size_t>(M), 0.0);
    double fx;
    xplain::predict_raw(f, X.data() + r * M, 1, &fx);
    double expected_base = 0.0;
    for (int64_t b = 0; b < R; ++b) {
      const std::vector<double> one(bg.begin() + b * M, bg.begin() + (b + 1) * M);
      const std::vector<double> phi_b = test::brute_force_shapley(background_game(f, X.data() + r * M, one, 1), M, 1);
      double fb;
      xplain::predict_raw(f, one.data(), 1, &fb);
      const double tx = 1.0 / (1.0 + std::exp(-fx)), tb = 1.0 / (1.0 + std::exp(-fb));
      const double rho = fx == fb ? 1.0 : (tx - tb) / (fx - fb);
      for (int64_t i = 0; i < M; ++i) expected[static_cast<size_t>(i)] += rho * phi_b[static_cast<size_t>(i)] / R;
      expected_base += tb / R;
    }
    CHECK_NEAR(base[static_cast<size_t>(r)], expected_base, 1e-12);
    for (int64_t i = 0; i < M; ++i) CHECK_NEAR(phi[static_cast<size_t>(r * M + i)], expected[static_cast<size_t>(i)], 1e-10);
  }
  CHECK(test::throws_invalid([&] {
    xplain::pair_shap_values(f, T, bg.data(), R, X.data(), nullptr, n, static_cast<xplain::OutputTransform>(42),
                             phi.data(), base.data(), 1);
  }, "unknown output transform"));
}

int main() {
  values_equal_brute_force(11, 4, 1, false);  // table leaves
  values_equal_brute_force(12, 4, 1, true);   // pattern leaves, and interaction values
  values_equal_brute_force(13, 5, 2, true);   // two outputs
  probability_output_matches_per_pair_definition();
  const test::OwnedForest owned = test::random_forest(41, 2, 3, 3, 1);
  CHECK(test::throws_invalid([&] { xplain::build_interventional_tables(owned.view(), nullptr, 0); }, "no rows"));
  return test::finish("test_interventional");
}
