"""What the commands read: model files, the columns of a data file, and progress on a terminal."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .._io import TableReader
from ..models import to_forest

#: Model files that are Python pickles: loading one runs whatever code it holds.
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


class UsageError(Exception):
    """A mistake in the command line itself (exit status 2)."""


def load_model(path: str) -> Any:
    """A fitted model from a pickle/joblib file, or the Forest of a model file in a library's format."""
    if not os.path.isfile(path):
        raise UsageError(f"model file {path!r} does not exist")
    if os.path.splitext(path)[1].lower() in PICKLE_SUFFIXES:
        import joblib  # scikit-learn's own dependency; it reads plain pickles too

        try:
            return joblib.load(path)
        except Exception as exc:  # a corrupt pickle raises anything at all
            raise ValueError(f"cannot unpickle {path}: {type(exc).__name__}: {exc}") from exc
    return to_forest(path)


@dataclass
class Columns:
    """Which columns of a data file feed the model, in the model's order, and the label column."""

    features: list[Any]  # names (csv, parquet) or positions (npy)
    feature_names: list[str]
    by_name: bool  # matched to the model's own feature names
    target: Any = None


def select_columns(reader: TableReader, model_names: Sequence[str] | None, n_features: int | None,
                   target: str | None, path: str) -> Columns:
    """Match a data file's columns to the model's features.

    Columns are taken by name where the file has all the model's feature names; otherwise, for a
    model trained without names, every column but the target, in file order, must be one feature
    each.
    """
    if reader.columns is None:  # .npy: positions only
        positions = list(range(reader.n_columns))
        target_position = None
        if target is not None:
            try:
                target_position = int(target)
                positions.remove(target_position)
            except ValueError as exc:
                raise UsageError(f"--target must be a column position for a .npy file, got {target!r} "
                                 f"({path} has columns 0..{reader.n_columns - 1})") from exc
        _check_count(len(positions), n_features, path)
        return Columns(positions, [f"x{j}" for j in positions], False, target_position)
    if target is not None and target not in reader.columns:
        raise UsageError(f"--target {target!r} is not a column of {path} (columns: {_shorten(reader.columns)})")
    if model_names is not None:
        missing = [n for n in model_names if n not in reader.columns]
        if not missing:
            if target in model_names:
                raise UsageError(f"--target {target!r} is one of the model's features")
            return Columns(list(model_names), list(model_names), True, target)
        raise ValueError(f"{path} lacks {len(missing)} of the model's features: {_shorten(missing)}")
    features = [c for c in reader.columns if c != target]
    _check_count(len(features), n_features, path)
    return Columns(features, features, False, target)


def _check_count(found: int, expected: int | None, path: str) -> None:
    if expected is not None and found != expected:
        raise ValueError(f"{path} has {found} feature columns, but the model expects {expected} "
                         "(name the label column with --target so that it is left out)")


def _shorten(names: Sequence[str], most: int = 6) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:most])
    return shown + (f", ... ({len(names)} in all)" if len(names) > most else "")


# ------------------------------------------------------------------------------------------------
# progress
# ------------------------------------------------------------------------------------------------
def progress_enabled(quiet: bool) -> bool:
    """Progress goes to a terminal only, never into a log or a pipe."""
    return not quiet and sys.stderr.isatty()


def progress_bar(quiet: bool, **kwargs: Any) -> Any:
    """A tqdm bar on stderr, disabled off a terminal."""
    from tqdm import tqdm

    return tqdm(file=sys.stderr, disable=not progress_enabled(quiet), dynamic_ncols=True, **kwargs)


@contextlib.contextmanager
def step(description: str, quiet: bool) -> Iterator[None]:
    """Shows a step that may take a while (reading, converting) with its elapsed time."""
    with progress_bar(quiet, total=1, desc=description, bar_format="{desc}... {elapsed}") as bar:
        yield
        bar.update(1)
