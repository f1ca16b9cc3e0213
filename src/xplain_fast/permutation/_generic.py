"""The generic path: any estimator, repeats batched into few predict calls, sklearn's scorers."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import check_scoring
from sklearn.utils import _safe_indexing

#: bytes of permuted copies of X the generic path builds at once
_GENERIC_CHUNK_BYTES = 64 * 2**20
_PREDICT_METHODS = ("predict", "predict_proba", "decision_function", "predict_log_proba")


class _BatchedEstimator:
    """Stands in for the estimator while scoring slices of a stacked batch of permuted copies.

    ``predict``-like methods called with the current slice return that slice of the method's
    output on the whole batch, computed once per method; any other call is delegated.
    """

    def __init__(self, estimator: Any) -> None:
        self._estimator = estimator
        self._batch: Any = None
        self._cache: dict[str, Any] = {}
        self._slice: Any = None
        self._bounds = (0, 0)

    def _set_batch(self, batch: Any) -> None:
        self._batch, self._cache = batch, {}

    def _set_slice(self, x_slice: Any, start: int, stop: int) -> None:
        self._slice, self._bounds = x_slice, (start, stop)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._estimator, name)
        if name in _PREDICT_METHODS:

            def method(X: Any, *args: Any, **kwargs: Any) -> Any:
                if X is not self._slice or args or kwargs:
                    return attr(X, *args, **kwargs)
                if name not in self._cache:
                    self._cache[name] = attr(self._batch)
                start, stop = self._bounds
                return self._cache[name][start:stop]

            method.__name__ = name
            return method
        return attr

    def __sklearn_tags__(self) -> Any:
        return self._estimator.__sklearn_tags__()


def generic_scores(
    estimator: Any,
    X: Any,
    y: Any,
    sample_weight: np.ndarray | None,
    scoring: Any,
    row_indices: np.ndarray | None,
    perms: np.ndarray,
    groups: list[np.ndarray],
    multi: bool,
) -> tuple[np.ndarray, np.ndarray, list[str], bool]:
    scorer = check_scoring(estimator, scoring=scoring)
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    baseline = scorer(estimator, X, y, **kwargs)
    multi = isinstance(baseline, dict)
    names = list(baseline) if multi else ["score"]
    base = np.array([baseline[k] for k in names] if multi else [baseline], dtype=np.float64)

    X_sub = X if row_indices is None else _safe_indexing(X, row_indices, axis=0)
    y_sub = y if (row_indices is None or y is None) else _safe_indexing(y, row_indices, axis=0)
    if sample_weight is not None and row_indices is not None:
        kwargs = {"sample_weight": sample_weight[row_indices]}
    m = X_sub.shape[0]
    R = perms.shape[0]
    per_batch = max(1, min(R, _GENERIC_CHUNK_BYTES // max(1, m * X_sub.shape[1] * 8)))
    proxy = _BatchedEstimator(estimator)
    permuted = np.empty((len(groups), R, len(names)))
    for g, cols in enumerate(groups):
        for r0 in range(0, R, per_batch):
            r1 = min(R, r0 + per_batch)
            copies = [_permuted_copy(X_sub, cols, perms[r]) for r in range(r0, r1)]
            batch = _stack(copies)
            proxy._set_batch(batch)
            for k, r in enumerate(range(r0, r1)):
                proxy._set_slice(copies[k], k * m, (k + 1) * m)
                score = scorer(proxy, copies[k], y_sub, **kwargs)
                permuted[g, r] = [score[k2] for k2 in names] if multi else [score]
            proxy._set_batch(None)
    return base, permuted, names, multi


def _permuted_copy(X: Any, cols: np.ndarray, perm: np.ndarray) -> Any:
    if hasattr(X, "iloc"):
        Xp = X.copy()
        for j in cols:
            col = X.iloc[perm, int(j)]
            col.index = X.index
            Xp[X.columns[int(j)]] = col
        return Xp
    Xp = X.copy()
    Xp[:, cols] = X[np.ix_(perm, cols)]
    return Xp


def _stack(copies: list[Any]) -> Any:
    if hasattr(copies[0], "iloc"):
        import pandas as pd

        return pd.concat(copies, axis=0, ignore_index=True)
    return np.concatenate(copies, axis=0)

