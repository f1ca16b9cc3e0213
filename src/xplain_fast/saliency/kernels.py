"""Numba kernels for gradient saliency.

Networks (scikit-learn MLPs, and linear models as networks without hidden layers) are evaluated
in fixed blocks of rows: ``prange`` hands whole blocks to the threads, and each block runs its
forward pass, back-propagation and quadrature serially, with its matrix products in BLAS
(``np.dot``, one thread per block) on all of its points (rows x steps) at once, and everything
between the products (activations, their derivatives, the output link, the Integrated Gradients
path, the quadrature sums) as fused loops.
One parallel region per call, rather than one per layer, matters on a small machine: every region
ends at a barrier where both thread pools (Numba's and BLAS's) would wait.

Block boundaries do not depend on the thread count, every output element is written by exactly
one iteration and every sum runs in a fixed order, so results are identical for every ``n_jobs``.
The other kernels (noise, finite-difference copies, group statistics) are parallel over rows.

All arrays are float64 and C-contiguous; outputs are caller-allocated. ``error_model="numpy"``
lets divisions follow IEEE rules instead of raising, which is what allows LLVM to vectorise loops.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# Hidden-layer activations (scikit-learn's names -> codes).
IDENTITY, LOGISTIC, TANH, RELU = 0, 1, 2, 3
ACTIVATIONS = {"identity": IDENTITY, "logistic": LOGISTIC, "tanh": TANH, "relu": RELU}

# Output links: how the explained scalar is read from a row of raw scores.
LINK_IDENTITY = 0  # sign * score[column]
LINK_LOGISTIC = 1  # sigmoid(sign * score[column]); binary classifiers and multilabel outputs
LINK_SOFTMAX = 2  # softmax(scores)[column]
LINK_OVR = 3  # sigmoid(score[column]) / sum_k sigmoid(score[k]) (one-vs-rest normalisation)
LINK_EXP = 4  # exp(sign * score[column]): MLPRegressor(loss="poisson")

# Statistics over the group of points that belongs to one row.
WEIGHTED_SUM, WEIGHTED_SQUARES, WEIGHTED_VARIANCE = 0, 1, 2

_SERIAL = {"cache": True, "error_model": "numpy", "nogil": True}
_KERNEL = {"parallel": True, **_SERIAL}

# Cephes' tanh: a rational approximation on |x| < 0.625, 1 - 2 / (exp(2|x|) + 1) above, with
# exp(r) on the reduced argument as a Pade approximant. Written with arithmetic only (no libm call),
# so the row loops vectorise; libm's tanh costs ~10x more per element and dominates a tanh MLP.
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93145751953125e-1
_LN2_LO = 1.42860682030941723212e-6
_EXP_P0, _EXP_P1, _EXP_P2 = (
    1.26177193074810590878e-4,
    3.02994407707441961300e-2,
    9.99999999999999999910e-1,
)
_EXP_Q0, _EXP_Q1 = 3.00198505138664455042e-6, 2.52448340349684104192e-3
_EXP_Q2, _EXP_Q3 = 2.27265548208155028766e-1, 2.00000000000000000009e0
_TANH_P0, _TANH_P1, _TANH_P2 = (
    -9.64399179425052238628e-1,
    -9.92877231001918586564e1,
    -1.61468768441708447952e3,
)
_TANH_Q0, _TANH_Q1, _TANH_Q2 = (
    1.12811678491632931402e2,
    2.23548839060100448583e3,
    4.84406305325125486048e3,
)


@njit(**_SERIAL)
def tanh(x: float) -> float:
    """tanh(x) within 2 ulp of libm's, as branch-free arithmetic that LLVM can vectorise."""
    a = abs(x)
    # tanh(x) rounds to +-1 beyond |x| = 19.06, so clamping there keeps 2^n within an int64 shift.
    t = 2.0 * min(a, 20.0)
    n = np.floor(t * _LOG2E + 0.5)
    r = (t - n * _LN2_HI) - n * _LN2_LO
    rr = r * r
    p = r * ((_EXP_P0 * rr + _EXP_P1) * rr + _EXP_P2)
    q = ((_EXP_Q0 * rr + _EXP_Q1) * rr + _EXP_Q2) * rr + _EXP_Q3
    exp_t = (1.0 + 2.0 * p / (q - p)) * np.float64(np.int64(1) << np.int64(n))
    large = 1.0 - 2.0 / (exp_t + 1.0)
    z = x * x
    small = x + x * z * (
        ((_TANH_P0 * z + _TANH_P1) * z + _TANH_P2)
        / (((z + _TANH_Q0) * z + _TANH_Q1) * z + _TANH_Q2)
    )
    result = small if a < 0.625 else (large if x >= 0.0 else -large)
    # NaN stays NaN and -0.0 keeps its sign, as in libm.
    return x if x != x or x == 0.0 else result


@njit(**_SERIAL)
def _sigmoid(x: float) -> float:
    # Two branches: neither exp overflows, and small probabilities keep full relative precision.
    if x >= 0.0:
        return 1.0 / (1.0 + np.exp(-x))
    e = np.exp(x)
    return e / (1.0 + e)


# -- serial building blocks of a network pass (each runs inside one block) -----------------------


@njit(**_SERIAL)
def _activate(Z: np.ndarray, bias: np.ndarray, activation: int) -> None:
    """In place: ``Z[i, j] = act(Z[i, j] + bias[j])``."""
    n, h = Z.shape
    for i in range(n):
        row = Z[i]
        if activation == TANH:
            for j in range(h):
                row[j] = tanh(row[j] + bias[j])
        elif activation == RELU:
            for j in range(h):
                v = row[j] + bias[j]
                row[j] = v if v > 0.0 else 0.0
        elif activation == LOGISTIC:
            for j in range(h):
                row[j] = _sigmoid(row[j] + bias[j])
        else:
            for j in range(h):
                row[j] += bias[j]


@njit(**_SERIAL)
def _path_points(start: np.ndarray, step: np.ndarray, alphas: np.ndarray, out: np.ndarray, first: int) -> None:
    """One straight path: ``out[first + s] = start + alphas[s] * step`` for every step s."""
    for s in range(alphas.shape[0]):
        alpha = alphas[s]
        row = out[first + s]
        for j in range(step.shape[0]):
            row[j] = start[j] + alpha * step[j]


@njit(**_SERIAL)
def _path_first_layer(
    start: np.ndarray, step: np.ndarray, alphas: np.ndarray, activation: int, out: np.ndarray
) -> None:
    """The Integrated Gradients path in the first layer: ``act(start + alphas[s] * step[i])``.

    Written to ``out[i*S + s]``.

    The first layer is affine, so the image of the straight path from baseline b to x is the
    straight path from ``start = b @ W + bias`` along ``step = (x - b) @ W``: two small products per
    row replace one product per step.
    """
    n_steps = alphas.shape[0]
    for i in range(step.shape[0]):
        _path_points(start, step[i], alphas, out, i * n_steps)
    _activate(out, np.zeros(step.shape[1]), activation)  # the bias is already in start


@njit(**_SERIAL)
def _scale_by_derivative(G: np.ndarray, A: np.ndarray, activation: int) -> None:
    """In place: ``G *= act'(Z)``, the derivative written in terms of the output ``A = act(Z)``."""
    n, h = G.shape
    for i in range(n):
        g = G[i]
        a = A[i]
        if activation == TANH:
            for j in range(h):
                g[j] *= 1.0 - a[j] * a[j]
        elif activation == RELU:
            # scikit-learn's convention: the derivative is 0 where the unit is off (Z <= 0).
            for j in range(h):
                g[j] = g[j] if a[j] > 0.0 else 0.0
        elif activation == LOGISTIC:
            for j in range(h):
                g[j] *= a[j] * (1.0 - a[j])


@njit(**_SERIAL)
def _link(
    scores: np.ndarray,
    columns: np.ndarray,
    signs: np.ndarray,
    points_per_row: int,
    link: int,
    values: np.ndarray,
    seed: np.ndarray,
) -> None:
    """The explained scalar of every point and its derivative with respect to the raw scores.

    ``scores`` (m, K) are a model's raw outputs at ``points_per_row`` consecutive points per row;
    ``columns`` and ``signs`` (one per row) pick the target (a sign of -1 reads class 0 of a binary
    model off its single class-1 score). Writes ``values`` (m,) and ``seed`` (m, K), where
    back-propagation starts.
    """
    m, k = scores.shape
    for p in range(m):
        z = scores[p]
        g = seed[p]
        c = columns[p // points_per_row]
        sign = signs[p // points_per_row]
        for j in range(k):
            g[j] = 0.0
        if link == LINK_IDENTITY:
            values[p] = sign * z[c]
            g[c] = sign
        elif link == LINK_LOGISTIC:
            u = sign * z[c]
            values[p] = _sigmoid(u)
            # sigmoid' = sigmoid(u) sigmoid(-u): keeps full precision where 1 - sigmoid(u) would not
            g[c] = sign * _sigmoid(u) * _sigmoid(-u)
        elif link == LINK_EXP:
            value = np.exp(sign * z[c])
            values[p] = value
            g[c] = sign * value
        elif link == LINK_SOFTMAX:
            top = z[0]
            for j in range(1, k):
                top = max(top, z[j])
            total = 0.0
            for j in range(k):
                total += np.exp(z[j] - top)
            prob = np.exp(z[c] - top) / total
            values[p] = prob
            # d softmax_c / d z_j = p_c (delta_cj - p_j); 1 - p_c is summed from the other classes
            # rather than subtracted from 1, which keeps it precise when p_c is close to 1.
            rest = 0.0
            for j in range(k):
                if j != c:
                    p_j = np.exp(z[j] - top) / total
                    g[j] = -prob * p_j
                    rest += p_j
            g[c] = prob * rest
        else:
            total = 0.0
            for j in range(k):
                total += _sigmoid(z[j])
            if total == 0.0:
                # scikit-learn's rule when every sigmoid underflows: uniform probabilities, and
                # they stay uniform under small changes of the scores.
                values[p] = 1.0 / k
                continue
            q_c = _sigmoid(z[c])
            prob = q_c / total
            values[p] = prob
            # d (q_c / S) / d z_j = (delta_cj q_c' S - q_c q_j') / S^2 with q' = q(z) q(-z),
            # and S - q_c summed from the other classes (precise when q_c dominates).
            rest = 0.0
            for j in range(k):
                if j != c:
                    q_j = _sigmoid(z[j])
                    g[j] = -prob * q_j * _sigmoid(-z[j]) / total
                    rest += q_j
            g[c] = q_c * _sigmoid(-z[c]) * rest / (total * total)


@njit(**_SERIAL)
def _reduce_row(
    G: np.ndarray, first: int, weights: np.ndarray, statistic: int, acc: np.ndarray
) -> None:
    """``acc`` = a weighted statistic of the rows ``G[first : first + len(weights)]``.

    ``WEIGHTED_SUM``: sum_s w_s g (quadrature of a path integral, or a mean);
    ``WEIGHTED_SQUARES``: sum_s w_s g^2; ``WEIGHTED_VARIANCE``: sum_s w_s (g - mean)^2 with
    mean = sum_s w_s g (two passes, so no cancellation).
    """
    h = acc.shape[0]
    for j in range(h):
        acc[j] = 0.0
    for s in range(weights.shape[0]):
        w = weights[s]
        g = G[first + s]
        if statistic == WEIGHTED_SQUARES:
            for j in range(h):
                acc[j] += w * g[j] * g[j]
        else:
            for j in range(h):
                acc[j] += w * g[j]
    if statistic == WEIGHTED_VARIANCE:
        mean = np.empty(h)
        for j in range(h):
            mean[j] = acc[j]
            acc[j] = 0.0
        for s in range(weights.shape[0]):
            w = weights[s]
            g = G[first + s]
            for j in range(h):
                d = g[j] - mean[j]
                acc[j] += w * d * d


@njit(**_SERIAL)
def _layer(
    weights: np.ndarray, biases: np.ndarray, sizes: np.ndarray, layer: int
) -> tuple[np.ndarray, np.ndarray]:
    """Layer ``layer``'s weight matrix (sizes[layer], sizes[layer + 1]) and bias, as views."""
    w_begin = 0
    b_begin = 0
    for i in range(layer):
        w_begin += sizes[i] * sizes[i + 1]
        b_begin += sizes[i + 1]
    n_in = sizes[layer]
    n_out = sizes[layer + 1]
    W = weights[w_begin : w_begin + n_in * n_out].reshape((n_in, n_out))
    return W, biases[b_begin : b_begin + n_out]


@njit(**_SERIAL)
def _forward(
    first: np.ndarray, weights: np.ndarray, biases: np.ndarray, sizes: np.ndarray, activation: int
) -> list:
    """Every layer's output from the first layer's (activated) one; the last are the raw scores."""
    outputs = [first]
    n_layers = sizes.shape[0] - 1
    for layer in range(1, n_layers):
        W, b = _layer(weights, biases, sizes, layer)
        Z = np.dot(outputs[layer - 1], W)
        _activate(Z, b, activation if layer < n_layers - 1 else IDENTITY)
        outputs.append(Z)
    return outputs


@njit(**_SERIAL)
def _backward(
    outputs: list,
    seed: np.ndarray,
    weights: np.ndarray,
    biases: np.ndarray,
    sizes: np.ndarray,
    activation: int,
) -> np.ndarray:
    """Back-propagate ``seed`` (d value / d scores) to the first layer's pre-activation."""
    G = seed
    for layer in range(sizes.shape[0] - 2, 0, -1):
        W, _ = _layer(weights, biases, sizes, layer)
        G = np.dot(G, W.T)
        _scale_by_derivative(G, outputs[layer - 1], activation)
    return G


@njit(**_SERIAL)
def _path_block(X: np.ndarray, network: tuple, path: tuple, targets: tuple, with_gradients: bool,
                out: tuple) -> None:
    """:func:`network_pass` on one block of rows, serially."""
    weights, biases, sizes, activation, link = network
    baseline, start, alphas, quadrature_weights = path
    columns, signs = targets
    gradients, scores, values = out
    n_rows, n_features = X.shape
    n_steps = alphas.shape[0]
    W, _ = _layer(weights, biases, sizes, 0)
    difference = np.empty((n_rows, n_features))
    for i in range(n_rows):
        for j in range(n_features):
            difference[i, j] = X[i, j] - baseline[j]
    first = np.empty((n_rows * n_steps, W.shape[1]))
    _path_first_layer(
        start, np.dot(difference, W), alphas, activation if sizes.shape[0] > 2 else IDENTITY, first
    )
    outputs = _forward(first, weights, biases, sizes, activation)
    last = outputs[-1]
    seed = np.empty(last.shape)
    point_values = np.empty(last.shape[0])
    _link(last, columns, signs, n_steps, link, point_values, seed)
    # Element loops and np.dot(..., out) rather than slice assignment, whose broadcasting code
    # takes seconds to compile.
    for i in range(n_rows):
        end = (i + 1) * n_steps - 1
        values[i] = point_values[end]
        for k in range(last.shape[1]):
            scores[i, k] = last[end, k]
    if with_gradients:
        G = _backward(outputs, seed, weights, biases, sizes, activation)
        summed = np.empty((n_rows, W.shape[1]))
        for i in range(n_rows):
            _reduce_row(G, i * n_steps, quadrature_weights, WEIGHTED_SUM, summed[i])
        np.dot(summed, W.T, gradients)


# -- the network kernel: parallel over blocks of rows ---------------------------------------------
# A network is (weights, biases, sizes, activation, link): all weight matrices flattened (C order)
# one after the other, all biases likewise, the layer widths [M, H_1, ..., K], and the codes of the
# hidden activation and of the output link. One signature for every depth and one kernel for every
# use means one compilation.


@njit(**_KERNEL)
def network_pass(X: np.ndarray, network: tuple, path: tuple, targets: tuple, rows_per_block: int,
                 with_gradients: bool, out: tuple) -> None:
    """A network along the straight path from the baseline b to every row x of X (n, M).

    ``path = (b, start, alphas, quadrature_weights)`` with ``start = b @ W_0 + bias_0`` (see
    :func:`_path_first_layer`); ``targets = (columns, signs)`` (n,) pick the explained output of
    each row (see :func:`_link`); ``out = (gradients, scores, values)``. Writes
    ``gradients[i] = sum_s w_s grad f(b + alphas[s] (x_i - b))`` (if ``with_gradients``), and the
    raw scores (n, K) and explained values (n,) at each path's last point. With
    ``alphas = weights = [1]`` and b = 0 these are the gradient, scores and value at x itself.
    The quadrature sum is taken on the first layer's gradients, so the product back to the inputs
    is once per row, not per step.
    """
    n = X.shape[0]
    columns, signs = targets
    gradients, scores, values = out
    for block in prange((n + rows_per_block - 1) // rows_per_block):
        begin = block * rows_per_block
        end = min(n, begin + rows_per_block)
        _path_block(X[begin:end], network, path, (columns[begin:end], signs[begin:end]), with_gradients,
                    (gradients[begin:end], scores[begin:end], values[begin:end]))


# -- elementwise kernels: parallel over rows ------------------------------------------------------


@njit(**_KERNEL)
def interpolate(start: np.ndarray, step: np.ndarray, alphas: np.ndarray, out: np.ndarray) -> None:
    """Points on straight paths: ``out[i*S + s] = start + alphas[s] * step[i]``."""
    n_steps = alphas.shape[0]
    for i in prange(step.shape[0]):
        _path_points(start, step[i], alphas, out, i * n_steps)


@njit(**_KERNEL)
def add_noise(
    X: np.ndarray, noise: np.ndarray, row_scale: np.ndarray, feature_scale: np.ndarray
) -> None:
    """In place on ``noise`` (n*S, M): ``noise[i*S + s, j] = X[i, j] + sd_ij * noise[i*S + s, j]``.

    ``sd_ij = row_scale[i] * feature_scale[j]``. The standard-normal draws come from numpy in the
    caller (never from inside a parallel loop), so the noisy points are the same for every thread
    count.
    """
    n, m = X.shape
    n_samples = noise.shape[0] // n
    for i in prange(n):
        x = X[i]
        sd = row_scale[i]
        for s in range(n_samples):
            row = noise[i * n_samples + s]
            for j in range(m):
                row[j] = x[j] + sd * feature_scale[j] * row[j]


@njit(**_KERNEL)
def reduce_groups(G: np.ndarray, weights: np.ndarray, statistic: int, out: np.ndarray) -> None:
    """Per row i, a weighted statistic of its points ``G[i*S : (i+1)*S]`` (see ``_reduce_row``)."""
    n_points = weights.shape[0]
    for i in prange(out.shape[0]):
        _reduce_row(G, i * n_points, weights, statistic, out[i])


@njit(**_KERNEL)
def central_difference_points(
    X: np.ndarray, upper: np.ndarray, lower: np.ndarray, out: np.ndarray
) -> None:
    """The 2*M perturbed copies of every row of X (n, M), written to ``out`` (n*2M, M).

    Copy ``i*2M + 2j`` is x_i with feature j set to ``upper[i, j]``, copy ``i*2M + 2j + 1`` with it
    set to ``lower[i, j]``.
    """
    n, m = X.shape
    for i in prange(n):
        x = X[i]
        for j in range(m):
            up = out[i * 2 * m + 2 * j]
            down = out[i * 2 * m + 2 * j + 1]
            for k in range(m):
                up[k] = x[k]
                down[k] = x[k]
            up[j] = upper[i, j]
            down[j] = lower[i, j]


@njit(**_KERNEL)
def central_difference_combine(
    outputs: np.ndarray, columns: np.ndarray, signs: np.ndarray, spans: np.ndarray, out: np.ndarray
) -> None:
    """Gradients (n, M) from the outputs (n*2M, K) of :func:`central_difference_points`' copies.

    ``spans = upper - lower``; ``columns`` and ``signs`` (n,) pick the explained output of each row.
    """
    n, m = out.shape
    for i in prange(n):
        c = columns[i]
        sign = signs[i]
        for j in range(m):
            up = outputs[i * 2 * m + 2 * j, c]
            down = outputs[i * 2 * m + 2 * j + 1, c]
            out[i, j] = sign * (up - down) / spans[i, j]
