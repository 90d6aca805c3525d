// conv2d: validation where the API is entered, the forward kernel call and its backward closure.
#include "engine/ops/conv.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

#include "engine/autograd/autograd.h"
#include "engine/ops/autocast.h"
#include "engine/ops/cuda/backend.h"
#include "engine/ops/elementwise.h"

namespace ng {

namespace {

std::atomic<ChannelsLastPolicy>& policy_slot() {
  static std::atomic<ChannelsLastPolicy> p = [] {
    const char* v = std::getenv("NG_CHANNELS_LAST");
    if (v && std::strcmp(v, "0") == 0) return ChannelsLastPolicy::Off;
    if (v && std::strcmp(v, "1") == 0) return ChannelsLastPolicy::On;
    return ChannelsLastPolicy::Auto;
  }();
  return p;
}

std::atomic<bool>& grad_add_slot() {
  static std::atomic<bool> on = [] {
    const char* v = std::getenv("NG_CONV_GRAD_ADD");
    return v && std::strcmp(v, "1") == 0;
  }();
  return on;
}

std::string pair_str(const std::array<int64_t, 2>& a) {
  return detail::concat("[", a[0], ", ", a[1], "]");
}

// The forward kernel call and its backward closure, in the layout p.channels_last names. relu:
// the result is relu(conv + b), from one cuDNN call (convolution, bias and ReLU) where the
// backend has it and there is a bias (NOTE [Fused ReLU]), else from the ReLU op after it.
Tensor conv2d_run(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                  const Shape& ys, bool relu, bool relu_grad_by_reader) {
  if (autocast_bf16(x.device(), x.dtype())) {  // NOTE [Autocast]
    Tensor y = conv2d_bf16(x, w, b, p, ys);
    if (y.defined()) return relu ? ng::relu(y) : y;
    // undefined: cuDNN has no bf16 algorithm, so float32 below
  }
  const MemoryFormat fmt = p.channels_last ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  // x: [N, C, H, W], w: [O, C/G, KH, KW], b: [O] -> y: [N, O, Ho, Wo], x, w and y in `fmt`
  Tensor xc = x.contiguous(fmt).detach(), wc = w.contiguous(fmt).detach();
  Tensor bc = b.defined() ? b.contiguous().detach() : Tensor();
  Tensor y = Tensor::empty(ys, x.dtype(), x.device(), fmt);
  const bool fused = relu && bc.defined() && conv2d_bias_relu_forward_kernel.has(x.device().type) &&
                     conv2d_bias_relu_forward_kernel(x.device())(xc, wc, bc, p, y);
  if (!fused) conv2d_forward_kernel(x.device())(xc, wc, bc, p, y);
  // The ReLU's derivative is the reader's to apply: a ReLU without its own backward here.
  const bool relu_here = relu && !fused && relu_grad_by_reader;
  if (relu_here) y = ng::relu(y);  // y has no autograd record yet: nothing is recorded

  if (autograd::should_record({&x, &w, &b})) {
    const bool gx_needed = x.requires_grad(), gw_needed = w.requires_grad();
    const bool gb_needed = b.defined() && b.requires_grad();
    // The fused ReLU's derivative reads y, unless the reader applies it.
    Tensor y_saved = fused && !relu_grad_by_reader ? y.detach() : Tensor();
    // NOTE [Weight-gradient branches]: only gradients that go straight to parameters (leaves).
    const bool branch = w.is_leaf() && (!b.defined() || b.is_leaf());
    autograd::record(
        y, fused || relu_here ? "Conv2dReLU" : "Conv2d", {x, w, b},
        [xc, wc, p, fmt, y_saved, gx_needed, gw_needed, gb_needed, branch](const Tensor& g) {
          // [N, O, Ho, Wo], through the fused ReLU first (unless the reader did that)
          Tensor gy = y_saved.defined() ? relu_backward(y_saved, g) : g.contiguous(fmt);
          Tensor gx, gw, gb;
          if (gw_needed || gb_needed) {
            // Queued first, so that in a captured step it can branch off before gx.
            CudaBranch br(branch ? gy.nbytes() : SIZE_MAX, {gy, xc});
            // The kernel always writes gw; with only the bias trainable it is dropped.
            gw = Tensor::empty(wc.shape(), wc.dtype(), wc.device(), fmt);
            if (gb_needed) gb = Tensor::empty({wc.size(0)}, wc.dtype(), wc.device());
            conv2d_backward_weight_kernel(gy.device())(gy, xc, p, gw, gb);
            // The weight's gradient goes to the optimiser in the parameter's own (NCHW)
            // layout.
            gw = gw_needed ? gw.contiguous() : Tensor();
          }
          if (gx_needed) {
            // NOTE [Gradients added in place by the kernel]: into the gradient already waiting
            // for x, where the device can add and it is in x's layout.
            Tensor acc = conv_grad_add() && conv2d_backward_data_add_kernel.has(gy.device().type)
                             ? autograd::accumulation_target(0)
                             : Tensor();
            if (acc.defined() && acc.shape() == xc.shape() && acc.dtype() == xc.dtype() &&
                acc.device() == xc.device() && acc.has_format(fmt)) {
              conv2d_backward_data_add_kernel(gy.device())(gy, wc, p, acc);
              gx = acc;
            } else {
              gx = Tensor::empty(xc.shape(), xc.dtype(), xc.device(), fmt);  // [N, C, H, W]
              conv2d_backward_data_kernel(gy.device())(gy, wc, p, gx);
            }
          }
          return std::vector<Tensor>{gx, gw, gb};
        });
  }
  return relu && !fused && !relu_here ? ng::relu(y) : y;
}

}  // namespace

Shape conv2d_output_shape(const Shape& x, const Shape& w, const Conv2dParams& p,
                          const std::string& who) {
  NG_CHECK_SHAPE(x.size() == 4, who, ": input must be [N, C, H, W], got ", shape_str(x));
  NG_CHECK_SHAPE(w.size() == 4, who, ": weight must be [out, in/groups, KH, KW], got ",
                 shape_str(w));
  for (int i = 0; i < 2; ++i) {
    NG_CHECK(p.stride[i] >= 1, who, ": stride must be >= 1, got ", pair_str(p.stride));
    NG_CHECK(p.dilation[i] >= 1, who, ": dilation must be >= 1, got ", pair_str(p.dilation));
    NG_CHECK(p.padding[i] >= 0, who, ": padding must be >= 0, got ", pair_str(p.padding));
  }
  NG_CHECK(p.groups >= 1, who, ": groups must be >= 1, got ", p.groups);
  const int64_t C = x[1], O = w[0];
  NG_CHECK_SHAPE(w[2] >= 1 && w[3] >= 1 && O >= 1, who, ": weight ", shape_str(w),
                 " has an empty dimension");
  NG_CHECK_SHAPE(C % p.groups == 0, who, ": groups (", p.groups, ") does not divide the ", C,
                 " input channels of input ", shape_str(x));
  NG_CHECK_SHAPE(O % p.groups == 0, who, ": groups (", p.groups, ") does not divide the ", O,
                 " output channels of weight ", shape_str(w));
  NG_CHECK_SHAPE(w[1] * p.groups == C, who, ": input ", shape_str(x), " has ", C,
                 " channels, weight ", shape_str(w), " expects ", w[1] * p.groups,
                 p.groups > 1 ? detail::concat(" (", w[1], " per group x ", p.groups, " groups)")
                              : std::string());
  // Ho = (H + 2*pad - dil*(K-1) - 1) / stride + 1
  int64_t out[2];
  for (int i = 0; i < 2; ++i) {
    const int64_t span = p.dilation[i] * (w[2 + i] - 1) + 1;  // extent of the dilated kernel
    const int64_t padded = x[2 + i] + 2 * p.padding[i];
    NG_CHECK_SHAPE(padded >= span, who, ": input ", shape_str(x), " padded by ",
                   pair_str(p.padding), " is smaller than the ", w[2], "x", w[3], " kernel",
                   (p.dilation[0] > 1 || p.dilation[1] > 1)
                       ? detail::concat(" with dilation ", pair_str(p.dilation))
                       : std::string(),
                   " (output size would be < 1)");
    out[i] = (padded - span) / p.stride[i] + 1;
  }
  return {x[0], O, out[0], out[1]};
}

void set_conv_grad_add(bool on) {
  grad_add_slot().store(on);
}
bool conv_grad_add() {
  return grad_add_slot().load();
}

void set_channels_last_policy(ChannelsLastPolicy p) {
  policy_slot().store(p);
}
ChannelsLastPolicy channels_last_policy() {
  return policy_slot().load();
}

bool conv2d_runs_channels_last(const Tensor& x, const Shape& y_shape) {
  switch (channels_last_policy()) {
    case ChannelsLastPolicy::Off:
      return false;
    case ChannelsLastPolicy::On:
      return true;
    case ChannelsLastPolicy::Auto:
      break;
  }
  if (!x.device().is_cuda() || x.dtype() == DType::Float64) return false;
  if (x.memory_format() == MemoryFormat::ChannelsLast) return true;
  return y_shape[1] >= 16 && y_shape[0] * y_shape[2] * y_shape[3] >= 65536;
}

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p_in,
              const std::string& who, bool relu, bool relu_grad_by_reader) {
  NG_CHECK(x.defined() && w.defined(), who, ": the input or the weight is undefined");
  NG_CHECK(is_floating(x.dtype()) && x.dtype() == w.dtype(), who,
           ": input and weight must share a floating dtype, got ", dtype_name(x.dtype()), " and ",
           dtype_name(w.dtype()));
  NG_CHECK(x.device() == w.device(), who, ": input is on ", x.device().str(), ", weight on ",
           w.device().str());
  const Shape ys = conv2d_output_shape(x.shape(), w.shape(), p_in, who);
  if (b.defined()) {
    NG_CHECK(b.dtype() == x.dtype() && b.device() == x.device(), who, ": bias is ",
             dtype_name(b.dtype()), " on ", b.device().str(), ", expected ", dtype_name(x.dtype()),
             " on ", x.device().str());
    NG_CHECK_SHAPE(b.dim() == 1 && b.size(0) == w.size(0), who, ": bias has shape ",
                   shape_str(b.shape()), ", expected [", w.size(0), "]");
  }
  Conv2dParams p = p_in;
  // NOTE [Channels-last]: cuDNN takes NHWC operands directly; the CPU kernels are NCHW, so there
  // the convolution runs as usual and only its output is handed back channels-last.
  const bool nhwc = conv2d_runs_channels_last(x, ys);
  p.channels_last = nhwc && x.device().is_cuda();
  if (nhwc && !x.device().is_cuda()) {
    Tensor y = conv2d_run(x, w, b, p, ys, false, false).contiguous(MemoryFormat::ChannelsLast);
    return relu ? ng::relu(y) : y;  // the ReLU's own backward: a reader's mask repeats it, harmless
  }
  return conv2d_run(x, w, b, p, ys, relu, relu_grad_by_reader);
}

}  // namespace ng
