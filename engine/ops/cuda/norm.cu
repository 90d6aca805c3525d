// CUDA kernels for batch norm and layer norm, with the arithmetic of ops/cpu/norm_cpu.cpp:
// statistics accumulate in double, the batch-norm variance is taken about a per-channel shift
// (the channel's first value), layer norm is two-pass. Every reduction has a fixed order, so
// results do not change between runs.
//
// NOTE [Batch-norm grid]: x is [N, C, S] (S = H * W), so channel c is N runs of S contiguous
// values, S apart by C * S. One block per channel (the first version) left most of the GPU idle
// for the small C of convolutional nets (16 blocks for ResNet-20's first stage) and ran at a few
// percent of memory bandwidth. The statistics and the backward sums are now two passes:
//   1. a grid of C x splits blocks; block (c, k) sums rows n in [k * R, (k + 1) * R) of channel
//      c, loading V values at once (float4 / double2) when S and the pointers allow, adding the
//      V values in T and then into per-thread doubles (as the CPU adds chunks in T into
//      doubles), then a fixed-order warp-shuffle and block reduction; the partial sums go to a
//      [2, C, splits] double scratch buffer;
//   2. one warp per channel adds its splits (lane l the splits l, l + 32, ... in order, then a
//      fixed shuffle tree, rather than one thread waiting on L2 for each of up to a thousand
//      splits in turn) and derives the statistics (mean, invstd, running stats, scale and
//      beta; or the parameter gradients and the coefficients of gx).
// splits is chosen so that about 8 blocks of kThreads run per SM and every block still has a few
// thousand values. The elementwise passes (y = (x - mean) * scale + beta, NOTE [Batch-norm apply]
// in ops/cpu/norm_cpu.cpp; gx = a * gy + b * (x - mean) + d) are flat vectorised grid-stride
// loops with 32-bit index arithmetic when the tensor allows.
//
// NOTE [Channels-last batch norm]: convolutions on cuda produce channels-last activations
// (cuDNN's tensor-core kernels are NHWC), and batch norm keeps that layout (ng::batch_norm
// allocates y and gx like x) rather than transposing around every conv. A channels-last
// [N, C, H, W] tensor is a row-major [M, C] matrix (M = N * H * W): channel c is column c, and
// the C values of a row are contiguous. The [N, C, S] grid above would read one value in C per
// thread, so x is walked by rows instead (rows_partial_sums_kernel and rows_apply_kernel in
// kernels.cuh):
//   - a block of kThreads is laid out as (tw, ry): threadIdx.x is a group of V consecutive
//     channels (V = 4 floats / 2 doubles in one 16-byte load when C % V == 0 and the pointers
//     are aligned, else 1), threadIdx.y a row in a step of ry rows. With C / V <= kThreads one
//     tile holds the whole row (tw = C / V, ry = kThreads / tw), so a warp reads consecutive
//     addresses whatever C is (C = 16 floats: 8 rows of 64 bytes per warp); wider rows are
//     split into the fewest equal tiles of at most kThreads groups (gridDim.y), C = 1030 in 5.
//   - every thread keeps the same channels for the whole kernel, so per-channel constants
//     (shift, mean, scale, coefficients) are loaded once and no index is divided by C.
//   - statistics and backward sums: block (k, tile) covers a chunk of rows (gridDim.x chunks,
//     about 8 blocks per SM in all, each of at least ~4096 values); each thread adds 4 of its
//     rows in T and then into doubles, the ry threads of a channel are added by a fixed
//     shared-memory tree, and the sums go to part[c, k] — the layout of the [N, C, S] grid, so
//     pass 2 (bn_finish_*_kernel, one warp per channel) is shared, with the shift read at
//     x[c] instead of x[c * S].
//   - the elementwise passes (y, gx, the conv bias add) are grid-stride loops over rows, about
//     4 rows per thread.
// Arithmetic is that of the [N, C, S] kernels (shifted sums in T then double, fixed order), so
// results agree with the CPU and NCHW kernels to rounding and do not change between runs. A
// tensor with C == 1 or H == W == 1 is both layouts at once; it counts as contiguous and takes
// the [N, C, S] kernels.
#include <cstdint>

#include "engine/ops/cuda/kernels.cuh"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"

namespace ng::cuda {
namespace {

// NOTE [Batch norm with ReLU]: batch_norm(..., relu = true) in training on cuda returns
// relu((x - mean) * scale + beta) from the apply pass itself, and its backward masks gy with the
// ReLU's derivative inside the batch-norm kernels, so the ReLU costs no pass of its own either
// way. The mask is not saved: the backward recomputes z = (x - mean) * scale + beta from x (which
// it reads anyway) with the forward's mean and [scale | beta] (saved, [2, C]; the tensor is
// still called scale_shift) and the same subtraction and fused multiply-add (bn_affine), so z,
// and z > 0, are bit for bit those of the forward. z > 0 is the engine's ReLU derivative
// (y > 0 iff z > 0; 0 at z == 0), and z > 0 ? z : 0 its forward, so the results are exactly those
// of relu(batch_norm(x)) on the same device.
template <class T>
__device__ __forceinline__ T bn_affine(T v, T m, T sc, T b) {
  if constexpr (sizeof(T) == sizeof(float))
    return __fmaf_rn(__fsub_rn(v, m), sc, b);
  else
    return __fma_rn(__dsub_rn(v, m), sc, b);
}

// NOTE [Batch norm into the add]: relu(batch_norm(x) + skip) in the apply pass (a residual
// block's second batch norm, its sum with the shortcut and the ReLU after it;
// ng::batch_norm_add_relu in ops/norm.cpp), so the batch norm's output is never written and read
// back. The sum is rounded on its own after the batch norm's value (no contraction into bn_affine's
// multiply-add), as add_relu rounds y + skip, so the result equals add_relu(batch_norm(x), skip)
// bit for bit.
template <class T>
__device__ __forceinline__ T bn_add(T y, T skip) {
  if constexpr (sizeof(T) == sizeof(float))
    return __fadd_rn(y, skip);
  else
    return __dadd_rn(y, skip);
}

// The forward's output from z = bn_affine(...): z, or relu(z) when R.
template <bool R, class T>
__device__ __forceinline__ T bn_out(T z) {
  if constexpr (R)
    return z > T(0) ? z : T(0);
  else
    return z;
}

// gy masked by the ReLU's derivative at z = (x - m) * sc + b when R (gy itself otherwise).
template <bool R, class T>
__device__ __forceinline__ T bn_masked(T g, T v, T m, T sc, T b) {
  if constexpr (R)
    return bn_affine(v, m, sc, b) > T(0) ? g : T(0);
  else
    return g;
}

// Calls f.template operator()<R>() with R = relu.
template <class F>
void with_relu(bool relu, F&& f) {
  if (relu)
    f.template operator()<true>();
  else
    f.template operator()<false>();
}

// ---------------------------------------------------------------- batch norm, x: [N, C, S]

// Pass 1 of the statistics (NOTE [Batch-norm grid]): block (c, k) writes
// part[c, k] = sum(x - shift) and part[C + c, k] = sum((x - shift)^2) over its rows, where shift
// is the channel's first value. I: index type (32-bit when the tensor allows); V: values per load.
template <class T, int V, class I>
__global__ void bn_partial_stats_kernel(I N, I C, I S, I rows, const T* __restrict__ x,
                                        double* __restrict__ part) {
  const I c = blockIdx.x, k = blockIdx.y, splits = gridDim.y;
  const I n0 = k * rows, n1 = n0 + rows < N ? n0 + rows : N;
  const T shift = x[c * S];
  const I Sv = S / V, count = (n1 - n0) * Sv;
  double s1 = 0, s2 = 0;
  // Unrolled so that each thread has several loads in flight.
#pragma unroll 4
  for (I j = threadIdx.x; j < count; j += blockDim.x) {
    const I r = j / Sv, s = j - r * Sv;
    const Vec<T, V> v = load_vec<T, V>(x + ((n0 + r) * C + c) * S + s * V);
    T a1 = 0, a2 = 0;
#pragma unroll
    for (int q = 0; q < V; ++q) {
      const T d = v.v[q] - shift;
      a1 += d;
      a2 += d * d;
    }
    s1 += double(a1);
    s2 += double(a2);
  }
  block_sum_pair(s1, s2);
  if (threadIdx.x == 0) {
    part[int64_t(c) * splits + k] = s1;
    part[(int64_t(C) + c) * splits + k] = s2;
  }
}

// Pass 2: per channel (one warp each, warp_sum_splits), the splits' sums in a fixed order ->
// mean, invstd, the running statistics, and y = (x - mean) * scale + beta's scale and beta (from
// the rounded invstd, as on the CPU). The shift of channel c's sums is x[c * shift_stride] (the
// channel's first value: shift_stride is S for [N, C, S], 1 for channels-last [M, C]).
template <class T>
__global__ void bn_finish_stats_kernel(int64_t C, int64_t shift_stride, int64_t M, int splits,
                                       const double* part, const T* x, double momentum, double eps,
                                       const T* gamma, const T* beta, T* mean, T* invstd,
                                       T* running_mean, T* running_var, T* scale, T* beta_out) {
  NG_WARP_PER_CHANNEL(c, C) {
    double s1, s2;
    warp_sum_splits(part, splits, c, C + c, s1, s2);
    if ((threadIdx.x & 31) == 0) {  // lane 0 finishes the channel
      const double dm = s1 / double(M);
      const double var = ::fmax(0.0, s2 / double(M) - dm * dm);  // biased
      const double mu = double(x[c * shift_stride]) + dm;
      const T mu_t = T(mu), inv_t = T(1.0 / ::sqrt(var + eps));
      mean[c] = mu_t;
      invstd[c] = inv_t;
      if (running_mean) {
        const double unbiased = M > 1 ? var * double(M) / double(M - 1) : var;
        running_mean[c] = T((1.0 - momentum) * double(running_mean[c]) + momentum * mu);
        running_var[c] = T((1.0 - momentum) * double(running_var[c]) + momentum * unbiased);
      }
      scale[c] = T(double(inv_t) * (gamma ? double(gamma[c]) : 1.0));
      beta_out[c] = beta ? beta[c] : T(0);
    }
  }
}

// Eval: y = (x - running_mean) * scale + beta from the running statistics.
template <class T>
__global__ void bn_eval_scale_kernel(int64_t C, const T* running_var, const T* gamma, const T* beta,
                                     double eps, T* scale, T* beta_out) {
  NG_GRID_STRIDE(c, C) {
    const double inv = 1.0 / ::sqrt(double(running_var[c]) + eps);
    scale[c] = T(inv * (gamma ? double(gamma[c]) : 1.0));
    beta_out[c] = beta ? beta[c] : T(0);
  }
}

// y = (x - mean[c]) * scale[c] + beta[c] (relu of it when R) over nv groups of V values (Sv =
// S / V groups per row); with K, relu(that + skip) (NOTE [Batch norm into the add]).
template <class T, int V, class I, bool R, bool K = false>
__global__ void bn_apply_kernel(I nv, I Sv, I C, const T* x, const T* mean, const T* scale,
                                const T* beta, const T* skip, T* y) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < nv; i += I(blockDim.x) * gridDim.x) {
    const I c = (i / Sv) % C;
    const T m = mean[c], sc = scale[c], b = beta[c];
    Vec<T, V> v = load_vec<T, V>(x + i * V);
    if constexpr (K) {
      const Vec<T, V> s = load_vec<T, V>(skip + i * V);
#pragma unroll
      for (int q = 0; q < V; ++q)
        v.v[q] = bn_out<true>(bn_add(bn_affine(v.v[q], m, sc, b), s.v[q]));
    } else {
#pragma unroll
      for (int q = 0; q < V; ++q) v.v[q] = bn_out<R>(bn_affine(v.v[q], m, sc, b));
    }
    store_vec<T, V>(y + i * V, v);
  }
}

// Pass 1 of the backward: part[c, k] = sum(gy), part[C + c, k] = sum(gy * (x - mean)), with gy
// masked by the ReLU's derivative when R (ss: the forward's [scale | beta]).
template <class T, int V, class I, bool R>
__global__ void bn_partial_grad_kernel(I N, I C, I S, I rows, const T* gy, const T* x,
                                       const T* mean, const T* ss, double* part) {
  const I c = blockIdx.x, k = blockIdx.y, splits = gridDim.y;
  const I n0 = k * rows, n1 = n0 + rows < N ? n0 + rows : N;
  const T m = mean[c];
  const T sc = R ? ss[c] : T(0), sb = R ? ss[C + c] : T(0);
  const I Sv = S / V, count = (n1 - n0) * Sv;
  double sg = 0, sgx = 0;
  // Unrolled so that each thread has several loads in flight.
#pragma unroll 4
  for (I j = threadIdx.x; j < count; j += blockDim.x) {
    const I r = j / Sv, s = j - r * Sv;
    const I o = ((n0 + r) * C + c) * S + s * V;
    const Vec<T, V> g = load_vec<T, V>(gy + o), v = load_vec<T, V>(x + o);
    T a1 = 0, a2 = 0;
#pragma unroll
    for (int q = 0; q < V; ++q) {
      const T gq = bn_masked<R>(g.v[q], v.v[q], m, sc, sb);
      a1 += gq;
      a2 += gq * (v.v[q] - m);
    }
    sg += double(a1);
    sgx += double(a2);
  }
  block_sum_pair(sg, sgx);
  if (threadIdx.x == 0) {
    part[int64_t(c) * splits + k] = sg;
    part[(int64_t(C) + c) * splits + k] = sgx;
  }
}

// Pass 2 of the backward (one warp per channel, as bn_finish_stats_kernel): the parameter
// gradients and gx = a * gy + b * (x - mean) + d's coefficients (coef: [3, C] = a, b, d).
template <class T>
__global__ void bn_finish_grad_kernel(int64_t C, int64_t M, int splits, const double* part,
                                      const T* gamma, const T* invstd, T* ggamma, T* gbeta,
                                      T* coef) {
  NG_WARP_PER_CHANNEL(c, C) {
    double sg, sgx;
    warp_sum_splits(part, splits, c, C + c, sg, sgx);
    if ((threadIdx.x & 31) == 0) {  // lane 0 finishes the channel
      const double inv = double(invstd[c]);
      if (gbeta) gbeta[c] = T(sg);
      if (ggamma) ggamma[c] = T(sgx * inv);
      const double ga = (gamma ? double(gamma[c]) : 1.0) * inv;
      coef[c] = T(ga);
      coef[C + c] = T(-ga * inv * inv * sgx / double(M));
      coef[2 * C + c] = T(-ga * sg / double(M));
    }
  }
}

// gx = a * gy + b * (x - mean) + d, gy masked when R (as bn_partial_grad_kernel).
template <class T, int V, class I, bool R>
__global__ void bn_backward_apply_kernel(I nv, I Sv, I C, const T* gy, const T* x, const T* mean,
                                         const T* ss, const T* coef, T* gx) {
  for (I i = I(blockIdx.x) * blockDim.x + threadIdx.x; i < nv; i += I(blockDim.x) * gridDim.x) {
    const I c = (i / Sv) % C;
    const T a = coef[c], b = coef[C + c], d = coef[2 * C + c], m = mean[c];
    const T sc = R ? ss[c] : T(0), sb = R ? ss[C + c] : T(0);
    const Vec<T, V> g = load_vec<T, V>(gy + i * V), v = load_vec<T, V>(x + i * V);
    Vec<T, V> out;
#pragma unroll
    for (int q = 0; q < V; ++q)
      out.v[q] = a * bn_masked<R>(g.v[q], v.v[q], m, sc, sb) + b * (v.v[q] - m) + d;
    store_vec<T, V>(gx + i * V, out);
  }
}

// ------------------------------------------------- batch norm, channels-last x: [M, C]
// (NOTE [Channels-last batch norm]); the Ops of rows_partial_sums_kernel / rows_apply_kernel.

// Statistics: a1 += x - k, a2 += (x - k)^2 with k the channel's first value (x[c], row 0).
template <class T, int V, class I>
struct BnStatsOp {
  static constexpr int kSums = 2;
  const T* x;
  T k[V];
  __device__ __forceinline__ void start(I c0) {
#pragma unroll
    for (int q = 0; q < V; ++q) k[q] = x[c0 + q];
  }
  __device__ __forceinline__ void add(I o, T (&a1)[V], T (&a2)[V]) const {
    const Vec<T, V> v = load_vec<T, V>(x + o);
#pragma unroll
    for (int q = 0; q < V; ++q) {
      const T d = v.v[q] - k[q];
      a1[q] += d;
      a2[q] += d * d;
    }
  }
};

// y = (x - mean[c]) * scale[c] + beta[c], relu of it when R; with K, relu(that + skip) (NOTE
// [Batch norm into the add]).
template <class T, int V, class I, bool R, bool K = false>
struct BnApplyOp {
  const T* x;
  const T* mean;
  const T* scale;
  const T* beta;
  const T* skip;
  T* y;
  T m[V], sc[V], b[V];
  __device__ __forceinline__ void start(I c0) {
#pragma unroll
    for (int q = 0; q < V; ++q) {
      m[q] = mean[c0 + q];
      sc[q] = scale[c0 + q];
      b[q] = beta[c0 + q];
    }
  }
  __device__ __forceinline__ void apply(I o) const {
    Vec<T, V> v = load_vec<T, V>(x + o);
    if constexpr (K) {
      const Vec<T, V> s = load_vec<T, V>(skip + o);
#pragma unroll
      for (int q = 0; q < V; ++q)
        v.v[q] = bn_out<true>(bn_add(bn_affine(v.v[q], m[q], sc[q], b[q]), s.v[q]));
    } else {
#pragma unroll
      for (int q = 0; q < V; ++q) v.v[q] = bn_out<R>(bn_affine(v.v[q], m[q], sc[q], b[q]));
    }
    store_vec<T, V>(y + o, v);
  }
};

// Backward sums: a1 += gy, a2 += gy * (x - mean), gy masked when R (ss: [scale | beta]).
template <class T, int V, class I, bool R>
struct BnGradOp {
  static constexpr int kSums = 2;
  const T* gy;
  const T* x;
  const T* mean;
  const T* ss;
  I C;
  T m[V], sc[V], sb[V];
  __device__ __forceinline__ void start(I c0) {
#pragma unroll
    for (int q = 0; q < V; ++q) {
      m[q] = mean[c0 + q];
      sc[q] = R ? ss[c0 + q] : T(0);
      sb[q] = R ? ss[C + c0 + q] : T(0);
    }
  }
  __device__ __forceinline__ void add(I o, T (&a1)[V], T (&a2)[V]) const {
    const Vec<T, V> g = load_vec<T, V>(gy + o), v = load_vec<T, V>(x + o);
#pragma unroll
    for (int q = 0; q < V; ++q) {
      const T gq = bn_masked<R>(g.v[q], v.v[q], m[q], sc[q], sb[q]);
      a1[q] += gq;
      a2[q] += gq * (v.v[q] - m[q]);
    }
  }
};

// gx = a * gy + b * (x - mean) + d (coef: [3, C] = a, b, d), gy masked when R.
template <class T, int V, class I, bool R>
struct BnBackwardApplyOp {
  const T* gy;
  const T* x;
  const T* mean;
  const T* coef;
  const T* ss;
  I C;
  T* gx;
  T a[V], b[V], d[V], m[V], sc[V], sb[V];
  __device__ __forceinline__ void start(I c0) {
#pragma unroll
    for (int q = 0; q < V; ++q) {
      a[q] = coef[c0 + q];
      b[q] = coef[C + c0 + q];
      d[q] = coef[2 * C + c0 + q];
      m[q] = mean[c0 + q];
      sc[q] = R ? ss[c0 + q] : T(0);
      sb[q] = R ? ss[C + c0 + q] : T(0);
    }
  }
  __device__ __forceinline__ void apply(I o) const {
    const Vec<T, V> g = load_vec<T, V>(gy + o), v = load_vec<T, V>(x + o);
    Vec<T, V> out;
#pragma unroll
    for (int q = 0; q < V; ++q)
      out.v[q] =
          a[q] * bn_masked<R>(g.v[q], v.v[q], m[q], sc[q], sb[q]) + b[q] * (v.v[q] - m[q]) + d[q];
    store_vec<T, V>(gx + o, out);
  }
};

// ---------------------------------------------------------------- batch norm, host side

// relu: y = relu((x - mean) * scale + beta) (training only), with scale and beta written to
// scale_shift ([2, C]) for the backward's mask (NOTE [Batch norm with ReLU]). skip: y =
// relu((x - mean) * scale + beta + skip), skip in x's shape and layout (NOTE [Batch norm into the
// add]; relu is then false).
void batch_norm_forward_impl(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             Tensor& running_mean, Tensor& running_var, Mode mode, double momentum,
                             double eps, Tensor& y, Tensor& mean, Tensor& invstd, bool relu,
                             Tensor* scale_shift, const Tensor* skip = nullptr) {
  const int64_t N = x.size(0), C = x.size(1), n = x.numel();
  const int64_t S = N * C != 0 ? n / (N * C) : 0;
  if (C == 0) return;
  const bool train = mode == Mode::Train;
  NG_CHECK(!relu || (train && scale_shift && scale_shift->numel() == 2 * C),
           "batch_norm with relu on cuda: training only, with a [2, C] scale_shift");
  const bool rows = channels_last_rows(x, "batch_norm");
  NG_CHECK(channels_last_rows(y, "batch_norm") == rows,
           "batch_norm on cuda: the output's layout differs from the input's");
  NG_CHECK(!skip || (!relu && skip->shape() == x.shape() && skip->dtype() == x.dtype() &&
                     channels_last_rows(*skip, "batch_norm") == rows),
           "batch_norm into an add on cuda: the skip input must have x's shape, dtype and layout");
  dispatch_floating(x.dtype(), "batch_norm", [&]<class T>() {
    const T* sk = skip ? skip->data<T>() : nullptr;
    T* rm = running_mean.defined() ? running_mean.data<T>() : nullptr;
    T* rv = running_var.defined() ? running_var.data<T>() : nullptr;
    const T* g = gamma.defined() ? gamma.data<T>() : nullptr;
    const T* b = beta.defined() ? beta.data<T>() : nullptr;
    DeviceBuffer ss(relu ? 0 : 2 * size_t(C) * sizeof(T));  // [scale | beta]
    T* scale = relu ? scale_shift->data<T>() : ss.as<T>();
    T* beta_c = scale + C;  // beta per channel (0 without one)
    // The mean the apply pass centres with: the batch's, or the running one in eval mode.
    const T* centre = train ? mean.data<T>() : rm;
    auto eval_coefficients = [&] {
      bn_eval_scale_kernel<T>
          <<<grid_for(C), kThreads, 0, stream()>>>(C, rv, g, b, eps, scale, beta_c);
      NG_CUDA_CHECK_LAUNCH("bn_eval_scale_kernel");
    };
    // Pass 2 of the statistics over `splits` partial sums per channel.
    auto finish = [&](int64_t shift_stride, int64_t splits, const double* part) {
      bn_finish_stats_kernel<T><<<warp_grid_for(C), kThreads, 0, stream()>>>(
          C, shift_stride, N * S, int(splits), part, x.data<T>(), momentum, eps, g, b,
          mean.data<T>(), invstd.data<T>(), rm, rv, scale, beta_c);
      NG_CUDA_CHECK_LAUNCH("bn_finish_stats_kernel");
    };
    if (rows) {  // channels-last: x, y are [M, C]
      const int64_t M = n / C;
      // The statistics' V (and so their order of summation) depends on x and y alone, so a skip
      // input at an odd address leaves them as batch norm's own.
      with_access<T>(C, n, {x.data<T>(), y.data<T>()}, [&]<int V, class I>() {
        if (train) {  // the op has checked M > 1
          const RowsGrid rg = rows_grid(M, C, V, true);
          DeviceBuffer part(2 * size_t(C) * size_t(rg.splits) * sizeof(double));
          rows_partial_sums_kernel<T, V, I, BnStatsOp<T, V, I>>
              <<<rg.grid(), rg.block(), 0, stream()>>>(
                  I(M), I(C), I(rg.rows), BnStatsOp<T, V, I>{x.data<T>(), {}}, part.as<double>());
          NG_CUDA_CHECK_LAUNCH("rows_partial_sums_kernel (batch_norm)");
          finish(1, rg.splits, part.as<double>());
        } else {
          eval_coefficients();
        }
      });
      if (M == 0) return;
      with_access<T>(C, n, {x.data<T>(), y.data<T>(), sk}, [&]<int V, class I>() {
        const RowsGrid ag = rows_grid(M, C, V, false);
        if (sk) {  // NOTE [Batch norm into the add]
          using Op = BnApplyOp<T, V, I, false, true>;
          rows_apply_kernel<T, V, I, Op><<<ag.grid(), ag.block(), 0, stream()>>>(
              I(M), I(C), Op{x.data<T>(), centre, scale, beta_c, sk, y.data<T>(), {}, {}, {}});
          NG_CUDA_CHECK_LAUNCH("rows_apply_kernel (batch_norm into an add)");
          return;
        }
        with_relu(relu, [&]<bool R>() {
          rows_apply_kernel<T, V, I, BnApplyOp<T, V, I, R>><<<ag.grid(), ag.block(), 0, stream()>>>(
              I(M), I(C),
              BnApplyOp<T, V, I, R>{
                  x.data<T>(), centre, scale, beta_c, nullptr, y.data<T>(), {}, {}, {}});
          NG_CUDA_CHECK_LAUNCH("rows_apply_kernel (batch_norm)");
        });
      });
      return;
    }
    if (train) {
      // The op has checked N * S > 1.
      const ChannelSplits sp = channel_splits(N, C, S);
      DeviceBuffer part(2 * size_t(C) * size_t(sp.count) * sizeof(double));
      with_access<T>(S, n, {x.data<T>()}, [&]<int V, class I>() {
        bn_partial_stats_kernel<T, V, I>
            <<<dim3(unsigned(C), unsigned(sp.count)), kThreads, 0, stream()>>>(
                I(N), I(C), I(S), I(sp.rows), x.data<T>(), part.as<double>());
        NG_CUDA_CHECK_LAUNCH("bn_partial_stats_kernel");
      });
      finish(S, sp.count, part.as<double>());
    } else {
      eval_coefficients();
    }
    if (n == 0) return;
    with_access<T>(S, n, {x.data<T>(), y.data<T>(), sk}, [&]<int V, class I>() {
      const int64_t nv = n / V;
      if (sk) {  // NOTE [Batch norm into the add]
        bn_apply_kernel<T, V, I, false, true><<<grid_for(nv), kThreads, 0, stream()>>>(
            I(nv), I(S / V), I(C), x.data<T>(), centre, scale, beta_c, sk, y.data<T>());
        NG_CUDA_CHECK_LAUNCH("bn_apply_kernel (batch_norm into an add)");
        return;
      }
      with_relu(relu, [&]<bool R>() {
        bn_apply_kernel<T, V, I, R><<<grid_for(nv), kThreads, 0, stream()>>>(
            I(nv), I(S / V), I(C), x.data<T>(), centre, scale, beta_c, nullptr, y.data<T>());
        NG_CUDA_CHECK_LAUNCH("bn_apply_kernel");
      });
    });
  });
}

// scale_shift defined: the backward of relu(batch_norm(x)), gy masked where the forward's
// (x - mean) * scale + beta was not positive (NOTE [Batch norm with ReLU]).
void batch_norm_backward_impl(const Tensor& gy, const Tensor& x, const Tensor& gamma,
                              const Tensor& mean, const Tensor& invstd, const Tensor& scale_shift,
                              Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  const int64_t N = x.size(0), C = x.size(1), n = x.numel();
  const int64_t S = N * C != 0 ? n / (N * C) : 0;
  if (C == 0) return;
  const bool rows = channels_last_rows(x, "batch_norm backward");
  NG_CHECK(channels_last_rows(gy, "batch_norm backward") == rows &&
               (!gx.defined() || channels_last_rows(gx, "batch_norm backward") == rows),
           "batch_norm backward on cuda: the gradients' layout differs from the input's");
  const bool relu = scale_shift.defined();
  NG_CHECK(!relu || scale_shift.numel() == 2 * C,
           "batch_norm backward with relu on cuda: scale_shift must be [2, C]");
  dispatch_floating(x.dtype(), "batch_norm backward", [&]<class T>() {
    const T* ss = relu ? scale_shift.data<T>() : nullptr;
    DeviceBuffer coef(3 * size_t(C) * sizeof(T));  // [a | b | d]
    // Pass 2 over `splits` partial sums per channel: ggamma, gbeta and gx's coefficients.
    auto finish = [&](int64_t splits, const double* part) {
      bn_finish_grad_kernel<T><<<warp_grid_for(C), kThreads, 0, stream()>>>(
          C, N * S, int(splits), part, gamma.defined() ? gamma.data<T>() : nullptr,
          invstd.data<T>(), ggamma.defined() ? ggamma.data<T>() : nullptr,
          gbeta.defined() ? gbeta.data<T>() : nullptr, coef.as<T>());
      NG_CUDA_CHECK_LAUNCH("bn_finish_grad_kernel");
    };
    if (rows) {  // channels-last: gy, x, gx are [M, C]
      const int64_t M = n / C;
      with_access<T>(C, n, {gy.data<T>(), x.data<T>(), gx.defined() ? gx.data<T>() : nullptr},
                     [&]<int V, class I>() {
                       with_relu(relu, [&]<bool R>() {
                         const RowsGrid rg = rows_grid(M, C, V, true);
                         DeviceBuffer part(2 * size_t(C) * size_t(rg.splits) * sizeof(double));
                         BnGradOp<T, V, I, R> sums{};
                         sums.gy = gy.data<T>();
                         sums.x = x.data<T>();
                         sums.mean = mean.data<T>();
                         sums.ss = ss;
                         sums.C = I(C);
                         rows_partial_sums_kernel<T, V, I, BnGradOp<T, V, I, R>>
                             <<<rg.grid(), rg.block(), 0, stream()>>>(I(M), I(C), I(rg.rows), sums,
                                                                      part.as<double>());
                         NG_CUDA_CHECK_LAUNCH("rows_partial_sums_kernel (batch_norm backward)");
                         finish(rg.splits, part.as<double>());
                         if (!gx.defined() || M == 0) return;
                         const RowsGrid ag = rows_grid(M, C, V, false);
                         BnBackwardApplyOp<T, V, I, R> apply{};
                         apply.gy = gy.data<T>();
                         apply.x = x.data<T>();
                         apply.mean = mean.data<T>();
                         apply.coef = coef.as<T>();
                         apply.ss = ss;
                         apply.C = I(C);
                         apply.gx = gx.data<T>();
                         rows_apply_kernel<T, V, I, BnBackwardApplyOp<T, V, I, R>>
                             <<<ag.grid(), ag.block(), 0, stream()>>>(I(M), I(C), apply);
                         NG_CUDA_CHECK_LAUNCH("rows_apply_kernel (batch_norm backward)");
                       });
                     });
      return;
    }
    const ChannelSplits sp = channel_splits(N, C, S);
    DeviceBuffer part(2 * size_t(C) * size_t(sp.count) * sizeof(double));
    with_access<T>(S, n, {gy.data<T>(), x.data<T>()}, [&]<int V, class I>() {
      with_relu(relu, [&]<bool R>() {
        bn_partial_grad_kernel<T, V, I, R>
            <<<dim3(unsigned(C), unsigned(sp.count)), kThreads, 0, stream()>>>(
                I(N), I(C), I(S), I(sp.rows), gy.data<T>(), x.data<T>(), mean.data<T>(), ss,
                part.as<double>());
        NG_CUDA_CHECK_LAUNCH("bn_partial_grad_kernel");
      });
    });
    finish(sp.count, part.as<double>());
    if (!gx.defined() || n == 0) return;
    with_access<T>(S, n, {gy.data<T>(), x.data<T>(), gx.data<T>()}, [&]<int V, class I>() {
      const int64_t nv = n / V;
      with_relu(relu, [&]<bool R>() {
        bn_backward_apply_kernel<T, V, I, R><<<grid_for(nv), kThreads, 0, stream()>>>(
            I(nv), I(S / V), I(C), gy.data<T>(), x.data<T>(), mean.data<T>(), ss, coef.as<T>(),
            gx.data<T>());
        NG_CUDA_CHECK_LAUNCH("bn_backward_apply_kernel");
      });
    });
  });
}

void batch_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                        Tensor& running_mean, Tensor& running_var, Mode mode, double momentum,
                        double eps, Tensor& y, Tensor& mean, Tensor& invstd) {
  batch_norm_forward_impl(x, gamma, beta, running_mean, running_var, mode, momentum, eps, y, mean,
                          invstd, false, nullptr);
}

void batch_norm_relu_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                             Tensor& running_mean, Tensor& running_var, double momentum, double eps,
                             Tensor& y, Tensor& mean, Tensor& invstd, Tensor& scale_shift) {
  batch_norm_forward_impl(x, gamma, beta, running_mean, running_var, Mode::Train, momentum, eps, y,
                          mean, invstd, true, &scale_shift);
}

void batch_norm_add_relu_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                                 Tensor& running_mean, Tensor& running_var, double momentum,
                                 double eps, const Tensor& skip, Tensor& y, Tensor& mean,
                                 Tensor& invstd) {
  batch_norm_forward_impl(x, gamma, beta, running_mean, running_var, Mode::Train, momentum, eps, y,
                          mean, invstd, false, nullptr, &skip);
}

void batch_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                         const Tensor& invstd, Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  batch_norm_backward_impl(gy, x, gamma, mean, invstd, Tensor(), gx, ggamma, gbeta);
}

void batch_norm_relu_backward(const Tensor& gy, const Tensor& x, const Tensor& gamma,
                              const Tensor& mean, const Tensor& invstd, const Tensor& scale_shift,
                              Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  NG_CHECK(scale_shift.defined(), "batch_norm backward with relu on cuda: scale_shift is missing");
  batch_norm_backward_impl(gy, x, gamma, mean, invstd, scale_shift, gx, ggamma, gbeta);
}

// ---------------------------------------------------------------- layer norm, x: [M, D]

// One block per row: mean (rounded to T), then the variance about it (d1 is the rounding
// residue), then y = (x - mean) * invstd * gamma + beta.
template <class T>
__global__ void ln_forward_kernel(int64_t M, int64_t D, const T* x, const T* gamma, const T* beta,
                                  double eps, T* y, T* mean, T* invstd) {
  for (int64_t r = blockIdx.x; r < M; r += gridDim.x) {
    const T* row = x + r * D;
    double s = 0;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) s += double(row[i]);
    s = block_sum(s);
    const T mu = T(s / double(D));
    double d1 = 0, d2 = 0;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
      const double d = double(row[i] - mu);
      d1 += d;
      d2 += d * d;
    }
    d1 = block_sum(d1);
    d2 = block_sum(d2);
    const double dm = d1 / double(D);
    const T inv = T(1.0 / ::sqrt(::fmax(0.0, d2 / double(D) - dm * dm) + eps));
    if (threadIdx.x == 0) {
      mean[r] = mu;
      invstd[r] = inv;
    }
    T* out = y + r * D;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
      T v = (row[i] - mu) * inv;
      if (gamma) v *= gamma[i];
      if (beta) v += beta[i];
      out[i] = v;
    }
  }
}

// One block per row, with h = gy * gamma and xhat = (x - mean) * invstd:
//   gx = invstd * (h - mean(h) - xhat * mean(h * xhat)).
template <class T>
__global__ void ln_backward_gx_kernel(int64_t M, int64_t D, const T* gy, const T* x, const T* gamma,
                                      const T* mean, const T* invstd, T* gx) {
  for (int64_t r = blockIdx.x; r < M; r += gridDim.x) {
    const T* row = x + r * D;
    const T* grow = gy + r * D;
    const T mu = mean[r], inv = invstd[r];
    double s1 = 0, s2 = 0;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
      const T xhat = (row[i] - mu) * inv;
      const T h = gamma ? grow[i] * gamma[i] : grow[i];
      s1 += double(h);
      s2 += double(h * xhat);
    }
    s1 = block_sum(s1);
    s2 = block_sum(s2);
    const T m1 = T(s1 / double(D)), m2 = T(s2 / double(D));
    T* out = gx + r * D;
    for (int64_t i = threadIdx.x; i < D; i += blockDim.x) {
      const T xhat = (row[i] - mu) * inv;
      const T h = gamma ? grow[i] * gamma[i] : grow[i];
      out[i] = inv * (h - m1 - xhat * m2);
    }
  }
}

// One thread per column i: ggamma[i] = sum over rows of gy * xhat, gbeta[i] = sum of gy.
template <class T>
__global__ void ln_backward_params_kernel(int64_t M, int64_t D, const T* gy, const T* x,
                                          const T* mean, const T* invstd, T* ggamma, T* gbeta) {
  NG_GRID_STRIDE(i, D) {
    double g = 0, b = 0;
    for (int64_t r = 0; r < M; ++r) {
      const T gv = gy[r * D + i];
      const T xhat = (x[r * D + i] - mean[r]) * invstd[r];
      g += double(gv * xhat);
      b += double(gv);
    }
    if (ggamma) ggamma[i] = T(g);
    if (gbeta) gbeta[i] = T(b);
  }
}

unsigned row_blocks(int64_t M) {
  return unsigned(std::clamp<int64_t>(M, 1, int64_t(1) << 20));
}

void layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                        Tensor& y, Tensor& mean, Tensor& invstd) {
  const int64_t M = mean.numel(), D = M ? x.numel() / M : 0;
  if (M == 0 || D == 0) return;
  dispatch_floating(x.dtype(), "layer_norm", [&]<class T>() {
    ln_forward_kernel<T><<<row_blocks(M), kThreads, 0, stream()>>>(
        M, D, x.data<T>(), gamma.defined() ? gamma.data<T>() : nullptr,
        beta.defined() ? beta.data<T>() : nullptr, eps, y.data<T>(), mean.data<T>(),
        invstd.data<T>());
    NG_CUDA_CHECK_LAUNCH("ln_forward_kernel");
  });
}

void layer_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                         const Tensor& invstd, Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  const int64_t M = mean.numel(), D = M ? x.numel() / M : 0;
  dispatch_floating(x.dtype(), "layer_norm backward", [&]<class T>() {
    if (M == 0 || D == 0) {  // empty sums: parameter gradients are zero
      if (ggamma.defined()) fill_kernel(ggamma.device())(ggamma, 0.0);
      if (gbeta.defined()) fill_kernel(gbeta.device())(gbeta, 0.0);
      return;
    }
    if (gx.defined()) {
      ln_backward_gx_kernel<T><<<row_blocks(M), kThreads, 0, stream()>>>(
          M, D, gy.data<T>(), x.data<T>(), gamma.defined() ? gamma.data<T>() : nullptr,
          mean.data<T>(), invstd.data<T>(), gx.data<T>());
      NG_CUDA_CHECK_LAUNCH("ln_backward_gx_kernel");
    }
    if (ggamma.defined() || gbeta.defined()) {
      ln_backward_params_kernel<T><<<grid_for(D), kThreads, 0, stream()>>>(
          M, D, gy.data<T>(), x.data<T>(), mean.data<T>(), invstd.data<T>(),
          ggamma.defined() ? ggamma.data<T>() : nullptr,
          gbeta.defined() ? gbeta.data<T>() : nullptr);
      NG_CUDA_CHECK_LAUNCH("ln_backward_params_kernel");
    }
  });
}

}  // namespace

void register_norm() {
  batch_norm_forward_kernel.set(DeviceType::CUDA, &batch_norm_forward);
  batch_norm_backward_kernel.set(DeviceType::CUDA, &batch_norm_backward);
  batch_norm_relu_forward_kernel.set(DeviceType::CUDA, &batch_norm_relu_forward);
  batch_norm_add_relu_forward_kernel.set(DeviceType::CUDA, &batch_norm_add_relu_forward);
  batch_norm_relu_backward_kernel.set(DeviceType::CUDA, &batch_norm_relu_backward);
  layer_norm_forward_kernel.set(DeviceType::CUDA, &layer_norm_forward);
  layer_norm_backward_kernel.set(DeviceType::CUDA, &layer_norm_backward);
}

}  // namespace ng::cuda
