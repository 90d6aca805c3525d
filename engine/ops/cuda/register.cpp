// Installs the CUDA backend: its allocator and every kernel group. Called once from
// ensure_backends_registered() (ops/cpu/register.cpp) in builds with NG_WITH_CUDA. Makes no CUDA
// call, so a CUDA build runs unchanged on a machine without a GPU; the device is first touched
// when a tensor is allocated on it.
#include "engine/core/allocator.h"
#include "engine/ops/cuda/common.h"

namespace ng {
namespace cuda {
void register_random();  // random.cu: dropout masks drawn on the device
}

void register_cuda_kernels() {
  set_allocator(DeviceType::CUDA, cuda::caching_allocator());
  cuda::register_elementwise();
  cuda::register_reduce();
  cuda::register_gemm();
  cuda::register_linear();
  cuda::register_conv();
  cuda::register_pool();
  cuda::register_norm();
  cuda::register_softmax();
  cuda::register_shape();
  cuda::register_optim();
  cuda::register_random();
}

}  // namespace ng
