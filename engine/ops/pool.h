// Pooling over NCHW tensors, differentiable.
//   Tensor y = ng::max_pool2d(x, {2, 2}, {2, 2}, {0, 0}, "MaxPool2d 'pool1'");
//   Tensor g = ng::global_avg_pool(x);   // [N, C, H, W] -> [N, C]
// Average pooling counts padded zeros in the divisor (PyTorch's count_include_pad=True).
#pragma once

#include <array>
#include <string>

#include "engine/core/tensor.h"
#include "engine/ops/dispatch.h"

namespace ng {

struct Pool2dParams {
  std::array<int64_t, 2> kernel{2, 2};
  std::array<int64_t, 2> stride{2, 2};
  std::array<int64_t, 2> padding{0, 0};
};

Shape pool2d_output_shape(const Shape& x, const Pool2dParams& p, const std::string& who);

// Max pooling forward writes y and the flat input index (h * W + w within its plane) of each
// maximum into `argmax` (Int64, same shape as y); backward routes gy through it to gx, each
// input position summing, in output order, the gy of the outputs that picked it.
using MaxPool2dForwardFn = void(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& argmax);
using MaxPool2dBackwardFn = void(const Tensor& gy, const Tensor& argmax, const Pool2dParams& p,
                                 Tensor& gx);
using AvgPool2dForwardFn = void(const Tensor& x, const Pool2dParams& p, Tensor& y);
using AvgPool2dBackwardFn = void(const Tensor& gy, const Pool2dParams& p, Tensor& gx);
NG_KERNEL_TABLE(max_pool2d_forward_kernel, MaxPool2dForwardFn);
NG_KERNEL_TABLE(max_pool2d_backward_kernel, MaxPool2dBackwardFn);
NG_KERNEL_TABLE(avg_pool2d_forward_kernel, AvgPool2dForwardFn);
NG_KERNEL_TABLE(avg_pool2d_backward_kernel, AvgPool2dBackwardFn);

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p, const std::string& who = "MaxPool2d");
Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p, const std::string& who = "AvgPool2d");
// [N, C, H, W] -> [N, C]
Tensor global_avg_pool(const Tensor& x, const std::string& who = "GlobalAvgPool");

}  // namespace ng
