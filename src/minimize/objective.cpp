#include "descent/minimize/objective.hpp"

#include <string>
#include <vector>

#include "descent/error.hpp"

namespace descent {

void Objective::hessian(std::span<const double>, std::span<double>) const {
  throw NotFound("this objective has no Hessian (has_hessian() is false)");
}

void Objective::hessian_vector_product(std::span<const double> x, std::span<const double> v,
                                       std::span<double> hv) const {
  if (!has_hessian()) throw NotFound("this objective has no Hessian-vector product");
  const std::size_t n = dimension();
  std::vector<double> h(n * n);
  hessian(x, h);
  for (std::size_t i = 0; i < n; ++i) {
    double sum = 0.0;
    for (std::size_t j = 0; j < n; ++j) sum += h[i * n + j] * v[j];
    hv[i] = sum;
  }
}

FunctionObjective::FunctionObjective(std::size_t dimension, ValueAndGradient value_and_gradient, Hessian hessian,
                                     HessianVectorProduct hessian_vector_product)
    : dimension_(dimension),
      value_and_gradient_(std::move(value_and_gradient)),
      hessian_(std::move(hessian)),
      hessian_vector_product_(std::move(hessian_vector_product)) {
  if (dimension_ == 0) throw InvalidArgument("FunctionObjective: dimension must be positive");
  if (!value_and_gradient_) throw InvalidArgument("FunctionObjective: no value-and-gradient function given");
}

double FunctionObjective::evaluate(std::span<const double> x, std::span<double> grad) const {
  return value_and_gradient_(x, grad);
}

void FunctionObjective::hessian(std::span<const double> x, std::span<double> h) const {
  if (!hessian_) Objective::hessian(x, h);
  hessian_(x, h);
}

void FunctionObjective::hessian_vector_product(std::span<const double> x, std::span<const double> v,
                                               std::span<double> hv) const {
  if (hessian_vector_product_) {
    hessian_vector_product_(x, v, hv);
  } else {
    Objective::hessian_vector_product(x, v, hv);
  }
}

}  // namespace descent
