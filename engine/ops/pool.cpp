// Pooling ops: validation where the API is entered, kernel calls and backward closures.
#include "engine/ops/pool.h"

#include "engine/autograd/autograd.h"

namespace ng {

namespace {

std::string pair_str(const std::array<int64_t, 2>& a) {
  return detail::concat("[", a[0], ", ", a[1], "]");
}

void check_input(const Tensor& x, const std::string& who) {
  NG_CHECK(x.defined(), who, ": the input is undefined");
  NG_CHECK(is_floating(x.dtype()), who, ": needs a floating input, got ", dtype_name(x.dtype()));
  NG_CHECK_SHAPE(x.dim() == 4, who, ": input must be [N, C, H, W], got ", shape_str(x.shape()));
}

}  // namespace

Shape pool2d_output_shape(const Shape& x, const Pool2dParams& p, const std::string& who) {
  NG_CHECK_SHAPE(x.size() == 4, who, ": input must be [N, C, H, W], got ", shape_str(x));
  for (int i = 0; i < 2; ++i) {
    NG_CHECK(p.kernel[i] >= 1, who, ": kernel size must be >= 1, got ", pair_str(p.kernel));
    NG_CHECK(p.stride[i] >= 1, who, ": stride must be >= 1, got ", pair_str(p.stride));
    NG_CHECK(p.padding[i] >= 0 && 2 * p.padding[i] <= p.kernel[i], who, ": padding ",
             pair_str(p.padding), " must be between 0 and half the kernel ", pair_str(p.kernel));
  }
  // Ho = (H + 2*pad - K) / stride + 1 (floor)
  int64_t out[2];
  for (int i = 0; i < 2; ++i) {
    const int64_t padded = x[2 + i] + 2 * p.padding[i];
    NG_CHECK_SHAPE(padded >= p.kernel[i], who, ": kernel ", p.kernel[0], "x", p.kernel[1],
                   " is larger than input ", shape_str(x), " padded by ", pair_str(p.padding),
                   " (output size would be < 1)");
    out[i] = (padded - p.kernel[i]) / p.stride[i] + 1;
  }
  return {x[0], x[1], out[0], out[1]};
}

Tensor max_pool2d(const Tensor& x, const Pool2dParams& p, const std::string& who) {
  check_input(x, who);
  const Shape ys = pool2d_output_shape(x.shape(), p, who);
  Tensor xc = x.contiguous().detach();
  // x: [N, C, H, W] -> y, argmax: [N, C, Ho, Wo]
  Tensor y = Tensor::empty(ys, x.dtype(), x.device());
  Tensor argmax = Tensor::empty(ys, DType::Int64, x.device());
  max_pool2d_forward_kernel(x.device())(xc, p, y, argmax);
  if (autograd::should_record({&x})) {
    const Shape xs = x.shape();
    autograd::record(y, "MaxPool2d", {x}, [argmax, p, xs](const Tensor& g) {
      Tensor gy = g.contiguous();
      Tensor gx = Tensor::empty(xs, gy.dtype(), gy.device());
      max_pool2d_backward_kernel(gy.device())(gy, argmax, p, gx);
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

Tensor avg_pool2d(const Tensor& x, const Pool2dParams& p, const std::string& who) {
  check_input(x, who);
  const Shape ys = pool2d_output_shape(x.shape(), p, who);
  Tensor xc = x.contiguous().detach();
  Tensor y = Tensor::empty(ys, x.dtype(), x.device());  // [N, C, Ho, Wo]
  avg_pool2d_forward_kernel(x.device())(xc, p, y);
  if (autograd::should_record({&x})) {
    const Shape xs = x.shape();
    autograd::record(y, "AvgPool2d", {x}, [p, xs](const Tensor& g) {
      Tensor gy = g.contiguous();
      Tensor gx = Tensor::empty(xs, gy.dtype(), gy.device());
      avg_pool2d_backward_kernel(gy.device())(gy, p, gx);
      return std::vector<Tensor>{gx};
    });
  }
  return y;
}

Tensor global_avg_pool(const Tensor& x, const std::string& who) {
  check_input(x, who);
  NG_CHECK_SHAPE(x.size(2) >= 1 && x.size(3) >= 1, who, ": input ", shape_str(x.shape()),
                 " has an empty spatial dimension");
  // One window covering the plane: [N, C, H, W] -> [N, C, 1, 1] -> [N, C]
  Pool2dParams p;
  p.kernel = {x.size(2), x.size(3)};
  p.stride = p.kernel;
  p.padding = {0, 0};
  return avg_pool2d(x, p, who).reshape({x.size(0), x.size(1)});
}

}  // namespace ng
