// Matrix products: matmul (2-D, or batched 3-D) and the fused linear layer y = x W^T + b.
//   Tensor y = ng::linear(x, w, b);   // x: [N, in], w: [out, in], b: [out] -> y: [N, out]
#pragma once

#include "engine/core/tensor.h"
#include "engine/ops/dispatch.h"

namespace ng {

// C[M,N] = alpha * op(A) op(B) + beta * C, with op(X) = X or X^T; A, B, C contiguous,
// row-major: A is [M,K] (or [K,M] when trans_a), B is [K,N] (or [N,K] when trans_b).
using GemmFn = void(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha,
                    const Tensor& A, const Tensor& B, double beta, Tensor& C);
NG_KERNEL_TABLE(gemm_kernel, GemmFn);

// NOTE [Fused linear bias]: backends whose GEMM library can add a bias and reduce a bias
// gradient inside the matrix product (cuBLASLt epilogues on CUDA) provide these; linear() uses
// them when its device has them and otherwise runs the GEMM and the bias work as separate
// kernels (a broadcast copy of b before the product; a column sum of g for db). A kernel
// returns false, writing nothing, when it cannot handle the operands (dtype, sizes, alignment,
// or the library offers no algorithm for them); linear() then takes the separate-kernel path.
// All tensors contiguous, row-major.
//   y[N, out] = x[N, in] w[out, in]^T + b[out], or ReLU of it when `relu` (NOTE [Fused ReLU])
using LinearForwardFn = bool(const Tensor& x, const Tensor& w, const Tensor& b, bool relu,
                             Tensor& y);
NG_KERNEL_TABLE(linear_forward_kernel, LinearForwardFn);
//   dw[out, in] = g[N, out]^T x[N, in] and db[out] = sum over N of g, in one call
using LinearBackwardWeightFn = bool(const Tensor& g, const Tensor& x, Tensor& dw, Tensor& db);
NG_KERNEL_TABLE(linear_backward_weight_kernel, LinearBackwardWeightFn);

// a: [M, K] x b: [K, N] -> [M, N]; or batched [B, M, K] x [B, K, N] -> [B, M, N].
Tensor matmul(const Tensor& a, const Tensor& b);
// x: [N, in], w: [out, in], b: [out] or undefined -> [N, out]. `who` names the layer in errors.
// relu: returns ReLU(x w^T + b), inside the product's epilogue where the backend can (NOTE
// [Fused ReLU] in engine/nn/model.h); the same values as relu(linear(...)).
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, const std::string& who = "Linear",
              bool relu = false);

}  // namespace ng
