"""xplain-fast: a compiled engine that explains machine-learning models fast."""

import os as _os

from . import _core
from ._core import __version__ as __version__  # defined once, in cpp/include/xplain/version.hpp
from ._embedding import get_cmake_dir, get_include
from .explanation import Explanation
from .forest import Forest
from .importance import forest_importance
from .models import to_forest
from .permutation import PermutationImportance, permutation_importance
from .report import report
from .saliency import GradientSaliency, attention_rollout, saliency
from .surrogate import GlobalSurrogate
from .tree import TreeExplainer, shap_values

__all__ = [
    "Explanation",
    "Forest",
    "GlobalSurrogate",
    "GradientSaliency",
    "PermutationImportance",
    "TreeExplainer",
    "attention_rollout",
    "forest_importance",
    "get_cmake_dir",
    "get_include",
    "permutation_importance",
    "report",
    "saliency",
    "shap_values",
    "to_forest",
]

# XPLAIN_FAST_PORTABLE keeps the SHAP walks to the baseline build where the CPU has AVX2 (the same
# bits, slower: for comparisons and for ruling the AVX2 clone out).
if "XPLAIN_FAST_PORTABLE" in _os.environ:
    _core.set_simd_limit(_core.SimdLevel.portable)
