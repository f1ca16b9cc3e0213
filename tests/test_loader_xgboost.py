"""XGBoost -> Forest: the Forest must reproduce predict(output_margin=True) of XGBoost itself."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

import xplain_fast as xf
from xplain_fast.models import xgboost as xgb_loader

# every test in this file loads an XGBoost model: without xgboost the whole file skips
xgb = pytest.importorskip("xgboost")


# -- helpers ---------------------------------------------------------------------------------
# One XGBoost thread everywhere: the models are tiny, and OpenMP threads waiting on a busy machine
# would cost more than the work.
FAST = {"n_jobs": 1, "random_state": 0}  # for the scikit-learn wrappers


def train(params, dtrain, rounds, **kwargs):
    return xgb.train({**params, "nthread": 1}, dtrain, rounds, **kwargs)


def make_data(n=300, p=4, seed=0, nan_frac=0.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p))
    y = X[:, 0] + np.sin(2 * X[:, 1]) + 0.5 * X[:, 2] * (X[:, 3] > 0) + 0.1 * rng.normal(size=n)
    if nan_frac:
        X[rng.random(X.shape) < nan_frac] = np.nan
    return X, y


def assert_matches(ours, theirs, y):
    """Equal to XGBoost's float32 margins within 1e-5 * max(1, max|y|)."""
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    assert ours.shape == theirs.shape
    tol = 1e-5 * max(1.0, float(np.nanmax(np.abs(np.asarray(y, dtype=np.float64)))))
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=tol)


def booster_margin(booster, X, **dmatrix_kwargs):
    return booster.predict(xgb.DMatrix(X, **dmatrix_kwargs), output_margin=True)


def model_json(booster):
    return json.loads(booster.save_raw("json"))


def json_trees(booster):
    booster_json = model_json(booster)["learner"]["gradient_booster"]
    model = booster_json["model"] if "model" in booster_json else booster_json["gbtree"]["model"]
    return model["trees"]


def with_changes(forest, **changes):
    """The same arrays with other settings (to show a test would notice a wrong rule)."""
    kwargs = {f.name: getattr(forest, f.name) for f in dataclasses.fields(forest) if f.init}
    kwargs.update(changes)
    return xf.Forest(**kwargs)


# -- objectives --------------------------------------------------------------------------------
def test_regression_booster_with_nans_in_training_and_prediction():
    X, y = make_data(nan_frac=0.15)
    booster = train({"max_depth": 4, "eta": 0.3, "seed": 0}, xgb.DMatrix(X, y), 10)
    Xt, _ = make_data(n=200, seed=1, nan_frac=0.3)
    Xt[0] = np.nan  # a row with every feature missing
    forest = xf.to_forest(booster)
    internal = forest.left >= 0
    # NaN routing matters here: both default directions occur
    assert set(np.unique(forest.default_left[internal])) == {0, 1}
    assert (forest.decision, forest.float32_input, forest.link) == ("<", True, "identity")
    assert forest.source == "xgboost"
    assert forest.n_features == 4 and forest.n_trees == 10
    assert_matches(forest.predict(Xt), booster_margin(booster, Xt), y)
    assert_matches(forest.predict(X), booster_margin(booster, X), y)


def test_binary_classifier_with_nans():
    X, y = make_data(nan_frac=0.1, seed=2)
    labels = (y > 0).astype(int)
    model = xgb.XGBClassifier(**FAST, n_estimators=8, max_depth=3).fit(X, labels)
    forest = xf.to_forest(model)
    assert forest.link == "logistic" and forest.n_outputs == 1
    margin = forest.predict(X)
    assert margin.shape == (len(X),)
    assert_matches(margin, model.predict(X, output_margin=True), labels)
    np.testing.assert_allclose(1 / (1 + np.exp(-margin)), model.predict_proba(X)[:, 1], atol=1e-5)


def test_multiclass_softprob_classifier():
    X, y = make_data(seed=3)
    labels = np.digitize(y, [-0.5, 0.5])  # 3 classes
    model = xgb.XGBClassifier(**FAST, n_estimators=5, max_depth=3, objective="multi:softprob")
    model.fit(X, labels)
    forest = xf.to_forest(model)
    assert forest.link == "softmax"
    assert forest.n_outputs == 3 and forest.base_value.shape == (3,)
    assert forest.n_trees == 5 * 3
    margin = forest.predict(X)
    assert margin.shape == (len(X), 3)
    assert_matches(margin, model.predict(X, output_margin=True), labels)
    proba = np.exp(margin - margin.max(axis=1, keepdims=True))
    proba /= proba.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(proba, model.predict_proba(X), atol=1e-5)


def test_multiclass_softmax_booster():
    X, y = make_data(seed=4, nan_frac=0.05)
    labels = np.digitize(np.nan_to_num(y), [-1.0, 0.0, 1.0])  # 4 classes
    booster = train({"objective": "multi:softmax", "num_class": 4, "max_depth": 2, "seed": 0},
                        xgb.DMatrix(X, labels), 4)
    forest = xf.to_forest(booster)
    assert forest.predict(X).shape == (len(X), 4)
    assert_matches(forest.predict(X), booster_margin(booster, X), labels)


def test_count_poisson_regressor():
    X, _ = make_data(seed=5)
    counts = np.random.default_rng(5).poisson(np.exp(0.5 * X[:, 0])).astype(float)
    model = xgb.XGBRegressor(**FAST, objective="count:poisson", n_estimators=10, max_depth=3)
    model.fit(X, counts)
    forest = xf.to_forest(model)
    assert forest.link == "exp"
    margin = forest.predict(X)
    assert_matches(margin, model.predict(X, output_margin=True), counts)
    np.testing.assert_allclose(np.exp(margin), model.predict(X), rtol=1e-5)


def _objective_case(objective):
    """(params, DMatrix kwargs) for one objective on make_data(seed=6)."""
    X, y = make_data(seed=6)
    positive = np.abs(y) + 0.1
    binary = (y > 0).astype(float)
    params = {"objective": objective, "max_depth": 3, "seed": 0}
    if objective in ("reg:gamma", "reg:tweedie", "reg:squaredlogerror"):
        kwargs = {"label": positive}
    elif objective in ("binary:logitraw", "binary:hinge", "reg:logistic"):
        kwargs = {"label": binary}
    elif objective == "survival:cox":
        kwargs = {"label": np.where(binary > 0, positive, -positive)}  # negative: censored
    elif objective == "survival:aft":
        upper = np.where(binary > 0, positive, np.inf)
        kwargs = {"label_lower_bound": positive, "label_upper_bound": upper}
    elif objective == "reg:quantileerror":
        params["quantile_alpha"] = [0.2, 0.5, 0.8]
        kwargs = {"label": y}
    elif objective.startswith("rank:"):
        kwargs = {"label": np.digitize(y, [-1.0, 0.0, 1.0]).astype(float),
                  "qid": np.repeat(np.arange(30), 10)}
    else:
        kwargs = {"label": y}
    return X, params, kwargs


@pytest.mark.parametrize("objective, link", [
    ("reg:absoluteerror", "identity"),
    ("reg:pseudohubererror", "identity"),
    ("reg:squaredlogerror", "identity"),
    ("reg:quantileerror", "identity"),
    ("reg:gamma", "exp"),
    ("reg:tweedie", "exp"),
    ("reg:logistic", "logistic"),
    ("binary:logitraw", "identity"),
    ("binary:hinge", "identity"),
    ("survival:cox", "exp"),
    ("survival:aft", "exp"),
    ("rank:ndcg", "identity"),
    ("rank:pairwise", "identity"),
])
def test_other_objectives(objective, link):
    X, params, kwargs = _objective_case(objective)
    booster = train(params, xgb.DMatrix(X, **kwargs), 5)
    forest = xf.to_forest(booster)
    assert forest.link == link
    y = kwargs.get("label", kwargs.get("label_lower_bound"))
    assert_matches(forest.predict(X), booster_margin(booster, X), y)
    if objective == "reg:quantileerror":
        assert forest.predict(X).shape == (len(X), 3)


# -- ensembles -----------------------------------------------------------------------------------
def test_random_forest_regressor_num_parallel_tree():
    X, y = make_data(seed=7, nan_frac=0.05)
    model = xgb.XGBRFRegressor(**FAST, n_estimators=6, max_depth=4).fit(X, y)
    forest = xf.to_forest(model)
    assert forest.n_trees == 6
    assert_matches(forest.predict(X), model.predict(X, output_margin=True), y)


def test_boosted_random_forest_multiclass_maps_trees_to_classes():
    X, y = make_data(seed=8)
    labels = np.digitize(y, [-0.5, 0.5])
    params = {"objective": "multi:softprob", "num_class": 3, "num_parallel_tree": 3,
              "subsample": 0.6, "colsample_bynode": 0.7, "max_depth": 3, "seed": 0}
    booster = train(params, xgb.DMatrix(X, labels), 3)
    forest = xf.to_forest(booster)
    assert forest.n_trees == 3 * 3 * 3
    assert_matches(forest.predict(X), booster_margin(booster, X), labels)


def test_dart_weights_are_applied():
    X, y = make_data(seed=9, nan_frac=0.05)
    params = {"booster": "dart", "rate_drop": 0.5, "skip_drop": 0.0, "max_depth": 3, "seed": 0}
    booster = train(params, xgb.DMatrix(X, y), 8)
    weights = model_json(booster)["learner"]["gradient_booster"]["weight_drop"]
    assert not np.allclose(weights, 1.0)  # otherwise this test could not tell
    assert_matches(xf.to_forest(booster).predict(X), booster_margin(booster, X), y)


def test_dart_classifier():
    X, y = make_data(seed=10)
    labels = (y > 0).astype(int)
    model = xgb.XGBClassifier(**FAST, booster="dart", rate_drop=0.3, skip_drop=0.0, n_estimators=6,
                              max_depth=3).fit(X, labels)
    assert_matches(xf.to_forest(model).predict(X), model.predict(X, output_margin=True), labels)


def test_multi_output_tree():
    X, y = make_data(seed=11)
    Y = np.column_stack([y, X[:, 1] - X[:, 2]])
    # loss-guided growth numbers the leaves in another order than the level order of the nodes
    model = xgb.XGBRegressor(**FAST, multi_strategy="multi_output_tree", tree_method="hist",
                             grow_policy="lossguide", max_leaves=7, max_depth=0,
                             n_estimators=5).fit(X, Y)
    forest = xf.to_forest(model)
    assert forest.n_outputs == 2 and forest.value.shape[1] == 2
    assert_matches(forest.predict(X), model.predict(X, output_margin=True), Y)


def test_sklearn_wrapper_uses_best_iteration_like_predict():
    X, y = make_data(n=400, seed=12)
    model = xgb.XGBRegressor(**FAST, n_estimators=300, max_depth=3, learning_rate=0.5,
                             early_stopping_rounds=3)
    model.fit(X[:300], y[:300], eval_set=[(X[300:], y[300:])], verbose=False)
    booster = model.get_booster()
    assert model.best_iteration + 1 < booster.num_boosted_rounds()  # early stopping kicked in
    forest = xf.to_forest(model)
    assert forest.n_trees == model.best_iteration + 1
    assert_matches(forest.predict(X), model.predict(X, output_margin=True), y)
    # a Booster predicts with all its trees, and so does its Forest
    full = xf.to_forest(booster)
    assert full.n_trees == booster.num_boosted_rounds()
    assert_matches(full.predict(X), booster_margin(booster, X), y)


def test_pruned_booster_with_deleted_nodes():
    X, y = make_data(seed=13)
    data = xgb.DMatrix(X, y)
    booster = train({"max_depth": 5, "seed": 0}, data, 3)
    pruned = train({"process_type": "update", "updater": "prune", "gamma": 5.0,
                        "max_depth": 5}, data, 3, xgb_model=booster)
    assert any(int(t["tree_param"]["num_deleted"]) > 0 for t in json_trees(pruned))
    assert_matches(xf.to_forest(pruned).predict(X), booster_margin(pruned, X), y)


# -- splits ------------------------------------------------------------------------------------
def test_values_exactly_at_thresholds():
    rng = np.random.default_rng(14)
    X = rng.integers(0, 6, size=(300, 3)).astype(float) + rng.normal(scale=0.01, size=(300, 3))
    y = X[:, 0] - X[:, 1] + (X[:, 2] > 2)
    booster = train({"max_depth": 4, "seed": 0}, xgb.DMatrix(X, y), 8)
    thresholds = {f: set() for f in range(3)}
    for tree in json_trees(booster):
        for left, f, cond in zip(tree["left_children"], tree["split_indices"],
                                 tree["split_conditions"], strict=True):
            if left >= 0:
                thresholds[f].add(float(np.float32(cond)))
    thr = {f: np.array(sorted(v)) for f, v in thresholds.items()}
    rows = []
    for f in range(3):  # each threshold in turn, the other features from the training rows
        for i, t in enumerate(thr[f]):
            row = X[i % len(X)].copy()
            row[f] = t
            rows.append(row)
    for _ in range(300):  # every feature exactly at one of its thresholds
        rows.append([rng.choice(thr[f]) for f in range(3)])
    exact = np.array(rows).astype(np.float32).astype(np.float64)
    # float64 values just below a threshold that round to it in float32
    below = exact - np.abs(exact) * 2.0**-26
    assert np.array_equal(below.astype(np.float32), exact.astype(np.float32))
    assert np.all((below < exact) | (exact == 0))
    forest = xf.to_forest(booster)
    for Z in (exact, below):
        assert_matches(forest.predict(Z), booster_margin(booster, Z), y)
    # the rows are sensitive to the split rule and to the float32 rounding
    tol = 1e-5 * max(1.0, np.abs(y).max())
    ours = forest.predict(exact)
    assert np.abs(with_changes(forest, decision="<=").predict(exact) - ours).max() > tol
    ours = forest.predict(below)
    assert np.abs(with_changes(forest, float32_input=False).predict(below) - ours).max() > tol


def _categorical_frame(n, seed, categories=tuple("abcdefg")):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, len(categories), n)
    x = rng.normal(size=n)
    frame = pd.DataFrame({
        "color": pd.Categorical.from_codes(codes, categories=list(categories)),
        "x": x,
        "z": rng.normal(size=n),
    })
    frame.loc[rng.random(n) < 0.1, "color"] = np.nan
    effect = np.array([0.0, 3.0, -2.0, 1.0, 5.0, -1.0, 2.0])
    y = effect[codes] + x
    return frame, y


@pytest.mark.parametrize("max_cat_to_onehot", [1, 64], ids=["partition", "onehot"])
def test_categorical_pandas(max_cat_to_onehot):
    frame, y = _categorical_frame(400, seed=15)
    model = xgb.XGBRegressor(**FAST, enable_categorical=True, tree_method="hist", n_estimators=6,
                             max_depth=3, max_cat_to_onehot=max_cat_to_onehot).fit(frame, y)
    forest = xf.to_forest(model)
    assert forest.feature_names == ["color", "x", "z"]
    assert forest.cat_offset is not None and np.any(forest.cat_offset >= 0)
    test_frame, _ = _categorical_frame(300, seed=16)
    assert_matches(forest.predict(test_frame), model.predict(test_frame, output_margin=True), y)


def test_categorical_codes_with_feature_types():
    rng = np.random.default_rng(17)
    n = 500
    codes = rng.integers(0, 8, n).astype(float)
    X = np.column_stack([codes, rng.normal(size=n)])
    X[rng.random(n) < 0.1, 0] = np.nan
    y = np.array([0, 3, -2, 1, 5, -1, 2, 0.5])[np.nan_to_num(codes).astype(int)] + X[:, 1]
    types = ["c", "q"]
    booster = train({"max_depth": 3, "max_cat_to_onehot": 1, "tree_method": "hist",
                         "seed": 0}, xgb.DMatrix(X, y, feature_types=types,
                                                 enable_categorical=True), 6)
    sets = [len(t["categories"]) for t in json_trees(booster)]
    assert sum(sets) > 0
    # seen codes, unseen codes, negative codes, fractional codes and NaN
    probe = np.array([-3.0, -1.0, 0.0, 1.0, 2.5, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 1e6, np.nan])
    Xt = np.column_stack([np.repeat(probe, 5), np.tile(np.linspace(-2, 2, 5), probe.size)])
    forest = xf.to_forest(booster)
    for Z in (X, Xt):
        expected = booster_margin(booster, Z, feature_types=types, enable_categorical=True)
        assert_matches(forest.predict(Z), expected, y)


# -- missing values, metadata ---------------------------------------------------------------------
def test_missing_zero_in_sklearn_wrapper():
    X, y = make_data(seed=18)
    rng = np.random.default_rng(18)
    X[rng.random(X.shape) < 0.2] = 0.0
    model = xgb.XGBRegressor(**FAST, missing=0.0, n_estimators=6, max_depth=3).fit(X, y)
    Xt = X.copy()
    Xt[rng.random(X.shape) < 0.1] = np.nan
    forest = xf.to_forest(model)
    for Z in (X, Xt):
        assert_matches(forest.predict(Z), model.predict(Z, output_margin=True), y)


def test_cover_and_gain_are_xgboosts():
    X, y = make_data(seed=19)
    booster = train({"max_depth": 3, "seed": 0}, xgb.DMatrix(X, y), 5)
    forest = xf.to_forest(booster)
    roots = forest.tree_offset[:-1]
    np.testing.assert_array_equal(forest.cover[roots], len(X))  # squared error: hessian 1 per row
    internal = forest.left >= 0
    assert np.all(forest.gain[~internal] == 0)
    for kind, per_node in (("total_gain", forest.gain), ("total_cover", forest.cover)):
        scores = booster.get_score(importance_type=kind)
        for f in range(forest.n_features):
            ours = per_node[internal & (forest.feature == f)].sum()
            assert ours == pytest.approx(scores.get(f"f{f}", 0.0), rel=1e-5)
    # an internal node holds the cover-weighted mean of its leaves: at the root, the tree's mean
    # output over the training rows (each has hessian 1)
    base = float(forest.base_value[0])
    for t in range(forest.n_trees):
        tree_alone = booster_margin(booster[t:t + 1], X) - base
        assert forest.value[roots[t], 0] == pytest.approx(tree_alone.mean(), abs=1e-6)


def test_feature_names_from_booster():
    X, y = make_data(seed=20)
    names = ["alpha", "beta", "gamma", "delta"]
    booster = train({"max_depth": 2}, xgb.DMatrix(X, y, feature_names=names), 2)
    assert xf.to_forest(booster).feature_names == names


# -- files -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("suffix", [".json", ".ubj"])
def test_model_file(tmp_path, suffix):
    X, y = make_data(seed=21, nan_frac=0.1)
    labels = np.digitize(np.nan_to_num(y), [-0.5, 0.5])
    model = xgb.XGBClassifier(**FAST, n_estimators=4, max_depth=3).fit(X, labels)
    path = tmp_path / f"model{suffix}"
    model.save_model(path)
    expected = model.predict(X, output_margin=True)
    # Paths are handled by the XGBoost loader itself (xf.to_forest dispatches on the class of the
    # model, and a str or Path is not an XGBoost class).
    for ref in (path, str(path)):
        forest = xgb_loader.to_forest(ref)
        assert forest.link == "softmax"
        assert_matches(forest.predict(X), expected, labels)


@pytest.mark.parametrize("name, content", [
    ("broken.json", b'{"learner": {"gradient_booster": '),
    ("broken.ubj", bytes(range(7, 107))),
    ("empty.json", b""),
])
def test_corrupt_model_file(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValueError, match=name):
        xgb_loader.to_forest(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        xgb_loader.to_forest(tmp_path / "nowhere.json")


# -- errors ----------------------------------------------------------------------------------------
def test_unfitted_wrapper():
    with pytest.raises(ValueError, match="not fitted"):
        xf.to_forest(xgb.XGBRegressor())


def test_untrained_booster():
    with pytest.raises(ValueError, match="no usable model"):
        xf.to_forest(xgb.Booster())


def test_gblinear_is_rejected():
    X, y = make_data(seed=22)
    booster = train({"booster": "gblinear"}, xgb.DMatrix(X, y), 2)
    with pytest.raises(TypeError, match="gblinear.*supported: "):
        xf.to_forest(booster)
    model = xgb.XGBRegressor(**FAST, booster="gblinear", n_estimators=2).fit(X, y)
    with pytest.raises(TypeError, match="gblinear"):
        xf.to_forest(model)


def test_invalid_tree_structure_names_the_first_invalid_tree(tmp_path):
    X, y = make_data(seed=24)
    doc = model_json(train({"max_depth": 3, "seed": 0}, xgb.DMatrix(X, y), 5))
    assert all(t["left_children"][0] >= 0 for t in doc["learner"]["gradient_booster"]["model"]["trees"])

    def reached_twice(tree):  # both children of the root are the same node
        tree["right_children"][0] = tree["left_children"][0]

    def cycle(tree):  # a grandchild of the root is the root
        left = tree["left_children"]
        node = next(c for c in (left[0], tree["right_children"][0]) if left[c] >= 0)
        left[node] = 0

    def outside(tree):  # a child of the root past the last node
        tree["right_children"][0] = len(tree["left_children"])

    # XGBoost loads such files without complaint; the loader must refuse them. The trees are
    # renumbered all at once, yet the error names the first invalid tree, here one found invalid
    # at a deeper level than a later tree.
    for corruptions, first in [({2: reached_twice}, 2), ({3: cycle}, 3), ({1: outside}, 1),
                               ({1: cycle, 3: outside}, 1)]:
        corrupted = json.loads(json.dumps(doc))
        for t, corrupt in corruptions.items():
            corrupt(corrupted["learner"]["gradient_booster"]["model"]["trees"][t])
        path = tmp_path / "corrupted.json"
        path.write_text(json.dumps(corrupted))
        with pytest.raises(ValueError, match=f"XGBoost tree {first} is not a valid binary tree"):
            xgb_loader.to_forest(path)


def test_other_xgboost_objects_are_rejected():
    with pytest.raises(TypeError, match="DMatrix"):
        xf.to_forest(xgb.DMatrix(np.zeros((2, 2))))


# -- determinism -----------------------------------------------------------------------------------
def test_predict_is_bitwise_identical_across_n_jobs():
    X, y = make_data(n=3000, seed=23, nan_frac=0.05)
    labels = np.digitize(np.nan_to_num(y), [-0.5, 0.5])
    model = xgb.XGBClassifier(**FAST, n_estimators=10, max_depth=4).fit(X, labels)
    forest = xf.to_forest(model)
    runs = [forest.predict(X, n_jobs=n) for n in (1, 2, -1)]
    assert runs[0].shape == (len(X), 3)
    for other in runs[1:]:
        assert np.array_equal(runs[0], other)
    assert_matches(runs[0], model.predict(X, output_margin=True), labels)

