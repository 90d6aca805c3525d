// CUDA matrix multiply through cuBLAS. The engine's matrices are row-major and cuBLAS's are
// column-major, so C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T: the operands swap
// places and keep their own transpose flags and leading dimensions.
// Float32 products use TF32 tensor cores when cuda_tf32() is on (NOTE [TF32]).
#include <climits>

#include "engine/ops/cuda/backend.h"
#include "engine/ops/cuda/libs.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/optim.h"

namespace ng::cuda {
namespace {

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const Tensor& A,
          const Tensor& B, double beta, Tensor& C) {
  if (M == 0 || N == 0) return;
  NG_CHECK(M <= INT_MAX && N <= INT_MAX && K <= INT_MAX, "matmul on cuda: [", M, ", ", K, "] x [",
           K, ", ", N, "] is too large for one cuBLAS call");
  if (K == 0) {  // C = beta * C (no products to add)
    if (beta == 0.0)
      fill_kernel(C.device())(C, 0.0);
    else
      scale_kernel(C.device())(C, beta);
    return;
  }
  // Row-major A [M,K] (or [K,M] when ta) is column-major [K,M] (or [M,K]) with ld = its width.
  const int lda = int(ta ? M : K), ldb = int(tb ? K : N), ldc = int(N);
  const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasHandle_t h = cublas();
  if (C.dtype() == DType::Float32) {
    const float a = float(alpha), b = float(beta);
    const cublasComputeType_t compute =
        cuda_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    // C^T [N,M] = op(B)^T [N,K] op(A)^T [K,M]
    NG_CUDA_CHECK(cublasGemmEx(h, opb, opa, int(N), int(M), int(K), &a, B.data<float>(), CUDA_R_32F,
                               ldb, A.data<float>(), CUDA_R_32F, lda, &b, C.data<float>(),
                               CUDA_R_32F, ldc, compute, CUBLAS_GEMM_DEFAULT));
  } else if (C.dtype() == DType::Float64) {
    NG_CUDA_CHECK(cublasDgemm(h, opb, opa, int(N), int(M), int(K), &alpha, B.data<double>(), ldb,
                              A.data<double>(), lda, &beta, C.data<double>(), ldc));
  } else {
    throw Error(std::string("matmul on cuda: needs a floating tensor, got ") +
                dtype_name(C.dtype()));
  }
}

}  // namespace

void register_gemm() {
  gemm_kernel.set(DeviceType::CUDA, &gemm);
}

}  // namespace ng::cuda
