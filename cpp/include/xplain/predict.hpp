// Raw prediction of a Forest: base_value plus the leaf values of every tree, in float64.
#pragma once

#include <algorithm>
#include <functional>
#include <vector>

#include "forest.hpp"
#include "lane_walk.hpp"
#include "parallel.hpp"

namespace xplain {

/// Rows per chunk for row-parallel loops; fixed so results never depend on the thread count.
constexpr int64_t kRowChunk = 64;

/// Writes the raw output of `forest` for rows X[n_rows, n_features] (C order) into
/// out[n_rows, n_outputs]. Trees are summed in index order for every row. `value` replaces the
/// forest's own node values (same layout), e.g. undivided values whose sum is divided later.
inline void predict_raw(const ForestView& forest, const double* X, int64_t n_rows, double* out,
                        int n_jobs = 1, const std::function<bool()>& interrupted = {},
                        const double* value = nullptr) {
  const int64_t M = forest.n_features, K = forest.n_outputs, W = forest.value_width;
  if (!value) value = forest.value;
  const int64_t n_chunks = (n_rows + kRowChunk - 1) / kRowChunk;
  detail::LaneForest<double> lanes;  // the branch-free walk, where every split allows it
  lanes.build(forest);
  parallel_for_chunks(
      n_chunks, resolve_threads(n_jobs, n_chunks),
      [&](int64_t chunk) {
        const int64_t r0 = chunk * kRowChunk, r1 = std::min(n_rows, r0 + kRowChunk);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t k = 0; k < K; ++k) out[r * K + k] = forest.base_value[k];
        auto add = [&](int64_t t, int64_t r, int64_t leaf) {
          const double* v = value + leaf * W;
          double* ot = out + r * K + forest.tree_output[t];
          for (int64_t w = 0; w < W; ++w) ot[w] += v[w];
        };
        // trees outer: a tree's nodes stay in cache across the chunk's rows (rows outer would
        // stream the whole forest once per row); each row still adds its trees in index order
        if (lanes.nodes.empty()) {
          for (int64_t t = 0; t < forest.n_trees; ++t)
            for (int64_t r = r0; r < r1; ++r) add(t, r, forest.leaf_of(t, X + r * M));
          return;
        }
        std::vector<double> prepared(static_cast<size_t>((r1 - r0) * M));
        bool nan = false;
        for (int64_t e = 0; e < (r1 - r0) * M; ++e) {
          prepared[e] = forest.prepare(X[r0 * M + e]);
          nan |= prepared[e] != prepared[e];
        }
        const double* rows[detail::kLanes];
        int32_t leaf[detail::kLanes];
        for (int64_t t = 0; t < forest.n_trees; ++t)
          for (int64_t b = r0; b < r1; b += detail::kLanes) {
            const int count = static_cast<int>(std::min<int64_t>(detail::kLanes, r1 - b));
            for (int k = 0; k < count; ++k) rows[k] = prepared.data() + (b - r0 + k) * M;
            if (nan) lanes.leaves<true>(forest.tree_offset[t], rows, count, forest.strict_less, leaf);
            else lanes.leaves<false>(forest.tree_offset[t], rows, count, forest.strict_less, leaf);
            for (int k = 0; k < count; ++k) add(t, b + k, leaf[k]);
          }
      },
      interrupted);
}

}  // namespace xplain
