"""Every estimator-like class follows scikit-learn's conventions (parameters, not-fitted errors)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.ensemble import RandomForestRegressor
from sklearn.exceptions import NotFittedError
from sklearn.neural_network import MLPRegressor

import xplain_fast as xf


@pytest.fixture(scope="module")
def data():
    X = np.random.default_rng(0).normal(size=(60, 3))
    y = X[:, 0] - X[:, 1]
    return X, y, RandomForestRegressor(n_estimators=3, random_state=0).fit(X, y)


def _instances(data):
    X, y, forest = data
    mlp = MLPRegressor(hidden_layer_sizes=(4,), max_iter=2000, random_state=0).fit(X, y)
    return {
        "TreeExplainer": (xf.TreeExplainer(forest, n_jobs=2), lambda e: e.shap_values(X)),
        "GradientSaliency": (xf.GradientSaliency(mlp, n_steps=8), lambda e: e.attribute(X)),
        "PermutationImportance": (xf.PermutationImportance(forest, n_repeats=2), None),
        "GlobalSurrogate": (xf.GlobalSurrogate(forest, max_depth=2), lambda e: e.explain(X)),
    }


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_estimators_follow_scikit_learn_conventions(data):
    for name, (estimator, use) in _instances(data).items():
        assert isinstance(estimator, BaseEstimator), name
        params = estimator.get_params(deep=False)
        assert all(getattr(estimator, key) is value for key, value in params.items()), name
        assert type(estimator)(**params).get_params(deep=False) == params
        if "n_jobs" in params:
            assert estimator.set_params(n_jobs=1) is estimator and estimator.n_jobs == 1
        assert repr(estimator).startswith(name + "(")
        if use is not None:
            with pytest.raises(NotFittedError, match=f"this {name} is not fitted yet; call fit"):
                use(estimator)


def test_not_fitted_is_also_a_value_error(data):
    # NotFittedError derives from ValueError: code that caught the old ValueError still works
    with pytest.raises(ValueError, match="not fitted"):
        xf.TreeExplainer(data[2]).explain(data[0])


def test_core_stub_names_what_the_module_defines():
    """src/xplain_fast/_core.pyi (for type checkers) lists every name of the compiled module and no other."""
    import ast
    from pathlib import Path

    import xplain_fast
    from xplain_fast import _core

    stub = ast.parse((Path(xplain_fast.__file__).parent / "_core.pyi").read_text())
    declared = {node.name for node in stub.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    declared |= {node.target.id for node in stub.body if isinstance(node, ast.AnnAssign)}
    defined = {name for name in vars(_core) if not name.startswith("__")} | {"__version__"}
    assert declared - {"__all__"} == defined
    classes = {node.name: node for node in stub.body if isinstance(node, ast.ClassDef)}
    for name, node in classes.items():
        members = {m.name for m in node.body if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")}
        assert members <= set(dir(getattr(_core, name))), name
