"""Forest importance: global feature importance read from a model's trees, one definition for every library."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from .models import to_forest

#: The kinds forest_importance computes (the core's ImportanceKind names).
KINDS = tuple(_core.ImportanceKind.__members__)
_GAIN_KINDS = ("total_gain", "gain", "mdi")


def forest_importance(model: Any, kind: str = "total_gain", *, normalize: bool = False) -> np.ndarray:
    """Global importance of each feature, read from the trees (no data needed).

    Computed by the C++ core in one pass over the nodes of the model's
    :class:`~xplain_fast.Forest`, with one definition whatever library trained the model.

    Parameters
    ----------
    model : fitted tree model, Forest, or model file
        Anything :func:`xplain_fast.to_forest` accepts.
    kind : str, default="total_gain"
        - ``"split_count"``: number of splits on the feature (XGBoost ``weight``, LightGBM ``split``).
        - ``"total_gain"``: sum of the splits' gains (XGBoost ``total_gain``, LightGBM ``gain``).
        - ``"gain"``: total gain / split count (XGBoost ``gain``).
        - ``"total_cover"``, ``"cover"``: the same for the splits' covers (training weight or
          hessian sum reaching the node; XGBoost ``total_cover`` / ``cover``).
        - ``"mdi"``: mean decrease in impurity, scikit-learn's ``feature_importances_``: each tree's
          gains per feature divided by its root's cover; in an averaged ensemble (random forests)
          each tree is normalised and the trees averaged, in an additive one (boosting) the trees
          add up. Sums to 1.
        - ``"prediction_change"``: CatBoost's ``PredictionValuesChange`` (unnormalised; CatBoost
          reports percentages): each split adds ``sum of cover * (side value - pooled mean)**2``
          over its two sides and the outputs; in a symmetric (oblivious) tree the sides are the
          pairs of leaves that differ only in that level's answer, elsewhere the split's two subtrees.

        The gain kinds use the per-node gain the library recorded: the weighted impurity decrease
        for scikit-learn, the loss change for XGBoost, the split gain for LightGBM. CatBoost
        records none.
    normalize : bool, default=False
        Divide by the sum, so that the importances sum to 1 (left as is when they are all 0).

    Returns
    -------
    ndarray of shape (n_features,)
        float64, in the model's feature order (names: ``to_forest(model).feature_names``); 0 for a
        feature no split uses.

    Raises
    ------
    ValueError
        For an unknown kind, or a gain kind on a model without per-node gains.

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> from sklearn.ensemble import RandomForestRegressor
    >>> X = np.random.default_rng(0).normal(size=(200, 3)); y = X[:, 0] + 0.1 * X[:, 1]
    >>> rf = RandomForestRegressor(n_estimators=10, random_state=0).fit(X, y)
    >>> bool(np.allclose(xf.forest_importance(rf, "mdi"), rf.feature_importances_, atol=1e-12))
    True
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    forest = to_forest(model)
    if kind in _GAIN_KINDS and forest.gain is None:
        available = ", ".join(k for k in KINDS if k not in _GAIN_KINDS)
        raise ValueError(
            f"importance {kind!r} needs per-node split gains, which this model "
            f"({forest.source or 'Forest'}) does not record; use one of: {available}"
        )
    gain = forest.gain if forest.gain is not None else np.empty(0)
    # An averaged ensemble (its leaf values are summed then divided): each tree counts equally.
    averaged_trees = forest.summed_value is not None
    importance = _core.forest_importance(forest.handle, gain, _core.ImportanceKind.__members__[kind], averaged_trees)
    if normalize:
        total = importance.sum()
        if total > 0:
            importance /= total
    return importance
