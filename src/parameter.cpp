#include "descent/parameter.hpp"

#include <cstdint>
#include <numeric>

#include "checkpoint/json.hpp"
#include "descent/error.hpp"

namespace descent {

Parameter::Parameter(std::string name, std::span<float> value, std::span<float> grad, std::vector<std::int64_t> shape)
    : Parameter(std::move(name), DType::Float32, value.data(), value.size(), grad.data(), grad.size(),
                std::move(shape)) {}

Parameter::Parameter(std::string name, std::span<double> value, std::span<double> grad,
                     std::vector<std::int64_t> shape)
    : Parameter(std::move(name), DType::Float64, value.data(), value.size(), grad.data(), grad.size(),
                std::move(shape)) {}

Parameter::Parameter(std::string name, std::span<bfloat16> value, std::span<bfloat16> grad,
                     std::vector<std::int64_t> shape)
    : Parameter(std::move(name), DType::BFloat16, value.data(), value.size(), grad.data(), grad.size(),
                std::move(shape)) {}

Parameter::Parameter(std::string name, DType dtype, void* value, std::size_t size, void* grad,
                     std::size_t grad_size, std::vector<std::int64_t> shape)
    : name_(std::move(name)), dtype_(dtype), value_(value), grad_(nullptr), size_(size), shape_(std::move(shape)) {
  if (name_.empty()) throw InvalidArgument("parameter name must not be empty");
  // Names key the checkpoint, whose header is UTF-8 JSON: refuse here what a save would refuse later.
  if (std::size_t bad = 0; !detail::json::valid_utf8(name_, &bad)) {
    throw InvalidArgument("parameter name '" + excerpt(name_) + "' is not valid UTF-8 (byte " + std::to_string(bad) + ")");
  }
  if (size_ == 0) throw InvalidArgument("parameter '" + excerpt(name_) + "' has no elements");
  if (shape_.empty()) shape_ = {static_cast<std::int64_t>(size_)};
  std::int64_t product = 1;
  for (const std::int64_t extent : shape_) {
    if (extent <= 0) throw InvalidArgument("parameter '" + excerpt(name_) + "': shape extent " + std::to_string(extent) + " is not positive");
    if (__builtin_mul_overflow(product, extent, &product)) {
      throw InvalidArgument("parameter '" + excerpt(name_) + "': the shape's element count overflows 64 bits");
    }
  }
  if (static_cast<std::size_t>(product) != size_) {
    throw InvalidArgument("parameter '" + excerpt(name_) + "': shape holds " + std::to_string(product) +
                          " elements but the value span has " + std::to_string(size_));
  }
  attach_grad(dtype, grad, grad_size);
}

void Parameter::set_grad(std::span<float> grad) { attach_grad(DType::Float32, grad.data(), grad.size()); }
void Parameter::set_grad(std::span<double> grad) { attach_grad(DType::Float64, grad.data(), grad.size()); }
void Parameter::set_grad(std::span<bfloat16> grad) { attach_grad(DType::BFloat16, grad.data(), grad.size()); }

void Parameter::attach_grad(DType dtype, void* grad, std::size_t grad_size) {
  if (grad_size == 0) {
    grad_ = nullptr;
    return;
  }
  if (dtype != dtype_) {
    throw InvalidArgument("parameter '" + excerpt(name_) + "' is " + std::string(name_of(dtype_)) + " but its gradient is " +
                          std::string(name_of(dtype)));
  }
  if (grad_size != size_) {
    throw InvalidArgument("parameter '" + excerpt(name_) + "': gradient has " + std::to_string(grad_size) +
                          " elements but the value has " + std::to_string(size_));
  }
  // A gradient sharing memory with the value would be overwritten by the update it drives.
  const auto value_begin = reinterpret_cast<std::uintptr_t>(value_);
  const auto grad_begin = reinterpret_cast<std::uintptr_t>(grad);
  const std::size_t bytes = size_ * size_of(dtype_);
  if (grad_begin < value_begin + bytes && value_begin < grad_begin + bytes) {
    throw InvalidArgument("parameter '" + excerpt(name_) + "': its gradient overlaps its value in memory (" +
                          (grad_begin == value_begin ? std::string("the same span") : "spans " +
                          std::to_string(grad_begin > value_begin ? grad_begin - value_begin : value_begin - grad_begin) +
                          " bytes apart") + "); give the gradient memory of its own");
  }
  grad_ = grad;
}

void Parameter::check_type(DType requested) const {
  if (requested != dtype_) {
    throw InvalidArgument("parameter '" + excerpt(name_) + "' is " + std::string(name_of(dtype_)) + ", not " +
                          std::string(name_of(requested)));
  }
}

namespace detail {
void refuse_non_float_dtype(DType dtype) {
  throw InvalidArgument("this computation takes float32 or float64 parameters, not " + std::string(name_of(dtype)) +
                        " (bfloat16 parameters: Adam and AdamW, docs/optimizers.md)");
}
}  // namespace detail

}  // namespace descent
