"""The HTML report: its content against independent numbers, the command line, and a real browser."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance as sk_permutation_importance
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeRegressor

import xplain_fast as xf

# every test here writes a report, which needs both (the report extra)
pytest.importorskip("matplotlib")
pytest.importorskip("jinja2")

FIGURES = {"bar", "beeswarm", "scatter", "waterfall", "force", "heatmap", "interactions", "importance"}


def _frame(n: int = 400, seed: int = 0):
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, 5)), columns=["age", "income", "debt", "tenure", "noise"])
    y = ((X["income"] - X["debt"] + 2 * X["age"] * X["tenure"]) > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    X, y = _frame()
    model = RandomForestClassifier(n_estimators=30, max_depth=5, random_state=0).fit(X, y)
    path = tmp_path_factory.mktemp("report") / "report.html"
    out = xf.report(model, X, y, path=path, n_repeats=3, random_state=1, max_rows=300)
    return {"model": model, "X": X, "y": y, "path": out, "html": out.read_text(encoding="utf-8")}


def _data_block(html: str) -> dict:
    match = re.search(r'<script type="application/json" id="xplain-fast-data">(.*?)</script>', html, re.S)
    assert match, "the numbers are embedded as a JSON block"
    return json.loads(match.group(1))


def _sample(X, y, n, seed):
    picked = np.sort(np.random.default_rng(seed).choice(len(X), size=n, replace=False))
    return X.iloc[picked], y.iloc[picked]


def test_report_is_one_file_with_every_section(written):
    html = written["html"]
    for section in ("model", "top-features", "figures", "permutation-importance", "forest-importance",
                    "surrogate", "interactions", "timings", "provenance"):
        assert f'<section id="{section}">' in html
    found = set(re.findall(r'<figure id="figure-([a-z]+)">', html))
    assert found == FIGURES
    assert html.count('<img src="data:image/png;base64,') == len(FIGURES)
    # nothing is fetched: no external src/href, no CSS url(), no @import
    assert not re.search(r'(src|href)\s*=\s*"(?!data:)', html)
    assert "url(" not in html and "@import" not in html
    assert "300 of 400 rows (75.0%)" in html and "seed 1" in html


def test_numbers_match_independent_computations(written):
    data = _data_block(written["html"])
    X_sample, y_sample = _sample(written["X"], written["y"], 300, seed=1)
    # SHAP: the positive class of the binary classifier, by default
    phi = xf.TreeExplainer(written["model"]).fit().shap_values(X_sample)[..., 1]
    expected = dict(zip(written["X"].columns, np.abs(phi).mean(axis=0), strict=True))
    assert data["mean_abs_shap"] == pytest.approx(expected, rel=1e-12)
    assert [row["feature"] for row in data["top_features"]] == sorted(expected, key=expected.get, reverse=True)
    # permutation importance against scikit-learn's own implementation
    reference = sk_permutation_importance(written["model"], X_sample, y_sample, n_repeats=3, random_state=1)
    by_name = {row["feature"]: row["mean"] for row in data["importance"]["rows"]}
    for j, name in enumerate(written["X"].columns):
        assert by_name[name] == pytest.approx(reference.importances_mean[j], abs=1e-12)
    # the model summary describes the forest
    assert data["model"]["n_trees"] == 30 and data["model"]["n_outputs"] == 2
    assert data["model"]["depth"] == max(est.get_depth() for est in written["model"].estimators_)
    assert "positive class" in data["model"]["output_explained"]
    pairs = {(row["a"], row["b"]) for row in data["interactions"]["pairs"]}
    assert ("age", "tenure") in pairs  # the one product term of the label


def test_forest_importance_and_surrogate_match_independent_computations(written):
    data = _data_block(written["html"])
    columns = list(written["X"].columns)
    # split shares counted from scikit-learn's own trees
    splits = np.zeros(len(columns))
    for est in written["model"].estimators_:
        np.add.at(splits, est.tree_.feature[est.tree_.feature >= 0], 1)
    for row in data["forest_importance"]["rows"]:
        assert row["split_count"] == pytest.approx(splits[columns.index(row["feature"])] / splits.sum(), rel=1e-12)
    assert data["forest_importance"]["kinds"] == ["total_gain", "split_count", "total_cover"]
    # the surrogate: a depth-3 regression tree on the forest's raw output (its class probabilities),
    # fitted on the documented 75% and scored on the other 25% of the explained rows
    X_sample, _ = _sample(written["X"], written["y"], 300, seed=1)
    proba = written["model"].predict_proba(X_sample)
    train, test = train_test_split(np.arange(300), test_size=0.25, random_state=1)
    tree = DecisionTreeRegressor(max_depth=3, random_state=1).fit(X_sample.iloc[train], proba[train])
    surrogate = data["surrogate"]
    assert surrogate["fidelity"] == pytest.approx(r2_score(proba[test], tree.predict(X_sample.iloc[test])), abs=1e-9)
    assert surrogate["n_rules"] == tree.get_n_leaves() == len(surrogate["rules"])
    assert all(rule.startswith("if ") and "raw output[1]" in rule for rule in surrogate["rules"])
    assert any(name in surrogate["rules"][0] for name in columns)


def test_provenance_and_model_hash(written, tmp_path):
    prov = _data_block(written["html"])["provenance"]
    assert prov["xplain_fast"] == xf.__version__ and prov["seed"] == 1 and prov["numpy"] == np.__version__
    key = "model hash (sha256 of the Forest)"
    X, y = written["X"], written["y"]
    again = xf.report(written["model"], X, path=tmp_path / "again.html", interactions=False, max_rows=50)
    other_model = RandomForestClassifier(n_estimators=30, max_depth=5, random_state=1).fit(X, y)
    other = xf.report(other_model, X, path=tmp_path / "other.html", interactions=False, max_rows=50)
    assert _data_block(again.read_text())["provenance"][key] == prov[key]
    assert _data_block(other.read_text())["provenance"][key] != prov[key]


def test_report_of_a_regressor_without_labels_or_interactions(tmp_path):
    from sklearn.ensemble import GradientBoostingRegressor

    X, _ = _frame(200)
    y = X["age"] * 2 + X["income"]
    model = GradientBoostingRegressor(n_estimators=20, random_state=0).fit(X, y)
    html = xf.report(model, X, path=tmp_path / "r.html", interactions=False).read_text()
    found = set(re.findall(r'<figure id="figure-([a-z]+)">', html))
    assert found == FIGURES - {"interactions", "importance"}
    assert '<section id="permutation-importance">' not in html
    assert "All 200 rows" in html


def test_report_refuses_bad_arguments(tmp_path):
    X, y = _frame(50)
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="output=5 is out of range"):
        xf.report(model, X, path=tmp_path / "a.html", output=5)
    with pytest.raises(ValueError, match="no rows"):
        xf.report(model, X.iloc[:0], path=tmp_path / "a.html")
    with pytest.raises(ValueError, match="y has 3 entries"):
        xf.report(model, X, y[:3], path=tmp_path / "a.html")
    with pytest.raises(ValueError, match="max_rows"):
        xf.report(model, X, path=tmp_path / "a.html", max_rows=0)
    with pytest.raises(TypeError):
        xf.report(object(), X, path=tmp_path / "a.html")


def test_command_line_report(tmp_path):
    X, y = _frame(300)
    data = tmp_path / "data.csv"
    X.assign(label=y).to_csv(data, index=False)
    model = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
    forest_file = tmp_path / "rf.npz"
    xf.to_forest(model).save(forest_file)
    out = tmp_path / "cli.html"
    command = [sys.executable, "-m", "xplain_fast", "report", str(forest_file), str(data), "--target", "label",
               "--max-rows", "200", "--n-repeats", "2", "-o", str(out), "--quiet"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    block = _data_block(out.read_text())
    assert block["importance"] is not None  # the Forest file's probabilities are scored
    assert set(block["mean_abs_shap"]) == set(X.columns)
    assert "200 of 300 rows" in out.read_text()
    bad = subprocess.run(command[:-3] + ["-o", str(tmp_path / "report.txt")], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and "is an .html file" in bad.stderr


@pytest.mark.slow
def test_demo_out_leaves_a_report(tmp_path):
    done = subprocess.run([sys.executable, "-m", "xplain_fast", "demo", "--n-jobs", "2", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "report.html").stat().st_size > 100_000
    assert (tmp_path / "beeswarm.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "HTML report" in done.stdout
    # the global views sit next to SHAP and permutation importance, with the surrogate's rules
    assert "== Global views of the diabetes forest" in done.stdout
    assert re.search(r"MDI equals scikit-learn's feature_importances_ within [0-9.e-]+", done.stdout)
    assert re.search(r"^\s+if .* then prediction = ", done.stdout, flags=re.M)


def _browser():
    """Debian's chromium, driven by Playwright (never a downloaded browser), or a skip reason."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None, "playwright is not installed (pip install playwright; the test extra has it)"
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        return None, "Debian's chromium is not installed (apt-get install chromium; .ci/run does it)"
    return (sync_playwright, executable), ""


def test_report_in_a_real_browser(written, tmp_path):
    found, reason = _browser()
    if found is None:
        pytest.skip(reason)
    sync_playwright, executable = found
    errors, requests = [], []
    with sync_playwright() as playwright:
        args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
        browser = playwright.chromium.launch(executable_path=executable, args=args)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("request", lambda request: requests.append(request.url))
            page.goto(written["path"].resolve().as_uri(), wait_until="load")
            figures = page.eval_on_selector_all(
                "figure img",
                "images => images.map(i => ({w: i.naturalWidth, h: i.naturalHeight, complete: i.complete,"
                " box: i.getBoundingClientRect().width, visible: i.checkVisibility()}))")
            data = json.loads(page.eval_on_selector("#xplain-fast-data", "e => e.textContent"))
            screenshot = tmp_path / "report.png"
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    assert errors == []
    outside = [url for url in requests if not url.startswith(("file://", "data:"))]
    assert outside == [], f"the report asked the network for {outside}"
    assert len(figures) == len(FIGURES)
    for image in figures:
        assert image["complete"] and image["w"] > 0 and image["h"] > 0 and image["box"] > 0 and image["visible"]
    assert data["model"]["n_trees"] == 30
    assert screenshot.stat().st_size > 10_000
