// Software prefetch for streaming loops: the element-wise kernels (src/kernels/vector-inl.h and each
// optimizer's -inl.h) and the benches' roof loops (bench/compare_step.cpp, bench/lowbit_step.cpp), which
// must issue exactly what the kernels issue. Nothing in it depends on the instruction set.
#pragma once

#include <cstddef>
#include <cstdint>

namespace descent::kernels {

// The cache line kPrefetchAhead elements past element i of x, issued once per 64 bytes of x (when
// i * sizeof(T) is a multiple of 64, so each line once whatever x's alignment). With the hardware
// prefetcher alone Adam's step waited on memory behind its arithmetic (a square root and two divisions
// per element). Every element-wise optimizer kernel issues it, once per array it reads or writes; Adam's
// float32 and low-bit steps and most others got faster on this project's machine, none slower
// (docs/optimizers.md, "State dtypes"; docs/performance.md, "Software prefetch"). kWrite for a stream
// the loop also stores. The address is formed as an integer: near the end of x it points past the
// array, which a prefetch may (it never faults).
inline constexpr std::size_t kPrefetchAhead = 512;
template <bool kWrite, class T>
[[gnu::always_inline]] inline void PrefetchAhead(const T* x, std::size_t i) {
  if (((i * sizeof(T)) & 63) != 0) return;
  const auto address = reinterpret_cast<std::uintptr_t>(x) + (i + kPrefetchAhead) * sizeof(T);
  __builtin_prefetch(reinterpret_cast<const void*>(address), kWrite ? 1 : 0, 3);
}

}  // namespace descent::kernels
