// libxplain_c: the C ABI over the header-only core (see include/xplain_c.h for the conventions).
// Every entry point catches every exception: none may cross the C boundary.
#include "xplain_c.h"

#include <cstddef>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "xplain/forest.hpp"
#include "xplain/interactions.hpp"
#include "xplain/predict.hpp"
#include "xplain/treeshap.hpp"
#include "xplain/version.hpp"

namespace {

thread_local std::string last_error;

/// Runs `body`, turning its exceptions into a status code and this thread's last error.
template <typename Body>
int guarded(Body&& body) noexcept {
  try {
    last_error.clear();
    body();
    return XPLAIN_OK;
  } catch (const std::invalid_argument& e) {
    last_error = e.what();
    return XPLAIN_ERROR_INVALID_ARGUMENT;
  } catch (const std::bad_alloc&) {
    last_error = "out of memory";
    return XPLAIN_ERROR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    last_error = std::string("internal error: ") + e.what();
    return XPLAIN_ERROR_INTERNAL;
  } catch (...) {
    last_error = "internal error: unknown exception";
    return XPLAIN_ERROR_INTERNAL;
  }
}

[[noreturn]] void refuse(const std::string& what) { throw std::invalid_argument(what); }

template <typename T>
void require(const T* pointer, const char* name) {
  if (!pointer) refuse(std::string(name) + " is NULL");
}

/// A copy of the caller's n entries at `data` (empty for an optional NULL array).
template <typename T>
std::vector<T> copy_of(const T* data, int64_t n, const char* name, bool optional = false) {
  if (!data) {
    if (optional) return {};
    refuse(std::string("XplainForestArrays.") + name + " is NULL");
  }
  if (n < 0) refuse(std::string("XplainForestArrays.") + name + " has a negative length");
  return std::vector<T>(data, data + n);
}

int64_t checked_product(std::initializer_list<int64_t> factors) {
  int64_t product = 1;
  for (const int64_t f : factors) {
    if (f < 0) refuse("a negative size");
    if (f != 0 && product > std::numeric_limits<int64_t>::max() / f) refuse("the result's size overflows int64");
    product *= f;
  }
  return product;
}

}  // namespace

/// The handle: owned copies of the arrays, the view over them, and the TreeSHAP tables.
struct XplainForest {
  std::vector<int32_t> left, right, feature, tree_output, cat_words;
  std::vector<double> threshold, value, cover, base_value;
  std::vector<uint8_t> default_left, missing_rule;
  std::vector<int64_t> tree_offset, cat_offset;
  std::vector<uint32_t> cat_bits;
  xplain::ForestView view;
  xplain::PathShapTables tables;

  explicit XplainForest(const XplainForestArrays& a) {
    if (a.n_nodes < 1 || a.n_trees < 1 || a.n_outputs < 1 || a.n_features < 0 || a.value_width < 1)
      refuse("invalid Forest: n_nodes, n_trees, n_outputs and value_width must be positive and n_features "
             "non-negative");
    const int64_t n = a.n_nodes;
    left = copy_of(a.left, n, "left");
    right = copy_of(a.right, n, "right");
    feature = copy_of(a.feature, n, "feature");
    threshold = copy_of(a.threshold, n, "threshold");
    default_left = copy_of(a.default_left, n, "default_left");
    missing_rule = copy_of(a.missing_rule, n, "missing_rule", true);
    value = copy_of(a.value, checked_product({n, a.value_width}), "value");
    cover = copy_of(a.cover, n, "cover");
    tree_offset = copy_of(a.tree_offset, a.n_trees + 1, "tree_offset");
    tree_output = copy_of(a.tree_output, a.n_trees, "tree_output");
    base_value = copy_of(a.base_value, a.n_outputs, "base_value");
    if (a.cat_offset) {
      cat_offset = copy_of(a.cat_offset, n, "cat_offset");
      cat_words = copy_of(a.cat_words, n, "cat_words");
      cat_bits = copy_of(a.cat_bits, a.n_cat_bits, "cat_bits", a.n_cat_bits == 0);
    }
    auto data = [](const auto& v) { return v.empty() ? nullptr : v.data(); };
    view.left = left.data(); view.right = right.data(); view.feature = feature.data();
    view.threshold = threshold.data(); view.default_left = default_left.data();
    view.missing_rule = data(missing_rule); view.value = value.data(); view.cover = cover.data();
    view.tree_offset = tree_offset.data(); view.tree_output = tree_output.data(); view.base_value = base_value.data();
    view.cat_offset = data(cat_offset); view.cat_words = data(cat_words); view.cat_bits = data(cat_bits);
    view.n_cat_bits = static_cast<int64_t>(cat_bits.size());
    view.n_nodes = n; view.n_trees = a.n_trees; view.n_features = a.n_features; view.n_outputs = a.n_outputs;
    view.value_width = a.value_width;
    view.strict_less = a.strict_less != 0;
    view.float32_input = a.float32_input != 0;
    view.categorical_truncation = a.categorical_truncation != 0;
    view.check();
    tables = xplain::build_path_shap_tables(view);
  }
};

namespace {

int thread_count(const XplainOptions* options) {
  if (!options) return 1;
  if (options->struct_size < offsetof(XplainOptions, n_threads) + sizeof(options->n_threads))
    refuse("XplainOptions.struct_size is too small: initialise options with xplain_options_default()");
  return options->n_threads;
}

/// The shape of a result for n_rows rows (see xplain_output_shape); returns its size in doubles.
int64_t shape_of(const xplain::ForestView& f, int32_t kind, int64_t n_rows, int64_t shape[4], int32_t& ndim) {
  if (n_rows < 0) refuse("n_rows is negative");
  const int64_t M = f.n_features, K = f.n_outputs;
  switch (kind) {
    case XPLAIN_OUTPUT_PREDICTION: shape[0] = n_rows; shape[1] = K; ndim = 2; break;
    case XPLAIN_OUTPUT_SHAP_VALUES: shape[0] = n_rows; shape[1] = M; shape[2] = K; ndim = 3; break;
    case XPLAIN_OUTPUT_INTERACTION_VALUES: shape[0] = n_rows; shape[1] = M; shape[2] = M; shape[3] = K; ndim = 4; break;
    case XPLAIN_OUTPUT_EXPECTED_VALUE: shape[0] = K; ndim = 1; break;
    default: refuse("unknown output kind " + std::to_string(kind));
  }
  int64_t size = 1;
  for (int32_t d = 0; d < ndim; ++d) size = checked_product({size, shape[d]});
  return size;
}

/// Checks the arguments every row-wise computation shares, before anything is written.
void check_call(const XplainForest* forest, int32_t kind, const double* X, int64_t n_rows, int64_t n_cols,
                const double* out, int64_t out_capacity) {
  require(forest, "forest");
  if (n_cols != forest->view.n_features)
    refuse("X has " + std::to_string(n_cols) + " columns, but the forest has " +
           std::to_string(forest->view.n_features) + " features");
  int64_t shape[4];
  int32_t ndim;
  const int64_t size = shape_of(forest->view, kind, n_rows, shape, ndim);
  checked_product({n_rows, n_cols});  // X's size must be representable too
  if (size > 0) {
    require(X, "X");
    require(out, "out");
  }
  if (out_capacity < size)
    refuse("out has room for " + std::to_string(out_capacity) + " doubles, the result needs " + std::to_string(size));
}

}  // namespace

extern "C" {

const char* xplain_version(void) { return XPLAIN_VERSION_STRING; }

const char* xplain_last_error(void) { return last_error.c_str(); }

XplainOptions xplain_options_default(void) { return XplainOptions{sizeof(XplainOptions), 1}; }

int xplain_forest_create(const XplainForestArrays* arrays, XplainForest** out) {
  return guarded([&] {
    require(out, "out");
    *out = nullptr;
    require(arrays, "arrays");
    *out = new XplainForest(*arrays);
  });
}

int xplain_forest_free(XplainForest* forest) {
  return guarded([&] { delete forest; });
}

int xplain_forest_info(const XplainForest* forest, int64_t* n_features, int64_t* n_outputs, int64_t* n_trees) {
  return guarded([&] {
    require(forest, "forest");
    if (n_features) *n_features = forest->view.n_features;
    if (n_outputs) *n_outputs = forest->view.n_outputs;
    if (n_trees) *n_trees = forest->view.n_trees;
  });
}

int xplain_output_shape(const XplainForest* forest, int32_t kind, int64_t n_rows, int64_t shape[4],
                        int32_t* ndim, int64_t* size) {
  return guarded([&] {
    require(forest, "forest");
    require(shape, "shape");
    require(ndim, "ndim");
    const int64_t total = shape_of(forest->view, kind, n_rows, shape, *ndim);
    if (size) *size = total;
  });
}

int xplain_expected_value(const XplainForest* forest, double* out, int64_t out_capacity) {
  return guarded([&] {
    require(forest, "forest");
    require(out, "out");
    const int64_t K = forest->view.n_outputs;
    if (out_capacity < K)
      refuse("out has room for " + std::to_string(out_capacity) + " doubles, the result needs " + std::to_string(K));
    for (int64_t k = 0; k < K; ++k) out[k] = forest->tables.expected[static_cast<size_t>(k)];
  });
}

int xplain_predict(const XplainForest* forest, const double* X, int64_t n_rows, int64_t n_cols,
                   const XplainOptions* options, double* out, int64_t out_capacity) {
  return guarded([&] {
    check_call(forest, XPLAIN_OUTPUT_PREDICTION, X, n_rows, n_cols, out, out_capacity);
    xplain::predict_raw(forest->view, X, n_rows, out, thread_count(options));
  });
}

int xplain_shap_values(const XplainForest* forest, const double* X, int64_t n_rows, int64_t n_cols,
                       const XplainOptions* options, double* out, int64_t out_capacity) {
  return guarded([&] {
    check_call(forest, XPLAIN_OUTPUT_SHAP_VALUES, X, n_rows, n_cols, out, out_capacity);
    xplain::path_shap_values(forest->view, forest->tables, X, n_rows, out, thread_count(options));
  });
}

int xplain_shap_interaction_values(const XplainForest* forest, const double* X, int64_t n_rows, int64_t n_cols,
                                   const XplainOptions* options, double* out, int64_t out_capacity) {
  return guarded([&] {
    check_call(forest, XPLAIN_OUTPUT_INTERACTION_VALUES, X, n_rows, n_cols, out, out_capacity);
    const int64_t M = forest->view.n_features;
    std::vector<int32_t> every_feature(static_cast<size_t>(M));
    for (int64_t f = 0; f < M; ++f) every_feature[static_cast<size_t>(f)] = static_cast<int32_t>(f);
    xplain::path_interaction_values(forest->view, forest->tables, X, n_rows, every_feature.data(), M, out,
                                    thread_count(options));
  });
}

}  // extern "C"
