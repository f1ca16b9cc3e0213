"""Bad input at the Python boundary, engine by engine: each case gets a clear error that says what
was wrong, or works where it should (no rows, read-only, strided, big-endian, float32 and frame
input), and never crashes. The C++ side of the same cases is in cpp/tests (CTest) and the fuzz
targets (tests/test_fuzz.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor

import xplain_fast as xf


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 4))
    y = X[:, 0] - X[:, 1] * X[:, 2] + rng.normal(0, 0.1, 300)
    return X, y


@pytest.fixture(scope="module")
def models(data):
    X, y = data
    return {
        "regressor": RandomForestRegressor(n_estimators=10, max_depth=5, random_state=0).fit(X, y),
        "3 classes": GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, np.digitize(y, [-0.5, 0.5])),
    }


def _engines(model, background):
    """Every explaining call, by name: (rows) -> result."""
    path = xf.TreeExplainer(model).fit()
    interventional = xf.TreeExplainer(model, feature_perturbation="interventional").fit(background)
    forest = xf.to_forest(model)
    return {
        "predict": forest.predict,
        "shap_values": path.shap_values,
        "interactions": path.shap_interaction_values,
        "interaction subset": lambda rows: path.shap_interaction_values(rows, features=[2, 0]),
        "interventional": interventional.shap_values,
        "interventional interactions": interventional.shap_interaction_values,
        "explain": lambda rows: path.explain(rows).values,
    }


@pytest.mark.parametrize("kind", ["regressor", "3 classes"])
def test_no_rows_give_empty_results_of_the_right_shape(models, data, kind):
    X, _ = data
    for name, engine in _engines(models[kind], X[:30]).items():
        full, empty = engine(X[:3]), engine(X[:0])
        assert empty.shape == (0, *full.shape[1:]), name
        assert empty.dtype == np.float64, name


def test_probability_and_loss_outputs_of_no_rows(data):
    X, y = data
    model = GradientBoostingClassifier(n_estimators=5, random_state=0).fit(X, y > 0)
    for output in ("probability", "log_loss"):
        explainer = xf.TreeExplainer(model, feature_perturbation="interventional", model_output=output).fit(X[:20])
        labels = np.zeros(0) if output == "log_loss" else None
        assert explainer.shap_values(X[:0], y=labels).shape == (0, 4)


def test_permutation_importance_refuses_no_rows(models, data):
    X, y = data
    with pytest.raises(ValueError, match="0 sample"):
        xf.permutation_importance(models["regressor"], X[:0], y[:0])


def test_wrong_shapes_and_types_are_refused_with_what_to_do(models, data):
    X, _ = data
    for engine in _engines(models["regressor"], X[:30]).values():
        with pytest.raises(ValueError, match="X has 5 features, but the model expects 4"):
            engine(np.zeros((2, 5)))
        with pytest.raises(ValueError, match="reshape a single row"):
            engine(np.zeros(4))
        with pytest.raises(TypeError, match="real numbers"):
            engine(np.array([["a", "b", "c", "d"]]))
        with pytest.raises(TypeError, match="real numbers"):
            engine(np.array([[1, 2, 3, None]], dtype=object))
        with pytest.raises(TypeError, match="complex128"):
            engine(np.ones((1, 4), dtype=complex))
        frame = pd.DataFrame(X[:3], columns=list("abcd")).assign(c=["x", "y", "z"])
        with pytest.raises(TypeError, match="column 'c' has dtype (object|str), which is not numeric"):
            engine(frame)


def test_unusual_layouts_give_the_same_numbers(models, data):
    X, _ = data
    rows = X[:40]
    read_only = rows.copy()
    read_only.flags.writeable = False
    layouts = {
        "read-only": read_only,
        "Fortran order": np.asfortranarray(rows),
        "strided": np.repeat(rows, 2, axis=0)[::2],
        "big-endian": rows.astype(">f8"),
        "a frame": pd.DataFrame(rows),
        "a list": rows.tolist(),
    }
    for name, engine in _engines(models["3 classes"], X[:30]).items():
        expected = engine(rows)
        for layout, variant in layouts.items():
            assert np.array_equal(engine(variant), expected), (name, layout)
        assert read_only.flags.writeable is False  # not modified, not made writeable


def test_infinities_are_routed_like_any_number(models, data):
    """+/-inf are compared with the thresholds, as XGBoost and LightGBM do (scikit-learn's predict
    refuses them; we explain the model's routing of them instead): the same leaves as a large value."""
    X, _ = data
    rows = X[:20].copy()
    rows[::2, 0], rows[1::2, 1] = np.inf, -np.inf
    large = rows.copy()
    large[np.isposinf(large)], large[np.isneginf(large)] = 1e300, -1e300
    for name, engine in _engines(models["regressor"], X[:30]).items():
        assert np.array_equal(engine(rows), engine(large)), name


def test_malformed_forests_are_refused(models):
    forest = xf.to_forest(models["regressor"])
    node = int(np.flatnonzero(forest.left >= 0)[1])

    def spoiled(name: str, index: int, value: int) -> dict:
        array = getattr(forest, name).copy()
        array[index] = value
        return {name: array}

    cases = {
        "children outside its tree": spoiled("left", 0, 10**6),
        "child of two nodes": spoiled("right", 0, forest.left[node]),  # a DAG: that node reached twice
        "children outside its tree or before it": spoiled("left", node, 0),  # a cycle back to the root
        "splits on feature 9": spoiled("feature", 0, 9),
        "tree_offset": spoiled("tree_offset", -1, forest.tree_offset[-1] + 1),
        "negative or non-finite cover": {"cover": np.where(np.arange(forest.n_nodes) == 3, -1.0, forest.cover)},
    }
    for message, change in cases.items():
        with pytest.raises(ValueError, match=message):
            dataclasses.replace(forest, **change)


def test_corrupt_files_are_refused(tmp_path, models):
    forest_file = tmp_path / "forest.npz"
    xf.to_forest(models["regressor"]).save(forest_file)
    good = forest_file.read_bytes()
    for name, content in {"truncated": good[: len(good) // 2], "zeros": bytes(len(good)), "text": b"tree\n"}.items():
        path = tmp_path / f"{name}.npz"
        path.write_bytes(content)
        with pytest.raises(ValueError, match="is not a Forest file written by Forest.save"):
            xf.Forest.load(path)
        with pytest.raises(ValueError):
            xf.to_forest(path)


def test_absurd_n_jobs(models, data):
    X, y = data
    for bad, error, message in ((0, ValueError, "n_jobs == 0"), (10**12, ValueError, "out of range"),
                                (2.5, TypeError, "n_jobs must be an int")):
        with pytest.raises(error, match=message):
            xf.TreeExplainer(models["regressor"], n_jobs=bad).fit().shap_values(X[:5])
        with pytest.raises(error, match=message):
            xf.permutation_importance(models["regressor"], X, y, n_jobs=bad)
    # A huge but representable n_jobs runs (the core starts at most 4 threads per core) and gives the same bits.
    reference = xf.TreeExplainer(models["regressor"], n_jobs=1).fit().shap_values(X)
    assert np.array_equal(xf.TreeExplainer(models["regressor"], n_jobs=2**31 - 1).fit().shap_values(X), reference)


def test_empty_background_is_refused(models, data):
    X, _ = data
    with pytest.raises(ValueError, match="background data has no rows"):
        xf.TreeExplainer(models["regressor"], feature_perturbation="interventional").fit(X[:0])


def test_outputs_larger_than_memory_are_refused_with_their_size(models, data):
    X, _ = data
    explainer = xf.TreeExplainer(models["regressor"]).fit()
    with pytest.raises(MemoryError, match=r"rows x 4 x 4 features need [\d.,]+ (KiB|MiB|GiB|TiB)"):
        explainer.shap_interaction_values(np.zeros((2_000_000_000 // 8, 4)))


@pytest.mark.slow
def test_a_million_node_tree_loads_and_explains():
    """One complete tree of depth 19 (1,048,575 nodes), children after parents in level order."""
    depth, n_features = 19, 30
    n = 2 ** (depth + 1) - 1
    rng = np.random.default_rng(5)
    node = np.arange(n)
    internal = node < 2**depth - 1
    left = np.where(internal, 2 * node + 1, -1).astype(np.int32)
    level = np.floor(np.log2(node + 1)).astype(np.int64)
    forest = xf.Forest(
        left=left, right=np.where(internal, 2 * node + 2, -1).astype(np.int32),
        feature=np.where(internal, rng.integers(0, n_features, n), -1).astype(np.int32),
        threshold=rng.normal(size=n), default_left=rng.integers(0, 2, n).astype(np.uint8),
        value=np.where(internal, 0.0, rng.normal(size=n))[:, None], cover=2.0 ** (depth - level),
        tree_offset=np.array([0, n]), tree_output=np.array([0], dtype=np.int32), base_value=np.zeros(1),
        n_features=n_features)
    rows = rng.normal(size=(200, n_features))
    rows[::3, 4] = np.nan
    explainer = xf.TreeExplainer(forest, n_jobs=2).fit()
    phi = explainer.shap_values(rows)  # the additivity check runs against the forest's predictions
    assert phi.shape == (200, n_features) and np.isfinite(phi).all()
    assert abs(explainer.expected_value_ - forest.value[~internal, 0].mean()) < 1e-12  # equal covers
