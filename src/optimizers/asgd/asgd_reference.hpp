// ASGD: the per-step scalars, the scalar reference update and its vector kernel.
// The reference (asgd.cpp) is the specification; the kernel (asgd-inl.h, compiled for every
// instruction set by asgd_kernel.cpp) applies the same operations lane by lane, so its results are
// bitwise the reference's on every target (asgd_test.cpp checks it).
#pragma once

#include <cstddef>
#include <cstdint>

#include "descent/optimizers/asgd.hpp"
#include "kernels/kernels.hpp"

namespace descent {
namespace reference {

struct ASGDStep {
  double decay;     // 1 - lambd * eta
  double neg_eta;   // -eta
  double mu;        // the new iterate's weight in the average
  double weight_decay;
  bool average;     // mu != 1; else the average is the iterate itself
  bool maximize;
  // This step's scalars from the parameter's state (eta, mu), which it then advances to the next step's.
  static ASGDStep make(const ASGDOptions& options, std::int64_t step, double& eta, double& mu);
};
template <class T>
void asgd(const ASGDStep& s, T* param, const T* grad, T* ax, std::size_t n);

}  // namespace reference

namespace kernels {
extern const DESCENT_KERNEL_OF(reference::asgd) asgd;
}  // namespace kernels
}  // namespace descent
