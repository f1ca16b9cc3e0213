"""Input checks shared by the public API: one place that turns user input into what the core takes."""

from __future__ import annotations

import os
from typing import Any

import numpy as np


def check_n_jobs(n_jobs: int | None) -> int:
    """scikit-learn's convention: None -> 1, -1 -> all cores, -2 -> all but one; 0 is invalid."""
    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)):
        raise TypeError(f"n_jobs must be an int or None, got {type(n_jobs).__name__}")
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None or 1 for one thread, -1 for all cores")
    if abs(n_jobs) > 2**31 - 1:
        raise ValueError(f"n_jobs={n_jobs} is out of range; use -1 for all cores")
    if n_jobs < 0:
        return max(1, (os.cpu_count() or 1) + 1 + int(n_jobs))
    return int(n_jobs)


def feature_names_of(X: Any) -> list[str] | None:
    """Column names of a pandas/polars frame, else None."""
    columns = getattr(X, "columns", None)
    if columns is None or isinstance(X, np.ndarray):
        return None
    return [str(c) for c in columns]


def _frame_to_numpy(X: Any) -> np.ndarray:
    """pandas/polars frame -> float64 matrix; categorical columns become their integer codes."""
    if type(X).__module__.split(".")[0] == "polars":
        return _polars_to_numpy(X)
    columns = []
    for name in X.columns:
        col = X[name]
        if str(col.dtype) == "category":
            codes = col.cat.codes.to_numpy().astype(np.float64)
            codes[codes < 0] = np.nan
            columns.append(codes)
            continue
        try:
            columns.append(col.to_numpy(dtype=np.float64, na_value=np.nan))
        except (TypeError, ValueError) as exc:
            raise _not_numeric(name, col.dtype) from exc
    return np.column_stack(columns) if columns else np.empty((len(X), 0))


def _polars_to_numpy(X: Any) -> np.ndarray:
    """Column by column through polars' own numpy export (no pandas or pyarrow needed)."""
    import polars as pl

    out = np.empty((X.height, X.width), dtype=np.float64)
    for j, (name, dtype) in enumerate(X.schema.items()):
        col = X.get_column(name)
        if dtype in (pl.Categorical, pl.Enum):
            col = col.to_physical()
        elif not (dtype.is_numeric() or dtype == pl.Boolean):
            raise _not_numeric(name, dtype)
        # nulls become NaN: the model's missing-value rule decides where they go
        out[:, j] = col.cast(pl.Float64).fill_null(float("nan")).to_numpy()
    return out


def _not_numeric(name: Any, dtype: Any) -> TypeError:
    return TypeError(
        f"column {name!r} has dtype {dtype}, which is not numeric; encode it as numbers "
        "or as a pandas 'category' column before explaining"
    )


def check_rows(X: Any, n_features: int | None = None, *, name: str = "X", allow_empty: bool = False) -> np.ndarray:
    """Validate X and return it as a C-contiguous float64 matrix.

    Accepts numpy arrays of any real dtype, byte order and layout (read-only ones too), lists,
    pandas and polars frames. NaN and +/-inf are kept (each model routes them by its own rule).
    Raises ValueError for a wrong number of dimensions or features, or for no rows unless
    ``allow_empty`` (explaining no rows gives an empty result, as a Dask partition may need);
    TypeError for non-numeric data.
    """
    if hasattr(X, "columns") and hasattr(X, "dtypes") and not isinstance(X, np.ndarray):
        arr = _frame_to_numpy(X)
    else:
        arr = np.asarray(X)
        if arr.dtype == object or arr.dtype.kind in "USVMmc":
            raise TypeError(
                f"{name} has dtype {arr.dtype}; it must hold real numbers (encode strings and "
                "categories as numeric codes first)"
            )
        if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
            raise TypeError(f"{name} has dtype {arr.dtype}; use float64 or float32")
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got {arr.ndim}-D with shape {arr.shape}; "
            "reshape a single row with X.reshape(1, -1)"
        )
    if arr.shape[0] == 0 and not allow_empty:
        raise ValueError(f"{name} has no rows")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features, but the model expects {n_features}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def check_fitted(estimator: Any, attribute: str) -> None:
    """Raise scikit-learn's NotFittedError (a ValueError) unless ``fit`` has set ``attribute``."""
    if not hasattr(estimator, attribute):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"this {type(estimator).__name__} is not fitted yet; call fit() first")


def seeded_sample(n: int, size: int, seed: int | None) -> np.ndarray:
    """Sorted indices of ``size`` of ``n`` rows drawn without replacement with ``seed``.

    The one draw behind every "k of n rows, seed s" sample (plots, the report, the command line),
    so the same seed picks the same rows everywhere.
    """
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))
