"""Interventional (background-data) TreeSHAP against brute force and the shap package."""

from __future__ import annotations

import pickle
from functools import partial

import numpy as np
import pytest
from helpers import rows_for
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import brute_force_interventional_interactions, brute_force_interventional_shap, random_forest

import xplain_fast as xf
from xplain_fast import _core

FORCE_PATTERNS = {"_max_table_bytes": 0}  # every leaf uses the per-pattern fallback


def explainer(model, background, *, model_output="raw", n_jobs=None, **knobs):
    ex = xf.TreeExplainer(
        model, feature_perturbation="interventional", model_output=model_output, n_jobs=n_jobs
    )
    for name, value in knobs.items():
        setattr(ex, name, value)
    return ex.fit(background)


def phi3(ex, X, **kw):
    return ex.shap_values(X, **kw).reshape(len(X), ex.n_features_in_, ex.n_outputs_)


@settings(max_examples=300)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_features=st.integers(1, 5),
    n_trees=st.integers(1, 3),
    max_nodes=st.integers(1, 31),
    n_outputs=st.integers(1, 3),
    n_background=st.integers(1, 12),
    vector_leaves=st.booleans(),
    nan_rules=st.booleans(),
    categorical=st.booleans(),
    chain=st.booleans(),
    patterns=st.booleans(),
)
def test_matches_brute_force_on_random_forests(
    seed,
    n_features,
    n_trees,
    max_nodes,
    n_outputs,
    n_background,
    vector_leaves,
    nan_rules,
    categorical,
    chain,
    patterns,
):
    rng = np.random.default_rng(seed)
    forest = random_forest(
        rng,
        n_features=n_features,
        n_trees=n_trees,
        max_nodes=max_nodes,
        n_outputs=n_outputs,
        vector_leaves=vector_leaves,
        nan_rules=nan_rules,
        categorical=categorical,
        chain=chain,
    )
    X = rows_for(forest, rng, 3)
    background = rows_for(forest, rng, n_background)
    ex = explainer(forest, background, **(FORCE_PATTERNS if patterns else {"_table_ratio": 1e9}))
    if patterns:
        assert ex._tables.n_table_leaves == 0
    phi = phi3(ex, X)
    for r, x in enumerate(X):
        expected_phi, expected_base = brute_force_interventional_shap(forest, x, background)
        np.testing.assert_allclose(phi[r], expected_phi, rtol=0, atol=1e-10)
        np.testing.assert_allclose(
            np.atleast_1d(ex.expected_value_), expected_base, rtol=0, atol=1e-10
        )


def test_table_and_pattern_paths_agree_on_deep_trees():
    """Depth ~30, repeated features: tables for the shallow leaves, patterns for the deep ones."""
    rng = np.random.default_rng(1)
    forest = random_forest(rng, n_features=10, n_trees=4, max_nodes=61, chain=True, nan_rules=True)
    X, background = rows_for(forest, rng, 40), rows_for(forest, rng, 30)
    mixed = explainer(forest, background)  # 2^k <= 16 R: tables up to k = 8 unique features
    assert mixed._tables.n_table_leaves > 0 and mixed._tables.n_pattern_leaves > 0
    patterns = explainer(forest, background, **FORCE_PATTERNS)
    np.testing.assert_allclose(mixed.shap_values(X), patterns.shap_values(X), rtol=0, atol=1e-12)
    small_budget = explainer(forest, background, _max_table_bytes=20_000)
    assert 0 < small_budget._tables.table_bytes <= 20_000
    np.testing.assert_allclose(
        small_budget.shap_values(X), patterns.shap_values(X), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("n_features", [12, 90])
def test_deep_chains_match_the_per_pair_algorithm(n_features):
    """More than 64 unique features on a path (multi-word masks) against an independent algorithm:
    the per-(row, background row) walk with the identity transform."""
    rng = np.random.default_rng(n_features)
    forest = random_forest(rng, n_features=n_features, n_trees=2, max_nodes=301, chain=True)
    X, background = rows_for(forest, rng, 6), rows_for(forest, rng, 25)
    background[:, :] = np.where(rng.random(background.shape) < 0.8, X[0], background)  # near x
    ex = explainer(forest, background)
    phi = ex.shap_values(X)
    pair, base = _core.pair_shap_values(forest.handle, ex._tables, ex._background, X, None,
                                       _core.OutputTransform.identity, 1)
    np.testing.assert_allclose(phi, pair, rtol=0, atol=1e-10)
    np.testing.assert_allclose(base, ex.expected_value_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(phi.sum(axis=1) + ex.expected_value_, forest.predict(X), atol=1e-10)


@pytest.mark.parametrize("model_output", ["raw", "probability"])
@pytest.mark.parametrize("n_jobs", [2, -1])
def test_bitwise_identical_for_any_n_jobs(n_jobs, model_output):
    rng = np.random.default_rng(3)
    forest = random_forest(rng, n_features=6, n_trees=20, max_nodes=61, n_outputs=1)
    forest.link = "logistic"
    X, background = rows_for(forest, rng, 333), rows_for(forest, rng, 150)
    serial = explainer(forest, background, model_output=model_output, n_jobs=1).shap_values(X)
    parallel = explainer(forest, background, model_output=model_output, n_jobs=n_jobs)
    assert np.array_equal(parallel.shap_values(X), serial)
    assert np.array_equal(parallel.shap_values(X[5:]), serial[5:])


def test_additivity_pickle_frames_and_explanation():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(5)
    forest = random_forest(rng, n_features=4, n_trees=5, max_nodes=31, n_outputs=2)
    X, background = rows_for(forest, rng, 30), rows_for(forest, rng, 64)
    ex = explainer(forest, pd.DataFrame(background, columns=list("abcd")))
    phi = ex.shap_values(X)
    assert phi.shape == (30, 4, 2)
    np.testing.assert_allclose(
        ex.expected_value_, forest.predict(background).mean(axis=0), atol=1e-12
    )
    np.testing.assert_allclose(phi.sum(axis=1) + ex.expected_value_, forest.predict(X), atol=1e-10)
    exp = ex.explain(X)
    np.testing.assert_array_equal(exp.values, phi)
    np.testing.assert_array_equal(exp.base_values[7], ex.expected_value_)
    clone = pickle.loads(pickle.dumps(ex))
    np.testing.assert_array_equal(clone.shap_values(X), phi)


def test_probability_and_log_loss_are_additive():
    rng = np.random.default_rng(6)
    forest = random_forest(rng, n_features=5, n_trees=6, max_nodes=31, nan_rules=True)
    forest.link = "logistic"
    X, background = rows_for(forest, rng, 20), rows_for(forest, rng, 40)
    y = (rng.random(20) < 0.5).astype(float)
    raw = forest.predict(X)
    proba = explainer(forest, background, model_output="probability")
    phi = proba.shap_values(X)
    np.testing.assert_allclose(
        phi.sum(axis=1) + proba.expected_value_, 1 / (1 + np.exp(-raw)), atol=1e-12
    )
    loss = explainer(forest, background, model_output="log_loss")
    assert loss.expected_value_ is None
    exp = loss.explain(X, y)
    np.testing.assert_allclose(
        exp.values.sum(axis=1) + exp.base_values, np.logaddexp(0, raw) - y * raw, atol=1e-12
    )
    forest.link = "identity"
    sq = explainer(forest, background, model_output="log_loss").explain(X, y)
    np.testing.assert_allclose(sq.values.sum(axis=1) + sq.base_values, (raw - y) ** 2, atol=1e-10)


def test_errors():
    rng = np.random.default_rng(9)
    forest = random_forest(rng, n_features=4, n_trees=2, max_nodes=9)
    with pytest.raises(ValueError, match="needs background data"):
        xf.TreeExplainer(forest, feature_perturbation="interventional").fit()
    with pytest.raises(ValueError, match="expects 4"):
        explainer(forest, np.zeros((3, 5)))
    with pytest.raises(ValueError, match="no rows"):
        explainer(forest, np.zeros((0, 4)))
    with pytest.raises(ValueError, match="2-D"):
        explainer(forest, np.zeros(4))
    with pytest.raises(ValueError, match="interventional' only"):
        xf.TreeExplainer(forest, model_output="probability").fit()
    with pytest.raises(ValueError, match="model_output='bogus'"):
        explainer(forest, np.zeros((3, 4)), model_output="bogus")
    with pytest.raises(ValueError, match="logistic link"):
        explainer(
            random_forest(rng, n_features=4, n_trees=2, max_nodes=9, n_outputs=2),
            np.zeros((3, 4)),
            model_output="log_loss",
        )
    ex = explainer(forest, np.zeros((3, 4)))
    with pytest.raises(ValueError, match="only used with model_output='log_loss'"):
        ex.shap_values(np.zeros((1, 4)), y=[1.0])
    loss = explainer(forest, np.zeros((3, 4)), model_output="log_loss")
    with pytest.raises(ValueError, match="model_output='raw'"):
        loss.shap_interaction_values(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="pass its labels"):
        loss.shap_values(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="2 rows"):
        loss.shap_values(np.zeros((2, 4)), y=[1.0])


# -- interaction values -----------------------------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_features=st.integers(1, 5),
    n_trees=st.integers(1, 3),
    max_nodes=st.integers(1, 31),
    n_outputs=st.integers(1, 2),
    n_background=st.integers(1, 10),
    vector_leaves=st.booleans(),
    nan_rules=st.booleans(),
    categorical=st.booleans(),
)
def test_interaction_values_match_brute_force(seed, n_features, n_trees, max_nodes, n_outputs, n_background,
                                              vector_leaves, nan_rules, categorical):
    rng = np.random.default_rng(seed)
    forest = random_forest(rng, n_features=n_features, n_trees=n_trees, max_nodes=max_nodes, n_outputs=n_outputs,
                           vector_leaves=vector_leaves, nan_rules=nan_rules, categorical=categorical)
    X, background = rows_for(forest, rng, 4), rows_for(forest, rng, n_background)
    ex = explainer(forest, background)
    phi = ex.shap_interaction_values(X).reshape(len(X), n_features, n_features, n_outputs)
    for r, x in enumerate(X):
        expected = brute_force_interventional_interactions(forest, x, background)
        np.testing.assert_allclose(phi[r], expected, rtol=0, atol=1e-10)
    # rows of the matrix sum to the SHAP values
    np.testing.assert_allclose(phi.sum(axis=2), phi3(ex, X), rtol=0, atol=1e-10)


def test_interaction_values_subsets_threads_and_refits():
    rng = np.random.default_rng(8)
    forest = random_forest(rng, n_features=6, n_trees=8, max_nodes=41, nan_rules=True)
    X, background = rows_for(forest, rng, 70), rows_for(forest, rng, 40)
    ex = explainer(forest, background, n_jobs=1)
    full = ex.shap_interaction_values(X)
    assert full.shape == (70, 6, 6)
    np.testing.assert_allclose(full.sum(axis=(1, 2)) + ex.expected_value_, forest.predict(X), atol=1e-10)
    np.testing.assert_array_equal(explainer(forest, background, n_jobs=2).shap_interaction_values(X), full)
    np.testing.assert_array_equal(ex.shap_interaction_values(X, features=[4, 1]), full[:, [4, 1]][:, :, [4, 1]])
    # a new background replaces the statistics
    other = rows_for(forest, rng, 15)
    ex.fit(other)
    np.testing.assert_allclose(ex.shap_interaction_values(X[:3]),
                               explainer(forest, other).shap_interaction_values(X[:3]), rtol=0, atol=0)
    clone = pickle.loads(pickle.dumps(ex))
    np.testing.assert_array_equal(clone.shap_interaction_values(X[:3]), ex.shap_interaction_values(X[:3]))


# -- the shap package ------------------------------------------------------------------------

# shap has two implementations of interventional SHAP values. Its Exact explainer with an
# Independent masker over the whole background enumerates every coalition and evaluates the model
# itself in float64: it is the reference we match to 1e-8 (the value function is the same, only the
# algorithm differs). Its TreeExplainer kernel (tree_shap_indep) keeps node values and path weights
# in float32, so it agrees with exact values to ~1e-7 relative (its own additivity error is of that
# size); we compare with it at 1e-6 x scale. For model_output="probability" and "log_loss" shap
# defines the values by rescaling each (row, background row) pair's raw values, which is not a
# Shapley value of the transformed output, so only its TreeExplainer is a reference there.
SHAP_RTOL = 1e-6
EXACT_ATOL = 1e-8


def continuous_data(n=300, nan=False):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6))
    y = 2 * X[:, 0] + X[:, 1] * X[:, 2] + rng.normal(size=n) * 0.1
    c = (X[:, 0] + rng.normal(size=n) > 0).astype(int)
    if nan:
        X[rng.random(X.shape) < 0.1] = np.nan
    return X, y, c


def assert_close_to_shap(ours, theirs):
    theirs = np.asarray(theirs)
    scale = max(1.0, float(np.abs(theirs).max()))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=SHAP_RTOL * scale)


def sklearn_models():
    from sklearn.ensemble import (
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )

    return {
        "RandomForestRegressor": (RandomForestRegressor(15, max_depth=8, random_state=0), "y"),
        "ExtraTreesRegressor": (ExtraTreesRegressor(10, max_depth=8, random_state=0), "y"),
        "GradientBoostingRegressor": (
            GradientBoostingRegressor(n_estimators=30, random_state=0),
            "y",
        ),
        "GradientBoostingClassifier": (
            GradientBoostingClassifier(n_estimators=20, random_state=0),
            "c",
        ),
        "RandomForestClassifier": (RandomForestClassifier(10, max_depth=6, random_state=0), "c"),
    }


@pytest.mark.parametrize("name", list(sklearn_models()))
def test_matches_shap_on_sklearn_models(name):
    shap = pytest.importorskip("shap")
    model, target = sklearn_models()[name]
    X, y, c = continuous_data()
    model.fit(X, y if target == "y" else c)
    background = X[:60]
    ex = explainer(model, background)
    ours = ex.shap_values(X[100:160])
    reference = shap.TreeExplainer(model, data=background, feature_perturbation="interventional")
    theirs = reference.shap_values(X[100:160])
    if ours.ndim == 3 and np.ndim(theirs) == 3 and np.shape(theirs)[1] != ours.shape[1]:
        theirs = np.moveaxis(theirs, 0, -1)
    assert_close_to_shap(ours, theirs)
    np.testing.assert_allclose(ex.expected_value_, reference.expected_value, atol=1e-10)


def xgboost_model_with_nans(objective):
    """An XGBoost model fitted on continuous_data with NaNs, its rows and its targets."""
    xgb = pytest.importorskip("xgboost")
    X, y, c = continuous_data(nan=True)
    target = y if objective.startswith("reg") else c
    model = (xgb.XGBRegressor if objective.startswith("reg") else xgb.XGBClassifier)(
        n_estimators=30, max_depth=5, objective=objective
    ).fit(X, target)
    return model, X, target


@pytest.mark.parametrize("objective", ["reg:squarederror", "binary:logistic"])
def test_matches_shap_on_xgboost_with_nans(objective):
    shap = pytest.importorskip("shap")
    model, X, target = xgboost_model_with_nans(objective)
    background, rows = X[:50], X[100:140]
    labels = target[100:140].astype(float)
    outputs = ["raw", "log_loss"] + (["probability"] if objective.startswith("binary") else [])
    for model_output in outputs:
        kw = {"y": labels} if model_output == "log_loss" else {}
        ex = explainer(model, background, model_output=model_output)
        exp = ex.explain(rows, **kw)
        reference = shap.TreeExplainer(
            model, data=background, feature_perturbation="interventional", model_output=model_output
        )
        assert_close_to_shap(exp.values, reference.shap_values(rows, **kw))
        base = reference.expected_value
        base = base(labels[0]) if callable(base) else base
        np.testing.assert_allclose(exp.base_values[0], base, rtol=1e-6)


def test_matches_shap_on_lightgbm():
    shap = pytest.importorskip("shap")
    pytest.importorskip("xplain_fast.models.lightgbm")
    lgb = pytest.importorskip("lightgbm")
    X, y, _ = continuous_data(nan=True)
    model = lgb.LGBMRegressor(n_estimators=30, num_leaves=15, verbose=-1).fit(X, y)
    background, rows = X[:50], X[100:140]
    ours = explainer(model, background).shap_values(rows)
    theirs = shap.TreeExplainer(
        model, data=background, feature_perturbation="interventional"
    ).shap_values(rows)
    assert_close_to_shap(ours, theirs)


def shap_exact_interventional(predict, background, rows):
    """shap's exact Shapley values of ``predict`` under the independent (interventional) masker."""
    shap = pytest.importorskip("shap")
    masker = shap.maskers.Independent(background, max_samples=len(background))
    return shap.explainers.Exact(predict, masker)(rows).values


def xgboost_leaf_sum(model):
    """The XGBoost model's raw output minus its constant, routed by XGBoost and summed in float64.

    XGBoost adds its float32 leaf values in float32, so its own predictions carry ~1e-7 rounding.
    Routing with ``pred_leaf`` and adding the stored leaf values in float64 keeps XGBoost's own
    splits and missing-value rules and drops only that rounding. The constant (base score) does not
    change Shapley values.
    """
    import json

    xgb = pytest.importorskip("xgboost")
    booster = model.get_booster()
    trees = json.loads(booster.save_raw("json"))["learner"]["gradient_booster"]["model"]["trees"]
    leaf_values = [np.asarray(tree["base_weights"], dtype=np.float32).astype(np.float64) for tree in trees]

    def predict(Z):
        leaves = booster.predict(xgb.DMatrix(Z, missing=np.nan), pred_leaf=True).astype(np.int64)
        leaves = leaves.reshape(len(Z), len(trees))
        return sum(values[leaves[:, t]] for t, values in enumerate(leaf_values))

    return predict


@pytest.mark.parametrize(
    "name, nan",
    [
        ("RandomForestRegressor", False),
        ("RandomForestRegressor", True),
        ("ExtraTreesRegressor", False),
        ("GradientBoostingRegressor", False),
        ("GradientBoostingClassifier", False),
        ("RandomForestClassifier", True),
        ("HistGradientBoostingRegressor", True),
    ],
)
def test_matches_shap_exact_values_on_sklearn_models(name, nan):
    from sklearn.ensemble import HistGradientBoostingRegressor

    models = sklearn_models()
    models["HistGradientBoostingRegressor"] = (HistGradientBoostingRegressor(max_iter=30, random_state=0), "y")
    model, target = models[name]
    X, y, c = continuous_data(nan=nan)
    model.fit(X, y if target == "y" else c)
    background, rows = X[:40], X[100:130]
    ours = phi3(explainer(model, background), rows)
    if hasattr(model, "predict_proba") and name.startswith("RandomForest"):
        predict = model.predict_proba  # a forest classifier's raw output is its averaged probability
    elif hasattr(model, "decision_function"):
        predict = model.decision_function
    else:
        predict = model.predict
    theirs = shap_exact_interventional(predict, background, rows).reshape(ours.shape)
    assert np.abs(ours).max() > 0.1
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=EXACT_ATOL)


@pytest.mark.parametrize("objective", ["reg:squarederror", "binary:logistic"])
def test_matches_shap_exact_values_on_xgboost_with_nans(objective):
    model, X, _ = xgboost_model_with_nans(objective)
    background, rows = X[:40], X[100:130]
    ours = explainer(model, background).shap_values(rows)
    theirs = shap_exact_interventional(xgboost_leaf_sum(model), background, rows)
    assert np.abs(ours).max() > 0.1
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=EXACT_ATOL)


def test_matches_shap_exact_values_on_lightgbm_with_nans():
    pytest.importorskip("xplain_fast.models.lightgbm")
    lgb = pytest.importorskip("lightgbm")
    X, y, c = continuous_data(nan=True)
    for model, target in [
        (lgb.LGBMRegressor(n_estimators=30, num_leaves=15, verbose=-1), y),
        (lgb.LGBMClassifier(n_estimators=30, num_leaves=15, verbose=-1), c),
    ]:
        model.fit(X, target)
        background, rows = X[:40], X[100:130]
        ours = explainer(model, background).shap_values(rows)
        theirs = shap_exact_interventional(partial(model.predict, raw_score=True), background, rows)
        assert np.abs(ours).max() > 0.1
        np.testing.assert_allclose(ours, theirs, rtol=0, atol=EXACT_ATOL)
