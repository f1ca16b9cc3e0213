"""Slow, obviously-correct oracles for the saliency tests.

Nothing here uses xplain_fast: the explained output is read from scikit-learn's own prediction
functions, and gradients come from finite differences of it.
  * ``explained_output``    - the scalar a saliency method explains, per row, from sklearn;
  * ``richardson_gradient`` - central differences with Richardson extrapolation (float64);
  * ``reference_integrated_gradients`` - Gauss-Legendre IG from Richardson gradients;
  * ``reference_smoothgrad`` - SmoothGrad statistics from explicitly drawn noise;
  * ``reference_attention_rollout`` - layer-by-layer matrix products of fused attention matrices.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import numpy as np
from sklearn.base import is_classifier
from sklearn.pipeline import Pipeline


def _raw_mlp_scores(mlp, X: np.ndarray) -> np.ndarray:
    """An MLP's last-layer scores before its output activation, from scikit-learn's forward pass."""
    identity = copy.copy(mlp)
    identity.out_activation_ = "identity"
    return identity._forward_pass_fast(X, check_input=False)


def _raw_scores(model, X: np.ndarray) -> np.ndarray:
    if isinstance(model, Pipeline):
        final = model.steps[-1][1]
        if not hasattr(final, "out_activation_"):
            return np.asarray(model.decision_function(X))
        return _raw_mlp_scores(final, model[:-1].transform(X))
    if hasattr(model, "out_activation_"):
        return _raw_mlp_scores(model, X)
    if hasattr(model, "decision_function"):
        return np.asarray(model.decision_function(X))
    return np.asarray(model.predict(X))


def explained_output(model, X: np.ndarray, target, output: str = "raw") -> np.ndarray:
    """The value explained for each row: probability or raw score of the target, from sklearn.

    For a binary classifier with one score z (decision_function or a single logistic unit), class
    0's raw score is -z. For regressors the raw output is ``predict``.
    """
    X = np.asarray(X, dtype=np.float64)
    targets = np.broadcast_to(np.asarray(target), (len(X),))
    if output == "probability":
        values = model.predict_proba(X)
    elif is_classifier(model):
        values = _raw_scores(model, X)
    else:
        values = np.asarray(model.predict(X))
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1 or values.shape[1] == 1:
        values = values.reshape(len(X))
        return np.where(targets == 1, values, -values) if output == "raw" and _is_binary(model) \
            else values
    return np.take_along_axis(values, targets[:, None].astype(int), axis=1)[:, 0]


def _is_binary(model) -> bool:
    classes = getattr(model, "classes_", None)
    return classes is not None and len(classes) == 2


def richardson_gradient(f: Callable[[np.ndarray], np.ndarray], X: np.ndarray, *,
                        h0: float = 0.02, levels: int = 4) -> np.ndarray:
    """Gradient of f: (n, M) -> (n,) at every row, by Richardson-extrapolated central differences.

    Steps h0, h0/2, ... (``levels`` of them); the extrapolation cancels the h^2, h^4, ... error
    terms, leaving O(h0^(2 levels)) plus rounding of about eps |f| / h. For piecewise-linear f
    (ReLU), a tiny h0 with one level is exact on each piece.
    """
    X = np.asarray(X, dtype=np.float64)
    n, m = X.shape
    grad = np.empty((n, m))
    for j in range(m):
        table: list[np.ndarray] = []
        for level in range(levels):
            h = h0 / 2.0**level
            up, down = X.copy(), X.copy()
            up[:, j] += h
            down[:, j] -= h
            estimate = (f(up) - f(down)) / (up[:, j] - down[:, j])
            row = [estimate]
            for order in range(1, level + 1):
                factor = 4.0**order
                row.append((factor * row[order - 1] - table[level - 1][order - 1]) / (factor - 1.0))
            table.append(row)
        grad[:, j] = table[-1][-1]
    return grad


def reference_integrated_gradients(f: Callable[[np.ndarray], np.ndarray], X: np.ndarray,
                                   baseline: np.ndarray, n_nodes: int, **richardson) -> np.ndarray:
    """(x - b) * sum_s w_s grad f(b + a_s (x - b)) with Gauss-Legendre nodes on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
    alphas, weights = (nodes + 1.0) / 2.0, weights / 2.0
    total = np.zeros_like(X, dtype=np.float64)
    for alpha, weight in zip(alphas, weights, strict=True):
        total += weight * richardson_gradient(f, baseline + alpha * (X - baseline), **richardson)
    return (X - baseline) * total


def reference_smoothgrad(f: Callable[[np.ndarray], np.ndarray], X: np.ndarray, sd: np.ndarray,
                         n_samples: int, seed: int, statistic: str) -> np.ndarray:
    """SmoothGrad from noise drawn as GradientSaliency documents it: sample s of row i is draw
    i * n_samples + s of ``RandomState(seed).standard_normal`` vectors; ``sd`` is (n, M)."""
    n, m = X.shape
    noise = np.random.RandomState(seed).standard_normal((n * n_samples, m)).reshape(n, n_samples, m)
    points = X[:, None, :] + sd[:, None, :] * noise
    grads = richardson_gradient(f, points.reshape(-1, m)).reshape(n, n_samples, m)
    if statistic == "smoothgrad":
        return grads.mean(axis=1)
    if statistic == "smoothgrad_sq":
        return (grads**2).mean(axis=1)
    return grads.var(axis=1)


def reference_attention_rollout(attentions: np.ndarray, head_fusion: str = "mean", residual: bool = True,
                                discard_ratio: float = 0.0, start_layer: int = 0) -> np.ndarray:
    """Rollout of one sample's (n_layers, n_heads, seq, seq) attentions with plain numpy."""
    n_layers, _, seq, _ = attentions.shape
    identity = np.eye(seq)
    rollout = identity.copy()
    for layer in range(start_layer, n_layers):
        fused = getattr(np, head_fusion)(attentions[layer].astype(np.float64), axis=0)
        for i in range(seq):
            smallest = np.argsort(fused[i], kind="stable")[: int(discard_ratio * seq)]
            fused[i, smallest] = 0.0
        sums = fused.sum(axis=1, keepdims=True)
        fused = np.where(sums > 0, fused / np.where(sums > 0, sums, 1.0), identity)
        if residual:
            fused = 0.5 * fused + 0.5 * identity
        rollout = fused @ rollout
    return rollout
