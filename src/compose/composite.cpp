// Composite: one optimizer whose groups run different rules. The base Optimizer does the work: each
// group remembers which part runs it, step() plans each group with that part's rule over the Composite's
// records, and the slots of each record are laid out by its rule (optimizer.cpp).
#include "descent/compose.hpp"

namespace descent {

Composite::Composite(std::vector<std::unique_ptr<Optimizer>> parts) : Optimizer("Composite", std::move(parts), {}) {}

void Composite::plan(const Options&, std::span<Record* const>, std::vector<Task>&) {
  throw Error("internal: a Composite's groups are planned by its parts");
}

std::uint32_t Composite::slots_needed(const Options&) const { return 0; }

}  // namespace descent
