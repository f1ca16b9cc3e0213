"""Writes the seed inputs of the fuzz targets (tests/fuzz_targets.py): small real models of each
format. Run again only to refresh the seeds; the fuzzers' finds are added beside them by hand."""

from pathlib import Path

import lightgbm
import numpy as np
import xgboost
from sklearn.ensemble import RandomForestRegressor

import xplain_fast as xf

HERE = Path(__file__).resolve().parent
rng = np.random.default_rng(0)
X = rng.normal(size=(200, 4))
X[rng.random(X.shape) < 0.05] = np.nan
y = np.nan_to_num(X[:, 0]) - 2 * np.nan_to_num(X[:, 1]) + rng.normal(size=200)
for target in ("forest_file", "ubjson", "lightgbm_text", "forest_arrays"):
    (HERE / target).mkdir(exist_ok=True)

forest = RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0).fit(np.nan_to_num(X), y)
xf.to_forest(forest).save(HERE / "forest_file" / "forest.npz")
xgboost.XGBRegressor(n_estimators=3, max_depth=3).fit(X, y).save_model(HERE / "ubjson" / "model.ubj")
booster = xgboost.XGBClassifier(n_estimators=2, max_depth=2).fit(X, y > 0)
booster.save_model(HERE / "ubjson" / "classifier.ubj")
lightgbm.LGBMRegressor(n_estimators=3, num_leaves=5, min_child_samples=5, verbose=-1).fit(X, y).booster_.save_model(
    HERE / "lightgbm_text" / "model.txt")
cats = np.column_stack([rng.integers(0, 5, 200), X[:, 1:]])
lightgbm.LGBMClassifier(n_estimators=2, num_leaves=4, min_child_samples=5, verbose=-1).fit(
    cats, y > 0, categorical_feature=[0]).booster_.save_model(HERE / "lightgbm_text" / "categorical.txt")
for k in range(3):
    (HERE / "forest_arrays" / f"edits{k}.bin").write_bytes(rng.integers(0, 256, 10 * (k + 1), dtype=np.uint8).tobytes())
