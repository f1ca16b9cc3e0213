"""Explanation: attributions with the data and base values they explain."""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np

from ._io import ResultWriter, read_result


@dataclass
class Explanation:
    """Attributions for a batch of rows.

    Attributes
    ----------
    values : ndarray of shape (n, M) or (n, M, K)
        One attribution per row and feature (and output).
    base_values : ndarray of shape (n,) or (n, K)
        What the attributions are measured from (the expected model output).
    data : ndarray of shape (n, M) or None
        The explained rows (None when they were not kept, e.g. in a file written by the command line).
    feature_names : list of str or None

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> X = np.random.default_rng(0).normal(size=(50, 3)); y = X[:, 0]
    >>> exp = xf.TreeExplainer(DecisionTreeRegressor(max_depth=2).fit(X, y)).fit().explain(X[:5])
    >>> exp.values.shape, exp.base_values.shape
    ((5, 3), (5,))

    Saved and loaded exactly (``.npz``, or ``.parquet`` with one column per feature and
    ``base_value``):

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "shap.npz")
    >>> exp.save(path)
    >>> back = xf.Explanation.load(path)
    >>> bool((back.values == exp.values).all()), back.feature_names
    (True, ['x0', 'x1', 'x2'])
    """

    values: np.ndarray
    base_values: np.ndarray
    data: np.ndarray | None = None
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
        data = None if self.data is None else self.data[rows]
        return Explanation(values, self.base_values[rows], data, self.feature_names)

    def save(self, path: str | PathLike) -> None:
        """Write the explanation to ``path``; :meth:`load` reads it back bit for bit.

        ``.npz``: arrays ``values``, ``base_values``, ``feature_names`` and ``data`` (when kept).
        ``.parquet`` (needs pyarrow, the ``parquet`` extra): one float64 column per feature (``name[k]``
        per output for several outputs), then ``base_value``, then ``data:<name>`` columns, with the
        shapes in the file's metadata. ``.csv``: the same columns as parquet, for reading elsewhere
        (floats printed in full precision; :meth:`load` does not read csv). The command line writes
        through the same code.
        """
        values = np.asarray(self.values)
        base = np.asarray(self.base_values)
        names = self.feature_names or [f"x{j}" for j in range(values.shape[1])]
        with ResultWriter(path, names, values.shape[1:], base.shape[1:], with_data=self.data is not None) as out:
            out.write(values, base, self.data)

    @classmethod
    def load(cls, path: str | PathLike) -> Explanation:
        """Read an explanation written by :meth:`save` or by ``xplain-fast explain -o``."""
        result = read_result(path)
        return cls(result["values"], result["base_values"], result["data"], result["feature_names"])

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
