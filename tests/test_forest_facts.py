"""The library facts a loader writes on the Forest, each checked against the library's own behaviour.

No algorithm asks which library trained a model; it reads these fields instead, so each must say
what the library really does: how it averages, how it decides a class, in which precision it sums,
and whether its feature names are real.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn_models import FAMILIES, data, fitted

import xplain_fast as xf

AVERAGED = ["RandomForestRegressor", "ExtraTreesRegressor", "RandomForestClassifier", "ExtraTreesClassifier"]
#: one fitted family per classifier class (multi-output classifiers aside)
CLASSIFIERS = sorted({name.split("-")[0]: name
                      for name, (_, target, _) in FAMILIES.items() if target in ("b", "c")}.values())
REGRESSORS = [name for name, (_, target, _) in FAMILIES.items() if target in ("y", "yy", "ypos")]


def _summed_prediction(model, forest, X):
    """The library's arithmetic from the Forest's facts: sum the undivided leaves in tree order, divide."""
    leaves = model.apply(X.astype(np.float32))  # scikit-learn's own routing: leaf id per (row, tree)
    total = np.zeros((X.shape[0], forest.value.shape[1]))
    for t in range(forest.n_trees):
        total += forest.summed_value[forest.tree_offset[t] + leaves[:, t]]
    return total / forest.divisor


@pytest.mark.parametrize("name", AVERAGED)
def test_averaged_forests_keep_the_values_scikit_learn_sums(name):
    model, X = fitted(name)
    forest = xf.to_forest(model)
    assert forest.divisor == len(model.estimators_)
    if name.endswith("Classifier"):
        # scikit-learn normalises each tree's class counts in its own predict_proba: a few ulps apart
        expected = model.predict_proba(X)
        np.testing.assert_allclose(_summed_prediction(model, forest, X), expected, rtol=4e-16, atol=1e-16)
    else:
        expected = model.predict(X).reshape(-1, 1)
        np.testing.assert_array_equal(_summed_prediction(model, forest, X), expected)
    # the explainers' pre-divided values describe the same model
    np.testing.assert_allclose(forest.predict(X).reshape(expected.shape), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", [n for n in FAMILIES if n.split("-")[0] not in (*AVERAGED, "IsolationForest")])
def test_other_families_are_not_averaged(name):
    forest = xf.to_forest(fitted(name)[0])
    assert forest.summed_value is None and forest.divisor == 1.0


def _class_from_rule(forest, raw):
    raw = raw.reshape(len(raw), -1)
    if raw.shape[1] > 1 or forest.class_rule == "argmax":
        return np.argmax(raw, axis=1) if raw.shape[1] > 1 else (raw[:, 0] > 0.5).astype(int)
    if forest.class_rule == "raw_positive":
        return (raw[:, 0] > 0).astype(int)
    assert forest.class_rule == "raw_non_negative"
    return (raw[:, 0] >= 0).astype(int)


@pytest.mark.parametrize("name", CLASSIFIERS)
@pytest.mark.parametrize("binary", [True, False])
def test_class_rule_reproduces_predict(name, binary):
    factory = FAMILIES[name][0]
    X, _, classes = data()
    if name.startswith("GradientBoosting"):
        X = np.nan_to_num(X)
    target = (classes > 0).astype(int) if binary else classes
    model = factory().fit(X, target)
    forest = xf.to_forest(model)
    assert forest.class_rule is not None
    # rows exactly at the threshold 0 of the raw score are where raw_positive and raw_non_negative part
    raw = forest.predict(X)
    np.testing.assert_array_equal(model.classes_[_class_from_rule(forest, raw)], model.predict(X))


def test_exponential_loss_has_no_class_rule():
    from sklearn.ensemble import GradientBoostingClassifier

    X, _, classes = data(nan=False)
    model = GradientBoostingClassifier(loss="exponential", n_estimators=5, random_state=0).fit(X, classes > 0)
    assert xf.to_forest(model).class_rule is None


@pytest.mark.parametrize("name", REGRESSORS)
def test_regressors_have_no_class_rule(name):
    assert xf.to_forest(fitted(name)[0]).class_rule is None


def test_float32_output_only_where_the_library_sums_in_float32():
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    X, y, _ = data(nan=False)
    booster = xgb.XGBRegressor(n_estimators=5, max_depth=3).fit(X, y)
    assert booster.predict(X, output_margin=True).dtype == np.float32
    assert xf.to_forest(booster).float32_output
    lgbm = lgb.LGBMRegressor(n_estimators=5, verbose=-1).fit(X, y)
    assert lgbm.predict(X, raw_score=True).dtype == np.float64
    assert not xf.to_forest(lgbm).float32_output
    assert not xf.to_forest(fitted("GradientBoostingRegressor")[0]).float32_output


def test_lightgbm_random_forest_mode_sums_then_divides():
    lgb = pytest.importorskip("lightgbm")
    X, y, _ = data(nan=False)
    model = lgb.LGBMRegressor(boosting_type="rf", n_estimators=7, subsample=0.8, subsample_freq=1,
                              colsample_bytree=0.8, verbose=-1).fit(X, y)
    forest = xf.to_forest(model)
    assert forest.divisor == 7
    leaves = model.predict(X, pred_leaf=True)  # LightGBM's own routing
    starts = forest.tree_offset[:-1]
    leaf_nodes = np.flatnonzero(forest.left < 0)
    total = np.zeros(len(X))
    for t in range(forest.n_trees):
        tree_leaves = leaf_nodes[(leaf_nodes >= starts[t]) & (leaf_nodes < forest.tree_offset[t + 1])]
        # LightGBM numbers a tree's leaves in its own order; map them through the leaf values
        values = np.sort(forest.summed_value[tree_leaves, 0])
        own = np.sort(np.array([model.booster_.get_leaf_output(t, k) for k in range(len(tree_leaves))]))
        np.testing.assert_array_equal(values, own)
        total += np.array([model.booster_.get_leaf_output(t, int(k)) for k in leaves[:, t]])
    np.testing.assert_allclose(total / forest.divisor, model.predict(X), rtol=1e-13)


def test_placeholder_names_are_not_kept():
    xgb = pytest.importorskip("xgboost")
    lgb = pytest.importorskip("lightgbm")
    pd = pytest.importorskip("pandas")
    X, y, _ = data(nan=False)
    assert xf.to_forest(lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(X, y)).feature_names is None
    assert xf.to_forest(xgb.XGBRegressor(n_estimators=3).fit(X, y)).feature_names is None
    frame = pd.DataFrame(X, columns=[f"Column_{j}" for j in range(X.shape[1])][::-1])  # real, if odd, names
    names = xf.to_forest(lgb.LGBMRegressor(n_estimators=3, verbose=-1).fit(frame, y)).feature_names
    assert names == list(frame.columns)


def test_facts_survive_save_and_pickle(tmp_path):
    import pickle

    model, X = fitted("RandomForestClassifier")
    forest = xf.to_forest(model)
    forest.float32_output = True  # any value: the file must carry it
    forest.save(tmp_path / "f.npz")
    for back in (xf.Forest.load(tmp_path / "f.npz"), pickle.loads(pickle.dumps(forest))):
        assert (back.class_rule, back.divisor, back.float32_output) == ("argmax", forest.divisor, True)
        np.testing.assert_array_equal(back.summed_value, forest.summed_value)


def test_bad_facts_are_refused():
    good = dict(left=[1, -1, -1], right=[2, -1, -1], feature=[0, -1, -1], threshold=[0.0, 0, 0],
                default_left=[0, 0, 0], value=[0.0, 1.0, 2.0], cover=[2.0, 1, 1], tree_offset=[0, 3],
                tree_output=[0], base_value=[0.0], n_features=1)
    with pytest.raises(ValueError, match="class_rule"):
        xf.Forest(**good, class_rule="vote")
    with pytest.raises(ValueError, match="divisor"):
        xf.Forest(**good, divisor=0)
    with pytest.raises(ValueError, match="summed_value"):
        xf.Forest(**good, summed_value=[1.0, 2.0])
