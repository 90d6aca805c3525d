// Elementwise ops with NumPy broadcasting, the activations, and the in-place helpers the
// autograd engine and optimisers use. Every differentiable op records its backward here.
//   Tensor y = ng::relu(ng::add(ng::matmul(x, w), b));   // b: [N] broadcast over rows
#pragma once

#include "engine/core/tensor.h"
#include "engine/ops/dispatch.h"

namespace ng {

enum class BinaryOp { Add, Sub, Mul, Div, Maximum, Minimum, GreaterEqual, AddRelu };
enum class UnaryOp {
  Neg,
  Exp,
  Log,
  Sqrt,
  Abs,
  Square,
  Reciprocal,
  AddScalar,
  MulScalar,
  PowScalar,  // alpha is the scalar
  Relu,
  LeakyRelu,
  Sigmoid,
  Tanh,
  Gelu  // alpha is LeakyReLU's slope
};
const char* unary_op_name(UnaryOp op);
// Which tensors a unary op's derivative reads: a mask of kUsesInput / kUsesOutput.
inline constexpr int kUsesInput = 1, kUsesOutput = 2;
int unary_backward_uses(UnaryOp op);

// Kernels. Tensors passed to them are on one device; `out`/`y`/`gin` are allocated contiguous.
//   binary: a and b broadcast to out.shape() (any strides).
using BinaryFn = void(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out);
//   unary: y = f(x) (x any strides).
using UnaryFn = void(UnaryOp op, const Tensor& x, Tensor& y, double alpha);
//   unary backward: gin = gout * f'(x), given x and/or y = f(x) (contiguous; only those that
//   unary_backward_uses(op) names are defined).
using UnaryBackwardFn = void(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gout,
                             Tensor& gin, double alpha);
using FillFn = void(Tensor& t, double v);
//   copy: same shape, any strides on both sides, may cast dtype; the CUDA kernel also moves data
//   between host and device.
using CopyFn = void(const Tensor& src, Tensor& dst);
//   axpy: y += alpha * x, same shape, both contiguous.
using AxpyFn = void(double alpha, const Tensor& x, Tensor& y);

NG_KERNEL_TABLE(binary_kernel, BinaryFn);
NG_KERNEL_TABLE(unary_kernel, UnaryFn);
NG_KERNEL_TABLE(unary_backward_kernel, UnaryBackwardFn);
NG_KERNEL_TABLE(fill_kernel, FillFn);
NG_KERNEL_TABLE(copy_kernel, CopyFn);
NG_KERNEL_TABLE(axpy_kernel, AxpyFn);

// --- differentiable ops ---
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
// 1 where a >= b, else 0 (not differentiable).
Tensor greater_equal(const Tensor& a, const Tensor& b);
// relu(a + b) in one kernel each way (NOTE [Fused ReLU] in engine/nn/model.h).
Tensor add_relu(const Tensor& a, const Tensor& b);
// g * [y > 0], in y's layout: the backward of a ReLU from its saved output y, for the ops that
// compute a ReLU inside their own forward (NOTE [Fused ReLU]). No autograd.
Tensor relu_backward(const Tensor& y, const Tensor& g);
Tensor unary(UnaryOp op, const Tensor& x, double alpha = 0.0);
inline Tensor neg(const Tensor& x) {
  return unary(UnaryOp::Neg, x);
}
inline Tensor exp(const Tensor& x) {
  return unary(UnaryOp::Exp, x);
}
inline Tensor log(const Tensor& x) {
  return unary(UnaryOp::Log, x);
}
inline Tensor sqrt(const Tensor& x) {
  return unary(UnaryOp::Sqrt, x);
}
inline Tensor abs(const Tensor& x) {
  return unary(UnaryOp::Abs, x);
}
inline Tensor square(const Tensor& x) {
  return unary(UnaryOp::Square, x);
}
inline Tensor reciprocal(const Tensor& x) {
  return unary(UnaryOp::Reciprocal, x);
}
inline Tensor add_scalar(const Tensor& x, double s) {
  return unary(UnaryOp::AddScalar, x, s);
}
inline Tensor mul_scalar(const Tensor& x, double s) {
  return unary(UnaryOp::MulScalar, x, s);
}
inline Tensor pow_scalar(const Tensor& x, double p) {
  return unary(UnaryOp::PowScalar, x, p);
}
inline Tensor relu(const Tensor& x) {
  return unary(UnaryOp::Relu, x);
}
inline Tensor leaky_relu(const Tensor& x, double slope = 0.01) {
  return unary(UnaryOp::LeakyRelu, x, slope);
}
inline Tensor sigmoid(const Tensor& x) {
  return unary(UnaryOp::Sigmoid, x);
}
inline Tensor tanh(const Tensor& x) {
  return unary(UnaryOp::Tanh, x);
}
// Exact GELU, x * Phi(x), as PyTorch's default.
inline Tensor gelu(const Tensor& x) {
  return unary(UnaryOp::Gelu, x);
}

inline Tensor operator+(const Tensor& a, const Tensor& b) {
  return add(a, b);
}
inline Tensor operator-(const Tensor& a, const Tensor& b) {
  return sub(a, b);
}
inline Tensor operator*(const Tensor& a, const Tensor& b) {
  return mul(a, b);
}
inline Tensor operator/(const Tensor& a, const Tensor& b) {
  return div(a, b);
}
inline Tensor operator+(const Tensor& a, double s) {
  return add_scalar(a, s);
}
inline Tensor operator*(const Tensor& a, double s) {
  return mul_scalar(a, s);
}
inline Tensor operator-(const Tensor& a) {
  return neg(a);
}

// Sums a broadcast gradient back to `target` (the shape of the operand before broadcasting).
Tensor sum_to_shape(const Tensor& g, const Shape& target);

// --- in-place, never recorded ---
void fill_(Tensor& t, double v);
void copy_(Tensor& dst, const Tensor& src);
void add_(Tensor& dst, const Tensor& src, double alpha = 1.0);  // dst += alpha * src

}  // namespace ng
