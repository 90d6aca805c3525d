// CUDA kernels for softmax / log-softmax and the fused cross-entropy, with the arithmetic of
// ops/cpu/softmax_cpu.cpp. Softmax sees x as [outer, C, inner] (axis in the middle) and gives
// each (outer, inner) position to one thread, which walks its C values; every softmax subtracts
// the maximum first. Cross-entropy row losses are summed by one block in a fixed order.
#include <math_constants.h>

#include <cmath>

#include "engine/ops/cuda/capture.h"
#include "engine/ops/cuda/kernels.cuh"
#include "engine/ops/softmax.h"

namespace ng::cuda {
namespace {

struct Layout {
  int64_t outer = 1, C = 1, inner = 1;
};

Layout layout_of(const Shape& s, int64_t axis) {
  Layout l;
  for (int64_t i = 0; i < int64_t(s.size()); ++i) {
    if (i < axis)
      l.outer *= s[i];
    else if (i == axis)
      l.C = s[i];
    else
      l.inner *= s[i];
  }
  return l;
}

template <class T>
__global__ void softmax_fwd_k(Layout L, bool log, const T* x, T* y) {
  NG_GRID_STRIDE(t, L.outer * L.inner) {
    const int64_t o = t / L.inner, j = t % L.inner;
    const T* xp = x + o * L.C * L.inner + j;  // x[o, c, j] = xp[c * inner]
    T* yp = y + o * L.C * L.inner + j;
    T m = T(-CUDART_INF);
    for (int64_t c = 0; c < L.C; ++c) m = m < xp[c * L.inner] ? xp[c * L.inner] : m;
    T s = T(0);
    if (log) {
      for (int64_t c = 0; c < L.C; ++c) s += std::exp(xp[c * L.inner] - m);
      const T ls = std::log(s);
      for (int64_t c = 0; c < L.C; ++c) yp[c * L.inner] = (xp[c * L.inner] - m) - ls;
    } else {
      for (int64_t c = 0; c < L.C; ++c) {
        const T e = std::exp(xp[c * L.inner] - m);
        yp[c * L.inner] = e;
        s += e;
      }
      const T inv = T(1) / s;
      for (int64_t c = 0; c < L.C; ++c) yp[c * L.inner] *= inv;
    }
  }
}

// softmax: gx = y * (gy - sum_c(gy * y)); log-softmax: gx = gy - exp(y) * sum_c(gy).
template <class T>
__global__ void softmax_bwd_k(Layout L, bool log, const T* y, const T* gy, T* gx) {
  NG_GRID_STRIDE(t, L.outer * L.inner) {
    const int64_t o = t / L.inner, j = t % L.inner, base = o * L.C * L.inner + j;
    T s = T(0);
    for (int64_t c = 0; c < L.C; ++c) {
      const int64_t k = base + c * L.inner;
      s += log ? gy[k] : gy[k] * y[k];
    }
    for (int64_t c = 0; c < L.C; ++c) {
      const int64_t k = base + c * L.inner;
      gx[k] = log ? gy[k] - std::exp(y[k]) * s : y[k] * (gy[k] - s);
    }
  }
}

void softmax_forward(const Tensor& x, int64_t axis, bool log, Tensor& y) {
  const Layout L = layout_of(x.shape(), axis);
  if (L.C == 0 || x.numel() == 0) return;
  dispatch_floating(x.dtype(), "softmax", [&]<class T>() {
    softmax_fwd_k<T>
        <<<grid_for(L.outer * L.inner), kThreads, 0, stream()>>>(L, log, x.data<T>(), y.data<T>());
    NG_CUDA_CHECK_LAUNCH("softmax_fwd_k");
  });
}

void softmax_backward(const Tensor& y, const Tensor& gy, int64_t axis, bool log, Tensor& gx) {
  const Layout L = layout_of(y.shape(), axis);
  if (L.C == 0 || y.numel() == 0) return;
  dispatch_floating(y.dtype(), "softmax backward", [&]<class T>() {
    softmax_bwd_k<T><<<grid_for(L.outer * L.inner), kThreads, 0, stream()>>>(
        L, log, y.data<T>(), gy.data<T>(), gx.data<T>());
    NG_CUDA_CHECK_LAUNCH("softmax_bwd_k");
  });
}

// ---------------------------------------------------------------- cross-entropy

// Row i with label l and smoothing s: lse = log-sum-exp(x_i),
//   row loss = (1 - s) * (lse - x_il) + s * (lse - mean_c x_ic),
//   grad1_i = (exp(x_i - lse) - target_i) / N, target = (1 - s) * one_hot + s / C
// (the CPU kernel's arithmetic, step for step). A label outside [0, C) is recorded (NOTE
// [Deferred device errors]); its row loss is NaN and its grad1 has no one-hot term.
template <class T>
__device__ double ce_row(int64_t i, int64_t N, int64_t C, double sm, const T* logits,
                         const int64_t* labels, T* grad1, DeviceErrorSlot err, int64_t site) {
  const T* x = logits + i * C;
  T* p = grad1 + i * C;
  const T inv_n = T(1.0 / double(N)), off = T(sm / double(C)), hit = T(1.0 - sm);
  T m = T(-CUDART_INF);
  for (int64_t c = 0; c < C; ++c) m = m < x[c] ? x[c] : m;
  double se = 0, sx = 0;
  for (int64_t c = 0; c < C; ++c) {
    const T ev = std::exp(x[c] - m);
    p[c] = ev;
    se += double(ev);
    sx += double(x[c]);
  }
  const double lse = double(m) + ::log(se);
  const T inv = T(1.0 / se);
  for (int64_t c = 0; c < C; ++c) p[c] = fma(p[c], inv, -off) * inv_n;  // as the CPU kernel
  const int64_t l = labels[i];
  if (l >= 0 && l < C) p[l] -= hit * inv_n;
  if (l < 0 || l >= C) {
    if (atomicCAS(err.claim, 0ull, 1ull) == 0ull) {
      err.record->site = site;
      err.record->value = l;
      err.record->row = i;
      err.record->classes = C;
      __threadfence_system();
      err.record->flag = 1;
    }
    return CUDART_NAN;
  }
  return (1.0 - sm) * (lse - double(x[l])) + sm * (lse - sx / double(C));
}

// One thread per row: row_loss[i] (ce_mean_kernel averages them).
template <class T>
__global__ void ce_rows_kernel(int64_t N, int64_t C, double sm, const T* logits,
                               const int64_t* labels, T* grad1, double* row_loss,
                               DeviceErrorSlot err, int64_t site) {
  NG_GRID_STRIDE(i, N) row_loss[i] = ce_row(i, N, C, sm, logits, labels, grad1, err, site);
}

// One block: loss = sum(row_loss) / N.
template <class T>
__global__ void ce_mean_kernel(int64_t N, const double* row_loss, T* loss) {
  double acc = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x) acc += row_loss[i];
  acc = block_sum(acc);
  if (threadIdx.x == 0) *loss = T(acc / double(N));
}

// Small problems in one launch: one block computes the rows and their mean, each thread adding
// the same rows in the same order as ce_mean_kernel does, so the loss is bit for bit that of
// the two-kernel path.
template <class T>
__global__ void ce_small_kernel(int64_t N, int64_t C, double sm, const T* logits,
                                const int64_t* labels, T* grad1, T* loss, DeviceErrorSlot err,
                                int64_t site) {
  double acc = 0;
  for (int64_t i = threadIdx.x; i < N; i += blockDim.x)
    acc += ce_row(i, N, C, sm, logits, labels, grad1, err, site);
  acc = block_sum(acc);
  if (threadIdx.x == 0) *loss = T(acc / double(N));
}

// At most this many logits go through ce_small_kernel (one block: 256 threads, a few rows
// each); larger batches or class counts spread the rows over the GPU first.
constexpr int64_t kCeSmallElems = int64_t(1) << 16;

void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double s, Tensor& loss,
                           Tensor& grad1, const std::string& who) {
  const int64_t N = logits.size(0), C = logits.size(1);
  const DeviceErrorSlot err = device_error_slot();
  const int64_t site = error_site(who);
  dispatch_floating(logits.dtype(), "cross_entropy", [&]<class T>() {
    if (N * C <= kCeSmallElems) {
      ce_small_kernel<T><<<1, kThreads, 0, stream()>>>(N, C, s, logits.data<T>(),
                                                       labels.data<int64_t>(), grad1.data<T>(),
                                                       loss.data<T>(), err, site);
      NG_CUDA_CHECK_LAUNCH("ce_small_kernel");
      return;
    }
    DeviceBuffer rows(size_t(N) * sizeof(double));
    ce_rows_kernel<T>
        <<<grid_for(N), kThreads, 0, stream()>>>(N, C, s, logits.data<T>(), labels.data<int64_t>(),
                                                 grad1.data<T>(), rows.as<double>(), err, site);
    NG_CUDA_CHECK_LAUNCH("ce_rows_kernel");
    ce_mean_kernel<T><<<1, kThreads, 0, stream()>>>(N, rows.as<double>(), loss.data<T>());
    NG_CUDA_CHECK_LAUNCH("ce_mean_kernel");
  });
}

}  // namespace

void register_softmax() {
  softmax_forward_kernel.set(DeviceType::CUDA, &softmax_forward);
  softmax_backward_kernel.set(DeviceType::CUDA, &softmax_backward);
  cross_entropy_forward_kernel.set(DeviceType::CUDA, &cross_entropy_forward);
}

}  // namespace ng::cuda
