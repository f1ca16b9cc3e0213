"""LightGBM models -> Forest.

Accepts a :class:`lightgbm.Booster`, a fitted scikit-learn wrapper (``LGBMRegressor``,
``LGBMClassifier``, ``LGBMRanker``, any ``LGBMModel``) or the path of a model text file written by
``Booster.save_model``. The trees are read from LightGBM's model text format
(``Booster.model_to_string()``), which stores each per-node field of a tree on one line: every field
is converted for all trees at once and the Forest is built with array operations across trees.

Conventions (they reproduce ``Booster.predict(X, raw_score=True)``):

* Leaf values already include the learning rate; ``boost_from_average`` is folded into the first
  tree and a LightGBM model stores no other initial score, so ``base_value`` is 0.
* Random-forest mode (``boosting="rf"``, ``average_output`` in the model): every leaf is divided
  by the number of iterations, so the raw output is the trees' mean, the margin ``predict`` puts
  through the link. (``predict(X, raw_score=True)`` returns the trees' *sum* for these models.)
* Numerical splits send ``x <= threshold`` left, compared in float64. The per-node missing-value
  handling follows ``missing_type``: ``None`` compares NaN as 0.0, ``Zero`` sends NaN and zero the
  default way, ``NaN`` sends NaN the default way. LightGBM's predictor reads any
  ``|x| <= 1e-35f`` as 0.0 before the trees; the thresholds at the edges of that band (where
  LightGBM puts its zero bin) are moved so that raw values in the band go where 0.0 goes.
* Categorical splits send ``int(x)`` left if it is in the split's category set; NaN and negative
  values go right. pandas ``category`` columns are explained through their codes, which equal
  LightGBM's only when the frame has the categories (in the same order) the model was trained on.
* Iterations: like ``predict``'s default, the trees up to ``best_iteration`` when the booster has
  one (early stopping), else all of them; ``num_iteration`` overrides it with predict's meaning.
* Each tree's nodes are numbered in preorder (a node, its left subtree, then its right subtree).
* ``cover`` is LightGBM's per-node data count (``internal_count`` / ``leaf_count``) and ``gain``
  its ``split_gain``, a float32 that the text format keeps to 6 significant digits.
"""

from __future__ import annotations

import os
import warnings
from typing import Any, NamedTuple

import lightgbm
import numpy as np

from ..forest import NAN_AS_ZERO, NAN_DEFAULT, NAN_OR_ZERO_DEFAULT, Forest

#: LightGBM's kZeroThreshold (1e-35f): its predictor reads any |x| <= this as 0.0
_ZERO_THRESHOLD = float(np.float32(1e-35))
#: LightGBM's Common::AvoidInf writes infinite thresholds as +-1e300 (older model files, the JSON dump)
_CLAMPED_INFINITY = 1e300
#: decision_type bits (include/LightGBM/tree.h); bits 2-3 hold the missing type
_CATEGORICAL_MASK = 1
_DEFAULT_LEFT_MASK = 2
#: missing type 0 (None), 1 (Zero), 2 (NaN) -> our missing rule
_MISSING_RULES = np.array([NAN_AS_ZERO, NAN_OR_ZERO_DEFAULT, NAN_DEFAULT], dtype=np.uint8)
_EXP_OBJECTIVES = ("poisson", "gamma", "tweedie")
_LOGISTIC_OBJECTIVES = ("binary", "cross_entropy", "xentropy", "multiclassova")


def to_forest(model: Any, *, num_iteration: int | None = None) -> Forest:
    """Convert a LightGBM model; see :func:`xplain_fast.to_forest`.

    Parameters
    ----------
    model : lightgbm.Booster, lightgbm.LGBMModel, str or os.PathLike
        A booster, a fitted scikit-learn wrapper or the path of a LightGBM model text file.
    num_iteration : int, optional
        As in ``Booster.predict``: None uses the best iteration if the booster has one, else all
        iterations; a value <= 0 uses all iterations.

    Raises
    ------
    TypeError
        For something that is not a LightGBM model, or a linear-tree model.
    ValueError
        For an unfitted wrapper or a model file that is missing or cannot be read.
    """
    booster = _booster_of(model)
    if num_iteration is None:
        num_iteration = booster.best_iteration
    if _param_is_true(booster.params.get("linear_tree")):
        raise _linear_tree_error()
    return _forest_from_text(booster.model_to_string(num_iteration=num_iteration), booster.num_feature(),
                             booster.feature_name())


def _forest_from_text(text: str, n_features: int, names: list[str]) -> Forest:
    """The Forest of a LightGBM model text (as ``model_to_string`` writes it)."""
    header, trees, _ = _read_model_text(text)
    if not trees:
        raise ValueError("the LightGBM model has no trees")
    per_iteration = int(header.get("num_tree_per_iteration", header.get("num_class", "1")))
    nodes = _parse_trees(trees, n_features)
    arrays = _forest_arrays(nodes, _preorder(nodes))
    if "average_output" in header:  # random forest mode: LightGBM sums the trees, then divides
        divisor = len(trees) // per_iteration
        arrays["summed_value"] = arrays["value"]
        arrays["value"] = arrays["summed_value"] * (1.0 / divisor)
        arrays["divisor"] = divisor
    link = _link(header.get("objective", ""))
    return Forest(
        **arrays,
        tree_output=np.arange(len(trees)) % per_iteration,
        base_value=np.zeros(per_iteration),
        n_features=n_features,
        decision="<=",
        float32_input=False,
        categorical_truncation=True,  # LightGBM casts a categorical value to int before the lookup
        link=link,
        class_rule="argmax" if link in ("logistic", "softmax") else None,
        feature_names=None if not names or names == _placeholder_names(n_features) else names,
        source="lightgbm",
    )


def _booster_of(model: Any) -> lightgbm.Booster:
    if isinstance(model, lightgbm.Booster):
        return model
    if isinstance(model, lightgbm.LGBMModel):
        if not model.__sklearn_is_fitted__():
            raise ValueError(
                f"{type(model).__name__} is not fitted yet; call fit before explaining it")
        return model.booster_
    if isinstance(model, str | os.PathLike):
        return _load_file(model)
    raise TypeError(
        f"cannot convert a {type(model).__module__}.{type(model).__name__}: expected a "
        "lightgbm.Booster, a fitted LGBMModel (LGBMRegressor, LGBMClassifier, LGBMRanker) or the "
        "path of a LightGBM model text file")


def _load_file(path: str | os.PathLike) -> lightgbm.Booster:
    name = os.fspath(path)
    if not os.path.isfile(name):
        what = "is a directory" if os.path.isdir(name) else "does not exist"
        raise ValueError(f"LightGBM model file {name!r} {what}")
    problem = (f"cannot read a LightGBM model from {name!r} (expected a text file written by "
               "Booster.save_model)")
    try:
        with open(name, "rb") as f:
            data = f.read()
        # LightGBM's own loader terminates the process on some malformed files: check first
        _check_model_text(data)
        return lightgbm.Booster(model_file=name)
    except TypeError:
        raise  # a linear-tree model
    except (lightgbm.basic.LightGBMError, OSError, ValueError) as exc:
        raise ValueError(f"{problem}: {exc}") from exc


def _param_is_true(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "+")
    return bool(value)


def _linear_tree_error() -> TypeError:
    return TypeError(
        "LightGBM linear-tree models (linear_tree=True) are not supported: their leaves hold "
        "linear models of X, not constants. Train with linear_tree=False.")


def _link(objective: str) -> str:
    """Our name for the function LightGBM applies to the raw output (see ObjectiveFunction)."""
    words = objective.split()
    name = words[0] if words else ""
    params = dict(w.split(":", 1) for w in words[1:] if ":" in w)
    if name == "multiclass":
        return "softmax"
    if name in _LOGISTIC_OBJECTIVES:
        # probability = 1 / (1 + exp(-sigmoid * raw)); only sigmoid = 1 is the plain logistic link
        return "logistic" if float(params.get("sigmoid", "1")) == 1.0 else "identity"
    if name in _EXP_OBJECTIVES:
        return "exp"
    return "identity"


# --- the model text format ----------------------------------------------------------------------
# Every model is read from this format. Model files are also checked before LightGBM reads them: its
# loader aborts or crashes the process on some malformed files instead of raising.

_REQUIRED_HEADER = ("num_class", "label_index", "max_feature_idx", "feature_names", "feature_infos")


def _read_model_text(text: str) -> tuple[dict[str, str], list[dict[str, str]], list[str]]:
    """Header keys, one key -> value dict per tree, and the lines after "end of trees"."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "tree":
        raise ValueError("it does not start with the line 'tree'")
    header: dict[str, str] = {}
    trees: list[dict[str, str]] = []
    in_tree = False  # a tree is a run of key=value lines ended by an empty line
    for i, line in enumerate(lines):
        if line.strip() == "end of trees":
            return header, trees, lines[i + 1:]
        if line.startswith("Tree="):
            trees.append({})
            in_tree = True
            continue
        key, sep, val = line.partition("=")
        if not trees:
            if sep:
                header[key.strip()] = val.strip()
            elif line.strip():
                header[line.strip()] = ""  # a bare flag such as "average_output"
        elif not line.strip():
            in_tree = False
        elif not (in_tree and sep):
            raise ValueError(f"unexpected line {line[:80]!r} in tree {len(trees) - 1}")
        else:
            # _field counts numbers by the spaces between them; LightGBM skips repeated spaces
            trees[-1][key.strip()] = " ".join(val.split()) if "  " in val else val.strip()
    raise ValueError("it has no 'end of trees' line (is it truncated?)")


def _check_model_text(data: bytes) -> None:
    """Raise ValueError, saying what is wrong, if ``data`` is not a well-formed model text."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"it is not UTF-8 text ({exc})") from None
    header, trees, rest = _read_model_text(text)
    for key in _REQUIRED_HEADER:
        if key not in header:
            raise ValueError(f"its header has no {key}")
    try:
        n_features = int(header["max_feature_idx"]) + 1
        per_iteration = int(header.get("num_tree_per_iteration", header["num_class"]))
    except ValueError as exc:
        raise ValueError(f"its header is malformed ({exc})") from None
    if n_features < 1 or per_iteration < 1:
        raise ValueError("its header has a non-positive max_feature_idx + 1 or tree count")
    if len(header["feature_names"].split()) != n_features:
        raise ValueError("feature_names does not have max_feature_idx + 1 names")
    if not trees or len(trees) % per_iteration:
        raise ValueError(f"it has {len(trees)} trees, not a positive multiple of {per_iteration}")
    nodes = _parse_trees(trees, n_features)
    _preorder(nodes)  # a binary tree over its nodes
    for key, counts in (("leaf_weight", nodes.n_leaves), ("internal_value", nodes.n_leaves - 1),
                        ("internal_weight", nodes.n_leaves - 1)):
        _field(trees, key, counts, np.float64)  # read by LightGBM, not used here
    if "tree_sizes" in header:
        _check_tree_sizes(data, header["tree_sizes"])
    if "parameters:" in rest and "end of parameters" not in rest[rest.index("parameters:"):]:
        raise ValueError("its parameters section has no end (is it truncated?)")
    if "parameters:" in rest:
        start = rest.index("parameters:") + 1
        for line in rest[start:rest.index("end of parameters", start)]:
            if line and not (line.startswith("[") and line.endswith("]") and ": " in line):
                raise ValueError(f"malformed parameter line {line[:80]!r}")


def _check_tree_sizes(data: bytes, sizes_text: str) -> None:
    """LightGBM finds tree k at the byte offset given by the sizes of trees 0..k-1."""
    try:
        sizes = [int(v) for v in sizes_text.split()]
    except ValueError:
        raise ValueError("tree_sizes is malformed") from None
    starts: list[int] = []
    pos = 0
    for line in data.split(b"\n"):
        if line.startswith(b"Tree="):
            starts.append(pos)
        elif line.strip() == b"end of trees":
            break
        pos += len(line) + 1
    if len(sizes) != len(starts) or any(
            b - a != size for a, b, size in zip(starts, starts[1:], sizes, strict=False)):
        raise ValueError("tree_sizes does not match the trees in the file")


# --- all trees at once ----------------------------------------------------------------------------
# Per-tree Python work costs more than the arrays of a few dozen nodes, so each field is converted
# for all trees with one NumPy call and the trees are renumbered together. Nodes are first addressed
# by "stored ids": the internal nodes of all trees (tree by tree, LightGBM's numbering), then their
# leaves likewise.


class _Trees(NamedTuple):
    """The nodes of all trees as LightGBM stores them, checked to be consistent."""

    n_leaves: np.ndarray  # per tree
    roots: np.ndarray  # per tree: stored id of the root (a leaf for a single-leaf tree)
    # per internal node
    feature: np.ndarray
    threshold: np.ndarray  # for a categorical split, the index of its bitset
    decision_type: np.ndarray
    left: np.ndarray  # stored ids of the children
    right: np.ndarray
    internal_count: np.ndarray
    gain: np.ndarray
    cat_start: np.ndarray  # categorical splits: their bitset is cat_words[cat_start:cat_end]
    cat_end: np.ndarray
    # per leaf
    leaf_value: np.ndarray
    leaf_count: np.ndarray
    # all trees' bitsets, one after another
    cat_words: np.ndarray


def _malformed(tree: int, what: str) -> ValueError:
    """The error for a model text whose tree ``tree`` is inconsistent."""
    return ValueError(f"tree {tree} is malformed ({what})")


def _first(bad: np.ndarray) -> int:
    """Index of the first True entry (of an array that has one)."""
    return int(np.argmax(bad))


def _starts(counts: np.ndarray) -> np.ndarray:
    """Where each run begins when runs of ``counts`` items are laid end to end."""
    return np.cumsum(counts) - counts


def _numbers(text: str, dtype: type) -> np.ndarray | None:
    """The space-separated numbers in ``text``, converted in C; None if a token is not a number."""
    if dtype is np.int64 and (text.endswith(("-", "+")) or "- " in text or "+ " in text):
        return None  # NumPy reads a lone sign as the integer 0
    with warnings.catch_warnings():
        # NumPy 1.x warns and stops at a token that is not a number; NumPy 2 raises
        warnings.simplefilter("error", DeprecationWarning)
        try:
            return np.fromstring(text, dtype=dtype, sep=" ")
        except (ValueError, DeprecationWarning):
            return None


def _field(trees: list[dict[str, str]], key: str, counts: np.ndarray, dtype: type,
           required: bool = False) -> np.ndarray:
    """The numbers of one field of all trees, concatenated: ``counts[t]`` of them from tree t.

    An absent optional field reads as zeros, as LightGBM reads it. Raises ValueError naming the first
    tree whose field is absent (if required), has another count, or holds something else.
    """
    texts = [tree.get(key, "") for tree in trees]
    found = np.array([text.count(" ") + 1 if text else 0 for text in texts], dtype=np.int64)
    absent = (found == 0) & (counts > 0)
    if required and absent.any():
        raise _malformed(_first(absent), f"it has no {key}")
    wrong = (found != counts) & ~absent
    values = None if wrong.any() else _numbers(" ".join(filter(None, texts)), dtype)
    if values is None or values.size != found.sum():
        for t, text in enumerate(texts):
            numbers = _numbers(text, dtype)
            if wrong[t] or numbers is None or numbers.size != found[t]:
                raise _malformed(t, f"{key} is not {counts[t]} numbers")
    if not absent.any():
        return values
    every = np.zeros(int(counts.sum()), dtype=dtype)
    every[np.repeat(~absent, counts)] = values
    return every


def _parse_trees(trees: list[dict[str, str]], n_features: int) -> _Trees:
    """Read the per-node fields of the text trees (see LightGBM's ``Tree::ToString``).

    Raises ValueError for inconsistent fields, TypeError for linear trees.
    """
    if any(tree.get("is_linear", "0") not in ("0", "") for tree in trees):
        raise _linear_tree_error()
    per_tree = np.ones(len(trees), dtype=np.int64)
    n_leaves = _field(trees, "num_leaves", per_tree, np.int64, required=True)
    n_cat = _field(trees, "num_cat", per_tree, np.int64, required=True)
    if (n_leaves < 1).any():
        raise _malformed(_first(n_leaves < 1), "num_leaves < 1")
    n_internal = n_leaves - 1
    # read before anything is allocated per node: these bound num_leaves by the length of the text
    feature = _field(trees, "split_feature", n_internal, np.int64, required=True)
    leaf_value = _field(trees, "leaf_value", n_leaves, np.float64, required=True)
    tree_of = np.repeat(np.arange(len(trees)), n_internal)  # tree of each internal node

    threshold = _field(trees, "threshold", n_internal, np.float64, required=True)
    decision_type = _field(trees, "decision_type", n_internal, np.int64)
    bad = (decision_type < 0) | (decision_type > 15) | (((decision_type >> 2) & 3) == 3)
    if bad.any():
        raise _malformed(int(tree_of[_first(bad)]), f"unknown decision_type {decision_type[_first(bad)]}")
    bad = (feature < 0) | (feature >= n_features)
    if bad.any():
        raise _malformed(int(tree_of[_first(bad)]), f"split_feature {feature[_first(bad)]} is out of range")

    internal_start = _starts(n_internal)[tree_of]
    leaf_start = int(n_internal.sum()) + _starts(n_leaves)
    children = []
    for key in ("left_child", "right_child"):
        child = _field(trees, key, n_internal, np.int64, required=True)
        # a child is an internal node (never the root) or ~leaf
        bad = (child == 0) | (child >= n_internal[tree_of]) | (~child >= n_leaves[tree_of])
        if bad.any():
            raise _malformed(int(tree_of[_first(bad)]), f"child index {child[_first(bad)]} is out of range")
        children.append(np.where(child > 0, internal_start + child, leaf_start[tree_of] + ~child))

    cat_start, cat_end, cat_words = _bitset_ranges(trees, n_cat, threshold, decision_type, tree_of)
    return _Trees(
        n_leaves=n_leaves,
        roots=np.where(n_internal > 0, _starts(n_internal), leaf_start),
        feature=feature,
        threshold=threshold,
        decision_type=decision_type,
        left=children[0],
        right=children[1],
        internal_count=_field(trees, "internal_count", n_internal, np.int64),
        gain=_as_float32(_field(trees, "split_gain", n_internal, np.float64)),
        cat_start=cat_start,
        cat_end=cat_end,
        leaf_value=leaf_value,
        leaf_count=_field(trees, "leaf_count", n_leaves, np.int64),
        cat_words=cat_words,
    )


def _as_float32(values: np.ndarray) -> np.ndarray:
    """float64 -> float32 -> float64, as LightGBM reads its float32 fields (split gains)."""
    with np.errstate(over="ignore"):  # a too large value becomes inf there too
        return values.astype(np.float32).astype(np.float64)


def _bitset_ranges(trees: list[dict[str, str]], n_cat: np.ndarray, threshold: np.ndarray,
                   decision_type: np.ndarray, tree_of: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where each categorical split's bitset lies in the words of all trees (0, 0 for other splits).

    Tree t has ``num_cat`` bitsets: bitset c is ``cat_threshold[cat_boundaries[c]:cat_boundaries[c+1]]``
    (32-bit words, category k is bit k % 32 of word k // 32), and a categorical split's threshold is c.
    """
    n_bounds = np.where(n_cat > 0, n_cat + 1, 0)  # LightGBM reads num_cat <= 0 as no bitsets
    bounds = _field(trees, "cat_boundaries", n_bounds, np.int64, required=True)
    tree_of_bound = np.repeat(np.arange(len(trees)), n_bounds)
    bad = bounds < 0
    bad[1:] |= (bounds[1:] < bounds[:-1]) & (tree_of_bound[1:] == tree_of_bound[:-1])
    if bad.any():
        raise _malformed(int(tree_of_bound[_first(bad)]), "cat_boundaries is not sorted")
    bound_start = _starts(n_bounds)
    n_words = np.zeros(len(trees), dtype=np.int64)  # the last boundary of each tree
    n_words[n_bounds > 0] = bounds[(bound_start + n_bounds - 1)[n_bounds > 0]]
    words = _field(trees, "cat_threshold", n_words, np.int64, required=True).astype(np.uint32)

    categorical = (decision_type & _CATEGORICAL_MASK) != 0
    index = np.where(categorical & np.isfinite(threshold), np.trunc(threshold), -1.0)  # LightGBM: int(threshold)
    bad = categorical & ((index < 0) | (index >= n_cat[tree_of]))
    if bad.any():
        node = _first(bad)
        raise _malformed(int(tree_of[node]), f"categorical split refers to bitset {threshold[node]} of "
                                             f"{n_cat[tree_of[node]]}")
    first = bound_start[tree_of[categorical]] + index[categorical].astype(np.int64)
    word_start = _starts(n_words)[tree_of[categorical]]
    cat_start = np.zeros(threshold.size, dtype=np.int64)
    cat_end = np.zeros(threshold.size, dtype=np.int64)
    cat_start[categorical] = word_start + bounds[first]
    cat_end[categorical] = word_start + bounds[first + 1]
    return cat_start, cat_end, words


def _preorder(nodes: _Trees) -> np.ndarray:
    """The Forest index of each stored node: trees one after another, each numbered in preorder.

    Raises ValueError if a tree is not a binary tree over its nodes (one reached twice or never).
    """
    n_internal = nodes.left.size
    n_nodes = n_internal + nodes.leaf_value.size
    levels = _levels(nodes, n_nodes)
    size = np.ones(n_nodes, dtype=np.int64)  # nodes in each subtree, summed from the deepest level up
    for level in reversed(levels):
        parents = level[level < n_internal]
        size[parents] += size[nodes.left[parents]] + size[nodes.right[parents]]
    tree_size = 2 * nodes.n_leaves - 1
    position = np.empty(n_nodes, dtype=np.int64)
    position[nodes.roots] = _starts(tree_size)
    for level in levels:  # the left subtree follows its parent, the right subtree follows the left
        parents = level[level < n_internal]
        left = nodes.left[parents]
        position[left] = position[parents] + 1
        position[nodes.right[parents]] = position[parents] + 1 + size[left]
    return position


def _levels(nodes: _Trees, n_nodes: int) -> list[np.ndarray]:
    """The stored ids of all trees' nodes level by level from the roots, each node exactly once."""
    n_internal = nodes.left.size
    levels = []
    level = nodes.roots
    reached = 0
    while level.size and reached <= n_nodes:  # more would mean a cycle
        levels.append(level)
        reached += level.size
        parents = level[level < n_internal]
        level = np.concatenate([nodes.left[parents], nodes.right[parents]])
    times = np.bincount(np.concatenate(levels), minlength=n_nodes)
    if reached != n_nodes or times.max() > 1:
        tree_of = np.concatenate([np.repeat(np.arange(nodes.n_leaves.size), nodes.n_leaves - 1),
                                  np.repeat(np.arange(nodes.n_leaves.size), nodes.n_leaves)])
        raise _malformed(int(tree_of[_first(times != 1)]), "a node is reached twice or never from the root")
    return levels


def _placeholder_names(n_features: int) -> list[str]:
    """The names LightGBM gives the columns of a model trained without any."""
    return [f"Column_{j}" for j in range(n_features)]


def _forest_arrays(nodes: _Trees, position: np.ndarray) -> dict[str, np.ndarray]:
    """The Forest's node arrays."""
    n_internal = nodes.left.size
    n_nodes = position.size
    internal, leaf = position[:n_internal], position[n_internal:]
    categorical = (nodes.decision_type & _CATEGORICAL_MASK) != 0
    numerical = ~categorical
    arrays = {
        "left": np.full(n_nodes, -1, dtype=np.int64),
        "right": np.full(n_nodes, -1, dtype=np.int64),
        "feature": np.full(n_nodes, -1, dtype=np.int64),
        "threshold": np.zeros(n_nodes),
        "default_left": np.zeros(n_nodes, dtype=np.uint8),
        "missing_rule": np.full(n_nodes, NAN_DEFAULT, dtype=np.uint8),  # categorical: NaN goes right
        "value": np.zeros(n_nodes),
        "cover": np.empty(n_nodes),
        "gain": np.zeros(n_nodes),
        "tree_offset": np.concatenate([[0], np.cumsum(2 * nodes.n_leaves - 1)]),  # every node is reached
    }
    arrays["left"][internal] = position[nodes.left]
    arrays["right"][internal] = position[nodes.right]
    arrays["feature"][internal] = nodes.feature
    arrays["threshold"][internal[numerical]] = _effective_thresholds(nodes.threshold[numerical])
    decision = nodes.decision_type[numerical]
    arrays["default_left"][internal[numerical]] = (decision & _DEFAULT_LEFT_MASK) != 0
    arrays["missing_rule"][internal[numerical]] = _MISSING_RULES[(decision >> 2) & 3]
    arrays["value"][leaf] = nodes.leaf_value
    arrays["cover"][internal] = nodes.internal_count
    arrays["cover"][leaf] = nodes.leaf_count
    arrays["gain"][internal] = nodes.gain
    if categorical.any():
        arrays.update(_category_arrays(internal[categorical], nodes.cat_start[categorical],
                                       nodes.cat_end[categorical], nodes.cat_words, n_nodes))
    return arrays


def _effective_thresholds(threshold: np.ndarray) -> np.ndarray:
    """The thresholds that send raw x where LightGBM sends x after reading |x| <= 1e-35f as 0.

    Only thresholds inside that band change (LightGBM puts zero-bin boundaries at its edges):
    below zero, the whole band goes right; at or above zero, it goes left. Also reads +-1e300 as
    +-inf (a split of NaN against every number has threshold +inf, and +inf itself goes left there).
    """
    effective = np.where(np.abs(threshold) >= _CLAMPED_INFINITY, np.copysign(np.inf, threshold), threshold)
    effective[(-_ZERO_THRESHOLD <= threshold) & (threshold < 0.0)] = np.nextafter(-_ZERO_THRESHOLD, -np.inf)
    effective[(0.0 <= threshold) & (threshold < _ZERO_THRESHOLD)] = _ZERO_THRESHOLD
    return effective


def _category_arrays(nodes: np.ndarray, start: np.ndarray, end: np.ndarray, words: np.ndarray,
                     n_nodes: int) -> dict[str, np.ndarray]:
    """cat_offset / cat_words / cat_bits for categorical ``nodes`` (Forest indices) whose LightGBM
    bitsets are ``words[start:end]``.

    The layout is that of :func:`xplain_fast.forest.category_bitsets` (bitsets in node order, each
    without trailing zero words but at least one word long), built from LightGBM's bitsets at once
    instead of from one category list per node.
    """
    order = np.argsort(nodes)
    nodes, start, length = nodes[order], start[order], (end - start)[order]
    owner = np.repeat(np.arange(nodes.size), length)  # node of each word
    rank = np.arange(owner.size) - np.repeat(_starts(length), length)  # word index in its bitset
    word = words[start[owner] + rank]
    used = word != 0
    n_words = np.ones(nodes.size, dtype=np.int64)
    np.maximum.at(n_words, owner[used], rank[used] + 1)
    offset = _starts(n_words)
    cat_bits = np.zeros(int(n_words.sum()), dtype=np.uint32)
    cat_bits[offset[owner[used]] + rank[used]] = word[used]
    cat_offset = np.full(n_nodes, -1, dtype=np.int64)
    cat_offset[nodes] = offset
    cat_words = np.zeros(n_nodes, dtype=np.int32)
    cat_words[nodes] = n_words
    return {"cat_offset": cat_offset, "cat_words": cat_words, "cat_bits": cat_bits}
