// A parameter: a named view over memory the caller owns (values and their gradient).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "descent/dtype.hpp"

namespace descent {

// The optimizer never owns or copies parameter memory: the caller keeps `value` and `grad` alive
// (and at the same address) for as long as the optimizer is used.
//
// A parameter whose gradient span is empty has no gradient: step() skips it, as PyTorch skips a
// parameter whose .grad is None (a frozen layer). The shape is optional metadata (default: 1-D of
// the value's length); its product must equal the length. The name must be non-empty, valid UTF-8
// (it keys the checkpoint's JSON header), and the gradient must not overlap the value in memory: the
// constructor and set_grad throw InvalidArgument otherwise.
class Parameter {
 public:
  Parameter(std::string name, std::span<float> value, std::span<float> grad, std::vector<std::int64_t> shape = {});
  Parameter(std::string name, std::span<double> value, std::span<double> grad,
            std::vector<std::int64_t> shape = {});
  // bfloat16 values with a bfloat16 gradient: only rules with the option "bf16_params" (Adam, AdamW)
  // take them; every other optimizer refuses them when the group is added (docs/optimizers.md).
  Parameter(std::string name, std::span<bfloat16> value, std::span<bfloat16> grad,
            std::vector<std::int64_t> shape = {});

  const std::string& name() const noexcept { return name_; }
  DType dtype() const noexcept { return dtype_; }
  std::size_t size() const noexcept { return size_; }
  const std::vector<std::int64_t>& shape() const noexcept { return shape_; }
  bool has_grad() const noexcept { return grad_ != nullptr; }

  // Typed access; throws InvalidArgument when T is not the parameter's dtype.
  template <class T>
  std::span<T> value() const {
    check_type(dtype_of<T>());
    return {static_cast<T*>(value_), size_};
  }
  template <class T>
  std::span<T> grad() const {
    check_type(dtype_of<T>());
    return {static_cast<T*>(grad_), grad_ ? size_ : 0};
  }

  // Attaches (or, with an empty span, detaches) the gradient; its length must match the value's.
  void set_grad(std::span<float> grad);
  void set_grad(std::span<double> grad);
  void set_grad(std::span<bfloat16> grad);

  // Untyped addresses, for code that dispatches on dtype() itself.
  void* value_data() const noexcept { return value_; }
  void* grad_data() const noexcept { return grad_; }

 private:
  Parameter(std::string name, DType dtype, void* value, std::size_t size, void* grad, std::size_t grad_size,
            std::vector<std::int64_t> shape);
  void attach_grad(DType dtype, void* grad, std::size_t grad_size);
  void check_type(DType requested) const;

  std::string name_;
  DType dtype_;
  void* value_;
  void* grad_;
  std::size_t size_;
  std::vector<std::int64_t> shape_;
};

}  // namespace descent
