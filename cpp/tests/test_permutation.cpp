// permutation.hpp, permutation/*.hpp, metrics.hpp: permutation scores against scoring the
// permuted rows directly with the metrics' textbook formulas (regression and a binary
// classifier), the same bits for every n_jobs and with or without the AVX-512 scan, and the
// refusal of bad arguments before any work.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "support.hpp"
#include "xplain/permutation.hpp"
#include "xplain/predict.hpp"

namespace {

constexpr int64_t kRows = 150, kFeatures = 4, kRepeats = 3;

struct Problem {
  test::OwnedForest forest = test::random_forest(51, 25, 5, kFeatures, 1);
  std::vector<double> X = test::random_rows(52, kRows, kFeatures);
  std::vector<int64_t> perms, offsets{0, 1, 3, 4}, columns{0, 1, 3, 2};  // groups {0}, {1, 3}, {2}
  Problem() {
    std::mt19937_64 gen(53);
    for (int64_t r = 0; r < kRepeats; ++r) {
      std::vector<int64_t> p(kRows);
      std::iota(p.begin(), p.end(), 0);
      std::shuffle(p.begin(), p.end(), gen);
      perms.insert(perms.end(), p.begin(), p.end());
    }
  }
  xplain::PermutationInput input() const {
    xplain::PermutationInput in;
    in.value = forest.value.data(); in.value_rows = static_cast<int64_t>(forest.value.size()); in.value_cols = 1;
    in.X = X.data(); in.n_rows = kRows;
    in.perms = perms.data(); in.n_repeats = kRepeats; in.perm_length = kRows;
    in.group_offsets = offsets.data(); in.group_columns = columns.data();
    in.n_groups = 3; in.n_group_columns = 4;
    return in;
  }
  /// Raw outputs of the rows with group g taken from the rows of repeat r.
  std::vector<double> permuted_raw(int64_t g, int64_t r) const {
    std::vector<double> Xp(X), raw(kRows);
    for (int64_t i = 0; i < kRows; ++i)
      for (int64_t q = offsets[static_cast<size_t>(g)]; q < offsets[static_cast<size_t>(g + 1)]; ++q) {
        const int64_t c = columns[static_cast<size_t>(q)];
        Xp[static_cast<size_t>(i * kFeatures + c)] = X[static_cast<size_t>(perms[static_cast<size_t>(r * kRows + i)] * kFeatures + c)];
      }
    xplain::predict_raw(forest.view(), Xp.data(), kRows, raw.data());
    return raw;
  }
};

/// Runs permutation_scores with 1 and 2 threads, with and without the AVX-512 scan; checks they
/// agree bitwise and returns the scores.
std::vector<double> scores_everywhere_alike(const Problem& p, const xplain::ScoringSpec& spec, double* baseline) {
  const size_t size = static_cast<size_t>(3 * kRepeats) * spec.metrics.size();
  std::vector<double> first(size), other(size);
  xplain::PermutationInput in = p.input();
  xplain::permutation_scores(p.forest.view(), in, spec, first.data(), baseline, 1);
  for (int jobs : {2, 3})
    for (bool avx512 : {true, false}) {
      in.allow_avx512 = avx512;
      xplain::permutation_scores(p.forest.view(), in, spec, other.data(), nullptr, jobs);
      CHECK(std::memcmp(first.data(), other.data(), size * sizeof(double)) == 0);
    }
  return first;
}

void regression_scores_match_the_formulas() {
  const Problem p;
  std::vector<double> y(kRows);
  xplain::predict_raw(p.forest.view(), p.X.data(), kRows, y.data());
  std::mt19937_64 gen(54);
  std::normal_distribution<double> noise(0.0, 0.5);
  for (auto& v : y) v += noise(gen);
  xplain::ScoringSpec spec;
  spec.metrics = {xplain::Metric::r2, xplain::Metric::neg_mean_squared_error, xplain::Metric::neg_mean_absolute_error};
  spec.y = y.data();
  spec.y_size = kRows;
  double baseline[3];
  const std::vector<double> scores = scores_everywhere_alike(p, spec, baseline);
  const double mean_y = std::accumulate(y.begin(), y.end(), 0.0) / kRows;
  double total = 0.0;
  for (double v : y) total += (v - mean_y) * (v - mean_y);
  for (int64_t g = 0; g < 3; ++g)
    for (int64_t r = 0; r < kRepeats; ++r) {
      const std::vector<double> raw = p.permuted_raw(g, r);
      double sq = 0.0, ab = 0.0;
      for (int64_t i = 0; i < kRows; ++i) {
        sq += (raw[static_cast<size_t>(i)] - y[static_cast<size_t>(i)]) * (raw[static_cast<size_t>(i)] - y[static_cast<size_t>(i)]);
        ab += std::fabs(raw[static_cast<size_t>(i)] - y[static_cast<size_t>(i)]);
      }
      const double* s = scores.data() + (g * kRepeats + r) * 3;
      CHECK_NEAR(s[0], 1.0 - sq / total, 1e-12);
      CHECK_NEAR(s[1], -sq / kRows, 1e-12);
      CHECK_NEAR(s[2], -ab / kRows, 1e-12);
    }
}

void classifier_scores_match_the_formulas() {
  const Problem p;
  std::vector<double> raw(kRows);
  xplain::predict_raw(p.forest.view(), p.X.data(), kRows, raw.data());
  std::vector<int32_t> label(kRows);
  std::mt19937_64 gen(55);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  for (int64_t i = 0; i < kRows; ++i) label[static_cast<size_t>(i)] = u(gen) < 1.0 / (1.0 + std::exp(-raw[static_cast<size_t>(i)])) ? 1 : 0;
  xplain::ScoringSpec spec;
  spec.classifier = true;
  spec.link = xplain::Link::logistic;
  spec.n_classes = 2;
  spec.metrics = {xplain::Metric::accuracy, xplain::Metric::neg_log_loss};
  spec.y_class = label.data();
  spec.y_class_size = kRows;
  double baseline[2];
  const std::vector<double> scores = scores_everywhere_alike(p, spec, baseline);
  for (int64_t g = 0; g < 3; ++g)
    for (int64_t r = 0; r < kRepeats; ++r) {
      const std::vector<double> permuted = p.permuted_raw(g, r);
      double correct = 0.0, loss = 0.0;
      for (int64_t i = 0; i < kRows; ++i) {
        const double p1 = 1.0 / (1.0 + std::exp(-permuted[static_cast<size_t>(i)]));
        correct += ((p1 > 0.5) == (label[static_cast<size_t>(i)] == 1)) ? 1.0 : 0.0;
        loss -= std::log(label[static_cast<size_t>(i)] == 1 ? p1 : 1.0 - p1);
      }
      const double* s = scores.data() + (g * kRepeats + r) * 2;
      CHECK_NEAR(s[0], correct / kRows, 1e-12);
      CHECK_NEAR(s[1], -loss / kRows, 1e-9);
    }
}

void bad_arguments_are_refused() {
  const Problem p;
  std::vector<double> y(kRows, 1.0), out(100);
  xplain::ScoringSpec spec;
  spec.metrics = {xplain::Metric::neg_mean_squared_error};
  spec.y = y.data();
  spec.y_size = kRows;
  const xplain::ForestView f = p.forest.view();
  CHECK(test::throws_invalid([&] {
    xplain::ScoringSpec bad = spec;
    bad.metrics = {xplain::Metric::accuracy};
    bad.check(kRows, 1);
  }, "needs a classifier"));
  CHECK(test::throws_invalid([&] {
    xplain::PermutationInput bad = p.input();
    bad.perm_length = kRows - 1;
    bad.check(f);
  }, "perms must be"));
  std::vector<int64_t> wild(p.perms);
  wild[7] = kRows;
  CHECK(test::throws_invalid([&] {
    xplain::PermutationInput bad = p.input();
    bad.perms = wild.data();
    xplain::permutation_scores(f, bad, spec, out.data(), nullptr, 1);
  }, "out of range"));
  CHECK(test::throws_invalid([&] {
    xplain::PermutationInput bad = p.input();
    bad.n_groups = 0;
    xplain::permutation_scores(f, bad, spec, out.data(), nullptr, 1);
  }, "n_groups"));
  CHECK(test::throws_invalid([&] {
    xplain::PermutationInput bad = p.input();
    bad.n_rows = 0;
    bad.perm_length = 0;
    xplain::permutation_scores(f, bad, spec, out.data(), nullptr, 1);
  }, "at least one row"));
}

}  // namespace

int main() {
  regression_scores_match_the_formulas();
  classifier_scores_match_the_formulas();
  bad_arguments_are_refused();
  return test::finish("test_permutation");
}
