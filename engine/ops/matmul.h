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

// a: [M, K] x b: [K, N] -> [M, N]; or batched [B, M, K] x [B, K, N] -> [B, M, N].
Tensor matmul(const Tensor& a, const Tensor& b);
// x: [N, in], w: [out, in], b: [out] or undefined -> [N, out]. `who` names the layer in errors.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& b, const std::string& who = "Linear");

}  // namespace ng
