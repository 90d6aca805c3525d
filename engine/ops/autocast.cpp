// bf16 mixed precision: the per-thread setting, the weight-copy cache and the bf16 paths of
// matmul, linear and conv2d (NOTE [Autocast] in autocast.h). Device-neutral: the casts are the
// copy kernel's, the products the gemm and conv kernel tables' (the CUDA backend takes bfloat16
// operands there; the CPU's are never reached, autocast_bf16() being false on the CPU).
#include "engine/ops/autocast.h"

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>

#include "engine/autograd/autograd.h"
#include "engine/ops/conv.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/reduce.h"

namespace ng {
namespace {

struct CachedCopy {
  std::weak_ptr<TensorImpl> source;  // the parameter; an expired one means a stale key
  Tensor copy;                       // its bfloat16 copy
};

struct AutocastState {
  Precision precision = Precision::Float32;
  std::unordered_map<const TensorImpl*, CachedCopy> cache;
  int64_t weight_casts = 0;
};

AutocastState& state() {
  thread_local AutocastState s;
  return s;
}

// A new tensor of `dt` in `fmt` holding t's values (the copy kernel casts).
Tensor cast_to(const Tensor& t, DType dt, MemoryFormat fmt = MemoryFormat::Contiguous) {
  Tensor out = Tensor::empty(t.shape(), dt, t.device(), fmt);
  copy_kernel(t.device())(t, out);
  return out;
}

// C[M,N] (float32, allocated) = op(A) op(B) for contiguous 2-D bfloat16 operands.
Tensor gemm_bf16(const Tensor& A, bool ta, const Tensor& B, bool tb) {
  const int64_t M = ta ? A.size(1) : A.size(0), K = ta ? A.size(0) : A.size(1);
  const int64_t N = tb ? B.size(0) : B.size(1);
  Tensor C = Tensor::empty({M, N}, DType::Float32, A.device());
  gemm_kernel(A.device())(ta, tb, M, N, K, 1.0, A, B, 0.0, C);
  return C;
}

// Batched [B, M, K] x [B, K, N] -> float32 [B, M, N] for contiguous bfloat16 operands, each
// possibly transposed in its last two dimensions (ta: A is [B, K, M]; tb: B is [B, N, K]).
Tensor bmm_bf16(const Tensor& A, bool ta, const Tensor& B, bool tb) {
  const int64_t nb = A.size(0);
  const int64_t M = ta ? A.size(2) : A.size(1), K = ta ? A.size(1) : A.size(2);
  const int64_t N = tb ? B.size(1) : B.size(2);
  Tensor C = Tensor::empty({nb, M, N}, DType::Float32, A.device());
  const int64_t sa = A.size(1) * A.size(2), sb = B.size(1) * B.size(2);
  for (int64_t i = 0; i < nb; ++i) {
    Tensor ai = make_view(A, {A.size(1), A.size(2)}, {A.size(2), 1}, A.impl()->offset + i * sa);
    Tensor bi = make_view(B, {B.size(1), B.size(2)}, {B.size(2), 1}, B.impl()->offset + i * sb);
    Tensor ci = make_view(C, {M, N}, {N, 1}, i * M * N);
    gemm_kernel(A.device())(ta, tb, M, N, K, 1.0, ai, bi, 0.0, ci);
  }
  return C;
}

// Convolution problems for which cuDNN offers no bfloat16 algorithm: they run in float32 (the
// first failure is remembered, so the search is not repeated every step).
std::mutex unsupported_mu;
std::atomic<bool> any_unsupported{false};  // skips building keys while the set is empty
std::set<std::string>& unsupported_convs() {
  static std::set<std::string> s;
  return s;
}
std::string conv_problem(const Shape& x, const Shape& w, const Conv2dParams& p) {
  return detail::concat(shape_str(x), shape_str(w), p.stride[0], ",", p.stride[1], ",",
                        p.padding[0], ",", p.padding[1], ",", p.dilation[0], ",", p.dilation[1],
                        ",", p.groups, p.channels_last ? ",nhwc" : "");
}
bool conv_unsupported(const Shape& x, const Shape& w, const Conv2dParams& p) {
  if (!any_unsupported.load(std::memory_order_relaxed)) return false;
  const std::string key = conv_problem(x, w, p);
  std::lock_guard lk(unsupported_mu);
  return unsupported_convs().count(key) > 0;
}
void mark_conv_unsupported(const Shape& x, const Shape& w, const Conv2dParams& p) {
  const std::string key = conv_problem(x, w, p);
  std::lock_guard lk(unsupported_mu);
  unsupported_convs().insert(key);
  any_unsupported = true;
}

}  // namespace

const char* precision_name(Precision p) {
  return p == Precision::BFloat16 ? "bf16" : "float32";
}

Precision parse_precision(const std::string& s, const std::string& where) {
  if (s == "float32") return Precision::Float32;
  if (s == "bf16") return Precision::BFloat16;
  throw Error(where + ": unknown precision \"" + s + "\"; use \"float32\" or \"bf16\"");
}

AutocastScope::AutocastScope(Precision p) : prev_(state().precision) {
  if (p != prev_) state().cache.clear();
  state().precision = p;
}

AutocastScope::~AutocastScope() {
  if (state().precision != prev_) state().cache.clear();
  state().precision = prev_;
}

Precision autocast_precision() {
  return state().precision;
}

bool autocast_bf16(Device d, DType dt) {
  return state().precision == Precision::BFloat16 && d.is_cuda() && dt == DType::Float32;
}

Tensor autocast_bf16_copy(const Tensor& t, MemoryFormat fmt) {
  NG_CHECK(t.dtype() == DType::Float32, "autocast: casts float32 tensors to bfloat16, got ",
           dtype_name(t.dtype()));
  if (!(t.is_leaf() && t.requires_grad())) return cast_to(t, DType::BFloat16, fmt);
  AutocastState& s = state();
  auto it = s.cache.find(t.impl().get());
  if (it != s.cache.end()) {
    if (it->second.source.lock() == t.impl() &&
        (fmt == MemoryFormat::Contiguous ? it->second.copy.is_contiguous()
                                         : it->second.copy.is_channels_last()))
      return it->second.copy;
    s.cache.erase(it);  // the address was reused by another tensor
  }
  Tensor c = cast_to(t, DType::BFloat16, fmt);
  ++s.weight_casts;
  s.cache[t.impl().get()] = CachedCopy{t.impl(), c};
  return c;
}

void autocast_forget(const Tensor& param) {
  if (!param.defined()) return;
  AutocastState& s = state();
  if (!s.cache.empty()) s.cache.erase(param.impl().get());
}

int64_t autocast_weight_casts() {
  return state().weight_casts;
}

// --- the ops' bf16 paths ---

Tensor matmul_bf16(const Tensor& a, const Tensor& b) {
  Tensor a16 = autocast_bf16_copy(a), b16 = autocast_bf16_copy(b);
  const bool batched = a.dim() == 3;
  Tensor out = batched ? bmm_bf16(a16, false, b16, false) : gemm_bf16(a16, false, b16, false);
  if (autograd::should_record({&a, &b})) {
    const bool ga = a.requires_grad(), gb = b.requires_grad();
    autograd::record(out, "MatMul", {a, b}, [a16, b16, ga, gb, batched](const Tensor& g) {
      Tensor g16 = cast_to(g, DType::BFloat16);
      // g: [M, N]; dA = g B^T: [M, K]; dB = A^T g: [K, N] (per batch when batched)
      if (batched)
        return std::vector<Tensor>{ga ? bmm_bf16(g16, false, b16, true) : Tensor(),
                                   gb ? bmm_bf16(a16, true, g16, false) : Tensor()};
      return std::vector<Tensor>{ga ? gemm_bf16(g16, false, b16, true) : Tensor(),
                                 gb ? gemm_bf16(a16, true, g16, false) : Tensor()};
    });
  }
  return out;
}

Tensor linear_bf16(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t N = x.size(0), in = x.size(1), out_f = w.size(0);
  Tensor x16 = autocast_bf16_copy(x), w16 = autocast_bf16_copy(w);
  Tensor y = Tensor::empty({N, out_f}, DType::Float32, x.device());
  if (b.defined()) {
    // y = broadcast(b), then y += x W^T with beta = 1, the bias added in float32.
    Tensor bc = b.contiguous();
    Tensor rows = make_view(bc, {N, out_f}, {0, 1}, bc.impl()->offset);
    copy_(y, rows);
    gemm_kernel(x.device())(false, true, N, out_f, in, 1.0, x16, w16, 1.0, y);
  } else {
    gemm_kernel(x.device())(false, true, N, out_f, in, 1.0, x16, w16, 0.0, y);
  }
  if (autograd::should_record({&x, &w, &b})) {
    const bool gx = x.requires_grad(), gw = w.requires_grad();
    const bool gbias = b.defined() && b.requires_grad();
    autograd::record(y, "Linear", {x, w, b}, [x16, w16, gx, gw, gbias](const Tensor& g) {
      Tensor g16 = (gx || gw) ? cast_to(g, DType::BFloat16) : Tensor();
      // g: [N, out]; dx = g W: [N, in]; dW = g^T x: [out, in]; db = sum_N g (float32): [out]
      return std::vector<Tensor>{gx ? gemm_bf16(g16, false, w16, false) : Tensor(),
                                 gw ? gemm_bf16(g16, true, x16, false) : Tensor(),
                                 gbias ? sum(g.contiguous(), {0}) : Tensor()};
    });
  }
  return y;
}

Tensor conv2d_bf16(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                   const Shape& y_shape) {
  if (conv_unsupported(x.shape(), w.shape(), p)) return Tensor();  // the caller: float32
  // NOTE [Channels-last]: with p.channels_last every operand is NHWC, the weight too.
  const MemoryFormat fmt = p.channels_last ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
  Tensor x16 = autocast_bf16_copy(x, fmt), w16 = autocast_bf16_copy(w, fmt);
  Tensor y16 = Tensor::empty(y_shape, DType::BFloat16, x.device(), fmt);
  try {
    conv2d_forward_kernel(x.device())(x16, w16, Tensor(), p, y16);
  } catch (const Error&) {
    // cuDNN has no bfloat16 algorithm for this problem (nothing was queued yet).
    mark_conv_unsupported(x.shape(), w.shape(), p);
    return Tensor();
  }
  Tensor y = cast_to(y16, DType::Float32, fmt);
  y16 = Tensor();
  if (b.defined()) {  // y += b[c], in float32
    Tensor bb = b.detach().reshape({1, w.size(0), 1, 1});
    binary_kernel(y.device())(BinaryOp::Add, y, bb, y);
  }
  if (autograd::should_record({&x, &w, &b})) {
    const bool gx_needed = x.requires_grad(), gw_needed = w.requires_grad();
    const bool gb_needed = b.defined() && b.requires_grad();
    autograd::record(
        y, "Conv2d", {x, w, b},
        [x16, w16, p, fmt, gx_needed, gw_needed, gb_needed](const Tensor& g) {
          Tensor gy16 = (gx_needed || gw_needed) ? cast_to(g, DType::BFloat16, fmt) : Tensor();
          Tensor gx, gw, gb, no_bias;
          // Where cuDNN has no bfloat16 backward algorithm, that product runs in float32 on the
          // widened copies (nothing was queued when the kernel threw).
          if (gx_needed) {
            try {
              Tensor gx16 = Tensor::empty(x16.shape(), DType::BFloat16, x16.device(), fmt);
              conv2d_backward_data_kernel(gy16.device())(gy16, w16, p, gx16);
              gx = cast_to(gx16, DType::Float32, fmt);
            } catch (const Error&) {
              gx = Tensor::empty(x16.shape(), DType::Float32, x16.device(), fmt);
              conv2d_backward_data_kernel(g.device())(g.contiguous(fmt),
                                                      cast_to(w16, DType::Float32, fmt), p, gx);
            }
          }
          if (gw_needed) {
            try {
              Tensor gw16 = Tensor::empty(w16.shape(), DType::BFloat16, w16.device(), fmt);
              conv2d_backward_weight_kernel(gy16.device())(gy16, x16, p, gw16, no_bias);
              gw = cast_to(gw16, DType::Float32);  // the parameter's own (NCHW) layout
            } catch (const Error&) {
              Tensor gwf = Tensor::empty(w16.shape(), DType::Float32, w16.device(), fmt);
              conv2d_backward_weight_kernel(g.device())(
                  g.contiguous(fmt), cast_to(x16, DType::Float32, fmt), p, gwf, no_bias);
              gw = gwf.contiguous();
            }
          }
          if (gb_needed) gb = sum(g, {0, 2, 3});  // float32 reduction, any layout
          return std::vector<Tensor>{gx, gw, gb};
        });
  }
  return y;
}

}  // namespace ng
