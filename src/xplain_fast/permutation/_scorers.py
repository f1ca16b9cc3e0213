"""Which scorers the native path computes: names of the requested scorers, when all are native."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import get_scorer, get_scorer_names

from ._native import NATIVE_METRICS


def _builtin_scorer_name(scorer: Any) -> str | None:
    """The name of the native built-in scorer equal to ``scorer`` (from get_scorer), or None."""
    for name in NATIVE_METRICS:
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
    if isinstance(steps, list) and steps:  # a Pipeline scores with its last step
        final = steps[-1][1]
    score = getattr(type(final), "score", None)
    if score is ClassifierMixin.score:
        return "accuracy"
    if score is RegressorMixin.score:
        return "r2"
    return None


def scorer_names(estimator: Any, scoring: Any) -> tuple[list[str] | None, bool]:
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
            [check(scoring)] if scoring in NATIVE_METRICS else (check(scoring) and None)
        ), False
    if isinstance(scoring, list | tuple | set):
        names = [check(s) if isinstance(s, str) else s for s in scoring]
        if not all(isinstance(s, str) for s in names) or len(set(names)) != len(names):
            return None, True  # sklearn reports the error
        return (names if all(s in NATIVE_METRICS for s in names) else None), True
    if isinstance(scoring, Mapping):
        resolved = []
        for scorer in scoring.values():
            if isinstance(scorer, str):
                return None, True  # sklearn wants callables here and reports it
            builtin = _builtin_scorer_name(scorer)
            if builtin not in NATIVE_METRICS:
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


