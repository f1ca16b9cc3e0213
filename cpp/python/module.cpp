// xplain_fast._core: thin bindings over the header-only C++ core in cpp/include/xplain.
#include "bindings.hpp"
#include "xplain/version.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "xplain-fast compiled core (private: use the xplain_fast package)";
  m.attr("__version__") = XPLAIN_VERSION_STRING;
  xplain_py::register_forest(m);
  xplain_py::register_importance(m);
  xplain_py::register_treeshap(m);
  xplain_py::register_interventional(m);
  xplain_py::register_permutation(m);
  xplain_py::register_ubjson(m);
}
