"""Peak memory of explaining many rows in memory: 1,000,000 rows of a 500-tree forest (depth 6).

Reports the wall time, rows per second, and the peak resident memory above what the input and the
result themselves need (the engine's working memory: per-chunk scratch, O(threads x chunk), not
O(rows)). Run: python benchmarks/large_rows.py [--rows 1000000] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from sklearn.ensemble import RandomForestRegressor

import xplain_fast as xf


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(20_000, 20))
    y = X_train[:, 0] * X_train[:, 1] + np.sin(X_train[:, 2]) + rng.normal(0, 0.1, 20_000)
    model = RandomForestRegressor(500, max_depth=6, max_features=0.5, random_state=0, n_jobs=args.n_jobs)
    model.fit(X_train, y)
    explainer = xf.TreeExplainer(model, n_jobs=args.n_jobs).fit()
    rows = rng.normal(size=(args.rows, 20))
    before = peak_mib()
    small = rows[:10_000]
    start = time.perf_counter()
    explainer.shap_values(small, check_additivity=False)
    small_rate = len(small) / (time.perf_counter() - start)
    start = time.perf_counter()
    phi = explainer.shap_values(rows, check_additivity=False)
    seconds = time.perf_counter() - start
    result_mib = phi.nbytes / 2**20
    print(f"{args.rows:,} rows x 20 features, 500 trees depth 6, n_jobs={args.n_jobs}: {seconds:.1f} s, "
          f"{args.rows / seconds:,.0f} rows/s (10,000 rows: {small_rate:,.0f} rows/s)")
    print(f"peak RSS {peak_mib():,.0f} MiB; before the call {before:,.0f} MiB (model, input "
          f"{rows.nbytes / 2**20:,.0f} MiB); result {result_mib:,.0f} MiB; working memory above input + result: "
          f"{peak_mib() - before - result_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
