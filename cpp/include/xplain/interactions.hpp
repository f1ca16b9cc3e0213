// Exact path-dependent SHAP interaction values (Lundberg et al. 2020, as shap and XGBoost define
// them): Phi_ij = (phi_i with j always present - phi_i with j always absent) / 2 for i != j, and
// Phi_ii = phi_i - sum_{j != i} Phi_ij.
//
// With u_k = (o_k - z_k) / (q o_k + (1 - q) z_k) for a leaf's merged (o, z) of feature k,
//     Phi_ij = 1/2 sum_leaves v Integral_0^1 F(q) u_i(q) u_j(q) dq,
// where F is the product of the leaf's edge factors. Along a root-to-leaf path u_i u_j changes only
// at edges on i or j; by the product rule each edge b on feature j adds u_i(at b) * delta u_j(b)
// for every other feature i already on the path, and the sum of v F over the leaves below b is the
// walk's G(b). So one depth-first walk credits every pair at its deeper edge: O(nodes x depth x
// points) per row and tree, instead of M conditioned TreeSHAP runs.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

#include "treeshap.hpp"

namespace xplain {

namespace detail {

/// Per-chunk accumulators of one interaction job: SHAP values and the off-diagonal row sums of
/// every row in the chunk over all features (needed for the diagonal even when only a subset of
/// features is written out).
struct InteractionChunk {
  std::vector<double> phi, row_sum;  ///< [row in chunk][feature][output]
  std::vector<double> U;             ///< [depth][p][lane]: u of the path's edge at each depth
  std::vector<uint8_t> superseded;   ///< [depth]: a deeper edge on the path has the same feature
  std::vector<double> V;             ///< [p][lane]: weight * delta u * G of the current edge
};

struct InteractionVisitor {
  static constexpr int R = kShapBlock;
  const ForestView& forest;
  const PathShapTables& T;
  const ShapScratch& s;
  InteractionChunk& chunk;
  const int32_t* subset_index;  ///< [n_features]: position in the output, or -1
  double* out;                  ///< [n_rows, n_sub, n_sub, n_outputs]
  int64_t n_sub, first_row, chunk_first_row, end_row, nb, tb, out0;
  int P;

  void enter(int32_t i, int64_t d) {
    const double* u1 = T.u1.data() + tb + static_cast<int64_t>(i) * P;
    const double* u0 = T.u0.data() + tb + static_cast<int64_t>(i) * P;
    const double* m = s.on.data() + d * R;
    double* U = chunk.U.data() + d * P * R;
    for (int p = 0; p < P; ++p)
      for (int r = 0; r < R; ++r) U[p * R + r] = u0[p] + m[r] * (u1[p] - u0[p]);
    const int32_t pv = T.prev_same[nb + i];
    if (pv >= 0) chunk.superseded[static_cast<size_t>(T.depth[nb + pv])] = 1;
    chunk.superseded[static_cast<size_t>(d)] = 0;
  }

  void leave(int32_t i, int64_t) {
    const int32_t pv = T.prev_same[nb + i];
    if (pv >= 0) chunk.superseded[static_cast<size_t>(T.depth[nb + pv])] = 0;
  }

  template <int kPoints>
  void edge(int32_t i, int64_t d, const double* G) {
    const int P = kPoints > 0 ? kPoints : this->P;
    const int64_t K = forest.n_outputs, M = forest.n_features, PR = static_cast<int64_t>(P) * R;
    const double* weights = quadrature_weights;
    const int32_t pv = T.prev_same[nb + i];
    const double* U = chunk.U.data() + d * PR;
    const double* U_before = pv >= 0 ? chunk.U.data() + static_cast<int64_t>(T.depth[nb + pv]) * PR : nullptr;
    const int64_t j = T.edge_feature[nb + i];
    const int32_t sj = subset_index[j];
    const int32_t* node_at = s.open.data();
    double* Vp = chunk.V.data();
    for (int64_t w_out = 0; w_out < forest.value_width; ++w_out) {
      const int64_t k = out0 + w_out;
      const double* Gw = G + w_out * PR;
      // V = weight * delta u_j * G; its sum over points is this edge's SHAP credit
      double credit[R];
      for (int r = 0; r < R; ++r) credit[r] = 0.0;
      for (int p = 0; p < P; ++p)
        for (int r = 0; r < R; ++r) {
          const double du = U[p * R + r] - (U_before ? U_before[p * R + r] : 0.0);
          Vp[p * R + r] = weights[p] * du * Gw[p * R + r];
          credit[r] += Vp[p * R + r];
        }
      for (int r = 0; r < R; ++r) {
        const int64_t row = first_row + r;
        if (row < end_row) chunk.phi[static_cast<size_t>(((row - chunk_first_row) * M + j) * K + k)] += credit[r];
      }
      for (int64_t a = 1; a < d; ++a) {
        if (chunk.superseded[static_cast<size_t>(a)]) continue;
        const int64_t ia = T.edge_feature[nb + node_at[a]];
        const double* Ua = chunk.U.data() + a * PR;
        double pair[R];
        for (int r = 0; r < R; ++r) pair[r] = 0.0;
        for (int p = 0; p < P; ++p)
          for (int r = 0; r < R; ++r) pair[r] += Ua[p * R + r] * Vp[p * R + r];
        const int32_t si = subset_index[ia];
        for (int r = 0; r < R; ++r) {
          const int64_t row = first_row + r;
          if (row >= end_row) continue;
          const double half = 0.5 * pair[r];
          double* sums = chunk.row_sum.data() + (row - chunk_first_row) * M * K;
          sums[ia * K + k] += half;
          sums[j * K + k] += half;
          if (si >= 0 && sj >= 0) {
            double* o = out + row * n_sub * n_sub * K;
            o[(si * n_sub + sj) * K + k] += half;
            o[(sj * n_sub + si) * K + k] += half;
          }
        }
      }
    }
  }

  const double* quadrature_weights;
};

}  // namespace detail

/// Path-dependent SHAP interaction values of rows X[n_rows, n_features] (C order) into
/// out[n_rows, n_sub, n_sub, n_outputs] (overwritten), for the features f with
/// subset_index[f] >= 0 placed at that position (n_sub of them). Diagonal entries are the main
/// effects Phi_ii = phi_i - sum over ALL other features j of Phi_ij, so a subset's block equals
/// the same block of the full matrix. Working memory beyond `out` is O(model) + O(chunk x
/// n_features); the result does not depend on n_jobs.
inline void path_interaction_values(const ForestView& forest, const PathShapTables& tables, const double* X,
                                    int64_t n_rows, const int32_t* subset_index, int64_t n_sub, double* out,
                                    int n_jobs = 1, const std::function<bool()>& interrupted = {}) {
  const int64_t M = forest.n_features, K = forest.n_outputs;
  for (int64_t f = 0; f < M; ++f)
    if (subset_index[f] >= n_sub) throw std::invalid_argument("subset index out of range");
  std::fill(out, out + n_rows * n_sub * n_sub * K, 0.0);
  struct Job {
    const ForestView& forest;
    const PathShapTables& tables;
    const int32_t* subset_index;
    double* out;
    int64_t n_sub, r0, r1;
    detail::InteractionChunk chunk;

    detail::InteractionVisitor visitor(int64_t t, int64_t first_row, const detail::ShapScratch& scratch) {
      return detail::InteractionVisitor{forest, tables, scratch, chunk, subset_index, out, n_sub, first_row, r0, r1,
                                        tables.node_begin[t], tables.table_begin[t], forest.tree_output[t],
                                        tables.points[t], tables.weights.data() + tables.weight_begin[t]};
    }
    void finish() {
      const int64_t M = forest.n_features, K = forest.n_outputs;
      for (int64_t row = r0; row < r1; ++row) {
        const double* phi = chunk.phi.data() + (row - r0) * M * K;
        const double* sums = chunk.row_sum.data() + (row - r0) * M * K;
        double* o = out + row * n_sub * n_sub * K;
        for (int64_t f = 0; f < M; ++f) {
          const int32_t sf = subset_index[f];
          if (sf < 0) continue;
          for (int64_t k = 0; k < K; ++k) o[(sf * n_sub + sf) * K + k] = phi[f * K + k] - sums[f * K + k];
        }
      }
    }
  };
  for_each_row_block(forest, tables, X, n_rows, n_jobs, interrupted, false, [&](int64_t r0, int64_t r1) {
    Job job{forest, tables, subset_index, out, n_sub, r0, r1, {}};
    const size_t per_chunk = static_cast<size_t>((r1 - r0) * M * K);
    job.chunk.phi.assign(per_chunk, 0.0);
    job.chunk.row_sum.assign(per_chunk, 0.0);
    job.chunk.U.assign(static_cast<size_t>((tables.max_depth + 1) * tables.max_points * kShapBlock), 0.0);
    job.chunk.superseded.assign(static_cast<size_t>(tables.max_depth + 1), 0);
    job.chunk.V.assign(static_cast<size_t>(tables.max_points * kShapBlock), 0.0);
    return job;
  });
}

}  // namespace xplain
