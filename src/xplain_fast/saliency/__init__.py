"""Gradient saliency (Integrated Gradients, SmoothGrad, ...) and attention rollout, with Numba kernels."""

from .attention import attention_rollout
from .methods import GradientSaliency, saliency

__all__ = ["GradientSaliency", "attention_rollout", "saliency"]
