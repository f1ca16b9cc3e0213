// The branch-free walk of many rows through one tree side by side (predict_raw and the
// permutation engine): the forest as lane nodes whose leaves lead to themselves, so that a block
// of rows takes exactly as many steps as its deepest start needs, and no step branches on a row.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "forest.hpp"

namespace xplain {
namespace detail {

/// The smallest float >= x.
inline float float_at_least(double x) {
  float v = static_cast<float>(x);
  if (static_cast<double>(v) < x) v = std::nextafter(v, std::numeric_limits<float>::infinity());
  return v;
}
/// The largest float <= x.
inline float float_at_most(double x) {
  float v = static_cast<float>(x);
  if (static_cast<double>(v) > x) v = std::nextafter(v, -std::numeric_limits<float>::infinity());
  return v;
}

/// A node for the branch-free walk, its threshold in the type of the prepared rows (for float
/// rows rounded so that comparing floats decides exactly as comparing with the double threshold).
/// A leaf's children are itself. NaN rules are kept apart (LaneNaN), read only when rows hold NaN.
template <typename Real>
struct LaneNode {
  Real threshold;
  int32_t child[2];  ///< [left, right]
  int32_t feature;
};

/// NaN rule of a lane node: bit kLaneNaNLeft = NaN goes left (kNaNDefault with default_left),
/// bit kLaneNaNZero = NaN is compared as 0 (kNaNAsZero).
enum LaneNaN : uint8_t { kLaneNaNLeft = 1, kLaneNaNZero = 2 };

/// The child that prepared value x goes to (itself for a leaf), without branches.
template <bool MaybeNaN, typename Real>
inline int32_t lane_next(const LaneNode<Real>& nd, uint8_t nan_rule, Real x, bool strict) {
  if (!MaybeNaN) return nd.child[(strict ? x < nd.threshold : x <= nd.threshold) ? 0 : 1];
  const bool nan = x != x;
  const Real xc = nan && (nan_rule & kLaneNaNZero) ? Real(0) : x;
  const bool left = (strict ? xc < nd.threshold : xc <= nd.threshold) | (nan & ((nan_rule & kLaneNaNLeft) != 0));
  return nd.child[left ? 0 : 1];
}

constexpr int kLanes = 16;  ///< rows walked side by side so that their loads overlap

/// A forest as lane nodes, if every split allows them (numeric, NaN -> default or NaN -> 0).
template <typename Real>
struct LaneForest {
  std::vector<LaneNode<Real>> nodes;  ///< empty if a node needs goes_left (categorical, zero-as-missing)
  std::vector<uint8_t> nan;           ///< LaneNaN bits per node
  /// Per node, the most steps from it to a leaf: a block of lanes needs exactly the most of its
  /// start nodes' heights, with no extra step to find out that every lane has arrived.
  std::vector<int32_t> height;

  void build(const ForestView& f) {
    for (int64_t v = 0; v < f.n_nodes; ++v)
      if ((f.cat_offset && f.cat_offset[v] >= 0) || (f.missing_rule && f.missing_rule[v] == kNaNOrZeroDefault)) return;
    nodes.resize(static_cast<size_t>(f.n_nodes));
    nan.resize(static_cast<size_t>(f.n_nodes));
    for (int64_t v = 0; v < f.n_nodes; ++v) {
      const int32_t self = static_cast<int32_t>(v);
      const bool leaf = f.left[v] < 0;
      Real threshold = 0;
      if (!leaf && std::is_same<Real, float>::value)
        threshold = static_cast<Real>(f.strict_less ? float_at_least(f.threshold[v]) : float_at_most(f.threshold[v]));
      else if (!leaf)
        threshold = static_cast<Real>(f.threshold[v]);
      nodes[v] = {threshold, {leaf ? self : f.left[v], leaf ? self : f.right[v]}, leaf ? 0 : f.feature[v]};
      const uint8_t rule = f.missing_rule ? f.missing_rule[v] : static_cast<uint8_t>(kNaNDefault);
      nan[v] = static_cast<uint8_t>((rule == kNaNDefault && f.default_left[v] ? kLaneNaNLeft : 0) |
                                    (rule == kNaNAsZero ? kLaneNaNZero : 0));
    }
    height.assign(static_cast<size_t>(f.n_nodes), 0);
    for (int64_t v = f.n_nodes - 1; v >= 0; --v)  // children come after their parents
      if (f.left[v] >= 0) height[v] = 1 + std::max(height[f.left[v]], height[f.right[v]]);
  }

  /// The leaves below `root` of `count` (<= kLanes) prepared rows x[k] (length n_features) into
  /// leaf[k].
  template <bool MaybeNaN>
  void leaves(int64_t root, const Real* const* x, int count, bool strict, int32_t* leaf) const {
    int32_t node[kLanes];
    const Real* row[kLanes];
    for (int k = 0; k < kLanes; ++k) {
      node[k] = static_cast<int32_t>(root);
      row[k] = x[k < count ? k : 0];
    }
    const LaneNode<Real>* ln = nodes.data();
    for (int32_t step = 0; step < height[root]; ++step)
      for (int k = 0; k < kLanes; ++k) {
        const LaneNode<Real>& nd = ln[node[k]];
        node[k] = lane_next<MaybeNaN>(nd, MaybeNaN ? nan[node[k]] : 0, row[k][nd.feature], strict);
      }
    for (int k = 0; k < count; ++k) leaf[k] = node[k];
  }
};

}  // namespace detail
}  // namespace xplain
