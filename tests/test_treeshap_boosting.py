"""TreeSHAP on XGBoost, LightGBM and CatBoost models against each library's own SHAP values."""

from __future__ import annotations

import numpy as np
import pytest

import xplain_fast as xf


def make_data(n: int = 800, nan: bool = True):
    rng = np.random.default_rng(0)
    X = np.round(rng.normal(size=(n, 8)), 2)
    clean = X.copy()
    if nan:
        X[rng.random(X.shape) < 0.1] = np.nan
    y = 2 * clean[:, 0] + clean[:, 1] * clean[:, 2] + rng.normal(size=n) * 0.1
    classes = (clean[:, 0] > 0).astype(int) + (clean[:, 3] > 0.5)
    return X, y, classes


def float32_tolerance(prediction: np.ndarray) -> float:
    """Libraries that sum in float32 round each SHAP value at about 1e-7 of the output's size."""
    return 1e-5 * max(1.0, float(np.nanmax(np.abs(prediction))))


def as_ours(contrib: np.ndarray, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """(phi in our layout (n, M[, K]), bias per row) from a library's (n, [K,] M + 1) output."""
    contrib = np.asarray(contrib)
    if contrib.ndim == 3:  # (n, K, M + 1)
        return contrib[:, :, :n_features].transpose(0, 2, 1), contrib[:, :, -1]
    return contrib[:, :n_features], contrib[:, -1]


def check_against(model, X: np.ndarray, contrib: np.ndarray, atol: float) -> None:
    ex = xf.TreeExplainer(model).fit()
    phi = ex.shap_values(X)
    theirs, bias = as_ours(contrib, X.shape[1])
    assert phi.shape == theirs.shape
    np.testing.assert_allclose(phi, theirs, rtol=0, atol=atol)
    np.testing.assert_allclose(np.broadcast_to(ex.expected_value_, bias.shape), bias, rtol=0, atol=atol)


# -- XGBoost ----------------------------------------------------------------------------------


@pytest.mark.parametrize("objective", ["reg:squarederror", "binary:logistic", "multi:softprob", "count:poisson"])
def test_xgboost_pred_contribs(objective):
    xgboost = pytest.importorskip("xgboost")
    X, y, classes = make_data()
    target = {"reg:squarederror": y, "binary:logistic": classes > 0, "multi:softprob": classes,
              "count:poisson": np.exp(y / 4)}[objective]
    params = dict(n_estimators=40, max_depth=5, nthread=1, objective=objective)
    model = (xgboost.XGBClassifier if objective.startswith(("binary", "multi")) else xgboost.XGBRegressor)(**params)
    model.fit(X, target)
    rows = X[:150]
    contrib = model.get_booster().predict(xgboost.DMatrix(rows), pred_contribs=True)
    check_against(model, rows, contrib, float32_tolerance(model.predict(rows, output_margin=True)))


def test_xgboost_categorical_pred_contribs():
    xgboost = pytest.importorskip("xgboost")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(1)
    n = 600
    frame = pd.DataFrame({
        "color": pd.Categorical(rng.choice(["red", "green", "blue", "grey"], n)),
        "size": rng.normal(size=n),
        "count": rng.integers(0, 20, n).astype(float),
    })
    y = frame["size"] + np.where(frame["color"].isin(["red", "blue"]), 2.0, -1.0) + rng.normal(size=n) * 0.1
    model = xgboost.XGBRegressor(n_estimators=30, max_depth=4, enable_categorical=True, tree_method="hist",
                                 nthread=1).fit(frame, y)
    contrib = model.get_booster().predict(xgboost.DMatrix(frame[:100], enable_categorical=True), pred_contribs=True)
    check_against(model, frame[:100], contrib, float32_tolerance(y))


# -- LightGBM ---------------------------------------------------------------------------------
@pytest.mark.parametrize("objective", ["regression", "binary", "multiclass"])
def test_lightgbm_pred_contrib(objective):
    lightgbm = pytest.importorskip("lightgbm")
    X, y, classes = make_data()
    target = {"regression": y, "binary": classes > 0, "multiclass": classes}[objective]
    model = lightgbm.LGBMRegressor if objective == "regression" else lightgbm.LGBMClassifier
    model = model(n_estimators=40, num_leaves=31, verbose=-1, n_jobs=1).fit(X, target)
    rows = X[:150]
    contrib = model.booster_.predict(rows, pred_contrib=True)
    if objective == "multiclass":  # LightGBM concatenates the K blocks of M + 1 columns
        contrib = contrib.reshape(len(rows), 3, X.shape[1] + 1)
    # LightGBM computes in float64: agreement to round-off
    check_against(model, rows, contrib, 1e-9)


def test_lightgbm_categorical_pred_contrib():
    lightgbm = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(2)
    n = 800
    X = np.column_stack([rng.integers(0, 10, n), rng.normal(size=n), rng.normal(size=n)]).astype(float)
    X[rng.random(n) < 0.1, 0] = np.nan
    y = np.where(np.isin(X[:, 0], [1, 4, 7]), 2.0, 0.0) + X[:, 1]
    model = lightgbm.LGBMRegressor(n_estimators=30, verbose=-1, n_jobs=1, min_data_per_group=5,
                                   cat_smooth=1).fit(X, y, categorical_feature=[0])
    contrib = model.booster_.predict(X[:150], pred_contrib=True)
    check_against(model, X[:150], contrib, 1e-9)


# -- CatBoost ---------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["RMSE", "Logloss", "MultiClass"])
def test_catboost_shap_values(loss):
    catboost = pytest.importorskip("catboost")
    X, y, classes = make_data()
    target = {"RMSE": y, "Logloss": classes > 0, "MultiClass": classes}[loss]
    model = catboost.CatBoost(dict(loss_function=loss, iterations=40, depth=5, verbose=False, thread_count=1,
                                   allow_writing_files=False)).fit(X, target)
    rows = X[:150]
    contrib = model.get_feature_importance(catboost.Pool(rows), type="ShapValues")
    check_against(model, rows, contrib, float32_tolerance(model.predict(rows, prediction_type="RawFormulaVal")))


# -- every library: additivity and thread invariance ---------------------------------------
def boosted_models():
    xgboost = pytest.importorskip("xgboost")
    X, y, classes = make_data()
    yield "xgboost", xgboost.XGBClassifier(n_estimators=20, max_depth=6, nthread=1).fit(X, classes), X
    catboost = pytest.importorskip("catboost")
    yield "catboost", catboost.CatBoostRegressor(iterations=20, depth=6, verbose=False, thread_count=1,
                                                 allow_writing_files=False).fit(X, y), X


def test_additivity_and_n_jobs_invariance():
    for _, model, X in boosted_models():
        ex1 = xf.TreeExplainer(model, n_jobs=1).fit()
        ex2 = xf.TreeExplainer(model, n_jobs=-1).fit()
        phi = ex1.shap_values(X)
        assert np.array_equal(phi, ex2.shap_values(X))
        np.testing.assert_allclose(phi.sum(axis=1) + ex1.expected_value_, ex1.forest_.predict(X), atol=1e-10)
