"""Time xplain-fast's TreeSHAP against the reference implementations, side by side, in one run.

    python benchmarks/compare_treeshap.py                      # all workloads, all references
    python benchmarks/compare_treeshap.py --workloads a --skip shap
    python benchmarks/compare_treeshap.py --fasttreeshap-python /path/to/venv/bin/python

References: shap's own C++ TreeSHAP (single-threaded), XGBoost pred_contribs, LightGBM
pred_contrib, and FastTreeSHAP v2 when a side environment with it is given (it needs numpy<2:
`pip install "numpy<2" scikit-learn lightgbm xgboost==1.7.6 fasttreeshap==0.1.6` in a venv).
Prints seconds (best of --repeat), the speed-up of xplain-fast at the same thread count, and the
largest difference between each reference's SHAP values and ours.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from timing import best_time  # noqa: E402
from treeshap_workloads import WORKLOADS, make_data, train  # noqa: E402

import xplain_fast as xf  # noqa: E402


def references(name: str, model, X: np.ndarray, skip: set[str]) -> dict[str, tuple[int, Callable]]:
    """label -> (threads, fn returning phi [n, M])."""
    refs: dict[str, tuple[int, Callable]] = {}
    if "shap" not in skip:
        import shap

        def shap_internal() -> np.ndarray:
            explainer = shap.TreeExplainer(model)
            explainer.model.model_type = "internal"  # time shap's own C++, not the library's
            return np.asarray(explainer.shap_values(X, check_additivity=False))

        refs["shap C++ (native)"] = (1, shap_internal)
    if name == "a" and "xgboost" not in skip:
        import xgboost

        booster = model.get_booster()
        dmatrix = xgboost.DMatrix(X)
        for threads in (1, 2):
            def contribs(threads=threads) -> np.ndarray:
                booster.set_param({"nthread": threads})
                return booster.predict(dmatrix, pred_contribs=True)[:, :-1]

            refs[f"XGBoost pred_contribs ({threads}t)"] = (threads, contribs)
    if name == "c" and "lightgbm" not in skip:
        booster = model.booster_
        for threads in (1, 2):
            def contrib(threads=threads) -> np.ndarray:
                return booster.predict(X, pred_contrib=True, num_threads=threads)[:, :-1]

            refs[f"LightGBM pred_contrib ({threads}t)"] = (threads, contrib)
    return refs


def fasttreeshap_times(python: str, name: str, model, X_train, y_train, X, tmp: Path) -> dict:
    np.save(tmp / "X_explain.npy", X)
    np.save(tmp / "X_train.npy", X_train)
    np.save(tmp / "y_train.npy", y_train)
    model_file = tmp / "model"
    if name == "a":
        model.get_booster().save_model(str(tmp / "model.json"))
        spec = json.loads((tmp / "model.json").read_text())
        param = spec["learner"]["learner_model_param"]
        param["base_score"] = param["base_score"].strip("[]")  # xgboost 1.7 reads a plain number
        model_file = tmp / "model.json"
        model_file.write_text(json.dumps(spec))
    elif name == "c":
        model.booster_.save_model(str(model_file))
    worker = Path(__file__).parent / "fasttreeshap_worker.py"
    out = subprocess.run([python, str(worker), name, str(model_file), str(tmp), "1", "2"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default="abc")
    parser.add_argument("--repeat", type=int, default=3, help="runs of xplain-fast per setting (best is kept)")
    parser.add_argument("--skip", default="", help="comma list of: shap, xgboost, lightgbm")
    parser.add_argument("--fasttreeshap-python", default=os.environ.get("FASTTREESHAP_PYTHON"))
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, xplain-fast {xf.__version__}, "
          f"{time.strftime('%Y-%m-%d')}")
    for name in args.workloads:
        X_train, y_train, X = make_data(name)
        model = train(name, X_train, y_train)
        print(f"\n({name}) {WORKLOADS[name]}")
        explainer = xf.TreeExplainer(model).fit()
        ours = {}
        for threads in (1, 2):
            explainer.n_jobs = threads
            ours[threads] = best_time(partial(explainer.shap_values, X, check_additivity=False), args.repeat)
        phi = ours[1][1]
        print(f"  {'method':<28}{'seconds':>9}{'xplain-fast faster by':>24}{'max |diff|':>13}")
        for threads in (1, 2):
            print(f"  {f'xplain-fast ({threads}t)':<28}{ours[threads][0]:>9.3f}{'':>24}{'':>13}")
        print(f"  {'':<28}{'':>9}{f'1->2 thread speed-up {ours[1][0] / ours[2][0]:.2f}x':>24}")
        for label, (threads, fn) in references(name, model, X, skip).items():
            seconds, theirs = best_time(fn, 1)
            diff = np.abs(np.asarray(theirs).reshape(phi.shape) - phi).max()
            ratio = seconds / ours[threads][0]
            print(f"  {label:<28}{seconds:>9.3f}{f'{ratio:.1f}x (vs {threads}t)':>24}{diff:>13.2e}")
        if args.fasttreeshap_python:
            with tempfile.TemporaryDirectory() as tmp:
                result = fasttreeshap_times(args.fasttreeshap_python, name, model, X_train, y_train, X, Path(tmp))
                theirs = np.load(result["phi_file"])
                # workload (b) is refit inside the side environment, so its values differ from ours
                diff = np.abs(theirs.reshape(phi.shape) - phi).max() if name != "b" else float("nan")
                for threads in (1, 2):
                    seconds = result[str(threads)]
                    ratio = seconds / ours[threads][0]
                    print(f"  {f'FastTreeSHAP v2 ({threads}t)':<28}{seconds:>9.3f}"
                          f"{f'{ratio:.1f}x (vs {threads}t)':>24}{diff:>13.2e}")


if __name__ == "__main__":
    main()
