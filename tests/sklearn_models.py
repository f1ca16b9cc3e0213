"""Small fitted scikit-learn models of every supported family, shared by the tests."""

from __future__ import annotations

from functools import cache

import numpy as np
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor, ExtraTreeRegressor


@cache
def data(n: int = 400, nan: bool = True):
    """Features on a coarse grid (so rows land exactly on thresholds), NaNs, three targets."""
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(n, 6)), 1)
    y = 2 * X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=n) * 0.1
    classes = (X[:, 0] > 0).astype(int) + (X[:, 3] > 0.5)
    if nan:
        X = X.copy()
        X[rng.random(X.shape) < 0.08] = np.nan
    return X, y, classes


# name -> (factory, target kind, accepts NaN)
FAMILIES = {
    "DecisionTreeRegressor": (lambda: DecisionTreeRegressor(max_depth=6, random_state=0), "y", True),
    "DecisionTreeRegressor-multioutput": (lambda: DecisionTreeRegressor(max_depth=5, random_state=0), "yy", True),
    "ExtraTreeRegressor": (lambda: ExtraTreeRegressor(max_depth=6, random_state=0), "y", True),
    "DecisionTreeClassifier": (lambda: DecisionTreeClassifier(max_depth=6, random_state=0), "c", True),
    "DecisionTreeClassifier-multioutput": (lambda: DecisionTreeClassifier(max_depth=4, random_state=0), "cc", True),
    "RandomForestRegressor": (lambda: RandomForestRegressor(15, max_depth=8, random_state=0), "y", True),
    "RandomForestClassifier": (lambda: RandomForestClassifier(15, max_depth=8, random_state=0), "c", True),
    "RandomForestClassifier-binary": (lambda: RandomForestClassifier(10, random_state=0), "b", True),
    "ExtraTreesRegressor": (lambda: ExtraTreesRegressor(10, max_depth=8, random_state=0), "y", True),
    "ExtraTreesClassifier": (lambda: ExtraTreesClassifier(10, max_depth=8, random_state=0), "c", True),
    "GradientBoostingRegressor": (lambda: GradientBoostingRegressor(n_estimators=30, random_state=0), "y", False),
    "GradientBoostingRegressor-huber": (
        lambda: GradientBoostingRegressor(loss="huber", n_estimators=20, random_state=0), "y", False),
    "GradientBoostingRegressor-quantile": (
        lambda: GradientBoostingRegressor(loss="quantile", alpha=0.3, n_estimators=20, random_state=0), "y", False),
    "GradientBoostingRegressor-absolute": (
        lambda: GradientBoostingRegressor(loss="absolute_error", n_estimators=20, random_state=0), "y", False),
    "GradientBoostingRegressor-zero-init": (
        lambda: GradientBoostingRegressor(init="zero", n_estimators=20, random_state=0), "y", False),
    "GradientBoostingClassifier-binary": (
        lambda: GradientBoostingClassifier(n_estimators=20, random_state=0), "b", False),
    "GradientBoostingClassifier-multiclass": (
        lambda: GradientBoostingClassifier(n_estimators=15, random_state=0), "c", False),
    "HistGradientBoostingRegressor": (lambda: HistGradientBoostingRegressor(max_iter=30, random_state=0), "y", True),
    "HistGradientBoostingRegressor-poisson": (
        lambda: HistGradientBoostingRegressor(loss="poisson", max_iter=20, random_state=0), "ypos", True),
    "HistGradientBoostingClassifier-binary": (
        lambda: HistGradientBoostingClassifier(max_iter=20, random_state=0), "b", True),
    "HistGradientBoostingClassifier-multiclass": (
        lambda: HistGradientBoostingClassifier(max_iter=15, random_state=0), "c", True),
    "IsolationForest": (lambda: IsolationForest(n_estimators=20, max_features=4, random_state=0), None, True),
}


@cache
def fitted(name: str):
    factory, target, accepts_nan = FAMILIES[name]
    X, y, classes = data(nan=accepts_nan)
    targets = {
        "y": y, "yy": np.column_stack([y, np.abs(y) - 1]), "c": classes, "b": classes > 0,
        "cc": np.column_stack([classes, classes > 1]), "ypos": np.exp(y / 4), None: None,
    }
    return factory().fit(X, targets[target]), X


def raw_output(model, X: np.ndarray) -> np.ndarray:
    """The library's own raw output for a model, computed through its public API."""
    if isinstance(model, IsolationForest):
        # score = -2^(-mean path length / c(max_samples)); invert it
        n = model.max_samples_
        c = 2.0 * (np.log(n - 1.0) + np.euler_gamma) - 2.0 * (n - 1.0) / n
        return -np.log2(-model.score_samples(X)) * c
    if isinstance(model, RandomForestClassifier | ExtraTreesClassifier | DecisionTreeClassifier):
        proba = model.predict_proba(X)
        return np.column_stack(proba) if isinstance(proba, list) else proba
    if isinstance(model, GradientBoostingClassifier | HistGradientBoostingClassifier):
        return model.decision_function(X)
    if isinstance(model, HistGradientBoostingRegressor) and model.loss == "poisson":
        return np.log(model.predict(X))
    return model.predict(X)
