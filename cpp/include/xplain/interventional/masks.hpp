// Interventional TreeSHAP, the mask walk: one top-down pass per tree and block of rows gives, at
// every leaf, each row's failed set (the leaf's unique path features whose edges the row does not
// all follow) as a bitmask in the path numbering of InterventionalTables.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "../forest.hpp"
#include "../row_blocks.hpp"
#include "tables.hpp"

namespace xplain {
namespace detail {

#if defined(__GNUC__) || defined(__clang__)
inline int popcount64(uint64_t v) { return __builtin_popcountll(v); }
inline int ctz64(uint64_t v) { return __builtin_ctzll(v); }  ///< v != 0
#else
inline int popcount64(uint64_t v) {
  int n = 0;
  for (; v; v &= v - 1) ++n;
  return n;
}
inline int ctz64(uint64_t v) {
  int n = 0;
  for (; !(v & 1); v >>= 1) ++n;
  return n;
}
#endif

/// Per-worker scratch of the mask walk: decisions and failed masks per depth and lane.
struct MaskScratch {
  std::vector<double> dec;     ///< [depth][lane]
  std::vector<uint64_t> mask;  ///< [depth][lane][word]
  explicit MaskScratch(const InterventionalTables& T)
      : dec(static_cast<size_t>((T.max_depth + 1) * kShapBlock)),
        mask(static_cast<size_t>((T.max_depth + 1) * kShapBlock * T.words), 0) {}
};

/// One preorder pass over tree t for a block of kShapBlock rows (`xt`: prepared, [feature][lane]):
/// calls on_leaf(leaf, masks) at every leaf with masks[lane * words + w] = the lane's failed set.
template <typename OnLeaf>
void walk_failed_masks(const ForestView& forest, const InterventionalTables& T, int64_t t, bool plain_splits,
                       const double* xt, MaskScratch& s, OnLeaf&& on_leaf) {
  constexpr int L = kShapBlock;
  const int64_t nb = T.node_begin[static_cast<size_t>(t)], N = T.node_begin[static_cast<size_t>(t) + 1] - nb;
  if (N <= 1) return;
  const int64_t nw = T.words, LW = L * nw;
  double* dec = s.dec.data();
  uint64_t* mask = s.mask.data();
  std::fill(mask, mask + LW, uint64_t(0));
  block_decisions(forest, plain_splits, T.source[static_cast<size_t>(nb)], xt, dec);
  for (int64_t i = 1; i < N; ++i) {
    const size_t g = static_cast<size_t>(nb + i);
    const int64_t d = T.depth[g];
    const double* pd = dec + (d - 1) * L;
    const uint64_t* mp = mask + (d - 1) * LW;
    uint64_t* m = mask + d * LW;
    const int b = T.bit[g];
    const uint64_t bitv = uint64_t(1) << (b & 63);
    const double away = T.is_left_child[g] ? 0.0 : 1.0;  // decision value that leaves this edge
    if (nw == 1) {
      for (int r = 0; r < L; ++r) m[r] = mp[r] | (pd[r] == away ? bitv : uint64_t(0));
    } else {
      std::copy(mp, mp + LW, m);
      const int64_t w = b >> 6;
      for (int r = 0; r < L; ++r)
        if (pd[r] == away) m[r * nw + w] |= bitv;
    }
    const int32_t leaf = T.leaf_id[g];
    if (leaf >= 0) {
      on_leaf(leaf, static_cast<const uint64_t*>(m));
    } else {
      block_decisions(forest, plain_splits, T.source[g], xt, dec + d * L);
    }
  }
}

/// The mask walk over every tree for the rows [0, n_rows) (walk_row_blocks: row chunks in
/// parallel): each chunk makes its own worker = make_worker() and calls
/// worker(first_row, lanes, tree, leaf, masks) at every leaf of every tree (trees outer), for
/// every block of kShapBlock rows.
template <typename MakeWorker>
void for_each_leaf_of_rows(const ForestView& forest, const InterventionalTables& T, const double* X, int64_t n_rows,
                           int n_jobs, const std::function<bool()>& interrupted, MakeWorker&& make_worker) {
  walk_row_blocks(forest, X, n_rows, n_jobs, interrupted, [&](int64_t, int64_t) {
    return scratch_chunk(MaskScratch(T), make_worker(),
                         [&](MaskScratch& scratch, auto& worker, int64_t t, int64_t first, int lanes,
                             const double* xt, bool plain_splits) {
                           walk_failed_masks(forest, T, t, plain_splits, xt, scratch,
                                             [&](int32_t leaf, const uint64_t* masks) {
                                               worker(first, lanes, t, leaf, masks);
                                             });
                         });
  });
}

}  // namespace detail
}  // namespace xplain
