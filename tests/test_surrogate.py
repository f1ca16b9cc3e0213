"""GlobalSurrogate: fidelity, rules that partition the rows as the tree does, and its SHAP values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsRegressor
from sklearn.tree import DecisionTreeClassifier

import xplain_fast as xf


class StepFunction(RegressorMixin, BaseEstimator):
    """A black box that a depth-3 tree represents exactly: 4 [x0 >= 2] + 2 [x1 >= 1] + [x2 >= 3]."""

    def fit(self, X, y=None):
        self.n_features_in_ = np.shape(X)[1]
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        return 4.0 * (X[:, 0] >= 2) + 2.0 * (X[:, 1] >= 1) + 1.0 * (X[:, 2] >= 3)


def _levels(rng: np.random.Generator, n: int = 2000, p: int = 5) -> np.ndarray:
    """Integer-valued features 0..3: thresholds between levels route unseen rows like seen ones."""
    return rng.integers(0, 4, size=(n, p)).astype(float)


def test_a_model_a_depth_3_tree_represents_is_imitated_exactly(rng):
    X = _levels(rng)
    surrogate = xf.GlobalSurrogate(StepFunction().fit(X), max_depth=3, random_state=0).fit(X)
    assert surrogate.target_ == "prediction" and surrogate.fidelity_metric_ == "r2"
    assert surrogate.fidelity_ == 1.0 and surrogate.train_fidelity_ == 1.0
    assert len(surrogate.rules_) == 8
    np.testing.assert_array_equal(surrogate.predict(X), StepFunction().predict(X))
    # each rule names x0, x1 and x2 once, and nothing else
    for rule in surrogate.rules_:
        assert sorted(c.name for c in rule.conditions) == ["x0", "x1", "x2"]


def test_a_classifier_is_imitated_exactly_by_class(rng):
    X = _levels(rng)
    labels = np.where((X[:, 0] >= 2) != (X[:, 3] >= 1), "spam", "ham")
    model = DecisionTreeClassifier(max_depth=3, random_state=0).fit(X, labels)
    surrogate = xf.GlobalSurrogate(model, max_depth=2, random_state=1).fit(X)
    assert surrogate.target_ == "class" and surrogate.fidelity_metric_ == "accuracy"
    assert surrogate.fidelity_ == 1.0
    assert {rule.prediction for rule in surrogate.rules_} == {"spam", "ham"}
    assert all(rule.confidence == 1.0 for rule in surrogate.rules_)
    assert "then class = spam (100% of them)" in "\n".join(map(str, surrogate.rules_))


def test_fidelity_is_measured_on_the_documented_hold_out(rng):
    X = rng.normal(size=(800, 4))
    model = RandomForestRegressor(n_estimators=20, random_state=0).fit(X, X[:, 0] * X[:, 1] + X[:, 2])
    surrogate = xf.GlobalSurrogate(model, max_depth=3, test_size=0.3, random_state=7).fit(X)
    train, test = train_test_split(np.arange(800), test_size=0.3, random_state=7)
    teacher = model.predict(X)
    assert surrogate.fidelity_ == r2_score(teacher[test], surrogate.predict(X[test]))
    assert surrogate.train_fidelity_ == r2_score(teacher[train], surrogate.predict(X[train]))
    assert 0.0 < surrogate.fidelity_ < 1.0  # a depth-3 tree only approximates this forest
    again = xf.GlobalSurrogate(model, max_depth=3, test_size=0.3, random_state=7).fit(X)
    assert [str(r) for r in again.rules_] == [str(r) for r in surrogate.rules_]
    everything = xf.GlobalSurrogate(model, max_depth=3, test_size=0.0, random_state=7).fit(X)
    assert everything.fidelity_ == everything.train_fidelity_


def test_rules_partition_the_rows_as_the_tree_does(rng):
    X = rng.normal(size=(1500, 4))
    X[rng.random(1500) < 0.15, 1] = np.nan  # missing values in one feature
    y = X[:, 0] + np.nan_to_num(X[:, 1], nan=2.0) + 0.1 * rng.normal(size=1500)
    model = HistGradientBoostingRegressor(max_iter=30, random_state=0).fit(X, y)
    surrogate = xf.GlobalSurrogate(model, max_depth=4, min_samples_leaf=10, random_state=0).fit(X)
    leaves = surrogate.tree_.apply(X)
    covered = np.zeros(len(X), dtype=int)
    for rule in surrogate.rules_:
        holds = rule.holds(X)
        np.testing.assert_array_equal(holds, leaves == rule.leaf)
        np.testing.assert_allclose(surrogate.predict(X[holds]), rule.prediction)
        covered += holds
    np.testing.assert_array_equal(covered, 1)
    coverages = [rule.coverage for rule in surrogate.rules_]
    assert coverages == sorted(coverages, reverse=True)
    assert sum(coverages) == pytest.approx(1.0)
    assert sum(rule.n_samples for rule in surrogate.rules_) == int(0.75 * 1500)
    assert any("missing" in str(rule) for rule in surrogate.rules_)


def test_probability_and_raw_targets(rng):
    X = rng.normal(size=(1000, 3))
    frame = pd.DataFrame(X, columns=["age", "income", "score"])
    model = GradientBoostingClassifier(n_estimators=30, random_state=0).fit(frame, X[:, 0] + X[:, 1] > 0)
    proba = xf.GlobalSurrogate(model, max_depth=3, target="probability", random_state=0).fit(frame)
    assert proba.fidelity_metric_ == "r2" and proba.fidelity_ > 0.8
    assert proba.rules_[0].output_names == ("P(True)",)
    assert list(proba.feature_names_in_) == ["age", "income", "score"]
    assert "age" in str(proba.rules_[0]) or "income" in str(proba.rules_[0])
    imitation = proba.tree_.predict(X)  # probabilities of the positive class, not classes
    assert 0.0 <= imitation.min() and imitation.max() <= 1.0 and len(np.unique(imitation)) > 2
    raw = xf.GlobalSurrogate(model, max_depth=3, target="raw", random_state=0).fit(frame)
    assert raw.rules_[0].output_names == ("raw output",)
    train, _ = train_test_split(np.arange(1000), test_size=0.25, random_state=0)
    teacher = model.decision_function(frame)
    assert raw.train_fidelity_ == pytest.approx(r2_score(teacher[train], raw.tree_.predict(X[train])), rel=1e-12)


def test_explain_gives_the_surrogate_trees_shap_values(rng):
    X = _levels(rng)
    surrogate = xf.GlobalSurrogate(StepFunction().fit(X), max_depth=3, random_state=0).fit(X)
    explanation = surrogate.explain(X[:50])
    np.testing.assert_allclose(explanation.values.sum(axis=1) + explanation.base_values,
                               surrogate.predict(X[:50]), atol=1e-12)
    np.testing.assert_array_equal(explanation.values, xf.shap_values(surrogate.tree_, X[:50]))
    assert explanation.feature_names == ["x0", "x1", "x2", "x3", "x4"]
    # the step function's parts are additive and independent of x3, x4: SHAP finds no effect there
    np.testing.assert_allclose(explanation.values[:, 3:], 0.0, atol=1e-12)


def test_bad_input_is_refused_clearly(rng):
    X = rng.normal(size=(100, 3))
    model = KNeighborsRegressor().fit(X, X[:, 0])
    with pytest.raises(ValueError, match="target must be one of"):
        xf.GlobalSurrogate(model, target="labels").fit(X)
    with pytest.raises(ValueError, match="test_size"):
        xf.GlobalSurrogate(model, test_size=1.0).fit(X)
    with pytest.raises(TypeError, match="predict_proba"):
        xf.GlobalSurrogate(model, target="probability").fit(X)
    with pytest.raises(TypeError, match="decision_function or a tree model"):
        xf.GlobalSurrogate(model, target="raw").fit(X)
    with pytest.raises(ValueError, match="train set will be empty"):
        xf.GlobalSurrogate(model).fit(X[:1])
    with pytest.raises(ValueError, match="not fitted"):
        xf.GlobalSurrogate(model).predict(X)
    fitted = xf.GlobalSurrogate(model).fit(X)
    with pytest.raises(ValueError, match="expects 3"):
        fitted.explain(X[:, :2])
