"""scikit-learn trees and ensembles -> Forest."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    IsolationForest,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.tree import BaseDecisionTree, DecisionTreeClassifier

from ..forest import Forest, concatenate_trees

SUPPORTED = (
    "DecisionTree/ExtraTree regressor and classifier (incl. multi-output), RandomForest and "
    "ExtraTrees regressor and classifier, GradientBoosting regressor and classifier, "
    "HistGradientBoosting regressor and classifier, IsolationForest"
)


def _class_value(tree: Any) -> np.ndarray:
    """Class probabilities per node, outputs concatenated: (n_nodes, sum of n_classes)."""
    value = tree.tree_.value  # (n_nodes, n_outputs, max_n_classes)
    n_classes = np.atleast_1d(tree.n_classes_)
    blocks = []
    for k, n_k in enumerate(n_classes):
        block = value[:, k, :n_k]
        total = block.sum(axis=1, keepdims=True)
        blocks.append(np.divide(block, total, out=np.zeros_like(block), where=total > 0))
    return np.concatenate(blocks, axis=1)


def _tree_arrays(tree: Any, value: np.ndarray, scale: float = 1.0,
                 feature_map: np.ndarray | None = None) -> dict:
    """Per-tree arrays of a fitted sklearn decision tree (children already follow parents)."""
    t = tree.tree_
    feature = t.feature.astype(np.int64)
    if feature_map is not None:
        feature = np.where(feature >= 0, feature_map[np.maximum(feature, 0)], -1)
    missing_left = getattr(t, "missing_go_to_left", None)
    return {
        "left": t.children_left,
        "right": t.children_right,
        "feature": feature,
        "threshold": t.threshold,
        # before scikit-learn 1.3 a NaN compared false against the threshold and went right
        "default_left": np.zeros(t.node_count, np.uint8) if missing_left is None else missing_left,
        "value": value * scale,
        "cover": t.weighted_n_node_samples,
        "gain": _impurity_decrease(t),
    }


def _impurity_decrease(t: Any) -> np.ndarray:
    """Weighted impurity decrease of each split (0 at leaves), as feature_importances_ sums it."""
    left, right = t.children_left, t.children_right
    w, imp = t.weighted_n_node_samples, t.impurity
    internal = left >= 0
    gain = np.zeros(t.node_count)
    li, ri = left[internal], right[internal]
    gain[internal] = w[internal] * imp[internal] - w[li] * imp[li] - w[ri] * imp[ri]
    return gain


def _regression_value(tree: Any) -> np.ndarray:
    return tree.tree_.value[:, :, 0]


def _n_features(model: Any) -> int:
    return int(model.n_features_in_)


def _names(model: Any) -> list[str] | None:
    names = getattr(model, "feature_names_in_", None)
    return None if names is None else [str(n) for n in names]


def _single_tree(model: BaseDecisionTree) -> Forest:
    is_classifier = isinstance(model, DecisionTreeClassifier)
    value = _class_value(model) if is_classifier else _regression_value(model)
    return concatenate_trees(
        [_tree_arrays(model, value)],
        base_value=np.zeros(value.shape[1]),
        n_features=_n_features(model),
        float32_input=True,
        class_rule="argmax" if is_classifier else None,  # the outputs are class probabilities
        feature_names=_names(model),
        source=type(model).__name__,
    )


def _forest_tree_values(model: Any) -> list[np.ndarray]:
    """Each tree's per-node values in a random or extra-trees forest, before the averaging."""
    is_classifier = isinstance(model, RandomForestClassifier | ExtraTreesClassifier)
    return [_class_value(est) if is_classifier else _regression_value(est) for est in model.estimators_]


def _random_forest(model: Any) -> Forest:
    n = len(model.estimators_)
    values = _forest_tree_values(model)
    trees = [_tree_arrays(est, value, scale=1.0 / n) for est, value in zip(model.estimators_, values, strict=True)]
    width = trees[0]["value"].shape[1]
    # scikit-learn adds its trees' outputs and divides the sum once: keep the values it sums
    return concatenate_trees(
        trees,
        base_value=np.zeros(width),
        n_features=_n_features(model),
        float32_input=True,
        summed_value=np.concatenate(values, axis=0),
        divisor=n,
        class_rule="argmax" if isinstance(model, RandomForestClassifier | ExtraTreesClassifier) else None,
        feature_names=_names(model),
        source=type(model).__name__,
    )


def _gradient_boosting(model: Any) -> Forest:
    init = model.init_
    if not (init == "zero" or type(init).__name__ in ("DummyRegressor", "DummyClassifier")):
        raise TypeError(
            f"{type(model).__name__} with init={type(init).__name__} is not supported: its starting "
            "prediction is itself a model of X. Use init=None (the default) or init='zero'."
        )
    n_stages, K = model.estimators_.shape
    # The init prediction is constant for the supported inits: evaluate it on any row.
    base = np.asarray(model._raw_predict_init(np.zeros((1, _n_features(model)), dtype=np.float32)))
    trees = []
    for stage in range(n_stages):
        for k in range(K):
            est = model.estimators_[stage, k]
            tree = _tree_arrays(est, _regression_value(est), scale=model.learning_rate)
            tree["output"] = k
            trees.append(tree)
    is_classifier = isinstance(model, GradientBoostingClassifier)
    link, class_rule = "identity", None
    if is_classifier:
        link = "logistic" if K == 1 else "softmax"
        # predict thresholds the raw score at 0 (argmax for several classes); the exponential
        # loss maps the score to a probability by another function than the link above
        class_rule = "raw_non_negative" if getattr(model, "loss", "log_loss") == "log_loss" else None
    return concatenate_trees(
        trees,
        base_value=base.reshape(-1),
        n_features=_n_features(model),
        float32_input=True,
        link=link,
        class_rule=class_rule,
        feature_names=_names(model),
        source=type(model).__name__,
    )


def _hist_gradient_boosting(model: Any) -> Forest:
    column_of, category_values = _hist_columns(model)
    trees = []
    for iteration in model._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            leaf = nodes["is_leaf"].astype(bool)
            tree = {
                "left": np.where(leaf, -1, nodes["left"].astype(np.int64)),
                "right": np.where(leaf, -1, nodes["right"].astype(np.int64)),
                "feature": column_of[nodes["feature_idx"]],
                "threshold": nodes["num_threshold"],
                "default_left": nodes["missing_go_to_left"].astype(np.uint8),
                "value": nodes["value"],
                "cover": nodes["count"].astype(np.float64),
                "gain": np.where(leaf, 0.0, nodes["gain"]),
                "output": k,
            }
            if np.any(nodes["is_categorical"][~leaf]):
                tree["categories"] = _hist_categorical_splits(
                    nodes, predictor.raw_left_cat_bitsets, category_values, tree)
            trees.append(tree)
    K = len(model._predictors[0])
    loss = getattr(model, "loss", "")
    class_rule = None
    if isinstance(model, HistGradientBoostingClassifier):
        link = "logistic" if K == 1 else "softmax"
        class_rule = "raw_positive"  # predict: raw score > 0 (argmax for several classes)
    else:
        link = "exp" if loss in ("poisson", "gamma") else "identity"
    return concatenate_trees(
        trees,
        base_value=np.asarray(model._baseline_prediction, dtype=np.float64).reshape(-1),
        n_features=_n_features(model),
        link=link,
        class_rule=class_rule,
        feature_names=_names(model),
        source=type(model).__name__,
    )


def _hist_columns(model: Any) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Map the trees' column indices back to the user's columns, and give the raw category value
    of every code of each categorical tree column.

    HistGradientBoosting passes categorical columns through an internal OrdinalEncoder placed
    before the numeric ones; a value the encoder has not seen becomes missing.
    """
    n = _n_features(model)
    preprocessor = getattr(model, "_preprocessor", None)
    if preprocessor is None:
        return np.arange(n), {}
    column_of: list[int] = []
    category_values: dict[int, np.ndarray] = {}
    for name, transformer, columns in preprocessor.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        columns = np.asarray(columns)
        indices = np.flatnonzero(columns) if columns.dtype == bool else columns.astype(np.int64)
        if name == "encoder":
            for j, values in enumerate(transformer.categories_):
                values = np.asarray(values)
                # NaN is listed last when seen, but encoded as missing (encoded_missing_value=nan)
                values = values[~np.isnan(values)] if values.dtype.kind == "f" else values
                integral = values.dtype.kind in "iuf" and np.all(values >= 0) and np.all(values == np.floor(values))
                if not integral:
                    raise TypeError(
                        f"{type(model).__name__} has categorical feature {int(indices[j])} with categories "
                        f"{values[:5].tolist()}...; only non-negative integer category codes are supported. "
                        "Encode the column as integers before fitting."
                    )
                category_values[len(column_of) + j] = values.astype(np.int64)
        column_of.extend(int(i) for i in indices)
    return np.asarray(column_of, dtype=np.int64), category_values


def _bits_to_codes(words: np.ndarray) -> np.ndarray:
    """Positions of the set bits in a row of 32-bit words."""
    bits = np.unpackbits(np.ascontiguousarray(words, dtype="<u4").view(np.uint8), bitorder="little")
    return np.flatnonzero(bits)


def _hist_categorical_splits(nodes: np.ndarray, raw_left: np.ndarray, category_values: dict[int, np.ndarray],
                             tree: dict) -> dict[int, np.ndarray]:
    """Raw categories going left per categorical node, in the Forest's convention.

    HistGradientBoosting sends unknown categories (and NaN) the way of missing values, while the
    Forest sends anything outside the bitset right. Where missing values go left, the children are
    swapped and the bitset becomes the known categories that went right.
    """
    categories = {}
    for node in np.flatnonzero(nodes["is_categorical"] & ~nodes["is_leaf"].astype(bool)):
        values = category_values[int(nodes["feature_idx"][node])]
        codes_left = _bits_to_codes(raw_left[nodes["bitset_idx"][node]])
        codes_left = codes_left[codes_left < len(values)]
        if nodes["missing_go_to_left"][node]:
            categories[int(node)] = np.delete(values, codes_left)
            tree["left"][node], tree["right"][node] = tree["right"][node], tree["left"][node]
            tree["default_left"][node] = 0
        else:
            categories[int(node)] = values[codes_left]
    return categories


def _average_path_length(n: np.ndarray) -> np.ndarray:
    """Expected path length of an unsuccessful BST search among n points (Liu et al. 2008)."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _isolation_forest(model: IsolationForest) -> Forest:
    n = len(model.estimators_)
    trees, path_lengths = [], []
    for est, features in zip(model.estimators_, model.estimators_features_, strict=True):
        t = est.tree_
        depth = np.zeros(t.node_count)
        for node in range(t.node_count):  # parents precede children in sklearn's node order
            if t.children_left[node] >= 0:
                depth[t.children_left[node]] = depth[t.children_right[node]] = depth[node] + 1
        path_length = depth + _average_path_length(t.n_node_samples)
        trees.append(_tree_arrays(est, path_length.reshape(-1, 1), scale=1.0 / n,
                                  feature_map=np.asarray(features)))
        path_lengths.append(path_length)
    return concatenate_trees(
        trees,
        base_value=np.zeros(1),
        n_features=_n_features(model),
        float32_input=True,
        summed_value=np.concatenate(path_lengths),  # scikit-learn sums the depths, then divides
        divisor=n,
        class_rule=None,
        feature_names=_names(model),
        source="IsolationForest",
    )


LOADERS = [
    (BaseDecisionTree, _single_tree),
    (RandomForestRegressor | RandomForestClassifier | ExtraTreesRegressor | ExtraTreesClassifier,
     _random_forest),
    (GradientBoostingRegressor | GradientBoostingClassifier, _gradient_boosting),
    (HistGradientBoostingRegressor | HistGradientBoostingClassifier, _hist_gradient_boosting),
    (IsolationForest, _isolation_forest),
]


def to_forest(model: Any) -> Forest:
    """Convert a fitted scikit-learn tree model; see :func:`xplain_fast.to_forest`."""
    for kind, loader in LOADERS:
        if isinstance(model, kind):
            return loader(model)
    raise TypeError(f"unsupported scikit-learn model {type(model).__name__}; supported: {SUPPORTED}")
