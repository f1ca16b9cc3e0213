"""Micro-benchmarks of the engines' inner loops (pytest-benchmark, in the test and bench extras).

    pytest benchmarks/test_micro.py                 # timings table; not part of the test suite
    pytest benchmarks/test_micro.py --benchmark-json micro.json

The side-by-side comparisons with other libraries are `xplain-fast bench` (xplain_fast.bench).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.tree import DecisionTreeRegressor

import xplain_fast as xf

pytest.importorskip("pytest_benchmark")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 30)).astype(np.float32).astype(np.float64)
    y = X[:, 0] + X[:, 1] * X[:, 2] + np.sin(X[:, 3]) + 0.1 * rng.normal(size=len(X))
    return X, y


@pytest.fixture(scope="module")
def boosted(data):
    xgboost = pytest.importorskip("xgboost")
    X, y = data
    return xgboost.XGBRegressor(n_estimators=100, max_depth=6, n_jobs=2, random_state=0).fit(X, y)


def test_predict(benchmark, data, boosted):
    """Forest.predict: 10,000 rows through 100 depth-6 trees, one thread."""
    forest = xf.to_forest(boosted)
    rows = data[0][:10_000]
    out = benchmark(forest.predict, rows, n_jobs=1)
    assert out.shape == (10_000,)


def test_one_tree_shap(benchmark, data):
    """Path-dependent TreeSHAP of one depth-10 tree on 1,000 rows, one thread."""
    X, y = data
    explainer = xf.TreeExplainer(DecisionTreeRegressor(max_depth=10, random_state=0).fit(X, y), n_jobs=1).fit()
    phi = benchmark(explainer.shap_values, X[:1000], check_additivity=False)
    assert phi.shape == (1000, 30)


def test_permutation_scan(benchmark, data, boosted):
    """Permutation importance of one column (the scan of the rows its splits touch), 5 repeats."""
    X, y = data
    result = benchmark(xf.permutation_importance, boosted, X[:5000], y[:5000], n_repeats=5, random_state=0,
                       n_jobs=1, feature_groups=[[0]])
    assert result.importances.shape == (1, 5)


def test_one_integrated_gradients_block(benchmark, data):
    """Integrated Gradients of 16 rows x 64 steps (one block of the kernel) through a tanh MLP."""
    from sklearn.neural_network import MLPRegressor

    X, y = data
    mlp = MLPRegressor(hidden_layer_sizes=(64, 64), activation="tanh", max_iter=5, random_state=0)
    with pytest.warns(Warning):  # 5 epochs: realistic weights, no convergence
        mlp.fit(X[:2000], y[:2000])
    saliency = xf.GradientSaliency(mlp, n_steps=64, baseline=0.0, n_jobs=1).fit()
    saliency.attribute(X[:16])  # compile (or load the cached kernels) outside the timing
    values = benchmark(saliency.attribute, X[:16])
    assert values.shape == (16, 30)
