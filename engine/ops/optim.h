// Kernel tables for the optimisers (engine/optim/): one fused update per parameter tensor, a
// single pass over its memory, plus the two kernels gradient clipping needs. The optimiser
// classes validate hyper-parameters and tensors; kernels trust what they are given.
//   SgdHyper h{.lr = 0.1, .momentum = 0.9};
//   sgd_step_kernel(p.device())(h, /*init_buffer=*/step == 1, p, g, buf);
// NOTE [Device hyper-parameters]: on a GPU the learning rate and Adam's step count may come
// from device memory (`device_scalars`, non-null): the optimiser writes them there before each
// step, so a CUDA graph that captured the update reads this step's values when replayed. The
// CPU kernels ignore the pointer.
// Every tensor passed to these kernels is contiguous, on one device, of one floating dtype
// (float32 or float64) and of the parameter's shape. A buffer that the hyper-parameters do not
// use (SGD without momentum, RMSprop's grad_avg when not centered) may be undefined.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/ops/dispatch.h"

namespace ng {

// torch.optim.SGD:  d = g + wd*p;  buf = init ? d : momentum*buf + (1-dampening)*d;
//                   d = nesterov ? d + momentum*buf : buf;  p -= lr*d
// (the momentum lines only when momentum != 0).
struct SgdHyper {
  double lr = 0.0;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  const double* device_scalars = nullptr;  // {lr}, on the parameter's device; overrides lr
};
//   init_buffer: the momentum buffer holds no history yet; it is set to d (no dampening).
using SgdStepFn = void(const SgdHyper& h, bool init_buffer, Tensor& param, const Tensor& grad,
                       Tensor& momentum_buffer);

// torch.optim.Adam / AdamW, at step t (1 for the first update):
//   decoupled (AdamW): p *= 1 - lr*wd            otherwise (Adam): g += wd*p
//   m = m + (1-beta1)*(g-m);  v = beta2*v + (1-beta2)*g*g
//   p -= lr/(1-beta1^t) * m / (sqrt(v)/sqrt(1-beta2^t) + eps)
struct AdamHyper {
  double lr = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled_weight_decay = false;
  int64_t step = 1;
  const double* device_scalars = nullptr;  // {lr, step}; overrides lr and step
};
using AdamStepFn = void(const AdamHyper& h, Tensor& param, const Tensor& grad, Tensor& exp_avg,
                        Tensor& exp_avg_sq);

// torch.optim.RMSprop:
//   g += wd*p;  sq = alpha*sq + (1-alpha)*g*g
//   centered: ga = ga + (1-alpha)*(g-ga);  avg = sqrt(sq - ga*ga) + eps   else avg = sqrt(sq) + eps
//   momentum > 0: buf = momentum*buf + g/avg;  p -= lr*buf                else p -= lr*g/avg
struct RmspropHyper {
  double lr = 0.0;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double momentum = 0.0;
  bool centered = false;
  const double* device_scalars = nullptr;  // {lr}; overrides lr
};
using RmspropStepFn = void(const RmspropHyper& h, Tensor& param, const Tensor& grad,
                           Tensor& square_avg, Tensor& grad_avg, Tensor& momentum_buffer);

// NOTE [Fused updates]: on a GPU every kernel launch costs microseconds whatever its size, so
// the optimisers update all their parameters with a few multi-tensor launches where a device
// has these kernels. One entry per parameter in each list (slots undefined where unused); all
// tensors of one dtype; the arithmetic is the per-parameter kernel's, element for element, with
// SGD's momentum buffers already initialised (init_buffer = false). `device_scalars[i]` is
// parameter i's {lr, step} (NOTE [Device hyper-parameters]) or null for the host values.
struct MultiTensorArgs {
  std::vector<Tensor> params, grads;
  std::vector<Tensor> slot_a;  // SGD: momentum_buffer; Adam: exp_avg
  std::vector<Tensor> slot_b;  // Adam: exp_avg_sq
  std::vector<const double*> device_scalars;
};
using SgdMultiStepFn = void(const SgdHyper& h, MultiTensorArgs& args);
using AdamMultiStepFn = void(const AdamHyper& h, MultiTensorArgs& args);

// Sum of x*x over a contiguous tensor, accumulated in double in a fixed order (the same result
// for any thread count).
using SumSquaresFn = double(const Tensor& x);
// x *= s in place, x contiguous.
using ScaleFn = void(Tensor& x, double s);

NG_KERNEL_TABLE(sgd_step_kernel, SgdStepFn);
NG_KERNEL_TABLE(adam_step_kernel, AdamStepFn);
NG_KERNEL_TABLE(sgd_multi_step_kernel, SgdMultiStepFn);    // GPU only
NG_KERNEL_TABLE(adam_multi_step_kernel, AdamMultiStepFn);  // GPU only
NG_KERNEL_TABLE(rmsprop_step_kernel, RmspropStepFn);
NG_KERNEL_TABLE(sum_squares_kernel, SumSquaresFn);
NG_KERNEL_TABLE(scale_kernel, ScaleFn);

}  // namespace ng
