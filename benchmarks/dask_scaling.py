"""SHAP values of 2,000,000 rows on Dask (1 and 2 worker processes) against one process.

Usage: ``python benchmarks/dask_scaling.py [--rows 2000000] [--chunk 50000] [--repeat 1]``

The rows are generated on the workers (and, identically, in this process), so the timings are of
the explanation: ``persist`` of the SHAP values, which stay on the workers as a real job's would
before being written out. Prints rows per second, the overhead against the single-process call
with as many threads as the cluster has, and each worker's peak resident memory.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from timing import best_time  # noqa: E402


def peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM: getrusage's maxrss would include the peak of
    the process that started it, which the worker processes inherit across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def release(client, collection) -> None:
    """Drop a persisted collection's results and wait until the scheduler has forgotten them, so
    the next run of the same graph computes again instead of finding them (or being cancelled)."""
    import distributed

    keys = {future.key for future in distributed.futures_of(collection)}
    client.cancel(collection)
    while keys & set(client.run_on_scheduler(scheduler_keys)):
        time.sleep(0.05)


def scheduler_keys(dask_scheduler) -> list:
    return list(dask_scheduler.tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--chunk", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    import dask.array as da
    import distributed
    from sklearn.ensemble import RandomForestRegressor

    import xplain_fast as xf
    import xplain_fast.dask as xfd

    n_features = 20
    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(20_000, n_features))
    y_train = X_train[:, 0] + X_train[:, 1] * X_train[:, 2] + rng.normal(scale=0.1, size=20_000)
    model = RandomForestRegressor(n_estimators=50, max_depth=6, random_state=0, n_jobs=2).fit(X_train, y_train)
    forest = xf.to_forest(model)

    X = da.random.default_rng(1).normal(size=(args.rows, n_features), chunks=(args.chunk, n_features))
    X_local = X.compute()
    print(f"{args.rows:,} rows x {n_features} features, RandomForestRegressor 50 trees depth 6, "
          f"chunks of {args.chunk:,} rows, best of {args.repeat}")
    single = {}
    for threads in (1, 2):
        explainer = xf.TreeExplainer(forest, n_jobs=threads).fit()
        seconds, _ = best_time(lambda e=explainer, X=X_local: e.shap_values(X, check_additivity=False),
                                args.repeat)
        single[threads] = seconds
        print(f"one process, {threads} thread(s): {seconds:7.2f} s  {args.rows / seconds:12,.0f} rows/s")
    del X_local

    # (workers, threads per worker): one process, two processes, and one process with two threads
    for workers, threads in ((1, 1), (2, 1), (1, 2)):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=threads, processes=True,
                                      dashboard_address=":0", silence_logs=40) as cluster, \
                distributed.Client(cluster) as client:
            rows = X.persist()
            distributed.wait(rows)

            seconds = float("inf")
            for _ in range(args.repeat):
                start = time.perf_counter()
                phi = xfd.shap_values(forest, rows, check_additivity=False).persist()
                distributed.wait(phi)
                seconds = min(seconds, time.perf_counter() - start)
                release(client, phi)
            peaks = client.run(peak_rss_mib)
            cores = workers * threads
            overhead = seconds / single[cores] - 1
            print(f"Dask, {workers} worker(s) x {threads} thread(s): {seconds:7.2f} s  {args.rows / seconds:12,.0f} "
                  f"rows/s  overhead vs one process with {cores} thread(s): {overhead:+.1%}  "
                  f"peak RSS per worker: {', '.join(f'{v:,.0f} MiB' for v in peaks.values())}")

if __name__ == "__main__":
    main()
