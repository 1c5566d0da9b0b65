// Objectives for function minimization: f: R^n -> R with its gradient, and optionally its Hessian.
// Everything here is float64.
#pragma once

#include <cstddef>
#include <functional>
#include <span>

namespace descent {

class Objective {
 public:
  virtual ~Objective() = default;

  virtual std::size_t dimension() const = 0;

  // Returns f(x) and, when `grad` is not empty, writes the gradient into it (length dimension()).
  virtual double evaluate(std::span<const double> x, std::span<double> grad) const = 0;

  // The dense Hessian, row-major dimension() x dimension(), where has_hessian().
  virtual bool has_hessian() const { return false; }
  virtual void hessian(std::span<const double> x, std::span<double> h) const;

  // H(x) v without forming H, where has_hessian_vector_product(). By default it is computed from
  // hessian() when that exists.
  virtual bool has_hessian_vector_product() const { return has_hessian(); }
  virtual void hessian_vector_product(std::span<const double> x, std::span<const double> v,
                                      std::span<double> hv) const;
};

// A mean of N terms, f(x) = (1/N) sum_i f_i(x) (a data set's loss): mini-batch SGD evaluates it on a
// subset of the terms, full-batch gradient descent on all of them (evaluate()).
class SeparableObjective : public Objective {
 public:
  virtual std::size_t num_terms() const = 0;
  // The mean of f_i over `terms` and, when `grad` is not empty, its gradient.
  virtual double evaluate_terms(std::span<const double> x, std::span<const std::size_t> terms,
                                std::span<double> grad) const = 0;
};

// An objective made of callables, for user-written functions:
//   FunctionObjective f(2, [](std::span<const double> x, std::span<double> g) { ...; return value; });
class FunctionObjective final : public Objective {
 public:
  using ValueAndGradient = std::function<double(std::span<const double> x, std::span<double> grad)>;
  using Hessian = std::function<void(std::span<const double> x, std::span<double> h)>;
  using HessianVectorProduct =
      std::function<void(std::span<const double> x, std::span<const double> v, std::span<double> hv)>;

  FunctionObjective(std::size_t dimension, ValueAndGradient value_and_gradient, Hessian hessian = {},
                    HessianVectorProduct hessian_vector_product = {});

  std::size_t dimension() const override { return dimension_; }
  double evaluate(std::span<const double> x, std::span<double> grad) const override;
  bool has_hessian() const override { return static_cast<bool>(hessian_); }
  void hessian(std::span<const double> x, std::span<double> h) const override;
  bool has_hessian_vector_product() const override { return hessian_vector_product_ || hessian_; }
  void hessian_vector_product(std::span<const double> x, std::span<const double> v,
                              std::span<double> hv) const override;

 private:
  std::size_t dimension_;
  ValueAndGradient value_and_gradient_;
  Hessian hessian_;
  HessianVectorProduct hessian_vector_product_;
};

}  // namespace descent
