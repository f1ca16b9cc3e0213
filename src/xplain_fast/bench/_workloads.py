"""The benchmark workloads: fixed models on seeded synthetic data, xplain-fast and every reference.

``quick`` runs in minutes on two cores; ``full`` holds the workloads behind the README's tables.
A reference that is not installed is listed as skipped with the reason; slow references explain a
subset of the rows and are compared per row. Models are trained once and cached on disk (keyed by
the library versions); ``XPLAIN_FAST_BENCH_CACHE`` moves the cache, an empty value turns it off.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import pickle
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from ._harness import Contender, Measured, Prepared, Workload

# -- shared pieces ---------------------------------------------------------------------------------


def _installed(*modules: str) -> str | None:
    """None when every module can be imported, else the reason a reference is skipped."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return f"{', '.join(missing)} not installed" if missing else None


def _cache_dir() -> Path | None:
    value = os.environ.get("XPLAIN_FAST_BENCH_CACHE")
    if value == "":
        return None
    return Path(value) if value else Path.home() / ".cache" / "xplain-fast" / "bench"


def cached_model(key: str, libraries: Sequence[str], train: Callable[[], Any]) -> Any:
    """``train()``'s model, from the disk cache when the same library versions trained it before."""
    folder = _cache_dir()
    versions = "-".join(f"{lib}{metadata.version(lib)}" for lib in ("scikit-learn", *libraries))
    path = folder / f"{key.replace('/', '_')}-{versions}.pkl" if folder else None
    if path is not None and path.exists():
        try:
            with open(path, "rb") as file:
                return pickle.load(file)
        except Exception:  # noqa: BLE001 - a stale or partial cache entry is retrained
            path.unlink(missing_ok=True)
    model = train()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".tmp")
            with open(partial, "wb") as file:
                pickle.dump(model, file)
            partial.replace(path)
        except OSError:
            pass  # a read-only home: train again next time
    return model


def _scale(values: np.ndarray) -> float:
    return max(1.0, float(np.max(np.abs(values)))) if np.size(values) else 1.0


def _regression_data(seed: int, n: int, n_features: int, nan_fraction: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed non-linear problem: a sparse linear part, a product and a sine of products.

    The features are float32 numbers (as most stored data is): readers of XGBoost models that
    compare float64 inputs against its float32 thresholds (shap's, FastTreeSHAP's) then route
    every row as XGBoost does, and outputs can be compared exactly.
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, n_features)).astype(np.float32).astype(np.float64)
    w = rng.normal(size=n_features) * (rng.random(n_features) < 0.3)
    y = X @ w + np.sin(3 * X[:, 0]) * X[:, 1] + 0.5 * X[:, 2] * X[:, 3] + 0.3 * rng.normal(size=n)
    if nan_fraction:
        X[rng.random(X.shape) < nan_fraction] = np.nan
    return X, y


class _Fitted:
    """A workload's model trained (or loaded from the cache) on the first n_train rows of its
    regression data, the rows it explains (the others) and the regression target."""

    def __init__(self, spec: dict, libraries: Sequence[str], make: Callable[[], Any],
                 target: Callable[[np.ndarray], np.ndarray] | None = None, nan_fraction: float = 0.0) -> None:
        n_train = spec["n_train"]
        X, self.y = _regression_data(spec["seed"], n_train + spec["n_rows"], spec["n_features"], nan_fraction)
        labels = self.y if target is None else target(self.y)
        self.model = cached_model(spec["key"], libraries, lambda: make().fit(X[:n_train], labels[:n_train]))
        self.X_train, self.y_train = X[:n_train], self.y[:n_train]
        self.rows = np.ascontiguousarray(X[n_train:])


def _ours_treeshap(model: Any, X: np.ndarray, threads: Sequence[int], method: str = "shap_values",
                   background: np.ndarray | None = None) -> list[Contender]:
    import xplain_fast as xf

    contenders = []
    for t in threads:
        if background is None:
            explainer = xf.TreeExplainer(model, n_jobs=t).fit()
        else:
            explainer = xf.TreeExplainer(model, feature_perturbation="interventional", n_jobs=t).fit(background)
        call = getattr(explainer, method)

        def run(call: Callable = call) -> np.ndarray:
            return call(X, check_additivity=False) if method == "shap_values" else call(X)

        contenders.append(Contender("xplain-fast", t, run, len(X), ours=True))
    return contenders


def _shap_tree(model: Any, X: np.ndarray, n_rows: int, tolerance: float, *, interactions: bool = False,
               output: int | None = None) -> tuple[list[Contender], dict[str, str]]:
    """shap's own C++ TreeSHAP (one thread), on the first n_rows rows."""
    reason = _installed("shap")
    name = "shap TreeExplainer (C++)"
    if reason:
        return [], {name: reason}
    import shap

    explainer = shap.TreeExplainer(model)
    explainer.model.model_type = "internal"  # shap's own C++, not the library's
    rows = X[:n_rows]

    def run() -> Any:
        if interactions:
            return explainer.shap_interaction_values(rows)
        return explainer.shap_values(rows, check_additivity=False)

    def align(values: Any) -> np.ndarray:
        values = np.asarray(values[output] if isinstance(values, list) else values)
        return values[..., output] if output is not None and values.ndim == 3 else values

    return [Contender(name, 1, run, n_rows, align=align, tolerance=tolerance)], {}


# -- TreeSHAP (path-dependent) ------------------------------------------------------------------------


def _treeshap_xgboost(spec: dict) -> Callable[[Sequence[int], dict[str, str]], Prepared]:
    def prepare(threads: Sequence[int], peers: dict[str, str]) -> Prepared:
        skipped = {}
        if reason := _installed("xgboost"):
            return Prepared([], {"xgboost workload": reason})
        import xgboost

        fitted = _Fitted(spec, ["xgboost"], lambda: xgboost.XGBRegressor(
            n_estimators=spec["n_trees"], max_depth=spec["depth"], learning_rate=0.05, tree_method="hist",
            n_jobs=2, random_state=0))
        model, rows = fitted.model, fitted.rows
        contenders = _ours_treeshap(model, rows, threads)
        scale = _scale(model.predict(rows[:200], output_margin=True))
        shap_refs, reasons = _shap_tree(model, rows, spec["shap_rows"], 1e-6 * scale)
        contenders += shap_refs
        skipped.update(reasons)
        library_rows = rows[:spec.get("library_rows", len(rows))]
        booster, dmatrix = model.get_booster(), xgboost.DMatrix(library_rows)
        for t in threads:
            def contribs(t: int = t) -> np.ndarray:
                booster.set_param({"nthread": t})
                return booster.predict(dmatrix, pred_contribs=True)

            contenders.append(Contender("XGBoost pred_contribs", t, contribs, len(library_rows),
                                        align=lambda v: v[:, :-1], tolerance=1e-4 * scale, note="float32"))
        external = _fasttreeshap(peers, "xgboost", model, rows, threads, skipped, 1e-4 * scale)
        return Prepared(contenders, skipped, external)

    return prepare


def _treeshap_forest(spec: dict) -> Callable[[Sequence[int], dict[str, str]], Prepared]:
    def prepare(threads: Sequence[int], peers: dict[str, str]) -> Prepared:
        from sklearn.ensemble import RandomForestRegressor

        fitted = _Fitted(spec, [], lambda: RandomForestRegressor(
            n_estimators=spec["n_trees"], max_depth=spec["depth"], n_jobs=2, random_state=0))
        model, rows = fitted.model, fitted.rows
        contenders = _ours_treeshap(model, rows, threads)
        shap_refs, skipped = _shap_tree(model, rows, spec["shap_rows"], 1e-9 * _scale(fitted.y))
        external = _fasttreeshap(peers, "forest", model, rows, threads, skipped, None,
                                 train=(fitted.X_train, fitted.y_train, spec))
        return Prepared(contenders + shap_refs, skipped, external)

    return prepare


def _treeshap_lightgbm(spec: dict) -> Callable[[Sequence[int], dict[str, str]], Prepared]:
    def prepare(threads: Sequence[int], peers: dict[str, str]) -> Prepared:
        if reason := _installed("lightgbm"):
            return Prepared([], {"lightgbm workload": reason})
        import lightgbm

        fitted = _Fitted(spec, ["lightgbm"], lambda: lightgbm.LGBMClassifier(
            n_estimators=spec["n_trees"], num_leaves=spec["num_leaves"], learning_rate=0.05, n_jobs=2,
            random_state=0, verbose=-1), target=lambda y: (y > np.median(y)).astype(int))
        model, rows = fitted.model, fitted.rows
        contenders = _ours_treeshap(model, rows, threads)
        booster = model.booster_
        scale = _scale(booster.predict(rows[:200], raw_score=True))
        shap_refs, skipped = _shap_tree(model, rows, spec["shap_rows"], 1e-9 * scale, output=1)
        contenders += shap_refs
        for t in threads:
            def contrib(t: int = t) -> np.ndarray:
                return booster.predict(rows, pred_contrib=True, num_threads=t)

            contenders.append(Contender("LightGBM pred_contrib", t, contrib, len(rows),
                                        align=lambda v: v[:, :-1], tolerance=1e-9 * scale))
        external = _fasttreeshap(peers, "lightgbm", model, rows, threads, skipped, 1e-9 * scale)
        return Prepared(contenders, skipped, external)

    return prepare


def _treeshap_catboost(spec: dict) -> Callable[[Sequence[int], dict[str, str]], Prepared]:
    def prepare(threads: Sequence[int], peers: dict[str, str]) -> Prepared:
        if reason := _installed("catboost"):
            return Prepared([], {"catboost workload": reason})
        import catboost

        fitted = _Fitted(spec, ["catboost"], lambda: catboost.CatBoostRegressor(
            iterations=spec["n_trees"], depth=spec["depth"], verbose=False, thread_count=2, random_seed=0,
            allow_writing_files=False))
        model, rows, y = fitted.model, fitted.rows, fitted.y
        contenders = _ours_treeshap(model, rows, threads)
        pool = catboost.Pool(rows)
        for t in threads:
            def shap_values(t: int = t) -> np.ndarray:
                return model.get_feature_importance(pool, type="ShapValues", thread_count=t)

            contenders.append(Contender("CatBoost ShapValues", t, shap_values, len(rows), align=lambda v: v[:, :-1],
                                        tolerance=1e-9 * _scale(y)))
        return Prepared(contenders, {"shap TreeExplainer (C++)": "shap explains CatBoost with CatBoost's own code"})

    return prepare


def _fasttreeshap(peers: dict[str, str], kind: str, model: Any, rows: np.ndarray, threads: Sequence[int],
                  skipped: dict[str, str], tolerance: float | None, train: tuple | None = None) -> list[Measured]:
    """FastTreeSHAP v2 timed in its own environment (it needs numpy<2), given as --peer fasttreeshap=PYTHON."""
    name = "FastTreeSHAP v2"
    python = peers.get("fasttreeshap")
    if python is None:
        skipped[name] = ("needs its own environment (numpy<2): give its interpreter with "
                         "--peer fasttreeshap=PATH/TO/python")
        return []
    with tempfile.TemporaryDirectory(prefix="xplain-fast-bench-") as folder:
        folder_path = Path(folder)
        np.save(folder_path / "rows.npy", rows)
        job: dict[str, Any] = {"kind": kind, "threads": list(threads), "repeats": 3}
        if kind == "xgboost":
            path = folder_path / "model.json"
            model.get_booster().save_model(str(path))
            spec = json.loads(path.read_text())
            param = spec["learner"]["learner_model_param"]
            param["base_score"] = param["base_score"].strip("[]")  # xgboost 1.7 reads a plain number
            path.write_text(json.dumps(spec))
            job["model"] = str(path)
        elif kind == "lightgbm":
            job["model"] = str(folder_path / "model.txt")
            model.booster_.save_model(job["model"])
        else:  # scikit-learn pickles do not cross numpy versions: the peer refits the same forest
            X_train, y_train, spec = train
            np.save(folder_path / "X_train.npy", X_train)
            np.save(folder_path / "y_train.npy", y_train)
            job["forest"] = {"n_estimators": spec["n_trees"], "max_depth": spec["depth"]}
        (folder_path / "job.json").write_text(json.dumps(job))
        worker = Path(__file__).with_name("_fasttreeshap_worker.py")
        done = subprocess.run([python, str(worker), folder], capture_output=True, text=True)
        if done.returncode != 0:
            skipped[name] = f"its environment failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}"
            return []
        result = json.loads(done.stdout.strip().splitlines()[-1])
        phi = np.load(folder_path / "phi.npy")
    note = f"in its own environment (FastTreeSHAP {result['version']}), not interleaved; its process peaked at " \
           f"{result['peak_mib']:.0f} MiB"
    if tolerance is None:
        note += "; refit in its environment, so its values are not compared"
    return [Measured(Contender(name, t, _measured_elsewhere, len(rows), align=lambda v: v.reshape(len(rows), -1),
                               tolerance=tolerance, note=note), result["seconds"][str(t)], phi) for t in threads]


def _measured_elsewhere() -> None:
    raise RuntimeError("this contender was timed in another environment")


# -- interaction values ---------------------------------------------------------------------------------


def _interactions_xgboost(spec: dict) -> Callable[[Sequence[int], dict[str, str]], Prepared]:
    def prepare(threads: Sequence[int], peers: dict[str, str]) -> Prepared:
        if reason := _installed("xgboost"):
            return Prepared([], {"xgboost workload": reason})
        import xgboost

        fitted = _Fitted(spec, ["xgboost"], lambda: xgboost.XGBRegressor(
            n_estimators=spec["n_trees"], max_depth=spec["depth"], n_jobs=2, random_state=0), nan_fraction=0.05)
        model, rows = fitted.model, fitted.rows
        contenders = _ours_treeshap(model, rows, threads, method="shap_interaction_values")
        scale = _scale(model.predict(rows[:200], output_margin=True))
        booster, dmatrix = model.get_booster(), xgboost.DMatrix(rows)
        for t in threads:
            def interactions(t: int = t) -> np.ndarray:
                booster.set_param({"nthread": t})
                return booster.predict(dmatrix, pred_interactions=True)

            contenders.append(Contender("XGBoost pred_interactions", t, interactions, len(rows),
                                        align=lambda v: v[:, :-1, :-1], tolerance=1e-4 * scale, note="float32"))
        shap_refs, skipped = _shap_tree(model, rows, spec["shap_rows"], 1e-6 * scale, interactions=True)
        return Prepared(contenders + shap_refs, skipped)

    return prepare


# -- interventional SHAP ----------------------------------------------------------------------------------


def _interventional_xgboost(spec: dict) -> Callable[[Sequence[int], dict[str, str]], Prepared]:
    def prepare(threads: Sequence[int], peers: dict[str, str]) -> Prepared:
        if reason := _installed("xgboost"):
            return Prepared([], {"xgboost workload": reason})
        import xgboost

        fitted = _Fitted(spec, ["xgboost"], lambda: xgboost.XGBRegressor(
            n_estimators=spec["n_trees"], max_depth=spec["depth"], learning_rate=0.05, n_jobs=2, random_state=0))
        model, rows = fitted.model, fitted.rows
        background = np.ascontiguousarray(fitted.X_train[:spec["background"]])
        contenders = _ours_treeshap(model, rows, threads, background=background)
        scale = _scale(model.predict(rows[:200], output_margin=True))
        skipped = {}
        if reason := _installed("shap"):
            skipped["shap TreeExplainer (interventional)"] = reason
            skipped["shap Exact"] = reason
            return Prepared(contenders, skipped)
        import shap

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # shap's default masker subsamples the background to 100 rows: ask for all of them
            masker = shap.maskers.Independent(background, max_samples=len(background))
            reference = shap.TreeExplainer(model, data=masker, feature_perturbation="interventional")
        subset = rows[:spec["shap_rows"]]
        contenders.append(Contender("shap TreeExplainer (interventional)", 1,
                                    lambda: reference.shap_values(subset, check_additivity=False), len(subset),
                                    tolerance=1e-6 * scale))
        if spec.get("exact_rows"):
            exact_rows = rows[:spec["exact_rows"]]
            exact = shap.explainers.Exact(lambda Z: model.predict(Z, output_margin=True), masker)
            contenders.append(Contender(
                "shap Exact", 1, lambda: exact(exact_rows, silent=True).values, len(exact_rows), tolerance=1e-5 * scale,
                note=f"all 2^{spec['n_features']} coalitions x {len(background)} background rows per row; float32"))
        else:
            skipped["shap Exact"] = f"2^{spec['n_features']} coalitions per row: not feasible"
        return Prepared(contenders, skipped)

    return prepare


# -- permutation importance ---------------------------------------------------------------------------------


def _permutation(spec: dict) -> Callable[[Sequence[int], dict[str, str]], Prepared]:
    def prepare(threads: Sequence[int], peers: dict[str, str]) -> Prepared:
        from sklearn.inspection import permutation_importance as sklearn_permutation_importance

        import xplain_fast as xf

        library = {"xgboost": "xgboost", "xgboost_classifier": "xgboost", "lightgbm_classifier": "lightgbm"}
        if spec["model"] in library and (reason := _installed(library[spec["model"]])):
            return Prepared([], {f"{library[spec['model']]} workload": reason})
        X, y, model = _permutation_model(spec)
        rows, labels = X[spec["n_train"]:], y[spec["n_train"]:]
        args = dict(scoring=spec["scoring"], n_repeats=spec["n_repeats"], random_state=0)
        contenders = []
        for t in threads:
            def ours(t: int = t) -> np.ndarray:
                return xf.permutation_importance(model, rows, labels, n_jobs=t, **args).importances

            contenders.append(Contender("xplain-fast", t, ours, len(rows), ours=True))
        for t in threads:
            contenders.append(Contender(
                "scikit-learn permutation_importance", t,
                lambda t=t: sklearn_permutation_importance(model, rows, labels, n_jobs=t, **args).importances,
                len(rows), tolerance=spec["tolerance"]))
        return Prepared(contenders)

    return prepare


def _permutation_model(spec: dict) -> tuple[np.ndarray, np.ndarray, Any]:
    n = spec["n_train"] + spec["n_rows"]
    if spec["model"] == "forest":
        from sklearn.datasets import make_classification
        from sklearn.ensemble import RandomForestClassifier

        X, y = make_classification(n_samples=n, n_features=spec["n_features"], n_informative=15, n_redundant=5,
                                   random_state=0)

        def train() -> Any:
            model = RandomForestClassifier(n_estimators=spec["n_trees"], max_depth=spec["depth"], random_state=0,
                                           n_jobs=-1).fit(X[:spec["n_train"]], y[:spec["n_train"]])
            return model.set_params(n_jobs=None)  # scikit-learn then predicts as a default model does

        return X, y, cached_model(spec["key"], [], train)
    if spec["model"] in ("xgboost_classifier", "lightgbm_classifier"):
        return _permutation_classifier(spec, n)
    import xgboost

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, spec["n_features"]))
    y = X[:, :10] @ rng.uniform(0.5, 2.0, 10) + np.sin(3 * X[:, 0]) + 0.3 * rng.normal(size=n)
    # column sampling weighted towards the 10 informative features: the others appear in few splits
    weights = np.ones(spec["n_features"])
    weights[:10] = spec["n_features"]
    return X, y, cached_model(spec["key"], ["xgboost"], lambda: xgboost.XGBRegressor(
        feature_weights=weights, n_estimators=spec["n_trees"], max_depth=spec["depth"], learning_rate=0.1,
        colsample_bytree=spec["colsample"], random_state=0, n_jobs=2).fit(X[:spec["n_train"]], y[:spec["n_train"]]))


def _permutation_classifier(spec: dict, n: int) -> tuple[np.ndarray, np.ndarray, Any]:
    """A binary classifier of a logistic model in 10 of the features, trained with column sampling:
    the other features appear in few splits (sparse use)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, spec["n_features"])).astype(np.float32).astype(np.float64)
    y = (X[:, :10] @ rng.normal(size=10) + rng.logistic(size=n) > 0).astype(int)
    train = X[:spec["n_train"]], y[:spec["n_train"]]
    common = dict(n_estimators=spec["n_trees"], max_depth=spec["depth"], learning_rate=0.1,
                  colsample_bytree=spec["colsample"], random_state=0, n_jobs=2)
    if spec["model"] == "xgboost_classifier":
        import xgboost

        return X, y, cached_model(spec["key"], ["xgboost"], lambda: xgboost.XGBClassifier(**common).fit(*train))
    import lightgbm

    return X, y, cached_model(spec["key"], ["lightgbm"], lambda: lightgbm.LGBMClassifier(
        num_leaves=2 ** spec["depth"] - 1, verbose=-1, **common).fit(*train))


# -- gradient saliency ----------------------------------------------------------------------------------------


def _saliency(spec: dict) -> Callable[[Sequence[int], dict[str, str]], Prepared]:
    def prepare(threads: Sequence[int], peers: dict[str, str]) -> Prepared:
        from threadpoolctl import threadpool_limits

        from xplain_fast.saliency import GradientSaliency

        mlp = cached_model(spec["key"], [], lambda: _train_mlp(spec))
        X = np.random.default_rng(1).normal(size=(spec["n_rows"], spec["n_features"]))
        contenders = []
        for t in threads:
            saliency = GradientSaliency(mlp, n_steps=spec["n_steps"], baseline=0.0, n_jobs=t).fit()
            contenders.append(Contender("xplain-fast", t, lambda s=saliency: s.attribute(X), len(X), ours=True))
        scale = _scale(mlp.predict(X[:200]))
        for t in threads:
            def plain(t: int = t) -> np.ndarray:
                with threadpool_limits(limits=t, user_api="blas"):
                    return numpy_integrated_gradients(mlp, X, spec["n_steps"])

            contenders.append(Contender("NumPy (vectorised)", t, plain, len(X), tolerance=1e-9 * scale))
        skipped = {}
        if reason := _installed("torch", "captum"):
            skipped["Captum IntegratedGradients"] = reason
        else:
            for t in threads:
                run = _captum(mlp, X, spec["n_steps"], t)
                contenders.append(Contender("Captum IntegratedGradients (float64)", t, run, len(X),
                                            tolerance=1e-6 * scale, note="internal_batch_size=2000"))
        return Prepared(contenders, skipped)

    return prepare


def _train_mlp(spec: dict) -> Any:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, spec["n_features"]))
    y = np.tanh(X[:, :10] @ rng.normal(size=10)) + 0.1 * X[:, 10:20].sum(axis=1) ** 2 / 10
    mlp = MLPRegressor(hidden_layer_sizes=spec["hidden"], activation="tanh", max_iter=30, random_state=0)
    with warnings.catch_warnings():  # 30 epochs give realistic weights; convergence is not the point
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return mlp.fit(X, y)


def numpy_integrated_gradients(mlp: Any, X: np.ndarray, n_steps: int, rows_per_batch: int = 256) -> np.ndarray:
    """Integrated Gradients of a tanh MLP, zero baseline, Gauss-Legendre: every point materialised,
    forward and backward with numpy's BLAS, 256 rows per batch."""
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas, weights = (nodes + 1.0) / 2.0, weights / 2.0
    out = np.empty_like(X)
    for begin in range(0, len(X), rows_per_batch):
        x = X[begin:begin + rows_per_batch]
        points = (alphas[None, :, None] * x[:, None, :]).reshape(-1, X.shape[1])
        activations = [points]
        for W, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1], strict=True):
            activations.append(np.tanh(activations[-1] @ W + b))
        grad = np.ones((len(points), 1))
        for layer in range(len(mlp.coefs_) - 1, 0, -1):
            grad = (grad @ mlp.coefs_[layer].T) * (1.0 - activations[layer] ** 2)
        grad = grad @ mlp.coefs_[0].T
        out[begin:begin + rows_per_batch] = x * np.einsum("s,rsm->rm", weights, grad.reshape(len(x), n_steps, -1))
    return out


def _captum(mlp: Any, X: np.ndarray, n_steps: int, threads: int) -> Callable[[], np.ndarray]:
    """Captum's IntegratedGradients on a float64 torch copy of the MLP."""
    import torch
    from captum.attr import IntegratedGradients

    layers: list[Any] = []
    for i, (W, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
        linear = torch.nn.Linear(*W.shape).to(torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(W.T))
            linear.bias.copy_(torch.from_numpy(b))
        layers.append(linear)
        if i < len(mlp.coefs_) - 1:
            layers.append(torch.nn.Tanh())
    explainer = IntegratedGradients(torch.nn.Sequential(*layers).eval())
    inputs = torch.from_numpy(X)

    def run() -> np.ndarray:
        torch.set_num_threads(threads)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Internal batch size", UserWarning)
            attributions = explainer.attribute(inputs, baselines=0.0, target=0, n_steps=n_steps,
                                               method="gausslegendre", internal_batch_size=2000)
        return attributions.detach().numpy()

    return run


# -- scale-out on Dask ------------------------------------------------------------------------------------------


def _dask_scaling(spec: dict) -> Callable[[Sequence[int], dict[str, str]], Prepared]:
    """xplain-fast in one process against the same explainer on Dask LocalClusters (worker processes)."""

    def prepare(threads: Sequence[int], peers: dict[str, str]) -> Prepared:
        if reason := _installed("dask", "distributed"):
            return Prepared([], {"Dask LocalCluster": reason})
        import dask.array as da
        import distributed
        from sklearn.ensemble import RandomForestRegressor

        import xplain_fast as xf
        import xplain_fast.dask as xfd

        rng = np.random.default_rng(0)
        X_train = rng.normal(size=(20_000, spec["n_features"]))
        y_train = X_train[:, 0] + X_train[:, 1] * X_train[:, 2] + rng.normal(scale=0.1, size=20_000)
        forest = xf.to_forest(cached_model(spec["key"], [], lambda: RandomForestRegressor(
            n_estimators=spec["n_trees"], max_depth=spec["depth"], random_state=0, n_jobs=2).fit(X_train, y_train)))
        X = da.random.default_rng(1).normal(size=(spec["n_rows"], spec["n_features"]),
                                            chunks=(spec["chunk"], spec["n_features"]))
        contenders = _ours_treeshap(forest, X.compute(), threads)
        for workers, per_worker in sorted({(t, 1) for t in threads} | {(1, t) for t in threads if t > 1}):
            session = _DaskSession(workers, per_worker, X)

            def run(session: _DaskSession = session) -> None:
                client = session.client
                with client.as_current():
                    phi = client.persist(xfd.shap_values(forest, session.rows, check_additivity=False))
                    distributed.wait(phi)  # the values stay on the workers, as before writing them out

            contender = Contender(f"xplain-fast on Dask, {workers} worker(s) x {per_worker} thread(s)",
                                  workers * per_worker, run, spec["n_rows"], around=session.open,
                                  note="the same values bit for bit (tests/test_dask.py)")
            session.contender = contender
            contenders.append(contender)
        return Prepared(contenders)

    return prepare


class _DaskSession:
    """A LocalCluster of worker processes holding the rows, open only around its contender's calls
    (idle workers would load the machine while the others are timed). Each close adds the
    workers' peak memory to the contender's note."""

    def __init__(self, workers: int, per_worker: int, X: Any) -> None:
        self.workers, self.per_worker, self.X = workers, per_worker, X
        self.client: Any = None
        self.rows: Any = None
        self.contender: Contender | None = None

    @contextlib.contextmanager
    def open(self) -> Iterator[None]:
        import distributed

        with distributed.LocalCluster(n_workers=self.workers, threads_per_worker=self.per_worker, processes=True,
                                      dashboard_address=":0", silence_logs=40) as cluster, \
                distributed.Client(cluster, set_as_default=False) as client, client.as_current():
            self.client = client
            self.rows = client.persist(self.X)  # generated on the workers, as a real job's data would be
            distributed.wait(self.rows)
            yield
            peaks = client.run(_peak_rss_mib).values()
            if self.contender is not None and "peak RSS" not in self.contender.note:
                self.contender.note += f"; peak RSS per worker {' / '.join(f'{p:,.0f}' for p in peaks)} MiB"
        self.client = self.rows = None


def _peak_rss_mib() -> float:
    """A worker process's peak resident memory (VmHWM: getrusage's maxrss would include the peak of
    the process that started it, inherited across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- the suites -------------------------------------------------------------------------------------------------

#: The families of workloads (``--only`` takes these or workload keys).
FAMILIES = ("treeshap", "interactions", "interventional", "permutation", "saliency", "dask")


def _workload(family: str, builder: Callable[[dict], Callable], title: str, **spec: Any) -> Workload:
    key = f"{family}/{spec['name']}"
    # the models' cache key holds the workload's parameters: a workload that changes trains anew
    # instead of loading a model trained for its old parameters
    digest = hashlib.sha1(repr(sorted(spec.items())).encode()).hexdigest()[:10]
    return Workload(key, family, title, builder({**spec, "key": f"{key}-{digest}"}))


def suite(name: str) -> list[Workload]:
    """The workloads of the ``quick`` or ``full`` suite."""
    if name == "quick":
        return [
            _workload("treeshap", _treeshap_xgboost, "XGBoost regressor, 30 features, 100 trees depth 6, 1,000 rows",
                      name="xgboost-small", seed=1, n_train=3000, n_rows=1000, n_features=30, n_trees=100, depth=6,
                      shap_rows=200, library_rows=200),
            _workload("treeshap", _treeshap_forest, "RandomForestRegressor, 20 features, 50 trees depth 8, 500 rows",
                      name="forest-small", seed=2, n_train=3000, n_rows=500, n_features=20, n_trees=50, depth=8,
                      shap_rows=100),
            _workload("treeshap", _treeshap_lightgbm, "LightGBM binary, 30 features, 100 trees 31 leaves, 1,000 rows",
                      name="lightgbm-small", seed=3, n_train=3000, n_rows=1000, n_features=30, n_trees=100,
                      num_leaves=31, shap_rows=200),
            _workload("treeshap", _treeshap_catboost, "CatBoost regressor, 20 features, 100 trees depth 6, 1,000 rows",
                      name="catboost-small", seed=4, n_train=3000, n_rows=1000, n_features=20, n_trees=100, depth=6),
            _workload("interactions", _interactions_xgboost,
                      "XGBoost regressor, 15 features, 50 trees depth 5, 200 rows", name="xgboost-small", seed=5,
                      n_train=3000, n_rows=200, n_features=15, n_trees=50, depth=5, shap_rows=20),
            _workload("interventional", _interventional_xgboost,
                      "XGBoost regressor, 8 features, 30 trees depth 4, 200 rows, 50 background rows",
                      name="xgboost-small", seed=6, n_train=3000, n_rows=200, n_features=8, n_trees=30, depth=4,
                      background=50, shap_rows=50, exact_rows=4),
            _workload("permutation", _permutation,
                      "RandomForestClassifier, 50 trees depth 10, 1,000 x 20, accuracy, 3 repeats",
                      name="forest-small", model="forest", n_train=4000, n_rows=1000, n_features=20, n_trees=50,
                      depth=10, scoring="accuracy", n_repeats=3, tolerance=1e-12),
            _workload("permutation", _permutation,
                      "XGBRegressor, 100 trees depth 6, 1,000 x 50 (10 informative), r2, 3 repeats",
                      name="xgboost-small", model="xgboost", n_train=4000, n_rows=1000, n_features=50, n_trees=100,
                      depth=6, colsample=0.2, scoring="r2", n_repeats=3, tolerance=1e-6),
            _workload("saliency", _saliency, "tanh MLP 50-64-64-32-1, 2,000 rows, 64 Gauss-Legendre steps",
                      name="mlp-small", n_features=50, hidden=(64, 64, 32), n_rows=2000, n_steps=64),
        ]
    if name == "full":
        return [
            _workload("treeshap", _treeshap_xgboost, "(a) XGBoost regressor, 100 features, 500 trees depth 8, "
                      "2,000 rows", name="a-xgboost", seed=1, n_train=10_000, n_rows=2000, n_features=100,
                      n_trees=500, depth=8, shap_rows=2000),
            _workload("treeshap", _treeshap_forest, "(b) RandomForestRegressor, 50 features, 100 trees depth 10, "
                      "1,000 rows", name="b-forest", seed=2, n_train=10_000, n_rows=1000, n_features=50, n_trees=100,
                      depth=10, shap_rows=1000),
            _workload("treeshap", _treeshap_lightgbm, "(c) LightGBM binary, 100 features, 300 trees 63 leaves, "
                      "2,000 rows", name="c-lightgbm", seed=3, n_train=10_000, n_rows=2000, n_features=100,
                      n_trees=300, num_leaves=63, shap_rows=2000),
            _workload("treeshap", _treeshap_catboost, "CatBoost regressor, 50 features, 500 trees depth 6, 2,000 rows",
                      name="catboost", seed=4, n_train=10_000, n_rows=2000, n_features=50, n_trees=500, depth=6),
            _workload("interactions", _interactions_xgboost, "XGBoost regressor, 20 features, 100 trees depth 6, "
                      "500 rows", name="xgboost-20", seed=5, n_train=5000, n_rows=500, n_features=20, n_trees=100,
                      depth=6, shap_rows=100),
            _workload("interactions", _interactions_xgboost, "XGBoost regressor, 30 features, 200 trees depth 6, "
                      "500 rows", name="xgboost-30", seed=5, n_train=5000, n_rows=500, n_features=30, n_trees=200,
                      depth=6, shap_rows=100),
            _workload("interventional", _interventional_xgboost, "XGBoost regressor, 100 features, 500 trees depth 8, "
                      "2,000 rows, 100 background rows", name="xgboost-bg100", seed=7, n_train=20_000, n_rows=2000,
                      n_features=100, n_trees=500, depth=8, background=100, shap_rows=100),
            _workload("interventional", _interventional_xgboost, "XGBoost regressor, 100 features, 500 trees depth 8, "
                      "2,000 rows, 1,000 background rows", name="xgboost-bg1000", seed=7, n_train=20_000,
                      n_rows=2000, n_features=100, n_trees=500, depth=8, background=1000, shap_rows=100),
            _workload("permutation", _permutation, "RandomForestClassifier, 100 trees depth 12, 5,000 x 50, "
                      "accuracy, 5 repeats", name="forest", model="forest", n_train=20_000, n_rows=5000,
                      n_features=50, n_trees=100, depth=12, scoring="accuracy", n_repeats=5, tolerance=1e-12),
            _workload("permutation", _permutation, "XGBRegressor, 300 trees depth 6, 5,000 x 200 (10 informative), "
                      "r2, 5 repeats", name="xgboost", model="xgboost", n_train=20_000, n_rows=5000, n_features=200,
                      n_trees=300, depth=6, colsample=0.05, scoring="r2", n_repeats=5, tolerance=1e-6),
            *(_workload("permutation", _permutation, f"XGBClassifier, 200 trees depth 4, 8,000 x 200 (10 informative, "
                        f"colsample 0.3), {scoring}, 5 repeats", name=f"xgboost-classifier-{scoring}",
                        model="xgboost_classifier", n_train=8000, n_rows=8000, n_features=200, n_trees=200, depth=4,
                        colsample=0.3, scoring=scoring, n_repeats=5, tolerance=1e-6)
              for scoring in ("accuracy", "neg_log_loss", "roc_auc")),
            _workload("permutation", _permutation, "LGBMClassifier, 100 trees depth 6, 5,000 x 100 (10 informative, "
                      "colsample 0.3), roc_auc, 5 repeats", name="lightgbm-classifier-roc_auc",
                      model="lightgbm_classifier", n_train=10_000, n_rows=5000, n_features=100, n_trees=100, depth=6,
                      colsample=0.3, scoring="roc_auc", n_repeats=5, tolerance=1e-12),
            _workload("saliency", _saliency, "tanh MLP 50-64-64-32-1, 10,000 rows, 64 Gauss-Legendre steps",
                      name="mlp", n_features=50, hidden=(64, 64, 32), n_rows=10_000, n_steps=64),
            _workload("dask", _dask_scaling, "RandomForestRegressor 50 trees depth 6, 2,000,000 x 20 rows in 40 "
                      "chunks generated on the workers, SHAP values persisted there", name="forest-2m",
                      n_features=20, n_trees=50, depth=6, n_rows=2_000_000, chunk=50_000),
        ]
    raise ValueError(f"suite must be 'quick' or 'full', got {name!r}")
