"""What the Dask and Spark front ends share: the explainer that travels, and one partition's work.

Nothing here imports Dask or Spark; both front ends call these functions on their workers.
"""

from __future__ import annotations

import copy
import hashlib
import pickle
from collections import OrderedDict
from typing import Any

import numpy as np

from ._io import flat_column_names
from .tree import TreeExplainer

#: deserialized explainers kept per worker process, by payload digest (a worker that runs many
#: partitions of one job unpickles its explainer once)
_LOADED: OrderedDict[str, Any] = OrderedDict()
_LOADED_MAX = 4


def shippable_explainer(model_or_explainer: Any, *, background: Any = None, model_output: str = "raw",
                        n_jobs: int | None = None, interactions: bool = False) -> TreeExplainer:
    """A fitted TreeExplainer ready to travel to workers.

    A model is fitted here, once (path-dependent, or interventional on ``background``, whose
    tables are built here and travel with it). The copy sent holds the Forest in place of the
    model, so workers need no model library, and ``n_jobs`` threads per partition.
    """
    if isinstance(model_or_explainer, TreeExplainer):
        if background is not None:
            raise ValueError("background= is for a model; fit the explainer on its background "
                             "(explainer.fit(background)) and pass the fitted explainer")
        explainer = model_or_explainer
        if not hasattr(explainer, "forest_"):
            if explainer.feature_perturbation == "interventional":
                raise ValueError("fit the interventional explainer on its background first")
            explainer = copy.copy(explainer).fit()
    else:
        perturbation = "tree_path_dependent" if background is None else "interventional"
        explainer = TreeExplainer(model_or_explainer, feature_perturbation=perturbation,
                                  model_output=model_output).fit(background)
    if explainer.model_output == "log_loss":
        raise ValueError("model_output='log_loss' explains each row's loss against its label; "
                         "distributed explanations support 'raw' and 'probability'")
    if interactions:
        explainer._interaction_tables()  # built once here, not on every worker
    shipped = copy.copy(explainer)
    shipped.model = explainer.forest_
    shipped.n_jobs = n_jobs
    return shipped


def payload_of(explainer: TreeExplainer) -> tuple[bytes, str]:
    """(pickled explainer, its sha256): the compact bytes that travel, and a key naming them."""
    payload = pickle.dumps(explainer, protocol=pickle.HIGHEST_PROTOCOL)
    return payload, hashlib.sha256(payload).hexdigest()


def load_explainer(payload: bytes) -> TreeExplainer:
    """The explainer in ``payload``, unpickled once per process."""
    key = hashlib.sha256(payload).hexdigest()
    explainer = _LOADED.get(key)
    if explainer is None:
        explainer = _LOADED[key] = pickle.loads(payload)
        while len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
    return explainer


def feature_columns(explainer: TreeExplainer, columns: list[str] | None) -> list[str] | None:
    """The frame columns to explain, in the model's order: the model's feature names where it has
    them (other columns are left out), else every column."""
    names = explainer.forest_.feature_names
    if columns is None:
        return None
    if names is None:
        if len(columns) != explainer.n_features_in_:
            raise ValueError(f"X has {len(columns)} columns, but the model expects "
                             f"{explainer.n_features_in_} features (it has no feature names to select them by)")
        return list(columns)
    missing = [n for n in names if n not in columns]
    if missing:
        raise ValueError(f"X lacks {len(missing)} of the model's features, e.g. {missing[:5]}")
    return list(names)


def value_shape(explainer: TreeExplainer) -> tuple[int, ...]:
    """Shape of one row's SHAP values: (M,) or (M, K)."""
    M, K = explainer.n_features_in_, explainer.n_outputs_
    return (M,) if K == 1 else (M, K)


def interaction_shape(explainer: TreeExplainer, features: Any) -> tuple[int, ...]:
    """Shape of one row's interaction values: (S, S) or (S, S, K)."""
    S = explainer.n_features_in_ if features is None else len(explainer._feature_indices(features))
    K = explainer.n_outputs_
    return (S, S) if K == 1 else (S, S, K)


def explain_partition(explainer: TreeExplainer, rows: Any, *, interactions: bool = False,
                      features: Any = None, check_additivity: bool = True) -> np.ndarray:
    """SHAP values (or interaction values) of one partition's rows; an empty partition gives an
    empty array of the right shape."""
    if len(rows) == 0:
        shape = interaction_shape(explainer, features) if interactions else value_shape(explainer)
        return np.empty((0, *shape))
    if interactions:
        # one partition at a time: its size is the caller's chunking, not a memory estimate
        return explainer.shap_interaction_values(rows, features=features, max_bytes=np.inf)
    return explainer.shap_values(rows, check_additivity=check_additivity)


def output_columns(explainer: TreeExplainer, names: list[str] | None) -> list[str]:
    """Columns of a SHAP frame, named as the command line's result files name them:
    ``shap_<feature>`` (``shap_<feature>[k]`` per output k), then ``base_value`` (``base_value[k]``)."""
    names = names or explainer.forest_.feature_names or [f"x{j}" for j in range(explainer.n_features_in_)]
    K = explainer.n_outputs_
    values = [f"shap_{c}" for c in flat_column_names(names, value_shape(explainer), "shap")]
    return values + (["base_value"] if K == 1 else [f"base_value[{k}]" for k in range(K)])


def shap_table(explainer: TreeExplainer, rows: Any, *, check_additivity: bool = True) -> np.ndarray:
    """One partition's SHAP values and base values as the columns of :func:`output_columns`."""
    n, M, K = len(rows), explainer.n_features_in_, explainer.n_outputs_
    if n == 0:
        return np.empty((0, (M + 1) * K))
    explanation = explainer.explain(rows, check_additivity=check_additivity)
    values = np.asarray(explanation.values).reshape(n, M * K)
    base = np.broadcast_to(np.asarray(explanation.base_values, dtype=np.float64).reshape(n, -1), (n, K))
    return np.hstack([values, base])
