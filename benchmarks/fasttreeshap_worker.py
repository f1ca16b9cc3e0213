"""Times FastTreeSHAP v2 inside its own environment (it needs numpy<2 and xgboost 1.7).

Usage (from the compare script): python fasttreeshap_worker.py WORKLOAD MODEL_FILE DATA_DIR N_JOBS...
Prints one JSON line: {"n_jobs": seconds, ..., "phi_file": path}.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from treeshap_workloads import train  # noqa: E402


def main() -> None:
    name, model_file, data_dir, *jobs = sys.argv[1:]
    import fasttreeshap

    data = Path(data_dir)
    X_explain = np.load(data / "X_explain.npy")
    if name == "a":
        import xgboost

        model = xgboost.Booster(model_file=model_file)
    elif name == "b":
        # scikit-learn pickles do not cross numpy/sklearn versions: refit the same workload here
        model = train("b", np.load(data / "X_train.npy"), np.load(data / "y_train.npy"))
    else:
        import lightgbm

        model = lightgbm.Booster(model_file=model_file)
    times = {}
    for n_jobs in map(int, jobs):
        explainer = fasttreeshap.TreeExplainer(model, algorithm="v2", n_jobs=n_jobs)
        start = time.perf_counter()
        phi = explainer.shap_values(X_explain, check_additivity=False)
        times[str(n_jobs)] = time.perf_counter() - start
    phi = np.asarray(phi[1] if isinstance(phi, list) else phi)
    np.save(data / "fasttreeshap_phi.npy", phi)
    print(json.dumps({**times, "phi_file": str(data / "fasttreeshap_phi.npy")}))


if __name__ == "__main__":
    main()
