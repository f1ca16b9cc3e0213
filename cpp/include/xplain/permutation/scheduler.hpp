// Permutation importance, the scheduler: prepares the shared context (lane nodes, prepared rows,
// the baseline), cuts the trees into cache-sized chunks and the (group, repeat) tasks into units
// and blocks that fit the memory budget, and runs every unit through every chunk. Each unit owns
// its raw sums, updated in tree order, so the result depends neither on this split nor on n_jobs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

#include "../forest.hpp"
#include "../metrics.hpp"
#include "../parallel.hpp"
#include "../predict.hpp"
#include "engine.hpp"
#include "lanes.hpp"
#include "tree_rows.hpp"

namespace xplain {
namespace detail {

/// A tree chunk holds about this many bytes of lane nodes (the re-routing working set)...
constexpr int64_t kChunkNodeBytes = int64_t{768} << 10;
/// ... and at most this many bytes of tree tables (rows and leaves: 8 n bytes; leaf entries: at
/// most 16 x leaves x path length) at once.
constexpr int64_t kChunkTableBytes = int64_t{64} << 20;

/// `targets` with what every scoring would otherwise recompute (the r2 denominator).
inline ScoringSpec with_shared_terms(const ScoringSpec& targets, int64_t n) {
  ScoringSpec spec = targets;
  if (!spec.classifier && std::count(spec.metrics.begin(), spec.metrics.end(), Metric::r2)) {
    ScoreScratch scratch;
    spec.r2_denominator = r2_denominator(spec, n, scratch);
  }
  return spec;
}

/// A bound on |delta-updated raw sum - tree-order sum| of any raw output.
inline double tie_bound_of(const ForestView& f, const double* value) {
  const int64_t T = f.n_trees, K = f.n_outputs, W = f.value_width;
  double max_abs = 0.0;
  for (int64_t v = 0; v < f.n_nodes; ++v)
    if (f.left[v] < 0)
      for (int64_t c = 0; c < W; ++c) max_abs = std::max(max_abs, std::fabs(value[v * W + c]));
  double base_abs = 0.0;
  for (int64_t k = 0; k < K; ++k) base_abs = std::max(base_abs, std::fabs(f.base_value[k]));
  // Both sums carry at most (T + 2) roundings of magnitude <= eps * (|base| + T max|v|)
  // (a delta update adds two per changed tree, each bounded likewise); a factor 8 to spare.
  const double mag = base_abs + static_cast<double>(T) * max_abs;
  return 8.0 * static_cast<double>(2 * T + 4) * std::numeric_limits<double>::epsilon() * mag;
}

/// The baseline raw sums ctx.base_raw: base + the trees' values in tree order, as predict_raw adds
/// them. Keeps the rows' leaves (ctx.tree_leaf) for the tree tables if they fit a chunk's table
/// budget and the task budget, saving a second walk.
template <typename Real>
void baseline_pass(PermutationContext<Real>& ctx, int64_t task_memory_bytes, int n_jobs,
                   const std::function<bool()>& interrupted) {
  const ForestView& f = ctx.f;
  const int64_t n = ctx.in.n_rows, T = f.n_trees, K = f.n_outputs, W = f.value_width;
  ctx.base_raw.resize(static_cast<size_t>(n * K));
  if (T * n * static_cast<int64_t>(sizeof(int32_t)) <= std::min(kChunkTableBytes, task_memory_bytes))
    ctx.tree_leaf.resize(static_cast<size_t>(T * n));
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
            const double* v = ctx.in.value + static_cast<int64_t>(leaf[r - r0]) * W;
            double* o = ctx.base_raw.data() + r * K + f.tree_output[t];
            for (int64_t c = 0; c < W; ++c) o[c] += v[c];
          }
        }
      },
      interrupted);
}

/// The first tree of every chunk, then n_trees: chunks of about kChunkNodeBytes of lane nodes
/// (lane_node_bytes each) and at most kChunkTableBytes of tree tables for n rows.
inline std::vector<int64_t> tree_chunks(const ForestView& f, int64_t n, int64_t lane_node_bytes) {
  const int64_t T = f.n_trees, M = f.n_features;
  std::vector<int64_t> chunk_start{0};
  std::vector<int32_t> depth(static_cast<size_t>(f.n_nodes), 0);  // parents come before children
  for (int64_t v = 0; v < f.n_nodes; ++v)
    if (f.left[v] >= 0) depth[f.left[v]] = depth[f.right[v]] = depth[v] + 1;
  int64_t node_bytes = 0, table_bytes = 0;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t nodes = f.tree_offset[t + 1] - f.tree_offset[t];
    const int64_t b = nodes * lane_node_bytes;
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
  return chunk_start;
}

/// Units of work: a group with a block of its repeats (all of them unless there are too few
/// groups to keep the threads busy, or their raw sums would not fit in task_memory_bytes), run
/// in blocks of units whose raw sums fit in task_memory_bytes. Results do not depend on this split.
struct UnitPlan {
  int64_t n_repeats = 0, reps_per_unit = 1, units_per_group = 1, n_units = 0, block = 1;

  /// Unit u is group g's repeats [rep0, rep1).
  void range(int64_t u, int64_t& g, int64_t& rep0, int64_t& rep1) const {
    g = u / units_per_group;
    rep0 = (u % units_per_group) * reps_per_unit;
    rep1 = std::min(n_repeats, rep0 + reps_per_unit);
  }
};

inline UnitPlan plan_units(int64_t n, int64_t K, int64_t R, int64_t G, int64_t task_memory_bytes) {
  UnitPlan p;
  p.n_repeats = R;
  const int64_t task_bytes = n * (K * static_cast<int64_t>(sizeof(double)) + 1);
  p.reps_per_unit = std::max<int64_t>(1, R / std::max<int64_t>(1, std::min<int64_t>(R, (8 + G - 1) / G)));
  p.reps_per_unit = std::max<int64_t>(1, std::min(p.reps_per_unit, task_memory_bytes / task_bytes));
  p.units_per_group = (R + p.reps_per_unit - 1) / p.reps_per_unit;
  p.n_units = G * p.units_per_group;
  const int64_t unit_bytes = p.reps_per_unit * task_bytes;
  p.block = std::max<int64_t>(1, std::min<int64_t>(p.n_units, task_memory_bytes / unit_bytes));
  return p;
}

/// The TreeRows of trees [t0, t1) into tables (in parallel over trees).
template <typename Real>
void build_tables(const PermutationContext<Real>& ctx, int64_t t0, int64_t t1, std::vector<TreeRows>& tables, int n_jobs,
                  const std::function<bool()>& interrupted) {
  const int64_t n = ctx.in.n_rows;
  tables.resize(static_cast<size_t>(t1 - t0));
  parallel_for_chunks(
      t1 - t0, resolve_threads(n_jobs, t1 - t0),
      [&](int64_t i) {
        const int64_t t = t0 + i;
        TreeRows& tr = tables[i];
        tr.leaf.resize(static_cast<size_t>(n));
        if (ctx.tree_leaf.empty()) ctx.baseline_leaves(t, 0, n, tr.leaf.data());
        else std::copy_n(ctx.tree_leaf.begin() + t * n, n, tr.leaf.begin());
        std::vector<LeafFeature> leaf_features;
        std::vector<int64_t> lf_offset;
        build_tree_rows(ctx.f, t, n, tr, leaf_features, lf_offset);
      },
      interrupted);
}

/// Units [unit0, unit1) as offsets from unit0, the costliest first (rows their columns list in
/// these trees, times their repeats), so that no thread is left with a long unit at the end.
/// Only the order of work changes.
inline std::vector<int64_t> costliest_first(const PermutationInput& in, const UnitPlan& plan, int64_t unit0,
                                            int64_t unit1, const std::vector<TreeRows>& tables) {
  std::vector<int64_t> order(static_cast<size_t>(unit1 - unit0)), cost(order.size(), 0);
  for (int64_t b = 0; b < unit1 - unit0; ++b) {
    int64_t g, rep0, rep1;
    plan.range(unit0 + b, g, rep0, rep1);
    for (int64_t q = in.group_offsets[g]; q < in.group_offsets[g + 1]; ++q)
      for (const TreeRows& tr : tables) cost[b] += tr.rows_listed(in.group_columns[q]);
    cost[b] *= rep1 - rep0;
  }
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return cost[a] > cost[b]; });
  return order;
}

/// The raw sums of a unit's repeats: they live from its first tree chunk to its last, where the
/// unit scores them (with one chunk, as for most forests, all in one task, while in cache).
struct UnitSums {
  std::vector<double> raw;       ///< [repeats, n, K]
  std::vector<uint8_t> changed;  ///< [repeats, n]
};

/// What every unit of one call shares.
template <typename Real>
struct UnitWork {
  const PermutationContext<Real>& ctx;
  const ScoringSpec& spec;
  const std::vector<double>& base_scores;
  const UnitPlan& plan;
  double* out;  ///< [G, R, n_metrics]

  /// Moves unit u through trees [t0, t1) (`tables`), tree chunk c of n_chunks; after the last
  /// chunk, scores its repeats and frees its sums.
  void advance(int64_t u, UnitSums& us, const std::vector<TreeRows>& tables, int64_t t0, int64_t t1, int64_t c,
               int64_t n_chunks, const StopFlag& stop) const {
    const int64_t n = ctx.in.n_rows, K = ctx.f.n_outputs;
    const int64_t n_metrics = static_cast<int64_t>(spec.metrics.size());
    int64_t g, rep0, rep1;
    plan.range(u, g, rep0, rep1);
    if (c == 0) {
      us.raw.resize(static_cast<size_t>((rep1 - rep0) * n * K));
      for (int64_t rep = rep0; rep < rep1; ++rep)
        std::copy(ctx.base_raw.begin(), ctx.base_raw.end(), us.raw.begin() + (rep - rep0) * n * K);
      us.changed.assign(static_cast<size_t>((rep1 - rep0) * n), 0);
    }
    TaskScratch<Real> scratch;
    advance_group(ctx, tables, t0, t1, g, rep0, rep1, us.raw.data(), us.changed.data(), scratch, stop);
    if (c + 1 < n_chunks || stop.load(std::memory_order_relaxed)) return;
    ScoreScratch score_scratch;
    for (int64_t rep = rep0; rep < rep1; ++rep)
      score_repeat(ctx, spec, base_scores, g, rep, us.raw.data() + (rep - rep0) * n * K,
                   us.changed.data() + (rep - rep0) * n, out + (g * plan.n_repeats + rep) * n_metrics, score_scratch);
    us = UnitSums{};  // free it for the next unit
  }
};

/// Runs every unit through every tree chunk (chunk_start from tree_chunks), a block of units at a
/// time: for each chunk, its trees' tables are built (in parallel over trees), then every unit of
/// the block moves through the chunk (in parallel over units).
template <typename Real>
void run_units(const UnitWork<Real>& work, const std::vector<int64_t>& chunk_start, int n_jobs,
               const std::function<bool()>& interrupted) {
  const UnitPlan& plan = work.plan;
  const int64_t n_chunks = static_cast<int64_t>(chunk_start.size()) - 1;
  std::vector<TreeRows> tables;
  for (int64_t unit0 = 0; unit0 < plan.n_units; unit0 += plan.block) {
    const int64_t unit1 = std::min(plan.n_units, unit0 + plan.block);
    std::vector<UnitSums> sums(static_cast<size_t>(unit1 - unit0));
    for (int64_t c = 0; c < n_chunks; ++c) {
      const int64_t t0 = chunk_start[c], t1 = chunk_start[c + 1];
      if (unit0 == 0 || n_chunks > 1)  // one chunk: its tables serve every block
        build_tables(work.ctx, t0, t1, tables, n_jobs, interrupted);
      const std::vector<int64_t> order = costliest_first(work.ctx.in, plan, unit0, unit1, tables);
      StopFlag stop{false};  // a unit can take seconds: it stops between trees when asked
      parallel_for_chunks(
          unit1 - unit0, resolve_threads(n_jobs, unit1 - unit0),
          [&](int64_t position) {
            const int64_t b = order[position];
            work.advance(unit0 + b, sums[static_cast<size_t>(b)], tables, t0, t1, c, n_chunks, stop);
          },
          interrupted, &stop);
    }
  }
}

/// permutation_scores after validation, with prepared rows stored as Real.
template <typename Real>
void permutation_scores_impl(const ForestView& f, const PermutationInput& in, const ScoringSpec& targets, double* out,
                             double* baseline_out, int n_jobs, const std::function<bool()>& interrupted,
                             int64_t task_memory_bytes) {
  const ScoringSpec spec = with_shared_terms(targets, in.n_rows);
  const int64_t n = in.n_rows, K = f.n_outputs;
  PermutationContext<Real> ctx(f, in);
  ctx.build_lanes();
  ctx.prepare_rows(in.X, n, n_jobs, interrupted);
  ctx.tie_bound = tie_bound_of(f, in.value);
  baseline_pass(ctx, task_memory_bytes, n_jobs, interrupted);
  // A task that changes no leaf scores the baseline rows.
  std::vector<double> base_scores(spec.metrics.size());
  {
    ScoreScratch scratch;
    score_raw(spec, ctx.base_raw.data(), n, K, base_scores.data(), scratch);
  }
  if (baseline_out) std::copy(base_scores.begin(), base_scores.end(), baseline_out);
  ctx.base_scoring = baseline_scores(spec, ctx.base_raw.data(), n, K);
  if (spec.exact_order() && std::any_of(spec.metrics.begin(), spec.metrics.end(), [](Metric m) {
        return m == Metric::roc_auc || m == Metric::roc_auc_ovr;
      })) {
    ctx.raw_order.resize(static_cast<size_t>(K));
    for (int64_t k = 0; k < K; ++k) {
      auto& order = ctx.raw_order[k];
      order.row.resize(static_cast<size_t>(n));
      std::iota(order.row.begin(), order.row.end(), 0);
      std::sort(order.row.begin(), order.row.end(),
                [&](int32_t a, int32_t b) { return ctx.base_raw[a * K + k] < ctx.base_raw[b * K + k]; });
      for (const int32_t r : order.row) order.value.push_back(ctx.base_raw[r * K + k]);
    }
  }
  const UnitPlan plan = plan_units(n, K, in.n_repeats, in.n_groups, task_memory_bytes);
  const UnitWork<Real> work{ctx, spec, base_scores, plan, out};
  run_units(work, tree_chunks(f, n, static_cast<int64_t>(sizeof(LaneNode<Real>))), n_jobs, interrupted);
}

}  // namespace detail
}  // namespace xplain
