"""The fixed TreeSHAP benchmark workloads, shared by the compare script and the
FastTreeSHAP side-environment worker. Only numpy and the model libraries are needed here."""

from __future__ import annotations

import numpy as np

WORKLOADS = {
    "a": "XGBoost regressor, 100 features, 500 trees, depth 8, explain 2,000 rows",
    "b": "sklearn RandomForestRegressor, 50 features, 100 trees, depth 10, explain 1,000 rows",
    "c": "LightGBM binary, 100 features, 300 trees, 63 leaves, explain 2,000 rows",
}
N_TRAIN = 10_000
N_EXPLAIN = {"a": 2_000, "b": 1_000, "c": 2_000}
N_FEATURES = {"a": 100, "b": 50, "c": 100}


def make_data(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X_train, y_train, X_explain): a fixed non-linear problem with informative and noise features."""
    rng = np.random.default_rng({"a": 1, "b": 2, "c": 3}[name])
    M = N_FEATURES[name]
    X = rng.normal(size=(N_TRAIN + N_EXPLAIN[name], M))
    w = rng.normal(size=M) * (rng.random(M) < 0.3)
    y = X @ w + np.sin(3 * X[:, 0]) * X[:, 1] + 0.5 * X[:, 2] * X[:, 3] + rng.normal(size=len(X)) * 0.3
    if name == "c":
        y = (y > np.median(y)).astype(int)
    return X[:N_TRAIN], y[:N_TRAIN], np.ascontiguousarray(X[N_TRAIN:])


def train(name: str, X: np.ndarray, y: np.ndarray, n_jobs: int = 2):
    if name == "a":
        import xgboost

        return xgboost.XGBRegressor(n_estimators=500, max_depth=8, learning_rate=0.05, tree_method="hist",
                                    n_jobs=n_jobs, random_state=0).fit(X, y)
    if name == "b":
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(n_estimators=100, max_depth=10, n_jobs=n_jobs, random_state=0).fit(X, y)
    import lightgbm

    return lightgbm.LGBMClassifier(n_estimators=300, num_leaves=63, learning_rate=0.05, n_jobs=n_jobs,
                                   random_state=0, verbose=-1).fit(X, y)
