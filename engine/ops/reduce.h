// Reductions over axes (sum, mean, max, min), differentiable.
//   Tensor s = ng::sum(x, {0});            // [N, C] -> [C]
//   Tensor m = ng::mean(x, {2, 3}, true);  // [N, C, H, W] -> [N, C, 1, 1]
//   Tensor t = ng::sum(x);                 // all axes -> scalar
#pragma once

#include <vector>

#include "engine/core/tensor.h"
#include "engine/ops/dispatch.h"

namespace ng {

enum class ReduceOp { Sum, Mean, Max, Min };

// out has x's rank, with size 1 at the reduced axes; x may have any strides.
using ReduceFn = void(ReduceOp op, const Tensor& x, Tensor& out);
NG_KERNEL_TABLE(reduce_kernel, ReduceFn);

Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false);
inline Tensor sum(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false) {
  return reduce(ReduceOp::Sum, x, std::move(axes), keepdim);
}
inline Tensor mean(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false) {
  return reduce(ReduceOp::Mean, x, std::move(axes), keepdim);
}
inline Tensor max(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false) {
  return reduce(ReduceOp::Max, x, std::move(axes), keepdim);
}
inline Tensor min(const Tensor& x, std::vector<int64_t> axes = {}, bool keepdim = false) {
  return reduce(ReduceOp::Min, x, std::move(axes), keepdim);
}

}  // namespace ng
