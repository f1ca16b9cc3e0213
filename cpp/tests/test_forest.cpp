// forest.hpp, predict.hpp, parallel.hpp, names.hpp, version.hpp: the Forest's validation (every
// malformed forest is refused before any traversal), routing, prediction, the parallel loop.
#include <atomic>
#include <chrono>
#include <thread>
#include <cstring>

#include "support.hpp"
#include "xplain/names.hpp"
#include "xplain/parallel.hpp"
#include "xplain/predict.hpp"
#include "xplain/version.hpp"

static void validation_refuses_malformed_forests() {
  test::OwnedForest good = test::random_forest(3, 4, 3, 3, 1);
  good.view().check();
  auto refused = [&](const std::function<void(test::OwnedForest&)>& spoil, const char* message) {
    test::OwnedForest bad = good;
    spoil(bad);
    const xplain::ForestView view = bad.view();
    return test::throws_invalid([&] { view.check(); }, message);
  };
  CHECK(refused([](test::OwnedForest& f) { f.left[0] = 999; }, "children outside its tree"));
  CHECK(refused([](test::OwnedForest& f) { f.right[0] = -5; }, "children outside its tree"));
  // A cycle: a child pointing back to its parent (children must come after their parent).
  CHECK(refused([](test::OwnedForest& f) { f.left[static_cast<size_t>(f.left[0])] = 0; f.right[static_cast<size_t>(f.left[0])] = 0; },
                "children outside its tree"));
  CHECK(refused([](test::OwnedForest& f) { f.left[0] = 0; }, "children outside its tree"));
  // A node with two parents (a DAG, not a tree: a walk would visit it twice) and the subtree it
  // displaced, now unreachable. Node 1 is the root's left child in the random tree's preorder.
  CHECK(refused([](test::OwnedForest& f) { f.right[0] = f.left[1]; }, "child of two nodes"));
  CHECK(refused([](test::OwnedForest& f) { f.right[0] = f.left[0]; }, "both children"));
  CHECK(refused([](test::OwnedForest& f) { f.feature[0] = 3; }, "splits on feature 3"));
  CHECK(refused([](test::OwnedForest& f) { f.feature[0] = -2; }, "splits on feature -2"));
  CHECK(refused([](test::OwnedForest& f) { f.tree_offset.back() += 1; }, "tree_offset"));
  CHECK(refused([](test::OwnedForest& f) { f.tree_offset[1] = f.tree_offset[2]; }, "has no nodes"));
  CHECK(refused([](test::OwnedForest& f) { f.tree_offset[1] = 100000; }, "has no nodes"));  // past the arrays
  CHECK(refused([](test::OwnedForest& f) { f.tree_offset[2] = -3; }, "has no nodes"));
  CHECK(refused([](test::OwnedForest& f) { f.tree_output[1] = 1; }, "tree_output"));
  CHECK(refused([](test::OwnedForest& f) { f.cover[1] = -1.0; }, "cover"));
  CHECK(refused([](test::OwnedForest& f) { f.cover[1] = NAN; }, "cover"));
  CHECK(refused([](test::OwnedForest& f) { f.value[static_cast<size_t>(f.tree_offset[1] - 1)] = INFINITY; }, "non-finite value"));
  CHECK(refused([](test::OwnedForest& f) { f.base_value[0] = NAN; }, "base_value"));
  CHECK(refused([](test::OwnedForest& f) { f.tree_output.clear(); f.tree_offset.resize(1); }, "no trees"));
  CHECK(refused([](test::OwnedForest& f) { f.n_outputs = 0; }, "n_outputs"));

  // Null required arrays and an out-of-range categorical bitset.
  const xplain::ForestView view = good.view();
  xplain::ForestView no_cover = view;
  no_cover.cover = nullptr;
  CHECK(test::throws_invalid([&] { no_cover.check(); }, "required array"));
  std::vector<int64_t> cat_offset(good.left.size(), -1);
  std::vector<int32_t> cat_words(good.left.size(), 0);
  std::vector<uint32_t> cat_bits{0x5u};
  cat_offset[0] = 0;
  cat_words[0] = 2;  // two words, but the bitset has one
  xplain::ForestView categorical = view;
  categorical.cat_offset = cat_offset.data();
  categorical.cat_words = cat_words.data();
  categorical.cat_bits = cat_bits.data();
  categorical.n_cat_bits = 1;
  CHECK(test::throws_invalid([&] { categorical.check(); }, "bitset of node 0"));
  cat_words[0] = 1;
  categorical.check();
  // Categories 0 and 2 go left; negative, NaN-free out-of-range and fractional-negative values go right.
  CHECK(categorical.goes_left(0, 0.0) && !categorical.goes_left(0, 1.0) && categorical.goes_left(0, 2.0));
  CHECK(!categorical.goes_left(0, 40.0) && !categorical.goes_left(0, -0.5) && !categorical.goes_left(0, 1e300));
  categorical.categorical_truncation = true;
  CHECK(categorical.goes_left(0, -0.5));
  std::vector<uint8_t> bad_rule(good.left.size(), 7);
  xplain::ForestView unknown_rule = view;
  unknown_rule.missing_rule = bad_rule.data();
  CHECK(test::throws_invalid([&] { unknown_rule.check(); }, "missing-value rule 7"));
}

static void routing_follows_the_missing_value_rules() {
  test::OwnedForest f;
  f.n_features = 1;
  f.base_value = {0.0};
  const int32_t root = f.add_node(0, 0.5, true, 0.0, 2.0);
  f.left[0] = f.add_node(-1, 0, false, -1.0, 1.0);
  f.right[0] = f.add_node(-1, 0, false, 1.0, 1.0);
  f.tree_offset.push_back(3);
  f.tree_output.push_back(0);
  xplain::ForestView v = f.view();
  v.check();
  CHECK(v.goes_left(root, NAN) && v.goes_left(root, 0.5) && !v.goes_left(root, 0.6));
  v.strict_less = true;
  CHECK(!v.goes_left(root, 0.5));
  std::vector<uint8_t> rule{xplain::kNaNAsZero, 0, 0};
  v.missing_rule = rule.data();
  f.default_left[0] = 0;
  CHECK(v.goes_left(root, NAN));  // NaN is 0.0 < 0.5, whatever the default direction
  rule[0] = xplain::kNaNOrZeroDefault;
  CHECK(!v.goes_left(root, 0.0) && !v.goes_left(root, NAN) && v.goes_left(root, 0.25));
  v.float32_input = true;
  CHECK(v.prepare(0.1) == static_cast<double>(0.1f));
  CHECK(xplain::name_of(xplain::kMissingRuleNames, xplain::kNaNAsZero) == "nan_as_zero");
  CHECK(xplain::name_of(xplain::kMissingRuleNames, static_cast<xplain::MissingRule>(9)) == "<code 9>");
}

static void prediction_sums_the_leaves_of_every_tree() {
  const test::OwnedForest owned = test::random_forest(5, 7, 4, 4, 2);
  const xplain::ForestView f = owned.view();
  f.check();
  const int64_t n = 300;
  const std::vector<double> X = test::random_rows(6, n, 4);
  std::vector<double> out1(static_cast<size_t>(n * 2)), out2(out1.size());
  xplain::predict_raw(f, X.data(), n, out1.data(), 1);
  xplain::predict_raw(f, X.data(), n, out2.data(), 3);
  CHECK(std::memcmp(out1.data(), out2.data(), out1.size() * sizeof(double)) == 0);
  for (int64_t r = 0; r < n; r += 13) {
    double expected[2] = {f.base_value[0], f.base_value[1]};
    for (int64_t t = 0; t < f.n_trees; ++t) {
      int64_t node = f.tree_offset[t];
      while (!f.is_leaf(node)) node = f.goes_left(node, X[static_cast<size_t>(r * 4 + f.feature[node])]) ? f.left[node] : f.right[node];
      expected[f.tree_output[t]] += f.value[node];
    }
    CHECK(out1[static_cast<size_t>(r * 2)] == expected[0] && out1[static_cast<size_t>(r * 2 + 1)] == expected[1]);
  }
  xplain::predict_raw(f, X.data(), 0, out1.data(), 2);  // no rows: nothing to do, nothing written
}

static void parallel_loop_covers_every_chunk_and_propagates_errors() {
  for (int threads : {1, 2, 5}) {
    std::vector<std::atomic<int>> seen(100);
    xplain::parallel_for_chunks(100, threads, [&](int64_t c) { seen[static_cast<size_t>(c)]++; });
    bool once = true;
    for (auto& s : seen) once = once && s.load() == 1;
    CHECK(once);
  }
  bool rethrown = false;
  try {
    xplain::parallel_for_chunks(50, 2, [](int64_t c) { if (c == 17) throw std::invalid_argument("chunk 17"); });
  } catch (const std::invalid_argument& e) {
    rethrown = std::string(e.what()) == "chunk 17";
  }
  CHECK(rethrown);
  // An interruption check answers while the chunks run (the caller polls it every 20 ms), and a
  // long chunk that polls the loop's stop flag returns early.
  std::atomic<int> done{0};
  bool interrupted = false;
  try {
    xplain::parallel_for_chunks(1000, 2, [&](int64_t) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      done++;
    }, [] { return true; });
  } catch (const xplain::interrupted_error&) {
    interrupted = true;
  }
  CHECK(interrupted && done.load() < 1000);
  xplain::StopFlag stop{false};
  std::atomic<bool> saw_stop{false};
  interrupted = false;
  const auto start = std::chrono::steady_clock::now();
  try {
    xplain::parallel_for_chunks(1, 1, [&](int64_t) {  // one chunk "for minutes", polling the flag
      while (!stop.load() && std::chrono::steady_clock::now() - start < std::chrono::seconds(60))
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      saw_stop = stop.load();
    }, [] { return true; }, &stop);
  } catch (const xplain::interrupted_error&) {
    interrupted = true;
  }
  CHECK(interrupted && saw_stop.load() && std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  // Without a check, the caller works too and nothing is interrupted.
  done = 0;
  xplain::parallel_for_chunks(100, 1, [&](int64_t) { done++; });
  CHECK(done.load() == 100);
  CHECK(xplain::resolve_threads(8, 3) == 3 && xplain::resolve_threads(-1, 1000) >= 1 && xplain::resolve_threads(4, 0) == 1);
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  CHECK(xplain::resolve_threads(1 << 30, int64_t{1} << 40) == 4 * hw);  // an absurd n_jobs: bounded
}

int main() {
  validation_refuses_malformed_forests();
  routing_follows_the_missing_value_rules();
  prediction_sums_the_leaves_of_every_tree();
  parallel_loop_covers_every_chunk_and_propagates_errors();
  CHECK(xplain::kVersion == XPLAIN_VERSION_MAJOR * 10000 + XPLAIN_VERSION_MINOR * 100 + XPLAIN_VERSION_PATCH);
  CHECK(std::strlen(XPLAIN_VERSION_STRING) >= 5);
  return test::finish("test_forest");
}
