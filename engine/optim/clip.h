// Gradient clipping by global L2 norm, as torch.nn.utils.clip_grad_norm_:
//   double norm = ng::clip_grad_norm(opt.params(), /*max_norm=*/1.0);
// The norm is taken over every defined gradient together (parameters without one are
// skipped). When it exceeds max_norm, every gradient is scaled in place by
// max_norm / (norm + 1e-6); otherwise nothing changes. Returns the norm before clipping.
// A non-finite norm (inf or NaN in a gradient) is returned with the gradients left as they
// are, so the caller can skip the step.
#pragma once

#include <vector>

#include "engine/core/tensor.h"

namespace ng {

// Throws ValueError when max_norm is not > 0.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

// The global L2 norm of the defined gradients of params (0 when there are none).
double grad_norm(const std::vector<Tensor>& params);

}  // namespace ng
