// Interventional TreeSHAP, the fitted statistics: per leaf of every tree, its unique path
// features and either an alpha/gamma table over the subsets of them ("table" leaves) or the
// distinct failed-feature patterns of the background rows with their counts ("pattern" leaves).
// See interventional.hpp for the method; fit.hpp builds these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace xplain {

/// Default total bytes of the per-leaf tables.
constexpr int64_t kDefaultMaxTableBytes = int64_t{1} << 30;
/// Default largest number of unique path features of a table leaf.
constexpr int kDefaultMaxTableK = 16;
/// Default ratio: a leaf gets a table only if 2^k <= ratio x background rows.
constexpr double kDefaultTableRatio = 16.0;

/// Limits on the per-leaf alpha/gamma tables of interventional TreeSHAP.
struct InterventionalOptions {
  int64_t max_table_bytes = kDefaultMaxTableBytes;  ///< total over all table leaves
  int max_table_k = kDefaultMaxTableK;  ///< a table leaf has at most this many unique features
  /// a leaf gets a table only if 2^k <= table_ratio * R (else its <= R patterns are cheaper)
  double table_ratio = kDefaultTableRatio;
  /// false: only the tree structure (enough for pair_shap_values; no background pass)
  bool statistics = true;
};

/// Fitted background statistics for interventional TreeSHAP (see interventional.hpp).
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

  /// Calls visit(field) on every member, in a fixed order: what a serializer (pickle) stores.
  template <typename Visit>
  void visit_fields(Visit&& visit) {
    for (auto* v : {&node_begin, &source, &subtree_end, &parent_source, &leaf_node, &leaf_feature_begin,
                    &table_begin, &pattern_begin})
      visit(*v);
    for (auto* v : {&depth, &bit, &leaf_id, &leaf_k, &leaf_feature, &pattern_zeros}) visit(*v);
    for (auto* v : {&leaf_full, &table, &pattern_count, &beta, &expected}) visit(*v);
    for (auto* v : {&nonempty, &pattern_failed}) visit(*v);
    visit(is_left_child);
    for (auto* v : {&beta_stride, &words, &max_depth, &n_background, &n_table_leaves, &n_pattern_leaves}) visit(*v);
  }
};

}  // namespace xplain
