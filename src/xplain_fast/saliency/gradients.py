"""Gradient sources: where the gradient of the explained output comes from.

* :class:`DenseNetwork` - analytic gradients of a dense network, read from the model by
  :func:`xplain_fast.models.networks.to_network` (MLPs, linear models, and their scalers, which are
  folded into the first layer: the chain rule through an affine map).
* :class:`FiniteDifferences` - central differences of any other model or callable, all 2*M perturbed
  copies of a chunk of rows in one call.
* Tree models are refused with a pointer to TreeExplainer.

A source explains one scalar per row: the raw score (or probability) of the target column, read
with a sign so that class 0 of a binary model with a single class-1 score is explained too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..models import is_tree_model
from ..models.networks import Network, to_network
from . import kernels

# Floats handed to a model in one finite-difference call: bounds memory for wide inputs.
_FD_ELEMENTS_PER_CALL = 1 << 22
# Points per block of the network kernels: a block's activations stay in the core's L2 cache.
_POINTS_PER_BLOCK = 1024
# cbrt(machine epsilon): the central-difference step that balances truncation and rounding error.
_FD_RELATIVE_STEP = np.finfo(np.float64).eps ** (1.0 / 3.0)

TREE_MODEL_MESSAGE = (
    "{name} is a tree model: its output is piecewise constant, so its gradient is zero almost "
    "everywhere and gradient saliency says nothing about it. Use xf.TreeExplainer(model) for exact "
    "SHAP values instead."
)


class GradientSource:
    """The gradient of one explained scalar per row (see the subclasses).

    Attributes
    ----------
    kind : {"analytic", "finite_differences"}
    n_features : int or None
        None for a callable whose input width is not known.
    n_targets : int or None
        Number of selectable targets: classes of a classifier, else outputs; None while unknown
        (a regressor or callable whose output width is only seen when it is called).
    is_classifier : bool
    classes : ndarray or None
    single_score_binary : bool
        A binary classifier scored by one class-1 column: class 0 is read with sign -1.
    nested_blas : bool
        Whether the source calls BLAS from inside parallel kernels (then BLAS gets one thread).
    """

    kind: str
    nested_blas = False
    n_features: int | None
    n_targets: int | None
    is_classifier: bool
    classes: np.ndarray | None
    single_score_binary: bool

    def scores(self, X: np.ndarray) -> np.ndarray:
        """Raw scores (n, K) that pick the predicted class."""
        raise NotImplementedError

    def values(self, X: np.ndarray, columns: np.ndarray, signs: np.ndarray) -> np.ndarray:
        """The explained scalar of every row, shape (n,)."""
        raise NotImplementedError

    def gradients(self, points: np.ndarray, columns: np.ndarray, signs: np.ndarray) -> np.ndarray:
        """Gradient of the explained scalar at every point, shape (m, M)."""
        raise NotImplementedError

    def path_gradients(self, X: np.ndarray, baseline: np.ndarray, columns: np.ndarray, signs: np.ndarray,
                       alphas: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``sum_s weights[s] * gradient(b + alphas[s] * (x - b))`` per row x, shape (n, M)."""
        n, m = X.shape
        n_steps = len(alphas)
        points = np.empty((n * n_steps, m))
        kernels.interpolate(baseline, X - baseline, alphas, points)
        grads = self.gradients(points, np.repeat(columns, n_steps), np.repeat(signs, n_steps))
        out = np.empty((n, m))
        kernels.reduce_groups(grads, weights, kernels.WEIGHTED_SUM, out)
        return out

    def targets_to_columns(self, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-row target indices -> (score column, sign) per row."""
        if self.single_score_binary:
            return np.zeros(len(targets), dtype=np.int64), np.where(targets == 1, 1.0, -1.0)
        return targets.astype(np.int64), np.ones(len(targets))

    def predicted_targets(self, scores: np.ndarray) -> np.ndarray:
        """The class a classifier predicts from its scores (n, K): the largest, or one score > 0."""
        if self.single_score_binary:
            return (scores[:, 0] > 0).astype(np.int64)
        return np.argmax(scores, axis=1).astype(np.int64)


class DenseNetwork(GradientSource):
    """A fully connected network ``z_{l+1} = act(z_l @ W_l + b_l)`` with an output link.

    The last layer has no activation: its outputs are the raw scores, and the link (identity,
    logistic, softmax, one-vs-rest, exp) turns them into the explained value. All work runs in the
    block kernels of :mod:`.kernels` (BLAS products on a block's points, fused loops between them).
    """

    kind = "analytic"
    # The kernels call BLAS from inside their parallel loops: BLAS must stay single-threaded then.
    nested_blas = True

    def __init__(self, network: Network) -> None:
        # The kernels' layout: every weight matrix flattened in C order, one after the other, the
        # biases likewise, and the layer widths. These are copies, so a later refit of the model
        # does not change a fitted explainer.
        weights = network.weights
        self.sizes = np.array([weights[0].shape[0], *(w.shape[1] for w in weights)], dtype=np.int64)
        self.weights = np.concatenate([np.ravel(w) for w in weights]).astype(np.float64)
        self.biases = np.concatenate([np.ravel(b) for b in network.biases]).astype(np.float64)
        self.activation = kernels.ACTIVATIONS[network.activation]
        self.link = kernels.LINKS[network.link]
        self.is_classifier = network.is_classifier
        self.classes = network.classes
        self.n_targets = network.n_targets
        self.n_features = int(self.sizes[0])
        self.single_score_binary = self.is_classifier and self.n_targets == 2 and self.sizes[-1] == 1
        if network.input_scale is not None:
            self._fold_input_map(network.input_scale, network.input_shift)

    def _fold_input_map(self, scale: np.ndarray, shift: np.ndarray) -> None:
        """Make the network take x where it took ``x * scale + shift`` (a scaler before it)."""
        # (x * scale + shift) @ W + b = x @ (scale W) + (shift @ W + b)
        n_in, n_out = self.sizes[0], self.sizes[1]
        W = self.weights[: n_in * n_out].reshape(n_in, n_out)
        self.biases[:n_out] += shift @ W
        W *= scale[:, None]

    def _pass(
        self,
        X: np.ndarray,
        baseline: np.ndarray,
        columns: np.ndarray,
        signs: np.ndarray,
        alphas: np.ndarray,
        weights: np.ndarray,
        with_gradients: bool,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_in, n_out = self.sizes[0], self.sizes[1]
        start = baseline @ self.weights[: n_in * n_out].reshape(n_in, n_out) + self.biases[:n_out]
        gradients = np.empty(X.shape if with_gradients else (len(X), 0))
        scores = np.empty((len(X), self.sizes[-1]))
        values = np.empty(len(X))
        network = (self.weights, self.biases, self.sizes, self.activation, self.link)
        kernels.network_pass(X, network, (baseline, start, alphas, weights), (columns, signs),
                             max(1, _POINTS_PER_BLOCK // len(alphas)), with_gradients, (gradients, scores, values))
        return gradients, scores, values

    def _at_points(
        self, X: np.ndarray, columns: np.ndarray, signs: np.ndarray, with_gradients: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # A path of one step with weight 1 from the zero baseline ends at x: x itself.
        one = np.ones(1)
        return self._pass(X, np.zeros(X.shape[1]), columns, signs, one, one, with_gradients)

    def scores(self, X: np.ndarray) -> np.ndarray:
        return self._at_points(X, np.zeros(len(X), dtype=np.int64), np.ones(len(X)), False)[1]

    def values(self, X: np.ndarray, columns: np.ndarray, signs: np.ndarray) -> np.ndarray:
        return self._at_points(X, columns, signs, False)[2]

    def gradients(self, points: np.ndarray, columns: np.ndarray, signs: np.ndarray) -> np.ndarray:
        return self._at_points(points, columns, signs, True)[0]

    def path_gradients(self, X: np.ndarray, baseline: np.ndarray, columns: np.ndarray, signs: np.ndarray,
                       alphas: np.ndarray, weights: np.ndarray) -> np.ndarray:
        return self._pass(X, baseline, columns, signs, alphas, weights, True)[0]


@dataclass
class FiniteDifferences(GradientSource):
    """Central differences of ``function(X) -> (n,) or (n, K)``.

    The step for feature j of row i is ``cbrt(eps) * max(|x_ij|, scale_j)``, with ``scale_j`` the
    feature's spread in the background data (1 without), so the step follows each feature's units.
    """

    function: Callable[[np.ndarray], Any]
    n_features: int | None
    is_classifier: bool
    classes: np.ndarray | None
    n_targets: int | None
    single_score_binary: bool
    feature_scale: np.ndarray | None
    kind: ClassVar[str] = "finite_differences"

    def _call(self, X: np.ndarray) -> np.ndarray:
        out = np.asarray(self.function(X), dtype=np.float64)
        if out.ndim not in (1, 2) or out.shape[0] != len(X):
            raise ValueError(
                f"the model function returned shape {out.shape} for {len(X)} rows; it must return "
                "(n,) or (n, K) values, one row per input row"
            )
        if not np.all(np.isfinite(out)):
            raise ValueError(
                "the model function returned NaN or inf; finite differences need finite "
                "outputs around every explained point"
            )
        return out.reshape(len(X), -1)

    def scores(self, X: np.ndarray) -> np.ndarray:
        return self._call(X)

    def values(self, X: np.ndarray, columns: np.ndarray, signs: np.ndarray) -> np.ndarray:
        return signs * self._call(X)[np.arange(len(X)), columns]

    def gradients(self, points: np.ndarray, columns: np.ndarray, signs: np.ndarray) -> np.ndarray:
        n, m = points.shape
        scale = np.ones(m) if self.feature_scale is None else self.feature_scale
        step = _FD_RELATIVE_STEP * np.maximum(np.abs(points), scale)
        upper = points + step
        lower = points - step
        spans = upper - lower  # the step actually taken, after rounding
        out = np.empty((n, m))
        rows_per_call = max(1, _FD_ELEMENTS_PER_CALL // (2 * m * m))
        for begin in range(0, n, rows_per_call):
            end = min(n, begin + rows_per_call)
            copies = np.empty(((end - begin) * 2 * m, m))
            kernels.central_difference_points(
                points[begin:end], upper[begin:end], lower[begin:end], copies
            )
            kernels.central_difference_combine(
                self._call(copies),
                columns[begin:end],
                signs[begin:end],
                spans[begin:end],
                out[begin:end],
            )
        return out


def make_gradient_source(
    model: Any, *, output: str, feature_scale: np.ndarray | None
) -> GradientSource:
    """The gradient source for a fitted model or callable (see the module docstring).

    Raises
    ------
    TypeError
        For tree models, and for objects that are neither models nor callables.
    ValueError
        For ``output="probability"`` on a model without class probabilities.
    """
    from sklearn.base import is_classifier
    from sklearn.utils.validation import check_is_fitted

    if is_tree_model(model):
        raise TypeError(TREE_MODEL_MESSAGE.format(name=type(model).__name__))
    if not hasattr(model, "predict"):
        if not callable(model):
            raise TypeError(
                "model must be a fitted model with predict() or a callable f(X) -> (n,) or "
                f"(n, K); got {type(model).__name__}"
            )
        if output == "probability":
            raise ValueError(
                "output='probability' applies to classifiers; a plain callable's output "
                "is explained as it is: use output='raw'"
            )
        return FiniteDifferences(
            model,
            n_features=None,
            is_classifier=False,
            classes=None,
            n_targets=None,
            single_score_binary=False,
            feature_scale=feature_scale,
        )
    if hasattr(model, "fit"):
        check_is_fitted(model)
    classifier = is_classifier(model)
    if output == "probability" and not classifier:
        raise ValueError(
            f"output='probability' needs a classifier; {type(model).__name__} is not one: "
            "use output='raw'"
        )
    network = to_network(model, output)
    if network is not None and network.activation in kernels.ACTIVATIONS and network.link in kernels.LINKS:
        return DenseNetwork(network)
    if output == "probability":
        method = "predict_proba"
    elif classifier:
        method = "decision_function"
    else:
        method = "predict"
    if not hasattr(model, method):
        hint = "use output='probability'" if method == "decision_function" else "use output='raw'"
        raise ValueError(
            f"{type(model).__name__} has no {method}(), which output={output!r} explains; {hint}"
        )
    classes = np.asarray(model.classes_) if classifier else None
    return FiniteDifferences(
        _model_function(model, method),
        n_features=getattr(model, "n_features_in_", None),
        is_classifier=classifier,
        classes=classes,
        n_targets=len(classes) if classifier else None,
        single_score_binary=classifier and output == "raw" and len(classes) == 2,
        feature_scale=feature_scale,
    )


def _model_function(model: Any, method: str) -> Callable[[np.ndarray], Any]:
    """``model.<method>`` on float arrays, passed as a frame with the model's column names when it
    was fitted on one (so it neither warns nor reorders)."""
    bound = getattr(model, method)
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return bound

    def call(X: np.ndarray) -> Any:
        import pandas as pd

        return bound(pd.DataFrame(X, columns=names))

    return call
