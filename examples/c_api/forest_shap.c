/* Using xplain-fast from C: build a forest from arrays, then compute predictions, SHAP values and
 * SHAP interaction values with caller-allocated outputs sized by xplain_output_shape().
 *
 * Build (after installing the C ABI, see the README):
 *   cc forest_shap.c -I PREFIX/include -L PREFIX/lib -lxplain_c -o forest_shap
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "xplain_c.h"

#define TRY(call)                                                          \
  do {                                                                     \
    if ((call) != XPLAIN_OK) {                                             \
      fprintf(stderr, "%s failed: %s\n", #call, xplain_last_error());      \
      return 1;                                                            \
    }                                                                      \
  } while (0)

/* The result's size in doubles, allocated by the caller. */
static double* allocate(const XplainForest* forest, int32_t kind, int64_t n_rows, int64_t* size) {
  int64_t shape[4];
  int32_t ndim;
  if (xplain_output_shape(forest, kind, n_rows, shape, &ndim, size) != XPLAIN_OK) return NULL;
  return (double*)malloc((size_t)(*size > 0 ? *size : 1) * sizeof(double));
}

int main(void) {
  /* Two trees on three features. Tree 0: x0 <= 0 ? (x1 <= 1 ? 1 : 2) : (x0 <= 2 ? 3 : 4);
   * tree 1: x2 <= 0.5 ? -1 : 1. Covers are the training rows through each node. */
  const int32_t left[] = {1, 3, 5, -1, -1, -1, -1, 8, -1, -1};
  const int32_t right[] = {2, 4, 6, -1, -1, -1, -1, 9, -1, -1};
  const int32_t feature[] = {0, 1, 0, -1, -1, -1, -1, 2, -1, -1};
  const double threshold[] = {0.0, 1.0, 2.0, 0, 0, 0, 0, 0.5, 0, 0};
  const uint8_t default_left[] = {1, 0, 1, 0, 0, 0, 0, 0, 0, 0}; /* where NaN goes */
  const double value[] = {0, 0, 0, 1.0, 2.0, 3.0, 4.0, 0, -1.0, 1.0};
  const double cover[] = {10, 6, 4, 2, 4, 3, 1, 10, 7, 3};
  const int64_t tree_offset[] = {0, 7, 10};
  const int32_t tree_output[] = {0, 0};
  const double base_value[] = {0.5};
  XplainForestArrays arrays = {0};
  arrays.left = left; arrays.right = right; arrays.feature = feature; arrays.threshold = threshold;
  arrays.default_left = default_left; arrays.value = value; arrays.cover = cover;
  arrays.tree_offset = tree_offset; arrays.tree_output = tree_output; arrays.base_value = base_value;
  arrays.n_nodes = 10; arrays.n_trees = 2; arrays.n_features = 3; arrays.n_outputs = 1; arrays.value_width = 1;

  XplainForest* forest = NULL;
  TRY(xplain_forest_create(&arrays, &forest));

  enum { N = 3, M = 3 };
  const double X[N * M] = {-1.0, 0.5, 0.0, 1.5, 3.0, 1.0, NAN, 2.0, 0.25};
  XplainOptions options = xplain_options_default();
  options.n_threads = 2;

  int64_t n_pred, n_phi, n_inter;
  double* pred = allocate(forest, XPLAIN_OUTPUT_PREDICTION, N, &n_pred);
  double* phi = allocate(forest, XPLAIN_OUTPUT_SHAP_VALUES, N, &n_phi);
  double* inter = allocate(forest, XPLAIN_OUTPUT_INTERACTION_VALUES, N, &n_inter);
  double expected;
  if (!pred || !phi || !inter) return 1;
  TRY(xplain_predict(forest, X, N, M, &options, pred, n_pred));
  TRY(xplain_shap_values(forest, X, N, M, &options, phi, n_phi));
  TRY(xplain_shap_interaction_values(forest, X, N, M, &options, inter, n_inter));
  TRY(xplain_expected_value(forest, &expected, 1));

  printf("xplain %s: expected value %.4f\n", xplain_version(), expected);
  int ok = 1;
  for (int r = 0; r < N; ++r) {
    double total = expected;
    printf("row %d: prediction %.4f, SHAP values", r, pred[r]);
    for (int i = 0; i < M; ++i) {
      printf(" %+.4f", phi[r * M + i]);
      total += phi[r * M + i];
      double row_sum = 0.0; /* a row of the interaction matrix sums to the SHAP value */
      for (int j = 0; j < M; ++j) row_sum += inter[(r * M + i) * M + j];
      ok = ok && fabs(row_sum - phi[r * M + i]) < 1e-12;
    }
    printf("  (sum + expected = %.4f)\n", total);
    ok = ok && fabs(total - pred[r]) < 1e-12;
  }
  free(pred);
  free(phi);
  free(inter);
  TRY(xplain_forest_free(forest));
  printf(ok ? "additivity holds\n" : "additivity FAILED\n");
  return ok ? 0 : 1;
}
