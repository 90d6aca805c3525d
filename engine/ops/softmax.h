// Softmax, log-softmax and the losses, differentiable.
//   Tensor p = ng::softmax(logits, -1);
//   Tensor loss = ng::cross_entropy(logits, labels, 0.1);   // labels: Int64 [N]
//   Tensor l2 = ng::mse_loss(pred, target);
//   Tensor bce = ng::bce_with_logits(logits, targets);      // targets in [0, 1], float
// Losses return the mean over the batch as a scalar.
#pragma once

#include <string>

#include "engine/core/tensor.h"
#include "engine/ops/dispatch.h"

namespace ng {

Tensor softmax(const Tensor& x, int64_t axis = -1);
Tensor log_softmax(const Tensor& x, int64_t axis = -1);

// Fused log-softmax + negative log-likelihood over logits [N, C] and Int64 labels [N] in
// [0, C); numerically stable for any logit scale. With label smoothing s, the target is
// (1 - s) * one_hot + s / C, as PyTorch's CrossEntropyLoss(label_smoothing=s).
Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing = 0.0,
                     const std::string& who = "CrossEntropyLoss");
Tensor mse_loss(const Tensor& pred, const Tensor& target, const std::string& who = "MSELoss");
Tensor bce_with_logits(const Tensor& logits, const Tensor& target,
                       const std::string& who = "BCEWithLogitsLoss");

// Kernels over x seen as [outer, C, inner] with the softmax axis in the middle (contiguous).
using SoftmaxForwardFn = void(const Tensor& x, int64_t axis, bool log, Tensor& y);
using SoftmaxBackwardFn = void(const Tensor& y, const Tensor& gy, int64_t axis, bool log,
                               Tensor& gx);
// Cross-entropy: writes the mean loss (scalar) and grad1 [N, C] = (softmax(x) - target) / N,
// the gradient of the loss for an upstream gradient of 1 (backward() on the loss itself takes
// it as it is, without a kernel; any other upstream gradient scales it). The kernel checks that
// every label is in [0, C) and reports one that is not as ValueError "<who>: label 12 in row 3
// is out of range for 10 classes (expected 0 to 9)": the CPU at once, a GPU later without
// stopping the step (NOTE [Deferred device errors] in ops/cuda/backend.h); such a row's loss is
// NaN and its grad1 has no one-hot term.
using CrossEntropyForwardFn = void(const Tensor& logits, const Tensor& labels, double smoothing,
                                   Tensor& loss, Tensor& grad1, const std::string& who);
NG_KERNEL_TABLE(softmax_forward_kernel, SoftmaxForwardFn);
NG_KERNEL_TABLE(softmax_backward_kernel, SoftmaxBackwardFn);
NG_KERNEL_TABLE(cross_entropy_forward_kernel, CrossEntropyForwardFn);

}  // namespace ng
