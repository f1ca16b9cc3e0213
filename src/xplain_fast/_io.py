"""Tables in and results out, in row chunks: what the command line and ``Explanation.save`` share.

Readers yield float64 blocks of chosen columns so that a file larger than memory streams through an
explainer; :class:`ResultWriter` appends result blocks to ``.csv``, ``.parquet``, ``.npy`` or
``.npz`` and writes the same layout whether it is given one block or many.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import sys
import tempfile
import threading
import zipfile
from collections.abc import Iterator, Sequence
from typing import IO, Any, TypeVar

import numpy as np

TABLE_SUFFIXES = (".csv", ".parquet", ".npy")
RESULT_SUFFIXES = (".csv", ".parquet", ".npy", ".npz")
#: Key of the JSON block in a result parquet file's schema metadata (shapes, names, kind).
PARQUET_META_KEY = b"xplain_fast"


def suffix_of(path: str | os.PathLike) -> str:
    return os.path.splitext(os.fspath(path))[1].lower()


def require_pyarrow(what: str) -> Any:
    """Import pyarrow or raise an ImportError that names the extra to install."""
    try:
        import pyarrow as pa
        import pyarrow.parquet  # noqa: F401  (the submodule is what callers use)
    except ImportError as exc:
        raise ImportError(f"{what} needs pyarrow: pip install 'xplain-fast[parquet]'") from exc
    return pa


# ------------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------------
class TableReader:
    """Column names, row count and row-chunked reads of a ``.csv``, ``.parquet`` or ``.npy`` file.

    ``columns`` is None for ``.npy`` (no names: columns are chosen by position). ``n_rows`` is the
    row count; for ``.csv`` it counts line ends (a quoted field with a line break would count twice),
    which is only used to show progress.
    """

    def __init__(self, path: str | os.PathLike, chunk_rows: int) -> None:
        self.path = os.fspath(path)
        self.chunk_rows = int(chunk_rows)
        self.suffix = suffix_of(path)
        self.n_rows: int | None = None
        self.columns: list[str] | None = None
        if self.suffix == ".csv":
            import pandas as pd

            try:
                header = pd.read_csv(self.path, nrows=0)
            except (ValueError, OSError, UnicodeDecodeError) as exc:  # pandas' EmptyDataError is a ValueError
                raise ValueError(f"cannot read {self.path} as csv: {exc}") from exc
            self.columns = [str(c) for c in header.columns]
            self.n_rows = _count_data_lines(self.path)
        elif self.suffix == ".parquet":
            pa = require_pyarrow("reading parquet files")
            try:
                # No pre-buffering (it keeps every column chunk read until the file closes) and a
                # streaming page buffer (a huge row group is not read whole): memory stays at a chunk.
                self._parquet = pa.parquet.ParquetFile(self.path, pre_buffer=False, buffer_size=1 << 20)
            except (pa.ArrowException, OSError) as exc:
                raise ValueError(f"cannot read {self.path} as parquet: {exc}") from exc
            self.columns = list(self._parquet.schema_arrow.names)
            self.n_rows = self._parquet.metadata.num_rows
        elif self.suffix == ".npy":
            try:
                self._array = np.load(self.path, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError) as exc:
                raise ValueError(f"cannot read {self.path} as a .npy array: {exc}") from exc
            if self._array.ndim != 2:
                raise ValueError(f"{self.path} holds a {self._array.ndim}-D array of shape "
                                 f"{self._array.shape}; expected rows x features (2-D)")
            self.n_rows = self._array.shape[0]
        else:
            raise ValueError(f"cannot read {self.path}: expected a {', '.join(TABLE_SUFFIXES)} file")

    @property
    def n_columns(self) -> int:
        return self._array.shape[1] if self.columns is None else len(self.columns)

    def read_all(self, columns: Sequence[str | int]) -> np.ndarray:
        """All rows of ``columns`` as one float64 block."""
        blocks = list(self.chunks(columns))
        return np.concatenate(blocks) if blocks else np.empty((0, len(columns)))

    def chunks(self, columns: Sequence[str | int]) -> Iterator[np.ndarray]:
        """C-contiguous float64 blocks of at most ``chunk_rows`` rows of ``columns``, in order.

        Columns are names (csv, parquet) or positions (npy); missing values become NaN.
        """
        if self.suffix == ".csv":
            yield from self._csv_chunks([str(c) for c in columns])
        elif self.suffix == ".parquet":
            yield from self._parquet_chunks([str(c) for c in columns])
        else:
            positions = [int(c) for c in columns]
            array = self._array
            for start in range(0, array.shape[0], self.chunk_rows):
                if array.flags.c_contiguous:
                    # read, not mapped: pages of a mapping stay resident after use, so a large file
                    # would fill the process's memory as it streams through
                    rows = min(self.chunk_rows, array.shape[0] - start)
                    block = np.fromfile(self.path, dtype=array.dtype, count=rows * array.shape[1],
                                        offset=array.offset + start * array.shape[1] * array.itemsize)
                    block = block.reshape(rows, array.shape[1])[:, positions]
                else:
                    block = array[start:start + self.chunk_rows][:, positions]
                yield _as_float_rows(block, self.path)

    def _csv_chunks(self, columns: list[str]) -> Iterator[np.ndarray]:
        import pandas as pd

        reader = pd.read_csv(self.path, usecols=columns, chunksize=self.chunk_rows)
        with reader:
            while True:
                try:
                    frame = next(reader)
                except StopIteration:
                    return
                except (ValueError, pd.errors.ParserError) as exc:
                    raise ValueError(f"cannot read {self.path}: {exc}") from exc
                yield _frame_block(frame[columns], self.path)

    def _parquet_chunks(self, columns: list[str]) -> Iterator[np.ndarray]:
        pa = require_pyarrow("reading parquet files")
        for batch in self._parquet.iter_batches(batch_size=self.chunk_rows, columns=columns):
            block = np.empty((batch.num_rows, len(columns)), dtype=np.float64)
            for j, name in enumerate(columns):
                column = batch.column(batch.schema.get_field_index(name))
                try:
                    column = column.cast(pa.float64())
                except pa.ArrowException as exc:
                    raise TypeError(f"column {name!r} of {self.path} has type {column.type}, which is "
                                    "not numeric; encode it as numbers before explaining") from exc
                block[:, j] = column.to_numpy(zero_copy_only=False)  # nulls become NaN
            yield block


def _count_data_lines(path: str) -> int:
    """Lines after the header (a fast binary scan: about a second per GB)."""
    lines, last = 0, b"\n"
    with open(path, "rb") as fh:
        while piece := fh.read(1 << 24):
            lines += piece.count(b"\n")
            last = piece[-1:]
    lines += last != b"\n"  # a last line without its line end
    return max(lines - 1, 0)


def _frame_block(frame: Any, path: str) -> np.ndarray:
    for name in frame.columns:
        if frame[name].dtype.kind not in "biuf":
            raise TypeError(f"column {name!r} of {path} is not numeric (e.g. {frame[name].iloc[0]!r}); "
                            "encode it as numbers before explaining")
    return np.ascontiguousarray(frame.to_numpy(dtype=np.float64, na_value=np.nan))


def _as_float_rows(block: np.ndarray, path: str) -> np.ndarray:
    if block.dtype.kind not in "biuf":
        raise TypeError(f"{path} holds {block.dtype} values; expected real numbers")
    return np.ascontiguousarray(block, dtype=np.float64)


# ------------------------------------------------------------------------------------------------
# writing
# ------------------------------------------------------------------------------------------------
def flat_column_names(feature_names: Sequence[str], tail: tuple[int, ...], kind: str) -> list[str]:
    """Names of the flattened value columns of one row.

    SHAP values (M,) -> feature names, (M, K) -> ``name[k]``; interaction values (M, M) ->
    ``a:b`` and (M, M, K) -> ``a:b[k]``, in C order.
    """
    if kind == "interactions":
        names = [f"{a}:{b}" for a in feature_names for b in feature_names]
        per_output = tail[2:]
    else:
        names = list(feature_names)
        per_output = tail[1:]
    if per_output:
        names = [f"{n}[{k}]" for n in names for k in range(per_output[0])]
    return names


class ResultWriter:
    """Appends blocks of (values, base values[, data]) rows to one result file.

    Parameters
    ----------
    path : str, path or None
        ``.csv``, ``.parquet``, ``.npy`` (values only) or ``.npz`` (values, base values, feature
        names, data when given); None writes csv to standard output.
    feature_names : list of str
    value_tail, base_tail : tuple of int
        The shapes of one row's values, e.g. ``(M,)``, ``(M, K)``, ``(M, M)``, and base values,
        ``()`` or ``(K,)``; ``base_tail=None`` for results without base values (saliency).
    kind : {"shap", "interactions"}
    with_data : bool
        Whether blocks carry the explained rows (``(n, M)``) too.
    """

    def __init__(self, path: str | os.PathLike | None, feature_names: Sequence[str],
                 value_tail: tuple[int, ...], base_tail: tuple[int, ...] | None, *, kind: str = "shap",
                 with_data: bool = False) -> None:
        self.path = None if path is None else os.fspath(path)
        self.suffix = ".csv" if path is None else suffix_of(path)
        if self.suffix not in RESULT_SUFFIXES:
            raise ValueError(f"cannot write {self.path}: expected a {', '.join(RESULT_SUFFIXES)} file")
        self.feature_names = [str(n) for n in feature_names]
        self.value_tail = tuple(value_tail)
        self.base_tail = None if base_tail is None else tuple(base_tail)
        self.kind = kind
        self.with_data = with_data
        self.n_rows = 0
        self._value_columns = flat_column_names(self.feature_names, self.value_tail, kind)
        if self.base_tail is None:
            self._base_columns = []
        elif self.base_tail:
            self._base_columns = [f"base_value[{k}]" for k in range(self.base_tail[0])]
        else:
            self._base_columns = ["base_value"]
        self._data_columns = [f"data:{n}" for n in self.feature_names] if with_data else []
        self._spool: dict[str, IO[bytes]] = {}
        self._closed = False
        if self.suffix == ".csv":
            self._text = sys.stdout if self.path is None else open(self.path, "w", newline="")
            header = self._value_columns + self._base_columns + self._data_columns
            self._text.write(",".join(_csv_field(c) for c in header) + "\n")
        elif self.suffix == ".parquet":
            pa = require_pyarrow("writing parquet files")
            meta = {"kind": kind, "feature_names": self.feature_names, "value_tail": list(self.value_tail),
                    "base_tail": None if self.base_tail is None else list(self.base_tail), "with_data": with_data}
            columns = self._value_columns + self._base_columns + self._data_columns
            if len(set(columns)) != len(columns):
                raise ValueError("feature names must be distinct to be written as parquet columns")
            schema = pa.schema([(c, pa.float64()) for c in columns],
                               metadata={PARQUET_META_KEY: json.dumps(meta).encode()})
            self._parquet = pa.parquet.ParquetWriter(self.path, schema)
        elif self.suffix == ".npy":
            # The values go straight to the file behind a header sized for any row count, which
            # close() rewrites with the real one (same size: spaces pad it).
            self._npy = open(self.path, "wb")
            self._npy.write(_npy_header((_NPY_MAX_ROWS, *self.value_tail)))
        else:
            # .npz members need the row count in their header: spool the blocks, assemble on close.
            parts = ["values"] + ["base_values"] * (self.base_tail is not None) + ["data"] * with_data
            folder = os.path.dirname(os.path.abspath(self.path))
            self._spool = {p: tempfile.TemporaryFile(dir=folder) for p in parts}

    def write(self, values: np.ndarray, base_values: np.ndarray | None = None,
              data: np.ndarray | None = None) -> None:
        """Append a block of rows: values ``(n, *value_tail)``, base values ``(n, *base_tail)``."""
        values = np.asarray(values, dtype=np.float64)
        n = values.shape[0]
        if values.shape[1:] != self.value_tail:
            raise ValueError(f"a block of shape {values.shape} does not fit a result of rows x {self.value_tail}")
        if (base_values is None) != (self.base_tail is None) or self.with_data != (data is not None):
            raise ValueError("base values and data must be given with every block, or with none")
        blocks = {"values": values}
        if base_values is not None:
            blocks["base_values"] = np.asarray(base_values, dtype=np.float64)
            if blocks["base_values"].shape != (n, *self.base_tail):
                raise ValueError(f"base values of shape {blocks['base_values'].shape} do not fit "
                                 f"{n} rows x {self.base_tail}")
        if data is not None:
            blocks["data"] = np.asarray(data, dtype=np.float64).reshape(n, len(self.feature_names))
        self.n_rows += n
        if self.suffix == ".npy":
            self._npy.write(np.ascontiguousarray(values).tobytes())
            return
        if self._spool:
            for part, fh in self._spool.items():
                fh.write(np.ascontiguousarray(blocks[part]).tobytes())
            return
        flat = np.hstack([b.reshape(n, -1) for b in blocks.values()])
        if self.suffix == ".csv":
            _write_csv_rows(self._text, flat)
        else:
            import pyarrow as pa

            columns = [pa.array(flat[:, j]) for j in range(flat.shape[1])]
            self._parquet.write_table(pa.Table.from_arrays(columns, schema=self._parquet.schema))

    def close(self) -> None:
        """Finish the file (writes the ``.npy`` header with the row count; assembles ``.npz`` from the
        spooled blocks)."""
        if self._closed:
            return
        self._closed = True
        if self.suffix == ".csv":
            if self._text is sys.stdout:
                self._text.flush()
            else:
                self._text.close()
        elif self.suffix == ".parquet":
            self._parquet.close()
        elif self.suffix == ".npy":
            size = self._npy.tell()
            self._npy.seek(0)
            self._npy.write(_npy_header((self.n_rows, *self.value_tail),
                                        len(_npy_header((_NPY_MAX_ROWS, *self.value_tail)))))
            self._npy.seek(size)
            self._npy.close()
        else:
            shapes = {"values": (self.n_rows, *self.value_tail), "data": (self.n_rows, len(self.feature_names))}
            if self.base_tail is not None:
                shapes["base_values"] = (self.n_rows, *self.base_tail)
            with zipfile.ZipFile(self.path, "w", allowZip64=True) as archive:
                for part, fh in self._spool.items():
                    with archive.open(f"{part}.npy", "w", force_zip64=True) as out:
                        _copy_npy(out, fh, shapes[part])
                names = np.asarray(self.feature_names, dtype=str)
                with archive.open("feature_names.npy", "w") as out:
                    np.lib.format.write_array(out, names, allow_pickle=False)
                with archive.open("kind.npy", "w") as out:
                    np.lib.format.write_array(out, np.asarray(self.kind), allow_pickle=False)
        for fh in self._spool.values():
            fh.close()

    def abort(self) -> None:
        """Close and remove a partly written file (after an error or an interruption)."""
        try:
            self.close()
        finally:
            if self.path is not None and os.path.exists(self.path):
                os.remove(self.path)

    def __enter__(self) -> ResultWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _csv_field(name: str) -> str:
    if any(c in name for c in ',"\n\r'):
        return '"' + name.replace('"', '""') + '"'
    return name


def _write_csv_rows(fh: IO[str], rows: np.ndarray) -> None:
    # repr() is the shortest text that reads back as the same float64: csv round-trips exactly.
    fh.write("".join(",".join(map(repr, row)) + "\n" for row in rows.tolist()))


#: More rows than any result has: the provisional .npy header holds room for any row count.
_NPY_MAX_ROWS = 10**18


def _npy_header(shape: tuple[int, ...], size: int | None = None) -> bytes:
    """The header of a C-order float64 ``.npy`` file (format 1.0) of ``shape``, padded with spaces
    to ``size`` bytes (default: the next multiple of 64, as numpy aligns it)."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float64)), "fortran_order": False,
              "shape": tuple(int(d) for d in shape)}
    text = repr(header).encode("latin1")
    prefix = 10  # magic string, version, header length
    total = size if size is not None else -(-(prefix + len(text) + 1) // 64) * 64
    if total < prefix + len(text) + 1:
        raise ValueError(f"a .npy header of {shape} does not fit in {total} bytes")
    body = text + b" " * (total - prefix - len(text) - 1) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


Block = TypeVar("Block")


def read_ahead(blocks: Iterator[Block]) -> Iterator[Block]:
    """The items of ``blocks``, each read by a background thread while the caller works on the
    previous one (numpy's and pyarrow's file reads release the GIL, so reading overlaps the
    engine's work). An error in reading is raised where the caller would have read that item; a
    caller that stops early stops the reader after at most one more item."""
    handoff: queue.Queue = queue.Queue(maxsize=1)
    stop = threading.Event()
    end = object()

    def put(item: tuple[Any, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for block in blocks:
                if not put((block, None)):
                    return
            put((end, None))
        except BaseException as exc:  # handed to the caller, raised there
            put((end, exc))

    reader = threading.Thread(target=produce, name="xplain-fast-read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            block, error = handoff.get()
            if block is end:
                if error is not None:
                    raise error
                return
            yield block
    finally:
        stop.set()
        reader.join()


def _copy_npy(out: IO[bytes], spool: IO[bytes], shape: tuple[int, ...]) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float64)), "fortran_order": False,
              "shape": shape}
    np.lib.format.write_array_header_2_0(out, header)
    spool.seek(0)
    shutil.copyfileobj(spool, out, 1 << 24)


def read_result(path: str | os.PathLike) -> dict[str, Any]:
    """Read a result written by :class:`ResultWriter` (``.npz`` or ``.parquet``).

    Returns a dict with ``values``, ``base_values``, ``data`` (or None), ``feature_names`` and
    ``kind``.
    """
    name = os.fspath(path)
    suffix = suffix_of(name)
    if suffix == ".npz":
        try:
            with np.load(name, allow_pickle=False) as archive:
                parts = {k: archive[k] for k in archive.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{name} is not an explanation written by xplain-fast: {exc}") from exc
        if "values" not in parts:
            raise ValueError(f"{name} has no 'values' array; it was not written by Explanation.save")
        names = parts.get("feature_names")
        return {"values": parts["values"], "base_values": parts.get("base_values"), "data": parts.get("data"),
                "feature_names": None if names is None else [str(n) for n in names],
                "kind": str(parts["kind"]) if "kind" in parts else "shap"}
    if suffix == ".parquet":
        pa = require_pyarrow("reading parquet files")
        try:
            table = pa.parquet.read_table(name)
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(f"cannot read {name} as parquet: {exc}") from exc
        raw = (table.schema.metadata or {}).get(PARQUET_META_KEY)
        if raw is None:
            raise ValueError(f"{name} has no xplain-fast metadata; it was not written by Explanation.save "
                             "or the command line")
        meta = json.loads(raw)
        flat = np.column_stack([table.column(j).to_numpy() for j in range(table.num_columns)]) \
            if table.num_columns else np.empty((table.num_rows, 0))
        flat = flat.astype(np.float64, copy=False).reshape(table.num_rows, -1)
        value_tail = tuple(meta["value_tail"])
        base_tail = None if meta["base_tail"] is None else tuple(meta["base_tail"])
        n_values = int(np.prod(value_tail))
        n_base = 0 if base_tail is None else int(np.prod(base_tail))
        n = table.num_rows
        values = flat[:, :n_values].reshape(n, *value_tail)
        base = None
        if base_tail is not None:
            base = np.ascontiguousarray(flat[:, n_values:n_values + n_base].reshape(n, *base_tail))
        data = flat[:, n_values + n_base:] if meta["with_data"] else None
        return {"values": np.ascontiguousarray(values), "base_values": base,
                "data": None if data is None else np.ascontiguousarray(data),
                "feature_names": meta["feature_names"], "kind": meta["kind"]}
    raise ValueError(f"cannot read an explanation from {name}: expected a .npz or .parquet file "
                     "(csv and npy keep only the values)")
