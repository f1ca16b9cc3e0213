"""The Forest container: validation, persistence, threading, input checks."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from helpers import rows_for
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import goes_left, predict_forest, predict_rows, random_forest
from sklearn_models import fitted
from strategies import forests

import xplain_fast as xf
from xplain_fast.forest import concatenate_trees


def test_save_load_round_trip(tmp_path):
    forest = random_forest(np.random.default_rng(0), n_features=5, n_trees=4, max_nodes=21, n_outputs=2,
                           nan_rules=True, categorical=True)
    forest.feature_names = list("abcde")
    path = tmp_path / "forest.npz"
    forest.save(path)
    loaded = xf.Forest.load(path)
    X = np.random.default_rng(1).normal(size=(50, 5))
    np.testing.assert_array_equal(loaded.predict(X), forest.predict(X))
    assert loaded.feature_names == list("abcde")
    np.testing.assert_array_equal(xf.to_forest(path).predict(X), forest.predict(X))


def test_load_rejects_corrupt_file(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"this is not a forest")
    with pytest.raises(ValueError, match="not a Forest file"):
        xf.Forest.load(path)
    with pytest.raises(ValueError, match="cannot tell which library"):
        xf.to_forest(tmp_path / "broken.bin") if (tmp_path / "broken.bin").write_bytes(b"\0\1") else None
    with pytest.raises(ValueError, match="cannot read"):
        xf.to_forest(tmp_path / "missing.json")


def test_pickle_round_trip():
    forest = random_forest(np.random.default_rng(2), n_features=3, n_trees=2, max_nodes=9)
    clone = pickle.loads(pickle.dumps(forest))
    X = np.random.default_rng(3).normal(size=(20, 3))
    np.testing.assert_array_equal(clone.predict(X), forest.predict(X))


@pytest.mark.parametrize("n_jobs", [2, -1])
def test_predict_bitwise_identical_for_any_n_jobs(n_jobs):
    model, X = fitted("RandomForestClassifier")
    forest = xf.to_forest(model)
    big = np.tile(X, (3, 1))
    assert np.array_equal(forest.predict(big, n_jobs=n_jobs), forest.predict(big, n_jobs=1))


def test_invalid_structures_are_rejected():
    good = dict(left=[1, -1, -1], right=[2, -1, -1], feature=[0, -1, -1], threshold=[0.0, 0, 0],
                default_left=[0, 0, 0], value=[0.0, 1.0, 2.0], cover=[2.0, 1, 1], tree_offset=[0, 3],
                tree_output=[0], base_value=[0.0], n_features=1)
    assert xf.Forest(**good).predict([[-1.0], [1.0]]).tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="children"):
        xf.Forest(**{**good, "left": [0, -1, -1]})
    with pytest.raises(ValueError, match="feature 3"):
        xf.Forest(**{**good, "feature": [3, -1, -1]})
    with pytest.raises(ValueError, match="cover"):
        xf.Forest(**{**good, "cover": [-1.0, 1, 1]})
    with pytest.raises(ValueError, match="one per node"):
        xf.Forest(**{**good, "threshold": [0.0, 0.0]})
    with pytest.raises(ValueError, match="tree_offset"):
        xf.Forest(**{**good, "tree_offset": [0, 2]})


def test_predict_input_errors():
    model, X = fitted("RandomForestRegressor")
    forest = xf.to_forest(model)
    with pytest.raises(ValueError, match="expects 6"):
        forest.predict(X[:, :5])
    with pytest.raises(ValueError, match="2-D"):
        forest.predict(X[0])
    with pytest.raises(ValueError, match="2-D"):
        forest.predict(X[None])
    with pytest.raises(TypeError, match="dtype"):
        forest.predict(np.array([["a"] * 6]))
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(X[:3], columns=list("abcdef"))
    frame["c"] = ["low", "mid", "high"]
    with pytest.raises(TypeError, match="'c'"):
        forest.predict(frame)


def test_inf_is_compared_like_any_number():
    """scikit-learn refuses inf, so the oracle here is the Python walk of the same forest."""
    model, X = fitted("DecisionTreeRegressor")
    forest = xf.to_forest(model)
    rows = X[:20].copy()
    rows[::2, 0] = np.inf
    rows[1::2, 1] = -np.inf
    np.testing.assert_allclose(forest.predict(rows), predict_forest(forest, rows)[:, 0], atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(forest=forests(), seed=st.integers(0, 2**16))
def test_predict_matches_the_reference_walk_on_drawn_forests(forest, seed):
    X = rows_for(forest, np.random.default_rng(seed), 12)
    X[::3, 0] = -0.5  # a category code in (-1, 0): category 0 only where LightGBM truncates
    expected = predict_forest(forest, X)
    np.testing.assert_array_equal(predict_rows(forest, X), expected)
    np.testing.assert_array_equal(forest.predict(X).reshape(expected.shape), expected)


@pytest.mark.parametrize("truncation", [False, True])
def test_categorical_truncation_in_the_core_and_the_reference(truncation):
    """Category 0 goes left; -0.5 is category 0 only when the value is truncated to int first."""
    forest = concatenate_trees(
        [{"left": [1, -1, -1], "right": [2, -1, -1], "feature": [0, 0, 0], "threshold": [0.0] * 3,
          "default_left": [0, 0, 0], "value": [0.0, 1.0, 2.0], "cover": [2.0, 1, 1], "categories": {0: [0]}}],
        base_value=[0.0], n_features=1, categorical_truncation=truncation)
    X = np.array([[-0.5], [0.0], [0.7], [-1.0], [1.0], [np.nan]])
    expected = [1.0 if truncation else 2.0, 1.0, 1.0, 2.0, 2.0, 2.0]
    assert forest.predict(X).tolist() == expected
    assert [1.0 if goes_left(forest, 0, x) else 2.0 for x in X[:, 0]] == expected


def test_digest_covers_everything_an_explanation_depends_on(tmp_path):
    forest = random_forest(np.random.default_rng(4), n_features=3, n_trees=2, max_nodes=9)
    forest.save(tmp_path / "f.npz")
    assert xf.Forest.load(tmp_path / "f.npz").digest() == forest.digest() == pickle.loads(pickle.dumps(forest)).digest()
    changed = pickle.loads(pickle.dumps(forest))
    changed.cover[changed.left[0]] += 1.0  # the same predictions, other path-dependent SHAP values
    assert changed.digest() != forest.digest()
