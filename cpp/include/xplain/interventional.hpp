// Exact interventional (background-data) TreeSHAP in O(n + R) instead of O(n R).
//
// For one background row b the interventional game of a tree is a sum over leaves of products:
// leaf l (value v, unique path features U, |U| = k) is reached by the hybrid row (x_S, b_S̄) iff
// every i in U is "satisfied" by its source (x satisfies i iff x follows ALL of the leaf's edges
// on i; same for b). With o_i = [x satisfies i], s_i = [b satisfies i]:
//     phi_j += v (o_j - s_j) Integral_0^1 prod_{i != j} (q o_i + (1 - q) s_i) dq,
// and Integral q^a (1-q)^c dq = a! c! / (a + c + 1)! =: B(a, c).
// Averaging over the R background rows groups them per leaf by their pattern s (counts c(s)).
// For x with failed set Z (o_i = 0) and m = |Z|, only patterns s ⊇ Z contribute, and with
// H[Y][a] = sum_{s ⊇ Y, zeros(s) = a} c(s) (a superset-sum transform over the 2^k patterns),
//     alpha(Y) = sum_a H[Y][a] B(a, |Y| - 1),   delta(Y) = sum_{a >= 1} H[Y][a] B(a - 1, |Y|),
//     j in Z:  phi_j -= (v/R) alpha(Z)
//     j not in Z, Y = Z + {j}:  phi_j += (v/R) (delta(Z) - gamma(Y)),
//     gamma(Y) = sum_{a>=1} H[Y][a] B(a-1, |Y|-1) = alpha(Y) + delta(Y) - c(all ones) / |Y|
// (B(a-1, m-1) = B(a, m-1) + B(a-1, m) for a >= 1; H[Y][0] = c(all ones) for every Y).
// So fit() stores alpha and gamma per leaf and subset (2 x 2^k doubles, "table" leaves; delta(Z) =
// gamma(Z) - alpha(Z) + c(all ones) / |Z|, and delta({}) is kept in gamma({})'s slot), and a
// row costs O(k) per leaf whatever R is. Leaves whose table would be too large (k above a limit,
// 2^k much larger than R, or the total over the budget) keep their distinct background patterns
// (failed-set bitmask, count) instead and sum the same closed form over them per row ("pattern"
// leaves): still exact, O(distinct patterns) per leaf and row.
//
// Bits: every unique feature on a root-to-leaf path gets the bit index = number of unique features
// above its first occurrence, shared by all leaves below that occurrence, so one top-down pass
// per tree builds every leaf's failed mask (OR of the bits of the edges the row does not follow).
//
// Non-linear outputs (model_output "probability" / "log_loss", as in the shap package): shap
// explains each (x, b) pair's raw game and rescales it by (T(f(x)) - T(f(b))) / (f(x) - f(b)).
// That weight depends on the pair, so it is computed per pair (pair_shap_values, O(n R)).
//
// Where things are:
//   interventional/tables.hpp   InterventionalTables and the fitting options with their defaults
//   interventional/masks.hpp    the failed-mask walk over rows (row_blocks.hpp's walk)
//   interventional/fit.hpp      build_interventional_tables and its steps
//   interventional/pair.hpp     output transforms and pair_shap_values
//   this file                   SHAP values and interaction values of the raw output
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

#include "forest.hpp"
#include "interventional/fit.hpp"
#include "interventional/masks.hpp"
#include "interventional/pair.hpp"
#include "interventional/tables.hpp"

namespace xplain {

namespace detail {

/// A table leaf's credits to one row with failed set z (one word): phi of the row at the tree's
/// output is `out`, the leaf's value row `val`.
inline void credit_table_leaf(const ForestView& forest, const InterventionalTables& T, size_t ls, uint64_t z,
                              double invR, const double* val, double* out) {
  const int64_t K = forest.n_outputs, W = forest.value_width;
  const int64_t k = T.leaf_k[ls];
  const int32_t* feats = T.leaf_feature.data() + T.leaf_feature_begin[ls];
  const int64_t tb = T.table_begin[ls];
  const double* tab = T.table.data() + tb;
  const int64_t bz = tb / 2 + static_cast<int64_t>(z);
  if (!((T.nonempty[static_cast<size_t>(bz >> 6)] >> (bz & 63)) & 1)) return;  // no background row satisfies all of Z
  const int m = popcount64(z);
  const double aZ = tab[2 * z];
  const double dZ = m == 0 ? tab[1] : tab[2 * z + 1] - aZ + T.leaf_full[ls] / static_cast<double>(m);
  const double lose = -aZ * invR;
  for (uint64_t bits = z; bits; bits &= bits - 1) {
    double* o = out + static_cast<int64_t>(feats[ctz64(bits)]) * K;
    for (int64_t w = 0; w < W; ++w) o[w] += lose * val[w];
  }
  const uint64_t kept = ~z & ((uint64_t(1) << k) - 1);
  for (uint64_t bits = kept; bits; bits &= bits - 1) {
    const int j = ctz64(bits);
    const double gain = (dZ - tab[2 * (z | (uint64_t(1) << j)) + 1]) * invR;
    double* o = out + static_cast<int64_t>(feats[j]) * K;
    for (int64_t w = 0; w < W; ++w) o[w] += gain * val[w];
  }
}

/// A pattern leaf's credit per unique feature (credit[0, k), before the value and 1/R) for a row
/// with failed set Z, summed over the leaf's background patterns; false if no pattern contributes.
inline bool pattern_leaf_credits(const InterventionalTables& T, size_t ls, const uint64_t* Z, double* credit) {
  const int64_t nw = T.words, k = T.leaf_k[ls];
  int m = 0;
  for (int64_t w = 0; w < nw; ++w) m += popcount64(Z[w]);
  std::fill(credit, credit + k, 0.0);
  double acc_z = 0.0;
  bool any = false;
  for (int64_t p = T.pattern_begin[ls]; p < T.pattern_begin[ls + 1]; ++p) {
    const uint64_t* F = T.pattern_failed.data() + p * nw;
    bool ok = true;
    for (int64_t w = 0; w < nw; ++w) ok = ok && (F[w] & Z[w]) == 0;
    if (!ok) continue;  // the pattern fails a feature x fails too: no credit
    any = true;
    const double c = T.pattern_count[static_cast<size_t>(p)];
    const int64_t zb = T.pattern_zeros[static_cast<size_t>(p)];
    if (m > 0) acc_z += c * T.B(zb, m - 1);
    if (zb > 0) {
      const double cj = c * T.B(zb - 1, m);
      for (int64_t w = 0; w < nw; ++w)
        for (uint64_t bits = F[w]; bits; bits &= bits - 1) credit[static_cast<size_t>(w * 64 + ctz64(bits))] += cj;
    }
  }
  if (!any) return false;
  for (int64_t w = 0; w < nw; ++w)
    for (uint64_t bits = Z[w]; bits; bits &= bits - 1) credit[static_cast<size_t>(w * 64 + ctz64(bits))] = -acc_z;
  return true;
}

}  // namespace detail

/// Interventional SHAP values of rows X[n_rows, n_features] (C order) into
/// phi[n_rows, n_features, n_outputs] (overwritten), for the background summarized in `tables`
/// (from build_interventional_tables on the same forest). Cost per row is O(sum over leaves of
/// k) for table leaves and O(distinct background patterns) for pattern leaves, independent of
/// the number of background rows. The result does not depend on n_jobs.
inline void interventional_shap_values(const ForestView& forest, const InterventionalTables& T, const double* X,
                                       int64_t n_rows, double* phi, int n_jobs = 1,
                                       const std::function<bool()>& interrupted = {}) {
  const int64_t M = forest.n_features, K = forest.n_outputs, W = forest.value_width, MK = M * K;
  const int64_t nw = T.words;
  const double invR = 1.0 / static_cast<double>(T.n_background);
  std::fill(phi, phi + n_rows * MK, 0.0);
  int64_t max_k = 0;
  for (int32_t k : T.leaf_k) max_k = std::max<int64_t>(max_k, k);
  detail::for_each_leaf_of_rows(forest, T, X, n_rows, n_jobs, interrupted, [&] {
    return [&, credit = std::vector<double>(static_cast<size_t>(max_k + 1))](
               int64_t first, int lanes, int64_t t, int32_t leaf, const uint64_t* masks) mutable {
      const int64_t out0 = forest.tree_output[t];
      const size_t ls = static_cast<size_t>(leaf);
      const int64_t k = T.leaf_k[ls];
      const int32_t* feats = T.leaf_feature.data() + T.leaf_feature_begin[ls];
      const double* val = forest.value + T.leaf_node[ls] * W;
      const bool table = T.table_begin[ls] >= 0;
      for (int r = 0; r < lanes; ++r) {
        const uint64_t* Z = masks + r * nw;
        double* out = phi + (first + r) * MK + out0;
        if (table) {
          detail::credit_table_leaf(forest, T, ls, Z[0], invR, val, out);
          continue;
        }
        if (!detail::pattern_leaf_credits(T, ls, Z, credit.data())) continue;
        for (int64_t j = 0; j < k; ++j) {
          const double cr = credit[static_cast<size_t>(j)] * invR;
          if (cr == 0.0) continue;
          double* o = out + static_cast<int64_t>(feats[j]) * K;
          for (int64_t w = 0; w < W; ++w) o[w] += cr * val[w];
        }
      }
    };
  });
}

namespace detail {

/// Scratch of one interaction worker: per pattern, the features of A then B with their side.
struct PatternMembers {
  std::vector<int> members, in_a;
};

/// A pattern leaf's Shapley values shapley[k] and pairwise interaction indices pair[k][k] (halved
/// off the diagonal, before the value and 1/R) for a row with failed set Z of b features, summed
/// over the leaf's background patterns; false if every pattern's game is zero or constant.
inline bool pattern_leaf_interactions(const InterventionalTables& T, size_t ls, const uint64_t* Z, int b, double* pair,
                                      double* shapley, PatternMembers& pm) {
  const int64_t nw = T.words, k = T.leaf_k[ls];
  std::fill(pair, pair + k * k, 0.0);
  std::fill(shapley, shapley + k, 0.0);
  bool any = false;
  for (int64_t p = T.pattern_begin[ls]; p < T.pattern_begin[ls + 1]; ++p) {
    const uint64_t* F = T.pattern_failed.data() + p * nw;
    bool ok = true;
    for (int64_t w = 0; w < nw; ++w) ok = ok && (F[w] & Z[w]) == 0;
    const int a = T.pattern_zeros[static_cast<size_t>(p)];
    if (!ok || a + b == 0) continue;  // a feature fails for both, or the game is constant
    any = true;
    const double c = T.pattern_count[static_cast<size_t>(p)];
    // A = F (b fails, x satisfies), B = Z (x fails, b satisfies)
    pm.members.clear();
    pm.in_a.clear();
    for (int64_t w = 0; w < nw; ++w) {
      for (uint64_t bits = F[w]; bits; bits &= bits - 1) {
        pm.members.push_back(static_cast<int>(w * 64 + ctz64(bits)));
        pm.in_a.push_back(1);
      }
      for (uint64_t bits = Z[w]; bits; bits &= bits - 1) {
        pm.members.push_back(static_cast<int>(w * 64 + ctz64(bits)));
        pm.in_a.push_back(0);
      }
    }
    const double w_aa = a >= 2 ? 0.5 * c * T.B(a - 2, b) : 0.0;
    const double w_ab = a >= 1 && b >= 1 ? -0.5 * c * T.B(a - 1, b - 1) : 0.0;
    const double w_bb = b >= 2 ? 0.5 * c * T.B(a, b - 2) : 0.0;
    const double s_a = a >= 1 ? c * T.B(a - 1, b) : 0.0;
    const double s_b = b >= 1 ? -c * T.B(a, b - 1) : 0.0;
    const size_t n_members = pm.members.size();
    for (size_t u = 0; u < n_members; ++u) {
      const int i = pm.members[u];
      shapley[static_cast<size_t>(i)] += pm.in_a[u] ? s_a : s_b;
      for (size_t q = u + 1; q < n_members; ++q) {
        const int j = pm.members[q];
        const double wij = pm.in_a[u] && pm.in_a[q] ? w_aa : (pm.in_a[u] || pm.in_a[q] ? w_ab : w_bb);
        pair[static_cast<size_t>(i * k + j)] += wij;
        pair[static_cast<size_t>(j * k + i)] += wij;
      }
    }
  }
  return any;
}

/// Adds a leaf's interactions (pair, shapley over its k features feats) times its value row
/// val / R to one row's output o[n_sub, n_sub, K] at the tree's output out0.
inline void add_leaf_interactions(const ForestView& forest, const int32_t* feats, int64_t k, const double* pair,
                                  const double* shapley, const double* val, double invR, const int32_t* subset_index,
                                  int64_t n_sub, int64_t out0, double* o) {
  const int64_t K = forest.n_outputs, W = forest.value_width;
  for (int64_t i = 0; i < k; ++i) {
    const int32_t si = subset_index[feats[i]];
    if (si < 0) continue;
    double main = shapley[static_cast<size_t>(i)];
    for (int64_t j = 0; j < k; ++j) {
      if (j == i) continue;
      const double pij = pair[static_cast<size_t>(i * k + j)];
      main -= pij;
      const int32_t sj = subset_index[feats[j]];
      if (sj < 0 || pij == 0.0) continue;
      double* oij = o + (static_cast<int64_t>(si) * n_sub + sj) * K + out0;
      for (int64_t w = 0; w < W; ++w) oij[w] += pij * invR * val[w];
    }
    double* oii = o + (static_cast<int64_t>(si) * n_sub + si) * K + out0;
    for (int64_t w = 0; w < W; ++w) oii[w] += main * invR * val[w];
  }
}

}  // namespace detail

/// Interventional SHAP interaction values of the raw output (the Lundberg et al. definition:
/// off-diagonal entries are half the Shapley interaction index, the diagonal makes each row sum to
/// the SHAP value), out[n_rows, n_sub, n_sub, n_outputs] for the features with
/// subset_index[f] >= 0. Needs pattern statistics for every leaf (tables fitted with
/// max_table_bytes = 0); throws std::invalid_argument otherwise.
///
/// For one background row the game of a leaf with value v is v if the coalition holds every
/// feature of A (x satisfies, b does not) and none of B (b satisfies, x does not), else 0; with
/// a = |A|, b = |B|, k = a + b its interaction indices are, in Beta integrals B(p, q) =
/// p! q! / (p + q + 1)!: i, j in A: v B(a - 2, b); i in A, j in B: -v B(a - 1, b - 1); i, j in B:
/// v B(a, b - 2) (halved for the off-diagonal entries), and its Shapley values v B(a - 1, b) on A,
/// -v B(a, b - 1) on B. Each pattern of background rows adds these with its count. O(patterns x
/// k^2) per leaf and row.
inline void interventional_interaction_values(const ForestView& forest, const InterventionalTables& T, const double* X,
                                              int64_t n_rows, const int32_t* subset_index, int64_t n_sub, double* out,
                                              int n_jobs = 1, const std::function<bool()>& interrupted = {}) {
  const int64_t K = forest.n_outputs, W = forest.value_width;
  const int64_t nw = T.words, row_size = n_sub * n_sub * K;
  for (int64_t v : T.table_begin)
    if (v >= 0)
      throw std::invalid_argument("interventional interaction values need pattern statistics for every leaf");
  const double invR = 1.0 / static_cast<double>(T.n_background);
  std::fill(out, out + n_rows * row_size, 0.0);
  int64_t max_k = 0;
  for (int32_t k : T.leaf_k) max_k = std::max<int64_t>(max_k, k);
  detail::for_each_leaf_of_rows(forest, T, X, n_rows, n_jobs, interrupted, [&] {
    return [&, pair = std::vector<double>(static_cast<size_t>(max_k * max_k)),
            shapley = std::vector<double>(static_cast<size_t>(max_k)),
            members = detail::PatternMembers()](int64_t first, int lanes, int64_t t, int32_t leaf,
                                                 const uint64_t* masks) mutable {
      const size_t ls = static_cast<size_t>(leaf);
      const int64_t k = T.leaf_k[ls];
      const int32_t* feats = T.leaf_feature.data() + T.leaf_feature_begin[ls];
      const double* val = forest.value + T.leaf_node[ls] * W;
      for (int r = 0; r < lanes; ++r) {
        const uint64_t* Z = masks + r * nw;
        int b = 0;
        for (int64_t w = 0; w < nw; ++w) b += detail::popcount64(Z[w]);
        if (!detail::pattern_leaf_interactions(T, ls, Z, b, pair.data(), shapley.data(), members)) continue;
        detail::add_leaf_interactions(forest, feats, k, pair.data(), shapley.data(), val, invR, subset_index, n_sub,
                                      forest.tree_output[t], out + (first + r) * row_size);
      }
    };
  });
}

}  // namespace xplain
