"""Explanation.save / load: exact round trips through every format that keeps the shapes."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

import xplain_fast as xf


@pytest.fixture(scope="module")
def explanations():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4))
    X[::5, 2] = np.nan
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 1)
    names = ["alpha", "beta", "gamma, with a comma", "delta"]
    import pandas as pd

    frame = pd.DataFrame(X, columns=names)
    single = xf.TreeExplainer(RandomForestRegressor(10, random_state=0).fit(frame, X[:, 0] - X[:, 3])).fit()
    multi = xf.TreeExplainer(RandomForestClassifier(10, random_state=0).fit(X, y)).fit()  # 3 outputs, no names
    return {"single": single.explain(frame), "multi": multi.explain(X),
            "no data": xf.Explanation(single.shap_values(frame), np.full(len(X), 0.5), None, names)}


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
@pytest.mark.parametrize("which", ["single", "multi", "no data"])
def test_round_trip_is_exact(explanations, tmp_path, suffix, which):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    original = explanations[which]
    path = tmp_path / f"exp{suffix}"
    original.save(path)
    back = xf.Explanation.load(path)
    np.testing.assert_array_equal(back.values, original.values)
    np.testing.assert_array_equal(back.base_values, original.base_values)
    if original.data is None:
        assert back.data is None
    else:
        np.testing.assert_array_equal(back.data, original.data)  # NaN included
    expected_names = original.feature_names or [f"x{j}" for j in range(original.values.shape[1])]
    assert back.feature_names == expected_names


def test_csv_has_one_column_per_feature_and_output(explanations, tmp_path):
    import pandas as pd

    explanations["multi"].save(tmp_path / "multi.csv")
    table = pd.read_csv(tmp_path / "multi.csv")
    assert list(table.columns[:3]) == ["x0[0]", "x0[1]", "x0[2]"]
    assert [c for c in table.columns if c.startswith("base_value")] == ["base_value[0]", "base_value[1]",
                                                                       "base_value[2]"]
    values = table.to_numpy()[:, :12].reshape(-1, 4, 3)
    np.testing.assert_array_equal(values, explanations["multi"].values)
    explanations["single"].save(tmp_path / "single.csv")
    assert pd.read_csv(tmp_path / "single.csv").columns[2] == "gamma, with a comma"  # quoted in the header


def test_load_refuses_what_it_cannot_read(explanations, tmp_path):
    explanations["single"].save(tmp_path / "exp.csv")
    with pytest.raises(ValueError, match="expected a .npz or .parquet file"):
        xf.Explanation.load(tmp_path / "exp.csv")
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not an explanation written by xplain-fast"):
        xf.Explanation.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(ValueError, match="no 'values' array"):
        xf.Explanation.load(tmp_path / "other.npz")
    with pytest.raises(ValueError, match="expected a .csv, .parquet, .npy, .npz file"):
        explanations["single"].save(tmp_path / "exp.xlsx")


def test_writer_checks_block_shapes(tmp_path):
    from xplain_fast._io import ResultWriter

    writer = ResultWriter(tmp_path / "out.npz", ["a", "b"], (2,), ())
    with pytest.raises(ValueError, match="does not fit a result of rows x"):
        writer.write(np.zeros((3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="base values of shape"):
        writer.write(np.zeros((3, 2)), np.zeros((3, 2)))
    writer.write(np.ones((3, 2)), np.zeros(3))
    writer.write(np.full((2, 2), 2.0), np.ones(2))
    writer.close()
    back = xf.Explanation.load(tmp_path / "out.npz")
    np.testing.assert_array_equal(back.values, [[1, 1]] * 3 + [[2, 2]] * 2)
    np.testing.assert_array_equal(back.base_values, [0, 0, 0, 1, 1])
