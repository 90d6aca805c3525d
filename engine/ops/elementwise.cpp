#include "engine/ops/elementwise.h"

#include <cmath>

#include "engine/autograd/autograd.h"
#include "engine/ops/reduce.h"

namespace ng {

int unary_backward_uses(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg:
    case UnaryOp::AddScalar:
    case UnaryOp::MulScalar:
      return 0;
    case UnaryOp::Exp:
    case UnaryOp::Sqrt:
    case UnaryOp::Reciprocal:
    case UnaryOp::Relu:
    case UnaryOp::Sigmoid:
    case UnaryOp::Tanh:
      return kUsesOutput;
    default:
      return kUsesInput;
  }
}

const char* unary_op_name(UnaryOp op) {
  switch (op) {
    case UnaryOp::Neg:
      return "Neg";
    case UnaryOp::Exp:
      return "Exp";
    case UnaryOp::Log:
      return "Log";
    case UnaryOp::Sqrt:
      return "Sqrt";
    case UnaryOp::Abs:
      return "Abs";
    case UnaryOp::Square:
      return "Square";
    case UnaryOp::Reciprocal:
      return "Reciprocal";
    case UnaryOp::AddScalar:
      return "AddScalar";
    case UnaryOp::MulScalar:
      return "MulScalar";
    case UnaryOp::PowScalar:
      return "PowScalar";
    case UnaryOp::Relu:
      return "ReLU";
    case UnaryOp::LeakyRelu:
      return "LeakyReLU";
    case UnaryOp::Sigmoid:
      return "Sigmoid";
    case UnaryOp::Tanh:
      return "Tanh";
    case UnaryOp::Gelu:
      return "GELU";
  }
  return "?";
}

namespace {

const char* binary_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::Add:
      return "Add";
    case BinaryOp::Sub:
      return "Sub";
    case BinaryOp::Mul:
      return "Mul";
    case BinaryOp::Div:
      return "Div";
    case BinaryOp::Maximum:
      return "Maximum";
    case BinaryOp::Minimum:
      return "Minimum";
    case BinaryOp::GreaterEqual:
      return "GreaterEqual";
    case BinaryOp::AddRelu:
      return "AddReLU";
  }
  return "?";
}

void check_same_device(const Tensor& a, const Tensor& b, const char* op) {
  NG_CHECK(a.defined() && b.defined(), op, ": an operand is undefined");
  NG_CHECK(a.device() == b.device(), op, ": operands are on different devices (", a.device().str(),
           " and ", b.device().str(), ")");
  NG_CHECK(a.dtype() == b.dtype(), op, ": operands have different dtypes (", dtype_name(a.dtype()),
           " and ", dtype_name(b.dtype()), ")");
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = binary_name(op);
  check_same_device(a, b, name);
  Shape s = broadcast_shapes(a.shape(), b.shape(), name);
  // The output keeps the layout of a full-size channels-last operand (NOTE [Channels-last]).
  const MemoryFormat fmt = a.shape() == s && a.memory_format() == MemoryFormat::ChannelsLast
                               ? MemoryFormat::ChannelsLast
                           : b.shape() == s ? b.memory_format()
                                            : MemoryFormat::Contiguous;
  Tensor out = Tensor::empty(s, a.dtype(), a.device(), fmt);
  binary_kernel(a.device())(op, a, b, out);
  if (autograd::should_record({&a, &b})) {
    bool ga = a.requires_grad(), gb = b.requires_grad();
    Shape sa = a.shape(), sb = b.shape();
    switch (op) {
      case BinaryOp::Add:
        autograd::record(out, name, {a, b}, [sa, sb, ga, gb](const Tensor& g) {
          return std::vector<Tensor>{ga ? sum_to_shape(g, sa) : Tensor(),
                                     gb ? sum_to_shape(g, sb) : Tensor()};
        });
        break;
      case BinaryOp::Sub:
        autograd::record(out, name, {a, b}, [sa, sb, ga, gb](const Tensor& g) {
          return std::vector<Tensor>{ga ? sum_to_shape(g, sa) : Tensor(),
                                     gb ? sum_to_shape(neg(g), sb) : Tensor()};
        });
        break;
      case BinaryOp::Mul:
        autograd::record(out, name, {a, b}, [a, b, ga, gb](const Tensor& g) {
          autograd::NoGradGuard ng;
          return std::vector<Tensor>{ga ? sum_to_shape(mul(g, b), a.shape()) : Tensor(),
                                     gb ? sum_to_shape(mul(g, a), b.shape()) : Tensor()};
        });
        break;
      case BinaryOp::Div:
        autograd::record(out, name, {a, b}, [a, b, ga, gb](const Tensor& g) {
          autograd::NoGradGuard ng;
          Tensor gdiv = div(g, b);
          return std::vector<Tensor>{
              ga ? sum_to_shape(gdiv, a.shape()) : Tensor(),
              gb ? sum_to_shape(neg(mul(gdiv, div(a, b))), b.shape()) : Tensor()};
        });
        break;
      case BinaryOp::Maximum:
      case BinaryOp::Minimum:
        // The gradient goes to the operand that was selected (to a on ties).
        autograd::record(out, name, {a, b}, [a, b, ga, gb, op](const Tensor& g) {
          autograd::NoGradGuard ng;
          Tensor ma = op == BinaryOp::Maximum ? greater_equal(a, b) : greater_equal(b, a);
          Tensor mb = add_scalar(neg(ma), 1.0);
          return std::vector<Tensor>{ga ? sum_to_shape(mul(g, ma), a.shape()) : Tensor(),
                                     gb ? sum_to_shape(mul(g, mb), b.shape()) : Tensor()};
        });
        break;
      case BinaryOp::GreaterEqual:
        break;  // a step function: no gradient
      case BinaryOp::AddRelu: {
        // Both operands get g * [out > 0], the ReLU's derivative read from the saved output.
        Tensor ys = out.detach();
        autograd::record(out, name, {a, b}, [sa, sb, ga, gb, ys](const Tensor& g) {
          Tensor gin = relu_backward(ys, g);
          return std::vector<Tensor>{ga ? sum_to_shape(gin, sa) : Tensor(),
                                     gb ? sum_to_shape(gin, sb) : Tensor()};
        });
        break;
      }
    }
  }
  return out;
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Add, a, b);
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Sub, a, b);
}
Tensor mul(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Mul, a, b);
}
Tensor div(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Div, a, b);
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Maximum, a, b);
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::Minimum, a, b);
}
Tensor add_relu(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::AddRelu, a, b);
}
Tensor greater_equal(const Tensor& a, const Tensor& b) {
  return binary(BinaryOp::GreaterEqual, a, b);
}

Tensor unary(UnaryOp op, const Tensor& x, double alpha) {
  NG_CHECK(x.defined(), unary_op_name(op), ": the input is undefined");
  NG_CHECK(is_floating(x.dtype()), unary_op_name(op), ": needs a floating tensor, got ",
           dtype_name(x.dtype()));
  // y keeps x's layout (contiguous or channels-last, NOTE [Channels-last]).
  const MemoryFormat fmt = x.memory_format();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device(), fmt);
  unary_kernel(x.device())(op, x, y, alpha);
  if (autograd::should_record({&x})) {
    // Save only what the derivative reads: ReLU, Sigmoid, Tanh, Exp, Sqrt and Reciprocal need
    // their output, the rest their input (and Neg, AddScalar, MulScalar neither). Saving one
    // instead of both halves what a ReLU keeps alive for backward.
    Tensor xs = unary_backward_uses(op) & kUsesInput ? x.contiguous(fmt).detach() : Tensor();
    Tensor ys = unary_backward_uses(op) & kUsesOutput ? y.detach() : Tensor();
    Shape shape = x.shape();
    autograd::record(y, unary_op_name(op), {x}, [op, xs, ys, shape, alpha, fmt](const Tensor& g) {
      // The backward kernel walks x, y, g and gin in one flat order: all in `fmt`.
      Tensor gin = Tensor::empty(shape, g.dtype(), g.device(), fmt);
      unary_backward_kernel(g.device())(op, xs, ys, g.contiguous(fmt), gin, alpha);
      return std::vector<Tensor>{gin};
    });
  }
  return y;
}

Tensor relu_backward(const Tensor& y, const Tensor& g) {
  const MemoryFormat fmt = y.memory_format();
  Tensor gin = Tensor::empty(y.shape(), g.dtype(), g.device(), fmt);
  unary_backward_kernel(g.device())(UnaryOp::Relu, Tensor(), y, g.contiguous(fmt), gin, 0.0);
  return gin;
}

Tensor sum_to_shape(const Tensor& g, const Shape& target) {
  if (g.shape() == target) return g;
  int64_t lead = g.dim() - int64_t(target.size());
  NG_CHECK_SHAPE(lead >= 0, "sum_to_shape: cannot reduce ", shape_str(g.shape()), " to ",
                 shape_str(target));
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < g.dim(); ++i)
    if (i < lead || (target[i - lead] == 1 && g.shape()[i] != 1)) axes.push_back(i);
  Tensor r = axes.empty() ? g : sum(g, axes, true);
  return r.reshape(target);
}

void fill_(Tensor& t, double v) {
  fill_kernel(t.device())(t, v);
}

void copy_(Tensor& dst, const Tensor& src) {
  NG_CHECK_SHAPE(dst.shape() == src.shape(), "copy: shapes ", shape_str(src.shape()), " and ",
                 shape_str(dst.shape()), " differ");
  Device d = dst.device().is_cuda() ? dst.device() : src.device();
  copy_kernel(d)(src, dst);
}

void add_(Tensor& dst, const Tensor& src, double alpha) {
  NG_CHECK_SHAPE(dst.shape() == src.shape(), "add_: shapes ", shape_str(dst.shape()), " and ",
                 shape_str(src.shape()), " differ");
  NG_CHECK(dst.is_contiguous() || dst.is_channels_last(),
           "add_: destination must be contiguous or channels-last");
  // axpy walks both in one flat order: src in dst's layout.
  Tensor s = dst.is_contiguous() ? src.contiguous() : src.contiguous(MemoryFormat::ChannelsLast);
  axpy_kernel(dst.device())(alpha, s, dst);
}

}  // namespace ng
