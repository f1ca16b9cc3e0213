// Forest importance: split counts, gains, covers, MDI and prediction change per feature.
#include "bindings.hpp"
#include "xplain/importance.hpp"

namespace xplain_py {

void register_importance(py::module_& m) {
  bind_enum(m, "ImportanceKind", xplain::kImportanceKindNames, "What forest_importance sums per feature.");
  m.def(
      "forest_importance",
      [](const ForestHandle& forest, const carray<double>& gain, xplain::ImportanceKind kind, bool averaged_trees) {
        const auto& f = forest.view();
        if (gain.size() != 0 && gain.size() != f.n_nodes)
          throw py::value_error("gain has " + std::to_string(gain.size()) + " entries, expected one per node (" +
                                std::to_string(f.n_nodes) + ")");
        py::array_t<double> out(f.n_features);
        // One pass over the nodes (microseconds per thousand nodes): run with the GIL held.
        xplain::forest_importance(f, gain.size() ? gain.data() : nullptr, kind, averaged_trees, out.mutable_data());
        return out;
      },
      py::arg("forest"), py::arg("gain"), py::arg("kind"), py::arg("averaged_trees"),
      "Importance [n_features] of each feature from the forest's structure; gain: per-node split "
      "gains or an empty array.");
}

}  // namespace xplain_py
