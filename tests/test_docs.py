"""The documentation runs: every Python block of the README and every docstring example."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import xplain_fast

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", README.read_text(), flags=re.MULTILINE | re.DOTALL)


def test_readme_has_python_blocks():
    assert len(readme_blocks()) >= 5


@pytest.mark.parametrize("index", range(len(readme_blocks())))
def test_readme_block_runs_on_its_own(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # blocks may write files (exp.save("shap.npz"))
    code = compile(readme_blocks()[index], f"README.md python block {index + 1}", "exec")
    exec(code, {"__name__": f"readme_block_{index + 1}"})


def public_modules() -> list[str]:
    names = [xplain_fast.__name__]
    for info in pkgutil.walk_packages(xplain_fast.__path__, prefix="xplain_fast."):
        if info.name.rsplit(".", 1)[-1] != "__main__":  # running it would start the command line
            names.append(info.name)
    return sorted(names)


def test_docstring_examples_exist():
    examples = sum(len(test.examples) for name in public_modules()
                   for test in doctest.DocTestFinder().find(importlib.import_module(name)))
    assert examples >= 30


@pytest.mark.parametrize("name", public_modules())
def test_docstring_examples_run(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in doctest.DocTestFinder().find(module):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} docstring example(s) of {name} failed (see the output above)"
