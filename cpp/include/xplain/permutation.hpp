// Permutation importance of a Forest: scores of the model after permuting a group of columns,
// for many (group, repeat) tasks at once, with the link and the scikit-learn metrics in C++.
//
// The permuted raw output of a row only changes in trees whose root-to-leaf path (for that row)
// passes a node that splits on a permuted column, and only where the permuted value leaves the
// interval of values that keep that path. Trees are processed in cache-sized chunks: for each
// tree, the evaluated rows are routed once and indexed by feature (row, first node testing the
// feature, interval); then every task scans the rows of its column, re-routes only those whose
// donor value leaves the interval (branch-free, many rows side by side), and adds the leaf
// differences to its own raw sums, trees in order. The scan takes several repeats per pass, with
// AVX-512 where the CPU has it (chosen at run time; the same pending rows either way).
//
// Rows whose result could tie (argmax, ROC ranks) within the round-off of those updates are
// re-summed over all trees in tree order (exact mode), so a permuted prediction is the sum the
// library itself computes and ties break exactly as in scikit-learn; delta mode skips that for
// models whose own arithmetic is float32 anyway.
//
// Metrics follow scikit-learn's formulas and summation order (numpy's pairwise sum), so the
// scores agree to float64 round-off. Each task writes its own output slot with its own scratch:
// results are bitwise identical for every n_jobs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define XPLAIN_AVX512_SCAN 1  // an AVX-512 scan beside the portable one, chosen at run time
#include <immintrin.h>
#endif

#include "forest.hpp"
#include "parallel.hpp"
#include "predict.hpp"

namespace xplain {

/// How the raw output becomes predictions (mirrors src/xplain_fast/permutation.py).
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
  /// r2_denominator of these targets, when computed once for many scorings.
  std::optional<double> r2_denominator;
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

/// The denominator of r2: the weighted sum of squares of y about its weighted mean.
inline double r2_denominator(const ScoringSpec& spec, int64_t n, ScoreScratch& s) {
  const double* y = spec.y;
  const double* w = spec.sample_weight;
  const double mean = detail::np_average(y, w, n, s);
  s.terms.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double d = y[i] - mean;
    s.terms[i] = (w ? w[i] : 1.0) * (d * d);
  }
  return np_sum(s.terms.data(), n);
}

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
          const double den = spec.r2_denominator ? *spec.r2_denominator : r2_denominator(spec, n, s);
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

/// A leaf whose root path tests a feature: the first node of the path that tests it (`top`), and
/// an interval of values that surely keep the path, (lo, hi] for "<=" splits and [lo, hi) for "<",
/// rounded inwards to float. NaN bounds (no interval) for categorical splits and special
/// missing-value rules. A row of the leaf whose permuted value is outside the interval is
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

/// Everything shared by the tasks that does not depend on the permutation. Real: how the
/// prepared rows are stored (float when the library compares float32 values: half the cache).
template <typename Real>
struct PermutationContext {
  PermutationContext(const ForestView& forest, const PermutationInput& input) : f(forest), in(input) {}

  const ForestView& f;
  const PermutationInput& in;
  std::vector<LaneNode<Real>> lane_nodes;  ///< empty if a node needs goes_left (categorical, zero-as-missing)
  std::vector<uint8_t> lane_nan;           ///< LaneNaN bits per node
  /// Per node, the most steps from it to a leaf: a block of lanes needs exactly the most of its
  /// start nodes' heights, with no extra step to find out that every lane has arrived.
  std::vector<int32_t> lane_height;
  bool rows_have_nan = false;              ///< does any evaluated (hence any donor) row hold NaN
  std::vector<Real> XP;      ///< prepared rows [n, M] (the values the library compares)
  std::vector<Real> XT;      ///< the same, column-major [M, n]
  std::vector<double> base_raw;  ///< [n, K] baseline raw sums, trees in order
  std::vector<int32_t> tree_leaf;  ///< [T, n] baseline leaf of each tree and row, if it fits a table budget
  std::vector<uint8_t> no_group; ///< [M] zeros: a walk that takes every column from the row itself
  double tie_bound = 0.0;    ///< bound on |delta update - tree-order sum| of a raw output

  /// Leaves of tree t for the rows [r0, r1) into leaf[r - r0].
  void baseline_leaves(int64_t t, int64_t r0, int64_t r1, int32_t* leaf) const {
    const int64_t M = f.n_features, root = f.tree_offset[t];
    if (lane_nodes.empty()) {
      for (int64_t r = r0; r < r1; ++r) {
        const Real* x = XP.data() + r * M;
        leaf[r - r0] = static_cast<int32_t>(walk(root, x, x, no_group.data()));
      }
      return;
    }
    if (rows_have_nan)
      baseline_lanes<true>(root, r0, r1, leaf);
    else
      baseline_lanes<false>(root, r0, r1, leaf);
  }

  template <bool MaybeNaN>
  void baseline_lanes(int64_t root, int64_t r0, int64_t r1, int32_t* leaf) const {
    const int64_t M = f.n_features;
    const LaneNode<Real>* ln = lane_nodes.data();
    const bool strict = f.strict_less;
    for (int64_t b = r0; b < r1; b += kLanes) {
      const int cnt = static_cast<int>(std::min<int64_t>(kLanes, r1 - b));
      int32_t node[kLanes];
      const Real* x[kLanes];
      for (int k = 0; k < kLanes; ++k) {
        node[k] = static_cast<int32_t>(root);
        x[k] = XP.data() + (b + (k < cnt ? k : 0)) * M;
      }
      for (int32_t step = 0; step < lane_height[root]; ++step) {
        for (int k = 0; k < kLanes; ++k) {
          const LaneNode<Real>& nd = ln[node[k]];
          node[k] = lane_next<MaybeNaN>(nd, MaybeNaN ? lane_nan[node[k]] : 0, x[k][nd.feature], strict);
        }
      }
      for (int k = 0; k < cnt; ++k) leaf[b - r0 + k] = node[k];
    }
  }

  /// The leaf below `node` reached by the prepared row xo whose columns in `in_group` are taken
  /// from the prepared row xd (any split kind: the forest's own rule).
  int64_t walk(int64_t node, const Real* xo, const Real* xd, const uint8_t* in_group) const {
    while (f.left[node] >= 0) {
      const int32_t j = f.feature[node];
      node = f.goes_left(node, in_group[j] ? xd[j] : xo[j]) ? f.left[node] : f.right[node];
    }
    return node;
  }
};

inline float float_at_least(double x) {
  float v = static_cast<float>(x);
  if (static_cast<double>(v) < x) v = std::nextafter(v, std::numeric_limits<float>::infinity());
  return v;
}
inline float float_at_most(double x) {
  float v = static_cast<float>(x);
  if (static_cast<double>(v) > x) v = std::nextafter(v, -std::numeric_limits<float>::infinity());
  return v;
}

/// Builds tree t's TreeRows for the evaluated rows. `leaf_features` and `lf_offset` are scratch.
template <typename Real>
void build_tree_rows(const PermutationContext<Real>& ctx, int64_t t, TreeRows& out,
                            std::vector<LeafFeature>& leaf_features, std::vector<int64_t>& lf_offset) {
  const ForestView& f = ctx.f;
  const int64_t n = ctx.in.n_rows, M = f.n_features;
  const int64_t begin = f.tree_offset[t], end = f.tree_offset[t + 1];
  // Per leaf: the distinct features of its path, with their interval. Parents precede children,
  // so one pass over the nodes with each node's parent walks every leaf's path upwards.
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
      if ((f.cat_offset && f.cat_offset[a] >= 0) || (f.missing_rule && f.missing_rule[a] != kNaNDefault))
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

  out.leaf.resize(static_cast<size_t>(n));
  if (ctx.tree_leaf.empty()) ctx.baseline_leaves(t, 0, n, out.leaf.data());
  else std::copy_n(ctx.tree_leaf.begin() + t * n, n, out.leaf.begin());
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


/// Where the leaf changes of one (tree, repeat) go: a row that lands in another leaf than its
/// baseline leaf adds the difference of the two leaves' values to its raw sums and is marked.
struct LeafChanges {
  const double* value;          ///< [n_nodes, W]
  int64_t W, K, output;         ///< leaf width, raw width, the tree's first output
  const int32_t* baseline_leaf; ///< [n] the tree's leaf of each row
  double* raw;                  ///< [n, K] of the repeat
  uint8_t* changed;             ///< [n] of the repeat

  void apply(int32_t r, int64_t leaf) const {
    const int64_t old_leaf = baseline_leaf[r];
    if (leaf == old_leaf) return;
    const double* vn = value + leaf * W;
    const double* vo = value + old_leaf * W;
    double* o = raw + r * K + output;
    for (int64_t q = 0; q < W; ++q) o[q] += vn[q] - vo[q];
    changed[r] = 1;
  }
};

/// The donors of one repeat: permuted row r takes the group's columns from row perm[r]; for a
/// group of one column, donor_value[r] is that column's (prepared) value in row perm[r].
template <typename Real>
struct Donors {
  const int64_t* perm;
  const Real* donor_value;  ///< null for groups of several columns
};

/// A row to re-route, from `node`.
struct Pending {
  int32_t row, node;
};
static_assert(sizeof(Pending) == 8, "the AVX-512 scan stores a Pending as one 64-bit (row, node) lane");

/// Scratch of one unit of work (nothing is shared between threads).
template <typename Real>
struct TaskScratch {
  std::vector<Pending> pending;    ///< the rows of one tree to re-route (by repeat)
  std::vector<uint8_t> in_group;
  std::vector<uint8_t> stamp;     ///< rows already pending (groups), all zero between uses
  std::vector<Real> donor_value;  ///< [repeats, n] (one column)
};

/// Re-routes the pending rows of one (tree, repeat) and applies their leaf changes. Rows walk
/// branch-free, kLanes at a time so that their loads overlap, until all of the block reach their
/// leaves. Single: the group is the one column j.
template <bool Single, bool MaybeNaN, typename Real>
void reroute_lanes(const PermutationContext<Real>& ctx, const Pending* pending, int64_t P,
                   const Donors<Real>& donors, int64_t j, const uint8_t* in_group, const LeafChanges& changes) {
  const LaneNode<Real>* ln = ctx.lane_nodes.data();
  const bool strict = ctx.f.strict_less;
  const int64_t M = ctx.f.n_features;
  const Real* xp = ctx.XP.data();
  int64_t node[kLanes];
  int32_t row[kLanes];
  const Real* xo[kLanes];
  const Real* xd[kLanes];
  Real u[kLanes];
  for (int64_t b = 0; b < P; b += kLanes) {
    const int cnt = static_cast<int>(std::min<int64_t>(kLanes, P - b));
    int32_t steps = 0;
    for (int k = 0; k < kLanes; ++k) {
      const auto& p = pending[b + (k < cnt ? k : 0)];
      row[k] = p.row;
      node[k] = p.node;
      xo[k] = xp + static_cast<int64_t>(p.row) * M;
      if (Single) u[k] = donors.donor_value[p.row];
      else xd[k] = xp + donors.perm[p.row] * M;
      steps = std::max(steps, ctx.lane_height[p.node]);
    }
    for (int32_t step = 0; step < steps; ++step) {
      for (int k = 0; k < kLanes; ++k) {
        const LaneNode<Real>& nd = ln[node[k]];
        // Choosing the address, not the value, keeps this free of branches. One column: the
        // donor's value is the lane's constant, so only the own row is read.
        const Real* src = Single ? (nd.feature == j ? &u[k] : xo[k] + nd.feature)
                                 : (in_group[nd.feature] != 0 ? xd[k] : xo[k]) + nd.feature;
        node[k] = lane_next<MaybeNaN>(nd, MaybeNaN ? ctx.lane_nan[node[k]] : 0, *src, strict);
      }
    }
    for (int k = 0; k < cnt; ++k) changes.apply(row[k], node[k]);
  }
}

/// Re-routes the pending rows of one (tree, repeat) from their nodes: branch-free lanes where the
/// forest allows them, else the forest's own walk. single_column: j, or -1 for several columns.
template <typename Real>
void reroute(const PermutationContext<Real>& ctx, const Pending* pending, int64_t P,
             const Donors<Real>& donors, int64_t single_column, const uint8_t* in_group, const LeafChanges& changes) {
  const int64_t j = single_column;
  if (ctx.lane_nodes.empty()) {
    const int64_t M = ctx.f.n_features;
    for (int64_t i = 0; i < P; ++i) {
      const Real* xo = ctx.XP.data() + static_cast<int64_t>(pending[i].row) * M;
      const Real* xd = ctx.XP.data() + donors.perm[pending[i].row] * M;
      changes.apply(pending[i].row, ctx.walk(pending[i].node, xo, xd, in_group));
    }
  } else if (j >= 0) {
    if (ctx.rows_have_nan) reroute_lanes<true, true>(ctx, pending, P, donors, j, in_group, changes);
    else reroute_lanes<true, false>(ctx, pending, P, donors, j, in_group, changes);
  } else {
    if (ctx.rows_have_nan) reroute_lanes<false, true>(ctx, pending, P, donors, j, in_group, changes);
    else reroute_lanes<false, false>(ctx, pending, P, donors, j, in_group, changes);
  }
}

/// The scan of one leaf entry for a batch of Size repeats: each row of rows[0, count) whose donor
/// value of repeat i (dv[i * n + row]) leaves the entry's interval is appended as (row, top) to
/// repeat i's pending rows, out[i * bound + np[i]]. Branch-free: whether a row stays is a coin
/// toss for the branch predictor.
template <int64_t Size, typename Real>
void scan_entry(const LeafEntry& entry, const int32_t* rows, int64_t count, const Real* dv, int64_t n, bool strict,
                int64_t bound, int64_t* np, Pending* out) {
  for (int64_t q = 0; q < count; ++q) {
    const int32_t r = rows[q];
    for (int64_t i = 0; i < Size; ++i) {
      const Real u = dv[i * n + r];
      out[i * bound + np[i]] = {r, entry.top};
      np[i] += !entry.keeps(u, strict);
    }
  }
}

#ifdef XPLAIN_AVX512_SCAN

/// Does this CPU run scan_entry_avx512 (checked once; XPLAIN_FAST_NO_AVX512 set in the
/// environment turns it off, so that tests can compare both scans)?
inline bool avx512_scan_available() {
  static const bool available = __builtin_cpu_supports("avx512f") && !std::getenv("XPLAIN_FAST_NO_AVX512");
  return available;
}

/// scan_entry for float rows, 16 rows at a time: AVX-512 gathers the donor values, compares them
/// with the interval and compress-stores the leaving rows in order, so that the pending rows are
/// exactly scan_entry's. Compiled for AVX-512 on its own (the rest of the build assumes no more
/// than the baseline instruction set) and called only where avx512_scan_available().
template <int64_t Size>
__attribute__((target("avx512f"))) void scan_entry_avx512(const LeafEntry& entry, const int32_t* rows, int64_t count,
                                                         const float* dv, int64_t n, bool strict, int64_t bound,
                                                         int64_t* np, Pending* out) {
  const __m512 lo = _mm512_set1_ps(entry.lo), hi = _mm512_set1_ps(entry.hi);
  const uint64_t top_bits = static_cast<uint64_t>(static_cast<uint32_t>(entry.top)) << 32;
  const __m512i top = _mm512_set1_epi64(static_cast<int64_t>(top_bits));
  for (int64_t q = 0; q < count; q += 16) {
    const __mmask16 valid = count - q >= 16 ? __mmask16(0xFFFF) : static_cast<__mmask16>((1u << (count - q)) - 1);
    const __m512i r = _mm512_maskz_loadu_epi32(valid, rows + q);
    // (row, top) pairs as Pending's memory layout on this little-endian target: row low, top high
    // (the zero-masking forms: the unmasked ones trip GCC's -Wuninitialized in its own header)
    const __m512i low =
        _mm512_or_si512(_mm512_maskz_cvtepu32_epi64(0xFF, _mm512_maskz_extracti64x4_epi64(0xF, r, 0)), top);
    const __m512i high =
        _mm512_or_si512(_mm512_maskz_cvtepu32_epi64(0xFF, _mm512_maskz_extracti64x4_epi64(0xF, r, 1)), top);
    for (int64_t i = 0; i < Size; ++i) {
      const __m512 u = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), valid, r, dv + i * n, 4);
      // ordered compares are false for NaN: NaN values (and NaN bounds) leave, as in scan_entry
      const __mmask16 keep = strict ? _mm512_cmp_ps_mask(lo, u, _CMP_LE_OQ) & _mm512_cmp_ps_mask(u, hi, _CMP_LT_OQ)
                                    : _mm512_cmp_ps_mask(lo, u, _CMP_LT_OQ) & _mm512_cmp_ps_mask(u, hi, _CMP_LE_OQ);
      const __mmask16 leave = valid & static_cast<__mmask16>(~keep);
      Pending* dst = out + i * bound + np[i];
      const __mmask8 leave_low = static_cast<__mmask8>(leave & 0xFF), leave_high = static_cast<__mmask8>(leave >> 8);
      _mm512_mask_compressstoreu_epi64(dst, leave_low, low);
      _mm512_mask_compressstoreu_epi64(dst + __builtin_popcount(leave_low), leave_high, high);
      np[i] += __builtin_popcount(leave);
    }
  }
}
#endif

/// Moves group g's repeats [rep0, rep1) through trees [t0, t1): every row that lands in another
/// leaf adds the leaf difference to its repeat's raw sums (trees in order, so the arithmetic does
/// not depend on chunking or grouping) and is marked in that repeat's `changed`.
template <typename Real>
void advance_group(const PermutationContext<Real>& ctx, const std::vector<TreeRows>& tables, int64_t t0, int64_t t1,
                   int64_t g, int64_t rep0, int64_t rep1, double* raw, uint8_t* changed, TaskScratch<Real>& s) {
  const ForestView& f = ctx.f;
  const PermutationInput& in = ctx.in;
  const int64_t n = in.n_rows, M = f.n_features, K = f.n_outputs;
  const int64_t* cols = in.group_columns + in.group_offsets[g];
  const int64_t n_cols = in.group_offsets[g + 1] - in.group_offsets[g];
  s.in_group.assign(static_cast<size_t>(M), 0);
  for (int64_t q = 0; q < n_cols; ++q) s.in_group[cols[q]] = 1;
  const bool strict = f.strict_less;
  if (n_cols == 1) {
    // The permuted column of each repeat, read in row order by the scans below.
    const Real* xj = ctx.XT.data() + cols[0] * n;
    s.donor_value.resize(static_cast<size_t>((rep1 - rep0) * n));
    for (int64_t rep = rep0; rep < rep1; ++rep) {
      const int64_t* perm = in.perms + rep * n;
      Real* dv = s.donor_value.data() + (rep - rep0) * n;
      for (int64_t r = 0; r < n; ++r) dv[r] = xj[perm[r]];
    }
  }
  const int64_t reps = rep1 - rep0;
#ifdef XPLAIN_AVX512_SCAN
  const bool use_avx512 = avx512_scan_available();
#endif
  auto changes_of = [&](int64_t t, const TreeRows& tr, int64_t rep) {
    return LeafChanges{in.value, f.value_width, K, f.tree_output[t], tr.leaf.data(),
                       raw + (rep - rep0) * n * K, changed + (rep - rep0) * n};
  };
  auto& pending = s.pending;
  for (int64_t t = t0; t < t1; ++t) {
    const TreeRows& tr = tables[t - t0];
    if (n_cols == 1) {
      // One pass over the tree's rows of column j for several repeats: repeat i's rows to
      // re-route are pending[i * bound, i * bound + np[i]).
      const int64_t j = cols[0];
      const int64_t bound = tr.rows_listed(j);
      if (bound == 0) continue;
      // Repeats in batches whose pending counts stay in registers.
      constexpr int64_t kBatch = 8;
      const int64_t batch = std::min(reps, kBatch);
      if (static_cast<int64_t>(pending.size()) < batch * bound) pending.resize(static_cast<size_t>(batch * bound));
      for (int64_t i0 = 0; i0 < reps; i0 += kBatch) {
        const int64_t m = std::min(kBatch, reps - i0);
        int64_t np[kBatch] = {};
        const Real* dv = s.donor_value.data() + i0 * n;
        // The batch size as a compile-time constant: the loop over it unrolls.
        auto scan = [&](auto batch_size) {
          constexpr int64_t size = decltype(batch_size)::value;
          for (int64_t e = tr.offset[j]; e < tr.offset[j + 1]; ++e) {
            const LeafEntry& entry = tr.entries[e];
            const int32_t* rows = tr.rows.data() + tr.row_start[entry.slot];
            const int64_t count = tr.row_start[entry.slot + 1] - tr.row_start[entry.slot];
#ifdef XPLAIN_AVX512_SCAN
            if constexpr (std::is_same<Real, float>::value) {
              if (use_avx512) {
                scan_entry_avx512<size>(entry, rows, count, dv, n, strict, bound, np, pending.data());
                continue;
              }
            }
#endif
            scan_entry<size>(entry, rows, count, dv, n, strict, bound, np, pending.data());
          }
        };
        switch (m) {
          case 1: scan(std::integral_constant<int64_t, 1>{}); break;
          case 2: scan(std::integral_constant<int64_t, 2>{}); break;
          case 3: scan(std::integral_constant<int64_t, 3>{}); break;
          case 4: scan(std::integral_constant<int64_t, 4>{}); break;
          case 5: scan(std::integral_constant<int64_t, 5>{}); break;
          case 6: scan(std::integral_constant<int64_t, 6>{}); break;
          case 7: scan(std::integral_constant<int64_t, 7>{}); break;
          default: scan(std::integral_constant<int64_t, kBatch>{}); break;
        }
        for (int64_t i = 0; i < m; ++i) {
          const int64_t rep = rep0 + i0 + i;
          const Donors<Real> donors{in.perms + rep * n, dv + i * n};
          reroute(ctx, pending.data() + i * bound, np[i], donors, j, s.in_group.data(), changes_of(t, tr, rep));
        }
      }
      continue;
    }
    // A row leaves its path if any column of the group leaves its interval; it is then re-routed
    // from the root with all of the group's columns taken from the donor row.
    const int32_t root = static_cast<int32_t>(f.tree_offset[t]);
    s.stamp.resize(static_cast<size_t>(n), 0);
    for (int64_t rep = rep0; rep < rep1; ++rep) {
      const int64_t* perm = in.perms + rep * n;
      pending.clear();
      for (int64_t c = 0; c < n_cols; ++c) {
        const Real* xc = ctx.XT.data() + cols[c] * n;
        for (int64_t e = tr.offset[cols[c]]; e < tr.offset[cols[c] + 1]; ++e) {
          const LeafEntry& entry = tr.entries[e];
          for (int32_t q = tr.row_start[entry.slot]; q < tr.row_start[entry.slot + 1]; ++q) {
            const int32_t r = tr.rows[q];
            if (s.stamp[r] || entry.keeps(xc[perm[r]], strict)) continue;
            s.stamp[r] = 1;
            pending.push_back({r, root});
          }
        }
      }
      for (const auto& p : pending) s.stamp[p.row] = 0;
      reroute(ctx, pending.data(), static_cast<int64_t>(pending.size()), Donors<Real>{perm, nullptr}, -1,
              s.in_group.data(), changes_of(t, tr, rep));
    }
  }
}

/// Rows of a task whose class or ROC rank could depend on the last bits of their delta-updated
/// raw sums (within 2 x tie_bound of a tie), among the changed ones.
template <typename Real>
void rows_near_ties(const PermutationContext<Real>& ctx, const ScoringSpec& spec, const double* raw,
                           const uint8_t* changed, std::vector<uint8_t>& redo) {
  const int64_t n = ctx.in.n_rows, K = ctx.f.n_outputs;
  const double B = ctx.tie_bound;
  redo.assign(static_cast<size_t>(n), 0);
  bool class_ties = false, rank_ties = false;
  for (int m : spec.metrics) {
    class_ties |= m == kAccuracy || m == kBalancedAccuracy;
    rank_ties |= m == kRocAuc || m == kRocAucOvr;
  }
  if (class_ties)
    for (int64_t r = 0; r < n; ++r) {
      if (!changed[r]) continue;
      const double* o = raw + r * K;
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
    // Rows whose exact raw output k is equal are within 2B of each other in output k (the ROC
    // score of class k is a function of it): in every run of such near neighbours holding a
    // changed row, redo the changed ones.
    std::vector<int32_t> order(static_cast<size_t>(n));
    for (int64_t k = 0; k < K; ++k) {
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return raw[a * K + k] < raw[b * K + k]; });
      for (int64_t a = 0; a < n;) {
        int64_t b = a + 1;
        while (b < n && raw[order[b] * K + k] - raw[order[b - 1] * K + k] <= 2.0 * B) ++b;
        if (b - a > 1)
          for (int64_t q = a; q < b; ++q)
            if (changed[order[q]]) redo[order[q]] = 1;
        a = b;
      }
    }
  }
}

}  // namespace detail

namespace detail {

/// Scores of one (group, repeat) from its delta-updated raw sums (modified in place).
template <typename Real>
void score_repeat(const PermutationContext<Real>& ctx, const ScoringSpec& spec, const std::vector<double>& base_scores,
                  int64_t g, int64_t rep, double* raw, const uint8_t* changed, double* scores) {
  const ForestView& f = ctx.f;
  const PermutationInput& in = ctx.in;
  const int64_t n = in.n_rows, T = f.n_trees, M = f.n_features, K = f.n_outputs, W = f.value_width;
  if (std::none_of(changed, changed + n, [](uint8_t c) { return c != 0; })) {
    std::copy(base_scores.begin(), base_scores.end(), scores);
    return;
  }
  if (in.exact_order) {
    // Rows whose class or rank could depend on the last bits: sum them in tree order.
    std::vector<uint8_t> redo;
    rows_near_ties(ctx, spec, raw, changed, redo);
    const int64_t* perm = in.perms + rep * n;
    std::vector<uint8_t> in_group(static_cast<size_t>(M), 0);
    for (int64_t q = in.group_offsets[g]; q < in.group_offsets[g + 1]; ++q) in_group[in.group_columns[q]] = 1;
    for (int64_t r = 0; r < n; ++r) {
      if (!redo[r]) continue;
      const Real* xo = ctx.XP.data() + r * M;
      const Real* xd = ctx.XP.data() + perm[r] * M;
      double* orow = raw + r * K;
      for (int64_t k = 0; k < K; ++k) orow[k] = f.base_value[k];
      for (int64_t t = 0; t < T; ++t) {
        const double* v = in.value + ctx.walk(f.tree_offset[t], xo, xd, in_group.data()) * W;
        double* ot = orow + f.tree_output[t];
        for (int64_t q = 0; q < W; ++q) ot[q] += v[q];
      }
    }
  }
  ScoreScratch scratch;
  score_raw(spec, raw, n, K, scores, scratch);
}

/// permutation_scores after validation, with prepared rows stored as Real.
template <typename Real>
void permutation_scores_impl(const ForestView& f, const PermutationInput& in, const ScoringSpec& targets, double* out,
                             double* baseline_out, int n_jobs, const std::function<bool()>& interrupted,
                             int64_t task_memory_bytes) {
  ScoringSpec spec = targets;  // with what every scoring would otherwise recompute
  if (!spec.classifier && std::count(spec.metrics.begin(), spec.metrics.end(), kR2)) {
    ScoreScratch scratch;
    spec.r2_denominator = r2_denominator(spec, in.n_rows, scratch);
  }
  const int64_t n = in.n_rows, T = f.n_trees, M = f.n_features, K = f.n_outputs, W = f.value_width;
  const int64_t R = in.n_repeats, G = in.n_groups;
  const int64_t n_metrics = static_cast<int64_t>(spec.metrics.size());
  PermutationContext<Real> ctx(f, in);
  bool lanes_apply = true;  // numeric splits with NaN -> default or NaN -> 0
  for (int64_t v = 0; v < f.n_nodes; ++v)
    lanes_apply &= !(f.cat_offset && f.cat_offset[v] >= 0) && !(f.missing_rule && f.missing_rule[v] == kNaNOrZeroDefault);
  if (lanes_apply) {
    ctx.lane_nodes.resize(static_cast<size_t>(f.n_nodes));
    ctx.lane_nan.resize(static_cast<size_t>(f.n_nodes));
    for (int64_t v = 0; v < f.n_nodes; ++v) {
      const int32_t self = static_cast<int32_t>(v);
      const bool leaf = f.left[v] < 0;
      Real threshold = 0;
      if (!leaf && std::is_same<Real, float>::value)
        threshold = static_cast<Real>(f.strict_less ? float_at_least(f.threshold[v]) : float_at_most(f.threshold[v]));
      else if (!leaf)
        threshold = static_cast<Real>(f.threshold[v]);
      ctx.lane_nodes[v] = {threshold, {leaf ? self : f.left[v], leaf ? self : f.right[v]}, leaf ? 0 : f.feature[v]};
      const uint8_t rule = f.missing_rule ? f.missing_rule[v] : static_cast<uint8_t>(kNaNDefault);
      ctx.lane_nan[v] = static_cast<uint8_t>((rule == kNaNDefault && f.default_left[v] ? kLaneNaNLeft : 0) |
                                             (rule == kNaNAsZero ? kLaneNaNZero : 0));
    }
    ctx.lane_height.assign(static_cast<size_t>(f.n_nodes), 0);
    for (int64_t v = f.n_nodes - 1; v >= 0; --v)  // children come after their parents
      if (f.left[v] >= 0) ctx.lane_height[v] = 1 + std::max(ctx.lane_height[f.left[v]], ctx.lane_height[f.right[v]]);
  }
  ctx.no_group.assign(static_cast<size_t>(M), 0);
  ctx.XP.resize(static_cast<size_t>(n * M));
  ctx.XT.resize(static_cast<size_t>(n * M));
  {
    const int64_t n_chunks = (n + kRowChunk - 1) / kRowChunk;
    std::vector<uint8_t> chunk_has_nan(static_cast<size_t>(n_chunks), 0);
    parallel_for_chunks(
        n_chunks, resolve_threads(n_jobs, n_chunks),
        [&](int64_t chunk) {
          bool nan = false;
          for (int64_t r = chunk * kRowChunk; r < std::min(n, (chunk + 1) * kRowChunk); ++r)
            for (int64_t j = 0; j < M; ++j) {
              const Real x = static_cast<Real>(f.prepare(in.X[r * M + j]));
              ctx.XT[j * n + r] = ctx.XP[r * M + j] = x;
              nan |= x != x;
            }
          chunk_has_nan[chunk] = nan;
        },
        interrupted);
    ctx.rows_have_nan = std::any_of(chunk_has_nan.begin(), chunk_has_nan.end(), [](uint8_t c) { return c != 0; });
  }
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
    ctx.tie_bound = 8.0 * static_cast<double>(2 * T + 4) * std::numeric_limits<double>::epsilon() * mag;
  }
  // Tree chunks: about kChunkNodeBytes of lane nodes (the re-routing working set), and at most
  // kChunkTableBytes of tree tables (rows and leaves: 8 n bytes; leaf entries: at most
  // 16 x leaves x path length) at once.
  constexpr int64_t kChunkNodeBytes = int64_t{768} << 10;
  constexpr int64_t kChunkTableBytes = int64_t{64} << 20;
  ctx.base_raw.resize(static_cast<size_t>(n * K));
  // The baseline pass keeps the rows' leaves for the tree tables if they fit (in a chunk's table
  // budget and the task budget), saving a second walk.
  if (T * n * static_cast<int64_t>(sizeof(int32_t)) <= std::min(kChunkTableBytes, task_memory_bytes))
    ctx.tree_leaf.resize(static_cast<size_t>(T * n));
  {
    // base + the trees' values in tree order, as predict_raw adds them
    const int64_t n_chunks = (n + kRowChunk - 1) / kRowChunk;
    parallel_for_chunks(
        n_chunks, resolve_threads(n_jobs, n_chunks),
        [&](int64_t chunk) {
          const int64_t r0 = chunk * kRowChunk, r1 = std::min(n, r0 + kRowChunk);
          std::vector<int32_t> own_leaf(ctx.tree_leaf.empty() ? static_cast<size_t>(r1 - r0) : 0);
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t k = 0; k < K; ++k) ctx.base_raw[r * K + k] = f.base_value[k];
          for (int64_t t = 0; t < T; ++t) {
            int32_t* leaf = ctx.tree_leaf.empty() ? own_leaf.data() : ctx.tree_leaf.data() + t * n + r0;
            ctx.baseline_leaves(t, r0, r1, leaf);
            for (int64_t r = r0; r < r1; ++r) {
              const double* v = in.value + static_cast<int64_t>(leaf[r - r0]) * W;
              double* o = ctx.base_raw.data() + r * K + f.tree_output[t];
              for (int64_t c = 0; c < W; ++c) o[c] += v[c];
            }
          }
        },
        interrupted);
  }
  // A task that changes no leaf scores the baseline rows.
  std::vector<double> base_scores(static_cast<size_t>(n_metrics));
  {
    ScoreScratch scratch;
    score_raw(spec, ctx.base_raw.data(), n, K, base_scores.data(), scratch);
  }
  if (baseline_out) std::copy(base_scores.begin(), base_scores.end(), baseline_out);

  std::vector<int64_t> chunk_start{0};
  {
    std::vector<int32_t> depth(static_cast<size_t>(f.n_nodes), 0);  // parents come before children
    for (int64_t v = 0; v < f.n_nodes; ++v)
      if (f.left[v] >= 0) depth[f.left[v]] = depth[f.right[v]] = depth[v] + 1;
    int64_t node_bytes = 0, table_bytes = 0;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t nodes = f.tree_offset[t + 1] - f.tree_offset[t];
      const int64_t b = nodes * static_cast<int64_t>(sizeof(LaneNode<Real>));
      const int64_t path = std::min<int64_t>(
          *std::max_element(depth.begin() + f.tree_offset[t], depth.begin() + f.tree_offset[t + 1]), M);
      const int64_t e = 8 * n + 4 * nodes + 16 * ((nodes + 1) / 2) * path;
      if (t > chunk_start.back() && (node_bytes + b > kChunkNodeBytes || table_bytes + e > kChunkTableBytes)) {
        chunk_start.push_back(t);
        node_bytes = table_bytes = 0;
      }
      node_bytes += b;
      table_bytes += e;
    }
    chunk_start.push_back(T);
  }

  // Units of work: a group with a block of its repeats (all of them unless there are too few
  // groups to keep the threads busy, or their raw sums would not fit in task_memory_bytes); their
  // results do not depend on this split.
  const int64_t task_bytes = n * (K * static_cast<int64_t>(sizeof(double)) + 1);
  int64_t reps_per_unit = std::max<int64_t>(1, R / std::max<int64_t>(1, std::min<int64_t>(R, (8 + G - 1) / G)));
  reps_per_unit = std::max<int64_t>(1, std::min(reps_per_unit, task_memory_bytes / task_bytes));
  const int64_t units_per_group = (R + reps_per_unit - 1) / reps_per_unit;
  const int64_t n_units = G * units_per_group;
  // Blocks of units whose raw sums fit in task_memory_bytes.
  const int64_t unit_bytes = reps_per_unit * task_bytes;
  const int64_t block = std::max<int64_t>(1, std::min<int64_t>(n_units, task_memory_bytes / unit_bytes));
  const int64_t n_chunks = static_cast<int64_t>(chunk_start.size()) - 1;
  auto unit_range = [&](int64_t u, int64_t& g, int64_t& rep0, int64_t& rep1) {
    g = u / units_per_group;
    rep0 = (u % units_per_group) * reps_per_unit;
    rep1 = std::min(R, rep0 + reps_per_unit);
  };
  // The raw sums of a unit's repeats live from its first tree chunk to its last, where the unit
  // scores them: with one chunk (most forests) all in one task, while they are in cache.
  struct UnitSums {
    std::vector<double> raw;       ///< [repeats, n, K]
    std::vector<uint8_t> changed;  ///< [repeats, n]
  };
  std::vector<TreeRows> tables;
  for (int64_t unit0 = 0; unit0 < n_units; unit0 += block) {
    const int64_t unit1 = std::min(n_units, unit0 + block);
    std::vector<UnitSums> sums(static_cast<size_t>(unit1 - unit0));
    for (int64_t c = 0; c < n_chunks; ++c) {
      const int64_t t0 = chunk_start[c], t1 = chunk_start[c + 1];
      if (unit0 == 0 || n_chunks > 1) {  // one chunk: its tables serve every block
        tables.resize(static_cast<size_t>(t1 - t0));
        parallel_for_chunks(
            t1 - t0, resolve_threads(n_jobs, t1 - t0),
            [&](int64_t i) {
              std::vector<LeafFeature> leaf_features;
              std::vector<int64_t> lf_offset;
              build_tree_rows(ctx, t0 + i, tables[i], leaf_features, lf_offset);
            },
            interrupted);
      }
      // The costliest units first (rows their columns list in these trees, times their repeats),
      // so that no thread is left with a long unit at the end. Only the order of work changes.
      std::vector<int64_t> order(static_cast<size_t>(unit1 - unit0)), cost(order.size(), 0);
      for (int64_t b = 0; b < unit1 - unit0; ++b) {
        int64_t g, rep0, rep1;
        unit_range(unit0 + b, g, rep0, rep1);
        for (int64_t q = in.group_offsets[g]; q < in.group_offsets[g + 1]; ++q)
          for (const TreeRows& tr : tables) cost[b] += tr.rows_listed(in.group_columns[q]);
        cost[b] *= rep1 - rep0;
      }
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cost[a] > cost[b]; });
      parallel_for_chunks(
          unit1 - unit0, resolve_threads(n_jobs, unit1 - unit0),
          [&](int64_t position) {
            const int64_t b = order[position];
            int64_t g, rep0, rep1;
            unit_range(unit0 + b, g, rep0, rep1);
            UnitSums& us = sums[static_cast<size_t>(b)];
            if (c == 0) {
              us.raw.resize(static_cast<size_t>((rep1 - rep0) * n * K));
              for (int64_t rep = rep0; rep < rep1; ++rep)
                std::copy(ctx.base_raw.begin(), ctx.base_raw.end(), us.raw.begin() + (rep - rep0) * n * K);
              us.changed.assign(static_cast<size_t>((rep1 - rep0) * n), 0);
            }
            TaskScratch<Real> scratch;
            advance_group(ctx, tables, t0, t1, g, rep0, rep1, us.raw.data(), us.changed.data(), scratch);
            if (c + 1 < n_chunks) return;
            for (int64_t rep = rep0; rep < rep1; ++rep)
              score_repeat(ctx, spec, base_scores, g, rep, us.raw.data() + (rep - rep0) * n * K,
                           us.changed.data() + (rep - rep0) * n, out + (g * R + rep) * n_metrics);
            us = UnitSums{};  // free it for the next unit
          },
          interrupted);
    }
  }
}

}  // namespace detail

/// Whether permutation_scores scans float rows with AVX-512 on this CPU (else the portable scan;
/// both give the same pending rows in the same order, hence the same bits).
inline bool permutation_scan_uses_avx512() {
#ifdef XPLAIN_AVX512_SCAN
  return detail::avx512_scan_available();
#else
  return false;
#endif
}

/// Scores after permuting each column group, for every (group, repeat):
/// out[(g * n_repeats + r) * n_metrics + m], and the unpermuted rows' scores in baseline_out
/// (n_metrics, if not null). Throws std::invalid_argument on bad input.
///
/// Trees are visited in chunks small enough to stay in cache: for each chunk, every tree's rows
/// are routed and indexed by feature once (in parallel over trees), then every task moves through
/// the chunk (in parallel over tasks). Each task owns its raw sums, updated in tree order, so the
/// result does not depend on the chunking or on n_jobs. Tasks are processed in blocks whose raw
/// sums fit in `task_memory_bytes`.
inline void permutation_scores(const ForestView& f, const PermutationInput& in, const ScoringSpec& spec,
                               double* out, double* baseline_out, int n_jobs,
                               const std::function<bool()>& interrupted = {},
                               int64_t task_memory_bytes = int64_t{256} << 20) {
  const int64_t n = in.n_rows, M = f.n_features;
  const int64_t R = in.n_repeats, G = in.n_groups;
  if (n < 1) throw std::invalid_argument("permutation importance needs at least one row");
  if (n > std::numeric_limits<int32_t>::max()) throw std::invalid_argument("too many rows for one call");
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

  if (f.float32_input)
    detail::permutation_scores_impl<float>(f, in, spec, out, baseline_out, n_jobs, interrupted, task_memory_bytes);
  else
    detail::permutation_scores_impl<double>(f, in, spec, out, baseline_out, n_jobs, interrupted, task_memory_bytes);
}

}  // namespace xplain
