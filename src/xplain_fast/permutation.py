"""Permutation importance: scikit-learn's numbers, computed in C++ for tree models.

Tree models (anything :func:`xplain_fast.to_forest` loads) are scored in C++: only rows whose path
through a tree tests a permuted column are re-routed, and the link and the common metrics are
applied natively. Any other estimator, or a scorer without a native implementation, goes through a
generic path that batches the repeats of a column into few ``predict`` calls (bounded memory) and
calls the scikit-learn scorer on each slice. Either way the permutations are drawn exactly as
:func:`sklearn.inspection.permutation_importance` draws them, so the results agree with it.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier, is_regressor
from sklearn.metrics import check_scoring, get_scorer, get_scorer_names
from sklearn.utils import Bunch, _safe_indexing, check_array, check_random_state
from sklearn.utils.random import sample_without_replacement
from sklearn.utils.validation import check_is_fitted

from . import _core
from ._validation import check_n_jobs, feature_names_of

__all__ = ["PermutationImportance", "permutation_importance"]

#: scorer name -> metric id in cpp/include/xplain/permutation.hpp
_NATIVE_METRICS = {
    "r2": 0,
    "neg_mean_squared_error": 1,
    "neg_root_mean_squared_error": 2,
    "neg_mean_absolute_error": 3,
    "accuracy": 4,
    "balanced_accuracy": 5,
    "neg_log_loss": 6,
    "roc_auc": 7,
    "roc_auc_ovr": 8,
}
_REGRESSION_METRICS = {
    "r2",
    "neg_mean_squared_error",
    "neg_root_mean_squared_error",
    "neg_mean_absolute_error",
}

# links and predict rules (PermLink / PermPredictRule in permutation.hpp)
_LINK_IDENTITY, _LINK_EXP, _LINK_LOGISTIC, _LINK_SOFTMAX, _LINK_PROBA = range(5)
_ARGMAX_PROBA, _RAW_POSITIVE, _RAW_NON_NEGATIVE = range(3)

_PROBA_FOREST_SOURCES = {
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "DecisionTreeClassifier",
    "ExtraTreeClassifier",
}
_AVERAGED_SOURCES = {
    "RandomForestClassifier",
    "ExtraTreesClassifier",
    "RandomForestRegressor",
    "ExtraTreesRegressor",
}

#: bytes of permuted copies of X the generic path builds at once
_GENERIC_CHUNK_BYTES = 64 * 2**20
#: bytes of permuted raw sums the native path holds at once (tasks beyond it run in blocks)
_NATIVE_TASK_BYTES = 256 * 2**20


# ------------------------------------------------------------------------------------------------
# public API
# ------------------------------------------------------------------------------------------------
def permutation_importance(
    estimator: Any,
    X: Any,
    y: Any,
    *,
    scoring: str | Any | Sequence[str] | Mapping[str, Any] | None = None,
    n_repeats: int = 5,
    n_jobs: int | None = None,
    random_state: int | np.random.RandomState | None = None,
    sample_weight: Any = None,
    max_samples: float | int = 1.0,
    feature_groups: Sequence[Sequence[int | str]] | Mapping[str, Sequence[int | str]] | None = None,
) -> Bunch | dict[str, Bunch]:
    """Permutation importance with the numbers of sklearn.inspection.permutation_importance.

    The importance of a column (or group of columns) is the baseline score minus the score after
    permuting it, for ``n_repeats`` permutations. With the same ``random_state`` the permutations
    are those scikit-learn draws, so the results equal scikit-learn's (to float64 round-off; to
    float32 round-off for XGBoost, whose predictions are float32).

    Parameters
    ----------
    estimator : fitted estimator
        Tree models supported by :func:`xplain_fast.to_forest` are scored in C++ for the scorers
        ``r2``, ``neg_mean_squared_error``, ``neg_root_mean_squared_error``,
        ``neg_mean_absolute_error``, ``accuracy``, ``balanced_accuracy``, ``neg_log_loss``,
        ``roc_auc`` and ``roc_auc_ovr``; anything else uses the estimator's own predict methods.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Data to permute. NaN follows the model's missing-value rule.
    y : array-like of shape (n_samples,)
        Targets (None for scorers that need none).
    scoring : str, callable, list, tuple, dict or None, default=None
        As in scikit-learn; None is the estimator's ``score`` (accuracy for classifiers, R² for
        regressors). Several scorers give a dict of results; predictions are shared across them.
    n_repeats : int, default=5
        Permutations per column (group).
    n_jobs : int or None, default=None
        Threads (None: 1, -1: all cores). The results do not depend on it.
    random_state : int, RandomState instance or None, default=None
        Draws the permutations exactly as scikit-learn does.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights used in scoring.
    max_samples : int or float, default=1.0
        Rows drawn (without replacement, once, shared by all columns) to score the permutations;
        a float is a fraction of ``n_samples``. The baseline uses all rows, as in scikit-learn.
    feature_groups : list of lists, or dict name -> list, default=None
        Columns permuted jointly, one importance per group. Columns are indices, or names when X
        is a DataFrame. None: every column on its own.

    Returns
    -------
    sklearn.utils.Bunch or dict of str -> Bunch
        ``importances_mean`` (n_groups,), ``importances_std`` (n_groups,), ``importances``
        (n_groups, n_repeats); a dict keyed by scorer name for several scorers.

    Raises
    ------
    ValueError
        For a wrong number of features, mismatched lengths, NaN in y, ``n_repeats < 1``, an unknown
        scoring string, bad ``max_samples`` or bad groups.
    sklearn.exceptions.NotFittedError
        For an unfitted estimator.

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> X = np.random.default_rng(0).normal(size=(200, 3)); y = 2 * X[:, 0] + X[:, 1]
    >>> rf = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, y)
    >>> r = xf.permutation_importance(rf, X, y, n_repeats=3, random_state=0)
    >>> r.importances.shape, int(np.argmax(r.importances_mean))
    ((3, 3), 0)
    """
    n_repeats = _check_n_repeats(n_repeats)
    threads = check_n_jobs(n_jobs)
    if not hasattr(X, "iloc"):
        X = check_array(X, ensure_all_finite="allow-nan", dtype=None)
    n_samples, n_features = X.shape
    _check_fitted(estimator)
    expected = getattr(estimator, "n_features_in_", None)
    if expected is not None and int(expected) != n_features:
        raise ValueError(
            f"X has {n_features} features, but {type(estimator).__name__} "
            f"was fitted with {expected}"
        )
    y = _check_y(y, n_samples)
    sample_weight = _check_sample_weight(sample_weight, n_samples)
    groups, _ = _resolve_groups(feature_groups, X, n_features)

    # The draws of sklearn.inspection.permutation_importance: one seed, then for every column a
    # fresh RandomState(seed) that first subsamples rows, then shuffles an index array in place.
    random_state = check_random_state(random_state)
    random_seed = random_state.randint(np.iinfo(np.int32).max + 1)
    max_samples = _check_max_samples(max_samples, n_samples)
    row_indices, perms = _draw_permutations(random_seed, n_samples, max_samples, n_repeats)

    names, multi = _scorer_names(estimator, scoring)
    native = None if names is None else _native_setup(estimator, X, y, names)
    if native is not None:
        try:
            baseline, permuted = _native_scores(
                native, X, y, sample_weight, row_indices, perms, groups, threads
            )
            metric_names = list(scoring) if isinstance(scoring, Mapping) else names
        except _UseGeneric:
            native = None
    if native is None:
        if scoring is None and names is not None:
            scoring = names[0]  # the estimator's score is this scorer: batch its predictions
        baseline, permuted, metric_names, multi = _generic_scores(
            estimator, X, y, sample_weight, scoring, row_indices, perms, groups, multi
        )
    if not multi:
        return _bunch(baseline[0], permuted[:, :, 0])
    return {name: _bunch(baseline[m], permuted[:, :, m]) for m, name in enumerate(metric_names)}


class PermutationImportance(BaseEstimator):
    """Permutation importance as a scikit-learn style estimator.

    Parameters
    ----------
    estimator : fitted estimator
        The model to explain (not refitted).
    scoring, n_repeats, n_jobs, random_state, max_samples, feature_groups
        As in :func:`permutation_importance`.

    Attributes
    ----------
    importances_mean_ : ndarray of shape (n_groups,)
    importances_std_ : ndarray of shape (n_groups,)
    importances_ : ndarray of shape (n_groups, n_repeats)
        For several scorers these three are dicts keyed by scorer name.
    feature_importances_ : ndarray of shape (n_groups,)
        ``importances_mean_`` (of the first scorer when there are several).
    scores_ : Bunch or dict of Bunch
        The full result of :func:`permutation_importance`.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X is a DataFrame.
    feature_groups_ : list of list of int
        The column indices of each group (one column per group without ``feature_groups``).
    feature_group_names_ : list of str
        The dict keys, or the group's column names joined with ``+``.

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> X = np.random.default_rng(0).normal(size=(200, 3)); y = (X[:, 1] > 0).astype(int)
    >>> clf = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    >>> pi = xf.PermutationImportance(clf, n_repeats=3, random_state=0).fit(X, y)
    >>> int(np.argmax(pi.feature_importances_))
    1
    """

    def __init__(
        self,
        estimator: Any,
        *,
        scoring: Any = None,
        n_repeats: int = 5,
        n_jobs: int | None = None,
        random_state: int | np.random.RandomState | None = None,
        max_samples: float | int = 1.0,
        feature_groups: Any = None,
    ) -> None:
        self.estimator = estimator
        self.scoring = scoring
        self.n_repeats = n_repeats
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.max_samples = max_samples
        self.feature_groups = feature_groups

    def fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> PermutationImportance:
        """Compute the importances of ``estimator`` on (X, y); returns self."""
        result = permutation_importance(
            self.estimator,
            X,
            y,
            scoring=self.scoring,
            n_repeats=self.n_repeats,
            n_jobs=self.n_jobs,
            random_state=self.random_state,
            sample_weight=sample_weight,
            max_samples=self.max_samples,
            feature_groups=self.feature_groups,
        )
        names = feature_names_of(X)
        n_features = len(names) if names is not None else np.shape(X)[1]
        groups, group_names = _resolve_groups(self.feature_groups, X, n_features)
        self.scores_ = result
        if "importances" not in result:  # a dict of Bunch (a Bunch is a dict too)
            self.importances_mean_ = {k: b.importances_mean for k, b in result.items()}
            self.importances_std_ = {k: b.importances_std for k, b in result.items()}
            self.importances_ = {k: b.importances for k, b in result.items()}
            self.feature_importances_ = next(iter(result.values())).importances_mean
        else:
            self.importances_mean_ = result.importances_mean
            self.importances_std_ = result.importances_std
            self.importances_ = result.importances
            self.feature_importances_ = result.importances_mean
        self.n_features_in_ = int(n_features)
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.feature_groups_ = [list(map(int, g)) for g in groups]
        self.feature_group_names_ = group_names
        return self


# ------------------------------------------------------------------------------------------------
# checks and draws
# ------------------------------------------------------------------------------------------------
def _check_n_repeats(n_repeats: Any) -> int:
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, numbers.Integral):
        raise TypeError(f"n_repeats must be an int, got {type(n_repeats).__name__}")
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
    return int(n_repeats)


def _check_fitted(estimator: Any) -> None:
    if not hasattr(estimator, "fit"):
        raise TypeError(
            "estimator must be a fitted estimator with a fit method, "
            f"got {type(estimator).__name__}"
        )
    check_is_fitted(estimator)


def _check_y(y: Any, n_samples: int) -> Any:
    if y is None:
        return None
    arr = np.asarray(y)
    if arr.shape[0] != n_samples:
        raise ValueError(f"y has {arr.shape[0]} entries, but X has {n_samples} rows")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError("y contains NaN; drop those rows or impute the target before scoring")
    return y


def _check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(
            f"sample_weight must be 1-D with one entry per row of X ({n_samples}), "
            f"got shape {w.shape}"
        )
    if not np.all(np.isfinite(w)):
        raise ValueError("sample_weight contains NaN or infinity")
    return w


def _check_max_samples(max_samples: Any, n_samples: int) -> int:
    if isinstance(max_samples, bool) or not isinstance(max_samples, numbers.Real):
        raise TypeError(f"max_samples must be an int or a float, got {type(max_samples).__name__}")
    if isinstance(max_samples, numbers.Integral):
        if max_samples < 1:
            raise ValueError(f"max_samples must be >= 1 as an int, got {max_samples}")
        if max_samples > n_samples:
            raise ValueError("max_samples must be <= n_samples")
        return int(max_samples)
    if not 0 < max_samples <= 1:
        raise ValueError(f"max_samples must be in (0, 1] as a float, got {max_samples}")
    if int(max_samples * n_samples) < 1:
        raise ValueError(f"max_samples={max_samples} draws no row out of {n_samples}")
    return int(max_samples * n_samples)


def _draw_permutations(
    seed: int, n_samples: int, max_samples: int, n_repeats: int
) -> tuple[np.ndarray | None, np.ndarray]:
    """Subsampled rows (None: all) and, per repeat, the row each permuted row takes its values from.

    scikit-learn shuffles ``shuffling_idx`` in place and assigns
    ``X[:, col] = X[shuffling_idx, col]`` to the already permuted column, so repeat r uses
    the composition of the shuffles so far.
    """
    rs = check_random_state(seed)
    row_indices = None
    if max_samples < n_samples:
        row_indices = sample_without_replacement(n_samples, max_samples, random_state=rs)
        m = max_samples
    else:
        m = n_samples
    shuffling_idx = np.arange(m)
    current = np.arange(m)
    perms = np.empty((n_repeats, m), dtype=np.int64)
    for r in range(n_repeats):
        rs.shuffle(shuffling_idx)
        current = current[shuffling_idx]
        perms[r] = current
    return row_indices, perms


def _resolve_groups(
    feature_groups: Any, X: Any, n_features: int
) -> tuple[list[np.ndarray], list[str]]:
    names = feature_names_of(X)
    display = names if names is not None else [f"x{j}" for j in range(n_features)]
    if feature_groups is None:
        return [np.array([j]) for j in range(n_features)], list(display)
    if isinstance(feature_groups, Mapping):
        items = [(str(k), v) for k, v in feature_groups.items()]
    elif isinstance(feature_groups, Sequence) and not isinstance(feature_groups, str):
        items = [(None, v) for v in feature_groups]
    else:
        raise TypeError(
            "feature_groups must be a list of lists of columns or a dict name -> list of columns"
        )
    if not items:
        raise ValueError("feature_groups is empty")
    groups, group_names = [], []
    for k, (name, cols) in enumerate(items):
        if isinstance(cols, str | numbers.Integral):
            cols = [cols]
        idx = []
        for c in cols:
            if isinstance(c, str):
                if names is None or c not in names:
                    raise ValueError(
                        f"feature group {name or k} names column {c!r}, which X does not have"
                        + ("" if names is not None else " (X has no column names)")
                    )
                idx.append(names.index(c))
            elif isinstance(c, numbers.Integral) and not isinstance(c, bool):
                if not 0 <= c < n_features:
                    raise ValueError(
                        f"feature group {name or k} has column {c}, outside [0, {n_features})"
                    )
                idx.append(int(c))
            else:
                raise TypeError(
                    f"feature group {name or k}: columns must be ints or names, got {c!r}"
                )
        if not idx:
            raise ValueError(f"feature group {name or k} is empty")
        if len(set(idx)) != len(idx):
            raise ValueError(f"feature group {name or k} lists a column twice")
        groups.append(np.asarray(idx, dtype=np.int64))
        group_names.append(name if name is not None else "+".join(display[j] for j in idx))
    return groups, group_names


def _bunch(baseline: float, permuted: np.ndarray) -> Bunch:
    importances = baseline - permuted
    return Bunch(
        importances_mean=np.mean(importances, axis=1),
        importances_std=np.std(importances, axis=1),
        importances=importances,
    )


# ------------------------------------------------------------------------------------------------
# scorers
# ------------------------------------------------------------------------------------------------
def _builtin_scorer_name(scorer: Any) -> str | None:
    """The name of the native built-in scorer equal to ``scorer`` (from get_scorer), or None."""
    for name in _NATIVE_METRICS:
        ref = get_scorer(name)
        if type(scorer) is not type(ref):
            continue
        same = all(
            getattr(scorer, a, None) == getattr(ref, a, None)
            for a in ("_score_func", "_sign", "_kwargs", "_response_method")
        )
        if same:
            return name
    return None


def _default_score_name(estimator: Any) -> str | None:
    """accuracy / r2 when ``scoring=None`` means a mixin's score (also a Pipeline's last step)."""
    final = estimator
    steps = getattr(estimator, "steps", None)
    if steps is not None and type(estimator).__name__ == "Pipeline":
        final = steps[-1][1]
    score = getattr(type(final), "score", None)
    if score is ClassifierMixin.score:
        return "accuracy"
    if score is RegressorMixin.score:
        return "r2"
    return None


def _scorer_names(estimator: Any, scoring: Any) -> tuple[list[str] | None, bool]:
    """(native scorer names or None, whether the result is a dict). Validates scoring strings."""
    valid = set(get_scorer_names())

    def check(name: str) -> str:
        if name not in valid:
            raise ValueError(
                f"unknown scoring {name!r}; use one of sklearn.metrics.get_scorer_names(), a "
                "callable scorer(estimator, X, y), or a list/dict of those"
            )
        return name

    if scoring is None:
        name = _default_score_name(estimator)
        return ([name] if name else None), False
    if isinstance(scoring, str):
        return (
            [check(scoring)] if scoring in _NATIVE_METRICS else (check(scoring) and None)
        ), False
    if isinstance(scoring, list | tuple | set):
        names = [check(s) if isinstance(s, str) else s for s in scoring]
        if not all(isinstance(s, str) for s in names) or len(set(names)) != len(names):
            return None, True  # sklearn reports the error
        return (names if all(s in _NATIVE_METRICS for s in names) else None), True
    if isinstance(scoring, Mapping):
        resolved = []
        for scorer in scoring.values():
            if isinstance(scorer, str):
                return None, True  # sklearn wants callables here and reports it
            builtin = _builtin_scorer_name(scorer)
            if builtin not in _NATIVE_METRICS:
                return None, True
            resolved.append(builtin)
        return resolved, True
    if callable(scoring):
        name = _builtin_scorer_name(scoring)
        return ([name] if name else None), False
    raise ValueError(
        "scoring must be a string, a callable, a list/tuple or a dict, "
        f"got {type(scoring).__name__}"
    )


# ------------------------------------------------------------------------------------------------
# native (tree) path
# ------------------------------------------------------------------------------------------------
def _native_setup(estimator: Any, X: Any, y: Any, names: list[str]) -> dict | None:
    """How to score this model in C++, or None when the generic path must be used."""
    from .models import to_forest

    if y is None:
        return None
    if hasattr(X, "iloc"):
        kinds = {np.asarray(X[c]).dtype.kind for c in X.columns}
        if not kinds <= set("biuf"):
            return None  # category / object columns: the model's own encoding decides
    try:
        forest = to_forest(estimator)
    except (TypeError, ValueError):
        return None
    if forest.n_features != X.shape[1]:
        return None
    x_names = feature_names_of(X)
    if x_names is not None and forest.feature_names is not None and x_names != forest.feature_names:
        return None
    source = forest.source
    value, divisor = forest.value, 1.0
    if source in _AVERAGED_SOURCES:
        # scikit-learn sums the trees' outputs and divides once: sum the unscaled values to match.
        value, divisor = _unscaled_forest_values(estimator, forest)
    setup = {
        "forest": forest,
        "value": value,
        "divisor": divisor,
        # XGBoost predicts in float32: exact float64 tree order buys nothing there.
        "exact_order": source != "xgboost",
        "metrics": [_NATIVE_METRICS[n] for n in names],
        "names": list(names),
    }
    y_arr = np.asarray(y)
    if y_arr.ndim != 1:
        return None
    if is_regressor(estimator) and not is_classifier(estimator):
        if any(n not in _REGRESSION_METRICS for n in names):
            return None
        if (
            forest.n_outputs != 1
            or forest.link not in ("identity", "exp")
            or y_arr.dtype.kind not in "biuf"
        ):
            return None
        setup.update(
            classifier=False,
            link=_LINK_EXP if forest.link == "exp" else _LINK_IDENTITY,
            predict_rule=_ARGMAX_PROBA,
            auc_uses_raw=False,
            classes=None,
        )
        return setup
    if not is_classifier(estimator) or any(n in _REGRESSION_METRICS for n in names):
        return None
    classes = getattr(estimator, "classes_", None)
    if classes is None or np.ndim(classes) != 1 or len(classes) < 2:
        return None
    classes = np.asarray(classes)
    C = len(classes)
    name = type(estimator).__name__
    if source in _PROBA_FOREST_SOURCES and forest.link == "identity" and forest.n_outputs == C:
        link, rule = _LINK_PROBA, _ARGMAX_PROBA
    elif forest.link == "logistic" and forest.n_outputs == 1 and C == 2:
        link, rule = _LINK_LOGISTIC, _ARGMAX_PROBA
    elif forest.link == "softmax" and forest.n_outputs == C:
        link, rule = _LINK_SOFTMAX, _ARGMAX_PROBA
    else:
        return None
    if name == "GradientBoostingClassifier":
        if getattr(estimator, "loss", "log_loss") != "log_loss":
            return None  # the exponential loss has another link
        rule = _RAW_NON_NEGATIVE
    elif name == "HistGradientBoostingClassifier":
        rule = _RAW_POSITIVE
    if not np.all(np.isin(y_arr, classes)):
        return None
    setup.update(
        classifier=True,
        link=link,
        predict_rule=rule,
        classes=classes,
        auc_uses_raw=hasattr(estimator, "decision_function") and link == _LINK_LOGISTIC,
    )
    if "roc_auc" in names and C != 2:
        return None  # sklearn raises for multiclass targets with 'roc_auc'
    return setup


def _unscaled_forest_values(estimator: Any, forest: Any) -> tuple[np.ndarray, float]:
    """Per-node values of each tree before the 1/n_trees averaging, and n_trees."""
    from .models.sklearn import summed_forest_values

    value, divisor = summed_forest_values(estimator)
    if value.shape != forest.value.shape:
        raise RuntimeError("internal error: forest values do not line up with the estimators' trees")
    return value, divisor


def _class_indices(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(classes, y)
    return idx.astype(np.int32)


def _native_targets(setup: dict, y: Any, names: list[str]) -> dict | None:
    """y for the C++ scorer, or None when sklearn would refuse these targets (generic path)."""
    y = np.asarray(y)
    if not setup["classifier"]:
        if "r2" in names and len(y) < 2:
            return None  # undefined: scikit-learn warns and scores NaN
        return {"y": np.ascontiguousarray(y, dtype=np.float64), "y_class": None}
    classes = setup["classes"]
    present = np.unique(y)
    needs_all = {"neg_log_loss", "roc_auc", "roc_auc_ovr"}
    if any(n in needs_all for n in names) and len(present) != len(classes):
        return None
    return {"y": None, "y_class": _class_indices(y, classes)}


def _native_scores(
    setup: dict,
    X: Any,
    y: Any,
    sample_weight: np.ndarray | None,
    row_indices: np.ndarray | None,
    perms: np.ndarray,
    groups: list[np.ndarray],
    threads: int,
) -> tuple[np.ndarray, np.ndarray]:
    from ._validation import check_rows

    forest = setup["forest"]
    rows = check_rows(X, forest.n_features)
    y_arr = np.asarray(y)
    sub_rows = rows if row_indices is None else np.ascontiguousarray(rows[row_indices])
    sub_y = y_arr if row_indices is None else y_arr[row_indices]
    sub_w = (
        sample_weight
        if (row_indices is None or sample_weight is None)
        else sample_weight[row_indices]
    )
    names = setup["names"]
    full_t = _native_targets(setup, y_arr, names)
    sub_t = _native_targets(setup, sub_y, names)
    if full_t is None or sub_t is None:
        raise _UseGeneric
    common = dict(
        classifier=setup["classifier"],
        link=setup["link"],
        divisor=setup["divisor"],
        predict_rule=setup["predict_rule"],
        auc_uses_raw=setup["auc_uses_raw"],
        float32_output=setup["forest"].source == "xgboost",
        n_classes=0 if setup["classes"] is None else len(setup["classes"]),
        metrics=setup["metrics"],
    )
    offsets = np.concatenate([[0], np.cumsum([len(g) for g in groups])]).astype(np.int64)
    columns = np.concatenate(groups).astype(np.int64)
    sub_baseline, permuted = _core.permutation_scores(
        forest.handle,
        setup["value"],
        setup["exact_order"],
        sub_rows,
        perms,
        offsets,
        columns,
        y=sub_t["y"],
        y_class=sub_t["y_class"],
        sample_weight=sub_w,
        n_jobs=threads,
        task_memory_bytes=_NATIVE_TASK_BYTES,
        **common,
    )
    if row_indices is None:
        return sub_baseline, permuted
    # scikit-learn scores the baseline on all rows, the permutations on the subsample
    baseline = _core.forest_scores(
        forest.handle,
        setup["value"],
        rows,
        y=full_t["y"],
        y_class=full_t["y_class"],
        sample_weight=sample_weight,
        n_jobs=threads,
        **common,
    )
    return baseline, permuted


class _UseGeneric(Exception):
    """The native path declined these targets after all."""


# ------------------------------------------------------------------------------------------------
# generic path
# ------------------------------------------------------------------------------------------------
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


def _generic_scores(
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
