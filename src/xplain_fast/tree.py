"""TreeExplainer: exact SHAP values for tree ensembles, computed in the C++ core."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from . import _core
from ._validation import check_fitted, check_n_jobs, check_rows, feature_names_of
from .explanation import Explanation
from .forest import Forest
from .models import to_forest


class TreeExplainer(BaseEstimator):
    """Exact SHAP values of tree ensembles (scikit-learn, XGBoost, LightGBM, CatBoost).

    Parameters
    ----------
    model : fitted tree model or Forest
        Anything :func:`xplain_fast.to_forest` accepts.
    feature_perturbation : {"tree_path_dependent", "interventional"}
        How absent features are modelled: "tree_path_dependent" follows the training cover of
        every split (no background data needed); "interventional" replaces them by the values of
        background rows passed to :meth:`fit` and averages (the exact interventional Shapley
        values of ``v(S) = mean_b f(x_S, b_S̄)``, like
        ``shap.TreeExplainer(model, data=background)``).
    model_output : {"raw", "probability", "log_loss"}
        What is explained. "raw" (default): the raw (margin) output. "probability" and "log_loss"
        (interventional only) follow the shap package's definition: each (row, background row)
        pair's raw explanation is rescaled by ``(T(f(x)) - T(f(b))) / (f(x) - f(b))`` with T the
        inverse link (probability) or the loss, then averaged. "probability" needs a model with a
        logistic link and one output (or an identity link, where it equals "raw"); "log_loss"
        needs a logistic link (log loss) or a one-output identity link (squared error) and labels
        ``y`` in :meth:`shap_values`.
    n_jobs : int, optional
        Threads for the C++ core (None: 1, -1: all cores). Results are identical for every value.

    Attributes
    ----------
    forest_ : Forest
        The model in the core's format.
    expected_value_ : float or ndarray of shape (K,)
        The mean explained output under the cover distribution (path-dependent) or over the
        background rows (interventional): SHAP values sum to ``output - expected_value_``. None for
        ``model_output="log_loss"``, whose base value depends on the label (see :meth:`explain`).
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

    Interventional values against background data (cost grows with rows + background rows):

    >>> ex = xf.TreeExplainer(RandomForestRegressor(20, random_state=0).fit(X, y),
    ...                       feature_perturbation="interventional").fit(X[:100])
    >>> phi = ex.shap_values(X[:10])
    >>> bool(np.allclose(phi.sum(axis=1) + ex.expected_value_, ex.forest_.predict(X[:10])))
    True
    """

    # Private knobs of the interventional tables (tests force the per-pattern fallback with them).
    _max_table_bytes: int = _core.DEFAULT_MAX_TABLE_BYTES
    _max_table_k: int = _core.DEFAULT_MAX_TABLE_K
    _table_ratio: float = _core.DEFAULT_TABLE_RATIO

    def __init__(self, model: Any, *, feature_perturbation: str = "tree_path_dependent",
                 model_output: str = "raw", n_jobs: int | None = None) -> None:
        self.model = model
        self.feature_perturbation = feature_perturbation
        self.model_output = model_output
        self.n_jobs = n_jobs

    def fit(self, X: Any = None, y: Any = None) -> TreeExplainer:
        """Convert the model and precompute its SHAP tables.

        Parameters
        ----------
        X : array-like of shape (R, M), optional
            Background rows: required for ``feature_perturbation="interventional"`` (numpy,
            pandas or polars; NaN allowed), an error for "tree_path_dependent". Fitting costs
            O(R x nodes); explaining then costs the same per row whatever R is for
            ``model_output="raw"``.
        y : None
            Ignored.
        """
        if self.feature_perturbation not in ("tree_path_dependent", "interventional"):
            raise ValueError(
                f"feature_perturbation={self.feature_perturbation!r} is not available; "
                "use 'tree_path_dependent' or 'interventional'"
            )
        if self.model_output not in ("raw", "probability", "log_loss"):
            raise ValueError(f"model_output={self.model_output!r} is not available; "
                             "use 'raw', 'probability' or 'log_loss'")
        interventional = self.feature_perturbation == "interventional"
        if not interventional and X is not None:
            raise ValueError("feature_perturbation='tree_path_dependent' uses the trees' own cover "
                             "and takes no background data; call fit() without X")
        if interventional and X is None:
            raise ValueError("feature_perturbation='interventional' needs background data: "
                             "call fit(X_background)")
        if not interventional and self.model_output != "raw":
            raise ValueError(f"model_output={self.model_output!r} is available for "
                             "feature_perturbation='interventional' only")
        check_n_jobs(self.n_jobs)
        forest = to_forest(self.model)
        self.forest_ = forest
        self._pattern_tables = None  # interventional interaction statistics, built on first use
        self.n_features_in_ = forest.n_features
        self.n_outputs_ = forest.n_outputs
        if forest.feature_names is not None:
            self.feature_names_in_ = np.asarray(forest.feature_names, dtype=object)
        if interventional:
            self._transform = _transform_for(forest, self.model_output)
            self._background = self._rows(X, name="background data", allow_empty=False)
            self._build_tables()
        else:
            self._transform = "identity"
            self._tables = _core.build_path_shap_tables(forest.handle)
        expected: np.ndarray | None = np.asarray(self._tables.expected_value, dtype=np.float64)
        if self._transform == "logistic":
            raw = _core.predict_raw(forest.handle, self._background, check_n_jobs(self.n_jobs))
            expected = (1.0 / (1.0 + np.exp(-raw))).mean(axis=0)
        elif self._transform != "identity":
            expected = None  # the loss's base value depends on the label
        if expected is None:
            self.expected_value_ = None
        else:
            self.expected_value_ = float(expected[0]) if self.n_outputs_ == 1 else expected
        return self

    def _build_tables(self) -> None:
        if self.feature_perturbation == "interventional":
            # Transformed outputs are explained per (row, background row) pair and only need the
            # tree structure; the raw output uses the background statistics.
            self._tables = _core.build_interventional_tables(
                self.forest_.handle, self._background, max_table_bytes=int(self._max_table_bytes),
                max_table_k=int(self._max_table_k), table_ratio=float(self._table_ratio),
                n_jobs=check_n_jobs(self.n_jobs), statistics=self._transform == "identity")
        else:
            self._tables = _core.build_path_shap_tables(self.forest_.handle)

    # -- helpers ------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        check_fitted(self, "forest_")

    def _rows(self, X: Any, name: str = "X", *, allow_empty: bool = True) -> np.ndarray:
        """X as float64 rows in the model's column order (frames are matched by name); no rows
        give empty results, except for the background."""
        names = feature_names_of(X)
        model_names = self.forest_.feature_names
        if names is not None and model_names is not None and names != model_names:
            if sorted(names) != sorted(model_names):
                missing = sorted(set(model_names) - set(names))[:5]
                raise ValueError(f"{name}'s columns do not match the model's features "
                                 f"(missing e.g. {missing})")
            X = X[model_names]
        return check_rows(X, self.forest_.n_features, name=name, allow_empty=allow_empty)

    def _values(self, rows: np.ndarray, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """(phi [n, M, K], base value per row [n, K]) of the explained output."""
        n_jobs = check_n_jobs(self.n_jobs)
        if self._transform == "identity":
            if y is not None:
                raise ValueError("y is only used with model_output='log_loss', "
                                 f"not {self.model_output!r}")
            handle = self.forest_.handle
            if self.feature_perturbation == "interventional":
                phi = _core.interventional_shap_values(handle, self._tables, rows, n_jobs)
            else:
                phi = _core.path_shap_values(handle, self._tables, rows, n_jobs)
            expected = np.asarray(self._tables.expected_value)
            base = np.broadcast_to(expected, (len(rows), self.n_outputs_))
            return phi, base
        labels = None
        if self.model_output == "log_loss":
            if y is None:
                raise ValueError("model_output='log_loss' explains the loss of each row: pass its "
                                 "labels, shap_values(X, y=y)")
            labels = np.ascontiguousarray(np.asarray(y, dtype=np.float64).reshape(-1))
            if labels.shape[0] != len(rows):
                raise ValueError(f"y has {labels.shape[0]} labels for {len(rows)} rows")
        elif y is not None:
            raise ValueError("y is only used with model_output='log_loss', "
                             f"not {self.model_output!r}")
        phi, base = _core.pair_shap_values(self.forest_.handle, self._tables, self._background,
                                           rows, labels, _core.OutputTransform.__members__[self._transform],
                                           n_jobs)
        return phi[:, :, None], base[:, None]

    def _output(self, rows: np.ndarray, y: Any) -> np.ndarray:
        """The explained output T(f(x), y) [n, K]."""
        raw = _core.predict_raw(self.forest_.handle, rows, check_n_jobs(self.n_jobs))
        if self._transform == "logistic":
            return 1.0 / (1.0 + np.exp(-raw))
        if self._transform == "logistic_nlogloss":
            labels = np.asarray(y, dtype=np.float64).reshape(-1, 1)
            return np.logaddexp(0.0, raw) - labels * raw
        if self._transform == "squared_loss":
            return (raw - np.asarray(y, dtype=np.float64).reshape(-1, 1)) ** 2
        return raw

    # -- public -------------------------------------------------------------------------------
    def shap_values(self, X: Any, y: Any = None, *, check_additivity: bool = True) -> np.ndarray:
        """SHAP values of the explained output (see ``model_output``).

        Parameters
        ----------
        X : array-like of shape (n, M)
            numpy (any real dtype, C or F order), pandas or polars.
        y : array-like of shape (n,), optional
            Labels; required for ``model_output="log_loss"`` and rejected otherwise.
        check_additivity : bool, default True
            Verify ``sum(phi) + base value == explained output`` for every row and raise if not.

        Returns
        -------
        ndarray of shape (n, M), or (n, M, K) for a model with K outputs.
        """
        self._check_fitted()
        rows = self._rows(X)
        phi, base = self._values(rows, y)
        if check_additivity:
            self._check_additivity(rows, phi, base, y)
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

        With ``feature_perturbation="interventional"`` (raw output only) these are the interaction
        values of the interventional game, averaged over the background rows. The first call keeps
        every leaf's distinct background patterns; the cost per row grows with the number of
        distinct patterns per leaf (at most the background size), not with n x R.

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
        if self._transform != "identity":
            raise ValueError("interaction values explain the raw output; use model_output='raw'")
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
        n_jobs = check_n_jobs(self.n_jobs)
        tables = self._interaction_tables()
        if self.feature_perturbation == "interventional":
            out = _core.interventional_interaction_values(self.forest_.handle, tables, rows, subset, n_jobs)
        else:
            out = _core.path_interaction_values(self.forest_.handle, tables, rows, subset, n_jobs)
        return out[..., 0] if self.n_outputs_ == 1 else out

    def _interaction_tables(self) -> Any:
        """The tables of interaction values, built on first use (interventional: every leaf keeps
        its distinct background patterns, no superset-sum tables)."""
        if self.feature_perturbation != "interventional":
            return self._tables
        if self._pattern_tables is None:
            self._pattern_tables = _core.build_interventional_tables(
                self.forest_.handle, self._background, max_table_bytes=0, n_jobs=check_n_jobs(self.n_jobs))
        return self._pattern_tables

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

    def explain(self, X: Any, y: Any = None, *, check_additivity: bool = True) -> Explanation:
        """SHAP values with their base values, data and feature names as an :class:`Explanation`.

        ``y`` (labels) is required for ``model_output="log_loss"``, whose base value of each row is
        the mean loss of the background rows' predictions against that row's label.
        """
        self._check_fitted()
        rows = self._rows(X)
        phi, base = self._values(rows, y)
        if check_additivity:
            self._check_additivity(rows, phi, base, y)
        if self.n_outputs_ == 1:
            phi, base = phi[:, :, 0], base[:, 0]
        names = self.forest_.feature_names or feature_names_of(X)
        return Explanation(phi, np.array(base), rows, names)

    def _check_additivity(self, rows: np.ndarray, phi: np.ndarray, base: np.ndarray,
                          y: Any) -> None:
        prediction = self._output(rows, y)
        total = phi.sum(axis=1) + base
        scale = np.abs(phi).sum(axis=1) + np.abs(prediction) + 1.0
        error = np.abs(total - prediction) / scale
        if error.size and np.max(error) > 1e-9:
            row = int(np.argmax(np.max(error, axis=1)))
            raise RuntimeError(
                f"SHAP additivity check failed for row {row}: sum of SHAP values + expected value "
                f"differs from the model output by {np.max(np.abs(total - prediction)[row]):.3g}. "
                "Please report this with the model; check_additivity=False skips the check."
            )

    # Pickles carry the interventional tables (raw bytes; they took a pass over the background),
    # so an explainer sent to other processes (Dask workers, Spark executors) explains at once.
    # Path-dependent tables depend on the model only and are several times the Forest's size: they
    # are rebuilt on unpickling instead (about 15 ms for 45,000 nodes).
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        if self.feature_perturbation != "interventional":
            state.pop("_tables", None)
        return state

    def __setstate__(self, state: dict) -> None:
        state.setdefault("model_output", "raw")  # pickled before interventional support
        state.setdefault("_transform", "identity")
        state.setdefault("_pattern_tables", None)
        self.__dict__.update(state)
        if "forest_" in state and "_tables" not in state:  # path-dependent, or an older pickle
            self._build_tables()


def _transform_for(forest: Forest, model_output: str) -> str:
    """The output transform of shap's interventional explanations for this model and output."""
    if model_output == "raw":
        return "identity"
    one = forest.n_outputs == 1
    if model_output == "probability":
        if forest.link == "identity":
            return "identity"  # the raw output already is the probability (e.g. random forests)
        if forest.link == "logistic" and one:
            return "logistic"
        raise ValueError(
            "model_output='probability' is supported for models with a logistic link and one "
            f"output (binary classifiers) or an identity link, not for link={forest.link!r} with "
            f"{forest.n_outputs} outputs; explain model_output='raw' (the margin) instead"
        )
    if forest.link == "logistic" and one:
        return "logistic_nlogloss"
    if forest.link == "identity" and one:
        return "squared_loss"
    raise ValueError(
        "model_output='log_loss' is supported for binary classifiers (logistic link, log loss) "
        "and one-output regressors (identity link, squared error), not for "
        f"link={forest.link!r} with {forest.n_outputs} outputs"
    )


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
