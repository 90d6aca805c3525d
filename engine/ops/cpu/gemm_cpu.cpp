// CPU matrix multiply through OpenBLAS (cblas, row-major).
#include <cblas.h>

#include "engine/ops/cpu/cpu_kernels.h"
#include "engine/ops/matmul.h"

namespace ng::cpu {
namespace {

void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const Tensor& A,
          const Tensor& B, double beta, Tensor& C) {
  if (M == 0 || N == 0) return;
  const blasint lda = blasint(ta ? M : K), ldb = blasint(tb ? K : N), ldc = blasint(N);
  const auto opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
  if (C.dtype() == DType::Float32) {
    cblas_sgemm(CblasRowMajor, opa, opb, blasint(M), blasint(N), blasint(K), float(alpha),
                A.data<float>(), lda, B.data<float>(), ldb, float(beta), C.data<float>(), ldc);
  } else if (C.dtype() == DType::Float64) {
    cblas_dgemm(CblasRowMajor, opa, opb, blasint(M), blasint(N), blasint(K), alpha,
                A.data<double>(), lda, B.data<double>(), ldb, beta, C.data<double>(), ldc);
  } else {
    throw Error("matmul: needs a floating tensor");
  }
}

}  // namespace

void register_gemm() {
  gemm_kernel.set(DeviceType::CPU, &gemm);
}

}  // namespace ng::cpu
