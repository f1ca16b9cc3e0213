"""Interventional TreeSHAP: xplain-fast vs shap on an XGBoost regressor.

100 features, 500 trees of depth 8; explain 2,000 rows against 100 and 1,000 background rows.
shap's interventional algorithm costs O(rows x background), so it is timed on a subset of rows and
scaled linearly to 2,000 (printed). Best of --repeat runs. Usage:

    python benchmarks/compare_interventional.py [--repeat 3] [--shap-rows 100]
"""

from __future__ import annotations

import argparse
import os
import warnings

import numpy as np
from timing import best_time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--shap-rows", type=int, default=100)
    parser.add_argument("--backgrounds", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--trees", type=int, default=500)
    args = parser.parse_args()

    import shap
    import xgboost as xgb

    import xplain_fast as xf

    rng = np.random.default_rng(0)
    n_train, M = 20_000, 100
    X = rng.normal(size=(n_train, M))
    y = (
        X[:, :10] @ rng.normal(size=10)
        + np.sin(X[:, 10] * X[:, 11])
        + rng.normal(size=n_train) * 0.1
    )
    model = xgb.XGBRegressor(
        n_estimators=args.trees, max_depth=8, learning_rate=0.05, n_jobs=2, random_state=0
    ).fit(X, y)
    rows = X[: args.rows]
    print(f"load (uptime): {os.getloadavg()}")
    print(
        f"XGBoost regressor: {M} features, {args.trees} trees, depth 8; "
        f"explaining {len(rows)} rows; best of {args.repeat}"
    )
    for R in args.backgrounds:
        background = X[-R:]
        print(f"\n--- background R = {R} ---")
        fit_t = {}
        ours = {}
        for n_jobs in (1, 2):
            ex = xf.TreeExplainer(model, feature_perturbation="interventional", n_jobs=n_jobs)
            fit_t[n_jobs], _ = best_time(lambda ex=ex, bg=background: ex.fit(bg), args.repeat)
            ours[n_jobs], phi = best_time(lambda ex=ex: ex.shap_values(rows), args.repeat)
        tables = ex._tables
        print(
            f"xplain-fast fit (tables): {fit_t[1]:.2f} s (1 thread), {fit_t[2]:.2f} s (2 threads); "
            f"tables {tables.table_bytes / 2**20:.0f} MiB, "
            f"all statistics {tables.nbytes / 2**20:.0f} MiB, "
            f"{tables.n_table_leaves} table leaves, {tables.n_pattern_leaves} pattern leaves"
        )
        print(f"xplain-fast shap_values: {ours[1]:.2f} s (1 thread), {ours[2]:.2f} s (2 threads)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # shap's default masker silently subsamples the background to 100 rows: ask for all R
            masker = shap.maskers.Independent(background, max_samples=len(background))
            reference = shap.TreeExplainer(
                model, data=masker, feature_perturbation="interventional"
            )
            sub = rows[: args.shap_rows]
            t_shap, theirs = best_time(
                lambda ref=reference, sub=sub: ref.shap_values(sub, check_additivity=False),
                1 if R >= 1000 else args.repeat,
            )
        scaled = t_shap * len(rows) / len(sub)
        err = np.abs(phi[: len(sub)] - theirs).max()
        print(
            f"shap interventional: {t_shap:.2f} s for {len(sub)} rows -> scaled linearly to "
            f"{len(rows)} rows: {scaled:.1f} s"
        )
        print(
            f"speed-up vs shap: {scaled / ours[1]:.0f}x (1 thread), "
            f"{scaled / ours[2]:.0f}x (2 threads); "
            f"including fit: {scaled / (ours[1] + fit_t[1]):.0f}x (1 thread)"
        )
        print(f"max |ours - shap| = {err:.2e} (max |phi| = {np.abs(theirs).max():.2f})")
    print(f"\nload (uptime) at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
