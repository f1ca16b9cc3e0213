"""The Forest: the one model format the C++ core knows.

A flat struct-of-arrays over all nodes of all trees. Loaders in :mod:`xplain_fast.models` build it
from a fitted model; every algorithm reads it and nothing else.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from os import PathLike
from typing import Any

import numpy as np

from . import _core
from ._validation import check_n_jobs, check_rows

#: Per-node missing-value rules, the codes of ``missing_rule`` (``xplain::MissingRule`` in the core;
#: ``int(rule)`` is the stored byte).
NAN_DEFAULT = _core.MissingRule.nan_default  # NaN follows default_left
NAN_AS_ZERO = _core.MissingRule.nan_as_zero  # NaN is replaced by 0.0, then compared (LightGBM missing_type=None)
#: NaN and |x| <= float32(1e-35) follow default_left (LightGBM missing_type=Zero)
NAN_OR_ZERO_DEFAULT = _core.MissingRule.nan_or_zero_default

#: How a classifier's class follows from the outputs (see Forest; the core's PredictRule names);
#: None: no known rule.
CLASS_RULES = (*_core.PredictRule.__members__, None)

_ARRAYS = {
    "left": np.int32,
    "right": np.int32,
    "feature": np.int32,
    "threshold": np.float64,
    "default_left": np.uint8,
    "value": np.float64,
    "cover": np.float64,
    "tree_offset": np.int64,
    "tree_output": np.int32,
    "base_value": np.float64,
}
_OPTIONAL_ARRAYS = {
    "missing_rule": np.uint8,
    "gain": np.float64,
    "summed_value": np.float64,
    "cat_offset": np.int64,
    "cat_words": np.int32,
    "cat_bits": np.uint32,
}


@dataclass(eq=False)
class Forest:
    """A tree ensemble as flat arrays (see ``DESIGN.md``, "The Forest").

    Node indices in ``left``/``right`` are global over all trees (-1 at leaves); tree ``t`` owns
    nodes ``tree_offset[t]:tree_offset[t+1]`` and its root is the first of them, with every child
    stored after its parent. ``value`` has shape ``(n_nodes, width)`` with width 1 or
    ``n_outputs``; tree ``t`` adds entry ``w`` of its leaf to output ``tree_output[t] + w``. Leaf
    values already include learning rates and averaging, so the raw output is
    ``base_value + sum of the leaf values reached``.

    A categorical node (``cat_offset[node] >= 0``) sends category ``c`` left iff bit ``c`` of its
    ``cat_words[node]`` 32-bit words starting at ``cat_bits[cat_offset[node]]`` is set; NaN follows
    ``default_left``, anything else (negative, too large, non-finite) goes right. With
    ``categorical_truncation`` (LightGBM, which casts the value to int first) values in (-1, 0) are
    category 0.

    The facts an algorithm needs about the source library are fields the loader fills, so that no
    code outside :mod:`xplain_fast.models` asks which library trained the model:

    - ``float32_output``: the library sums its raw output in float32 (XGBoost), so float64 round-off
      below that precision carries no meaning;
    - ``summed_value`` and ``divisor``: for an averaged ensemble (random forests), the leaf values
      before averaging; the library sums them over the trees and divides the sum by ``divisor``
      (``value`` holds the pre-divided values the explainers add up);
    - ``class_rule``: how a classifier's class follows from the outputs: ``"argmax"`` of the
      outputs (probabilities or their link), ``"raw_positive"`` (class 1 iff the one raw output is
      > 0), ``"raw_non_negative"`` (>= 0), or None for regressors and where the loader knows no such
      rule;
    - ``feature_names``: None when the model was trained without names (a library's placeholders
      such as ``Column_0`` are not kept), so columns then match by position.

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> from sklearn.tree import DecisionTreeRegressor
    >>> X = np.random.default_rng(0).normal(size=(50, 3)); y = X[:, 0]
    >>> forest = xf.to_forest(DecisionTreeRegressor(max_depth=2).fit(X, y))
    >>> forest.n_trees, forest.n_features, forest.predict(X[:2]).shape
    (1, 3, (2,))
    """

    left: np.ndarray
    right: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    default_left: np.ndarray
    value: np.ndarray
    cover: np.ndarray
    tree_offset: np.ndarray
    tree_output: np.ndarray
    base_value: np.ndarray
    n_features: int
    decision: str = "<="
    link: str = "identity"
    float32_input: bool = False
    categorical_truncation: bool = False
    missing_rule: np.ndarray | None = None
    gain: np.ndarray | None = None
    cat_offset: np.ndarray | None = None
    cat_words: np.ndarray | None = None
    cat_bits: np.ndarray | None = None
    float32_output: bool = False
    summed_value: np.ndarray | None = None
    divisor: float = 1.0
    class_rule: str | None = None
    feature_names: list[str] | None = None
    source: str = ""
    _handle: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        for name, dtype in _ARRAYS.items():
            setattr(self, name, np.ascontiguousarray(getattr(self, name), dtype=dtype))
        for name, dtype in _OPTIONAL_ARRAYS.items():
            arr = getattr(self, name)
            if arr is not None:
                setattr(self, name, np.ascontiguousarray(arr, dtype=dtype))
        if self.value.ndim == 1:
            self.value = self.value.reshape(-1, 1)
        self.base_value = self.base_value.reshape(-1)
        self.n_features = int(self.n_features)
        if self.decision not in ("<", "<="):
            raise ValueError(f"decision must be '<' or '<=', got {self.decision!r}")
        if self.class_rule not in CLASS_RULES:
            raise ValueError(f"class_rule must be one of {CLASS_RULES}, got {self.class_rule!r}")
        self.divisor = float(self.divisor)
        if not (np.isfinite(self.divisor) and self.divisor > 0):
            raise ValueError(f"divisor must be a positive number, got {self.divisor}")
        if self.summed_value is not None:
            if self.summed_value.size != self.value.size:
                raise ValueError("invalid Forest: summed_value must have the shape of value")
            self.summed_value = self.summed_value.reshape(self.value.shape)
            if not np.all(np.isfinite(self.summed_value)):
                raise ValueError("invalid Forest: summed_value must be finite")
        if self.feature_names is not None:
            self.feature_names = [str(n) for n in self.feature_names]
            if len(self.feature_names) != self.n_features:
                raise ValueError("feature_names must have one name per feature")
        # validates the structure, covers and leaf values in C++ (ForestView::check)
        self._handle = self._make_handle()

    def _make_handle(self) -> Any:
        empty = np.empty(0)
        has_cats = self.cat_offset is not None
        return _core.ForestHandle(
            left=self.left,
            right=self.right,
            feature=self.feature,
            threshold=self.threshold,
            default_left=self.default_left,
            missing_rule=self.missing_rule if self.missing_rule is not None else empty.astype(np.uint8),
            value=self.value,
            cover=self.cover,
            tree_offset=self.tree_offset,
            tree_output=self.tree_output,
            base_value=self.base_value,
            cat_offset=self.cat_offset if has_cats else empty.astype(np.int64),
            cat_words=self.cat_words if has_cats else empty.astype(np.int32),
            cat_bits=self.cat_bits if has_cats and self.cat_bits.size else empty.astype(np.uint32),
            n_features=self.n_features,
            strict_less=self.decision == "<",
            float32_input=self.float32_input,
            categorical_truncation=self.categorical_truncation,
        )

    # -- shape -------------------------------------------------------------------------------
    @property
    def n_trees(self) -> int:
        return int(self.tree_output.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.left.shape[0])

    @property
    def n_outputs(self) -> int:
        return int(self.base_value.shape[0])

    @property
    def depth(self) -> int:
        """Largest number of splits on any root-to-leaf path."""
        depth = np.zeros(self.n_nodes, dtype=np.int64)
        internal = np.flatnonzero(self.left >= 0)  # parents precede children
        for node in internal:
            depth[self.left[node]] = depth[self.right[node]] = depth[node] + 1
        return int(depth.max())

    # -- computation -------------------------------------------------------------------------
    def predict(self, X: Any, n_jobs: int | None = None) -> np.ndarray:
        """Raw model output: shape ``(n,)`` for one output, ``(n, n_outputs)`` otherwise.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            numpy, pandas or polars; NaN follows each node's missing-value rule.
        n_jobs : int, optional
            Threads (None: 1, -1: all cores). The result does not depend on it.
        """
        rows = check_rows(X, self.n_features, allow_empty=True)
        out = _core.predict_raw(self._handle, rows, check_n_jobs(n_jobs))
        return out[:, 0] if self.n_outputs == 1 else out

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | PathLike) -> None:
        """Write the forest to a ``.npz`` file (no pickle inside)."""
        arrays, meta = self._contents()
        np.savez(path, __meta__=np.array(json.dumps(meta)), **arrays)

    def digest(self) -> str:
        """SHA-256 of everything :meth:`save` writes: equal digests, equal models and explanations."""
        arrays, meta = self._contents()
        digest = hashlib.sha256(json.dumps(meta, sort_keys=True).encode())
        for name in sorted(arrays):
            digest.update(name.encode())
            digest.update(np.ascontiguousarray(arrays[name]).tobytes())
        return digest.hexdigest()

    def _contents(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """(arrays, metadata) that define the forest: what a file holds and the digest covers."""
        arrays = {n: getattr(self, n) for n in (*_ARRAYS, *_OPTIONAL_ARRAYS) if getattr(self, n) is not None}
        meta = {
            "n_features": self.n_features,
            "decision": self.decision,
            "link": self.link,
            "float32_input": self.float32_input,
            "categorical_truncation": self.categorical_truncation,
            "float32_output": self.float32_output,
            "divisor": self.divisor,
            "class_rule": self.class_rule,
            "feature_names": self.feature_names,
            "source": self.source,
            "format": 2,
        }
        return arrays, meta

    @classmethod
    def load(cls, path: str | PathLike) -> Forest:
        """Read a forest written by :meth:`save`."""
        try:
            # Opened here so that the file is closed whatever np.load fails on (it leaks its own
            # handle when the zip directory is corrupt).
            with open(path, "rb") as file, np.load(file, allow_pickle=False) as data:
                meta = json.loads(str(data["__meta__"]))
                arrays = {n: data[n] for n in data.files if n != "__meta__"}
            if not isinstance(meta, dict):
                raise ValueError("its metadata is not a JSON object")
            meta.pop("format", None)
            return cls(**arrays, **meta)
        except (OSError, ValueError, TypeError, KeyError, EOFError, NotImplementedError, zipfile.BadZipFile) as exc:
            # TypeError: a field the Forest does not have, or a value of the wrong kind;
            # NotImplementedError: a zip feature Python does not read
            raise ValueError(f"{path!s} is not a Forest file written by Forest.save: {exc}") from exc

    def __getstate__(self) -> dict:
        state = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "_handle"}
        return state

    def __setstate__(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v)
        self._handle = self._make_handle()

    @property
    def handle(self) -> Any:
        """The validated C++ view (for the explainers)."""
        return self._handle


def concatenate_trees(
    trees: Sequence[dict],
    *,
    base_value: Sequence[float] | np.ndarray,
    n_features: int,
    **forest_kwargs: Any,
) -> Forest:
    """Build a Forest from per-tree arrays with tree-local node indices.

    Each tree is a dict with ``left``, ``right`` (local indices, -1 at leaves; every child after its
    parent, root first), ``feature``, ``threshold``, ``default_left``, ``value`` (``(n_nodes,)`` or
    ``(n_nodes, width)``), ``cover``, and optionally ``output`` (the first output the tree adds to,
    default 0), ``missing_rule``, ``gain`` and ``categories`` (a dict node -> iterable of
    non-negative category codes that go left).
    """
    if len(trees) == 0:
        raise ValueError("a Forest needs at least one tree")
    sizes = np.array([len(t["left"]) for t in trees], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)])

    def stacked(key: str, dtype: type, default: float | None = None) -> np.ndarray:
        columns = []
        for tree in trees:
            n = len(tree["left"])
            arr = np.asarray(tree[key], dtype=dtype) if key in tree else np.full(n, default, dtype=dtype)
            columns.append(arr.reshape(n, -1) if key == "value" else arr.reshape(n))
        return np.concatenate(columns)

    def child(key: str) -> np.ndarray:
        return np.concatenate([
            np.where(np.asarray(t[key]) < 0, -1, np.asarray(t[key], dtype=np.int64) + off)
            for t, off in zip(trees, offsets[:-1], strict=True)
        ])

    kwargs = dict(forest_kwargs)
    if any("missing_rule" in t for t in trees):
        kwargs["missing_rule"] = stacked("missing_rule", np.uint8, NAN_DEFAULT)
    if any("gain" in t for t in trees):
        kwargs["gain"] = stacked("gain", np.float64, 0.0)
    if any(t.get("categories") for t in trees):
        kwargs.update(category_bitsets(
            ((base + node, cats) for tree, base in zip(trees, offsets[:-1], strict=True)
             for node, cats in (tree.get("categories") or {}).items()),
            int(offsets[-1]),
        ))
    left = child("left")
    return Forest(
        left=left,
        right=child("right"),
        feature=np.where(left < 0, -1, stacked("feature", np.int64)),
        threshold=np.where(left < 0, 0.0, stacked("threshold", np.float64)),
        default_left=stacked("default_left", np.uint8),
        value=stacked("value", np.float64),
        cover=stacked("cover", np.float64),
        tree_offset=offsets,
        tree_output=np.array([int(t.get("output", 0)) for t in trees], dtype=np.int32),
        base_value=np.asarray(base_value, dtype=np.float64).reshape(-1),
        n_features=n_features,
        **kwargs,
    )


def category_bitsets(categories: Iterable[tuple[int, Iterable[int]]], n_nodes: int) -> dict[str, np.ndarray]:
    """The cat_offset / cat_words / cat_bits arrays for (global node, category codes that go left) pairs.

    The words of the nodes are stored in the order of the pairs.
    """
    cat_offset = np.full(n_nodes, -1, dtype=np.int64)
    cat_words = np.zeros(n_nodes, dtype=np.int32)
    words: list[np.ndarray] = []
    n_words_total = 0
    for node, cats in categories:
        codes = np.asarray(list(cats), dtype=np.int64)
        if codes.size and codes.min() < 0:
            raise ValueError("category codes must be non-negative")
        n_words = int(codes.max()) // 32 + 1 if codes.size else 1
        bits = np.zeros(n_words, dtype=np.uint32)
        np.bitwise_or.at(bits, codes // 32, np.left_shift(np.uint32(1), (codes % 32).astype(np.uint32)))
        cat_offset[node] = n_words_total
        cat_words[node] = n_words
        words.append(bits)
        n_words_total += n_words
    return {
        "cat_offset": cat_offset,
        "cat_words": cat_words,
        "cat_bits": np.concatenate(words) if words else np.zeros(0, dtype=np.uint32),
    }
