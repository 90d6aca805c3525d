#include <mutex>

#include "engine/ops/cpu/cpu_kernels.h"
#include "engine/ops/dispatch.h"

namespace ng {

#ifdef NG_WITH_CUDA
void register_cuda_kernels();  // ops/cuda/register.cu
#endif

void ensure_backends_registered() {
  static std::once_flag once;
  std::call_once(once, [] {
    cpu::register_elementwise();
    cpu::register_reduce();
    cpu::register_gemm();
    cpu::register_conv();
    cpu::register_pool();
    cpu::register_norm();
    cpu::register_softmax();
    cpu::register_shape();
    cpu::register_optim();
#ifdef NG_WITH_CUDA
    register_cuda_kernels();
#endif
  });
}

}  // namespace ng
