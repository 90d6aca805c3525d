// The per-element arithmetic of the elementwise ops (ops/elementwise.h), written once for both
// backends: the CPU kernels (ops/cpu/elementwise_cpu.cpp) call these with the op as a template
// constant, so after inlining each loop is branch-free and vectorises; the CUDA kernels
// (ops/cuda/elementwise.cu) pass the op at run time. The math functions are std:: overloads,
// which nvcc also provides for device code, so float stays float on both devices.
#pragma once

#include <cmath>

#include "engine/ops/elementwise.h"

#ifdef __CUDACC__
#define NG_ELEMENTWISE_FN __host__ __device__ __forceinline__
#else
#define NG_ELEMENTWISE_FN inline __attribute__((always_inline))
#endif

namespace ng::elementwise {

template <class T>
NG_ELEMENTWISE_FN T apply_binary(BinaryOp op, T a, T b) {
  switch (op) {
    case BinaryOp::Add:
      return a + b;
    case BinaryOp::Sub:
      return a - b;
    case BinaryOp::Mul:
      return a * b;
    case BinaryOp::Div:
      return a / b;
    case BinaryOp::Maximum:
      return a >= b ? a : b;
    case BinaryOp::Minimum:
      return a <= b ? a : b;
    case BinaryOp::GreaterEqual:
      return a >= b ? T(1) : T(0);
    case BinaryOp::AddRelu: {  // ReLU(a + b): a residual sum and its activation in one pass
      const T s = a + b;
      return s > T(0) ? s : T(0);
    }
  }
  return T(0);
}

// 1 / sqrt(2) and 1 / sqrt(2 pi), for GELU.
constexpr double kSqrtHalf = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.3989422804014327;

template <class T>
NG_ELEMENTWISE_FN T sigmoid(T x) {  // never exp of a large positive number
  return x >= T(0) ? T(1) / (T(1) + std::exp(-x)) : std::exp(x) / (T(1) + std::exp(x));
}

// y = f(v); alpha is the scalar of AddScalar, MulScalar, PowScalar and LeakyRelu.
template <class T>
NG_ELEMENTWISE_FN T apply_unary(UnaryOp op, T v, T alpha) {
  switch (op) {
    case UnaryOp::Neg:
      return -v;
    case UnaryOp::Exp:
      return std::exp(v);
    case UnaryOp::Log:
      return std::log(v);
    case UnaryOp::Sqrt:
      return std::sqrt(v);
    case UnaryOp::Abs:
      return std::abs(v);
    case UnaryOp::Square:
      return v * v;
    case UnaryOp::Reciprocal:
      return T(1) / v;
    case UnaryOp::AddScalar:
      return v + alpha;
    case UnaryOp::MulScalar:
      return v * alpha;
    case UnaryOp::PowScalar:
      return std::pow(v, alpha);
    case UnaryOp::Relu:
      return v > T(0) ? v : T(0);
    case UnaryOp::LeakyRelu:
      return v > T(0) ? v : v * alpha;
    case UnaryOp::Sigmoid:
      return sigmoid(v);
    case UnaryOp::Tanh:
      return std::tanh(v);
    case UnaryOp::Gelu:
      return T(0.5) * v * (T(1) + std::erf(v * T(kSqrtHalf)));
  }
  return T(0);
}

// f'(v), from the input v and/or the output out = f(v): whichever unary_backward_uses(op) names
// (the other is not read and may be anything).
template <class T>
NG_ELEMENTWISE_FN T unary_derivative(UnaryOp op, T v, T out, T alpha) {
  switch (op) {
    case UnaryOp::Neg:
      return T(-1);
    case UnaryOp::Exp:
      return out;
    case UnaryOp::Log:
      return T(1) / v;
    case UnaryOp::Sqrt:
      return T(0.5) / out;
    case UnaryOp::Abs:
      return v > T(0) ? T(1) : (v < T(0) ? T(-1) : T(0));
    case UnaryOp::Square:
      return T(2) * v;
    case UnaryOp::Reciprocal:
      return -out * out;
    case UnaryOp::AddScalar:
      return T(1);
    case UnaryOp::MulScalar:
      return alpha;
    case UnaryOp::PowScalar:
      return alpha * std::pow(v, alpha - T(1));
    case UnaryOp::Relu:
      return out > T(0) ? T(1) : T(0);  // y > 0 iff x > 0
    case UnaryOp::LeakyRelu:
      return v > T(0) ? T(1) : alpha;
    case UnaryOp::Sigmoid:
      return out * (T(1) - out);
    case UnaryOp::Tanh:
      return T(1) - out * out;
    case UnaryOp::Gelu: {  // Phi(x) + x phi(x)
      const T cdf = T(0.5) * (T(1) + std::erf(v * T(kSqrtHalf)));
      const T pdf = std::exp(T(-0.5) * v * v) * T(kInvSqrt2Pi);
      return cdf + v * pdf;
    }
  }
  return T(0);
}

}  // namespace ng::elementwise

#undef NG_ELEMENTWISE_FN
