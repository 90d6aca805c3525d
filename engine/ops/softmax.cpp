#include "engine/ops/softmax.h"

#include "engine/autograd/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"

namespace ng {
namespace {

Tensor softmax_impl(const Tensor& x, int64_t axis, bool log) {
  const char* name = log ? "LogSoftmax" : "Softmax";
  NG_CHECK(x.defined(), name, ": the input is undefined");
  NG_CHECK(is_floating(x.dtype()), name, ": needs a floating input, got ", dtype_name(x.dtype()));
  NG_CHECK_SHAPE(x.dim() >= 1, name, ": needs at least one dimension, got a scalar");
  const int64_t ax = normalize_axis(axis, x.dim(), name);
  // x: [outer, C, inner] around the axis -> y: same shape
  Tensor xc = x.contiguous().detach();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  softmax_forward_kernel(x.device())(xc, ax, log, y);
  if (autograd::should_record({&x})) {
    Tensor yd = y.detach();  // NOTE: never the output itself (a reference cycle)
    autograd::record(y, name, {x}, [yd, ax, log](const Tensor& g) {
      // softmax: gx = y * (g - sum(g * y)); log-softmax: gx = g - exp(y) * sum(g)
      Tensor gx = Tensor::empty(yd.shape(), yd.dtype(), yd.device());
      softmax_backward_kernel(yd.device())(yd, g.contiguous(), ax, log, gx);
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

void check_pair(const Tensor& a, const Tensor& b, const char* an, const char* bn,
                const std::string& who) {
  NG_CHECK(a.defined() && b.defined(), who, ": ", an, " or ", bn, " is undefined");
  NG_CHECK(is_floating(a.dtype()), who, ": ", an, " must be floating, got ", dtype_name(a.dtype()));
  NG_CHECK(a.dtype() == b.dtype(), who, ": ", an, " is ", dtype_name(a.dtype()), " but ", bn,
           " is ", dtype_name(b.dtype()));
  NG_CHECK(a.device() == b.device(), who, ": ", an, " is on ", a.device().str(), " but ", bn,
           " is on ", b.device().str());
  NG_CHECK_SHAPE(a.shape() == b.shape(), who, ": ", an, " has shape ", shape_str(a.shape()),
                 " but ", bn, " has shape ", shape_str(b.shape()));
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) {
  return softmax_impl(x, axis, false);
}
Tensor log_softmax(const Tensor& x, int64_t axis) {
  return softmax_impl(x, axis, true);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& labels, double label_smoothing,
                     const std::string& who) {
  NG_CHECK(logits.defined() && labels.defined(), who, ": logits or labels are undefined");
  NG_CHECK(is_floating(logits.dtype()), who, ": logits must be floating, got ",
           dtype_name(logits.dtype()));
  NG_CHECK(labels.dtype() == DType::Int64, who, ": labels must be int64 class indices, got ",
           dtype_name(labels.dtype()));
  NG_CHECK_SHAPE(logits.dim() == 2, who, ": logits have shape ", shape_str(logits.shape()),
                 ", expected [N, C]");
  NG_CHECK_SHAPE(labels.dim() == 1 && labels.size(0) == logits.size(0), who, ": labels have shape ",
                 shape_str(labels.shape()), " but logits have shape ", shape_str(logits.shape()),
                 " (expected labels [", logits.size(0), "])");
  NG_CHECK(logits.device() == labels.device(), who, ": logits are on ", logits.device().str(),
           " but labels are on ", labels.device().str());
  NG_CHECK(label_smoothing >= 0 && label_smoothing <= 1, who,
           ": label_smoothing must be in [0, 1], got ", label_smoothing);
  const int64_t N = logits.size(0), C = logits.size(1);
  NG_CHECK_SHAPE(N > 0 && C > 0, who, ": logits have shape ", shape_str(logits.shape()),
                 "; need at least one sample and one class");
  // Labels are validated by the forward kernel (on a GPU without waiting for it).
  // logits: [N, C], labels: [N] -> loss: [], grad1: [N, C] (the gradient for an upstream 1)
  Tensor xc = logits.contiguous().detach();
  Tensor ld = labels.contiguous().detach();
  Tensor loss = Tensor::empty({}, logits.dtype(), logits.device());
  Tensor grad1 = Tensor::empty({N, C}, logits.dtype(), logits.device());
  cross_entropy_forward_kernel(logits.device())(xc, ld, label_smoothing, loss, grad1, who);
  if (autograd::should_record({&logits})) {
    // Called once (autograd releases the graph as it goes), so grad1 can be handed on: with
    // backward() on the loss itself, the upstream gradient is its seed of ones, and the step's
    // backward starts without a kernel here (a node fewer in a captured training step).
    autograd::record(loss, "CrossEntropy", {logits}, [grad1](const Tensor& g) mutable {
      Tensor gx = std::move(grad1);
      if (autograd::is_unit_seed(g)) return std::vector<Tensor>{gx};
      // g: [] on the device; the product reads it there (no host round trip in a step)
      return std::vector<Tensor>{mul(gx, g.dtype() == gx.dtype() ? g : g.to(gx.dtype()))};
    });
  }
  return loss;
}

Tensor mse_loss(const Tensor& pred, const Tensor& target, const std::string& who) {
  check_pair(pred, target, "prediction", "target", who);
  // mean((pred - target)^2): three passes over a loss-sized tensor; autograd composes the rest.
  return mean(square(sub(pred, target)));
}

Tensor bce_with_logits(const Tensor& logits, const Tensor& target, const std::string& who) {
  check_pair(logits, target, "logits", "target", who);
  // Stable form: mean(max(x, 0) - x * t + log(1 + exp(-|x|))), computed without recording;
  // the gradient is written directly: d/dx = sigmoid(x) - t, d/dt = -x (both over numel).
  Tensor x = logits.detach(), t = target.detach();
  Tensor loss;
  {
    autograd::NoGradGuard no_grad;
    loss = mean(add(sub(relu(x), mul(x, t)), log(add_scalar(exp(neg(abs(x))), 1.0))));
  }
  if (autograd::should_record({&logits, &target})) {
    bool gx = logits.requires_grad(), gt = target.requires_grad();
    double inv_n = 1.0 / double(std::max<int64_t>(1, logits.numel()));
    autograd::record(loss, "BCEWithLogits", {logits, target},
                     [x, t, gx, gt, inv_n](const Tensor& g) {
                       Tensor s = mul_scalar(g, inv_n);  // [] broadcast over x's shape
                       return std::vector<Tensor>{gx ? mul(sub(sigmoid(x), t), s) : Tensor(),
                                                  gt ? mul(neg(x), s) : Tensor()};
                     });
  }
  return loss;
}

}  // namespace ng
