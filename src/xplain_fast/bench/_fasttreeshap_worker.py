"""Times FastTreeSHAP v2 in its own environment (it needs numpy<2); run by the harness as
``PEER_PYTHON _fasttreeshap_worker.py FOLDER``. Imports nothing from xplain_fast.

FOLDER holds job.json ({"kind": "xgboost" | "lightgbm" | "forest", "threads": [...], "repeats": n,
"model": path or "forest": parameters}), rows.npy, and for a forest X_train.npy / y_train.npy.
Writes phi.npy (from the first call) and prints one JSON line: {"seconds": {threads: [...]},
"peak_mib": ..., "version": ...}.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    folder = Path(sys.argv[1])
    job = json.loads((folder / "job.json").read_text())
    import fasttreeshap

    rows = np.load(folder / "rows.npy")
    if job["kind"] == "xgboost":
        import xgboost

        model = xgboost.Booster(model_file=job["model"])
    elif job["kind"] == "lightgbm":
        import lightgbm

        model = lightgbm.Booster(model_file=job["model"])
    else:
        from sklearn.ensemble import RandomForestRegressor

        model = RandomForestRegressor(random_state=0, n_jobs=2, **job["forest"])
        model.fit(np.load(folder / "X_train.npy"), np.load(folder / "y_train.npy"))
    seconds = {}
    for threads in job["threads"]:
        explainer = fasttreeshap.TreeExplainer(model, algorithm="v2", n_jobs=threads)
        phi = explainer.shap_values(rows[:10], check_additivity=False)  # warm-up
        seconds[str(threads)] = []
        for _ in range(job["repeats"]):
            start = time.perf_counter()
            phi = explainer.shap_values(rows, check_additivity=False)
            seconds[str(threads)].append(time.perf_counter() - start)
    phi = np.asarray(phi[1] if isinstance(phi, list) else phi)
    np.save(folder / "phi.npy", phi)
    print(json.dumps({"seconds": seconds, "peak_mib": _peak_rss_mib(), "version": fasttreeshap.__version__}))


def _peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM; getrusage's maxrss carries the peak of the
    process that started it across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


if __name__ == "__main__":
    main()
