"""Permutation importance: scikit-learn vs xplain-fast, side by side in one run.

1. RandomForestClassifier(100 trees, max_depth=12) on 20,000 x 50 training rows, importance on
   5,000 held-out rows, n_repeats=5 (accuracy).
2. XGBoost regressor on 200 features of which 10 are informative; column sampling weighted towards
   them, so most features appear in a few splits only (r2).

Each timing is the best of --runs runs (the machine may be shared: the load is printed).

    python benchmarks/compare_permutation.py [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.inspection import permutation_importance as sk_permutation_importance
from timing import best_time

import xplain_fast as xf


def compare(title: str, model, X, y, runs: int, sk_runs: int, scoring=None) -> list[tuple]:
    print(f"== {title}")
    rows = []
    ours = {}
    for n_jobs in (1, 2):
        t, r = best_time(
            lambda n_jobs=n_jobs: xf.permutation_importance(
                model, X, y, scoring=scoring, n_repeats=5, random_state=0, n_jobs=n_jobs
            ),
            runs,
        )
        ours[n_jobs] = (t, r)
    assert np.array_equal(ours[1][1].importances, ours[2][1].importances), (
        "n_jobs changed the result"
    )
    for n_jobs in (1, 2):
        t_sk, r_sk = best_time(
            lambda n_jobs=n_jobs: sk_permutation_importance(
                model, X, y, scoring=scoring, n_repeats=5, random_state=0, n_jobs=n_jobs
            ),
            sk_runs,
        )
        t, r = ours[n_jobs]
        diff = float(np.max(np.abs(r.importances - r_sk.importances)))
        print(
            f"   n_jobs={n_jobs}: scikit-learn {t_sk:8.3f} s   xplain-fast {t:7.3f} s   "
            f"{t_sk / t:7.1f}x   max |diff| {diff:.2e}"
        )
        rows.append((title, n_jobs, t_sk, t, t_sk / t, diff))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=int, default=3, help="runs per timing of xplain-fast (best is kept)"
    )
    parser.add_argument("--sk-runs", type=int, default=1, help="runs per timing of scikit-learn")
    parser.add_argument("--quick", action="store_true", help="smaller problems (smoke test)")
    parser.add_argument("--only", choices=["forest", "xgboost"], default=None)
    args = parser.parse_args()
    print(
        f"cores: {os.cpu_count()}   load average: "
        f"{os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
        f"{os.getloadavg()[2]:.2f}\n"
    )
    scale = 10 if args.quick else 1
    rows = []

    if args.only in (None, "forest"):
        X, y = make_classification(
            n_samples=25_000 // scale,
            n_features=50,
            n_informative=15,
            n_redundant=5,
            random_state=0,
        )
        n_train = 20_000 // scale
        rf = RandomForestClassifier(n_estimators=100, max_depth=12, random_state=0, n_jobs=-1)
        rf.fit(X[:n_train], y[:n_train])
        rf.set_params(n_jobs=None)  # scikit-learn predicts tree by tree, as in a default model
        rows += compare(
            f"RandomForestClassifier(100 trees, depth 12), {X.shape[0] - n_train:,} rows x 50, "
            "n_repeats=5, accuracy",
            rf,
            X[n_train:],
            y[n_train:],
            args.runs,
            args.sk_runs,
        )

    if args.only in (None, "xgboost"):
        import xgboost

        rng = np.random.default_rng(0)
        n = 25_000 // scale
        X = rng.normal(size=(n, 200))
        y = X[:, :10] @ rng.uniform(0.5, 2.0, 10) + np.sin(3 * X[:, 0]) + 0.3 * rng.normal(size=n)
        n_train = 20_000 // scale
        # Column sampling weighted towards the informative features: each tree sees 10 of the
        # 200 columns, mostly informative ones, so the other 190 appear in a few splits only.
        weights = np.ones(200)
        weights[:10] = 200.0
        model = xgboost.XGBRegressor(
            feature_weights=weights,
            n_estimators=300,
            max_depth=6,
            learning_rate=0.1,
            colsample_bytree=0.05,
            random_state=0,
            n_jobs=2,
        )
        model.fit(X[:n_train], y[:n_train])
        used = model.get_booster().get_score(importance_type="weight")
        counts = np.array(sorted(used.values()))
        print(
            f"   (XGBoost: {len(used)} of 200 features used; "
            f"median {np.median(counts):.0f} splits, "
            f"top-10 features {counts[-10:].sum() / counts.sum():.0%} of the splits)"
        )
        # Where the time goes: the informative columns' permutations move many rows to other
        # leaves; the rarely used ones touch few rows.
        from xplain_fast.models import to_forest

        t_load, _ = best_time(lambda: to_forest(model), args.runs)
        for label, columns in (("10 informative", range(10)), ("190 rarely used", range(10, 200))):
            t_part, _ = best_time(
                lambda columns=columns: xf.permutation_importance(
                    model, X[n_train:], y[n_train:], n_repeats=5, random_state=0, n_jobs=2,
                    feature_groups=[[j] for j in columns],
                ),
                args.runs,
            )
            print(f"   xplain-fast, n_jobs=2, {label} columns only: {t_part:.3f} s")
        print(f"   (of which to_forest, the model conversion: {t_load:.3f} s each time)")
        rows += compare(
            f"XGBRegressor(300 trees, depth 6, weighted colsample_bytree=0.05), "
            f"{n - n_train:,} rows x 200 "
            "(10 informative), n_repeats=5, r2",
            model,
            X[n_train:],
            y[n_train:],
            args.runs,
            args.sk_runs,
        )

    print("\n| workload | n_jobs | scikit-learn (s) | xplain-fast (s) | speed-up | max abs diff |")
    print("|---|---|---|---|---|---|")
    for title, n_jobs, t_sk, t, ratio, diff in rows:
        print(
            f"| {title.split(',')[0]} | {n_jobs} | {t_sk:.2f} | {t:.3f} | {ratio:.0f}x "
            f"| {diff:.1e} |"
        )
    print(f"\nload average after the run: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
