"""Gradient saliency: the public :class:`GradientSaliency` and the :func:`saliency` shortcut."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state

from .._validation import check_fitted, check_n_jobs, check_rows, feature_names_of
from . import kernels
from .gradients import GradientSource, make_gradient_source

METHODS = (
    "gradient",
    "gradient_x_input",
    "integrated_gradients",
    "smoothgrad",
    "smoothgrad_sq",
    "vargrad",
    "saliency_map",
)
RULES = ("gauss_legendre", "riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid")
OUTPUTS = ("raw", "probability")
_NOISE_METHODS = {
    "smoothgrad": kernels.WEIGHTED_SUM,
    "smoothgrad_sq": kernels.WEIGHTED_SQUARES,
    "vargrad": kernels.WEIGHTED_VARIANCE,
}
# Floats of gradient points (rows x steps x features) per batch when batch_size is None: bounds the
# memory of SmoothGrad's noisy copies and of finite differences; the network kernels split a batch
# further into cache-sized blocks.
_ELEMENTS_PER_BATCH = 1 << 22


def quadrature(rule: str, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights on [0, 1] for the Integrated Gradients path integral.

    Parameters
    ----------
    rule : str
        "gauss_legendre", "riemann_left", "riemann_right", "riemann_middle" or "riemann_trapezoid".
    n_steps : int
        Number of nodes (at least 2 for the trapezoid rule).

    Returns
    -------
    alphas, weights : ndarray of shape (n_steps,)

    Examples
    --------
    >>> alphas, weights = quadrature("gauss_legendre", 3)
    >>> round(float(weights @ alphas**5), 12)  # exact up to degree 2 * 3 - 1
    0.166666666667
    """
    k = np.arange(n_steps, dtype=np.float64)
    if rule == "gauss_legendre":
        # scipy's, not numpy's leggauss: that one solves an n x n eigenproblem (3 s for n = 2048)
        from scipy.special import roots_legendre

        nodes, weights = roots_legendre(n_steps)
        return (nodes + 1.0) / 2.0, weights / 2.0
    if rule == "riemann_trapezoid":
        weights = np.full(n_steps, 1.0 / (n_steps - 1))
        weights[[0, -1]] /= 2.0
        return k / (n_steps - 1), weights
    offset = {"riemann_left": 0.0, "riemann_middle": 0.5, "riemann_right": 1.0}[rule]
    return (k + offset) / n_steps, np.full(n_steps, 1.0 / n_steps)


@contextmanager
def thread_limit(n_threads: int, blas_threads: int) -> Iterator[None]:
    """Set Numba's and BLAS's thread counts for the enclosed calls, then restore both."""
    import numba
    from threadpoolctl import threadpool_limits

    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(n_threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        with threadpool_limits(limits=blas_threads, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(previous)


def check_int(value: Any, name: str, minimum: int, why: str = "") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}{why}, got {value!r}")
    return int(value)


def _check_finite(X: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(X)):
        row, col = np.argwhere(~np.isfinite(X))[0]
        raise ValueError(
            f"{name} has NaN or inf (first at row {row}, feature {col}); gradients are not defined "
            "there: impute or drop such rows before explaining"
        )


class GradientSaliency(BaseEstimator):
    """Gradient-based attributions of a differentiable model, in batches with Numba kernels.

    Parameters
    ----------
    model : fitted model or callable
        Analytic gradients for scikit-learn ``MLPRegressor``/``MLPClassifier``, linear models
        (``LinearRegression``, ``Ridge``, ``Lasso``, ``ElasticNet``, ``LogisticRegression``,
        ``SGDRegressor``, ``SGDClassifier`` and their relatives) and a ``Pipeline`` of
        ``StandardScaler``/``MinMaxScaler`` steps ending in one of those. Central finite differences
        for any other model and for a callable ``f(X) -> (n,) or (n, K)``. Tree models raise
        ``TypeError`` (use :class:`xplain_fast.TreeExplainer`).
    method : str, default "integrated_gradients"
        - ``"gradient"``: d f / d x (``absolute=True`` for its magnitude);
        - ``"gradient_x_input"``: x * d f / d x;
        - ``"integrated_gradients"``: (x - b) * integral_0^1 grad f(b + a (x - b)) da, with b the
          baseline;
        - ``"smoothgrad"`` / ``"smoothgrad_sq"`` / ``"vargrad"``: mean / mean square / variance of
          the gradient over ``n_samples`` noisy copies of x;
        - ``"saliency_map"``: \\|d f / d x\\| (Simonyan et al.), the maximum over the channel axis
          for (n, H, W, C) images, so the map has shape (n, H, W).
    n_steps : int, default 64
        Quadrature nodes of the Integrated Gradients integral.
    rule : str, default "gauss_legendre"
        Quadrature rule: ``"gauss_legendre"`` (exact for polynomials of degree < 2 n_steps) or
        ``"riemann_left"``, ``"riemann_right"``, ``"riemann_middle"``, ``"riemann_trapezoid"``.
    baseline : None, float, array-like or "mean", default None
        Integrated Gradients' reference input: None is zeros, a float fills every feature, an array
        has one value per feature (or the image shape), "mean" is the mean of the background data.
    target : None, int or array-like of int, default None
        Which output to explain: a class index (position in ``classes_``) or output column, or one
        per row. None: the predicted class of a classifier (the largest score; for multilabel MLPs,
        the most likely label), the only output of a regressor.
    output : {"raw", "probability"}, default "raw"
        Explain the raw score (regression output, logit, pre-softmax score; for a binary classifier
        scored by one logit z, class 0's score is -z) or the class probability.
    absolute : bool, default False
        With ``method="gradient"``, return \\|d f / d x\\|.
    n_samples : int, default 50
        Noisy copies per row for SmoothGrad and VarGrad.
    noise_level : float, default 0.15
        SmoothGrad's noise standard deviation relative to the feature range: (max - min) of each
        feature in the background data, or without background, of each row's values (the
        SmoothGrad paper's per-image rule).
    batch_size : int, optional
        Rows per batch (each expands to ``n_steps`` or ``n_samples`` points). None keeps a batch's
        points to about 4 million floats.
    n_jobs : int, optional
        Threads for the kernels and BLAS (None: 1, -1: all cores). Results are identical for
        every value.
    random_state : int, RandomState or None
        Seeds SmoothGrad's noise: sample s of row i uses draw number ``i * n_samples + s`` of the
        standard-normal vectors of length M that ``check_random_state(random_state)`` produces.

    Attributes
    ----------
    gradient_source_ : {"analytic", "finite_differences"}
    n_features_in_ : int
        Not set for a callable fitted without background data (then any width is accepted).
    baseline_ : ndarray of shape (n_features_in_,) or float
        A float only where the width is not known.
    classes_ : ndarray
        For classifiers.
    feature_names_in_ : ndarray of str
        When the model or the background data has column names.

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> from sklearn.linear_model import LinearRegression
    >>> X = np.random.default_rng(0).normal(size=(100, 3)); y = X @ [1.0, -2.0, 0.5]
    >>> sal = xf.GradientSaliency(LinearRegression().fit(X, y)).fit()
    >>> A, delta = sal.attribute(X[:2], return_convergence_delta=True)
    >>> bool(np.allclose(A, X[:2] * [1.0, -2.0, 0.5])), bool(np.abs(delta).max() < 1e-12)
    (True, True)
    """

    def __init__(
        self,
        model: Any,
        method: str = "integrated_gradients",
        *,
        n_steps: int = 64,
        rule: str = "gauss_legendre",
        baseline: Any = None,
        target: Any = None,
        output: str = "raw",
        absolute: bool = False,
        n_samples: int = 50,
        noise_level: float = 0.15,
        batch_size: int | None = None,
        n_jobs: int | None = None,
        random_state: Any = None,
    ) -> None:
        # stored untouched (scikit-learn's convention); fit validates them
        self.model, self.method, self.target, self.output = model, method, target, output
        self.n_steps, self.rule, self.baseline, self.absolute = n_steps, rule, baseline, absolute
        self.n_samples, self.noise_level, self.batch_size = n_samples, noise_level, batch_size
        self.n_jobs, self.random_state = n_jobs, random_state

    # -- fit ------------------------------------------------------------------------------------
    def fit(self, X_background: Any = None, y: Any = None) -> GradientSaliency:
        """Validate the parameters, pick the gradient source and resolve the baseline.

        Parameters
        ----------
        X_background : array-like of shape (n, M) or (n, H, W[, C]), optional
            Reference data: its mean is ``baseline="mean"``, its feature ranges scale SmoothGrad's
            noise, its spreads scale finite-difference steps.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        self._check_params()
        model_names = getattr(self.model, "feature_names_in_", None)
        background = None
        if X_background is not None:
            background, _ = self._flatten(X_background, "X_background", model_names)
        feature_scale = None
        if background is not None and len(background) > 1:
            spread = background.std(axis=0)
            feature_scale = np.where(spread > 0, spread, 1.0)
        self._source = make_gradient_source(
            self.model, output=self.output, feature_scale=feature_scale
        )
        self.gradient_source_ = self._source.kind
        n_features = self._source.n_features
        if background is not None:
            if n_features is not None and background.shape[1] != n_features:
                raise ValueError(
                    f"X_background has {background.shape[1]} features, but the model "
                    f"expects {n_features}"
                )
            n_features = background.shape[1]
        self.baseline_ = self._resolve_baseline(background, n_features)
        if n_features is None and isinstance(self.baseline_, np.ndarray):
            n_features = len(self.baseline_)
        if n_features is not None:
            self.n_features_in_ = n_features
        self._feature_range = None if background is None else np.ptp(background, axis=0)
        if self._source.is_classifier:
            self.classes_ = self._source.classes
        names = model_names if model_names is not None else feature_names_of(X_background)
        if names is not None:
            self.feature_names_in_ = np.asarray(names, dtype=object)
        return self

    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r}; choose one of {', '.join(METHODS)}")
        if self.rule not in RULES:
            raise ValueError(f"unknown rule {self.rule!r}; choose one of {', '.join(RULES)}")
        if self.output not in OUTPUTS:
            raise ValueError(f"unknown output {self.output!r}; choose 'raw' or 'probability'")
        if self.rule == "riemann_trapezoid":
            check_int(self.n_steps, "n_steps", 2, " (the trapezoid rule needs both ends)")
        else:
            check_int(self.n_steps, "n_steps", 1)
        if self.method == "vargrad":
            check_int(self.n_samples, "n_samples", 2, " (a variance needs two samples)")
        else:
            check_int(self.n_samples, "n_samples", 1)
        if self.batch_size is not None:
            check_int(self.batch_size, "batch_size", 1)
        if (
            isinstance(self.noise_level, bool)
            or not isinstance(self.noise_level, numbers.Real)
            or not np.isfinite(self.noise_level)
            or self.noise_level < 0
        ):
            raise ValueError(f"noise_level must be a finite number >= 0, got {self.noise_level!r}")
        if self.absolute not in (True, False):
            raise ValueError(f"absolute must be True or False, got {self.absolute!r}")
        if self.absolute and self.method != "gradient":
            raise ValueError(
                "absolute=True applies to method='gradient' only ('saliency_map' is "
                "already absolute)"
            )
        check_n_jobs(self.n_jobs)
        if self.target is not None:
            targets = np.asarray(self.target)
            if targets.ndim > 1 or targets.dtype.kind not in "iu" or np.any(targets < 0):
                raise ValueError(
                    "target must be None, a non-negative int or a 1-D array of them "
                    f"(class positions in classes_ or output columns), got {self.target!r}"
                )

    def _resolve_baseline(self, background: np.ndarray | None, n_features: int | None) -> Any:
        baseline = self.baseline
        if isinstance(baseline, str):
            if baseline != "mean":
                raise ValueError(
                    f"baseline must be None, a number, an array or 'mean', got {baseline!r}"
                )
            if background is None:
                raise ValueError(
                    "baseline='mean' is the mean of the background data; pass X_background to fit()"
                )
            return background.mean(axis=0)
        if baseline is None or np.ndim(baseline) == 0:
            value = 0.0 if baseline is None else float(baseline)
            if not np.isfinite(value):
                raise ValueError(f"baseline must be finite, got {baseline!r}")
            return value if n_features is None else np.full(n_features, value)
        values = np.asarray(baseline, dtype=np.float64).ravel()
        if n_features is not None and len(values) != n_features:
            raise ValueError(
                f"baseline has {len(values)} values (shape {np.shape(baseline)}), but the "
                f"model expects {n_features} features"
            )
        _check_finite(values[None, :], "baseline")
        return values

    # -- attribute --------------------------------------------------------------------------------
    def attribute(self, X: Any, *, return_convergence_delta: bool = False) -> Any:
        """Attributions of the explained output to every input feature.

        Parameters
        ----------
        X : array-like of shape (n, M), or image array (n, H, W) or (n, H, W, C)
            numpy, pandas or polars; images are flattened in C order to the model's input and the
            attributions are returned in the image shape.
        return_convergence_delta : bool, default False
            With Integrated Gradients, also return ``delta = sum(A) - (f(x) - f(baseline))`` per
            row: the quadrature error (completeness says it is 0 for the exact integral).

        Returns
        -------
        A : ndarray of the shape of X ((n, H, W) for ``"saliency_map"`` of (n, H, W, C) images)
        delta : ndarray of shape (n,)
            Only with ``return_convergence_delta=True``.
        """
        check_fitted(self, "_source")
        if return_convergence_delta and self.method != "integrated_gradients":
            raise ValueError(
                "return_convergence_delta applies to method='integrated_gradients' only"
            )
        rows, shape = self._flatten(X, "X", getattr(self, "feature_names_in_", None))
        n_features = getattr(self, "n_features_in_", None)
        if n_features is not None and rows.shape[1] != n_features:
            raise ValueError(
                f"X has {rows.shape[1]} features, but the model expects {n_features}"
                + (
                    f" (image shape {shape[1:]} flattens to {rows.shape[1]})"
                    if len(shape) > 2
                    else ""
                )
            )
        baseline = np.array(np.broadcast_to(self.baseline_, (rows.shape[1],)), dtype=np.float64)
        n_threads = check_n_jobs(self.n_jobs)
        with thread_limit(n_threads, 1 if self._source.nested_blas else n_threads):
            columns, signs = self._targets(rows)
            A = self._attribute_rows(rows, baseline, columns, signs)
            if return_convergence_delta:
                gap = self._source.values(rows, columns, signs) - self._source.values(
                    np.tile(baseline, (len(rows), 1)), columns, signs
                )
                delta = A.sum(axis=1) - gap
        if self.method == "saliency_map" and len(shape) == 4:
            A = A.reshape(shape).max(axis=3)
        else:
            A = A.reshape(shape)
        return (A, delta) if return_convergence_delta else A

    def _flatten(self, X: Any, name: str, names: Any) -> tuple[np.ndarray, tuple[int, ...]]:
        """X as finite float64 rows, and the shape to give the attributions back."""
        if isinstance(X, np.ndarray) and X.ndim >= 3:
            shape = X.shape
            rows = check_rows(X.reshape(len(X), -1), name=name)
        else:
            given = feature_names_of(X)
            if names is not None and given is not None and list(given) != list(names):
                if sorted(given) != sorted(names):
                    raise ValueError(
                        f"{name}'s columns do not match the model's features "
                        f"(missing e.g. {sorted(set(names) - set(given))[:5]})"
                    )
                X = X[list(names)]
            rows = check_rows(X, name=name)
            shape = rows.shape
        _check_finite(rows, name)
        # A read-only input would make Numba compile a second variant of the kernels that read it.
        return (rows if rows.flags.writeable else rows.copy()), shape

    def _targets(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-row (score column, sign) of the explained output."""
        source: GradientSource = self._source
        n_targets = source.n_targets
        scores = None
        if self.target is None or n_targets is None:
            scores = source.scores(rows)
            if n_targets is None:
                n_targets = scores.shape[1]
        if self.target is None:
            if source.is_classifier:
                targets = source.predicted_targets(scores)
            elif n_targets == 1:
                targets = np.zeros(len(rows), dtype=np.int64)
            else:
                raise ValueError(
                    f"the model has {n_targets} outputs; pass target= to pick one "
                    "(an int, or one per row)"
                )
        else:
            targets = (
                np.broadcast_to(np.asarray(self.target, dtype=np.int64), (len(rows),))
                if np.ndim(self.target) == 0
                else np.asarray(self.target, dtype=np.int64)
            )
            if len(targets) != len(rows):
                raise ValueError(f"target has {len(targets)} entries but X has {len(rows)} rows")
            if np.any(targets >= n_targets):
                raise ValueError(
                    f"target {int(targets.max())} is out of range: the model has "
                    f"{n_targets} {'classes' if source.is_classifier else 'outputs'} "
                    f"(valid: 0..{n_targets - 1})"
                )
        return source.targets_to_columns(targets)

    def _attribute_rows(
        self, rows: np.ndarray, baseline: np.ndarray, columns: np.ndarray, signs: np.ndarray
    ) -> np.ndarray:
        source: GradientSource = self._source
        method = self.method
        if method == "integrated_gradients":
            alphas, weights = quadrature(self.rule, self.n_steps)
            points_per_row = self.n_steps
        elif method in _NOISE_METHODS:
            rng = check_random_state(self.random_state)
            weights = np.full(self.n_samples, 1.0 / self.n_samples)
            points_per_row = self.n_samples
        else:
            points_per_row = 1
        n, m = rows.shape
        batch = self.batch_size or max(1, _ELEMENTS_PER_BATCH // (points_per_row * m))
        A = np.empty((n, m))
        for begin in range(0, n, batch):
            chunk = slice(begin, min(n, begin + batch))
            X = rows[chunk]
            if method == "integrated_gradients":
                grads = source.path_gradients(
                    X, baseline, columns[chunk], signs[chunk], alphas, weights
                )
                A[chunk] = (X - baseline) * grads
            elif method in _NOISE_METHODS:
                points = rng.standard_normal((len(X) * self.n_samples, m))
                self._add_noise(X, points)
                grads = source.gradients(
                    points,
                    np.repeat(columns[chunk], self.n_samples),
                    np.repeat(signs[chunk], self.n_samples),
                )
                kernels.reduce_groups(grads, weights, _NOISE_METHODS[method], A[chunk])
            else:
                grads = source.gradients(X, columns[chunk], signs[chunk])
                if method == "gradient_x_input":
                    grads *= X
                elif method == "saliency_map" or self.absolute:
                    np.abs(grads, out=grads)
                A[chunk] = grads
        return A

    def _add_noise(self, X: np.ndarray, noise: np.ndarray) -> None:
        """Turn standard-normal draws into SmoothGrad's noisy copies of X, in place."""
        if self._feature_range is not None:
            row_scale = np.ones(len(X))
            feature_scale = self.noise_level * self._feature_range
        else:
            row_scale = self.noise_level * np.ptp(X, axis=1)
            feature_scale = np.ones(X.shape[1])
        kernels.add_noise(X, noise, row_scale, feature_scale)


def saliency(model: Any, X: Any, method: str = "integrated_gradients", *, X_background: Any = None,
             return_convergence_delta: bool = False, **params: Any) -> Any:
    """Gradient-based attributions in one call.

    Equivalent to ``GradientSaliency(model, method, **params).fit(X_background).attribute(X, ...)``;
    ``params`` are :class:`GradientSaliency`'s (``n_steps``, ``rule``, ``baseline``, ``target``,
    ``output``, ``absolute``, ``n_samples``, ``noise_level``, ``batch_size``, ``n_jobs``,
    ``random_state``); an unknown one is a TypeError.

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> from sklearn.linear_model import Ridge
    >>> X = np.random.default_rng(0).normal(size=(50, 3)); y = X @ [1.0, 2.0, 3.0]
    >>> xf.saliency(Ridge(alpha=1e-9).fit(X, y), X[:2], method="gradient").round(6)
    array([[1., 2., 3.],
           [1., 2., 3.]])
    """
    explainer = GradientSaliency(model, method, **params)
    return explainer.fit(X_background).attribute(X, return_convergence_delta=return_convergence_delta)
