// The Cholesky factorization and solve that Newton's method and derivatives::positive_definite share.
#pragma once

#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

namespace descent::detail {

// In-place Cholesky H = L L^T of a row-major n x n matrix (lower triangle written). False when a pivot
// is not positive (or not finite): the matrix is not positive definite.
inline bool cholesky(std::vector<double>& a, std::size_t n) {
  for (std::size_t j = 0; j < n; ++j) {
    double pivot = a[j * n + j];
    for (std::size_t k = 0; k < j; ++k) pivot -= a[j * n + k] * a[j * n + k];
    if (!(pivot > 0.0) || !std::isfinite(pivot)) return false;
    const double root = std::sqrt(pivot);
    a[j * n + j] = root;
    for (std::size_t i = j + 1; i < n; ++i) {
      double sum = a[i * n + j];
      for (std::size_t k = 0; k < j; ++k) sum -= a[i * n + k] * a[j * n + k];
      a[i * n + j] = sum / root;
    }
  }
  return true;
}

// Solves L L^T p = b.
inline std::vector<double> cholesky_solve(const std::vector<double>& l, std::size_t n, std::span<const double> b) {
  std::vector<double> y(n);
  for (std::size_t i = 0; i < n; ++i) {
    double sum = b[i];
    for (std::size_t k = 0; k < i; ++k) sum -= l[i * n + k] * y[k];
    y[i] = sum / l[i * n + i];
  }
  for (std::size_t i = n; i-- > 0;) {
    double sum = y[i];
    for (std::size_t k = i + 1; k < n; ++k) sum -= l[k * n + i] * y[k];
    y[i] = sum / l[i * n + i];
  }
  return y;
}

}  // namespace descent::detail
