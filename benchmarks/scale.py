"""Rows at scale: SHAP values of a 500-tree model for 10,000, 1,000,000 and 10,000,000 rows.

Each size is explained twice:

- streamed: ``xplain-fast explain model.json rows.npy -o shap.npy --chunk-rows 100000`` in a fresh
  process (the input read chunk by chunk, ahead of the engine; the output written in place), timed
  end to end with its peak resident memory;
- in memory (up to 1,000,000 rows): ``TreeExplainer.shap_values`` on the whole array, with the
  peak resident memory above what the input and the result themselves take.

The rates are compared with the engine's rate on 10,000 rows in memory. Run:

    python benchmarks/scale.py [--sizes 10000,1000000,10000000] [--n-jobs 2] [--workdir DIR]

The data (float32 numbers, as stored data mostly is) and the model are written to --workdir
(a temporary folder by default): 10,000,000 rows take 1.6 GB in and 1.6 GB out.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

N_FEATURES, N_TREES, DEPTH = 20, 500, 4

# Runs one command and prints its wall time and peak resident memory (this wrapper's only child).
_CHILD = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
subprocess.run(sys.argv[1:], check=True)
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _model(workdir: Path) -> Path:
    """An XGBoost regressor of 500 depth-4 trees on 20 features, saved as JSON."""
    import xgboost

    path = workdir / "model.json"
    if not path.exists():
        rng = np.random.default_rng(0)
        X = rng.normal(size=(20_000, N_FEATURES))
        y = X[:, 0] * X[:, 1] + np.sin(X[:, 2]) + X[:, 3:8].sum(axis=1) + rng.normal(0, 0.1, 20_000)
        model = xgboost.XGBRegressor(n_estimators=N_TREES, max_depth=DEPTH, learning_rate=0.05, n_jobs=2)
        model.fit(X, y).save_model(path)
    return path


def _rows(workdir: Path, n: int) -> Path:
    """n rows in a .npy file, written block by block (the generator's memory stays bounded)."""
    path = workdir / f"rows-{n}.npy"
    if not path.exists():
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(n, N_FEATURES))
        rng = np.random.default_rng(n)
        for begin in range(0, n, 1_000_000):
            end = min(n, begin + 1_000_000)
            out[begin:end] = rng.normal(size=(end - begin, N_FEATURES)).astype(np.float32)
        out.flush()
        del out
    return path


def _peak_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,1000000,10000000")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--workdir")
    parser.add_argument("--out", help="write the results as JSON here too")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="xplain-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)

    import xgboost

    import xplain_fast as xf

    model_path = _model(workdir)
    model = xgboost.XGBRegressor()
    model.load_model(model_path)
    explainer = xf.TreeExplainer(model, n_jobs=args.n_jobs).fit()
    small = np.load(_rows(workdir, 10_000))
    explainer.shap_values(small[:1000], check_additivity=False)  # warm
    timings = []
    for _ in range(5):
        start = time.perf_counter()
        explainer.shap_values(small, check_additivity=False)
        timings.append(time.perf_counter() - start)
    reference = len(small) / float(np.median(timings))
    print(f"{N_TREES} trees depth {DEPTH}, {N_FEATURES} features, n_jobs={args.n_jobs}: "
          f"10,000 rows in memory {reference:,.0f} rows/s (median of 5)")
    results = {"model": f"XGBoost regressor, {N_TREES} trees depth {DEPTH}, {N_FEATURES} features",
               "n_jobs": args.n_jobs, "cpu": platform.processor() or platform.machine(),
               "reference_rows_per_s": reference, "runs": []}
    for n in sizes:
        rows = _rows(workdir, n)
        out = workdir / f"shap-{n}.npy"
        command = [sys.executable, "-m", "xplain_fast", "explain", str(model_path), str(rows), "-o", str(out),
                   "--n-jobs", str(args.n_jobs), "--chunk-rows", "100000", "--quiet"]
        report = json.loads(subprocess.run([sys.executable, "-c", _CHILD, *command], check=True,
                                           capture_output=True, text=True).stdout.splitlines()[-1])
        rate = n / report["seconds"]
        run = {"rows": n, "mode": "streamed (command line)", "seconds": report["seconds"], "rows_per_s": rate,
               "peak_mib": report["peak_mib"], "vs_reference": rate / reference}
        results["runs"].append(run)
        print(f"{n:>12,} rows streamed:  {report['seconds']:8.1f} s  {rate:>10,.0f} rows/s "
              f"({rate / reference:.2f} x the 10,000-row rate, process start and file I/O included)  "
              f"peak RSS {report['peak_mib']:,.0f} MiB")
        # the result file is checked, then removed (10,000,000 rows: 1.6 GB)
        values = np.load(out, mmap_mode="r")
        assert values.shape == (n, N_FEATURES), values.shape
        out.unlink()
        if n <= 1_000_000:
            X = np.load(rows)
            before = _peak_mib()
            start = time.perf_counter()
            phi = explainer.shap_values(X, check_additivity=False)
            seconds = time.perf_counter() - start
            extra = _peak_mib() - before - phi.nbytes / 2**20
            run = {"rows": n, "mode": "in memory", "seconds": seconds, "rows_per_s": n / seconds,
                   "working_mib": extra, "vs_reference": n / seconds / reference}
            results["runs"].append(run)
            print(f"{n:>12,} rows in memory: {seconds:8.1f} s  {n / seconds:>10,.0f} rows/s "
                  f"({n / seconds / reference:.2f} x)  working memory beyond input and result {max(extra, 0):,.0f} MiB")
            del X, phi
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
