"""Global surrogate: a small decision tree fitted to a model's output, with its fidelity and its rules."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, is_classifier
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from ._validation import check_fitted, check_rows, feature_names_of
from .explanation import Explanation
from .models import model_features

TARGETS = ("auto", "class", "probability", "raw", "prediction")


@dataclass(frozen=True)
class Condition:
    """``low < X[:, feature] <= high`` (bounds may be infinite); NaN satisfies it iff ``missing``
    (the tree sends NaN this way, and the fitting rows had NaN in this feature)."""

    feature: int
    name: str
    low: float
    high: float
    missing: bool

    def holds(self, X: np.ndarray) -> np.ndarray:
        column = X[:, self.feature]
        with np.errstate(invalid="ignore"):
            inside = (column > self.low) & (column <= self.high)
        return inside | (np.isnan(column) & self.missing)

    def __str__(self) -> str:
        if self.low == np.inf:  # only NaN takes this branch (scikit-learn's split on missing values)
            return f"{self.name} is missing"
        if np.isinf(self.low) and np.isinf(self.high):
            return f"{self.name} is not missing"
        if np.isinf(self.low):
            text = f"{self.name} <= {self.high:.4g}"
        elif np.isinf(self.high):
            text = f"{self.name} > {self.low:.4g}"
        else:
            text = f"{self.low:.4g} < {self.name} <= {self.high:.4g}"
        return f"({text} or missing)" if self.missing else text


@dataclass(frozen=True)
class SurrogateRule:
    """One leaf of the surrogate tree as an if/then rule.

    ``coverage`` is the share of the training rows that reach the leaf (``n_samples`` of them);
    ``prediction`` the surrogate's output there (a class label, or a number / array of numbers,
    named by ``output_names``); ``confidence`` the share of the leaf's rows in that class (classes
    only).
    """

    conditions: tuple[Condition, ...]
    prediction: Any
    coverage: float
    n_samples: int
    confidence: float | None
    output_names: tuple[str, ...]
    leaf: int

    def holds(self, X: Any) -> np.ndarray:
        """Which rows of X satisfy every condition: the rows the tree sends to this leaf (NaN counts
        as missing only in features that had missing values when the surrogate was fitted)."""
        rows = check_rows(X, allow_empty=True)
        mask = np.ones(rows.shape[0], dtype=bool)
        for condition in self.conditions:
            mask &= condition.holds(rows)
        return mask

    def __str__(self) -> str:
        premise = " and ".join(str(c) for c in self.conditions) or "always"
        if self.confidence is not None:
            outcome = f"class = {self.prediction} ({self.confidence:.0%} of them)"
        else:
            values = np.ravel(self.prediction)
            outcome = ", ".join(f"{name} = {v:.4g}" for name, v in zip(self.output_names, values, strict=True))
        rows = "row" if self.n_samples == 1 else "rows"
        return f"if {premise} then {outcome}  [coverage {self.coverage:.1%}, {self.n_samples} {rows}]"


class GlobalSurrogate(BaseEstimator):
    """An interpretable decision tree fitted to a model's output (model simplification).

    ``fit(X)`` asks the model for its output on X (no labels needed), holds out ``test_size`` of the
    rows at random, fits a decision tree to the model's output on the rest, and measures on the
    held-out rows how often the tree agrees with the model: ``fidelity_`` is the accuracy for a class
    target and the R² otherwise. The tree explains the model only as far as the fidelity is high.

    Parameters
    ----------
    model : fitted estimator
        Anything with ``predict`` (and ``predict_proba`` / ``decision_function`` for those targets);
        tree models and Forests also give their raw output.
    max_depth : int or None, default=4
        Depth of the surrogate tree (the rules have at most this many conditions).
    max_leaf_nodes : int or None, default=None
        Maximum number of leaves (rules).
    min_samples_leaf : int, default=1
        Rows a rule must cover at least.
    target : {"auto", "class", "probability", "raw", "prediction"}, default="auto"
        What the tree imitates: ``"class"`` the predicted class (a classification tree; fidelity is
        accuracy), ``"probability"`` ``predict_proba`` (the positive class's for two classes),
        ``"raw"`` the raw score (``decision_function``, or a tree model's margin), ``"prediction"``
        ``predict`` as a number. ``"auto"``: ``"class"`` for classifiers, ``"prediction"`` otherwise.
    test_size : float in [0, 1), default=0.25
        Share of X held out to measure the fidelity; 0 measures it on the training rows (optimistic).
    random_state : int, RandomState or None, default=None
        The hold-out split and the tree's tie-breaking.
    feature_names : list of str, optional
        Names for the rules; default: the columns of a DataFrame X, else the model's names, else
        ``x0, x1, ...``.

    Attributes
    ----------
    tree_ : DecisionTreeClassifier or DecisionTreeRegressor
        The surrogate, fitted on the non-held-out rows.
    fidelity_ : float
        Accuracy (class target) or R² (others) of the tree against the model on the held-out rows.
    train_fidelity_ : float
        The same on the rows the tree was fitted on.
    fidelity_metric_ : str
        ``"accuracy"`` or ``"r2"``.
    target_ : str
        The target used (``"auto"`` resolved).
    rules_ : list of SurrogateRule
        One rule per leaf, most covering first; ``print(rule)`` reads as an if/then sentence.
    feature_names_in_ : ndarray of str
        Names used in the rules (a frame's columns, the model's names, or ``x0, x1, ...``).
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> from sklearn.ensemble import RandomForestClassifier
    >>> X = np.random.default_rng(0).normal(size=(600, 3)); y = (X[:, 0] > 0) & (X[:, 1] > -0.5)
    >>> model = RandomForestClassifier(n_estimators=20, random_state=0).fit(X, y)
    >>> surrogate = xf.GlobalSurrogate(model, max_depth=2, random_state=0).fit(X)
    >>> surrogate.fidelity_ > 0.9, len(surrogate.rules_) <= 4
    (True, True)
    """

    def __init__(self, model: Any, *, max_depth: int | None = 4, max_leaf_nodes: int | None = None,
                 min_samples_leaf: int = 1, target: str = "auto", test_size: float = 0.25,
                 random_state: Any = None, feature_names: Sequence[str] | None = None) -> None:
        self.model = model
        self.max_depth = max_depth
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.target = target
        self.test_size = test_size
        self.random_state = random_state
        self.feature_names = feature_names

    def fit(self, X: Any, y: Any = None) -> GlobalSurrogate:
        """Fit the surrogate to the model's output on X (``y`` is ignored: the model is the teacher)."""
        if self.target not in TARGETS:
            raise ValueError(f"target must be one of {', '.join(TARGETS)}; got {self.target!r}")
        if not isinstance(self.test_size, numbers.Real) or not 0.0 <= self.test_size < 1.0:
            raise ValueError(f"test_size must be a number in [0, 1), got {self.test_size!r}")
        rows = check_rows(X)
        self.target_ = self._resolve_target()
        teacher = self._teacher_output(X)
        if self.test_size > 0:
            train, test = train_test_split(np.arange(rows.shape[0]), test_size=self.test_size,
                                           random_state=self.random_state)
        else:
            train = test = np.arange(rows.shape[0])
        tree_type = DecisionTreeClassifier if self.target_ == "class" else DecisionTreeRegressor
        self.tree_ = tree_type(max_depth=self.max_depth, max_leaf_nodes=self.max_leaf_nodes,
                               min_samples_leaf=self.min_samples_leaf, random_state=self.random_state)
        self.tree_.fit(rows[train], teacher[train])
        self.fidelity_metric_ = "accuracy" if self.target_ == "class" else "r2"
        self.fidelity_ = self._agreement(rows[test], teacher[test])
        self.train_fidelity_ = self._agreement(rows[train], teacher[train])
        self.n_features_in_ = rows.shape[1]
        model_names = model_features(self.model)[0]
        if model_names is not None and len(model_names) != rows.shape[1]:
            model_names = None
        names = (list(self.feature_names) if self.feature_names is not None else None) or feature_names_of(X) \
            or model_names or [f"x{j}" for j in range(rows.shape[1])]
        if len(names) != rows.shape[1]:
            raise ValueError(f"feature_names has {len(names)} names, but X has {rows.shape[1]} features")
        self.feature_names_in_ = np.asarray([str(n) for n in names], dtype=object)
        self.rules_ = self._rules(has_missing=np.isnan(rows[train]).any(axis=0))
        return self

    def predict(self, X: Any) -> np.ndarray:
        """The surrogate's output on X (what the rules say)."""
        check_fitted(self, "tree_")
        return self.tree_.predict(check_rows(X, self.n_features_in_))

    def explain(self, X: Any, *, n_jobs: int | None = None) -> Explanation:
        """SHAP values of the surrogate tree (path-dependent TreeSHAP through the C++ engine)."""
        from .tree import TreeExplainer

        check_fitted(self, "tree_")
        explainer = TreeExplainer(self.tree_, n_jobs=n_jobs).fit()
        explanation = explainer.explain(check_rows(X, self.n_features_in_))
        explanation.feature_names = list(self.feature_names_in_)
        return explanation

    # -- fitting helpers ---------------------------------------------------------------------
    def _resolve_target(self) -> str:
        if self.target != "auto":
            return self.target
        return "class" if is_classifier(self.model) else "prediction"

    def _teacher_output(self, X: Any) -> np.ndarray:
        model, target = self.model, self.target_
        if target == "class" or target == "prediction":
            if not hasattr(model, "predict"):
                raise TypeError(f"{type(model).__name__} has no predict method to imitate")
            output = np.asarray(model.predict(X))
            return output if target == "class" else output.astype(np.float64)
        if target == "probability":
            if not hasattr(model, "predict_proba"):
                raise TypeError(f"target='probability' needs predict_proba, which {type(model).__name__} lacks")
            proba = np.asarray(model.predict_proba(X), dtype=np.float64)
            return proba[:, 1] if proba.ndim == 2 and proba.shape[1] == 2 else proba
        if hasattr(model, "decision_function"):
            return np.asarray(model.decision_function(X), dtype=np.float64)
        from .models import is_tree_model, to_forest

        if is_tree_model(model):
            return to_forest(model).predict(X)
        raise TypeError(f"target='raw' needs decision_function or a tree model; {type(model).__name__} has neither")

    def _agreement(self, rows: np.ndarray, teacher: np.ndarray) -> float:
        imitation = self.tree_.predict(rows)
        if self.target_ == "class":
            return float(accuracy_score(teacher, imitation))
        return float(r2_score(teacher, imitation))

    def _rules(self, has_missing: np.ndarray) -> list[SurrogateRule]:
        """One rule per leaf: the path's conditions merged into one interval per feature, in the order the
        path first asks about each feature."""
        t = self.tree_.tree_
        missing_left = getattr(t, "missing_go_to_left", np.zeros(t.node_count, dtype=bool))
        total = t.weighted_n_node_samples[0]
        rules = []
        # (node, {feature: [low, high, missing ok]}) from the root down
        stack: list[tuple[int, dict[int, list]]] = [(0, {})]
        while stack:
            node, bounds = stack.pop()
            if t.children_left[node] < 0:
                rules.append(self._leaf_rule(node, bounds, total, has_missing))
                continue
            feature, threshold = int(t.feature[node]), float(t.threshold[node])
            for child, goes_left in ((t.children_left[node], True), (t.children_right[node], False)):
                low, high, missing = bounds.get(feature, [-np.inf, np.inf, bool(has_missing[feature])])
                if goes_left:
                    high = min(high, threshold)
                else:
                    low = max(low, threshold)
                missing = missing and bool(missing_left[node]) == goes_left
                stack.append((int(child), {**bounds, feature: [low, high, missing]}))
        rules.sort(key=lambda rule: (-rule.n_samples, rule.leaf))
        return rules

    def _leaf_rule(self, leaf: int, bounds: dict[int, list], total: float, has_missing: np.ndarray) -> SurrogateRule:
        t = self.tree_.tree_
        # A feature whose splits on the path let every value (and NaN, where it occurred) through
        # says nothing: scikit-learn can split missing from present values with threshold inf.
        conditions = tuple(Condition(f, str(self.feature_names_in_[f]), low, high, missing)
                           for f, (low, high, missing) in bounds.items()  # in the order the path asks
                           if not (low == -np.inf and high == np.inf and missing == has_missing[f]))
        value = t.value[leaf]
        if self.target_ == "class":
            shares = value[0] / value[0].sum()
            best = int(np.argmax(shares))
            prediction, confidence = self.tree_.classes_[best], float(shares[best])
            prediction = prediction.item() if hasattr(prediction, "item") else prediction
        else:
            prediction, confidence = (float(value[0, 0]) if value.shape[0] == 1 else value[:, 0].copy()), None
        return SurrogateRule(conditions=conditions, prediction=prediction,
                             coverage=float(t.weighted_n_node_samples[leaf] / total),
                             n_samples=int(t.n_node_samples[leaf]), confidence=confidence,
                             output_names=self._output_names(t.n_outputs), leaf=leaf)

    def _output_names(self, n_outputs: int) -> tuple[str, ...]:
        if self.target_ == "class":
            return ()
        if self.target_ == "probability":
            classes = [str(c) for c in getattr(self.model, "classes_", range(max(n_outputs, 2)))]
            return tuple(f"P({c})" for c in (classes[-1:] if n_outputs == 1 else classes))
        name = "raw output" if self.target_ == "raw" else "prediction"
        return (name,) if n_outputs == 1 else tuple(f"{name}[{k}]" for k in range(n_outputs))

