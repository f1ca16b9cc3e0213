"""A self-contained HTML report of a tree model: SHAP summary, figures, importance, provenance.

One file with everything inside it: figures as base64 PNG, the numbers as a JSON block
(``<script type="application/json" id="xplain-fast-data">``), styles inline, no request to the
network. Needs the ``report`` extra (matplotlib and Jinja2).
"""

from __future__ import annotations

import base64
import datetime
import io
import json
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._forest_estimator import forest_estimator
from .._validation import check_n_jobs, seeded_sample

__all__ = ["report"]


def report(
    explainer_or_model: Any,
    X: Any,
    y: Any = None,
    *,
    path: str | os.PathLike = "report.html",
    output: int | None = None,
    max_rows: int = 2000,
    max_display: int = 10,
    interactions: bool = True,
    n_repeats: int = 5,
    scoring: str | None = None,
    random_state: int = 0,
    n_jobs: int | None = None,
    title: str | None = None,
    estimator: Any = None,
    feature_names: Sequence[str] | None = None,
    data_note: str | None = None,
) -> Path:
    """Write a self-contained HTML report of a tree model on the rows X.

    Parameters
    ----------
    explainer_or_model : TreeExplainer or fitted tree model
        A fitted :class:`~xplain_fast.TreeExplainer` (path-dependent or interventional) is used as
        it is; a model (anything :func:`~xplain_fast.to_forest` loads) is explained with
        path-dependent TreeSHAP.
    X : array-like or DataFrame of shape (n_samples, n_features)
        Rows to explain; at most ``max_rows`` of them, drawn with ``random_state``, are used.
    y : array-like of shape (n_samples,), optional
        Labels: with them the report adds permutation importance (needs a scikit-learn estimator).
    path : str or path-like, default="report.html"
        Where to write the file.
    output : int, optional
        Which output of a multi-output model the figures show. Default: the positive class of a
        binary classifier with two outputs, else output 0 (the report says which).
    max_rows : int, default=2000
        Rows explained (a seeded sample when X has more).
    max_display : int, default=10
        Features in the figures and tables.
    interactions : bool, default=True
        Compute SHAP interaction values (for the scatter colouring, the heat map and the pair
        table) on up to 500 of the rows.
    n_repeats, scoring, random_state, n_jobs
        As in :func:`~xplain_fast.permutation_importance`; ``random_state`` also draws the sample.
        A given explainer computes SHAP values with its own ``n_jobs``.
    title : str, optional
        The page title (default: "xplain-fast report: <library> model").
    estimator : fitted estimator, optional
        What permutation importance scores (default: the model when it is a scikit-learn style
        estimator, else the Forest's own predictions, classes 0..K-1 for a classifier).
    feature_names : list of str, optional
        Names to show when neither the model nor X has any.
    data_note : str, optional
        A sentence on where the rows come from, shown instead of the note on the sample drawn here.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import os, tempfile, numpy as np, xplain_fast as xf
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> X = np.random.default_rng(0).normal(size=(200, 4)); y = X[:, 0] + X[:, 1] * X[:, 2]
    >>> rf = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0).fit(X, y)
    >>> out = xf.report(rf, X, y, path=os.path.join(tempfile.mkdtemp(), "rf.html"), n_repeats=2)
    >>> out.name, out.stat().st_size > 10_000
    ('rf.html', True)
    """
    from ..tree import TreeExplainer

    require_extras()
    threads = check_n_jobs(n_jobs)
    timings: dict[str, float] = {}
    explainer = explainer_or_model
    if not isinstance(explainer, TreeExplainer):
        explainer = TreeExplainer(explainer_or_model, n_jobs=n_jobs)
    if not hasattr(explainer, "forest_"):
        with _timed(timings, "fit the explainer"):
            explainer.fit()
    rows, labels, sample_note = _sample(X, y, max_rows, random_state)
    with _timed(timings, f"SHAP values ({len(rows):,} rows)"):
        explanation = explainer.explain(rows)
    if explanation.feature_names is None and feature_names is not None:
        explanation.feature_names = list(feature_names)
    K = explanation.values.shape[2] if explanation.values.ndim == 3 else 1
    output, output_note = _choose_output(output, K)
    single = _single_output(explanation, output)
    inter = None
    if interactions and not _is_interventional(explainer):
        n_inter = min(len(rows), 500)
        with _timed(timings, f"SHAP interaction values ({n_inter:,} rows)"):
            inter = explainer.shap_interaction_values(rows[:n_inter])
        if inter.ndim == 4:
            inter = inter[..., output]
    importance = None
    if labels is not None:
        if estimator is None:
            estimator = explainer.model
            if not hasattr(estimator, "fit"):  # a Forest, a booster or a file: score the Forest's predictions
                estimator = forest_estimator(explainer.forest_, n_jobs)
        importance = _permutation(estimator, rows, labels, n_repeats, scoring, random_state, n_jobs, timings)
    names = single.feature_names or [f"x{j}" for j in range(explainer.forest_.n_features)]
    with _timed(timings, "forest importance"):
        structure = _forest_importance(explainer.forest_, names, max_display)
    with _timed(timings, "global surrogate (depth 3)"):
        surrogate = _surrogate(explainer.forest_, rows, names, random_state)
    with _timed(timings, "figures"):
        figures = _figures(single, inter, importance, max_display, random_state)
    context = _context(explainer, single, inter, importance, names, max_display, timings,
                       data_note or sample_note, output_note, random_state, threads, title)
    context.update(forest_importance=structure, surrogate=surrogate)
    context["data_json"] = _data_json(context)
    context["figures"] = figures
    html = _render(context)
    path = Path(path)
    path.write_text(html, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------
def require_extras() -> None:
    """Raise an ImportError naming the ``report`` extra when matplotlib or Jinja2 is missing."""
    missing = []
    for module in ("matplotlib", "jinja2"):
        try:
            __import__(module)
        except ImportError:
            missing.append(module)
    if missing:
        raise ImportError(f"the HTML report needs {' and '.join(missing)}: pip install \"xplain-fast[report]\"")


def _sample(X: Any, y: Any, max_rows: int, random_state: int) -> tuple[Any, Any, str]:
    """At most max_rows rows of X (and y), drawn without replacement with the seed."""
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise ValueError(f"max_rows must be a positive int, got {max_rows!r}")
    n = len(X)
    if n == 0:
        raise ValueError("X has no rows: the report needs rows to explain")
    if y is not None and len(y) != n:
        raise ValueError(f"y has {len(y)} entries, but X has {n} rows")
    if n <= max_rows:
        return X, y, f"All {n:,} rows of the data are explained."
    picked = seeded_sample(n, max_rows, random_state)
    rows = X.iloc[picked] if hasattr(X, "iloc") else np.asarray(X)[picked]
    labels = None if y is None else (y.iloc[picked] if hasattr(y, "iloc") else np.asarray(y)[picked])
    return rows, labels, (f"{max_rows:,} of {n:,} rows ({100 * max_rows / n:.1f}%) are explained, "
                          f"drawn without replacement with seed {random_state}.")


def _choose_output(output: int | None, n_outputs: int) -> tuple[int, str]:
    if output is None:
        output = 1 if n_outputs == 2 else 0
        if n_outputs == 1:
            return 0, "the model's one output"
        return output, (f"output {output} of {n_outputs} (the positive class)" if n_outputs == 2 else
                        f"output 0 of {n_outputs}; pass output= for another")
    if not 0 <= output < n_outputs:
        raise ValueError(f"output={output} is out of range: the model has {n_outputs} output(s)")
    return output, f"output {output} of {n_outputs}"


def _single_output(explanation: Any, output: int) -> Any:
    from ..explanation import Explanation

    if explanation.values.ndim == 2:
        return explanation
    return Explanation(explanation.values[..., output], explanation.base_values[..., output],
                       explanation.data, explanation.feature_names)


def _is_interventional(explainer: Any) -> bool:
    return explainer.feature_perturbation == "interventional"


class _timed:
    """Adds the seconds a block takes to timings[step]."""

    def __init__(self, timings: dict[str, float], step: str) -> None:
        self.timings, self.step = timings, step

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.step] = time.perf_counter() - self.start


def _permutation(estimator: Any, X: Any, y: Any, n_repeats: int, scoring: str | None, random_state: int,
                 n_jobs: int | None, timings: dict[str, float]) -> dict:
    from ..permutation import permutation_importance

    with _timed(timings, f"permutation importance ({n_repeats} repeats)"):
        result = permutation_importance(estimator, X, y, scoring=scoring, n_repeats=n_repeats,
                                        random_state=random_state, n_jobs=n_jobs)
    return {"result": result, "scoring": scoring or "the estimator's score", "n_repeats": n_repeats,
            "random_state": random_state}


# ------------------------------------------------------------------------------------------------
# figures and numbers
# ------------------------------------------------------------------------------------------------
def _figures(explanation: Any, inter: np.ndarray | None, importance: dict | None, max_display: int,
             random_state: int) -> list[dict]:
    from .. import plots

    order = np.argsort(-np.abs(explanation.values).mean(axis=0), kind="stable")
    top = int(order[0])
    top_name = explanation.feature_names[top] if explanation.feature_names else f"x{top}"
    specs: list[tuple[str, str, Callable[[Any], Any]]] = [
        ("bar", "Mean |SHAP value| per feature: the global importance.",
         lambda ax: plots.bar(explanation, max_display=max_display, ax=ax)),
        ("beeswarm", "Each dot is a row: its SHAP value for the feature, coloured by the feature's value.",
         lambda ax: plots.beeswarm(explanation, max_display=max_display, random_state=random_state, ax=ax)),
        ("scatter", f"{top_name}: its value against its SHAP value"
                    + (", coloured by its strongest interacting feature." if inter is not None else "."),
         # interaction values cover the first rows only: colour those
         lambda ax: plots.scatter(explanation if inter is None else explanation[:len(inter)], top,
                                  interactions=inter, random_state=random_state, ax=ax)),
        ("waterfall", "The first explained row: from the base value to its prediction.",
         lambda ax: plots.waterfall(explanation, 0, max_display=max_display, ax=ax)),
        ("force", "The same row as a force plot: red features push the output up, blue down.",
         lambda ax: plots.force(explanation, 0, max_display=max_display, ax=ax)),
        ("heatmap", "SHAP values of every row (columns of the heat map) for the top features.",
         lambda ax: plots.heatmap(explanation, max_display=max_display, random_state=random_state, ax=ax)),
    ]
    if inter is not None:
        specs.append(("interactions", "Mean |SHAP interaction value| between the top features.",
                      lambda ax: plots.interaction_heatmap(inter, explanation.feature_names,
                                                           max_display=max_display, ax=ax)))
    if importance is not None:
        names = explanation.feature_names
        specs.append(("importance", "Permutation importance: the score lost when a column is shuffled, "
                                    f"over {importance['n_repeats']} repeats.",
                      lambda ax: plots.importance(importance["result"], names, max_display=max_display, ax=ax)))
    return [_render_figure(key, caption, draw) for key, caption, draw in specs]


def _render_figure(key: str, caption: str, draw: Callable[[Any], Any]) -> dict:
    import matplotlib

    matplotlib.use("Agg", force=False)  # no screen needed; leaves a backend the user chose alone
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.8), dpi=100)  # not pyplot: no global state, nothing to close
    draw(figure.add_subplot())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight")
    png = buffer.getvalue()
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    return {"key": key, "caption": caption, "png": base64.b64encode(png).decode("ascii"),
            "width": width, "height": height}


def _context(explainer: Any, explanation: Any, inter: np.ndarray | None, importance: dict | None,
             names: Sequence[str], max_display: int, timings: dict[str, float], sample_note: str,
             output_note: str, random_state: int, threads: int, title: str | None) -> dict:
    forest = explainer.forest_
    mean_abs = np.abs(explanation.values).mean(axis=0)
    order = np.argsort(-mean_abs, kind="stable")[:max_display]
    total = float(mean_abs.sum()) or 1.0
    library = forest.source or "unknown"
    context: dict[str, Any] = {
        "title": title or f"xplain-fast report: {library} model",
        "model": {
            "library": library, "n_trees": forest.n_trees, "depth": forest.depth,
            "n_features": forest.n_features, "n_outputs": forest.n_outputs, "link": forest.link,
            "method": ("interventional TreeSHAP" if _is_interventional(explainer) else
                       "path-dependent TreeSHAP (the trees' own cover)"),
            "output_explained": output_note,
        },
        "sample": {"explained": f"{len(explanation):,}", "note": sample_note},
        "top_features": [{"feature": names[j], "mean_abs_shap": float(mean_abs[j]),
                          "share": float(mean_abs[j]) / total} for j in order],
        "mean_abs_shap": dict(zip(names, map(float, mean_abs), strict=True)),
        "importance": None,
        "interactions": None,
        "timings": timings,
        "provenance": _provenance(forest, random_state, threads),
    }
    if importance is not None:
        result = importance["result"]
        rank = np.argsort(-result.importances_mean, kind="stable")[:max_display]
        context["importance"] = {
            "scoring": importance["scoring"], "n_repeats": importance["n_repeats"],
            "random_state": importance["random_state"],
            "rows": [{"feature": names[j], "mean": float(result.importances_mean[j]),
                      "std": float(result.importances_std[j])} for j in rank],
        }
    if inter is not None:
        context["interactions"] = {"n_rows": len(inter), "pairs": _top_pairs(inter, names, 5)}
    return context


def _data_json(context: dict) -> str:
    """The report's numbers as the JSON block embedded in the page."""
    numbers = {k: context[k] for k in ("model", "top_features", "importance", "interactions", "forest_importance",
                                       "surrogate", "timings", "provenance", "mean_abs_shap")}
    # "<" escaped so the block cannot close the script element; JSON readers decode \u003c
    return json.dumps(numbers, indent=1).replace("<", "\\u003c")


def _forest_importance(forest: Any, names: Sequence[str], max_display: int) -> dict:
    """Shares of each feature in the trees' gains (or prediction change), splits and covers."""
    from ..importance import forest_importance

    first = "total_gain" if forest.gain is not None else "prediction_change"
    kinds = (first, "split_count", "total_cover")
    shares = {kind: forest_importance(forest, kind, normalize=True) for kind in kinds}
    order = np.argsort(-shares[first], kind="stable")[:max_display]
    return {"kinds": list(kinds),
            "rows": [{"feature": names[j], **{kind: float(shares[kind][j]) for kind in kinds}} for j in order]}


def _surrogate(forest: Any, rows: Any, names: Sequence[str], random_state: int) -> dict:
    """A depth-3 tree imitating the forest's raw output on the explained rows: its fidelity and rules."""
    from ..surrogate import GlobalSurrogate

    surrogate = GlobalSurrogate(forest, max_depth=3, target="raw", random_state=random_state,
                                feature_names=list(names)).fit(rows)
    return {"fidelity": surrogate.fidelity_, "train_fidelity": surrogate.train_fidelity_,
            "n_rules": len(surrogate.rules_), "rules": [str(rule) for rule in surrogate.rules_]}


def _top_pairs(inter: np.ndarray, names: list[str], count: int) -> list[dict]:
    strength = np.abs(inter).mean(axis=0)
    strength = strength + strength.T  # both halves of the symmetric split
    a, b = np.triu_indices(len(names), k=1)
    best = np.argsort(-strength[a, b], kind="stable")[:count]
    return [{"a": names[a[k]], "b": names[b[k]], "strength": float(strength[a[k], b[k]])} for k in best]


def _provenance(forest: Any, random_state: int, threads: int) -> dict[str, Any]:
    import sklearn

    from .. import __version__
    from ..models import library_version

    versions = {"xplain_fast": __version__, "python": platform.python_version(), "numpy": np.__version__,
                "scikit-learn": sklearn.__version__}
    versions.update(library_version(forest.source))
    return {
        **versions,
        "model hash (sha256 of the Forest)": forest.digest(),
        "seed": random_state,
        "threads": threads,
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def _render(context: dict) -> str:
    import jinja2
    from markupsafe import Markup

    environment = jinja2.Environment(loader=jinja2.PackageLoader("xplain_fast", "report"),
                                     autoescape=True, undefined=jinja2.StrictUndefined)
    context = {**context, "data_json": Markup(context["data_json"])}
    return environment.get_template("template.html.j2").render(**context)
