"""SHAP interaction values against brute force, the shap package and XGBoost's pred_interactions."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import rows_for
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import brute_force_interactions, random_forest
from sklearn_models import fitted

import xplain_fast as xf


@settings(max_examples=60)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_features=st.integers(1, 5),
    n_trees=st.integers(1, 3),
    max_nodes=st.integers(1, 25),
    n_outputs=st.integers(1, 2),
    vector_leaves=st.booleans(),
    nan_rules=st.booleans(),
    zero_cover=st.booleans(),
    chain=st.booleans(),
)
def test_matches_brute_force(seed, n_features, n_trees, max_nodes, n_outputs, vector_leaves, nan_rules,
                             zero_cover, chain):
    rng = np.random.default_rng(seed)
    forest = random_forest(rng, n_features=n_features, n_trees=n_trees, max_nodes=max_nodes, n_outputs=n_outputs,
                           vector_leaves=vector_leaves, nan_rules=nan_rules, zero_cover=zero_cover, chain=chain)
    X = rows_for(forest, rng, 3)
    out = xf.TreeExplainer(forest).fit().shap_interaction_values(X)
    out = out.reshape(3, n_features, n_features, n_outputs)
    for r, x in enumerate(X):
        np.testing.assert_allclose(out[r], brute_force_interactions(forest, x), rtol=0, atol=1e-10)


def test_rows_sum_to_shap_values_and_total_to_prediction():
    rng = np.random.default_rng(1)
    forest = random_forest(rng, n_features=7, n_trees=10, max_nodes=41, n_outputs=2)
    X = rows_for(forest, rng, 50)
    ex = xf.TreeExplainer(forest).fit()
    out = ex.shap_interaction_values(X)
    np.testing.assert_allclose(out.sum(axis=2), ex.shap_values(X), atol=1e-12)
    np.testing.assert_allclose(out.sum(axis=(1, 2)) + ex.expected_value_, forest.predict(X), atol=1e-12)
    np.testing.assert_allclose(out, out.transpose(0, 2, 1, 3), atol=1e-15)


def test_deep_tree_matches_brute_force():
    rng = np.random.default_rng(2)
    forest = random_forest(rng, n_features=5, n_trees=1, max_nodes=61, chain=True)
    assert forest.depth > 20
    X = rows_for(forest, rng, 3)
    out = xf.TreeExplainer(forest).fit().shap_interaction_values(X)
    for r, x in enumerate(X):
        np.testing.assert_allclose(out[r], brute_force_interactions(forest, x)[:, :, 0], atol=1e-10)


def test_feature_subset_is_a_block_of_the_full_matrix():
    rng = np.random.default_rng(3)
    forest = random_forest(rng, n_features=6, n_trees=5, max_nodes=31)
    forest.feature_names = list("abcdef")
    X = rows_for(forest, rng, 20)
    ex = xf.TreeExplainer(forest).fit()
    full = ex.shap_interaction_values(X)
    subset = [4, 1, 2]
    block = full[:, subset][:, :, subset]
    np.testing.assert_allclose(ex.shap_interaction_values(X, features=subset), block, atol=1e-14)
    np.testing.assert_allclose(ex.shap_interaction_values(X, features=["e", "b", "c"]),
                               full[:, subset][:, :, subset], atol=1e-14)
    with pytest.raises(ValueError, match="twice"):
        ex.shap_interaction_values(X, features=[1, 1])
    with pytest.raises(ValueError, match="out of range"):
        ex.shap_interaction_values(X, features=[9])
    with pytest.raises(ValueError, match="unknown feature"):
        ex.shap_interaction_values(X, features=["zz"])


def test_refuses_output_that_cannot_fit():
    rng = np.random.default_rng(4)
    forest = random_forest(rng, n_features=6, n_trees=2, max_nodes=11)
    ex = xf.TreeExplainer(forest).fit()
    assert ex.interaction_nbytes(1000) == 1000 * 36 * 8
    with pytest.raises(MemoryError, match="1,000 rows x 6 x 6 features need 281.25 KiB"):
        ex.shap_interaction_values(np.zeros((1000, 6)), max_bytes=1000)


@pytest.mark.parametrize("n_jobs", [2, -1])
def test_bitwise_identical_for_any_n_jobs(n_jobs):
    rng = np.random.default_rng(5)
    forest = random_forest(rng, n_features=6, n_trees=8, max_nodes=41, n_outputs=2)
    X = rows_for(forest, rng, 300)
    serial = xf.TreeExplainer(forest, n_jobs=1).fit().shap_interaction_values(X)
    assert np.array_equal(xf.TreeExplainer(forest, n_jobs=n_jobs).fit().shap_interaction_values(X), serial)


@pytest.mark.parametrize("name", ["RandomForestRegressor", "RandomForestClassifier",
                                  "GradientBoostingClassifier-binary",
                                  "HistGradientBoostingRegressor", "ExtraTreesRegressor", "DecisionTreeClassifier"])
def test_matches_shap_package(name):
    shap = pytest.importorskip("shap")
    model, X = fitted(name)
    theirs = np.asarray(shap.TreeExplainer(model).shap_interaction_values(X[:25]))
    ours = xf.TreeExplainer(model).fit().shap_interaction_values(X[:25])
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-8)


@pytest.mark.parametrize("objective", ["reg:squarederror", "multi:softprob"])
def test_matches_xgboost_pred_interactions(objective):
    xgboost = pytest.importorskip("xgboost")
    rng = np.random.default_rng(6)
    X = np.round(rng.normal(size=(600, 6)), 2)
    X[rng.random(X.shape) < 0.1] = np.nan
    clean = np.nan_to_num(X)
    if objective == "multi:softprob":
        model = xgboost.XGBClassifier(n_estimators=20, max_depth=4, nthread=1)
        model.fit(X, (clean[:, 0] > 0).astype(int) + (clean[:, 1] * clean[:, 2] > 0))
    else:
        target = clean[:, 0] * clean[:, 1] + clean[:, 2]
        model = xgboost.XGBRegressor(n_estimators=30, max_depth=5, nthread=1).fit(X, target)
    rows = X[:60]
    theirs = model.get_booster().predict(xgboost.DMatrix(rows), pred_interactions=True)
    ours = xf.TreeExplainer(model).fit().shap_interaction_values(rows)
    if theirs.ndim == 4:  # (n, K, M + 1, M + 1) -> (n, M, M, K)
        theirs = theirs[:, :, :-1, :-1].transpose(0, 2, 3, 1)
    else:
        theirs = theirs[:, :-1, :-1]
    scale = max(1.0, float(np.abs(model.predict(rows, output_margin=True)).max()))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5 * scale)
