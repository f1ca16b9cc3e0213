"""scikit-learn loaders reproduce each model's own raw output."""

from __future__ import annotations

import numpy as np
import pytest
from reference import predict_forest
from sklearn.ensemble import GradientBoostingRegressor, HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LinearRegression
from sklearn.tree import DecisionTreeRegressor
from sklearn_models import FAMILIES, data, fitted, raw_output

import xplain_fast as xf


def threshold_rows(forest: xf.Forest, X: np.ndarray, rng: np.random.Generator, n: int = 60) -> np.ndarray:
    """Rows whose features sit exactly on split thresholds of the forest."""
    rows = X[rng.integers(len(X), size=n)].copy()
    # scikit-learn marks "only missing values go right" splits with an infinite threshold
    internal = np.flatnonzero((forest.left >= 0) & np.isfinite(forest.threshold))
    for r in range(n):
        for node in rng.choice(internal, size=min(3, internal.size), replace=False):
            rows[r, forest.feature[node]] = forest.threshold[node]
    return rows


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_forest_predict_equals_library(name):
    model, X = fitted(name)
    forest = xf.to_forest(model)
    rows = np.vstack([X, threshold_rows(forest, X, np.random.default_rng(1))])
    ours = forest.predict(rows)
    theirs = raw_output(model, rows)
    assert ours.shape == np.shape(theirs)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name", ["RandomForestClassifier", "GradientBoostingClassifier-multiclass",
                                  "HistGradientBoostingRegressor"])
def test_core_predict_equals_python_walk(name):
    model, X = fitted(name)
    forest = xf.to_forest(model)
    np.testing.assert_allclose(forest.predict(X[:50]).reshape(50, -1), predict_forest(forest, X[:50]), atol=1e-12)


def test_nan_routing_without_nan_in_training():
    """A tree trained without NaN still routes NaN the way scikit-learn does."""
    X, y, _ = data(nan=False)
    model = DecisionTreeRegressor(max_depth=5, random_state=0).fit(X, y)
    Xn = X[:100].copy()
    Xn[np.random.default_rng(2).random(Xn.shape) < 0.3] = np.nan
    np.testing.assert_allclose(xf.to_forest(model).predict(Xn), model.predict(Xn), atol=1e-12)


@pytest.mark.parametrize("cls", [HistGradientBoostingRegressor, HistGradientBoostingClassifier])
def test_hist_gradient_boosting_categorical(cls):
    rng = np.random.default_rng(4)
    n = 600
    cat = rng.choice([0, 1, 2, 3, 5, 7, 8, 9, 11, 300], n).astype(float)  # 300: a large code; 4, 6, 10 unseen
    num = rng.normal(size=n)
    y = np.where(np.isin(cat, [1, 3, 5, 8]), 2.0, -1.0) + num
    cat[rng.random(n) < 0.1] = np.nan
    X = np.column_stack([cat, num])
    target = y if cls is HistGradientBoostingRegressor else (y > 0.5).astype(int)
    model = cls(max_iter=20, categorical_features=[0], random_state=0).fit(X, target)
    forest = xf.to_forest(model)
    assert forest.cat_offset is not None and np.any(forest.cat_offset >= 0)
    test = np.column_stack([
        np.array([np.nan, -1, -3, 0, 1, 2, 4, 300, 40, 255, 7] * 10, dtype=float),
        rng.normal(size=110),
    ])
    theirs = model._raw_predict(test)  # raw scores: no public raw-score API for the regressor
    np.testing.assert_allclose(forest.predict(test), theirs.reshape(forest.predict(test).shape), atol=1e-12)


def test_unsupported_and_unfitted_models():
    with pytest.raises(TypeError, match="LinearRegression"):
        xf.to_forest(LinearRegression().fit(np.ones((3, 1)), [1, 2, 3]))
    with pytest.raises(ValueError, match="not fitted"):
        xf.to_forest(DecisionTreeRegressor())
    X, y, _ = data(nan=False)
    with pytest.raises(TypeError, match="init"):
        xf.to_forest(GradientBoostingRegressor(init=LinearRegression(), n_estimators=3).fit(X, y))
    with pytest.raises(TypeError, match="supported models"):
        xf.to_forest({"not": "a model"})


def test_feature_names_from_dataframe():
    pd = pytest.importorskip("pandas")
    X, y, _ = data(nan=False)
    frame = pd.DataFrame(X, columns=[f"col{i}" for i in range(X.shape[1])])
    forest = xf.to_forest(DecisionTreeRegressor(max_depth=3).fit(frame, y))
    assert forest.feature_names == list(frame.columns)
