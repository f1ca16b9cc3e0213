"""Hypothesis strategies that draw whole Forests, so that a failing example shrinks to a small one.

A tree is drawn node by node in preorder (a split is a coin that shrinks to "leaf"), with its
feature, threshold (from a small grid, so rows land on thresholds), cover share, default direction,
missing-value rule, categories and leaf values; the Forest's comparison rules are drawn too.
"""

from __future__ import annotations

from hypothesis import strategies as st

from xplain_fast.forest import Forest, concatenate_trees

THRESHOLDS = (-1.0, -0.5, 0.0, 0.3, 1.0, 2.5)


@st.composite
def _tree(draw, *, n_features: int, width: int, max_nodes: int, nan_rules: bool, categorical: bool) -> dict:
    left, right, feature, threshold, cover, default_left, rules = [], [], [], [], [], [], []
    categories: dict[int, list[int]] = {}

    def grow(weight: float, budget: int) -> int:
        node = len(left)
        for column in (left, right, feature, rules):
            column.append(-1 if column is not rules else 0)
        threshold.append(0.0)
        cover.append(weight)
        default_left.append(draw(st.booleans()))
        if nan_rules:
            rules[node] = draw(st.integers(0, 2))
        if budget >= 3 and draw(st.booleans()):
            feature[node] = draw(st.integers(0, n_features - 1))
            threshold[node] = draw(st.sampled_from(THRESHOLDS))
            if categorical and draw(st.booleans()):
                categories[node] = sorted(draw(st.sets(st.integers(0, 5), min_size=1, max_size=3)))
            share = draw(st.sampled_from((0.5, 0.2, 0.9, 0.0)))  # 0.0: a child no training row reached
            left_budget = draw(st.integers(1, budget - 2))
            left[node] = grow(weight * share, left_budget)
            right[node] = grow(weight * (1 - share), budget - 1 - left_budget)
        return node

    grow(float(draw(st.sampled_from((1.0, 7.0, 100.0)))), max_nodes)
    values = draw(st.lists(st.lists(st.floats(-4, 4, allow_nan=False, width=32), min_size=width, max_size=width),
                           min_size=len(left), max_size=len(left)))
    tree = {"left": left, "right": right, "feature": [max(f, 0) for f in feature], "threshold": threshold,
            "default_left": default_left, "cover": cover, "value": values}
    if nan_rules:
        tree["missing_rule"] = rules
    if categories:
        tree["categories"] = categories
    return tree


@st.composite
def forests(draw, *, max_features: int = 4, max_trees: int = 3, max_nodes: int = 15, max_outputs: int = 2,
            nan_rules: bool = True, categorical: bool = True) -> Forest:
    """A Forest of 1..max_trees trees over 1..max_features features, with every node kind allowed."""
    n_features = draw(st.integers(1, max_features))
    n_outputs = draw(st.integers(1, max_outputs))
    vector_leaves = n_outputs > 1 and draw(st.booleans())
    width = n_outputs if vector_leaves else 1
    n_trees = draw(st.integers(1, max_trees))
    rules = nan_rules and draw(st.booleans())
    cats = categorical and draw(st.booleans())
    trees = []
    for t in range(n_trees):
        tree = draw(_tree(n_features=n_features, width=width, max_nodes=max_nodes, nan_rules=rules, categorical=cats))
        tree["output"] = 0 if vector_leaves else t % n_outputs
        trees.append(tree)
    base = draw(st.lists(st.floats(-2, 2, allow_nan=False), min_size=n_outputs, max_size=n_outputs))
    return concatenate_trees(trees, base_value=base, n_features=n_features,
                             decision=draw(st.sampled_from(("<=", "<"))), float32_input=draw(st.booleans()),
                             categorical_truncation=cats and draw(st.booleans()))
