"""Permutation importance: equality with scikit-learn, feature groups, threads, errors."""

from __future__ import annotations

import functools
import importlib.util

import numpy as np
import pytest
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.exceptions import NotFittedError, UndefinedMetricWarning
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import xplain_fast as xf
from xplain_fast.permutation import _api as perm_api
from xplain_fast.permutation import _native as perm_native

REGRESSION_METRICS = [
    "r2",
    "neg_mean_squared_error",
    "neg_root_mean_squared_error",
    "neg_mean_absolute_error",
]
BINARY_METRICS = ["accuracy", "balanced_accuracy", "neg_log_loss", "roc_auc", "roc_auc_ovr"]
MULTICLASS_METRICS = ["accuracy", "balanced_accuracy", "neg_log_loss", "roc_auc_ovr"]
OPTIONS = [
    {},
    {"sample_weight": True},
    {"max_samples": 0.6},
    {"max_samples": 70, "sample_weight": True},
]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 240
    X = rng.normal(size=(n, 5))
    X[:, 4] = rng.integers(0, 3, n)  # a discrete column: many ties
    signal = X[:, 0] + 0.6 * X[:, 1] ** 2 - 0.4 * X[:, 2] + 0.2 * rng.normal(size=n)
    return {
        "X": X,
        "y_reg": signal,
        "y_bin": (signal > 0.4).astype(int),
        "y_multi": np.digitize(signal, [-0.3, 0.9]),
        "w": rng.uniform(0.2, 2.0, n),
    }


def _models(data):
    X, yr, yb, ym = data["X"], data["y_reg"], data["y_bin"], data["y_multi"]
    return {
        "rf_reg": (
            RandomForestRegressor(n_estimators=12, max_depth=5, random_state=0).fit(X, yr),
            yr,
        ),
        "hgb_reg": (HistGradientBoostingRegressor(max_iter=15, random_state=0).fit(X, yr), yr),
        "rf_bin": (
            RandomForestClassifier(n_estimators=12, max_depth=4, random_state=0).fit(X, yb),
            yb,
        ),
        "rf_multi": (
            RandomForestClassifier(n_estimators=12, max_depth=4, random_state=0).fit(X, ym),
            ym,
        ),
        "hgb_bin": (HistGradientBoostingClassifier(max_iter=15, random_state=0).fit(X, yb), yb),
        "hgb_multi": (HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(X, ym), ym),
        "gb_multi": (
            GradientBoostingClassifier(n_estimators=10, max_depth=2, random_state=0).fit(X, ym),
            ym,
        ),
    }


@pytest.fixture(scope="module")
def models(data):
    return _models(data)


def _metrics(name):
    if name.endswith("_reg"):
        return REGRESSION_METRICS
    return BINARY_METRICS if name.endswith("_bin") else MULTICLASS_METRICS


def _assert_same(ours, theirs, rtol=1e-12, atol=1e-12):
    if "importances" in theirs:
        ours, theirs = {"score": ours}, {"score": theirs}
    assert set(ours) == set(theirs)
    for key in theirs:
        for attr in ("importances", "importances_mean", "importances_std"):
            np.testing.assert_allclose(
                ours[key][attr], theirs[key][attr], rtol=rtol, atol=atol, err_msg=f"{key}.{attr}"
            )


def _kwargs(option, data):
    kw = dict(option)
    if kw.pop("sample_weight", False):
        kw["sample_weight"] = data["w"]
    return kw


@pytest.mark.parametrize(
    "name", ["rf_reg", "hgb_reg", "rf_bin", "rf_multi", "hgb_bin", "hgb_multi", "gb_multi"]
)
def test_equals_sklearn_every_native_metric(models, data, name):
    model, y = models[name]
    X = data["X"]
    metrics = _metrics(name)
    for option in OPTIONS:
        kw = _kwargs(option, data)
        # scikit-learn once for all metrics (it shares predictions); ours one metric at a time
        theirs = sk_permutation_importance(
            model, X, y, scoring=metrics, n_repeats=3, random_state=3, **kw
        )
        for scoring in metrics:
            ours = xf.permutation_importance(
                model, X, y, scoring=scoring, n_repeats=3, random_state=3, **kw
            )
            _assert_same(ours, theirs[scoring])
        ours = xf.permutation_importance(model, X, y, n_repeats=3, random_state=3, **kw)
        default = "r2" if name.endswith("_reg") else "accuracy"
        _assert_same(ours, theirs[default])


@pytest.mark.parametrize("name", ["rf_bin", "hgb_multi", "rf_reg"])
def test_multi_metric_matches_and_shares_predictions(models, data, name):
    model, y = models[name]
    metrics = _metrics(name)
    X, w = data["X"], data["w"]
    ours = xf.permutation_importance(
        model, X, y, scoring=metrics, n_repeats=2, random_state=0, sample_weight=w
    )
    theirs = sk_permutation_importance(
        model, X, y, scoring=metrics, n_repeats=2, random_state=0, sample_weight=w
    )
    _assert_same(ours, theirs)
    as_dict = {f"m{i}": get_scorer(m) for i, m in enumerate(metrics)}
    ours = xf.permutation_importance(model, X, y, scoring=as_dict, n_repeats=2, random_state=0)
    theirs = sk_permutation_importance(model, X, y, scoring=as_dict, n_repeats=2, random_state=0)
    _assert_same(ours, theirs)


def test_native_path_is_used_for_trees(models, data, monkeypatch):
    model, y = models["rf_bin"]

    def fail(*args, **kwargs):
        raise AssertionError("the generic path ran")

    monkeypatch.setattr(perm_api, "generic_scores", fail)
    xf.permutation_importance(
        model, data["X"], y, scoring=BINARY_METRICS, n_repeats=2, random_state=0
    )


def test_pipeline_generic_path(data):
    X, y, w = data["X"], data["y_multi"], data["w"]
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    for kw in ({}, {"sample_weight": w, "max_samples": 100}):
        for scoring in (None, "neg_log_loss", "f1_macro", ["accuracy", "roc_auc_ovr"]):
            ours = xf.permutation_importance(
                pipe, X, y, scoring=scoring, n_repeats=3, random_state=1, **kw
            )
            theirs = sk_permutation_importance(
                pipe, X, y, scoring=scoring, n_repeats=3, random_state=1, **kw
            )
            _assert_same(ours, theirs)


def test_generic_path_batches_predictions(data, monkeypatch):
    X, y = data["X"], data["y_bin"]
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    calls = []
    original = type(pipe).predict_proba

    @functools.wraps(original)
    def counting(self, X_, **kwargs):
        calls.append(len(X_))
        return original(self, X_, **kwargs)

    monkeypatch.setattr(type(pipe), "predict_proba", counting)
    xf.permutation_importance(pipe, X, y, scoring="neg_log_loss", n_repeats=4, random_state=0)
    # one baseline call, then one call per feature covering its four repeats
    assert calls == [len(X)] + [4 * len(X)] * X.shape[1]


def test_non_native_scorer_on_a_tree_model(models, data):
    model, y = models["rf_multi"]
    for scoring in ("f1_macro", "roc_auc_ovo"):
        ours = xf.permutation_importance(
            model, data["X"], y, scoring=scoring, n_repeats=2, random_state=0
        )
        theirs = sk_permutation_importance(
            model, data["X"], y, scoring=scoring, n_repeats=2, random_state=0
        )
        _assert_same(ours, theirs)


def _assert_cases_match_sklearn(X, cases, w, **tolerance):
    """Each (model, y, metrics) case equals scikit-learn's, plain and with weights and subsampling."""
    for model, y, metrics in cases:
        for kw in ({}, {"sample_weight": w, "max_samples": 0.5}):
            ours = xf.permutation_importance(model, X, y, scoring=metrics, n_repeats=2, random_state=0, **kw)
            theirs = sk_permutation_importance(model, X, y, scoring=metrics, n_repeats=2, random_state=0, **kw)
            _assert_same(ours, theirs, **tolerance)


def test_xgboost(data):
    xgboost = pytest.importorskip("xgboost")
    X, yr, yb, w = data["X"], data["y_reg"], data["y_bin"], data["w"]
    cases = [
        (
            xgboost.XGBRegressor(n_estimators=20, max_depth=3, random_state=0).fit(X, yr),
            yr,
            REGRESSION_METRICS,
        ),
        (
            xgboost.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X, yb),
            yb,
            ["neg_log_loss", "roc_auc"],
        ),
    ]
    # float32 predictions in XGBoost: agreement to float32 round-off of the scores
    _assert_cases_match_sklearn(X, cases, w, rtol=1e-6, atol=1e-6)


def test_lightgbm(data):
    lightgbm = pytest.importorskip("lightgbm")
    if importlib.util.find_spec("xplain_fast.models.lightgbm") is None:
        pytest.skip("the LightGBM loader is not in this checkout yet")
    X, yr, ym, w = data["X"], data["y_reg"], data["y_multi"], data["w"]
    params = dict(n_estimators=15, num_leaves=7, min_child_samples=5, random_state=0, verbose=-1)
    cases = [
        (lightgbm.LGBMRegressor(**params).fit(X, yr), yr, REGRESSION_METRICS),
        (lightgbm.LGBMClassifier(**params).fit(X, data["y_bin"]), data["y_bin"], BINARY_METRICS),
        (lightgbm.LGBMClassifier(**params).fit(X, ym), ym, MULTICLASS_METRICS),
    ]
    _assert_cases_match_sklearn(X, cases, w)


def _group_oracle(model, X, y, groups, scorer_name, n_repeats, seed, sample_weight=None):
    """Naive reference: permute each group's columns jointly with sklearn's row permutations."""
    rs = np.random.RandomState(seed)
    random_seed = rs.randint(np.iinfo(np.int32).max + 1)
    scorer = get_scorer(scorer_name)
    kw = {} if sample_weight is None else {"sample_weight": sample_weight}
    baseline = scorer(model, X, y, **kw)
    out = np.empty((len(groups), n_repeats))
    for g, cols in enumerate(groups):
        state = np.random.RandomState(random_seed)
        Xp = X.copy()
        idx = np.arange(X.shape[0])
        for r in range(n_repeats):
            state.shuffle(idx)
            Xp[:, cols] = Xp[idx][:, cols]
            out[g, r] = baseline - scorer(model, Xp, y, **kw)
    return out


def test_feature_groups_match_oracle(models, data):
    groups = [[0, 1], [2, 4], [3], [1, 2, 3]]
    for name, scoring in (("rf_multi", "neg_log_loss"), ("hgb_reg", "r2"), ("rf_bin", "roc_auc")):
        model, y = models[name]
        ours = xf.permutation_importance(
            model,
            data["X"],
            y,
            scoring=scoring,
            n_repeats=3,
            random_state=5,
            feature_groups=groups,
            sample_weight=data["w"],
        )
        expected = _group_oracle(model, data["X"], y, groups, scoring, 3, 5, data["w"])
        np.testing.assert_allclose(ours.importances, expected, rtol=1e-12, atol=1e-12)
    # the generic path too
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(data["X"], data["y_bin"])
    ours = xf.permutation_importance(
        pipe,
        data["X"],
        data["y_bin"],
        scoring="accuracy",
        n_repeats=3,
        random_state=5,
        feature_groups=groups,
    )
    expected = _group_oracle(pipe, data["X"], data["y_bin"], groups, "accuracy", 3, 5)
    np.testing.assert_allclose(ours.importances, expected, rtol=1e-12, atol=1e-12)


def test_single_column_groups_equal_no_groups(models, data):
    model, y = models["rf_reg"]
    a = xf.permutation_importance(model, data["X"], y, n_repeats=2, random_state=0)
    b = xf.permutation_importance(
        model,
        data["X"],
        y,
        n_repeats=2,
        random_state=0,
        feature_groups=[[j] for j in range(data["X"].shape[1])],
    )
    np.testing.assert_array_equal(a.importances, b.importances)


def test_pandas_and_named_groups(models, data):
    pd = pytest.importorskip("pandas")
    X = pd.DataFrame(data["X"], columns=[f"f{j}" for j in range(data["X"].shape[1])])
    y = data["y_reg"]
    model = RandomForestRegressor(n_estimators=8, max_depth=4, random_state=0).fit(X, y)
    ours = xf.permutation_importance(model, X, y, n_repeats=2, random_state=0, max_samples=0.5)
    theirs = sk_permutation_importance(model, X, y, n_repeats=2, random_state=0, max_samples=0.5)
    _assert_same(ours, theirs)
    pi = xf.PermutationImportance(
        model,
        n_repeats=2,
        random_state=0,
        feature_groups={"first": ["f0", "f1"], "rest": [2, "f3", "f4"]},
    ).fit(X, y)
    assert pi.feature_group_names_ == ["first", "rest"]
    assert pi.feature_groups_ == [[0, 1], [2, 3, 4]]
    assert list(pi.feature_names_in_) == list(X.columns)
    assert pi.importances_.shape == (2, 2)
    expected = _group_oracle(model, X.to_numpy(), y, [[0, 1], [2, 3, 4]], "r2", 2, 0)
    np.testing.assert_allclose(pi.importances_, expected, rtol=1e-12, atol=1e-12)


def test_estimator_api(models, data):
    model, y = models["hgb_bin"]
    pi = xf.PermutationImportance(model, n_repeats=3, random_state=0).fit(
        data["X"], y, sample_weight=data["w"]
    )
    ref = sk_permutation_importance(
        model, data["X"], y, n_repeats=3, random_state=0, sample_weight=data["w"]
    )
    np.testing.assert_allclose(pi.importances_, ref.importances, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(pi.feature_importances_, pi.importances_mean_)
    assert pi.n_features_in_ == data["X"].shape[1]
    assert not hasattr(pi, "feature_names_in_")
    multi = xf.PermutationImportance(
        model, scoring=["accuracy", "roc_auc"], n_repeats=2, random_state=0
    ).fit(data["X"], y)
    assert set(multi.importances_) == {"accuracy", "roc_auc"}
    np.testing.assert_array_equal(multi.feature_importances_, multi.importances_mean_["accuracy"])
    assert xf.PermutationImportance(model).get_params()["n_repeats"] == 5


@pytest.mark.parametrize("name", ["rf_multi", "hgb_bin", "rf_reg"])
def test_identical_for_every_n_jobs(models, data, name):
    model, y = models[name]
    results = [
        xf.permutation_importance(
            model,
            data["X"],
            y,
            scoring=_metrics(name),
            n_repeats=4,
            random_state=0,
            n_jobs=n_jobs,
            feature_groups=[[0, 1], [2], [3, 4]],
        )
        for n_jobs in (1, 2, -1)
    ]
    for other in results[1:]:
        for key in results[0]:
            np.testing.assert_array_equal(results[0][key].importances, other[key].importances)


def test_random_state_instance_and_none(models, data):
    model, y = models["rf_reg"]
    a = xf.permutation_importance(
        model, data["X"], y, n_repeats=2, random_state=np.random.RandomState(7)
    )
    b = sk_permutation_importance(
        model, data["X"], y, n_repeats=2, random_state=np.random.RandomState(7)
    )
    _assert_same(a, b)
    r = xf.permutation_importance(model, data["X"], y, n_repeats=2)
    assert r.importances.shape == (data["X"].shape[1], 2)


def test_nan_in_X_follows_the_model(data):
    X = data["X"].copy()
    X[::7, 1] = np.nan
    y = data["y_reg"]
    model = HistGradientBoostingRegressor(max_iter=10, random_state=0).fit(X, y)
    _assert_same(
        xf.permutation_importance(model, X, y, n_repeats=2, random_state=0),
        sk_permutation_importance(model, X, y, n_repeats=2, random_state=0),
    )


def test_errors(models, data):
    model, y = models["rf_reg"]
    X = data["X"]
    with pytest.raises(ValueError, match="features"):
        xf.permutation_importance(model, X[:, :3], y)
    with pytest.raises(ValueError, match="y has"):
        xf.permutation_importance(model, X, y[:-1])
    with pytest.raises(ValueError, match="n_repeats"):
        xf.permutation_importance(model, X, y, n_repeats=0)
    with pytest.raises(ValueError, match="unknown scoring"):
        xf.permutation_importance(model, X, y, scoring="not_a_metric")
    with pytest.raises(NotFittedError):
        xf.permutation_importance(RandomForestRegressor(), X, y)
    y_nan = y.copy()
    y_nan[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        xf.permutation_importance(model, X, y_nan)
    with pytest.raises(ValueError, match="sample_weight"):
        xf.permutation_importance(model, X, y, sample_weight=np.ones(5))
    with pytest.raises(ValueError, match="max_samples"):
        xf.permutation_importance(model, X, y, max_samples=10_000)
    with pytest.raises(ValueError, match="max_samples"):
        xf.permutation_importance(model, X, y, max_samples=1.5)
    with pytest.raises(ValueError, match="outside"):
        xf.permutation_importance(model, X, y, feature_groups=[[0, 9]])
    with pytest.raises(ValueError, match="empty"):
        xf.permutation_importance(model, X, y, feature_groups=[[]])
    with pytest.raises(ValueError, match="twice"):
        xf.permutation_importance(model, X, y, feature_groups=[[1, 1]])
    with pytest.raises(ValueError, match="no column names"):
        xf.permutation_importance(model, X, y, feature_groups=[["a"]])
    with pytest.raises(ValueError, match="n_jobs"):
        xf.permutation_importance(model, X, y, n_jobs=0)


# -- the engine's internal splits: tree chunks, task blocks, repeat units, walk kinds ---------------
def test_large_forest_spans_several_tree_chunks():
    # ~100k nodes: the trees are processed in several cache-sized chunks
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 6))
    y = X[:, 0] + np.sin(3 * X[:, 1]) + 0.5 * rng.normal(size=2000)
    model = RandomForestRegressor(n_estimators=40, random_state=0).fit(X, y)
    assert sum(est.tree_.node_count for est in model.estimators_) > 60_000
    for scoring in ("r2", "neg_mean_absolute_error"):
        _assert_same(
            xf.permutation_importance(model, X, y, scoring=scoring, n_repeats=2, random_state=0),
            sk_permutation_importance(model, X, y, scoring=scoring, n_repeats=2, random_state=0),
        )


def test_task_blocks_and_repeat_units_change_nothing(models, data, monkeypatch):
    model, y = models["rf_multi"]
    kw = dict(scoring=MULTICLASS_METRICS, n_repeats=5, random_state=2)
    whole = xf.permutation_importance(model, data["X"], y, **kw)
    # one group: its repeats are split over units so that threads have work
    for j in range(data["X"].shape[1]):
        single = xf.permutation_importance(model, data["X"], y, feature_groups=[[j]], n_jobs=2, **kw)
        for key in whole:
            np.testing.assert_array_equal(single[key].importances[0], whole[key].importances[j])
    # raw sums for one unit at a time: many blocks, each re-indexing the trees
    monkeypatch.setattr(perm_native, "_NATIVE_TASK_BYTES", 1)
    blocked = xf.permutation_importance(model, data["X"], y, **kw)
    for key in whole:
        np.testing.assert_array_equal(blocked[key].importances, whole[key].importances)


@pytest.mark.parametrize("weighted", [False, True])
def test_many_changed_rows_score_like_scikit_learn(weighted):
    # Thousands of rows change leaf per permutation: the scorings sort the changed rows by radix and
    # merge them into the baseline's ROC order, and the near-tie checks walk the baseline values.
    # The forests' probabilities tie a lot (few distinct leaf averages), the boosted ones hardly.
    rng = np.random.default_rng(4)
    n = 1500
    X = rng.normal(size=(n, 6))
    signal = X[:, 0] + 0.7 * X[:, 1] - 0.5 * X[:, 2] * X[:, 3] + 0.3 * rng.normal(size=n)
    w = rng.uniform(0.2, 2.0, n) if weighted else None
    if weighted:
        w[::97] = 0.0  # rows without weight leave the ROC curve
    cases = [
        (RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0), (signal > 0).astype(int),
         BINARY_METRICS),
        (GradientBoostingClassifier(n_estimators=30, max_depth=3, random_state=0), (signal > 0).astype(int),
         BINARY_METRICS),
        (RandomForestClassifier(n_estimators=15, max_depth=6, random_state=0), np.digitize(signal, [-0.5, 0.6]),
         MULTICLASS_METRICS),
    ]
    for model, y, metrics in cases:
        model.fit(X, y)
        ours = xf.permutation_importance(model, X, y, scoring=metrics, n_repeats=3, random_state=0, sample_weight=w)
        theirs = sk_permutation_importance(model, X, y, scoring=metrics, n_repeats=3, random_state=0, sample_weight=w)
        _assert_same(ours, theirs)


def test_categorical_splits_take_the_general_walk(data):
    X = data["X"].copy()
    X[:, 3] = np.random.default_rng(3).integers(0, 6, len(X))
    y = data["y_reg"] + 0.5 * (X[:, 3] % 2)
    model = HistGradientBoostingRegressor(
        max_iter=15, categorical_features=[3], random_state=0
    ).fit(X, y)
    groups = [[0], [3], [1, 3]]
    ours = xf.permutation_importance(model, X, y, n_repeats=3, random_state=0, feature_groups=groups)
    expected = _group_oracle(model, X, y, groups, "r2", 3, 0)
    np.testing.assert_allclose(ours.importances, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("zero_as_missing", [False, True])
def test_lightgbm_missing_value_rules(data, zero_as_missing):
    lightgbm = pytest.importorskip("lightgbm")
    if importlib.util.find_spec("xplain_fast.models.lightgbm") is None:
        pytest.skip("the LightGBM loader is not in this checkout yet")
    X, y = data["X"].copy(), data["y_reg"]
    X_train = X.copy()
    if zero_as_missing:
        X_train[::5, 2] = 0.0
    # trained without NaN: LightGBM compares NaN as 0 (missing_type None) unless zero_as_missing
    model = lightgbm.LGBMRegressor(
        n_estimators=15, num_leaves=7, min_child_samples=5, random_state=0, verbose=-1,
        zero_as_missing=zero_as_missing,
    ).fit(X_train, y)
    X[::6, 0] = np.nan
    X[::4, 2] = 0.0
    groups = [[0], [2], [0, 2]]
    ours = xf.permutation_importance(model, X, y, n_repeats=3, random_state=0, feature_groups=groups)
    expected = _group_oracle(model, X, y, groups, "r2", 3, 0)
    np.testing.assert_allclose(ours.importances, expected, rtol=1e-12, atol=1e-12)


def test_r2_of_one_sample_is_nan_with_sklearns_warning(models, data):
    model, y = models["rf_reg"]
    with pytest.warns(UndefinedMetricWarning, match="less than two samples"):
        ours = xf.permutation_importance(model, data["X"], y, n_repeats=2, random_state=0, max_samples=1)
    assert np.isnan(ours.importances).all()


@pytest.mark.parametrize(
    "name", ["rf_reg", "hgb_reg", "rf_bin", "rf_multi", "hgb_bin", "hgb_multi", "gb_multi"]
)
def test_a_forest_itself_with_explicit_scoring_equals_sklearn(models, data, name):
    """A Forest has no score or classes_: the scoring is given, the classes come from y, and the
    numbers are scikit-learn's on the estimator it was loaded from."""
    model, y = models[name]
    forest = xf.to_forest(model)
    metrics = _metrics(name)
    ours = xf.permutation_importance(forest, data["X"], y, scoring=metrics, n_repeats=3, random_state=4,
                                     sample_weight=data["w"])
    theirs = sk_permutation_importance(model, data["X"], y, scoring=metrics, n_repeats=3, random_state=4,
                                       sample_weight=data["w"])
    _assert_same(ours, theirs)
    single = xf.permutation_importance(forest, data["X"], y, scoring=metrics[0], n_repeats=3, random_state=4,
                                       sample_weight=data["w"])
    np.testing.assert_array_equal(single.importances, ours[metrics[0]].importances)


def test_a_forest_itself_rejects_what_it_cannot_score(models, data):
    X, yr, yb = data["X"], data["y_reg"], data["y_bin"]
    reg, binary, multi = (xf.to_forest(models[k][0]) for k in ("rf_reg", "rf_bin", "rf_multi"))
    cases = [
        (reg, yr, {}, ValueError, "no default score"),
        (reg, yr, {"scoring": "f1"}, ValueError, "not computed natively"),
        (reg, yr, {"scoring": ["r2", "accuracy"]}, ValueError, "mixes regression and classification"),
        (reg, yr, {"scoring": ["r2", "r2"]}, ValueError, "twice"),
        (reg, yr, {"scoring": 3}, TypeError, "scorer name"),
        (reg, None, {"scoring": "r2"}, ValueError, "needs y"),
        (binary, yr, {"scoring": "r2"}, ValueError, "one output"),
        (reg, yb, {"scoring": "accuracy"}, ValueError, "class_rule"),
        (multi, data["y_multi"], {"scoring": "roc_auc"}, ValueError, "two classes"),
        (multi, yb, {"scoring": "accuracy"}, ValueError, "every class of the model"),
    ]
    for forest, y, kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            xf.permutation_importance(forest, X, y, n_repeats=2, random_state=0, **kwargs)
    with pytest.raises(ValueError, match="features"):
        xf.permutation_importance(reg, X[:, :3], yr, scoring="r2")
