#include "engine/optim/clip.h"

#include <cmath>

#include "engine/ops/optim.h"

namespace ng {

double grad_norm(const std::vector<Tensor>& params) {
  // Squares are summed in double, tensor by tensor in order: the same for any thread count.
  double sum_sq = 0.0;
  for (const Tensor& p : params) {
    Tensor g = p.defined() ? p.grad() : Tensor();
    if (!g.defined()) continue;
    NG_CHECK(is_floating(g.dtype()), "clip_grad_norm: a gradient is ", dtype_name(g.dtype()));
    Tensor gc = g.contiguous();
    sum_sq += sum_squares_kernel(gc.device())(gc);
  }
  return std::sqrt(sum_sq);
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  if (!(max_norm > 0.0))
    throw ValueError(detail::concat("clip_grad_norm: max_norm must be > 0, got ", max_norm));
  double norm = grad_norm(params);
  if (!std::isfinite(norm) || norm <= max_norm) return norm;
  double scale = max_norm / (norm + 1e-6);
  for (const Tensor& p : params) {
    Tensor g = p.defined() ? p.grad() : Tensor();
    if (!g.defined()) continue;
    if (g.is_contiguous()) {
      scale_kernel(g.device())(g, scale);
    } else {
      // Rare (grads are allocated contiguous); scale a copy and store it back as the grad.
      Tensor c = g.contiguous();
      scale_kernel(c.device())(c, scale);
      Tensor(p).set_grad(c);
    }
  }
  return norm;
}

}  // namespace ng
