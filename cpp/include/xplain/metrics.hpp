// The scikit-learn metrics of permutation importance, computed from a model's raw sums: how raw
// output becomes predictions (link, averaging divisor, predict rule), the scorers, and what to
// score (ScoringSpec, validated by ScoringSpec::check).
//
// The formulas and summation order follow scikit-learn's (numpy's pairwise sum, roc_curve with
// drop_intermediate, the trapezoid rule), so the scores agree with it to float64 round-off.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "names.hpp"

namespace xplain {

/// How the raw output becomes predictions.
enum class Link : int {
  identity,  ///< regression: prediction = raw
  exp,       ///< regression: prediction = exp(raw)
  logistic,  ///< binary classifier: p1 = 1 / (1 + exp(-raw)), p0 = 1 - p1
  softmax,   ///< multiclass classifier: softmax(raw)
  proba      ///< classifier whose raw output already is the class probabilities
};
inline constexpr NamedValue<Link> kLinkNames[] = {{"identity", Link::identity},
                                                  {"exp", Link::exp},
                                                  {"logistic", Link::logistic},
                                                  {"softmax", Link::softmax},
                                                  {"proba", Link::proba}};

/// Which class `predict` returns.
enum class PredictRule : int {
  argmax,           ///< classes_[argmax(predict_proba)] (first maximum)
  raw_positive,     ///< binary: raw > 0; multiclass: argmax(raw) (HistGradientBoosting)
  raw_non_negative  ///< binary: raw >= 0; multiclass: argmax(raw) (GradientBoosting)
};
inline constexpr NamedValue<PredictRule> kPredictRuleNames[] = {{"argmax", PredictRule::argmax},
                                                                {"raw_positive", PredictRule::raw_positive},
                                                                {"raw_non_negative", PredictRule::raw_non_negative}};

/// The scikit-learn scorers computed natively, named as scikit-learn names them; scores carry
/// the scorer's sign.
enum class Metric : int {
  r2,
  neg_mean_squared_error,
  neg_root_mean_squared_error,
  neg_mean_absolute_error,
  accuracy,
  balanced_accuracy,
  neg_log_loss,
  roc_auc,     ///< binary; scores from decision_function (raw) or predict_proba[:, 1]
  roc_auc_ovr  ///< macro one-vs-rest on predict_proba (binary: as roc_auc on p1)
};
inline constexpr NamedValue<Metric> kMetricNames[] = {
    {"r2", Metric::r2},
    {"neg_mean_squared_error", Metric::neg_mean_squared_error},
    {"neg_root_mean_squared_error", Metric::neg_root_mean_squared_error},
    {"neg_mean_absolute_error", Metric::neg_mean_absolute_error},
    {"accuracy", Metric::accuracy},
    {"balanced_accuracy", Metric::balanced_accuracy},
    {"neg_log_loss", Metric::neg_log_loss},
    {"roc_auc", Metric::roc_auc},
    {"roc_auc_ovr", Metric::roc_auc_ovr}};

/// Whether a metric scores regression predictions (else class predictions or probabilities).
inline bool is_regression_metric(Metric m) {
  return m == Metric::r2 || m == Metric::neg_mean_squared_error || m == Metric::neg_root_mean_squared_error ||
         m == Metric::neg_mean_absolute_error;
}

/// What to score and how: the target, weights, link and metrics.
struct ScoringSpec {
  bool classifier = false;
  Link link = Link::identity;
  double divisor = 1.0;          ///< raw sums are divided by this before the link (forest averaging)
  PredictRule predict_rule = PredictRule::argmax;
  bool auc_uses_raw = false;     ///< binary roc_auc on the decision function (the raw margin)
  /// The library returns float32 predictions (XGBoost): round like it. Such a model's own
  /// arithmetic is float32, so permutation importance skips the exact re-sum of near ties
  /// (exact_order() is false): the float64 tree order buys nothing there.
  bool float32_output = false;
  int64_t n_classes = 0;
  std::vector<Metric> metrics;
  const double* y = nullptr;        ///< regression targets [y_size]
  const int32_t* y_class = nullptr; ///< index into classes_ per row [y_class_size] (classification)
  const double* sample_weight = nullptr;  ///< [sample_weight_size] or null
  int64_t y_size = 0, y_class_size = 0, sample_weight_size = 0;
  /// r2_denominator of these targets, when computed once for many scorings.
  std::optional<double> r2_denominator;

  /// Whether rows whose class or rank could tie are re-summed in tree order (see above).
  bool exact_order() const { return !float32_output; }

  /// Throws std::invalid_argument unless this spec can score n_rows rows of a model with
  /// n_outputs raw outputs.
  void check(int64_t n_rows, int64_t n_outputs) const {
    auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
    auto per_row = [n_rows, &fail](const void* data, int64_t size, const char* name) {
      if (data && size != n_rows)
        fail(std::string(name) + " has " + std::to_string(size) + " entries, expected one per row (" +
             std::to_string(n_rows) + ")");
    };
    if (n_rows < 1) fail("scoring needs at least one row");
    if (metrics.empty()) fail("no metric to compute");
    for (Metric m : metrics) {
      if (!is_listed(kMetricNames, m)) fail("unknown metric " + name_of(kMetricNames, m));
      if (is_regression_metric(m) == classifier)
        fail("metric " + name_of(kMetricNames, m) + (classifier ? " needs a regressor" : " needs a classifier"));
    }
    if (!is_listed(kPredictRuleNames, predict_rule)) fail("unknown predict rule " + name_of(kPredictRuleNames, predict_rule));
    if (!(divisor > 0.0) || !std::isfinite(divisor)) fail("divisor must be positive and finite");
    per_row(y, y_size, "y");
    per_row(y_class, y_class_size, "y_class");
    per_row(sample_weight, sample_weight_size, "sample_weight");
    if (classifier) {
      if (link != Link::logistic && link != Link::softmax && link != Link::proba)
        fail("a classifier needs the logistic, softmax or proba link, not " + name_of(kLinkNames, link));
      if (n_classes < 2 || !y_class) fail("a classifier needs n_classes >= 2 and y_class");
      if (link == Link::logistic ? (n_classes != 2 || n_outputs != 1) : n_outputs != n_classes)
        fail("the " + name_of(kLinkNames, link) + " link does not fit " + std::to_string(n_classes) +
             " classes and " + std::to_string(n_outputs) + " raw outputs");
      for (int64_t i = 0; i < n_rows; ++i)
        if (y_class[i] < 0 || y_class[i] >= n_classes)
          fail("y_class[" + std::to_string(i) + "] = " + std::to_string(y_class[i]) + " is outside [0, " +
               std::to_string(n_classes) + ")");
    } else {
      if (link != Link::identity && link != Link::exp)
        fail("a regressor needs the identity or exp link, not " + name_of(kLinkNames, link));
      if (!y) fail("a regressor needs y");
      if (n_outputs != 1) fail("a regressor is scored on one raw output, not " + std::to_string(n_outputs));
    }
  }
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

/// One row on a ROC curve: `key` orders its score (ascending keys: descending scores, equal keys:
/// equal scores), then the row and whether it is a positive.
struct RocItem {
  uint64_t key;
  int32_t row;
  uint8_t positive;
};

/// Scratch buffers of one scoring call (one per task: nothing is shared between threads).
struct ScoreScratch {
  std::vector<double> pred, proba, terms, terms2, score, fps, tps;
  std::vector<int32_t> label;
  std::vector<int64_t> order;
  std::vector<uint8_t> positive;
  // scoring against a baseline (ChangedRows): the changed rows, their probabilities [c, C] and
  // classes, their ROC items (sorted, with a buffer and histograms for the sort), and the
  // baseline ROC items of the unchanged rows (indices)
  std::vector<int64_t> changed_rows;
  std::vector<double> changed_proba;
  std::vector<int32_t> changed_label;
  std::vector<RocItem> moved, moved_tmp;
  std::vector<int32_t> kept;
  std::vector<uint32_t> histogram;
};

/// What scoring a classifier's raw sums that equal a scored baseline's except at some rows can
/// reuse (permutation importance scores thousands of such variants): the baseline's classes,
/// log-loss terms and ROC orders. Built by baseline_scores().
struct BaselineScores {
  /// The rows of one class's ROC curve as items in roc order, so that a merge reads them
  /// sequentially.
  struct RocOrder {
    std::vector<RocItem> item;  ///< [rows in roc order]
    bool both_classes = false;  ///< positive and negative rows are scored (else ROC AUC is NaN)
  };
  std::vector<double> log_loss_terms;         ///< [n]
  std::vector<int32_t> label;                 ///< [n]
  int64_t n_correct = 0;                      ///< rows whose label is their class
  /// roc order of each scored class, [0]: of probabilities, [1]: of raw margins (binary roc_auc
  /// on the decision function)
  std::vector<RocOrder> roc_orders[2];
};

/// Raw sums that differ from `base`'s only at the rows marked in `changed`.
struct ChangedRows {
  const BaselineScores& base;
  const uint8_t* changed;
};

namespace detail {

/// np.average(a, weights=w) for a contiguous a of length n.
inline double np_average(const double* a, const double* w, int64_t n, ScoreScratch& s) {
  if (!w) return np_sum(a, n) / static_cast<double>(n);
  s.terms2.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) s.terms2[i] = a[i] * w[i];
  return np_sum(s.terms2.data(), n) / np_sum(w, n);
}

/// The rows roc_curve walks, in its order: those with nonzero weight, by descending score, ties in
/// ascending row order (numpy's stable descending argsort).
inline bool roc_before(const double* score, int64_t a, int64_t b) {
  return score[a] > score[b] || (score[a] == score[b] && a < b);
}

inline void roc_order(const double* score, const double* w, int64_t n, std::vector<int64_t>& order) {
  order.clear();
  for (int64_t i = 0; i < n; ++i)
    if (!w || w[i] != 0.0) order.push_back(i);
  std::sort(order.begin(), order.end(), [score](int64_t a, int64_t b) { return roc_before(score, a, b); });
}

/// roc_curve's points (fps, tps) before drop_intermediate, with the prepended (0, 0): the
/// weighted false and true positives at each distinct score, descending, for the rows in roc
/// order. False if a class is missing.
inline bool roc_points(const double* score, const uint8_t* positive, const double* w, const std::vector<int64_t>& order,
                       ScoreScratch& s) {
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
  return any_pos && any_neg;
}

/// roc_curve's drop_intermediate on s.fps / s.tps: keeps the corners of the curve (the points
/// after the prepended one where the slope changes).
inline void drop_intermediate(ScoreScratch& s) {
  auto& fps = s.fps;
  auto& tps = s.tps;
  const int64_t P = static_cast<int64_t>(fps.size()) - 1;  // the curve without the prepended point: 1..P
  if (P <= 2) return;
  int64_t out = 2;  // keep the prepended point and the first threshold
  for (int64_t j = 2; j < P; ++j) {
    const double d2f = (fps[j + 1] - fps[j]) - (fps[j] - fps[j - 1]);
    const double d2t = (tps[j + 1] - tps[j]) - (tps[j] - tps[j - 1]);
    // written always and kept by advancing, without a branch: whether the slope changes is a coin
    // toss (index out <= j, and j - 1 is not read again once j has been)
    fps[out] = fps[j];
    tps[out] = tps[j];
    out += (d2f != 0.0) | (d2t != 0.0);
  }
  fps[out] = fps[P];
  tps[out] = tps[P];
  fps.resize(static_cast<size_t>(out + 1));
  tps.resize(static_cast<size_t>(out + 1));
}

/// sklearn's binary ROC AUC of the points in s.fps / s.tps (roc_points): drop_intermediate, then
/// the trapezoid rule.
inline double roc_auc_of_points(ScoreScratch& s) {
  drop_intermediate(s);
  const auto& fps = s.fps;
  const auto& tps = s.tps;
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

/// sklearn's binary ROC AUC (roc_curve with drop_intermediate, then the trapezoid rule) of the
/// rows in roc order. positive[i] in {0,1}; returns NaN when a class is missing (sklearn warns and returns NaN).
inline double binary_roc_auc(const double* score, const uint8_t* positive, const double* w,
                             const std::vector<int64_t>& order, ScoreScratch& s) {
  if (!roc_points(score, positive, w, order, s)) return std::numeric_limits<double>::quiet_NaN();
  return roc_auc_of_points(s);
}

/// A key whose ascending unsigned order is descending score (0.0 and -0.0 alike).
inline uint64_t descending_score_key(double x) {
  if (x == 0.0) x = 0.0;
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const uint64_t ascending = (bits >> 63) ? ~bits : bits | (uint64_t{1} << 63);
  return ~ascending;
}

/// The ROC item of row i.
inline RocItem roc_item(int64_t i, double score, bool positive) {
  return RocItem{descending_score_key(score), static_cast<int32_t>(i), static_cast<uint8_t>(positive)};
}

/// Sorts ROC items given in ascending row order into roc order (descending score, ties by
/// ascending row): a stable LSD radix sort of the keys, 11 bits a pass, skipping the passes
/// whose digit every key shares (probabilities rounded to float32 share their low bits).
inline void sort_roc_items(std::vector<RocItem>& items, std::vector<RocItem>& tmp, std::vector<uint32_t>& histogram) {
  constexpr int kBits = 11, kPasses = 6;  // 6 x 11 >= 64
  constexpr uint64_t kMask = (uint64_t{1} << kBits) - 1;
  const size_t c = items.size();
  if (c < 256) {
    std::sort(items.begin(), items.end(),
              [](const RocItem& a, const RocItem& b) { return a.key < b.key || (a.key == b.key && a.row < b.row); });
    return;
  }
  histogram.assign(static_cast<size_t>(kPasses) << kBits, 0);
  for (const RocItem& it : items)
    for (int p = 0; p < kPasses; ++p) ++histogram[(static_cast<size_t>(p) << kBits) + ((it.key >> (p * kBits)) & kMask)];
  tmp.resize(c);
  for (int p = 0; p < kPasses; ++p) {
    uint32_t* h = histogram.data() + (static_cast<size_t>(p) << kBits);
    if (h[(items[0].key >> (p * kBits)) & kMask] == c) continue;  // one digit: the pass keeps the order
    uint32_t offset = 0;
    for (uint64_t d = 0; d <= kMask; ++d) {
      const uint32_t count = h[d];
      h[d] = offset;
      offset += count;
    }
    for (const RocItem& it : items) tmp[h[(it.key >> (p * kBits)) & kMask]++] = it;
    items.swap(tmp);
  }
}

/// roc_points of scores that equal the baseline's (`base`, in roc order) except at the changed
/// rows, whose items `moved` are in roc order: the baseline's unchanged rows and the moved ones
/// are merged, and the points taken, in sequential passes without data-dependent branches
/// (whether a row is changed, or which sequence comes next, is a coin toss). False if a class is
/// missing.
inline bool roc_points_merged(const BaselineScores::RocOrder& base, const uint8_t* changed,
                              const std::vector<RocItem>& moved, const double* w, ScoreScratch& s) {
  const RocItem* bi = base.item.data();
  const size_t nb = base.item.size(), nm = moved.size();
  auto& kept = s.kept;  // the baseline items of unchanged rows, by index
  kept.resize(nb);
  size_t nk = 0;
  for (size_t k = 0; k < nb; ++k) {
    kept[nk] = static_cast<int32_t>(k);
    nk += !changed[bi[k].row];
  }
  const size_t total = nk + nm;
  auto& fps = s.fps;
  auto& tps = s.tps;
  fps.resize(total + 2);
  tps.resize(total + 2);
  fps[0] = tps[0] = 0.0;  // the extra (0, 0) point roc_curve prepends
  size_t a = 0, b = 0, p = 1;
  double tp = 0.0, fp = 0.0;
  uint64_t last = 0;
  const RocItem* mv = moved.data();
  const RocItem end{};  // read past either sequence's end; never taken
  for (size_t o = 0; o < total; ++o) {
    const RocItem& x = a < nm ? mv[a] : end;
    const RocItem& y = b < nk ? bi[kept[b]] : end;
    const bool take_moved = (b >= nk) | ((a < nm) & ((x.key < y.key) | ((x.key == y.key) & (x.row < y.row))));
    const RocItem& it = take_moved ? x : y;
    a += take_moved;
    b += !take_moved;
    // a point closes where the score changes, before this row
    tps[p] = tp;
    fps[p] = w ? fp : static_cast<double>(o) - tp;
    p += (o > 0) & (it.key != last);
    last = it.key;
    if (w) {
      const double weight = w[it.row];
      tp += it.positive ? weight : 0.0;
      fp += it.positive ? 0.0 : weight;
    } else {
      tp += it.positive;
    }
  }
  if (total > 0) {
    tps[p] = tp;
    fps[p] = w ? fp : static_cast<double>(total) - tp;
    ++p;
  }
  fps.resize(p);
  tps.resize(p);
  return base.both_classes;
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

namespace detail {

/// A regressor's predictions of the raw sums raw[n, K] (output 0) into s.pred.
inline void regression_predictions(const ScoringSpec& spec, const double* raw, int64_t n, int64_t K, ScoreScratch& s) {
  const double div = spec.divisor;
  auto& p = s.pred;
  p.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const double r = div == 1.0 ? raw[i * K] : raw[i * K] / div;
    p[i] = spec.link == Link::exp ? std::exp(r) : r;
    if (spec.float32_output) p[i] = static_cast<float>(p[i]);
  }
}

/// One regression metric of the predictions in s.pred.
inline double regression_score(const ScoringSpec& spec, Metric metric, int64_t n, ScoreScratch& s) {
  const double* w = spec.sample_weight;
  const double* y = spec.y;
  const auto& p = s.pred;
  auto& t = s.terms;
  t.resize(static_cast<size_t>(n));
  switch (metric) {
    case Metric::r2: {
      for (int64_t i = 0; i < n; ++i) {
        const double d = y[i] - p[i];
        t[i] = (w ? w[i] : 1.0) * (d * d);
      }
      const double num = np_sum(t.data(), n);
      const double den = spec.r2_denominator ? *spec.r2_denominator : r2_denominator(spec, n, s);
      if (den != 0.0 && num != 0.0) return 1.0 - num / den;
      return (num != 0.0 && den == 0.0) ? 0.0 : 1.0;
    }
    case Metric::neg_mean_squared_error:
    case Metric::neg_root_mean_squared_error: {
      for (int64_t i = 0; i < n; ++i) {
        const double d = y[i] - p[i];
        t[i] = d * d;
      }
      const double mse = np_average(t.data(), w, n, s);
      return metric == Metric::neg_mean_squared_error ? -mse : -std::sqrt(mse);
    }
    case Metric::neg_mean_absolute_error: {
      for (int64_t i = 0; i < n; ++i) t[i] = std::fabs(p[i] - y[i]);
      return -np_average(t.data(), w, n, s);
    }
    default:
      throw std::invalid_argument("metric " + name_of(kMetricNames, metric) + " needs a classifier");
  }
}

/// Class probabilities pr[C] of one row's raw sums r[K].
inline void class_probabilities(const ScoringSpec& spec, const double* r, int64_t C, double* pr) {
  const double div = spec.divisor;
  if (spec.link == Link::logistic) {
    const double r0 = div == 1.0 ? r[0] : r[0] / div;
    if (spec.float32_output) {
      const float p1 = 1.0f / (1.0f + std::exp(-static_cast<float>(r0)));
      pr[1] = p1;
      pr[0] = 1.0f - p1;
    } else {
      pr[1] = expit(r0);
      pr[0] = 1.0 - pr[1];
    }
  } else if (spec.link == Link::softmax) {
    double mx = r[0] / div;
    for (int64_t k = 1; k < C; ++k) mx = std::max(mx, div == 1.0 ? r[k] : r[k] / div);
    for (int64_t k = 0; k < C; ++k) pr[k] = std::exp((div == 1.0 ? r[k] : r[k] / div) - mx);
    const double sum = np_sum(pr, C);
    for (int64_t k = 0; k < C; ++k) pr[k] /= sum;
    if (spec.float32_output)
      for (int64_t k = 0; k < C; ++k) pr[k] = static_cast<float>(pr[k]);
  } else {  // Link::proba
    for (int64_t k = 0; k < C; ++k) pr[k] = div == 1.0 ? r[k] : r[k] / div;
  }
}

/// The class `predict` returns for one row: raw sums r[K], probabilities pr[C].
inline int32_t predicted_class(const ScoringSpec& spec, const double* r, const double* pr, int64_t C, int64_t K) {
  int32_t cls = 0;
  if (spec.predict_rule == PredictRule::argmax || spec.link == Link::proba) {
    for (int64_t k = 1; k < C; ++k)
      if (pr[k] > pr[cls] || (std::isnan(pr[k]) && !std::isnan(pr[cls]))) cls = static_cast<int32_t>(k);
  } else if (K == 1) {
    const double div = spec.divisor;
    const double r0 = div == 1.0 ? r[0] : r[0] / div;
    cls = spec.predict_rule == PredictRule::raw_positive ? (r0 > 0.0) : (r0 >= 0.0);
  } else {
    for (int64_t k = 1; k < K; ++k)
      if (r[k] > r[cls]) cls = static_cast<int32_t>(k);
  }
  return cls;
}

/// balanced_accuracy_score of the labels in s.label.
inline double balanced_accuracy(const ScoringSpec& spec, int64_t n, ScoreScratch& s) {
  const int64_t C = spec.n_classes;
  const double* w = spec.sample_weight;
  // confusion matrix rows (true class) accumulated in row order, as scipy's coo -> dense
  std::vector<double> cm(static_cast<size_t>(C * C), 0.0);
  for (int64_t i = 0; i < n; ++i) cm[spec.y_class[i] * C + s.label[i]] += w ? w[i] : 1.0;
  std::vector<double> per_class;
  for (int64_t k = 0; k < C; ++k) {
    const double row = np_sum(cm.data() + k * C, C);
    if (row != 0.0) per_class.push_back(cm[k * C + k] / row);
  }
  return np_sum(per_class.data(), static_cast<int64_t>(per_class.size())) / static_cast<double>(per_class.size());
}

/// Row i's term of log_loss (its probabilities pr[C], its class yc).
inline double log_loss_term(const ScoringSpec& spec, const double* pr, int32_t yc) {
  // log_loss clips at the epsilon of the probabilities' dtype
  const double eps =
      spec.float32_output ? std::numeric_limits<float>::epsilon() : std::numeric_limits<double>::epsilon();
  // binary: the scorer passes predict_proba[:, 1] and log_loss uses 1 - p1 for class 0
  double q = spec.n_classes == 2
                 ? (yc == 1 ? pr[1]
                            : (spec.float32_output ? static_cast<double>(1.0f - static_cast<float>(pr[1])) : 1.0 - pr[1]))
                 : pr[yc];
  q = std::min(std::max(q, eps), 1.0 - eps);
  return -std::log(q);
}

/// The ROC scores of class k into s.score and its positives into s.positive: the raw margin for
/// binary roc_auc on the decision function (roc_orders slot 1), else the probabilities in s.proba
/// (slot 0).
inline int roc_scores(const ScoringSpec& spec, Metric metric, const double* raw, int64_t n, int64_t K, int64_t k,
                      ScoreScratch& s) {
  const int64_t C = spec.n_classes;
  const double div = spec.divisor;
  const bool raw_scores = C == 2 && metric == Metric::roc_auc && spec.auc_uses_raw;
  const int64_t cls = C == 2 ? 1 : k;
  s.score.resize(static_cast<size_t>(n));
  s.positive.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    s.score[i] = raw_scores ? (div == 1.0 ? raw[i * K] : raw[i * K] / div) : s.proba[i * C + cls];
    s.positive[i] = spec.y_class[i] == cls;
  }
  return raw_scores ? 1 : 0;
}

/// The classes whose ROC AUC a metric averages (binary: the positive class alone).
inline int64_t roc_classes(const ScoringSpec& spec) { return spec.n_classes == 2 ? 1 : spec.n_classes; }

/// roc_auc / roc_auc_ovr of the probabilities in s.proba (binary roc_auc: of the raw margin when
/// spec.auc_uses_raw).
inline double roc_auc(const ScoringSpec& spec, Metric metric, const double* raw, int64_t n, int64_t K,
                      ScoreScratch& s) {
  const int64_t classes = roc_classes(spec);
  std::vector<double> per_class(static_cast<size_t>(classes));
  for (int64_t k = 0; k < classes; ++k) {
    roc_scores(spec, metric, raw, n, K, k, s);
    roc_order(s.score.data(), spec.sample_weight, n, s.order);
    per_class[k] = binary_roc_auc(s.score.data(), s.positive.data(), spec.sample_weight, s.order, s);
  }
  return classes == 1 ? per_class[0] : np_sum(per_class.data(), classes) / static_cast<double>(classes);
}

/// roc_auc of raw sums that equal the baseline's except at the changed rows (changed_predictions
/// in s): the changed rows' scores, sorted, are merged into the baseline's roc orders.
inline double roc_auc_changed(const ScoringSpec& spec, Metric metric, const double* raw, int64_t K,
                              const ChangedRows& delta, ScoreScratch& s) {
  const double* w = spec.sample_weight;
  const int64_t C = spec.n_classes;
  const double div = spec.divisor;
  const bool raw_scores = C == 2 && metric == Metric::roc_auc && spec.auc_uses_raw;
  const int64_t classes = roc_classes(spec);
  std::vector<double> per_class(static_cast<size_t>(classes));
  for (int64_t k = 0; k < classes; ++k) {
    const int64_t cls = C == 2 ? 1 : k;
    s.moved.clear();
    for (size_t q = 0; q < s.changed_rows.size(); ++q) {
      const int64_t i = s.changed_rows[q];
      if (w && w[i] == 0.0) continue;
      const double score =
          raw_scores ? (div == 1.0 ? raw[i * K] : raw[i * K] / div) : s.changed_proba[q * C + cls];
      s.moved.push_back(roc_item(i, score, spec.y_class[i] == cls));
    }
    sort_roc_items(s.moved, s.moved_tmp, s.histogram);
    const auto& base = delta.base.roc_orders[raw_scores ? 1 : 0][k];
    per_class[k] = roc_points_merged(base, delta.changed, s.moved, w, s)
                       ? roc_auc_of_points(s)
                       : std::numeric_limits<double>::quiet_NaN();
  }
  return classes == 1 ? per_class[0] : np_sum(per_class.data(), classes) / static_cast<double>(classes);
}

/// One classification metric of the probabilities in s.proba and the labels in s.label.
inline double classification_score(const ScoringSpec& spec, Metric metric, const double* raw, int64_t n, int64_t K,
                                   ScoreScratch& s) {
  switch (metric) {
    case Metric::accuracy: {
      auto& t = s.terms;
      for (int64_t i = 0; i < n; ++i) t[i] = s.label[i] == spec.y_class[i] ? 1.0 : 0.0;
      return np_average(t.data(), spec.sample_weight, n, s);
    }
    case Metric::balanced_accuracy:
      return balanced_accuracy(spec, n, s);
    case Metric::neg_log_loss: {
      auto& t = s.terms;
      for (int64_t i = 0; i < n; ++i) t[i] = log_loss_term(spec, s.proba.data() + i * spec.n_classes, spec.y_class[i]);
      return -np_average(t.data(), spec.sample_weight, n, s);
    }
    case Metric::roc_auc:
    case Metric::roc_auc_ovr:
      return roc_auc(spec, metric, raw, n, K, s);
    default:
      throw std::invalid_argument("metric " + name_of(kMetricNames, metric) + " needs a regressor");
  }
}

/// The changed rows of `delta` with their probabilities [c, C] and classes, into s.changed_*.
inline void changed_predictions(const ScoringSpec& spec, const double* raw, int64_t n, int64_t K,
                                const ChangedRows& delta, ScoreScratch& s) {
  const int64_t C = spec.n_classes;
  auto& rows = s.changed_rows;
  rows.resize(static_cast<size_t>(n));
  size_t c = 0;
  for (int64_t i = 0; i < n; ++i) {  // without a branch: whether a row changed is a coin toss
    rows[c] = i;
    c += delta.changed[i] != 0;
  }
  rows.resize(c);
  s.changed_proba.resize(c * static_cast<size_t>(C));
  s.changed_label.resize(c);
  for (size_t q = 0; q < c; ++q) {
    const int64_t i = s.changed_rows[q];
    double* pr = s.changed_proba.data() + q * C;
    class_probabilities(spec, raw + i * K, C, pr);
    s.changed_label[q] = predicted_class(spec, raw + i * K, pr, C, K);
  }
}

/// classification_score of raw sums that equal the baseline's except at the changed rows
/// (changed_predictions in s): the baseline's per-row terms with the changed rows' replaced, the
/// same arithmetic in the same order as a scoring of all rows.
inline double classification_score_changed(const ScoringSpec& spec, Metric metric, const double* raw, int64_t n,
                                           int64_t K, const ChangedRows& delta, ScoreScratch& s) {
  const BaselineScores& base = delta.base;
  const auto& rows = s.changed_rows;
  switch (metric) {
    case Metric::accuracy:
      if (!spec.sample_weight) {
        // np.average of 0/1 terms: a pairwise sum of small integers is exact, so a count is the same
        int64_t correct = base.n_correct;
        for (size_t q = 0; q < rows.size(); ++q) {
          const int32_t yc = spec.y_class[rows[q]];
          correct += (s.changed_label[q] == yc) - (base.label[rows[q]] == yc);
        }
        return static_cast<double>(correct) / static_cast<double>(n);
      }
      [[fallthrough]];
    case Metric::balanced_accuracy:
      s.label = base.label;
      for (size_t q = 0; q < rows.size(); ++q) s.label[rows[q]] = s.changed_label[q];
      return classification_score(spec, metric, raw, n, K, s);
    case Metric::neg_log_loss: {
      auto& t = s.terms;
      t = base.log_loss_terms;
      for (size_t q = 0; q < rows.size(); ++q)
        t[rows[q]] = log_loss_term(spec, s.changed_proba.data() + q * spec.n_classes, spec.y_class[rows[q]]);
      return -np_average(t.data(), spec.sample_weight, n, s);
    }
    case Metric::roc_auc:
    case Metric::roc_auc_ovr:
      return roc_auc_changed(spec, metric, raw, K, delta, s);
    default:
      throw std::invalid_argument("metric " + name_of(kMetricNames, metric) + " needs a regressor");
  }
}

}  // namespace detail

/// Scores of the raw sums raw[n, K] (before `divisor`) for every metric of `spec`, written to out.
/// With `delta` (classifiers), raw equals the baseline's except at delta's changed rows, and only
/// those rows' probabilities, classes and terms are computed anew: the same scores, in O(changed)
/// transcendental work.
inline void score_raw(const ScoringSpec& spec, const double* raw, int64_t n, int64_t K, double* out,
                      ScoreScratch& s, const ChangedRows* delta = nullptr) {
  if (!spec.classifier) {
    detail::regression_predictions(spec, raw, n, K, s);
    for (size_t m = 0; m < spec.metrics.size(); ++m) out[m] = detail::regression_score(spec, spec.metrics[m], n, s);
    return;
  }
  s.terms.resize(static_cast<size_t>(n));
  if (delta) {
    detail::changed_predictions(spec, raw, n, K, *delta, s);
    for (size_t m = 0; m < spec.metrics.size(); ++m)
      out[m] = detail::classification_score_changed(spec, spec.metrics[m], raw, n, K, *delta, s);
    return;
  }
  // Classification: probabilities [n, C], predicted class, then the metrics.
  const int64_t C = spec.n_classes;
  s.proba.resize(static_cast<size_t>(n * C));
  s.label.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    double* pr = s.proba.data() + i * C;
    detail::class_probabilities(spec, raw + i * K, C, pr);
    s.label[i] = detail::predicted_class(spec, raw + i * K, pr, C, K);
  }
  for (size_t m = 0; m < spec.metrics.size(); ++m)
    out[m] = detail::classification_score(spec, spec.metrics[m], raw, n, K, s);
}

/// What score_raw of the classifier's baseline raw sums raw[n, K] computes per row, kept for
/// scorings of variants of it (ChangedRows). Empty for a regressor.
inline BaselineScores baseline_scores(const ScoringSpec& spec, const double* raw, int64_t n, int64_t K) {
  BaselineScores b;
  if (!spec.classifier) return b;
  ScoreScratch s;
  std::vector<double> scores(spec.metrics.size());
  score_raw(spec, raw, n, K, scores.data(), s);
  b.label = s.label;
  for (int64_t i = 0; i < n; ++i) b.n_correct += b.label[i] == spec.y_class[i];
  for (const Metric metric : spec.metrics) {
    if (metric == Metric::neg_log_loss && b.log_loss_terms.empty()) {
      b.log_loss_terms.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i)
        b.log_loss_terms[i] = detail::log_loss_term(spec, s.proba.data() + i * spec.n_classes, spec.y_class[i]);
    }
    if (metric != Metric::roc_auc && metric != Metric::roc_auc_ovr) continue;
    for (int64_t k = 0; k < detail::roc_classes(spec); ++k) {
      const int slot = detail::roc_scores(spec, metric, raw, n, K, k, s);
      auto& orders = b.roc_orders[slot];
      if (static_cast<int64_t>(orders.size()) > k) continue;  // another metric's, the same scores
      BaselineScores::RocOrder& o = orders.emplace_back();
      detail::roc_order(s.score.data(), spec.sample_weight, n, s.order);
      bool any_pos = false, any_neg = false;
      for (const int64_t i : s.order) {
        o.item.push_back(detail::roc_item(i, s.score[i], s.positive[i] != 0));
        any_pos |= s.positive[i] != 0;
        any_neg |= s.positive[i] == 0;
      }
      o.both_classes = any_pos && any_neg;
    }
  }
  return b;
}

}  // namespace xplain
