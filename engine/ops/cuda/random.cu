// CUDA random fills (ops/random.h): Philox4x32-10 on the device with Rng's arithmetic, one thread
// per 4-element block, so the draws equal the host's bit for bit. The counter base comes from
// philox_reserve() (capture.h), which a CUDA-graph replay moves forward.
#include "engine/ops/cuda/capture.h"
#include "engine/ops/cuda/kernels.cuh"
#include "engine/ops/random.h"

namespace ng::cuda {
namespace {

__device__ __forceinline__ uint4 philox(uint64_t ctr, uint64_t seed) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  uint32_t c0 = uint32_t(ctr), c1 = uint32_t(ctr >> 32), c2 = 0, c3 = 0;
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
#pragma unroll
  for (int r = 0; r < 10; ++r) {
    const uint32_t hi0 = __umulhi(M0, c0), lo0 = M0 * c0;
    const uint32_t hi1 = __umulhi(M1, c2), lo1 = M1 * c2;
    const uint32_t n0 = hi1 ^ c1 ^ k0, n2 = hi0 ^ c3 ^ k1;
    c0 = n0, c1 = lo1, c2 = n2, c3 = lo0;
    k0 += W0;
    k1 += W1;
  }
  return make_uint4(c0, c1, c2, c3);
}

// Rng's unit(): 24 random bits to [0, 1), in double.
__device__ __forceinline__ double unit(uint32_t u) {
  return double(u >> 8) * (1.0 / 16777216.0);
}

template <class T>
__global__ void bernoulli_k(int64_t n, PhiloxArgs a, double keep, T scale, T* out) {
  const uint64_t seed = a.key(), base = a.base();
  NG_GRID_STRIDE(b, (n + 3) / 4) {
    const uint4 r = philox(base + uint64_t(b), seed);
    const uint32_t lanes[4] = {r.x, r.y, r.z, r.w};
#pragma unroll
    for (int l = 0; l < 4; ++l) {
      const int64_t i = b * 4 + l;
      if (i < n) out[i] = unit(lanes[l]) < keep ? scale : T(0);
    }
  }
}

void bernoulli_mask(Tensor& mask, double keep, double scale, Rng& rng) {
  const int64_t n = mask.numel();
  if (n == 0) return;
  NG_CHECK(mask.is_contiguous(), "bernoulli mask on cuda: the mask must be contiguous");
  const int64_t blocks = (n + 3) / 4;
  const PhiloxArgs a = philox_reserve(rng, uint64_t(blocks));
  dispatch_floating(mask.dtype(), "dropout", [&]<class T>() {
    bernoulli_k<T>
        <<<grid_for(blocks), kThreads, 0, stream()>>>(n, a, keep, T(scale), mask.data<T>());
    NG_CUDA_CHECK_LAUNCH("bernoulli_k");
  });
}

}  // namespace

void register_random() {
  bernoulli_mask_kernel.set(DeviceType::CUDA, &bernoulli_mask);
}

}  // namespace ng::cuda
