// Shared pieces of the pybind11 bindings: the Forest handle and the Ctrl-C check.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "xplain/forest.hpp"
#include "xplain/names.hpp"
#include "xplain/parallel.hpp"

namespace py = pybind11;

namespace xplain_py {

template <typename T>
using carray = py::array_t<T, py::array::c_style | py::array::forcecast>;

/// Owns references to the Forest's numpy arrays and exposes a validated ForestView of them.
/// Immutable after construction, so worker threads may read it without the GIL.
class ForestHandle {
 public:
  ForestHandle(carray<int32_t> left, carray<int32_t> right, carray<int32_t> feature,
               carray<double> threshold, carray<uint8_t> default_left, carray<uint8_t> missing_rule,
               carray<double> value, carray<double> cover, carray<int64_t> tree_offset,
               carray<int32_t> tree_output, carray<double> base_value, carray<int64_t> cat_offset,
               carray<int32_t> cat_words, carray<uint32_t> cat_bits, int64_t n_features,
               bool strict_less, bool float32_input, bool categorical_truncation);
  const xplain::ForestView& view() const { return view_; }

 private:
  py::list keep_alive_;
  xplain::ForestView view_;
};

/// Polled between chunks of long calls: re-acquires the GIL briefly to let Python see Ctrl-C.
/// Python runs signal handlers in its main thread only, so a call from any other thread (a Dask
/// or Spark worker, a thread pool) gets no check: re-taking the GIL there would find no signal and
/// wait on the process's other Python threads (up to the 5 ms switch interval each time).
/// Called with the GIL held.
inline std::function<bool()> python_interrupt_check() {
  const py::module_ threading = py::module_::import("threading");
  if (!threading.attr("current_thread")().is(threading.attr("main_thread")())) return {};
  return [] {
    py::gil_scoped_acquire gil;
    return PyErr_CheckSignals() != 0;
  };
}

/// Runs `body(interrupted)` with the GIL released, `interrupted` being the calling thread's
/// python_interrupt_check (made before the release: it needs the GIL); converts an interruption
/// into the pending Python error.
template <typename Body>
void run_without_gil(Body&& body) {
  const std::function<bool()> interrupted = python_interrupt_check();
  bool was_interrupted = false;
  {
    py::gil_scoped_release release;
    try {
      body(interrupted);
    } catch (const xplain::interrupted_error&) {
      was_interrupted = true;
    }
  }
  if (was_interrupted) throw py::error_already_set();
}

/// A C-contiguous float64 matrix with the forest's number of columns, or a ValueError.
inline carray<double> checked_rows(const py::array& X, int64_t n_features) {
  auto a = carray<double>::ensure(X);
  if (!a || a.ndim() != 2)
    throw py::value_error("X must be a 2-D float64 array");
  if (a.shape(1) != n_features)
    throw py::value_error("X has " + std::to_string(a.shape(1)) + " features, but the model expects " +
                          std::to_string(n_features));
  return a;
}

/// `a` as a 1-D array (its length is checked by the core), or a ValueError naming it.
template <typename T>
const carray<T>& one_dimensional(const carray<T>& a, const char* name) {
  if (a.ndim() != 1) throw py::value_error(std::string(name) + " must be a 1-D array");
  return a;
}

/// `a` as a 2-D array (its shape is checked by the core), or a ValueError naming it.
template <typename T>
const carray<T>& two_dimensional(const carray<T>& a, const char* name) {
  if (a.ndim() != 2) throw py::value_error(std::string(name) + " must be a 2-D array");
  return a;
}

/// Exports one of the core's enums with the names of its NamedValue table (the one place that
/// names its values): functions taking the enum accept these members only, not integers.
template <typename Enum, size_t N>
py::enum_<Enum> bind_enum(py::module_& m, const char* name, const xplain::NamedValue<Enum> (&table)[N],
                          const char* doc) {
  py::enum_<Enum> e(m, name, doc);
  for (const auto& entry : table) e.value(entry.name, entry.value);
  return e;
}

/// Position of each feature in a requested subset (-1: not requested), from the subset's indices;
/// ValueError for an index out of range or listed twice.
inline std::vector<int32_t> subset_positions(const carray<int64_t>& features, int64_t n_features) {
  std::vector<int32_t> position(static_cast<size_t>(n_features), -1);
  for (int64_t s = 0; s < features.size(); ++s) {
    const int64_t feature = features.data()[s];
    if (feature < 0 || feature >= n_features)
      throw py::value_error("feature index " + std::to_string(feature) + " is out of range");
    if (position[static_cast<size_t>(feature)] >= 0)
      throw py::value_error("feature index " + std::to_string(feature) + " is listed twice");
    position[static_cast<size_t>(feature)] = static_cast<int32_t>(s);
  }
  return position;
}

/// Attributions [n_rows, n_features, n_outputs] of rows X, computed by
/// `explain(rows, n_rows, out, interrupted)` with the GIL released. Safe: the caller's forest and tables are
/// immutable and held by its references for the whole call; `rows` and the output are owned here,
/// and the engines write disjoint row slices of the output.
template <typename Explain>
py::array_t<double> attributions_without_gil(const xplain::ForestView& f, const py::array& X, Explain&& explain) {
  auto rows = checked_rows(X, f.n_features);
  const int64_t n = rows.shape(0);
  py::array_t<double> phi({n, f.n_features, f.n_outputs});
  const double* x = rows.data();
  double* out = phi.mutable_data();
  run_without_gil([&](const std::function<bool()>& interrupted) { explain(x, n, out, interrupted); });
  return phi;
}

/// Interaction values [n_rows, n_sub, n_sub, n_outputs] of rows X for the listed features,
/// computed by `explain(rows, n_rows, subset_index, n_sub, out, interrupted)` with the GIL released; safe for
/// the same reasons as attributions_without_gil (`subset_index` is owned here too).
template <typename Explain>
py::array_t<double> interactions_without_gil(const xplain::ForestView& f, const py::array& X,
                                             const carray<int64_t>& features, Explain&& explain) {
  auto rows = checked_rows(X, f.n_features);
  const int64_t n = rows.shape(0), n_sub = features.size();
  const std::vector<int32_t> subset_index = subset_positions(features, f.n_features);
  py::array_t<double> out({n, n_sub, n_sub, f.n_outputs});
  const double* x = rows.data();
  double* o = out.mutable_data();
  run_without_gil([&](const std::function<bool()>& interrupted) {
    explain(x, n, subset_index.data(), n_sub, o, interrupted);
  });
  return out;
}

namespace detail {

/// Appends each visited field to a pickle state: a vector as its raw bytes, a scalar as a number.
struct FieldWriter {
  py::list& state;
  template <typename T>
  void operator()(const std::vector<T>& v) const {
    state.append(py::bytes(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T)));
  }
  template <typename T>
  void operator()(const T& x) const {
    state.append(x);
  }
};

/// Reads the visited fields back from a pickle state, in the order FieldWriter wrote them.
struct FieldReader {
  const py::tuple& state;
  size_t& next;
  py::handle field() const {
    if (next >= state.size()) throw py::value_error("the pickled tables are truncated");
    return state[next++];
  }
  template <typename T>
  void operator()(std::vector<T>& v) const {
    const std::string bytes = field().cast<std::string>();
    if (bytes.size() % sizeof(T) != 0) throw py::value_error("the pickled tables are corrupt");
    v.resize(bytes.size() / sizeof(T));
    if (!bytes.empty()) std::memcpy(v.data(), bytes.data(), bytes.size());
  }
  template <typename T>
  void operator()(T& x) const {
    x = field().cast<T>();
  }
};

}  // namespace detail

/// pickle support for a tables struct with visit_fields, so a fitted explainer travels to other
/// processes (Dask workers, Spark executors) without rebuilding its tables there. The state is a
/// tag naming the struct and its layout, then every field; pickles are for the same build and
/// byte order, and like every pickle they are to be loaded from trusted sources only.
template <typename Tables>
auto tables_pickle(std::string tag) {
  return py::pickle(
      [tag](const Tables& tables) {
        py::list state;
        state.append(tag);
        // visit_fields only reads here; it is non-const because FieldReader writes through it
        const_cast<Tables&>(tables).visit_fields(detail::FieldWriter{state});
        return py::tuple(state);
      },
      [tag](const py::tuple& state) {
        if (state.size() < 1 || !py::isinstance<py::str>(state[0]) || state[0].cast<std::string>() != tag)
          throw py::value_error("not pickled tables of this version (" + tag + "); fit the explainer again");
        Tables tables;
        size_t next = 1;
        tables.visit_fields(detail::FieldReader{state, next});
        if (next != state.size()) throw py::value_error("the pickled tables have extra fields");
        return tables;
      });
}

/// Binds one engine's `<engine>_shap_values(forest, tables, X, n_jobs)` and
/// `<engine>_interaction_values(forest, tables, X, features, n_jobs)` over the core's two entry
/// points of that shape (GIL released as in attributions_without_gil / interactions_without_gil).
template <typename Tables>
void def_shap_engine(py::module_& m, const std::string& engine,
                     void (*values)(const xplain::ForestView&, const Tables&, const double*, int64_t, double*, int,
                                    const std::function<bool()>&),
                     void (*interactions)(const xplain::ForestView&, const Tables&, const double*, int64_t,
                                          const int32_t*, int64_t, double*, int, const std::function<bool()>&),
                     const char* values_doc, const char* interactions_doc) {
  m.def(
      (engine + "_shap_values").c_str(),
      [values](const ForestHandle& forest, const Tables& tables, const py::array& X, int n_jobs) {
        const auto& f = forest.view();
        return attributions_without_gil(
            f, X, [&](const double* x, int64_t n, double* out, const std::function<bool()>& interrupted) {
              values(f, tables, x, n, out, n_jobs, interrupted);
            });
      },
      py::arg("forest"), py::arg("tables"), py::arg("X"), py::arg("n_jobs") = 1, values_doc);
  m.def(
      (engine + "_interaction_values").c_str(),
      [interactions](const ForestHandle& forest, const Tables& tables, const py::array& X,
                     const carray<int64_t>& features, int n_jobs) {
        const auto& f = forest.view();
        // the core's std::invalid_argument reaches Python as a ValueError
        return interactions_without_gil(
            f, X, features,
            [&](const double* x, int64_t n, const int32_t* subset, int64_t n_sub, double* out,
                const std::function<bool()>& interrupted) {
              interactions(f, tables, x, n, subset, n_sub, out, n_jobs, interrupted);
            });
      },
      py::arg("forest"), py::arg("tables"), py::arg("X"), py::arg("features"), py::arg("n_jobs") = 1,
      interactions_doc);
}

void register_forest(py::module_& m);
void register_importance(py::module_& m);
void register_treeshap(py::module_& m);
void register_interventional(py::module_& m);
void register_permutation(py::module_& m);
void register_ubjson(py::module_& m);

}  // namespace xplain_py
