#include "optimizers/registry.hpp"

namespace descent::registry {

std::span<const Entry> all() {
  static const std::vector<Entry> entries = [] {
    std::vector<Entry> out;
#define DESCENT_COLLECT_FOLDER(folder) \
  for (const Entry& e : folder()) out.push_back(e);
    DESCENT_OPTIMIZER_FOLDERS(DESCENT_COLLECT_FOLDER)
#undef DESCENT_COLLECT_FOLDER
    return out;
  }();
  return entries;
}

}  // namespace descent::registry
