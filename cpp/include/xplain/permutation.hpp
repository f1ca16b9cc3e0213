// Permutation importance of a Forest: scores of the model after permuting a group of columns,
// for many (group, repeat) tasks at once, with the link and the scikit-learn metrics in C++.
//
// The permuted raw output of a row only changes in trees whose root-to-leaf path (for that row)
// passes a node that splits on a permuted column, and along that path only at such nodes can the
// permuted row leave it. A plan built once stores, for the evaluated rows, the leaf of every tree,
// and for every (tree, feature) the rows whose path tests the feature. A task then re-routes only
// those rows, starting from the stored path, and only leaves it where a permuted value goes the
// other way. Changed rows are re-summed over all trees in tree order (exact mode), so a permuted
// prediction is bit for bit the sum the library itself computes, and ties (argmax, ROC ranks)
// break exactly as in scikit-learn; or updated by leaf differences (delta mode, for models whose
// own arithmetic is float32 anyway).
//
// Metrics follow scikit-learn's formulas and summation order (numpy's pairwise sum), so the
// scores agree to float64 round-off. Each task writes its own output slot with its own scratch:
// results are bitwise identical for every n_jobs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "forest.hpp"
#include "parallel.hpp"
#include "predict.hpp"

namespace xplain {

/// How the raw output becomes predictions (mirrors xplain_fast/permutation.py).
enum PermLink : int {
  kLinkIdentity = 0,  ///< regression: prediction = raw
  kLinkExp = 1,       ///< regression: prediction = exp(raw)
  kLinkLogistic = 2,  ///< binary classifier: p1 = 1 / (1 + exp(-raw)), p0 = 1 - p1
  kLinkSoftmax = 3,   ///< multiclass classifier: softmax(raw)
  kLinkProba = 4      ///< classifier whose raw output already is the class probabilities
};

/// Which class `predict` returns.
enum PermPredictRule : int {
  kArgmaxProba = 0,     ///< classes_[argmax(predict_proba)] (first maximum)
  kRawPositive = 1,     ///< binary: raw > 0; multiclass: argmax(raw) (HistGradientBoosting)
  kRawNonNegative = 2   ///< binary: raw >= 0; multiclass: argmax(raw) (GradientBoosting)
};

/// The scikit-learn scorers computed natively; scores carry the scorer's sign.
enum PermMetric : int {
  kR2 = 0,
  kNegMSE = 1,
  kNegRMSE = 2,
  kNegMAE = 3,
  kAccuracy = 4,
  kBalancedAccuracy = 5,
  kNegLogLoss = 6,
  kRocAuc = 7,     ///< binary; scores from decision_function (raw) or predict_proba[:, 1]
  kRocAucOvr = 8   ///< macro one-vs-rest on predict_proba (binary: as roc_auc on p1)
};

/// What to score and how: the target, weights, link and metrics.
struct ScoringSpec {
  bool classifier = false;
  int link = kLinkIdentity;
  double divisor = 1.0;          ///< raw sums are divided by this before the link (forest averaging)
  int predict_rule = kArgmaxProba;
  bool auc_uses_raw = false;     ///< binary roc_auc on the decision function (the raw margin)
  bool float32_output = false;   ///< the library returns float32 predictions (XGBoost): round like it
  int64_t n_classes = 0;
  const double* y = nullptr;        ///< regression targets [n]
  const int32_t* y_class = nullptr; ///< index into classes_ per row [n] (classification)
  const double* sample_weight = nullptr;  ///< [n] or null
  std::vector<int> metrics;
};

/// numpy's pairwise summation of a contiguous float64 array (np.sum / np.add.reduce).
inline double np_sum(const double* a, int64_t n) {
  if (n < 8) {
    double res = -0.0;
    for (int64_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    double r[8];
    for (int j = 0; j < 8; ++j) r[j] = a[j];
    int64_t i = 8;
    for (; i < n - (n % 8); i += 8)
      for (int j = 0; j < 8; ++j) r[j] += a[i + j];
    double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  int64_t n2 = n / 2;
  n2 -= n2 % 8;
  return np_sum(a, n2) + np_sum(a + n2, n - n2);
}

/// Scratch buffers of one scoring call (one per task: nothing is shared between threads).
struct ScoreScratch {
  std::vector<double> pred, proba, terms, terms2, score, fps, tps;
  std::vector<int32_t> label;
  std::vector<int64_t> order;
  std::vector<uint8_t> positive;
};

namespace detail {

/// np.average(a, weights=w) for a contiguous a of length n.
inline double np_average(const double* a, const double* w, int64_t n, ScoreScratch& s) {
  if (!w) return np_sum(a, n) / static_cast<double>(n);
  s.terms2.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) s.terms2[i] = a[i] * w[i];
  return np_sum(s.terms2.data(), n) / np_sum(w, n);
}

/// sklearn's binary ROC AUC (roc_curve with drop_intermediate, then the trapezoid rule).
/// positive[i] in {0,1}; returns NaN when a class is missing (sklearn warns and returns NaN).
inline double binary_roc_auc(const double* score, const uint8_t* positive, const double* w, int64_t n,
                             ScoreScratch& s) {
  auto& order = s.order;
  order.clear();
  for (int64_t i = 0; i < n; ++i)
    if (!w || w[i] != 0.0) order.push_back(i);
  // Descending scores, ties in ascending row order (numpy's stable descending argsort).
  std::stable_sort(order.begin(), order.end(), [score](int64_t a, int64_t b) { return score[a] > score[b]; });
  const int64_t m = static_cast<int64_t>(order.size());
  auto& fps = s.fps;
  auto& tps = s.tps;
  fps.clear();
  tps.clear();
  fps.push_back(0.0);  // the extra (0, 0) point roc_curve prepends
  tps.push_back(0.0);
  double tp = 0.0, fp = 0.0;
  bool any_pos = false, any_neg = false;
  for (int64_t k = 0; k < m; ++k) {
    const int64_t i = order[k];
    const double yi = positive[i] ? 1.0 : 0.0;
    any_pos |= yi == 1.0;
    any_neg |= yi == 0.0;
    if (w) {
      tp += yi * w[i];
      fp += (1.0 - yi) * w[i];
    } else {
      tp += yi;
    }
    if (k == m - 1 || score[order[k + 1]] != score[i]) {
      tps.push_back(tp);
      fps.push_back(w ? fp : 1.0 + static_cast<double>(k) - tp);
    }
  }
  if (!any_pos || !any_neg) return std::numeric_limits<double>::quiet_NaN();
  // drop_intermediate on the curve without the prepended point (indices 1..P)
  const int64_t P = static_cast<int64_t>(fps.size()) - 1;
  if (P > 2) {
    int64_t out = 2;  // keep the prepended point and the first threshold
    for (int64_t j = 2; j < P; ++j) {
      const double d2f = (fps[j + 1] - fps[j]) - (fps[j] - fps[j - 1]);
      const double d2t = (tps[j + 1] - tps[j]) - (tps[j] - tps[j - 1]);
      if (d2f != 0.0 || d2t != 0.0) {
        fps[out] = fps[j];
        tps[out] = tps[j];
        ++out;
      }
    }
    fps[out] = fps[P];
    tps[out] = tps[P];
    fps.resize(static_cast<size_t>(out + 1));
    tps.resize(static_cast<size_t>(out + 1));
  }
  const int64_t L = static_cast<int64_t>(fps.size());
  const double fl = fps[L - 1], tl = tps[L - 1];
  if (!(fl > 0.0) || !(tl > 0.0)) return std::numeric_limits<double>::quiet_NaN();
  auto& terms = s.terms2;
  terms.resize(static_cast<size_t>(L - 1));
  for (int64_t j = 0; j + 1 < L; ++j) {
    const double dx = fps[j + 1] / fl - fps[j] / fl;
    terms[j] = dx * (tps[j + 1] / tl + tps[j] / tl) / 2.0;
  }
  return np_sum(terms.data(), L - 1);
}

inline double expit(double x) { return 1.0 / (1.0 + std::exp(-x)); }

}  // namespace detail

/// Scores of the raw sums raw[n, K] (before `divisor`) for every metric of `spec`, written to out.
inline void score_raw(const ScoringSpec& spec, const double* raw, int64_t n, int64_t K, double* out,
                      ScoreScratch& s) {
  const double* w = spec.sample_weight;
  const double div = spec.divisor;
  if (!spec.classifier) {
    auto& p = s.pred;
    p.resize(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const double r = div == 1.0 ? raw[i * K] : raw[i * K] / div;
      p[i] = spec.link == kLinkExp ? std::exp(r) : r;
      if (spec.float32_output) p[i] = static_cast<float>(p[i]);
    }
    auto& t = s.terms;
    t.resize(static_cast<size_t>(n));
    const double* y = spec.y;
    for (size_t m = 0; m < spec.metrics.size(); ++m) {
      double v = 0.0;
      switch (spec.metrics[m]) {
        case kR2: {
          for (int64_t i = 0; i < n; ++i) {
            const double d = y[i] - p[i];
            t[i] = (w ? w[i] : 1.0) * (d * d);
          }
          const double num = np_sum(t.data(), n);
          const double mean = detail::np_average(y, w, n, s);
          for (int64_t i = 0; i < n; ++i) {
            const double d = y[i] - mean;
            t[i] = (w ? w[i] : 1.0) * (d * d);
          }
          const double den = np_sum(t.data(), n);
          if (den != 0.0 && num != 0.0) v = 1.0 - num / den;
          else v = (num != 0.0 && den == 0.0) ? 0.0 : 1.0;
          break;
        }
        case kNegMSE:
        case kNegRMSE: {
          for (int64_t i = 0; i < n; ++i) {
            const double d = y[i] - p[i];
            t[i] = d * d;
          }
          const double mse = detail::np_average(t.data(), w, n, s);
          v = spec.metrics[m] == kNegMSE ? -mse : -std::sqrt(mse);
          break;
        }
        case kNegMAE: {
          for (int64_t i = 0; i < n; ++i) t[i] = std::fabs(p[i] - y[i]);
          v = -detail::np_average(t.data(), w, n, s);
          break;
        }
        default:
          throw std::invalid_argument("metric " + std::to_string(spec.metrics[m]) +
                                      " needs a classifier");
      }
      out[m] = v;
    }
    return;
  }

  // Classification: probabilities [n, C], predicted class, per-row scores.
  const int64_t C = spec.n_classes;
  auto& proba = s.proba;
  proba.resize(static_cast<size_t>(n * C));
  auto& label = s.label;
  label.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double* r = raw + i * K;
    double* pr = proba.data() + i * C;
    if (spec.link == kLinkLogistic) {
      const double r0 = div == 1.0 ? r[0] : r[0] / div;
      if (spec.float32_output) {
        const float p1 = 1.0f / (1.0f + std::exp(-static_cast<float>(r0)));
        pr[1] = p1;
        pr[0] = 1.0f - p1;
      } else {
        pr[1] = detail::expit(r0);
        pr[0] = 1.0 - pr[1];
      }
    } else if (spec.link == kLinkSoftmax) {
      double mx = r[0] / div;
      for (int64_t k = 1; k < C; ++k) mx = std::max(mx, div == 1.0 ? r[k] : r[k] / div);
      double sum = -0.0;
      for (int64_t k = 0; k < C; ++k) {
        pr[k] = std::exp((div == 1.0 ? r[k] : r[k] / div) - mx);
      }
      sum = np_sum(pr, C);
      for (int64_t k = 0; k < C; ++k) pr[k] /= sum;
      if (spec.float32_output)
        for (int64_t k = 0; k < C; ++k) pr[k] = static_cast<float>(pr[k]);
    } else {  // kLinkProba
      for (int64_t k = 0; k < C; ++k) pr[k] = div == 1.0 ? r[k] : r[k] / div;
    }
    int32_t cls = 0;
    if (spec.predict_rule == kArgmaxProba || (spec.link == kLinkProba)) {
      for (int64_t k = 1; k < C; ++k)
        if (pr[k] > pr[cls] || (std::isnan(pr[k]) && !std::isnan(pr[cls]))) cls = static_cast<int32_t>(k);
    } else if (K == 1) {
      const double r0 = div == 1.0 ? r[0] : r[0] / div;
      cls = spec.predict_rule == kRawPositive ? (r0 > 0.0) : (r0 >= 0.0);
    } else {
      for (int64_t k = 1; k < K; ++k)
        if (r[k] > r[cls]) cls = static_cast<int32_t>(k);
    }
    label[i] = cls;
  }
  const int32_t* yc = spec.y_class;
  auto& t = s.terms;
  t.resize(static_cast<size_t>(n));
  for (size_t m = 0; m < spec.metrics.size(); ++m) {
    double v = 0.0;
    switch (spec.metrics[m]) {
      case kAccuracy: {
        for (int64_t i = 0; i < n; ++i) t[i] = label[i] == yc[i] ? 1.0 : 0.0;
        v = detail::np_average(t.data(), w, n, s);
        break;
      }
      case kBalancedAccuracy: {
        // confusion matrix rows (true class) accumulated in row order, as scipy's coo -> dense
        std::vector<double> cm(static_cast<size_t>(C * C), 0.0);
        for (int64_t i = 0; i < n; ++i) cm[yc[i] * C + label[i]] += w ? w[i] : 1.0;
        std::vector<double> per_class;
        for (int64_t k = 0; k < C; ++k) {
          const double row = np_sum(cm.data() + k * C, C);
          if (row != 0.0) per_class.push_back(cm[k * C + k] / row);
        }
        v = np_sum(per_class.data(), static_cast<int64_t>(per_class.size())) /
            static_cast<double>(per_class.size());
        break;
      }
      case kNegLogLoss: {
        // log_loss clips at the epsilon of the probabilities' dtype
        const double eps = spec.float32_output ? std::numeric_limits<float>::epsilon()
                                               : std::numeric_limits<double>::epsilon();
        for (int64_t i = 0; i < n; ++i) {
          const double* pr = proba.data() + i * C;
          // binary: the scorer passes predict_proba[:, 1] and log_loss uses 1 - p1 for class 0
          double q = C == 2 ? (yc[i] == 1 ? pr[1] : (spec.float32_output ? static_cast<double>(1.0f - static_cast<float>(pr[1])) : 1.0 - pr[1])) : pr[yc[i]];
          q = std::min(std::max(q, eps), 1.0 - eps);
          t[i] = -std::log(q);
        }
        v = -detail::np_average(t.data(), w, n, s);
        break;
      }
      case kRocAuc:
      case kRocAucOvr: {
        auto& sc = s.score;
        sc.resize(static_cast<size_t>(n));
        auto& pos = s.positive;
        pos.resize(static_cast<size_t>(n));
        if (C == 2) {
          const bool raw_scores = spec.metrics[m] == kRocAuc && spec.auc_uses_raw;
          for (int64_t i = 0; i < n; ++i) {
            sc[i] = raw_scores ? (div == 1.0 ? raw[i * K] : raw[i * K] / div) : proba[i * C + 1];
            pos[i] = yc[i] == 1;
          }
          v = detail::binary_roc_auc(sc.data(), pos.data(), w, n, s);
        } else {
          std::vector<double> per_class(static_cast<size_t>(C));
          for (int64_t k = 0; k < C; ++k) {
            for (int64_t i = 0; i < n; ++i) {
              sc[i] = proba[i * C + k];
              pos[i] = yc[i] == k;
            }
            per_class[k] = detail::binary_roc_auc(sc.data(), pos.data(), w, n, s);
          }
          v = np_sum(per_class.data(), C) / static_cast<double>(C);
        }
        break;
      }
      default:
        throw std::invalid_argument("metric " + std::to_string(spec.metrics[m]) + " needs a regressor");
    }
    out[m] = v;
  }
}

/// Raw sums base_value + sum of `value` rows of the leaves, trees in index order, for rows
/// X[n, M]: like predict_raw but with a caller-chosen value array (same layout as forest.value).
inline void predict_sum(const ForestView& f, const double* value, const double* X, int64_t n, double* out,
                        int n_jobs, const std::function<bool()>& interrupted = {}) {
  const int64_t M = f.n_features, K = f.n_outputs, W = f.value_width;
  const int64_t n_chunks = (n + kRowChunk - 1) / kRowChunk;
  parallel_for_chunks(
      n_chunks, resolve_threads(n_jobs, n_chunks),
      [&](int64_t chunk) {
        // Trees outer, rows inner: a tree stays in cache for the chunk; every row still adds
        // the trees in index order.
        const int64_t r0 = chunk * kRowChunk, r1 = std::min(n, r0 + kRowChunk);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t k = 0; k < K; ++k) out[r * K + k] = f.base_value[k];
        for (int64_t t = 0; t < f.n_trees; ++t)
          for (int64_t r = r0; r < r1; ++r) {
            const double* v = value + f.leaf_of(t, X + r * M) * W;
            double* ot = out + r * K + f.tree_output[t];
            for (int64_t c = 0; c < W; ++c) ot[c] += v[c];
          }
      },
      interrupted);
}

/// The permutation problem: rows, permutations and column groups.
struct PermutationInput {
  const double* value = nullptr;  ///< [n_nodes, value_width]: the per-tree terms to sum
  /// Changed rows get base + (new - old leaf values). With exact_order, rows whose result could
  /// tie (argmax between classes, equal ROC scores) within the round-off of that update are
  /// re-summed over all trees in tree order, as the library sums them, so ties break exactly.
  bool exact_order = true;
  const double* X = nullptr;      ///< evaluated rows [n_rows, n_features], C order
  int64_t n_rows = 0;
  const int64_t* perms = nullptr; ///< [n_repeats, n_rows]: permuted row r takes the group's columns from row perms[r*n+i]
  int64_t n_repeats = 0;
  const int64_t* group_offsets = nullptr;  ///< [n_groups + 1]
  const int64_t* group_columns = nullptr;
  int64_t n_groups = 0;
};

namespace detail {

/// Everything a task needs that does not depend on the permutation.
struct PermutationPlan {
  std::vector<int32_t> leaves;        ///< [n, T] baseline leaf
  double tie_bound = 0.0;             ///< bound on |delta update - tree-order sum| of a raw output
  std::vector<double> base_raw;       ///< [n, K]
  std::vector<int64_t> path_offset;   ///< per node: start of its root path (leaves only)
  std::vector<int32_t> path_length;
  std::vector<int32_t> path_nodes;    ///< internal nodes root -> leaf, for every leaf
  // Per leaf and distinct feature on its path: the path's nodes testing it (depth order) and the
  // child the path takes there.
  struct LeafFeature {
    int32_t feature, begin, end, leaf;
    // When every node of the segment is a plain numeric split with the NaN-follows-default rule,
    // the values that keep the path form an interval: (lo, hi] for "<=" ([lo, hi) for "<"),
    // and NaN keeps it iff nan_stays.
    double lo, hi;
    uint8_t simple, nan_stays;
  };
  std::vector<int64_t> lf_offset;     ///< per node: its LeafFeature entries [lf_offset[v], lf_offset[v+1])
  std::vector<LeafFeature> lf;
  std::vector<int32_t> seg_node, seg_next;
  /// (tree, feature) -> rows whose path tests the feature, ascending, with their LeafFeature.
  struct RowEntry {
    int32_t row, lf;
    // The interval of LeafFeature lf shrunk to float bounds (an inner approximation: a value
    // inside surely keeps the path; outside, the segment decides). NaN lo: no interval.
    float lo, hi;
  };
  std::vector<float> lf_lo, lf_hi;
  /// The nodes packed one per cache-line slot for re-routing: children, feature, threshold;
  /// plain = numeric split whose NaN follows default_left (others ask ForestView::goes_left).
  struct PackedNode {
    double threshold;
    int32_t left, right, feature;
    uint8_t default_left, plain;
  };
  std::vector<PackedNode> nodes;
  std::vector<int64_t> rows_offset;   ///< [(T * M) + 1]
  std::vector<RowEntry> rows;
};

inline PermutationPlan build_plan(const ForestView& f, const PermutationInput& in, int n_jobs,
                                  const std::function<bool()>& interrupted) {
  PermutationPlan p;
  const int64_t n = in.n_rows, T = f.n_trees, M = f.n_features, K = f.n_outputs, W = f.value_width;
  // Root paths of every leaf (parents precede children inside a tree).
  std::vector<int32_t> parent(static_cast<size_t>(f.n_nodes), -1);
  for (int64_t v = 0; v < f.n_nodes; ++v)
    if (f.left[v] >= 0) parent[f.left[v]] = parent[f.right[v]] = static_cast<int32_t>(v);
  p.path_offset.assign(static_cast<size_t>(f.n_nodes), -1);
  p.path_length.assign(static_cast<size_t>(f.n_nodes), 0);
  std::vector<int32_t> up;
  for (int64_t v = 0; v < f.n_nodes; ++v) {
    if (f.left[v] >= 0) continue;
    up.clear();
    for (int32_t a = parent[v]; a >= 0; a = parent[a]) up.push_back(a);
    p.path_offset[v] = static_cast<int64_t>(p.path_nodes.size());
    p.path_length[v] = static_cast<int32_t>(up.size());
    p.path_nodes.insert(p.path_nodes.end(), up.rbegin(), up.rend());
  }
  // Per leaf: its distinct path features, each with the path nodes testing it.
  p.lf_offset.assign(static_cast<size_t>(f.n_nodes) + 1, 0);
  {
    std::vector<std::pair<int32_t, int32_t>> by_feature;  // (feature, position on the path)
    for (int64_t v = 0; v < f.n_nodes; ++v) {
      p.lf_offset[v] = static_cast<int64_t>(p.lf.size());
      if (f.left[v] >= 0) continue;
      const int32_t* path = p.path_nodes.data() + p.path_offset[v];
      const int32_t len = p.path_length[v];
      by_feature.clear();
      for (int32_t k = 0; k < len; ++k) by_feature.emplace_back(f.feature[path[k]], k);
      std::stable_sort(by_feature.begin(), by_feature.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      for (size_t q = 0; q < by_feature.size(); ++q) {
        const int32_t j = by_feature[q].first, k = by_feature[q].second;
        if (q == 0 || by_feature[q - 1].first != j)
          p.lf.push_back({j, static_cast<int32_t>(p.seg_node.size()), 0, static_cast<int32_t>(v),
                          -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(), 1, 1});
        const int32_t node = path[k], next = k + 1 < len ? path[k + 1] : static_cast<int32_t>(v);
        p.seg_node.push_back(node);
        p.seg_next.push_back(next);
        auto& e = p.lf.back();
        e.end = static_cast<int32_t>(p.seg_node.size());
        const bool went_left = next == f.left[node];
        if ((f.cat_offset && f.cat_offset[node] >= 0) || (f.missing_rule && f.missing_rule[node] != kNaNDefault))
          e.simple = 0;
        if (went_left) e.hi = std::min(e.hi, f.threshold[node]);
        else e.lo = std::max(e.lo, f.threshold[node]);
        if ((f.default_left[node] != 0) != went_left) e.nan_stays = 0;
      }
    }
    p.lf_offset[f.n_nodes] = static_cast<int64_t>(p.lf.size());
  }
  // Baseline leaves, leaf values and raw sums of the evaluated rows.
  p.leaves.resize(static_cast<size_t>(n * T));
  {
    double max_abs = 0.0;
    for (int64_t v = 0; v < f.n_nodes; ++v)
      if (f.left[v] < 0)
        for (int64_t c = 0; c < W; ++c) max_abs = std::max(max_abs, std::fabs(in.value[v * W + c]));
    double base_abs = 0.0;
    for (int64_t k = 0; k < K; ++k) base_abs = std::max(base_abs, std::fabs(f.base_value[k]));
    // Both sums carry at most (T + 2) roundings of magnitude <= eps * (|base| + T max|v|)
    // (a delta update adds two per changed tree, each bounded likewise); a factor 8 to spare.
    const double mag = base_abs + static_cast<double>(T) * max_abs;
    p.tie_bound = 8.0 * static_cast<double>(2 * T + 4) * std::numeric_limits<double>::epsilon() * mag;
  }
  p.base_raw.resize(static_cast<size_t>(n * K));
  const int64_t n_chunks = (n + kRowChunk - 1) / kRowChunk;
  parallel_for_chunks(
      n_chunks, resolve_threads(n_jobs, n_chunks),
      [&](int64_t chunk) {
        const int64_t r0 = chunk * kRowChunk, r1 = std::min(n, r0 + kRowChunk);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t k = 0; k < K; ++k) p.base_raw[r * K + k] = f.base_value[k];
        for (int64_t t = 0; t < T; ++t)  // trees outer: each stays in cache for the chunk
          for (int64_t r = r0; r < r1; ++r) {
            const int64_t leaf = f.leaf_of(t, in.X + r * M);
            p.leaves[r * T + t] = static_cast<int32_t>(leaf);
            const double* v = in.value + leaf * W;
            double* ot = p.base_raw.data() + r * K + f.tree_output[t];
            for (int64_t c = 0; c < W; ++c) ot[c] += v[c];
          }
      },
      interrupted);
  p.nodes.resize(static_cast<size_t>(f.n_nodes));
  for (int64_t v = 0; v < f.n_nodes; ++v) {
    const bool plain = !(f.cat_offset && f.cat_offset[v] >= 0) && !(f.missing_rule && f.missing_rule[v] != kNaNDefault);
    p.nodes[v] = {f.threshold[v], f.left[v], f.right[v], f.feature[v], f.default_left[v], static_cast<uint8_t>(plain)};
  }
  // float inner bounds of the intervals
  p.lf_lo.resize(p.lf.size());
  p.lf_hi.resize(p.lf.size());
  for (size_t q = 0; q < p.lf.size(); ++q) {
    const auto& e = p.lf[q];
    if (!e.simple) {
      p.lf_lo[q] = p.lf_hi[q] = std::numeric_limits<float>::quiet_NaN();
      continue;
    }
    float lo = static_cast<float>(e.lo), hi = static_cast<float>(e.hi);
    if (static_cast<double>(lo) < e.lo) lo = std::nextafter(lo, std::numeric_limits<float>::infinity());
    if (static_cast<double>(hi) > e.hi) hi = std::nextafter(hi, -std::numeric_limits<float>::infinity());
    p.lf_lo[q] = lo;
    p.lf_hi[q] = hi;
  }
  // (tree, feature) -> rows whose path tests the feature, in row order; counted, then filled,
  // tree by tree in parallel (each tree owns its slice of the CSR).
  p.rows_offset.assign(static_cast<size_t>(T * M + 1), 0);
  parallel_for_chunks(
      T, resolve_threads(n_jobs, T),
      [&](int64_t t) {
        for (int64_t r = 0; r < n; ++r) {
          const int32_t leaf = p.leaves[r * T + t];
          for (int64_t q = p.lf_offset[leaf]; q < p.lf_offset[leaf + 1]; ++q) ++p.rows_offset[t * M + p.lf[q].feature + 1];
        }
      },
      interrupted);
  for (int64_t q = 0; q < T * M; ++q) p.rows_offset[q + 1] += p.rows_offset[q];
  p.rows.resize(static_cast<size_t>(p.rows_offset[T * M]));
  parallel_for_chunks(
      T, resolve_threads(n_jobs, T),
      [&](int64_t t) {
        std::vector<int64_t> fill(p.rows_offset.begin() + t * M, p.rows_offset.begin() + (t + 1) * M);
        for (int64_t r = 0; r < n; ++r) {
          const int32_t leaf = p.leaves[r * T + t];
          for (int64_t q = p.lf_offset[leaf]; q < p.lf_offset[leaf + 1]; ++q)
            p.rows[fill[p.lf[q].feature]++] = {static_cast<int32_t>(r), static_cast<int32_t>(q), p.lf_lo[q], p.lf_hi[q]};
        }
      },
      interrupted);
  return p;
}

}  // namespace detail

/// Scores after permuting each column group, for every (group, repeat):
/// out[(g * n_repeats + r) * n_metrics + m]. Throws std::invalid_argument on bad input.
inline void permutation_scores(const ForestView& f, const PermutationInput& in, const ScoringSpec& spec,
                               double* out, int n_jobs, const std::function<bool()>& interrupted = {}) {
  const int64_t n = in.n_rows, T = f.n_trees, M = f.n_features, K = f.n_outputs, W = f.value_width;
  const int64_t R = in.n_repeats, G = in.n_groups;
  const int64_t n_metrics = static_cast<int64_t>(spec.metrics.size());
  if (n < 1) throw std::invalid_argument("permutation importance needs at least one row");
  if (R < 1) throw std::invalid_argument("n_repeats must be >= 1");
  for (int64_t q = 0; q < R * n; ++q)
    if (in.perms[q] < 0 || in.perms[q] >= n)
      throw std::invalid_argument("permutation index " + std::to_string(in.perms[q]) + " is out of range [0, " +
                                  std::to_string(n) + ")");
  if (in.group_offsets[0] != 0) throw std::invalid_argument("group_offsets must start at 0");
  for (int64_t g = 0; g < G; ++g) {
    if (in.group_offsets[g + 1] <= in.group_offsets[g])
      throw std::invalid_argument("feature group " + std::to_string(g) + " is empty");
    for (int64_t q = in.group_offsets[g]; q < in.group_offsets[g + 1]; ++q)
      if (in.group_columns[q] < 0 || in.group_columns[q] >= M)
        throw std::invalid_argument("feature group " + std::to_string(g) + " has column " +
                                    std::to_string(in.group_columns[q]) + " outside [0, " + std::to_string(M) + ")");
  }
  if (spec.classifier && (spec.n_classes < 2 || !spec.y_class))
    throw std::invalid_argument("a classifier needs n_classes >= 2 and class indices");
  if (!spec.classifier && !spec.y) throw std::invalid_argument("a regressor needs targets");
  if (spec.y_class)
    for (int64_t i = 0; i < n; ++i)
      if (spec.y_class[i] < 0 || spec.y_class[i] >= spec.n_classes)
        throw std::invalid_argument("class index out of range");

  const detail::PermutationPlan plan = detail::build_plan(f, in, n_jobs, interrupted);
  // Models that compare float32(x) only need the rows as float32: half the memory traffic.
  std::vector<float> X32;
  if (f.float32_input) X32.assign(in.X, in.X + n * M);
  // Columns of the prepared values, for reading one permuted column cheaply.
  std::vector<double> XT(static_cast<size_t>(n * M));
  for (int64_t r = 0; r < n; ++r)
    for (int64_t j = 0; j < M; ++j) XT[j * n + r] = f.prepare(in.X[r * M + j]);
  // A task that changes no leaf scores the baseline rows.
  std::vector<double> base_scores(static_cast<size_t>(n_metrics));
  {
    ScoreScratch scratch;
    score_raw(spec, plan.base_raw.data(), n, K, base_scores.data(), scratch);
  }

  struct Change {
    int32_t row, tree, leaf;
  };
  parallel_for_chunks(
      G * R, resolve_threads(n_jobs, G * R),
      [&](int64_t task) {
        const int64_t g = task / R, rep = task % R;
        const int64_t* perm = in.perms + rep * n;
        const int64_t* cols = in.group_columns + in.group_offsets[g];
        const int64_t n_cols = in.group_offsets[g + 1] - in.group_offsets[g];
        std::vector<uint8_t> in_group(static_cast<size_t>(M), 0);
        for (int64_t q = 0; q < n_cols; ++q) in_group[cols[q]] = 1;
        std::vector<int32_t> stamp;
        if (n_cols > 1) stamp.assign(static_cast<size_t>(n), -1);
        std::vector<Change> changes;
        std::vector<int32_t> affected;

        // Re-routes row r of tree t from `node` with the group's columns taken from row perm[r].
        auto finish = [&](int64_t r, int64_t node) {
          if (f.float32_input) {
            const float* xo = X32.data() + r * M;
            const float* xp = X32.data() + perm[r] * M;
            while (f.left[node] >= 0) {
              const int32_t j = f.feature[node];
              const double x = in_group[j] ? xp[j] : xo[j];
              node = f.goes_left(node, x) ? f.left[node] : f.right[node];
            }
            return node;
          }
          const double* xo = in.X + r * M;
          const double* xp = in.X + perm[r] * M;
          while (f.left[node] >= 0) {
            const int32_t j = f.feature[node];
            const double x = in_group[j] ? xp[j] : xo[j];
            node = f.goes_left(node, f.prepare(x)) ? f.left[node] : f.right[node];
          }
          return node;
        };
        // Rows that left their path in the current tree: finished together, several at a time,
        // so that their independent memory accesses overlap.
        struct Pending {
          int32_t row, node, old_leaf;
        };
        std::vector<Pending> pending;
        auto finish_pending = [&](int64_t t) {
          constexpr int kLanes = 16;
          const size_t P = pending.size();
          for (size_t b = 0; b < P; b += kLanes) {
            const int cnt = static_cast<int>(std::min<size_t>(kLanes, P - b));
            int64_t node[kLanes];
            for (int k = 0; k < cnt; ++k) node[k] = pending[b + k].node;
            if (f.float32_input) {
              const float* xo[kLanes];
              const float* xp[kLanes];
              for (int k = 0; k < cnt; ++k) {
                xo[k] = X32.data() + static_cast<int64_t>(pending[b + k].row) * M;
                xp[k] = X32.data() + perm[pending[b + k].row] * M;
              }
              const bool strict = f.strict_less;
              for (bool active = true; active;) {
                active = false;
                for (int k = 0; k < cnt; ++k) {
                  const auto& nd = plan.nodes[node[k]];
                  if (nd.left < 0) continue;
                  active = true;
                  const double x = in_group[nd.feature] ? xp[k][nd.feature] : xo[k][nd.feature];
                  bool left;
                  if (nd.plain)
                    left = std::isnan(x) ? nd.default_left != 0 : (strict ? x < nd.threshold : x <= nd.threshold);
                  else
                    left = f.goes_left(node[k], x);
                  node[k] = left ? nd.left : nd.right;
                }
              }
            } else {
              for (int k = 0; k < cnt; ++k) node[k] = finish(pending[b + k].row, node[k]);
            }
            for (int k = 0; k < cnt; ++k)
              if (node[k] != pending[b + k].old_leaf)
                changes.push_back({pending[b + k].row, static_cast<int32_t>(t), static_cast<int32_t>(node[k])});
          }
          pending.clear();
        };
        if (n_cols == 1) {
          // One column: visit only the path nodes that test it; leave the path where the
          // permuted value goes the other way.
          const int64_t j = cols[0];
          const double* xj = XT.data() + j * n;
          const bool strict = f.strict_less;
          for (int64_t t = 0; t < T; ++t) {
            for (int64_t e = plan.rows_offset[t * M + j]; e < plan.rows_offset[t * M + j + 1]; ++e) {
              const auto entry = plan.rows[e];
              const double x = xj[perm[entry.row]];
              // the common case, from the entry alone: the value keeps the path
              if (strict ? (entry.lo <= x && x < entry.hi) : (entry.lo < x && x <= entry.hi)) continue;
              const auto& seg = plan.lf[entry.lf];
              if (seg.simple) {
                const bool stays = std::isnan(x) ? seg.nan_stays != 0
                                   : strict      ? (seg.lo <= x && x < seg.hi)
                                                 : (seg.lo < x && x <= seg.hi);
                if (stays) continue;
              }
              for (int32_t s = seg.begin; s < seg.end; ++s) {
                const int32_t v = plan.seg_node[s];
                const bool left = f.goes_left(v, x);
                if (left != (plan.seg_next[s] == f.left[v])) {
                  pending.push_back({entry.row, static_cast<int32_t>(left ? f.left[v] : f.right[v]), seg.leaf});
                  break;
                }
              }
            }
            finish_pending(t);
          }
        }
        for (int64_t t = 0; t < T && n_cols > 1; ++t) {
          // rows of tree t whose path tests a column of the group
          affected.clear();
          for (int64_t q = 0; q < n_cols; ++q)
            for (int64_t e = plan.rows_offset[t * M + cols[q]]; e < plan.rows_offset[t * M + cols[q] + 1]; ++e) {
              const int32_t r = plan.rows[e].row;
              if (stamp[r] != t) {
                stamp[r] = static_cast<int32_t>(t);
                affected.push_back(r);
              }
            }
          std::sort(affected.begin(), affected.end());
          for (const int32_t r : affected) {
            const double* xp = in.X + perm[r] * M;
            const int32_t leaf = plan.leaves[r * T + t];
            const int32_t* path = plan.path_nodes.data() + plan.path_offset[leaf];
            const int32_t len = plan.path_length[leaf];
            int64_t node = -1;
            for (int32_t k = 0; k < len; ++k) {
              const int32_t v = path[k];
              const int32_t j = f.feature[v];
              if (!in_group[j]) continue;
              const int64_t next = k + 1 < len ? path[k + 1] : leaf;
              const bool left = f.goes_left(v, f.prepare(xp[j]));
              if (left != (next == f.left[v])) {
                node = left ? f.left[v] : f.right[v];
                break;
              }
            }
            if (node < 0) continue;  // the permuted row stays on the baseline path
            node = finish(r, node);
            if (node != leaf) changes.push_back({r, static_cast<int32_t>(t), static_cast<int32_t>(node)});
          }
        }

        if (changes.empty()) {
          std::copy(base_scores.begin(), base_scores.end(), out + task * n_metrics);
          return;
        }
        // Permuted raw sums: baseline, plus leaf differences on the changed rows.
        std::vector<double> raw(plan.base_raw);
        {
          // group the changes by row, keeping tree order within a row (counting sort, stable)
          std::vector<int32_t> start(static_cast<size_t>(n) + 1, 0);
          for (const Change& c : changes) ++start[c.row + 1];
          for (int64_t i = 0; i < n; ++i) start[i + 1] += start[i];
          std::vector<Change> by_row(changes.size());
          {
            std::vector<int32_t> pos(start.begin(), start.end() - 1);
            for (const Change& c : changes) by_row[pos[c.row]++] = c;
          }
          for (int64_t r = 0; r < n; ++r) {
            double* o = raw.data() + r * K;
            for (int32_t c = start[r]; c < start[r + 1]; ++c) {
              const Change& ch = by_row[c];
              const double* vn = in.value + static_cast<int64_t>(ch.leaf) * W;
              const double* vo = in.value + static_cast<int64_t>(plan.leaves[r * T + ch.tree]) * W;
              double* ot = o + f.tree_output[ch.tree];
              for (int64_t q = 0; q < W; ++q) ot[q] += vn[q] - vo[q];
            }
          }
          if (in.exact_order) {
            // Rows whose ranking or class could depend on the last bits: sum them exactly.
            std::vector<uint8_t> redo(static_cast<size_t>(n), 0);
            const double B = plan.tie_bound;
            bool class_ties = false, rank_ties = false;
            for (int m : spec.metrics) {
              class_ties |= m == kAccuracy || m == kBalancedAccuracy;
              rank_ties |= m == kRocAuc || m == kRocAucOvr;
            }
            if (class_ties)
              for (int64_t r = 0; r < n; ++r) {
                if (start[r] == start[r + 1]) continue;
                const double* o = raw.data() + r * K;
                if (K == 1) {
                  redo[r] = std::fabs(o[0]) <= B;
                } else {
                  double top = -std::numeric_limits<double>::infinity(), second = top;
                  for (int64_t k = 0; k < K; ++k) {
                    if (o[k] > top) {
                      second = top;
                      top = o[k];
                    } else if (o[k] > second) {
                      second = o[k];
                    }
                  }
                  redo[r] = top - second <= 2.0 * B;
                }
              }
            if (rank_ties) {
              // Rows whose exact raw output k is equal are within 2B of each other in output k
              // (the ROC score of class k is a function of it): in every run of such near
              // neighbours holding a changed row, redo the changed ones.
              std::vector<int32_t> order(static_cast<size_t>(n));
              for (int64_t k = 0; k < K; ++k) {
                std::iota(order.begin(), order.end(), 0);
                std::sort(order.begin(), order.end(),
                          [&](int32_t a, int32_t b) { return raw[a * K + k] < raw[b * K + k]; });
                for (int64_t a = 0; a < n;) {
                  int64_t b = a + 1;
                  while (b < n && raw[order[b] * K + k] - raw[order[b - 1] * K + k] <= 2.0 * B) ++b;
                  if (b - a > 1)
                    for (int64_t q = a; q < b; ++q)
                      if (start[order[q]] != start[order[q] + 1]) redo[order[q]] = 1;
                  a = b;
                }
              }
            }
            for (int64_t r = 0; r < n; ++r) {
              if (!redo[r]) continue;
              double* o = raw.data() + r * K;
              for (int64_t k = 0; k < K; ++k) o[k] = f.base_value[k];
              int32_t c = start[r];
              for (int64_t t = 0; t < T; ++t) {
                int64_t leaf = plan.leaves[r * T + t];
                if (c < start[r + 1] && by_row[c].tree == t) leaf = by_row[c++].leaf;
                const double* v = in.value + leaf * W;
                double* ot = o + f.tree_output[t];
                for (int64_t q = 0; q < W; ++q) ot[q] += v[q];
              }
            }
          }
        }
        ScoreScratch scratch;
        score_raw(spec, raw.data(), n, K, out + task * n_metrics, scratch);
      },
      interrupted);
}

}  // namespace xplain
