"""xplain-fast: a compiled engine that explains machine-learning models fast."""

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
