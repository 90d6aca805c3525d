#include "engine/ops/reduce.h"

#include <algorithm>

#include "engine/autograd/autograd.h"
#include "engine/ops/elementwise.h"

namespace ng {
namespace {
const char* reduce_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum:
      return "Sum";
    case ReduceOp::Mean:
      return "Mean";
    case ReduceOp::Max:
      return "Max";
    case ReduceOp::Min:
      return "Min";
  }
  return "?";
}
}  // namespace

Tensor reduce(ReduceOp op, const Tensor& x, std::vector<int64_t> axes, bool keepdim) {
  const char* name = reduce_name(op);
  NG_CHECK(x.defined(), name, ": the input is undefined");
  NG_CHECK(is_floating(x.dtype()), name, ": needs a floating tensor, got ", dtype_name(x.dtype()));
  std::vector<bool> red(x.dim(), axes.empty());
  for (int64_t a : axes) red[normalize_axis(a, x.dim(), name)] = true;
  Shape kshape = x.shape();  // keepdim shape
  Shape oshape;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (red[i]) {
      NG_CHECK_SHAPE(op == ReduceOp::Sum || op == ReduceOp::Mean || x.shape()[i] > 0, name,
                     ": cannot reduce an empty axis ", i, " of ", shape_str(x.shape()));
      kshape[i] = 1;
      if (keepdim) oshape.push_back(1);
    } else {
      oshape.push_back(x.shape()[i]);
    }
  }
  Tensor out = Tensor::empty(kshape, x.dtype(), x.device());
  reduce_kernel(x.device())(op, x, out);
  Tensor res = out;
  if (autograd::should_record({&x})) {
    Shape xs = x.shape();
    int64_t count = x.numel() / std::max<int64_t>(1, out.numel());
    if (op == ReduceOp::Sum || op == ReduceOp::Mean) {
      double scale = op == ReduceOp::Mean ? 1.0 / double(std::max<int64_t>(1, count)) : 1.0;
      autograd::record(out, name, {x}, [xs, kshape, scale](const Tensor& g) {
        autograd::NoGradGuard ng;
        Tensor z = Tensor::zeros(xs, g.dtype(), g.device());
        Tensor gk = g.reshape(kshape);
        Tensor r = add(z, scale == 1.0 ? gk : mul_scalar(gk, scale));
        return std::vector<Tensor>{r};
      });
    } else {
      Tensor xd = x.detach(), od = out.detach();
      autograd::record(out, name, {x}, [xd, od, kshape](const Tensor& g) {
        autograd::NoGradGuard ng;
        // Ties share the gradient equally.
        Tensor mask = mul(greater_equal(xd, od), greater_equal(od, xd));
        Tensor cnt = sum(
            mask,
            [&] {
              std::vector<int64_t> ax;
              for (size_t i = 0; i < kshape.size(); ++i)
                if (kshape[i] == 1 && xd.shape()[i] != 1) ax.push_back(int64_t(i));
              return ax;
            }(),
            true);
        return std::vector<Tensor>{div(mul(mask, g.reshape(kshape)), cnt)};
      });
    }
  }
  return oshape == kshape ? res : res.reshape(oshape);
}

}  // namespace ng
