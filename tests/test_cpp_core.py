"""Builds and runs the C++-only test of the header-only core (cpp/tests/test_core.cpp)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(shutil.which("c++") is None, reason="needs a C++17 compiler")
def test_core_is_usable_from_cpp_without_python(tmp_path):
    source = ROOT / "cpp" / "tests" / "test_core.cpp"
    if not source.exists():
        pytest.skip("C++ sources are not part of this installation")
    binary = tmp_path / "test_core"
    subprocess.run(["c++", "-std=c++17", "-O1", "-Wall", "-Wextra", "-Werror", "-I", str(ROOT / "cpp" / "include"),
                    str(source), "-o", str(binary), "-pthread"], check=True, capture_output=True)
    result = subprocess.run([str(binary)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
