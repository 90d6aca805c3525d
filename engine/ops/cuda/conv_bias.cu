// Per-channel helpers on contiguous [N, C, S] tensors, used by conv2d on cuda: adding a bias
// (forward) and summing a gradient over N and S (the bias gradient).
#include "engine/ops/cuda/kernels.cuh"

namespace ng::cuda {
namespace {

// y[n, c, s] += b[c]
template <class T>
__global__ void add_channel_bias_kernel(int64_t n, int64_t C, int64_t S, T* y, const T* b) {
  NG_GRID_STRIDE(i, n) y[i] += b[(i / S) % C];
}

// One block per channel c: gb[c] = sum over n, s of gy[n, c, s], in double, fixed order.
template <class T>
__global__ void sum_per_channel_kernel(int64_t N, int64_t C, int64_t S, const T* gy, T* gb) {
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double acc = 0;
    for (int64_t j = threadIdx.x; j < N * S; j += blockDim.x) {
      const int64_t n = j / S, s = j % S;
      acc += double(gy[(n * C + c) * S + s]);
    }
    acc = block_sum(acc);
    if (threadIdx.x == 0) gb[c] = T(acc);
  }
}

}  // namespace

void add_channel_bias(Tensor& y, const Tensor& b) {
  const int64_t n = y.numel(), C = y.size(1);
  if (n == 0) return;
  const int64_t S = n / (y.size(0) * C);
  dispatch_floating(y.dtype(), "bias add", [&]<class T>() {
    add_channel_bias_kernel<T>
        <<<grid_for(n), kThreads, 0, stream()>>>(n, C, S, y.data<T>(), b.data<T>());
    NG_CUDA_CHECK_LAUNCH("add_channel_bias_kernel");
  });
}

void sum_per_channel(const Tensor& gy, Tensor& gb) {
  const int64_t N = gy.size(0), C = gy.size(1);
  if (C == 0) return;
  const int64_t S = N * C != 0 ? gy.numel() / (N * C) : 0;
  dispatch_floating(gy.dtype(), "bias gradient", [&]<class T>() {
    const unsigned blocks = unsigned(std::min<int64_t>(C, 65535));
    sum_per_channel_kernel<T>
        <<<blocks, kThreads, 0, stream()>>>(N, C, S, gy.data<T>(), gb.data<T>());
    NG_CUDA_CHECK_LAUNCH("sum_per_channel_kernel");
  });
}

}  // namespace ng::cuda
