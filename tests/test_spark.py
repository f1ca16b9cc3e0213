"""Spark: mapInArrow output rows keep their keys and equal the single-machine values (local[2])."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

import xplain_fast as xf

pytestmark = pytest.mark.skipif(shutil.which("java") is None,
                                reason="Spark needs Java (17 or newer), which is not installed here")


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # executors run this interpreter
    session = (SparkSession.builder.master("local[2]").appName("xplain-fast tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(500, 4))
    y = X[:, 0] - 2 * X[:, 1] * X[:, 2]
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    frame.insert(0, "id", np.arange(500) * 3 + 1)
    frame["label"] = y
    frame.loc[::17, "c"] = np.nan  # nulls in Spark: the model's missing-value rule
    return frame


def spark_frame(spark, frame, partitions=3):
    return spark.createDataFrame(frame).repartition(partitions)


def test_keys_kept_and_values_equal_single_machine(spark, data):
    xfs = pytest.importorskip("xplain_fast.spark")
    features = ["a", "b", "c", "d"]
    model = RandomForestRegressor(n_estimators=12, max_depth=5, random_state=0).fit(data[features], data["label"])
    out = xfs.shap_values(model, spark_frame(spark, data), keep_cols=["id", "label", "a"]).toPandas()
    assert list(out.columns) == ["id", "label", "a", "shap_a", "shap_b", "shap_c", "shap_d", "base_value"]
    assert out["a"].sort_values().tolist() == sorted(data["a"])  # a kept column may be a feature too
    out = out.sort_values("id").reset_index(drop=True)
    np.testing.assert_array_equal(out["id"], data["id"])
    np.testing.assert_array_equal(out["label"], data["label"])
    explainer = xf.TreeExplainer(model).fit()
    np.testing.assert_array_equal(out[["shap_a", "shap_b", "shap_c", "shap_d"]].to_numpy(),
                                  explainer.shap_values(data[features]))
    assert np.all(out["base_value"] == explainer.expected_value_)


def test_interventional_background_from_spark_and_empty_partitions(spark, data):
    xfs = pytest.importorskip("xplain_fast.spark")
    features = ["a", "b", "c", "d"]
    model = RandomForestRegressor(n_estimators=8, max_depth=4, random_state=0).fit(data[features].to_numpy(),
                                                                                 data["label"])
    sdf = spark_frame(spark, data, partitions=8).where("id < 100")  # most partitions end up empty
    background = spark_frame(spark, data.iloc[:60], partitions=2)
    out = xfs.shap_values(model, sdf, feature_cols=features, keep_cols=["id"], background=background).toPandas()
    out = out.sort_values("id").reset_index(drop=True)
    subset = data[data["id"] < 100]
    single = xf.TreeExplainer(model, feature_perturbation="interventional").fit(data.iloc[:60][features].to_numpy())
    np.testing.assert_array_equal(out["id"], subset["id"])
    np.testing.assert_array_equal(out.iloc[:, 1:5].to_numpy(), single.shap_values(subset[features].to_numpy()))


def test_multi_output_columns(spark, data):
    xfs = pytest.importorskip("xplain_fast.spark")
    features = ["a", "b", "c", "d"]
    classes = np.digitize(data["label"], [-1, 1])
    model = RandomForestClassifier(n_estimators=6, max_depth=4, random_state=0).fit(data[features].fillna(0), classes)
    out = xfs.shap_values(model, spark_frame(spark, data), keep_cols=["id"]).toPandas().sort_values("id")
    assert list(out.columns[1:4]) == ["shap_a[0]", "shap_a[1]", "shap_a[2]"]
    single = xf.TreeExplainer(model).fit().shap_values(data[features])
    np.testing.assert_array_equal(out.iloc[:, 1:13].to_numpy().reshape(500, 4, 3), single)


def test_errors(spark, data):
    xfs = pytest.importorskip("xplain_fast.spark")
    model = RandomForestRegressor(n_estimators=3, random_state=0).fit(data[["a", "b", "c", "d"]].to_numpy(),
                                                                      data["label"])
    sdf = spark_frame(spark, data)
    with pytest.raises(ValueError, match="no feature names"):
        xfs.shap_values(model, sdf)
    with pytest.raises(ValueError, match=r"no column\(s\) \['e'\]"):
        xfs.shap_values(model, sdf, feature_cols=["a", "b", "c", "e"])
    with pytest.raises(ValueError, match="expects 4 features"):
        xfs.shap_values(model, sdf, feature_cols=["a", "b", "c"])


def test_import_names_the_extra():
    code = ("import sys, xplain_fast; assert 'pyspark' not in sys.modules; sys.modules['pyspark'] = None\n"
            "try:\n    import xplain_fast.spark\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'xplain-fast[spark]'" in out.stdout
