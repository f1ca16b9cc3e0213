"""Ctrl-C stops a long call in the C++ core, and calls from other threads run without polling."""

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


def test_calls_from_worker_threads_equal_the_main_thread():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 6))
    model = RandomForestRegressor(20, max_depth=6, random_state=0).fit(X, X[:, 0] - X[:, 1] * X[:, 2])
    explainer = xf.TreeExplainer(model, n_jobs=2).fit()
    expected = explainer.shap_values(X)
    results = [None] * 4

    def explain(slot: int) -> None:
        results[slot] = explainer.shap_values(X)

    threads = [threading.Thread(target=explain, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for result in results:
        np.testing.assert_array_equal(result, expected)
