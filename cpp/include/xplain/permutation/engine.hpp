// Permutation importance, the engine: the problem (PermutationInput), the shared context of one
// call, how a task (a column group with a block of its repeats) moves through a chunk of trees,
// and how a task is scored. scheduler.hpp runs the tasks; permutation.hpp explains the method.
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

#include "../forest.hpp"
#include "../metrics.hpp"
#include "../parallel.hpp"
#include "../predict.hpp"
#include "lanes.hpp"
#include "tree_rows.hpp"

namespace xplain {

/// Throws std::invalid_argument unless per-node values [rows, cols] have the forest's shape.
inline void check_node_values(const ForestView& f, int64_t rows, int64_t cols) {
  if (rows != f.n_nodes || cols != f.value_width)
    throw std::invalid_argument("value must be a float64 array [n_nodes, value_width] = [" +
                                std::to_string(f.n_nodes) + ", " + std::to_string(f.value_width) +
                                "] like the Forest's, not [" + std::to_string(rows) + ", " + std::to_string(cols) + "]");
}

/// The permutation problem: rows, permutations and column groups, with the extents of every
/// array so that check() can validate them.
struct PermutationInput {
  const double* value = nullptr;  ///< [value_rows, value_cols]: the per-node terms to sum (the forest's shape)
  int64_t value_rows = 0, value_cols = 0;
  const double* X = nullptr;      ///< evaluated rows [n_rows, n_features], C order
  int64_t n_rows = 0;
  const int64_t* perms = nullptr; ///< [n_repeats, perm_length]: permuted row r takes the group's columns from row perms[r*n+i]
  int64_t n_repeats = 0, perm_length = 0;
  const int64_t* group_offsets = nullptr;  ///< [n_groups + 1]
  const int64_t* group_columns = nullptr;  ///< [n_group_columns]
  int64_t n_groups = 0, n_group_columns = 0;
  /// Scan float rows with AVX-512 where the CPU has it (false: the portable scan; same bits).
  bool allow_avx512 = true;

  /// Throws std::invalid_argument unless every array fits `f` and the others.
  void check(const ForestView& f) const {
    auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
    const int64_t n = n_rows, M = f.n_features;
    check_node_values(f, value_rows, value_cols);
    if (n < 1) fail("permutation importance needs at least one row");
    if (n > std::numeric_limits<int32_t>::max()) fail("too many rows for one call");
    if (n_repeats < 1) fail("n_repeats must be >= 1");
    if (perm_length != n) fail("perms must be [n_repeats, n_rows] with n_rows = " + std::to_string(n));
    for (int64_t q = 0; q < n_repeats * n; ++q)
      if (perms[q] < 0 || perms[q] >= n)
        fail("permutation index " + std::to_string(perms[q]) + " is out of range [0, " + std::to_string(n) + ")");
    if (n_groups < 1) fail("group_offsets must hold n_groups + 1 >= 2 entries");
    if (group_offsets[0] != 0) fail("group_offsets must start at 0");
    if (group_offsets[n_groups] != n_group_columns) fail("group_offsets must end at the number of group columns");
    for (int64_t g = 0; g < n_groups; ++g)
      if (group_offsets[g + 1] <= group_offsets[g]) fail("feature group " + std::to_string(g) + " is empty");
    for (int64_t g = 0; g < n_groups; ++g)
      for (int64_t q = group_offsets[g]; q < group_offsets[g + 1]; ++q)
        if (group_columns[q] < 0 || group_columns[q] >= M)
          fail("feature group " + std::to_string(g) + " has column " + std::to_string(group_columns[q]) +
               " outside [0, " + std::to_string(M) + ")");
  }
};

namespace detail {

/// Rows by ascending baseline value of one raw output, with those values.
struct RawOrder {
  std::vector<int32_t> row;
  std::vector<double> value;
};

/// Everything shared by the tasks that does not depend on the permutation: the router (lane
/// nodes, prepared rows) and the baseline.
template <typename Real>
struct PermutationContext : RowRouter<Real> {
  PermutationContext(const ForestView& forest, const PermutationInput& input) : RowRouter<Real>(forest), in(input) {}

  const PermutationInput& in;
  std::vector<double> base_raw;    ///< [n, K] baseline raw sums, trees in order
  std::vector<int32_t> tree_leaf;  ///< [T, n] baseline leaf of each tree and row, if it fits a table budget
  double tie_bound = 0.0;          ///< bound on |delta update - tree-order sum| of a raw output
  BaselineScores base_scoring;     ///< the baseline's per-row scoring terms (classifiers)
  /// Per raw output k, where ROC ranks need near-tie checks: the rows by ascending baseline
  /// output k, with their values.
  std::vector<RawOrder> raw_order;
};

/// Scratch of one unit of work (nothing is shared between threads).
template <typename Real>
struct TaskScratch {
  std::vector<Pending> pending;    ///< the rows of one tree to re-route (by repeat)
  std::vector<uint8_t> in_group;
  std::vector<uint8_t> stamp;     ///< rows already pending (groups), all zero between uses
  std::vector<Real> donor_value;  ///< [repeats, n] (one column)
};

/// The leaf changes of tree t (TreeRows tr) for the raw sums and marks of one repeat.
template <typename Real>
LeafChanges changes_of(const PermutationContext<Real>& ctx, int64_t t, const TreeRows& tr, double* raw,
                       uint8_t* changed) {
  return LeafChanges{ctx.in.value, ctx.f.value_width, ctx.f.n_outputs, ctx.f.tree_output[t], tr.leaf.data(), raw,
                     changed};
}

/// advance_group for a group of one column j through tree t: one scan of the tree's rows of
/// column j per batch of repeats, then the re-routing of each repeat's pending rows.
template <typename Real>
void advance_column(const PermutationContext<Real>& ctx, const TreeRows& tr, int64_t t, int64_t j, int64_t rep0,
                    int64_t reps, double* raw, uint8_t* changed, TaskScratch<Real>& s, bool avx512) {
  const int64_t n = ctx.in.n_rows, K = ctx.f.n_outputs;
  const int64_t bound = tr.rows_listed(j);
  if (bound == 0) return;
  auto& pending = s.pending;
  const int64_t batch = std::min(reps, kScanBatch);
  if (static_cast<int64_t>(pending.size()) < batch * bound) pending.resize(static_cast<size_t>(batch * bound));
  for (int64_t i0 = 0; i0 < reps; i0 += kScanBatch) {
    const int64_t m = std::min(kScanBatch, reps - i0);
    int64_t np[kScanBatch] = {};
    const Real* dv = s.donor_value.data() + i0 * n;
    scan_column_batch(m, tr, j, dv, n, ctx.f.strict_less, avx512, bound, np, pending.data());
    for (int64_t i = 0; i < m; ++i) {
      const int64_t rep = rep0 + i0 + i, local = i0 + i;
      const Donors<Real> donors{ctx.in.perms + rep * n, dv + i * n};
      reroute(ctx, pending.data() + i * bound, np[i], donors, j, s.in_group.data(),
              changes_of(ctx, t, tr, raw + local * n * K, changed + local * n));
    }
  }
}

/// advance_group for a group of several columns through tree t: a row leaves its path if any
/// column of the group leaves its interval; it is then re-routed from the root with all of the
/// group's columns taken from the donor row.
template <typename Real>
void advance_columns(const PermutationContext<Real>& ctx, const TreeRows& tr, int64_t t, const int64_t* cols,
                     int64_t n_cols, int64_t rep0, int64_t rep1, double* raw, uint8_t* changed, TaskScratch<Real>& s) {
  const int64_t n = ctx.in.n_rows, K = ctx.f.n_outputs;
  const bool strict = ctx.f.strict_less;
  const int32_t root = static_cast<int32_t>(ctx.f.tree_offset[t]);
  auto& pending = s.pending;
  s.stamp.resize(static_cast<size_t>(n), 0);
  for (int64_t rep = rep0; rep < rep1; ++rep) {
    const int64_t* perm = ctx.in.perms + rep * n;
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
            s.in_group.data(), changes_of(ctx, t, tr, raw + (rep - rep0) * n * K, changed + (rep - rep0) * n));
  }
}

/// Moves group g's repeats [rep0, rep1) through trees [t0, t1): every row that lands in another
/// leaf adds the leaf difference to its repeat's raw sums (trees in order, so the arithmetic does
/// not depend on chunking or grouping) and is marked in that repeat's `changed`.
template <typename Real>
void advance_group(const PermutationContext<Real>& ctx, const std::vector<TreeRows>& tables, int64_t t0, int64_t t1,
                   int64_t g, int64_t rep0, int64_t rep1, double* raw, uint8_t* changed, TaskScratch<Real>& s,
                   const StopFlag& stop) {
  const PermutationInput& in = ctx.in;
  const int64_t n = in.n_rows, M = ctx.f.n_features;
  const int64_t* cols = in.group_columns + in.group_offsets[g];
  const int64_t n_cols = in.group_offsets[g + 1] - in.group_offsets[g];
  s.in_group.assign(static_cast<size_t>(M), 0);
  for (int64_t q = 0; q < n_cols; ++q) s.in_group[cols[q]] = 1;
  if (n_cols == 1) {
    // The permuted column of each repeat, read in row order by the scans.
    const Real* xj = ctx.XT.data() + cols[0] * n;
    s.donor_value.resize(static_cast<size_t>((rep1 - rep0) * n));
    for (int64_t rep = rep0; rep < rep1; ++rep) {
      const int64_t* perm = in.perms + rep * n;
      Real* dv = s.donor_value.data() + (rep - rep0) * n;
      for (int64_t r = 0; r < n; ++r) dv[r] = xj[perm[r]];
    }
  }
  const bool avx512 = in.allow_avx512 && use_avx512_scan();
  for (int64_t t = t0; t < t1 && !stop.load(std::memory_order_relaxed); ++t) {
    const TreeRows& tr = tables[t - t0];
    if (n_cols == 1) advance_column(ctx, tr, t, cols[0], rep0, rep1 - rep0, raw, changed, s, avx512);
    else advance_columns(ctx, tr, t, cols, n_cols, rep0, rep1, raw, changed, s);
  }
}

/// Marks in redo the changed rows whose predicted class could depend on the last bits of their
/// raw sums raw[n, K]: within tie_bound of 0 (one output) or of the runner-up (argmax).
inline void rows_near_class_ties(const double* raw, const uint8_t* changed, int64_t n, int64_t K, double B,
                                 std::vector<uint8_t>& redo) {
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
}

/// Marks in redo the changed rows whose ROC rank could depend on the last bits: rows whose exact
/// raw output k is equal are within 2B of each other in output k (the ROC score of class k is a
/// function of it), so the changed rows with another row within 2B. The changed rows, sorted by
/// their new value, walk along the unchanged rows' baseline values (`raw_order`; changed rows'
/// baseline values are stale) and are compared among themselves: O(n + c log c) for c changed rows.
inline void rows_near_rank_ties(const double* raw, const uint8_t* changed, int64_t n, int64_t K, double B,
                                const std::vector<RawOrder>& raw_order, std::vector<uint8_t>& redo, ScoreScratch& s) {
  const double reach = 2.0 * B;
  auto& items = s.moved;
  for (int64_t k = 0; k < K; ++k) {
    const RawOrder& base = raw_order[k];
    items.clear();
    for (int64_t i = 0; i < n; ++i)
      if (changed[i]) items.push_back(roc_item(i, raw[i * K + k], false));
    sort_roc_items(items, s.moved_tmp, s.histogram);  // descending value: walked backwards below
    size_t p = 0;
    double below = -std::numeric_limits<double>::infinity();  // the largest unchanged value < x
    const size_t nb = base.row.size();
    for (auto it = items.rbegin(); it != items.rend(); ++it) {
      const double x = raw[static_cast<int64_t>(it->row) * K + k];
      for (; p < nb && base.value[p] < x; ++p)
        if (!changed[base.row[p]]) below = base.value[p];
      bool near = x - below <= reach;
      for (size_t q = p; !near && q < nb && base.value[q] - x <= reach; ++q) near = !changed[base.row[q]];
      if (near) redo[it->row] = 1;
    }
    for (size_t q = 1; q < items.size(); ++q) {
      const int32_t a = items[q - 1].row, c = items[q].row;
      if (raw[static_cast<int64_t>(a) * K + k] - raw[static_cast<int64_t>(c) * K + k] <= reach) redo[a] = redo[c] = 1;
    }
  }
}

/// Rows of a task whose class or ROC rank could depend on the last bits of their delta-updated
/// raw sums (within 2 x tie_bound of a tie), among the changed ones.
template <typename Real>
void rows_near_ties(const PermutationContext<Real>& ctx, const ScoringSpec& spec, const double* raw,
                    const uint8_t* changed, std::vector<uint8_t>& redo, ScoreScratch& scratch) {
  const int64_t n = ctx.in.n_rows, K = ctx.f.n_outputs;
  redo.assign(static_cast<size_t>(n), 0);
  bool class_ties = false, rank_ties = false;
  for (Metric m : spec.metrics) {
    class_ties |= m == Metric::accuracy || m == Metric::balanced_accuracy;
    rank_ties |= m == Metric::roc_auc || m == Metric::roc_auc_ovr;
  }
  if (class_ties) rows_near_class_ties(raw, changed, n, K, ctx.tie_bound, redo);
  if (rank_ties) rows_near_rank_ties(raw, changed, n, K, ctx.tie_bound, ctx.raw_order, redo, scratch);
}

/// Re-sums the raw sums of the rows marked in redo over all trees in tree order (as the library
/// sums them), for group g's repeat rep.
template <typename Real>
void resum_in_tree_order(const PermutationContext<Real>& ctx, int64_t g, int64_t rep, const std::vector<uint8_t>& redo,
                         double* raw) {
  const ForestView& f = ctx.f;
  const PermutationInput& in = ctx.in;
  const int64_t n = in.n_rows, T = f.n_trees, M = f.n_features, K = f.n_outputs, W = f.value_width;
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

/// Scores of one (group, repeat) from its delta-updated raw sums (modified in place).
template <typename Real>
void score_repeat(const PermutationContext<Real>& ctx, const ScoringSpec& spec, const std::vector<double>& base_scores,
                  int64_t g, int64_t rep, double* raw, const uint8_t* changed, double* scores, ScoreScratch& scratch) {
  const int64_t n = ctx.in.n_rows, K = ctx.f.n_outputs;
  if (std::none_of(changed, changed + n, [](uint8_t c) { return c != 0; })) {
    std::copy(base_scores.begin(), base_scores.end(), scores);
    return;
  }
  if (spec.exact_order()) {
    // Rows whose class or rank could depend on the last bits: sum them in tree order.
    std::vector<uint8_t> redo;
    rows_near_ties(ctx, spec, raw, changed, redo, scratch);
    resum_in_tree_order(ctx, g, rep, redo, raw);
  }
  const ChangedRows delta{ctx.base_scoring, changed};
  score_raw(spec, raw, n, K, scores, scratch, spec.classifier ? &delta : nullptr);
}

}  // namespace detail
}  // namespace xplain
