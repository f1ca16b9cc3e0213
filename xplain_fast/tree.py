"""TreeExplainer: exact SHAP values for tree ensembles, computed in the C++ core."""

from __future__ import annotations

import os
import re
from typing import Any

import numpy as np

from . import _core
from ._validation import check_n_jobs, check_rows, feature_names_of
from .explanation import Explanation
from .models import to_forest

_AUTO_NAME = re.compile(r"^(Column_|f|x|feature_?)\d+$")


class TreeExplainer:
    """Exact SHAP values of tree ensembles (scikit-learn, XGBoost, LightGBM, CatBoost).

    Parameters
    ----------
    model : fitted tree model or Forest
        Anything :func:`xplain_fast.to_forest` accepts.
    feature_perturbation : {"tree_path_dependent"}
        How absent features are modelled: "tree_path_dependent" follows the training cover of
        every split (no background data needed).
    n_jobs : int, optional
        Threads for the C++ core (None: 1, -1: all cores). Results are identical for every value.

    Attributes
    ----------
    forest_ : Forest
        The model in the core's format.
    expected_value_ : float or ndarray of shape (K,)
        The mean raw model output under the cover distribution: SHAP values sum to
        ``prediction - expected_value_``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when the model knows its feature names.
    n_outputs_ : int

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> X = np.random.default_rng(0).normal(size=(200, 4)); y = X[:, 0] + 2 * X[:, 1]
    >>> ex = xf.TreeExplainer(RandomForestRegressor(20, random_state=0).fit(X, y)).fit()
    >>> phi = ex.shap_values(X[:10])
    >>> phi.shape
    (10, 4)
    >>> bool(np.allclose(phi.sum(axis=1) + ex.expected_value_, ex.forest_.predict(X[:10])))
    True
    """

    def __init__(self, model: Any, *, feature_perturbation: str = "tree_path_dependent",
                 n_jobs: int | None = None) -> None:
        self.model = model
        self.feature_perturbation = feature_perturbation
        self.n_jobs = n_jobs

    def fit(self, X: Any = None, y: Any = None) -> TreeExplainer:
        """Convert the model and precompute its SHAP tables.

        Parameters
        ----------
        X : None
            Path-dependent explanations need no background data; passing some is an error.
        y : None
            Ignored.
        """
        if self.feature_perturbation != "tree_path_dependent":
            raise ValueError(
                f"feature_perturbation={self.feature_perturbation!r} is not available; "
                "use 'tree_path_dependent'"
            )
        if X is not None:
            raise ValueError("feature_perturbation='tree_path_dependent' uses the trees' own cover and "
                             "takes no background data; call fit() without X")
        check_n_jobs(self.n_jobs)
        self.forest_ = to_forest(self.model)
        self.n_features_in_ = self.forest_.n_features
        self.n_outputs_ = self.forest_.n_outputs
        if self.forest_.feature_names is not None:
            self.feature_names_in_ = np.asarray(self.forest_.feature_names, dtype=object)
        self._tables = _core.build_path_shap_tables(self.forest_.handle)
        expected = np.asarray(self._tables.expected_value, dtype=np.float64)
        self.expected_value_ = float(expected[0]) if self.n_outputs_ == 1 else expected
        return self

    # -- helpers ------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "forest_"):
            raise ValueError("this TreeExplainer is not fitted yet; call fit() first")

    def _rows(self, X: Any) -> np.ndarray:
        """X as float64 rows in the model's column order (frames are matched by name)."""
        names = feature_names_of(X)
        model_names = self.forest_.feature_names
        if names is not None and model_names is not None and names != model_names:
            if sorted(names) == sorted(model_names):
                X = X[model_names]
            elif not all(_AUTO_NAME.match(n) for n in model_names):
                missing = sorted(set(model_names) - set(names))[:5]
                raise ValueError(f"X's columns do not match the model's features (missing e.g. {missing})")
        return check_rows(X, self.forest_.n_features)

    def _path_shap(self, rows: np.ndarray) -> np.ndarray:
        return _core.path_shap_values(self.forest_.handle, self._tables, rows, check_n_jobs(self.n_jobs))

    # -- public -------------------------------------------------------------------------------
    def shap_values(self, X: Any, *, check_additivity: bool = True) -> np.ndarray:
        """SHAP values of the model's raw output.

        Parameters
        ----------
        X : array-like of shape (n, M)
            numpy (any real dtype, C or F order), pandas or polars.
        check_additivity : bool, default True
            Verify ``sum(phi) + expected_value_ == prediction`` for every row and raise if not.

        Returns
        -------
        ndarray of shape (n, M), or (n, M, K) for a model with K outputs.
        """
        self._check_fitted()
        rows = self._rows(X)
        phi = self._path_shap(rows)
        if check_additivity:
            self._check_additivity(rows, phi)
        return phi[:, :, 0] if self.n_outputs_ == 1 else phi

    def interaction_nbytes(self, n_rows: int, features: Any = None) -> int:
        """Bytes that :meth:`shap_interaction_values` will allocate for its output."""
        self._check_fitted()
        n_sub = self.n_features_in_ if features is None else len(self._feature_indices(features))
        return int(n_rows) * n_sub * n_sub * self.n_outputs_ * 8

    def shap_interaction_values(self, X: Any, *, features: Any = None,
                                max_bytes: int | None = None) -> np.ndarray:
        """Exact SHAP interaction values (Lundberg et al.; the definition shap and XGBoost use).

        ``Phi[:, i, j]`` for ``i != j`` is half the interaction effect of features i and j,
        ``Phi[:, i, i]`` the main effect of i. Each row of the matrix sums to the SHAP values and the
        whole matrix to ``prediction - expected_value_``.

        Parameters
        ----------
        X : array-like of shape (n, M)
        features : sequence of int or str, optional
            Only these features (indices, or names when the model has them): the output is the
            ``(M_sub, M_sub)`` block of the full matrix, main effects included (the diagonal is the
            same as in the full matrix, so it still accounts for interactions with features left out).
        max_bytes : int, optional
            Largest output to allocate; default: 80% of the memory available now. Larger requests
            raise MemoryError before any work (explain fewer rows or features, or in batches).

        Returns
        -------
        ndarray of shape (n, M_sub, M_sub), or (n, M_sub, M_sub, K) for K outputs.

        Examples
        --------
        >>> import numpy as np, xplain_fast as xf
        >>> from sklearn.ensemble import RandomForestRegressor
        >>> X = np.random.default_rng(0).normal(size=(200, 4)); y = X[:, 0] * X[:, 1]
        >>> ex = xf.TreeExplainer(RandomForestRegressor(10, random_state=0).fit(X, y)).fit()
        >>> phi = ex.shap_interaction_values(X[:5])
        >>> phi.shape, bool(np.allclose(phi.sum(axis=2), ex.shap_values(X[:5])))
        ((5, 4, 4), True)
        """
        self._check_fitted()
        rows = self._rows(X)
        subset = (np.arange(self.n_features_in_, dtype=np.int64) if features is None
                  else self._feature_indices(features))
        needed = self.interaction_nbytes(len(rows), subset)
        limit = _available_memory() * 0.8 if max_bytes is None else max_bytes
        if needed > limit:
            raise MemoryError(
                f"SHAP interaction values for {len(rows):,} rows x {len(subset)} x {len(subset)} features"
                f"{'' if self.n_outputs_ == 1 else f' x {self.n_outputs_} outputs'} need "
                f"{_format_bytes(needed)}, more than the {_format_bytes(limit)} allowed; explain fewer rows "
                "at a time or pass features=[...] for a subset"
            )
        out = _core.path_interaction_values(self.forest_.handle, self._tables, rows, subset,
                                            check_n_jobs(self.n_jobs))
        return out[..., 0] if self.n_outputs_ == 1 else out

    def _feature_indices(self, features: Any) -> np.ndarray:
        names = self.forest_.feature_names
        indices = []
        for f in features:
            if isinstance(f, str):
                if names is None or f not in names:
                    raise ValueError(f"unknown feature name {f!r}")
                indices.append(names.index(f))
            elif isinstance(f, (int, np.integer)) and not isinstance(f, bool):
                if not 0 <= f < self.n_features_in_:
                    raise ValueError(f"feature index {f} is out of range for {self.n_features_in_} features")
                indices.append(int(f))
            else:
                raise TypeError(f"features must be indices or names, got {type(f).__name__}")
        if len(set(indices)) != len(indices):
            raise ValueError("features lists a feature twice")
        if not indices:
            raise ValueError("features is empty")
        return np.asarray(indices, dtype=np.int64)

    def explain(self, X: Any, *, check_additivity: bool = True) -> Explanation:
        """SHAP values with their base values, data and feature names as an :class:`Explanation`."""
        self._check_fitted()
        rows = self._rows(X)
        values = self.shap_values(rows, check_additivity=check_additivity)
        base = np.broadcast_to(np.asarray(self.expected_value_), (len(rows),) + np.shape(self.expected_value_))
        names = self.forest_.feature_names or feature_names_of(X)
        return Explanation(values, np.array(base), rows, names)

    def _check_additivity(self, rows: np.ndarray, phi: np.ndarray) -> None:
        prediction = _core.predict_raw(self.forest_.handle, rows, check_n_jobs(self.n_jobs))
        total = phi.sum(axis=1) + np.asarray(self._tables.expected_value)
        scale = np.abs(phi).sum(axis=1) + np.abs(prediction) + 1.0
        error = np.abs(total - prediction) / scale
        if np.max(error) > 1e-9:
            row = int(np.argmax(np.max(error, axis=1)))
            raise RuntimeError(
                f"SHAP additivity check failed for row {row}: sum of SHAP values + expected value "
                f"differs from the model output by {np.max(np.abs(total - prediction)[row]):.3g}. "
                "Please report this with the model; check_additivity=False skips the check."
            )

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_tables", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if "forest_" in state:
            self._tables = _core.build_path_shap_tables(self.forest_.handle)


def _format_bytes(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TiB"


def _available_memory() -> float:
    """Bytes of memory available now (MemAvailable on Linux, else physical memory)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))


def shap_values(model: Any, X: Any, *, n_jobs: int | None = None,
                check_additivity: bool = True) -> np.ndarray:
    """Path-dependent SHAP values of a tree model in one call.

    Equivalent to ``TreeExplainer(model, n_jobs=n_jobs).fit().shap_values(X)``.

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> X = np.random.default_rng(0).normal(size=(50, 3)); y = X[:, 0]
    >>> xf.shap_values(DecisionTreeRegressor(max_depth=2).fit(X, y), X[:4]).shape
    (4, 3)
    """
    explainer = TreeExplainer(model, n_jobs=n_jobs).fit()
    return explainer.shap_values(X, check_additivity=check_additivity)
