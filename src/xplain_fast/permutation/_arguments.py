"""Checks of permutation_importance's arguments, and scikit-learn's draws of the permutations."""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.random import sample_without_replacement
from sklearn.utils.validation import check_is_fitted

from .._validation import feature_names_of


def check_n_repeats(n_repeats: Any) -> int:
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, numbers.Integral):
        raise TypeError(f"n_repeats must be an int, got {type(n_repeats).__name__}")
    if n_repeats < 1:
        raise ValueError(f"n_repeats must be >= 1, got {n_repeats}")
    return int(n_repeats)


def check_fitted(estimator: Any) -> None:
    if not hasattr(estimator, "fit"):
        raise TypeError(
            "estimator must be a fitted estimator with a fit method, "
            f"got {type(estimator).__name__}"
        )
    check_is_fitted(estimator)


def check_y(y: Any, n_samples: int) -> Any:
    if y is None:
        return None
    arr = np.asarray(y)
    if arr.shape[0] != n_samples:
        raise ValueError(f"y has {arr.shape[0]} entries, but X has {n_samples} rows")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError("y contains NaN; drop those rows or impute the target before scoring")
    return y


def check_sample_weight(sample_weight: Any, n_samples: int) -> np.ndarray | None:
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


def check_max_samples(max_samples: Any, n_samples: int) -> int:
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


def draw_permutations(
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


@dataclass
class Draws:
    """Checked inputs and scikit-learn's draws for one permutation-importance run."""

    y: Any
    sample_weight: np.ndarray | None
    groups: list[np.ndarray]
    row_indices: np.ndarray | None  # subsampled rows (None: all)
    perms: np.ndarray  # (n_repeats, scored rows)


def check_and_draw(estimator: Any, X: Any, n_samples: int, n_features: int, y: Any, sample_weight: Any,
                   feature_groups: Any, random_state: Any, max_samples: Any, n_repeats: Any) -> Draws:
    """Check everything but X's values, then draw the permutations as
    sklearn.inspection.permutation_importance does: one seed, then for every column a fresh
    RandomState(seed) that first subsamples rows, then shuffles an index array in place."""
    n_repeats = check_n_repeats(n_repeats)
    from ..forest import Forest

    if isinstance(estimator, Forest):
        expected = estimator.n_features
    else:
        check_fitted(estimator)
        expected = getattr(estimator, "n_features_in_", None)
    if expected is not None and int(expected) != n_features:
        raise ValueError(f"X has {n_features} features, but {type(estimator).__name__} was fitted with {expected}")
    y = check_y(y, n_samples)
    sample_weight = check_sample_weight(sample_weight, n_samples)
    groups, _ = resolve_groups(feature_groups, X, n_features)
    random_seed = check_random_state(random_state).randint(np.iinfo(np.int32).max + 1)
    max_samples = check_max_samples(max_samples, n_samples)
    row_indices, perms = draw_permutations(random_seed, n_samples, max_samples, n_repeats)
    return Draws(y, sample_weight, groups, row_indices, perms)


def resolve_groups(
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


