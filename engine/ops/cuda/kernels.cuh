// Device-side helpers for the backend's .cu files: grid-stride loops, strided indexing of
// broadcast / non-contiguous operands, block-wide sums, 16-byte vector access, and the
// per-channel reduction grid of batch norm and the bias gradient, on [N, C, S] (NCHW) and on
// [M, C] (channels-last) tensors.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
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
  // Already in order (every contiguous output): nothing to reorder or allocate per launch.
  if (std::is_sorted(out_strides.begin(), out_strides.end(), std::greater<int64_t>()))
    return make_strided<N>(shape, strides);
  std::vector<size_t> order(shape.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return out_strides[a] > out_strides[b]; });
  // Filled by push_back, not sized first: GCC 12 warns falsely on the memset of a resize here.
  Shape ps;
  std::array<std::vector<int64_t>, N> pst;
  for (size_t i = 0; i < order.size(); ++i) {
    ps.push_back(shape[order[i]]);
    for (int k = 0; k < N; ++k) pst[k].push_back(strides[k][order[i]]);
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

// Calls f.template operator()<V, I>() for kernels over [N, C, S] tensors of n elements (or
// channels-last [M, C] ones, with S = C): V values per access (16 bytes: float4 / double2) when
// S is a multiple of V and every pointer is 16-byte aligned, else 1; I = uint32_t when every
// index fits in 31 bits, else int64_t.
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

// True when t is channels-last and not contiguous (the [M, C] kernels), false when it is
// contiguous (the [N, C, S] kernels); any other layout throws ng::Error naming `who`.
inline bool channels_last_rows(const Tensor& t, const char* who) {
  if (t.memory_format() == MemoryFormat::ChannelsLast) return true;
  NG_CHECK(t.is_contiguous(), who, " on cuda: needs a contiguous or channels-last tensor, got ",
           "shape ", shape_str(t.shape()), " with strides ", shape_str(t.strides()));
  return false;
}

// ---------------------------------------------------------------- channels-last: x as [M, C]
//
// A channels-last tensor [N, C, H, W] is a row-major [M, C] matrix (M = N * H * W), so channel c
// is the column c (NOTE [Channels-last batch norm] in norm.cu). The kernels below give every
// thread a fixed group of V consecutive channels: a block is kThreads threads laid out as
// (tw, ry), threadIdx.x the channel group within a tile of tw groups (blockIdx.y the tile),
// threadIdx.y the row within a step of ry rows. When a tile is the whole row (C / V <= kThreads)
// the threads of a warp read consecutive addresses, whatever C is.
struct RowsGrid {
  int64_t tiles;   // channel tiles (gridDim.y)
  int64_t tw;      // channel groups of V per tile (blockDim.x)
  int64_t ry;      // rows per step (blockDim.y)
  int64_t splits;  // row chunks or blocks along the rows (gridDim.x)
  int64_t rows;    // rows per chunk (reductions: a multiple of ry)
  dim3 grid() const { return dim3(unsigned(splits), unsigned(tiles)); }
  dim3 block() const { return dim3(unsigned(tw), unsigned(ry)); }
};

// The grid for [M, C] with V channels per access. reduce: chunks of rows for
// rows_partial_sums_kernel (about 8 blocks of kThreads per SM, at least ~4096 values each, so
// that the block's final tree is a small part of its time);
// else blocks of a grid-stride loop over the rows (a few rows per thread).
inline RowsGrid rows_grid(int64_t M, int64_t C, int V, bool reduce) {
  RowsGrid g{};
  const int64_t groups = std::max<int64_t>(C / V, 1);
  g.tiles = (groups + kThreads - 1) / kThreads;
  NG_CHECK(g.tiles <= 65535, "cuda: a channels-last tensor with ", C,
           " channels has too many channels for the per-channel kernels");
  g.tw = (groups + g.tiles - 1) / g.tiles;
  g.ry = std::max<int64_t>(1, kThreads / g.tw);
  const int64_t m = std::max<int64_t>(M, 1);
  if (reduce) {
    const int64_t target = int64_t(sm_count()) * 8;
    const int64_t min_rows = std::max<int64_t>(g.ry, (4096 + C - 1) / std::max<int64_t>(C, 1));
    int64_t k = std::clamp<int64_t>((target + g.tiles - 1) / g.tiles, 1, 65535);
    k = std::max<int64_t>(1, std::min(k, m / min_rows));
    int64_t rows = (m + k - 1) / k;
    rows = (rows + g.ry - 1) / g.ry * g.ry;
    g.rows = rows;
    g.splits = (m + rows - 1) / rows;
  } else {
    g.rows = 0;
    const int64_t steps = (m + 4 * g.ry - 1) / (4 * g.ry);  // about 4 rows per thread
    g.splits =
        std::clamp<int64_t>(steps, 1, std::max<int64_t>(1, int64_t(sm_count()) * 32 / g.tiles));
  }
  return g;
}

// Column sums of a [M, C] matrix in the layout of rows_grid(.., reduce = true): block (k, t)
// adds rows [k * rows, (k + 1) * rows) of its channels and writes, for each channel c,
// part[c * splits + k] (and, when Op::kSums == 2, part[(C + c) * splits + k]). Op, copied per
// thread, loads its channel constants in start(c0) and adds the row at element offset o into
// the T accumulators a1[V], a2[V] in add(o, a1, a2); four rows are added in T, then into doubles
// (the CPU adds chunks in T into doubles). Threads of a channel are then added over threadIdx.y
// by a fixed shared-memory tree, so the sums are the same on every run.
template <class T, int V, class I, class Op>
__global__ void __launch_bounds__(kThreads)
    rows_partial_sums_kernel(I M, I C, I rows, Op op, double* __restrict__ part) {
  const I tw = blockDim.x, ry = blockDim.y, tx = threadIdx.x, ty = threadIdx.y;
  const I c0 = (I(blockIdx.y) * tw + tx) * V;
  const I k = blockIdx.x, splits = gridDim.x;
  const I r0 = k * rows, r1 = r0 + rows < M ? r0 + rows : M;
  double s1[V], s2[V];
#pragma unroll
  for (int q = 0; q < V; ++q) s1[q] = s2[q] = 0;
  if (c0 < C) {
    Op o = op;
    o.start(c0);
    I r = r0 + ty;
    for (; r + 3 * ry < r1; r += 4 * ry) {
      T a1[V] = {}, a2[V] = {};
#pragma unroll
      for (int u = 0; u < 4; ++u) o.add((r + u * ry) * C + c0, a1, a2);
#pragma unroll
      for (int q = 0; q < V; ++q) {
        s1[q] += double(a1[q]);
        s2[q] += double(a2[q]);
      }
    }
    for (; r < r1; r += ry) {
      T a1[V] = {}, a2[V] = {};
      o.add(r * C + c0, a1, a2);
#pragma unroll
      for (int q = 0; q < V; ++q) {
        s1[q] += double(a1[q]);
        s2[q] += double(a2[q]);
      }
    }
  }
  __shared__ double buf[Op::kSums][V][kThreads];
  const I t = ty * tw + tx;
#pragma unroll
  for (int q = 0; q < V; ++q) {
    buf[0][q][t] = s1[q];
    if constexpr (Op::kSums == 2) buf[Op::kSums - 1][q][t] = s2[q];
  }
  __syncthreads();
  I p = 1;
  while (p < ry) p <<= 1;
  for (I s = p >> 1; s > 0; s >>= 1) {
    if (ty < s && ty + s < ry) {
#pragma unroll
      for (int q = 0; q < V; ++q) {
        buf[0][q][t] += buf[0][q][t + s * tw];
        if constexpr (Op::kSums == 2) buf[Op::kSums - 1][q][t] += buf[Op::kSums - 1][q][t + s * tw];
      }
    }
    __syncthreads();
  }
  if (ty == 0 && c0 < C) {
#pragma unroll
    for (int q = 0; q < V; ++q) {
      part[int64_t(c0 + q) * splits + k] = buf[0][q][tx];
      if constexpr (Op::kSums == 2)
        part[(int64_t(C) + c0 + q) * splits + k] = buf[Op::kSums - 1][q][tx];
    }
  }
}

// An elementwise pass over a [M, C] matrix in the layout of rows_grid(.., reduce = false): each
// thread loads its channels' constants once (Op::start(c0)) and applies Op to rows
// r = blockIdx.x * ry + threadIdx.y, stepping by gridDim.x * ry (Op::apply(o), o the element
// offset of the row's group).
template <class T, int V, class I, class Op>
__global__ void __launch_bounds__(kThreads) rows_apply_kernel(I M, I C, Op op) {
  const I c0 = (I(blockIdx.y) * blockDim.x + threadIdx.x) * V;
  if (c0 >= C) return;
  Op o = op;
  o.start(c0);
  const I step = I(gridDim.x) * blockDim.y;
  for (I r = I(blockIdx.x) * blockDim.y + threadIdx.y; r < M; r += step) o.apply(r * C + c0);
}

// Adds, per channel (one warp each), the `splits` partial sums part[c * splits + k] of
// rows_partial_sums_kernel or the [N, C, S] grid: lane l adds k = l, l + 32, ... in order, then
// a fixed shuffle tree; the total is valid in lane 0. The whole warp must call it. The pair
// version adds rows a and b of part in one loop, so that their loads overlap.
__device__ __forceinline__ void warp_sum_splits(const double* part, int splits, int64_t a,
                                                int64_t b, double& sa, double& sb) {
  const int lane = int(threadIdx.x) & 31;
  sa = 0;
  sb = 0;
#pragma unroll 4
  for (int k = lane; k < splits; k += 32) {
    sa += part[a * splits + k];
    sb += part[b * splits + k];
  }
  for (int o = 16; o > 0; o >>= 1) {
    sa += __shfl_down_sync(0xffffffffu, sa, o);
    sb += __shfl_down_sync(0xffffffffu, sb, o);
  }
}
__device__ __forceinline__ double warp_sum_splits(const double* part, int splits, int64_t a) {
  const int lane = int(threadIdx.x) & 31;
  double s = 0;
#pragma unroll 4
  for (int k = lane; k < splits; k += 32) s += part[a * splits + k];
  for (int o = 16; o > 0; o >>= 1) s += __shfl_down_sync(0xffffffffu, s, o);
  return s;
}

// for (int64_t c : channels [0, C), one warp each) — the whole warp runs the body for c.
#define NG_WARP_PER_CHANNEL(c, C)                                                  \
  for (int64_t c = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) / 32; c < (C); \
       c += int64_t(blockDim.x) * gridDim.x / 32)

// Blocks of kThreads for NG_WARP_PER_CHANNEL over C channels.
inline unsigned int warp_grid_for(int64_t C) {
  return grid_for(C * 32);
}

}  // namespace ng::cuda
