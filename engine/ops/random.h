// Kernel tables for random fills drawn on the tensor's own device. Every fill matches Rng's
// (core/rng.h) element for element: element i comes from Philox block offset + i / 4, lane i % 4,
// and the generator advances by ceil(n / 4) blocks, so a seed gives the same numbers on every
// device.
//   bernoulli_mask_kernel(mask.device())(mask, /*keep=*/0.9, /*scale=*/1 / 0.9, rng);
// Devices without a kernel here draw on the host (the caller copies).
#pragma once

#include "engine/core/rng.h"
#include "engine/core/tensor.h"
#include "engine/ops/dispatch.h"

namespace ng {

// mask[i] = uniform(i) < keep ? scale : 0, as Rng::fill_bernoulli; mask contiguous, floating.
// On a GPU inside a CUDA-graph capture the draw is rebased on every replay (NOTE [CUDA graphs]).
using BernoulliMaskFn = void(Tensor& mask, double keep, double scale, Rng& rng);
NG_KERNEL_TABLE(bernoulli_mask_kernel, BernoulliMaskFn);

}  // namespace ng
