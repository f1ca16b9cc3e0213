// importance.hpp: every kind against a direct computation from the trees, with other formulas
// where one exists (the prediction change of a split as cL * cR / (cL + cR) * (mean L - mean R)^2).
#include <cmath>

#include "support.hpp"
#include "xplain/importance.hpp"

namespace {

std::vector<double> importance(const xplain::ForestView& f, const std::vector<double>& gain, xplain::ImportanceKind kind,
                               bool averaged) {
  std::vector<double> out(static_cast<size_t>(f.n_features), -1.0);
  xplain::forest_importance(f, gain.empty() ? nullptr : gain.data(), kind, averaged, out.data());
  return out;
}

/// Leaf-cover-weighted mean value and total leaf cover of the subtree under `node` (recursive).
std::pair<double, double> subtree_mean(const xplain::ForestView& f, int64_t node) {
  if (f.is_leaf(node)) return {f.value[node], f.cover[node]};
  const auto [ml, cl] = subtree_mean(f, f.left[node]);
  const auto [mr, cr] = subtree_mean(f, f.right[node]);
  const double c = cl + cr;
  return {c > 0 ? (ml * cl + mr * cr) / c : 0.0, c};
}

/// Prediction change per feature as the between-subtree variance of every split:
/// cL * cR / (cL + cR) * (mean L - mean R)^2 (an empty side adds nothing).
std::vector<double> between_subtrees(const xplain::ForestView& f) {
  std::vector<double> change(static_cast<size_t>(f.n_features), 0.0);
  for (int64_t n = 0; n < f.n_nodes; ++n) {
    if (f.is_leaf(n)) continue;
    const auto [ml, cl] = subtree_mean(f, f.left[n]);
    const auto [mr, cr] = subtree_mean(f, f.right[n]);
    if (cl > 0 && cr > 0) change[static_cast<size_t>(f.feature[n])] += cl * cr / (cl + cr) * (ml - mr) * (ml - mr);
  }
  return change;
}

}  // namespace

static void counts_gains_and_covers_match_a_direct_sum() {
  const test::OwnedForest owned = test::random_forest(11, 6, 4, 5, 1);
  const xplain::ForestView f = owned.view();
  std::vector<double> gain(static_cast<size_t>(f.n_nodes));
  for (size_t n = 0; n < gain.size(); ++n) gain[n] = f.is_leaf(static_cast<int64_t>(n)) ? 0.0 : 0.5 + static_cast<double>(n % 7);
  std::vector<double> splits(5, 0.0), gains(5, 0.0), covers(5, 0.0);
  for (int64_t n = 0; n < f.n_nodes; ++n) {
    if (f.is_leaf(n)) continue;
    splits[static_cast<size_t>(f.feature[n])] += 1;
    gains[static_cast<size_t>(f.feature[n])] += gain[static_cast<size_t>(n)];
    covers[static_cast<size_t>(f.feature[n])] += f.cover[n];
  }
  using K = xplain::ImportanceKind;
  const auto count = importance(f, gain, K::kSplitCount, false), total_gain = importance(f, gain, K::kTotalGain, false);
  const auto mean_gain = importance(f, gain, K::kGain, false), total_cover = importance(f, gain, K::kTotalCover, false);
  const auto mean_cover = importance(f, gain, K::kCover, false);
  for (size_t j = 0; j < 5; ++j) {
    CHECK(count[j] == splits[j]);
    CHECK_NEAR(total_gain[j], gains[j], 1e-12);
    CHECK_NEAR(total_cover[j], covers[j], 1e-12);
    CHECK_NEAR(mean_gain[j], splits[j] > 0 ? gains[j] / splits[j] : 0.0, 1e-12);
    CHECK_NEAR(mean_cover[j], splits[j] > 0 ? covers[j] / splits[j] : 0.0, 1e-12);
  }
  // MDI: per tree, gains over the root's cover; averaged ensembles normalise each tree first.
  std::vector<double> additive(5, 0.0), averaged(5, 0.0);
  for (int64_t t = 0; t < f.n_trees; ++t) {
    std::vector<double> tree(5, 0.0);
    double sum = 0.0;
    for (int64_t n = f.tree_offset[t]; n < f.tree_offset[t + 1]; ++n)
      if (!f.is_leaf(n)) tree[static_cast<size_t>(f.feature[n])] += gain[static_cast<size_t>(n)] / f.cover[f.tree_offset[t]];
    for (double v : tree) sum += v;
    for (size_t j = 0; j < 5; ++j) {
      additive[j] += tree[j];
      averaged[j] += tree[j] / sum / static_cast<double>(f.n_trees);
    }
  }
  double additive_sum = 0.0;
  for (double v : additive) additive_sum += v;
  const auto mdi_additive = importance(f, gain, K::kMDI, false), mdi_averaged = importance(f, gain, K::kMDI, true);
  for (size_t j = 0; j < 5; ++j) {
    CHECK_NEAR(mdi_additive[j], additive[j] / additive_sum, 1e-12);
    CHECK_NEAR(mdi_averaged[j], averaged[j], 1e-12);
  }
  for (K kind : {K::kTotalGain, K::kGain, K::kMDI})
    CHECK(test::throws_invalid([&] { importance(f, {}, kind, false); }, "needs the per-node split gains"));
  CHECK(test::throws_invalid([&] { importance(f, gain, static_cast<K>(42), false); }, "unknown importance kind"));
}

static void prediction_change_of_asymmetric_trees_is_the_between_subtrees_variance() {
  const test::OwnedForest owned = test::random_forest(5, 8, 5, 4, 1);
  const xplain::ForestView f = owned.view();
  const std::vector<double> expected = between_subtrees(f);
  const auto got = importance(f, {}, xplain::ImportanceKind::kPredictionChange, false);
  for (size_t j = 0; j < 4; ++j) CHECK_NEAR(got[j], expected[j], 1e-10 * (1.0 + expected[j]));
}

static void prediction_change_of_symmetric_trees_compares_leaves_that_differ_at_one_level() {
  // A complete depth-3 tree asking one question per level (features 2, 0, 2), some empty leaves.
  std::mt19937_64 gen(3);
  std::normal_distribution<double> normal(0.0, 1.0);
  test::OwnedForest owned;
  owned.n_features = 3;
  owned.base_value = {0.0};
  const int32_t level_feature[3] = {2, 0, 2};
  const double level_threshold[3] = {0.5, -1.0, 1.5};
  std::vector<std::vector<int>> leaf_path;  // the direction taken at each level (0 left, 1 right)
  std::vector<int> path;
  std::function<int32_t(int)> grow = [&](int level) -> int32_t {
    if (level == 3) {
      leaf_path.push_back(path);
      const double weight = leaf_path.size() % 5 == 0 ? 0.0 : 1.0 + static_cast<double>(leaf_path.size() % 3);
      return owned.add_node(-1, 0.0, false, normal(gen), weight);
    }
    const int32_t node = owned.add_node(level_feature[level], level_threshold[level], false, 0.0, 0.0);
    path.push_back(0);
    const int32_t l = grow(level + 1);
    path.back() = 1;
    const int32_t r = grow(level + 1);
    path.pop_back();
    owned.left[static_cast<size_t>(node)] = l;
    owned.right[static_cast<size_t>(node)] = r;
    owned.cover[static_cast<size_t>(node)] = owned.cover[static_cast<size_t>(l)] + owned.cover[static_cast<size_t>(r)];
    return node;
  };
  grow(0);
  owned.tree_offset.push_back(static_cast<int64_t>(owned.left.size()));
  owned.tree_output.push_back(0);
  const xplain::ForestView f = owned.view();
  f.check();
  std::vector<int64_t> leaves;
  for (int64_t n = 0; n < f.n_nodes; ++n)
    if (f.is_leaf(n)) leaves.push_back(n);  // preorder: the same order as leaf_path
  std::vector<double> expected(3, 0.0);
  for (size_t a = 0; a < leaves.size(); ++a)
    for (size_t b = a + 1; b < leaves.size(); ++b) {
      int differing = -1, count = 0;
      for (int level = 0; level < 3; ++level)
        if (leaf_path[a][static_cast<size_t>(level)] != leaf_path[b][static_cast<size_t>(level)]) differing = level, ++count;
      const double ca = f.cover[leaves[a]], cb = f.cover[leaves[b]];
      if (count != 1 || ca == 0.0 || cb == 0.0) continue;
      const double d = f.value[leaves[a]] - f.value[leaves[b]];
      expected[static_cast<size_t>(level_feature[differing])] += ca * cb / (ca + cb) * d * d;
    }
  const auto got = importance(f, {}, xplain::ImportanceKind::kPredictionChange, false);
  for (size_t j = 0; j < 3; ++j) CHECK_NEAR(got[j], expected[j], 1e-12 * (1.0 + expected[j]));
  CHECK(got[1] == 0.0);
  // One node of the last level asks another question: the tree is no longer symmetric, and its
  // splits compare their subtrees.
  test::OwnedForest changed = owned;
  changed.threshold[static_cast<size_t>(changed.left[static_cast<size_t>(changed.left[0])])] = 2.5;
  const xplain::ForestView g = changed.view();
  const std::vector<double> subtrees = between_subtrees(g);
  const auto asymmetric = importance(g, {}, xplain::ImportanceKind::kPredictionChange, false);
  for (size_t j = 0; j < 3; ++j) CHECK_NEAR(asymmetric[j], subtrees[j], 1e-12 * (1.0 + subtrees[j]));
}

int main() {
  counts_gains_and_covers_match_a_direct_sum();
  prediction_change_of_asymmetric_trees_is_the_between_subtrees_variance();
  prediction_change_of_symmetric_trees_compares_leaves_that_differ_at_one_level();
  return test::finish("test_importance");
}
