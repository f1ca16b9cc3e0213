"""LightGBM models -> Forest: the Forest must reproduce ``predict(X, raw_score=True)``.

Every expectation comes from LightGBM itself (its predictions, its model dump, its feature
importances), never from our own output.
"""

from __future__ import annotations

import dataclasses
import pickle

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

import xplain_fast as xf
from xplain_fast.forest import NAN_AS_ZERO, NAN_DEFAULT, NAN_OR_ZERO_DEFAULT
from xplain_fast.models import lightgbm as lgb_loader

TOL = 1e-9  # LightGBM predicts in float64; only the summation order may differ
BASE = {"verbose": -1, "num_threads": 1, "seed": 0, "deterministic": True}


def raw(model, X, **kwargs):
    return np.asarray(model.predict(X, raw_score=True, **kwargs))


def assert_matches(forest, model, X, **kwargs):
    expected = raw(model, X, **kwargs)
    got = forest.predict(X)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


def assert_mismatches(forest, model, X):
    """The rows really exercise a rule: a forest that gets it wrong is caught."""
    assert np.max(np.abs(forest.predict(X) - raw(model, X))) > 1e-6


def regression_data(n=600, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = X[:, 0] + 2 * np.sin(X[:, 1]) + X[:, 2] * X[:, 3] + 0.1 * rng.normal(size=n)
    return X, y


def dump_nodes(booster):
    """All internal nodes of LightGBM's own dump, as dicts (walked without recursion)."""
    nodes = []
    stack = [t["tree_structure"] for t in booster.dump_model()["tree_info"]]
    while stack:
        node = stack.pop()
        if "split_feature" in node:
            nodes.append(node)
            stack += [node["left_child"], node["right_child"]]
    return nodes


# --- objectives -------------------------------------------------------------------------------


def test_regression_wrapper_and_booster():
    X, y = regression_data()
    model = lgb.LGBMRegressor(n_estimators=25, num_leaves=15, **BASE).fit(X, y)
    forest = xf.to_forest(model)
    X_test, _ = regression_data(n=300, seed=1)
    assert_matches(forest, model, X_test)
    assert_matches(xf.to_forest(model.booster_), model.booster_, X_test)
    assert forest.n_trees == 25
    assert forest.link == "identity"
    assert forest.source == "lightgbm"
    assert forest.n_features == 5
    assert not forest.float32_input


def test_feature_names_come_from_the_booster():
    X, y = regression_data()
    names = ["age", "income", "height", "weight", "score"]
    booster = lgb.train(BASE, lgb.Dataset(X, y, feature_name=names), num_boost_round=3)
    assert xf.to_forest(booster).feature_names == names


def test_binary_classifier():
    X, y = regression_data()
    model = lgb.LGBMClassifier(n_estimators=20, num_leaves=8, **BASE).fit(X, y > 0)
    forest = xf.to_forest(model)
    assert_matches(forest, model, X)
    assert forest.link == "logistic"
    np.testing.assert_allclose(1 / (1 + np.exp(-forest.predict(X))), model.predict_proba(X)[:, 1],
                               rtol=1e-12)


def test_multiclass_classifier():
    X, y = regression_data()
    labels = np.digitize(y, [-1.0, 1.0])  # 3 classes
    model = lgb.LGBMClassifier(n_estimators=10, num_leaves=8, **BASE).fit(X, labels)
    forest = xf.to_forest(model)
    got = forest.predict(X)
    assert got.shape == (len(X), 3)
    assert_matches(forest, model, X)
    assert forest.link == "softmax"
    assert forest.n_trees == 30
    softmax = np.exp(got) / np.exp(got).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, model.predict_proba(X), rtol=1e-12)


def test_poisson():
    X, y = regression_data()
    counts = np.random.default_rng(2).poisson(np.exp(0.5 * X[:, 0]))
    booster = lgb.train({**BASE, "objective": "poisson", "num_leaves": 8},
                        lgb.Dataset(X, counts), num_boost_round=15)
    forest = xf.to_forest(booster)
    assert_matches(forest, booster, X)
    assert forest.link == "exp"
    np.testing.assert_allclose(np.exp(forest.predict(X)), booster.predict(X), rtol=1e-12)


def test_binary_with_non_unit_sigmoid_is_not_called_logistic():
    X, y = regression_data()
    booster = lgb.train({**BASE, "objective": "binary", "sigmoid": 2.0},
                        lgb.Dataset(X, y > 0), num_boost_round=5)
    forest = xf.to_forest(booster)
    assert_matches(forest, booster, X)
    assert forest.link != "logistic"  # probability = sigmoid(2 * raw)


def test_ranker():
    X, y = regression_data(n=400)
    relevance = np.digitize(y, [-1.0, 0.0, 1.0])
    model = lgb.LGBMRanker(n_estimators=10, num_leaves=8, min_child_samples=5, **BASE)
    model.fit(X, relevance, group=[20] * 20)
    assert_matches(xf.to_forest(model), model, X)


@pytest.mark.parametrize("params", [
    {"boosting": "dart", "drop_rate": 0.3},
    {"data_sample_strategy": "goss"},
    {"boosting": "gbdt", "bagging_freq": 1, "bagging_fraction": 0.5, "feature_fraction": 0.6},
], ids=["dart", "goss", "bagging"])
def test_boosting_variants(params):
    X, y = regression_data()
    booster = lgb.train({**BASE, "num_leaves": 8, **params}, lgb.Dataset(X, y), num_boost_round=12)
    assert_matches(xf.to_forest(booster), booster, X)


def test_random_forest_mode_averages_the_trees():
    # LightGBM's raw_score for boosting="rf" is the trees' sum; predict() applies the link to
    # their mean. The Forest's raw output is the mean, so that the link gives predict().
    X, y = regression_data()
    params = {**BASE, "boosting": "rf", "bagging_freq": 1, "bagging_fraction": 0.6,
              "num_leaves": 8}
    regressor = lgb.train(params, lgb.Dataset(X, y), num_boost_round=12)
    forest = xf.to_forest(regressor)
    np.testing.assert_allclose(forest.predict(X), raw(regressor, X) / 12, rtol=0, atol=TOL)
    np.testing.assert_allclose(forest.predict(X), regressor.predict(X), rtol=0, atol=TOL)
    classifier = lgb.train({**params, "objective": "binary"}, lgb.Dataset(X, y > 0),
                           num_boost_round=7)
    forest = xf.to_forest(classifier)
    assert forest.link == "logistic"
    np.testing.assert_allclose(forest.predict(X), raw(classifier, X) / 7, rtol=0, atol=TOL)
    np.testing.assert_allclose(1 / (1 + np.exp(-forest.predict(X))), classifier.predict(X),
                               rtol=1e-12)


def test_constant_target_gives_single_leaf_trees():
    X, _ = regression_data(n=200)
    booster = lgb.train(BASE, lgb.Dataset(X, np.full(200, 3.25)), num_boost_round=5)
    forest = xf.to_forest(booster)
    assert_matches(forest, booster, X)
    assert forest.n_nodes == forest.n_trees  # every tree is one leaf
    np.testing.assert_allclose(forest.predict(X), 3.25)


# --- iterations -------------------------------------------------------------------------------


def test_best_iteration_is_used_like_predict_does():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 4))
    y = X[:, 0] + rng.normal(size=400)  # noisy: early stopping stops early
    train, valid = lgb.Dataset(X[:300], y[:300]), lgb.Dataset(X[300:], y[300:])
    booster = lgb.train({**BASE, "num_leaves": 15, "learning_rate": 0.3}, train,
                        num_boost_round=200, valid_sets=[valid], keep_training_booster=True,
                        callbacks=[lgb.early_stopping(5, verbose=False)])
    assert 0 < booster.best_iteration < booster.current_iteration()
    forest = xf.to_forest(booster)
    assert forest.n_trees == booster.best_iteration
    assert_matches(forest, booster, X)
    assert_matches(lgb_loader.to_forest(booster, num_iteration=2), booster, X, num_iteration=2)
    every_tree = lgb_loader.to_forest(booster, num_iteration=-1)
    assert every_tree.n_trees == booster.current_iteration()
    assert_matches(every_tree, booster, X, num_iteration=-1)


# --- missing values ---------------------------------------------------------------------------


def missing_data(n=1500, seed=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X[rng.random(n) < 0.15, 0] = np.nan
    X[rng.random(n) < 0.25, 1] = 0.0
    X[rng.random(n) < 0.10, 2] = np.nan
    X[rng.random(n) < 0.10, 2] = 0.0
    y = (np.nan_to_num(X[:, 0], nan=-3.0) + 2 * (X[:, 1] == 0) + 3 * np.isnan(X[:, 2])
         + X[:, 3] + 0.1 * rng.normal(size=n))
    return X, y


def missing_probe_rows(X):
    """Rows with NaN, +0, -0, values LightGBM reads as zero and values just beyond, per column."""
    rows = [X[:300]]
    for value in (np.nan, 0.0, -0.0, 1e-40, -1e-40, 2e-35, -2e-35, np.inf, -np.inf):
        for j in range(X.shape[1]):
            block = X[300:400].copy()
            block[:, j] = value
            rows.append(block)
    return np.vstack(rows)


@pytest.mark.parametrize(("params", "missing_type"), [
    ({}, "NaN"),
    ({"use_missing": False}, "None"),
    ({"zero_as_missing": True}, "Zero"),
], ids=["nan", "none", "zero"])
def test_missing_value_rules(params, missing_type):
    X, y = missing_data()
    booster = lgb.train({**BASE, "num_leaves": 15, **params}, lgb.Dataset(X, y),
                        num_boost_round=15)
    assert missing_type in {node["missing_type"] for node in dump_nodes(booster)}
    forest = xf.to_forest(booster)
    rows = missing_probe_rows(X)
    assert_matches(forest, booster, rows)
    # the probe rows reach nodes where the rule matters: one default rule for all is caught
    wrong = dataclasses.replace(forest, missing_rule=np.full(forest.n_nodes, NAN_DEFAULT,
                                                             dtype=np.uint8))
    if missing_type == "NaN":
        wrong = dataclasses.replace(forest, default_left=1 - forest.default_left)
    assert_mismatches(wrong, booster, rows)


def test_nan_at_prediction_only_is_compared_as_zero():
    # no missing values in training: every node has missing_type None and NaN becomes 0.0
    X, y = regression_data()
    booster = lgb.train({**BASE, "num_leaves": 15}, lgb.Dataset(X, y), num_boost_round=10)
    assert {node["missing_type"] for node in dump_nodes(booster)} == {"None"}
    assert_matches(xf.to_forest(booster), booster, missing_probe_rows(X))


# --- categorical splits -----------------------------------------------------------------------


def categorical_data(n=2000, seed=5):
    rng = np.random.default_rng(seed)
    X = np.column_stack([
        rng.normal(size=n),
        rng.integers(0, 40, size=n),  # many categories: many-vs-many splits
        rng.integers(0, 3, size=n),   # few categories: one-hot splits
        rng.normal(size=n),
    ]).astype(np.float64)
    X[rng.random(n) < 0.05, 1] = np.nan
    y = (X[:, 0] + 2 * np.isin(X[:, 1], [3, 7, 11, 19, 33, 38]) - 1.5 * (X[:, 2] == 1)
         + 0.1 * rng.normal(size=n))
    return X, y


CAT_PARAMS = {**BASE, "num_leaves": 15, "min_data_per_group": 5, "cat_smooth": 1.0,
              "max_cat_to_onehot": 4}


def categorical_probe_rows(X):
    rows = [X[:400]]
    for value in (np.nan, -1.0, -7.0, 39.0, 40.0, 1000.0, 3.7, 7.0, 7.999, 2.0**31 + 5, 1e10,
                  np.inf, -np.inf):
        for j in (1, 2):
            block = X[400:450].copy()
            block[:, j] = value
            rows.append(block)
    return np.vstack(rows)


def test_categorical_splits_on_integer_columns():
    X, y = categorical_data()
    booster = lgb.train(CAT_PARAMS, lgb.Dataset(X, y, categorical_feature=[1, 2]),
                        num_boost_round=15)
    categorical = [node for node in dump_nodes(booster) if node["decision_type"] == "=="]
    assert {node["split_feature"] for node in categorical} == {1, 2}
    assert any("||" in str(node["threshold"]) for node in categorical)  # a multi-category split
    forest = xf.to_forest(booster)
    rows = categorical_probe_rows(X)
    assert_matches(forest, booster, rows)
    # NaN goes right at categorical nodes whatever default_left says
    assert_mismatches(dataclasses.replace(forest, default_left=np.ones(forest.n_nodes, np.uint8)),
                      booster, rows)


def test_pandas_category_columns():
    rng = np.random.default_rng(6)
    n = 1500
    colours = np.array(list("abcdefghij"))
    frame = pd.DataFrame({
        "x": rng.normal(size=n),
        "colour": pd.Categorical(rng.choice(colours, size=n), categories=colours),
        "size": pd.Categorical(rng.choice(["S", "M", "L"], size=n), categories=["S", "M", "L"]),
        "z": rng.normal(size=n),
    })
    y = (frame["x"] + 2 * frame["colour"].isin(["b", "e", "i"]) - (frame["size"] == "M")
         + 0.1 * rng.normal(size=n)).to_numpy()
    model = lgb.LGBMRegressor(n_estimators=15, num_leaves=15, min_data_per_group=5,
                              cat_smooth=1.0, **BASE).fit(frame, y)
    assert any(node["decision_type"] == "==" for node in dump_nodes(model.booster_))
    test = frame.iloc[:300].copy()
    test.loc[test.index[:40], "colour"] = np.nan
    test.loc[test.index[40:60], "size"] = np.nan
    forest = xf.to_forest(model)
    assert_matches(forest, model, test)
    assert forest.feature_names == ["x", "colour", "size", "z"]


# --- exact thresholds -------------------------------------------------------------------------


def rounded_data():
    rng = np.random.default_rng(7)
    X = np.round(rng.normal(size=(800, 3)), 1)  # few distinct values, exact zeros among them
    return X, X[:, 0] - 2 * (X[:, 1] > 0.3) + X[:, 2] ** 2


@pytest.mark.parametrize("data", [rounded_data, missing_data], ids=["plain", "with_nan"])
def test_values_equal_to_thresholds_go_left(data):
    # includes LightGBM's zero-bin edges +-1e-35f, where its predictor reads |x| <= 1e-35f as 0
    X, y = data()
    booster = lgb.train({**BASE, "num_leaves": 15}, lgb.Dataset(X, y), num_boost_round=10)
    rows = []
    for node in dump_nodes(booster):
        threshold = float(node["threshold"])
        for value in (threshold, np.nextafter(threshold, -np.inf),
                      np.nextafter(threshold, np.inf)):
            row = X[len(rows) % len(X)].copy()
            row[node["split_feature"]] = value
            rows.append(row)
    rows = np.array(rows)
    forest = xf.to_forest(booster)
    assert_matches(forest, booster, rows)
    assert_mismatches(dataclasses.replace(forest, decision="<"), booster, rows)


# --- files ------------------------------------------------------------------------------------


def test_model_text_file(tmp_path):
    X, y = categorical_data()
    booster = lgb.train(CAT_PARAMS, lgb.Dataset(X, y, categorical_feature=[1, 2],
                                                feature_name=["a", "b", "c", "d"]),
                        num_boost_round=10)
    path = tmp_path / "model.txt"
    booster.save_model(path)
    rows = categorical_probe_rows(X)
    for where in (str(path), path):
        forest = xf.to_forest(where)
        assert_matches(forest, booster, rows)
        assert_matches(forest, lgb.Booster(model_file=path), rows)
        assert forest.feature_names == ["a", "b", "c", "d"]


def test_pandas_model_text_file(tmp_path):
    frame = pd.DataFrame({"x": np.arange(200.0) % 7,
                          "c": pd.Categorical(np.array(list("pqrs"))[np.arange(200) % 4])})
    y = frame["x"].to_numpy() + 3 * (frame["c"] == "r").to_numpy()
    booster = lgb.train({**BASE, "min_data_per_group": 5, "min_data_in_leaf": 5},
                        lgb.Dataset(frame, y), num_boost_round=5)
    path = tmp_path / "pandas_model.txt"
    booster.save_model(path)
    assert_matches(xf.to_forest(path), lgb.Booster(model_file=path), frame)


def good_model_text():
    X, y = categorical_data(n=400)
    booster = lgb.train(CAT_PARAMS, lgb.Dataset(X, y, categorical_feature=[1, 2]),
                        num_boost_round=4)
    return booster.model_to_string()


def corrupt(kind: str) -> bytes:
    text = good_model_text()
    trees_end = text.index("end of trees")
    if kind == "garbage":
        return b"this is not a model\n"
    if kind == "empty":
        return b""
    if kind == "binary":
        return np.random.default_rng(8).integers(0, 256, 400, dtype=np.uint8).tobytes()
    if kind == "truncated_in_trees":
        return text[: trees_end // 2].encode()
    if kind == "truncated_in_parameters":  # LightGBM itself segfaults on this one
        return text[: (text.index("parameters:") + len(text)) // 2].encode()
    if kind == "bad_number":
        return text.replace("leaf_weight=", "leaf_weight=1[", 1).encode()
    if kind == "missing_field":
        return text.replace("num_cat=", "num_kat=", 1).encode()
    if kind == "bad_child":
        start = text.index("left_child=")
        return (text[:start] + "left_child=999" + text[text.index(" ", start):]).encode()
    if kind == "cycle":  # node 1, a child of the root, becomes its own left child
        start = text.index(" ", text.index("left_child="))
        return (text[:start] + " 1" + text[text.index(" ", start + 1):]).encode()
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["garbage", "empty", "binary", "truncated_in_trees",
                                  "truncated_in_parameters", "bad_number", "missing_field",
                                  "bad_child", "cycle"])
def test_corrupt_model_file_raises_value_error(tmp_path, kind):
    path = tmp_path / f"{kind}.txt"
    path.write_bytes(corrupt(kind))
    with pytest.raises(ValueError, match=f"{kind}.txt"):
        lgb_loader.to_forest(path)
    with pytest.raises(ValueError, match=f"{kind}.txt"):
        xf.to_forest(path)


def test_missing_model_file_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="nowhere.txt.*does not exist"):
        lgb_loader.to_forest(tmp_path / "nowhere.txt")
    with pytest.raises(ValueError, match="nowhere.txt"):
        xf.to_forest(tmp_path / "nowhere.txt")
    with pytest.raises(ValueError, match="is a directory"):
        lgb_loader.to_forest(str(tmp_path))


# --- deep trees -------------------------------------------------------------------------------


def test_deep_trained_tree():
    # a staircase whose steps grow geometrically: every best split peels off the top step
    n = 70
    x = np.arange(n, dtype=np.float64).reshape(-1, 1)
    y = 3.0 ** np.arange(n)
    params = {**BASE, "num_leaves": n, "max_depth": -1, "min_data_in_leaf": 1,
              "min_data_in_bin": 1, "min_sum_hessian_in_leaf": 0.0, "learning_rate": 1.0,
              "boost_from_average": False}
    booster = lgb.train(params, lgb.Dataset(x, y), num_boost_round=1)
    forest = xf.to_forest(booster)
    assert forest.depth > 30
    assert_matches(forest, booster, np.vstack([x, x + 0.5, [[-1.0], [np.nan]]]))


def chain_model_text(depth: int) -> str:
    """A hand-written one-tree model: node i sends x <= i + 0.5 to leaf i, else to node i + 1."""
    def join(values):
        return " ".join(str(v) for v in values)
    nodes = range(depth)
    return "\n".join([
        "tree", "version=v4", "num_class=1", "num_tree_per_iteration=1", "label_index=0",
        "max_feature_idx=0", "objective=regression", "feature_names=x",
        f"feature_infos=[0:{depth}]", "",
        "Tree=0", f"num_leaves={depth + 1}", "num_cat=0",
        f"split_feature={join([0] * depth)}", f"split_gain={join([1] * depth)}",
        f"threshold={join([i + 0.5 for i in nodes])}", f"decision_type={join([2] * depth)}",
        f"left_child={join([~i for i in nodes])}",
        f"right_child={join([*range(1, depth), ~depth])}",
        f"leaf_value={join([float(i) for i in range(depth + 1)])}",
        f"leaf_count={join([1] * (depth + 1))}",
        f"internal_count={join(range(depth + 1, 1, -1))}", "shrinkage=1", "", "",
        "end of trees", "",
    ])


def test_tree_deeper_than_the_recursion_limit(tmp_path):
    depth = 2500  # deeper than Python's recursion limit: no step of the conversion may recurse
    text = chain_model_text(depth)
    booster = lgb.Booster(model_str=text)
    x = np.arange(-1.0, depth + 1.0, 0.5).reshape(-1, 1)
    forest = xf.to_forest(booster)
    assert forest.depth == depth
    assert_matches(forest, booster, x)
    path = tmp_path / "chain.txt"
    path.write_text(text)
    assert_matches(xf.to_forest(path), booster, x)


def preorder_dump(booster):
    """LightGBM's dump_model nodes, tree after tree, each in preorder (node, left subtree, right
    subtree), and the indices of each node's children in that order (-1 at leaves)."""
    nodes, left, right = [], [], []
    for info in booster.dump_model()["tree_info"]:
        stack = [(info["tree_structure"], left, -1)]  # node, its parent's child list, parent index
        while stack:
            node, children, parent = stack.pop()
            if parent >= 0:
                children[parent] = len(nodes)
            if "split_feature" in node:
                stack += [(node["right_child"], right, len(nodes)), (node["left_child"], left, len(nodes))]
            nodes.append(node)
            left.append(-1)
            right.append(-1)
    return nodes, np.array(left), np.array(right)


@pytest.mark.parametrize("keep_training_booster", [False, True])
def test_nodes_match_lightgbms_json_dump(keep_training_booster):
    """Node by node, in preorder, the Forest holds what LightGBM's own JSON dump says."""
    X, y = categorical_data()
    labels = np.digitize(y, [-0.5, 1.0])
    booster = lgb.train({**CAT_PARAMS, "objective": "multiclass", "num_class": 3, "zero_as_missing": True},
                        lgb.Dataset(X, labels, categorical_feature=[1, 2]), num_boost_round=5,
                        keep_training_booster=keep_training_booster)
    forest = xf.to_forest(booster)
    nodes, left, right = preorder_dump(booster)
    np.testing.assert_array_equal(forest.left, left)
    np.testing.assert_array_equal(forest.right, right)
    internal = left >= 0
    splits = [node for node in nodes if "split_feature" in node]
    np.testing.assert_array_equal(forest.feature[internal], [node["split_feature"] for node in splits])
    np.testing.assert_array_equal(forest.value[~internal, 0], [n["leaf_value"] for n in nodes if "leaf_value" in n])
    np.testing.assert_array_equal(forest.cover, [n.get("internal_count", n.get("leaf_count")) for n in nodes])
    gains = [node["split_gain"] for node in splits]
    if keep_training_booster:  # the trained booster's float32 gains, of which the text keeps 6 digits
        np.testing.assert_allclose(forest.gain[internal], gains, rtol=5e-6)
    else:  # train() reloads the booster from its text, so dump_model prints the same gains
        np.testing.assert_array_equal(forest.gain[internal], gains)
    np.testing.assert_array_equal(forest.gain[~internal], 0.0)
    rules = {"None": NAN_AS_ZERO, "Zero": NAN_OR_ZERO_DEFAULT, "NaN": NAN_DEFAULT}
    kinds = set()
    for i, node in zip(np.flatnonzero(internal), splits, strict=True):
        if node["decision_type"] == "==":
            words = forest.cat_bits[forest.cat_offset[i]:forest.cat_offset[i] + forest.cat_words[i]]
            codes = [c for c in range(32 * len(words)) if (words[c // 32] >> (c % 32)) & 1]
            assert codes == [int(c) for c in node["threshold"].split("||")]
        else:
            assert forest.cat_offset[i] == -1
            assert forest.default_left[i] == node["default_left"]
            assert forest.missing_rule[i] == rules[node["missing_type"]]
            if 1e-35 < abs(node["threshold"]) < 1e300:  # elsewhere moved: see the loader's docstring
                assert forest.threshold[i] == node["threshold"]
        kinds.add((node["decision_type"], node["missing_type"], node["default_left"]))
    assert len(kinds) >= 3  # categorical, and numerical splits sending missing values either way


# --- cover and gain ---------------------------------------------------------------------------


def test_cover_and_gain_are_lightgbms_own():
    X, y = regression_data(n=700)
    booster = lgb.train({**BASE, "num_leaves": 12}, lgb.Dataset(X, y), num_boost_round=8)
    forest = xf.to_forest(booster)
    roots = forest.tree_offset[:-1]
    np.testing.assert_array_equal(forest.cover[roots], 700)  # no bagging: every row
    internal = np.flatnonzero(forest.left >= 0)
    children = forest.cover[forest.left[internal]] + forest.cover[forest.right[internal]]
    np.testing.assert_array_equal(forest.cover[internal], children)
    assert np.all(forest.gain[forest.left < 0] == 0)
    used = internal[forest.gain[internal] > 0]  # LightGBM's importances skip gain <= 0
    np.testing.assert_allclose(
        np.bincount(forest.feature[used], weights=forest.gain[used], minlength=5),
        booster.feature_importance("gain"), rtol=1e-6)
    np.testing.assert_array_equal(np.bincount(forest.feature[used], minlength=5),
                                  booster.feature_importance("split"))


# --- threads ----------------------------------------------------------------------------------


def test_predict_is_bitwise_identical_across_thread_counts():
    X, y = categorical_data(n=3000)
    labels = np.digitize(y, [-0.5, 1.0])
    booster = lgb.train({**CAT_PARAMS, "objective": "multiclass", "num_class": 3},
                        lgb.Dataset(X, labels, categorical_feature=[1, 2]), num_boost_round=10)
    forest = xf.to_forest(booster)
    rows = categorical_probe_rows(X)
    one = forest.predict(rows, n_jobs=1)
    np.testing.assert_allclose(one, raw(booster, rows), rtol=0, atol=TOL)
    for n_jobs in (2, -1):
        assert np.array_equal(forest.predict(rows, n_jobs=n_jobs), one)


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("estimator", [lgb.LGBMRegressor, lgb.LGBMClassifier, lgb.LGBMRanker])
def test_unfitted_wrapper_raises_value_error(estimator):
    with pytest.raises(ValueError, match="not fitted"):
        xf.to_forest(estimator())


@pytest.mark.parametrize("key", ["linear_tree", "linear_trees"])  # the option and its alias
def test_linear_tree_raises_type_error(tmp_path, key):
    X, y = regression_data()
    booster = lgb.train({**BASE, key: True, "num_leaves": 4}, lgb.Dataset(X, y),
                        num_boost_round=3)
    with pytest.raises(TypeError, match="linear-tree"):
        xf.to_forest(booster)
    path = tmp_path / "linear.txt"
    booster.save_model(path)
    with pytest.raises(TypeError, match="linear-tree"):
        xf.to_forest(path)


def test_other_lightgbm_objects_raise_type_error():
    X, y = regression_data(n=50)
    with pytest.raises(TypeError, match="lightgbm.Booster"):
        xf.to_forest(lgb.Dataset(X, y))
    with pytest.raises(TypeError, match="lightgbm.Booster"):
        lgb_loader.to_forest(42)


def test_categorical_value_between_minus_one_and_zero(tmp_path):
    """LightGBM casts a categorical value to int: (-1, 0) is category 0, -1 and below go right."""
    X = np.zeros((200, 1))
    X[:, 0] = np.arange(200) % 4
    y = 5.0 * (X[:, 0] == 0)
    booster = lgb.train({**BASE, "min_data_per_group": 5, "min_data_in_leaf": 5},
                        lgb.Dataset(X, y, categorical_feature=[0]), num_boost_round=1)
    rows = np.array([[-0.5], [-0.999], [-1e-40], [-1.0], [-1.5], [0.5], [2.5], [3.99]])
    assert raw(booster, rows)[0] == raw(booster, np.array([[0.0]]))[0]  # LightGBM: category 0
    forest = xf.to_forest(booster)
    assert_matches(forest, booster, rows)
    # the explainers route these rows the same way: SHAP values add up to LightGBM's output
    contrib = booster.predict(rows, pred_contrib=True)
    np.testing.assert_allclose(xf.TreeExplainer(booster).fit().shap_values(rows), contrib[:, :-1], atol=1e-9)
    # the rule survives saving and pickling
    path = tmp_path / "forest.npz"
    forest.save(path)
    for copy in (xf.Forest.load(path), pickle.loads(pickle.dumps(forest))):
        assert copy.categorical_truncation
        np.testing.assert_array_equal(copy.predict(rows), forest.predict(rows))


def test_value_just_above_double_1e_35_counts_as_zero():
    """LightGBM's zero test is |x| <= float32(1e-35) = 1.0000000180025095e-35."""
    X, y = missing_data()
    booster = lgb.train({**BASE, "num_leaves": 15, "zero_as_missing": True}, lgb.Dataset(X, y),
                        num_boost_round=5)
    rows = X[:200].copy()
    rows[:, 1] = 1.00000001e-35
    assert_matches(xf.to_forest(booster), booster, rows)

