"""Permutation importance: scikit-learn's numbers, computed in C++ for tree models.

Tree models (anything :func:`xplain_fast.to_forest` loads) are scored in C++: only rows whose path
through a tree tests a permuted column are re-routed, and the link and the common metrics are
applied natively. Any other estimator, or a scorer without a native implementation, goes through a
generic path that batches the repeats of a column into few ``predict`` calls (bounded memory) and
calls the scikit-learn scorer on each slice. Either way the permutations are drawn exactly as
:func:`sklearn.inspection.permutation_importance` draws them, so the results agree with it.
"""

from ._api import PermutationImportance, permutation_importance

__all__ = ["PermutationImportance", "permutation_importance"]
