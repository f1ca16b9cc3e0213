"""forest_importance against each library's own importances, computed from the same trees."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

import xplain_fast as xf

N, P = 1500, 8


def _data(seed: int = 0, nan_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, a regression target and a 3-class target; feature 7 is pure noise, 6 is unused by design."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, P))
    y = 2.0 * X[:, 0] + X[:, 1] * X[:, 2] + np.sin(X[:, 3]) + 0.3 * rng.normal(size=N)
    classes = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    if nan_fraction:
        X[rng.random(X.shape) < nan_fraction] = np.nan
    X[:, 6] = 1.0  # constant and never missing: no tree can split on it
    return X, y, classes


SKLEARN_MODELS = [
    DecisionTreeRegressor(max_depth=6, random_state=0),
    DecisionTreeClassifier(max_depth=5, random_state=0),
    RandomForestRegressor(n_estimators=25, max_depth=7, random_state=0),
    RandomForestClassifier(n_estimators=25, min_samples_leaf=3, random_state=0),
    ExtraTreesRegressor(n_estimators=20, random_state=0),
    ExtraTreesClassifier(n_estimators=20, max_depth=4, random_state=0),
    GradientBoostingRegressor(n_estimators=40, subsample=0.7, random_state=0),
    GradientBoostingClassifier(n_estimators=15, max_depth=2, random_state=0),
]


@pytest.mark.parametrize("model", SKLEARN_MODELS, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("weighted", [False, True])
def test_mdi_equals_sklearn_feature_importances(model, weighted):
    X, y, classes = _data()
    target = classes if "Classifier" in type(model).__name__ else y
    weights = np.random.default_rng(1).uniform(0.2, 3.0, size=N) if weighted else None
    model.fit(X, target, sample_weight=weights)
    ours = xf.forest_importance(model, "mdi")
    np.testing.assert_allclose(ours, model.feature_importances_, rtol=0, atol=1e-12)
    assert ours[6] == 0.0
    assert ours.sum() == pytest.approx(1.0, abs=1e-12)


def test_mdi_of_a_forest_with_single_leaf_trees():
    """scikit-learn averages over the trees that split: a one-leaf tree is left out, not counted as 0."""
    X, y, _ = _data()
    rf = RandomForestRegressor(n_estimators=12, max_depth=3, max_samples=0.02, min_impurity_decrease=2.0,
                               random_state=0).fit(X, y)
    assert any(est.tree_.node_count == 1 for est in rf.estimators_)
    np.testing.assert_allclose(xf.forest_importance(rf, "mdi"), rf.feature_importances_, rtol=0, atol=1e-12)


def _xgb_scores(booster, kind: str) -> np.ndarray:
    scores = booster.get_score(importance_type=kind)
    return np.array([scores.get(f"f{j}", 0.0) for j in range(P)])


@pytest.mark.parametrize("objective", ["reg:squarederror", "multi:softprob", "binary:logistic"])
def test_xgboost_kinds_equal_get_score(objective):
    xgb = pytest.importorskip("xgboost")
    X, y, classes = _data(nan_fraction=0.05)
    target = {"reg:squarederror": y, "multi:softprob": classes, "binary:logistic": classes > 0}[objective]
    extra = {"num_class": 3} if objective == "multi:softprob" else {}
    model = xgb.XGBModel(objective=objective, n_estimators=30, max_depth=4, colsample_bynode=0.7,
                         random_state=0, n_jobs=1, **extra).fit(X, target)
    booster = model.get_booster()
    for ours_kind, xgb_kind in [("split_count", "weight"), ("total_gain", "total_gain"), ("gain", "gain"),
                                ("total_cover", "total_cover"), ("cover", "cover")]:
        expected = _xgb_scores(booster, xgb_kind)
        ours = xf.forest_importance(model, ours_kind)
        # XGBoost accumulates its float32 gains and covers in float32; we add the same values in float64
        np.testing.assert_allclose(ours, expected, rtol=2e-6, atol=0, err_msg=ours_kind)
        assert ours[6] == 0.0
    np.testing.assert_array_equal(xf.forest_importance(model, "split_count"), _xgb_scores(booster, "weight"))


@pytest.mark.parametrize("objective", ["regression", "multiclass", "rf"])
def test_lightgbm_kinds_equal_feature_importance(objective):
    lgb = pytest.importorskip("lightgbm")
    X, y, classes = _data(nan_fraction=0.05)
    params = dict(n_estimators=30, num_leaves=15, random_state=0, n_jobs=1, verbose=-1)
    if objective == "multiclass":
        model = lgb.LGBMClassifier(**params).fit(X, classes)
    elif objective == "rf":
        model = lgb.LGBMRegressor(boosting_type="rf", subsample=0.6, subsample_freq=1, **params).fit(X, y)
    else:
        model = lgb.LGBMRegressor(**params).fit(X, y)
    booster = model.booster_
    np.testing.assert_array_equal(xf.forest_importance(model, "split_count"), booster.feature_importance("split"))
    # LightGBM adds its float32 split gains in float64, as we do (the order of the sum may differ)
    np.testing.assert_allclose(xf.forest_importance(model, "total_gain"), booster.feature_importance("gain"),
                               rtol=1e-12, atol=0)


@pytest.mark.parametrize("grow_policy", ["SymmetricTree", "Depthwise", "Lossguide"])
@pytest.mark.parametrize("task", ["regression", "multiclass"])
def test_prediction_change_equals_catboost_prediction_values_change(grow_policy, task):
    catboost = pytest.importorskip("catboost")
    X, y, classes = _data(nan_fraction=0.05)
    params = dict(iterations=40, verbose=False, thread_count=1, allow_writing_files=False, random_seed=0,
                  grow_policy=grow_policy)
    params.update({"max_leaves": 12} if grow_policy == "Lossguide" else {"depth": 4})
    if task == "multiclass":
        model = catboost.CatBoostClassifier(loss_function="MultiClass", **params).fit(X, classes)
    else:
        model = catboost.CatBoostRegressor(**params).fit(X, y)
    expected = model.get_feature_importance(type="PredictionValuesChange")  # percentages
    ours = xf.forest_importance(model, "prediction_change", normalize=True) * 100.0
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-10)
    assert ours[6] == 0.0


def test_prediction_change_of_a_symmetric_tree_compares_leaf_pairs():
    """Hand-computed: a depth-2 oblivious tree (level 0 on x0, level 1 on x1), unit leaf weights.

    Leaves by (x0 side, x1 side): (L, L)=0, (L, R)=2, (R, L)=4, (R, R)=10. Flipping x0 pairs 0-4 and
    2-10: (0-2)^2 + (4-2)^2 + (2-6)^2 + (10-6)^2 = 40. Flipping x1 pairs 0-2 and 4-10:
    1 + 1 + 9 + 9 = 20. (The root's two subtrees, of means 1 and 7, would give 36 for x0.)
    """
    forest = xf.Forest(
        left=[1, 3, 5, -1, -1, -1, -1], right=[2, 4, 6, -1, -1, -1, -1], feature=[0, 1, 1, -1, -1, -1, -1],
        threshold=[0.0, 0.5, 0.5, 0, 0, 0, 0], default_left=np.zeros(7), value=[4, 1, 7, 0, 2, 4, 10],
        cover=[4, 2, 2, 1, 1, 1, 1], tree_offset=[0, 7], tree_output=[0], base_value=[0.0], n_features=2,
    )
    np.testing.assert_allclose(xf.forest_importance(forest, "prediction_change"), [40.0, 20.0])
    # a different question on one node of level 1: no longer symmetric, so split against split
    asymmetric = xf.Forest(**{**_fields(forest), "threshold": [0.0, 0.5, 0.7, 0, 0, 0, 0]})
    # root: sides of mean 1 and 7, two rows each: 2 * 9 + 2 * 9 = 36; level 1: 1 + 1 and 9 + 9
    np.testing.assert_allclose(xf.forest_importance(asymmetric, "prediction_change"), [36.0, 20.0])


def _fields(forest: xf.Forest) -> dict:
    names = ("left", "right", "feature", "threshold", "default_left", "value", "cover", "tree_offset",
             "tree_output", "base_value", "n_features")
    return {name: getattr(forest, name) for name in names}


def test_kinds_on_a_hand_built_forest():
    """Two trees, gains given: counts, sums and averages per feature, by hand."""
    forest = xf.Forest(
        left=[1, -1, 3, -1, -1, 1 + 5, -1, -1], right=[2, -1, 4, -1, -1, 2 + 5, -1, -1],
        feature=[0, -1, 2, -1, -1, 0, -1, -1], threshold=np.zeros(8), default_left=np.zeros(8),
        value=np.arange(8.0), cover=[10, 4, 6, 3, 3, 8, 5, 3], tree_offset=[0, 5, 8], tree_output=[0, 0],
        base_value=[0.0], n_features=4, gain=[5.0, 0, 1.0, 0, 0, 3.0, 0, 0],
    )
    np.testing.assert_array_equal(xf.forest_importance(forest, "split_count"), [2, 0, 1, 0])
    np.testing.assert_array_equal(xf.forest_importance(forest, "total_gain"), [8, 0, 1, 0])
    np.testing.assert_array_equal(xf.forest_importance(forest, "gain"), [4, 0, 1, 0])
    np.testing.assert_array_equal(xf.forest_importance(forest, "total_cover"), [18, 0, 6, 0])
    np.testing.assert_array_equal(xf.forest_importance(forest, "cover"), [9, 0, 6, 0])
    np.testing.assert_allclose(xf.forest_importance(forest, "total_gain", normalize=True), [8 / 9, 0, 1 / 9, 0])
    # additive trees: gains over root covers add up (5/10 + 3/8, 1/10), then normalised
    mdi = np.array([5 / 10 + 3 / 8, 0, 1 / 10, 0])
    np.testing.assert_allclose(xf.forest_importance(forest, "mdi"), mdi / mdi.sum(), rtol=1e-15)


def test_missing_gains_and_unknown_kinds_are_clear_errors():
    forest = xf.Forest(left=[1, -1, -1], right=[2, -1, -1], feature=[0, -1, -1], threshold=np.zeros(3),
                       default_left=np.zeros(3), value=[0.0, -1, 1], cover=[2, 1, 1], tree_offset=[0, 3],
                       tree_output=[0], base_value=[0.0], n_features=1)
    for kind in ("total_gain", "gain", "mdi"):
        with pytest.raises(ValueError, match="needs per-node split gains.*split_count"):
            xf.forest_importance(forest, kind)
    with pytest.raises(ValueError, match="kind must be one of"):
        xf.forest_importance(forest, "permutation")
    with pytest.raises(TypeError):
        xf.forest_importance(object())
    np.testing.assert_array_equal(xf.forest_importance(forest, "split_count", normalize=True), [1.0])


def test_model_files_and_forests_give_the_same_importances(tmp_path):
    xgb = pytest.importorskip("xgboost")
    X, y, _ = _data()
    model = xgb.XGBRegressor(n_estimators=10, max_depth=3, random_state=0).fit(X, y)
    path = tmp_path / "model.json"
    model.save_model(path)
    forest = xf.to_forest(model)
    npz = tmp_path / "forest.npz"
    forest.save(npz)
    expected = xf.forest_importance(model, "gain")
    for source in (path, forest, xf.Forest.load(npz)):
        np.testing.assert_array_equal(xf.forest_importance(source, "gain"), expected)
