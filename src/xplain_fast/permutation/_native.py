"""The native path: tree models scored in C++ (only re-routed rows change; links and metrics native)."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import is_classifier, is_regressor

from .. import _core
from .._validation import check_rows, feature_names_of

NATIVE_METRICS = {
    "r2": 0,
    "neg_mean_squared_error": 1,
    "neg_root_mean_squared_error": 2,
    "neg_mean_absolute_error": 3,
    "accuracy": 4,
    "balanced_accuracy": 5,
    "neg_log_loss": 6,
    "roc_auc": 7,
    "roc_auc_ovr": 8,
}
_REGRESSION_METRICS = {
    "r2",
    "neg_mean_squared_error",
    "neg_root_mean_squared_error",
    "neg_mean_absolute_error",
}

# links and predict rules (PermLink / PermPredictRule in permutation.hpp)
_LINK_IDENTITY, _LINK_EXP, _LINK_LOGISTIC, _LINK_SOFTMAX, _LINK_PROBA = range(5)
_PREDICT_RULES = {"argmax": 0, "raw_positive": 1, "raw_non_negative": 2}

#: bytes of permuted raw sums the native path holds at once (tasks beyond it run in blocks)
_NATIVE_TASK_BYTES = 256 * 2**20


def native_setup(estimator: Any, X: Any, y: Any, names: list[str]) -> dict | None:
    """How to score this model in C++, or None when the generic path must be used."""
    from ..models import to_forest

    if y is None:
        return None
    if hasattr(X, "iloc"):
        kinds = {np.asarray(X[c]).dtype.kind for c in X.columns}
        if not kinds <= set("biuf"):
            return None  # category / object columns: the model's own encoding decides
    try:
        forest = to_forest(estimator)
    except (TypeError, ValueError):
        return None
    if forest.n_features != X.shape[1]:
        return None
    x_names = feature_names_of(X)
    if x_names is not None and forest.feature_names is not None and x_names != forest.feature_names:
        return None
    setup = {
        "forest": forest,
        # scikit-learn and LightGBM sum an averaged ensemble's trees and divide once: do the same
        "value": forest.value if forest.summed_value is None else forest.summed_value,
        "divisor": forest.divisor,
        "metrics": [NATIVE_METRICS[n] for n in names],
        "names": list(names),
    }
    y_arr = np.asarray(y)
    if y_arr.ndim != 1:
        return None
    if is_regressor(estimator) and not is_classifier(estimator):
        if any(n not in _REGRESSION_METRICS for n in names):
            return None
        if (
            forest.n_outputs != 1
            or forest.link not in ("identity", "exp")
            or y_arr.dtype.kind not in "biuf"
        ):
            return None
        setup.update(
            classifier=False,
            link=_LINK_EXP if forest.link == "exp" else _LINK_IDENTITY,
            predict_rule=_PREDICT_RULES["argmax"],
            auc_uses_raw=False,
            classes=None,
        )
        return setup
    if not is_classifier(estimator) or any(n in _REGRESSION_METRICS for n in names):
        return None
    link = _classifier_link(forest, getattr(estimator, "classes_", None))
    if link is None or not np.all(np.isin(y_arr, estimator.classes_)):
        return None
    if "roc_auc" in names and len(estimator.classes_) != 2:
        return None  # sklearn raises for multiclass targets with 'roc_auc'
    setup.update(
        classifier=True,
        link=link,
        predict_rule=_PREDICT_RULES[forest.class_rule],
        classes=np.asarray(estimator.classes_),
        auc_uses_raw=hasattr(estimator, "decision_function") and link == _LINK_LOGISTIC,
    )
    return setup


def _classifier_link(forest: Any, classes: Any) -> int | None:
    """How the outputs become class probabilities, or None when the native path cannot tell."""
    if forest.class_rule is None or classes is None or np.ndim(classes) != 1 or len(classes) < 2:
        return None
    n_classes = len(classes)
    if forest.link == "identity" and forest.n_outputs == n_classes:
        return _LINK_PROBA  # the outputs are the probabilities (averaged class frequencies)
    if forest.link == "logistic" and forest.n_outputs == 1 and n_classes == 2:
        return _LINK_LOGISTIC
    if forest.link == "softmax" and forest.n_outputs == n_classes:
        return _LINK_SOFTMAX
    return None


def _class_indices(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    idx = np.searchsorted(classes, y)
    return idx.astype(np.int32)


def _native_targets(setup: dict, y: Any, names: list[str]) -> dict | None:
    """y for the C++ scorer, or None when sklearn would refuse these targets (generic path)."""
    y = np.asarray(y)
    if not setup["classifier"]:
        if "r2" in names and len(y) < 2:
            return None  # undefined: scikit-learn warns and scores NaN
        return {"y": np.ascontiguousarray(y, dtype=np.float64), "y_class": None}
    classes = setup["classes"]
    present = np.unique(y)
    needs_all = {"neg_log_loss", "roc_auc", "roc_auc_ovr"}
    if any(n in needs_all for n in names) and len(present) != len(classes):
        return None
    return {"y": None, "y_class": _class_indices(y, classes)}


def native_scores(
    setup: dict,
    X: Any,
    y: Any,
    sample_weight: np.ndarray | None,
    row_indices: np.ndarray | None,
    perms: np.ndarray,
    groups: list[np.ndarray],
    threads: int,
) -> tuple[np.ndarray, np.ndarray]:
    forest = setup["forest"]
    rows = check_rows(X, forest.n_features)
    y_arr = np.asarray(y)
    sub_rows = rows if row_indices is None else np.ascontiguousarray(rows[row_indices])
    sub_y = y_arr if row_indices is None else y_arr[row_indices]
    sub_w = (
        sample_weight
        if (row_indices is None or sample_weight is None)
        else sample_weight[row_indices]
    )
    names = setup["names"]
    full_t = _native_targets(setup, y_arr, names)
    sub_t = _native_targets(setup, sub_y, names)
    if full_t is None or sub_t is None:
        raise UseGeneric
    common = dict(
        classifier=setup["classifier"],
        link=setup["link"],
        divisor=setup["divisor"],
        predict_rule=setup["predict_rule"],
        auc_uses_raw=setup["auc_uses_raw"],
        float32_output=forest.float32_output,
        n_classes=0 if setup["classes"] is None else len(setup["classes"]),
        metrics=setup["metrics"],
    )
    offsets = np.concatenate([[0], np.cumsum([len(g) for g in groups])]).astype(np.int64)
    columns = np.concatenate(groups).astype(np.int64)
    sub_baseline, permuted = _core.permutation_scores(
        forest.handle,
        setup["value"],
        not forest.float32_output,  # float32 sums gain nothing from an exact float64 tree order
        sub_rows,
        perms,
        offsets,
        columns,
        y=sub_t["y"],
        y_class=sub_t["y_class"],
        sample_weight=sub_w,
        n_jobs=threads,
        task_memory_bytes=_NATIVE_TASK_BYTES,
        **common,
    )
    if row_indices is None:
        return sub_baseline, permuted
    # scikit-learn scores the baseline on all rows, the permutations on the subsample
    baseline = _core.forest_scores(
        forest.handle,
        setup["value"],
        rows,
        y=full_t["y"],
        y_class=full_t["y_class"],
        sample_weight=sample_weight,
        n_jobs=threads,
        **common,
    )
    return baseline, permuted


class UseGeneric(Exception):
    """The native path declined these targets after all."""


