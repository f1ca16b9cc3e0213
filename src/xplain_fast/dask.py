"""Explanations and permutation importance on Dask: data that outgrows one machine.

SHAP values and interaction values come back as lazy Dask collections with the input's row
partitions (arrays: same row chunks; DataFrames: same index and divisions). The explainer is fitted
once on the client (interventional tables included) and enters the graph as one task that unpickles
its compact bytes: it reaches each worker once, needs no model library there, and is recomputed
from the graph if the worker holding it is lost. Each partition runs the C++ core on the worker's
thread (``n_jobs`` threads per partition; Dask already runs one partition per worker thread).

:func:`permutation_importance` gives exactly scikit-learn's numbers on the gathered data: the
client draws scikit-learn's permutations, sends each partition the permuted column's values it
needs, the workers predict, and the client scores with scikit-learn's scorers.

Requires the ``dask`` extra (``pip install 'xplain-fast[dask]'``).

Examples
--------
>>> import numpy as np, dask.array as da, xplain_fast as xf, xplain_fast.dask as xfd
>>> from sklearn.ensemble import RandomForestRegressor
>>> X = np.random.default_rng(0).normal(size=(300, 4)); y = X[:, 0] + X[:, 1]
>>> rf = RandomForestRegressor(10, random_state=0).fit(X, y)
>>> phi = xfd.shap_values(rf, da.from_array(X, chunks=(100, 4)))
>>> phi.chunks[0], bool(np.allclose(phi.compute(), xf.shap_values(rf, X)))
((100, 100, 100), True)
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import CancelledError
from typing import Any

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

try:
    import dask
    import dask.array as da
    import dask.dataframe as dd
    from distributed import get_client
    from distributed.scheduler import KilledWorker
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("xplain_fast.dask needs the 'dask' extra: pip install 'xplain-fast[dask]'") from exc

from ._distributed import (
    explain_partition,
    feature_columns,
    interaction_shape,
    load_explainer,
    output_columns,
    payload_of,
    shap_table,
    shippable_explainer,
    value_shape,
)
from .permutation._api import _bunch
from .permutation._arguments import check_and_draw, check_fitted
from .permutation._generic import StandInEstimator
from .permutation._scorers import scorer_names

__all__ = ["permutation_importance", "shap_interaction_values", "shap_values"]


def shap_values(model_or_explainer: Any, X: Any, *, background: Any = None, model_output: str = "raw",
                n_jobs: int | None = None, check_additivity: bool = True) -> Any:
    """SHAP values of a tree model on a Dask array or DataFrame, lazily.

    Parameters
    ----------
    model_or_explainer : tree model, Forest or TreeExplainer
        A model is explained path-dependently, or interventionally when ``background`` is given; a
        TreeExplainer (fitted, or path-dependent) is used as it is.
    X : dask.array.Array of shape (n, M) or dask.dataframe.DataFrame
        Rows to explain. An array is rechunked to one chunk across columns; a DataFrame's columns
        are matched to the model's feature names (other columns are left out).
    background : array-like, DataFrame, dask array or dask DataFrame, optional
        Background rows of interventional SHAP; a Dask collection is computed on the client (keep
        it small: about 100 to 1,000 rows). The tables are built once there and shipped.
    model_output : {"raw", "probability"}
        As in :class:`xplain_fast.TreeExplainer` (with ``background``).
    n_jobs : int, optional
        Threads of the C++ core per partition (default 1: Dask runs a partition per worker thread).
    check_additivity : bool, default True
        Check ``sum(phi) + base value == output`` on every partition.

    Returns
    -------
    dask.array.Array of shape (n, M) or (n, M, K), with X's row chunks; for a DataFrame, a dask
    DataFrame with X's index and divisions and columns ``shap_<feature>`` then ``base_value``
    (``shap_<feature>[k]`` and ``base_value[k]`` for K outputs).
    """
    explainer = shippable_explainer(model_or_explainer, background=_local(background),
                                    model_output=model_output, n_jobs=n_jobs)
    node = _explainer_node(explainer)
    if isinstance(X, dd.DataFrame):
        columns = feature_columns(explainer, [str(c) for c in X.columns])
        frame = X[columns]
        meta = pd.DataFrame({c: pd.Series(dtype=np.float64) for c in output_columns(explainer, columns)})
        return frame.map_partitions(_shap_frame, node, check_additivity, meta=meta)
    rows = _row_chunked(X, explainer.n_features_in_)
    shape = value_shape(explainer)
    return rows.map_blocks(_explain_block, node, False, None, check_additivity, dtype=np.float64,
                           chunks=(rows.chunks[0], *((s,) for s in shape)),
                           new_axis=list(range(2, 1 + len(shape))) or None)


def shap_interaction_values(model_or_explainer: Any, X: Any, *, features: Sequence[int | str] | None = None,
                            background: Any = None, n_jobs: int | None = None) -> Any:
    """SHAP interaction values on a Dask array (or DataFrame), lazily.

    Parameters are those of :func:`shap_values`; ``features`` (indices or names) keeps the
    ``(S, S)`` block of those features, as in :meth:`xplain_fast.TreeExplainer.shap_interaction_values`.
    Each partition's output is (rows x S x S x 8) bytes: size the chunks for it.

    Returns
    -------
    dask.array.Array of shape (n, S, S) or (n, S, S, K) with X's row chunks (a DataFrame's
    partitions give chunks of unknown size).
    """
    explainer = shippable_explainer(model_or_explainer, background=_local(background), n_jobs=n_jobs,
                                    interactions=True)
    shape = interaction_shape(explainer, features)  # also checks the features
    node = _explainer_node(explainer)
    if isinstance(X, dd.DataFrame):
        columns = feature_columns(explainer, [str(c) for c in X.columns])
        X = X[columns].to_dask_array()
    rows = _row_chunked(X, explainer.n_features_in_)
    return rows.map_blocks(_explain_block, node, True, features, True, dtype=np.float64,
                           chunks=(rows.chunks[0], *((s,) for s in shape)),
                           new_axis=list(range(2, 1 + len(shape))))


def _local(data: Any) -> Any:
    """A Dask collection computed to the client; anything else as it is."""
    return data.compute() if dask.is_dask_collection(data) else data


def _explainer_node(explainer: Any) -> Any:
    """The graph task that unpickles the explainer's bytes: computed once, kept on a worker,
    fetched by the others, recomputed from the graph if its worker is lost."""
    payload, digest = payload_of(explainer)
    return dask.delayed(load_explainer, pure=True)(payload, dask_key_name=f"xplain-fast-explainer-{digest}")


def _row_chunked(X: Any, n_features: int) -> Any:
    if not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask array or dask DataFrame, got {type(X).__name__}; "
                        "for data in memory use xplain_fast.TreeExplainer")
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    if X.shape[1] != n_features:
        raise ValueError(f"X has {X.shape[1]} features, but the model expects {n_features}")
    return X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X


def _explain_block(block: np.ndarray, explainer: Any, interactions: bool, features: Any,
                   check_additivity: bool) -> np.ndarray:
    return explain_partition(explainer, block, interactions=interactions, features=features,
                             check_additivity=check_additivity)


def _shap_frame(part: pd.DataFrame, explainer: Any, check_additivity: bool) -> pd.DataFrame:
    columns = output_columns(explainer, [str(c) for c in part.columns])
    table = shap_table(explainer, part, check_additivity=check_additivity)
    return pd.DataFrame(table, index=part.index, columns=columns)


# -- permutation importance ---------------------------------------------------------------------


def permutation_importance(
    estimator: Any, X: Any, y: Any, *, scoring: str | Any | Sequence[str] | Mapping[str, Any] | None = None,
    n_repeats: int = 5, random_state: int | np.random.RandomState | None = None, sample_weight: Any = None,
    max_samples: float | int = 1.0, feature_groups: Any = None, client: Any = None, max_retries: int = 3,
) -> Bunch | dict[str, Bunch]:
    """Permutation importance of any fitted estimator on a Dask array or DataFrame.

    The numbers are exactly those of :func:`sklearn.inspection.permutation_importance` (and
    :func:`xplain_fast.permutation_importance`) on the gathered data with the same arguments:
    the client draws scikit-learn's permutations (its seed, and its in-place shuffles of a row
    index, which compound across repeats), sends every partition the permuted column's values for
    its rows, the workers predict with the estimator's own methods (all repeats of a column in one
    call per partition), and the client scores with scikit-learn's scorers.

    What it costs: the client holds y, one column (group) of X and the permutation index, that is
    n x (8 x n_repeats + 8 x columns per group + the predictions) bytes at a time, and sends
    n x 8 x n_repeats bytes of permuted values per column. That is practical up to a few hundred
    million rows on a client with tens of GiB; beyond that, subsample with ``max_samples``.

    Parameters
    ----------
    estimator : fitted estimator
        Pickled once and unpickled on the workers (its library must be installed there).
    X : dask.dataframe.DataFrame or dask.array.Array of shape (n, M)
    y : array-like, dask Series or dask array of shape (n,)
        Gathered to the client, in X's row order.
    scoring, n_repeats, random_state, sample_weight, max_samples, feature_groups
        As in :func:`xplain_fast.permutation_importance`. Scorers may use only the estimator's
        ``predict``, ``predict_proba``, ``decision_function`` and ``predict_log_proba``.
    client : distributed.Client, optional
        Default: the current client (``distributed.get_client()``).
    max_retries : int, default 3
        How often the work of a column is resubmitted when the cluster loses it (a worker lost, a
        ``client.restart()``); the result is the same.

    Returns
    -------
    sklearn.utils.Bunch or dict of str -> Bunch
        As :func:`xplain_fast.permutation_importance`.
    """
    client = client if client is not None else _current_client()
    check_fitted(estimator)  # before any work on the cluster
    partitions = _Partitions(client, X)
    n_samples, n_features = partitions.n_rows, partitions.n_features
    draws = check_and_draw(estimator, partitions.meta, n_samples, n_features, _local(y), _local(sample_weight),
                           feature_groups, random_state, max_samples, n_repeats)
    y = None if draws.y is None else np.asarray(draws.y)
    sample_weight, groups, row_indices, perms = draws.sample_weight, draws.groups, draws.row_indices, draws.perms
    n_repeats = perms.shape[0]

    if scoring is None:
        names, _ = scorer_names(estimator, scoring)
        if names is None:
            raise ValueError(f"pass scoring= for a {type(estimator).__name__}: its score() needs the rows, "
                             "which stay on the cluster")
        scoring = names[0]
    from sklearn.metrics import check_scoring

    scorer = check_scoring(estimator, scoring=scoring)
    predictions = _ClusterPredictions(client, estimator, partitions, row_indices, perms, groups, max_retries)
    kwargs = {} if sample_weight is None else {"sample_weight": sample_weight}
    everything = np.broadcast_to(np.float64(np.nan), (n_samples, n_features))
    baseline = scorer(StandInEstimator(estimator, everything, predictions.baseline, holds_rows=False),
                      everything, y, **kwargs)
    multi = isinstance(baseline, dict)
    metric_names = list(baseline) if multi else ["score"]
    base = np.array([baseline[k] for k in metric_names] if multi else [baseline], dtype=np.float64)

    scored = everything if row_indices is None else everything[: len(row_indices)]
    y_scored = y if (row_indices is None or y is None) else y[row_indices]
    if sample_weight is not None and row_indices is not None:
        kwargs = {"sample_weight": sample_weight[row_indices]}
    permuted = np.empty((len(groups), n_repeats, len(metric_names)))
    for g in range(len(groups)):
        for r in range(n_repeats):
            stand_in = StandInEstimator(estimator, scored, predictions.of_repeat(g, r), holds_rows=False)
            score = scorer(stand_in, scored, y_scored, **kwargs)
            permuted[g, r] = [score[k] for k in metric_names] if multi else [score]
    if not multi:
        return _bunch(base[0], permuted[:, :, 0])
    return {name: _bunch(base[m], permuted[:, :, m]) for m, name in enumerate(metric_names)}


def _current_client() -> Any:
    try:
        return get_client()
    except ValueError as exc:
        raise ValueError("permutation importance on Dask needs a distributed Client: "
                         "client = distributed.Client(scheduler_address), or pass client=") from exc


class _Partitions:
    """X's partitions held on the cluster (futures, in row order), their lengths and X's columns."""

    def __init__(self, client: Any, X: Any) -> None:
        if isinstance(X, dd.DataFrame):
            self.meta = X._meta
            self.n_features = len(X.columns)
        elif isinstance(X, da.Array):
            if X.ndim != 2:
                raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
            X = X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X
            self.meta = None
            self.n_features = int(X.shape[1])
        else:
            raise TypeError(f"X must be a dask DataFrame or dask array, got {type(X).__name__}; "
                            "for data in memory use xplain_fast.permutation_importance")
        self.client, self.collection = client, X
        self.hold()
        lengths = client.gather(client.map(len, self.blocks, pure=False))
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.n_rows = int(self.offsets[-1])
        if self.n_rows == 0:
            raise ValueError("X has no rows")

    def hold(self) -> None:
        """(Re)compute the partitions onto the cluster: after a restart, from X's graph."""
        parts = self.collection.to_delayed()
        parts = list(np.ravel(parts)) if isinstance(self.collection, da.Array) else list(parts)
        self.blocks = self.client.compute(parts)


class _ClusterPredictions:
    """The estimator's predictions on X and on its permuted copies, computed on the workers.

    For a column group and a predict method, every partition with scored rows gets one task that
    predicts all repeats at once; the next group's tasks are submitted before this group's are
    gathered, so the workers predict while the client scores.
    """

    def __init__(self, client: Any, estimator: Any, partitions: _Partitions, row_indices: np.ndarray | None,
                 perms: np.ndarray, groups: list[np.ndarray], max_retries: int) -> None:
        self.client, self.partitions, self.perms, self.groups = client, partitions, perms, groups
        self.max_retries = max_retries
        self._payload = pickle.dumps(estimator, protocol=pickle.HIGHEST_PROTOCOL)
        self._submit_estimator()
        # scored row i is X's row scored_rows[i]; each partition scores the rows of it that fall there
        self.scored_rows = np.arange(partitions.n_rows) if row_indices is None else np.asarray(row_indices)
        offsets = partitions.offsets
        part_of_row = np.searchsorted(offsets, self.scored_rows, side="right") - 1
        self.positions = [np.flatnonzero(part_of_row == p) for p in range(len(offsets) - 1)]
        self._futures: dict[tuple[int, str], list[Any]] = {}
        self._gathered: dict[tuple[int, str], np.ndarray] = {}
        self._columns: dict[int, Any] = {}

    def _submit_estimator(self) -> None:
        self.estimator = self.client.submit(pickle.loads, self._payload, pure=False)

    def baseline(self, method: str) -> np.ndarray:
        return self._predictions(-1, method)

    def of_repeat(self, group: int, repeat: int) -> Callable[[str], np.ndarray]:
        return lambda method: self._predictions(group, method)[repeat]

    def _predictions(self, group: int, method: str) -> np.ndarray:
        """Predictions of a group's repeats (repeats, scored rows, ...) or, for group -1, on X."""
        key = (group, method)
        if key not in self._gathered:
            self._gathered = {k: v for k, v in self._gathered.items() if k[0] == group}

            def submit() -> list[Any]:
                futures = self._futures.pop(key, None) or self._submit(group, method)
                following = (group + 1, method)  # predicted on the workers while this group is scored
                if group + 1 < len(self.groups) and following not in self._futures:
                    self._futures[following] = self._submit(*following)
                return futures

            self._gathered[key] = self._assemble(group, self._gather(submit))
        return self._gathered[key]

    def _gather(self, submit: Callable[[], list[Any]]) -> list[Any]:
        """The results of ``submit()``'s futures; when the cluster loses them (a worker lost, a
        restart), X is held again, the estimator sent again, and the work resubmitted."""
        retries = 0
        while True:
            try:
                return self.client.gather(submit())
            except (CancelledError, KilledWorker):
                retries += 1
                if retries > self.max_retries:
                    raise
                self._futures.clear()
                self.partitions.hold()
                self._submit_estimator()

    def _submit(self, group: int, method: str) -> list[Any]:
        offsets, blocks = self.partitions.offsets, self.partitions.blocks
        if group < 0:
            return [self.client.submit(_predict_rows, self.estimator, block, method, pure=False)
                    for p, block in enumerate(blocks) if offsets[p + 1] > offsets[p]]
        cols = self.groups[group]
        columns = self._columns_of(group)
        futures = []
        for p, block in enumerate(blocks):
            pos = self.positions[p]
            if len(pos) == 0:
                continue
            # permuted row i of repeat r takes its values from scored row perms[r, i]: the rows of
            # `columns` for every (repeat, row here), repeat-major
            sources = self.scored_rows[self.perms[:, pos]].ravel()
            values = columns.iloc[sources] if hasattr(columns, "iloc") else columns[sources]
            local_rows = self.scored_rows[pos] - offsets[p]
            futures.append(self.client.submit(_predict_permuted, self.estimator, block, local_rows, cols, values,
                                              method, pure=False))
        return futures

    def _columns_of(self, group: int) -> Any:
        """The group's columns of X (n rows; a DataFrame keeps its dtypes), gathered once."""
        if group not in self._columns:
            cols = self.groups[group]
            parts = self.client.gather([self.client.submit(_take_columns, b, cols, pure=False)
                                        for b in self.partitions.blocks])
            merged = pd.concat(parts, ignore_index=True) if hasattr(parts[0], "iloc") else np.concatenate(parts)
            self._columns = {group: merged}
        return self._columns[group]

    def _assemble(self, group: int, results: list[np.ndarray]) -> np.ndarray:
        if group < 0:
            return np.concatenate(results, axis=0)
        positions = [pos for pos in self.positions if len(pos)]
        first = results[0]
        out = np.empty((first.shape[0], len(self.scored_rows), *first.shape[2:]),
                       dtype=np.result_type(*results))
        for pos, result in zip(positions, results, strict=True):
            out[:, pos] = result
        return out


def _take_columns(block: Any, cols: np.ndarray) -> Any:
    return block.iloc[:, cols] if hasattr(block, "iloc") else np.asarray(block)[:, cols]


def _predict_rows(estimator: Any, block: Any, method: str) -> np.ndarray:
    return np.asarray(getattr(estimator, method)(block))


def _predict_permuted(estimator: Any, block: Any, local_rows: np.ndarray, cols: np.ndarray, values: Any,
                      method: str) -> np.ndarray:
    """The method's output on the block's rows ``local_rows`` with columns ``cols`` replaced by
    ``values`` (repeats x rows, repeat-major), for every repeat: one call on the stacked copies,
    then split per repeat. Replaced DataFrame columns keep their dtype (categories included)."""
    n = len(local_rows)
    n_repeats = len(values) // n
    if hasattr(block, "iloc"):
        batch = pd.concat([block.iloc[local_rows]] * n_repeats, axis=0, ignore_index=True)
        for k, j in enumerate(cols):
            batch[block.columns[int(j)]] = values.iloc[:, k].set_axis(batch.index)
    else:
        batch = np.tile(np.asarray(block)[local_rows], (n_repeats, 1))
        batch[:, cols] = values
    out = np.asarray(getattr(estimator, method)(batch))
    return out.reshape(n_repeats, n, *out.shape[1:])
