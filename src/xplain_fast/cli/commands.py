"""``xplain-fast explain``, ``importance``, ``saliency``, ``report`` (files in, results out) and ``bench``."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
from typing import Any

import numpy as np

from .._forest_estimator import forest_estimator
from .._io import ResultWriter, TableReader, read_ahead, suffix_of
from .._validation import seeded_sample
from ..forest import Forest
from ..models import model_features, to_forest
from .inputs import (
    Columns,
    UsageError,
    load_model,
    progress_bar,
    select_columns,
    step,
)


def run_explain(args: argparse.Namespace) -> int:
    """SHAP (or interaction) values of every row of DATA, read and written chunk by chunk."""
    from ..tree import TreeExplainer

    with step("loading the model", args.quiet):
        forest = to_forest(load_model(args.model))
    reader = TableReader(args.data, args.chunk_rows)
    columns = select_columns(reader, forest.feature_names, forest.n_features, args.target, args.data)
    if args.model_output == "log_loss" and columns.target is None:
        raise UsageError("--model-output log_loss explains each row's loss: name its label column with --target")
    if args.model_output != "raw" and args.background is None:
        raise UsageError(f"--model-output {args.model_output} needs background data: pass --background FILE")
    if args.features is not None and not args.interactions:
        raise UsageError("--features selects interaction values: use it with --interactions")
    explainer = TreeExplainer(forest, n_jobs=args.n_jobs, model_output=args.model_output,
                              feature_perturbation="tree_path_dependent" if args.background is None
                              else "interventional")
    if args.background is None:
        explainer.fit()
    else:
        with step("reading the background data", args.quiet):
            background_reader = TableReader(args.background, args.chunk_rows)
            background_columns = select_columns(background_reader, forest.feature_names, forest.n_features,
                                                None, args.background)
            if not background_columns.by_name and columns.by_name:
                raise ValueError(f"{args.background} must have the model's feature columns, like {args.data}")
            background = background_reader.read_all(background_columns.features)
        if len(background) == 0:
            raise ValueError(f"the background file {args.background} has no rows")
        with step(f"building tables from {len(background):,} background rows", args.quiet):
            explainer.fit(background)

    names = columns.feature_names
    if args.interactions:
        subset = _interaction_subset(args.features, names)
        names = [names[j] for j in subset]
        value_tail: tuple[int, ...] = (len(subset), len(subset))
    else:
        value_tail = (len(names),)
    outputs = explainer.n_outputs_
    if outputs > 1:
        value_tail += (outputs,)
    base_tail = () if outputs == 1 else (outputs,)
    kind = "interactions" if args.interactions else "shap"
    with ResultWriter(args.output, names, value_tail, base_tail, kind=kind) as out, \
            progress_bar(args.quiet, total=reader.n_rows, unit=" rows", desc="explaining") as bar:
        for features, labels in _feature_chunks(reader, columns):
            if args.interactions:
                values = explainer.shap_interaction_values(features, features=subset)
                base = np.broadcast_to(explainer.expected_value_, (len(features), *base_tail))
            else:
                explanation = explainer.explain(features, labels)
                values, base = explanation.values, explanation.base_values
            out.write(values, base)
            bar.update(len(features))
    _say_written(args, out)
    return 0


def _feature_chunks(reader: TableReader, columns: Columns) -> Any:
    """(features, labels or None) blocks; empty blocks are skipped (an empty file gives no rows)."""
    wanted = columns.features + ([] if columns.target is None else [columns.target])
    for block in read_ahead(reader.chunks(wanted)):
        if len(block) == 0:
            continue
        n_features = len(columns.features)
        yield np.ascontiguousarray(block[:, :n_features]), (None if columns.target is None else block[:, n_features])


def _interaction_subset(features: str | None, names: list[str]) -> list[int]:
    if features is None:
        return list(range(len(names)))
    wanted = [f.strip() for f in features.split(",") if f.strip()]
    unknown = [f for f in wanted if f not in names]
    if unknown:
        raise UsageError(f"--features names unknown features {unknown}; the model's are {names[:8]}"
                         f"{' ...' if len(names) > 8 else ''}")
    if len(set(wanted)) != len(wanted):
        raise UsageError("--features lists a feature twice")
    return [names.index(f) for f in wanted]


def _say_written(args: argparse.Namespace, out: ResultWriter) -> None:
    if args.output is not None and not args.quiet:
        print(f"wrote {out.n_rows:,} rows to {args.output}", file=sys.stderr)


# ------------------------------------------------------------------------------------------------
def run_importance(args: argparse.Namespace) -> int:
    """Permutation importance of every feature (or group) of DATA against its --target column."""
    from ..permutation import permutation_importance

    with step("loading the model", args.quiet):
        model = load_model(args.model)
    estimator = forest_estimator(model, args.n_jobs) if isinstance(model, Forest) else model
    names, n_features = model_features(model)
    reader = TableReader(args.data, args.chunk_rows)
    columns = select_columns(reader, names, n_features, args.target, args.data)
    with step("reading the data", args.quiet):
        block = reader.read_all(columns.features + [columns.target])
    if len(block) == 0:
        raise ValueError(f"{args.data} has no rows")
    X, y = _estimator_inputs(estimator, block, columns)
    groups = _read_groups(args.groups, columns.feature_names) if args.groups else None
    scoring = None if args.scoring is None else [s.strip() for s in args.scoring.split(",") if s.strip()]
    with step(f"permuting {X.shape[1]} columns x {args.n_repeats} repeats", args.quiet):
        result = permutation_importance(estimator, X, y, scoring=scoring, n_repeats=args.n_repeats,
                                        n_jobs=args.n_jobs, random_state=args.random_state,
                                        max_samples=args.max_samples, feature_groups=groups)
    results = result if scoring is not None else {"score": result}
    if groups is None:
        labels = columns.feature_names
    elif isinstance(groups, dict):
        labels = list(groups)
    else:
        labels = ["+".join(columns.feature_names[j] for j in members) for members in groups]
    _write_importance(args.output, results, labels)
    return 0


def _estimator_inputs(estimator: Any, block: np.ndarray, columns: Columns) -> tuple[Any, np.ndarray | None]:
    """(X, y) of a block read as features then (when there is one) the target, as the estimator takes them."""
    has_target = columns.target is not None
    X = np.ascontiguousarray(block[:, :-1] if has_target else block)
    y = block[:, -1] if has_target else None
    if getattr(estimator, "feature_names_in_", None) is not None:
        import pandas as pd

        X = pd.DataFrame(X, columns=columns.feature_names)  # the estimator checks the names it was fitted on
    classes = getattr(estimator, "classes_", None)
    if y is not None and classes is not None and np.asarray(classes).dtype.kind in "biu":
        y = y.astype(np.asarray(classes).dtype)  # csv labels read as floats; the classes are integers
    return X, y


def _read_groups(path: str, feature_names: list[str]) -> Any:
    """Feature groups of a JSON file, with column names turned into positions of the model's features."""
    try:
        with open(path) as fh:
            groups = json.load(fh)
    except OSError as exc:
        raise UsageError(f"cannot read --groups file: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"--groups file {path} is not JSON: {exc}") from exc
    if not isinstance(groups, dict | list):
        raise ValueError(f"--groups file {path} must hold an object {{name: [columns]}} or a list of lists")

    def position(column: Any) -> Any:
        if isinstance(column, str):
            if column not in feature_names:
                raise ValueError(f"--groups names {column!r}, which is not one of the model's features")
            return feature_names.index(column)
        return column

    if isinstance(groups, dict):
        return {name: [position(c) for c in members] for name, members in groups.items()}
    return [[position(c) for c in members] for members in groups]


def _write_importance(path: str | None, results: dict, labels: list[str]) -> None:
    """A table per scorer, largest mean first: to the terminal, or to csv / json."""
    if path is None:
        for scorer, bunch in results.items():
            print(f"{scorer}: mean decrease over {bunch.importances.shape[1]} permutations")
            width = max(len(n) for n in labels)
            for j in np.argsort(-bunch.importances_mean, kind="stable"):
                print(f"  {labels[j]:<{width}}  {bunch.importances_mean[j]: .6f} ± {bunch.importances_std[j]:.6f}")
        return
    suffix = suffix_of(path)
    if suffix == ".json":
        document = {scorer: {"features": labels, "importances_mean": b.importances_mean.tolist(),
                             "importances_std": b.importances_std.tolist(), "importances": b.importances.tolist()}
                    for scorer, b in results.items()}
        with open(path, "w") as fh:
            json.dump(document, fh, indent=1)
    elif suffix == ".csv":
        import pandas as pd

        frames = []
        for scorer, b in results.items():
            frame = pd.DataFrame({"scoring": scorer, "feature": labels, "importance_mean": b.importances_mean,
                                  "importance_std": b.importances_std})
            for r in range(b.importances.shape[1]):
                frame[f"repeat_{r}"] = b.importances[:, r]
            frames.append(frame)
        pd.concat(frames).to_csv(path, index=False)
    else:
        raise UsageError(f"-o {path}: importance tables are written as .csv or .json")


# ------------------------------------------------------------------------------------------------
#: Methods whose random noise is drawn per row position: explained in one block so that a row's
#: noise does not depend on the chunk size.
_NOISY_METHODS = ("smoothgrad", "smoothgrad_sq", "vargrad")


def run_saliency(args: argparse.Namespace) -> int:
    """Gradient attributions of every row of DATA for a pickled differentiable model."""
    from ..saliency import GradientSaliency

    with step("loading the model", args.quiet):
        model = load_model(args.model)
    if isinstance(model, Forest):
        raise ValueError(f"{args.model} is a tree model: use 'xplain-fast explain' for its SHAP values")
    names, n_features = model_features(model)
    reader = TableReader(args.data, args.chunk_rows)
    columns = select_columns(reader, names, n_features, args.target, args.data)
    baseline: Any = args.baseline
    if baseline not in (None, "mean"):
        try:
            baseline = float(baseline)
        except ValueError as exc:
            raise UsageError(f"--baseline must be a number or 'mean', got {baseline!r}") from exc
    saliency = GradientSaliency(model, method=args.method, n_steps=args.n_steps, baseline=baseline,
                                target=args.class_index, output=args.output_kind, n_jobs=args.n_jobs,
                                random_state=args.random_state)
    needs_all = args.method in _NOISY_METHODS or baseline == "mean"
    if needs_all:
        with step("reading the data", args.quiet):
            everything = reader.read_all(columns.features)
        blocks: Any = [everything]
        saliency.fit(everything if baseline == "mean" else None)
    else:
        blocks = (block for block, _ in _feature_chunks(reader, dataclasses.replace(columns, target=None)))
        saliency.fit()
    with ResultWriter(args.output, columns.feature_names, (len(columns.features),), None, kind="saliency") as out, \
            progress_bar(args.quiet, total=reader.n_rows, unit=" rows", desc="attributing") as bar:
        for block in blocks:
            if len(block):
                out.write(saliency.attribute(block))
                bar.update(len(block))
    _say_written(args, out)
    return 0


# ------------------------------------------------------------------------------------------------
def run_report(args: argparse.Namespace) -> int:
    """A self-contained HTML report of MODEL on (a seeded sample of) the rows of DATA."""
    from ..report import report
    from ..tree import TreeExplainer

    with step("loading the model", args.quiet):
        model = load_model(args.model)
        forest = to_forest(model)  # once: the explainer and the column matching both use it
    names, n_features = forest.feature_names, forest.n_features
    reader = TableReader(args.data, args.chunk_rows)
    columns = select_columns(reader, names, n_features, args.target, args.data)
    wanted = columns.features + ([columns.target] if columns.target is not None else [])
    with step("reading the data", args.quiet):
        block, note = _sampled_rows(reader, wanted, args.max_rows, args.random_state, args.data)
    estimator = forest_estimator(forest, args.n_jobs) if isinstance(model, Forest) else model
    X, y = _estimator_inputs(estimator, block, columns)
    if args.background is None:
        explainer = TreeExplainer(forest, n_jobs=args.n_jobs)
    else:
        background_reader = TableReader(args.background, args.chunk_rows)
        background_columns = select_columns(background_reader, names, n_features, None, args.background)
        with step("reading the background rows", args.quiet):
            background = background_reader.read_all(background_columns.features)
        explainer = TreeExplainer(forest, feature_perturbation="interventional", n_jobs=args.n_jobs)
        explainer.fit(background)
    with step("computing the report", args.quiet):
        path = report(explainer, X, y, path=args.output or "report.html", estimator=estimator,
                      output=args.output_index, max_rows=args.max_rows, interactions=not args.no_interactions,
                      n_repeats=args.n_repeats, scoring=args.scoring, random_state=args.random_state,
                      n_jobs=args.n_jobs, feature_names=columns.feature_names, data_note=note)
    if not args.quiet:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _sampled_rows(reader: TableReader, columns: list[Any], max_rows: int, seed: int,
                  path: str) -> tuple[np.ndarray, str]:
    """At most max_rows rows (a seeded sample without replacement), read chunk by chunk."""
    n = reader.n_rows
    if n is None or n <= max_rows:
        block = reader.read_all(columns)
        if len(block) == 0:
            raise ValueError(f"{path} has no rows")
        return block, f"All {len(block):,} rows of {path} are explained."
    keep = seeded_sample(n, max_rows, seed)
    parts, start = [], 0
    for chunk in reader.chunks(columns):
        lo, hi = np.searchsorted(keep, [start, start + len(chunk)])
        parts.append(chunk[keep[lo:hi] - start])
        start += len(chunk)
    block = np.concatenate(parts)
    return block, (f"{len(block):,} of {n:,} rows of {path} ({100 * len(block) / n:.1f}%) are explained, "
                   f"drawn without replacement with seed {seed}.")


def run_bench(args: argparse.Namespace) -> int:
    """``xplain-fast bench``: the harness, its table on stdout, JSON / Markdown / chart on request."""
    from .. import bench

    for path in (args.out, args.plot):
        if path is not None and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise UsageError(f"the folder of {path!r} does not exist")
    only = [part.strip() for part in args.only.split(",") if part.strip()] if args.only else None
    progress = None if args.quiet else functools.partial(print, file=sys.stderr, flush=True)
    try:
        bench.select(args.suite, only)
    except ValueError as exc:  # a mistake in --only
        raise UsageError(str(exc)) from exc
    result = bench.run(args.suite, threads=args.threads, only=only, repeats=args.repeats, peers=dict(args.peer),
                       progress=progress)
    print(bench.format_table(result))
    if args.markdown:
        print()
        print(bench.to_markdown(result))
    if args.out is not None:
        bench.write_json(result, args.out)
    if args.plot is not None:
        bench.plot_speedups(result, args.plot)
    errors = bench.disagreements(result)
    if errors and not args.quiet:
        print(f"xplain-fast bench: {len(errors)} reference(s) disagree with xplain-fast beyond tolerance",
              file=sys.stderr)
    return 1 if errors else 0
