// CUDA kernels for embedding lookup (concat and split are strided copies through copy_kernel).
// Ids are validated by the op, so the kernels index without checks.
#include "engine/ops/cuda/kernels.cuh"
#include "engine/ops/shape_ops.h"

namespace ng::cuda {
namespace {

// y[i, d] = table[ids[i], d]
template <class T>
__global__ void embedding_forward_k(int64_t n, int64_t D, const int64_t* ids, const T* table,
                                    T* y) {
  NG_GRID_STRIDE(k, n * D) y[k] = table[ids[k / D] * D + k % D];
}

// gtable[ids[i], d] += gy[i, d] (gtable zeroed by the op). Repeated ids add in either order:
// a rounding-level difference between runs.
template <class T>
__global__ void embedding_backward_k(int64_t n, int64_t D, const int64_t* ids, const T* gy,
                                     T* gtable) {
  NG_GRID_STRIDE(k, n * D) atomicAdd(gtable + ids[k / D] * D + k % D, gy[k]);
}

void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& y) {
  const int64_t n = ids.numel(), D = table.size(1);
  if (n * D == 0) return;
  dispatch_floating(table.dtype(), "embedding", [&]<class T>() {
    embedding_forward_k<T><<<grid_for(n * D), kThreads, 0, stream()>>>(
        n, D, ids.data<int64_t>(), table.data<T>(), y.data<T>());
    NG_CUDA_CHECK_LAUNCH("embedding_forward_k");
  });
}

void embedding_backward(const Tensor& ids, const Tensor& gy, Tensor& gtable) {
  const int64_t n = ids.numel(), D = gtable.size(1);
  if (n * D == 0) return;
  dispatch_floating(gtable.dtype(), "embedding backward", [&]<class T>() {
    embedding_backward_k<T><<<grid_for(n * D), kThreads, 0, stream()>>>(
        n, D, ids.data<int64_t>(), gy.data<T>(), gtable.data<T>());
    NG_CUDA_CHECK_LAUNCH("embedding_backward_k");
  });
}

}  // namespace

void register_shape() {
  embedding_forward_kernel.set(DeviceType::CUDA, &embedding_forward);
  embedding_backward_kernel.set(DeviceType::CUDA, &embedding_backward);
}

}  // namespace ng::cuda
