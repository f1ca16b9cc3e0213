"""Gradient saliency: Integrated Gradients, SmoothGrad and friends on arrays, with Numba kernels."""

from .methods import GradientSaliency, saliency

__all__ = ["GradientSaliency", "saliency"]
