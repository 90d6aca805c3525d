#include "engine/ops/norm.h"

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "engine/autograd/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/random.h"
#include "engine/ops/reduce.h"

namespace ng {
namespace {

// A per-feature parameter (gamma, beta, running stats) must match x's dtype, device and shape.
void check_param(const Tensor& p, const char* what, const Tensor& x, const Shape& expected,
                 const std::string& who) {
  if (!p.defined()) return;
  NG_CHECK(p.device() == x.device(), who, ": ", what, " is on ", p.device().str(),
           " but the input is on ", x.device().str());
  NG_CHECK(p.dtype() == x.dtype(), who, ": ", what, " is ", dtype_name(p.dtype()),
           " but the input is ", dtype_name(x.dtype()));
  NG_CHECK_SHAPE(p.shape() == expected, who, ": ", what, " has shape ", shape_str(p.shape()),
                 ", expected ", shape_str(expected));
}

void check_input(const Tensor& x, const std::string& who) {
  NG_CHECK(x.defined(), who, ": the input is undefined");
  NG_CHECK(is_floating(x.dtype()), who, ": needs a floating input, got ", dtype_name(x.dtype()));
}

}  // namespace

namespace {
std::atomic<BatchNormReluKernels>& bn_relu_kernels_slot() {
  static std::atomic<BatchNormReluKernels> k = [] {
    const char* v = std::getenv("NG_BN_RELU_KERNELS");
    if (v && std::strcmp(v, "1") == 0) return BatchNormReluKernels::Both;
    if (v && std::strcmp(v, "fwd") == 0) return BatchNormReluKernels::Forward;
    return BatchNormReluKernels::Off;
  }();
  return k;
}
}  // namespace

void set_batch_norm_relu_kernels(BatchNormReluKernels k) {
  bn_relu_kernels_slot().store(k);
}
BatchNormReluKernels batch_norm_relu_kernels_mode() {
  return bn_relu_kernels_slot().load();
}
void set_batch_norm_relu_kernels(bool on) {
  set_batch_norm_relu_kernels(on ? BatchNormReluKernels::Both : BatchNormReluKernels::Off);
}
bool batch_norm_relu_kernels() {
  return batch_norm_relu_kernels_mode() != BatchNormReluKernels::Off;
}

namespace {
// batch_norm's argument checks; returns C.
int64_t check_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         const Tensor& running_mean, const Tensor& running_var, Mode mode,
                         double momentum, double eps, const std::string& who) {
  check_input(x, who);
  NG_CHECK_SHAPE(x.dim() >= 2, who, ": input has shape ", shape_str(x.shape()),
                 ", expected [N, C] or [N, C, H, W]");
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / std::max<int64_t>(1, N * C);
  check_param(gamma, "weight (gamma)", x, {C}, who);
  check_param(beta, "bias (beta)", x, {C}, who);
  check_param(running_mean, "running_mean", x, {C}, who);
  check_param(running_var, "running_var", x, {C}, who);
  NG_CHECK(running_mean.defined() == running_var.defined(), who,
           ": running_mean and running_var must both be given or both be undefined");
  NG_CHECK(mode == Mode::Train || running_mean.defined(), who,
           ": eval mode needs running statistics (running_mean and running_var are undefined)");
  NG_CHECK(eps > 0, who, ": eps must be positive, got ", eps);
  if (mode == Mode::Train) {
    NG_CHECK_SHAPE(N * S > 1, who, ": training needs more than one value per channel, input has ",
                   "shape ", shape_str(x.shape()));
    NG_CHECK(momentum >= 0 && momentum <= 1, who, ": momentum must be in [0, 1], got ", momentum);
  }
  if (running_mean.defined())
    NG_CHECK(running_mean.is_contiguous() && running_var.is_contiguous(), who,
             ": running statistics must be contiguous");
  return C;
}

// The layout batch norm keeps: on cuda a channels-last x stays channels-last (NOTE [Channels-last
// batch norm] in ops/cuda/norm.cu); the CPU kernels are [N, C, S] only.
MemoryFormat batch_norm_format(const Tensor& x) {
  return x.device().is_cuda() && x.memory_format() == MemoryFormat::ChannelsLast
             ? MemoryFormat::ChannelsLast
             : MemoryFormat::Contiguous;
}

// What a training batch norm's backward reads: x and gamma as the kernels take them (x in fmt),
// and the batch's mean and inverse std, which the forward kernel writes.
struct BnSaved {
  Tensor xc, gc, mean, invstd;
  int64_t C = 0;
  MemoryFormat fmt = MemoryFormat::Contiguous;

  BnSaved(const Tensor& x, const Tensor& gamma, int64_t channels, MemoryFormat f)
      : xc(x.contiguous(f).detach()),
        gc(gamma.defined() ? gamma.contiguous().detach() : Tensor()),
        mean(Tensor::empty({channels}, x.dtype(), x.device())),
        invstd(Tensor::empty({channels}, x.dtype(), x.device())),
        C(channels),
        fmt(f) {}

  // [gx, ggamma, gbeta] from gy (in fmt), those not wanted undefined; with scale_shift, gy is the
  // gradient of relu's output, masked in the fused kernel (NOTE [Batch norm with ReLU]).
  std::vector<Tensor> backward(const Tensor& gy, bool gx, bool gg, bool gb,
                               const Tensor& scale_shift = Tensor()) const {
    Tensor gxo = gx ? Tensor::empty(xc.shape(), xc.dtype(), xc.device(), fmt) : Tensor();
    Tensor ggo = gg ? Tensor::empty({C}, xc.dtype(), xc.device()) : Tensor();
    Tensor gbo = gb ? Tensor::empty({C}, xc.dtype(), xc.device()) : Tensor();
    if (scale_shift.defined())
      batch_norm_relu_backward_kernel(xc.device())(gy, xc, gc, mean, invstd, scale_shift, gxo, ggo,
                                                   gbo);
    else
      batch_norm_backward_kernel(xc.device())(gy, xc, gc, mean, invstd, gxo, ggo, gbo);
    return {gxo, ggo, gbo};
  }
};
}  // namespace

Tensor batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, Tensor running_mean,
                  Tensor running_var, Mode mode, double momentum, double eps,
                  const std::string& who, bool relu) {
  const int64_t C =
      check_batch_norm(x, gamma, beta, running_mean, running_var, mode, momentum, eps, who);
  // x: [N, C, S...] -> y: same shape; mean, invstd: [C]; y, and gx in the backward, in
  // batch_norm_format(x).
  const MemoryFormat fmt = batch_norm_format(x);
  // relu: one pass each way where the device has the fused kernels and the statistics are the
  // batch's; otherwise (eval mode, the CPU) batch norm and then the ReLU op, which is exact by
  // construction.
  // The fused kernels are opt-in (NG_BN_RELU_KERNELS=1): on an H200 they measured slower than
  // batch norm followed by the ReLU op (ResNet-20 b512: 9.4-9.5 ms against 8.2 composed and
  // 6.9-8.8 unfused, in two runs), for reasons not yet found (NOTE [Batch norm with ReLU]).
  // NG_BN_RELU_KERNELS=fwd fuses the forward only; the backward then composes from the output.
  const BatchNormReluKernels kernels = batch_norm_relu_kernels_mode();
  const bool fused = relu && kernels != BatchNormReluKernels::Off && mode == Mode::Train &&
                     batch_norm_relu_forward_kernel.has(x.device().type) &&
                     (kernels == BatchNormReluKernels::Forward ||
                      batch_norm_relu_backward_kernel.has(x.device().type));
  const bool fused_backward = fused && kernels == BatchNormReluKernels::Both;
  if (relu && !fused)
    return ng::relu(
        batch_norm(x, gamma, beta, running_mean, running_var, mode, momentum, eps, who, false));

  const BnSaved sv(x, gamma, C, fmt);
  const Tensor& xc = sv.xc;
  const Tensor& gc = sv.gc;
  Tensor mean = sv.mean, invstd = sv.invstd;
  Tensor bc = beta.defined() ? beta.contiguous().detach() : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device(), fmt);
  Tensor scale_shift;  // fused: [2, C] = the forward's scale and beta, for the ReLU's mask
  Tensor y_saved;      // fused forward only: relu(y), whose positives are the ReLU's derivative
  if (fused) {
    scale_shift = Tensor::empty({2 * C}, x.dtype(), x.device());
    batch_norm_relu_forward_kernel(x.device())(xc, gc, bc, running_mean, running_var, momentum, eps,
                                               y, mean, invstd, scale_shift);
    if (!fused_backward) {
      y_saved = y.detach();
      scale_shift = Tensor();
    }
  } else {
    batch_norm_forward_kernel(x.device())(xc, gc, bc, running_mean, running_var, mode, momentum,
                                          eps, y, mean, invstd);
  }

  if (autograd::should_record({&x, &gamma, &beta})) {
    bool gx = x.requires_grad(), gg = gamma.defined() && gamma.requires_grad(),
         gb = beta.defined() && beta.requires_grad();
    if (mode == Mode::Train) {
      autograd::record(y, "BatchNorm", {x, gamma, beta},
                       [sv, scale_shift, y_saved, gx, gg, gb](const Tensor& g) {
                         // In x's layout, as the kernels need; through the ReLU's derivative
                         // first when only the forward was fused (relu_backward keeps y's layout,
                         // which is x's).
                         Tensor gy =
                             y_saved.defined() ? relu_backward(y_saved, g) : g.contiguous(sv.fmt);
                         return sv.backward(gy, gx, gg, gb, scale_shift);
                       });
    } else {
      // Eval: y = (x - rm) * invstd * gamma + beta is affine in x with constant statistics, so
      // the backward is plain elementwise algebra over a snapshot of the running stats.
      autograd::NoGradGuard no_grad;
      Shape bshape(x.dim(), 1);
      bshape[1] = C;  // [1, C, 1, ...] broadcasts over N and the spatial dims
      Tensor rm = running_mean.clone().reshape(bshape);
      Tensor inv = reciprocal(sqrt(add_scalar(running_var, eps))).reshape(bshape);
      Tensor gam = gc.defined() ? gc.reshape(bshape) : Tensor();
      std::vector<int64_t> axes;
      for (int64_t i = 0; i < x.dim(); ++i)
        if (i != 1) axes.push_back(i);
      Tensor xs = gg ? xc : Tensor();  // x is needed only for ggamma
      autograd::record(
          y, "BatchNorm", {x, gamma, beta}, [xs, rm, inv, gam, axes, gx, gg, gb](const Tensor& g) {
            Tensor scale = gam.defined() ? mul(inv, gam) : inv;
            return std::vector<Tensor>{gx ? mul(g, scale) : Tensor(),
                                       gg ? sum(mul(g, mul(sub(xs, rm), inv)), axes) : Tensor(),
                                       gb ? sum(g, axes) : Tensor()};
          });
    }
  }
  return y;
}

Tensor batch_norm_add_relu(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                           Tensor running_mean, Tensor running_var, Mode mode, double momentum,
                           double eps, const Tensor& skip, const std::string& who) {
  const int64_t C =
      check_batch_norm(x, gamma, beta, running_mean, running_var, mode, momentum, eps, who);
  NG_CHECK(skip.defined(), who, ": the input added after the batch norm is undefined");
  const MemoryFormat fmt = batch_norm_format(x);
  // NOTE [Batch norm into the add] (ops/cuda/norm.cu): one apply pass where the device has it, in
  // training, and skip already has y's shape, dtype and layout; otherwise the two ops.
  const bool fused = mode == Mode::Train &&
                     batch_norm_add_relu_forward_kernel.has(x.device().type) &&
                     skip.device() == x.device() && skip.dtype() == x.dtype() &&
                     skip.shape() == x.shape() && skip.has_format(fmt);
  if (!fused)
    return add_relu(
        batch_norm(x, gamma, beta, running_mean, running_var, mode, momentum, eps, who, false),
        skip);
  const BnSaved sv(x, gamma, C, fmt);
  Tensor mean = sv.mean, invstd = sv.invstd;
  Tensor bc = beta.defined() ? beta.contiguous().detach() : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device(), fmt);
  batch_norm_add_relu_forward_kernel(x.device())(sv.xc, sv.gc, bc, running_mean, running_var,
                                                 momentum, eps, skip, y, mean, invstd);
  if (autograd::should_record({&x, &gamma, &beta, &skip})) {
    const bool gx = x.requires_grad(), gg = gamma.defined() && gamma.requires_grad(),
               gb = beta.defined() && beta.requires_grad(), gs = skip.requires_grad();
    // add_relu's backward, then batch norm's: the ReLU's derivative from the output (which the
    // next layer keeps anyway), one gradient for both summands.
    autograd::record(y, "BatchNormAddReLU", {x, gamma, beta, skip},
                     [sv, ys = y.detach(), gx, gg, gb, gs](const Tensor& g) {
                       Tensor gp = relu_backward(ys, g);  // in y's layout, sv.fmt
                       std::vector<Tensor> r =
                           gx || gg || gb ? sv.backward(gp, gx, gg, gb) : std::vector<Tensor>(3);
                       r.push_back(gs ? gp : Tensor());
                       return r;
                     });
  }
  return y;
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& gamma,
                  const Tensor& beta, double eps, const std::string& who) {
  check_input(x, who);
  const int64_t k = int64_t(normalized_shape.size());
  bool fits = k >= 1 && k <= x.dim();
  for (int64_t i = 0; fits && i < k; ++i) fits = x.shape()[x.dim() - k + i] == normalized_shape[i];
  NG_CHECK_SHAPE(fits, who, ": input has shape ", shape_str(x.shape()),
                 " whose trailing dims do not match normalized_shape ",
                 shape_str(normalized_shape));
  check_param(gamma, "weight (gamma)", x, normalized_shape, who);
  check_param(beta, "bias (beta)", x, normalized_shape, who);
  NG_CHECK(eps > 0, who, ": eps must be positive, got ", eps);

  // x: [..., *normalized_shape] seen as [M, D] -> y: same shape; mean, invstd: [M]
  const int64_t D = numel(normalized_shape), M = D ? x.numel() / D : 0;
  Tensor xc = x.contiguous().detach();
  Tensor gc = gamma.defined() ? gamma.contiguous().detach() : Tensor();
  Tensor bc = beta.defined() ? beta.contiguous().detach() : Tensor();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({M}, x.dtype(), x.device());
  Tensor invstd = Tensor::empty({M}, x.dtype(), x.device());
  layer_norm_forward_kernel(x.device())(xc, gc, bc, eps, y, mean, invstd);

  if (autograd::should_record({&x, &gamma, &beta})) {
    bool gx = x.requires_grad(), gg = gamma.defined() && gamma.requires_grad(),
         gb = beta.defined() && beta.requires_grad();
    autograd::record(
        y, "LayerNorm", {x, gamma, beta},
        [xc, gc, mean, invstd, gx, gg, gb, normalized_shape](const Tensor& g) {
          Tensor gyc = g.contiguous();
          Tensor gxo = gx ? Tensor::empty_like(xc) : Tensor();
          Tensor ggo = gg ? Tensor::empty(normalized_shape, xc.dtype(), xc.device()) : Tensor();
          Tensor gbo = gb ? Tensor::empty(normalized_shape, xc.dtype(), xc.device()) : Tensor();
          layer_norm_backward_kernel(xc.device())(gyc, xc, gc, mean, invstd, gxo, ggo, gbo);
          return std::vector<Tensor>{gxo, ggo, gbo};
        });
  }
  return y;
}

Tensor dropout(const Tensor& x, double p, Mode mode, Rng& rng, const std::string& who) {
  check_input(x, who);
  NG_CHECK(p >= 0 && p <= 1, who, ": dropout probability must be in [0, 1], got ", p);
  if (mode == Mode::Eval || p == 0) return x;

  // NOTE [Dropout masks]: the mask is drawn with Philox (Rng::fill_bernoulli, or the device's
  // bernoulli_mask_kernel with the same arithmetic), so a seed gives the same mask on every
  // device and thread count; it holds 0 or 1/(1-p).
  const double keep = 1.0 - p, scale = keep > 0 ? 1.0 / keep : 0.0;
  Tensor mask;
  if (!x.device().is_cpu() && bernoulli_mask_kernel.has(x.device().type)) {
    mask = Tensor::empty(x.shape(), x.dtype(), x.device());
    bernoulli_mask_kernel(x.device())(mask, keep, scale, rng);
  } else {
    mask = Tensor::empty(x.shape(), x.dtype(), Device::cpu());
    if (x.dtype() == DType::Float32)
      rng.fill_bernoulli(mask.data<float>(), mask.numel(), keep, scale);
    else
      rng.fill_bernoulli(mask.data<double>(), mask.numel(), keep, scale);
    if (!x.device().is_cpu()) mask = mask.to(x.device());
  }

  Tensor y;
  {
    autograd::NoGradGuard no_grad;
    y = mul(x.detach(), mask);  // x: [...] * mask: [...] -> y: [...]
  }
  if (autograd::should_record({&x}))
    autograd::record(y, "Dropout", {x},
                     [mask](const Tensor& g) { return std::vector<Tensor>{mul(g, mask)}; });
  return y;
}

}  // namespace ng
