// Interventional TreeSHAP, fitting: the tree structure in the path numbering, the Beta integrals,
// which leaves get tables, then one pass of the background rows per tree (counts per satisfied
// set for table leaves, with their superset sums; distinct failed patterns for pattern leaves),
// and the mean raw output over the background.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "../forest.hpp"
#include "../parallel.hpp"
#include "../row_blocks.hpp"
#include "masks.hpp"
#include "tables.hpp"

namespace xplain {
namespace detail {

/// One tree's nodes in preorder (local indices) with what the path numbering needs.
struct TreePaths {
  std::vector<int64_t> order, stack;  ///< forest node of each local node; scratch
  std::vector<int32_t> parent, edge_feature, prev_same, unique_count, depth, bits;

  /// Fills the arrays for tree t: parents and edge features, each edge's nearest ancestor edge
  /// on the same feature, depths, and the bit of each edge's feature (the number of unique
  /// features above its first occurrence). Raises max_depth to the tree's depth.
  void build(const ForestView& forest, int64_t t, int64_t& max_depth) {
    const int64_t root = forest.tree_offset[t];
    forest.preorder(t, order, stack);
    const int64_t N = static_cast<int64_t>(order.size());
    std::vector<int32_t> local_of(static_cast<size_t>(forest.tree_offset[t + 1] - root), -1);
    for (int64_t i = 0; i < N; ++i) local_of[static_cast<size_t>(order[i] - root)] = static_cast<int32_t>(i);
    parent.assign(static_cast<size_t>(N), -1);
    edge_feature.assign(static_cast<size_t>(N), -1);
    prev_same.assign(static_cast<size_t>(N), -1);
    unique_count.assign(static_cast<size_t>(N), 0);
    depth.assign(static_cast<size_t>(N), 0);
    bits.assign(static_cast<size_t>(N), -1);
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
      depth[ii] = depth[static_cast<size_t>(par)] + 1;
      max_depth = std::max<int64_t>(max_depth, depth[ii]);
      bits[ii] = prev_same[ii] >= 0 ? bits[static_cast<size_t>(prev_same[ii])] : unique_count[static_cast<size_t>(par)];
      unique_count[ii] = unique_count[static_cast<size_t>(par)] + (prev_same[ii] < 0 ? 1 : 0);
    }
  }
};

/// Appends tree t's nodes (from `paths`) to T's per-node arrays, and its leaves (but a root leaf)
/// with their unique features in bit order to the per-leaf arrays; returns the most unique
/// features of a leaf.
inline int64_t append_tree(const ForestView& forest, const TreePaths& paths, InterventionalTables& T) {
  int64_t max_k = 0;
  const int64_t N = static_cast<int64_t>(paths.order.size());
  for (int64_t i = 0; i < N; ++i) {
    const size_t ii = static_cast<size_t>(i);
    const int64_t n = paths.order[ii];
    const int64_t parent_node = i > 0 ? paths.order[static_cast<size_t>(paths.parent[ii])] : -1;
    T.source.push_back(n);
    T.parent_source.push_back(parent_node);
    T.depth.push_back(paths.depth[ii]);
    T.bit.push_back(paths.bits[ii]);
    T.is_left_child.push_back(i > 0 && forest.left[parent_node] == n ? 1 : 0);
    if (i == 0 || forest.left[n] >= 0) {
      T.leaf_id.push_back(-1);
      continue;
    }
    T.leaf_id.push_back(static_cast<int32_t>(T.leaf_k.size()));
    const int32_t k = paths.unique_count[ii];
    max_k = std::max<int64_t>(max_k, k);
    T.leaf_k.push_back(k);
    T.leaf_node.push_back(n);
    const size_t fb = T.leaf_feature.size();
    T.leaf_feature.resize(fb + static_cast<size_t>(k), -1);
    for (int32_t a = static_cast<int32_t>(i); a > 0; a = paths.parent[static_cast<size_t>(a)])
      if (paths.prev_same[static_cast<size_t>(a)] < 0)
        T.leaf_feature[fb + static_cast<size_t>(paths.bits[static_cast<size_t>(a)])] =
            paths.edge_feature[static_cast<size_t>(a)];
    T.leaf_feature_begin.push_back(static_cast<int64_t>(T.leaf_feature.size()));
  }
  T.node_begin.push_back(static_cast<int64_t>(T.source.size()));
  return max_k;
}

/// B(a, c) = 1 / ((a + c + 1) C(a + c, a)) for a, c <= max_k.
inline void fill_beta(InterventionalTables& T, int64_t max_k) {
  T.beta_stride = max_k + 1;
  T.beta.assign(static_cast<size_t>(T.beta_stride * T.beta_stride), 0.0);
  for (int64_t a = 0; a <= max_k; ++a)
    for (int64_t c = 0; c <= max_k; ++c) {
      double binom = 1.0;  // C(a + c, min(a, c)) by the multiplicative formula
      const int64_t lo = std::min(a, c), n = a + c;
      for (int64_t i = 1; i <= lo; ++i) binom = binom * static_cast<double>(n - lo + i) / static_cast<double>(i);
      T.beta[static_cast<size_t>(a * T.beta_stride + c)] = 1.0 / (static_cast<double>(n + 1) * binom);
    }
}

/// Which leaves get a table (smallest k first, within the byte budget): table_begin, the zeroed
/// tables and non-empty bits, and the leaf counts.
inline void choose_table_leaves(InterventionalTables& T, const InterventionalOptions& options, int64_t n_background) {
  const int64_t n_leaves = T.n_leaves();
  T.table_begin.assign(static_cast<size_t>(n_leaves), -1);
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

/// The subtree end of every node (preorder): lets the pair walk skip a subtree.
inline void fill_subtree_ends(const ForestView& forest, InterventionalTables& T) {
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

/// The background rows of one tree's leaves [l0, l1): table leaves count rows per satisfied set
/// (dense over the 2^k subsets); pattern leaves list failed masks with counts, compacted as they
/// grow.
struct TreeBackground {
  int64_t l0 = -1, l1 = -1;                     ///< the tree's leaves (l0 < 0: a single leaf)
  std::vector<std::vector<double>> counts;      ///< table leaves: rows per satisfied set
  std::vector<std::vector<uint64_t>> masks;     ///< pattern leaves: failed masks
  std::vector<std::vector<double>> pattern_counts;
  std::vector<size_t> compact_at;

  TreeBackground(const InterventionalTables& T, int64_t t) {
    for (int64_t g = T.node_begin[static_cast<size_t>(t)]; g < T.node_begin[static_cast<size_t>(t) + 1]; ++g)
      if (T.leaf_id[static_cast<size_t>(g)] >= 0) {
        if (l0 < 0) l0 = T.leaf_id[static_cast<size_t>(g)];
        l1 = T.leaf_id[static_cast<size_t>(g)] + 1;
      }
    if (l0 < 0) return;
    const size_t nl = static_cast<size_t>(l1 - l0);
    counts.resize(nl);
    masks.resize(nl);
    pattern_counts.resize(nl);
    compact_at.assign(nl, 4096);
    for (int64_t l = l0; l < l1; ++l)
      if (T.table_begin[static_cast<size_t>(l)] >= 0)
        counts[static_cast<size_t>(l - l0)].assign(size_t(1) << T.leaf_k[static_cast<size_t>(l)], 0.0);
  }

  /// Adds the failed masks m[lanes][words] of `lanes` background rows reaching `leaf`.
  void add(const InterventionalTables& T, int32_t leaf, const uint64_t* m, int lanes) {
    const int64_t nw = T.words;
    const size_t li = static_cast<size_t>(leaf - l0);
    const int32_t k = T.leaf_k[static_cast<size_t>(leaf)];
    if (!counts[li].empty()) {
      const uint64_t full = (uint64_t(1) << k) - 1;
      for (int r = 0; r < lanes; ++r) counts[li][full & ~m[r * nw]] += 1.0;
      return;
    }
    masks[li].insert(masks[li].end(), m, m + lanes * nw);
    pattern_counts[li].insert(pattern_counts[li].end(), static_cast<size_t>(lanes), 1.0);
    if (pattern_counts[li].size() >= compact_at[li]) {
      compact_patterns(masks[li], pattern_counts[li], nw);
      compact_at[li] = std::max<size_t>(4096, 2 * pattern_counts[li].size());
    }
  }
};

/// Table leaf l from its counts c per satisfied set: superset sums H[Y][zeros] (h: scratch), then
/// alpha(Y) and gamma(Y) (delta({}) for Y = {}) into its table; leaf_full = c(all ones).
inline void fill_leaf_table(InterventionalTables& T, int64_t l, const std::vector<double>& c, std::vector<double>& h) {
  const int64_t k = T.leaf_k[static_cast<size_t>(l)];
  const int64_t S = int64_t(1) << k, A = k + 1;
  T.leaf_full[static_cast<size_t>(l)] = c[static_cast<size_t>(S - 1)];
  h.assign(static_cast<size_t>(S * A), 0.0);
  for (int64_t s = 0; s < S; ++s)
    h[static_cast<size_t>(s * A + (k - popcount64(static_cast<uint64_t>(s))))] = c[static_cast<size_t>(s)];
  for (int64_t b = 0; b < k; ++b)
    for (int64_t Y = 0; Y < S; ++Y)
      if (!((Y >> b) & 1)) {
        double* dst = h.data() + Y * A;
        const double* src = h.data() + (Y | (int64_t(1) << b)) * A;
        for (int64_t a = 0; a < A; ++a) dst[a] += src[a];
      }
  double* tab = T.table.data() + T.table_begin[static_cast<size_t>(l)];
  for (int64_t Y = 0; Y < S; ++Y) {
    const int64_t m = popcount64(static_cast<uint64_t>(Y));
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

/// The pattern lists of every tree, handed from the parallel background pass to the serial merge.
struct PatternLists {
  std::vector<std::vector<uint64_t>> masks;
  std::vector<std::vector<double>> counts;
  std::vector<std::vector<int64_t>> n_patterns;  ///< per leaf of the tree
  explicit PatternLists(int64_t n_trees)
      : masks(static_cast<size_t>(n_trees)), counts(masks.size()), n_patterns(masks.size()) {}
};

/// The background pass of tree t (bt: the background prepared and transposed, [block][feature][lane]):
/// fills its table leaves and leaf_full, and hands its pattern leaves' lists to `lists`.
inline void fit_tree_background(const ForestView& forest, InterventionalTables& T, int64_t t, const double* bt,
                                int64_t n_background, PatternLists& lists) {
  constexpr int L = kShapBlock;
  const int64_t M = forest.n_features, nw = T.words;
  const bool plain_splits = plain_splits_of(forest);
  TreeBackground bg(T, t);
  if (bg.l0 < 0) return;  // a single leaf
  MaskScratch scratch(T);
  for (int64_t b = 0; b * L < n_background; ++b) {
    const int lanes = static_cast<int>(std::min<int64_t>(L, n_background - b * L));
    walk_failed_masks(forest, T, t, plain_splits, bt + b * M * L, scratch,
                      [&](int32_t leaf, const uint64_t* m) { bg.add(T, leaf, m, lanes); });
  }
  std::vector<double> h;
  for (int64_t l = bg.l0; l < bg.l1; ++l) {
    const size_t li = static_cast<size_t>(l - bg.l0);
    if (!bg.counts[li].empty()) {
      fill_leaf_table(T, l, bg.counts[li], h);
      continue;
    }
    auto& pm = bg.masks[li];
    auto& pc = bg.pattern_counts[li];
    compact_patterns(pm, pc, nw);
    for (size_t e = 0; e < pc.size(); ++e) {
      bool none = true;
      for (int64_t w = 0; w < nw; ++w) none = none && pm[e * static_cast<size_t>(nw) + static_cast<size_t>(w)] == 0;
      if (none) T.leaf_full[static_cast<size_t>(l)] = pc[e];
    }
  }
  const size_t ts = static_cast<size_t>(t);
  for (size_t li = 0; li < bg.masks.size(); ++li) {
    lists.n_patterns[ts].push_back(static_cast<int64_t>(bg.pattern_counts[li].size()));
    lists.masks[ts].insert(lists.masks[ts].end(), bg.masks[li].begin(), bg.masks[li].end());
    lists.counts[ts].insert(lists.counts[ts].end(), bg.pattern_counts[li].begin(), bg.pattern_counts[li].end());
  }
}

/// The non-empty bits of the tables (serially: small tables of different trees may share a
/// word). H[Y] is non-empty iff alpha(Y) > 0 for Y != {}; H[{}] holds all R rows.
inline void mark_nonempty(InterventionalTables& T) {
  for (int64_t l = 0; l < T.n_leaves(); ++l) {
    const int64_t tb = T.table_begin[static_cast<size_t>(l)];
    if (tb < 0) continue;
    const int64_t S = int64_t(1) << T.leaf_k[static_cast<size_t>(l)];
    for (int64_t Y = 0; Y < S; ++Y)
      if (Y == 0 || T.table[static_cast<size_t>(tb + 2 * Y)] > 0.0) {
        const int64_t b = tb / 2 + Y;
        T.nonempty[static_cast<size_t>(b >> 6)] |= uint64_t(1) << (b & 63);
      }
  }
}

/// The pattern lists of every tree, in leaf order, into T's pattern arrays (with their zero counts).
inline void flatten_patterns(InterventionalTables& T, PatternLists& lists) {
  const int64_t nw = T.words;
  T.pattern_begin.assign(1, 0);
  for (size_t ts = 0; ts < lists.masks.size(); ++ts) {
    for (int64_t np : lists.n_patterns[ts]) T.pattern_begin.push_back(T.pattern_begin.back() + np);
    T.pattern_failed.insert(T.pattern_failed.end(), lists.masks[ts].begin(), lists.masks[ts].end());
    T.pattern_count.insert(T.pattern_count.end(), lists.counts[ts].begin(), lists.counts[ts].end());
    std::vector<uint64_t>().swap(lists.masks[ts]);
  }
  T.pattern_zeros.resize(T.pattern_count.size());
  for (size_t e = 0; e < T.pattern_count.size(); ++e) {
    int z = 0;
    for (int64_t w = 0; w < nw; ++w) z += popcount64(T.pattern_failed[e * static_cast<size_t>(nw) + static_cast<size_t>(w)]);
    T.pattern_zeros[e] = z;
  }
}

/// The expected value: mean raw output over the background = base + sum of leaf values x the
/// share of background rows reaching them.
inline void fill_expected(const ForestView& forest, InterventionalTables& T, int64_t n_background) {
  const int64_t W = forest.value_width;
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
}

/// Tables of the structure only (options.statistics false): every leaf a pattern leaf without
/// patterns, the expected value the base value.
inline void structure_only(const ForestView& forest, InterventionalTables& T) {
  const int64_t n_leaves = T.n_leaves();
  T.table_begin.assign(static_cast<size_t>(n_leaves), -1);
  T.table.clear();
  T.n_table_leaves = 0;
  T.n_pattern_leaves = n_leaves;
  T.pattern_begin.assign(static_cast<size_t>(n_leaves + 1), 0);
  T.expected.assign(forest.base_value, forest.base_value + forest.n_outputs);
}

}  // namespace detail

/// Fits interventional TreeSHAP to the background rows B[n_background, n_features] (C order) of
/// `forest` (which must have passed ForestView::check()). Trees are processed in parallel; the
/// result does not depend on n_jobs. Throws std::invalid_argument for an empty background or bad
/// options.
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
  T.node_begin.push_back(0);
  T.leaf_feature_begin.push_back(0);
  int64_t max_k = 0;
  detail::TreePaths paths;
  for (int64_t t = 0; t < forest.n_trees; ++t) {
    paths.build(forest, t, T.max_depth);
    max_k = std::max(max_k, detail::append_tree(forest, paths, T));
  }
  T.words = std::max<int64_t>(1, (max_k + 63) / 64);
  detail::fill_beta(T, max_k);
  detail::choose_table_leaves(T, options, n_background);
  T.leaf_full.assign(static_cast<size_t>(T.n_leaves()), 0.0);
  detail::fill_subtree_ends(forest, T);
  if (!options.statistics) {
    detail::structure_only(forest, T);
    return T;
  }
  detail::PatternLists lists(forest.n_trees);
  std::vector<double> bt;  // the background, prepared and transposed once
  detail::transpose_rows(forest, background, 0, n_background, bt);
  parallel_for_chunks(
      forest.n_trees, resolve_threads(n_jobs, forest.n_trees),
      [&](int64_t t) { detail::fit_tree_background(forest, T, t, bt.data(), n_background, lists); }, interrupted);
  detail::mark_nonempty(T);
  detail::flatten_patterns(T, lists);
  detail::fill_expected(forest, T, n_background);
  return T;
}

}  // namespace xplain
