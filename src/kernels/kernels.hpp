// The fused update kernels' common interface: one pass over memory per step (load gradient, state and
// weight once, compute, store), vectorized with Highway and dispatched at run time to the best instruction
// set the CPU has (AVX2, AVX-512...). No SIMD types here.
//
// Each optimizer's kernel is declared beside its scalar reference, in src/optimizers/<name>/<name>_reference.hpp,
// with the reference's signature; its body is <name>-inl.h and <name>_kernel.cpp compiles it for every
// instruction set (kernels/export.h). On every target with a native fused multiply-add a kernel applies
// exactly the operations of its reference, so its results are bitwise the reference's; on targets without
// one (SSE4 and older) it calls the reference itself, which uses std::fma (kernels/vector-inl.h). Reductions
// (sum_of_squares, lamb_moments) sum in a different order than the reference's loop: equal to rounding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace descent::kernels {

// A kernel compiled for every instruction set, called like a function on float or on double arrays: each
// call runs the copy for the best instruction set of this CPU. F32 and F64 are its two function types.
template <class F32, class F64>
struct Kernel;
template <class R32, class... A32, class R64, class... A64>
struct Kernel<R32(A32...), R64(A64...)> {
  R32 (*f32)(A32...);
  R64 (*f64)(A64...);
  R32 operator()(A32... args) const { return f32(args...); }
  R64 operator()(A64... args) const { return f64(args...); }
};

// The kernel type with the signature of a scalar reference function template (reference::adam...).
#define DESCENT_KERNEL_OF(reference_fn) \
  ::descent::kernels::Kernel<decltype(reference_fn<float>), decltype(reference_fn<double>)>

// sum_i x_i^2, accumulated in double.
extern const Kernel<double(const float*, std::size_t), double(const double*, std::size_t)> sum_of_squares;
// Whether no element is a NaN or an infinity (the check NonFinitePolicy::Raise and Skip make).
extern const Kernel<bool(const float*, std::size_t), bool(const double*, std::size_t)> all_finite;

// The instruction sets compiled in and usable on this CPU, best first (Highway target bits and names),
// and a way to restrict dispatch to one of them (tests run every kernel on every target).
std::vector<std::pair<std::int64_t, std::string>> available_targets();
void use_only_target(std::int64_t target);  // 0: all again
std::string current_target();

}  // namespace descent::kernels
