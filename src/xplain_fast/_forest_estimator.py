"""A Forest as a fitted scikit-learn estimator, for scoring model files that carry no estimator object."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from .forest import Forest


def forest_estimator(forest: Forest, n_jobs: int | None) -> BaseEstimator:
    """A fitted scikit-learn estimator that predicts with ``forest`` (classes are 0..K-1).

    Model files carry no estimator object; permutation importance scores predictions, so the
    Forest's raw output is turned into what scikit-learn's scorers expect: values for regressors,
    probabilities through the model's link for classifiers.
    """
    probabilities = forest.link == "identity" and forest.n_outputs >= 2  # e.g. a random-forest classifier
    if forest.class_rule is not None and (forest.link in ("logistic", "softmax") or probabilities):
        return _ForestClassifier(forest, n_jobs)
    if forest.link in ("identity", "exp") and forest.n_outputs == 1:
        return _ForestRegressor(forest, n_jobs)
    raise ValueError(f"permutation importance of a model file with link {forest.link!r} and "
                     f"{forest.n_outputs} outputs is not supported; pass the pickled estimator instead")


class _ForestModel(BaseEstimator):
    def __init__(self, forest: Forest, n_jobs: int | None = None) -> None:
        self.forest = forest
        self.n_jobs = n_jobs
        self.n_features_in_ = forest.n_features

    def fit(self, X: Any, y: Any = None) -> _ForestModel:  # already fitted: the file is the model
        return self

    def _raw(self, X: Any) -> np.ndarray:
        return self.forest.predict(X, n_jobs=self.n_jobs)


class _ForestRegressor(RegressorMixin, _ForestModel):
    def predict(self, X: Any) -> np.ndarray:
        raw = self._raw(X)
        return np.exp(raw) if self.forest.link == "exp" else raw


class _ForestClassifier(ClassifierMixin, _ForestModel):
    @property
    def classes_(self) -> np.ndarray:
        return np.arange(max(2, self.forest.n_outputs))

    def predict_proba(self, X: Any) -> np.ndarray:
        raw = self._raw(X)
        if self.forest.link == "identity":  # the outputs are the class probabilities
            return raw
        if self.forest.link == "logistic":
            p = 1.0 / (1.0 + np.exp(-raw))
            return np.column_stack([1.0 - p, p])
        shifted = np.exp(raw - raw.max(axis=1, keepdims=True))
        return shifted / shifted.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        rule = self.forest.class_rule
        if self.forest.n_outputs == 1 and rule in ("raw_positive", "raw_non_negative"):
            raw = self._raw(X)  # the library thresholds the raw score, not the probability
            return self.classes_[(raw > 0 if rule == "raw_positive" else raw >= 0).astype(int)]
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]
