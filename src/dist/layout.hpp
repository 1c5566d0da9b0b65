// How descent::dist lays tensors out in its exchange buffers.
#pragma once

#include <cstddef>

namespace descent::dist::detail {

// Each tensor starts 8-aligned in an exchange buffer, so that float64 values are read in place.
constexpr std::size_t padded(std::size_t bytes) noexcept { return (bytes + 7) / 8 * 8; }

}  // namespace descent::dist::detail
