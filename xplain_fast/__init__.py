"""xplain-fast: a compiled engine that explains machine-learning models fast."""

from .forest import Forest
from .models import to_forest

__all__ = ["Forest", "to_forest"]
__version__ = "0.1.0"
