// Global feature importance read from a forest's structure alone (no data): split counts, gains,
// covers, mean decrease in impurity and the prediction change of a split. One pass over the nodes.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "forest.hpp"
#include "names.hpp"

namespace xplain {

/// What forest_importance sums per feature.
enum class ImportanceKind : int32_t {
  kSplitCount = 0,        ///< number of splits on the feature (XGBoost "weight", LightGBM "split")
  kTotalGain = 1,         ///< sum of the splits' gains (XGBoost "total_gain", LightGBM "gain")
  kGain = 2,              ///< total gain / split count (XGBoost "gain")
  kTotalCover = 3,        ///< sum of the splits' covers (XGBoost "total_cover")
  kCover = 4,             ///< total cover / split count (XGBoost "cover")
  kMDI = 5,               ///< mean decrease in impurity (scikit-learn's feature_importances_)
  kPredictionChange = 6,  ///< cover-weighted squared change of the prediction (CatBoost PredictionValuesChange)
};
inline constexpr NamedValue<ImportanceKind> kImportanceKindNames[] = {
    {"split_count", ImportanceKind::kSplitCount}, {"total_gain", ImportanceKind::kTotalGain},
    {"gain", ImportanceKind::kGain},              {"total_cover", ImportanceKind::kTotalCover},
    {"cover", ImportanceKind::kCover},            {"mdi", ImportanceKind::kMDI},
    {"prediction_change", ImportanceKind::kPredictionChange}};

namespace detail {

/// Whether two internal nodes ask the same question (feature, threshold or category set, and
/// where missing values go): the nodes of one level of a symmetric (oblivious) tree.
inline bool same_question(const ForestView& f, int64_t a, int64_t b) {
  if (f.feature[a] != f.feature[b] || f.default_left[a] != f.default_left[b]) return false;
  if (f.missing_rule && f.missing_rule[a] != f.missing_rule[b]) return false;
  const bool cat_a = f.cat_offset && f.cat_offset[a] >= 0, cat_b = f.cat_offset && f.cat_offset[b] >= 0;
  if (cat_a != cat_b) return false;
  if (!cat_a) return f.threshold[a] == f.threshold[b];
  if (f.cat_words[a] != f.cat_words[b]) return false;
  for (int32_t w = 0; w < f.cat_words[a]; ++w)
    if (f.cat_bits[f.cat_offset[a] + w] != f.cat_bits[f.cat_offset[b] + w]) return false;
  return true;
}

/// Adds the squared prediction change of the split between sides (value a, weight ca) and
/// (value b, weight cb) over `width` outputs: sum of c * (side value - pooled mean)^2.
inline double split_change(const double* a, double ca, const double* b, double cb, int64_t width) {
  const double total = ca + cb;
  double change = 0.0;
  for (int64_t w = 0; w < width; ++w) {
    const double va = ca != 0.0 ? a[w] : 0.0, vb = cb != 0.0 ? b[w] : 0.0;
    const double mean = (va * ca + vb * cb) / (total != 0.0 ? total : 1.0);
    change += (va - mean) * (va - mean) * ca + (vb - mean) * (vb - mean) * cb;
  }
  return change;
}

/// Prediction change of tree t's splits, added to out[feature]. In a symmetric tree (every level
/// asks one question, all leaves at one depth) flipping a level's answer moves each leaf's rows to
/// the leaf that differs only at that level, so the pairs of such leaves are compared; in any
/// other tree a split compares its two subtrees (cover-weighted means, weights summed up from the
/// leaves). CatBoost defines PredictionValuesChange this way for its symmetric and other trees.
class PredictionChange {
 public:
  explicit PredictionChange(const ForestView& f) : f_(f) {}

  void add_tree(int64_t t, double* out) {
    const int64_t begin = f_.tree_offset[t], end = f_.tree_offset[t + 1];
    depth_.assign(static_cast<size_t>(end - begin), 0);
    for (int64_t n = begin; n < end; ++n)  // parents precede children
      if (!f_.is_leaf(n)) depth_[f_.left[n] - begin] = depth_[f_.right[n] - begin] = depth_[n - begin] + 1;
    if (is_symmetric(begin, end)) {
      add_leaf_pairs(begin, end, out);
    } else {
      add_subtrees(begin, end, out);
    }
  }

 private:
  bool is_symmetric(int64_t begin, int64_t end) {
    level_node_.clear();
    int64_t leaf_depth = -1;
    for (int64_t n = begin; n < end; ++n) {
      const auto d = static_cast<size_t>(depth_[n - begin]);
      if (f_.is_leaf(n)) {
        if (leaf_depth >= 0 && leaf_depth != static_cast<int64_t>(d)) return false;
        leaf_depth = static_cast<int64_t>(d);
        continue;
      }
      if (d == level_node_.size()) level_node_.push_back(n);
      else if (!same_question(f_, level_node_[d], n)) return false;
    }
    // All leaves at one depth D: the tree is complete, with 2^D leaves and D < 63.
    return true;
  }

  void add_leaf_pairs(int64_t begin, int64_t end, double* out) {
    const size_t levels = level_node_.size();
    // A leaf's code has bit d set when its path goes right at level d.
    code_.assign(static_cast<size_t>(end - begin), 0);
    leaf_at_.assign(size_t{1} << levels, -1);
    for (int64_t n = begin; n < end; ++n) {
      const uint64_t code = code_[n - begin];
      if (f_.is_leaf(n)) {
        leaf_at_[code] = n;
        continue;
      }
      code_[f_.left[n] - begin] = code;
      code_[f_.right[n] - begin] = code | (uint64_t{1} << depth_[n - begin]);
    }
    const int64_t width = f_.value_width;
    for (size_t d = 0; d < levels; ++d) {
      const uint64_t bit = uint64_t{1} << d;
      double change = 0.0;
      for (uint64_t code = 0; code < leaf_at_.size(); ++code) {
        if (code & bit) continue;
        const int64_t a = leaf_at_[code], b = leaf_at_[code | bit];
        if (f_.cover[a] == 0.0 || f_.cover[b] == 0.0) continue;
        change += split_change(f_.value + a * width, f_.cover[a], f_.value + b * width, f_.cover[b], width);
      }
      out[f_.feature[level_node_[d]]] += change;
    }
  }

  void add_subtrees(int64_t begin, int64_t end, double* out) {
    const int64_t width = f_.value_width;
    mean_.assign(static_cast<size_t>((end - begin) * width), 0.0);
    weight_.assign(static_cast<size_t>(end - begin), 0.0);
    for (int64_t n = end - 1; n >= begin; --n) {  // children before parents
      double* mean = mean_.data() + (n - begin) * width;
      if (f_.is_leaf(n)) {
        weight_[n - begin] = f_.cover[n];
        for (int64_t w = 0; w < width; ++w) mean[w] = f_.value[n * width + w];
        continue;
      }
      const int64_t l = f_.left[n] - begin, r = f_.right[n] - begin;
      const double cl = weight_[l], cr = weight_[r], total = cl + cr;
      const double* ml = mean_.data() + l * width;
      const double* mr = mean_.data() + r * width;
      out[f_.feature[n]] += split_change(ml, cl, mr, cr, width);
      for (int64_t w = 0; w < width; ++w) {
        const double vl = cl != 0.0 ? ml[w] : 0.0, vr = cr != 0.0 ? mr[w] : 0.0;
        mean[w] = (vl * cl + vr * cr) / (total != 0.0 ? total : 1.0);
      }
      weight_[n - begin] = total;
    }
  }

  const ForestView& f_;
  std::vector<int64_t> depth_, level_node_, leaf_at_;
  std::vector<uint64_t> code_;
  std::vector<double> mean_, weight_;
};

}  // namespace detail

/// Importance of each feature, written to out[n_features] (overwritten).
///
/// `gain` (one entry per node, may be null) is the per-node split gain the source library recorded
/// (scikit-learn: weighted impurity decrease; XGBoost: loss change; LightGBM: split gain); the gain
/// kinds and kMDI need it. kMDI follows scikit-learn: a tree's gains per feature divided by its
/// root's cover; with `averaged_trees` (random forests) each tree with a split is normalised to sum
/// 1 and the trees are averaged, otherwise (boosting) the trees' scaled gains add up; the result
/// sums to 1 (or is all 0). Averages over splits (kGain, kCover) are 0 for an unused feature.
/// kPredictionChange: see detail::PredictionChange; unnormalised (CatBoost reports percentages).
/// Throws std::invalid_argument when the kind needs gains and `gain` is null.
inline void forest_importance(const ForestView& f, const double* gain, ImportanceKind kind, bool averaged_trees,
                              double* out) {
  if (!is_listed(kImportanceKindNames, kind))
    throw std::invalid_argument("unknown importance kind " + name_of(kImportanceKindNames, kind));
  const bool needs_gain =
      kind == ImportanceKind::kTotalGain || kind == ImportanceKind::kGain || kind == ImportanceKind::kMDI;
  if (needs_gain && !gain)
    throw std::invalid_argument("importance '" + name_of(kImportanceKindNames, kind) +
                                "' needs the per-node split gains, which this forest does not have");
  const auto n_features = static_cast<size_t>(f.n_features);
  std::vector<double> total(n_features, 0.0), splits(n_features, 0.0), tree_sum(n_features, 0.0);
  if (kind == ImportanceKind::kPredictionChange) {
    detail::PredictionChange change(f);
    for (int64_t t = 0; t < f.n_trees; ++t) change.add_tree(t, total.data());
  } else if (kind == ImportanceKind::kMDI) {
    int64_t trees_with_splits = 0;
    for (int64_t t = 0; t < f.n_trees; ++t) {
      const int64_t root = f.tree_offset[t];
      if (f.is_leaf(root)) continue;
      ++trees_with_splits;
      std::fill(tree_sum.begin(), tree_sum.end(), 0.0);
      for (int64_t n = root; n < f.tree_offset[t + 1]; ++n)
        if (!f.is_leaf(n)) tree_sum[static_cast<size_t>(f.feature[n])] += gain[n];
      double norm = 0.0;
      for (double& v : tree_sum) norm += (v = f.cover[root] > 0.0 ? v / f.cover[root] : 0.0);
      const double divisor = averaged_trees && norm > 0.0 ? norm : 1.0;
      for (size_t j = 0; j < n_features; ++j) total[j] += tree_sum[j] / divisor;
    }
    if (averaged_trees && trees_with_splits > 0)
      for (double& v : total) v /= static_cast<double>(trees_with_splits);
    double norm = 0.0;
    for (double v : total) norm += v;
    if (norm > 0.0)
      for (double& v : total) v /= norm;
  } else {
    for (int64_t n = 0; n < f.n_nodes; ++n) {
      if (f.is_leaf(n)) continue;
      const auto j = static_cast<size_t>(f.feature[n]);
      splits[j] += 1.0;
      if (kind == ImportanceKind::kTotalGain || kind == ImportanceKind::kGain) total[j] += gain[n];
      if (kind == ImportanceKind::kTotalCover || kind == ImportanceKind::kCover) total[j] += f.cover[n];
    }
    if (kind == ImportanceKind::kSplitCount) total = splits;
    if (kind == ImportanceKind::kGain || kind == ImportanceKind::kCover)
      for (size_t j = 0; j < n_features; ++j) total[j] = splits[j] > 0.0 ? total[j] / splits[j] : 0.0;
  }
  std::copy(total.begin(), total.end(), out);
}

}  // namespace xplain
