"""A Forest saved with :meth:`xplain_fast.Forest.save`."""

from __future__ import annotations

import os

from ..forest import Forest


def to_forest(path: str | os.PathLike) -> Forest:
    return Forest.load(path)
