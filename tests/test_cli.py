"""The ``xplain-fast`` command line on real model and data files.

Expectations come from the Python API (``TreeExplainer``), scikit-learn's ``permutation_importance``
and the libraries' own model files; exit statuses and messages from what a user would type.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingRegressor, RandomForestClassifier
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.linear_model import LogisticRegression

import xplain_fast as xf
from xplain_fast.cli import main

FEATURES = ["age", "bmi", "bp", "s1", "s2"]


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(rng.normal(size=(n, len(FEATURES))), columns=FEATURES)
    frame.loc[frame.index[::9], "bp"] = np.nan
    frame["label"] = (frame["age"] + frame["bmi"] * frame["s1"] > 0).astype(int)
    frame["y"] = 2 * frame["age"] + frame["bmi"] * frame["s2"] + rng.normal(scale=0.1, size=n)
    frame["id"] = np.arange(n)  # a column the model never saw
    return frame


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Model files of several libraries and one data set as csv, parquet and npy."""
    folder = tmp_path_factory.mktemp("cli")
    frame = make_frame(600)
    X, y = frame[FEATURES], frame["label"]
    paths = {"folder": folder, "frame": frame}
    gbr = GradientBoostingRegressor(n_estimators=30, max_depth=3, random_state=0).fit(X.fillna(0), frame["y"])
    paths["gbr"] = folder / "gbr.joblib"
    joblib.dump(gbr, paths["gbr"])
    rf = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(X, y)
    paths["rf"] = folder / "rf.pkl"
    joblib.dump(rf, paths["rf"])
    paths["forest"] = folder / "rf.npz"
    xf.to_forest(rf).save(paths["forest"])
    paths["csv"] = folder / "data.csv"
    frame.to_csv(paths["csv"], index=False)
    paths["npy"] = folder / "data.npy"
    np.save(paths["npy"], X.to_numpy())
    return paths


def run(*argv, capsys=None) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr() if capsys is not None else ("", "")
    return status, out, err


# -------------------------------------------------------------------------------------------------
# explain: formats round-trip, equal to the Python API
# -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("out_suffix", [".npz", ".parquet", ".npy", ".csv"])
@pytest.mark.parametrize("data_key", ["csv", "npy", "parquet"])
def test_explain_writes_the_api_values(files, tmp_path, out_suffix, data_key, capsys):
    if "parquet" in (out_suffix, data_key):
        pytest.importorskip("pyarrow")
    frame = files["frame"]
    if data_key == "parquet":
        files.setdefault("parquet", files["folder"] / "data.parquet")
        frame.to_parquet(files["parquet"])
    out = tmp_path / f"shap{out_suffix}"
    status, _, err = run("explain", files["rf"], files[data_key], "-o", out, "--chunk-rows", 128, capsys=capsys)
    assert status == 0, err
    model = joblib.load(files["rf"])
    explanation = xf.TreeExplainer(model).fit().explain(frame[FEATURES])
    # a forest classifier has 2 outputs: values (n, M, 2), base values (n, 2)
    if out_suffix in (".npz", ".parquet"):
        saved = xf.Explanation.load(out)
        np.testing.assert_allclose(saved.values, explanation.values, rtol=0, atol=1e-12)
        np.testing.assert_allclose(saved.base_values, explanation.base_values, rtol=0, atol=1e-12)
        expected_names = FEATURES if data_key != "npy" else [f"x{j}" for j in range(len(FEATURES))]
        assert saved.feature_names == expected_names
    elif out_suffix == ".npy":
        np.testing.assert_allclose(np.load(out), explanation.values, rtol=0, atol=1e-12)
    else:
        table = pd.read_csv(out)
        first = "age" if data_key != "npy" else "x0"
        assert list(table.columns[:2]) == [f"{first}[0]", f"{first}[1]"]
        assert list(table.columns[-2:]) == ["base_value[0]", "base_value[1]"]
        flat = table.to_numpy()[:, : len(FEATURES) * 2].reshape(len(frame), len(FEATURES), 2)
        # floats are printed in full (repr) precision, so even csv is exact
        np.testing.assert_array_equal(flat, explanation.values)


def test_explain_to_stdout_is_csv(files, capsys):
    status, out, _ = run("explain", files["gbr"], files["csv"], capsys=capsys)
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == ",".join(FEATURES + ["base_value"])
    model = joblib.load(files["gbr"])
    explainer = xf.TreeExplainer(model).fit()
    phi = explainer.shap_values(files["frame"][FEATURES])
    np.testing.assert_array_equal(np.array([[float(v) for v in line.split(",")] for line in lines[1:]])[:, :-1], phi)


def test_columns_are_matched_by_name_in_any_order(files, tmp_path, capsys):
    frame = files["frame"]
    shuffled = tmp_path / "shuffled.csv"
    frame[["id", "s2", "label", "bp", "y", "age", "s1", "bmi"]].to_csv(shuffled, index=False)
    out = tmp_path / "shap.npz"
    assert run("explain", files["gbr"], shuffled, "-o", out, capsys=capsys)[0] == 0
    model = joblib.load(files["gbr"])
    np.testing.assert_allclose(xf.Explanation.load(out).values,
                               xf.TreeExplainer(model).fit().shap_values(frame[FEATURES]), rtol=0, atol=1e-12)


def test_background_gives_interventional_values(files, tmp_path, capsys):
    frame = files["frame"]
    background = tmp_path / "background.csv"
    frame.iloc[:80].to_csv(background, index=False)
    out = tmp_path / "shap.npz"
    status, _, err = run("explain", files["gbr"], files["csv"], "--background", background, "-o", out,
                         "--chunk-rows", 100, capsys=capsys)
    assert status == 0, err
    model = joblib.load(files["gbr"])
    explainer = xf.TreeExplainer(model, feature_perturbation="interventional").fit(frame[FEATURES].iloc[:80])
    saved = xf.Explanation.load(out)
    np.testing.assert_allclose(saved.values, explainer.shap_values(frame[FEATURES]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(saved.base_values, explainer.expected_value_, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def xgb_classifier(files):
    """An XGBoost classifier and its .ubj model file."""
    xgb = pytest.importorskip("xgboost")
    frame = files["frame"]
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, random_state=0).fit(frame[FEATURES], frame["label"])
    model_file = files["folder"] / "xgb_classifier.ubj"
    model.save_model(model_file)
    return model, model_file


def test_log_loss_uses_the_target_column(files, xgb_classifier, tmp_path, capsys):
    frame = files["frame"]
    model, model_file = xgb_classifier
    background = tmp_path / "background.csv"
    frame.iloc[:50].to_csv(background, index=False)
    out = tmp_path / "loss.npz"
    status, _, err = run("explain", model_file, files["csv"], "--background", background, "--model-output",
                         "log_loss", "--target", "label", "-o", out, capsys=capsys)
    assert status == 0, err
    explainer = xf.TreeExplainer(model_file, feature_perturbation="interventional",
                                 model_output="log_loss").fit(frame[FEATURES].iloc[:50])
    expected = explainer.explain(frame[FEATURES], frame["label"])
    saved = xf.Explanation.load(out)
    np.testing.assert_allclose(saved.values, expected.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(saved.base_values, expected.base_values, rtol=0, atol=1e-12)


def test_interactions_with_a_feature_subset(files, tmp_path, capsys):
    lgb = pytest.importorskip("lightgbm")
    frame = files["frame"]
    booster = lgb.train({"verbose": -1, "num_leaves": 8, "seed": 0},
                        lgb.Dataset(frame[FEATURES], frame["s2"] * frame["age"]), num_boost_round=20)
    model_file = tmp_path / "model.txt"
    booster.save_model(model_file)
    out = tmp_path / "inter.npz"
    status, _, err = run("explain", model_file, files["csv"], "--interactions", "--features", "s1,age",
                         "-o", out, "--chunk-rows", 250, capsys=capsys)
    assert status == 0, err
    explainer = xf.TreeExplainer(booster).fit()
    expected = explainer.shap_interaction_values(frame[FEATURES], features=["s1", "age"])
    saved = xf.Explanation.load(out)
    assert saved.values.shape == (len(frame), 2, 2)
    assert saved.feature_names == ["s1", "age"]
    np.testing.assert_allclose(saved.values, expected, rtol=0, atol=1e-12)
    csv_out = tmp_path / "inter.csv"
    assert run("explain", model_file, files["csv"], "--interactions", "--features", "s1,age", "-o", csv_out,
               capsys=capsys)[0] == 0
    assert list(pd.read_csv(csv_out).columns) == ["s1:s1", "s1:age", "age:s1", "age:age", "base_value"]


def test_parquet_in_chunks_equals_one_call(files, tmp_path, capsys):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    frame = make_frame(2500, seed=1)
    data = tmp_path / "big.parquet"
    pq.write_table(pa.Table.from_pandas(frame), data, row_group_size=700)
    chunked, whole = tmp_path / "chunked.npz", tmp_path / "whole.npz"
    assert run("explain", files["rf"], data, "-o", chunked, "--chunk-rows", 300, capsys=capsys)[0] == 0
    assert run("explain", files["rf"], data, "-o", whole, "--chunk-rows", 10_000, capsys=capsys)[0] == 0
    a, b = xf.Explanation.load(chunked), xf.Explanation.load(whole)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.base_values, b.base_values)
    model = joblib.load(files["rf"])
    np.testing.assert_allclose(a.values, xf.TreeExplainer(model).fit().shap_values(frame[FEATURES]),
                               rtol=0, atol=1e-12)


# -------------------------------------------------------------------------------------------------
# importance and saliency
# -------------------------------------------------------------------------------------------------
def test_importance_equals_scikit_learn(files, tmp_path, capsys):
    frame = files["frame"]
    out = tmp_path / "importance.json"
    status, _, err = run("importance", files["rf"], files["csv"], "--target", "label", "--scoring",
                         "accuracy,neg_log_loss", "--n-repeats", 4, "--random-state", 7, "-o", out, capsys=capsys)
    assert status == 0, err
    document = json.loads(out.read_text())
    model = joblib.load(files["rf"])
    expected = sk_permutation_importance(model, frame[FEATURES], frame["label"], scoring=["accuracy", "neg_log_loss"],
                                         n_repeats=4, random_state=7)
    for scorer in ("accuracy", "neg_log_loss"):
        assert document[scorer]["features"] == FEATURES
        np.testing.assert_allclose(document[scorer]["importances"], expected[scorer].importances, rtol=0, atol=1e-12)


def test_importance_of_a_model_file_and_groups(files, xgb_classifier, tmp_path, capsys):
    frame = files["frame"]
    model, model_file = xgb_classifier
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps({"body": ["bmi", "bp"], "blood": ["s1", "s2"], "age": ["age"]}))
    out = tmp_path / "importance.csv"
    status, _, err = run("importance", model_file, files["csv"], "--target", "label", "--groups", groups,
                         "--scoring", "accuracy,roc_auc", "--random-state", 0, "-o", out, capsys=capsys)
    assert status == 0, err
    table = pd.read_csv(out)
    assert list(table["feature"]) == ["body", "blood", "age"] * 2
    assert table.shape == (6, 4 + 5)
    # a model file holds no estimator object: it is scored through the forest's probabilities,
    # which must give what XGBoost's own classifier gives
    expected = xf.permutation_importance(model, frame[FEATURES], frame["label"], scoring=["accuracy", "roc_auc"],
                                         feature_groups={"body": ["bmi", "bp"], "blood": ["s1", "s2"], "age": ["age"]},
                                         random_state=0)
    for scorer in ("accuracy", "roc_auc"):
        repeats = table.loc[table["scoring"] == scorer, [f"repeat_{r}" for r in range(5)]].to_numpy()
        np.testing.assert_allclose(repeats, expected[scorer].importances, rtol=0, atol=1e-7)


def test_importance_of_a_forest_file_of_a_random_forest_classifier(files, tmp_path, capsys):
    out = tmp_path / "importance.csv"
    status, _, err = run("importance", files["forest"], files["csv"], "--target", "label", "--scoring",
                         "accuracy,neg_log_loss", "--random-state", 3, "-o", out, capsys=capsys)
    assert status == 0, err
    table = pd.read_csv(out)
    frame = files["frame"]
    # the file's averaged class probabilities score as the pickled estimator itself does
    expected = xf.permutation_importance(joblib.load(files["rf"]), frame[FEATURES], frame["label"],
                                         scoring=["accuracy", "neg_log_loss"], random_state=3)
    for scorer in ("accuracy", "neg_log_loss"):
        repeats = table.loc[table["scoring"] == scorer, [f"repeat_{r}" for r in range(5)]].to_numpy()
        np.testing.assert_allclose(repeats, expected[scorer].importances, rtol=0, atol=1e-12)


def test_importance_refuses_a_forest_file_it_cannot_score(files, tmp_path, capsys):
    from sklearn.ensemble import GradientBoostingClassifier

    frame = files["frame"]
    # the exponential loss turns the score into a probability by no link the Forest knows
    model = GradientBoostingClassifier(loss="exponential", n_estimators=5, random_state=0)
    path = tmp_path / "exponential.npz"
    xf.to_forest(model.fit(frame[FEATURES].fillna(0), frame["label"])).save(path)
    status, _, err = run("importance", path, files["csv"], "--target", "label", capsys=capsys)
    assert status == 1 and "pass the pickled estimator" in err


def test_importance_table_on_the_terminal(files, capsys):
    status, out, err = run("importance", files["gbr"], files["csv"], "--target", "y", "--n-repeats", 2,
                           capsys=capsys)
    assert status == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("score: mean decrease over 2 permutations")
    assert len(lines) == 1 + len(FEATURES)
    assert lines[1].split()[0] == "age"  # y = 2 age + bmi s2 + noise
    means = [float(line.split()[1]) for line in lines[1:]]
    assert means == sorted(means, reverse=True)


def test_saliency_of_a_pickled_linear_model(files, tmp_path, capsys):
    frame = files["frame"].fillna(0.0)[FEATURES + ["label"]]
    data = tmp_path / "clean.csv"
    frame.to_csv(data, index=False)
    model = LogisticRegression().fit(frame[FEATURES].to_numpy(), frame["label"])
    model_file = tmp_path / "logistic.pkl"
    joblib.dump(model, model_file)
    out = tmp_path / "ig.npy"
    status, _, err = run("saliency", model_file, data, "--target", "label", "--chunk-rows", 100, "--class", 1,
                         "-o", out, capsys=capsys)
    assert status == 0, err
    X = frame[FEATURES].to_numpy()  # the model has no feature names: all columns but --target, in order
    # a linear logit: Integrated Gradients from a zero baseline is exactly x * w
    np.testing.assert_allclose(np.load(out), X * model.coef_[0], rtol=0, atol=1e-10)


# -------------------------------------------------------------------------------------------------
# user mistakes: one line on stderr, no traceback, exit 2 (command line) or 1 (the work)
# -------------------------------------------------------------------------------------------------
def mistakes(files, tmp_path):
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"learner": {"gradient_booster": ')
    wrong_columns = tmp_path / "wrong.csv"
    pd.DataFrame({"x": [1.0], "y": [2.0]}).to_csv(wrong_columns, index=False)
    text = tmp_path / "text.csv"
    pd.DataFrame({c: ["a"] for c in FEATURES}).to_csv(text, index=False)
    bad_pickle = tmp_path / "bad.pkl"
    bad_pickle.write_bytes(b"not a pickle")
    unsupported = tmp_path / "logistic.pkl"
    joblib.dump(LogisticRegression().fit([[0.0], [1.0]], [0, 1]), unsupported)
    return [
        (2, ["explain", tmp_path / "missing.json", files["csv"]], "does not exist"),
        (2, ["explain", files["rf"], tmp_path / "missing.csv"], "does not exist"),
        (2, ["explain", files["rf"], files["csv"], "-o", tmp_path / "out.xlsx"], "results are written as"),
        (2, ["explain", files["rf"], files["rf"]], "data files are"),
        (2, ["explain", files["rf"], files["csv"], "--n-jobs", "0"], "0 threads has no meaning"),
        (2, ["explain", files["rf"], files["csv"], "--chunk-rows", "-5"], "positive integer"),
        (2, ["explain", files["rf"], files["csv"], "--target", "nope"], "is not a column"),
        (2, ["explain", files["rf"], files["csv"], "--model-output", "log_loss"], "--target"),
        (2, ["explain", files["rf"], files["csv"], "--interactions", "--features", "age,nope"], "unknown features"),
        (2, ["importance", files["rf"], files["csv"]], "--target"),
        (1, ["explain", corrupt, files["csv"]], "corrupt.json"),
        (1, ["explain", bad_pickle, files["csv"]], "cannot unpickle"),
        (1, ["explain", unsupported, files["csv"]], "unsupported scikit-learn model LogisticRegression"),
        (1, ["explain", files["rf"], wrong_columns], "lacks 5 of the model's features"),
        (1, ["explain", files["gbr"], text], "not numeric"),
        (1, ["saliency", files["forest"], files["csv"]], "tree model"),
    ]


def test_mistakes_give_one_line_and_a_status(files, tmp_path, capsys):
    for status, argv, message in mistakes(files, tmp_path):
        code = None
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:  # argparse's own usage errors
            code = exc.code
        err = capsys.readouterr().err
        assert code == status, (argv, err)
        assert message in err, (argv, err)
        assert "Traceback" not in err
        # argparse prints its usage line before the error line; ours print the error line alone
        error_lines = [line for line in err.splitlines() if "error:" in line]
        assert len(error_lines) == 1, err


def test_console_script_and_module(files, tmp_path):
    """The installed console script and ``python -m xplain_fast``: version, help, a mistake."""
    version = subprocess.run([sys.executable, "-m", "xplain_fast", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"xplain-fast {xf.__version__}"
    import importlib.metadata

    # the version is written once (the package's __version__); the installed metadata reads it from there
    assert importlib.metadata.version("xplain-fast") == xf.__version__
    for command in ("explain", "importance", "saliency", "demo"):
        shown = subprocess.run([sys.executable, "-m", "xplain_fast", command, "--help"], capture_output=True, text=True)
        assert shown.returncode == 0 and "example" in shown.stdout
    helped = subprocess.run([sys.executable, "-m", "xplain_fast", "explain", "--help"], capture_output=True, text=True)
    assert "runs any code" in " ".join(helped.stdout.split())  # the pickle warning
    mistake = subprocess.run([sys.executable, "-m", "xplain_fast", "demo", "--n-jobs", "0"], capture_output=True,
                             text=True)
    assert mistake.returncode == 2 and "Traceback" not in mistake.stderr
    corrupt = tmp_path / "model.txt"
    corrupt.write_text("tree\nversion=v4\nnum_class=1\n")
    failed = subprocess.run([sys.executable, "-m", "xplain_fast", "explain", str(corrupt), str(files["csv"])],
                            capture_output=True, text=True)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr


def test_a_failed_run_leaves_no_partial_file(files, tmp_path, capsys):
    text_late = tmp_path / "late.csv"
    frame = files["frame"][FEATURES].astype(object)
    frame.iloc[500, 0] = "oops"  # the third chunk cannot be read
    frame.to_csv(text_late, index=False)
    out = tmp_path / "shap.npz"
    status, _, err = run("explain", files["gbr"], text_late, "-o", out, "--chunk-rows", 200, capsys=capsys)
    assert status == 1 and "not numeric" in err
    assert not out.exists()


# -------------------------------------------------------------------------------------------------
# memory: a file far larger than a chunk streams through
# -------------------------------------------------------------------------------------------------
MEASURE_RSS = """
import resource, subprocess, sys
status = subprocess.run(sys.argv[1:]).returncode
print(status, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)
"""


def peak_rss(argv) -> int:
    done = subprocess.run([sys.executable, "-c", MEASURE_RSS, sys.executable, "-m", "xplain_fast", *map(str, argv)],
                          capture_output=True, text=True, check=True)
    status, peak = map(int, done.stdout.split())
    assert status == 0, done.stderr
    return peak


@pytest.mark.slow
def test_million_rows_in_bounded_memory(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    n_rows, n_features, chunk_rows = 1_000_000, 24, 20_000
    names = [f"c{j}" for j in range(n_features)]
    rng = np.random.default_rng(0)
    small = rng.normal(size=(2000, n_features))
    model = GradientBoostingRegressor(n_estimators=20, max_depth=4, random_state=0).fit(small, small[:, 0])
    model_file = tmp_path / "model.npz"
    xf.to_forest(model).save(model_file)
    data = tmp_path / "million.parquet"
    with pq.ParquetWriter(data, pa.schema([(n, pa.float64()) for n in names])) as writer:
        for start in range(0, n_rows, 100_000):  # written in pieces: the test itself stays small
            block = np.random.default_rng(start).normal(size=(100_000, n_features))
            writer.write_table(pa.Table.from_arrays(list(block.T), names=names), row_group_size=50_000)
    tiny, tenth = tmp_path / "tiny.parquet", tmp_path / "tenth.parquet"
    pq.write_table(pq.read_table(data).slice(0, 10), tiny)
    pq.write_table(pq.read_table(data).slice(0, n_rows // 10), tenth, row_group_size=50_000)
    out = tmp_path / "shap.parquet"
    common = ["--chunk-rows", chunk_rows, "--quiet", "--n-jobs", 2]
    interpreter = peak_rss(["explain", model_file, tiny, "-o", tmp_path / "tiny.npz", *common])
    tenth_peak = peak_rss(["explain", model_file, tenth, "-o", tmp_path / "tenth_out.parquet", *common])
    peak = peak_rss(["explain", model_file, data, "-o", out, *common])
    data_bytes = n_rows * n_features * 8  # 183 MiB in memory; the values written are as large again
    chunk_bytes = chunk_rows * n_features * 8  # 3.7 MiB
    # Bound: the interpreter and libraries (a 10-row run) + about 40 chunks' worth: inputs, values,
    # the additivity check, parquet's decode and write buffers (row groups of 50,000 rows).
    bound = interpreter + 40 * chunk_bytes + 32 * 2**20
    print(f"peak RSS: 1,000,000 rows {peak / 2**20:.0f} MiB, 100,000 rows {tenth_peak / 2**20:.0f} MiB, "
          f"10 rows {interpreter / 2**20:.0f} MiB; bound {bound / 2**20:.0f} MiB; data {data_bytes / 2**20:.0f} MiB")
    assert peak < bound
    # ten times the rows, about the same memory (seen: +20 MiB, allocator slack, against the 165 MiB
    # that the 900,000 more rows take): it does not grow with the file
    assert peak - tenth_peak < 0.2 * data_bytes
    written = pq.ParquetFile(out)
    assert written.metadata.num_rows == n_rows
    last = written.read_row_group(written.num_row_groups - 1).to_pandas().to_numpy()
    tail = pq.read_table(data).slice(n_rows - len(last)).to_pandas().to_numpy()
    explainer = xf.TreeExplainer(model).fit()
    np.testing.assert_allclose(last[:, :n_features], explainer.shap_values(tail), rtol=0, atol=1e-12)


def test_placeholder_names_match_by_position(files, tmp_path, capsys):
    xgb = pytest.importorskip("xgboost")
    frame = files["frame"]
    model = xgb.XGBRegressor(n_estimators=10, max_depth=3).fit(frame[FEATURES].to_numpy(), frame["y"])
    model_file = tmp_path / "unnamed.json"
    model.save_model(model_file)
    data = tmp_path / "renamed.csv"
    frame[FEATURES].set_axis(["p", "q", "r", "s", "t"], axis=1).to_csv(data, index=False)
    out = tmp_path / "shap.npz"
    status, _, err = run("explain", model_file, data, "-o", out, capsys=capsys)
    assert status == 0, err
    saved = xf.Explanation.load(out)
    assert saved.feature_names == ["p", "q", "r", "s", "t"]
    np.testing.assert_allclose(saved.values, xf.TreeExplainer(model).fit().shap_values(frame[FEATURES].to_numpy()),
                               rtol=0, atol=1e-12)


def test_progress_on_a_terminal_only(files, tmp_path):
    import fcntl
    import pty
    import struct
    import termios

    argv = [sys.executable, "-m", "xplain_fast", "explain", str(files["rf"]), str(files["csv"]), "--chunk-rows",
            "100"]
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a terminal 100 wide
    on_terminal = subprocess.run([*argv, "-o", str(tmp_path / "a.npz")], stderr=follower, stdout=subprocess.DEVNULL)
    os.close(follower)
    shown = b""
    while True:
        try:
            piece = os.read(leader, 65536)
        except OSError:  # the terminal closed
            break
        if not piece:
            break
        shown += piece
    os.close(leader)
    assert on_terminal.returncode == 0
    assert b"explaining" in shown and b"600/600" in shown  # tqdm's bar with the rows done
    piped = subprocess.run([*argv, "-o", str(tmp_path / "b.npz")], capture_output=True, text=True)
    assert piped.returncode == 0 and piped.stderr.strip() == f"wrote 600 rows to {tmp_path / 'b.npz'}"
    quiet = subprocess.run([*argv, "-o", str(tmp_path / "c.npz"), "--quiet"], capture_output=True, text=True)
    assert quiet.returncode == 0 and quiet.stderr == ""


def library_model_files(frame, folder):
    """(model object, its saved file) of every library format the command line reads."""
    made = []
    X, y = frame[FEATURES], frame["y"]
    try:
        import xgboost as xgb

        model = xgb.XGBRegressor(n_estimators=15, max_depth=3).fit(X, y)
        for suffix in (".json", ".ubj"):
            model.save_model(folder / f"xgb{suffix}")
            made.append((model, folder / f"xgb{suffix}"))
    except ImportError:
        pass
    try:
        import lightgbm as lgb

        model = lgb.LGBMRegressor(n_estimators=15, num_leaves=8, verbose=-1).fit(X, y)
        model.booster_.save_model(folder / "lgb.txt")
        made.append((model, folder / "lgb.txt"))
    except ImportError:
        pass
    try:
        import catboost

        model = catboost.CatBoostRegressor(iterations=15, depth=3, verbose=False, thread_count=1,
                                           allow_writing_files=False).fit(X, y)
        model.save_model(str(folder / "cat.cbm"))
        made.append((model, folder / "cat.cbm"))
    except ImportError:
        pass
    return made


def test_every_library_model_file(files, tmp_path, capsys):
    made = library_model_files(files["frame"], tmp_path)
    if not made:
        pytest.skip("none of xgboost, lightgbm, catboost is installed")
    for model, model_file in made:
        out = tmp_path / f"{model_file.name}.npz"
        status, _, err = run("explain", model_file, files["csv"], "-o", out, capsys=capsys)
        assert status == 0, (model_file, err)
        expected = xf.TreeExplainer(model).fit().explain(files["frame"][FEATURES])
        saved = xf.Explanation.load(out)
        np.testing.assert_allclose(saved.values, expected.values, rtol=0, atol=1e-12, err_msg=str(model_file))
        np.testing.assert_allclose(saved.base_values, expected.base_values, rtol=0, atol=1e-12)


def test_read_ahead_keeps_order_errors_and_stops_early():
    import threading

    from xplain_fast._io import read_ahead

    assert list(read_ahead(iter(range(7)))) == list(range(7))

    def failing():
        yield "first"
        raise ValueError("cannot read block 2")

    blocks = read_ahead(failing())
    assert next(blocks) == "first"
    with pytest.raises(ValueError, match="block 2"):
        next(blocks)
    before = threading.active_count()
    endless = read_ahead(iter(range(10**9)))
    assert next(endless) == 0
    endless.close()  # the reader thread ends with it
    assert threading.active_count() == before


@pytest.mark.parametrize("tail", [(3,), (4, 2), (3, 3, 2)])
def test_npy_results_are_written_in_place(tmp_path, tail):
    from xplain_fast._io import ResultWriter

    path = tmp_path / "values.npy"
    blocks = [np.random.default_rng(k).normal(size=(n, *tail)) for k, n in enumerate((5, 0, 11))]
    with ResultWriter(path, [f"f{j}" for j in range(tail[0])], tail, ()) as out:
        for block in blocks:
            out.write(block, np.zeros(len(block)))
    np.testing.assert_array_equal(np.load(path), np.concatenate(blocks))
    assert np.load(path, mmap_mode="r").offset % 64 == 0  # numpy's alignment of the data
    assert not [p for p in tmp_path.iterdir() if p != path]  # no spool file left beside it
