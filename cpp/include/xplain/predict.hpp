// Raw prediction of a Forest: base_value plus the leaf values of every tree, in float64.
#pragma once

#include <algorithm>
#include <functional>

#include "forest.hpp"
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
  parallel_for_chunks(
      n_chunks, resolve_threads(n_jobs, n_chunks),
      [&](int64_t chunk) {
        const int64_t r0 = chunk * kRowChunk, r1 = std::min(n_rows, r0 + kRowChunk);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t k = 0; k < K; ++k) out[r * K + k] = forest.base_value[k];
        // trees outer: a tree's nodes stay in cache across the chunk's rows (rows outer would
        // stream the whole forest once per row); each row still adds its trees in index order
        for (int64_t t = 0; t < forest.n_trees; ++t)
          for (int64_t r = r0; r < r1; ++r) {
            const double* v = value + forest.leaf_of(t, X + r * M) * W;
            double* ot = out + r * K + forest.tree_output[t];
            for (int64_t w = 0; w < W; ++w) ot[w] += v[w];
          }
      },
      interrupted);
}

}  // namespace xplain
