"""Where the installed package keeps the C++ headers and the CMake package config, for C++ users."""

from __future__ import annotations

from pathlib import Path

from . import _core


def _installed(*parts: str) -> str:
    # CMake installs these beside the compiled module (also in an editable install, where the
    # Python sources stay in the source tree).
    path = Path(_core.__file__).resolve().parent.joinpath(*parts)
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: this installation of xplain-fast has no C++ headers "
                                "(reinstall it from a wheel or with `pip install .`)")
    return str(path)


def get_include() -> str:
    """The directory holding the header-only C++ core (``#include "xplain/treeshap.hpp"``).

    Examples
    --------
    >>> import xplain_fast
    >>> (Path(xplain_fast.get_include()) / "xplain" / "treeshap.hpp").is_file()
    True
    """
    return _installed("include")


def get_cmake_dir() -> str:
    """The directory of the CMake package config: ``cmake -Dxplain_DIR=...`` then ``find_package(xplain CONFIG)``.

    The same as ``python -m xplain_fast --cmakedir``.

    Examples
    --------
    >>> import xplain_fast
    >>> (Path(xplain_fast.get_cmake_dir()) / "xplainConfig.cmake").is_file()
    True
    """
    return _installed("share", "cmake", "xplain")
