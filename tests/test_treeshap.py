"""Path-dependent TreeSHAP against independent oracles (tests/reference.py and the shap package)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from helpers import rows_for
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import brute_force_shap, classic_tree_shap, predict_forest, random_forest
from strategies import forests

import xplain_fast as xf


def phi_of(forest: xf.Forest, X: np.ndarray, n_jobs: int | None = None) -> np.ndarray:
    ex = xf.TreeExplainer(forest, n_jobs=n_jobs).fit()
    phi = ex.shap_values(X)
    return phi.reshape(len(X), forest.n_features, forest.n_outputs)


@settings(max_examples=300)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_features=st.integers(1, 6),
    n_trees=st.integers(1, 3),
    max_nodes=st.integers(1, 31),
    n_outputs=st.integers(1, 3),
    vector_leaves=st.booleans(),
    nan_rules=st.booleans(),
    zero_cover=st.booleans(),
    categorical=st.booleans(),
)
def test_matches_brute_force_on_random_forests(seed, n_features, n_trees, max_nodes, n_outputs,
                                               vector_leaves, nan_rules, zero_cover, categorical):
    rng = np.random.default_rng(seed)
    forest = random_forest(rng, n_features=n_features, n_trees=n_trees, max_nodes=max_nodes,
                           n_outputs=n_outputs, vector_leaves=vector_leaves, nan_rules=nan_rules,
                           zero_cover=zero_cover, categorical=categorical)
    X = rows_for(forest, rng, 4)
    phi = phi_of(forest, X)
    ex = xf.TreeExplainer(forest).fit()
    for r, x in enumerate(X):
        expected_phi, expected_base = brute_force_shap(forest, x)
        np.testing.assert_allclose(phi[r], expected_phi, rtol=0, atol=1e-10)
        np.testing.assert_allclose(np.atleast_1d(ex.expected_value_), expected_base, rtol=0, atol=1e-10)
    np.testing.assert_allclose(forest.predict(X).reshape(len(X), -1), predict_forest(forest, X), atol=1e-12)


@pytest.mark.parametrize("depth_nodes", [40, 70, 140, 301])
def test_deep_chains_match_classic_recursion(depth_nodes):
    """Depth 20 to 150: quadrature point count grows with depth and stays exact."""
    rng = np.random.default_rng(depth_nodes)
    forest = random_forest(rng, n_features=12, n_trees=2, max_nodes=depth_nodes, chain=True)
    assert forest.depth >= depth_nodes // 2 - 1
    X = rows_for(forest, rng, 5)
    phi = phi_of(forest, X)[:, :, 0]
    for r, x in enumerate(X):
        np.testing.assert_allclose(phi[r], classic_tree_shap(forest, x)[:, 0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(phi.sum(axis=1) + xf.TreeExplainer(forest).fit().expected_value_,
                               forest.predict(X), atol=1e-10)


def test_deep_chain_with_few_features_matches_brute_force():
    """Depth > 16 with only 4 features: features repeat many times on every path."""
    rng = np.random.default_rng(7)
    forest = random_forest(rng, n_features=4, n_trees=1, max_nodes=45, chain=True)
    assert forest.depth > 16
    X = rows_for(forest, rng, 6)
    phi = phi_of(forest, X)
    for r, x in enumerate(X):
        np.testing.assert_allclose(phi[r], brute_force_shap(forest, x)[0], rtol=0, atol=1e-10)


def test_big_unbounded_tree_is_additive():
    """More than 32,767 nodes and depth well past 30, from a real unbounded tree."""
    from sklearn.tree import DecisionTreeRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40_000, 8))
    y = rng.normal(size=40_000)
    tree = DecisionTreeRegressor(random_state=0).fit(X, y)
    assert tree.tree_.node_count > 32_767 and tree.get_depth() > 30
    ex = xf.TreeExplainer(tree, n_jobs=2).fit()
    phi = ex.shap_values(X[:200])
    assert np.all(np.isfinite(phi))
    np.testing.assert_allclose(phi.sum(axis=1) + ex.expected_value_, tree.predict(X[:200]), atol=1e-9)


@pytest.mark.parametrize("n_jobs", [2, -1])
def test_bitwise_identical_for_any_n_jobs(n_jobs):
    rng = np.random.default_rng(3)
    forest = random_forest(rng, n_features=6, n_trees=20, max_nodes=61, n_outputs=2)
    X = rows_for(forest, rng, 333)
    serial = phi_of(forest, X, n_jobs=1)
    assert np.array_equal(phi_of(forest, X, n_jobs=n_jobs), serial)
    # and independent of which rows share a block with which
    assert np.array_equal(phi_of(forest, X[5:], n_jobs=n_jobs), serial[5:])


def test_zero_cover_never_gives_nan():
    rng = np.random.default_rng(11)
    forest = random_forest(rng, n_features=3, n_trees=2, max_nodes=15)
    forest.cover[:] = 0.0
    forest = xf.Forest(**{k: v for k, v in forest.__getstate__().items()})
    X = rows_for(forest, rng, 5)
    phi = phi_of(forest, X)
    assert np.all(np.isfinite(phi))
    for r, x in enumerate(X):
        np.testing.assert_allclose(phi[r], brute_force_shap(forest, x)[0], atol=1e-10)


def test_explanation_and_pickle(tmp_path):
    rng = np.random.default_rng(5)
    forest = random_forest(rng, n_features=4, n_trees=3, max_nodes=15, n_outputs=2)
    X = rows_for(forest, rng, 7)
    ex = xf.TreeExplainer(forest).fit()
    exp = ex.explain(X)
    assert exp.values.shape == (7, 4, 2) and exp.base_values.shape == (7, 2)
    np.testing.assert_array_equal(exp.base_values[3], ex.expected_value_)
    np.testing.assert_array_equal(exp[2:4].values, exp.values[2:4])
    clone = pickle.loads(pickle.dumps(ex))
    np.testing.assert_array_equal(clone.shap_values(X), ex.shap_values(X))
    shap_exp = exp.to_shap()
    np.testing.assert_array_equal(shap_exp.values, exp.values)


def test_functional_shortcut_equals_explainer():
    rng = np.random.default_rng(8)
    forest = random_forest(rng, n_features=4, n_trees=4, max_nodes=21)
    X = rows_for(forest, rng, 9)
    np.testing.assert_array_equal(xf.shap_values(forest, X), xf.TreeExplainer(forest).fit().shap_values(X))


def test_bad_input_errors():
    rng = np.random.default_rng(9)
    forest = random_forest(rng, n_features=4, n_trees=2, max_nodes=9)
    ex = xf.TreeExplainer(forest).fit()
    with pytest.raises(ValueError, match="expects 4"):
        ex.shap_values(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="2-D"):
        ex.shap_values(np.zeros(4))
    assert ex.shap_values(np.zeros((0, 4))).shape == (0, 4)  # no rows: an empty result (tests/test_bad_input.py)
    with pytest.raises(TypeError, match="dtype"):
        ex.shap_values(np.array([["a", "b", "c", "d"]]))
    with pytest.raises(ValueError, match="not fitted"):
        xf.TreeExplainer(forest).shap_values(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="background"):
        xf.TreeExplainer(forest).fit(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="tree_path_dependent"):
        xf.TreeExplainer(forest, feature_perturbation="bogus").fit()
    with pytest.raises(ValueError, match="n_jobs"):
        xf.TreeExplainer(forest, n_jobs=0).fit()
    with pytest.raises(TypeError, match="supported models"):
        xf.TreeExplainer(object()).fit()


def test_accepts_any_real_dtype_layout_and_frames():
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    rng = np.random.default_rng(10)
    forest = random_forest(rng, n_features=3, n_trees=3, max_nodes=15)
    X = np.round(rng.normal(size=(20, 3)) * 3)
    ex = xf.TreeExplainer(forest).fit()
    base = ex.shap_values(X)
    np.testing.assert_array_equal(ex.shap_values(np.asfortranarray(X)), base)
    np.testing.assert_array_equal(ex.shap_values(X.astype(np.int32)), base)
    np.testing.assert_array_equal(ex.shap_values(X[:, ::-1][:, ::-1]), base)
    np.testing.assert_array_equal(ex.shap_values(pd.DataFrame(X, columns=list("abc"))), base)
    np.testing.assert_array_equal(ex.shap_values(pl.DataFrame(X, schema=list("abc"))), base)
    np.testing.assert_allclose(ex.shap_values(X.astype(np.float32)), ex.shap_values(X.astype(np.float32).astype(float)))



@settings(max_examples=80, deadline=None)
@given(forest=forests(), seed=st.integers(0, 2**16))
def test_matches_brute_force_on_drawn_forests(forest, seed):
    """The same oracle on forests drawn node by node, so a failure shrinks to a minimal forest."""
    X = rows_for(forest, np.random.default_rng(seed), 3)
    phi = phi_of(forest, X)
    for r, x in enumerate(X):
        expected_phi, _ = brute_force_shap(forest, x)
        np.testing.assert_allclose(phi[r], expected_phi, rtol=0, atol=1e-10)


@pytest.fixture
def portable_walks():
    """Later SHAP calls use the portable walks only (the baseline instruction set); restored after."""
    from xplain_fast import _core

    _core.set_simd_limit(_core.SimdLevel.portable)
    assert _core.simd_level() == _core.SimdLevel.portable
    yield
    _core.set_simd_limit(_core.SimdLevel.avx2)


@pytest.mark.parametrize("kind", ["plain", "vector_leaves", "nan_rules", "categorical", "deep_chain"])
def test_avx2_walk_gives_the_portable_bits(kind, request):
    """The AVX2 clone of the walks (chosen where the CPU has AVX2) against the portable walk, for
    SHAP values and interactions, for trees with few and with more than eight quadrature points."""
    from xplain_fast import _core

    if _core.simd_level() != _core.SimdLevel.avx2:
        pytest.skip("this CPU (or build) has no AVX2 clone: only the portable walk runs here")
    rng = np.random.default_rng(11)
    options = {"plain": {}, "vector_leaves": {"vector_leaves": True, "n_outputs": 3},
               "nan_rules": {"nan_rules": True}, "categorical": {"categorical": True},
               "deep_chain": {"chain": True}}[kind]
    n_features = 24 if kind == "deep_chain" else 7
    forest = random_forest(rng, n_features=n_features, n_trees=15, max_nodes=61, **options)
    if kind == "deep_chain":  # quadrature points ceil(k / 2) beyond the compiled ones (1 to 8)
        assert _most_unique_features_on_a_path(forest) > 16
    X = rows_for(forest, rng, 150)
    explainer = xf.TreeExplainer(forest, n_jobs=2).fit()
    wide = explainer.shap_values(X), explainer.shap_interaction_values(X[:40])
    request.getfixturevalue("portable_walks")
    portable = explainer.shap_values(X), explainer.shap_interaction_values(X[:40])
    for a, b in zip(wide, portable, strict=True):
        assert np.array_equal(a, b)


def test_portable_walk_matches_brute_force(portable_walks):
    rng = np.random.default_rng(5)
    for n_outputs, chain in ((1, False), (2, False), (1, True)):
        forest = random_forest(rng, n_features=5, n_trees=3, max_nodes=25, n_outputs=n_outputs, nan_rules=True,
                               chain=chain)
        X = rows_for(forest, rng, 10)
        phi = phi_of(forest, X)
        for row, x in enumerate(X):
            np.testing.assert_allclose(phi[row], brute_force_shap(forest, x)[0], atol=1e-10)


def _most_unique_features_on_a_path(forest: xf.Forest) -> int:
    most = 0
    for t in range(forest.n_trees):
        stack = [(int(forest.tree_offset[t]), frozenset())]
        while stack:
            node, seen = stack.pop()
            if forest.left[node] < 0:
                most = max(most, len(seen))
                continue
            seen = seen | {int(forest.feature[node])}
            stack += [(int(forest.left[node]), seen), (int(forest.right[node]), seen)]
    return most
