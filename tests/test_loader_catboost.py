"""CatBoost loader: the Forest must reproduce CatBoost's raw scores (RawFormulaVal)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

# every test in this file loads a CatBoost model: without catboost the whole file skips
catboost = pytest.importorskip("catboost")

import xplain_fast as xf  # noqa: E402
from xplain_fast.models import catboost as cb_loader  # noqa: E402

COMMON = dict(verbose=False, thread_count=1, allow_writing_files=False, random_seed=0)
N, P = 400, 5


def _data(seed: int = 0, nan_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(N, P))
    y = 3.0 * X[:, 0] + np.sin(2 * X[:, 1]) + X[:, 2] * X[:, 3] + 0.1 * rng.normal(size=N)
    if nan_fraction:
        X[rng.random(X.shape) < nan_fraction] = np.nan
    return X, y


def _raw(model, X: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(X, prediction_type="RawFormulaVal"), dtype=np.float64)


def _assert_matches(forest: xf.Forest, model, X: np.ndarray, scale: float = 1.0) -> float:
    """Forest output equals CatBoost's raw output within float32 tolerance; returns the error."""
    expected = _raw(model, X)
    got = forest.predict(X)
    assert got.shape == expected.shape
    err = float(np.max(np.abs(got - expected)))
    assert err <= 1e-5 * max(1.0, scale), f"max abs error {err}"
    return err


def _json_of(model, tmp_path: Path) -> dict:
    path = tmp_path / "exported.json"
    model.save_model(str(path), format="json")
    return json.loads(path.read_text())


# -- model kinds ----------------------------------------------------------------------------------
def test_regression_rmse():
    X, y = _data()
    model = catboost.CatBoostRegressor(iterations=30, depth=4, loss_function="RMSE", **COMMON)
    model.fit(X, y)
    forest = xf.to_forest(model)
    assert forest.source == "catboost"
    assert forest.link == "identity"
    assert forest.n_outputs == 1 and forest.n_features == P
    assert forest.n_trees == model.tree_count_
    assert forest.feature_names is None  # trained on numpy: no names
    X_test, _ = _data(seed=1)
    _assert_matches(forest, model, X, np.abs(y).max())
    _assert_matches(forest, model, X_test, np.abs(y).max())


def test_oblivious_tree_layout_and_cover():
    X, y = _data()
    depth = 3
    w = np.random.default_rng(5).uniform(0.5, 2.0, N)
    model = catboost.CatBoostRegressor(iterations=5, depth=depth, **COMMON)
    model.fit(X, y, sample_weight=w)
    forest = xf.to_forest(model)
    sizes = np.diff(forest.tree_offset)
    assert np.all(sizes == 2 ** (depth + 1) - 1)
    assert forest.depth == depth
    roots = forest.tree_offset[:-1]
    # every training row lands in one leaf of each tree: the root cover is the total sample weight
    np.testing.assert_allclose(forest.cover[roots], w.sum(), rtol=1e-5)
    internal = np.flatnonzero(forest.left >= 0)
    children = forest.cover[forest.left[internal]] + forest.cover[forest.right[internal]]
    np.testing.assert_allclose(forest.cover[internal], children)
    assert forest.gain is None or np.all(forest.gain == 0)


def test_binary_logloss():
    X, y = _data(nan_fraction=0.05)
    labels = (y > 0).astype(int)
    model = catboost.CatBoostClassifier(iterations=30, depth=4, loss_function="Logloss", **COMMON)
    model.fit(X, labels)
    forest = xf.to_forest(model)
    assert forest.link == "logistic"
    assert forest.n_outputs == 1
    _assert_matches(forest, model, X)
    proba = 1.0 / (1.0 + np.exp(-forest.predict(X)))
    np.testing.assert_allclose(proba, model.predict_proba(X)[:, 1], atol=1e-6)


def test_multiclass():
    X, y = _data(nan_fraction=0.05)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    model = catboost.CatBoostClassifier(iterations=20, depth=3, loss_function="MultiClass",
                                        **COMMON)
    model.fit(X, labels)
    forest = xf.to_forest(model)
    assert forest.link == "softmax"
    assert forest.n_outputs == 3 and forest.base_value.shape == (3,)
    _assert_matches(forest, model, X)
    raw = forest.predict(X)
    proba = np.exp(raw - raw.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize(
    ("loss", "link", "n_outputs"),
    [("Poisson", "exp", 1), ("MultiRMSE", "identity", 2), ("Quantile:alpha=0.8", "identity", 1)],
)
def test_other_losses(loss, link, n_outputs):
    X, y = _data()
    if loss == "Poisson":
        target = np.random.default_rng(2).poisson(np.exp(0.3 * X[:, 0]))
    elif loss == "MultiRMSE":
        target = np.column_stack([y, X[:, 1] - X[:, 2]])
    else:
        target = y
    model = catboost.CatBoostRegressor(iterations=15, depth=3, loss_function=loss, **COMMON)
    model.fit(X, target)
    forest = xf.to_forest(model)
    assert forest.link == link
    assert forest.n_outputs == n_outputs
    _assert_matches(forest, model, X, np.abs(target).max())


@pytest.mark.parametrize("grow_policy", ["Depthwise", "Lossguide"])
def test_non_symmetric_trees(grow_policy):
    X, y = _data(nan_fraction=0.1)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    extra = {"max_leaves": 6} if grow_policy == "Lossguide" else {}
    reg = catboost.CatBoostRegressor(iterations=15, depth=4, grow_policy=grow_policy, **extra,
                                     **COMMON).fit(X, y)
    _assert_matches(xf.to_forest(reg), reg, X, np.abs(y).max())
    clf = catboost.CatBoostClassifier(iterations=10, depth=3, grow_policy=grow_policy, **extra,
                                      **COMMON).fit(X, labels)
    forest = xf.to_forest(clf)
    assert forest.n_outputs == 3
    _assert_matches(forest, clf, X)


def test_scale_and_bias():
    X, y = _data()
    model = catboost.CatBoostRegressor(iterations=10, depth=3, **COMMON).fit(X, y)
    model.set_scale_and_bias(0.25, 7.5)
    forest = xf.to_forest(model)
    np.testing.assert_array_equal(forest.base_value, [7.5])
    _assert_matches(forest, model, X, np.abs(y).max() + 7.5)


def test_feature_names_from_pandas():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    columns = [f"col_{c}" for c in "abcde"]
    frame = pd.DataFrame(X, columns=columns)
    model = catboost.CatBoostRegressor(iterations=5, depth=3, **COMMON).fit(frame, y)
    forest = xf.to_forest(model)
    assert forest.feature_names == columns
    _assert_matches(forest, model, X, np.abs(y).max())


# -- missing values and borders -------------------------------------------------------------------
@pytest.mark.parametrize("nan_mode", ["Min", "Max"])
def test_nan_in_training_and_prediction(nan_mode):
    X, y = _data(nan_fraction=0.2)
    y = np.where(np.isnan(X[:, 0]), 4.0 if nan_mode == "Min" else -4.0, y)  # make NaN matter
    model = catboost.CatBoostRegressor(iterations=30, depth=4, nan_mode=nan_mode, **COMMON)
    model.fit(X, y)
    forest = xf.to_forest(model)
    internal = forest.left >= 0
    # Min: NaN is below every border (left); Max: above every border (right)
    assert np.all(forest.default_left[internal] == (1 if nan_mode == "Min" else 0))
    X_test, _ = _data(seed=3, nan_fraction=0.3)
    X_test[:5] = np.nan  # rows entirely missing
    _assert_matches(forest, model, X, np.abs(y).max())
    _assert_matches(forest, model, X_test, np.abs(y).max())


def test_nan_at_prediction_with_nan_mode_forbidden():
    X, y = _data()
    model = catboost.CatBoostRegressor(iterations=20, depth=4, nan_mode="Forbidden", **COMMON)
    model.fit(X, y)
    X_test, _ = _data(seed=4, nan_fraction=0.3)
    _assert_matches(xf.to_forest(model), model, X_test, np.abs(y).max())


@pytest.mark.parametrize("nan_mode", ["Min", "Max"])
def test_values_exactly_on_borders(nan_mode, tmp_path):
    X, y = _data(nan_fraction=0.1)
    model = catboost.CatBoostRegressor(iterations=20, depth=4, nan_mode=nan_mode, **COMMON)
    model.fit(X, y)
    float_features = _json_of(model, tmp_path)["features_info"]["float_features"]
    rng = np.random.default_rng(7)
    rows = []
    for feat in float_features:
        col = feat["flat_feature_index"]
        b32 = np.asarray(feat["borders"], dtype=np.float32)
        b64 = b32.astype(np.float64)
        tiny = np.abs(b64) * 2.0**-30 + 1e-300  # below half a float32 ulp: rounds back to b32
        with np.errstate(over="ignore"):  # nan_mode Min/Max adds borders at -/+ FLT_MAX
            up = np.nextafter(b32, np.full_like(b32, np.inf)).astype(np.float64)
            down = np.nextafter(b32, np.full_like(b32, -np.inf)).astype(np.float64)
        candidates = [
            b64,  # exactly on the border: CatBoost's "x > border" is false
            up,
            down,
            b64 + tiny,  # float64 values that CatBoost's float32 cast puts on the border
            b64 - tiny,
        ]
        for value in np.concatenate(candidates):
            row = X[rng.integers(N)].copy()
            row[col] = value
            rows.append(row)
    assert len(rows) > 20
    X_border = np.array(rows)
    # also rows with every feature on a border at once
    all_on = np.array([
        [feat["borders"][i % len(feat["borders"])] if feat["borders"] else 0.0
         for feat in float_features]
        for i in range(10)
    ])
    # extremes: +-inf, +-FLT_MAX, and float64 values beyond float32's range
    flt_max = float(np.finfo(np.float32).max)
    extremes = np.array([np.inf, -np.inf, flt_max, -flt_max, 1e39, -1e39, np.nan])
    X_extreme = np.tile(X[:len(extremes)], (P, 1))
    for col in range(P):
        X_extreme[col * len(extremes):(col + 1) * len(extremes), col] = extremes
    X_all = np.vstack([X_border, all_on, X_extreme])
    _assert_matches(xf.to_forest(model), model, X_all, np.abs(y).max())


# -- saved models ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["cbm", "json"])
@pytest.mark.parametrize("as_path", [False, True])
def test_saved_model_from_path(fmt, as_path, tmp_path):
    X, y = _data(nan_fraction=0.1)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    model = catboost.CatBoostClassifier(iterations=10, depth=3, nan_mode="Max", **COMMON)
    model.fit(X, labels)
    path = tmp_path / f"model.{fmt}"
    model.save_model(str(path), format=fmt)
    forest = cb_loader.to_forest(path if as_path else str(path))
    assert forest.link == "softmax" and forest.n_outputs == 3
    _assert_matches(forest, model, X)


def test_json_model_without_json_suffix(tmp_path):
    X, y = _data()
    model = catboost.CatBoostRegressor(iterations=5, depth=3, **COMMON).fit(X, y)
    path = tmp_path / "model.bin"
    model.save_model(str(path), format="json")
    _assert_matches(cb_loader.to_forest(path), model, X, np.abs(y).max())


def test_corrupt_or_missing_file(tmp_path):
    X, y = _data()
    model = catboost.CatBoostRegressor(iterations=5, depth=3, **COMMON).fit(X, y)
    good = tmp_path / "good.cbm"
    model.save_model(str(good))
    blob = good.read_bytes()
    cases = {
        "garbage.cbm": b"this is not a catboost model",
        "truncated.cbm": blob[: len(blob) // 2],
        "truncated.json": b'{"features_info": {"float_features": [',
        "other.json": b'{"learner": {"gradient_booster": {}}}',
        "empty.cbm": b"",
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=name):
            cb_loader.to_forest(path)
    with pytest.raises(ValueError, match="missing.cbm"):
        cb_loader.to_forest(tmp_path / "missing.cbm")


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", ["CatBoost", "CatBoostRegressor", "CatBoostClassifier"])
def test_unfitted_model(cls):
    with pytest.raises(ValueError, match="not fitted"):
        xf.to_forest(getattr(catboost, cls)())


def test_categorical_features_rejected():
    pd = pytest.importorskip("pandas")
    X, y = _data()
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(P)])
    frame["colour"] = np.random.default_rng(1).choice(["red", "green", "blue"], N)
    y = y + (frame["colour"] == "red").to_numpy() * 3.0
    model = catboost.CatBoostRegressor(iterations=5, depth=3, cat_features=["colour"], **COMMON)
    model.fit(frame, y)
    with pytest.raises(TypeError, match="categorical"):
        xf.to_forest(model)


def test_non_model_object_from_catboost_rejected():
    X, y = _data()
    with pytest.raises(TypeError):
        xf.to_forest(catboost.Pool(X, y))


# -- threads --------------------------------------------------------------------------------------
def test_predict_identical_across_n_jobs():
    X, y = _data(nan_fraction=0.1)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    model = catboost.CatBoostClassifier(iterations=20, depth=4, **COMMON).fit(X, labels)
    forest = xf.to_forest(model)
    X_big = np.vstack([X] * 10)
    reference = forest.predict(X_big, n_jobs=1)
    for n_jobs in (2, -1):
        assert np.array_equal(forest.predict(X_big, n_jobs=n_jobs), reference)
    _assert_matches(forest, model, X_big)
