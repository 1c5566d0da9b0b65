// What descent::torch accepts as a parameter or gradient tensor, said once for TorchOptimizer and
// TorchLBFGS (src/torch/).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/core/ScalarType.h>

#include <string>

namespace descent::torch_detail {

// Why the tensor cannot be a parameter (or its gradient), or "" when it can: it must be defined, on the
// CPU, dense, contiguous and of dtype `dtype` (a gradient: its parameter's), or, with Undefined, float32
// or float64 (a parameter of TorchOptimizer).
std::string refusal(const at::Tensor& t, at::ScalarType dtype);

}  // namespace descent::torch_detail
