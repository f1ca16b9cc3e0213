"""The C++ permutation engine on random forests of every node kind, against a naive oracle.

The oracle permutes the columns of a copy of X and predicts it with the reference walk of
tests/reference.py (plain Python, independent of the C++ core), then scores with NumPy. The engine's
re-routing (intervals, branch-free lanes with and without NaN, the general walk for categorical
splits and zero-as-missing rules, tree chunks, task blocks) must give the same scores.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest
from helpers import rows_for
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import predict_rows, random_forest
from strategies import forests

from xplain_fast import _core


def engine_spec(forest):
    """MSE for one output, log loss (softmax) for more."""
    spec = _core.ScoringSpec()
    spec.classifier = forest.n_outputs > 1
    if spec.classifier:
        spec.link, spec.n_classes = _core.Link.softmax, forest.n_outputs
        spec.metrics = [_core.Metric.neg_log_loss]
    else:
        spec.metrics = [_core.Metric.neg_mean_squared_error]
    return spec


def engine_scores(forest, X, y, perms, groups, *, n_jobs=1, task_memory_bytes=_core.DEFAULT_TASK_MEMORY_BYTES):
    """(baseline, permuted[G, R]) from the engine (see engine_spec)."""
    spec = engine_spec(forest)
    offsets = np.cumsum([0] + [len(g) for g in groups]).astype(np.int64)
    targets = {"y_class": y.astype(np.int32)} if spec.classifier else {"y": y}
    baseline, permuted = _core.permutation_scores(
        forest.handle, forest.value, X, perms, offsets, np.concatenate(groups).astype(np.int64), spec,
        n_jobs=n_jobs, task_memory_bytes=task_memory_bytes, **targets,
    )
    return baseline[0], permuted[:, :, 0]


def naive_score(forest, X, y):
    raw = predict_rows(forest, X)
    raw = raw[:, 0] if forest.n_outputs == 1 else raw
    if forest.n_outputs == 1:
        return -np.mean((y - raw) ** 2)
    p = np.exp(raw - raw.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    eps = np.finfo(np.float64).eps
    return -np.mean(-np.log(np.clip(p[np.arange(len(y)), y.astype(int)], eps, 1 - eps)))


def naive_scores(forest, X, y, perms, groups):
    out = np.empty((len(groups), len(perms)))
    for g, cols in enumerate(groups):
        for r, perm in enumerate(perms):
            Xp = X.copy()
            Xp[:, cols] = X[perm][:, cols]
            out[g, r] = naive_score(forest, Xp, y)
    return naive_score(forest, X, y), out


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_features=st.integers(1, 5),
    n_trees=st.integers(1, 6),
    max_nodes=st.integers(1, 41),
    n_outputs=st.integers(1, 3),
    vector_leaves=st.booleans(),
    nan_rules=st.booleans(),
    categorical=st.booleans(),
    strict=st.booleans(),
    float32_input=st.booleans(),
    truncation=st.booleans(),
    with_nan=st.booleans(),
    n_repeats=st.integers(1, 11),  # the scans take up to 8 repeats at once
)
def test_engine_matches_naive_permutations(seed, n_features, n_trees, max_nodes, n_outputs, vector_leaves,
                                           nan_rules, categorical, strict, float32_input, truncation, with_nan,
                                           n_repeats):
    rng = np.random.default_rng(seed)
    forest = random_forest(rng, n_features=n_features, n_trees=n_trees, max_nodes=max_nodes,
                           n_outputs=n_outputs, vector_leaves=vector_leaves, nan_rules=nan_rules,
                           categorical=categorical)
    forest = dataclasses.replace(forest, decision="<" if strict else "<=", float32_input=float32_input,
                                 categorical_truncation=truncation)
    X = rows_for(forest, rng, 40)
    if not with_nan:
        X = np.nan_to_num(X, nan=0.25)
    if categorical:
        X[rng.random(X.shape) < 0.1] = -0.5  # (-1, 0): category 0 only with truncation
    y = rng.integers(0, n_outputs, len(X)).astype(float) if n_outputs > 1 else rng.normal(size=len(X))
    perms = np.array([rng.permutation(len(X)) for _ in range(n_repeats)], dtype=np.int64)
    groups = [np.array([j]) for j in range(n_features)]
    if n_features > 1:
        groups.append(rng.choice(n_features, size=2, replace=False))
    baseline, permuted = engine_scores(forest, X, y, perms, groups)
    expected_baseline, expected = naive_scores(forest, X, y, perms, groups)
    np.testing.assert_allclose(baseline, expected_baseline, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(permuted, expected, rtol=1e-10, atol=1e-10)


@settings(max_examples=60, deadline=None)
@given(forest=forests(max_trees=5, max_nodes=31, max_outputs=3), seed=st.integers(0, 2**16),
       n_repeats=st.integers(1, 9))
def test_engine_matches_naive_permutations_on_drawn_forests(forest, seed, n_repeats):
    """As above, on forests drawn node by node, so that a failure shrinks to a minimal forest."""
    rng = np.random.default_rng(seed)
    X = rows_for(forest, rng, 30)
    y = rng.integers(0, forest.n_outputs, len(X)).astype(float) if forest.n_outputs > 1 else rng.normal(size=len(X))
    perms = np.array([rng.permutation(len(X)) for _ in range(n_repeats)], dtype=np.int64)
    groups = [np.array([j]) for j in range(forest.n_features)] + [np.arange(forest.n_features)]
    baseline, permuted = engine_scores(forest, X, y, perms, groups)
    expected_baseline, expected = naive_scores(forest, X, y, perms, groups)
    np.testing.assert_allclose(baseline, expected_baseline, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(permuted, expected, rtol=1e-10, atol=1e-10)


def test_threads_chunks_and_blocks_give_identical_bits():
    rng = np.random.default_rng(11)
    # big enough for several tree chunks (768 KiB of nodes each)
    forest = random_forest(rng, n_features=6, n_trees=80, max_nodes=1001, nan_rules=True)
    assert forest.n_nodes * 24 > 2 * (768 << 10)
    X = rows_for(forest, rng, 300)
    y = rng.normal(size=len(X))
    perms = np.array([rng.permutation(len(X)) for _ in range(10)], dtype=np.int64)
    groups = [np.array([j]) for j in range(6)] + [np.array([0, 3, 5])]
    reference = engine_scores(forest, X, y, perms, groups)
    # task_memory_bytes=1: one repeat per unit, units one at a time, and the tree tables walk the
    # rows again instead of keeping the baseline pass's leaves
    for n_jobs, task_memory_bytes in ((2, _core.DEFAULT_TASK_MEMORY_BYTES), (1, 1), (2, 1)):
        baseline, permuted = engine_scores(forest, X, y, perms, groups, n_jobs=n_jobs,
                                           task_memory_bytes=task_memory_bytes)
        assert baseline == reference[0]
        np.testing.assert_array_equal(permuted, reference[1])
    expected_baseline, expected = naive_scores(forest, X, y, perms, groups)
    np.testing.assert_allclose(reference[1], expected, rtol=1e-10, atol=1e-10)


def test_avx512_and_portable_scans_give_identical_bits():
    """The AVX-512 scan (float rows, where the CPU has it) against the portable one, run in a
    process with XPLAIN_FAST_NO_AVX512 set."""
    if not _core.permutation_scan_can_use_avx512():
        pytest.skip("this CPU has no AVX-512: only the portable scan runs here")
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        sys.path.insert(0, {tests!r})
        from test_permutation_engine import scan_workload
        from xplain_fast.permutation._native import avx512_scan_allowed
        assert not avx512_scan_allowed()
        np.save({out!r}, scan_workload())
        """
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "portable.npy")
        code = script.format(tests=os.path.dirname(__file__), out=out)
        subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "XPLAIN_FAST_NO_AVX512": "1"})
        np.testing.assert_array_equal(scan_workload(), np.load(out))


def scan_workload() -> np.ndarray:
    """Scores of float-row forests (both comparisons, NaN rules, rows with NaN) for 1 to 11 repeats."""
    results = []
    for seed, strict in ((1, True), (2, False), (3, True)):
        rng = np.random.default_rng(seed)
        forest = random_forest(rng, n_features=4, n_trees=12, max_nodes=61, nan_rules=True)
        forest = dataclasses.replace(forest, decision="<" if strict else "<=", float32_input=True)
        X = rows_for(forest, rng, 203)  # not a multiple of 16 rows
        y = rng.normal(size=len(X))
        perms = np.array([rng.permutation(len(X)) for _ in range(11)], dtype=np.int64)
        groups = [np.array([j]) for j in range(4)]
        for n_repeats in (1, 5, 11):
            baseline, permuted = engine_scores(forest, X, y, perms[:n_repeats], groups)
            results.append(np.append(baseline, permuted.ravel()))
    return np.concatenate(results)


def test_the_core_names_its_codes_and_checks_its_input():
    """The enums are the core's tables (metric names are scikit-learn's scorer names); functions take
    enum members, not integers; bad input is reported by the core's checks as ValueError."""
    from sklearn.metrics import get_scorer_names

    assert set(_core.Metric.__members__) <= set(get_scorer_names())
    spec = _core.ScoringSpec()
    with pytest.raises(TypeError):
        spec.metrics = [1]
    with pytest.raises(TypeError):
        spec.link = 0
    rng = np.random.default_rng(3)
    forest = random_forest(rng, n_features=3, n_trees=2, max_nodes=9)
    X = rows_for(forest, rng, 20)
    y = rng.normal(size=len(X))
    perms = np.array([rng.permutation(len(X))], dtype=np.int64)
    offsets, columns = np.array([0, 1], dtype=np.int64), np.array([2], dtype=np.int64)
    spec.metrics = [_core.Metric.r2]

    def scores(**changes):
        args = {"value": forest.value, "perms": perms, "group_offsets": offsets, "group_columns": columns,
                "spec": spec, "y": y, **changes}
        return _core.permutation_scores(forest.handle, X=X, **args)

    assert scores()[1].shape == (1, 1, 1)
    bad_spec = _core.ScoringSpec()
    bad_spec.metrics = [_core.Metric.accuracy]
    cases = [
        ({"spec": bad_spec}, "accuracy needs a classifier"),
        ({"spec": _core.ScoringSpec()}, "no metric"),
        ({"y": y[:-1]}, "y has 19 entries, expected one per row"),
        ({"y": None}, "a regressor needs y"),
        ({"sample_weight": np.ones(3)}, "sample_weight has 3 entries"),
        ({"perms": perms[:, :-1]}, "perms must be"),
        ({"perms": perms + len(X)}, "out of range"),
        ({"group_offsets": np.array([0], dtype=np.int64)}, "n_groups \\+ 1 >= 2"),
        ({"group_offsets": np.array([0, 2], dtype=np.int64)}, "end at the number of group columns"),
        ({"group_columns": np.array([3], dtype=np.int64)}, "outside \\[0, 3\\)"),
        ({"value": forest.value[:-1]}, "value must be"),
        ({"task_memory_bytes": 0}, "task_memory_bytes must be positive"),
    ]
    for changes, message in cases:
        with pytest.raises(ValueError, match=message):
            scores(**changes)
    with pytest.raises(ValueError, match="accuracy needs a classifier"):
        _core.forest_scores(forest.handle, forest.value, X, bad_spec, y=y)
