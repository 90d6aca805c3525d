// Device-side helpers for the backend's .cu files: grid-stride loops, strided indexing of
// broadcast / non-contiguous operands, and a block-wide sum.
#pragma once

#include <array>
#include <vector>

#include "engine/core/shape.h"
#include "engine/ops/cuda/common.h"

namespace ng::cuda {

// for (int64_t i : grid-stride range [0, n)) — one loop per thread over a 1-D launch.
#define NG_GRID_STRIDE(i, n)                                                \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += int64_t(blockDim.x) * gridDim.x)

constexpr int kMaxDims = 12;

// Element offsets of N operands that share a logical (row-major) shape but have their own
// strides (0 for a broadcast dimension). Built on the host by make_strided(); dimensions of size
// 1 are dropped and neighbours that are contiguous in every operand are merged, so a contiguous
// operand set ends up with one dimension.
template <int N>
struct Strided {
  int ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[N][kMaxDims];

  // Offsets (in elements) of the element with row-major index `linear`.
  __device__ __forceinline__ void offsets(int64_t linear, int64_t (&off)[N]) const {
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t i = linear % sizes[d];
      linear /= sizes[d];
#pragma unroll
      for (int k = 0; k < N; ++k) off[k] += i * strides[k][d];
    }
  }
  // True when every operand is contiguous (then offsets(i) == i for all of them).
  bool contiguous() const {
    if (ndim == 0) return true;
    if (ndim > 1) return false;
    for (int k = 0; k < N; ++k)
      if (strides[k][0] != 1) return false;
    return true;
  }
};

template <int N>
Strided<N> make_strided(const Shape& shape, const std::array<std::vector<int64_t>, N>& strides) {
  Strided<N> s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    if (s.ndim > 0) {
      bool merge = true;
      for (int k = 0; k < N; ++k)
        if (s.strides[k][s.ndim - 1] != strides[k][i] * shape[i]) merge = false;
      if (merge) {
        s.sizes[s.ndim - 1] *= shape[i];
        for (int k = 0; k < N; ++k) s.strides[k][s.ndim - 1] = strides[k][i];
        continue;
      }
    }
    NG_CHECK(s.ndim < kMaxDims, "cuda: a strided operand of shape ", shape_str(shape),
             " has more than ", kMaxDims, " dimensions that cannot be merged");
    s.sizes[s.ndim] = shape[i];
    for (int k = 0; k < N; ++k) s.strides[k][s.ndim] = strides[k][i];
    ++s.ndim;
  }
  return s;
}

// Strides of `t_shape`/`t_strides` broadcast to `out` (0 where broadcast).
inline std::vector<int64_t> broadcast_strides(const Shape& t_shape,
                                              const std::vector<int64_t>& t_strides,
                                              const Shape& out) {
  std::vector<int64_t> s(out.size(), 0);
  const size_t lead = out.size() - t_shape.size();
  for (size_t i = 0; i < t_shape.size(); ++i) s[lead + i] = t_shape[i] == 1 ? 0 : t_strides[i];
  return s;
}

// Sum of v over the block (blockDim.x == kThreads), returned to every thread. Every thread of
// the block must call it. The order of the additions is fixed, so the result is the
// same on every run.
template <class A>
__device__ A block_sum(A v) {
  __shared__ A buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) buf[threadIdx.x] += buf[threadIdx.x + s];
    __syncthreads();
  }
  A r = buf[0];
  __syncthreads();  // buf may be reused by the next call
  return r;
}

}  // namespace ng::cuda
