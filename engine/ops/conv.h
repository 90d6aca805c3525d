// 2-D convolution (NCHW), differentiable, with stride, padding, dilation and groups.
//   Conv2dParams p; p.stride = {2, 2}; p.padding = {1, 1};
//   Tensor y = ng::conv2d(x, w, b, p, "Conv2d 'conv1'");
//   // x: [N, C, H, W], w: [O, C/groups, KH, KW], b: [O] or undefined -> y: [N, O, Ho, Wo]
//   // Ho = (H + 2*pad_h - dil_h*(KH-1) - 1) / stride_h + 1
#pragma once

#include <array>
#include <string>

#include "engine/core/tensor.h"
#include "engine/ops/dispatch.h"

namespace ng {

struct Conv2dParams {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
};

// Output shape of conv2d, or ng::ShapeError naming `who` and the shapes when they do not fit.
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p,
                          const std::string& who = "Conv2d");

// Kernels (x, w, y, gy contiguous NCHW; outputs allocated by the op, kernels overwrite them).
using Conv2dForwardFn = void(const Tensor& x, const Tensor& w, const Tensor& b,
                             const Conv2dParams& p, Tensor& y);
using Conv2dBackwardDataFn = void(const Tensor& gy, const Tensor& w, const Conv2dParams& p,
                                  Tensor& gx);
// gw always written; gb written when defined (sum of gy over N, H, W).
using Conv2dBackwardWeightFn = void(const Tensor& gy, const Tensor& x, const Conv2dParams& p,
                                    Tensor& gw, Tensor& gb);
NG_KERNEL_TABLE(conv2d_forward_kernel, Conv2dForwardFn);
NG_KERNEL_TABLE(conv2d_backward_data_kernel, Conv2dBackwardDataFn);
NG_KERNEL_TABLE(conv2d_backward_weight_kernel, Conv2dBackwardWeightFn);

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
              const std::string& who = "Conv2d");

}  // namespace ng
