"""SHAP values on Spark DataFrames, partition by partition, with ``mapInArrow``.

The explainer is fitted once on the driver (interventional tables included) and captured as
compact bytes in the function Spark ships to its Python workers, which unpickle it once per
process; no SparkContext is used, so this works under Spark Connect too. Each Arrow batch runs
through the C++ core (``n_jobs`` threads per task; Spark already runs a task per executor core).

Requires the ``spark`` extra (``pip install 'xplain-fast[spark]'``) and Java 17 or newer.

Examples
--------
A sketch (it needs a Spark session)::

    import xplain_fast.spark as xfs
    out = xfs.shap_values(model, spark_df, feature_cols=["age", "income"], keep_cols=["id"])
    out.write.parquet("shap.parquet")  # columns id, shap_age, shap_income, base_value
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

try:
    import pyarrow as pa
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DoubleType, StructField, StructType
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError("xplain_fast.spark needs the 'spark' extra: pip install 'xplain-fast[spark]'") from exc

from ._distributed import load_explainer, output_columns, payload_of, shap_table, shippable_explainer
from .models import to_forest
from .tree import TreeExplainer

__all__ = ["shap_values"]


def shap_values(model_or_explainer: Any, df: DataFrame, *, feature_cols: Sequence[str] | None = None,
                keep_cols: Sequence[str] = (), background: Any = None, model_output: str = "raw",
                n_jobs: int | None = None, check_additivity: bool = True) -> DataFrame:
    """SHAP values of a tree model for every row of a Spark DataFrame (lazy, like any transformation).

    Parameters
    ----------
    model_or_explainer : tree model, Forest or TreeExplainer
        A model is explained path-dependently, or interventionally when ``background`` is given.
    df : pyspark.sql.DataFrame
        Numeric feature columns (nulls are missing values and follow the model's rule).
    feature_cols : sequence of str, optional
        The model's features in its order; default: the model's feature names.
    keep_cols : sequence of str
        Columns carried to the output unchanged (keys, labels), before the SHAP columns.
    background : Spark DataFrame, pandas DataFrame or array, optional
        Background rows of interventional SHAP; a Spark DataFrame is collected to the driver
        (sample it first: ``df.sample(fraction=...).limit(1000)``). The tables are built once.
    model_output : {"raw", "probability"}
        As in :class:`xplain_fast.TreeExplainer` (with ``background``).
    n_jobs : int, optional
        Threads of the C++ core per task (default 1).
    check_additivity : bool, default True

    Returns
    -------
    pyspark.sql.DataFrame
        ``keep_cols``, then ``shap_<feature>`` and ``base_value`` as doubles (``shap_<feature>[k]``
        and ``base_value[k]`` for K outputs), one row per input row, in the input's partitions.
    """
    if not isinstance(model_or_explainer, TreeExplainer):
        model_or_explainer = to_forest(model_or_explainer)  # converted once, here
    feature_cols = _feature_cols(model_or_explainer, feature_cols)
    missing = [c for c in (*feature_cols, *keep_cols) if c not in df.columns]
    if missing:
        raise ValueError(f"df has no column(s) {missing}")
    if isinstance(background, DataFrame):
        background = background.select(*feature_cols).toPandas()
    explainer = shippable_explainer(model_or_explainer, background=background, model_output=model_output,
                                    n_jobs=n_jobs)
    if len(feature_cols) != explainer.n_features_in_:
        raise ValueError(f"feature_cols lists {len(feature_cols)} columns, but the model expects "
                         f"{explainer.n_features_in_} features")
    payload, _ = payload_of(explainer)
    columns = output_columns(explainer, list(feature_cols))
    kept = [df.schema[c] for c in keep_cols]
    schema = StructType([*kept, *(StructField(c, DoubleType(), nullable=False) for c in columns)])
    features, keys = list(feature_cols), list(keep_cols)

    def explain_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        explainer = load_explainer(payload)
        for batch in batches:
            rows = np.column_stack([batch.column(c).cast(pa.float64()).to_numpy(zero_copy_only=False)
                                    for c in features]) if batch.num_rows else np.empty((0, len(features)))
            table = shap_table(explainer, rows, check_additivity=check_additivity)
            arrays = [batch.column(k) for k in keys] + [pa.array(table[:, j]) for j in range(table.shape[1])]
            yield pa.RecordBatch.from_arrays(arrays, names=[*keys, *columns])

    return df.select(*dict.fromkeys([*keys, *features])).mapInArrow(explain_batches, schema)  # each column once


def _feature_cols(forest_or_explainer: Any, feature_cols: Sequence[str] | None) -> list[str]:
    if feature_cols is not None:
        return [str(c) for c in feature_cols]
    if isinstance(forest_or_explainer, TreeExplainer):
        forest = getattr(forest_or_explainer, "forest_", None) or to_forest(forest_or_explainer.model)
    else:
        forest = forest_or_explainer
    if forest.feature_names is None:
        raise ValueError("the model has no feature names: pass feature_cols=[...] in the model's feature order")
    return list(forest.feature_names)
