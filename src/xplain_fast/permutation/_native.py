"""The native path: tree models scored in C++ (only re-routed rows change; links and metrics native)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from sklearn.base import is_classifier, is_regressor

from .. import _core
from .._validation import check_rows, feature_names_of

#: scikit-learn scorer name -> the core's metric (the core names its metrics as scikit-learn does)
NATIVE_METRICS: dict[str, _core.Metric] = dict(_core.Metric.__members__)
_REGRESSION_METRICS = {
    "r2",
    "neg_mean_squared_error",
    "neg_root_mean_squared_error",
    "neg_mean_absolute_error",
}

#: bytes of permuted raw sums the native path holds at once (tasks beyond it run in blocks)
_NATIVE_TASK_BYTES = _core.DEFAULT_TASK_MEMORY_BYTES


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
        return regression_setup(forest, names)
    if not is_classifier(estimator) or any(n in _REGRESSION_METRICS for n in names):
        return None
    link = classifier_link(forest, getattr(estimator, "classes_", None))
    if link is None or not np.all(np.isin(y_arr, estimator.classes_)):
        return None
    if "roc_auc" in names and len(estimator.classes_) != 2:
        return None  # sklearn raises for multiclass targets with 'roc_auc'
    return classifier_setup(forest, names, link, np.asarray(estimator.classes_),
                            auc_uses_raw=hasattr(estimator, "decision_function") and link == _core.Link.logistic)


def _forest_setup(forest: Any, names: list[str]) -> dict:
    """What every native scoring of ``forest`` for the scorers ``names`` needs."""
    return {
        "forest": forest,
        # scikit-learn and LightGBM sum an averaged ensemble's trees and divide once: do the same
        "value": forest.value if forest.summed_value is None else forest.summed_value,
        "divisor": forest.divisor,
        "metrics": [NATIVE_METRICS[n] for n in names],
        "names": list(names),
    }


def regression_setup(forest: Any, names: list[str]) -> dict:
    """The native setup of a regressor's Forest (one output, identity or exp link)."""
    return {**_forest_setup(forest, names), "classifier": False,
            "link": _core.Link.exp if forest.link == "exp" else _core.Link.identity,
            "predict_rule": _core.PredictRule.argmax, "auc_uses_raw": False, "classes": None}


def classifier_setup(forest: Any, names: list[str], link: _core.Link, classes: np.ndarray, *,
                     auc_uses_raw: bool) -> dict:
    """The native setup of a classifier's Forest whose outputs become probabilities by ``link``."""
    return {**_forest_setup(forest, names), "classifier": True, "link": link,
            "predict_rule": _core.PredictRule.__members__[forest.class_rule], "classes": classes,
            "auc_uses_raw": auc_uses_raw}


def classifier_link(forest: Any, classes: Any) -> _core.Link | None:
    """How the outputs become class probabilities, or None when the native path cannot tell."""
    if forest.class_rule is None or classes is None or np.ndim(classes) != 1 or len(classes) < 2:
        return None
    n_classes = len(classes)
    if forest.link == "identity" and forest.n_outputs == n_classes:
        return _core.Link.proba  # the outputs are the probabilities (averaged class frequencies)
    if forest.link == "logistic" and forest.n_outputs == 1 and n_classes == 2:
        return _core.Link.logistic
    if forest.link == "softmax" and forest.n_outputs == n_classes:
        return _core.Link.softmax
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
    spec = _scoring_spec(setup)
    offsets = np.concatenate([[0], np.cumsum([len(g) for g in groups])]).astype(np.int64)
    columns = np.concatenate(groups).astype(np.int64)
    sub_baseline, permuted = _core.permutation_scores(
        forest.handle, setup["value"], sub_rows, perms, offsets, columns, spec, y=sub_t["y"],
        y_class=sub_t["y_class"], sample_weight=sub_w, n_jobs=threads, task_memory_bytes=_NATIVE_TASK_BYTES,
        allow_avx512=avx512_scan_allowed())
    if row_indices is None:
        return sub_baseline, permuted
    # scikit-learn scores the baseline on all rows, the permutations on the subsample
    baseline = _core.forest_scores(forest.handle, setup["value"], rows, spec, y=full_t["y"], y_class=full_t["y_class"],
                                   sample_weight=sample_weight, n_jobs=threads)
    return baseline, permuted


def _scoring_spec(setup: dict) -> _core.ScoringSpec:
    """What the core scores and how. A model whose own arithmetic is float32 (float32_output) is
    scored without the core's exact float64 re-sum of near ties: it would buy nothing there."""
    spec = _core.ScoringSpec()
    spec.classifier = setup["classifier"]
    spec.link = setup["link"]
    spec.divisor = setup["divisor"]
    spec.predict_rule = setup["predict_rule"]
    spec.auc_uses_raw = setup["auc_uses_raw"]
    spec.float32_output = setup["forest"].float32_output
    spec.n_classes = 0 if setup["classes"] is None else len(setup["classes"])
    spec.metrics = setup["metrics"]
    return spec


def avx512_scan_allowed() -> bool:
    """Whether the core may scan with AVX-512 where the CPU has it: XPLAIN_FAST_NO_AVX512 in the
    environment keeps the portable scan (the same bits; tests compare the two)."""
    return "XPLAIN_FAST_NO_AVX512" not in os.environ


class UseGeneric(Exception):
    """The native path declined these targets after all."""


