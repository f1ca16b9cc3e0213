"""Slow, obviously-correct oracles for the tests.

Everything here works node by node in plain Python on a Forest, independent of the C++ core:
  * ``predict_forest``     - walk each tree with the Forest's split rule;
  * ``path_value``         - the path-dependent conditional expectation E[f(x) | x_S];
  * ``brute_force_shap``   - Shapley values by enumerating all feature subsets;
  * ``brute_force_interactions`` - Shapley interaction values by subset enumeration;
  * ``brute_force_interventional_shap`` - interventional (background) Shapley values by subsets;
  * ``classic_tree_shap``  - Lundberg et al.'s recursive polynomial-time TreeSHAP (Algorithm 2);
  * ``random_forest``      - random Forests for property tests.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from xplain_fast import _core
from xplain_fast.forest import NAN_AS_ZERO, NAN_DEFAULT, NAN_OR_ZERO_DEFAULT, Forest, concatenate_trees

#: every missing-value rule's stored code
MISSING_RULE_CODES = np.array([int(rule) for rule in _core.MissingRule.__members__.values()], dtype=np.uint8)


def goes_left(forest: Forest, node: int, x: float) -> bool:
    """The Forest split rule, written out case by case."""
    if forest.float32_input:
        x = float(np.float32(x))
    rule = NAN_DEFAULT if forest.missing_rule is None else int(forest.missing_rule[node])
    if math.isnan(x):
        if rule != NAN_AS_ZERO:
            return bool(forest.default_left[node])
        x = 0.0
    elif rule == NAN_OR_ZERO_DEFAULT and abs(x) <= float(np.float32(1e-35)):
        return bool(forest.default_left[node])
    if forest.cat_offset is not None and forest.cat_offset[node] >= 0:
        # LightGBM casts to int first (categorical_truncation): values in (-1, 0) are category 0
        valid = x > -1.0 if forest.categorical_truncation else x >= 0.0
        if not valid or not x < 2**31:
            return False
        code = int(x)  # truncates toward zero
        if code // 32 >= forest.cat_words[node]:
            return False
        return bool((int(forest.cat_bits[forest.cat_offset[node] + code // 32]) >> (code % 32)) & 1)
    thr = forest.threshold[node]
    return x < thr if forest.decision == "<" else x <= thr


def goes_left_rows(forest: Forest, nodes: np.ndarray, x: np.ndarray) -> np.ndarray:
    """:func:`goes_left` for many (node, value) pairs at once, the same cases as NumPy masks."""
    x = np.asarray(x, dtype=np.float64)
    if forest.float32_input:
        x = x.astype(np.float32).astype(np.float64)
    rule = np.zeros(len(nodes), dtype=np.int64) if forest.missing_rule is None else forest.missing_rule[nodes]
    default = forest.default_left[nodes].astype(bool)
    nan = np.isnan(x)
    x = np.where(nan & (rule == NAN_AS_ZERO), 0.0, x)
    take_default = (nan & (rule != NAN_AS_ZERO)) | (
        ~nan & (rule == NAN_OR_ZERO_DEFAULT) & (np.abs(x) <= float(np.float32(1e-35))))
    threshold = forest.threshold[nodes]
    with np.errstate(invalid="ignore"):
        left = x < threshold if forest.decision == "<" else x <= threshold
    if forest.cat_offset is not None:
        for i in np.flatnonzero(forest.cat_offset[nodes] >= 0):
            left[i] = goes_left(forest, int(nodes[i]), float(x[i])) if not take_default[i] else left[i]
    return np.where(take_default, default, left)


def predict_rows(forest: Forest, X: np.ndarray) -> np.ndarray:
    """:func:`predict_forest` with all rows walking a tree together (NumPy, for larger oracles)."""
    X = np.asarray(X, dtype=np.float64)
    out = np.tile(forest.base_value, (len(X), 1))
    W = forest.value.shape[1]
    rows = np.arange(len(X))
    for t in range(forest.n_trees):
        node = np.full(len(X), forest.tree_offset[t], dtype=np.int64)
        active = forest.left[node] >= 0
        while active.any():
            at = node[active]
            go = goes_left_rows(forest, at, X[rows[active], forest.feature[at]])
            node[active] = np.where(go, forest.left[at], forest.right[at])
            active = forest.left[node] >= 0
        k = forest.tree_output[t]
        out[:, k:k + W] += forest.value[node]
    return out


def _zero_fraction(forest: Forest, parent: int, child: int) -> float:
    cover = forest.cover[parent]
    return forest.cover[child] / cover if cover > 0 else 0.5


def predict_forest(forest: Forest, X: np.ndarray) -> np.ndarray:
    out = np.tile(forest.base_value, (len(X), 1))
    W = forest.value.shape[1]
    for r, x in enumerate(X):
        for t in range(forest.n_trees):
            node = forest.tree_offset[t]
            while forest.left[node] >= 0:
                go_left = goes_left(forest, node, x[forest.feature[node]])
                node = forest.left[node] if go_left else forest.right[node]
            k = forest.tree_output[t]
            out[r, k:k + W] += forest.value[node]
    return out


def path_value(forest: Forest, x: np.ndarray, subset: frozenset) -> np.ndarray:
    """E[f(x) | x_S] under the path-dependent (cover-weighted) model of absent features."""
    out = forest.base_value.copy()
    W = forest.value.shape[1]
    for t in range(forest.n_trees):
        acc = np.zeros(W)
        stack = [(int(forest.tree_offset[t]), 1.0)]
        while stack:
            node, weight = stack.pop()
            if forest.left[node] < 0:
                acc += weight * forest.value[node]
                continue
            f = forest.feature[node]
            left, right = int(forest.left[node]), int(forest.right[node])
            if f in subset:
                stack.append((left if goes_left(forest, node, x[f]) else right, weight))
            else:
                stack.append((left, weight * _zero_fraction(forest, node, left)))
                stack.append((right, weight * _zero_fraction(forest, node, right)))
        k = forest.tree_output[t]
        out[k:k + W] += acc
    return out


def _all_subset_values(forest: Forest, x: np.ndarray) -> dict[frozenset, np.ndarray]:
    M = forest.n_features
    return {
        frozenset(s): path_value(forest, x, frozenset(s))
        for size in range(M + 1)
        for s in itertools.combinations(range(M), size)
    }


def shapley_from_values(values: dict[frozenset, np.ndarray], M: int) -> np.ndarray:
    """Shapley values [M, K] of a game given by its value on every subset of the M players."""
    phi = np.zeros((M, np.size(values[frozenset()])))
    for i in range(M):
        others = [j for j in range(M) if j != i]
        for size in range(M):
            weight = math.factorial(size) * math.factorial(M - size - 1) / math.factorial(M)
            for s in itertools.combinations(others, size):
                s = frozenset(s)
                phi[i] += weight * (values[s | {i}] - values[s])
    return phi


def interactions_from_values(values: dict[frozenset, np.ndarray], M: int) -> np.ndarray:
    """Shapley interaction values [M, M, K] (Lundberg et al.: the pairwise value split in half
    off the diagonal; the diagonal is phi_i minus the row's off-diagonal sum)."""
    phi = shapley_from_values(values, M)
    out = np.zeros((M, M, phi.shape[1]))
    for i in range(M):
        for j in range(i + 1, M):
            others = [k for k in range(M) if k not in (i, j)]
            total = np.zeros(phi.shape[1])
            for size in range(M - 1):
                weight = math.factorial(size) * math.factorial(M - size - 2) / math.factorial(M - 1)
                for s in itertools.combinations(others, size):
                    s = frozenset(s)
                    total += weight * (values[s | {i, j}] - values[s | {i}] - values[s | {j}] + values[s])
            out[i, j] = out[j, i] = total / 2
    for i in range(M):
        out[i, i] = phi[i] - (out[i].sum(axis=0) - out[i, i])
    return out


def brute_force_shap(forest: Forest, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(phi [M, K], expected value [K]) by enumerating every subset of the M features."""
    values = _all_subset_values(forest, x)
    return shapley_from_values(values, forest.n_features), values[frozenset()]


def brute_force_interactions(forest: Forest, x: np.ndarray) -> np.ndarray:
    """Path-dependent Shapley interaction values [M, M, K] by subset enumeration."""
    return interactions_from_values(_all_subset_values(forest, x), forest.n_features)


def classic_tree_shap(forest: Forest, x: np.ndarray) -> np.ndarray:
    """phi [M, K] by the recursive TreeSHAP of Lundberg et al. (2018), Algorithm 2."""
    M, W = forest.n_features, forest.value.shape[1]
    phi = np.zeros((M, forest.n_outputs))

    def extend(path, pz, po, pi):
        path = [list(e) for e in path] + [[pi, pz, po, 1.0 if not path else 0.0]]
        d = len(path) - 1
        for i in range(d - 1, -1, -1):
            path[i + 1][3] += po * path[i][3] * (i + 1) / (d + 1)
            path[i][3] = pz * path[i][3] * (d - i) / (d + 1)
        return path

    def unwind(path, i):
        path = [list(e) for e in path]
        d = len(path) - 1
        po, pz = path[i][2], path[i][1]
        n = path[d][3]
        for j in range(d - 1, -1, -1):
            if po != 0:
                tmp = path[j][3]
                path[j][3] = n * (d + 1) / ((j + 1) * po)
                n = tmp - path[j][3] * pz * (d - j) / (d + 1)
            else:
                path[j][3] = path[j][3] * (d + 1) / (pz * (d - j))
        for j in range(i, d):
            path[j][0:3] = path[j + 1][0:3]
        return path[:-1]

    def unwound_sum(path, i):
        d = len(path) - 1
        po, pz = path[i][2], path[i][1]
        n, total = path[d][3], 0.0
        for j in range(d - 1, -1, -1):
            if po != 0:
                tmp = n * (d + 1) / ((j + 1) * po)
                total += tmp
                n = path[j][3] - tmp * pz * (d - j) / (d + 1)
            else:
                total += path[j][3] / (pz * (d - j) / (d + 1))
        return total

    def recurse(node, path, pz, po, pi, out):
        path = extend(path, pz, po, pi)
        if forest.left[node] < 0:
            for i in range(1, len(path)):
                w = unwound_sum(path, i)
                phi[path[i][0], out:out + W] += w * (path[i][2] - path[i][1]) * forest.value[node]
            return
        f = int(forest.feature[node])
        left, right = int(forest.left[node]), int(forest.right[node])
        hot, cold = (left, right) if goes_left(forest, node, x[f]) else (right, left)
        iz, io = 1.0, 1.0
        k = next((k for k in range(1, len(path)) if path[k][0] == f), None)
        if k is not None:
            iz, io = path[k][1], path[k][2]
            path = unwind(path, k)
        recurse(hot, path, iz * _zero_fraction(forest, node, hot), io, f, out)
        recurse(cold, path, iz * _zero_fraction(forest, node, cold), 0.0, f, out)

    for t in range(forest.n_trees):
        recurse(int(forest.tree_offset[t]), [], 1.0, 1.0, -1, int(forest.tree_output[t]))
    return phi


def random_forest(rng: np.random.Generator, *, n_features: int, n_trees: int, max_nodes: int,
                  n_outputs: int = 1, vector_leaves: bool = False, nan_rules: bool = False,
                  zero_cover: bool = False, categorical: bool = False, chain: bool = False) -> Forest:
    """A random Forest with repeated features and random covers; ``chain`` grows deep, thin trees
    (always splitting the newest node), so depth is about max_nodes / 2."""
    trees = []
    for t in range(n_trees):
        left, right, feature, threshold, cover = [-1], [-1], [0], [0.0], [1.0]
        frontier = [0]
        while frontier and len(left) + 2 <= max_nodes:
            node = frontier.pop(-1 if chain else int(rng.integers(len(frontier))))
            left[node], right[node] = len(left), len(left) + 1
            feature[node] = int(rng.integers(n_features))
            threshold[node] = float(np.round(rng.normal(), 1))
            share = rng.uniform(0.05, 0.95)
            for child_share in (share, 1 - share):
                left.append(-1)
                right.append(-1)
                feature.append(0)
                threshold.append(0.0)
                cover.append(cover[node] * child_share)
                frontier.append(len(left) - 1)
        n = len(left)
        cover = np.array(cover) * rng.integers(1, 1000)
        if zero_cover and n > 1:
            cover[rng.integers(n)] = 0.0
        width = n_outputs if vector_leaves else 1
        tree = {
            "left": left, "right": right, "feature": feature, "threshold": threshold,
            "default_left": rng.integers(0, 2, n), "cover": cover,
            "value": rng.normal(size=(n, width)),
            "output": 0 if vector_leaves else t % n_outputs,
        }
        if nan_rules:
            tree["missing_rule"] = MISSING_RULE_CODES[rng.integers(0, len(MISSING_RULE_CODES), n)]
        if categorical:
            internal = [i for i in range(n) if left[i] >= 0]
            picks = [i for i in internal if rng.random() < 0.3]
            tree["categories"] = {i: rng.choice(6, size=int(rng.integers(1, 4)), replace=False) for i in picks}
        trees.append(tree)
    return concatenate_trees(trees, base_value=rng.normal(size=n_outputs), n_features=n_features)


def interventional_value(forest: Forest, x: np.ndarray, background: np.ndarray,
                         subset: frozenset) -> np.ndarray:
    """v(S) = mean over background rows b of f(x_S, b_S̄), evaluated on the hybrid rows."""
    hybrid = np.array(background, dtype=np.float64, copy=True)
    cols = sorted(subset)
    hybrid[:, cols] = x[cols]
    return predict_forest(forest, hybrid).mean(axis=0)


def _interventional_values(forest: Forest, x: np.ndarray, background: np.ndarray) -> dict[frozenset, np.ndarray]:
    M = forest.n_features
    return {
        frozenset(s): interventional_value(forest, x, background, frozenset(s))
        for size in range(M + 1)
        for s in itertools.combinations(range(M), size)
    }


def brute_force_interventional_shap(forest: Forest, x: np.ndarray,
                                    background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(phi [M, K], expected value [K]) of the interventional game by subset enumeration."""
    values = _interventional_values(forest, x, background)
    return shapley_from_values(values, forest.n_features), values[frozenset()]


def brute_force_interventional_interactions(forest: Forest, x: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Shapley interaction values [M, M, K] of the interventional game by subset enumeration."""
    return interactions_from_values(_interventional_values(forest, x, background), forest.n_features)
