"""``xplain-fast demo``: every capability on scikit-learn's built-in data, with timings."""

from __future__ import annotations

import argparse
import copy
import functools
import os
import tempfile
import time

import numpy as np

say = functools.partial(print, flush=True)  # each line shows as soon as its step is done


def run_demo(args: argparse.Namespace) -> int:
    """Train models on a built-in dataset, explain them, and print the top features with timings."""
    from sklearn.datasets import load_breast_cancer, load_diabetes
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestRegressor

    import xplain_fast as xf

    if args.out is not None:
        from ..report import require_extras

        require_extras()  # before minutes of work, not after
    say(f"xplain-fast {xf.__version__} demo  (threads: {args.n_jobs})\n")

    say("training a RandomForestRegressor on the diabetes data ...")
    data = load_diabetes(as_frame=True)
    X, y = data.data, data.target
    model = RandomForestRegressor(n_estimators=200, max_depth=8, random_state=0, n_jobs=args.n_jobs).fit(X, y)
    phi = _explain_and_report("RandomForestRegressor(200 trees, depth 8) on the diabetes data", model, X,
                              args.n_jobs, "disease progression")

    _files_demo(model, X)
    say("training a HistGradientBoostingClassifier on the breast-cancer data ...")
    cancer = load_breast_cancer(as_frame=True)
    clf = HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(cancer.data, cancer.target)
    _explain_and_report("HistGradientBoostingClassifier(200 iterations) on the breast-cancer data", clf,
                        cancer.data, args.n_jobs, "log-odds of benign")
    permutation = _permutation_report(model, X, y, args.n_jobs)
    _global_views_demo(model, X, phi, permutation)
    _saliency_demo(args.n_jobs)
    _dask_demo(model, X, y)
    _embedding_demo(model, X)
    if args.out is not None:
        _html_report(clf, cancer.data, cancer.target, args.out, args.n_jobs)
    return 0


def _html_report(model, X, y, folder: str, n_jobs: int) -> None:
    """The HTML report of the breast-cancer classifier, and its beeswarm figure as a PNG."""
    from matplotlib.figure import Figure

    import xplain_fast as xf
    from xplain_fast import plots

    say("== HTML report of the breast-cancer classifier")
    os.makedirs(folder, exist_ok=True)
    start = time.perf_counter()
    path = xf.report(model, X, y, path=os.path.join(folder, "report.html"), n_jobs=n_jobs,
                     title="xplain-fast demo: HistGradientBoostingClassifier on the breast-cancer data")
    seconds = time.perf_counter() - start
    explanation = xf.TreeExplainer(model, n_jobs=n_jobs).fit().explain(X)
    figure = Figure(figsize=(8, 5.5))  # not pyplot: no window, nothing global to close
    plots.beeswarm(explanation, max_display=12, ax=figure.add_subplot())
    figure.savefig(os.path.join(folder, "beeswarm.png"), dpi=100, bbox_inches="tight")
    say(f"   wrote {path} ({path.stat().st_size / 1e6:.1f} MB, every figure inside) in {seconds:.1f} s, "
        f"and beeswarm.png beside it; open the report in any browser, offline\n")


def _dask_demo(model, X, y) -> None:
    """The diabetes forest on a two-process Dask cluster, where the dask extra is installed."""
    import importlib.util

    say("== On a cluster: two Dask worker processes on this machine")
    if importlib.util.find_spec("distributed") is None:
        say("   skipped: the dask extra is not installed (pip install 'xplain-fast[dask]')\n")
        return
    import dask.array as da
    import dask.dataframe as dd
    import distributed

    import xplain_fast as xf
    import xplain_fast.dask as xfd

    # one thread per worker: the forest's own n_jobs would make scikit-learn warn inside the workers
    model = copy.deepcopy(model).set_params(n_jobs=None)
    rows = np.tile(X.to_numpy(), (20, 1))
    start = time.perf_counter()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster, distributed.Client(cluster):
        started = time.perf_counter() - start
        start = time.perf_counter()
        phi = xfd.shap_values(model, da.from_array(rows, chunks=(len(rows) // 8, rows.shape[1]))).compute()
        shap_s = time.perf_counter() - start
        start = time.perf_counter()
        ranked = xfd.permutation_importance(model, dd.from_pandas(X, npartitions=4), y, n_repeats=5, random_state=0)
        perm_s = time.perf_counter() - start
    same = np.array_equal(phi, xf.TreeExplainer(model, n_jobs=2).fit().shap_values(rows))
    local = xf.permutation_importance(model, X, y, n_repeats=5, random_state=0)
    say(f"   cluster up in {started:.1f} s; SHAP values of {len(rows):,} rows in 8 chunks {shap_s:.2f} s "
        f"({len(rows) / shap_s:,.0f} rows/s), bitwise equal to one process: {same}")
    say(f"   permutation importance over 4 partitions {perm_s:.2f} s (workers predict, the client scores); "
        f"max |difference| to the in-memory result {np.max(np.abs(ranked.importances - local.importances)):.1e}\n")


def _saliency_demo(n_jobs: int) -> None:
    """Integrated Gradients of an MLP on the 8x8 digits: timing, completeness, a heat map."""
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    import xplain_fast as xf

    say("training an MLPClassifier on the 8x8 digits ...")
    digits = load_digits()
    with warnings.catch_warnings():  # a demo-sized fit; its accuracy is printed below
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier(hidden_layer_sizes=(64,), activation="tanh", max_iter=300,
                              random_state=0).fit(digits.data, digits.target)
    say("== MLPClassifier(64 tanh units) on the 8x8 digits: Integrated Gradients")
    start = time.perf_counter()
    sal = xf.GradientSaliency(model, n_steps=64, baseline=0.0, n_jobs=n_jobs).fit()
    A, delta = sal.attribute(digits.images, return_convergence_delta=True)
    seconds = time.perf_counter() - start
    say(f"   training accuracy {model.score(digits.data, digits.target):.3f}; "
          f"{len(A):,} images x 64 pixels x 64 steps in {seconds * 1e3:.0f} ms "
          f"(a first run also compiles the kernels); attributions {A.shape}")
    say(f"   completeness: max |sum(A) - (f(x) - f(0))| = {np.abs(delta).max():.1e} (logits)")
    blank = (digits.images == 0).all(axis=0)
    say(f"   {blank.sum()} pixels are blank in every image; their attributions are all "
          f"{np.abs(A[:, blank]).max():.1f}")
    heat = np.abs(A[digits.target == 0]).mean(axis=0)
    shades = " .:-=+*#%@"
    say("   mean |attribution| over the zeros (darker = more important):")
    for row in heat / heat.max():
        say("     " + "".join(2 * shades[min(int(v * 10), 9)] for v in row))


def _permutation_report(model, X, y, n_jobs: int):
    """Permutation importance of the diabetes forest, ours next to scikit-learn's."""
    from sklearn.inspection import permutation_importance as sk_permutation_importance

    import xplain_fast as xf

    say("== Permutation importance of the diabetes forest (r2, 5 repeats)")
    start = time.perf_counter()
    ours = xf.permutation_importance(model, X, y, n_repeats=5, random_state=0, n_jobs=n_jobs)
    ours_s = time.perf_counter() - start
    say(f"   xplain-fast {ours_s * 1e3:.1f} ms; now scikit-learn's permutation_importance on the same "
        "model (a few seconds) ...")
    start = time.perf_counter()
    ref = sk_permutation_importance(model, X, y, n_repeats=5, random_state=0, n_jobs=n_jobs)
    sk_s = time.perf_counter() - start
    diff = float(np.max(np.abs(ours.importances - ref.importances)))
    say(f"   scikit-learn {sk_s * 1e3:.1f} ms: xplain-fast is "
        f"{sk_s / ours_s:.0f}x faster; max |difference| {diff:.1e}")
    for rank, j in enumerate(np.argsort(ours.importances_mean)[::-1][:5], 1):
        mean, std = ours.importances_mean[j], ours.importances_std[j]
        say(f"     {rank}. {X.columns[j]:<24} {mean:.4f} ± {std:.4f}")
    say()
    return ours


def _global_views_demo(model, X, phi: np.ndarray, permutation) -> None:
    """Four global importances of the diabetes forest side by side (its SHAP values and permutation
    importance from the steps above), and a depth-3 surrogate's rules."""
    import xplain_fast as xf

    say("== Global views of the diabetes forest")
    forest = xf.to_forest(model)
    start = time.perf_counter()
    mdi = xf.forest_importance(forest, "mdi")
    splits = xf.forest_importance(forest, "split_count", normalize=True)
    forest_s = time.perf_counter() - start
    say(f"   forest importance from the trees alone ({forest.n_nodes:,} nodes): {forest_s * 1e3:.2f} ms for "
        "two kinds; MDI equals "
        f"scikit-learn's feature_importances_ within {np.max(np.abs(mdi - model.feature_importances_)):.0e}")
    shap = np.abs(phi).mean(axis=0)
    views = {"mean |SHAP|": shap, "permutation (r2)": permutation.importances_mean, "MDI": mdi, "split share": splits}
    say("   " + f"{'feature':<10}" + "".join(f"{name:>18}" for name in views))
    for j in np.argsort(-shap, kind="stable")[:6]:
        cells = "".join(f"{values[j]:>11.4f} (#{int(np.sum(values > values[j])) + 1:<2})" for values in views.values())
        say(f"   {X.columns[j]:<10}{cells}")
    start = time.perf_counter()
    surrogate = xf.GlobalSurrogate(model, max_depth=3, random_state=0).fit(X)
    surrogate_s = time.perf_counter() - start
    say(f"   a depth-3 surrogate tree fitted in {surrogate_s * 1e3:.0f} ms imitates the forest with R2 "
        f"{surrogate.fidelity_:.3f} on 25% of the rows held out ({surrogate.train_fidelity_:.3f} on the rest); "
        "its rules, most covering first:")
    for rule in surrogate.rules_:
        say(f"     {rule}")
    say()


# A C++ program using the installed headers: the forest's arrays and the rows come in as raw files,
# the SHAP values go out as one.
_EMBEDDED_PROGRAM = r"""
#include <cstdio>
#include <string>
#include <vector>
#include "xplain/treeshap.hpp"

template <typename T> std::vector<T> load(const std::string& folder, const char* name) {
  std::vector<T> v;
  if (FILE* f = std::fopen((folder + "/" + name).c_str(), "rb")) {
    T x;
    while (std::fread(&x, sizeof x, 1, f) == 1) v.push_back(x);
    std::fclose(f);
  }
  return v;
}

int main(int, char** argv) {
  const std::string folder = argv[1];
  auto left = load<int32_t>(folder, "left"), right = load<int32_t>(folder, "right");
  auto feature = load<int32_t>(folder, "feature"), tree_output = load<int32_t>(folder, "tree_output");
  auto threshold = load<double>(folder, "threshold"), value = load<double>(folder, "value");
  auto cover = load<double>(folder, "cover"), base = load<double>(folder, "base_value");
  auto X = load<double>(folder, "X");
  auto default_left = load<uint8_t>(folder, "default_left");
  auto tree_offset = load<int64_t>(folder, "tree_offset"), flags = load<int64_t>(folder, "flags");
  xplain::ForestView f;
  f.left = left.data(); f.right = right.data(); f.feature = feature.data(); f.threshold = threshold.data();
  f.default_left = default_left.data(); f.value = value.data(); f.cover = cover.data();
  f.tree_offset = tree_offset.data(); f.tree_output = tree_output.data(); f.base_value = base.data();
  f.n_nodes = static_cast<int64_t>(left.size()); f.n_trees = static_cast<int64_t>(tree_output.size());
  f.n_features = flags[0]; f.strict_less = flags[1] != 0; f.float32_input = flags[2] != 0;
  f.check();
  const int64_t n = static_cast<int64_t>(X.size()) / f.n_features;
  std::vector<double> phi(X.size());
  xplain::path_shap_values(f, xplain::build_path_shap_tables(f), X.data(), n, phi.data(), 2);
  FILE* out = std::fopen((folder + "/phi").c_str(), "wb");
  std::fwrite(phi.data(), sizeof(double), phi.size(), out);
  std::fclose(out);
}
"""


def _embedding_demo(model, X) -> None:
    """The same SHAP values from a C++ program built against the installed headers."""
    import shutil
    import subprocess

    from xplain_fast import TreeExplainer, get_cmake_dir, get_include, to_forest

    say("== From C++: a program built against the installed headers (find_package(xplain) finds them at "
        "`python -m xplain_fast --cmakedir`)")
    compiler = shutil.which(os.environ.get("CXX", "c++"))
    forest = to_forest(model)  # a random forest: no missing-value rules or categories to pass on
    if compiler is None:
        say("   skipped: no C++ compiler (set CXX)\n")
        return
    with tempfile.TemporaryDirectory(prefix="xplain-fast-demo-") as folder:
        for name in ("left", "right", "feature", "threshold", "default_left", "value", "cover", "tree_offset",
                     "tree_output", "base_value"):
            np.ascontiguousarray(getattr(forest, name)).tofile(os.path.join(folder, name))
        np.array([forest.n_features, forest.decision == "<", forest.float32_input], dtype=np.int64).tofile(
            os.path.join(folder, "flags"))
        np.ascontiguousarray(X, dtype=np.float64).tofile(os.path.join(folder, "X"))
        source, program = os.path.join(folder, "explain.cpp"), os.path.join(folder, "explain")
        with open(source, "w") as f:
            f.write(_EMBEDDED_PROGRAM)
        start = time.perf_counter()
        built = subprocess.run([compiler, "-std=c++17", "-O2", "-pthread", "-I", get_include(), source, "-o", program],
                               capture_output=True, text=True)
        if built.returncode != 0:
            say(f"   skipped: the compiler failed ({built.stderr.strip().splitlines()[-1:]})\n")
            return
        compiled = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run([program, folder], check=True)
        ran = time.perf_counter() - start
        phi = np.fromfile(os.path.join(folder, "phi")).reshape(len(X), forest.n_features)
    same = bool(np.array_equal(phi, TreeExplainer(model).fit().shap_values(X)))
    say(f"   compiled in {compiled:.1f} s, explained {len(X):,} rows in {ran * 1e3:.0f} ms (the process, "
        f"loading included); the same bits as Python: {same}")
    say(f"   CMake config: {get_cmake_dir()}\n")


def _files_demo(model, X) -> None:
    """The command line on files: the forest saved as .npz, the data as csv, SHAP values to .npz."""
    from xplain_fast import Explanation, TreeExplainer, to_forest

    from . import main

    say("== The command line on files: xplain-fast explain forest.npz data.csv -o shap.npz --chunk-rows 100")
    with tempfile.TemporaryDirectory(prefix="xplain-fast-demo-") as folder:
        model_path, data_path, out_path = (os.path.join(folder, n) for n in ("forest.npz", "data.csv", "shap.npz"))
        to_forest(model).save(model_path)
        X.to_csv(data_path, index=False)
        start = time.perf_counter()
        status = main(["explain", model_path, data_path, "-o", out_path, "--chunk-rows", "100", "--quiet"])
        seconds = time.perf_counter() - start
        saved = Explanation.load(out_path)
    direct = TreeExplainer(model).fit().shap_values(X)
    say(f"   exit status {status}: {len(saved):,} rows read, explained and written in 5 chunks in "
        f"{seconds * 1e3:.0f} ms; equal to the in-memory values: {bool(np.array_equal(saved.values, direct))}\n")


def _explain_and_report(title: str, model, X, n_jobs: int, output: str) -> np.ndarray:
    """Explain the model on X, print what was found and how long it took; returns the SHAP values."""
    import xplain_fast as xf

    say(f"== {title}")
    start = time.perf_counter()
    explainer = xf.TreeExplainer(model, n_jobs=n_jobs).fit()
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    phi = explainer.shap_values(X)
    shap_s = time.perf_counter() - start
    forest = explainer.forest_
    say(f"   {forest.n_trees} trees, {forest.n_nodes:,} nodes, depth {forest.depth}; "
          f"explained {phi.shape[0]:,} rows x {phi.shape[1]} features")
    say(f"   convert + tables {fit_s * 1e3:.1f} ms, SHAP values {shap_s * 1e3:.1f} ms "
          f"({shap_s / phi.shape[0] * 1e6:.1f} us/row), additivity checked")
    start = time.perf_counter()
    interactions = explainer.shap_interaction_values(X)
    inter_s = time.perf_counter() - start
    say(f"   SHAP interaction values {inter_s * 1e3:.1f} ms ({interactions.shape[0]:,} x {interactions.shape[1]} x "
          f"{interactions.shape[2]})")
    say(f"   expected value ({output}): {explainer.expected_value_:.4f}")
    importance = np.abs(phi).mean(axis=0)
    order = np.argsort(importance)[::-1][:5]
    say("   top features by mean |SHAP|:")
    for rank, j in enumerate(order, 1):
        say(f"     {rank}. {explainer.feature_names_in_[j]:<24} {importance[j]:.4f}")
    off_diagonal = np.abs(interactions).mean(axis=0)
    np.fill_diagonal(off_diagonal, 0.0)
    i, j = np.unravel_index(np.argmax(off_diagonal), off_diagonal.shape)
    say(f"   strongest interaction: {explainer.feature_names_in_[i]} x {explainer.feature_names_in_[j]} "
          f"(mean |value| {2 * off_diagonal[i, j]:.4f})")
    row = int(np.argmax(np.abs(phi).sum(axis=1)))
    top = np.argsort(np.abs(phi[row]))[::-1][:3]
    parts = ", ".join(f"{explainer.feature_names_in_[j]} {phi[row, j]:+.3f}" for j in top)
    say(f"   row {row}: prediction {forest.predict(X.iloc[[row]])[0]:.3f} = "
          f"{explainer.expected_value_:.3f} + ... ({parts})\n")
    return phi
