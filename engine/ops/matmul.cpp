#include "engine/ops/matmul.h"

#include "engine/autograd/autograd.h"
#include "engine/ops/autocast.h"
#include "engine/ops/cuda/backend.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace ng {
namespace {

// C = op(A) op(B) for contiguous 2-D operands, allocating C.
Tensor gemm(const Tensor& A, bool ta, const Tensor& B, bool tb) {
  int64_t M = ta ? A.size(1) : A.size(0), K = ta ? A.size(0) : A.size(1);
  int64_t N = tb ? B.size(0) : B.size(1);
  Tensor C = Tensor::empty({M, N}, A.dtype(), A.device());
  gemm_kernel(A.device())(ta, tb, M, N, K, 1.0, A, B, 0.0, C);
  return C;
}

void check_operands(const Tensor& a, const Tensor& b, const std::string& who) {
  NG_CHECK(a.defined() && b.defined(), who, ": an operand is undefined");
  NG_CHECK(a.device() == b.device(), who, ": operands are on different devices (", a.device().str(),
           " and ", b.device().str(), ")");
  NG_CHECK(a.dtype() == b.dtype() && is_floating(a.dtype()), who,
           ": operands must share a floating dtype, got ", dtype_name(a.dtype()), " and ",
           dtype_name(b.dtype()));
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_operands(a, b, "MatMul");
  if (a.dim() == 3 && b.dim() == 3) {
    NG_CHECK_SHAPE(a.size(0) == b.size(0) && a.size(2) == b.size(1), "MatMul: cannot multiply ",
                   shape_str(a.shape()), " by ", shape_str(b.shape()));
    if (autocast_bf16(a.device(), a.dtype())) return matmul_bf16(a, b);  // NOTE [Autocast]
    int64_t B = a.size(0), M = a.size(1), K = a.size(2), N = b.size(2);
    Tensor ac = a.contiguous().detach(), bc = b.contiguous().detach();
    Tensor out = Tensor::empty({B, M, N}, a.dtype(), a.device());
    for (int64_t i = 0; i < B; ++i) {
      Tensor ai = make_view(ac, {M, K}, {K, 1}, ac.impl()->offset + i * M * K);
      Tensor bi = make_view(bc, {K, N}, {N, 1}, bc.impl()->offset + i * K * N);
      Tensor oi = make_view(out, {M, N}, {N, 1}, i * M * N);
      gemm_kernel(a.device())(false, false, M, N, K, 1.0, ai, bi, 0.0, oi);
    }
    if (autograd::should_record({&a, &b}))
      autograd::record(out, "MatMul", {a, b}, [ac, bc](const Tensor& g) {
        return std::vector<Tensor>{matmul(g, bc.transpose(1, 2)), matmul(ac.transpose(1, 2), g)};
      });
    return out;
  }
  NG_CHECK_SHAPE(a.dim() == 2 && b.dim() == 2 && a.size(1) == b.size(0), "MatMul: cannot multiply ",
                 shape_str(a.shape()), " by ", shape_str(b.shape()),
                 " (need [M, K] x [K, N] or [B, M, K] x [B, K, N])");
  if (autocast_bf16(a.device(), a.dtype())) return matmul_bf16(a, b);  // NOTE [Autocast]
  Tensor ac = a.contiguous().detach(), bc = b.contiguous().detach();
  Tensor out = gemm(ac, false, bc, false);
  if (autograd::should_record({&a, &b})) {
    bool ga = a.requires_grad(), gb = b.requires_grad();
    autograd::record(out, "MatMul", {a, b}, [ac, bc, ga, gb](const Tensor& g) {
      Tensor gc = g.contiguous();
      // g: [M, N]; dA = g B^T: [M, K]; dB = A^T g: [K, N]
      return std::vector<Tensor>{ga ? gemm(gc, false, bc, true) : Tensor(),
                                 gb ? gemm(ac, true, gc, false) : Tensor()};
    });
  }
  return out;
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, const std::string& who,
              bool relu) {
  check_operands(x, w, who);
  NG_CHECK_SHAPE(w.dim() == 2, who, ": weight must be [out, in], got ", shape_str(w.shape()));
  NG_CHECK_SHAPE(x.dim() == 2 && x.size(1) == w.size(1), who, ": input has shape ",
                 shape_str(x.shape()), " but the layer expects [N, ", w.size(1), "]");
  if (b.defined())
    NG_CHECK_SHAPE(b.dim() == 1 && b.size(0) == w.size(0), who, ": bias has shape ",
                   shape_str(b.shape()), ", expected [", w.size(0), "]");
  if (autocast_bf16(x.device(), x.dtype()))  // NOTE [Autocast]
    return relu ? ng::relu(linear_bf16(x, w, b)) : linear_bf16(x, w, b);
  int64_t N = x.size(0), in = x.size(1), out_f = w.size(0);
  Tensor xc = x.contiguous().detach(), wc = w.contiguous().detach();
  Tensor y = Tensor::empty({N, out_f}, x.dtype(), x.device());
  // The bias (and the ReLU) inside the product where the backend can (NOTE [Fused linear bias]).
  const bool fused = b.defined() && linear_forward_kernel.has(x.device().type) &&
                     linear_forward_kernel(x.device())(xc, wc, b.contiguous().detach(), relu, y);
  if (relu && !fused) return ng::relu(linear(x, w, b, who, false));
  if (fused) {
    // y = x W^T + b is written
  } else if (b.defined()) {
    // y = broadcast(b), then y += x W^T with beta = 1: the bias costs one row copy per sample.
    Tensor bc = b.contiguous();
    Tensor rows = make_view(bc, {N, out_f}, {0, 1}, bc.impl()->offset);  // b repeated N times
    copy_(y, rows);
    gemm_kernel(x.device())(false, true, N, out_f, in, 1.0, xc, wc, 1.0, y);
  } else {
    gemm_kernel(x.device())(false, true, N, out_f, in, 1.0, xc, wc, 0.0, y);
  }
  if (autograd::should_record({&x, &w, &b})) {
    bool gx = x.requires_grad(), gw = w.requires_grad(), gbias = b.defined() && b.requires_grad();
    Tensor ys = relu ? y.detach() : Tensor();  // the ReLU's derivative reads its output
    // NOTE [Weight-gradient branches]: only gradients that go straight to parameters (leaves).
    const bool branch = w.is_leaf() && (!b.defined() || b.is_leaf());
    autograd::record(y, relu ? "LinearReLU" : "Linear", {x, w, b},
                     [xc, wc, gx, gw, gbias, ys, branch](const Tensor& g) {
                       Tensor gc = g.contiguous();
                       if (ys.defined())
                         gc = relu_backward(ys, gc);  // through the fused ReLU first
                       // g: [N, out]; dx = g W: [N, in]; dW = g^T x: [out, in]; db = sum_N g: [out]
                       Tensor dw, db;
                       if (gw || gbias) {
                         // Queued first, so that in a captured step it can branch off before dx.
                         CudaBranch br(branch ? gc.nbytes() : SIZE_MAX, {gc, xc});
                         const DeviceType dev = gc.device().type;
                         bool done = false;
                         if (gw && gbias && linear_backward_weight_kernel.has(dev)) {
                           dw = Tensor::empty(wc.shape(), gc.dtype(), gc.device());
                           db = Tensor::empty({wc.size(0)}, gc.dtype(), gc.device());
                           done = linear_backward_weight_kernel(gc.device())(
                               gc, xc, dw,
                               db);  // NOTE [Fused linear bias]
                         }
                         if (!done) {
                           dw = gw ? gemm(gc, true, xc, false) : Tensor();
                           db = gbias ? sum(gc, {0}) : Tensor();
                         }
                       }
                       Tensor dx = gx ? gemm(gc, false, wc, false) : Tensor();
                       return std::vector<Tensor>{dx, dw, db};
                     });
  }
  return y;
}

}  // namespace ng
