"""XGBoost models -> Forest.

The model is read from XGBoost's own JSON serialisation (``Booster.save_raw("json")``), which
holds everything the predictor uses: per-node split feature, float32 threshold, default direction
for missing values, categorical sets, leaf values (learning rate already applied), per-node hessian
sums ("cover") and loss changes ("gain"), the intercept (``base_score``) and, for DART, the tree
weights.

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

import json
import math
import os
import re
from typing import Any, NoReturn

import numpy as np

from ..forest import NAN_DEFAULT, NAN_OR_ZERO_DEFAULT, Forest, concatenate_trees

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
        doc = json.loads(booster.save_raw("json"))
    except xgboost.core.XGBoostError as exc:
        raise ValueError(
            f"the XGBoost Booster holds no usable model (never trained or loaded?): {_message(exc)}"
        ) from exc
    try:
        return _from_json(doc, n_rounds, missing, booster.feature_names)
    except (KeyError, IndexError) as exc:
        raise ValueError(
            f"unexpected XGBoost JSON model layout ({type(exc).__name__}: {exc}); this "
            "loader was written for the JSON format of XGBoost 2 and 3"
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


# -- JSON -> Forest --------------------------------------------------------------------------
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


def _from_json(doc: dict, n_rounds: int | None, missing: float, names: list[str] | None) -> Forest:
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

    trees_json = model["trees"]
    tree_info = model["tree_info"]
    n_trees = len(trees_json)
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

    trees = []
    for t in range(n_trees):
        scale = 1.0 if weights is None else float(np.float32(weights[t]))
        tree = _tree(trees_json[t], scale)
        tree["output"] = int(tree_info[t]) if tree["value"].ndim == 1 else 0
        if rule != NAN_DEFAULT:
            tree["missing_rule"] = np.full(len(tree["left"]), rule, dtype=np.uint8)
        trees.append(tree)

    if names is not None and len(names) != n_features:
        names = None
    return concatenate_trees(
        trees,
        base_value=base_value,
        n_features=n_features,
        decision="<",
        link=link,
        float32_input=True,
        feature_names=list(names) if names is not None else None,
        source="xgboost",
    )


def _f32(values: Any) -> np.ndarray:
    """JSON numbers printed from float32 -> the exact float32 values, as float64."""
    return np.asarray(values, dtype=np.float64).astype(np.float32).astype(np.float64)


def _tree(tree: dict, scale: float) -> dict:
    """One XGBoost tree as a Forest tree dict, nodes renumbered level by level from the root.

    The renumbering puts every child after its parent and drops nodes deleted by pruning.
    """
    left = np.asarray(tree["left_children"], dtype=np.int64)
    right = np.asarray(tree["right_children"], dtype=np.int64)
    width = max(int(tree["tree_param"].get("size_leaf_vector", "1") or 1), 1)
    cond = _f32(tree["split_conditions"])
    old, levels = _level_order(left, right, tree.get("id"))
    is_leaf = left[old] < 0
    new_id = np.full(left.size, -1, dtype=np.int64)
    new_id[old] = np.arange(old.size)
    new_left = np.where(is_leaf, -1, new_id[np.maximum(left[old], 0)])
    new_right = np.where(is_leaf, -1, new_id[np.maximum(right[old], 0)])
    default_left = np.asarray(tree["default_left"], dtype=np.uint8)[old]
    cover = np.asarray(tree["sum_hessian"], dtype=np.float64)[old]

    if width == 1:
        value = np.where(is_leaf, cond[old], 0.0)
    else:  # multi_output_tree: a leaf's right_children entry indexes its row of leaf_weights
        if "leaf_weights" not in tree:
            _unsupported("a multi_output_tree without 'leaf_weights' (saved by an older XGBoost)")
        leaf_weights = _f32(tree["leaf_weights"]).reshape(-1, width)
        value = np.zeros((old.size, width))
        value[is_leaf] = leaf_weights[right[old[is_leaf]]]
    value = value * scale
    _fill_internal_values(value, new_left, new_right, cover, levels)

    result = {
        "left": new_left,
        "right": new_right,
        "feature": np.where(is_leaf, -1, np.asarray(tree["split_indices"], dtype=np.int64)[old]),
        "threshold": np.where(is_leaf, 0.0, cond[old]),
        "default_left": default_left,
        "value": value,
        "cover": cover,
        "gain": np.where(is_leaf, 0.0, np.asarray(tree["loss_changes"], dtype=np.float64)[old]),
    }
    split_type = np.asarray(tree.get("split_type") or np.zeros(left.size), dtype=np.int64)[old]
    categorical = np.flatnonzero(~is_leaf & (split_type == _SPLIT_CATEGORICAL))
    if categorical.size:
        listed = _category_sets(tree)
        categories = {}
        for i in categorical:
            # XGBoost sends the listed categories right: swap the children so that they go left
            categories[int(i)] = listed.get(int(old[i]), [])
            new_left[i], new_right[i] = new_right[i], new_left[i]
            default_left[i] = 1 - default_left[i]
        result["categories"] = categories
    return result


def _level_order(left: np.ndarray, right: np.ndarray, tree_id: Any) -> tuple[np.ndarray, list]:
    """Original ids of the nodes reachable from the root, level by level; and each level's slice."""
    seen = np.zeros(left.size, dtype=bool)
    frontier = np.zeros(1, dtype=np.int64)
    order, levels, start = [], [], 0
    while frontier.size:
        if (np.any((frontier < 0) | (frontier >= left.size)) or np.any(seen[frontier])
                or np.unique(frontier).size != frontier.size):
            raise ValueError(f"XGBoost tree {tree_id} is not a valid binary tree")
        seen[frontier] = True
        order.append(frontier)
        levels.append(slice(start, start + frontier.size))
        start += frontier.size
        internal = frontier[left[frontier] >= 0]
        frontier = np.column_stack([left[internal], right[internal]]).ravel()
    return np.concatenate(order), levels


def _category_sets(tree: dict) -> dict[int, list[int]]:
    """Listed categories per original node id of a tree with categorical splits."""
    codes = tree["categories"]
    sets = {}
    for node, start, size in zip(tree["categories_nodes"], tree["categories_segments"],
                                 tree["categories_sizes"], strict=True):
        sets[int(node)] = [int(c) for c in codes[int(start):int(start) + int(size)]]
    return sets


def _fill_internal_values(value: np.ndarray, left: np.ndarray, right: np.ndarray,
                          cover: np.ndarray, levels: list) -> None:
    """Give each internal node the cover-weighted mean of its children (in place).

    Only leaf values enter predictions; an internal node then holds the expected output of its
    subtree under XGBoost's cover, as scikit-learn trees do.
    """
    for level in reversed(levels[:-1]):  # deepest parents first; the last level has only leaves
        nodes = np.arange(level.start, level.stop)
        nodes = nodes[left[nodes] >= 0]
        lo, hi = left[nodes], right[nodes]
        c_lo, c_hi = cover[lo], cover[hi]
        total = c_lo + c_hi
        safe = np.where(total > 0, total, 1.0)
        w_lo = np.where(total > 0, c_lo / safe, 0.5)
        w_hi = np.where(total > 0, c_hi / safe, 0.5)
        if value.ndim == 2:
            w_lo, w_hi = w_lo[:, None], w_hi[:, None]
        value[nodes] = w_lo * value[lo] + w_hi * value[hi]
