"""Matplotlib figures of explanations (the ``plot`` extra).

Every function takes an :class:`~xplain_fast.Explanation` (or plain arrays), draws on ``ax`` (a
matplotlib Axes; a new figure when None), and returns the Axes it drew on; none calls ``plt.show()``.
Parameters shared by the functions:

- ``output``: the output of a multi-output explanation to plot (required when there are several);
- ``max_display``: the strongest features shown, the rest summed into one row (``show_rest``);
- ``max_points`` / ``max_rows`` and ``random_state``: large inputs are subsampled with the fraction
  and seed written on the figure;
- ``feature_names``, ``data``, ``base_values``: for plain arrays of SHAP values, what an
  Explanation would carry.

The examples below run headless (matplotlib picks its Agg backend where there is no screen).

Examples
--------
>>> import numpy as np, xplain_fast as xf
>>> from xplain_fast import plots
>>> from sklearn.ensemble import RandomForestRegressor
>>> X = np.random.default_rng(0).normal(size=(200, 4)); y = X[:, 0] + X[:, 1] * X[:, 2]
>>> exp = xf.TreeExplainer(RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y)).fit().explain(X)
>>> ax = plots.beeswarm(exp, max_display=3)
>>> ax.get_xlabel()
'SHAP value (impact on model output)'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._validation import seeded_sample
from .explanation import Explanation

__all__ = ["bar", "beeswarm", "force", "heatmap", "importance", "interaction_heatmap", "saliency_map", "scatter",
           "waterfall"]

#: colours of shap's convention: red pushes the output up, blue down
_UP, _DOWN, _REST = "#ff0051", "#008bfb", "#9a9a9a"
_SHAP_LABEL = "SHAP value (impact on model output)"


# ------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------
def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError('xplain_fast.plots needs matplotlib: pip install "xplain-fast[plot]"') from exc
    return plt


def _explanation(explanation: Explanation | np.ndarray, output: int | None, *, feature_names: Any = None,
                 data: Any = None, base_values: Any = None) -> Explanation:
    """One output's explanation, from an Explanation or a values array (n, M) / (n, M, K)."""
    if isinstance(explanation, Explanation):
        values, base = np.asarray(explanation.values), np.asarray(explanation.base_values)
        data = explanation.data if data is None else data
        feature_names = explanation.feature_names if feature_names is None else feature_names
    elif isinstance(explanation, np.ndarray | list):
        values = np.asarray(explanation, dtype=np.float64)
        base = np.zeros(values.shape[:1] + values.shape[2:]) if base_values is None else np.asarray(base_values)
    else:
        raise TypeError(f"expected an xplain_fast.Explanation or an array of SHAP values, got "
                        f"{type(explanation).__name__}")
    if values.ndim not in (2, 3) or values.shape[0] == 0 or values.shape[1] == 0:
        raise ValueError(f"SHAP values must have shape (n_rows, n_features) or (n_rows, n_features, n_outputs) "
                         f"with at least one row and feature, got {values.shape}")
    if values.ndim == 3:
        n_outputs = values.shape[2]
        if output is None and n_outputs > 1:
            raise ValueError(f"the explanation has {n_outputs} outputs: pass output= (0..{n_outputs - 1}) to "
                             "choose the one to plot")
        output = 0 if output is None else output
        if not 0 <= output < n_outputs:
            raise ValueError(f"output={output} is out of range: the explanation has {n_outputs} output(s)")
        values = values[:, :, output]
        base = base.reshape(len(base), -1)[:, output] if base.size else base
    elif output not in (None, 0):
        raise ValueError(f"output={output} is out of range: the explanation has one output")
    M = values.shape[1]
    names = [f"x{j}" for j in range(M)] if feature_names is None else [str(n) for n in feature_names]
    if len(names) != M:
        raise ValueError(f"{len(names)} feature names for {M} features")
    if data is not None:
        data = np.asarray(data, dtype=np.float64)
        if data.shape != values.shape:
            raise ValueError(f"data has shape {data.shape}, but the SHAP values have {values.shape}")
    return Explanation(values, np.asarray(base, dtype=np.float64).reshape(-1), data, names)


def _axes(ax: Any, size: tuple[float, float]) -> Any:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=size)
    return ax


def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _feature_index(feature: int | str, names: list[str]) -> int:
    if isinstance(feature, str):
        if feature not in names:
            raise ValueError(f"unknown feature {feature!r}; the features are {names[:8]}"
                             f"{' ...' if len(names) > 8 else ''}")
        return names.index(feature)
    if isinstance(feature, bool) or not isinstance(feature, int | np.integer) or not 0 <= feature < len(names):
        raise ValueError(f"feature must be a name or an index in [0, {len(names)}), got {feature!r}")
    return int(feature)


def _row_index(row: int, n: int) -> int:
    if isinstance(row, bool) or not isinstance(row, int | np.integer) or not -n <= row < n:
        raise ValueError(f"row must be an index in [0, {n}), got {row!r}")
    return int(row) % n


def _subsample(n: int, max_points: int, random_state: int | None) -> tuple[np.ndarray, str | None]:
    """Row indices to draw (sorted) and the note that says so, or all rows and None."""
    max_points = _check_int(max_points, "max_points", 1)
    if n <= max_points:
        return np.arange(n), None
    picked = seeded_sample(n, max_points, random_state)
    return picked, f"{max_points:,} of {n:,} rows ({100 * max_points / n:.0f}%), seed {random_state}"


def _note(ax: Any, text: str | None) -> None:
    if text:
        ax.text(1.0, 1.01, text, transform=ax.transAxes, ha="right", va="bottom", fontsize=8, color="#555555")


def _ranked(strength: np.ndarray, max_display: int, show_rest: bool) -> tuple[np.ndarray, np.ndarray]:
    """(features shown, strongest first; the others, summed into one row when show_rest)."""
    max_display = _check_int(max_display, "max_display", 1)
    order = np.argsort(-strength, kind="stable")
    if len(order) <= max_display:
        return order, order[:0]
    if show_rest:  # the rest row takes the last place
        return order[:max_display - 1] if max_display > 1 else order[:0], order[max(max_display - 1, 0):]
    return order[:max_display], order[:0]


def _rest_label(rest: np.ndarray) -> str:
    return f"Sum of {len(rest)} other features"


# ------------------------------------------------------------------------------------------------
# summaries
# ------------------------------------------------------------------------------------------------
def beeswarm(explanation: Explanation | np.ndarray, *, output: int | None = None, max_display: int = 10,
             show_rest: bool = True, max_points: int = 2000, random_state: int | None = 0,
             feature_names: Sequence[str] | None = None, data: Any = None, ax: Any = None) -> Any:
    """One dot per row and feature: its SHAP value, coloured by the feature's value.

    Parameters
    ----------
    explanation : Explanation or ndarray of shape (n, M) or (n, M, K)
        The SHAP values (with ``data`` and ``feature_names`` for an array).
    max_display : int, default=10
        Rows of the plot; the weakest features beyond it are summed into one row (``show_rest``).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> values = np.random.default_rng(0).normal(size=(50, 3)) * [1.0, 3.0, 2.0]
    >>> ax = beeswarm(values, data=values, feature_names=["a", "b", "c"])
    >>> [t.get_text() for t in ax.get_yticklabels()]  # strongest first
    ['b', 'c', 'a']
    """
    exp = _explanation(explanation, output, feature_names=feature_names, data=data)
    rows, note = _subsample(len(exp), max_points, random_state)
    values = exp.values[rows]
    shown, rest = _ranked(np.abs(exp.values).mean(axis=0), max_display, show_rest)
    columns = [values[:, j] for j in shown] + ([values[:, rest].sum(axis=1)] if len(rest) else [])
    labels = [exp.feature_names[j] for j in shown] + ([_rest_label(rest)] if len(rest) else [])
    colours = [None if exp.data is None else exp.data[rows, j] for j in shown] + [None] * bool(len(rest))
    ax = _axes(ax, (7.5, 0.45 * len(labels) + 1.6))
    plt = _pyplot()
    cmap = plt.get_cmap("coolwarm")
    mappable = None
    for position, (column, colour) in enumerate(zip(columns, colours, strict=True)):
        y = len(columns) - 1 - position + _jitter(column, 0.35)
        if colour is None:
            ax.scatter(column, y, s=10, color=_REST, alpha=0.8, linewidths=0, rasterized=len(column) > 500)
            continue
        low, high = np.nanpercentile(colour, [5, 95]) if np.isfinite(colour).any() else (0.0, 1.0)
        mappable = ax.scatter(column, y, s=10, c=np.clip(colour, low, high), cmap=cmap,
                              vmin=low, vmax=high if high > low else low + 1, alpha=0.85, linewidths=0,
                              rasterized=len(column) > 500, plotnonfinite=True)
    ax.axvline(0.0, color="#999999", linewidth=0.8, zorder=0)
    ax.set_yticks(np.arange(len(labels))[::-1], labels)  # listed top to bottom, as in every plot here
    ax.set_ylim(-0.6, len(labels) - 0.4)
    ax.set_xlabel(_SHAP_LABEL)
    if mappable is not None:
        bar = ax.figure.colorbar(mappable, ax=ax, ticks=list(mappable.get_clim()), aspect=40, pad=0.02)
        bar.ax.set_yticklabels(["Low", "High"])
        bar.set_label("Feature value")
    _note(ax, note)
    return ax


def _jitter(values: np.ndarray, width: float) -> np.ndarray:
    """Deterministic vertical offsets that spread dots with similar values (a simple swarm)."""
    n = len(values)
    if n < 2:
        return np.zeros(n)
    span = np.ptp(values) or 1.0
    bins = np.floor((values - values.min()) / span * 60).astype(np.int64)
    order = np.lexsort((np.arange(n), bins))
    offsets = np.zeros(n)
    starts = np.flatnonzero(np.r_[True, np.diff(bins[order]) != 0])
    counts = np.diff(np.r_[starts, n])
    most = counts.max()
    for start, count in zip(starts, counts, strict=True):
        k = np.arange(count)
        # alternate above and below the line, further out as the bin fills
        offsets[order[start:start + count]] = np.where(k % 2, -1, 1) * ((k + 1) // 2) / max(most / 2, 1)
    return offsets * width


def bar(explanation: Explanation | np.ndarray, *, output: int | None = None, max_display: int = 10,
        show_rest: bool = True, cohorts: Any = None, feature_names: Sequence[str] | None = None,
        ax: Any = None) -> Any:
    """Mean |SHAP value| per feature (the global importance), optionally one bar per cohort.

    Parameters
    ----------
    explanation : Explanation or ndarray of shape (n, M) or (n, M, K)
    max_display : int, default=10
        Bars per cohort; the others are summed into one bar (``show_rest``).
    cohorts : array-like of shape (n,), optional
        A label per row: grouped bars, one colour per cohort, with a legend.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = bar(np.array([[1.0, -3.0], [-1.0, 1.0]]), feature_names=["a", "b"])
    >>> [float(p.get_width()) for p in ax.patches], [t.get_text() for t in ax.get_yticklabels()]
    ([2.0, 1.0], ['b', 'a'])
    """
    exp = _explanation(explanation, output, feature_names=feature_names)
    magnitude = np.abs(exp.values)
    shown, rest = _ranked(magnitude.mean(axis=0), max_display, show_rest)
    labels = [exp.feature_names[j] for j in shown] + ([_rest_label(rest)] if len(rest) else [])
    if cohorts is None:
        groups = {"": np.arange(len(exp))}
    else:
        cohorts = np.asarray(cohorts)
        if cohorts.shape != (len(exp),):
            raise ValueError(f"cohorts must hold one label per row ({len(exp)}), got shape {cohorts.shape}")
        groups = {str(c): np.flatnonzero(cohorts == c) for c in np.unique(cohorts)}
    ax = _axes(ax, (7.5, 0.45 * len(labels) * max(1, len(groups) / 2) + 1.4))
    height = 0.8 / len(groups)
    positions = np.arange(len(labels))[::-1].astype(float)
    for g, (name, rows) in enumerate(groups.items()):
        means = magnitude[rows].mean(axis=0)
        widths = [means[j] for j in shown] + ([means[rest].sum()] if len(rest) else [])
        offset = (len(groups) - 1) / 2 * height - g * height
        colour = _UP if len(groups) == 1 else None
        drawn = ax.barh(positions + offset, widths, height=height, color=colour,
                        label=f"{name} ({len(rows):,} rows)" if name else None)
        if len(groups) == 1:
            ax.bar_label(drawn, fmt="%.3g", padding=3, fontsize=8)
    ax.set_yticks(positions, labels)
    ax.set_xlabel("mean(|SHAP value|) (average impact on model output)")
    if len(groups) > 1:
        ax.legend(title="cohort", fontsize=8, loc="best")
    ax.margins(x=0.12)
    return ax


def heatmap(explanation: Explanation | np.ndarray, *, output: int | None = None, max_display: int = 10,
            max_rows: int = 500, order: str | None = "output", random_state: int | None = 0,
            feature_names: Sequence[str] | None = None, ax: Any = None) -> Any:
    """SHAP values of every row (columns) for the top features (rows), on a colour scale centred on 0.

    Parameters
    ----------
    explanation : Explanation or ndarray of shape (n, M) or (n, M, K)
    max_display : int, default=10
        Features shown; the others are summed into one row.
    max_rows : int, default=500
        Rows drawn at most (a seeded sample, noted on the figure).
    order : {"output", None}, default="output"
        Sort the rows by the explained output (base value + sum of SHAP values), or keep their order.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = heatmap(np.random.default_rng(0).normal(size=(30, 4)))
    >>> ax.images[0].get_array().shape
    (4, 30)
    """
    exp = _explanation(explanation, output, feature_names=feature_names)
    if order not in ("output", None):
        raise ValueError(f"order must be 'output' or None, got {order!r}")
    rows, note = _subsample(len(exp), max_rows, random_state)
    values = exp.values[rows]
    if order == "output":
        values = values[np.argsort(values.sum(axis=1) + exp.base_values[rows], kind="stable")]
    shown, rest = _ranked(np.abs(exp.values).mean(axis=0), max_display, True)
    matrix = np.vstack([values[:, shown].T] + ([values[:, rest].sum(axis=1)[None]] if len(rest) else []))
    labels = [exp.feature_names[j] for j in shown] + ([_rest_label(rest)] if len(rest) else [])
    ax = _axes(ax, (8, 0.4 * len(labels) + 1.8))
    limit = float(np.abs(matrix).max()) or 1.0
    image = ax.imshow(matrix, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("rows" + (", sorted by the model output" if order == "output" else ""))
    bar_ = ax.figure.colorbar(image, ax=ax, aspect=30, pad=0.02)
    bar_.set_label("SHAP value")
    _note(ax, note)
    return ax


def importance(result: Any, feature_names: Sequence[str] | None = None, *, scorer: str | None = None,
               max_display: int = 10, ax: Any = None) -> Any:
    """Box plot of permutation importance over the repeats, strongest feature on top.

    Parameters
    ----------
    result : Bunch, dict of str to Bunch, or ndarray of shape (n_features, n_repeats)
        What :func:`xplain_fast.permutation_importance` returns (``importances``).
    feature_names : list of str, optional
    scorer : str, optional
        Which scorer of a dict of results (required when there are several).
    max_display : int, default=10

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = importance(np.array([[0.1, 0.2, 0.15], [0.5, 0.6, 0.55]]), ["a", "b"])
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['b', 'a']
    """
    if isinstance(result, Mapping) and "importances" not in result:
        if scorer is None:
            if len(result) != 1:
                raise ValueError(f"the result holds several scorers {sorted(result)}: pass scorer=")
            scorer = next(iter(result))
        if scorer not in result:
            raise ValueError(f"unknown scorer {scorer!r}; the result has {sorted(result)}")
        result = result[scorer]
    repeats = np.asarray(result["importances"] if isinstance(result, Mapping) else result, dtype=np.float64)
    if repeats.ndim != 2 or repeats.size == 0:
        raise ValueError(f"importances must have shape (n_features, n_repeats), got {repeats.shape}")
    names = [f"x{j}" for j in range(len(repeats))] if feature_names is None else [str(n) for n in feature_names]
    if len(names) != len(repeats):
        raise ValueError(f"{len(names)} feature names for {len(repeats)} importances")
    shown, _ = _ranked(repeats.mean(axis=1), max_display, False)
    ax = _axes(ax, (7.5, 0.45 * len(shown) + 1.4))
    import matplotlib

    # matplotlib 3.10 renamed vert=False to orientation="horizontal"
    sideways = ({"orientation": "horizontal"} if tuple(map(int, matplotlib.__version__.split(".")[:2])) >= (3, 10)
                else {"vert": False})
    ax.boxplot([repeats[j] for j in shown[::-1]], widths=0.6, medianprops={"color": _UP}, patch_artist=True,
               boxprops={"facecolor": "#dde8f7"}, **sideways)
    ax.set_yticks(range(len(shown), 0, -1), [names[j] for j in shown])  # strongest on top
    ax.axvline(0.0, color="#999999", linewidth=0.8, zorder=0)
    ax.set_xlabel(f"decrease in score{f' ({scorer})' if scorer else ''} when the feature is permuted")
    return ax


# ------------------------------------------------------------------------------------------------
# one row
# ------------------------------------------------------------------------------------------------
def _row_contributions(exp: Explanation, row: int, max_display: int) -> tuple[list[str], np.ndarray, float, float]:
    """(labels, contributions strongest first, with the rest summed last; base value; output)."""
    row = _row_index(row, len(exp))
    phi = exp.values[row]
    shown, rest = _ranked(np.abs(phi), max_display, True)
    labels = []
    for j in shown:
        value = "" if exp.data is None else f"{exp.data[row, j]:.4g} = "
        labels.append(f"{value}{exp.feature_names[j]}")
    contributions = np.r_[phi[shown], phi[rest].sum()] if len(rest) else phi[shown]
    if len(rest):
        labels.append(_rest_label(rest))
    base = float(exp.base_values[row]) if exp.base_values.size else 0.0
    return labels, contributions, base, base + float(phi.sum())


def waterfall(explanation: Explanation | np.ndarray, row: int = 0, *, output: int | None = None,
              max_display: int = 10, feature_names: Sequence[str] | None = None, ax: Any = None) -> Any:
    """How one row's output is built: from the base value, each feature's SHAP value in turn.

    Parameters
    ----------
    explanation : Explanation or ndarray of shape (n, M) or (n, M, K)
    row : int, default=0
    max_display : int, default=10
        Bars; the weakest features are summed into the last one.

    Returns
    -------
    matplotlib.axes.Axes
        The bars run from the base value E[f(X)] to the row's output f(x).

    Examples
    --------
    >>> ax = waterfall(np.array([[0.5, -2.0, 1.0]]), feature_names=["a", "b", "c"])
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['b', 'c', 'a']
    """
    exp = _explanation(explanation, output, feature_names=feature_names)
    labels, contributions, base, total = _row_contributions(exp, row, max_display)
    ax = _axes(ax, (7.5, 0.45 * len(labels) + 1.6))
    ends = base + np.cumsum(contributions)
    starts = ends - contributions
    positions = np.arange(len(labels))[::-1]
    colours = [_UP if c >= 0 else _DOWN for c in contributions]
    bars = ax.barh(positions, contributions, left=starts, color=colours, height=0.7)
    ax.bar_label(bars, labels=[f"{c:+.3g}" for c in contributions], padding=3, fontsize=8)
    ax.axvline(base, color="#777777", linestyle="--", linewidth=0.8)
    ax.axvline(total, color="#333333", linewidth=0.8)
    ax.set_yticks(positions, labels)
    ax.set_xlabel("model output")
    ax.set_title(f"E[f(X)] = {base:.4g}  \u2192  f(x) = {total:.4g}", fontsize=10)
    low, high = min(starts.min(), ends.min()), max(starts.max(), ends.max())
    pad = 0.15 * (high - low or 1.0)  # room for the value labels at both ends
    ax.set_xlim(low - pad, high + pad)
    return ax


def force(explanation: Explanation | np.ndarray, row: int = 0, *, output: int | None = None,
          max_display: int = 10, feature_names: Sequence[str] | None = None, ax: Any = None) -> Any:
    """A static force plot of one row: red features push the output up to f(x), blue ones down.

    Parameters
    ----------
    explanation, row, output, max_display, feature_names, ax
        As in :func:`waterfall` (``max_display`` segments, the weakest features summed into one).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = force(np.array([[0.5, -2.0, 1.0]]), feature_names=["a", "b", "c"])
    >>> len(ax.patches)
    3
    """
    exp = _explanation(explanation, output, feature_names=feature_names)
    labels, contributions, base, total = _row_contributions(exp, row, max_display)
    ax = _axes(ax, (10, 2.6))
    span = float(np.abs(contributions).sum()) or 1.0
    up = [(lab, c) for lab, c in zip(labels, contributions, strict=True) if c > 0]
    down = [(lab, c) for lab, c in zip(labels, contributions, strict=True) if c <= 0]
    # the red block ends at f(x) coming from the left, the blue one ends there coming from the right
    right = total
    for label, c in up:  # strongest next to f(x)
        ax.barh(0, c, left=right - c, height=0.5, color=_UP, edgecolor="white")
        _segment_label(ax, right - c / 2, label, c, span)
        right -= c
    left = total
    for label, c in down:
        ax.barh(0, -c, left=left, height=0.5, color=_DOWN, edgecolor="white")
        _segment_label(ax, left - c / 2, label, c, span)
        left -= c
    ax.axvline(base, color="#777777", linestyle="--", linewidth=0.8)
    ax.annotate(f"f(x) = {total:.4g}", (total, 0.32), ha="center", va="bottom", fontsize=10, fontweight="bold")
    ax.annotate(f"base value {base:.4g}", (base, 0.55), ha="center", va="bottom", fontsize=8, color="#555555")
    ax.set_yticks([])
    ax.set_ylim(-1.1, 0.8)
    ax.set_xlabel("model output")
    ax.margins(x=0.05)
    return ax


def _segment_label(ax: Any, x: float, label: str, contribution: float, span: float) -> None:
    if abs(contribution) >= 0.06 * span:  # room for a name under the segment
        ax.text(x, -0.3, label, ha="right", va="top", fontsize=7, rotation=30, rotation_mode="anchor")


# ------------------------------------------------------------------------------------------------
# features and interactions
# ------------------------------------------------------------------------------------------------
def scatter(explanation: Explanation | np.ndarray, feature: int | str, *, interactions: np.ndarray | None = None,
            color: int | str | None = "auto", output: int | None = None, max_points: int = 2000,
            random_state: int | None = 0, feature_names: Sequence[str] | None = None, data: Any = None,
            ax: Any = None) -> Any:
    """A feature's value against its SHAP value, coloured by another feature.

    Parameters
    ----------
    explanation : Explanation or ndarray of shape (n, M) or (n, M, K)
        Needs the data (``explanation.data`` or ``data=``).
    feature : int or str
    interactions : ndarray of shape (n, M, M) or (n, M, M, K), optional
        SHAP interaction values of the same rows: with ``color="auto"`` the dots are coloured by
        the feature with the largest mean |interaction| with ``feature``.
    color : "auto", int, str or None, default="auto"
        The colouring feature; "auto" without interaction values means no colour.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> X = np.random.default_rng(0).normal(size=(40, 2))
    >>> ax = scatter(X * 2, "a", data=X, feature_names=["a", "b"], color="b")
    >>> ax.get_xlabel(), ax.figure.axes[-1].get_ylabel()
    ('a', 'b')
    """
    exp = _explanation(explanation, output, feature_names=feature_names, data=data)
    if exp.data is None:
        raise ValueError("scatter needs the feature values: an Explanation with data, or data=")
    j = _feature_index(feature, exp.feature_names)
    colour = None
    if isinstance(color, str) and color == "auto":
        if interactions is not None:
            colour = _strongest_partner(interactions, j, exp.values.shape, output)
    elif color is not None:
        colour = _feature_index(color, exp.feature_names)
    rows, note = _subsample(len(exp), max_points, random_state)
    x, y = exp.data[rows, j], exp.values[rows, j]
    ax = _axes(ax, (6.5, 4.5))
    if colour is None:
        ax.scatter(x, y, s=12, color=_DOWN, alpha=0.8, linewidths=0)
    else:
        shade = exp.data[rows, colour]
        finite = shade[np.isfinite(shade)]
        low, high = np.percentile(finite, [5, 95]) if finite.size else (0.0, 1.0)
        points = ax.scatter(x, y, s=12, c=np.clip(shade, low, high), cmap="coolwarm", vmin=low,
                            vmax=high if high > low else low + 1, alpha=0.85, linewidths=0, plotnonfinite=True)
        bar_ = ax.figure.colorbar(points, ax=ax, aspect=30, pad=0.02)
        bar_.set_label(exp.feature_names[colour])
    ax.axhline(0.0, color="#999999", linewidth=0.8, zorder=0)
    ax.set_xlabel(exp.feature_names[j])
    ax.set_ylabel(f"SHAP value for {exp.feature_names[j]}")
    _note(ax, note)
    return ax


def _strongest_partner(interactions: Any, j: int, shape: tuple[int, ...], output: int | None) -> int | None:
    inter = np.asarray(interactions, dtype=np.float64)
    if inter.ndim == 4:
        inter = inter[..., 0 if output is None else output]
    n, M = shape
    if inter.ndim != 3 or inter.shape[1:] != (M, M) or inter.shape[0] != n:
        raise ValueError(f"interactions must have shape ({n}, {M}, {M}) like the explanation's rows and "
                         f"features, got {inter.shape}")
    strength = np.abs(inter[:, j, :]).mean(axis=0)
    strength[j] = -np.inf
    return int(np.argmax(strength)) if M > 1 else None


def interaction_heatmap(interactions: np.ndarray, feature_names: Sequence[str] | None = None, *,
                        output: int | None = None, max_display: int = 10, ax: Any = None) -> Any:
    """Mean |SHAP interaction value| between the strongest features (main effects on the diagonal).

    Parameters
    ----------
    interactions : ndarray of shape (n, M, M) or (n, M, M, K)
        From :meth:`xplain_fast.TreeExplainer.shap_interaction_values`.
    feature_names : list of str, optional
    max_display : int, default=10
        Features shown (the strongest by total mean |interaction|).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = interaction_heatmap(np.random.default_rng(0).normal(size=(20, 3, 3)), ["a", "b", "c"])
    >>> ax.images[0].get_array().shape
    (3, 3)
    """
    inter = np.asarray(interactions, dtype=np.float64)
    if inter.ndim == 4:
        K = inter.shape[3]
        if output is None and K > 1:
            raise ValueError(f"the interaction values have {K} outputs: pass output= (0..{K - 1})")
        output = 0 if output is None else output
        if not 0 <= output < K:
            raise ValueError(f"output={output} is out of range: the interaction values have {K} output(s)")
        inter = inter[..., output]
    if inter.ndim != 3 or inter.shape[1] != inter.shape[2] or inter.shape[0] == 0:
        raise ValueError(f"interaction values must have shape (n_rows, M, M) or (n_rows, M, M, K), got {inter.shape}")
    M = inter.shape[1]
    names = [f"x{j}" for j in range(M)] if feature_names is None else [str(n) for n in feature_names]
    if len(names) != M:
        raise ValueError(f"{len(names)} feature names for {M} features")
    strength = np.abs(inter).mean(axis=0)
    shown, _ = _ranked(strength.sum(axis=1), max_display, False)
    matrix = strength[np.ix_(shown, shown)]
    labels = [names[j] for j in shown]
    ax = _axes(ax, (0.55 * len(shown) + 3.5, 0.5 * len(shown) + 2.5))
    image = ax.imshow(matrix, cmap="viridis", interpolation="nearest")
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    if len(shown) <= 12:
        cut = matrix.max() / 2
        for a in range(len(shown)):
            for b in range(len(shown)):
                ax.text(b, a, f"{matrix[a, b]:.2g}", ha="center", va="center", fontsize=7,
                        color="black" if matrix[a, b] > cut else "white")
    bar_ = ax.figure.colorbar(image, ax=ax, aspect=30, pad=0.02)
    bar_.set_label("mean |SHAP interaction value|")
    return ax


def saliency_map(attributions: np.ndarray, image: np.ndarray | None = None, *, shape: tuple[int, int] | None = None,
                 cmap: str = "RdBu_r", ax: Any = None) -> Any:
    """Attributions over an image: a diverging map centred on 0, optionally over the image in grey.

    Parameters
    ----------
    attributions : ndarray of shape (H, W), or (H * W,) with ``shape``
        One image's attributions (e.g. a row of :meth:`xplain_fast.GradientSaliency.attribute`).
    image : ndarray of the same shape, optional
        Drawn underneath in grey.
    shape : (int, int), optional
        The image shape of flat attributions.
    cmap : str, default="RdBu_r"

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> ax = saliency_map(np.arange(64.0) - 32, shape=(8, 8))
    >>> ax.images[-1].get_clim()
    (-32.0, 32.0)
    """
    values = np.asarray(attributions, dtype=np.float64)
    if shape is not None:
        if values.size != int(np.prod(shape)):
            raise ValueError(f"{values.size} attributions do not fill an image of shape {tuple(shape)}")
        values = values.reshape(shape)
    if values.ndim == 3 and values.shape[0] == 1:
        values = values[0]
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"saliency_map draws one image: attributions of shape (H, W), or flat ones with shape=; "
                         f"got {values.shape} (pick one image, e.g. attributions[0])")
    ax = _axes(ax, (4.8, 4.2))
    if image is not None:
        picture = np.asarray(image, dtype=np.float64).reshape(values.shape) if np.size(image) == values.size else None
        if picture is None:
            raise ValueError(f"image has {np.size(image)} pixels, the attributions {values.size}")
        ax.imshow(picture, cmap="gray_r", interpolation="nearest")
    limit = float(np.abs(values).max()) or 1.0
    drawn = ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit, alpha=0.7 if image is not None else 1.0,
                      interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    bar_ = ax.figure.colorbar(drawn, ax=ax, aspect=30, pad=0.02)
    bar_.set_label("attribution")
    return ax
