// The Forest: a flat, non-owning view of a tree ensemble (struct of arrays over all nodes of all
// trees), and the one split rule every algorithm uses to route a row.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "names.hpp"

namespace xplain {

/// How a node treats a missing value (NaN) and zeros: the codes of ForestView::missing_rule
/// (a plain enum: the codes are stored as bytes).
enum MissingRule : uint8_t {
  kNaNDefault = 0,      ///< NaN follows default_left; everything else is compared.
  kNaNAsZero = 1,       ///< NaN is replaced by 0.0 and compared (LightGBM missing_type=None).
  kNaNOrZeroDefault = 2 ///< NaN and |x| <= float(1e-35) follow default_left (LightGBM missing_type=Zero).
};
inline constexpr NamedValue<MissingRule> kMissingRuleNames[] = {
    {"nan_default", kNaNDefault}, {"nan_as_zero", kNaNAsZero}, {"nan_or_zero_default", kNaNOrZeroDefault}};

/// Non-owning view of an ensemble. Node indices in left/right are global (over all trees);
/// a leaf has left == -1. Tree t owns nodes [tree_offset[t], tree_offset[t+1]) and its root is
/// the first of them. A node's value row has value_width entries; tree t adds entry w of its
/// leaf to output tree_output[t] + w.
struct ForestView {
  const int32_t* left = nullptr;
  const int32_t* right = nullptr;
  const int32_t* feature = nullptr;
  const double* threshold = nullptr;
  const uint8_t* default_left = nullptr;
  const uint8_t* missing_rule = nullptr;  ///< may be null: all kNaNDefault
  const double* value = nullptr;          ///< [n_nodes, value_width]
  const double* cover = nullptr;
  const int64_t* tree_offset = nullptr;   ///< [n_trees + 1]
  const int32_t* tree_output = nullptr;   ///< [n_trees]
  const double* base_value = nullptr;     ///< [n_outputs]
  // Categorical splits: for a node with cat_offset[node] >= 0, category c goes left iff bit c is
  // set in cat_bits[cat_offset .. cat_offset + cat_words); NaN follows default_left; negative,
  // non-finite or out-of-range values go right (with categorical_truncation, values in (-1, 0)
  // are category 0).
  const int64_t* cat_offset = nullptr;    ///< [n_nodes] or null (no categorical splits)
  const int32_t* cat_words = nullptr;     ///< [n_nodes]
  const uint32_t* cat_bits = nullptr;
  int64_t n_cat_bits = 0;                 ///< words in cat_bits
  int64_t n_nodes = 0;
  int64_t n_trees = 0;
  int64_t n_features = 0;
  int64_t n_outputs = 1;
  int64_t value_width = 1;
  bool strict_less = false;    ///< decision x < threshold (XGBoost) instead of x <= threshold
  bool float32_input = false;  ///< the source library compares float32(x)
  /// A categorical value is truncated toward zero before the lookup, as LightGBM casts it to int:
  /// values in (-1, 0) are category 0 instead of invalid.
  bool categorical_truncation = false;

  bool is_leaf(int64_t node) const { return left[node] < 0; }

  /// Validates the index structure so that traversal can never read out of bounds or loop.
  void check() const {
    auto fail = [](const std::string& what) { throw std::invalid_argument("invalid Forest: " + what); };
    if (n_trees < 1) fail("it has no trees");
    if (n_features < 0 || n_outputs < 1) fail("n_features must be non-negative and n_outputs positive");
    if (!left || !right || !feature || !threshold || !default_left || !value || !cover || !tree_offset ||
        !tree_output || !base_value)
      fail("a required array is missing");
    if (cat_offset && (!cat_words || (n_cat_bits > 0 && !cat_bits) || n_cat_bits < 0))
      fail("categorical splits need cat_words and cat_bits");
    if (tree_offset[0] != 0 || tree_offset[n_trees] != n_nodes) fail("tree_offset does not span the nodes");
    if (value_width != 1 && value_width != n_outputs) fail("value width must be 1 or n_outputs");
    for (int64_t k = 0; k < n_outputs; ++k)
      if (!std::isfinite(base_value[k])) fail("base_value must be finite");
    // Strictly increasing from 0 to n_nodes: every tree's node range lies inside the arrays.
    for (int64_t t = 0; t < n_trees; ++t)
      if (tree_offset[t + 1] <= tree_offset[t]) fail("tree " + std::to_string(t) + " has no nodes");
    for (int64_t t = 0; t < n_trees; ++t) {
      const int64_t begin = tree_offset[t], end = tree_offset[t + 1];
      if (tree_output[t] < 0 || tree_output[t] + value_width > n_outputs)
        fail("tree_output of tree " + std::to_string(t) + " is out of range");
      for (int64_t n = begin; n < end; ++n) {
        if (missing_rule && !is_listed(kMissingRuleNames, static_cast<MissingRule>(missing_rule[n])))
          fail("node " + std::to_string(n) + " has the unknown missing-value rule " + std::to_string(missing_rule[n]));
        if (cat_offset && cat_offset[n] >= 0 && (cat_words[n] < 0 || cat_offset[n] + cat_words[n] > n_cat_bits))
          fail("categorical bitset of node " + std::to_string(n) + " is out of range");
        // Path-dependent TreeSHAP divides by covers and sums leaf values: both must be numbers.
        if (!(cover[n] >= 0.0) || !std::isfinite(cover[n]))
          fail("node " + std::to_string(n) + " has a negative or non-finite cover");
        if (left[n] < 0) {
          for (int64_t w = 0; w < value_width; ++w)
            if (!std::isfinite(value[n * value_width + w])) fail("leaf " + std::to_string(n) + " has a non-finite value");
          continue;
        }
        // Children strictly after their parent: guarantees termination and a topological order.
        if (left[n] <= n || left[n] >= end || right[n] <= n || right[n] >= end)
          fail("node " + std::to_string(n) + " has children outside its tree or before it");
        if (feature[n] < 0 || feature[n] >= n_features)
          fail("node " + std::to_string(n) + " splits on feature " + std::to_string(feature[n]) +
               " but the forest has " + std::to_string(n_features) + " features");
      }
    }
    // Every node but a root is the child of exactly one node: the trees are trees (a node shared
    // by two parents would be walked twice, overrunning per-tree buffers), and, with children
    // after their parent, every node is reachable from its root.
    std::vector<uint8_t> parents(static_cast<size_t>(n_nodes), 0);
    for (int64_t n = 0; n < n_nodes; ++n) {
      if (left[n] < 0) continue;
      if (left[n] == right[n]) fail("node " + std::to_string(n) + " has the same node as both children");
      for (const int32_t child : {left[n], right[n]})
        if (parents[static_cast<size_t>(child)]++ != 0)
          fail("node " + std::to_string(child) + " is the child of two nodes");
    }
    for (int64_t t = 0; t < n_trees; ++t)
      for (int64_t n = tree_offset[t] + 1; n < tree_offset[t + 1]; ++n)
        if (parents[static_cast<size_t>(n)] == 0)
          fail("node " + std::to_string(n) + " of tree " + std::to_string(t) + " is not reachable from its root");
  }

  /// The input as the source library sees it before comparing.
  double prepare(double x) const { return float32_input ? static_cast<double>(static_cast<float>(x)) : x; }

  /// Does a (prepared) value x go to the left child of internal node `node`?
  bool goes_left(int64_t node, double x) const {
    const uint8_t rule = missing_rule ? missing_rule[node] : static_cast<uint8_t>(kNaNDefault);
    if (std::isnan(x)) {
      if (rule != kNaNAsZero) return default_left[node] != 0;
      x = 0.0;
    } else if (rule == kNaNOrZeroDefault && std::fabs(x) <= static_cast<double>(1e-35f)) {  // LightGBM kZeroThreshold
      return default_left[node] != 0;
    }
    if (cat_offset && cat_offset[node] >= 0) {
      const bool valid = categorical_truncation ? x > -1.0 : x >= 0.0;
      if (!valid || x >= 2147483648.0) return false;
      const uint32_t c = x > 0.0 ? static_cast<uint32_t>(x) : 0u;
      if (static_cast<int64_t>(c / 32) >= cat_words[node]) return false;
      return (cat_bits[cat_offset[node] + c / 32] >> (c % 32)) & 1u;
    }
    return strict_less ? x < threshold[node] : x <= threshold[node];
  }

  /// Nodes of tree t in depth-first preorder (parents before children, left subtree first) into
  /// `order`; an explicit stack, so any depth works. `stack` is caller-provided scratch.
  void preorder(int64_t t, std::vector<int64_t>& order, std::vector<int64_t>& stack) const {
    order.clear();
    stack.assign(1, tree_offset[t]);
    while (!stack.empty()) {
      const int64_t n = stack.back();
      stack.pop_back();
      order.push_back(n);
      if (left[n] >= 0) {
        stack.push_back(right[n]);
        stack.push_back(left[n]);
      }
    }
  }

  /// Leaf reached by row x (length n_features) in tree t.
  int64_t leaf_of(int64_t t, const double* x) const {
    int64_t node = tree_offset[t];
    while (left[node] >= 0) node = goes_left(node, prepare(x[feature[node]])) ? left[node] : right[node];
    return node;
  }
};

}  // namespace xplain
