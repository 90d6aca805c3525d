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

// NOTE [ReLU gradient in the max pool]: when a max pool's input is relu(z) from a layer that
// took the ReLU in (NOTE [Fused ReLU] in engine/nn/model.h) and the pool is its one reader, the
// pool applies the ReLU's derivative itself: a window whose maximum is not positive records
// argmax -1 and routes no gradient, so every input position with relu(z) == 0 gets none (it can
// only be the maximum of such windows), exactly relu'(z) * (the pool's gradient). The producer
// then runs no ReLU backward pass of its own (conv2d's relu_grad_by_reader): one kernel fewer
// per Conv2d -> ReLU -> MaxPool2d in every training step.
struct Pool2dParams {
  std::array<int64_t, 2> kernel{2, 2};
  std::array<int64_t, 2> stride{2, 2};
  std::array<int64_t, 2> padding{0, 0};
  bool masks_relu_grad = false;  // max pooling only: NOTE [ReLU gradient in the max pool]
};

Shape pool2d_output_shape(const Shape& x, const Pool2dParams& p, const std::string& who);

// Max pooling forward writes y and the flat input index (h * W + w within its plane) of each
// maximum into `argmax` (Int64, same shape as y; -1 for a window whose maximum is not positive
// when p.masks_relu_grad); backward routes gy through it to gx, each input position summing, in
// output order, the gy of the outputs that picked it.
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
