// The row-block walk shared by the SHAP engines (path-dependent values and interactions,
// interventional values and interactions): rows in fixed parallel chunks, each chunk prepared and
// transposed into blocks of kShapBlock rows so that the per-node work runs across rows in SIMD
// lanes, and every tree visited for every block, trees outer (a tree's tables stay hot in cache
// across the chunk's blocks). Chunks own their rows' output, so results never depend on n_jobs.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "forest.hpp"
#include "parallel.hpp"

namespace xplain {

/// Rows processed together in the SIMD lanes of the kernels.
constexpr int kShapBlock = 32;
/// Rows per parallel chunk: every tree's tables stay hot in cache across the chunk's blocks.
constexpr int64_t kShapChunk = 128;

namespace detail {

template <typename Job, typename = void>
struct has_finish : std::false_type {};
template <typename Job>
struct has_finish<Job, std::void_t<decltype(std::declval<Job&>().finish())>> : std::true_type {};

/// 1.0 where lane r goes left at a numeric split with threshold `thr` under missing-value rule
/// kRule (ForestView::goes_left), else 0.0. Each rule has its own loop of selects on doubles, so
/// every lane loop vectorises (one loop testing the rule inside ran scalar, with a branch per lane).
template <uint8_t kRule, bool kStrict>
inline void numeric_decisions(const double* __restrict x, double thr, double default_dir, double* __restrict out) {
  constexpr int R = kShapBlock;
  const double zero_band = static_cast<double>(1e-35f);  // LightGBM kZeroThreshold
  for (int r = 0; r < R; ++r) {
    const double v = kRule == kNaNAsZero ? (x[r] == x[r] ? x[r] : 0.0) : x[r];
    const double below = (kStrict ? v < thr : v <= thr) ? 1.0 : 0.0;
    if constexpr (kRule == kNaNOrZeroDefault) {
      out[r] = std::fabs(v) > zero_band ? below : default_dir;  // false for NaN too
    } else if constexpr (kRule == kNaNDefault) {
      out[r] = v == v ? below : default_dir;
    } else {
      out[r] = below;
    }
  }
}

template <bool kStrict>
inline void numeric_decisions(uint8_t rule, const double* x, double thr, double default_dir, double* out) {
  switch (rule) {
    case kNaNAsZero: return numeric_decisions<kNaNAsZero, kStrict>(x, thr, default_dir, out);
    case kNaNOrZeroDefault: return numeric_decisions<kNaNOrZeroDefault, kStrict>(x, thr, default_dir, out);
    default: return numeric_decisions<kNaNDefault, kStrict>(x, thr, default_dir, out);
  }
}

/// 1.0 where lane r of the block goes left at internal forest node `split`, else 0.0.
/// `xt` is the block transposed ([feature][lane]) and already prepared (float32-rounded if needed).
/// `plain_splits`: every split of the forest is numeric with NaN -> default_left.
inline void block_decisions(const ForestView& forest, bool plain_splits, int64_t split, const double* xt,
                            double* out) {
  constexpr int R = kShapBlock;
  const double* x = xt + static_cast<int64_t>(forest.feature[split]) * R;
  if (!plain_splits && forest.cat_offset && forest.cat_offset[split] >= 0) {
    for (int r = 0; r < R; ++r) out[r] = forest.goes_left(split, x[r]) ? 1.0 : 0.0;
    return;
  }
  const uint8_t rule = plain_splits || !forest.missing_rule ? static_cast<uint8_t>(kNaNDefault)
                                                            : forest.missing_rule[split];
  const double thr = forest.threshold[split], default_dir = forest.default_left[split] ? 1.0 : 0.0;
  if (forest.strict_less) {
    numeric_decisions<true>(rule, x, thr, default_dir, out);
  } else {
    numeric_decisions<false>(rule, x, thr, default_dir, out);
  }
}

/// Transposes and prepares rows [r0, r1) of X (C order) into blocks of kShapBlock lanes
/// ([block][feature][lane]); lanes past r1 repeat the last row.
inline void transpose_rows(const ForestView& forest, const double* X, int64_t r0, int64_t r1, std::vector<double>& xt) {
  constexpr int L = kShapBlock;
  const int64_t M = forest.n_features, n_blocks = (r1 - r0 + L - 1) / L;
  xt.resize(static_cast<size_t>(n_blocks * M * L));
  for (int64_t b = 0; b < n_blocks; ++b)
    for (int r = 0; r < L; ++r) {
      const double* x = X + std::min(r0 + b * L + r, r1 - 1) * M;
      for (int64_t f = 0; f < M; ++f) xt[static_cast<size_t>((b * M + f) * L + r)] = forest.prepare(x[f]);
    }
}

/// Whether every split of the forest is numeric with NaN -> default_left (block_decisions'
/// branch-free case).
inline bool plain_splits_of(const ForestView& forest) {
  return forest.missing_rule == nullptr && forest.cat_offset == nullptr;
}

/// A chunk of walk_row_blocks made of its own scratch and job:
/// `visit_block(scratch, job, t, block_first_row, lanes, xt, plain_splits)` walks one (tree, block);
/// `job.finish()`, where the job has one, runs after the chunk's last tree.
template <typename Scratch, typename Job, typename VisitBlock>
struct ScratchChunk {
  Scratch scratch;
  Job job;
  VisitBlock visit_block;

  void block(int64_t t, int64_t first_row, int lanes, const double* xt, bool plain_splits) {
    visit_block(scratch, job, t, first_row, lanes, xt, plain_splits);
  }
  void finish() {
    if constexpr (has_finish<Job>::value) job.finish();
  }
};

template <typename Scratch, typename Job, typename VisitBlock>
ScratchChunk<Scratch, Job, VisitBlock> scratch_chunk(Scratch scratch, Job job, VisitBlock visit_block) {
  return {std::move(scratch), std::move(job), std::move(visit_block)};
}

/// The walk: for every fixed chunk of kShapChunk rows of X[n_rows, n_features] (in parallel),
/// `auto chunk = make_chunk(first_row, end_row)`, then for every tree t (in order) and every
/// block of the chunk `chunk.block(t, block_first_row, lanes, xt, plain_splits)` with xt the
/// block prepared and transposed ([feature][lane]; `lanes` real rows, the rest repeat the chunk's
/// last row), then `chunk.finish()`.
template <typename MakeChunk>
void walk_row_blocks(const ForestView& forest, const double* X, int64_t n_rows, int n_jobs,
                     const std::function<bool()>& interrupted, MakeChunk&& make_chunk) {
  constexpr int L = kShapBlock;
  const int64_t M = forest.n_features;
  const bool plain_splits = plain_splits_of(forest);
  const int64_t n_chunks = (n_rows + kShapChunk - 1) / kShapChunk;
  parallel_for_chunks(
      n_chunks, resolve_threads(n_jobs, n_chunks),
      [&](int64_t c) {
        const int64_t r0 = c * kShapChunk, r1 = std::min(n_rows, r0 + kShapChunk);
        std::vector<double> xt;
        transpose_rows(forest, X, r0, r1, xt);
        auto chunk = make_chunk(r0, r1);
        const int64_t n_blocks = (r1 - r0 + L - 1) / L;
        for (int64_t t = 0; t < forest.n_trees; ++t)
          for (int64_t b = 0; b < n_blocks; ++b) {
            const int64_t first = r0 + b * L;
            const int lanes = static_cast<int>(std::min<int64_t>(L, r1 - first));
            chunk.block(t, first, lanes, xt.data() + b * M * L, plain_splits);
          }
        chunk.finish();
      },
      interrupted);
}

}  // namespace detail
}  // namespace xplain
