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
  // Set by conv2d, not by callers: the kernels' x, w, y (and gy, gx, gw) are channels-last, w as
  // [O, KH, KW, C/G] in memory (NOTE [Channels-last]). Only kernels that take NHWC see it.
  bool channels_last = false;
};

// When conv2d runs on channels-last memory. Auto (the default, or NG_CHANNELS_LAST=auto): on
// CUDA, for float32 and bfloat16, when the input already is channels-last or the output is
// large enough for cuDNN's NHWC tensor-core kernels to pay for the layout change (at least 16
// output channels and 65,536 output pixels; ResNet-20's stem at batch 512, not LeNet's
// convolutions at batch 64). On (NG_CHANNELS_LAST=1): every convolution on every device (the
// CPU computes in NCHW and hands back channels-last, for tests). Off (NG_CHANNELS_LAST=0): never.
enum class ChannelsLastPolicy { Auto, On, Off };
void set_channels_last_policy(ChannelsLastPolicy p);
ChannelsLastPolicy channels_last_policy();

// NOTE [Gradients added in place by the kernel] (autograd/autograd.h): a convolution whose input
// already has a gradient waiting (a residual block's input, read by the shortcut too) has the
// device add its input gradient into it (cuDNN's beta = 1) instead of writing a new tensor for
// autograd to add. Off by default until measured on a GPU; NG_CONV_GRAD_ADD=1 turns it on.
void set_conv_grad_add(bool on);
bool conv_grad_add();
// Whether conv2d of x into an output of y_shape runs channels-last under the policy.
bool conv2d_runs_channels_last(const Tensor& x, const Shape& y_shape);

// Output shape of conv2d, or ng::ShapeError naming `who` and the shapes when they do not fit.
Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p,
                          const std::string& who = "Conv2d");

// Kernels (x, w, y, gy contiguous NCHW, or all channels-last when p.channels_last; outputs
// allocated by the op, kernels overwrite them).
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
// gx += the input gradient (optional per device; conv_grad_add).
NG_KERNEL_TABLE(conv2d_backward_data_add_kernel, Conv2dBackwardDataFn);
// y = relu(conv(x, w) + b) in one call where the backend has it (cuDNN's
// ConvolutionBiasActivationForward; NOTE [Fused ReLU] in engine/nn/model.h). Returns false,
// writing nothing, when it cannot; conv2d then runs the convolution and the ReLU op.
using Conv2dBiasReluForwardFn = bool(const Tensor& x, const Tensor& w, const Tensor& b,
                                     const Conv2dParams& p, Tensor& y);
NG_KERNEL_TABLE(conv2d_bias_relu_forward_kernel, Conv2dBiasReluForwardFn);

// relu: returns relu(conv2d(...)), in one kernel where the backend can (a bias is needed).
// relu_grad_by_reader (with relu): the ReLU's derivative is applied by the one reader of the
// result, a max pool told so (Pool2dParams::masks_relu_grad, NOTE [ReLU gradient in the max
// pool] in ops/pool.h), so the backward takes the incoming gradient as it comes and y is not
// kept for a mask.
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
              const std::string& who = "Conv2d", bool relu = false,
              bool relu_grad_by_reader = false);

}  // namespace ng
