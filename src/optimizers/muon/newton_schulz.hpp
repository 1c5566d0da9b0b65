// The Newton-Schulz iteration of Muon (src/optimizers/muon/muon.cpp), on matrix products through BLAS
// (src/linalg/gemm.hpp: sgemm for float32, dgemm for float64). Internal; bench/muon_step.cpp times it beside
// plain gemm.
#pragma once

#include <cstddef>
#include <cstdint>

namespace descent::muon {

// The quintic a x + b x^3 + c x^5 that each iteration applies to the singular values.
struct NsCoefficients {
  double a, b, c;
};

// Runs `steps` iterations on the row-major [m, n] matrix x (m <= n, already scaled so that its spectral
// norm is at most 1), in place:
//   A = X X^T,   B = b A + c A A,   X = a X + B X.
// Each iteration costs 4 m^2 n + 2 m^3 floating-point operations (ns_flops). Scratch: 2 m n + 2 m^2
// values, allocated here. Throws InvalidArgument when m or n exceeds BLAS's int.
template <class T>
void newton_schulz(T* x, std::size_t m, std::size_t n, const NsCoefficients& k, std::int64_t steps);

inline double ns_flops(std::size_t m, std::size_t n, std::int64_t steps) {
  const double dm = static_cast<double>(m), dn = static_cast<double>(n);
  return static_cast<double>(steps) * (4.0 * dm * dm * dn + 2.0 * dm * dm * dm);
}

}  // namespace descent::muon
