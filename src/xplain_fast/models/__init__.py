"""Model loaders: one module per library, each with ``to_forest(model) -> Forest``.

Optional libraries are imported only when a model of theirs is passed in.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ..forest import Forest

# top-level package of the model's class -> our loader module
_LOADER_MODULES = {
    "sklearn": "sklearn",
    "xgboost": "xgboost",
    "lightgbm": "lightgbm",
    "catboost": "catboost",
}

SUPPORTED_MODELS = (
    "scikit-learn trees and tree ensembles (DecisionTree, ExtraTree, RandomForest, ExtraTrees, "
    "GradientBoosting, HistGradientBoosting, IsolationForest), XGBoost (Booster, XGBModel), "
    "LightGBM (Booster, LGBMModel), CatBoost (CatBoost, CatBoostRegressor, CatBoostClassifier), "
    "or an xplain_fast.Forest"
)


def to_forest(model: Any) -> Forest:
    """Convert a fitted tree model to a :class:`~xplain_fast.Forest`.

    Parameters
    ----------
    model : fitted tree model, Forest, or path to a saved model file
        See ``SUPPORTED_MODELS``. A Forest is returned unchanged. Files: XGBoost ``.json``/``.ubj``,
        LightGBM text models, CatBoost ``.cbm``/``.json``, xplain-fast ``.npz``.

    Returns
    -------
    Forest
        Reproduces the model's raw output exactly (margins for boosting classifiers, averaged class
        probabilities for random-forest classifiers, mean path length for IsolationForest).

    Raises
    ------
    TypeError
        For an unsupported model type or configuration.
    ValueError
        For an unfitted model.

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> X = np.random.default_rng(0).normal(size=(100, 4)); y = X[:, 0] + X[:, 1]
    >>> rf = RandomForestRegressor(n_estimators=5, random_state=0).fit(X, y)
    >>> bool(np.allclose(xf.to_forest(rf).predict(X), rf.predict(X)))
    True
    """
    if isinstance(model, Forest):
        return model
    if isinstance(model, str | os.PathLike):
        loader = importlib.import_module(f"{__name__}.{_library_of_file(model)}")
        return loader.to_forest(model)
    package = type(model).__module__.split(".")[0]
    module_name = _LOADER_MODULES.get(package)
    if module_name is None:
        raise TypeError(f"cannot explain a {type(model).__module__}.{type(model).__name__}; "
                        f"supported models: {SUPPORTED_MODELS}")
    if package == "sklearn":
        try:
            check_is_fitted(model)
        except NotFittedError as exc:
            raise ValueError(f"{type(model).__name__} is not fitted yet; call fit before explaining it") from exc
        except TypeError:
            pass  # not an estimator: the loader reports it as unsupported
    loader = importlib.import_module(f"{__name__}.{module_name}")
    return loader.to_forest(model)


def _library_of_file(path: str | os.PathLike) -> str:
    """Which library saved a model file, from its extension or its first bytes."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as fh:
            head = fh.read(4096)
    except OSError as exc:
        raise ValueError(f"cannot read model file {name!r}: {exc}") from exc
    suffix = os.path.splitext(name)[1].lower()
    if suffix == ".npz":
        return "forest_file"
    if suffix == ".cbm":
        return "catboost"
    if suffix == ".ubj":
        return "xgboost"
    text = head.lstrip()
    if text.startswith(b"{"):
        if b'"learner"' in head:
            return "xgboost"
        if b'"oblivious_trees"' in head or b'"features_info"' in head or b'"model_info"' in head:
            return "catboost"
    if text.startswith(b"tree\n") or b"\nversion=" in head or b"num_class=" in head:
        return "lightgbm"
    raise ValueError(f"cannot tell which library saved {name!r}: expected an XGBoost .json/.ubj, a LightGBM "
                     "text model, a CatBoost .cbm/.json or an xplain-fast .npz file")


def model_features(model: Any) -> tuple[list[str] | None, int | None]:
    """(feature names or None, feature count or None) of a Forest or a fitted estimator."""
    if isinstance(model, Forest):
        return model.feature_names, model.n_features
    try:  # a tree model's loader knows whether its names are real or the library's placeholders
        forest = to_forest(model)
        return forest.feature_names, forest.n_features
    except (TypeError, ValueError):
        pass
    names = getattr(model, "feature_names_in_", None)
    count = getattr(model, "n_features_in_", None)
    return (None if names is None else [str(n) for n in names]), (None if count is None else int(count))


def is_tree_model(model: Any) -> bool:
    """Whether the model is (or ends in) a tree or tree ensemble, loadable or not.

    Used to refuse explanations that say nothing about trees (gradients of a piecewise-constant
    function); ensembles of trees that no loader reads (bagging, AdaBoost) count too.
    """
    if isinstance(model, Forest):
        return True
    steps = getattr(model, "steps", None)
    if isinstance(steps, list) and steps:  # a Pipeline: its last step decides
        return is_tree_model(steps[-1][1])
    package = type(model).__module__.split(".")[0]
    if package in _LOADER_MODULES and package != "sklearn":
        return True  # everything those libraries fit is a tree ensemble
    if package == "sklearn" and (hasattr(model, "tree_") or hasattr(model, "_predictors")):
        return True  # a fitted decision tree; _predictors: HistGradientBoosting
    # Ensembles: a list of members, or an array of them (GradientBoosting: one per stage and class).
    members = getattr(model, "estimators_", None)
    if members is None:
        return False
    members = members.ravel() if hasattr(members, "ravel") else members
    return any(is_tree_model(member) for member in members)


def library_version(source: str) -> dict[str, str]:
    """{package: version} of the library a Forest's ``source`` names, where it is installed.

    scikit-learn Forests name their estimator class instead; their library is always installed.
    """
    package = source.lower()
    if package not in _LOADER_MODULES or package == "sklearn":
        return {}
    try:
        return {package: importlib.import_module(package).__version__}
    except ImportError:
        return {}
