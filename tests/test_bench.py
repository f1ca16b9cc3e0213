"""The benchmark harness on tiny workloads: its JSON, Markdown and chart, skips and disagreements."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np
import pytest

from xplain_fast import bench


def _sleepy(seconds: float, value: np.ndarray):
    def run() -> np.ndarray:
        time.sleep(seconds)
        return value

    return run


def _toy_workload() -> bench.Workload:
    """Ours (fast), a slow reference that agrees on a subset of rows, one that disagrees, one skipped."""
    x = np.linspace(0.0, 1.0, 400)

    def prepare(threads, peers):
        contenders = [bench.Contender("xplain-fast", t, _sleepy(0.002, x), 400, ours=True) for t in threads]
        contenders.append(bench.Contender("slow reference", 1, _sleepy(0.01, x[:100] + 1e-12), 100, tolerance=1e-9))
        contenders.append(bench.Contender("wrong reference", 1, _sleepy(0.001, x * 1.01), 400, tolerance=1e-6))
        return bench.Prepared(contenders, skipped={"absent library": "absent_library not installed"})

    return bench.Workload("toy/linspace", "toy", "400 numbers", prepare)


@pytest.fixture(scope="module")
def toy_result():
    return bench.run(workloads=[_toy_workload()], threads=(1, 2), repeats=3)


def test_results_hold_times_ratios_and_differences(toy_result):
    (workload,) = toy_result["workloads"]
    rows = {(r["name"], r["threads"]): r for r in workload["contenders"]}
    assert set(rows) == {("xplain-fast", 1), ("xplain-fast", 2), ("slow reference", 1), ("wrong reference", 1)}
    for row in rows.values():
        assert len(row["seconds"]) == 3 and row["spread"][0] <= row["median"] <= row["spread"][1]
        assert row["rows_per_second"] == pytest.approx(row["n_rows"] / row["median"])
    slow = rows[("slow reference", 1)]
    ours = rows[("xplain-fast", 1)]
    # compared per row (it explains 100 rows, we 400) against ours at its thread count
    assert slow["speedup_vs_threads"] == 1
    assert slow["speedup"] == pytest.approx((slow["median"] / 100) / (ours["median"] / 400), rel=1e-12)
    assert slow["agrees"] is True and slow["max_abs_diff"] == pytest.approx(1e-12, rel=1e-3)
    wrong = rows[("wrong reference", 1)]
    assert wrong["agrees"] is False and wrong["max_abs_diff"] == pytest.approx(0.01)
    assert rows[("xplain-fast", 1)]["speedup"] is None
    assert workload["skipped"] == {"absent library": "absent_library not installed"}
    meta = toy_result["machine"]
    assert meta["cores"] >= 1 and meta["cpu"] and meta["date"] and "numpy" in meta["libraries"]


def test_json_markdown_and_chart_are_written(toy_result, tmp_path):
    path = tmp_path / "results.json"
    bench.write_json(toy_result, path)
    assert json.loads(path.read_text()) == json.loads(json.dumps(toy_result))
    markdown = bench.to_markdown(toy_result)
    lines = markdown.splitlines()
    assert lines[0].startswith("Measured by `xplain-fast bench --suite custom` on ") and "commit" in lines[0]
    table = [line for line in lines if line.startswith("|")]
    assert table[0].startswith("| workload | contender | threads |") and table[1].startswith("|---|")
    assert all(line.count("|") == table[0].count("|") for line in table)
    assert "| 400 numbers | **xplain-fast** | 1 |" in markdown
    assert "skipped: absent library: absent_library not installed" in markdown
    assert "**1.0e-02 > 1e-06 (disagrees)**" in markdown
    pytest.importorskip("matplotlib")
    bench.plot_speedups(toy_result, tmp_path / "speedups.png")
    assert (tmp_path / "speedups.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_disagreement_is_reported_as_an_error(toy_result):
    errors = bench.disagreements(toy_result)
    assert errors == ["toy/linspace: wrong reference (1t) max |diff| 1.00e-02 > tolerance 1.0e-06"]
    assert "DISAGREEMENTS" in bench.format_table(toy_result)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="unknown families or workloads"):
        bench.run(only=["tree_shap"])
    with pytest.raises(ValueError, match="repeats"):
        bench.run(workloads=[_toy_workload()], repeats=0)
    with pytest.raises(ValueError, match="threads"):
        bench.run(workloads=[_toy_workload()], threads=(0,))
    with pytest.raises(ValueError, match="suite must be"):
        bench.run("medium")


def test_command_line_runs_a_real_workload(tmp_path):
    """A quick-suite workload end to end: real models and references, FastTreeSHAP skipped (no peer)."""
    out, chart = tmp_path / "r.json", tmp_path / "r.png"
    command = [sys.executable, "-m", "xplain_fast", "bench", "--only", "treeshap/forest-small", "--repeats", "1",
               "--threads", "1,2", "--out", str(out), "--markdown", "--plot", str(chart)]
    env = {**__import__("os").environ, "XPLAIN_FAST_BENCH_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    (workload,) = result["workloads"]
    names = {row["name"] for row in workload["contenders"]}
    assert {"xplain-fast"} <= names
    assert "FastTreeSHAP v2" in workload["skipped"]
    if "shap TreeExplainer (C++)" in names:  # shap is in the test extra
        shap_row = next(r for r in workload["contenders"] if r["name"] == "shap TreeExplainer (C++)")
        assert shap_row["agrees"] is True and shap_row["max_abs_diff"] < 1e-9 and shap_row["speedup"] is not None
    assert "| workload | contender |" in done.stdout  # --markdown prints the tables
    assert chart.stat().st_size > 1000
    assert list((tmp_path / "cache").glob("treeshap_forest-small-*.pkl"))  # the model is cached
    bad = subprocess.run([sys.executable, "-m", "xplain_fast", "bench", "--only", "nothing"], capture_output=True,
                         text=True, timeout=120, env=env)
    assert bad.returncode == 2 and "unknown families or workloads" in bad.stderr


def test_dask_workload_times_real_clusters_and_closes_them():
    """The scale-out family on a small problem: a LocalCluster of worker processes around each call."""
    pytest.importorskip("distributed")
    from xplain_fast.bench._workloads import _dask_scaling, _workload

    workload = _workload("dask", _dask_scaling, "20,000 rows", name="tiny", n_features=20, n_trees=10, depth=4,
                         n_rows=20_000, chunk=5_000)
    result = bench.run(workloads=[workload], threads=(1, 2), repeats=1)
    rows = result["workloads"][0]["contenders"]
    dask_rows = [r for r in rows if "Dask" in r["name"]]
    assert {(r["name"], r["threads"]) for r in dask_rows} == {
        ("xplain-fast on Dask, 1 worker(s) x 1 thread(s)", 1), ("xplain-fast on Dask, 2 worker(s) x 1 thread(s)", 2),
        ("xplain-fast on Dask, 1 worker(s) x 2 thread(s)", 2)}
    for row in dask_rows:
        assert row["speedup"] is not None and "peak RSS per worker" in row["note"]
    two_workers = next(r for r in dask_rows if r["name"].startswith("xplain-fast on Dask, 2 worker"))
    assert two_workers["note"].count(" / ") == 1  # one peak per worker
