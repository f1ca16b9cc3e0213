/* The C ABI's contract: status codes and messages for every kind of bad argument, nothing written
 * to a too-small output, NULL accepted where documented, a per-thread last error, and the same
 * results as the defaults for any thread count. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "xplain_c.h"

static int failures = 0;
#define CHECK(cond)                                                               \
  do {                                                                            \
    if (!(cond)) {                                                                \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
      ++failures;                                                                 \
    }                                                                             \
  } while (0)
/* The call fails with `status` and a message containing `part`. */
#define CHECK_ERROR(call, status, part) \
  CHECK((call) == (status) && strstr(xplain_last_error(), (part)) != NULL)

static const int32_t left[] = {1, -1, -1};
static const int32_t right[] = {2, -1, -1};
static const int32_t feature[] = {1, -1, -1};
static const double threshold[] = {0.5, 0, 0};
static const uint8_t default_left[] = {0, 0, 0};
static const double value[] = {0, -2.0, 3.0};
static const double cover[] = {4, 1, 3};
static const int64_t tree_offset[] = {0, 3};
static const int32_t tree_output[] = {0};
static const double base_value[] = {1.0};

static XplainForestArrays stump(void) {
  XplainForestArrays a;
  memset(&a, 0, sizeof a);
  a.left = left; a.right = right; a.feature = feature; a.threshold = threshold; a.default_left = default_left;
  a.value = value; a.cover = cover; a.tree_offset = tree_offset; a.tree_output = tree_output;
  a.base_value = base_value; a.n_nodes = 3; a.n_trees = 1; a.n_features = 2; a.n_outputs = 1; a.value_width = 1;
  return a;
}

/* Another thread's failure leaves this thread's last error alone. */
static void* fail_in_thread(void* unused) {
  (void)unused;
  XplainForest* forest = NULL;
  return (void*)(long)(xplain_forest_create(NULL, &forest) == XPLAIN_ERROR_INVALID_ARGUMENT &&
                       strstr(xplain_last_error(), "arrays is NULL") != NULL);
}

int main(void) {
  CHECK(strlen(xplain_version()) >= 5);
  XplainForestArrays arrays = stump();
  XplainForest* forest = NULL;

  /* Malformed forests: refused with a reason, *out set to NULL. */
  int32_t cyclic_left[] = {1, 0, -1};
  XplainForestArrays bad = arrays;
  bad.left = cyclic_left;
  forest = (XplainForest*)&bad; /* any non-NULL value: it must be reset */
  CHECK_ERROR(xplain_forest_create(&bad, &forest), XPLAIN_ERROR_INVALID_ARGUMENT, "children outside its tree");
  CHECK(forest == NULL);
  bad = arrays;
  bad.cover = NULL;
  CHECK_ERROR(xplain_forest_create(&bad, &forest), XPLAIN_ERROR_INVALID_ARGUMENT, "cover is NULL");
  bad = arrays;
  bad.n_features = 1;
  CHECK_ERROR(xplain_forest_create(&bad, &forest), XPLAIN_ERROR_INVALID_ARGUMENT, "splits on feature 1");
  bad = arrays;
  bad.n_trees = 0;
  CHECK_ERROR(xplain_forest_create(&bad, &forest), XPLAIN_ERROR_INVALID_ARGUMENT, "must be positive");
  CHECK_ERROR(xplain_forest_create(&arrays, NULL), XPLAIN_ERROR_INVALID_ARGUMENT, "out is NULL");

  CHECK(xplain_forest_create(&arrays, &forest) == XPLAIN_OK && forest != NULL);
  CHECK(strcmp(xplain_last_error(), "") == 0);
  int64_t n_features = 0, n_outputs = 0, n_trees = 0;
  CHECK(xplain_forest_info(forest, &n_features, &n_outputs, &n_trees) == XPLAIN_OK);
  CHECK(n_features == 2 && n_outputs == 1 && n_trees == 1);
  CHECK(xplain_forest_info(forest, NULL, NULL, NULL) == XPLAIN_OK);

  int64_t shape[4], size;
  int32_t ndim;
  CHECK(xplain_output_shape(forest, XPLAIN_OUTPUT_INTERACTION_VALUES, 5, shape, &ndim, &size) == XPLAIN_OK);
  CHECK(ndim == 4 && shape[0] == 5 && shape[1] == 2 && shape[2] == 2 && shape[3] == 1 && size == 20);
  CHECK_ERROR(xplain_output_shape(forest, 9, 5, shape, &ndim, &size),
              XPLAIN_ERROR_INVALID_ARGUMENT, "unknown output kind");
  CHECK_ERROR(xplain_output_shape(forest, XPLAIN_OUTPUT_INTERACTION_VALUES, (int64_t)1 << 62, shape, &ndim, &size),
              XPLAIN_ERROR_INVALID_ARGUMENT, "overflows");

  const double X[] = {0.0, 0.0, 0.0, 1.0, 7.0, NAN};  /* x1 NaN goes right (default_left = 0) */
  double out[6] = {0}, sentinel[3] = {42.0, 42.0, 42.0};
  CHECK(xplain_predict(forest, X, 3, 2, NULL, out, 3) == XPLAIN_OK);
  CHECK(out[0] == -1.0 && out[1] == 4.0 && out[2] == 4.0);
  CHECK_ERROR(xplain_predict(forest, X, 3, 2, NULL, sentinel, 2), XPLAIN_ERROR_INVALID_ARGUMENT,
              "room for 2 doubles, the result needs 3");
  CHECK(sentinel[0] == 42.0 && sentinel[1] == 42.0);
  CHECK_ERROR(xplain_predict(forest, X, 2, 3, NULL, out, 6), XPLAIN_ERROR_INVALID_ARGUMENT, "has 3 columns");
  CHECK_ERROR(xplain_predict(forest, NULL, 2, 2, NULL, out, 6), XPLAIN_ERROR_INVALID_ARGUMENT, "X is NULL");
  CHECK_ERROR(xplain_predict(forest, X, -1, 2, NULL, out, 6), XPLAIN_ERROR_INVALID_ARGUMENT, "negative");
  CHECK_ERROR(xplain_predict(NULL, X, 1, 2, NULL, out, 6), XPLAIN_ERROR_INVALID_ARGUMENT, "forest is NULL");
  XplainOptions old_options = xplain_options_default();
  old_options.struct_size = 2;
  CHECK_ERROR(xplain_predict(forest, X, 1, 2, &old_options, out, 6), XPLAIN_ERROR_INVALID_ARGUMENT, "struct_size");
  CHECK(xplain_predict(forest, NULL, 0, 2, NULL, NULL, 0) == XPLAIN_OK);  /* no rows: nothing to do */

  /* SHAP values: exact for a stump (phi_1 = f(x) - E f), the same for every thread count. */
  double expected = 0.0, phi[6], phi_threads[6], inter[12];
  CHECK(xplain_expected_value(forest, &expected, 1) == XPLAIN_OK);
  CHECK(fabs(expected - (1.0 + (1 * -2.0 + 3 * 3.0) / 4.0)) < 1e-15);
  XplainOptions options = xplain_options_default();
  CHECK(options.struct_size == sizeof(XplainOptions) && options.n_threads == 1);
  CHECK(xplain_shap_values(forest, X, 3, 2, &options, phi, 6) == XPLAIN_OK);
  options.n_threads = 0;  /* all hardware threads */
  CHECK(xplain_shap_values(forest, X, 3, 2, &options, phi_threads, 6) == XPLAIN_OK);
  CHECK(memcmp(phi, phi_threads, sizeof phi) == 0);
  for (int r = 0; r < 3; ++r) CHECK(phi[r * 2] == 0.0 && fabs(phi[r * 2 + 1] - (out[r] - expected)) < 1e-12);
  CHECK(xplain_shap_interaction_values(forest, X, 3, 2, &options, inter, 12) == XPLAIN_OK);
  for (int r = 0; r < 3; ++r) CHECK(fabs(inter[r * 4 + 3] - phi[r * 2 + 1]) < 1e-12 && inter[r * 4 + 1] == 0.0);
  CHECK_ERROR(xplain_shap_interaction_values(forest, X, 3, 2, NULL, inter, 11), XPLAIN_ERROR_INVALID_ARGUMENT,
              "the result needs 12");

  /* The last error is per thread. */
  CHECK_ERROR(xplain_predict(forest, X, 3, 2, NULL, out, 1), XPLAIN_ERROR_INVALID_ARGUMENT, "room for 1");
  pthread_t thread;
  void* thread_ok = NULL;
  CHECK(pthread_create(&thread, NULL, fail_in_thread, NULL) == 0 && pthread_join(thread, &thread_ok) == 0);
  CHECK(thread_ok != NULL);
  CHECK(strstr(xplain_last_error(), "room for 1") != NULL);

  CHECK(xplain_forest_free(forest) == XPLAIN_OK);
  CHECK(xplain_forest_free(NULL) == XPLAIN_OK);
  printf("test_c_api: %d failed checks\n", failures);
  return failures == 0 ? 0 : 1;
}
