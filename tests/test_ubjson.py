"""The UBJSON decoder (_core.ubjson_loads) that reads XGBoost's binary model serialisation.

Oracles: XGBoost's own JSON serialisation of the same model, and values written by hand from the
UBJSON specification (https://ubjson.org).
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from xplain_fast._core import ubjson_loads


def same_document(ours, theirs, path="$"):
    """ours (from UBJSON) holds what theirs (from JSON) holds; typed arrays as NumPy arrays whose
    float32 values are the JSON's decimals rounded to float32."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict) and ours.keys() == theirs.keys(), path
        for key in theirs:
            same_document(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(ours, np.ndarray):
        expected = np.asarray(theirs, dtype=np.float64)
        if ours.dtype == np.float32:
            expected = expected.astype(np.float32)
        assert ours.shape == expected.shape and np.array_equal(ours, expected), path
    elif isinstance(theirs, list):
        assert isinstance(ours, list) and len(ours) == len(theirs), path
        for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            same_document(a, b, f"{path}[{k}]")
    elif isinstance(theirs, float):  # a float32 ('d'), printed in the JSON with float32 digits
        assert isinstance(ours, float) and ours in (theirs, float(np.float32(theirs))), (path, ours, theirs)
    else:
        assert type(ours) is type(theirs) and ours == theirs, (path, ours, theirs)


def xgboost_models():
    xgb = pytest.importorskip("xgboost")
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5))
    X[rng.random(X.shape) < 0.1] = np.nan
    y = np.nan_to_num(X[:, 0]) + rng.normal(size=300)
    frame = pd.DataFrame(X, columns=list("abcde"))
    frame["c"] = pd.Categorical(rng.integers(0, 6, 300))
    common = {"n_estimators": 8, "max_depth": 3, "n_jobs": 1, "random_state": 0}
    return [
        xgb.XGBRegressor(**common).fit(X, y),
        xgb.XGBClassifier(**common).fit(X, np.digitize(y, [-1, 1])),
        xgb.XGBRegressor(booster="dart", rate_drop=0.5, **common).fit(X, y),
        xgb.XGBRegressor(multi_strategy="multi_output_tree", **common).fit(X, np.c_[y, -y]),
        xgb.XGBRegressor(enable_categorical=True, **common).fit(frame, y),
    ]


def test_xgboost_models_decode_as_their_json():
    for model in xgboost_models():
        booster = model.get_booster()
        same_document(ubjson_loads(booster.save_raw("ubj")), json.loads(booster.save_raw("json")))


def test_hand_written_values():
    def length(n):
        return b"i" + struct.pack(">b", n)

    def key(text):
        return length(len(text.encode())) + text.encode()

    doc = (
        b"{"
        + key("ints") + b"[" + b"i\xff" + b"U\xff" + b"I\x80\x00" + b"l\x00\x00\x01\x00"
        + b"L" + struct.pack(">q", -(2**40)) + b"]"
        + key("reals") + b"[#i\x02" + b"d" + struct.pack(">f", 1.5) + b"D" + struct.pack(">d", -0.1)
        + key("misc") + b"[N" + b"T" + b"F" + b"Z" + b"Ca" + b"S" + key("\u00e9t\u00e9") + b"H" + key("1e400") + b"]"
        + key("typed") + b"[$I#i\x03" + struct.pack(">hhh", -1, 2, 300)
        + key("typed_object") + b"{$U#i\x02" + key("x") + b"\x07" + key("y") + b"\x08"
        + key("empty") + b"[$d#i\x00"
        + b"N}"
    )
    value = ubjson_loads(doc)
    assert value["ints"] == [-1, 255, -32768, 256, -(2**40)]
    assert value["reals"] == [1.5, -0.1]
    assert value["misc"] == [True, False, None, "a", "\u00e9t\u00e9", float("inf")]
    assert value["typed"].dtype == np.int16 and value["typed"].tolist() == [-1, 2, 300]
    assert value["typed_object"] == {"x": 7, "y": 8}
    assert value["empty"].dtype == np.float32 and value["empty"].size == 0
    assert ubjson_loads(b"HU\x0512345") == 12345
    assert ubjson_loads(bytearray(b"[]")) == []


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "ends early"),
        (b"{", "ends early"),
        (b"[$l#i\x03\x00\x00\x00\x01", "past the end"),
        (b"S" + b"i\x05abc", "ends early"),
        (b"Si\xfeab", "negative length"),
        (b"SDab", "length must be an integer"),
        (b"Si\x02\xff\xfe", "UTF-8"),
        (b"X", "unknown marker"),
        (b"[$l]", "needs a count"),
        (b"Ti\x01", "left after"),
        (b"[" * 100_000, "nesting deeper"),
    ],
)
def test_bad_bytes_give_value_errors(data, message):
    with pytest.raises(ValueError, match=message):
        ubjson_loads(data)


def test_every_truncation_and_corruption_of_a_model_is_an_error_not_a_crash():
    booster = xgboost_models()[0].get_booster()
    data = bytes(booster.save_raw("ubj"))
    for cut in range(len(data)):
        with pytest.raises(ValueError):
            ubjson_loads(data[:cut])
    rng = np.random.default_rng(0)
    for _ in range(300):
        corrupt = bytearray(data)
        corrupt[rng.integers(len(data))] = rng.integers(256)
        try:
            ubjson_loads(bytes(corrupt))
        except ValueError:
            pass


def test_rejects_what_is_not_bytes():
    with pytest.raises(TypeError):
        ubjson_loads("text")
    with pytest.raises(TypeError):
        ubjson_loads(np.zeros(3, dtype=np.int32))
