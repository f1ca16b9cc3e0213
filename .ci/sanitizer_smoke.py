"""Every compiled engine once, on real models with NaNs, categories and several outputs, then the
fuzz targets on seeded mutations of their corpus: run by .ci/sanitize against a _core built with
AddressSanitizer and UndefinedBehaviorSanitizer (a report aborts the process)."""

from __future__ import annotations

import pickle
import random
import sys
import time
from pathlib import Path

# An editable install's import hook would find the installed package before PYTHONPATH's.
sys.meta_path[:] = [f for f in sys.meta_path if not type(f).__module__.startswith("_editable_skbc_")]

import numpy as np  # noqa: E402
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingRegressor, RandomForestRegressor  # noqa: E402

import xplain_fast as xf  # noqa: E402
from xplain_fast import _core  # noqa: E402

MUTATIONS_PER_TARGET = 400


def engines() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 6))
    y = X[:, 0] + np.sin(3 * X[:, 1]) + X[:, 2] * X[:, 3] + rng.normal(0, 0.1, 600)
    X_nan = X.copy()
    X_nan[rng.random(X.shape) < 0.1] = np.nan
    cats = X.copy()
    cats[:, 5] = rng.integers(0, 40, 600)
    models = {
        "random forest": (RandomForestRegressor(n_estimators=20, max_depth=6, random_state=0).fit(X, y), X, y),
        "gradient boosting, 3 classes": (GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0)
                                         .fit(X, np.digitize(y, [-0.5, 0.5])), X, np.digitize(y, [-0.5, 0.5])),
        "hist gradient boosting, NaN + categories": (HistGradientBoostingRegressor(
            max_iter=20, categorical_features=[5], random_state=0).fit(cats, y), cats, y),
        "hist gradient boosting, NaN": (HistGradientBoostingRegressor(max_iter=20, random_state=0).fit(X_nan, y),
                                        X_nan, y),
    }
    for name, (model, rows, target) in models.items():
        start = time.perf_counter()
        forest = xf.to_forest(model)
        forest.predict(rows, n_jobs=2)
        for kind in xf.importance.KINDS:
            xf.forest_importance(forest, kind)
        path = xf.TreeExplainer(model, n_jobs=2).fit()
        path.shap_values(rows[:300])
        path.shap_interaction_values(rows[:50])
        path.shap_interaction_values(rows[:50], features=[4, 1])
        interventional = xf.TreeExplainer(model, feature_perturbation="interventional", n_jobs=2).fit(rows[:80])
        interventional.shap_values(rows[:200])
        interventional.shap_interaction_values(rows[:20])
        restored = pickle.loads(pickle.dumps(interventional))
        restored.shap_values(rows[:10])
        state = interventional.__getstate__()
        xf.permutation_importance(model, rows, target, n_repeats=3, random_state=0, n_jobs=2)
        if hasattr(model, "predict_proba"):
            for scoring in ("roc_auc_ovr", "neg_log_loss", "balanced_accuracy"):
                xf.permutation_importance(model, rows, target, scoring=scoring, n_repeats=2, random_state=0, n_jobs=2)
        print(f"  {name}: {time.perf_counter() - start:.1f} s", flush=True)
    assert state  # the explainer's state pickled above
    probability = xf.TreeExplainer(models["gradient boosting, 3 classes"][0], n_jobs=2).fit()
    probability.shap_values(X[:100])
    binary = GradientBoostingClassifier(n_estimators=10, max_depth=3, random_state=0).fit(X, y > 0)
    xf.TreeExplainer(binary, feature_perturbation="interventional", model_output="probability",
                     n_jobs=2).fit(X[:50]).shap_values(X[:100])
    xf.TreeExplainer(binary, feature_perturbation="interventional", model_output="log_loss",
                     n_jobs=2).fit(X[:50]).shap_values(X[:100], y=(y[:100] > 0).astype(float))
    for library in ("xgboost", "lightgbm"):
        try:
            module = __import__(library)
        except ImportError:
            print(f"  {library}: not installed, skipped")
            continue
        model = (module.XGBRegressor(n_estimators=20, max_depth=4) if library == "xgboost"
                 else module.LGBMRegressor(n_estimators=20, num_leaves=15, verbose=-1)).fit(X_nan, y)
        explainer = xf.TreeExplainer(model, n_jobs=2).fit()
        explainer.shap_values(X_nan[:300])
        explainer.shap_interaction_values(X_nan[:30])
        xf.permutation_importance(model, X_nan, y, n_repeats=3, random_state=0, n_jobs=2)
        for kind in xf.importance.KINDS:
            xf.forest_importance(model, kind)
        print(f"  {library}: done", flush=True)


def fuzz() -> None:
    import fuzz_targets

    rng = random.Random(0)
    for target in sorted(fuzz_targets.TARGETS):
        corpus = fuzz_targets.seeds(target)
        for data in corpus:
            fuzz_targets.run(target, data)
        for _ in range(MUTATIONS_PER_TARGET):
            fuzz_targets.run(target, fuzz_targets.mutate(rng.choice(corpus), rng))
        print(f"  fuzz {target}: {len(corpus)} seeds, {MUTATIONS_PER_TARGET} mutations", flush=True)


if __name__ == "__main__":
    # The instrumented module, not an installed one, must be the one under test.
    assert Path(_core.__file__).resolve().parent.parent == Path(sys.argv[1]).resolve(), _core.__file__
    print("engines:", flush=True)
    engines()
    print("fuzz targets:", flush=True)
    fuzz()
