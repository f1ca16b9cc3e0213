"""Gradient saliency against independent oracles.

Analytic gradients are checked against Richardson-extrapolated finite differences of
scikit-learn's own prediction functions (tests/naive_saliency.py), Integrated Gradients against
w * (x - b) for linear models and against completeness for networks, SmoothGrad against gradients
at explicitly drawn noisy points.
"""

from __future__ import annotations

import functools
import pickle
import warnings

import numba
import numpy as np
import pytest
from naive_saliency import (
    explained_output,
    reference_integrated_gradients,
    reference_smoothgrad,
    richardson_gradient,
)
from sklearn import linear_model, svm
from sklearn.datasets import load_digits
from sklearn.ensemble import (
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.kernel_ridge import KernelRidge
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler, PolynomialFeatures, StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.tree import DecisionTreeRegressor
from threadpoolctl import threadpool_limits

from xplain_fast.saliency import GradientSaliency, kernels, saliency
from xplain_fast.saliency.methods import RULES, quadrature

N_FEATURES = 4
ACTIVATIONS = ("identity", "logistic", "tanh", "relu")


@pytest.fixture(autouse=True, scope="module")
def _single_threaded_blas():
    """scikit-learn's fits and predictions here multiply tiny matrices, where BLAS threads only add
    synchronisation (20x slower on a busy 2-core machine). GradientSaliency sets its own limits."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def fit_quietly(model, X, y):
    """Fit without the ConvergenceWarning of small networks and linear solvers on tiny data."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return model.fit(X, y)


@functools.cache
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    scale, shift = np.array([1.0, 2.0, 0.5, 3.0]), np.array([0.0, 1.0, -1.0, 5.0])
    X = rng.normal(size=(150, N_FEATURES)) * scale + shift
    Z = (X - X.mean(axis=0)) / X.std(axis=0)
    score = np.sin(Z[:, 0]) + Z[:, 1] * Z[:, 2] + 0.5 * Z[:, 3]
    noisy = score + rng.normal(scale=0.5, size=len(X))  # classes overlap: no exploding weights
    return {
        "X": X,
        # Explained rows are fresh: a fitted ReLU network tends to put kinks at training points.
        "X_test": rng.normal(size=(40, N_FEATURES)) * scale + shift,
        "regression": score,
        "two_outputs": np.column_stack([score, Z[:, 0] - Z[:, 3] ** 2]),
        "counts": rng.poisson(np.exp(0.4 * Z[:, 0] + 0.3 * Z[:, 1])).astype(float),
        "binary": (noisy > 0.2).astype(int),
        "multiclass": np.digitize(noisy, [-0.5, 0.5]),
        "multilabel": np.column_stack([noisy > 0, Z[:, 0] + noisy > 0.3, Z[:, 3] < noisy]) * 1,
    }


def _mlp(cls, activation, **params):
    return cls(hidden_layer_sizes=(7, 5), activation=activation, solver="lbfgs", alpha=0.1,
               max_iter=400, random_state=0, **params)


LINEAR_REGRESSORS = {
    "LinearRegression": linear_model.LinearRegression,
    "Ridge": lambda: linear_model.Ridge(alpha=0.5),
    "RidgeCV": linear_model.RidgeCV,
    "Lasso": lambda: linear_model.Lasso(alpha=0.01),
    "LassoCV": lambda: linear_model.LassoCV(cv=3),
    "ElasticNet": lambda: linear_model.ElasticNet(alpha=0.01),
    "ElasticNetCV": lambda: linear_model.ElasticNetCV(cv=3),
    "SGDRegressor": lambda: linear_model.SGDRegressor(random_state=0),
    "HuberRegressor": lambda: linear_model.HuberRegressor(max_iter=1000),
    "BayesianRidge": linear_model.BayesianRidge,
    "LinearSVR": lambda: svm.LinearSVR(random_state=0, max_iter=5000),
}
MODELS = {  # name -> (factory, target column of data())
    **{f"MLPRegressor-{a}": (functools.partial(_mlp, MLPRegressor, a), "regression")
       for a in ACTIVATIONS},
    "MLPRegressor-2outputs": (functools.partial(_mlp, MLPRegressor, "tanh"), "two_outputs"),
    "MLPRegressor-poisson": (functools.partial(_mlp, MLPRegressor, "tanh", loss="poisson"),
                             "counts"),
    **{f"MLPClassifier-{a}-multiclass": (functools.partial(_mlp, MLPClassifier, a), "multiclass")
       for a in ACTIVATIONS},
    "MLPClassifier-tanh-binary": (functools.partial(_mlp, MLPClassifier, "tanh"), "binary"),
    "MLPClassifier-relu-binary": (functools.partial(_mlp, MLPClassifier, "relu"), "binary"),
    "MLPClassifier-logistic-multilabel": (functools.partial(_mlp, MLPClassifier, "logistic"),
                                          "multilabel"),
    **{name: (factory, "regression") for name, factory in LINEAR_REGRESSORS.items()},
    "LinearRegression-2outputs": (linear_model.LinearRegression, "two_outputs"),
    "LogisticRegression-binary": (linear_model.LogisticRegression, "binary"),
    "LogisticRegression-multinomial": (linear_model.LogisticRegression, "multiclass"),
    "LogisticRegressionCV": (lambda: linear_model.LogisticRegressionCV(
        cv=3, l1_ratios=(0.0,), scoring="neg_log_loss", use_legacy_attributes=False),
                             "multiclass"),
    "SGDClassifier-log-binary": (
        lambda: linear_model.SGDClassifier(loss="log_loss", random_state=0), "binary"),
    "SGDClassifier-log-multiclass": (
        lambda: linear_model.SGDClassifier(loss="log_loss", random_state=0), "multiclass"),
    "SGDClassifier-hinge": (lambda: linear_model.SGDClassifier(random_state=0), "multiclass"),
    "RidgeClassifier": (linear_model.RidgeClassifier, "binary"),
    "RidgeClassifierCV": (linear_model.RidgeClassifierCV, "multiclass"),
    "LinearSVC": (lambda: svm.LinearSVC(random_state=0, max_iter=5000), "binary"),
    "Pipeline-StandardScaler-MLPClassifier": (
        lambda: make_pipeline(StandardScaler(), _mlp(MLPClassifier, "tanh")), "multiclass"),
    "Pipeline-MinMaxScaler-LogisticRegression": (
        lambda: make_pipeline(MinMaxScaler((-1, 2)), linear_model.LogisticRegression()),
        "binary"),
    "Pipeline-both-scalers-MLPRegressor": (
        lambda: make_pipeline(StandardScaler(), "passthrough", MinMaxScaler(),
                              _mlp(MLPRegressor, "logistic")), "regression"),
    "Pipeline-StandardScaler(with_mean=False)-MLPRegressor": (
        lambda: make_pipeline(StandardScaler(with_mean=False), _mlp(MLPRegressor, "tanh")),
        "regression"),
    "Pipeline-StandardScaler(with_std=False)-MLPClassifier": (
        lambda: make_pipeline(StandardScaler(with_std=False), _mlp(MLPClassifier, "tanh")),
        "binary"),
    "Pipeline-StandardScaler(with_mean=False)-Ridge": (
        lambda: make_pipeline(StandardScaler(with_mean=False), linear_model.Ridge()),
        "two_outputs"),
}


@functools.cache
def fitted(name: str):
    factory, task = MODELS[name]
    return fit_quietly(factory(), data()["X"], data()[task])


def model_and_targets(name: str):
    """The fitted model and the range of its targets (classes, or output columns)."""
    model = fitted(name)
    classes = getattr(model, "classes_", None)
    y = data()[MODELS[name][1]]
    count = len(classes) if classes is not None else 1 if y.ndim == 1 else y.shape[1]
    return model, range(count)


def check_gradient(model, X, target, output, gradient, relu=False):
    """``gradient`` within 1e-6 of the Richardson oracle, relative to the largest component."""
    reference = richardson_gradient(
        lambda Z: explained_output(model, Z, target, output), X,
        # piecewise linear: a tiny step stays on one piece, where one level is exact
        **({"h0": 1e-6, "levels": 1} if relu else {}),
    )
    # Where a probability saturates, the oracle's differences of values near 1 cannot resolve
    # gradients below ~1e-12; no row here is saturated throughout.
    floor = 1e-12 if output == "probability" else 0.0
    np.testing.assert_allclose(gradient, reference, rtol=1e-6,
                               atol=max(1e-6 * np.abs(reference).max(), floor))


# -- analytic gradients --------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_analytic_gradient_matches_richardson(name):
    model, targets = model_and_targets(name)
    X = data()["X_test"][:12]
    for output in ["raw", "probability"] if hasattr(model, "predict_proba") else ["raw"]:
        for target in targets:
            sal = GradientSaliency(model, "gradient", target=target, output=output).fit()
            assert sal.gradient_source_ == "analytic"
            check_gradient(model, X, target, output, sal.attribute(X), relu="relu" in name)


def test_default_target_is_predicted_class_or_single_output():
    X = data()["X_test"][:40]
    for name in ("MLPClassifier-tanh-multiclass", "LogisticRegression-binary",
                 "MLPClassifier-tanh-binary", "SGDClassifier-hinge"):
        model = fitted(name)
        predicted = np.searchsorted(model.classes_, model.predict(X))
        assert len(np.unique(predicted)) > 1  # else any fixed target would pass
        ours = saliency(model, X, "gradient")
        for k in range(len(model.classes_)):
            chosen = predicted == k
            np.testing.assert_array_equal(
                ours[chosen], saliency(model, X, "gradient", target=k)[chosen])
    regressor = fitted("MLPRegressor-tanh")
    np.testing.assert_array_equal(saliency(regressor, X, "gradient"),
                                  saliency(regressor, X, "gradient", target=0))


def test_gradient_variants_are_functions_of_the_gradient():
    model = fitted("MLPClassifier-tanh-multiclass")
    X = data()["X_test"][:20]
    gradient = saliency(model, X, "gradient")
    np.testing.assert_array_equal(saliency(model, X, "gradient", absolute=True), np.abs(gradient))
    np.testing.assert_array_equal(saliency(model, X, "saliency_map"), np.abs(gradient))
    np.testing.assert_array_equal(saliency(model, X, "gradient_x_input"), X * gradient)


def test_per_row_targets():
    model = fitted("MLPClassifier-tanh-multiclass")
    X = data()["X_test"][:9]
    targets = np.arange(9) % 3
    ours = saliency(model, X, "gradient", target=targets)
    for k in range(3):
        chosen = targets == k
        np.testing.assert_array_equal(ours[chosen],
                                      saliency(model, X, "gradient", target=k)[chosen])


# -- integrated gradients ------------------------------------------------------------------------


def _effective_weights(model, target: int) -> np.ndarray:
    coef = np.atleast_2d(model.coef_)
    if coef.shape[0] == 1 and len(getattr(model, "classes_", [])) == 2:
        return coef[0] if target == 1 else -coef[0]
    return coef[target]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("baseline", [None, 0.7, "array", "mean"])
@pytest.mark.parametrize("name", ["LinearRegression-2outputs", "Ridge", "LogisticRegression-binary",
                                  "LogisticRegression-multinomial", "SGDClassifier-log-multiclass"])
def test_integrated_gradients_of_linear_logits_is_weight_times_difference(name, baseline, rule):
    model, targets = model_and_targets(name)
    X = data()["X"]
    base = {"array": np.array([0.5, -1.0, 2.0, 3.0]), "mean": "mean"}.get(baseline, baseline)
    b = {None: np.zeros(N_FEATURES), 0.7: np.full(N_FEATURES, 0.7), "array": base,
         "mean": X.mean(axis=0)}[baseline]
    for target in targets:
        sal = GradientSaliency(model, n_steps=7, rule=rule, baseline=base, target=target).fit(X)
        rows = data()["X_test"][:20]
        A, delta = sal.attribute(rows, return_convergence_delta=True)
        expected = _effective_weights(model, target) * (rows - b)
        np.testing.assert_allclose(A, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
        assert np.abs(delta).max() < 1e-11


# Steps: Gauss-Legendre converges geometrically on these smooth paths, at a rate set by how sharply
# the model bends along them (the zero baseline is far from the data: feature 3 has mean 5).
@pytest.mark.parametrize("name,output,n_steps", [
    ("MLPRegressor-tanh", "raw", 64),
    ("MLPRegressor-logistic", "raw", 64),
    ("MLPRegressor-2outputs", "raw", 64),
    ("MLPRegressor-poisson", "raw", 256),
    ("MLPClassifier-tanh-multiclass", "raw", 256),
    ("MLPClassifier-tanh-multiclass", "probability", 256),
    ("MLPClassifier-tanh-binary", "probability", 256),
    ("MLPClassifier-logistic-multilabel", "probability", 256),
    ("Pipeline-StandardScaler-MLPClassifier", "probability", 1024),
    ("SGDClassifier-log-multiclass", "probability", 2048),  # unregularised: steep sigmoids
])
@pytest.mark.parametrize("baseline", [None, "mean"])
def test_integrated_gradients_completeness_and_delta(name, output, n_steps, baseline):
    model, targets = model_and_targets(name)
    X = data()["X"]
    b = np.zeros(N_FEATURES) if baseline is None else X.mean(axis=0)
    for target in targets:
        sal = GradientSaliency(model, n_steps=n_steps, baseline=baseline, target=target,
                               output=output)
        rows = data()["X_test"][:30]
        A, delta = sal.fit(X).attribute(rows, return_convergence_delta=True)
        gap = explained_output(model, rows, target, output) - explained_output(
            model, np.tile(b, (30, 1)), target, output)
        error = A.sum(axis=1) - gap
        assert np.abs(error).max() < 1e-8
        np.testing.assert_allclose(delta, error, rtol=0, atol=1e-12)


def test_integrated_gradients_matches_reference_quadrature():
    model = fitted("MLPClassifier-logistic-multiclass")
    X = data()["X_test"][:5]
    b = np.array([0.5, -1.0, 2.0, 3.0])
    for target in range(3):
        ours = saliency(model, X, n_steps=6, baseline=b, target=target, output="probability")
        reference = reference_integrated_gradients(
            lambda Z, t=target: explained_output(model, Z, t, "probability"), X, b, 6)
        np.testing.assert_allclose(ours, reference, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("rule,order", [("riemann_left", 1), ("riemann_right", 1),
                                        ("riemann_middle", 2), ("riemann_trapezoid", 2)])
def test_riemann_rules_converge_at_their_order(rule, order):
    model = fitted("MLPRegressor-tanh")
    X = data()["X_test"][:20]
    errors = [np.abs(GradientSaliency(model, n_steps=n, rule=rule).fit().attribute(
        X, return_convergence_delta=True)[1]).max() for n in (16, 64)]
    assert errors[1] < errors[0] / (4**order / 1.5)  # 4x the steps: ~4^order smaller


def test_quadrature_rules():
    for n in (1, 2, 5, 64):
        alphas, weights = quadrature("gauss_legendre", n)
        for degree in range(2 * n):  # exact for polynomials up to degree 2n - 1
            assert abs(weights @ alphas**degree - 1.0 / (degree + 1)) < 1e-13
    for rule in RULES:
        alphas, weights = quadrature(rule, 10)
        assert abs(weights.sum() - 1.0) < 1e-15 and np.all((alphas >= 0) & (alphas <= 1))
    np.testing.assert_allclose(quadrature("riemann_left", 4)[0], [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(quadrature("riemann_right", 4)[0], [0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(quadrature("riemann_middle", 2)[0], [0.25, 0.75])
    np.testing.assert_allclose(quadrature("riemann_trapezoid", 3)[1], [0.25, 0.5, 0.25])


# -- SmoothGrad ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["smoothgrad", "smoothgrad_sq", "vargrad"])
@pytest.mark.parametrize("with_background", [False, True])
def test_smoothgrad_matches_gradients_at_documented_noise(method, with_background):
    model = fitted("MLPRegressor-tanh")
    X = data()["X"]
    rows = data()["X_test"][:3]
    sal = GradientSaliency(model, method, n_samples=5, noise_level=0.2, random_state=7)
    ours = sal.fit(X if with_background else None).attribute(rows)
    if with_background:
        sd = np.tile(0.2 * np.ptp(X, axis=0), (3, 1))
    else:  # the SmoothGrad paper's rule: relative to each row's own range
        sd = np.tile(0.2 * np.ptp(rows, axis=1)[:, None], (1, N_FEATURES))
    reference = reference_smoothgrad(lambda Z: explained_output(model, Z, 0), rows, sd, 5, 7,
                                     method)
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-8 * np.abs(reference).max())


@pytest.mark.parametrize("method", ["smoothgrad", "smoothgrad_sq", "vargrad"])
def test_smoothgrad_deterministic_and_independent_of_n_jobs(method):
    model = fitted("MLPClassifier-tanh-multiclass")
    X = data()["X_test"][:50]
    runs = [GradientSaliency(model, method, n_samples=8, random_state=3, n_jobs=n_jobs).fit(X)
            .attribute(X) for n_jobs in (1, 2, -1, None, 1)]
    for other in runs[1:]:
        np.testing.assert_array_equal(runs[0], other)
    other_seed = GradientSaliency(model, method, n_samples=8, random_state=4).fit(X).attribute(X)
    assert not np.allclose(other_seed, runs[0])
    shared = np.random.RandomState(3)
    sal = GradientSaliency(model, method, n_samples=8, random_state=shared).fit(X)
    np.testing.assert_array_equal(sal.attribute(X), runs[0])
    assert not np.allclose(sal.attribute(X), runs[0])  # the shared generator moved on
    small_batches = GradientSaliency(model, method, n_samples=8, random_state=3, batch_size=7)
    np.testing.assert_allclose(small_batches.fit(X).attribute(X), runs[0], rtol=1e-12, atol=1e-15)


def test_smoothgrad_without_noise_is_the_gradient():
    model = fitted("MLPClassifier-relu-multiclass")
    X = data()["X_test"][:20]
    gradient = saliency(model, X, "gradient")
    params = {"n_samples": 4, "noise_level": 0.0, "random_state": 0}
    scale = np.abs(gradient).max()
    np.testing.assert_allclose(saliency(model, X, "smoothgrad", **params), gradient, rtol=1e-14,
                               atol=1e-15 * scale)
    np.testing.assert_allclose(saliency(model, X, "smoothgrad_sq", **params), gradient**2,
                               rtol=1e-14, atol=1e-15 * scale**2)
    assert np.abs(saliency(model, X, "vargrad", **params)).max() < 1e-28


# -- finite differences --------------------------------------------------------------------------


def test_finite_differences_of_a_callable():
    w = np.array([1.0, -2.0, 0.5, 3.0])

    def f(X):
        return np.column_stack([np.sin(X) @ w + X[:, 0] * X[:, 1], np.exp(0.3 * X[:, 2])])

    X = data()["X_test"][:25]
    sal = GradientSaliency(f, "gradient", target=0).fit()
    assert sal.gradient_source_ == "finite_differences"
    expected = np.cos(X) * w + np.column_stack([X[:, 1], X[:, 0], 0 * X[:, 0], 0 * X[:, 0]])
    np.testing.assert_allclose(sal.attribute(X), expected, rtol=1e-7, atol=1e-8)
    second = saliency(f, X, "gradient", target=1)
    np.testing.assert_allclose(second[:, 2], 0.3 * np.exp(0.3 * X[:, 2]), rtol=1e-7)
    A, delta = saliency(f, X, target=0, n_steps=32, return_convergence_delta=True)
    assert np.abs(delta).max() < 1e-6 * np.abs(A).sum(axis=1).max()


def test_finite_differences_call_the_model_once_per_chunk_with_all_copies():
    calls = []

    def f(X):
        calls.append(len(X))
        return np.sin(X).sum(axis=1)

    X = data()["X_test"][:10]
    GradientSaliency(f, "gradient").fit().attribute(X)
    assert calls == [10, 10 * 2 * N_FEATURES]  # the scores (target), then every copy at once


@pytest.mark.parametrize("name,model", [
    ("SVR", lambda: SVR(C=3.0)),
    ("KernelRidge", lambda: KernelRidge(kernel="rbf", alpha=0.1)),
    ("Pipeline-PolynomialFeatures", lambda: make_pipeline(PolynomialFeatures(2),
                                                          linear_model.Ridge())),
    ("Pipeline-MinMaxScaler(clip)", lambda: make_pipeline(MinMaxScaler(clip=True),
                                                          _mlp(MLPRegressor, "tanh"))),
])
def test_finite_differences_of_other_models_match_richardson(name, model):
    X = data()["X"]
    fitted_model = fit_quietly(model(), X, data()["regression"])
    sal = GradientSaliency(fitted_model, "gradient").fit(X)
    assert sal.gradient_source_ == "finite_differences"
    rows = data()["X_test"][:10]
    check_gradient(fitted_model, rows, 0, "raw", sal.attribute(rows))


def test_finite_differences_of_classifiers():
    X = data()["X"]
    svc = SVC(gamma=0.2).fit(X, data()["binary"])
    for target in (0, 1):
        sal = GradientSaliency(svc, "gradient", target=target).fit(X)
        assert sal.gradient_source_ == "finite_differences"
        rows = data()["X_test"][:8]
        check_gradient(svc, rows, target, "raw", sal.attribute(rows))
    modified_huber = linear_model.SGDClassifier(loss="modified_huber", random_state=0)
    modified_huber.fit(X, data()["multiclass"])
    sal = GradientSaliency(modified_huber, "gradient", target=1, output="probability").fit(X)
    assert sal.gradient_source_ == "finite_differences"
    knn = KNeighborsClassifier().fit(X, data()["binary"])
    with pytest.raises(ValueError, match="no decision_function.*output='probability'"):
        GradientSaliency(knn).fit()


def test_finite_differences_agree_with_analytic_gradients():
    model = fitted("MLPClassifier-tanh-multiclass")
    X = data()["X_test"][:20]
    for method in ("gradient", "integrated_gradients", "smoothgrad"):
        for target in range(3):
            params = {"target": target, "n_steps": 8, "n_samples": 3, "random_state": 1}
            analytic = saliency(model, X, method, output="probability", **params)
            numeric = saliency(lambda Z: model.predict_proba(Z), X, method, **params)
            np.testing.assert_allclose(numeric, analytic, rtol=1e-6, atol=1e-8)


# -- digits images -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    bunch = load_digits()
    model = fit_quietly(MLPClassifier(hidden_layer_sizes=(32,), max_iter=60, random_state=0),
                        bunch.data, bunch.target)
    return model, bunch.images


@pytest.mark.parametrize("method", ["gradient", "gradient_x_input", "integrated_gradients",
                                    "smoothgrad", "vargrad", "saliency_map"])
def test_digits_attributions_come_back_in_image_shape(digits, method):
    model, images = digits
    A = saliency(model, images[:40], method, n_steps=16, n_samples=4, random_state=0)
    assert A.shape == (40, 8, 8)
    flat = saliency(model, images[:40].reshape(40, 64), method, n_steps=16, n_samples=4,
                    random_state=0)
    np.testing.assert_array_equal(A, flat.reshape(40, 8, 8))


def test_digits_zero_pixels_have_zero_attribution(digits):
    model, images = digits
    never_lit = (images == 0).all(axis=0)
    assert never_lit.sum() >= 3  # pixels (0, 0), (4, 0), (4, 7) are blank in every digit
    rows = images[:100]
    gradient = saliency(model, rows, "gradient")
    assert np.abs(gradient[:, never_lit]).max() > 1e-6  # the model is sensitive there ...
    for method, params in [("gradient_x_input", {}), ("integrated_gradients", {}),
                           ("integrated_gradients", {"baseline": 0.0}),
                           ("integrated_gradients", {"output": "probability"})]:
        A = saliency(model, rows, method, **params)
        assert np.all(A[:, never_lit] == 0.0), method  # ... but x - baseline is exactly 0 there
        assert np.abs(A).max() > 0


def test_digits_channels_and_image_baseline(digits):
    model, images = digits
    rows = images[:10]
    with_channel = rows[..., None]
    A = saliency(model, with_channel, "gradient")
    assert A.shape == (10, 8, 8, 1)
    heat = saliency(model, with_channel, "saliency_map")
    assert heat.shape == (10, 8, 8)
    np.testing.assert_array_equal(heat, np.abs(A[..., 0]))
    baseline = np.full((8, 8), 4.0)
    A_image, delta = saliency(model, rows, baseline=baseline, return_convergence_delta=True)
    A_flat = saliency(model, rows, baseline=baseline.ravel())
    np.testing.assert_array_equal(A_image, A_flat)
    target = model.predict(rows.reshape(10, 64))
    gap = explained_output(model, rows.reshape(10, 64), target) - explained_output(
        model, np.full((10, 64), 4.0), target)
    np.testing.assert_allclose(A_image.sum(axis=(1, 2)) - gap, delta, atol=1e-12)


# -- trees ---------------------------------------------------------------------------------------


def _tree_models():
    X, y = data()["X"], data()["binary"]
    models = [DecisionTreeRegressor(max_depth=3).fit(X, y),
              RandomForestClassifier(n_estimators=3, random_state=0).fit(X, y),
              GradientBoostingRegressor(n_estimators=3).fit(X, y),
              HistGradientBoostingClassifier(max_iter=3).fit(X, y),
              make_pipeline(StandardScaler(), DecisionTreeRegressor()).fit(X, y)]
    boosting = {"xgboost": ("XGBRegressor", {}), "lightgbm": ("LGBMRegressor", {"verbosity": -1}),
                "catboost": ("CatBoostRegressor", {"verbose": 0, "allow_writing_files": False})}
    for module, (cls, quiet) in boosting.items():
        try:
            library = __import__(module)
        except ImportError:
            continue
        models.append(getattr(library, cls)(n_estimators=3, **quiet).fit(X, y))
    return models


def test_tree_models_point_to_tree_explainer():
    for model in _tree_models():
        with pytest.raises(TypeError, match="TreeExplainer"):
            GradientSaliency(model).fit()


# -- threads, frames, pickling, shortcut ---------------------------------------------------------


@pytest.mark.parametrize("method", ["gradient", "integrated_gradients"])
def test_results_identical_for_every_n_jobs(method):
    model = fitted("MLPClassifier-tanh-multiclass")
    X = np.tile(data()["X"], (20, 1))  # several blocks per thread
    before = numba.get_num_threads()
    results = [saliency(model, X, method, n_jobs=n_jobs) for n_jobs in (1, 2, -1, None)]
    assert numba.get_num_threads() == before
    for other in results[1:]:
        np.testing.assert_array_equal(results[0], other)


def test_frames_are_matched_by_column_name():
    pd = pytest.importorskip("pandas")
    X = data()["X"]
    frame = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    for model in (fit_quietly(_mlp(MLPRegressor, "tanh"), frame, data()["regression"]),
                  fit_quietly(SVR(), frame, data()["regression"])):
        sal = GradientSaliency(model, "gradient").fit(frame)
        ours = sal.attribute(frame[["c", "a", "d", "b"]].iloc[:5])
        np.testing.assert_array_equal(ours, sal.attribute(frame.iloc[:5]))
        np.testing.assert_array_equal(sal.feature_names_in_, ["a", "b", "c", "d"])
        with pytest.raises(ValueError, match="columns do not match"):
            sal.attribute(frame.rename(columns={"a": "z"}))


def test_pickle_and_shortcut():
    model = fitted("Pipeline-StandardScaler-MLPClassifier")
    X = data()["X_test"][:10]
    sal = GradientSaliency(model, n_steps=12, baseline="mean", output="probability").fit(X)
    restored = pickle.loads(pickle.dumps(sal))
    np.testing.assert_array_equal(restored.attribute(X), sal.attribute(X))
    np.testing.assert_array_equal(
        saliency(model, X, n_steps=12, baseline="mean", output="probability", X_background=X),
        sal.attribute(X))
    assert sal.baseline_.shape == (N_FEATURES,) and sal.n_features_in_ == N_FEATURES
    np.testing.assert_array_equal(sal.classes_, model.classes_)


# -- kernels -------------------------------------------------------------------------------------


def test_tanh_kernel_within_two_ulp_of_libm():
    magnitudes = np.concatenate([np.geomspace(1e-300, 40.0, 3000), [0.625, 19.06, 20.0, 1e300]])
    x = np.concatenate([magnitudes, -magnitudes, np.nextafter(0.625, [0.0, 1.0]), [0.0, -0.0]])
    ours = np.array([kernels.tanh(v) for v in x])
    reference = np.tanh(x)
    ulp = np.spacing(np.abs(reference))
    assert np.all(np.abs(ours - reference) <= 2 * ulp)
    assert np.signbit(kernels.tanh(-0.0)) and kernels.tanh(np.inf) == 1.0
    assert kernels.tanh(-np.inf) == -1.0 and np.isnan(kernels.tanh(np.nan))


# -- errors --------------------------------------------------------------------------------------


def test_bad_input_errors():
    model = fitted("MLPClassifier-tanh-multiclass")
    X = data()["X_test"][:5]
    sal = GradientSaliency(model).fit()
    with pytest.raises(ValueError, match="3 features, but the model expects 4"):
        sal.attribute(X[:, :3])
    for bad in (np.nan, np.inf):
        X_bad = X.copy()
        X_bad[2, 1] = bad
        with pytest.raises(ValueError, match="NaN or inf.*row 2, feature 1"):
            sal.attribute(X_bad)
    with pytest.raises(ValueError, match="no rows"):
        sal.attribute(X[:0])
    with pytest.raises(ValueError, match="not fitted"):
        GradientSaliency(model).attribute(X)
    with pytest.raises(ValueError, match="applies to method='integrated_gradients' only"):
        GradientSaliency(model, "gradient").fit().attribute(X, return_convergence_delta=True)
    with pytest.raises(ValueError, match="flattens to 81"):
        sal.attribute(np.zeros((2, 9, 9)))


@pytest.mark.parametrize("params,match", [
    ({"method": "lime"}, "unknown method"),
    ({"rule": "simpson"}, "unknown rule"),
    ({"output": "logit"}, "unknown output"),
    ({"n_steps": 0}, "n_steps must be an integer >= 1"),
    ({"n_steps": 2.5}, "n_steps"),
    ({"n_steps": True}, "n_steps"),
    ({"n_steps": 1, "rule": "riemann_trapezoid"}, "n_steps must be an integer >= 2"),
    ({"n_samples": 1, "method": "vargrad"}, "n_samples must be an integer >= 2"),
    ({"batch_size": 0}, "batch_size"),
    ({"noise_level": -0.1}, "noise_level"),
    ({"absolute": True}, "method='gradient' only"),
    ({"target": -1}, "non-negative"),
    ({"target": 1.5}, "target must be"),
    ({"baseline": "median"}, "baseline must be"),
    ({"baseline": "mean"}, "pass X_background"),
    ({"baseline": [1.0, 2.0]}, "baseline has 2 values"),
    ({"baseline": np.nan}, "finite"),
    ({"output": "probability", "model": "regressor"}, "needs a classifier"),
])
def test_bad_parameter_errors(params, match):
    params = dict(params)
    model = fitted("MLPRegressor-tanh" if params.pop("model", None) else
                   "MLPClassifier-tanh-multiclass")
    with pytest.raises(ValueError, match=match):
        GradientSaliency(model, **params).fit()


def test_target_errors():
    X = data()["X_test"][:4]
    classifier = fitted("MLPClassifier-tanh-multiclass")
    with pytest.raises(ValueError, match="target 3 is out of range.*3 classes"):
        saliency(classifier, X, target=3)
    with pytest.raises(ValueError, match="out of range"):
        saliency(classifier, X, target=[0, 1, 5, 2])
    with pytest.raises(ValueError, match="target has 3 entries but X has 4 rows"):
        saliency(classifier, X, target=[0, 1, 2])
    two_outputs = fitted("MLPRegressor-2outputs")
    with pytest.raises(ValueError, match="2 outputs; pass target="):
        saliency(two_outputs, X)
    with pytest.raises(ValueError, match="target 2 is out of range.*2 outputs"):
        saliency(two_outputs, X, target=2)


def test_model_errors():
    X = data()["X_test"][:4]
    with pytest.raises(TypeError, match="callable"):
        GradientSaliency(object()).fit()
    with pytest.raises(ValueError, match="not fitted"):  # scikit-learn's NotFittedError
        GradientSaliency(MLPRegressor()).fit()
    with pytest.raises(ValueError, match=r"returned shape \(3, 2, 2\)"):
        saliency(lambda Z: np.zeros((3, 2, 2)), X)
    with pytest.raises(ValueError, match="returned NaN"):
        saliency(lambda Z: np.full(len(Z), np.nan), X, "gradient")
    with pytest.raises(ValueError, match="output='raw'"):
        GradientSaliency(np.sin, output="probability").fit()
    with pytest.raises(ValueError, match="X_background has 3 features"):
        GradientSaliency(fitted("Ridge")).fit(X[:, :3])
