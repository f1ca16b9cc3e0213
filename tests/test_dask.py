"""Dask: distributed results equal the single-machine ones, on a real LocalCluster with processes."""

from __future__ import annotations

import os
import pickle
import signal
import time

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier, RandomForestRegressor
from sklearn.inspection import permutation_importance as sklearn_permutation_importance
from sklearn.metrics import r2_score

import xplain_fast as xf

dd = pytest.importorskip("dask.dataframe")
da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
xfd = pytest.importorskip("xplain_fast.dask")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(700, 5))
    X[rng.random(X.shape) < 0.05] = np.nan
    y = np.nan_to_num(X[:, 0]) * 2 + np.nan_to_num(X[:, 1]) * np.nan_to_num(X[:, 2])
    names = [f"f{j}" for j in range(5)]
    frame = pd.DataFrame(X, columns=names, index=pd.Index(np.arange(700) * 7 + 3, name="id"))
    return X, y, frame


@pytest.fixture(scope="module")
def forest_model(data):
    X, y, frame = data
    return RandomForestRegressor(n_estimators=15, max_depth=6, random_state=0).fit(frame, y)


def uneven_array(X):
    """Row chunks of uneven sizes with an empty one."""
    return da.from_array(X, chunks=((250, 0, 130, 320), (5,)))


def uneven_frame(frame):
    """Partitions of uneven sizes with an empty one, index kept."""
    ddf = dd.from_pandas(frame, npartitions=4)
    empty = ddf.get_partition(0).loc[ddf.get_partition(0).index < -1]  # no rows
    return dd.concat([ddf.get_partition(0), empty, ddf.get_partition(1), ddf.get_partition(2), ddf.get_partition(3)])


def test_path_dependent_array_bitwise(client, data, forest_model):
    X, _, _ = data
    single = xf.TreeExplainer(forest_model).fit().shap_values(X)
    phi = xfd.shap_values(forest_model, uneven_array(X))
    assert phi.chunks[0] == (250, 0, 130, 320)
    np.testing.assert_array_equal(phi.compute(), single)


def test_frame_keeps_index_and_divisions(client, data, forest_model):
    X, _, frame = data
    ddf = uneven_frame(frame.assign(other=1.0))  # a column the model does not use is left out
    out = xfd.shap_values(forest_model, ddf)
    assert out.divisions == ddf.divisions and out.npartitions == ddf.npartitions
    result = out.compute()
    explainer = xf.TreeExplainer(forest_model).fit()
    assert list(result.columns) == [f"shap_f{j}" for j in range(5)] + ["base_value"]
    pd.testing.assert_index_equal(result.index, frame.index)
    np.testing.assert_array_equal(result.iloc[:, :5].to_numpy(), explainer.shap_values(frame))
    assert np.all(result["base_value"] == explainer.expected_value_)


def test_interventional_with_background_on_the_cluster(client, data, forest_model):
    X, _, frame = data
    background = dd.from_pandas(frame.iloc[:80], npartitions=2)
    single = xf.TreeExplainer(forest_model, feature_perturbation="interventional").fit(frame.iloc[:80])
    phi = xfd.shap_values(forest_model, uneven_array(X), background=background)
    np.testing.assert_array_equal(phi.compute(), single.shap_values(X))
    out = xfd.shap_values(forest_model, uneven_frame(frame), background=background,
                          model_output="raw").compute()
    np.testing.assert_array_equal(out.iloc[:, :5].to_numpy(), single.shap_values(frame))


def test_probability_output_of_a_fitted_explainer(client, data):
    X, y, _ = data
    clf = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(np.nan_to_num(X), y > 0)
    explainer = xf.TreeExplainer(clf, feature_perturbation="interventional",
                                 model_output="probability").fit(np.nan_to_num(X[:60]))
    phi = xfd.shap_values(explainer, uneven_array(np.nan_to_num(X)))
    np.testing.assert_array_equal(phi.compute(), explainer.shap_values(np.nan_to_num(X)))


def test_interaction_values_with_features(client, data, forest_model):
    X, _, frame = data
    explainer = xf.TreeExplainer(forest_model).fit()
    inter = xfd.shap_interaction_values(explainer, uneven_array(X), features=["f0", "f2", "f4"])
    assert inter.shape == (700, 3, 3)
    np.testing.assert_array_equal(inter.compute(), explainer.shap_interaction_values(X, features=["f0", "f2", "f4"]))
    interventional = xf.TreeExplainer(forest_model, feature_perturbation="interventional").fit(frame.iloc[:40])
    inter = xfd.shap_interaction_values(interventional, uneven_frame(frame), features=[1, 3])
    np.testing.assert_array_equal(inter.compute(), interventional.shap_interaction_values(frame, features=[1, 3]))


def test_multi_output_frame_columns(client, data):
    X, y, frame = data
    from sklearn.ensemble import RandomForestClassifier

    classes = np.digitize(y, [-1, 1])
    rf = RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0).fit(frame.fillna(0), classes)
    out = xfd.shap_values(rf, dd.from_pandas(frame, npartitions=3)).compute()
    assert out.columns[:3].tolist() == ["shap_f0[0]", "shap_f0[1]", "shap_f0[2]"]
    assert out.columns[-3:].tolist() == ["base_value[0]", "base_value[1]", "base_value[2]"]
    single = xf.TreeExplainer(rf).fit().shap_values(frame)
    np.testing.assert_array_equal(out.iloc[:, :15].to_numpy().reshape(700, 5, 3), single)


def test_errors_are_clear(client, data, forest_model):
    X, _, frame = data
    with pytest.raises(ValueError, match="expects 5"):
        xfd.shap_values(forest_model, da.from_array(X[:, :4], chunks=(100, 4)))
    with pytest.raises(TypeError, match="dask array or dask DataFrame"):
        xfd.shap_values(forest_model, X)
    with pytest.raises(ValueError, match="lacks 1 of the model's features"):
        xfd.shap_values(forest_model, dd.from_pandas(frame.drop(columns="f3"), npartitions=2))
    with pytest.raises(ValueError, match="log_loss"):
        xfd.shap_values(forest_model, uneven_array(X), background=X[:10], model_output="log_loss")


def test_explainer_pickles_with_its_tables(data, forest_model):
    X, _, frame = data
    for explainer in (xf.TreeExplainer(forest_model).fit(),
                      xf.TreeExplainer(forest_model, feature_perturbation="interventional").fit(frame.iloc[:50])):
        explainer.shap_interaction_values(X[:5])  # builds the interventional pattern tables
        clone = pickle.loads(pickle.dumps(explainer))
        np.testing.assert_array_equal(clone.shap_values(X), explainer.shap_values(X))
        np.testing.assert_array_equal(clone.shap_interaction_values(X[:20]), explainer.shap_interaction_values(X[:20]))
    reduce = explainer._tables.__reduce_ex__(2)
    state = reduce[2] if len(reduce) > 2 else None
    assert state is not None
    with pytest.raises(ValueError, match="not pickled tables"):
        type(explainer._tables).__setstate__(type(explainer._tables).__new__(type(explainer._tables)),
                                             ("something else",))


def sklearn_reference(model, frame, y, **kwargs):
    return sklearn_permutation_importance(model, frame, y, **kwargs)


@pytest.mark.parametrize("max_samples", [1.0, 0.6])
def test_permutation_importance_equals_sklearn(client, data, forest_model, max_samples):
    X, y, frame = data
    filled = frame.fillna(0.0)
    model = RandomForestRegressor(n_estimators=15, max_depth=6, random_state=0).fit(filled, y)
    expected = sklearn_reference(model, filled, y, n_repeats=4, random_state=3, max_samples=max_samples)
    got = xfd.permutation_importance(model, uneven_frame(filled), y, n_repeats=4, random_state=3,
                                     max_samples=max_samples)
    np.testing.assert_array_equal(got.importances, expected.importances)
    single = xf.permutation_importance(model, filled, y, n_repeats=4, random_state=3, max_samples=max_samples)
    np.testing.assert_allclose(got.importances, single.importances, rtol=0, atol=1e-12)


def test_permutation_importance_classifier_several_scorers_on_an_array(client, data):
    X, y, _ = data
    X0 = np.nan_to_num(X)
    labels = (y > 0).astype(int)
    clf = GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0).fit(X0, labels)
    scoring = ["accuracy", "roc_auc", "neg_log_loss"]
    expected = sklearn_reference(clf, X0, labels, scoring=scoring, n_repeats=3, random_state=0)
    got = xfd.permutation_importance(clf, uneven_array(X0), da.from_array(labels, chunks=100), scoring=scoring,
                                     n_repeats=3, random_state=0, feature_groups=None)
    for name in scoring:
        np.testing.assert_array_equal(got[name].importances, expected[name].importances)


def test_permutation_importance_keeps_categorical_columns(client):
    from sklearn.ensemble import HistGradientBoostingClassifier

    rng = np.random.default_rng(4)
    frame = pd.DataFrame({"x": rng.normal(size=600), "colour": pd.Categorical(rng.choice(["r", "g", "b"], 600)),
                          "n": rng.integers(0, 5, 600)})
    labels = ((frame["colour"] == "r") ^ (frame["x"] > 0)).astype(int)
    model = HistGradientBoostingClassifier(max_iter=20, categorical_features="from_dtype", random_state=0)
    model.fit(frame, labels)
    groups = [["x"], ["colour", "n"]]
    expected = xf.permutation_importance(model, frame, labels, n_repeats=3, random_state=2, feature_groups=groups,
                                         scoring="f1")  # f1: scikit-learn's scorer on the generic path
    got = xfd.permutation_importance(model, dd.from_pandas(frame, npartitions=3), labels, n_repeats=3,
                                     random_state=2, feature_groups=groups, scoring="f1")
    np.testing.assert_array_equal(got.importances, expected.importances)
    single = sklearn_reference(model, frame, labels, n_repeats=3, random_state=2, scoring="f1")
    np.testing.assert_array_equal(got.importances[0], single.importances[0])


def test_permutation_importance_survives_a_restart(client, data):
    X, y, frame = data
    filled = frame.fillna(0.0)
    model = RandomForestRegressor(n_estimators=30, max_depth=8, random_state=0).fit(filled, y)
    expected = sklearn_reference(model, filled, y, n_repeats=5, random_state=1, scoring="r2")
    calls = []

    def r2_restarting_the_cluster(estimator, X, y):
        """r2, restarting the cluster while the next column's predictions are on it."""
        calls.append(len(calls))
        if len(calls) == 3:
            client.restart()
        return r2_score(y, estimator.predict(X))

    got = xfd.permutation_importance(model, dd.from_pandas(filled, npartitions=6), y, n_repeats=5, random_state=1,
                                     scoring=r2_restarting_the_cluster)
    assert len(calls) == 1 + 5 * 5
    np.testing.assert_array_equal(got.importances, expected.importances)


def test_shap_values_survive_a_killed_worker(data):
    X, y, _ = data
    model = RandomForestRegressor(n_estimators=40, max_depth=10, random_state=0).fit(np.nan_to_num(X), y)
    big = np.tile(np.nan_to_num(X), (40, 1))
    single = xf.TreeExplainer(model).fit().shap_values(big)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=50) as cluster, distributed.Client(cluster) as c:
        future = c.compute(xfd.shap_values(model, da.from_array(big, chunks=(1_000, 5)), check_additivity=False))
        while not any(c.processing().values()):
            time.sleep(0.01)
        time.sleep(0.3)
        assert not future.done()
        victim = next(w for w, tasks in c.processing().items() if tasks)
        pid = c.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)  # killed mid-task; its nanny starts a new one
        np.testing.assert_array_equal(future.result(timeout=120), single)


def test_permutation_importance_errors(client, data):
    X, y, frame = data
    model = RandomForestRegressor(n_estimators=5, random_state=0).fit(frame.fillna(0), y)
    with pytest.raises(TypeError, match="dask DataFrame or dask array"):
        xfd.permutation_importance(model, frame, y)
    with pytest.raises(ValueError, match="y has 10 entries"):
        xfd.permutation_importance(model, dd.from_pandas(frame, npartitions=2), y[:10])

    def scorer_using_score(estimator, X, y):
        return estimator.score(X, y)

    with pytest.raises(TypeError, match="rows live on the cluster"):
        xfd.permutation_importance(model, dd.from_pandas(frame.fillna(0), npartitions=2), y,
                                   scoring=scorer_using_score)


def test_import_is_lazy_and_names_the_extra():
    import subprocess
    import sys

    code = ("import sys, xplain_fast; assert 'dask' not in sys.modules and 'distributed' not in sys.modules; "
            "sys.modules['dask'] = None\n"
            "try:\n    import xplain_fast.dask\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'xplain-fast[dask]'" in out.stdout
