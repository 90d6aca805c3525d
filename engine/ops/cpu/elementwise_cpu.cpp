// CPU kernels for elementwise ops, fill, copy/cast and axpy. The contiguous paths are plain
// loops the compiler vectorises; broadcasting goes through for_each_strided.
#include <cmath>
#include <cstring>

#include "engine/ops/cpu/cpu_kernels.h"
#include "engine/ops/cpu/strided.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/elementwise_math.h"

namespace ng::cpu {
namespace {

using elementwise::apply_binary;
using elementwise::apply_unary;
using elementwise::unary_derivative;

constexpr int64_t kGrain = 32768;

template <class T, BinaryOp OP>
void binary_run(int64_t n, T* o, const T* a, int64_t sa, const T* b, int64_t sb) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = apply_binary(OP, a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    T bv = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = apply_binary(OP, a[i], bv);
  } else if (sa == 0 && sb == 1) {
    T av = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = apply_binary(OP, av, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) o[i] = apply_binary(OP, a[i * sa], b[i * sb]);
  }
}

template <class T, BinaryOp OP>
void binary_typed(const Tensor& a, const Tensor& b, Tensor& out) {
  T* o = out.data<T>();
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  auto sa = broadcast_strides(a.shape(), a.strides(), out.shape());
  auto sb = broadcast_strides(b.shape(), b.strides(), out.shape());
  for_each_strided<3>(out.shape(), {out.strides(), sa, sb}, kGrain,
                      [&](int64_t n, std::array<int64_t, 3> off, std::array<int64_t, 3> in) {
                        binary_run<T, OP>(n, o + off[0], pa + off[1], in[1], pb + off[2], in[2]);
                      });
}

template <class T>
void binary_t(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  switch (op) {
    case BinaryOp::Add:
      return binary_typed<T, BinaryOp::Add>(a, b, out);
    case BinaryOp::Sub:
      return binary_typed<T, BinaryOp::Sub>(a, b, out);
    case BinaryOp::Mul:
      return binary_typed<T, BinaryOp::Mul>(a, b, out);
    case BinaryOp::Div:
      return binary_typed<T, BinaryOp::Div>(a, b, out);
    case BinaryOp::Maximum:
      return binary_typed<T, BinaryOp::Maximum>(a, b, out);
    case BinaryOp::Minimum:
      return binary_typed<T, BinaryOp::Minimum>(a, b, out);
    case BinaryOp::GreaterEqual:
      return binary_typed<T, BinaryOp::GreaterEqual>(a, b, out);
    case BinaryOp::AddRelu:
      return binary_typed<T, BinaryOp::AddRelu>(a, b, out);
  }
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  switch (out.dtype()) {
    case DType::Float32:
      return binary_t<float>(op, a, b, out);
    case DType::Float64:
      return binary_t<double>(op, a, b, out);
    default:
      throw Error(std::string("elementwise op on ") + dtype_name(out.dtype()) +
                  " is not supported");
  }
}

template <class T, UnaryOp OP>
void unary_run(int64_t n, const T* x, int64_t sx, T* y, T alpha) {
  for (int64_t i = 0; i < n; ++i) y[i] = apply_unary(OP, x[i * sx], alpha);
}

template <class T, UnaryOp OP>
void unary_typed(const Tensor& x, Tensor& y, double alpha) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  for_each_strided<2>(x.shape(), {y.strides(), x.strides()}, kGrain,
                      [&](int64_t n, std::array<int64_t, 2> off, std::array<int64_t, 2> in) {
                        unary_run<T, OP>(n, px + off[1], in[1], py + off[0], T(alpha));
                      });
}

#define NG_UNARY_CASES(T)                                    \
  case UnaryOp::Neg:                                         \
    return unary_typed<T, UnaryOp::Neg>(x, y, alpha);        \
  case UnaryOp::Exp:                                         \
    return unary_typed<T, UnaryOp::Exp>(x, y, alpha);        \
  case UnaryOp::Log:                                         \
    return unary_typed<T, UnaryOp::Log>(x, y, alpha);        \
  case UnaryOp::Sqrt:                                        \
    return unary_typed<T, UnaryOp::Sqrt>(x, y, alpha);       \
  case UnaryOp::Abs:                                         \
    return unary_typed<T, UnaryOp::Abs>(x, y, alpha);        \
  case UnaryOp::Square:                                      \
    return unary_typed<T, UnaryOp::Square>(x, y, alpha);     \
  case UnaryOp::Reciprocal:                                  \
    return unary_typed<T, UnaryOp::Reciprocal>(x, y, alpha); \
  case UnaryOp::AddScalar:                                   \
    return unary_typed<T, UnaryOp::AddScalar>(x, y, alpha);  \
  case UnaryOp::MulScalar:                                   \
    return unary_typed<T, UnaryOp::MulScalar>(x, y, alpha);  \
  case UnaryOp::PowScalar:                                   \
    return unary_typed<T, UnaryOp::PowScalar>(x, y, alpha);  \
  case UnaryOp::Relu:                                        \
    return unary_typed<T, UnaryOp::Relu>(x, y, alpha);       \
  case UnaryOp::LeakyRelu:                                   \
    return unary_typed<T, UnaryOp::LeakyRelu>(x, y, alpha);  \
  case UnaryOp::Sigmoid:                                     \
    return unary_typed<T, UnaryOp::Sigmoid>(x, y, alpha);    \
  case UnaryOp::Tanh:                                        \
    return unary_typed<T, UnaryOp::Tanh>(x, y, alpha);       \
  case UnaryOp::Gelu:                                        \
    return unary_typed<T, UnaryOp::Gelu>(x, y, alpha);

void unary(UnaryOp op, const Tensor& x, Tensor& y, double alpha) {
  if (x.dtype() == DType::Float32) {
    switch (op) { NG_UNARY_CASES(float) }
  } else if (x.dtype() == DType::Float64) {
    switch (op) { NG_UNARY_CASES(double) }
  }
  throw Error(std::string(unary_op_name(op)) + " on " + dtype_name(x.dtype()) +
              " is not supported");
}

// gin = gout * f'(x); x, y = f(x), gout, gin contiguous. One instantiation per op, so each
// loop is branch-free and vectorises.
template <class T, UnaryOp OP>
void unary_backward_typed(const Tensor& x, const Tensor& y, const Tensor& gout, Tensor& gin, T a) {
  const T* px = x.defined() ? x.data<T>() : nullptr;
  const T* py = y.defined() ? y.data<T>() : nullptr;
  const T* g = gout.data<T>();
  T* gi = gin.data<T>();
  constexpr bool kX = OP == UnaryOp::Log || OP == UnaryOp::Abs || OP == UnaryOp::Square ||
                      OP == UnaryOp::PowScalar || OP == UnaryOp::LeakyRelu || OP == UnaryOp::Gelu;
  constexpr bool kY = OP == UnaryOp::Exp || OP == UnaryOp::Sqrt || OP == UnaryOp::Reciprocal ||
                      OP == UnaryOp::Relu || OP == UnaryOp::Sigmoid || OP == UnaryOp::Tanh;
  parallel_for(0, gout.numel(), kGrain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const T v = kX ? px[i] : T(0), out = kY ? py[i] : T(0);
      gi[i] = g[i] * unary_derivative(OP, v, out, a);
    }
  });
}

#define NG_UNARY_BACKWARD_CASES(T)                                                  \
  case UnaryOp::Neg:                                                                \
    return unary_backward_typed<T, UnaryOp::Neg>(x, y, gout, gin, T(alpha));        \
  case UnaryOp::Exp:                                                                \
    return unary_backward_typed<T, UnaryOp::Exp>(x, y, gout, gin, T(alpha));        \
  case UnaryOp::Log:                                                                \
    return unary_backward_typed<T, UnaryOp::Log>(x, y, gout, gin, T(alpha));        \
  case UnaryOp::Sqrt:                                                               \
    return unary_backward_typed<T, UnaryOp::Sqrt>(x, y, gout, gin, T(alpha));       \
  case UnaryOp::Abs:                                                                \
    return unary_backward_typed<T, UnaryOp::Abs>(x, y, gout, gin, T(alpha));        \
  case UnaryOp::Square:                                                             \
    return unary_backward_typed<T, UnaryOp::Square>(x, y, gout, gin, T(alpha));     \
  case UnaryOp::Reciprocal:                                                         \
    return unary_backward_typed<T, UnaryOp::Reciprocal>(x, y, gout, gin, T(alpha)); \
  case UnaryOp::AddScalar:                                                          \
    return unary_backward_typed<T, UnaryOp::AddScalar>(x, y, gout, gin, T(alpha));  \
  case UnaryOp::MulScalar:                                                          \
    return unary_backward_typed<T, UnaryOp::MulScalar>(x, y, gout, gin, T(alpha));  \
  case UnaryOp::PowScalar:                                                          \
    return unary_backward_typed<T, UnaryOp::PowScalar>(x, y, gout, gin, T(alpha));  \
  case UnaryOp::Relu:                                                               \
    return unary_backward_typed<T, UnaryOp::Relu>(x, y, gout, gin, T(alpha));       \
  case UnaryOp::LeakyRelu:                                                          \
    return unary_backward_typed<T, UnaryOp::LeakyRelu>(x, y, gout, gin, T(alpha));  \
  case UnaryOp::Sigmoid:                                                            \
    return unary_backward_typed<T, UnaryOp::Sigmoid>(x, y, gout, gin, T(alpha));    \
  case UnaryOp::Tanh:                                                               \
    return unary_backward_typed<T, UnaryOp::Tanh>(x, y, gout, gin, T(alpha));       \
  case UnaryOp::Gelu:                                                               \
    return unary_backward_typed<T, UnaryOp::Gelu>(x, y, gout, gin, T(alpha));

void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gout, Tensor& gin,
                    double alpha) {
  if (gout.dtype() == DType::Float32) {
    switch (op) { NG_UNARY_BACKWARD_CASES(float) }
  } else if (gout.dtype() == DType::Float64) {
    switch (op) { NG_UNARY_BACKWARD_CASES(double) }
  }
  throw Error(std::string(unary_op_name(op)) + " backward on " + dtype_name(gout.dtype()) +
              " is not supported");
}

template <class T>
void fill_t(Tensor& t, double v) {
  T* p = t.data<T>();
  T tv = T(v);
  for_each_strided<1>(t.shape(), {t.strides()}, kGrain,
                      [&](int64_t n, std::array<int64_t, 1> off, std::array<int64_t, 1> in) {
                        for (int64_t i = 0; i < n; ++i) p[off[0] + i * in[0]] = tv;
                      });
}

void fill(Tensor& t, double v) {
  switch (t.dtype()) {
    case DType::Float32:
      return fill_t<float>(t, v);
    case DType::Float64:
      return fill_t<double>(t, v);
    case DType::Int64:
      return fill_t<int64_t>(t, v);
    case DType::BFloat16:
      return fill_t<bfloat16>(t, v);
  }
}

template <class S, class D>
void copy_t(const Tensor& src, Tensor& dst) {
  const S* ps = src.data<S>();
  D* pd = dst.data<D>();
  for_each_strided<2>(dst.shape(), {dst.strides(), src.strides()}, kGrain,
                      [&](int64_t n, std::array<int64_t, 2> off, std::array<int64_t, 2> in) {
                        D* o = pd + off[0];
                        const S* s = ps + off[1];
                        if constexpr (std::is_same_v<S, D>) {
                          if (in[0] == 1 && in[1] == 1) {
                            std::memcpy(o, s, size_t(n) * sizeof(D));
                            return;
                          }
                        }
                        for (int64_t i = 0; i < n; ++i) o[i * in[0]] = D(s[i * in[1]]);
                      });
}

template <class S>
void copy_from(const Tensor& src, Tensor& dst) {
  switch (dst.dtype()) {
    case DType::Float32:
      return copy_t<S, float>(src, dst);
    case DType::Float64:
      return copy_t<S, double>(src, dst);
    case DType::Int64:
      return copy_t<S, int64_t>(src, dst);
    case DType::BFloat16:
      return copy_t<S, bfloat16>(src, dst);
  }
}

void copy(const Tensor& src, Tensor& dst) {
  NG_CHECK(src.device().is_cpu() && dst.device().is_cpu(), "copy between ", src.device().str(),
           " and ", dst.device().str(), " needs the CUDA backend");
  switch (src.dtype()) {
    case DType::Float32:
      return copy_from<float>(src, dst);
    case DType::Float64:
      return copy_from<double>(src, dst);
    case DType::Int64:
      return copy_from<int64_t>(src, dst);
    case DType::BFloat16:
      return copy_from<bfloat16>(src, dst);
  }
}

template <class T>
void axpy_t(double alpha, const Tensor& x, Tensor& y) {
  const T* px = x.data<T>();
  T* py = y.data<T>();
  T a = T(alpha);
  parallel_for(0, x.numel(), kGrain, [&](int64_t b, int64_t e) {
    if (a == T(1))
      for (int64_t i = b; i < e; ++i) py[i] += px[i];
    else
      for (int64_t i = b; i < e; ++i) py[i] += a * px[i];
  });
}

void axpy(double alpha, const Tensor& x, Tensor& y) {
  NG_CHECK(x.dtype() == y.dtype(), "axpy: dtypes differ");
  if (y.dtype() == DType::Float32)
    axpy_t<float>(alpha, x, y);
  else if (y.dtype() == DType::Float64)
    axpy_t<double>(alpha, x, y);
  else
    throw Error("axpy: needs a floating tensor");
}

}  // namespace

void register_elementwise() {
  binary_kernel.set(DeviceType::CPU, &binary);
  unary_kernel.set(DeviceType::CPU, &unary);
  unary_backward_kernel.set(DeviceType::CPU, &unary_backward);
  fill_kernel.set(DeviceType::CPU, &fill);
  copy_kernel.set(DeviceType::CPU, &copy);
  axpy_kernel.set(DeviceType::CPU, &axpy);
}

}  // namespace ng::cpu
