"""A decoder for UBJSON (https://ubjson.org), the binary JSON that XGBoost serialises models to.

Objects become dicts, strings str, and arrays lists, except strongly typed numeric arrays
(``[$<type>#<count>``), which XGBoost uses for every per-node array: they become NumPy arrays in
native byte order, read in one call. Reading XGBoost's ``save_raw("ubj")`` this way takes a few
milliseconds where ``json.loads`` of ``save_raw("json")`` takes tens (and the float32 values arrive
exactly, not as decimal text).
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

# Markers as byte values; numbers are big-endian.
_FORMATS = {b"i": ">b", b"U": ">B", b"I": ">h", b"l": ">i", b"L": ">q", b"d": ">f", b"D": ">d"}
_STRUCT = {marker[0]: struct.Struct(fmt) for marker, fmt in _FORMATS.items()}
_NUMERIC = {marker[0]: np.dtype(fmt) for marker, fmt in _FORMATS.items()}
_CONSTANTS = {ord("Z"): None, ord("T"): True, ord("F"): False}
_NOOP, _STRING, _CHAR, _HIGH_PRECISION = ord("N"), ord("S"), ord("C"), ord("H")
_ARRAY, _ARRAY_END, _OBJECT, _OBJECT_END = ord("["), ord("]"), ord("{"), ord("}")
_TYPE, _COUNT = ord("$"), ord("#")


class _Decoder:
    """Recursive descent over an immutable buffer; each method returns (value, next offset)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def count(self, pos: int) -> tuple[int, int]:
        """A length: an integer with its own marker."""
        layout = _STRUCT.get(self.data[pos])
        if layout is None:
            raise ValueError(f"expected a length, found marker {chr(self.data[pos])!r} at offset {pos}")
        n = layout.unpack_from(self.data, pos + 1)[0]
        if not isinstance(n, int) or n < 0:
            raise ValueError(f"invalid length {n!r} at offset {pos}")
        return n, pos + 1 + layout.size

    def string(self, pos: int) -> tuple[str, int]:
        n, pos = self.count(pos)
        end = pos + n
        if end > len(self.data):
            raise ValueError(f"a string of {n} bytes at offset {pos} runs past the end")
        return str(self.data[pos:end], "utf-8"), end

    def value(self, pos: int) -> tuple[Any, int]:
        data = self.data
        marker = data[pos]
        while marker == _NOOP:
            pos += 1
            marker = data[pos]
        return self.typed_value(marker, pos + 1)

    def typed_value(self, marker: int, pos: int) -> tuple[Any, int]:
        """The value after ``marker``, which starts at ``pos``."""
        layout = _STRUCT.get(marker)
        if layout is not None:
            return layout.unpack_from(self.data, pos)[0], pos + layout.size
        if marker == _STRING:
            return self.string(pos)
        if marker == _OBJECT:
            return self.object(pos)
        if marker == _ARRAY:
            return self.array(pos)
        if marker in _CONSTANTS:
            return _CONSTANTS[marker], pos
        if marker == _CHAR:
            return chr(self.data[pos]), pos + 1
        if marker == _HIGH_PRECISION:
            text, pos = self.string(pos)
            return (float(text) if any(c in text for c in ".eE") else int(text)), pos
        raise ValueError(f"unknown marker {chr(marker)!r} at offset {pos - 1}")

    def header(self, pos: int) -> tuple[int | None, int | None, int]:
        """The optional ``$type`` and ``#count`` after '[' or '{'."""
        data = self.data
        element_type = None
        if data[pos] == _TYPE:
            element_type = data[pos + 1]
            pos += 2
            if data[pos] != _COUNT:
                raise ValueError(f"a typed container needs a count, at offset {pos}")
        if data[pos] == _COUNT:
            n, pos = self.count(pos + 1)
            return element_type, n, pos
        return None, None, pos

    def array(self, pos: int) -> tuple[list | np.ndarray, int]:
        element_type, n, pos = self.header(pos)
        if n is None:
            items = []
            while True:
                while self.data[pos] == _NOOP:
                    pos += 1
                if self.data[pos] == _ARRAY_END:
                    return items, pos + 1
                item, pos = self.value(pos)
                items.append(item)
        dtype = _NUMERIC.get(element_type)
        if dtype is not None:
            # count= makes NumPy refuse a buffer that ends early
            values = np.frombuffer(self.data, dtype=dtype, count=n, offset=pos)
            return values.astype(dtype.newbyteorder("=")), pos + n * dtype.itemsize
        items = []
        for _ in range(n):
            item, pos = self.value(pos) if element_type is None else self.typed_value(element_type, pos)
            items.append(item)
        return items, pos

    def object(self, pos: int) -> tuple[dict, int]:
        element_type, n, pos = self.header(pos)
        result = {}
        if n is None:
            while True:
                while self.data[pos] == _NOOP:
                    pos += 1
                if self.data[pos] == _OBJECT_END:
                    return result, pos + 1
                key, pos = self.string(pos)  # keys carry no 'S' marker
                result[key], pos = self.value(pos)
        for _ in range(n):
            key, pos = self.string(pos)
            result[key], pos = self.value(pos) if element_type is None else self.typed_value(element_type, pos)
        return result, pos


def loads(data: bytes | bytearray | memoryview) -> Any:
    """Decode one UBJSON value; ValueError if the bytes are not exactly one valid value.

    Examples
    --------
    >>> loads(b"{i\\x01a[$l#i\\x02\\x00\\x00\\x00\\x01\\x00\\x00\\x00\\x02}")
    {'a': array([1, 2], dtype=int32)}
    """
    data = bytes(data)
    try:
        result, end = _Decoder(data).value(0)
    except (IndexError, struct.error) as exc:
        raise ValueError(f"UBJSON ends early ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"UBJSON holds a string that is not UTF-8 ({exc})") from exc
    if end != len(data):
        raise ValueError(f"UBJSON: {len(data) - end} bytes left after the value")
    return result
