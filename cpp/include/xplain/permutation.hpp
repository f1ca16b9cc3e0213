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
// library itself computes and ties break exactly as in scikit-learn; models whose own arithmetic
// is float32 (ScoringSpec::float32_output) skip that (ScoringSpec::exact_order()).
//
// Metrics follow scikit-learn's formulas and summation order (numpy's pairwise sum), so the
// scores agree to float64 round-off. Each task writes its own output slot with its own scratch:
// results are bitwise identical for every n_jobs.
//
// Where things are:
//   metrics.hpp                 ScoringSpec, links, predict rules, the scikit-learn metrics
//   permutation/tree_rows.hpp   per tree: rows by leaf, leaves by feature with their intervals
//   permutation/lanes.hpp       lane nodes, prepared rows, the scans (AVX-512 too), re-routing
//   permutation/engine.hpp      PermutationInput, the context, one task through trees, scoring it
//   permutation/scheduler.hpp   tree chunks, units and blocks of tasks, the run
//   this file                   the entry points
#pragma once

#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

#include "forest.hpp"
#include "metrics.hpp"
#include "permutation/engine.hpp"
#include "permutation/lanes.hpp"
#include "permutation/scheduler.hpp"
#include "predict.hpp"

namespace xplain {

/// Default bound on the permuted raw sums (and the kept baseline leaves) held at once.
constexpr int64_t kDefaultTaskMemoryBytes = int64_t{256} << 20;

/// Scores after permuting each column group, for every (group, repeat):
/// out[(g * n_repeats + r) * n_metrics + m], and the unpermuted rows' scores in baseline_out
/// (n_metrics, if not null). Throws std::invalid_argument on bad input (checked before any work).
///
/// Trees are visited in chunks small enough to stay in cache: for each chunk, every tree's rows
/// are routed and indexed by feature once (in parallel over trees), then every task moves through
/// the chunk (in parallel over tasks). Each task owns its raw sums, updated in tree order, so the
/// result does not depend on the chunking or on n_jobs. Tasks are processed in blocks whose raw
/// sums fit in `task_memory_bytes`.
inline void permutation_scores(const ForestView& f, const PermutationInput& in, const ScoringSpec& spec,
                               double* out, double* baseline_out, int n_jobs,
                               const std::function<bool()>& interrupted = {},
                               int64_t task_memory_bytes = kDefaultTaskMemoryBytes) {
  in.check(f);
  spec.check(in.n_rows, f.n_outputs);
  if (task_memory_bytes < 1) throw std::invalid_argument("task_memory_bytes must be positive");
  if (f.float32_input)
    detail::permutation_scores_impl<float>(f, in, spec, out, baseline_out, n_jobs, interrupted, task_memory_bytes);
  else
    detail::permutation_scores_impl<double>(f, in, spec, out, baseline_out, n_jobs, interrupted, task_memory_bytes);
}

/// Scores [n_metrics] of the forest's predictions on the rows X[n_rows, n_features] (C order),
/// with the per-node values `value` [value_rows, value_cols] (the forest's shape) in place of the
/// forest's own: the unpermuted baseline. Throws std::invalid_argument on bad input.
inline void forest_scores(const ForestView& f, const double* value, int64_t value_rows, int64_t value_cols,
                          const double* X, int64_t n_rows, const ScoringSpec& spec, double* out, int n_jobs,
                          const std::function<bool()>& interrupted = {}) {
  check_node_values(f, value_rows, value_cols);
  spec.check(n_rows, f.n_outputs);
  std::vector<double> raw(static_cast<size_t>(n_rows * f.n_outputs));
  predict_raw(f, X, n_rows, raw.data(), n_jobs, interrupted, value);
  ScoreScratch scratch;
  score_raw(spec, raw.data(), n_rows, f.n_outputs, out, scratch);
}

}  // namespace xplain
