"""Ctrl-C stops a long call in the C++ core; calls from several Python threads at once give the serial bits."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from sklearn.ensemble import RandomForestRegressor

import xplain_fast as xf

# A call into the core that runs for minutes unless interrupted, per engine; after Ctrl-C the same
# interpreter must still work (a small call gives the right numbers).
LONG_CALL = """
import sys, time, numpy as np
from sklearn.ensemble import RandomForestRegressor
import xplain_fast as xf
rng = np.random.default_rng(0)
X = rng.normal(size=(3000, 10)); y = X[:, 0] * X[:, 1] + X[:, 2]
model = RandomForestRegressor(100, max_depth=12, random_state=0).fit(X, y)
path = xf.TreeExplainer(model).fit()
engine = sys.argv[1]
if engine == "predict":
    forest = xf.to_forest(model); rows = rng.normal(size=(4_000_000, 10)); call = lambda: forest.predict(rows)
elif engine == "shap_values":
    rows = rng.normal(size=(2_000_000, 10)); call = lambda: path.shap_values(rows, check_additivity=False)
elif engine == "interactions":
    rows = rng.normal(size=(300_000, 10)); call = lambda: path.shap_interaction_values(rows)
elif engine == "interventional":
    background = xf.TreeExplainer(model, feature_perturbation="interventional").fit(X[:500])
    rows = rng.normal(size=(2_000_000, 10)); call = lambda: background.shap_values(rows, check_additivity=False)
elif engine == "permutation_importance":
    rows, target = rng.normal(size=(200_000, 10)), rng.normal(size=200_000)
    call = lambda: xf.permutation_importance(model, rows, target, n_repeats=50, random_state=0)
print("ready", flush=True)
try:
    call()
    print("done", flush=True)
except KeyboardInterrupt:
    print("interrupted", flush=True)
small = X[:50]
assert np.allclose(path.shap_values(small).sum(axis=1) + path.expected_value_, model.predict(small))
print("usable", flush=True)
"""


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["predict", "shap_values", "interactions", "interventional",
                                    "permutation_importance"])
def test_ctrl_c_interrupts_a_long_call(engine):
    process = subprocess.Popen([sys.executable, "-c", LONG_CALL, engine], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        time.sleep(1.5)  # inside the core by now
        process.send_signal(signal.SIGINT)
        sent = time.perf_counter()
        stopped = process.stdout.readline().strip()
        waited = time.perf_counter() - sent
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert stopped == "interrupted", f"{stopped!r} {err}"
    # The calling thread polls Ctrl-C every 20 ms while the workers run chunks of 64-128 rows (the
    # permutation engine's units of work stop between trees): a second is the promise, ten absorbs
    # a loaded machine.
    print(f"{engine}: stopped {waited:.2f} s after SIGINT")
    assert waited < 10, f"the call took {waited:.1f} s to stop"
    assert "usable" in out and process.returncode == 0, err


def test_ten_threads_on_shared_explainers_give_the_serial_bits():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 6))
    y = X[:, 0] - X[:, 1] * X[:, 2]
    model = RandomForestRegressor(20, max_depth=6, random_state=0).fit(X, y)
    path = xf.TreeExplainer(model, n_jobs=2).fit()
    interventional = xf.TreeExplainer(model, feature_perturbation="interventional", n_jobs=2).fit(X[:50])
    calls = {
        "shap_values": lambda: path.shap_values(X),
        "interactions": lambda: path.shap_interaction_values(X[:100]),
        "interventional": lambda: interventional.shap_values(X),
        "interventional_interactions": lambda: interventional.shap_interaction_values(X[:50]),
        "permutation_importance": lambda: xf.permutation_importance(model, X, y, n_repeats=3, random_state=0,
                                                                    n_jobs=2).importances,
    }
    serial = {name: call() for name, call in calls.items()}
    jobs = [name for name in calls for _ in range(2)]  # ten threads at once
    results: list = [None] * len(jobs)

    def run(slot: int) -> None:
        results[slot] = calls[jobs[slot]]()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(jobs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, result in zip(jobs, results, strict=True):
        np.testing.assert_array_equal(result, serial[name], err_msg=name)
