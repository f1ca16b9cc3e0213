"""Helpers shared by several test files (test files never import from each other)."""

from __future__ import annotations

import numpy as np

import xplain_fast as xf


def rows_for(forest: xf.Forest, rng: np.random.Generator, n: int) -> np.ndarray:
    """Random rows with NaNs, zeros, category-like integers and values exactly on thresholds."""
    X = np.round(rng.normal(size=(n, forest.n_features)), 1)
    X[rng.random(X.shape) < 0.15] = np.nan
    X[rng.random(X.shape) < 0.1] = 0.0
    X[rng.random(X.shape) < 0.1] = rng.integers(0, 6)
    internal = np.flatnonzero(forest.left >= 0)
    for r in range(n):
        if internal.size and rng.random() < 0.5:
            node = rng.choice(internal)
            X[r, forest.feature[node]] = forest.threshold[node]
    return X
