"""Ctrl-C stops a long call in the C++ core; calls from several Python threads at once give the serial bits."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import numpy as np
from sklearn.ensemble import RandomForestRegressor

import xplain_fast as xf

# A call that runs for minutes unless interrupted: SHAP values of 2,000,000 rows of a deep forest.
LONG_CALL = """
import sys, numpy as np
from sklearn.ensemble import RandomForestRegressor
import xplain_fast as xf
rng = np.random.default_rng(0)
X = rng.normal(size=(3000, 10)); y = X[:, 0] * X[:, 1] + X[:, 2]
explainer = xf.TreeExplainer(RandomForestRegressor(100, max_depth=12, random_state=0).fit(X, y)).fit()
rows = rng.normal(size=(2_000_000, 10))
print("ready", flush=True)
explainer.shap_values(rows, check_additivity=False)
print("done", flush=True)
"""


def test_ctrl_c_interrupts_a_long_call():
    process = subprocess.Popen([sys.executable, "-c", LONG_CALL], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout.readline().strip() == "ready"
        time.sleep(1.0)  # inside the core by now
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert "done" not in out, "the call ran to its end instead of stopping at Ctrl-C"
    assert "KeyboardInterrupt" in err
    assert process.returncode != 0


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
