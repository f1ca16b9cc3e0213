"""Time xplain-fast's Integrated Gradients against a plain NumPy implementation and Captum.

    python benchmarks/compare_saliency.py                      # the reference workload
    python benchmarks/compare_saliency.py --rows 2000 --repeat 5
    VENV/bin/python benchmarks/compare_saliency.py    # a venv with torch==2.13.0 (CPU) and captum

Workload: a tanh MLP 50-64-64-32-1 (scikit-learn MLPRegressor), 10,000 rows, 64 Gauss-Legendre
steps, zero baseline, CPU. References on the same weights:
  * NumPy: every point of every path materialised, forward and backward in float64 with numpy's
    BLAS (its threads set to the same count), 256 rows (16,384 points) per batch;
  * Captum IntegratedGradients (method="gausslegendre", internal_batch_size=2000 as in the reference
    measurement; below the row count Captum evaluates one step of all rows per batch, so that is
    10,000 points per forward pass) on a torch copy of the network in float64 and float32,
    torch.set_num_threads to the same count. --captum-batch changes the batch (0: all at once).
Keep torch and captum out of the project's environment: a side venv with system site-packages,
`pip install torch==2.13.0` (the CPU build) then `pip install captum`.

Prints seconds (best of --repeat), how many times faster xplain-fast is at the same thread count,
and the largest difference between each reference's attributions and ours (Captum's float64 run
differs at ~1e-8 because it casts its quadrature weights to float32).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from threadpoolctl import threadpool_info, threadpool_limits
from timing import best_time

from xplain_fast.saliency import GradientSaliency

N_FEATURES = 50
HIDDEN = (64, 64, 32)


def train_mlp(seed: int = 0) -> MLPRegressor:
    """A tanh MLP 50-64-64-32-1 with trained (not random) weights."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(4000, N_FEATURES))
    y = np.tanh(X[:, :10] @ rng.normal(size=10)) + 0.1 * X[:, 10:20].sum(axis=1) ** 2 / 10
    mlp = MLPRegressor(hidden_layer_sizes=HIDDEN, activation="tanh", max_iter=30, random_state=0)
    with warnings.catch_warnings():  # 30 epochs are enough for realistic weights
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        return mlp.fit(X, y)


def numpy_integrated_gradients(mlp: MLPRegressor, X: np.ndarray, n_steps: int,
                               rows_per_batch: int = 256) -> np.ndarray:
    """The straightforward vectorised version: materialise all points, forward, backward, sum."""
    nodes, weights = np.polynomial.legendre.leggauss(n_steps)
    alphas, weights = (nodes + 1.0) / 2.0, weights / 2.0
    out = np.empty_like(X)
    for begin in range(0, len(X), rows_per_batch):
        x = X[begin:begin + rows_per_batch]
        points = (alphas[None, :, None] * x[:, None, :]).reshape(-1, X.shape[1])  # baseline 0
        activations = [points]
        for W, b in zip(mlp.coefs_[:-1], mlp.intercepts_[:-1], strict=True):
            activations.append(np.tanh(activations[-1] @ W + b))
        grad = np.ones((len(points), 1))  # d output / d output
        for layer in range(len(mlp.coefs_) - 1, 0, -1):
            grad = (grad @ mlp.coefs_[layer].T) * (1.0 - activations[layer] ** 2)
        grad = grad @ mlp.coefs_[0].T
        out[begin:begin + rows_per_batch] = x * np.einsum(
            "s,rsm->rm", weights, grad.reshape(len(x), n_steps, -1))
    return out


def captum_references(mlp: MLPRegressor, X: np.ndarray, n_steps: int, batch: int | None
                      ) -> dict[str, Callable[[int], np.ndarray]]:
    """label -> fn(threads) for Captum IntegratedGradients in float64 and float32."""
    import torch
    from captum.attr import IntegratedGradients

    refs = {}
    for dtype in (torch.float64, torch.float32):
        layers: list[torch.nn.Module] = []
        for i, (W, b) in enumerate(zip(mlp.coefs_, mlp.intercepts_, strict=True)):
            linear = torch.nn.Linear(*W.shape).to(dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(W.T))
                linear.bias.copy_(torch.from_numpy(b))
            layers.append(linear)
            if i < len(mlp.coefs_) - 1:
                layers.append(torch.nn.Tanh())
        network = torch.nn.Sequential(*layers).eval()
        inputs = torch.from_numpy(X).to(dtype)
        explainer = IntegratedGradients(network)

        def run(threads: int, explainer=explainer, inputs=inputs) -> np.ndarray:
            torch.set_num_threads(threads)
            with warnings.catch_warnings():  # its batch is below the row count, as intended
                warnings.filterwarnings("ignore", "Internal batch size", UserWarning)
                attributions = explainer.attribute(
                    inputs, baselines=0.0, target=0, n_steps=n_steps, method="gausslegendre",
                    internal_batch_size=batch)
            return attributions.detach().numpy().astype(np.float64)

        refs[f"Captum IG {str(dtype).removeprefix('torch.')}"] = run
    return refs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting (best is kept)")
    parser.add_argument("--skip", default="", help="comma list of: numpy, captum")
    parser.add_argument("--captum-batch", type=int, default=2000,
                        help="Captum's internal_batch_size (0: everything in one batch)")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))

    blas = ", ".join(f"{info['internal_api']} {info.get('architecture', '')}".strip()
                     for info in threadpool_info() if info["user_api"] == "blas")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"python {platform.python_version()}, BLAS: {blas}, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    mlp = train_mlp()
    X = np.random.default_rng(1).normal(size=(args.rows, N_FEATURES))
    print(f"\nIntegrated Gradients, tanh MLP {N_FEATURES}-{'-'.join(map(str, HIDDEN))}-1, "
          f"{args.rows:,} rows, {args.steps} Gauss-Legendre steps, zero baseline, best of "
          f"{args.repeat}")

    ours = {}
    for threads in (1, 2):
        sal = GradientSaliency(mlp, n_steps=args.steps, baseline=0.0, n_jobs=threads).fit()
        sal.attribute(X[:10])  # compile (or load the cached kernels) outside the timing
        ours[threads] = best_time(lambda sal=sal: sal.attribute(X), args.repeat)
    A = ours[1][1]
    assert np.array_equal(A, ours[2][1]), "thread counts must not change the result"

    print(f"  {'method':<28}{'threads':>8}{'seconds':>9}{'xplain-fast faster by':>24}"
          f"{'max |diff|':>12}")
    for threads in (1, 2):
        print(f"  {'xplain-fast (Numba)':<28}{threads:>8}{ours[threads][0]:>9.3f}")
    references: dict[str, Callable[[int], np.ndarray]] = {}
    if "numpy" not in skip:
        def numpy_ig(threads: int) -> np.ndarray:
            with threadpool_limits(limits=threads, user_api="blas"):
                return numpy_integrated_gradients(mlp, X, args.steps)

        references["NumPy vectorised"] = numpy_ig
    if "captum" not in skip:
        try:
            references.update(captum_references(mlp, X, args.steps, args.captum_batch or None))
        except ImportError as exc:
            print(f"  (Captum not timed: {exc}; see the module docstring for the side venv)")
    for label, fn in references.items():
        for threads in (1, 2):
            seconds, theirs = best_time(lambda fn=fn, threads=threads: fn(threads), args.repeat)
            ratio = seconds / ours[threads][0]
            print(f"  {label:<28}{threads:>8}{seconds:>9.3f}{f'{ratio:.2f}x':>24}"
                  f"{np.abs(theirs - A).max():>12.2e}")
    print(f"\n  xplain-fast 1 -> 2 threads: {ours[1][0] / ours[2][0]:.2f}x")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
