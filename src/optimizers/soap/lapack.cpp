#include "optimizers/soap/lapack.hpp"

#include <algorithm>
#include <climits>
#include <vector>

#include "descent/error.hpp"

// LAPACK's Fortran interface, with gfortran's hidden string lengths at the end (LAPACK_FORTRAN_STRLEN_END).
extern "C" {
void ssyevd_(const char* jobz, const char* uplo, const int* n, float* a, const int* lda, float* w, float* work,
             const int* lwork, int* iwork, const int* liwork, int* info, std::size_t jobz_len, std::size_t uplo_len);
void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w, double* work,
             const int* lwork, int* iwork, const int* liwork, int* info, std::size_t jobz_len, std::size_t uplo_len);
void sgeqrf_(const int* m, const int* n, float* a, const int* lda, float* tau, float* work, const int* lwork, int* info);
void dgeqrf_(const int* m, const int* n, double* a, const int* lda, double* tau, double* work, const int* lwork,
             int* info);
void sorgqr_(const int* m, const int* n, const int* k, float* a, const int* lda, const float* tau, float* work,
             const int* lwork, int* info);
void dorgqr_(const int* m, const int* n, const int* k, double* a, const int* lda, const double* tau, double* work,
             const int* lwork, int* info);
}

namespace descent::soap {
namespace {

int lapack_int(std::size_t n) {
  if (n > 46340) throw InvalidArgument("SOAP: a dimension of " + std::to_string(n) + " is too large for LAPACK's int");
  return static_cast<int>(n);
}

void syevd(int n, float* a, float* w, int& info) {
  int lwork = -1, liwork = -1, iwork_size = 0;
  float work_size = 0;
  ssyevd_("V", "U", &n, a, &n, w, &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1);
  lwork = static_cast<int>(work_size) + 1;
  liwork = iwork_size;
  std::vector<float> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(std::max(liwork, 1)));
  ssyevd_("V", "U", &n, a, &n, w, work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
}
void syevd(int n, double* a, double* w, int& info) {
  int lwork = -1, liwork = -1, iwork_size = 0;
  double work_size = 0;
  dsyevd_("V", "U", &n, a, &n, w, &work_size, &lwork, &iwork_size, &liwork, &info, 1, 1);
  lwork = static_cast<int>(work_size) + 1;
  liwork = iwork_size;
  std::vector<double> work(static_cast<std::size_t>(lwork));
  std::vector<int> iwork(static_cast<std::size_t>(std::max(liwork, 1)));
  dsyevd_("V", "U", &n, a, &n, w, work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
}

// The eigenvectors of the symmetric matrix in `a` (overwritten), descending, into q; false on failure.
template <class T>
bool try_eigenvectors(std::vector<T>& a, T* q, std::size_t n) {
  std::vector<T> w(n);
  int info = 0;
  syevd(lapack_int(n), a.data(), w.data(), info);
  if (info != 0) return false;
  // Column-major on return: eigenvector k (ascending) is a[k n .. k n + n). Descending order: column n-1-k.
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t k = 0; k < n; ++k) q[i * n + k] = a[(n - 1 - k) * n + i];
  }
  return true;
}

}  // namespace

template <class T>
bool eigenvectors_descending(const T* a, T* q, std::size_t n) {
  std::vector<T> work(a, a + n * n);  // symmetric: row-major and column-major are the same
  if (try_eigenvectors(work, q, n)) return true;
  if constexpr (sizeof(T) == sizeof(float)) {
    std::vector<double> wide(a, a + n * n);
    std::vector<double> qd(n * n);
    if (try_eigenvectors(wide, qd.data(), n)) {
      for (std::size_t i = 0; i < n * n; ++i) q[i] = static_cast<T>(qd[i]);
      return true;
    }
  }
  for (std::size_t i = 0; i < n * n; ++i) q[i] = i % (n + 1) == 0 ? T(1) : T(0);
  return false;
}

template <class T>
bool qr_q(const T* a, T* q, std::size_t n) {
  const int m = lapack_int(n);
  std::vector<T> col(n * n), tau(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) col[j * n + i] = a[i * n + j];
  }
  int info = 0, lwork = -1;
  T work_size = 0;
  if constexpr (sizeof(T) == sizeof(float)) {
    sgeqrf_(&m, &m, col.data(), &m, tau.data(), &work_size, &lwork, &info);
  } else {
    dgeqrf_(&m, &m, col.data(), &m, tau.data(), &work_size, &lwork, &info);
  }
  lwork = static_cast<int>(work_size) + 1;
  std::vector<T> work(static_cast<std::size_t>(lwork));
  if constexpr (sizeof(T) == sizeof(float)) {
    sgeqrf_(&m, &m, col.data(), &m, tau.data(), work.data(), &lwork, &info);
    if (info == 0) sorgqr_(&m, &m, &m, col.data(), &m, tau.data(), work.data(), &lwork, &info);
  } else {
    dgeqrf_(&m, &m, col.data(), &m, tau.data(), work.data(), &lwork, &info);
    if (info == 0) dorgqr_(&m, &m, &m, col.data(), &m, tau.data(), work.data(), &lwork, &info);
  }
  if (info != 0) return false;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < n; ++j) q[i * n + j] = col[j * n + i];
  }
  return true;
}

template bool eigenvectors_descending<float>(const float*, float*, std::size_t);
template bool eigenvectors_descending<double>(const double*, double*, std::size_t);
template bool qr_q<float>(const float*, float*, std::size_t);
template bool qr_q<double>(const double*, double*, std::size_t);

}  // namespace descent::soap
