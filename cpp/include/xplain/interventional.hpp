// Exact interventional (background-data) TreeSHAP in O(n + R) instead of O(n R).
//
// For one background row b the interventional game of a tree is a sum over leaves of products:
// leaf l (value v, unique path features U, |U| = k) is reached by the hybrid row (x_S, b_S̄) iff
// every i in U is "satisfied" by its source (x satisfies i iff x follows ALL of the leaf's edges
// on i; same for b). With o_i = [x satisfies i], s_i = [b satisfies i]:
//     phi_j += v (o_j - s_j) Integral_0^1 prod_{i != j} (q o_i + (1 - q) s_i) dq,
// and Integral q^a (1-q)^c dq = a! c! / (a + c + 1)! =: B(a, c).
// Averaging over the R background rows groups them per leaf by their pattern s (counts c(s)).
// For x with failed set Z (o_i = 0) and m = |Z|, only patterns s ⊇ Z contribute, and with
// H[Y][a] = sum_{s ⊇ Y, zeros(s) = a} c(s) (a superset-sum transform over the 2^k patterns),
//     alpha(Y) = sum_a H[Y][a] B(a, |Y| - 1),   delta(Y) = sum_{a >= 1} H[Y][a] B(a - 1, |Y|),
//     j in Z:  phi_j -= (v/R) alpha(Z)
//     j not in Z, Y = Z + {j}:  phi_j += (v/R) (delta(Z) - gamma(Y)),
//     gamma(Y) = sum_{a>=1} H[Y][a] B(a-1, |Y|-1) = alpha(Y) + delta(Y) - c(all ones) / |Y|
// (B(a-1, m-1) = B(a, m-1) + B(a-1, m) for a >= 1; H[Y][0] = c(all ones) for every Y).
// So fit() stores alpha and gamma per leaf and subset (2 x 2^k doubles, "table" leaves; delta(Z) =
// gamma(Z) - alpha(Z) + c(all ones) / |Z|, and delta({}) is kept in gamma({})'s slot), and a
// row costs O(k) per leaf whatever R is. Leaves whose table would be too large (k above a limit,
// 2^k much larger than R, or the total over the budget) keep their distinct background patterns
// (failed-set bitmask, count) instead and sum the same closed form over them per row ("pattern"
// leaves): still exact, O(distinct patterns) per leaf and row.
//
// Bits: every unique feature on a root-to-leaf path gets the bit index = number of unique features
// above its first occurrence, shared by all leaves below that occurrence, so one top-down pass
// per tree builds every leaf's failed mask (OR of the bits of the edges the row does not follow).
//
// Non-linear outputs (model_output "probability" / "log_loss", as in the shap package): shap
// explains each (x, b) pair's raw game and rescales it by (T(f(x)) - T(f(b))) / (f(x) - f(b)).
// That weight depends on the pair, so it is computed per pair (pair_shap_values below, O(n R)).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "forest.hpp"
#include "parallel.hpp"
#include "treeshap.hpp"  // detail::block_decisions, kShapBlock

namespace xplain {

/// Limits on the per-leaf alpha/gamma tables of interventional TreeSHAP.
struct InterventionalOptions {
  int64_t max_table_bytes = int64_t(1) << 30;  ///< total over all table leaves
  int max_table_k = 16;                         ///< a table leaf has at most this many unique features
  /// a leaf gets a table only if 2^k <= table_ratio * R (else its <= R patterns are cheaper)
  double table_ratio = 16.0;
  /// false: only the tree structure (enough for pair_shap_values; no background pass)
  bool statistics = true;
};

/// Fitted background statistics for interventional TreeSHAP (see the file comment).
struct InterventionalTables {
  // per node, trees in depth-first preorder (parents before children), all trees flattened
  std::vector<int64_t> node_begin;  ///< [n_trees + 1]
  std::vector<int64_t> source;      ///< forest node index
  std::vector<int32_t> depth;       ///< root = 0
  std::vector<int32_t> bit;         ///< bit of the edge's feature in the path numbering (root: -1)
  std::vector<uint8_t> is_left_child;
  std::vector<int32_t> leaf_id;     ///< index into the leaf arrays, or -1 (internal node / root leaf)
  std::vector<int64_t> subtree_end; ///< first node after the node's subtree
  std::vector<int64_t> parent_source;  ///< forest index of the parent (root: -1)
  // per leaf
  std::vector<int32_t> leaf_k;              ///< number of unique features on the path
  std::vector<int64_t> leaf_node;           ///< forest node index of the leaf
  std::vector<int64_t> leaf_feature_begin;  ///< [n_leaves + 1] into leaf_feature (bit order)
  std::vector<int32_t> leaf_feature;
  std::vector<double> leaf_full;            ///< background rows reaching the leaf
  std::vector<int64_t> table_begin;         ///< offset into `table` ([alpha, gamma] per subset), -1: patterns
  std::vector<int64_t> pattern_begin;       ///< [n_leaves + 1] into the pattern arrays
  std::vector<double> table;
  /// per table leaf, 2^k bits (from word table_begin / 128): bit Y set iff some background row
  /// satisfies every feature of Y. Small enough to stay in cache; saves the table loads of the
  /// (many) leaves to which no background row can contribute.
  std::vector<uint64_t> nonempty;
  std::vector<uint64_t> pattern_failed;     ///< [pattern][words] failed-feature bitmask of the pattern
  std::vector<double> pattern_count;
  std::vector<int32_t> pattern_zeros;       ///< popcount of the failed mask
  std::vector<double> beta;                 ///< B(a, c) at [a * beta_stride + c]
  std::vector<double> expected;             ///< [n_outputs] mean raw output over the background
  int64_t beta_stride = 1;
  int64_t words = 1;                        ///< 64-bit words of a failed mask
  int64_t max_depth = 0;
  int64_t n_background = 0;
  int64_t n_table_leaves = 0, n_pattern_leaves = 0;

  int64_t n_leaves() const { return static_cast<int64_t>(leaf_k.size()); }
  /// Bytes held by the fitted statistics (tables, patterns and structure).
  int64_t nbytes() const {
    return static_cast<int64_t>(8 * (table.size() + nonempty.size() + pattern_failed.size() + pattern_count.size() + beta.size() +
                                     source.size() + parent_source.size() + subtree_end.size() + leaf_node.size() + leaf_feature_begin.size() + table_begin.size() +
                                     pattern_begin.size() + leaf_full.size()) +
                                4 * (depth.size() + bit.size() + leaf_id.size() + leaf_k.size() +
                                     leaf_feature.size() + pattern_zeros.size()) +
                                is_left_child.size());
  }
  double B(int64_t a, int64_t c) const { return beta[static_cast<size_t>(a * beta_stride + c)]; }
};

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
  MaskScratch(const InterventionalTables& T)
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

/// Transposes and prepares rows [r0, r1) into blocks of kShapBlock lanes ([block][feature][lane]);
/// lanes past r1 repeat the last row.
inline void transpose_rows(const ForestView& forest, const double* X, int64_t r0, int64_t r1, std::vector<double>& xt) {
  constexpr int L = kShapBlock;
  const int64_t M = forest.n_features, n_blocks = (r1 - r0 + L - 1) / L;
  xt.resize(static_cast<size_t>(n_blocks * M * L));
  for (int64_t b = 0; b < n_blocks; ++b)
    for (int r = 0; r < L; ++r) {
      const double* x = X + std::min(r0 + b * L + r, r1 - 1) * M;
      for (int64_t f = 0; f < M; ++f) xt[static_cast<size_t>((b * M + f) * L + r)] = forest.prepare(x[f]);
    }
}

/// Rows per parallel chunk of the explain loops (fixed: results never depend on n_jobs).
constexpr int64_t kInterventionalChunk = 128;

/// The mask walk over every tree for the rows [0, n_rows), row chunks in parallel: each chunk makes
/// its own worker = make_worker() and calls worker(first_row, lanes, tree, leaf, masks) at every
/// leaf of every tree (trees outer), for every block of kShapBlock rows.
template <typename MakeWorker>
void for_each_leaf_of_rows(const ForestView& forest, const InterventionalTables& T, const double* X, int64_t n_rows,
                           int n_jobs, const std::function<bool()>& interrupted, MakeWorker&& make_worker) {
  constexpr int L = kShapBlock;
  const int64_t M = forest.n_features;
  const bool plain_splits = forest.missing_rule == nullptr && forest.cat_offset == nullptr;
  const int64_t n_chunks = (n_rows + kInterventionalChunk - 1) / kInterventionalChunk;
  parallel_for_chunks(
      n_chunks, resolve_threads(n_jobs, n_chunks),
      [&](int64_t chunk) {
        const int64_t r0 = chunk * kInterventionalChunk, r1 = std::min(n_rows, r0 + kInterventionalChunk);
        std::vector<double> xt;
        transpose_rows(forest, X, r0, r1, xt);
        MaskScratch scratch(T);
        auto worker = make_worker();
        const int64_t n_blocks = (r1 - r0 + L - 1) / L;
        for (int64_t t = 0; t < forest.n_trees; ++t)
          for (int64_t blk = 0; blk < n_blocks; ++blk) {
            const int64_t first = r0 + blk * L;
            const int lanes = static_cast<int>(std::min<int64_t>(L, r1 - first));
            walk_failed_masks(forest, T, t, plain_splits, xt.data() + blk * M * L, scratch,
                              [&](int32_t leaf, const uint64_t* masks) { worker(first, lanes, t, leaf, masks); });
          }
      },
      interrupted);
}

/// Sorts the (mask words..., count) entries of one leaf and merges equal masks.
inline void compact_patterns(std::vector<uint64_t>& masks, std::vector<double>& counts, int64_t nw) {
  const size_t n = counts.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::lexicographical_compare(masks.begin() + static_cast<int64_t>(a) * nw,
                                        masks.begin() + static_cast<int64_t>(a + 1) * nw,
                                        masks.begin() + static_cast<int64_t>(b) * nw,
                                        masks.begin() + static_cast<int64_t>(b + 1) * nw);
  });
  std::vector<uint64_t> m2;
  std::vector<double> c2;
  for (size_t idx : order) {
    const auto first = masks.begin() + static_cast<int64_t>(idx) * nw;
    if (!c2.empty() && std::equal(first, first + nw, m2.end() - nw)) {
      c2.back() += counts[idx];
    } else {
      m2.insert(m2.end(), first, first + nw);
      c2.push_back(counts[idx]);
    }
  }
  masks.swap(m2);
  counts.swap(c2);
}

}  // namespace detail

/// Fits interventional TreeSHAP to the background rows B[n_background, n_features] (C order) of
/// `forest` (which must have passed ForestView::check()). Trees are processed in parallel; the
/// result does not depend on n_jobs. Throws std::invalid_argument for an empty background.
inline InterventionalTables build_interventional_tables(const ForestView& forest, const double* background,
                                                        int64_t n_background,
                                                        const InterventionalOptions& options = {},
                                                        int n_jobs = 1,
                                                        const std::function<bool()>& interrupted = {}) {
  if (n_background < 1) throw std::invalid_argument("the background data has no rows");
  if (options.max_table_bytes < 0 || options.max_table_k < 0 || options.max_table_k > 30)
    throw std::invalid_argument("max_table_bytes must be >= 0 and max_table_k in [0, 30]");
  InterventionalTables T;
  T.n_background = n_background;
  const int64_t W = forest.value_width;
  T.node_begin.push_back(0);
  T.leaf_feature_begin.push_back(0);
  int64_t max_k = 0;
  std::vector<int64_t> stack, order;
  std::vector<int32_t> parent, edge_feature, prev_same, ucount;
  // ---- structure: preorder, bits, per-leaf unique features
  for (int64_t t = 0; t < forest.n_trees; ++t) {
    const int64_t root = forest.tree_offset[t];
    forest.preorder(t, order, stack);
    const int64_t N = static_cast<int64_t>(order.size());
    std::vector<int32_t> local_of(static_cast<size_t>(forest.tree_offset[t + 1] - root), -1);
    for (int64_t i = 0; i < N; ++i) local_of[static_cast<size_t>(order[i] - root)] = static_cast<int32_t>(i);
    parent.assign(static_cast<size_t>(N), -1);
    edge_feature.assign(static_cast<size_t>(N), -1);
    prev_same.assign(static_cast<size_t>(N), -1);
    ucount.assign(static_cast<size_t>(N), 0);
    std::vector<int32_t> dep(static_cast<size_t>(N), 0), bits(static_cast<size_t>(N), -1);
    for (int64_t i = 0; i < N; ++i) {
      const int64_t n = order[static_cast<size_t>(i)];
      if (forest.left[n] < 0) continue;
      for (int64_t c : {forest.left[n], forest.right[n]}) {
        const int32_t lc = local_of[static_cast<size_t>(c - root)];
        parent[static_cast<size_t>(lc)] = static_cast<int32_t>(i);
        edge_feature[static_cast<size_t>(lc)] = forest.feature[n];
      }
    }
    for (int64_t i = 1; i < N; ++i) {  // preorder: the parent is done before the child
      const size_t ii = static_cast<size_t>(i);
      const int32_t par = parent[ii], f = edge_feature[ii];
      int32_t a = par;
      while (a > 0 && edge_feature[static_cast<size_t>(a)] != f) a = parent[static_cast<size_t>(a)];
      prev_same[ii] = a > 0 ? a : -1;
      dep[ii] = dep[static_cast<size_t>(par)] + 1;
      T.max_depth = std::max<int64_t>(T.max_depth, dep[ii]);
      bits[ii] = prev_same[ii] >= 0 ? bits[static_cast<size_t>(prev_same[ii])] : ucount[static_cast<size_t>(par)];
      ucount[ii] = ucount[static_cast<size_t>(par)] + (prev_same[ii] < 0 ? 1 : 0);
    }
    for (int64_t i = 0; i < N; ++i) {
      const size_t ii = static_cast<size_t>(i);
      const int64_t n = order[ii];
      T.source.push_back(n);
      T.parent_source.push_back(i > 0 ? order[static_cast<size_t>(parent[ii])] : -1);
      T.depth.push_back(dep[ii]);
      T.bit.push_back(bits[ii]);
      T.is_left_child.push_back(i > 0 && forest.left[order[static_cast<size_t>(parent[ii])]] == n ? 1 : 0);
      if (i > 0 && forest.left[n] < 0) {
        T.leaf_id.push_back(static_cast<int32_t>(T.leaf_k.size()));
        const int32_t k = ucount[ii];
        max_k = std::max<int64_t>(max_k, k);
        T.leaf_k.push_back(k);
        T.leaf_node.push_back(n);
        const size_t fb = T.leaf_feature.size();
        T.leaf_feature.resize(fb + static_cast<size_t>(k), -1);
        for (int32_t a = static_cast<int32_t>(i); a > 0; a = parent[static_cast<size_t>(a)])
          if (prev_same[static_cast<size_t>(a)] < 0)
            T.leaf_feature[fb + static_cast<size_t>(bits[static_cast<size_t>(a)])] = edge_feature[static_cast<size_t>(a)];
        T.leaf_feature_begin.push_back(static_cast<int64_t>(T.leaf_feature.size()));
      } else {
        T.leaf_id.push_back(-1);
      }
    }
    T.node_begin.push_back(static_cast<int64_t>(T.source.size()));
  }
  T.words = std::max<int64_t>(1, (max_k + 63) / 64);
  // ---- B(a, c) = 1 / ((a + c + 1) C(a + c, a)) for a, c <= max_k
  T.beta_stride = max_k + 1;
  T.beta.assign(static_cast<size_t>(T.beta_stride * T.beta_stride), 0.0);
  for (int64_t a = 0; a <= max_k; ++a)
    for (int64_t c = 0; c <= max_k; ++c) {
      double binom = 1.0;  // C(a + c, min(a, c)) by the multiplicative formula
      const int64_t lo = std::min(a, c), n = a + c;
      for (int64_t i = 1; i <= lo; ++i) binom = binom * static_cast<double>(n - lo + i) / static_cast<double>(i);
      T.beta[static_cast<size_t>(a * T.beta_stride + c)] = 1.0 / (static_cast<double>(n + 1) * binom);
    }
  // ---- which leaves get a table: smallest k first, within the byte budget
  const int64_t n_leaves = T.n_leaves();
  T.table_begin.assign(static_cast<size_t>(n_leaves), -1);
  {
    std::vector<int64_t> cand;
    for (int64_t l = 0; l < n_leaves; ++l) {
      const int32_t k = T.leaf_k[static_cast<size_t>(l)];
      if (k <= options.max_table_k && std::ldexp(1.0, k) <= options.table_ratio * static_cast<double>(n_background))
        cand.push_back(l);
    }
    std::stable_sort(cand.begin(), cand.end(), [&](int64_t a, int64_t b) {
      return T.leaf_k[static_cast<size_t>(a)] < T.leaf_k[static_cast<size_t>(b)];
    });
    int64_t used = 0;
    for (int64_t l : cand) {
      const int64_t entries = int64_t(2) << T.leaf_k[static_cast<size_t>(l)];
      if ((used + entries) * 8 > options.max_table_bytes) break;
      used += entries;
      T.table_begin[static_cast<size_t>(l)] = 0;  // placeholder: offsets assigned in leaf order below
    }
    int64_t off = 0;
    for (int64_t l = 0; l < n_leaves; ++l)
      if (T.table_begin[static_cast<size_t>(l)] >= 0) {
        T.table_begin[static_cast<size_t>(l)] = off;
        off += int64_t(2) << T.leaf_k[static_cast<size_t>(l)];
        ++T.n_table_leaves;
      }
    T.table.assign(static_cast<size_t>(off), 0.0);
    T.nonempty.assign(static_cast<size_t>(off / 128 + 1), 0);
    T.n_pattern_leaves = n_leaves - T.n_table_leaves;
  }
  T.leaf_full.assign(static_cast<size_t>(n_leaves), 0.0);
  // subtree end of every node (preorder): lets the pair walk skip a subtree
  T.subtree_end.resize(T.source.size());
  for (int64_t t = 0; t < forest.n_trees; ++t) {
    const int64_t nb = T.node_begin[static_cast<size_t>(t)], ne = T.node_begin[static_cast<size_t>(t) + 1];
    std::vector<int64_t> open;
    for (int64_t g = nb; g < ne; ++g) {
      while (!open.empty() && T.depth[static_cast<size_t>(open.back())] >= T.depth[static_cast<size_t>(g)]) {
        T.subtree_end[static_cast<size_t>(open.back())] = g;
        open.pop_back();
      }
      open.push_back(g);
    }
    for (int64_t g : open) T.subtree_end[static_cast<size_t>(g)] = ne;
  }
  if (!options.statistics) {
    T.table_begin.assign(static_cast<size_t>(n_leaves), -1);
    T.table.clear();
    T.n_table_leaves = 0;
    T.n_pattern_leaves = n_leaves;
    T.pattern_begin.assign(static_cast<size_t>(n_leaves + 1), 0);
    T.expected.assign(forest.base_value, forest.base_value + forest.n_outputs);
    return T;
  }
  // ---- background pass, one tree per chunk
  const int64_t nw = T.words;
  std::vector<std::vector<uint64_t>> tree_masks(static_cast<size_t>(forest.n_trees));
  std::vector<std::vector<double>> tree_counts(static_cast<size_t>(forest.n_trees));
  std::vector<std::vector<int64_t>> tree_npat(static_cast<size_t>(forest.n_trees));
  const bool plain_splits = forest.missing_rule == nullptr && forest.cat_offset == nullptr;
  constexpr int L = kShapBlock;
  const int64_t M = forest.n_features;
  std::vector<double> bt;  // the background, prepared and transposed once
  detail::transpose_rows(forest, background, 0, n_background, bt);
  parallel_for_chunks(
      forest.n_trees, resolve_threads(n_jobs, forest.n_trees),
      [&](int64_t t) {
        const size_t ts = static_cast<size_t>(t);
        const int64_t nb = T.node_begin[ts], ne = T.node_begin[ts + 1];
        int64_t l0 = -1, l1 = -1;  // this tree's leaves are [l0, l1)
        for (int64_t g = nb; g < ne; ++g)
          if (T.leaf_id[static_cast<size_t>(g)] >= 0) {
            if (l0 < 0) l0 = T.leaf_id[static_cast<size_t>(g)];
            l1 = T.leaf_id[static_cast<size_t>(g)] + 1;
          }
        if (l0 < 0) return;  // a single leaf
        const int64_t nl = l1 - l0;
        std::vector<std::vector<double>> counts(static_cast<size_t>(nl));  // dense by satisfied set
        std::vector<std::vector<uint64_t>> pm(static_cast<size_t>(nl));    // pattern leaves: masks
        std::vector<std::vector<double>> pc(static_cast<size_t>(nl));
        std::vector<size_t> compact_at(static_cast<size_t>(nl), 4096);
        for (int64_t l = l0; l < l1; ++l)
          if (T.table_begin[static_cast<size_t>(l)] >= 0)
            counts[static_cast<size_t>(l - l0)].assign(size_t(1) << T.leaf_k[static_cast<size_t>(l)], 0.0);
        detail::MaskScratch scratch(T);
        for (int64_t b = 0; b * L < n_background; ++b) {
          const int lanes = static_cast<int>(std::min<int64_t>(L, n_background - b * L));
          detail::walk_failed_masks(
              forest, T, t, plain_splits, bt.data() + b * M * L, scratch, [&](int32_t leaf, const uint64_t* m) {
                const size_t li = static_cast<size_t>(leaf - l0);
                const int32_t k = T.leaf_k[static_cast<size_t>(leaf)];
                if (!counts[li].empty()) {
                  const uint64_t full = (uint64_t(1) << k) - 1;
                  for (int r = 0; r < lanes; ++r) counts[li][full & ~m[r * nw]] += 1.0;
                } else {
                  pm[li].insert(pm[li].end(), m, m + lanes * nw);
                  pc[li].insert(pc[li].end(), static_cast<size_t>(lanes), 1.0);
                  if (pc[li].size() >= compact_at[li]) {
                    detail::compact_patterns(pm[li], pc[li], nw);
                    compact_at[li] = std::max<size_t>(4096, 2 * pc[li].size());
                  }
                }
              });
        }
        // tables: superset sums per zero count, then alpha and gamma per subset
        std::vector<double> h;
        for (int64_t l = l0; l < l1; ++l) {
          const size_t li = static_cast<size_t>(l - l0);
          const int64_t k = T.leaf_k[static_cast<size_t>(l)];
          if (counts[li].empty()) {
            detail::compact_patterns(pm[li], pc[li], nw);
            for (size_t e = 0; e < pc[li].size(); ++e) {
              bool none = true;
              for (int64_t w = 0; w < nw; ++w) none = none && pm[li][e * static_cast<size_t>(nw) + static_cast<size_t>(w)] == 0;
              if (none) T.leaf_full[static_cast<size_t>(l)] = pc[li][e];
            }
            continue;
          }
          const int64_t S = int64_t(1) << k, A = k + 1;
          const auto& c = counts[li];
          T.leaf_full[static_cast<size_t>(l)] = c[static_cast<size_t>(S - 1)];
          h.assign(static_cast<size_t>(S * A), 0.0);
          for (int64_t s = 0; s < S; ++s)
            h[static_cast<size_t>(s * A + (k - detail::popcount64(static_cast<uint64_t>(s))))] = c[static_cast<size_t>(s)];
          for (int64_t b = 0; b < k; ++b)
            for (int64_t Y = 0; Y < S; ++Y)
              if (!((Y >> b) & 1)) {
                double* dst = h.data() + Y * A;
                const double* src = h.data() + (Y | (int64_t(1) << b)) * A;
                for (int64_t a = 0; a < A; ++a) dst[a] += src[a];
              }
          double* tab = T.table.data() + T.table_begin[static_cast<size_t>(l)];
          for (int64_t Y = 0; Y < S; ++Y) {
            const int64_t m = detail::popcount64(static_cast<uint64_t>(Y));
            const double* hy = h.data() + Y * A;
            double alpha = 0.0, second = 0.0;  // second: gamma(Y), or delta({}) for Y = {}
            for (int64_t a = 1; a + m <= k; ++a) {
              if (hy[a] == 0.0) continue;
              if (m > 0) alpha += hy[a] * T.B(a, m - 1);
              second += hy[a] * (m > 0 ? T.B(a - 1, m - 1) : T.B(a - 1, 0));
            }
            if (m > 0) alpha += hy[0] * T.B(0, m - 1);
            tab[2 * Y] = alpha;
            tab[2 * Y + 1] = second;
          }

        }
        // hand the pattern leaves' lists to the serial merge below
        auto& tm = tree_masks[ts];
        auto& tc = tree_counts[ts];
        auto& tn = tree_npat[ts];
        for (int64_t l = l0; l < l1; ++l) {
          const size_t li = static_cast<size_t>(l - l0);
          tn.push_back(static_cast<int64_t>(pc[li].size()));
          tm.insert(tm.end(), pm[li].begin(), pm[li].end());
          tc.insert(tc.end(), pc[li].begin(), pc[li].end());
        }
      },
      interrupted);
  // ---- non-empty bits (serially: small tables of different trees may share a word).
  // H[Y] is non-empty iff alpha(Y) > 0 for Y != {}; H[{}] holds all R rows.
  for (int64_t l = 0; l < n_leaves; ++l) {
    const int64_t tb = T.table_begin[static_cast<size_t>(l)];
    if (tb < 0) continue;
    const int64_t S = int64_t(1) << T.leaf_k[static_cast<size_t>(l)];
    for (int64_t Y = 0; Y < S; ++Y)
      if (Y == 0 || T.table[static_cast<size_t>(tb + 2 * Y)] > 0.0) {
        const int64_t b = tb / 2 + Y;
        T.nonempty[static_cast<size_t>(b >> 6)] |= uint64_t(1) << (b & 63);
      }
  }
  // ---- flatten the pattern lists in leaf order
  T.pattern_begin.assign(1, 0);
  for (int64_t t = 0; t < forest.n_trees; ++t) {
    const size_t ts = static_cast<size_t>(t);
    for (int64_t np : tree_npat[ts]) T.pattern_begin.push_back(T.pattern_begin.back() + np);
    T.pattern_failed.insert(T.pattern_failed.end(), tree_masks[ts].begin(), tree_masks[ts].end());
    T.pattern_count.insert(T.pattern_count.end(), tree_counts[ts].begin(), tree_counts[ts].end());
    std::vector<uint64_t>().swap(tree_masks[ts]);
  }
  T.pattern_zeros.resize(T.pattern_count.size());
  for (size_t e = 0; e < T.pattern_count.size(); ++e) {
    int z = 0;
    for (int64_t w = 0; w < nw; ++w) z += detail::popcount64(T.pattern_failed[e * static_cast<size_t>(nw) + static_cast<size_t>(w)]);
    T.pattern_zeros[e] = z;
  }
  // ---- expected value: mean raw output over the background = sum of leaf values x reach share
  T.expected.assign(forest.base_value, forest.base_value + forest.n_outputs);
  const double invR = 1.0 / static_cast<double>(n_background);
  for (int64_t t = 0; t < forest.n_trees; ++t) {
    const int64_t nb = T.node_begin[static_cast<size_t>(t)], ne = T.node_begin[static_cast<size_t>(t) + 1];
    double* out = T.expected.data() + forest.tree_output[t];
    if (ne - nb == 1) {
      for (int64_t w = 0; w < W; ++w) out[w] += forest.value[T.source[static_cast<size_t>(nb)] * W + w];
      continue;
    }
    for (int64_t g = nb; g < ne; ++g) {
      const int32_t leaf = T.leaf_id[static_cast<size_t>(g)];
      if (leaf < 0) continue;
      const double share = T.leaf_full[static_cast<size_t>(leaf)] * invR;
      if (share == 0.0) continue;
      for (int64_t w = 0; w < W; ++w) out[w] += share * forest.value[T.source[static_cast<size_t>(g)] * W + w];
    }
  }
  return T;
}

/// Interventional SHAP values of rows X[n_rows, n_features] (C order) into
/// phi[n_rows, n_features, n_outputs] (overwritten), for the background summarized in `tables`
/// (from build_interventional_tables on the same forest). Cost per row is O(sum over leaves of
/// k) for table leaves and O(distinct background patterns) for pattern leaves, independent of
/// the number of background rows. The result does not depend on n_jobs.
inline void interventional_shap_values(const ForestView& forest, const InterventionalTables& T, const double* X,
                                       int64_t n_rows, double* phi, int n_jobs = 1,
                                       const std::function<bool()>& interrupted = {}) {
  const int64_t M = forest.n_features, K = forest.n_outputs, W = forest.value_width, MK = M * K;
  const int64_t nw = T.words;
  const double invR = 1.0 / static_cast<double>(T.n_background);
  std::fill(phi, phi + n_rows * MK, 0.0);
  int64_t max_k = 0;
  for (int32_t k : T.leaf_k) max_k = std::max<int64_t>(max_k, k);
  detail::for_each_leaf_of_rows(forest, T, X, n_rows, n_jobs, interrupted, [&] {
    return [&, credit = std::vector<double>(static_cast<size_t>(max_k + 1))](
               int64_t first, int lanes, int64_t t, int32_t leaf, const uint64_t* masks) mutable {
      const int64_t out0 = forest.tree_output[t];
      const size_t ls = static_cast<size_t>(leaf);
      const int64_t k = T.leaf_k[ls];
      const int32_t* feats = T.leaf_feature.data() + T.leaf_feature_begin[ls];
      const double full = T.leaf_full[ls];
      const int64_t tb = T.table_begin[ls];
      for (int r = 0; r < lanes; ++r) {
        const uint64_t* Z = masks + r * nw;
        bool any = false;
        if (tb >= 0) {
          const double* tab = T.table.data() + tb;
          const uint64_t z = Z[0];
          const int64_t bz = tb / 2 + static_cast<int64_t>(z);
          if (!((T.nonempty[static_cast<size_t>(bz >> 6)] >> (bz & 63)) & 1))
            continue;  // no background row satisfies all of Z: no credit
          const int m = detail::popcount64(z);
          const double aZ = tab[2 * z];
          const double dZ = m == 0 ? tab[1] : tab[2 * z + 1] - aZ + full / static_cast<double>(m);
          double* out = phi + (first + r) * MK + out0;
          const double* val = forest.value + T.leaf_node[ls] * W;
          const double lose = -aZ * invR;
          for (uint64_t bits = z; bits; bits &= bits - 1) {
            double* o = out + static_cast<int64_t>(feats[detail::ctz64(bits)]) * K;
            for (int64_t w = 0; w < W; ++w) o[w] += lose * val[w];
          }
          const uint64_t kept = ~z & ((uint64_t(1) << k) - 1);
          for (uint64_t bits = kept; bits; bits &= bits - 1) {
            const int j = detail::ctz64(bits);
            const double gain = (dZ - tab[2 * (z | (uint64_t(1) << j)) + 1]) * invR;
            double* o = out + static_cast<int64_t>(feats[j]) * K;
            for (int64_t w = 0; w < W; ++w) o[w] += gain * val[w];
          }
          continue;
        } else {
          int m = 0;
          for (int64_t w = 0; w < nw; ++w) m += detail::popcount64(Z[w]);
          std::fill(credit.begin(), credit.begin() + k, 0.0);
          double acc_z = 0.0;
          const int64_t p0 = T.pattern_begin[ls], p1 = T.pattern_begin[ls + 1];
          for (int64_t p = p0; p < p1; ++p) {
            const uint64_t* F = T.pattern_failed.data() + p * nw;
            bool ok = true;
            for (int64_t w = 0; w < nw; ++w) ok = ok && (F[w] & Z[w]) == 0;
            if (!ok) continue;  // the pattern fails a feature x fails too: no credit
            any = true;
            const double c = T.pattern_count[static_cast<size_t>(p)];
            const int64_t zb = T.pattern_zeros[static_cast<size_t>(p)];
            if (m > 0) acc_z += c * T.B(zb, m - 1);
            if (zb > 0) {
              const double cj = c * T.B(zb - 1, m);
              for (int64_t w = 0; w < nw; ++w)
                for (uint64_t bits = F[w]; bits; bits &= bits - 1)
                  credit[static_cast<size_t>(w * 64 + detail::ctz64(bits))] += cj;
            }
          }
          if (!any) continue;
          for (int64_t w = 0; w < nw; ++w)
            for (uint64_t bits = Z[w]; bits; bits &= bits - 1)
              credit[static_cast<size_t>(w * 64 + detail::ctz64(bits))] = -acc_z;
        }
        if (!any) continue;
        double* out = phi + (first + r) * MK + out0;
        const double* val = forest.value + T.leaf_node[ls] * W;
        for (int64_t j = 0; j < k; ++j) {
          const double cr = credit[static_cast<size_t>(j)] * invR;
          if (cr == 0.0) continue;
          double* o = out + static_cast<int64_t>(feats[j]) * K;
          for (int64_t w = 0; w < W; ++w) o[w] += cr * val[w];
        }
      }
    };
  });
}

/// Interventional SHAP interaction values of the raw output (the Lundberg et al. definition:
/// off-diagonal entries are half the Shapley interaction index, the diagonal makes each row sum to
/// the SHAP value), out[n_rows, n_sub, n_sub, n_outputs] for the features with
/// subset_index[f] >= 0. Needs pattern statistics for every leaf (tables fitted with
/// max_table_bytes = 0); throws std::invalid_argument otherwise.
///
/// For one background row the game of a leaf with value v is v if the coalition holds every
/// feature of A (x satisfies, b does not) and none of B (b satisfies, x does not), else 0; with
/// a = |A|, b = |B|, k = a + b its interaction indices are, in Beta integrals B(p, q) =
/// p! q! / (p + q + 1)!: i, j in A: v B(a - 2, b); i in A, j in B: -v B(a - 1, b - 1); i, j in B:
/// v B(a, b - 2) (halved for the off-diagonal entries), and its Shapley values v B(a - 1, b) on A,
/// -v B(a, b - 1) on B. Each pattern of background rows adds these with its count. O(patterns x
/// k^2) per leaf and row.
inline void interventional_interaction_values(const ForestView& forest, const InterventionalTables& T, const double* X,
                                              int64_t n_rows, const int32_t* subset_index, int64_t n_sub, double* out,
                                              int n_jobs = 1, const std::function<bool()>& interrupted = {}) {
  const int64_t K = forest.n_outputs, W = forest.value_width;
  const int64_t nw = T.words, row_size = n_sub * n_sub * K;
  for (int64_t v : T.table_begin)
    if (v >= 0)
      throw std::invalid_argument("interventional interaction values need pattern statistics for every leaf");
  const double invR = 1.0 / static_cast<double>(T.n_background);
  std::fill(out, out + n_rows * row_size, 0.0);
  int64_t max_k = 0;
  for (int32_t k : T.leaf_k) max_k = std::max<int64_t>(max_k, k);
  detail::for_each_leaf_of_rows(forest, T, X, n_rows, n_jobs, interrupted, [&] {
    return [&, pair = std::vector<double>(static_cast<size_t>(max_k * max_k)),
            shapley = std::vector<double>(static_cast<size_t>(max_k)), members = std::vector<int>(),
            in_a = std::vector<int>()](int64_t first, int lanes, int64_t t, int32_t leaf,
                                       const uint64_t* masks) mutable {
      const int64_t out0 = forest.tree_output[t];
      const size_t ls = static_cast<size_t>(leaf);
      const int64_t k = T.leaf_k[ls];
      const int32_t* feats = T.leaf_feature.data() + T.leaf_feature_begin[ls];
      const double* val = forest.value + T.leaf_node[ls] * W;
      for (int r = 0; r < lanes; ++r) {
        const uint64_t* Z = masks + r * nw;
        int b = 0;
        for (int64_t w = 0; w < nw; ++w) b += detail::popcount64(Z[w]);
        std::fill(pair.begin(), pair.begin() + k * k, 0.0);
        std::fill(shapley.begin(), shapley.begin() + k, 0.0);
        bool any = false;
        for (int64_t p = T.pattern_begin[ls]; p < T.pattern_begin[ls + 1]; ++p) {
          const uint64_t* F = T.pattern_failed.data() + p * nw;
          bool ok = true;
          for (int64_t w = 0; w < nw; ++w) ok = ok && (F[w] & Z[w]) == 0;
          const int a = T.pattern_zeros[static_cast<size_t>(p)];
          if (!ok || a + b == 0) continue;  // a feature fails for both, or the game is constant
          any = true;
          const double c = T.pattern_count[static_cast<size_t>(p)];
          // A = F (b fails, x satisfies), B = Z (x fails, b satisfies)
          members.clear();
          in_a.clear();
          for (int64_t w = 0; w < nw; ++w) {
            for (uint64_t bits = F[w]; bits; bits &= bits - 1) {
              members.push_back(static_cast<int>(w * 64 + detail::ctz64(bits)));
              in_a.push_back(1);
            }
            for (uint64_t bits = Z[w]; bits; bits &= bits - 1) {
              members.push_back(static_cast<int>(w * 64 + detail::ctz64(bits)));
              in_a.push_back(0);
            }
          }
          const double w_aa = a >= 2 ? 0.5 * c * T.B(a - 2, b) : 0.0;
          const double w_ab = a >= 1 && b >= 1 ? -0.5 * c * T.B(a - 1, b - 1) : 0.0;
          const double w_bb = b >= 2 ? 0.5 * c * T.B(a, b - 2) : 0.0;
          const double s_a = a >= 1 ? c * T.B(a - 1, b) : 0.0;
          const double s_b = b >= 1 ? -c * T.B(a, b - 1) : 0.0;
          const size_t n_members = members.size();
          for (size_t u = 0; u < n_members; ++u) {
            const int i = members[u];
            shapley[static_cast<size_t>(i)] += in_a[u] ? s_a : s_b;
            for (size_t q = u + 1; q < n_members; ++q) {
              const int j = members[q];
              const double wij = in_a[u] && in_a[q] ? w_aa : (in_a[u] || in_a[q] ? w_ab : w_bb);
              pair[static_cast<size_t>(i * k + j)] += wij;
              pair[static_cast<size_t>(j * k + i)] += wij;
            }
          }
        }
        if (!any) continue;
        double* o = out + (first + r) * row_size;
        for (int64_t i = 0; i < k; ++i) {
          const int32_t si = subset_index[feats[i]];
          if (si < 0) continue;
          double main = shapley[static_cast<size_t>(i)];
          for (int64_t j = 0; j < k; ++j) {
            if (j == i) continue;
            const double pij = pair[static_cast<size_t>(i * k + j)];
            main -= pij;
            const int32_t sj = subset_index[feats[j]];
            if (sj < 0 || pij == 0.0) continue;
            double* oij = o + (static_cast<int64_t>(si) * n_sub + sj) * K + out0;
            for (int64_t w = 0; w < W; ++w) oij[w] += pij * invR * val[w];
          }
          double* oii = o + (static_cast<int64_t>(si) * n_sub + si) * K + out0;
          for (int64_t w = 0; w < W; ++w) oii[w] += main * invR * val[w];
        }
      }
    };
  });
}

/// Output transforms of the shap package's interventional explanations (codes as in shap).
enum class OutputTransform : int { identity = 0, logistic = 1, logistic_nlogloss = 2, squared_loss = 3 };

inline double apply_transform(OutputTransform tr, double margin, double y) {
  switch (tr) {
    case OutputTransform::logistic:
      return 1.0 / (1.0 + std::exp(-margin));
    case OutputTransform::logistic_nlogloss:  // log(1 + e^m) - y m, without overflow
      return (margin > 0.0 ? margin + std::log1p(std::exp(-margin)) : std::log1p(std::exp(margin))) - y * margin;
    case OutputTransform::squared_loss:
      return (margin - y) * (margin - y);
    default:
      return margin;
  }
}

/// Interventional SHAP values of T(f) for a transform T, with the shap package's definition:
///     phi_j(x) = 1/R sum_b [(T(f(x), y) - T(f(b), y)) / (f(x) - f(b))] phi_j(x; b)
/// where phi(x; b) explains the raw output against the single background row b (the factor is 1
/// when f(x) == f(b)); they sum to T(f(x), y) - mean_b T(f(b), y). One output only (the forest
/// must have n_outputs == 1). X[n_rows, M], background[R, M] (C order); y[n_rows] or null (0);
/// phi[n_rows, M] (overwritten); base[n_rows] receives mean_b T(f(b), y). `tables` comes from
/// build_interventional_tables (statistics not needed). Cost O(n_rows x R x visited nodes): each
/// (x, b) pair walks only the nodes reachable by some mix of x and b. Independent of n_jobs.
inline void pair_shap_values(const ForestView& forest, const InterventionalTables& T, const double* background,
                             int64_t n_background, const double* X, const double* y, int64_t n_rows,
                             OutputTransform transform, double* phi, double* base, int n_jobs = 1,
                             const std::function<bool()>& interrupted = {}) {
  if (forest.n_outputs != 1) throw std::invalid_argument("output transforms need a model with one output");
  if (n_background < 1) throw std::invalid_argument("the background data has no rows");
  const int64_t M = forest.n_features, nw = T.words;
  std::fill(phi, phi + n_rows * M, 0.0);
  std::vector<double> fb(static_cast<size_t>(n_background));
  auto margin = [&](const double* r) {
    double m = forest.base_value[0];
    for (int64_t t = 0; t < forest.n_trees; ++t) m += forest.value[forest.leaf_of(t, r)];
    return m;
  };
  for (int64_t b = 0; b < n_background; ++b) fb[static_cast<size_t>(b)] = margin(background + b * M);
  const double invR = 1.0 / static_cast<double>(n_background);
  const int64_t n_chunks = (n_rows + 15) / 16;
  parallel_for_chunks(
      n_chunks, resolve_threads(n_jobs, n_chunks),
      [&](int64_t chunk) {
        std::vector<double> xp(static_cast<size_t>(M)), bp(static_cast<size_t>(M));
        std::vector<uint64_t> xf(static_cast<size_t>((T.max_depth + 1) * nw)), bf(xf.size());
        for (int64_t r = chunk * 16; r < std::min(n_rows, chunk * 16 + 16); ++r) {
          const double* x = X + r * M;
          const double yr = y ? y[r] : 0.0;
          for (int64_t f = 0; f < M; ++f) xp[static_cast<size_t>(f)] = forest.prepare(x[f]);
          const double fx = margin(x), tx = apply_transform(transform, fx, yr);
          double* out = phi + r * M;
          double base_acc = 0.0;
          for (int64_t b = 0; b < n_background; ++b) {
            const double* brow = background + b * M;
            for (int64_t f = 0; f < M; ++f) bp[static_cast<size_t>(f)] = forest.prepare(brow[f]);
            const double fbv = fb[static_cast<size_t>(b)], tb = apply_transform(transform, fbv, yr);
            base_acc += tb;
            const double rho = (fx == fbv ? 1.0 : (tx - tb) / (fx - fbv)) * invR;
            for (int64_t t = 0; t < forest.n_trees; ++t) {
              const int64_t nb = T.node_begin[static_cast<size_t>(t)], ne = T.node_begin[static_cast<size_t>(t) + 1];
              std::fill(xf.begin(), xf.begin() + nw, uint64_t(0));
              std::fill(bf.begin(), bf.begin() + nw, uint64_t(0));
              for (int64_t g = nb + 1; g < ne;) {
                const size_t gs = static_cast<size_t>(g);
                const int64_t d = T.depth[gs];
                // the parent's split decides whether x and b follow this edge
                const int64_t pn = T.parent_source[gs];
                const int32_t f = forest.feature[pn];
                const bool xl = forest.goes_left(pn, xp[static_cast<size_t>(f)]);
                const bool bl = forest.goes_left(pn, bp[static_cast<size_t>(f)]);
                const bool is_left = T.is_left_child[gs] != 0;
                uint64_t* xm = xf.data() + d * nw;
                uint64_t* bm = bf.data() + d * nw;
                std::copy(xm - nw, xm, xm);
                std::copy(bm - nw, bm, bm);
                const int bit = T.bit[gs];
                const uint64_t bv = uint64_t(1) << (bit & 63);
                if (xl != is_left) xm[bit >> 6] |= bv;
                if (bl != is_left) bm[bit >> 6] |= bv;
                if (xm[bit >> 6] & bm[bit >> 6] & bv) {  // neither x nor b satisfies this feature
                  g = T.subtree_end[gs];
                  continue;
                }
                const int32_t leaf = T.leaf_id[gs];
                if (leaf >= 0) {
                  int nx = 0, nbf = 0;  // x-only and b-only satisfied features
                  for (int64_t w = 0; w < nw; ++w) {
                    nx += detail::popcount64(bm[w]);
                    nbf += detail::popcount64(xm[w]);
                  }
                  if (nx + nbf > 0) {
                    const size_t ls = static_cast<size_t>(leaf);
                    const int32_t* feats = T.leaf_feature.data() + T.leaf_feature_begin[ls];
                    const double v = forest.value[T.leaf_node[ls]] * rho;
                    const double gain = nx > 0 ? v * T.B(nx - 1, nbf) : 0.0;
                    const double loss = nbf > 0 ? v * T.B(nx, nbf - 1) : 0.0;
                    for (int64_t w = 0; w < nw; ++w) {
                      for (uint64_t bits = bm[w]; bits; bits &= bits - 1)
                        out[feats[w * 64 + detail::ctz64(bits)]] += gain;
                      for (uint64_t bits = xm[w]; bits; bits &= bits - 1)
                        out[feats[w * 64 + detail::ctz64(bits)]] -= loss;
                    }
                  }
                }
                ++g;
              }
            }
          }
          if (base) base[r] = base_acc * invR;
        }
      },
      interrupted);
}

}  // namespace xplain
