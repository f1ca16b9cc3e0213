// Raw prediction of a Forest: base_value plus the leaf values of every tree, in float64.
#pragma once

#include <algorithm>
#include <functional>
#include <vector>

#include "forest.hpp"
#include "lane_walk.hpp"
#include "parallel.hpp"
#include "row_blocks.hpp"

namespace xplain {

/// Rows per chunk for row-parallel loops; fixed so results never depend on the thread count.
constexpr int64_t kRowChunk = 64;

namespace detail {

/// The leaves below `root` of a prepared, transposed block of kShapBlock rows (xt: [feature][lane],
/// as walk_row_blocks hands it) into leaf[lane]: every lane steps at once, reading its value from
/// the block (no per-row pointer), for exactly as many steps as the root's height.
template <bool MaybeNaN>
void block_leaves(const LaneForest<double>& lanes, int64_t root, const double* xt, bool strict, int32_t* leaf) {
  constexpr int R = kShapBlock;
  static_assert(R % kLanes == 0, "the block walks in groups of kLanes");
  const LaneNode<double>* ln = lanes.nodes.data();
  const int32_t steps = lanes.height[root];
  for (int g = 0; g < R; g += kLanes) {  // kLanes nodes held in registers, their loads overlapping
    int32_t node[kLanes];
    for (int k = 0; k < kLanes; ++k) node[k] = static_cast<int32_t>(root);
    for (int32_t step = 0; step < steps; ++step) {
#pragma GCC unroll 16
      for (int k = 0; k < kLanes; ++k) {
        const LaneNode<double>& nd = ln[node[k]];
        node[k] = lane_next<MaybeNaN>(nd, MaybeNaN ? lanes.nan[node[k]] : 0, xt[nd.feature * R + g + k], strict);
      }
    }
    for (int k = 0; k < kLanes; ++k) leaf[g + k] = node[k];
  }
}

/// One chunk of predict_raw's walk: adds each tree's leaf values to its rows' sums, trees in order.
struct PredictChunk {
  const ForestView& forest;
  const LaneForest<double>& lanes;
  const double* value;
  double* out;
  int64_t r0;
  std::vector<int8_t> nan;  ///< per block of the chunk: -1 not known yet, else whether it holds NaN

  void block(int64_t t, int64_t first_row, int used, const double* xt, bool) {
    constexpr int R = kShapBlock;
    int8_t& has_nan = nan[static_cast<size_t>((first_row - r0) / R)];
    if (has_nan < 0) {
      has_nan = 0;
      for (int64_t e = 0; e < forest.n_features * R; ++e) has_nan |= static_cast<int8_t>(xt[e] != xt[e]);
    }
    int32_t leaf[R];
    if (has_nan) block_leaves<true>(lanes, forest.tree_offset[t], xt, forest.strict_less, leaf);
    else block_leaves<false>(lanes, forest.tree_offset[t], xt, forest.strict_less, leaf);
    const int64_t K = forest.n_outputs, W = forest.value_width;
    for (int k = 0; k < used; ++k) {
      const double* v = value + static_cast<int64_t>(leaf[k]) * W;
      double* o = out + (first_row + k) * K + forest.tree_output[t];
      for (int64_t w = 0; w < W; ++w) o[w] += v[w];
    }
  }
  void finish() {}
};

}  // namespace detail

/// Writes the raw output of `forest` for rows X[n_rows, n_features] (C order) into
/// out[n_rows, n_outputs]. Trees are summed in index order for every row. `value` replaces the
/// forest's own node values (same layout), e.g. undivided values whose sum is divided later.
/// Where every split allows the branch-free lane walk, rows go through the trees in the SHAP
/// engines' transposed blocks (walk_row_blocks: trees outer within a chunk, so a tree's nodes
/// stay in cache across the chunk's rows); else each row walks by the forest's own rule.
inline void predict_raw(const ForestView& forest, const double* X, int64_t n_rows, double* out,
                        int n_jobs = 1, const std::function<bool()>& interrupted = {},
                        const double* value = nullptr) {
  const int64_t M = forest.n_features, K = forest.n_outputs, W = forest.value_width;
  if (!value) value = forest.value;
  for (int64_t r = 0; r < n_rows; ++r)
    for (int64_t k = 0; k < K; ++k) out[r * K + k] = forest.base_value[k];
  detail::LaneForest<double> lanes;
  lanes.build(forest);
  if (!lanes.nodes.empty()) {
    detail::walk_row_blocks(forest, X, n_rows, n_jobs, interrupted, [&](int64_t r0, int64_t r1) {
      const size_t blocks = static_cast<size_t>((r1 - r0 + kShapBlock - 1) / kShapBlock);
      return detail::PredictChunk{forest, lanes, value, out, r0, std::vector<int8_t>(blocks, -1)};
    });
    return;
  }
  const int64_t n_chunks = (n_rows + kRowChunk - 1) / kRowChunk;
  parallel_for_chunks(
      n_chunks, resolve_threads(n_jobs, n_chunks),
      [&](int64_t chunk) {
        const int64_t r0 = chunk * kRowChunk, r1 = std::min(n_rows, r0 + kRowChunk);
        // trees outer: a tree's nodes stay in cache across the chunk's rows
        for (int64_t t = 0; t < forest.n_trees; ++t)
          for (int64_t r = r0; r < r1; ++r) {
            const double* v = value + forest.leaf_of(t, X + r * M) * W;
            double* o = out + r * K + forest.tree_output[t];
            for (int64_t w = 0; w < W; ++w) o[w] += v[w];
          }
      },
      interrupted);
}

}  // namespace xplain
