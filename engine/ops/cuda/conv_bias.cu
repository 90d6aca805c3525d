// Per-channel helpers used by conv2d on cuda: adding a bias (forward) and summing a gradient over
// N and the spatial dims (the bias gradient), on contiguous [N, C, S] tensors and on
// channels-last ones, seen as [M, C] (M = N * H * W). Small sums run as one kernel (NOTE
// [One-pass bias gradient]); larger ones on the same two-pass grids as batch norm's statistics
// (NOTE [Batch-norm grid] and NOTE [Channels-last batch norm] in norm.cu): double accumulation,
// fixed order, so the result is the same on every run.
#include "engine/ops/cuda/kernels.cuh"

namespace ng::cuda {
namespace {

// NOTE [One-pass bias gradient]: a bias gradient of at most kOnePassValues values per block
// (LeNet's convolutions: 64 x 28 x 28 and 64 x 10 x 10 per channel) is summed by one kernel that
// writes gb itself: one block per channel (NCHW) or per tile of channels (channels-last) over
// all the rows, double accumulation in a fixed order, so the result is the same on every run.
// It saves the second pass's kernel (a CUDA graph node: a few microseconds of a small training
// step). Larger gradients keep the two-pass grids, which spread a channel over many SMs.
constexpr int64_t kOnePassValues = 65536;
constexpr int kOnePassThreads = 1024;

// Threads per block for a one-pass sum of `values` values: 1024 (a few loads each) unless the
// block would hold fewer than ~16 values per thread.
inline int one_pass_threads(int64_t values) {
  return values >= 16 * kOnePassThreads ? kOnePassThreads : kThreads;
}

// y[n, c, s] += b[c], V values at a time (Sv = S / V groups per row).
template <class T, int V, class I>
__global__ void add_channel_bias_kernel(I nv, I Sv, I C, T* y, const T* b) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < nv; i += I(blockDim.x) * gridDim.x) {
    const T bc = b[(i / Sv) % C];
    Vec<T, V> v = load_vec<T, V>(y + i * V);
#pragma unroll
    for (int q = 0; q < V; ++q) v.v[q] += bc;
    store_vec<T, V>(y + i * V, v);
  }
}

// Pass 1: part[c, k] = sum of gy over rows [k * rows, (k + 1) * rows) of channel c. With one
// block per channel (gridDim.y == 1, rows == N) and Out = T it is the whole bias gradient in one
// kernel: part is gb.
template <class T, int V, class I, class Out>
__global__ void __launch_bounds__(kOnePassThreads)
    channel_partial_sum_kernel(I N, I C, I S, I rows, const T* gy, Out* part) {
  const I c = blockIdx.x, k = blockIdx.y;
  const I n0 = k * rows, n1 = n0 + rows < N ? n0 + rows : N;
  const I Sv = S / V, count = (n1 - n0) * Sv;
  double acc = 0, unused = 0;
  // Unrolled so that each thread has several loads in flight.
#pragma unroll 4
  for (I j = threadIdx.x; j < count; j += blockDim.x) {
    const I r = j / Sv, s = j - r * Sv;
    const Vec<T, V> g = load_vec<T, V>(gy + ((n0 + r) * C + c) * S + s * V);
    T a = 0;
#pragma unroll
    for (int q = 0; q < V; ++q) a += g.v[q];
    acc += double(a);
  }
  block_sum_pair(acc, unused);
  if (threadIdx.x == 0) part[int64_t(c) * gridDim.y + k] = Out(acc);
}

// Pass 2: gb[c] = the channel's partial sums, added in a fixed order (one warp per channel).
template <class T>
__global__ void channel_finish_sum_kernel(int64_t C, int splits, const double* part, T* gb) {
  NG_WARP_PER_CHANNEL(c, C) {
    const double acc = warp_sum_splits(part, splits, c);
    if ((threadIdx.x & 31) == 0) gb[c] = T(acc);
  }
}

// Channels-last, [M, C]: y[r, c] += b[c].
template <class T, int V, class I>
struct BiasOp {
  T* y;
  const T* b;
  T bc[V];
  __device__ __forceinline__ void start(I c0) {
#pragma unroll
    for (int q = 0; q < V; ++q) bc[q] = b[c0 + q];
  }
  __device__ __forceinline__ void apply(I o) const {
    Vec<T, V> v = load_vec<T, V>(y + o);
#pragma unroll
    for (int q = 0; q < V; ++q) v.v[q] += bc[q];
    store_vec<T, V>(y + o, v);
  }
};

// Channels-last, [M, C]: the column sums of gy.
template <class T, int V, class I>
struct ColumnSumOp {
  static constexpr int kSums = 1;
  const T* gy;
  __device__ __forceinline__ void start(I) {}
  __device__ __forceinline__ void add(I o, T (&a1)[V], T (&)[V]) const {
    const Vec<T, V> g = load_vec<T, V>(gy + o);
#pragma unroll
    for (int q = 0; q < V; ++q) a1[q] += g.v[q];
  }
};

// Channels-last, [M, C], one pass: block t (blockDim (tw, ry), tw * ry <= kOnePassThreads) adds
// every row of its channel groups c0 = (t * tw + tx) * V, V at a time, into doubles (four rows
// in T first, as rows_partial_sums_kernel does), then a fixed shared-memory tree over
// threadIdx.y, and writes gb[c0 .. c0 + V).
template <class T, int V, class I>
__global__ void __launch_bounds__(kOnePassThreads)
    rows_column_sum_kernel(I M, I C, const T* __restrict__ gy, T* __restrict__ gb) {
  const I tw = blockDim.x, ry = blockDim.y, tx = threadIdx.x, ty = threadIdx.y;
  const I c0 = (I(blockIdx.x) * tw + tx) * V;
  double s[V];
#pragma unroll
  for (int q = 0; q < V; ++q) s[q] = 0;
  if (c0 < C) {
    const ColumnSumOp<T, V, I> o{gy};
    T unused[V];
    I r = ty;
    for (; r + 3 * ry < M; r += 4 * ry) {
      T a[V] = {};
#pragma unroll
      for (int u = 0; u < 4; ++u) o.add((r + u * ry) * C + c0, a, unused);
#pragma unroll
      for (int q = 0; q < V; ++q) s[q] += double(a[q]);
    }
    for (; r < M; r += ry) {
      T a[V] = {};
      o.add(r * C + c0, a, unused);
#pragma unroll
      for (int q = 0; q < V; ++q) s[q] += double(a[q]);
    }
  }
  __shared__ double buf[V][kOnePassThreads];
  const I t = ty * tw + tx;
#pragma unroll
  for (int q = 0; q < V; ++q) buf[q][t] = s[q];
  __syncthreads();
  I p = 1;
  while (p < ry) p <<= 1;
  for (I h = p >> 1; h > 0; h >>= 1) {
    if (ty < h && ty + h < ry) {
#pragma unroll
      for (int q = 0; q < V; ++q) buf[q][t] += buf[q][t + h * tw];
    }
    __syncthreads();
  }
  if (ty == 0 && c0 < C) {
#pragma unroll
    for (int q = 0; q < V; ++q) gb[c0 + q] = T(buf[q][tx]);
  }
}

}  // namespace

void add_channel_bias(Tensor& y, const Tensor& b) {
  const int64_t n = y.numel(), C = y.size(1);
  if (n == 0) return;
  const int64_t S = n / (y.size(0) * C);
  const bool rows = channels_last_rows(y, "bias add");
  dispatch_floating(y.dtype(), "bias add", [&]<class T>() {
    if (rows) {
      with_access<T>(C, n, {y.data<T>()}, [&]<int V, class I>() {
        const RowsGrid g = rows_grid(n / C, C, V, false);
        rows_apply_kernel<T, V, I, BiasOp<T, V, I>><<<g.grid(), g.block(), 0, stream()>>>(
            I(n / C), I(C), BiasOp<T, V, I>{y.data<T>(), b.data<T>(), {}});
        NG_CUDA_CHECK_LAUNCH("rows_apply_kernel (bias add)");
      });
      return;
    }
    with_access<T>(S, n, {y.data<T>()}, [&]<int V, class I>() {
      const int64_t nv = n / V;
      add_channel_bias_kernel<T, V, I><<<grid_for(nv), kThreads, 0, stream()>>>(
          I(nv), I(S / V), I(C), y.data<T>(), b.data<T>());
      NG_CUDA_CHECK_LAUNCH("add_channel_bias_kernel");
    });
  });
}

void sum_per_channel(const Tensor& gy, Tensor& gb) {
  const int64_t N = gy.size(0), C = gy.size(1);
  if (C == 0) return;
  const int64_t S = N * C != 0 ? gy.numel() / (N * C) : 0;
  const bool rows = N * S != 0 && channels_last_rows(gy, "bias gradient");
  dispatch_floating(gy.dtype(), "bias gradient", [&]<class T>() {
    if (N * S == 0) {
      NG_CUDA_CHECK(cudaMemsetAsync(gb.data<T>(), 0, size_t(C) * sizeof(T), stream()));
      return;
    }
    if (rows) {
      const int64_t n = gy.numel(), M = n / C;
      with_access<T>(C, n, {gy.data<T>()}, [&]<int V, class I>() {
        const RowsGrid g = rows_grid(M, C, V, true);
        // One pass: tiles of up to kOnePassThreads channel groups, each block all the rows.
        const int64_t groups = std::max<int64_t>(C / V, 1);
        const int64_t tiles = (groups + kOnePassThreads - 1) / kOnePassThreads;
        const int64_t tw = (groups + tiles - 1) / tiles;
        if (g.splits == 1 || M * tw * V <= kOnePassValues) {
          const int64_t ry = std::max<int64_t>(1, one_pass_threads(M * tw * V) / tw);
          rows_column_sum_kernel<T, V, I>
              <<<unsigned(tiles), dim3(unsigned(tw), unsigned(ry)), 0, stream()>>>(
                  I(M), I(C), gy.data<T>(), gb.data<T>());
          NG_CUDA_CHECK_LAUNCH("rows_column_sum_kernel (bias gradient)");
          return;
        }
        DeviceBuffer part(size_t(C) * size_t(g.splits) * sizeof(double));
        rows_partial_sums_kernel<T, V, I, ColumnSumOp<T, V, I>>
            <<<g.grid(), g.block(), 0, stream()>>>(
                I(M), I(C), I(g.rows), ColumnSumOp<T, V, I>{gy.data<T>()}, part.as<double>());
        NG_CUDA_CHECK_LAUNCH("rows_partial_sums_kernel (bias gradient)");
        channel_finish_sum_kernel<T><<<warp_grid_for(C), kThreads, 0, stream()>>>(
            C, int(g.splits), part.as<double>(), gb.data<T>());
        NG_CUDA_CHECK_LAUNCH("channel_finish_sum_kernel");
      });
      return;
    }
    const ChannelSplits sp = channel_splits(N, C, S);
    if (sp.count == 1 || N * S <= kOnePassValues) {  // NOTE [One-pass bias gradient]
      with_access<T>(S, gy.numel(), {gy.data<T>()}, [&]<int V, class I>() {
        channel_partial_sum_kernel<T, V, I, T>
            <<<dim3(unsigned(C), 1u), one_pass_threads(N * S), 0, stream()>>>(
                I(N), I(C), I(S), I(N), gy.data<T>(), gb.data<T>());
        NG_CUDA_CHECK_LAUNCH("channel_partial_sum_kernel (one pass)");
      });
      return;
    }
    DeviceBuffer part(size_t(C) * size_t(sp.count) * sizeof(double));
    with_access<T>(S, gy.numel(), {gy.data<T>()}, [&]<int V, class I>() {
      channel_partial_sum_kernel<T, V, I, double>
          <<<dim3(unsigned(C), unsigned(sp.count)), kThreads, 0, stream()>>>(
              I(N), I(C), I(S), I(sp.rows), gy.data<T>(), part.as<double>());
      NG_CUDA_CHECK_LAUNCH("channel_partial_sum_kernel");
    });
    channel_finish_sum_kernel<T><<<warp_grid_for(C), kThreads, 0, stream()>>>(
        C, int(sp.count), part.as<double>(), gb.data<T>());
    NG_CUDA_CHECK_LAUNCH("channel_finish_sum_kernel");
  });
}

}  // namespace ng::cuda
