// Exact path-dependent TreeSHAP.
//
// For a leaf l with value v whose root path holds the unique features 1..k, with zero fractions
// z_i (product of cover ratios of that feature's edges on the path) and one fractions o_i in {0,1}
// (does x follow all of that feature's edges?), the Shapley value of feature j is
//     v (o_j - z_j) * Integral_0^1 prod_{i != j} (q o_i + (1 - q) z_i) dq,
// a polynomial integral of degree k - 1, which Gauss-Legendre quadrature with ceil(k/2) points
// evaluates exactly. Summing over leaves is done by one top-down pass (F = product of the edge
// factors at each quadrature point) and one bottom-up pass (G = sum of v F over the leaves below),
// so a tree costs O(nodes * points) per row instead of O(leaves * depth^2). A feature that repeats
// on a path is merged: the deeper edge divides out the earlier factor and subtracts the earlier
// edge's weight, so each leaf is credited once per unique feature with the merged (z, o).
// Rows are processed in blocks of kShapBlock so the inner loops run across rows in SIMD lanes
// (the walk of row_blocks.hpp).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <vector>

#include "forest.hpp"
#include "parallel.hpp"
#include "row_blocks.hpp"
#include "simd.hpp"

namespace xplain {

/// Gauss-Legendre nodes and weights on [0, 1] with n points (exact for degree <= 2n - 1).
inline void gauss_legendre_01(int n, std::vector<double>& nodes, std::vector<double>& weights) {
  nodes.assign(static_cast<size_t>(n), 0.0);
  weights.assign(static_cast<size_t>(n), 0.0);
  const double pi = 3.14159265358979323846;
  for (int i = 0; i < (n + 1) / 2; ++i) {
    double x = std::cos(pi * (i + 0.75) / (n + 0.5));  // initial guess for the i-th root of P_n
    double dp = 1.0;
    for (int iter = 0; iter < 100; ++iter) {
      double p0 = 1.0, p1 = 0.0;
      for (int k = 1; k <= n; ++k) {
        double p2 = p1;
        p1 = p0;
        p0 = ((2.0 * k - 1.0) * x * p1 - (k - 1.0) * p2) / k;
      }
      dp = n * (x * p0 - p1) / (x * x - 1.0);
      double dx = p0 / dp;
      x -= dx;
      if (std::fabs(dx) < 1e-16) break;
    }
    const double w = 2.0 / ((1.0 - x * x) * dp * dp);
    // map [-1, 1] -> [0, 1]
    nodes[static_cast<size_t>(i)] = 0.5 * (1.0 - x);
    nodes[static_cast<size_t>(n - 1 - i)] = 0.5 * (1.0 + x);
    weights[static_cast<size_t>(i)] = weights[static_cast<size_t>(n - 1 - i)] = 0.5 * w;
  }
}

/// Model-only tables for path-dependent TreeSHAP, all trees in one flat layout. Nodes are
/// renumbered per tree in depth-first preorder (parents before children); the root (local 0)
/// has no edge. Per node and quadrature point the tables hold the factor ratios r** for the
/// top-down pass and the weights k** for the credit of the bottom-up pass, for the three cases
/// (earlier same-feature edge followed, this edge followed) = (1,1), (1,0), (0,0). u1/u0 hold
/// u = (o - z) / (q o + (1 - q) z) of the edge's merged (o, z) for o = 1 and o = 0 (interaction
/// values need them); `weights` the quadrature weights of each tree.
struct PathShapTables {
  std::vector<int64_t> node_begin;   ///< [n_trees + 1] first preorder node of each tree
  std::vector<int64_t> table_begin;  ///< [n_trees + 1] first table entry (node * points)
  std::vector<int32_t> points;       ///< [n_trees] quadrature points of each tree
  std::vector<int32_t> parent, prev_same, left, right, edge_feature;  ///< tree-local indices
  std::vector<int32_t> depth;        ///< root = 0
  std::vector<uint8_t> is_left_child;
  std::vector<int64_t> source;       ///< forest node index
  std::vector<double> r11, r10, r00, k11, k10, k00, u1, u0;
  std::vector<int64_t> weight_begin;  ///< [n_trees + 1] first quadrature weight of each tree
  std::vector<double> weights;
  std::vector<double> expected;      ///< [n_outputs] base_value + sum of tree expectations
  int64_t max_depth = 0;
  int32_t max_points = 1;
};

namespace detail {

/// Appends tree t's nodes, in the preorder `order`, to T's per-node arrays: source, tree-local
/// children, parents, and the feature of the edge into each node (the parent's split).
inline void append_tree_nodes(const ForestView& forest, int64_t t, const std::vector<int64_t>& order, PathShapTables& T) {
  const int64_t root = forest.tree_offset[t];
  const int64_t N = static_cast<int64_t>(order.size());
  const int64_t base = T.node_begin.back();
  std::vector<int32_t> local_of(static_cast<size_t>(forest.tree_offset[t + 1] - root), -1);
  for (int64_t i = 0; i < N; ++i) local_of[static_cast<size_t>(order[i] - root)] = static_cast<int32_t>(i);
  for (int64_t i = 0; i < N; ++i) {
    const int64_t n = order[i];
    const bool leaf = forest.left[n] < 0;
    T.parent.push_back(-1);
    T.depth.push_back(0);
    T.prev_same.push_back(-1);
    T.edge_feature.push_back(-1);
    T.is_left_child.push_back(0);
    T.left.push_back(leaf ? -1 : local_of[static_cast<size_t>(forest.left[n] - root)]);
    T.right.push_back(leaf ? -1 : local_of[static_cast<size_t>(forest.right[n] - root)]);
    T.source.push_back(n);
  }
  // parent links from child links
  for (int64_t i = 0; i < N; ++i) {
    const int32_t l = T.left[base + i], r = T.right[base + i];
    if (l >= 0) {
      T.parent[base + l] = static_cast<int32_t>(i);
      T.parent[base + r] = static_cast<int32_t>(i);
      T.is_left_child[base + l] = 1;
      const int32_t f = forest.feature[order[i]];
      T.edge_feature[base + l] = f;
      T.edge_feature[base + r] = f;
    }
  }
}

/// Merges repeated features along tree t's paths (appended at `base`): each edge's nearest
/// ancestor edge on the same feature (prev_same), depths, and the merged zero fractions
/// z_merged[i] (product of the cover ratios of node i's feature on its path). Adds the tree's
/// expected value (cover-weighted leaf values) to T.expected; returns the most unique features
/// on a root-to-leaf path.
inline int32_t merge_paths(const ForestView& forest, int64_t t, const std::vector<int64_t>& order, PathShapTables& T,
                           std::vector<double>& z_merged) {
  const int64_t root = forest.tree_offset[t], W = forest.value_width;
  const int64_t N = static_cast<int64_t>(order.size());
  const int64_t base = T.node_begin.back();
  z_merged.assign(static_cast<size_t>(N), 1.0);
  std::vector<double> z_path(static_cast<size_t>(N), 1.0);
  std::vector<int32_t> unique_count(static_cast<size_t>(N), 0);
  int32_t k_max = 0;
  std::vector<double> expected_acc(static_cast<size_t>(W), 0.0);
  for (int64_t i = 1; i < N; ++i) {
    const int32_t par = T.parent[base + i], f = T.edge_feature[base + i];
    int32_t a = par;
    while (a > 0 && T.edge_feature[base + a] != f) a = T.parent[base + a];
    const int32_t prev = a > 0 ? a : -1;
    T.prev_same[base + i] = prev;
    T.depth[base + i] = T.depth[base + par] + 1;
    T.max_depth = std::max<int64_t>(T.max_depth, T.depth[base + i]);
    const double cp = forest.cover[order[par]];
    const double z_raw = cp > 0.0 ? forest.cover[order[i]] / cp : 0.5;
    z_path[i] = z_path[par] * z_raw;
    z_merged[i] = prev >= 0 ? z_merged[prev] * z_raw : z_raw;
    unique_count[i] = unique_count[par] + (prev < 0 ? 1 : 0);
    if (forest.left[order[i]] < 0) {
      k_max = std::max(k_max, unique_count[i]);
      const double* v = forest.value + order[i] * W;
      for (int64_t c = 0; c < W; ++c) expected_acc[static_cast<size_t>(c)] += z_path[i] * v[c];
    }
  }
  if (N == 1) {
    const double* v = forest.value + root * W;
    for (int64_t c = 0; c < W; ++c) expected_acc[static_cast<size_t>(c)] += v[c];
  }
  for (int64_t c = 0; c < W; ++c)
    T.expected[static_cast<size_t>(forest.tree_output[t] + c)] += expected_acc[static_cast<size_t>(c)];
  return k_max;
}

/// The per-point tables (r**, k**, u1, u0) of the N nodes appended at `base`, for the quadrature
/// nodes q and weights w (P points), from tb on.
inline void fill_point_tables(PathShapTables& T, int64_t base, int64_t N, int64_t tb, const std::vector<double>& q,
                              const std::vector<double>& w, const std::vector<double>& z_merged) {
  const int32_t P = static_cast<int32_t>(q.size());
  for (int64_t i = 1; i < N; ++i) {
    const int32_t prev = T.prev_same[base + i];
    const double zi = z_merged[i];
    for (int32_t p = 0; p < P; ++p) {
      const size_t e = static_cast<size_t>(tb + i * P + p);
      const double A = q[p] + (1.0 - q[p]) * zi, B = (1.0 - q[p]) * zi;
      T.u1[e] = (1.0 - zi) / A;
      T.u0[e] = zi > 0.0 ? -1.0 / (1.0 - q[p]) : 0.0;  // o = z = 0: the factor and (o - z) vanish
      const double c1 = w[p] * T.u1[e];
      const double c0 = w[p] * T.u0[e];
      if (prev < 0) {
        T.r11[e] = A;
        T.r10[e] = B;
        T.k11[e] = c1;
        T.k10[e] = c0;
      } else {
        const double ze = z_merged[prev];
        const double Ae = q[p] + (1.0 - q[p]) * ze, Be = (1.0 - q[p]) * ze;
        const double c1e = w[p] * (1.0 - ze) / Ae;
        const double c0e = ze > 0.0 ? -w[p] / (1.0 - q[p]) : 0.0;
        T.r11[e] = A / Ae;
        T.r10[e] = B / Ae;
        T.r00[e] = Be > 0.0 ? B / Be : 0.0;
        T.k11[e] = c1 - c1e;
        T.k10[e] = c0 - c1e;
        T.k00[e] = c0 - c0e;
      }
    }
  }
}

}  // namespace detail

/// Builds PathShapTables for `forest` (which must have passed ForestView::check()). Zero fractions
/// are cover(child) / cover(parent); a parent with zero cover splits its weight evenly (0.5) so
/// that no NaN can arise.
inline PathShapTables build_path_shap_tables(const ForestView& forest) {
  PathShapTables T;
  T.expected.assign(forest.base_value, forest.base_value + forest.n_outputs);
  T.node_begin.push_back(0);
  T.table_begin.push_back(0);
  T.weight_begin.push_back(0);
  std::vector<double> q, w, z_merged;
  std::vector<int64_t> stack, order;
  for (int64_t t = 0; t < forest.n_trees; ++t) {
    forest.preorder(t, order, stack);
    const int64_t N = static_cast<int64_t>(order.size());
    const int64_t base = T.node_begin.back();
    detail::append_tree_nodes(forest, t, order, T);
    const int32_t k_max = detail::merge_paths(forest, t, order, T, z_merged);
    const int32_t P = std::max<int32_t>(1, (k_max + 1) / 2);
    gauss_legendre_01(P, q, w);
    const int64_t tb = T.table_begin.back();
    const size_t need = static_cast<size_t>(tb + N * P);
    for (auto* v : {&T.r11, &T.r10, &T.r00, &T.k11, &T.k10, &T.k00, &T.u1, &T.u0}) v->resize(need, 0.0);
    T.weights.insert(T.weights.end(), w.begin(), w.end());
    T.weight_begin.push_back(static_cast<int64_t>(T.weights.size()));
    detail::fill_point_tables(T, base, N, tb, q, w, z_merged);
    T.points.push_back(P);
    T.max_points = std::max(T.max_points, P);
    T.node_begin.push_back(base + N);
    T.table_begin.push_back(tb + N * P);
  }
  return T;
}

namespace detail {

/// Scratch of one worker, per depth of the current root-to-node path: no larger than
/// depth x points x lanes, so it stays in L1/L2 however many nodes a tree has.
struct ShapScratch {
  std::vector<double> F, G, on, on_prev, left_of;
  std::vector<int32_t> open;  ///< the node at each depth of the current path
  std::vector<int32_t> slot;  ///< the G slot of the node at each depth of the current path
  ShapScratch(const PathShapTables& T, int64_t value_width)
      : F(static_cast<size_t>((T.max_depth + 1) * T.max_points * kShapBlock)),
        G(F.size() * static_cast<size_t>(value_width)),
        on(static_cast<size_t>((T.max_depth + 1) * kShapBlock)),
        on_prev(on.size()),
        left_of(on.size()),
        open(static_cast<size_t>(T.max_depth + 1)),
        slot(open.size()) {}
};

/// One depth-first pass over tree t for a block of rows (`xt`: prepared, [feature][lane]).
///
/// Going down, each edge's factor multiplies F (the product of edge factors at each quadrature
/// point, per depth) and the lanes' "followed" masks merge with the earlier edge on the same
/// feature. A leaf's G = v F is computed in the same pass (its F is not stored). When a node's
/// subtree is complete, its G (the sum of v F over the leaves below) is handed to
/// `visit.edge(i, d, G)`. A left child's G lives in its parent's slot, which it fills first (the
/// left subtree completes before the right one starts); a right child's G has its own slot and
/// is added to its parent's. So no G is ever copied or cleared. `visit.enter(i, d)` is called
/// after node i's masks are known, before its children, and `visit.leave(i, d)` when its subtree
/// is done. The lane loops read through local restrict pointers: the byte-typed tables may alias
/// anything, and without them the loops would not vectorise.
template <int kPoints, typename Visitor>
void walk_tree_block(const ForestView& forest, const PathShapTables& T, int64_t t, bool plain_splits,
                     const double* xt, ShapScratch& s, Visitor& visit) {
  constexpr int R = kShapBlock;
  const int64_t nb = T.node_begin[t], N = T.node_begin[t + 1] - nb, tb = T.table_begin[t];
  const int P = kPoints > 0 ? kPoints : T.points[t];
  const int64_t PR = static_cast<int64_t>(P) * R;
  const int64_t W = forest.value_width;
  const int64_t WPR = W * PR;
  const int32_t* prev = T.prev_same.data() + nb;
  const int32_t* depth = T.depth.data() + nb;
  const int32_t* lchild = T.left.data() + nb;
  const uint8_t* is_left = T.is_left_child.data() + nb;
  const int64_t* src = T.source.data() + nb;
  double* F = s.F.data();          // [depth][p][lane]
  double* G = s.G.data();          // [slot][w][p][lane]
  double* on = s.on.data();        // [depth][lane]
  double* onp = s.on_prev.data();  // [depth][lane]
  double* dec = s.left_of.data();  // [depth][lane]
  int32_t* node_at = s.open.data();
  int32_t* slot = s.slot.data();   // [depth]: the G slot of the path's node at that depth

  auto complete = [&](int64_t d) {
    const int32_t i = node_at[d];
    const double* __restrict Gi = G + slot[d] * WPR;
    visit.template edge<kPoints>(i, d, Gi);
    if (!is_left[i]) {
      double* __restrict Gp = G + slot[d - 1] * WPR;
      for (int64_t e = 0; e < WPR; ++e) Gp[e] += Gi[e];
    }
    visit.leave(i, d);
  };

  for (int64_t e = 0; e < PR; ++e) F[e] = 1.0;
  slot[0] = 0;
  if (N > 1) block_decisions(forest, plain_splits, src[0], xt, dec);
  int64_t top = 0;  // depth of the deepest node on the current path (the root is at 0)
  for (int64_t i = 1; i < N; ++i) {
    const int64_t d = depth[i];
    while (top >= d) complete(top--);
    node_at[d] = static_cast<int32_t>(i);
    slot[d] = is_left[i] ? slot[d - 1] : static_cast<int32_t>(d);
    top = d;
    const int32_t pv = prev[i];
    const double* __restrict dp = dec + (d - 1) * R;
    double* __restrict m = on + d * R;
    double* __restrict mp = onp + d * R;
    if (pv >= 0) {
      const double* __restrict before = on + static_cast<int64_t>(depth[pv]) * R;
      for (int r = 0; r < R; ++r) mp[r] = before[r];
    } else {
      for (int r = 0; r < R; ++r) mp[r] = 1.0;
    }
    if (is_left[i]) {
      for (int r = 0; r < R; ++r) m[r] = dp[r] * mp[r];
    } else {
      for (int r = 0; r < R; ++r) m[r] = (1.0 - dp[r]) * mp[r];
    }
    const double* r11 = T.r11.data() + tb + i * P;
    const double* r10 = T.r10.data() + tb + i * P;
    const double* r00 = T.r00.data() + tb + i * P;
    const double* __restrict Fp = F + (d - 1) * PR;
    // out = [scale *] (Fp * this edge's factor): F of an internal node, v F of a leaf
    auto extend = [&](double* __restrict out, auto scaled, double scale) {
      if (pv < 0) {
        for (int p = 0; p < P; ++p) {
          const double base = r10[p], step = r11[p] - r10[p];
          for (int r = 0; r < R; ++r) {
            const double f = Fp[p * R + r] * (base + m[r] * step);
            out[p * R + r] = decltype(scaled)::value ? scale * f : f;
          }
        }
      } else {
        for (int p = 0; p < P; ++p) {
          const double base = r00[p], step1 = r10[p] - r00[p], step2 = r11[p] - r10[p];
          for (int r = 0; r < R; ++r) {
            const double f = Fp[p * R + r] * (base + mp[r] * step1 + m[r] * step2);
            out[p * R + r] = decltype(scaled)::value ? scale * f : f;
          }
        }
      }
    };
    visit.enter(i, d);
    if (lchild[i] >= 0) {
      extend(F + d * PR, std::false_type{}, 1.0);
      block_decisions(forest, plain_splits, src[i], xt, dec + d * R);
    } else {
      const double* v = forest.value + src[i] * W;
      double* Gi = G + slot[d] * WPR;
      for (int64_t w = 0; w < W; ++w) extend(Gi + w * PR, std::true_type{}, v[w]);
      complete(d);
      top = d - 1;
    }
  }
  while (top >= 1) complete(top--);
}

/// walk_tree_block with tree t's number of quadrature points as a compile-time constant where it
/// is small (every loop over points and lanes then has fixed bounds and unrolls), else at run time.
template <typename Visitor>
void walk_tree(const ForestView& forest, const PathShapTables& T, int64_t t, bool plain_splits, const double* xt,
               ShapScratch& s, Visitor& visit) {
  switch (T.points[t]) {
    case 1: return walk_tree_block<1>(forest, T, t, plain_splits, xt, s, visit);
    case 2: return walk_tree_block<2>(forest, T, t, plain_splits, xt, s, visit);
    case 3: return walk_tree_block<3>(forest, T, t, plain_splits, xt, s, visit);
    case 4: return walk_tree_block<4>(forest, T, t, plain_splits, xt, s, visit);
    case 5: return walk_tree_block<5>(forest, T, t, plain_splits, xt, s, visit);
    case 6: return walk_tree_block<6>(forest, T, t, plain_splits, xt, s, visit);
    case 7: return walk_tree_block<7>(forest, T, t, plain_splits, xt, s, visit);
    case 8: return walk_tree_block<8>(forest, T, t, plain_splits, xt, s, visit);
    default: return walk_tree_block<0>(forest, T, t, plain_splits, xt, s, visit);
  }
}

#ifdef XPLAIN_AVX2_CLONES
/// walk_tree compiled for AVX2 (simd.hpp): the same bits, wider vectors.
template <typename Visitor>
XPLAIN_AVX2_CLONE void walk_tree_avx2(const ForestView& forest, const PathShapTables& T, int64_t t, bool plain_splits,
                                      const double* xt, ShapScratch& s, Visitor& visit) {
  walk_tree(forest, T, t, plain_splits, xt, s, visit);
}
#endif

/// Credits each edge's feature with sum_p k_p(m, mp) G_p, the SHAP value of the leaves below it
/// for which it is the last edge on its feature (k = k00 + mp (k10 - k00) + m (k11 - k10)).
/// Credits accumulate lane-major in `phi` ([feature][output][lane]) so that every update is one
/// contiguous vector add.
struct ShapVisitor {
  static constexpr int R = kShapBlock;
  const ForestView& forest;
  const PathShapTables& T;
  const ShapScratch& s;
  double* phi;
  int64_t nb, tb, out0;
  int P;

  ShapVisitor(const ForestView& f, const PathShapTables& tables, const ShapScratch& scratch, int64_t t,
              double* phi_lanes)
      : forest(f), T(tables), s(scratch), phi(phi_lanes), nb(tables.node_begin[t]), tb(tables.table_begin[t]),
        out0(f.tree_output[t]), P(tables.points[t]) {}

  void enter(int32_t, int64_t) {}
  void leave(int32_t, int64_t) {}

  /// Adds sum_p k_p(m, mp) V_p to `acc` (both [lane]), k = k00 + mp (k10 - k00) + m (k11 - k10).
  template <int kPoints>
  void credit(int32_t i, int64_t d, const double* __restrict V, double* __restrict acc) const {
    const int P = kPoints > 0 ? kPoints : this->P;
    const double* k11 = T.k11.data() + tb + static_cast<int64_t>(i) * P;
    const double* k10 = T.k10.data() + tb + static_cast<int64_t>(i) * P;
    const double* k00 = T.k00.data() + tb + static_cast<int64_t>(i) * P;
    const double* __restrict m = s.on.data() + d * R;
    const double* __restrict mp = s.on_prev.data() + d * R;
    if (T.prev_same[nb + i] < 0) {
      for (int p = 0; p < P; ++p) {
        const double base = k10[p], step = k11[p] - k10[p];
        for (int r = 0; r < R; ++r) acc[r] += (base + m[r] * step) * V[p * R + r];
      }
    } else {
      for (int p = 0; p < P; ++p) {
        const double base = k00[p], step1 = k10[p] - k00[p], step2 = k11[p] - k10[p];
        for (int r = 0; r < R; ++r) acc[r] += (base + mp[r] * step1 + m[r] * step2) * V[p * R + r];
      }
    }
  }

  template <int kPoints>
  void edge(int32_t i, int64_t d, const double* G) {
    const int64_t PR = static_cast<int64_t>(kPoints > 0 ? kPoints : P) * R;
    for (int64_t w = 0; w < forest.value_width; ++w)
      credit<kPoints>(i, d, G + w * PR,
             phi + (static_cast<int64_t>(T.edge_feature[nb + i]) * forest.n_outputs + out0 + w) * R);
  }
};

}  // namespace detail

/// Runs `make_job(first_row, end_row)` once per fixed chunk of rows, in parallel, and walks every
/// tree over the chunk's blocks of kShapBlock rows with the job's visitor:
/// `job.visitor(t, block_first_row, scratch)` then `job.finish()`. Lanes past the chunk's last row
/// repeat it (jobs must discard them). Each chunk owns its rows' output, and every row's trees
/// are visited in index order, so results never depend on n_jobs. `avx2_walk`: whether the
/// AVX2 clone may walk for this job's visitor where the CPU has AVX2 (measured: SHAP values gain
/// 15-20%; interaction values, whose visitor scatters scalar pair updates, lost 30%).
template <typename MakeJob>
void for_each_row_block(const ForestView& forest, const PathShapTables& tables, const double* X, int64_t n_rows,
                        int n_jobs, const std::function<bool()>& interrupted, bool avx2_walk, MakeJob&& make_job) {
  const bool avx2 = avx2_walk && simd_level() == SimdLevel::avx2;  // one choice for the whole call
  detail::walk_row_blocks(forest, X, n_rows, n_jobs, interrupted, [&](int64_t r0, int64_t r1) {
    return detail::scratch_chunk(detail::ShapScratch(tables, forest.value_width), make_job(r0, r1),
                                 [&](detail::ShapScratch& scratch, auto& job, int64_t t, int64_t first_row, int,
                                     const double* xt, bool plain_splits) {
                                   auto visit = job.visitor(t, first_row, scratch);
#ifdef XPLAIN_AVX2_CLONES
                                   if (avx2) return detail::walk_tree_avx2(forest, tables, t, plain_splits, xt, scratch, visit);
#endif
                                   detail::walk_tree(forest, tables, t, plain_splits, xt, scratch, visit);
                                 });
  });
}

/// Path-dependent SHAP values of rows X[n_rows, n_features] (C order) into
/// phi[n_rows, n_features, n_outputs] (overwritten). `tables` comes from build_path_shap_tables
/// on the same forest. The result does not depend on n_jobs.
inline void path_shap_values(const ForestView& forest, const PathShapTables& tables, const double* X,
                             int64_t n_rows, double* phi, int n_jobs = 1,
                             const std::function<bool()>& interrupted = {}) {
  const int64_t MK = forest.n_features * forest.n_outputs;
  struct Job {
    const ForestView& forest;
    const PathShapTables& tables;
    double* phi;
    int64_t r0, r1, MK;
    std::vector<double> lanes;  ///< [block][feature][output][lane]
    detail::ShapVisitor visitor(int64_t t, int64_t first_row, const detail::ShapScratch& scratch) {
      const int64_t block = (first_row - r0) / kShapBlock;
      return detail::ShapVisitor(forest, tables, scratch, t, lanes.data() + block * MK * kShapBlock);
    }
    void finish() {
      for (int64_t row = r0; row < r1; ++row) {
        const double* block = lanes.data() + (row - r0) / kShapBlock * MK * kShapBlock;
        const int64_t lane = (row - r0) % kShapBlock;
        double* out = phi + row * MK;
        for (int64_t e = 0; e < MK; ++e) out[e] = block[e * kShapBlock + lane];
      }
    }
  };
  for_each_row_block(forest, tables, X, n_rows, n_jobs, interrupted, true, [&](int64_t r0, int64_t r1) {
    const int64_t n_blocks = (r1 - r0 + kShapBlock - 1) / kShapBlock;
    return Job{forest, tables, phi, r0, r1, MK, std::vector<double>(static_cast<size_t>(n_blocks * MK * kShapBlock))};
  });
}

}  // namespace xplain
