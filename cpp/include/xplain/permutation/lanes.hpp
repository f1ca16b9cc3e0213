// Permutation importance, re-routing: the forest as branch-free lane nodes with the evaluated rows
// prepared for them (RowRouter), the scan that picks the rows whose permuted value leaves their
// leaf's interval (portable, and AVX-512 where the CPU has it, chosen at run time: the same
// pending rows either way), and the walk that re-routes those rows many side by side.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <vector>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define XPLAIN_AVX512_SCAN 1  // an AVX-512 scan beside the portable one, chosen at run time
#include <immintrin.h>
#endif

#include "../forest.hpp"
#include "../lane_walk.hpp"
#include "../parallel.hpp"
#include "../predict.hpp"
#include "tree_rows.hpp"

namespace xplain {
namespace detail {

/// The forest and the evaluated rows, ready for routing. Real: how the prepared rows are stored
/// (float when the library compares float32 values: half the cache).
template <typename Real>
struct RowRouter {
  explicit RowRouter(const ForestView& forest) : f(forest) {}

  const ForestView& f;
  LaneForest<Real> lanes;        ///< lanes.nodes empty: a node needs goes_left (the forest's own walk)
  bool rows_have_nan = false;    ///< does any evaluated (hence any donor) row hold NaN
  std::vector<Real> XP;          ///< prepared rows [n, M] (the values the library compares)
  std::vector<Real> XT;          ///< the same, column-major [M, n]
  int64_t n_rows = 0;            ///< n
  std::vector<uint8_t> no_group; ///< [M] zeros: a walk that takes every column from the row itself

  /// Fills the lane nodes, if every split allows them (numeric, NaN -> default or NaN -> 0).
  void build_lanes() { lanes.build(f); }

  /// Prepares the rows X[n, M] (row- and column-major) and notes whether any holds NaN.
  void prepare_rows(const double* X, int64_t n, int n_jobs, const std::function<bool()>& interrupted) {
    const int64_t M = f.n_features;
    no_group.assign(static_cast<size_t>(M), 0);
    n_rows = n;
    XP.resize(static_cast<size_t>(n * M));
    XT.resize(static_cast<size_t>(n * M));
    const int64_t n_chunks = (n + kRowChunk - 1) / kRowChunk;
    std::vector<uint8_t> chunk_has_nan(static_cast<size_t>(n_chunks), 0);
    parallel_for_chunks(
        n_chunks, resolve_threads(n_jobs, n_chunks),
        [&](int64_t chunk) {
          bool nan = false;
          for (int64_t r = chunk * kRowChunk; r < std::min(n, (chunk + 1) * kRowChunk); ++r)
            for (int64_t j = 0; j < M; ++j) {
              const Real x = static_cast<Real>(f.prepare(X[r * M + j]));
              XT[j * n + r] = XP[r * M + j] = x;
              nan |= x != x;
            }
          chunk_has_nan[chunk] = nan;
        },
        interrupted);
    rows_have_nan = std::any_of(chunk_has_nan.begin(), chunk_has_nan.end(), [](uint8_t c) { return c != 0; });
  }

  /// Leaves of tree t for the rows [r0, r1) into leaf[r - r0].
  void baseline_leaves(int64_t t, int64_t r0, int64_t r1, int32_t* leaf) const {
    const int64_t M = f.n_features, root = f.tree_offset[t];
    if (lanes.nodes.empty()) {
      for (int64_t r = r0; r < r1; ++r) {
        const Real* x = XP.data() + r * M;
        leaf[r - r0] = static_cast<int32_t>(walk(root, x, x, no_group.data()));
      }
      return;
    }
    const Real* rows[kLanes];
    for (int64_t b = r0; b < r1; b += kLanes) {
      const int count = static_cast<int>(std::min<int64_t>(kLanes, r1 - b));
      for (int k = 0; k < count; ++k) rows[k] = XP.data() + (b + k) * M;
      if (rows_have_nan) lanes.template leaves<true>(root, rows, count, f.strict_less, leaf + (b - r0));
      else lanes.template leaves<false>(root, rows, count, f.strict_less, leaf + (b - r0));
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

  /// apply() for one-value leaves (W == 1) without a branch on whether the leaf changed (a coin
  /// toss): an unchanged row adds 0.0, which leaves its sum as it is (but for the sign of a zero).
  void apply_scalar(int32_t r, int64_t leaf) const {
    const int64_t old_leaf = baseline_leaf[r];
    const bool moved = leaf != old_leaf;
    const double delta = moved ? value[leaf] - value[old_leaf] : 0.0;
    raw[r * K + output] += delta;
    changed[r] |= static_cast<uint8_t>(moved);
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

/// Re-routes the pending rows of one (tree, repeat) and applies their leaf changes. Rows walk
/// branch-free, kLanes at a time so that their loads overlap, until all of the block reach their
/// leaves. Single: the group is the one column j.
template <bool Single, bool MaybeNaN, typename Real>
void reroute_lanes(const RowRouter<Real>& ctx, const Pending* pending, int64_t P, const Donors<Real>& donors,
                   int64_t j, const uint8_t* in_group, const LeafChanges& changes) {
  const LaneNode<Real>* ln = ctx.lanes.nodes.data();
  const bool strict = ctx.f.strict_less;
  const int64_t n = ctx.n_rows;
  // Column-major reads: a tree tests few columns, so its rows' values of them stay in cache,
  // where a row-major row would bring a cache line of mostly untested columns per row.
  const Real* xt = ctx.XT.data();
  int64_t node[kLanes];
  int32_t row[kLanes];
  int64_t own[kLanes], donor[kLanes];
  Real u[kLanes];
  for (int64_t b = 0; b < P; b += kLanes) {
    const int cnt = static_cast<int>(std::min<int64_t>(kLanes, P - b));
    int32_t steps = 0;
    for (int k = 0; k < kLanes; ++k) {
      const auto& p = pending[b + (k < cnt ? k : 0)];
      row[k] = p.row;
      node[k] = p.node;
      own[k] = p.row;
      if (Single) u[k] = donors.donor_value[p.row];
      else donor[k] = donors.perm[p.row];
      steps = std::max(steps, ctx.lanes.height[p.node]);
    }
    for (int32_t step = 0; step < steps; ++step) {
      for (int k = 0; k < kLanes; ++k) {
        const LaneNode<Real>& nd = ln[node[k]];
        // Choosing the address, not the value, keeps this free of branches. One column: the
        // donor's value is the lane's constant, so only the own row is read.
        const Real* src = Single ? (nd.feature == j ? &u[k] : xt + nd.feature * n + own[k])
                                 : xt + nd.feature * n + (in_group[nd.feature] != 0 ? donor[k] : own[k]);
        node[k] = lane_next<MaybeNaN>(nd, MaybeNaN ? ctx.lanes.nan[node[k]] : 0, *src, strict);
      }
    }
    if (changes.W == 1)
      for (int k = 0; k < cnt; ++k) changes.apply_scalar(row[k], node[k]);
    else
      for (int k = 0; k < cnt; ++k) changes.apply(row[k], node[k]);
  }
}

/// Re-routes the pending rows of one (tree, repeat) from their nodes: branch-free lanes where the
/// forest allows them, else the forest's own walk. single_column: j, or -1 for several columns.
template <typename Real>
void reroute(const RowRouter<Real>& ctx, const Pending* pending, int64_t P, const Donors<Real>& donors,
             int64_t single_column, const uint8_t* in_group, const LeafChanges& changes) {
  const int64_t j = single_column;
  if (ctx.lanes.nodes.empty()) {
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

/// scan_entry for float rows, 16 rows at a time: AVX-512 gathers the donor values, compares them
/// with the interval and compress-stores the leaving rows in order, so that the pending rows are
/// exactly scan_entry's. Compiled for AVX-512 on its own (the rest of the build assumes no more
/// than the baseline instruction set) and called only where use_avx512_scan().
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

/// Whether this CPU runs scan_entry_avx512 (the float scans use it where the caller allows).
inline bool use_avx512_scan() {
#ifdef XPLAIN_AVX512_SCAN
  return __builtin_cpu_supports("avx512f");
#else
  return false;
#endif
}

/// The scan of tree tr's entries of column j for Size repeats (donor values dv[i * n + row]):
/// repeat i's rows to re-route go to pending[i * bound, i * bound + np[i]).
template <int64_t Size, typename Real>
void scan_column(const TreeRows& tr, int64_t j, const Real* dv, int64_t n, bool strict, bool avx512, int64_t bound,
                 int64_t* np, Pending* pending) {
  for (int64_t e = tr.offset[j]; e < tr.offset[j + 1]; ++e) {
    const LeafEntry& entry = tr.entries[e];
    const int32_t* rows = tr.rows.data() + tr.row_start[entry.slot];
    const int64_t count = tr.row_start[entry.slot + 1] - tr.row_start[entry.slot];
#ifdef XPLAIN_AVX512_SCAN
    if constexpr (std::is_same<Real, float>::value) {
      if (avx512) {
        scan_entry_avx512<Size>(entry, rows, count, dv, n, strict, bound, np, pending);
        continue;
      }
    }
#else
    (void)avx512;
#endif
    scan_entry<Size>(entry, rows, count, dv, n, strict, bound, np, pending);
  }
}

/// Repeats scanned per pass over a column's rows: their pending counts stay in registers.
constexpr int64_t kScanBatch = 8;

/// scan_column for a batch of m <= kScanBatch repeats, the batch size as a compile-time constant
/// (the loop over it unrolls).
template <typename Real>
void scan_column_batch(int64_t m, const TreeRows& tr, int64_t j, const Real* dv, int64_t n, bool strict, bool avx512,
                       int64_t bound, int64_t* np, Pending* pending) {
  static_assert(kScanBatch == 8, "one case per batch size below");
  switch (m) {
    case 1: scan_column<1>(tr, j, dv, n, strict, avx512, bound, np, pending); break;
    case 2: scan_column<2>(tr, j, dv, n, strict, avx512, bound, np, pending); break;
    case 3: scan_column<3>(tr, j, dv, n, strict, avx512, bound, np, pending); break;
    case 4: scan_column<4>(tr, j, dv, n, strict, avx512, bound, np, pending); break;
    case 5: scan_column<5>(tr, j, dv, n, strict, avx512, bound, np, pending); break;
    case 6: scan_column<6>(tr, j, dv, n, strict, avx512, bound, np, pending); break;
    case 7: scan_column<7>(tr, j, dv, n, strict, avx512, bound, np, pending); break;
    default: scan_column<kScanBatch>(tr, j, dv, n, strict, avx512, bound, np, pending); break;
  }
}

}  // namespace detail

/// Whether permutation_scores scans float rows with AVX-512 on this CPU (else the portable scan;
/// both give the same pending rows in the same order, hence the same bits).
inline bool permutation_scan_can_use_avx512() { return detail::use_avx512_scan(); }

}  // namespace xplain
