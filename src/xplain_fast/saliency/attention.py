"""Attention rollout (Abnar & Zuidema, 2020) on attention arrays from any transformer, in Numba.

Each layer's heads are fused into one token-to-token matrix, optionally thinned (``discard_ratio``)
and mixed with the identity for the residual connection; the rollout is the product of these
row-stochastic matrices from the first layer kept to the last, so that row ``i`` says how much of
token ``i``'s final representation flows from each input token.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit, prange
from sklearn.utils import Bunch

from .._validation import check_n_jobs
from .methods import check_int, thread_limit

HEAD_FUSIONS = {"mean": 0, "max": 1, "min": 2}
_FLAGS = {"cache": True, "error_model": "numpy", "nogil": True}


@njit(**_FLAGS)
def _fuse_heads(heads: np.ndarray, fusion: int, residual: bool, n_discard: int, out: np.ndarray) -> None:
    """One layer's (n_heads, n, n) attentions -> its row-stochastic rollout factor, into out (n, n)."""
    n_heads, n = heads.shape[0], heads.shape[1]
    for i in range(n):
        row = out[i]
        for j in range(n):
            row[j] = heads[0, i, j]
        for h in range(1, n_heads):
            for j in range(n):
                x = np.float64(heads[h, i, j])
                if fusion == 0:
                    row[j] += x
                elif fusion == 1:
                    row[j] = max(row[j], x)
                else:
                    row[j] = min(row[j], x)
        if n_discard > 0:
            # stable: among equal weights the lower token index is discarded first
            order = np.argsort(row, kind="mergesort")
            for k in range(n_discard):
                row[order[k]] = 0.0
        total = 0.0
        for j in range(n):
            total += row[j]
        if total > 0.0:
            for j in range(n):
                row[j] /= total
        else:  # no weight left: the token keeps itself
            row[:] = 0.0
            row[i] = 1.0
        if residual:  # the residual connection carries the token itself: 0.5 A + 0.5 I
            for j in range(n):
                row[j] *= 0.5
            row[i] += 0.5


@njit(parallel=True, **_FLAGS)
def _rollout(attentions: np.ndarray, fusion: int, residual: bool, n_discard: int, start_layer: int,
             out: np.ndarray) -> None:
    """attentions (batch, layers, heads, n, n) -> out (batch, n, n), one sample per iteration."""
    n_batch, n_layers, n = attentions.shape[0], attentions.shape[1], attentions.shape[3]
    for b in prange(n_batch):
        rollout = out[b]
        factor = np.empty((n, n))
        product = np.empty((n, n))
        rollout[:] = 0.0
        for i in range(n):
            rollout[i, i] = 1.0
        for layer in range(start_layer, n_layers):
            _fuse_heads(attentions[b, layer], fusion, residual, n_discard, factor)
            np.dot(factor, rollout, product)  # later layers multiply from the left
            rollout[:] = product


def attention_rollout(
    attentions: Any,
    *,
    head_fusion: str = "mean",
    residual: bool = True,
    discard_ratio: float = 0.0,
    start_layer: int = 0,
    query_index: int = 0,
    n_jobs: int | None = None,
) -> Bunch:
    """Attention rollout: how much each input token flows into each output token.

    For each layer from ``start_layer`` on, the heads are fused into one matrix ``A`` (mean, max or
    min over heads), the smallest ``discard_ratio`` of each row's weights are set to 0, the rows are
    renormalised to sum to 1, and with ``residual`` the identity is mixed in (``0.5 A + 0.5 I``, the
    residual connection). The rollout is ``A_last @ ... @ A_start``; every row sums to 1.

    Parameters
    ----------
    attentions : array-like or sequence of arrays
        Attention weights (non-negative, e.g. softmax outputs), float16/32/64, of shape
        ``(n_layers, n_heads, seq, seq)`` or ``(batch, n_layers, n_heads, seq, seq)``; or a sequence
        with one array per layer, ``(n_heads, seq, seq)`` or ``(batch, n_heads, seq, seq)`` each (the
        ``outputs.attentions`` tuple of a Hugging Face model, as numpy arrays). Row ``i`` of a matrix
        is query token ``i``'s attention over the key tokens.
    head_fusion : {"mean", "max", "min"}, default="mean"
        How the heads of a layer are combined.
    residual : bool, default=True
        Account for the residual connection by averaging each layer's matrix with the identity.
    discard_ratio : float in [0, 1), default=0.0
        Fraction of each row's weights (the smallest ``floor(discard_ratio * seq)``) set to 0
        before renormalising, to remove attention noise. A row left without weight keeps the
        token itself.
    start_layer : int, default=0
        First layer included (earlier layers are skipped).
    query_index : int, default=0
        Token whose row of the rollout is returned as ``saliency`` (0: a leading [CLS] token;
        negative counts from the end, -1 for the last token of a decoder).
    n_jobs : int, optional
        Threads over the batch (None: 1, -1: all cores). The result does not depend on it.

    Returns
    -------
    Bunch
        ``rollout``: float64 ``(seq, seq)``, or ``(batch, seq, seq)`` for a batch; ``saliency``:
        ``rollout[..., query_index, :]``, the share of each input token in the query token, summing
        to 1 (it includes the query token itself).

    Examples
    --------
    >>> import numpy as np, xplain_fast as xf
    >>> logits = np.random.default_rng(0).normal(size=(4, 2, 5, 5))  # 4 layers, 2 heads, 5 tokens
    >>> att = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    >>> result = xf.attention_rollout(att)
    >>> result.rollout.shape, bool(np.allclose(result.rollout.sum(axis=1), 1.0))
    ((5, 5), True)
    """
    array, batched = _check_attentions(attentions)
    if head_fusion not in HEAD_FUSIONS:
        raise ValueError(f"head_fusion must be one of {', '.join(HEAD_FUSIONS)}; got {head_fusion!r}")
    if not isinstance(discard_ratio, numbers.Real) or not 0.0 <= discard_ratio < 1.0:
        raise ValueError(f"discard_ratio must be a number in [0, 1), got {discard_ratio!r}")
    n_layers, seq = array.shape[1], array.shape[3]
    start_layer = check_int(start_layer, "start_layer", 0)
    if start_layer >= n_layers:
        raise ValueError(f"start_layer={start_layer} is past the last layer (the attentions have {n_layers})")
    if isinstance(query_index, bool) or not isinstance(query_index, numbers.Integral) or not -seq <= query_index < seq:
        raise ValueError(f"query_index must be an integer in [-{seq}, {seq}), got {query_index!r}")
    n_threads = check_n_jobs(n_jobs)
    out = np.empty((array.shape[0], seq, seq))
    # BLAS stays at one thread per sample: the threads are Numba's, over the batch.
    with thread_limit(n_threads, 1):
        _rollout(array, HEAD_FUSIONS[head_fusion], bool(residual), int(discard_ratio * seq), start_layer, out)
    rollout = out if batched else out[0]
    return Bunch(rollout=rollout, saliency=rollout[..., int(query_index), :])


def _check_attentions(attentions: Any) -> tuple[np.ndarray, bool]:
    """(batch, layers, heads, seq, seq) C-contiguous float32/float64 array, and whether a batch was given."""
    if isinstance(attentions, Sequence) and not isinstance(attentions, str | bytes):
        if len(attentions) == 0:
            raise ValueError("attentions is an empty sequence; give one array per layer")
        layers = [np.asarray(a) for a in attentions]
        if len({a.shape for a in layers}) != 1 or layers[0].ndim not in (3, 4):
            raise ValueError(
                "a sequence of attentions needs one array per layer, all of shape (n_heads, seq, seq) "
                f"or (batch, n_heads, seq, seq); got shapes {sorted({a.shape for a in layers})}"
            )
        array = np.stack(layers, axis=0 if layers[0].ndim == 3 else 1)
    else:
        array = np.asarray(attentions)
    if array.dtype.kind not in "fiu" or array.dtype.itemsize > 8:
        raise TypeError(f"attentions must hold real numbers (float16/32/64), got dtype {array.dtype}")
    if array.ndim not in (4, 5):
        raise ValueError(
            "attentions must have shape (n_layers, n_heads, seq, seq) or (batch, n_layers, n_heads, seq, seq), "
            f"got {array.ndim}-D with shape {array.shape}"
        )
    batched = array.ndim == 5
    if not batched:
        array = array[np.newaxis]
    if array.shape[-1] != array.shape[-2]:
        raise ValueError(f"attention matrices must be square (seq, seq), got {array.shape[-2:]}")
    if 0 in array.shape:
        raise ValueError(f"attentions has an empty dimension: shape {array.shape}")
    dtype = np.float32 if array.dtype in (np.float16, np.float32) else np.float64
    array = np.ascontiguousarray(array, dtype=dtype)
    if not np.all(np.isfinite(array)):
        raise ValueError("attentions has NaN or inf; attention weights are finite")
    if array.min() < 0:
        raise ValueError("attentions has negative weights; pass the softmax outputs, not the logits")
    return array, batched
