// Device-side helpers for the backend's .cu files: grid-stride loops, strided indexing of
// broadcast / non-contiguous operands, block-wide sums, 16-byte vector access, and the
// per-channel reduction grid of batch norm and the bias gradient.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <initializer_list>
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

// make_strided for kernels that write a dense output at out[linear index]: the dims are put in
// the order of `out_strides` (largest first), so that the output is row-major in that order.
// For a contiguous output this is make_strided itself; for a channels-last output (NOTE
// [Channels-last]) the dims go N, H, W, C, and operands of the same layout merge to one
// contiguous dimension as well.
template <int N>
Strided<N> make_strided_out(const Shape& shape, const std::vector<int64_t>& out_strides,
                            const std::array<std::vector<int64_t>, N>& strides) {
  std::vector<size_t> order(shape.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return out_strides[a] > out_strides[b]; });
  bool identity = true;
  for (size_t i = 0; i < order.size(); ++i) identity = identity && order[i] == i;
  if (identity) return make_strided<N>(shape, strides);
  Shape ps(shape.size());
  std::array<std::vector<int64_t>, N> pst;
  for (int k = 0; k < N; ++k) pst[k].resize(shape.size());
  for (size_t i = 0; i < order.size(); ++i) {
    ps[i] = shape[order[i]];
    for (int k = 0; k < N; ++k) pst[k][i] = strides[k][order[i]];
  }
  return make_strided<N>(ps, pst);
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

// V values of T read or written with one access (16 bytes for float4 / double2 shapes); the
// pointer must be aligned to sizeof(T) * V.
template <class T, int V>
struct alignas(sizeof(T) * V) Vec {
  T v[V];
};
template <class T, int V>
__device__ __forceinline__ Vec<T, V> load_vec(const T* p) {
  return *reinterpret_cast<const Vec<T, V>*>(p);
}
template <class T, int V>
__device__ __forceinline__ void store_vec(T* p, const Vec<T, V>& v) {
  *reinterpret_cast<Vec<T, V>*>(p) = v;
}

// Sums of a and b over the block (blockDim.x a multiple of 32, at most 1024) by warp shuffles
// and one shared-memory step, valid in thread 0 only. Every thread must call it; the order of
// the additions is fixed, so results are the same on every run.
__device__ __forceinline__ void block_sum_pair(double& a, double& b) {
  for (int o = 16; o > 0; o >>= 1) {
    a += __shfl_down_sync(0xffffffffu, a, o);
    b += __shfl_down_sync(0xffffffffu, b, o);
  }
  __shared__ double sa[32], sb[32];
  const int lane = int(threadIdx.x) & 31, warp = int(threadIdx.x) >> 5;
  if (lane == 0) {
    sa[warp] = a;
    sb[warp] = b;
  }
  __syncthreads();
  if (warp == 0) {
    const int warps = int(blockDim.x) >> 5;
    a = lane < warps ? sa[lane] : 0.0;
    b = lane < warps ? sb[lane] : 0.0;
    for (int o = 16; o > 0; o >>= 1) {
      a += __shfl_down_sync(0xffffffffu, a, o);
      b += __shfl_down_sync(0xffffffffu, b, o);
    }
  }
  __syncthreads();  // sa/sb may be reused by the next call
}

// Per-channel reductions over x: [N, C, S] (batch norm, bias gradients) run as a grid of
// C x count blocks, block (c, k) summing rows n in [k * rows, (k + 1) * rows) of channel c into
// a partial sum, then a second pass adding each channel's partial sums in order (NOTE
// [Batch-norm grid] in norm.cu). count is chosen so that about 8 blocks of kThreads per SM are
// launched while every block keeps at least ~2048 values.
struct ChannelSplits {
  int64_t count, rows;
};

inline ChannelSplits channel_splits(int64_t N, int64_t C, int64_t S) {
  const int64_t n = std::max<int64_t>(N, 1);
  const int64_t target = int64_t(sm_count()) * 8;
  int64_t k = std::clamp<int64_t>((target + C - 1) / std::max<int64_t>(C, 1), 1, n);
  k = std::clamp<int64_t>(std::min(k, N * S / 2048), 1, 65535);
  const int64_t rows = (n + k - 1) / k;
  return {(n + rows - 1) / rows, rows};
}

// Calls f.template operator()<V, I>() for kernels over [N, C, S] tensors of n elements: V values
// per access (16 bytes: float4 / double2) when S is a multiple of V and every pointer is 16-byte
// aligned, else 1; I = uint32_t when every index fits in 31 bits, else int64_t.
template <class T, class F>
void with_access(int64_t S, int64_t n, std::initializer_list<const void*> ptrs, const F& f) {
  constexpr int V = 16 / int(sizeof(T));
  bool vec = S % V == 0;
  for (const void* p : ptrs)
    if (p && reinterpret_cast<uintptr_t>(p) % 16 != 0) vec = false;
  if (n >= (int64_t(1) << 31)) return f.template operator()<1, int64_t>();
  if (vec) return f.template operator()<V, uint32_t>();
  return f.template operator()<1, uint32_t>();
}

}  // namespace ng::cuda
