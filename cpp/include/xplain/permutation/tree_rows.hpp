// Permutation importance, per tree: the evaluated rows grouped by their baseline leaf, and per
// feature the leaves whose root path tests it, with the interval of values that keep the path.
// A task permuting column j scans only the rows of those leaves (see lanes.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "../forest.hpp"
#include "../lane_walk.hpp"

namespace xplain {
namespace detail {

/// A leaf whose root path tests a feature: the first node of the path that tests it (`top`), and
/// an interval of values that surely keep the path, (lo, hi] for "<=" splits and [lo, hi) for "<",
/// rounded inwards to float. NaN bounds (no interval) for categorical splits and the NaN-or-zero
/// missing-value rule. A row of the leaf whose permuted value is outside the interval is
/// re-routed from `top`, which is exact whether or not it really leaves the path.
struct LeafEntry {
  int32_t slot, top;  ///< slot: the leaf's rows are rows[row_start[slot], row_start[slot + 1])
  float lo, hi;

  /// Whether a permuted value u surely keeps the path (false for NaN u or NaN bounds). Compared
  /// in the rows' type: float rows compare as floats.
  template <typename Real>
  bool keeps(Real u, bool strict) const {
    return strict ? (lo <= u && u < hi) : (lo < u && u <= hi);
  }
};

/// One tree's view of the evaluated rows: each row's leaf, the rows grouped by leaf, and per
/// feature the leaves (holding rows) whose path tests it.
struct TreeRows {
  std::vector<int32_t> leaf;       ///< [n] baseline leaf of each row
  std::vector<int32_t> rows;       ///< [n] the rows, leaf by leaf, ascending within a leaf
  std::vector<int32_t> row_start;  ///< [n_slots + 1]
  std::vector<int64_t> offset;     ///< [M + 1]: the leaves of feature j are [offset[j], offset[j + 1])
  std::vector<LeafEntry> entries;

  /// How many rows sit in the leaves listed for feature j (the rows a permutation of j may move).
  int64_t rows_listed(int64_t j) const {
    int64_t count = 0;
    for (int64_t e = offset[j]; e < offset[j + 1]; ++e)
      count += row_start[entries[e].slot + 1] - row_start[entries[e].slot];
    return count;
  }
};

/// Per leaf of one tree, the distinct features on its root path with their entry fields.
struct LeafFeature {
  int32_t feature, top;
  float lo, hi;
};

/// For every node v of tree t, the distinct features of its root path with their intervals
/// (leaves only; internal nodes list none): leaf_features[lf_offset[v - begin], lf_offset[v - begin + 1]).
inline void path_features_of_leaves(const ForestView& f, int64_t t, std::vector<LeafFeature>& leaf_features,
                                    std::vector<int64_t>& lf_offset) {
  const int64_t begin = f.tree_offset[t], end = f.tree_offset[t + 1];
  // Parents precede children, so one pass over the nodes with each node's parent walks every
  // leaf's path upwards.
  std::vector<int32_t> parent(static_cast<size_t>(end - begin), -1);
  for (int64_t v = begin; v < end; ++v)
    if (f.left[v] >= 0) parent[f.left[v] - begin] = parent[f.right[v] - begin] = static_cast<int32_t>(v);
  leaf_features.clear();
  lf_offset.assign(static_cast<size_t>(end - begin + 1), 0);
  struct Bounds {
    int32_t feature, top;
    double lo, hi;
    bool simple;
  };
  std::vector<Bounds> bounds;
  for (int64_t v = begin; v < end; ++v) {
    lf_offset[v - begin] = static_cast<int64_t>(leaf_features.size());
    if (f.left[v] >= 0) continue;
    bounds.clear();
    // upwards from the leaf: the last node seen for a feature is its top
    for (int64_t child = v, a = parent[v - begin]; a >= 0; child = a, a = parent[a - begin]) {
      const int32_t j = f.feature[a];
      auto it = std::find_if(bounds.begin(), bounds.end(), [j](const Bounds& b) { return b.feature == j; });
      if (it == bounds.end()) {
        bounds.push_back({j, 0, -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(),
                          true});
        it = bounds.end() - 1;
      }
      it->top = static_cast<int32_t>(a);
      // NaN-as-zero compares every non-NaN value plainly, and a NaN u never keeps an interval, so
      // the interval holds under it too (LightGBM's rule for features without NaN in training).
      // The zero band of NaN-or-zero cuts the interval in two: those paths are re-routed.
      if ((f.cat_offset && f.cat_offset[a] >= 0) || (f.missing_rule && f.missing_rule[a] == kNaNOrZeroDefault))
        it->simple = false;
      if (child == f.left[a]) it->hi = std::min(it->hi, f.threshold[a]);
      else it->lo = std::max(it->lo, f.threshold[a]);
    }
    for (const Bounds& b : bounds) {
      const float nan = std::numeric_limits<float>::quiet_NaN();
      leaf_features.push_back({b.feature, b.top, b.simple ? float_at_least(b.lo) : nan,
                               b.simple ? float_at_most(b.hi) : nan});
    }
  }
  lf_offset[end - begin] = static_cast<int64_t>(leaf_features.size());
}

/// Builds the rest of tree t's TreeRows for n evaluated rows from out.leaf (each row's baseline
/// leaf, filled by the caller). `leaf_features` and `lf_offset` are scratch.
inline void build_tree_rows(const ForestView& f, int64_t t, int64_t n, TreeRows& out,
                            std::vector<LeafFeature>& leaf_features, std::vector<int64_t>& lf_offset) {
  const int64_t M = f.n_features;
  const int64_t begin = f.tree_offset[t], end = f.tree_offset[t + 1];
  path_features_of_leaves(f, t, leaf_features, lf_offset);
  // Rows grouped by leaf (counting sort over the tree's nodes; slots of leaves without rows stay
  // empty and get no entries).
  std::vector<int32_t>& start = out.row_start;
  start.assign(static_cast<size_t>(end - begin + 1), 0);
  for (int64_t r = 0; r < n; ++r) ++start[out.leaf[r] - begin + 1];
  for (int64_t v = 0; v < end - begin; ++v) start[v + 1] += start[v];
  out.rows.resize(static_cast<size_t>(n));
  {
    std::vector<int32_t> fill(start.begin(), start.end() - 1);
    for (int64_t r = 0; r < n; ++r) out.rows[fill[out.leaf[r] - begin]++] = static_cast<int32_t>(r);
  }
  // The leaves holding rows, indexed by the features of their paths.
  out.offset.assign(static_cast<size_t>(M + 1), 0);
  for (int64_t v = 0; v < end - begin; ++v)
    if (start[v + 1] > start[v])
      for (int64_t q = lf_offset[v]; q < lf_offset[v + 1]; ++q) ++out.offset[leaf_features[q].feature + 1];
  for (int64_t j = 0; j < M; ++j) out.offset[j + 1] += out.offset[j];
  out.entries.resize(static_cast<size_t>(out.offset[M]));
  std::vector<int64_t> fill(out.offset.begin(), out.offset.end() - 1);
  for (int64_t v = 0; v < end - begin; ++v)
    if (start[v + 1] > start[v])
      for (int64_t q = lf_offset[v]; q < lf_offset[v + 1]; ++q) {
        const LeafFeature& e = leaf_features[q];
        out.entries[fill[e.feature]++] = {static_cast<int32_t>(v), e.top, e.lo, e.hi};
      }
}

}  // namespace detail
}  // namespace xplain
