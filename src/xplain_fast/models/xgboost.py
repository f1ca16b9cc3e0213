"""XGBoost models -> Forest.

The model is read from XGBoost's own serialisation (``Booster.save_raw("ubj")``, the binary
form of its JSON model format, decoded in C++), which holds everything the predictor uses:
per-node split feature, float32 threshold, default direction for missing values, categorical
sets, leaf values (learning rate already applied), per-node hessian sums ("cover") and loss
changes ("gain") as float32, the intercept (``base_score``) and, for DART, the tree weights.

Conventions verified against ``predict(output_margin=True)`` with XGBoost 3.2:

* A numeric split sends ``float32(x) < threshold`` left; NaN follows ``default_left``.
* A categorical split lists a set of categories; XGBoost sends the LISTED categories to the RIGHT
  child and everything else (unlisted, negative or too large codes) to the left child, NaN to the
  default side. The Forest sends a node's set left and anything unknown right, so at every
  categorical node the children are swapped and ``default_left`` is flipped.
* ``base_score`` is stored in output space and mapped to the margin by the objective's link:
  logit for logistic objectives (not ``binary:logitraw``, whose base_score is the margin), log for
  log-link objectives (Poisson, gamma, Tweedie, Cox, AFT), identity otherwise (including the
  per-class intercepts of multi-class models).
* Each tree adds its leaf to the output (class or target) given by ``tree_info``; with
  ``num_parallel_tree > 1`` the trees of one round are summed (their leaves are already scaled).
"""

from __future__ import annotations

import math
import os
import re
from typing import Any, NoReturn

import numpy as np

from .._core import ubjson_loads
from ..forest import NAN_DEFAULT, NAN_OR_ZERO_DEFAULT, Forest, category_bitsets

#: objective -> (Forest link, how base_score maps to the margin)
_OBJECTIVES: dict[str, tuple[str, str]] = {
    **{name: ("identity", "identity") for name in (
        "reg:squarederror", "reg:linear", "reg:squaredlogerror", "reg:pseudohubererror",
        "reg:absoluteerror", "reg:quantileerror", "binary:hinge",
        "rank:pairwise", "rank:ndcg", "rank:map",
    )},
    "binary:logistic": ("logistic", "logit"),
    "reg:logistic": ("logistic", "logit"),
    # predict() returns the margin itself, and base_score is stored as the margin
    "binary:logitraw": ("identity", "identity"),
    **{name: ("exp", "log") for name in (
        "count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft",
    )},
    "multi:softprob": ("softmax", "identity"),
    "multi:softmax": ("softmax", "identity"),
}

SUPPORTED = (
    "xgboost.Booster, the scikit-learn wrappers (XGBRegressor, XGBClassifier, XGBRanker, "
    "XGBRFRegressor, XGBRFClassifier, ...) and paths to models saved as .json or .ubj, with "
    "booster 'gbtree' or 'dart' (numeric and categorical splits, num_parallel_tree >= 1, "
    "one output per tree or multi_strategy='multi_output_tree') and objectives "
    + ", ".join(sorted(_OBJECTIVES))
)

_SPLIT_CATEGORICAL = 1


def to_forest(model: Any) -> Forest:
    """Convert an XGBoost model; see :func:`xplain_fast.to_forest`.

    Parameters
    ----------
    model : xgboost.Booster, xgboost.XGBModel, str or os.PathLike
        A booster, a fitted scikit-learn wrapper, or the path of a model saved with
        ``save_model`` as ``.json`` or ``.ubj``.

    Returns
    -------
    Forest
        Reproduces ``predict(output_margin=True)``. A scikit-learn wrapper fitted with early
        stopping predicts with its trees up to ``best_iteration`` and so does the Forest; a
        ``Booster`` predicts with all its trees (as ``Booster.predict`` does), even when it has
        a ``best_iteration`` attribute. Slice it first (``booster[: best_iteration + 1]``) to
        explain the best iteration only.

    Notes
    -----
    A model trained on pandas ``category`` columns is evaluated on category codes: pass frames
    whose categorical columns have the same categories in the same order as in training (XGBoost
    re-codes other category sets on its own, the Forest does not).
    """
    import xgboost

    booster, n_rounds, missing = _booster_of(model)
    try:
        doc = ubjson_loads(booster.save_raw("ubj"))
    except xgboost.core.XGBoostError as exc:
        raise ValueError(
            f"the XGBoost Booster holds no usable model (never trained or loaded?): {_message(exc)}"
        ) from exc
    try:
        return _from_document(doc, n_rounds, missing, booster.feature_names)
    except (KeyError, IndexError) as exc:
        raise ValueError(
            f"unexpected XGBoost model layout ({type(exc).__name__}: {exc}); this "
            "loader was written for the model format of XGBoost 2 and 3"
        ) from exc


# -- input ---------------------------------------------------------------------------------
def _booster_of(model: Any) -> tuple[Any, int | None, float]:
    """(Booster, number of boosting rounds predict uses or None for all, missing-value marker)."""
    import xgboost

    if isinstance(model, (str, os.PathLike)):
        return _load_file(model), None, math.nan
    if isinstance(model, xgboost.Booster):
        return model, None, math.nan
    if isinstance(model, xgboost.XGBModel):
        try:
            booster = model.get_booster()
        except (ValueError, AttributeError) as exc:  # sklearn's NotFittedError is both
            raise ValueError(
                f"{type(model).__name__} is not fitted yet; call fit before explaining it"
            ) from exc
        # XGBModel.predict uses the trees up to best_iteration when early stopping was used
        try:
            n_rounds: int | None = int(model.best_iteration) + 1
        except AttributeError:
            n_rounds = None
        missing = model.missing
        missing = math.nan if missing is None else float(missing)
        return booster, n_rounds, missing
    raise TypeError(f"unsupported XGBoost object {type(model).__name__}; supported: {SUPPORTED}")


def _load_file(path: str | os.PathLike) -> Any:
    import xgboost

    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ValueError(f"XGBoost model file {name!r} does not exist or is not a file")
    try:
        return xgboost.Booster(model_file=name)
    except xgboost.core.XGBoostError as exc:
        raise ValueError(
            f"could not load XGBoost model file {name!r}: {_message(exc)} (expected a model saved "
            "with save_model as .json or .ubj)"
        ) from exc


def _message(exc: Exception) -> str:
    """First line of an XGBoostError without its "[time] source.cc:line: " prefix."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    return re.sub(r"^\[[^\]]*\]\s*\S+:\d+:\s*", "", first)


def _unsupported(what: str) -> NoReturn:
    raise TypeError(f"{what} is not supported; supported: {SUPPORTED}")


# -- model document -> Forest --------------------------------------------------------------
def _parse_floats(value: Any) -> np.ndarray:
    """base_score: a number, a string like "5E-1" or "[1E0,2E0]" (XGBoost 3), or a list."""
    if isinstance(value, str):
        text = value.strip().strip("[]")
        items = [v for v in text.split(",") if v.strip()]
        return np.array([float(v) for v in items], dtype=np.float64)
    return np.asarray(value, dtype=np.float64).reshape(-1)


def _to_margin(score: np.ndarray, transform: str) -> np.ndarray:
    score = score.astype(np.float32).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if transform == "logit":
            margin = np.log(score) - np.log1p(-score)
        elif transform == "log":
            margin = np.log(score)
        else:
            margin = score
    if not np.all(np.isfinite(margin)):
        raise ValueError(f"base_score {score.tolist()} gives a non-finite margin ({transform})")
    return margin


def _from_document(doc: dict, n_rounds: int | None, missing: float, names: list[str] | None) -> Forest:
    learner = doc["learner"]
    booster = learner["gradient_booster"]
    kind = booster["name"]
    if kind == "gbtree":
        model, weights = booster["model"], None
    elif kind == "dart":
        model, weights = booster["gbtree"]["model"], booster.get("weight_drop")
    else:
        linear = " (a linear model, not trees)" if kind == "gblinear" else ""
        _unsupported(f"booster {kind!r}{linear}")
    objective = learner["objective"]["name"]
    if objective not in _OBJECTIVES:
        _unsupported(f"objective {objective!r}")
    link, transform = _OBJECTIVES[objective]

    params = learner["learner_model_param"]
    n_features = int(params["num_feature"])
    n_outputs = max(1, int(params.get("num_class", 0)), int(params.get("num_target", 1)))
    base = _parse_floats(params["base_score"])
    if base.size == 1 and n_outputs > 1:
        base = np.repeat(base, n_outputs)
    if base.size != n_outputs:
        raise ValueError(f"base_score has {base.size} values for {n_outputs} outputs")
    base_value = _to_margin(base, transform)

    all_trees = model["trees"]
    tree_info = model["tree_info"]
    n_trees = len(all_trees)
    if n_rounds is not None:
        indptr = model.get("iteration_indptr")
        if indptr is not None and n_rounds < len(indptr):
            n_trees = int(indptr[n_rounds])
    if n_trees == 0:
        raise ValueError("the XGBoost model has no trees; fit it with at least one boosting round")
    if np.isnan(missing):
        rule = NAN_DEFAULT
    elif missing == 0.0:
        rule = NAN_OR_ZERO_DEFAULT
    else:
        _unsupported(f"missing={missing!r} (a value other than NaN or 0 marking missing data)")

    trees = all_trees[:n_trees]
    arrays = _node_arrays(trees, None if weights is None else _f32(_first(weights, n_trees, "weight_drop")))
    if arrays["value"].shape[1] == 1:
        arrays["tree_output"] = np.asarray(_first(tree_info, n_trees, "tree_info"), dtype=np.int64)
    else:  # one tree predicts every output
        arrays["tree_output"] = np.zeros(n_trees, dtype=np.int64)
    if rule != NAN_DEFAULT:
        arrays["missing_rule"] = np.full(arrays["left"].size, rule, dtype=np.uint8)

    if names is not None and len(names) != n_features:
        names = None
    return Forest(
        **arrays,
        base_value=base_value,
        n_features=n_features,
        decision="<",
        link=link,
        float32_input=True,
        float32_output=True,  # XGBoost sums its trees' outputs in float32
        class_rule="argmax" if link in ("logistic", "softmax") else None,
        feature_names=list(names) if names is not None else None,
        source="xgboost",
    )


def _first(values: list, n: int, what: str) -> list:
    """The first n entries of a per-tree list; IndexError (a layout error) if it is shorter."""
    if len(values) < n:
        raise IndexError(f"{what} has {len(values)} entries for {n} trees")
    return values[:n]


def _f32(values: Any) -> np.ndarray:
    """float32 values (or numbers printed from float32) -> those float32 values, as float64."""
    return np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)


# -- all trees at once -----------------------------------------------------------------------
# Per-tree NumPy calls cost more than the work on a few dozen nodes, so the trees are processed
# together: their per-node arrays are concatenated into flat arrays over the "stored" nodes (tree by
# tree, XGBoost's numbering), and the level-order renumbering sweeps all trees in one pass.

#: per-node arrays -> dtype of their flat copy
_NODE_FIELDS = {
    "left_children": np.int64,
    "right_children": np.int64,
    "split_indices": np.int64,
    "split_conditions": np.float64,
    "default_left": np.uint8,
    "sum_hessian": np.float64,
    "loss_changes": np.float64,
    "split_type": np.int64,
}


def _node_arrays(trees: list[dict], scale: np.ndarray | None) -> dict[str, np.ndarray]:
    """The Forest node arrays (and tree_offset) of the trees, renumbered tree by tree and level by
    level from each root; ``scale`` holds the DART weight of each tree (None: no weights).

    The renumbering puts every child after its parent and drops nodes deleted by pruning.
    """
    sizes = np.array([len(tree["left_children"]) for tree in trees], dtype=np.int64)
    stored = _flat_fields(trees, sizes)
    tree_of = np.repeat(np.arange(len(trees)), sizes)  # tree of each stored node
    starts = np.cumsum(sizes) - sizes
    left, right, broken = _flat_children(stored["left_children"], stored["right_children"], starts, sizes, tree_of)
    levels, invalid = _level_order(left, right, broken, tree_of, starts, sizes)
    if invalid.any():
        raise ValueError(f"XGBoost tree {trees[int(np.argmax(invalid))].get('id')} is not a valid binary tree")
    old, levels = _tree_by_tree(levels, tree_of)
    new_id = np.full(left.size, -1, dtype=np.int64)
    new_id[old] = np.arange(old.size)
    is_leaf = left[old] < 0
    new_left = np.where(is_leaf, -1, new_id[left[old]])  # at leaves, left is -1 and new_id[-1] unused
    new_right = np.where(is_leaf, -1, new_id[right[old]])
    default_left = stored["default_left"][old]
    cover = stored["sum_hessian"][old]
    cond = _f32(stored["split_conditions"])

    value = _leaf_values(trees, cond, stored["right_children"], old, is_leaf, tree_of)
    if scale is not None:
        value *= scale[tree_of[old]][:, None]
    _fill_internal_values(value, new_left, new_right, cover, levels)

    arrays = {
        "left": new_left,
        "right": new_right,
        "feature": np.where(is_leaf, -1, stored["split_indices"][old]),
        "threshold": np.where(is_leaf, 0.0, cond[old]),
        "default_left": default_left,
        "value": value,
        "cover": cover,
        "gain": np.where(is_leaf, 0.0, stored["loss_changes"][old]),
        "tree_offset": np.concatenate([[0], np.cumsum(np.bincount(tree_of[old], minlength=len(trees)))]),
    }
    categorical = np.flatnonzero(~is_leaf & (stored["split_type"][old] == _SPLIT_CATEGORICAL))
    if categorical.size:
        # XGBoost sends the listed categories right: swap the children so that they go left
        new_left[categorical], new_right[categorical] = new_right[categorical], new_left[categorical]
        default_left[categorical] = 1 - default_left[categorical]
        listed = _listed_categories(trees, old[categorical], starts, tree_of)
        arrays.update(category_bitsets(zip(categorical.tolist(), listed, strict=True), old.size))
    return arrays


def _flat_fields(trees: list[dict], sizes: np.ndarray) -> dict[str, np.ndarray]:
    """Each per-node array of all trees, concatenated tree after tree."""
    return {
        key: np.concatenate(
            [_column(tree, key, n) for tree, n in zip(trees, sizes.tolist(), strict=True)]
        ).astype(dtype)
        for key, dtype in _NODE_FIELDS.items()
    }


def _column(tree: dict, key: str, n_nodes: int) -> np.ndarray | list:
    """A per-node array of one tree, checked to hold one entry per node (else the flat arrays
    of the following trees would be shifted)."""
    if key == "split_type" and len(tree.get(key, ())) == 0:
        return np.zeros(n_nodes, dtype=np.uint8)  # absent or empty in models without categorical features
    column = tree[key]
    if len(column) != n_nodes:
        raise IndexError(f"XGBoost tree {tree.get('id')} has {len(column)} {key} for {n_nodes} nodes")
    return column


def _flat_children(left: np.ndarray, right: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
                   tree_of: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat ids of the children of each stored node (-1 at leaves, whose left child is negative);
    and which internal nodes have a child outside their own tree."""
    internal = left >= 0
    size = sizes[tree_of]
    broken = internal & ((left >= size) | (right < 0) | (right >= size))
    start = starts[tree_of]
    return np.where(internal, left + start, -1), np.where(internal, right + start, -1), broken


def _level_order(left: np.ndarray, right: np.ndarray, broken: np.ndarray, tree_of: np.ndarray,
                 starts: np.ndarray, sizes: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Flat ids of the nodes reachable from the roots, one array per level (all trees at once);
    and which trees are not binary trees (a node reached twice, a child outside the tree).

    A level lists the children of the previous level's internal nodes in order (left, right), so
    it is grouped by tree. The sweep stops following a tree as soon as it is found invalid.
    """
    invalid = sizes == 0  # no root
    last_seen = np.full(left.size, -1, dtype=np.int64)  # level-order position of each reached node
    frontier = starts[~invalid]
    levels, n_seen = [], 0
    while frontier.size:
        position = np.arange(n_seen, n_seen + frontier.size)
        twice = last_seen[frontier] >= 0  # reached at an earlier level
        last_seen[frontier] = position
        twice |= last_seen[frontier] != position  # listed twice at this level: only one position was kept
        internal = frontier[left[frontier] >= 0]
        if twice.any() or broken[internal].any():
            invalid[tree_of[frontier[twice]]] = True
            invalid[tree_of[internal[broken[internal]]]] = True
            frontier = frontier[~invalid[tree_of[frontier]]]
            internal = internal[~invalid[tree_of[internal]]]
        levels.append(frontier)
        n_seen += frontier.size
        frontier = np.column_stack([left[internal], right[internal]]).ravel()
    return levels, invalid


def _tree_by_tree(levels: list[np.ndarray], tree_of: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """The reached nodes ordered tree by tree, level by level within a tree (flat stored ids); and
    each level's nodes as positions in that order."""
    reached = np.concatenate(levels)
    # a stable sort by tree keeps the level order (and the order within a level) of each tree
    by_tree = np.argsort(tree_of[reached], kind="stable")
    position = np.empty_like(by_tree)
    position[by_tree] = np.arange(by_tree.size)
    return reached[by_tree], np.split(position, np.cumsum([level.size for level in levels[:-1]]))


def _leaf_values(trees: list[dict], cond: np.ndarray, right: np.ndarray, old: np.ndarray, is_leaf: np.ndarray,
                 tree_of: np.ndarray) -> np.ndarray:
    """Values of the renumbered nodes (stored ids ``old``), shape (nodes, leaf width): the leaf
    values, 0 at internal nodes.

    A leaf's value is its split_condition; in a multi_output_tree model its right_children entry
    is the row of its tree's leaf_weights that holds its vector.
    """
    widths = {max(int(tree["tree_param"].get("size_leaf_vector", "1") or 1), 1) for tree in trees}
    if len(widths) > 1:
        raise ValueError(f"XGBoost trees with different leaf vector sizes {sorted(widths)}")
    (width,) = widths
    if width == 1:
        return np.where(is_leaf, cond[old], 0.0)[:, None]
    leaves = old[is_leaf]
    value = np.zeros((old.size, width))
    value[is_leaf] = _leaf_vectors(trees, width, tree_of[leaves], right[leaves])
    return value


def _leaf_vectors(trees: list[dict], width: int, tree: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Row ``row`` of the leaf_weights of tree ``tree``, for each pair (multi_output_tree models)."""
    if any("leaf_weights" not in t for t in trees):
        _unsupported("a multi_output_tree without 'leaf_weights' (saved by an older XGBoost)")
    lengths = np.array([len(t["leaf_weights"]) for t in trees], dtype=np.int64)
    rows = lengths // width
    if np.any(lengths % width) or np.any((row < 0) | (row >= rows[tree])):
        raise IndexError("the leaf_weights of a multi_output_tree do not match its leaves")
    leaf_weights = _f32(np.concatenate([t["leaf_weights"] for t in trees])).reshape(-1, width)
    return leaf_weights[(np.cumsum(rows) - rows)[tree] + row]


def _fill_internal_values(value: np.ndarray, left: np.ndarray, right: np.ndarray,
                          cover: np.ndarray, levels: list[np.ndarray]) -> None:
    """Give each internal node the cover-weighted mean of its children (in place), all trees at once.

    Only leaf values enter predictions; an internal node then holds the expected output of its
    subtree under XGBoost's cover, as scikit-learn trees do.
    """
    for nodes in reversed(levels[:-1]):  # deepest parents first; the last level has only leaves
        nodes = nodes[left[nodes] >= 0]
        lo, hi = left[nodes], right[nodes]
        c_lo, c_hi = cover[lo], cover[hi]
        total = c_lo + c_hi
        safe = np.where(total > 0, total, 1.0)
        w_lo = np.where(total > 0, c_lo / safe, 0.5)
        w_hi = np.where(total > 0, c_hi / safe, 0.5)
        value[nodes] = w_lo[:, None] * value[lo] + w_hi[:, None] * value[hi]


def _listed_categories(trees: list[dict], stored: np.ndarray, starts: np.ndarray,
                       tree_of: np.ndarray) -> list[list[int]]:
    """The categories XGBoost lists at each of the categorical splits ``stored`` (flat stored ids)."""
    sets: dict[int, dict[int, list[int]]] = {}  # only for the trees with categorical splits
    listed = []
    for t, local in zip(tree_of[stored].tolist(), (stored - starts[tree_of[stored]]).tolist(), strict=True):
        if t not in sets:
            sets[t] = _category_sets(trees[t])
        listed.append(sets[t].get(local, []))
    return listed


def _category_sets(tree: dict) -> dict[int, list[int]]:
    """Listed categories per original node id of a tree with categorical splits."""
    codes = tree["categories"]
    sets = {}
    for node, start, size in zip(tree["categories_nodes"], tree["categories_segments"],
                                 tree["categories_sizes"], strict=True):
        sets[int(node)] = [int(c) for c in codes[int(start):int(start) + int(size)]]
    return sets
