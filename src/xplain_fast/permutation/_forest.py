"""Permutation importance of a :class:`~xplain_fast.Forest` itself: the native path, with the
scoring rule given explicitly (a Forest has no ``score`` method and no ``classes_``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _core
from .._validation import feature_names_of
from ._native import _REGRESSION_METRICS, NATIVE_METRICS, classifier_link, classifier_setup, regression_setup


def forest_scorer_names(scoring: Any) -> tuple[list[str], bool]:
    """(scorer names, whether the result is a dict) for a Forest: native scorer names only."""
    choices = ", ".join(sorted(NATIVE_METRICS))
    if scoring is None:
        raise ValueError(f"a Forest has no default score: pass scoring=, one of {choices} (or a list of them)")
    names = [scoring] if isinstance(scoring, str) else scoring
    if not isinstance(names, list | tuple) or not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"scoring for a Forest must be a scorer name or a list of them, got {scoring!r}")
    unknown = [n for n in names if n not in NATIVE_METRICS]
    if unknown:
        raise ValueError(f"scoring {unknown[0]!r} is not computed natively; a Forest takes one of {choices}")
    if len(set(names)) != len(names):
        raise ValueError(f"scoring lists a scorer twice: {list(names)}")
    return list(names), not isinstance(scoring, str)


def forest_setup(forest: Any, X: Any, y: Any, names: list[str]) -> dict:
    """How the core scores a Forest for these scorers; a ValueError says why it cannot.

    Regression scorers need one output with the identity or exp link. Classification scorers
    take the classes from ``np.unique(y)`` (every class the outputs stand for must occur in y)
    and need the Forest's ``class_rule``, which loaders of classifiers fill in.
    """
    if y is None:
        raise ValueError("permutation importance of a Forest needs y")
    x_names = feature_names_of(X)
    if x_names is not None and forest.feature_names is not None and list(x_names) != list(forest.feature_names):
        raise ValueError("X's column names differ from the Forest's feature_names; reorder or rename the columns")
    regression = [n in _REGRESSION_METRICS for n in names]
    if any(regression) and not all(regression):
        raise ValueError(f"scoring mixes regression and classification scorers: {names}")
    y_arr = np.asarray(y)
    if all(regression):
        if forest.n_outputs != 1 or forest.link not in ("identity", "exp"):
            raise ValueError(f"regression scorers need a Forest with one output and the identity or exp link; this one "
                             f"has {forest.n_outputs} outputs and the {forest.link} link")
        if y_arr.dtype.kind not in "biuf":
            raise ValueError(f"regression scorers need numeric y, got dtype {y_arr.dtype}")
        return regression_setup(forest, names)
    if forest.class_rule is None:
        raise ValueError("this Forest has no class_rule (it was not loaded from a classifier), so its class "
                         "predictions are unknown; use regression scorers or load it from the classifier")
    classes = np.unique(y_arr)
    link = classifier_link(forest, classes)
    if link is None:
        raise ValueError(f"y has {len(classes)} classes, but this Forest's outputs ({forest.n_outputs}, "
                         f"{forest.link} link) do not score that many; y must hold every class of the model")
    if "roc_auc" in names and len(classes) != 2:
        raise ValueError("'roc_auc' needs two classes; use 'roc_auc_ovr' for more")
    # A logistic Forest ranks by its raw margin (a classifier's decision_function), as its
    # probabilities would, without their saturation ties.
    return classifier_setup(forest, names, link, classes, auc_uses_raw=link == _core.Link.logistic)
