// Normalisation and dropout, differentiable.
//   Tensor y = ng::batch_norm(x, gamma, beta, running_mean, running_var,
//                             ng::Mode::Train, 0.1, 1e-5, "BatchNorm 'bn1'");
//   Tensor z = ng::layer_norm(x, {hidden}, gamma, beta, 1e-5);
//   Tensor d = ng::dropout(x, 0.5, ng::Mode::Train, rng);
#pragma once

#include <string>

#include "engine/core/rng.h"
#include "engine/core/tensor.h"
#include "engine/ops/dispatch.h"

namespace ng {

// Train: batch statistics, running statistics updated, dropout active. Eval: running
// statistics, dropout is the identity.
enum class Mode { Train, Eval };

// Batch norm over axis 1 of [N, C] or [N, C, H, W] (any trailing dims). In Train mode the
// running statistics are updated in place: running = (1 - momentum) * running + momentum * stat,
// with the unbiased batch variance, as PyTorch does. gamma/beta may be undefined (affine=false).
// relu: returns relu(batch_norm(x)), with the values and gradients of the two ops in turn; a
// device with batch_norm_relu_* kernels (cuda) does it in the batch-norm passes when training
// (NOTE [Batch norm with ReLU] in ops/cuda/norm.cu), elsewhere the ops are composed.
// Whether batch_norm(..., relu = true) uses the backend's fused kernels (NOTE [Batch norm with
// ReLU] in ops/cuda/norm.cu) or runs batch norm and then the ReLU op:
//   Off      batch norm, then the ReLU op (the default);
//   Both     the fused kernels both ways (NG_BN_RELU_KERNELS=1): on an H200 they measured slower
//            than the two ops (ResNet-20 b512: 9.4-9.5 ms against 8.2 ms composed, two runs), for
//            reasons not yet found;
//   Forward  the fused forward (one pass writes relu(y)), and a backward that applies the ReLU's
//            derivative from that output and then batch norm's own backward
//            (NG_BN_RELU_KERNELS=fwd): the same values and gradients as Off, bit for bit, one
//            pass fewer; with Both it tells whether the slowdown is in the forward or the backward.
enum class BatchNormReluKernels { Off, Both, Forward };
void set_batch_norm_relu_kernels(BatchNormReluKernels k);
BatchNormReluKernels batch_norm_relu_kernels_mode();
// Both (true) or Off (false); true while any of the fused kernels is on.
void set_batch_norm_relu_kernels(bool on);
bool batch_norm_relu_kernels();

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                  Tensor running_var, Mode mode, double momentum = 0.1, double eps = 1e-5,
                  const std::string& who = "BatchNorm", bool relu = false);

// relu(batch_norm(x) + skip), skip of x's shape: a residual block's last batch norm, its sum with
// the shortcut and the ReLU after it. The values and gradients are add_relu(batch_norm(x), skip)'s
// bit for bit; a device with batch_norm_add_relu_forward_kernel (cuda) computes it in batch
// norm's apply pass when training and skip is in y's layout (NOTE [Batch norm into the add] in
// ops/cuda/norm.cu), elsewhere the ops are composed.
Tensor batch_norm_add_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                           Tensor running_mean, Tensor running_var, Mode mode, double momentum,
                           double eps, const Tensor& skip, const std::string& who = "BatchNorm");

// Layer norm over the trailing dims `normalized_shape`; gamma/beta of that shape or undefined.
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& gamma,
                  const Tensor& beta, double eps = 1e-5, const std::string& who = "LayerNorm");

// Inverted dropout: in Train mode zeroes each element with probability p and scales the rest by
// 1/(1-p); the mask comes from `rng` (Philox, so identical on every device).
Tensor dropout(const Tensor& x, double p, Mode mode, Rng& rng, const std::string& who = "Dropout");

// Kernels (contiguous tensors). The batch-norm kernels see x as [N, C, S] (S = spatial size);
// the cuda ones also take a channels-last x, with y (or gy and gx) in the same layout.
//   forward (train): writes y, saves per-channel mean and inverse std (invstd), and updates the
//   running stats; forward (eval): uses the running stats (mean/invstd are then left unwritten).
using BatchNormForwardFn = void(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                Tensor& running_mean, Tensor& running_var, Mode mode,
                                double momentum, double eps, Tensor& y, Tensor& mean,
                                Tensor& invstd);
//   backward (train mode): gx, and ggamma/gbeta when defined.
using BatchNormBackwardFn = void(const Tensor& gy, const Tensor& x, const Tensor& gamma,
                                 const Tensor& mean, const Tensor& invstd, Tensor& gx,
                                 Tensor& ggamma, Tensor& gbeta);
NG_KERNEL_TABLE(batch_norm_forward_kernel, BatchNormForwardFn);
NG_KERNEL_TABLE(batch_norm_backward_kernel, BatchNormBackwardFn);
//   relu(batch_norm(x)) in training (optional per device): as the forward, and also writes the
//   [2, C] scale_shift = [scale | beta] (y = relu((x - mean) * scale + beta)) that the backward
//   needs, with the mean, for the ReLU's mask.
using BatchNormReluForwardFn = void(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                    Tensor& running_mean, Tensor& running_var, double momentum,
                                    double eps, Tensor& y, Tensor& mean, Tensor& invstd,
                                    Tensor& scale_shift);
//   its backward: gy is the gradient of relu's output, masked in the kernel.
using BatchNormReluBackwardFn = void(const Tensor& gy, const Tensor& x, const Tensor& gamma,
                                     const Tensor& mean, const Tensor& invstd,
                                     const Tensor& scale_shift, Tensor& gx, Tensor& ggamma,
                                     Tensor& gbeta);
NG_KERNEL_TABLE(batch_norm_relu_forward_kernel, BatchNormReluForwardFn);
NG_KERNEL_TABLE(batch_norm_relu_backward_kernel, BatchNormReluBackwardFn);
//   relu(batch_norm(x) + skip) in training (optional per device; NOTE [Batch norm into the add]
//   in ops/cuda/norm.cu): as the forward, skip in x's shape and layout.
using BatchNormAddReluForwardFn = void(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                       Tensor& running_mean, Tensor& running_var, double momentum,
                                       double eps, const Tensor& skip, Tensor& y, Tensor& mean,
                                       Tensor& invstd);
NG_KERNEL_TABLE(batch_norm_add_relu_forward_kernel, BatchNormAddReluForwardFn);
//   layer norm: x seen as [M, D] (D = numel of normalized_shape).
using LayerNormForwardFn = void(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                double eps, Tensor& y, Tensor& mean, Tensor& invstd);
using LayerNormBackwardFn = void(const Tensor& gy, const Tensor& x, const Tensor& gamma,
                                 const Tensor& mean, const Tensor& invstd, Tensor& gx,
                                 Tensor& ggamma, Tensor& gbeta);
NG_KERNEL_TABLE(layer_norm_forward_kernel, LayerNormForwardFn);
NG_KERNEL_TABLE(layer_norm_backward_kernel, LayerNormBackwardFn);

}  // namespace ng
