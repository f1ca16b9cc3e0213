"""attention_rollout against a plain numpy rollout, and its invariances."""

from __future__ import annotations

import numpy as np
import pytest
from naive_saliency import reference_attention_rollout

import xplain_fast as xf


def _attentions(rng: np.random.Generator, *shape: int, sharpness: float = 2.0) -> np.ndarray:
    """Random row-stochastic attentions (softmax of random logits) of shape (..., seq, seq)."""
    logits = sharpness * rng.normal(size=shape)
    weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("head_fusion", ["mean", "max", "min"])
@pytest.mark.parametrize("residual", [True, False])
@pytest.mark.parametrize("discard_ratio", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("start_layer", [0, 2])
def test_rollout_equals_numpy_reference(rng, head_fusion, residual, discard_ratio, start_layer):
    att = _attentions(rng, 3, 5, 4, 11, 11)  # batch 3, 5 layers, 4 heads, 11 tokens
    result = xf.attention_rollout(att, head_fusion=head_fusion, residual=residual, discard_ratio=discard_ratio,
                                  start_layer=start_layer, query_index=0)
    assert result.rollout.shape == (3, 11, 11) and result.saliency.shape == (3, 11)
    for b in range(3):
        expected = reference_attention_rollout(att[b], head_fusion, residual, discard_ratio, start_layer)
        np.testing.assert_allclose(result.rollout[b], expected, rtol=1e-12, atol=1e-14)
        np.testing.assert_array_equal(result.saliency[b], result.rollout[b, 0])
    np.testing.assert_allclose(result.rollout.sum(axis=-1), 1.0, rtol=0, atol=1e-12)


def test_identity_attentions_roll_out_to_the_identity():
    att = np.broadcast_to(np.eye(7), (4, 3, 7, 7))
    for head_fusion in ("mean", "max", "min"):
        for residual in (True, False):
            result = xf.attention_rollout(att, head_fusion=head_fusion, residual=residual)
            np.testing.assert_array_equal(result.rollout, np.eye(7))
            np.testing.assert_array_equal(result.saliency, np.eye(7)[0])


def test_one_layer_without_residual_is_the_layer_itself(rng):
    att = _attentions(rng, 1, 1, 6, 6)
    result = xf.attention_rollout(att, residual=False, query_index=-1)
    np.testing.assert_allclose(result.rollout, att[0, 0], rtol=1e-14)
    np.testing.assert_array_equal(result.saliency, result.rollout[5])


def test_batch_and_threads_do_not_change_a_bit(rng):
    att = _attentions(rng, 5, 4, 3, 9, 9)
    serial = xf.attention_rollout(att, discard_ratio=0.2, n_jobs=1).rollout
    for n_jobs in (2, -1):
        np.testing.assert_array_equal(xf.attention_rollout(att, discard_ratio=0.2, n_jobs=n_jobs).rollout, serial)
    for b in range(5):
        np.testing.assert_array_equal(xf.attention_rollout(att[b], discard_ratio=0.2).rollout, serial[b])


def test_per_layer_sequences_and_dtypes(rng):
    """A Hugging Face style tuple (one (batch, heads, seq, seq) array per layer) equals the stacked array;
    float32 input equals its float64 upcast bit for bit (every sum runs in float64)."""
    att = _attentions(rng, 2, 3, 4, 8, 8).astype(np.float32)
    stacked = xf.attention_rollout(att).rollout
    as_tuple = tuple(att[:, layer] for layer in range(3))
    np.testing.assert_array_equal(xf.attention_rollout(as_tuple).rollout, stacked)
    np.testing.assert_array_equal(xf.attention_rollout([a[0] for a in as_tuple]).rollout, stacked[0])
    np.testing.assert_array_equal(xf.attention_rollout(att.astype(np.float64)).rollout, stacked)
    fortran = np.asfortranarray(att.astype(np.float16))
    np.testing.assert_array_equal(xf.attention_rollout(fortran).rollout,
                                  xf.attention_rollout(att.astype(np.float16).astype(np.float32)).rollout)


@pytest.mark.parametrize(("attentions", "kwargs", "error", "message"), [
    (np.full((2, 2, 3, 3), -0.1), {}, ValueError, "negative weights"),
    (np.full((2, 2, 3, 3), np.nan), {}, ValueError, "NaN or inf"),
    (np.ones((2, 3, 3)), {}, ValueError, "must have shape"),
    (np.ones((2, 2, 3, 4)), {}, ValueError, "square"),
    (np.ones((2, 2, 0, 0)), {}, ValueError, "empty"),
    (np.ones((2, 2, 3, 3), dtype=complex), {}, TypeError, "real numbers"),
    ([np.ones((2, 3, 3)), np.ones((2, 4, 4))], {}, ValueError, "one array per layer"),
    ([], {}, ValueError, "empty sequence"),
    (np.ones((2, 2, 3, 3)), {"discard_ratio": 1.0}, ValueError, "discard_ratio"),
    (np.ones((2, 2, 3, 3)), {"start_layer": 2}, ValueError, "past the last layer"),
    (np.ones((2, 2, 3, 3)), {"start_layer": -1}, ValueError, "start_layer"),
    (np.ones((2, 2, 3, 3)), {"query_index": 3}, ValueError, "query_index"),
    (np.ones((2, 2, 3, 3)), {"head_fusion": "sum"}, ValueError, "head_fusion"),
    (np.ones((2, 2, 3, 3)), {"n_jobs": 0}, ValueError, "n_jobs"),
])
def test_bad_input_is_refused_clearly(attentions, kwargs, error, message):
    with pytest.raises(error, match=message):
        xf.attention_rollout(attentions, **kwargs)
