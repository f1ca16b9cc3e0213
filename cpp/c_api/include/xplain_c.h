/* xplain-fast's C ABI (libxplain_c): exact SHAP values of tree ensembles from C and from any
 * language with a C foreign-function interface.
 *
 * Conventions (those of XGBoost's, LightGBM's and treelite's C APIs):
 *  - Every function returns an int status: XPLAIN_OK (0) or an XPLAIN_ERROR_* code. On an error,
 *    xplain_last_error() returns a message saying what was wrong; it is per thread and stays
 *    valid until that thread's next call into the library.
 *  - Objects are opaque handles created by an xplain_*_create function and released by the
 *    matching xplain_*_free.
 *  - Outputs are allocated by the caller: xplain_output_shape() gives the shape of a result, and
 *    every computing function takes the output's capacity (in doubles) and refuses a smaller one.
 *  - Arrays are C-ordered (row-major) and are read only during the call that receives them.
 *  - A handle is immutable after creation: any number of threads may use one at once.
 */
#ifndef XPLAIN_C_H
#define XPLAIN_C_H

#include <stdint.h>

#if defined(_WIN32)
#if defined(XPLAIN_C_BUILDING)
#define XPLAIN_C_API __declspec(dllexport)
#else
#define XPLAIN_C_API __declspec(dllimport)
#endif
#else
#define XPLAIN_C_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes. */
#define XPLAIN_OK 0
#define XPLAIN_ERROR_INVALID_ARGUMENT 1 /* bad input: a null pointer, a wrong size, an invalid forest */
#define XPLAIN_ERROR_OUT_OF_MEMORY 2
#define XPLAIN_ERROR_INTERNAL 3 /* a bug: please report it with the message */

/* What xplain_output_shape() describes. */
typedef enum XplainOutputKind {
  XPLAIN_OUTPUT_PREDICTION = 0,        /* [n_rows, n_outputs] raw output */
  XPLAIN_OUTPUT_SHAP_VALUES = 1,       /* [n_rows, n_features, n_outputs] */
  XPLAIN_OUTPUT_INTERACTION_VALUES = 2, /* [n_rows, n_features, n_features, n_outputs] */
  XPLAIN_OUTPUT_EXPECTED_VALUE = 3     /* [n_outputs]: the base of the SHAP values */
} XplainOutputKind;

/* A tree ensemble as flat arrays over all nodes of all trees (the layout of xplain_fast.Forest,
 * see its documentation). Node indices in left/right are global; a leaf has left == -1; tree t
 * owns nodes [tree_offset[t], tree_offset[t + 1]) and its root is the first of them; children
 * come after their parent. Leaf values of tree t add to outputs tree_output[t] .. + value_width. */
typedef struct XplainForestArrays {
  const int32_t* left;          /* [n_nodes] */
  const int32_t* right;         /* [n_nodes] */
  const int32_t* feature;       /* [n_nodes] split feature of internal nodes */
  const double* threshold;      /* [n_nodes] x <= threshold (x < threshold with strict_less) goes left */
  const uint8_t* default_left;  /* [n_nodes] where NaN goes */
  const uint8_t* missing_rule;  /* [n_nodes] or NULL: the MissingRule codes of xplain/forest.hpp */
  const double* value;          /* [n_nodes, value_width] */
  const double* cover;          /* [n_nodes] training rows (or hessian sum) through each node */
  const int64_t* tree_offset;   /* [n_trees + 1] */
  const int32_t* tree_output;   /* [n_trees] */
  const double* base_value;     /* [n_outputs] */
  const int64_t* cat_offset;    /* [n_nodes] or NULL: start of a categorical node's bitset, -1 if none */
  const int32_t* cat_words;     /* [n_nodes] or NULL: 32-bit words in that bitset */
  const uint32_t* cat_bits;     /* [n_cat_bits] or NULL: category c goes left iff its bit is set */
  int64_t n_cat_bits;
  int64_t n_nodes;
  int64_t n_trees;
  int64_t n_features;
  int64_t n_outputs;
  int64_t value_width;          /* 1 or n_outputs */
  int32_t strict_less;          /* nonzero: x < threshold (XGBoost) */
  int32_t float32_input;        /* nonzero: compare float32(x), as the source library does */
  int32_t categorical_truncation; /* nonzero: categories in (-1, 0) are 0 (LightGBM) */
} XplainForestArrays;

/* Options of a computation; get the defaults from xplain_options_default() and change fields. */
typedef struct XplainOptions {
  uint32_t struct_size; /* sizeof(XplainOptions) of the caller: lets later versions add fields */
  int32_t n_threads;    /* threads to use; <= 0: all hardware threads (default 1) */
} XplainOptions;

/* An immutable, validated tree ensemble with its precomputed TreeSHAP tables. */
typedef struct XplainForest XplainForest;

/** The library's version, "MAJOR.MINOR.PATCH" (static storage). */
XPLAIN_C_API const char* xplain_version(void);

/** The message of this thread's last failed call ("" if none). Valid until this thread's next call. */
XPLAIN_C_API const char* xplain_last_error(void);

/** The default options. */
XPLAIN_C_API XplainOptions xplain_options_default(void);

/** Validates `arrays`, copies them and precomputes the TreeSHAP tables into a new handle *out
 *  (set to NULL on failure). The caller's arrays may be freed afterwards. */
XPLAIN_C_API int xplain_forest_create(const XplainForestArrays* arrays, XplainForest** out);

/** Releases a handle (NULL is accepted). */
XPLAIN_C_API int xplain_forest_free(XplainForest* forest);

/** Sizes of a forest; any output pointer may be NULL. */
XPLAIN_C_API int xplain_forest_info(const XplainForest* forest, int64_t* n_features, int64_t* n_outputs,
                                    int64_t* n_trees);

/** The shape of a result for n_rows rows into shape[0..*ndim) (shape needs room for 4), and its
 *  number of doubles into *size (may be NULL). `kind` is an XplainOutputKind (an int32_t, so that
 *  an unknown value is an error, not undefined behaviour). Refuses a size that overflows int64. */
XPLAIN_C_API int xplain_output_shape(const XplainForest* forest, int32_t kind, int64_t n_rows,
                                     int64_t shape[4], int32_t* ndim, int64_t* size);

/** The expected value E[f(X)] of the training data (cover-weighted), the base of the SHAP values,
 *  into out[n_outputs]. */
XPLAIN_C_API int xplain_expected_value(const XplainForest* forest, double* out, int64_t out_capacity);

/** Raw predictions of rows X[n_rows, n_cols] (n_cols must be the forest's n_features) into
 *  out[n_rows, n_outputs]. options may be NULL (the defaults). NaN follows the forest's
 *  missing-value rule. */
XPLAIN_C_API int xplain_predict(const XplainForest* forest, const double* X, int64_t n_rows, int64_t n_cols,
                                const XplainOptions* options, double* out, int64_t out_capacity);

/** Exact path-dependent SHAP values into out[n_rows, n_features, n_outputs]; for every row and
 *  output, the values plus the expected value sum to the raw prediction. The result does not
 *  depend on n_threads. */
XPLAIN_C_API int xplain_shap_values(const XplainForest* forest, const double* X, int64_t n_rows, int64_t n_cols,
                                    const XplainOptions* options, double* out, int64_t out_capacity);

/** Exact path-dependent SHAP interaction values into out[n_rows, n_features, n_features,
 *  n_outputs]: symmetric, and each row of a matrix sums to that feature's SHAP value. */
XPLAIN_C_API int xplain_shap_interaction_values(const XplainForest* forest, const double* X, int64_t n_rows,
                                                int64_t n_cols, const XplainOptions* options, double* out,
                                                int64_t out_capacity);

#ifdef __cplusplus
}
#endif

#endif /* XPLAIN_C_H */
