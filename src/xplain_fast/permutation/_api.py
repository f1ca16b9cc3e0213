"""The public permutation-importance API: argument checks, the draws, and the choice of path."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import Bunch, check_array

from .._validation import check_n_jobs, feature_names_of
from ._arguments import check_and_draw, resolve_groups
from ._forest import forest_scorer_names, forest_setup
from ._generic import generic_scores
from ._native import UseGeneric, native_scores, native_setup
from ._scorers import scorer_names


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
    threads = check_n_jobs(n_jobs)
    if not hasattr(X, "iloc"):
        X = check_array(X, ensure_all_finite="allow-nan", dtype=None)
    n_samples, n_features = X.shape
    draws = check_and_draw(estimator, X, n_samples, n_features, y, sample_weight, feature_groups,
                           random_state, max_samples, n_repeats)
    y, sample_weight, groups = draws.y, draws.sample_weight, draws.groups
    row_indices, perms = draws.row_indices, draws.perms

    scored = _forest_scores if _is_forest(estimator) else _estimator_scores
    baseline, permuted, metric_names, multi = scored(
        estimator, X, y, sample_weight, scoring, row_indices, perms, groups, threads
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
        # stored untouched (scikit-learn's convention); fit validates them
        self.estimator, self.scoring, self.n_repeats, self.n_jobs = estimator, scoring, n_repeats, n_jobs
        self.random_state, self.max_samples, self.feature_groups = random_state, max_samples, feature_groups

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
        groups, group_names = resolve_groups(self.feature_groups, X, n_features)
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


def _forest_scores(forest: Any, X: Any, y: Any, sample_weight: Any, scoring: Any, row_indices: Any, perms: Any,
                   groups: list, threads: int) -> tuple[np.ndarray, np.ndarray, list[str], bool]:
    """(baseline, permuted, scorer names, several scorers?) of a Forest itself: native, scoring explicit."""
    names, multi = forest_scorer_names(scoring)
    try:
        baseline, permuted = native_scores(forest_setup(forest, X, y, names), X, y, sample_weight, row_indices,
                                           perms, groups, threads)
    except UseGeneric:
        raise ValueError(
            "these targets cannot be scored (a class of the model is missing from y, or r2 of one row)"
        ) from None
    return baseline, permuted, names, multi


def _estimator_scores(estimator: Any, X: Any, y: Any, sample_weight: Any, scoring: Any, row_indices: Any,
                      perms: Any, groups: list, threads: int) -> tuple[np.ndarray, np.ndarray, list[str], bool]:
    """(baseline, permuted, scorer names, several scorers?) of an estimator: native where its model
    and scorers allow, else scikit-learn's scorers on its own predictions."""
    names, multi = scorer_names(estimator, scoring)
    native = None if names is None else native_setup(estimator, X, y, names)
    if native is not None:
        try:
            baseline, permuted = native_scores(native, X, y, sample_weight, row_indices, perms, groups, threads)
            return baseline, permuted, (list(scoring) if isinstance(scoring, Mapping) else names), multi
        except UseGeneric:
            pass
    if scoring is None and names is not None:
        scoring = names[0]  # the estimator's score is this scorer: batch its predictions
    return generic_scores(estimator, X, y, sample_weight, scoring, row_indices, perms, groups, multi)


def _is_forest(estimator: Any) -> bool:
    from ..forest import Forest

    return isinstance(estimator, Forest)


def _bunch(baseline: float, permuted: np.ndarray) -> Bunch:
    importances = baseline - permuted
    return Bunch(
        importances_mean=np.mean(importances, axis=1),
        importances_std=np.std(importances, axis=1),
        importances=importances,
    )


