"""Fuzz targets of the parsers and validators at the boundary: each takes arbitrary bytes and must
either succeed or raise ValueError / TypeError; anything else (another exception, a crash, a
sanitizer report) is a bug. What a target accepts is then explained, so that a forest that passes
validation is also shown to be safe to walk.

Run by tests/test_fuzz.py (hypothesis, mutating the seeds in tests/fuzz_corpus/<target>/) and by
.ci/sanitize under AddressSanitizer (a fixed budget of seeded mutations).
"""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

import xplain_fast as xf
from xplain_fast import _core
from xplain_fast.models import lightgbm as lightgbm_loader
from xplain_fast.models import xgboost as xgboost_loader

CORPUS = Path(__file__).resolve().parent / "fuzz_corpus"
ACCEPTED = (ValueError, TypeError)
_ROWS = np.array([[0.0, 1.0, -2.0, 0.5], [np.nan, 3.0, 0.25, -1.0], [1e300, -np.inf, np.inf, 2.0]])


def _explain(forest: xf.Forest) -> None:
    """A forest that passed validation is walked by every engine without trouble."""
    rows = np.resize(_ROWS, (3, forest.n_features)) if forest.n_features else np.zeros((3, 0))
    forest.predict(rows)
    explainer = xf.TreeExplainer(forest).fit()
    explainer.shap_values(rows, check_additivity=False)
    if forest.n_features <= 8:
        explainer.shap_interaction_values(rows)
    xf.TreeExplainer(forest, feature_perturbation="interventional").fit(rows[:2]).shap_values(
        rows, check_additivity=False)


def forest_file(data: bytes) -> None:
    """``Forest.load`` of a ``.npz`` file."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "forest.npz")
        with open(path, "wb") as f:
            f.write(data)
        forest = xf.Forest.load(path)
    _explain(forest)


def ubjson(data: bytes) -> None:
    """The UBJSON decoder, then the XGBoost model layout read from what it decoded."""
    doc = _core.ubjson_loads(data)
    if isinstance(doc, dict):
        try:
            forest = xgboost_loader._from_document(doc, None, np.nan, None)
        except (KeyError, IndexError, AttributeError) as exc:  # xgboost.to_forest turns these into a ValueError
            raise ValueError(str(exc)) from exc
        _explain(forest)


def lightgbm_text(data: bytes) -> None:
    """The check that stands before LightGBM's own loader, then our reading of the checked text."""
    lightgbm_loader._check_model_text(data)
    header, _, _ = lightgbm_loader._read_model_text(data.decode())
    _explain(lightgbm_loader._forest_from_text(data.decode(), int(header["max_feature_idx"]) + 1, []))


_FOREST_FIELDS = ("left", "right", "feature", "threshold", "default_left", "missing_rule", "value", "cover",
                  "tree_offset", "tree_output", "base_value", "cat_offset", "cat_words", "cat_bits")


def forest_arrays(data: bytes) -> None:
    """The core's Forest validation, given the arrays of a valid forest with entries overwritten:
    each 10 bytes of ``data`` pick an array, an entry and a new value."""
    seed = xf.Forest.load(CORPUS / "forest_file" / "forest.npz")
    arrays = {name: np.array(getattr(seed, name)) for name in _FOREST_FIELDS if getattr(seed, name) is not None}
    names = sorted(arrays)
    for k in range(0, len(data) - 9, 10):
        array = arrays[names[data[k] % len(names)]]
        if array.size:
            flat = array.reshape(-1)
            position = int.from_bytes(data[k + 1:k + 3], "little") % flat.size
            value = np.int64(int.from_bytes(data[k + 3:k + 10], "little", signed=True) >> (data[k + 3] % 56))
            flat[position] = value.astype(array.dtype) if array.dtype.kind in "iu" else value / 7.0  # ints wrap
    empty = {"cat_offset": np.empty(0, np.int64), "cat_words": np.empty(0, np.int32),
             "cat_bits": np.empty(0, np.uint32), "missing_rule": np.empty(0, np.uint8)}
    handle = _core.ForestHandle(**{**empty, **arrays}, n_features=seed.n_features, strict_less=data[:1] == b"<",
                                float32_input=False, categorical_truncation=False)
    rows = np.resize(_ROWS, (3, seed.n_features))
    _core.predict_raw(handle, rows)
    tables = _core.build_path_shap_tables(handle)
    _core.path_shap_values(handle, tables, rows)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "forest_file": forest_file,
    "ubjson": ubjson,
    "lightgbm_text": lightgbm_text,
    "forest_arrays": forest_arrays,
}


def seeds(target: str) -> list[bytes]:
    """The corpus of a target: the files in tests/fuzz_corpus/<target>/."""
    return [p.read_bytes() for p in sorted((CORPUS / target).iterdir())]


def mutate(data: bytes, rng: random.Random) -> bytes:
    """A few byte flips, insertions, deletions, truncations or splices of `data`."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.random()
        if choice < 0.4 and out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif choice < 0.6:
            noise = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
            out[rng.randint(0, len(out)):rng.randint(0, len(out))] = noise
        elif choice < 0.75 and out:
            start = rng.randrange(len(out))
            del out[start:start + rng.randint(1, 16)]
        elif choice < 0.85 and out:
            del out[rng.randrange(len(out)):]
        elif out:
            start = rng.randrange(len(out))
            piece = out[start:start + rng.randint(1, 64)]
            at = rng.randint(0, len(out))
            out[at:at] = piece
    return bytes(out)


def run(target: str, data: bytes) -> None:
    """One input through a target; accepted refusals are swallowed, anything else propagates."""
    try:
        TARGETS[target](data)
    except ACCEPTED:
        pass
