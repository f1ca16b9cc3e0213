# Type stub of the compiled module xplain_fast._core, generated from it by pybind11-stubgen 3.0.0
# (`python -m pybind11_stubgen xplain_fast._core --numpy-array-use-type-var`) and kept by hand since;
# tests/test_conventions.py checks that it names exactly what the module defines.
"""
xplain-fast compiled core (private: use the xplain_fast package)
"""
from __future__ import annotations
import collections.abc
import numpy
import numpy.typing
import typing
import typing_extensions
__all__: list[str] = ['DEFAULT_MAX_TABLE_BYTES', 'DEFAULT_MAX_TABLE_K', 'DEFAULT_TABLE_RATIO', 'DEFAULT_TASK_MEMORY_BYTES', 'ForestHandle', 'ImportanceKind', 'InterventionalTables', 'Link', 'Metric', 'MissingRule', 'OutputTransform', 'PathShapTables', 'PredictRule', 'ScoringSpec', 'SimdLevel', 'build_interventional_tables', 'build_path_shap_tables', 'forest_importance', 'forest_scores', 'interventional_interaction_values', 'interventional_shap_values', 'pair_shap_values', 'path_interaction_values', 'path_shap_values', 'permutation_scan_can_use_avx512', 'permutation_scores', 'predict_raw', 'set_simd_limit', 'simd_level', 'ubjson_loads']
class MissingRule:
    """
    How a node treats NaN and zeros: the codes of Forest.missing_rule (int(rule) is the stored byte).
    
    Members:
    
      nan_default
    
      nan_as_zero
    
      nan_or_zero_default
    """
    __members__: typing.ClassVar[dict[str, MissingRule]]
    nan_as_zero: typing.ClassVar[MissingRule]
    nan_default: typing.ClassVar[MissingRule]
    nan_or_zero_default: typing.ClassVar[MissingRule]
    @typing.overload
    def __eq__(self, other: MissingRule) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.SupportsInt | typing.SupportsIndex) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: MissingRule) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.SupportsInt | typing.SupportsIndex) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class ForestHandle:
    """
    Validated, immutable view of a Forest's arrays (built by xplain_fast.Forest).
    """
    def __init__(self, left: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], right: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], feature: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], threshold: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], default_left: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8], missing_rule: typing.Annotated[numpy.typing.ArrayLike, numpy.uint8], value: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], cover: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], tree_offset: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], tree_output: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], base_value: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], cat_offset: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], cat_words: typing.Annotated[numpy.typing.ArrayLike, numpy.int32], cat_bits: typing.Annotated[numpy.typing.ArrayLike, numpy.uint32], n_features: typing.SupportsInt | typing.SupportsIndex, strict_less: bool, float32_input: bool, categorical_truncation: bool) -> None:
        ...
class ImportanceKind:
    """
    What forest_importance sums per feature.
    
    Members:
    
      split_count
    
      total_gain
    
      gain
    
      total_cover
    
      cover
    
      mdi
    
      prediction_change
    """
    __members__: typing.ClassVar[dict[str, ImportanceKind]]
    cover: typing.ClassVar[ImportanceKind]
    gain: typing.ClassVar[ImportanceKind]
    mdi: typing.ClassVar[ImportanceKind]
    prediction_change: typing.ClassVar[ImportanceKind]
    split_count: typing.ClassVar[ImportanceKind]
    total_cover: typing.ClassVar[ImportanceKind]
    total_gain: typing.ClassVar[ImportanceKind]
    @typing.overload
    def __eq__(self, other: ImportanceKind) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: ImportanceKind) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class SimdLevel:
    """
    Instruction sets of the SHAP walks, narrowest first.
    
    Members:
    
      portable
    
      avx2
    """
    __members__: typing.ClassVar[dict[str, SimdLevel]]
    avx2: typing.ClassVar[SimdLevel]
    portable: typing.ClassVar[SimdLevel]
    @typing.overload
    def __eq__(self, other: SimdLevel) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: SimdLevel) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class PathShapTables:
    """
    Model-only tables of path-dependent TreeSHAP for one Forest.
    """
    @property
    def expected_value(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
class InterventionalTables:
    """
    Background statistics of interventional TreeSHAP for one Forest.
    """
    def __getstate__(self) -> tuple:
        ...
    def __setstate__(self, arg0: tuple) -> None:
        ...
    @property
    def expected_value(self) -> numpy.typing.NDArray[numpy.float64]:
        ...
    @property
    def n_background(self) -> int:
        ...
    @property
    def n_pattern_leaves(self) -> int:
        ...
    @property
    def n_table_leaves(self) -> int:
        ...
    @property
    def nbytes(self) -> int:
        ...
    @property
    def table_bytes(self) -> int:
        ...
class OutputTransform:
    """
    What pair_shap_values explains: the raw margin (identity), its logistic, the logistic log loss or the squared loss against labels y.
    
    Members:
    
      identity
    
      logistic
    
      logistic_nlogloss
    
      squared_loss
    """
    __members__: typing.ClassVar[dict[str, OutputTransform]]
    identity: typing.ClassVar[OutputTransform]
    logistic: typing.ClassVar[OutputTransform]
    logistic_nlogloss: typing.ClassVar[OutputTransform]
    squared_loss: typing.ClassVar[OutputTransform]
    @typing.overload
    def __eq__(self, other: OutputTransform) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: OutputTransform) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class Metric:
    """
    The scikit-learn scorers computed natively, by their scikit-learn names (Metric.__members__).
    
    Members:
    
      r2
    
      neg_mean_squared_error
    
      neg_root_mean_squared_error
    
      neg_mean_absolute_error
    
      accuracy
    
      balanced_accuracy
    
      neg_log_loss
    
      roc_auc
    
      roc_auc_ovr
    """
    __members__: typing.ClassVar[dict[str, Metric]]
    accuracy: typing.ClassVar[Metric]
    balanced_accuracy: typing.ClassVar[Metric]
    neg_log_loss: typing.ClassVar[Metric]
    neg_mean_absolute_error: typing.ClassVar[Metric]
    neg_mean_squared_error: typing.ClassVar[Metric]
    neg_root_mean_squared_error: typing.ClassVar[Metric]
    r2: typing.ClassVar[Metric]
    roc_auc: typing.ClassVar[Metric]
    roc_auc_ovr: typing.ClassVar[Metric]
    @typing.overload
    def __eq__(self, other: Metric) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: Metric) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class Link:
    """
    How the raw output becomes predictions.
    
    Members:
    
      identity
    
      exp
    
      logistic
    
      softmax
    
      proba
    """
    __members__: typing.ClassVar[dict[str, Link]]
    exp: typing.ClassVar[Link]
    identity: typing.ClassVar[Link]
    logistic: typing.ClassVar[Link]
    proba: typing.ClassVar[Link]
    softmax: typing.ClassVar[Link]
    @typing.overload
    def __eq__(self, other: Link) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: Link) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class PredictRule:
    """
    Which class predict returns: argmax of the probabilities, or the sign of the raw margin (raw > 0: HistGradientBoosting, raw >= 0: GradientBoosting).
    
    Members:
    
      argmax
    
      raw_positive
    
      raw_non_negative
    """
    __members__: typing.ClassVar[dict[str, PredictRule]]
    argmax: typing.ClassVar[PredictRule]
    raw_non_negative: typing.ClassVar[PredictRule]
    raw_positive: typing.ClassVar[PredictRule]
    @typing.overload
    def __eq__(self, other: PredictRule) -> bool:
        ...
    @typing.overload
    def __eq__(self, other: typing.Any) -> bool:
        ...
    def __getstate__(self) -> int:
        ...
    def __hash__(self) -> int:
        ...
    def __index__(self) -> int:
        ...
    def __init__(self, value: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __int__(self) -> int:
        ...
    @typing.overload
    def __ne__(self, other: PredictRule) -> bool:
        ...
    @typing.overload
    def __ne__(self, other: typing.Any) -> bool:
        ...
    def __repr__(self) -> str:
        ...
    def __setstate__(self, state: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
    def __str__(self) -> str:
        ...
    @property
    def name(self) -> str:
        ...
    @property
    def value(self) -> int:
        ...
class ScoringSpec:
    """
    What to score and how (targets and weights are passed to the scoring calls).
    """
    classifier: bool
    link: Link
    predict_rule: PredictRule
    def __init__(self) -> None:
        ...
    @property
    def auc_uses_raw(self) -> bool:
        """
        binary roc_auc on the decision function (the raw margin)
        """
    @auc_uses_raw.setter
    def auc_uses_raw(self, arg0: bool) -> None:
        ...
    @property
    def divisor(self) -> float:
        """
        raw sums are divided by this before the link
        """
    @divisor.setter
    def divisor(self, arg0: typing.SupportsFloat | typing.SupportsIndex) -> None:
        ...
    @property
    def float32_output(self) -> bool:
        """
        the library predicts in float32: round like it, and skip the exact tree-order re-sum of near ties (the model's own arithmetic is float32)
        """
    @float32_output.setter
    def float32_output(self, arg0: bool) -> None:
        ...
    @property
    def metrics(self) -> list[Metric]:
        """
        list of Metric (a copy: assign a new list to change it)
        """
    @metrics.setter
    def metrics(self, arg0: collections.abc.Sequence[Metric]) -> None:
        ...
    @property
    def n_classes(self) -> int:
        ...
    @n_classes.setter
    def n_classes(self, arg0: typing.SupportsInt | typing.SupportsIndex) -> None:
        ...
def build_interventional_tables(forest: ForestHandle, background: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], max_table_bytes: typing.SupportsInt | typing.SupportsIndex = 1073741824, max_table_k: typing.SupportsInt | typing.SupportsIndex = 16, table_ratio: typing.SupportsFloat | typing.SupportsIndex = 16.0, n_jobs: typing.SupportsInt | typing.SupportsIndex = 1, statistics: bool = True) -> InterventionalTables:
    """
    Fit interventional TreeSHAP to float64 background rows (per-leaf pattern tables).
    """
def build_path_shap_tables(forest: ForestHandle) -> PathShapTables:
    """
    Precompute the per-node quadrature tables of path-dependent TreeSHAP.
    """
def forest_importance(forest: ForestHandle, gain: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], kind: ImportanceKind, averaged_trees: bool) -> numpy.typing.NDArray[numpy.float64]:
    """
    Importance [n_features] of each feature from the forest's structure; gain: per-node split gains or an empty array.
    """
def forest_scores(forest: ForestHandle, value: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], X: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], spec: ScoringSpec, y: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, y_class: typing.Annotated[numpy.typing.ArrayLike, numpy.int32] | None = None, sample_weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, n_jobs: typing.SupportsInt | typing.SupportsIndex = 1) -> numpy.typing.NDArray[numpy.float64]:
    """
    Scores [n_metrics] of the forest's predictions on X with per-node values `value` (the unpermuted baseline). ValueError for bad input.
    """
def interventional_interaction_values(forest: ForestHandle, tables: InterventionalTables, X: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], features: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], n_jobs: typing.SupportsInt | typing.SupportsIndex = 1) -> numpy.typing.NDArray[numpy.float64]:
    """
    Interventional SHAP interaction values [n_rows, n_sub, n_sub, n_outputs] (tables fitted with
    max_table_bytes=0, so that every leaf keeps its background patterns).
    """
def interventional_shap_values(forest: ForestHandle, tables: InterventionalTables, X: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], n_jobs: typing.SupportsInt | typing.SupportsIndex = 1) -> numpy.typing.NDArray[numpy.float64]:
    """
    Interventional SHAP values of the raw output [n_rows, n_features, n_outputs] for float64 rows X.
    """
def pair_shap_values(forest: ForestHandle, tables: InterventionalTables, background: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], X: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], y: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None, transform: OutputTransform, n_jobs: typing.SupportsInt | typing.SupportsIndex = 1) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
    """
    (phi [n_rows, n_features], base [n_rows]) of a transformed one-output model, per (row, background row) pair as the shap package defines it; transform: an OutputTransform.
    """
def path_interaction_values(forest: ForestHandle, tables: PathShapTables, X: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], features: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], n_jobs: typing.SupportsInt | typing.SupportsIndex = 1) -> numpy.typing.NDArray[numpy.float64]:
    """
    Path-dependent SHAP interaction values [n_rows, n_sub, n_sub, n_outputs] for the listed features.
    """
def path_shap_values(forest: ForestHandle, tables: PathShapTables, X: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], n_jobs: typing.SupportsInt | typing.SupportsIndex = 1) -> numpy.typing.NDArray[numpy.float64]:
    """
    Path-dependent SHAP values [n_rows, n_features, n_outputs] for float64 rows X.
    """
def permutation_scan_can_use_avx512() -> bool:
    """
    Whether this CPU runs permutation_scores' AVX-512 scan of float rows (see allow_avx512).
    """
def permutation_scores(forest: ForestHandle, value: typing.Annotated[numpy.typing.ArrayLike, numpy.float64], X: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], perms: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], group_offsets: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], group_columns: typing.Annotated[numpy.typing.ArrayLike, numpy.int64], spec: ScoringSpec, y: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, y_class: typing.Annotated[numpy.typing.ArrayLike, numpy.int32] | None = None, sample_weight: typing.Annotated[numpy.typing.ArrayLike, numpy.float64] | None = None, n_jobs: typing.SupportsInt | typing.SupportsIndex = 1, task_memory_bytes: typing.SupportsInt | typing.SupportsIndex = 268435456, allow_avx512: bool = True) -> tuple[numpy.typing.NDArray[numpy.float64], numpy.typing.NDArray[numpy.float64]]:
    """
    (baseline scores [n_metrics], scores [n_groups, n_repeats, n_metrics] after permuting each column group of X).
    value: the per-node values to sum [n_nodes, value_width]; perms [n_repeats, n_rows]; group g is
    group_columns[group_offsets[g]:group_offsets[g + 1]]. y (regressors) or y_class (class indices) and
    sample_weight have one entry per row. task_memory_bytes bounds the permuted raw sums (and the kept
    baseline leaves) held at once. allow_avx512=False keeps the portable scan where the CPU has AVX-512
    (the same bits). ValueError for bad input.
    """
def predict_raw(forest: ForestHandle, X: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], n_jobs: typing.SupportsInt | typing.SupportsIndex = 1) -> numpy.typing.NDArray[numpy.float64]:
    """
    Raw output [n_rows, n_outputs] of the forest for float64 rows X.
    """
def set_simd_limit(level: SimdLevel) -> None:
    """
    Cap the instruction set later SHAP calls may use (portable: the baseline build only). Both give the same bits.
    """
def simd_level() -> SimdLevel:
    """
    The instruction set a SHAP call starting now uses.
    """
def ubjson_loads(data: typing_extensions.Buffer) -> typing.Any:
    """
    Decode one UBJSON value: dicts, lists, str, int, float, bool, None, and NumPy arrays for typed numeric arrays. ValueError if the bytes are not exactly one valid value.
    """
DEFAULT_MAX_TABLE_BYTES: int = 1073741824
DEFAULT_MAX_TABLE_K: int = 16
DEFAULT_TABLE_RATIO: float = 16.0
DEFAULT_TASK_MEMORY_BYTES: int = 268435456
__version__: str
