"""CatBoost models -> Forest.

The model is exported with CatBoost's documented JSON format (``save_model(format="json")``) and
parsed. Symmetric (oblivious) trees, CatBoost's default, are expanded into ordinary binary trees;
non-symmetric trees (``grow_policy="Depthwise"`` or ``"Lossguide"``) are converted node by node.

Facts about the format this loader relies on (checked against CatBoost 1.2 predictions):

* An oblivious tree of depth ``d`` has ``splits[0..d-1]`` and ``2**d`` leaves; the leaf index is
  ``sum(bit_k << k)`` with ``bit_k = float32(x[f_k]) > border_k``: ``splits[0]`` is the least
  significant bit. So a row goes right exactly when ``x > border`` and left when ``x <= border``.
* ``leaf_values`` holds ``n_dims`` values per leaf, leaf-major: ``[leaf0 dim0..K-1, leaf1 ...]``.
* The raw output is ``scale * sum of leaf values + bias``, ``bias`` one entry per dimension.
* NaN: ``nan_value_treatment`` ``AsFalse`` (``nan_mode="Min"``) and ``AsIs`` (``"Forbidden"``:
  ``NaN > border`` is false) send NaN left, ``AsTrue`` (``nan_mode="Max"``) sends it right.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import numpy as np

from ..forest import Forest, concatenate_trees

_CATEGORICAL_MESSAGE = "CatBoost models with categorical/text features are not supported yet"

# loss_function -> link from the raw score (RawFormulaVal) to the model's prediction
_LINKS = {
    "Logloss": "logistic",
    "CrossEntropy": "logistic",
    "MultiClass": "softmax",
    "MultiClassOneVsAll": "logistic",
    "MultiLogloss": "logistic",
    "MultiCrossEntropy": "logistic",
    "Poisson": "exp",
    "Tweedie": "exp",
}


# -- getting the model and its JSON ---------------------------------------------------------------
def _load_file(path: str | os.PathLike) -> Any:
    """A catboost.CatBoost read from a .cbm or .json file; ValueError if that fails."""
    import catboost

    name = os.fsdecode(path)
    if not os.path.isfile(name):
        raise ValueError(f"cannot load CatBoost model {name!r}: no such file")
    try:
        with open(name, "rb") as fh:
            head = fh.read(64).lstrip()
    except OSError as exc:
        raise ValueError(f"cannot load CatBoost model {name!r}: {exc}") from exc
    fmt = "json" if name.lower().endswith(".json") or head.startswith(b"{") else "cbm"
    if fmt == "json":
        # CatBoost accepts malformed JSON without complaint (giving an empty model): check first.
        try:
            with open(name, encoding="utf-8") as fh:
                data = json.load(fh)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot load CatBoost model {name!r}: invalid JSON ({exc})") from exc
        if not _is_model_json(data):
            raise ValueError(f"cannot load CatBoost model {name!r}: {_NOT_A_MODEL}")
    model = catboost.CatBoost()
    try:
        model.load_model(name, format=fmt)
    except catboost.CatBoostError as exc:
        raise ValueError(f"cannot load CatBoost model {name!r} as {fmt}: {exc}") from exc
    return model


_NOT_A_MODEL = (
    "not a CatBoost JSON model (expected an object with 'features_info' and 'oblivious_trees' or "
    "'trees')"
)


def _is_model_json(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("features_info"), dict)
        and (isinstance(data.get("oblivious_trees"), list) or isinstance(data.get("trees"), list))
    )


def _export_json(model: Any) -> dict:
    """The model in CatBoost's JSON format (through a temporary file: there is no in-memory API)."""
    import catboost

    with tempfile.TemporaryDirectory(prefix="xplain_catboost_") as tmp:
        path = os.path.join(tmp, "model.json")
        try:
            model.save_model(path, format="json")
        except catboost.CatBoostError as exc:
            raise ValueError(f"could not export the CatBoost model to JSON: {exc}") from exc
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    if not _is_model_json(data):
        raise ValueError(f"the CatBoost model's JSON export is {_NOT_A_MODEL}")
    return data


def _check_no_categorical(model: Any, data: dict) -> None:
    info = data["features_info"]
    kinds = [
        kind
        for kind, getter, key in (
            ("categorical", "get_cat_feature_indices", "categorical_features"),
            ("text", "get_text_feature_indices", "text_features"),
            ("embedding", "get_embedding_feature_indices", "embedding_features"),
        )
        if info.get(key) or (hasattr(model, getter) and len(getattr(model, getter)()) > 0)
    ]
    if data.get("ctr_data"):
        kinds.append("ctr")
    if kinds:
        raise TypeError(f"{_CATEGORICAL_MESSAGE} (this model has {', '.join(kinds)} features); "
                        "only models on numeric features can be converted")


# -- trees ----------------------------------------------------------------------------------------
class _Features:
    """Maps a split's float_feature_index to the input column and its NaN direction."""

    def __init__(self, float_features: list[dict]):
        self.column: dict[int, int] = {}
        self.nan_left: dict[int, int] = {}
        for f in float_features:
            index = int(f["feature_index"])
            self.column[index] = int(f.get("flat_feature_index", index))
            treatment = f.get("nan_value_treatment", "AsIs")
            if treatment not in ("AsIs", "AsFalse", "AsTrue"):
                raise ValueError(f"unknown CatBoost nan_value_treatment {treatment!r}")
            self.nan_left[index] = 0 if treatment == "AsTrue" else 1

    def split(self, split: dict) -> tuple[int, float, int]:
        """(input column, threshold, default_left) of a float split: x <= threshold goes left."""
        kind = split.get("split_type", "FloatFeature")
        if kind != "FloatFeature":
            raise TypeError(f"{_CATEGORICAL_MESSAGE} (the model has a {kind} split)")
        index = int(split["float_feature_index"])
        if index not in self.column:
            raise ValueError(f"split on unknown CatBoost float feature {index}")
        # CatBoost compares float32(x) > float32(border); the JSON prints the float32 border.
        border = float(np.float32(split["border"]))
        return self.column[index], border, self.nan_left[index]


def _internal_values(left: np.ndarray, right: np.ndarray, value: np.ndarray,
                     cover: np.ndarray) -> None:
    """Fill internal nodes bottom-up: cover = sum of the children's, value = cover-weighted mean.

    One level at a time, deepest first (a node's children are one level deeper), so that NumPy
    does the per-node arithmetic; the result is the same as a node-by-node loop.
    """
    levels = []
    frontier = np.zeros(1, dtype=np.int64)  # the root
    while frontier.size:
        internal = frontier[left[frontier] >= 0]
        levels.append(internal)
        frontier = np.concatenate([left[internal], right[internal]])
    for nodes in reversed(levels):
        lo, hi = left[nodes], right[nodes]
        cover[nodes] = cover[lo] + cover[hi]
        total = cover[nodes][:, None]
        weighted = (cover[lo][:, None] * value[lo] + cover[hi][:, None] * value[hi]) / np.where(total > 0, total, 1.0)
        value[nodes] = np.where(total > 0, weighted, 0.5 * (value[lo] + value[hi]))


def _oblivious_tree(tree: dict, features: _Features, n_dims: int, scale: float) -> dict:
    """Expand a depth-d oblivious tree into a complete binary tree in heap order.

    Node i has children 2i+1 (left, bit 0) and 2i+2 (right, bit 1). Level l tests split d-1-l, so
    the leaf at heap position 2**d - 1 + p is CatBoost's leaf p (splits[0] is p's lowest bit).
    Internal values and covers are left at zero for _fill_complete_trees.
    """
    splits = tree.get("splits") or []
    depth = len(splits)
    n_leaves = 1 << depth
    leaf_values = np.asarray(tree["leaf_values"], dtype=np.float64)
    if leaf_values.size != n_leaves * n_dims:
        raise ValueError(f"CatBoost tree of depth {depth} has {leaf_values.size} leaf values, "
                         f"expected {n_leaves} x {n_dims}")
    weights = tree.get("leaf_weights")
    leaf_weights = np.ones(n_leaves) if weights is None else np.asarray(weights, dtype=np.float64)
    if leaf_weights.size != n_leaves:
        raise ValueError(f"CatBoost tree of depth {depth} has {leaf_weights.size} leaf weights, "
                         f"expected {n_leaves}")

    n_internal = n_leaves - 1
    n_nodes = n_internal + n_leaves
    internal = np.arange(n_internal)
    left = np.full(n_nodes, -1, dtype=np.int64)
    right = np.full(n_nodes, -1, dtype=np.int64)
    left[:n_internal] = 2 * internal + 1
    right[:n_internal] = 2 * internal + 2
    feature = np.zeros(n_nodes, dtype=np.int64)
    threshold = np.zeros(n_nodes)
    default_left = np.zeros(n_nodes, dtype=np.uint8)
    level = np.floor(np.log2(internal + 1)).astype(np.int64) if n_internal else internal
    for lev in range(depth):
        column, border, nan_left = features.split(splits[depth - 1 - lev])
        nodes = internal[level == lev]
        feature[nodes], threshold[nodes], default_left[nodes] = column, border, nan_left

    value = np.zeros((n_nodes, n_dims))
    value[n_internal:] = leaf_values.reshape(n_leaves, n_dims) * scale
    cover = np.zeros(n_nodes)
    cover[n_internal:] = leaf_weights
    return {"left": left, "right": right, "feature": feature, "threshold": threshold,
            "default_left": default_left, "value": value, "cover": cover}


def _fill_complete_trees(trees: list[dict]) -> None:
    """_internal_values for complete trees in heap order, all trees of one depth at once.

    Level l holds nodes 2**l - 1 .. 2**(l+1) - 2, and their children are the next level's nodes
    taken in (left, right) pairs, so each level is one slice operation for the whole group.
    """
    by_size: dict[int, list[dict]] = {}
    for tree in trees:
        by_size.setdefault(tree["left"].size, []).append(tree)
    for n_nodes, group in by_size.items():
        value = np.stack([tree["value"] for tree in group])  # (trees, nodes, dims)
        cover = np.stack([tree["cover"] for tree in group])
        depth = (n_nodes + 1).bit_length() - 2
        for level in range(depth - 1, -1, -1):
            nodes = slice(2**level - 1, 2 ** (level + 1) - 1)
            lo = slice(2 ** (level + 1) - 1, 2 ** (level + 2) - 1, 2)
            hi = slice(2 ** (level + 1), 2 ** (level + 2) - 1, 2)
            cover[:, nodes] = cover[:, lo] + cover[:, hi]
            total = cover[:, nodes, None]
            weighted = (cover[:, lo, None] * value[:, lo] + cover[:, hi, None] * value[:, hi]) / np.where(
                total > 0, total, 1.0
            )
            value[:, nodes] = np.where(total > 0, weighted, 0.5 * (value[:, lo] + value[:, hi]))
        for tree, tree_value, tree_cover in zip(group, value, cover, strict=True):
            tree["value"], tree["cover"] = tree_value, tree_cover


def _non_symmetric_tree(tree: dict, features: _Features, n_dims: int, scale: float) -> dict:
    """Convert a nested {split, left, right} / {value, weight} tree, numbered breadth-first."""
    order = [tree]
    left: list[int] = []
    right: list[int] = []
    feature: list[int] = []
    threshold: list[float] = []
    default_left: list[int] = []
    values: list[np.ndarray] = []
    cover: list[float] = []
    i = 0
    while i < len(order):
        node = order[i]
        if "split" in node:
            column, border, nan_left = features.split(node["split"])
            left.append(len(order))
            right.append(len(order) + 1)
            order.extend((node["left"], node["right"]))
            feature.append(column)
            threshold.append(border)
            default_left.append(nan_left)
            values.append(np.zeros(n_dims))
            cover.append(0.0)
        else:
            leaf = np.atleast_1d(np.asarray(node["value"], dtype=np.float64))
            if leaf.size != n_dims:
                raise ValueError(f"CatBoost leaf has {leaf.size} values, expected {n_dims}")
            left.append(-1)
            right.append(-1)
            feature.append(0)
            threshold.append(0.0)
            default_left.append(0)
            values.append(leaf * scale)
            cover.append(float(node.get("weight", 1.0)))
        i += 1
    out = {"left": np.array(left, dtype=np.int64), "right": np.array(right, dtype=np.int64),
           "feature": np.array(feature, dtype=np.int64), "threshold": np.array(threshold),
           "default_left": np.array(default_left, dtype=np.uint8), "value": np.array(values),
           "cover": np.array(cover)}
    _internal_values(out["left"], out["right"], out["value"], out["cover"])
    return out


# -- the model ------------------------------------------------------------------------------------
def _scale_and_bias(data: dict) -> tuple[float, np.ndarray | None]:
    raw = data.get("scale_and_bias")
    if raw is None:
        return 1.0, None
    scale, bias = raw
    return float(scale), None if bias is None else np.atleast_1d(np.asarray(bias, dtype=np.float64))


def _n_dims(data: dict, bias: np.ndarray | None) -> int:
    if bias is not None and bias.size > 0:
        return int(bias.size)
    if data.get("oblivious_trees"):
        tree = data["oblivious_trees"][0]
        return len(tree["leaf_values"]) >> len(tree.get("splits") or [])
    node = data["trees"][0]
    while "split" in node:
        node = node["left"]
    return int(np.atleast_1d(node["value"]).size)


def _link(model: Any, data: dict, n_dims: int) -> str:
    loss = None
    params = (data.get("model_info") or {}).get("params")
    if isinstance(params, str):  # some CatBoost versions store the parameters as a JSON string
        try:
            params = json.loads(params)
        except json.JSONDecodeError:
            params = None
    if isinstance(params, dict):
        spec = params.get("loss_function")
        loss = spec.get("type") if isinstance(spec, dict) else spec
    if isinstance(loss, str):
        return _LINKS.get(loss.split(":")[0], "identity")
    if type(model).__name__ == "CatBoostClassifier":
        return "logistic" if n_dims == 1 else "softmax"
    return "identity"


def _feature_names(model: Any, data: dict, n_features: int) -> list[str] | None:
    """The training column names, or None when CatBoost only made up '0', '1', ..."""
    ids = [f.get("feature_id", "") for f in data["features_info"].get("float_features", [])]
    if not any(ids):
        return None
    names = getattr(model, "feature_names_", None)
    if names is None or len(names) != n_features:
        return None
    return [str(n) for n in names]


def to_forest(model: Any) -> Forest:
    """Convert a fitted CatBoost model or a saved model file; see :func:`xplain_fast.to_forest`.

    Parameters
    ----------
    model : catboost.CatBoost, CatBoostRegressor, CatBoostClassifier, str or os.PathLike
        A fitted model on numeric features, or the path of a model saved as ``.cbm`` or ``.json``.

    Returns
    -------
    Forest
        Reproduces ``model.predict(X, prediction_type="RawFormulaVal")``.

    Raises
    ------
    ValueError
        For an unfitted model or a file that is missing or not a CatBoost model.
    TypeError
        For models with categorical, text or embedding features, or non-CatBoost objects.
    """
    import catboost

    if isinstance(model, str | bytes | os.PathLike):
        model = _load_file(model)
    elif not isinstance(model, catboost.CatBoost):
        raise TypeError(f"cannot convert a {type(model).__module__}.{type(model).__name__}: the "
                        "CatBoost loader takes CatBoost, CatBoostRegressor, CatBoostClassifier or "
                        "the path of a saved model")
    if not model.is_fitted():
        raise ValueError(f"{type(model).__name__} is not fitted yet; call fit before explaining it")
    if model.tree_count_ == 0:
        raise ValueError(f"{type(model).__name__} has no trees")

    data = _export_json(model)
    _check_no_categorical(model, data)
    info = data["features_info"]
    float_features = info.get("float_features") or []
    features = _Features(float_features)
    scale, bias = _scale_and_bias(data)
    n_dims = _n_dims(data, bias)
    base_value = np.zeros(n_dims) if bias is None or bias.size == 0 else bias
    if base_value.size == 1 and n_dims > 1:
        base_value = np.full(n_dims, base_value[0])

    if data.get("oblivious_trees"):
        trees = [_oblivious_tree(t, features, n_dims, scale) for t in data["oblivious_trees"]]
        _fill_complete_trees(trees)
    else:
        trees = [_non_symmetric_tree(t, features, n_dims, scale) for t in data["trees"]]

    columns = [int(f.get("flat_feature_index", f["feature_index"])) for f in float_features]
    n_features = max(columns, default=-1) + 1
    names = getattr(model, "feature_names_", None)
    if names is not None:
        n_features = max(n_features, len(names))
    link = _link(model, data, n_dims)
    return concatenate_trees(
        trees,
        base_value=base_value,
        n_features=n_features,
        decision="<=",
        float32_input=True,
        link=link,
        class_rule="argmax" if link in ("logistic", "softmax") else None,
        feature_names=_feature_names(model, data, n_features),
        source="catboost",
    )
