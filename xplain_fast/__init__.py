"""xplain-fast: a compiled engine that explains machine-learning models fast."""

from .explanation import Explanation
from .forest import Forest
from .models import to_forest
from .permutation import PermutationImportance, permutation_importance
from .tree import TreeExplainer, shap_values

__all__ = [
    "Explanation",
    "Forest",
    "PermutationImportance",
    "TreeExplainer",
    "permutation_importance",
    "shap_values",
    "to_forest",
]
__version__ = "0.1.0"
