"""xplain-fast: a compiled engine that explains machine-learning models fast."""

from .explanation import Explanation
from .forest import Forest
from .models import to_forest
from .permutation import PermutationImportance, permutation_importance
from .report import report
from .saliency import GradientSaliency, saliency
from .tree import TreeExplainer, shap_values

__all__ = [
    "Explanation",
    "Forest",
    "GradientSaliency",
    "PermutationImportance",
    "TreeExplainer",
    "permutation_importance",
    "report",
    "saliency",
    "shap_values",
    "to_forest",
]
__version__ = "0.1.0"
