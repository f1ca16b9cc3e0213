// Interventional TreeSHAP of a transformed output (model_output "probability" / "log_loss", as in
// the shap package): each (row, background row) pair's raw game is explained and rescaled by
// (T(f(x)) - T(f(b))) / (f(x) - f(b)). That weight depends on the pair, so this costs O(n R).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <vector>

#include "../forest.hpp"
#include "../names.hpp"
#include "../parallel.hpp"
#include "masks.hpp"
#include "tables.hpp"

namespace xplain {

/// Output transforms of the shap package's interventional explanations.
enum class OutputTransform : int { identity, logistic, logistic_nlogloss, squared_loss };
inline constexpr NamedValue<OutputTransform> kOutputTransformNames[] = {
    {"identity", OutputTransform::identity},
    {"logistic", OutputTransform::logistic},
    {"logistic_nlogloss", OutputTransform::logistic_nlogloss},
    {"squared_loss", OutputTransform::squared_loss}};

inline double apply_transform(OutputTransform tr, double margin, double y) {
  switch (tr) {
    case OutputTransform::logistic:
      return 1.0 / (1.0 + std::exp(-margin));
    case OutputTransform::logistic_nlogloss:  // log(1 + e^m) - y m, without overflow
      return (margin > 0.0 ? margin + std::log1p(std::exp(-margin)) : std::log1p(std::exp(margin))) - y * margin;
    case OutputTransform::squared_loss:
      return (margin - y) * (margin - y);
    default:
      return margin;
  }
}

namespace detail {

/// Credits out[M] with the raw game of tree t for the prepared pair (xp, bp), weighted by rho:
/// walks only the nodes that some mix of x and b reaches. xf, bf: scratch failed masks per depth.
inline void pair_credit_tree(const ForestView& forest, const InterventionalTables& T, int64_t t, const double* xp,
                             const double* bp, double rho, std::vector<uint64_t>& xf, std::vector<uint64_t>& bf,
                             double* out) {
  const int64_t nw = T.words;
  const int64_t nb = T.node_begin[static_cast<size_t>(t)], ne = T.node_begin[static_cast<size_t>(t) + 1];
  std::fill(xf.begin(), xf.begin() + nw, uint64_t(0));
  std::fill(bf.begin(), bf.begin() + nw, uint64_t(0));
  for (int64_t g = nb + 1; g < ne;) {
    const size_t gs = static_cast<size_t>(g);
    const int64_t d = T.depth[gs];
    // the parent's split decides whether x and b follow this edge
    const int64_t pn = T.parent_source[gs];
    const int32_t f = forest.feature[pn];
    const bool xl = forest.goes_left(pn, xp[f]);
    const bool bl = forest.goes_left(pn, bp[f]);
    const bool is_left = T.is_left_child[gs] != 0;
    uint64_t* xm = xf.data() + d * nw;
    uint64_t* bm = bf.data() + d * nw;
    std::copy(xm - nw, xm, xm);
    std::copy(bm - nw, bm, bm);
    const int bit = T.bit[gs];
    const uint64_t bv = uint64_t(1) << (bit & 63);
    if (xl != is_left) xm[bit >> 6] |= bv;
    if (bl != is_left) bm[bit >> 6] |= bv;
    if (xm[bit >> 6] & bm[bit >> 6] & bv) {  // neither x nor b satisfies this feature
      g = T.subtree_end[gs];
      continue;
    }
    const int32_t leaf = T.leaf_id[gs];
    if (leaf >= 0) {
      int nx = 0, nbf = 0;  // x-only and b-only satisfied features
      for (int64_t w = 0; w < nw; ++w) {
        nx += popcount64(bm[w]);
        nbf += popcount64(xm[w]);
      }
      if (nx + nbf > 0) {
        const size_t ls = static_cast<size_t>(leaf);
        const int32_t* feats = T.leaf_feature.data() + T.leaf_feature_begin[ls];
        const double v = forest.value[T.leaf_node[ls]] * rho;
        const double gain = nx > 0 ? v * T.B(nx - 1, nbf) : 0.0;
        const double loss = nbf > 0 ? v * T.B(nx, nbf - 1) : 0.0;
        for (int64_t w = 0; w < nw; ++w) {
          for (uint64_t bits = bm[w]; bits; bits &= bits - 1) out[feats[w * 64 + ctz64(bits)]] += gain;
          for (uint64_t bits = xm[w]; bits; bits &= bits - 1) out[feats[w * 64 + ctz64(bits)]] -= loss;
        }
      }
    }
    ++g;
  }
}

}  // namespace detail

/// Interventional SHAP values of T(f) for a transform T, with the shap package's definition:
///     phi_j(x) = 1/R sum_b [(T(f(x), y) - T(f(b), y)) / (f(x) - f(b))] phi_j(x; b)
/// where phi(x; b) explains the raw output against the single background row b (the factor is 1
/// when f(x) == f(b)); they sum to T(f(x), y) - mean_b T(f(b), y). One output only (the forest
/// must have n_outputs == 1). X[n_rows, M], background[R, M] (C order); y[n_rows] or null (0);
/// phi[n_rows, M] (overwritten); base[n_rows] receives mean_b T(f(b), y). `tables` comes from
/// build_interventional_tables (statistics not needed). Cost O(n_rows x R x visited nodes): each
/// (x, b) pair walks only the nodes reachable by some mix of x and b. Independent of n_jobs.
inline void pair_shap_values(const ForestView& forest, const InterventionalTables& T, const double* background,
                             int64_t n_background, const double* X, const double* y, int64_t n_rows,
                             OutputTransform transform, double* phi, double* base, int n_jobs = 1,
                             const std::function<bool()>& interrupted = {}) {
  if (!is_listed(kOutputTransformNames, transform))
    throw std::invalid_argument("unknown output transform " + name_of(kOutputTransformNames, transform));
  if (forest.n_outputs != 1) throw std::invalid_argument("output transforms need a model with one output");
  if (n_background < 1) throw std::invalid_argument("the background data has no rows");
  const int64_t M = forest.n_features, nw = T.words;
  std::fill(phi, phi + n_rows * M, 0.0);
  std::vector<double> fb(static_cast<size_t>(n_background));
  auto margin = [&](const double* r) {
    double m = forest.base_value[0];
    for (int64_t t = 0; t < forest.n_trees; ++t) m += forest.value[forest.leaf_of(t, r)];
    return m;
  };
  for (int64_t b = 0; b < n_background; ++b) fb[static_cast<size_t>(b)] = margin(background + b * M);
  const double invR = 1.0 / static_cast<double>(n_background);
  const int64_t n_chunks = (n_rows + 15) / 16;
  parallel_for_chunks(
      n_chunks, resolve_threads(n_jobs, n_chunks),
      [&](int64_t chunk) {
        std::vector<double> xp(static_cast<size_t>(M)), bp(static_cast<size_t>(M));
        std::vector<uint64_t> xf(static_cast<size_t>((T.max_depth + 1) * nw)), bf(xf.size());
        for (int64_t r = chunk * 16; r < std::min(n_rows, chunk * 16 + 16); ++r) {
          const double* x = X + r * M;
          const double yr = y ? y[r] : 0.0;
          for (int64_t f = 0; f < M; ++f) xp[static_cast<size_t>(f)] = forest.prepare(x[f]);
          const double fx = margin(x), tx = apply_transform(transform, fx, yr);
          double base_acc = 0.0;
          for (int64_t b = 0; b < n_background; ++b) {
            const double* brow = background + b * M;
            for (int64_t f = 0; f < M; ++f) bp[static_cast<size_t>(f)] = forest.prepare(brow[f]);
            const double fbv = fb[static_cast<size_t>(b)], tb = apply_transform(transform, fbv, yr);
            base_acc += tb;
            const double rho = (fx == fbv ? 1.0 : (tx - tb) / (fx - fbv)) * invR;
            for (int64_t t = 0; t < forest.n_trees; ++t)
              detail::pair_credit_tree(forest, T, t, xp.data(), bp.data(), rho, xf, bf, phi + r * M);
          }
          if (base) base[r] = base_acc * invR;
        }
      },
      interrupted);
}

}  // namespace xplain
