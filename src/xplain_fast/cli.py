"""The ``xplain-fast`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np


def _demo(args: argparse.Namespace) -> int:
    """Train models on a built-in dataset, explain them, and print the top features with timings."""
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor

    import xplain_fast as xf

    print(f"xplain-fast {xf.__version__} demo  (threads: {args.n_jobs})\n")

    data = load_diabetes(as_frame=True)
    X, y = data.data, data.target
    model = RandomForestRegressor(n_estimators=200, max_depth=8, random_state=0, n_jobs=args.n_jobs).fit(X, y)
    _explain_and_report("RandomForestRegressor(200 trees, depth 8) on the diabetes data", model, X, args.n_jobs,
                        "disease progression")

    cancer = load_breast_cancer(as_frame=True)
    clf = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(cancer.data, cancer.target)
    _explain_and_report("HistGradientBoostingClassifier(200 iterations) on the breast-cancer data", clf,
                        cancer.data, args.n_jobs, "log-odds of benign")
    _permutation_report(model, X, y, args.n_jobs)
    _saliency_demo(args.n_jobs)
    return 0


def _saliency_demo(n_jobs: int) -> None:
    """Integrated Gradients of an MLP on the 8x8 digits: timing, completeness, a heat map."""
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    import xplain_fast as xf

    digits = load_digits()
    with warnings.catch_warnings():  # a demo-sized fit; its accuracy is printed below
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(64,), activation="tanh", max_iter=300,
                              random_state=0).fit(digits.data, digits.target)
    print("== MLPClassifier(64 tanh units) on the 8x8 digits: Integrated Gradients")
    start = time.perf_counter()
    sal = xf.GradientSaliency(model, n_steps=64, baseline=0.0, n_jobs=n_jobs).fit()
    A, delta = sal.attribute(digits.images, return_convergence_delta=True)
    seconds = time.perf_counter() - start
    print(f"   training accuracy {model.score(digits.data, digits.target):.3f}; "
          f"{len(A):,} images x 64 pixels x 64 steps in {seconds * 1e3:.0f} ms "
          f"(a first run also compiles the kernels); attributions {A.shape}")
    print(f"   completeness: max |sum(A) - (f(x) - f(0))| = {np.abs(delta).max():.1e} (logits)")
    blank = (digits.images == 0).all(axis=0)
    print(f"   {blank.sum()} pixels are blank in every image; their attributions are all "
          f"{np.abs(A[:, blank]).max():.1f}")
    heat = np.abs(A[digits.target == 0]).mean(axis=0)
    shades = " .:-=+*#%@"
    print("   mean |attribution| over the zeros (darker = more important):")
    for row in heat / heat.max():
        print("     " + "".join(2 * shades[min(int(v * 10), 9)] for v in row))


def _permutation_report(model, X, y, n_jobs: int) -> None:
    """Permutation importance of the diabetes forest, ours next to scikit-learn's."""
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    import xplain_fast as xf

    print("== Permutation importance of the diabetes forest (r2, 5 repeats)")
    start = time.perf_counter()
    ours = xf.permutation_importance(model, X, y, n_repeats=5, random_state=0, n_jobs=n_jobs)
    ours_s = time.perf_counter() - start
    start = time.perf_counter()
    ref = sk_permutation_importance(model, X, y, n_repeats=5, random_state=0, n_jobs=n_jobs)
    sk_s = time.perf_counter() - start
    diff = float(np.max(np.abs(ours.importances - ref.importances)))
    print(f"   xplain-fast {ours_s * 1e3:.1f} ms, scikit-learn {sk_s * 1e3:.1f} ms "
          f"({sk_s / ours_s:.0f}x); max |difference| {diff:.1e}")
    for rank, j in enumerate(np.argsort(ours.importances_mean)[::-1][:5], 1):
        mean, std = ours.importances_mean[j], ours.importances_std[j]
        print(f"     {rank}. {X.columns[j]:<24} {mean:.4f} ± {std:.4f}")
    print()


def _explain_and_report(title: str, model, X, n_jobs: int, output: str) -> None:
    import xplain_fast as xf

    print(f"== {title}")
    start = time.perf_counter()
    explainer = xf.TreeExplainer(model, n_jobs=n_jobs).fit()
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    phi = explainer.shap_values(X)
    shap_s = time.perf_counter() - start
    forest = explainer.forest_
    print(f"   {forest.n_trees} trees, {forest.n_nodes:,} nodes, depth {forest.depth}; "
          f"explained {phi.shape[0]:,} rows x {phi.shape[1]} features")
    print(f"   convert + tables {fit_s * 1e3:.1f} ms, SHAP values {shap_s * 1e3:.1f} ms "
          f"({shap_s / phi.shape[0] * 1e6:.1f} us/row), additivity checked")
    start = time.perf_counter()
    interactions = explainer.shap_interaction_values(X)
    inter_s = time.perf_counter() - start
    print(f"   SHAP interaction values {inter_s * 1e3:.1f} ms ({interactions.shape[0]:,} x {interactions.shape[1]} x "
          f"{interactions.shape[2]})")
    print(f"   expected value ({output}): {explainer.expected_value_:.4f}")
    importance = np.abs(phi).mean(axis=0)
    order = np.argsort(importance)[::-1][:5]
    print("   top features by mean |SHAP|:")
    for rank, j in enumerate(order, 1):
        print(f"     {rank}. {explainer.feature_names_in_[j]:<24} {importance[j]:.4f}")
    off_diagonal = np.abs(interactions).mean(axis=0)
    np.fill_diagonal(off_diagonal, 0.0)
    i, j = np.unravel_index(np.argmax(off_diagonal), off_diagonal.shape)
    print(f"   strongest interaction: {explainer.feature_names_in_[i]} x {explainer.feature_names_in_[j]} "
          f"(mean |value| {2 * off_diagonal[i, j]:.4f})")
    row = int(np.argmax(np.abs(phi).sum(axis=1)))
    top = np.argsort(np.abs(phi[row]))[::-1][:3]
    parts = ", ".join(f"{explainer.feature_names_in_[j]} {phi[row, j]:+.3f}" for j in top)
    print(f"   row {row}: prediction {forest.predict(X.iloc[[row]])[0]:.3f} = "
          f"{explainer.expected_value_:.3f} + ... ({parts})\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``xplain-fast`` console script."""
    parser = argparse.ArgumentParser(prog="xplain-fast", description="Explain machine-learning models fast.")
    sub = parser.add_subparsers(dest="command")
    demo = sub.add_parser("demo", help="explain models trained on built-in scikit-learn data (no files needed)")
    demo.add_argument("--n-jobs", type=int, default=-1, help="threads (-1: all cores)")
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        if args.command is None:
            args = parser.parse_args(["demo", *(argv or [])])
        return _demo(args)
    parser.error(f"unknown command {args.command!r}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
