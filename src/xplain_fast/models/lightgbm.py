"""LightGBM models -> Forest.

Accepts a :class:`lightgbm.Booster`, a fitted scikit-learn wrapper (``LGBMRegressor``,
``LGBMClassifier``, ``LGBMRanker``, any ``LGBMModel``) or the path of a model text file written by
``Booster.save_model``. The trees are read from ``Booster.dump_model()``.

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
* ``cover`` is LightGBM's per-node data count (``internal_count`` / ``leaf_count``) and ``gain``
  its ``split_gain``.
"""

from __future__ import annotations

import os
import re
from typing import Any

import lightgbm
import numpy as np

from ..forest import NAN_AS_ZERO, NAN_DEFAULT, NAN_OR_ZERO_DEFAULT, Forest, concatenate_trees

#: LightGBM's kZeroThreshold (1e-35f): its predictor reads any |x| <= this as 0.0
_ZERO_THRESHOLD = float(np.float32(1e-35))
#: dump_model writes infinite thresholds as +-1e300
_JSON_INFINITY = 1e300
_MISSING_RULES = {"None": NAN_AS_ZERO, "Zero": NAN_OR_ZERO_DEFAULT, "NaN": NAN_DEFAULT}
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
    try:
        dump = booster.dump_model(num_iteration=num_iteration)
    except RecursionError:
        # dump_model parses a nested JSON document, which Python's json module cannot do for trees
        # deeper than about the recursion limit; the text format is flat.
        dump = _dump_from_text(booster.model_to_string(num_iteration=num_iteration))
    tree_info = dump["tree_info"]
    if not tree_info:
        raise ValueError("the LightGBM model has no trees")
    per_iteration = int(dump.get("num_tree_per_iteration", 1))
    scale = 1.0
    if dump.get("average_output", False):
        scale = 1.0 / (len(tree_info) // per_iteration)
    trees = []
    for i, info in enumerate(tree_info):
        tree = _convert_tree(info["tree_structure"], scale)
        tree["output"] = i % per_iteration
        trees.append(tree)
    names = booster.feature_name()
    return concatenate_trees(
        trees,
        base_value=np.zeros(per_iteration),
        n_features=booster.num_feature(),
        decision="<=",
        float32_input=False,
        categorical_truncation=True,  # LightGBM casts a categorical value to int before the lookup
        link=_link(str(dump.get("objective", ""))),
        feature_names=names if names else None,
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


def _effective_threshold(threshold: float) -> float:
    """The threshold that sends raw x where LightGBM sends x after reading |x| <= 1e-35f as 0.

    Only thresholds inside that band change (LightGBM puts zero-bin boundaries at its edges):
    below zero, the whole band goes right; at or above zero, it goes left. Also undoes the JSON
    dump's clamping of infinite thresholds to +-1e300 (a split of NaN against every number has
    threshold +inf, and +inf itself goes left there).
    """
    if abs(threshold) >= _JSON_INFINITY:
        return float(np.copysign(np.inf, threshold))
    if -_ZERO_THRESHOLD <= threshold < 0.0:
        return float(np.nextafter(-_ZERO_THRESHOLD, -np.inf))
    if 0.0 <= threshold < _ZERO_THRESHOLD:
        return _ZERO_THRESHOLD
    return threshold


def _convert_tree(root: dict, scale: float) -> dict:
    """One dumped tree (nested dicts) -> per-tree arrays, nodes numbered in preorder.

    Iterative, so the depth of a tree is not limited by Python's recursion limit.
    """
    left: list[int] = []
    right: list[int] = []
    feature: list[int] = []
    threshold: list[float] = []
    default_left: list[int] = []
    missing_rule: list[int] = []
    value: list[float] = []
    cover: list[float] = []
    gain: list[float] = []
    categories: dict[int, list[int]] = {}
    # (node dict, parent's local index or -1, goes to the parent's left slot)
    stack: list[tuple[dict, int, bool]] = [(root, -1, True)]
    seen: set[int] = set()
    while stack:
        node, parent, is_left = stack.pop()
        if id(node) in seen:
            raise ValueError("malformed LightGBM tree: a node is reached twice")
        seen.add(id(node))
        index = len(left)
        if parent >= 0:
            (left if is_left else right)[parent] = index
        if "leaf_coeff" in node or "leaf_const" in node:
            raise _linear_tree_error()
        if "split_feature" not in node:  # a leaf
            left.append(-1)
            right.append(-1)
            feature.append(-1)
            threshold.append(0.0)
            default_left.append(0)
            missing_rule.append(NAN_DEFAULT)
            value.append(float(node["leaf_value"]) * scale)
            cover.append(float(node.get("leaf_count", 0)))
            gain.append(0.0)
            continue
        left.append(-1)  # filled in when the children are numbered
        right.append(-1)
        feature.append(int(node["split_feature"]))
        value.append(0.0)
        cover.append(float(node.get("internal_count", 0)))
        gain.append(float(node.get("split_gain", 0.0)))
        decision = node.get("decision_type", "<=")
        if decision == "==":
            # categorical: int(x) in the set goes left; NaN and negative values go right
            cats = node["threshold"]
            if isinstance(cats, str):  # dump_model writes the set as "1||4||7"
                cats = [c for c in cats.split("||") if c != ""]
            codes = [int(c) for c in cats]
            categories[index] = codes
            threshold.append(0.0)
            default_left.append(0)
            missing_rule.append(NAN_DEFAULT)
        elif decision == "<=":
            threshold.append(_effective_threshold(float(node["threshold"])))
            default_left.append(1 if node.get("default_left", False) else 0)
            missing_type = node.get("missing_type", "None")
            if missing_type not in _MISSING_RULES:
                raise TypeError(f"unsupported LightGBM missing_type {missing_type!r}")
            missing_rule.append(_MISSING_RULES[missing_type])
        else:
            raise TypeError(f"unsupported LightGBM decision_type {decision!r}")
        # right pushed first so the left subtree is numbered first (preorder)
        stack.append((node["right_child"], index, False))
        stack.append((node["left_child"], index, True))
    tree = {
        "left": np.asarray(left, dtype=np.int64),
        "right": np.asarray(right, dtype=np.int64),
        "feature": np.asarray(feature, dtype=np.int64),
        "threshold": np.asarray(threshold, dtype=np.float64),
        "default_left": np.asarray(default_left, dtype=np.uint8),
        "missing_rule": np.asarray(missing_rule, dtype=np.uint8),
        "value": np.asarray(value, dtype=np.float64),
        "cover": np.asarray(cover, dtype=np.float64),
        "gain": np.asarray(gain, dtype=np.float64),
    }
    if categories:
        tree["categories"] = categories
    return tree



# --- the model text format ----------------------------------------------------------------------
# Used for model files, which are checked here before LightGBM reads them (its loader aborts or
# crashes the process on some malformed files instead of raising), and as a flat fallback for trees
# too deep for dump_model's JSON.

_MISSING_TYPES = ("None", "Zero", "NaN")
_INT_TOKEN = re.compile(r"[-+]?[0-9]+")
_FLOAT_TOKEN = re.compile(
    r"[-+]?(?:[0-9]+\.?[0-9]*(?:e[-+]?[0-9]+)?|\.[0-9]+(?:e[-+]?[0-9]+)?|inf|nan)", re.IGNORECASE)
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
            trees[-1][key.strip()] = val.strip()
    raise ValueError("it has no 'end of trees' line (is it truncated?)")


def _dump_from_text(text: str) -> dict:
    """The parts of ``dump_model()`` we use, read from the model text format instead."""
    header, trees, _ = _read_model_text(text)
    n_features = int(header["max_feature_idx"]) + 1 if "max_feature_idx" in header else None
    per_iteration = int(header.get("num_tree_per_iteration", header.get("num_class", "1")))
    return {
        "num_tree_per_iteration": per_iteration,
        "objective": header.get("objective", ""),
        "average_output": "average_output" in header,
        "tree_info": [{"tree_structure": _text_tree_structure(t, n_features)} for t in trees],
    }


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
    for t, tree in enumerate(trees):
        try:
            _text_tree_structure(tree, n_features)
        except (ValueError, IndexError, KeyError) as exc:
            raise ValueError(f"tree {t} is malformed ({exc})") from None
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


def _text_tree_structure(tree: dict[str, str], n_features: int | None = None) -> dict:
    """Nested node dicts as ``dump_model`` has them, built without recursion from one text tree.

    Raises ValueError (or IndexError/KeyError) for inconsistent arrays, TypeError for linear trees.
    """
    if tree.get("is_linear", "0") not in ("0", ""):
        raise _linear_tree_error()
    for key in ("num_leaves", "num_cat"):
        if key not in tree:
            raise ValueError(f"it has no {key}")
    n_leaves = int(tree["num_leaves"])
    if n_leaves < 1:
        raise ValueError("num_leaves < 1")
    n_internal = n_leaves - 1

    def array(key: str, n: int, kind: type, required: bool = False) -> list:
        raw = tree.get(key, "")
        if raw == "":
            if required and n > 0:
                raise ValueError(f"it has no {key}")
            return [kind(0)] * n
        tokens = raw.split()
        pattern = _INT_TOKEN if kind is int else _FLOAT_TOKEN
        if len(tokens) != n or not all(pattern.fullmatch(t) for t in tokens):
            raise ValueError(f"{key} is not {n} numbers")
        return [kind(t) for t in tokens]

    for key in ("leaf_weight",):  # parsed by LightGBM, unused here
        array(key, n_leaves, float)
    for key in ("internal_value", "internal_weight"):
        array(key, n_leaves - 1, float)

    leaf_value = array("leaf_value", n_leaves, float, True)
    leaf_count = array("leaf_count", n_leaves, int)
    leaves = [{"leaf_value": v, "leaf_count": c}
              for v, c in zip(leaf_value, leaf_count, strict=True)]
    if n_internal == 0:
        return leaves[0]
    split_feature = array("split_feature", n_internal, int, True)
    threshold = array("threshold", n_internal, float, True)
    left_child = array("left_child", n_internal, int, True)
    right_child = array("right_child", n_internal, int, True)
    split_gain = array("split_gain", n_internal, float)
    internal_count = array("internal_count", n_internal, int)
    decision_type = array("decision_type", n_internal, int)
    n_cat = int(tree["num_cat"])
    cat_boundaries = array("cat_boundaries", n_cat + 1, int, n_cat > 0) if n_cat > 0 else [0]
    cat_threshold = array("cat_threshold", cat_boundaries[-1], int, n_cat > 0)
    if any(b < a for a, b in zip(cat_boundaries, cat_boundaries[1:], strict=False)):
        raise ValueError("cat_boundaries is not sorted")
    nodes = []
    for i in range(n_internal):
        kind = decision_type[i]
        missing = (kind >> 2) & 3
        if not 0 <= kind < 16 or missing >= len(_MISSING_TYPES):
            raise ValueError(f"unknown decision_type {kind}")
        if split_feature[i] < 0 or (n_features is not None and split_feature[i] >= n_features):
            raise ValueError(f"split_feature {split_feature[i]} is out of range")
        node: dict[str, Any] = {
            "split_feature": split_feature[i],
            "split_gain": split_gain[i],
            "internal_count": internal_count[i],
            "default_left": bool(kind & 2),
            "missing_type": _MISSING_TYPES[missing],
        }
        if kind & 1:  # categorical: threshold is the index of the split's bitset
            cat = int(threshold[i])
            if not 0 <= cat < n_cat:
                raise ValueError(f"categorical split {i} refers to bitset {cat} of {n_cat}")
            words = cat_threshold[cat_boundaries[cat]:cat_boundaries[cat + 1]]
            node["decision_type"] = "=="
            node["threshold"] = [32 * w + b for w, word in enumerate(words)
                                 for b in range(32) if (word >> b) & 1]
        else:
            node["decision_type"] = "<="
            node["threshold"] = threshold[i]
        nodes.append(node)
    for node, lc, rc in zip(nodes, left_child, right_child, strict=True):
        for key, child in (("left_child", lc), ("right_child", rc)):
            if child == 0 or child >= n_internal or ~child >= n_leaves:
                raise ValueError(f"child index {child} is out of range")
            node[key] = nodes[child] if child > 0 else leaves[~child]
    return nodes[0]
