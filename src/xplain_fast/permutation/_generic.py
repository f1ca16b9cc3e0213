"""The generic path: any estimator, repeats batched into few predict calls, sklearn's scorers."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from sklearn.metrics import check_scoring
from sklearn.utils import _safe_indexing

#: bytes of permuted copies of X the generic path builds at once
_GENERIC_CHUNK_BYTES = 64 * 2**20
PREDICT_METHODS = ("predict", "predict_proba", "decision_function", "predict_log_proba")


class StandInEstimator:
    """Stands in for the estimator while a scorer scores one stand-in X.

    ``predict``-like methods called with exactly ``stand_in_X`` return ``predictions(name)``,
    computed elsewhere (a slice of a stacked batch, or predictions gathered from a cluster). Other
    methods called with it go to the estimator when ``stand_in_X`` holds the rows scored, and raise
    when it is a placeholder for rows that live elsewhere. Anything else is delegated.
    """

    def __init__(self, estimator: Any, stand_in_X: Any, predictions: Callable[[str], Any], *,
                 holds_rows: bool) -> None:
        self._estimator = estimator
        self._stand_in_X = stand_in_X
        self._predictions = predictions
        self._holds_rows = holds_rows

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._estimator, name)
        if not callable(attr):
            return attr

        def method(*args: Any, **kwargs: Any) -> Any:
            if not any(a is self._stand_in_X for a in (*args, *kwargs.values())):
                return attr(*args, **kwargs)
            if name in PREDICT_METHODS and len(args) == 1 and not kwargs:
                return self._predictions(name)
            if self._holds_rows:
                return attr(*args, **kwargs)
            raise TypeError(
                f"the scorer called {type(self._estimator).__name__}.{name}() with the rows it scores; "
                f"the rows live on the cluster, so a scorer may call "
                f"only {', '.join(PREDICT_METHODS)}"
            )

        method.__name__ = name
        return method

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
    permuted = np.empty((len(groups), R, len(names)))
    for g, cols in enumerate(groups):
        for r0 in range(0, R, per_batch):
            r1 = min(R, r0 + per_batch)
            copies = [_permuted_copy(X_sub, cols, perms[r]) for r in range(r0, r1)]
            batch_predictions = _BatchPredictions(estimator, _stack(copies))
            for k, r in enumerate(range(r0, r1)):
                stand_in = StandInEstimator(estimator, copies[k], partial(batch_predictions, k * m, (k + 1) * m),
                                            holds_rows=True)
                score = scorer(stand_in, copies[k], y_sub, **kwargs)
                permuted[g, r] = [score[k2] for k2 in names] if multi else [score]
    return base, permuted, names, multi


class _BatchPredictions:
    """The estimator's outputs on a stacked batch of permuted copies, each method's computed once."""

    def __init__(self, estimator: Any, batch: Any) -> None:
        self._estimator, self._batch, self._outputs = estimator, batch, {}

    def __call__(self, start: int, stop: int, name: str) -> Any:
        if name not in self._outputs:
            self._outputs[name] = getattr(self._estimator, name)(self._batch)
        return self._outputs[name][start:stop]


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

