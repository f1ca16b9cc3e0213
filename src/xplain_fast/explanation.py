"""Explanation: attributions with the data and base values they explain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Explanation:
    """Attributions for a batch of rows.

    Attributes
    ----------
    values : ndarray of shape (n, M) or (n, M, K)
        One attribution per row and feature (and output).
    base_values : ndarray of shape (n,) or (n, K)
        What the attributions are measured from (the expected model output).
    data : ndarray of shape (n, M)
        The explained rows.
    feature_names : list of str or None

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> X = np.random.default_rng(0).normal(size=(50, 3)); y = X[:, 0]
    >>> exp = xf.TreeExplainer(DecisionTreeRegressor(max_depth=2).fit(X, y)).fit().explain(X[:5])
    >>> exp.values.shape, exp.base_values.shape
    ((5, 3), (5,))
    """

    values: np.ndarray
    base_values: np.ndarray
    data: np.ndarray
    feature_names: list[str] | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, rows: Any) -> Explanation:
        """Select rows, e.g. ``exp[:10]`` or ``exp[mask]``."""
        values = self.values[rows]
        if values.ndim < self.values.ndim:  # a single row
            rows = [rows]
            values = self.values[rows]
        return Explanation(values, self.base_values[rows], self.data[rows], self.feature_names)

    def to_shap(self) -> Any:
        """The same explanation as a ``shap.Explanation`` (needs the optional ``shap`` package)."""
        try:
            import shap
        except ImportError as exc:
            raise ImportError("to_shap() needs the 'shap' package: pip install shap") from exc
        return shap.Explanation(
            values=self.values,
            base_values=self.base_values,
            data=self.data,
            feature_names=self.feature_names,
        )
