"""C++ users of the installed package: the headers and CMake config that the wheel carries, found
through ``python -m xplain_fast --cmakedir`` (as pybind11's), and the same program built from the
source tree with ``add_subdirectory``. The C++ and C tests themselves run under CTest (.ci/run)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import xplain_fast as xf

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cpp"
needs_cmake = pytest.mark.skipif(shutil.which("cmake") is None or shutil.which("c++") is None,
                                 reason="needs cmake and a C++17 compiler")


def _printed(flag: str) -> Path:
    done = subprocess.run([sys.executable, "-m", "xplain_fast", flag], capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


def test_installed_headers_and_cmake_config_are_found():
    cmake_dir, include_dir = _printed("--cmakedir"), _printed("--includedir")
    assert cmake_dir == Path(xf.get_cmake_dir()) and include_dir == Path(xf.get_include())
    assert {"xplainConfig.cmake", "xplainConfigVersion.cmake", "xplainTargets.cmake"} <= {
        p.name for p in cmake_dir.iterdir()}
    shipped = {p.relative_to(include_dir).as_posix() for p in include_dir.rglob("*.hpp")}
    in_source = {p.relative_to(ROOT / "cpp" / "include").as_posix() for p in (ROOT / "cpp" / "include").rglob("*.hpp")}
    assert shipped == in_source
    # One version everywhere: the header, the compiled module, the package metadata, the CMake config.
    header = (include_dir / "xplain" / "version.hpp").read_text()
    parts = [re.search(rf"#define XPLAIN_VERSION_{part} (\d+)", header).group(1)
             for part in ("MAJOR", "MINOR", "PATCH")]
    assert ".".join(parts) == xf.__version__
    assert f'set(PACKAGE_VERSION "{xf.__version__}")' in (cmake_dir / "xplainConfigVersion.cmake").read_text()


def _build_and_run(tmp_path: Path, *cmake_args: str) -> str:
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(EXAMPLE), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release", *cmake_args],
                   check=True, capture_output=True, text=True)
    subprocess.run(["cmake", "--build", str(build)], check=True, capture_output=True, text=True)
    done = subprocess.run([str(build / "explain_forest")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@needs_cmake
def test_cpp_program_finds_the_installed_package(tmp_path):
    out = _build_and_run(tmp_path, f"-Dxplain_DIR={xf.get_cmake_dir()}")
    assert f"xplain {xf.__version__}" in out and "additivity holds" in out


@needs_cmake
def test_cpp_program_builds_from_the_source_tree(tmp_path):
    out = _build_and_run(tmp_path, f"-DXPLAIN_SOURCE_DIR={ROOT}")
    assert "additivity holds" in out


@needs_cmake
def test_an_incompatible_version_is_refused(tmp_path):
    project = tmp_path / "wants_v9"
    project.mkdir()
    (project / "CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.18)\nproject(p LANGUAGES CXX)\n"
                                            "find_package(xplain 9.0 CONFIG REQUIRED)\n")
    done = subprocess.run(["cmake", "-S", str(project), "-B", str(tmp_path / "b"),
                           f"-Dxplain_DIR={xf.get_cmake_dir()}"], capture_output=True, text=True)
    assert done.returncode != 0 and "version" in done.stderr.lower()
