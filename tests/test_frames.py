"""DataFrame input needs only the frame's own library (no pyarrow, no pandas for polars)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

POLARS_WITHOUT_PYARROW = textwrap.dedent("""
    import importlib.machinery
    import sys

    class PathFinderWithoutPyarrow(importlib.machinery.PathFinder):
        # pyarrow is not found, as on a machine without it (so polars and pandas see it missing)

        @classmethod
        def find_spec(cls, name, path=None, target=None):
            if name.split(".")[0] == "pyarrow":
                return None
            return super().find_spec(name, path, target)

    sys.meta_path = [PathFinderWithoutPyarrow if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
    import numpy as np, polars as pl
    from sklearn.ensemble import RandomForestRegressor
    import xplain_fast as xf

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    model = RandomForestRegressor(10, random_state=0).fit(X, X[:, 0])
    frame = pl.DataFrame({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2]}).with_columns(
        pl.when(pl.col("b") > 1).then(None).otherwise(pl.col("b")).alias("b"))
    expected = X.copy()
    expected[expected[:, 1] > 1, 1] = np.nan
    got = xf.TreeExplainer(model).fit().shap_values(frame)
    assert np.array_equal(got, xf.TreeExplainer(model).fit().shap_values(expected)), "values differ"
    assert "pyarrow" not in sys.modules
    print("ok")
""")


def test_polars_frames_need_no_pyarrow():
    pytest.importorskip("polars")
    done = subprocess.run([sys.executable, "-c", POLARS_WITHOUT_PYARROW], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_polars_categorical_and_text_columns():
    pl = pytest.importorskip("polars")
    from xplain_fast._validation import check_rows

    frame = pl.DataFrame({"n": [1, 2, None], "c": pl.Series(["x", "y", "x"], dtype=pl.Categorical)})
    rows = check_rows(frame)
    assert rows.dtype.name == "float64" and rows.shape == (3, 2)
    assert rows[0, 1] == rows[2, 1] != rows[1, 1]
    assert rows[2, 0] != rows[2, 0]  # null -> NaN
    with pytest.raises(TypeError, match="column 's' has dtype String, which is not numeric"):
        check_rows(pl.DataFrame({"s": ["a", "b"]}))
