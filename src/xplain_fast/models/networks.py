"""Differentiable scikit-learn models -> the layers of a dense network (for gradient saliency).

MLPs, and linear models as networks without hidden layers, optionally behind StandardScaler /
MinMaxScaler steps of a Pipeline (an affine map folded into the first layer). Like the tree
loaders, this is the one place that knows these classes; the saliency code reads a
:class:`Network` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Network:
    """``z_{l+1} = act(z_l @ W_l + b_l)``; the last layer has no activation and gives the raw scores.

    ``link`` turns the raw scores into the explained value: "identity", "logistic", "softmax",
    "ovr" (one-vs-rest logistic scores normalised to sum to 1) or "exp". The model reads
    ``x * input_scale + input_shift`` (its scaler steps) where these are not None.
    """

    weights: list[np.ndarray]
    biases: list[np.ndarray]
    activation: str
    link: str
    is_classifier: bool
    classes: np.ndarray | None
    n_targets: int
    input_scale: np.ndarray | None = None
    input_shift: np.ndarray | None = None


def to_network(model: Any, output: str) -> Network | None:
    """The model as a Network explaining ``output`` ("raw" or "probability"), or None where it is not one."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import MinMaxScaler, StandardScaler

    if not isinstance(model, Pipeline):
        return _network_of_estimator(model, output)
    *transforms, (_, final) = model.steps
    network = _network_of_estimator(final, output)
    if network is None:
        return None
    n_features = network.weights[0].shape[0]
    # Compose the scalers into one per-feature affine map x -> x * scale + shift.
    scale, shift = np.ones(n_features), np.zeros(n_features)
    for _, step in transforms:
        if step is None or step == "passthrough":
            continue
        if isinstance(step, StandardScaler):
            # mean_ is learned even with with_mean=False; only the flags say what transform does
            a = 1.0 / step.scale_ if step.with_std else np.ones(n_features)
            c = -step.mean_ * a if step.with_mean else np.zeros(n_features)
        elif isinstance(step, MinMaxScaler) and not step.clip:
            a, c = step.scale_, step.min_
        else:  # clipping or any other transform: not affine
            return None
        scale, shift = scale * a, shift * a + c
    network.input_scale, network.input_shift = scale, shift
    return network


def _network_of_estimator(model: Any, output: str) -> Network | None:
    from sklearn import linear_model, svm
    from sklearn.base import is_classifier
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    if isinstance(model, MLPClassifier | MLPRegressor):
        return _mlp_network(model, output)
    # Models whose raw output is exactly X @ coef_.T + intercept_.
    linear_types = (
        linear_model.LinearRegression, linear_model.Ridge, linear_model.RidgeCV,
        linear_model.Lasso, linear_model.LassoCV, linear_model.ElasticNet,
        linear_model.ElasticNetCV, linear_model.SGDRegressor, linear_model.HuberRegressor,
        linear_model.BayesianRidge, linear_model.LogisticRegression,
        linear_model.LogisticRegressionCV, linear_model.SGDClassifier,
        linear_model.RidgeClassifier, linear_model.RidgeClassifierCV, svm.LinearSVC, svm.LinearSVR,
    )  # fmt: skip
    if not isinstance(model, linear_types):
        return None
    coef = model.coef_
    coef = np.atleast_2d(coef.toarray() if hasattr(coef, "toarray") else np.asarray(coef, dtype=np.float64))
    n_scores = coef.shape[0]
    intercept = np.broadcast_to(np.asarray(model.intercept_, dtype=np.float64), (n_scores,))
    classifier = is_classifier(model)
    classes = np.asarray(model.classes_) if classifier else None
    link = "identity"
    if output == "probability":
        if isinstance(model, linear_model.LogisticRegression | linear_model.LogisticRegressionCV):
            link = "logistic" if n_scores == 1 else "softmax"
        elif isinstance(model, linear_model.SGDClassifier) and model.loss == "log_loss":
            link = "logistic" if n_scores == 1 else "ovr"
        else:  # modified_huber's clipped probabilities, or none: left to the model's predict_proba
            return None
    return Network([coef.T], [intercept], "identity", link, classifier, classes,
                   len(classes) if classifier else n_scores)


def _mlp_network(model: Any, output: str) -> Network | None:
    from sklearn.neural_network import MLPClassifier

    classifier = isinstance(model, MLPClassifier)
    classes = np.asarray(model.classes_) if classifier else None
    if not classifier:
        n_targets = model.n_outputs_
    elif model.n_outputs_ == 1:  # binary: one logistic unit scores class 1
        n_targets = 2
    else:  # multiclass (softmax) or multilabel (one logistic unit per label)
        n_targets = model.n_outputs_
    # A regressor's explained output is its prediction (for loss="poisson": exp of the last layer);
    # a classifier's is its score unless probabilities are asked for.
    explain_link = output == "probability" or not classifier
    return Network(list(model.coefs_), list(model.intercepts_), model.activation,
                   model.out_activation_ if explain_link else "identity", classifier, classes, n_targets)
