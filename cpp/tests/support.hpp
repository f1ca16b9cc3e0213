// What the C++ tests share: a check macro that counts failures, forests that own their arrays,
// random small trees, and brute-force Shapley values (the oracle the engines are tested against).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "xplain/forest.hpp"

namespace test {

inline int failures = 0;

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++test::failures;                                                               \
    }                                                                                 \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                          \
  do {                                                                                                 \
    const double check_a_ = (a), check_b_ = (b);                                                       \
    if (!(std::fabs(check_a_ - check_b_) <= (tol))) {                                                  \
      std::fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.17g, %s = %.17g\n", __FILE__, __LINE__, #a, \
                   check_a_, #b, check_b_);                                                            \
      ++test::failures;                                                                                \
    }                                                                                                  \
  } while (0)

/// The test's exit status, after a one-line summary.
inline int finish(const char* name) {
  std::printf("%s: %d failed checks\n", name, failures);
  return failures == 0 ? 0 : 1;
}

/// Whether `f` throws std::invalid_argument whose message contains `part`.
inline bool throws_invalid(const std::function<void()>& f, const char* part = "") {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return std::string(e.what()).find(part) != std::string::npos;
  }
  return false;
}

/// A forest that owns its arrays; view() is refreshed after any change to them.
struct OwnedForest {
  std::vector<int32_t> left, right, feature, tree_output;
  std::vector<double> threshold, value, cover, base_value;
  std::vector<uint8_t> default_left;
  std::vector<int64_t> tree_offset{0};
  int64_t n_features = 0, n_outputs = 1;

  xplain::ForestView view() const {
    xplain::ForestView f;
    f.left = left.data(); f.right = right.data(); f.feature = feature.data(); f.threshold = threshold.data();
    f.default_left = default_left.data(); f.value = value.data(); f.cover = cover.data();
    f.tree_offset = tree_offset.data(); f.tree_output = tree_output.data(); f.base_value = base_value.data();
    f.n_nodes = static_cast<int64_t>(left.size()); f.n_trees = static_cast<int64_t>(tree_output.size());
    f.n_features = n_features; f.n_outputs = n_outputs; f.value_width = 1;
    return f;
  }

  /// Appends a node; returns its global index.
  int32_t add_node(int32_t split_feature, double split_threshold, bool nan_left, double leaf_value, double weight) {
    left.push_back(-1); right.push_back(-1); feature.push_back(split_feature); threshold.push_back(split_threshold);
    default_left.push_back(nan_left ? 1 : 0); value.push_back(leaf_value); cover.push_back(weight);
    return static_cast<int32_t>(left.size() - 1);
  }
};

/// Grows a random tree of at most `depth` levels into `forest` (nodes in preorder, children after
/// their parent, a parent's cover the sum of its children's), adding to output `output`.
inline void add_random_tree(OwnedForest& forest, std::mt19937_64& gen, int depth, int32_t output) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int32_t> pick_feature(0, static_cast<int32_t>(forest.n_features) - 1);
  std::uniform_int_distribution<int> weight(1, 9), coin(0, 1), split_or_leaf(0, 3);
  std::function<int32_t(int)> grow = [&](int level) -> int32_t {
    const bool leaf = level == depth || (level > 0 && split_or_leaf(gen) == 0);
    if (leaf) return forest.add_node(-1, 0.0, false, normal(gen), weight(gen));
    const int32_t node = forest.add_node(pick_feature(gen), normal(gen), coin(gen) == 1, 0.0, 0.0);
    const int32_t l = grow(level + 1);
    const int32_t r = grow(level + 1);
    forest.left[static_cast<size_t>(node)] = l;
    forest.right[static_cast<size_t>(node)] = r;
    forest.cover[static_cast<size_t>(node)] = forest.cover[static_cast<size_t>(l)] + forest.cover[static_cast<size_t>(r)];
    return node;
  };
  grow(0);
  forest.tree_offset.push_back(static_cast<int64_t>(forest.left.size()));
  forest.tree_output.push_back(output);
}

/// A random forest of `n_trees` trees on `n_features` features with `n_outputs` outputs.
inline OwnedForest random_forest(uint64_t seed, int n_trees, int depth, int64_t n_features, int64_t n_outputs) {
  std::mt19937_64 gen(seed);
  OwnedForest forest;
  forest.n_features = n_features;
  forest.n_outputs = n_outputs;
  for (int64_t k = 0; k < n_outputs; ++k) forest.base_value.push_back(0.25 * static_cast<double>(k + 1));
  for (int t = 0; t < n_trees; ++t) add_random_tree(forest, gen, depth, static_cast<int32_t>(t % n_outputs));
  return forest;
}

/// Random rows, a few of them NaN (which follow each node's default direction).
inline std::vector<double> random_rows(uint64_t seed, int64_t n_rows, int64_t n_features) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, 1.2);
  std::vector<double> X(static_cast<size_t>(n_rows * n_features));
  for (auto& x : X) x = normal(gen);
  for (size_t i = 0; i < X.size(); i += 7) X[i] = NAN;
  return X;
}

/// The value function v(S)[k] of a Shapley game, S given as a bit mask of features.
using Game = std::function<double(uint64_t set, int64_t output)>;

/// Shapley values of `game` over M players by enumerating every coalition: phi[i * K + k].
inline std::vector<double> brute_force_shapley(const Game& game, int64_t M, int64_t K) {
  std::vector<double> phi(static_cast<size_t>(M * K), 0.0);
  std::vector<double> fact(static_cast<size_t>(M + 1), 1.0);
  for (int64_t i = 1; i <= M; ++i) fact[static_cast<size_t>(i)] = fact[static_cast<size_t>(i - 1)] * static_cast<double>(i);
  for (uint64_t S = 0; S < (uint64_t{1} << M); ++S) {
    const int s = __builtin_popcountll(S);
    for (int64_t i = 0; i < M; ++i) {
      if (S >> i & 1) continue;
      const double w = fact[static_cast<size_t>(s)] * fact[static_cast<size_t>(M - s - 1)] / fact[static_cast<size_t>(M)];
      for (int64_t k = 0; k < K; ++k) phi[static_cast<size_t>(i * K + k)] += w * (game(S | uint64_t{1} << i, k) - game(S, k));
    }
  }
  return phi;
}

/// Shapley interaction values of `game` (off-diagonal: the Shapley interaction index halved, as
/// TreeSHAP defines them; diagonal: phi_i minus the row's off-diagonal sum): out[(i * M + j) * K + k].
inline std::vector<double> brute_force_interactions(const Game& game, int64_t M, int64_t K) {
  std::vector<double> out(static_cast<size_t>(M * M * K), 0.0);
  std::vector<double> fact(static_cast<size_t>(M + 1), 1.0);
  for (int64_t i = 1; i <= M; ++i) fact[static_cast<size_t>(i)] = fact[static_cast<size_t>(i - 1)] * static_cast<double>(i);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < M; ++j) {
      if (i == j) continue;
      const uint64_t bi = uint64_t{1} << i, bj = uint64_t{1} << j;
      for (uint64_t S = 0; S < (uint64_t{1} << M); ++S) {
        if (S & (bi | bj)) continue;
        const int s = __builtin_popcountll(S);
        const double w = fact[static_cast<size_t>(s)] * fact[static_cast<size_t>(M - s - 2)] / (2.0 * fact[static_cast<size_t>(M - 1)]);
        for (int64_t k = 0; k < K; ++k)
          out[static_cast<size_t>((i * M + j) * K + k)] +=
              w * (game(S | bi | bj, k) - game(S | bi, k) - game(S | bj, k) + game(S, k));
      }
    }
  const std::vector<double> phi = brute_force_shapley(game, M, K);
  for (int64_t i = 0; i < M; ++i)
    for (int64_t k = 0; k < K; ++k) {
      double off = 0.0;
      for (int64_t j = 0; j < M; ++j)
        if (j != i) off += out[static_cast<size_t>((i * M + j) * K + k)];
      out[static_cast<size_t>((i * M + i) * K + k)] = phi[static_cast<size_t>(i * K + k)] - off;
    }
  return out;
}

/// E[f(x) | x_S] of one tree by the path-dependent rule: splits on S follow x, others average the
/// children by cover. Returns the tree's contribution to its output.
inline double conditional_tree_value(const xplain::ForestView& f, int64_t node, const double* x, uint64_t S) {
  if (f.is_leaf(node)) return f.value[node];
  const int32_t d = f.feature[node];
  if (S >> d & 1) return conditional_tree_value(f, f.goes_left(node, f.prepare(x[d])) ? f.left[node] : f.right[node], x, S);
  const double cl = f.cover[f.left[node]], cr = f.cover[f.right[node]];
  return (cl * conditional_tree_value(f, f.left[node], x, S) + cr * conditional_tree_value(f, f.right[node], x, S)) /
         f.cover[node];
}

/// The path-dependent game of row x: v(S)[k] = base_k + sum over trees adding to k.
inline Game path_dependent_game(const xplain::ForestView& f, const double* x) {
  return [&f, x](uint64_t S, int64_t k) {
    double v = f.base_value[k];
    for (int64_t t = 0; t < f.n_trees; ++t)
      if (f.tree_output[t] == k) v += conditional_tree_value(f, f.tree_offset[t], x, S);
    return v;
  };
}

}  // namespace test
