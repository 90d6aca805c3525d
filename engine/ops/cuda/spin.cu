// A kernel that only waits (NOTE [Weight-gradient branches] in capture.h): the branch tests put
// it at the head of every branch, so that a compute-stream kernel that wrongly uses a branch's
// blocks, or reads a branch's results before the join, runs first and changes the step's result.
#include "engine/ops/cuda/capture.h"

namespace ng::cuda {
namespace {

__global__ void spin_k(unsigned long long ns) {
  unsigned long long start = 0, now = 0;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(start));
  do {
    __nanosleep(1000);
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
  } while (now - start < ns);
}

}  // namespace

void spin(uint64_t ns) {
  spin_k<<<1, 1, 0, stream()>>>(ns);
  NG_CUDA_CHECK_LAUNCH("spin_k");
}

}  // namespace ng::cuda
