// CPU kernels for softmax / log-softmax and the fused cross-entropy.
//
// Softmax sees x as [outer, C, inner] with the axis in the middle. With inner == 1 (the last
// axis) each row of C is contiguous and handled alone; otherwise a task takes a tile of up to
// kTile inner positions and sweeps the C rows of that tile, so every loop is unit-stride.
// Every softmax subtracts the maximum first, so any logit scale is safe.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "engine/core/parallel.h"
#include "engine/ops/cpu/cpu_kernels.h"
#include "engine/ops/softmax.h"

namespace ng::cpu {
namespace {

constexpr int64_t kTile = 256;

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

// One contiguous row of C values: y = softmax(x) or log_softmax(x).
template <class T>
inline void softmax_row(const T* x, T* y, int64_t C, bool log) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t c = 0; c < C; ++c) m = std::max(m, x[c]);
  if (log) {
    T s = 0;
    for (int64_t c = 0; c < C; ++c) s += std::exp(x[c] - m);
    const T ls = std::log(s);  // (x - m) - log(s) keeps the precision that x - lse loses
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) y[c] = (x[c] - m) - ls;
  } else {
    T s = 0;
    for (int64_t c = 0; c < C; ++c) {
      T e = std::exp(x[c] - m);
      y[c] = e;
      s += e;
    }
    const T inv = T(1) / s;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) y[c] *= inv;
  }
}

template <class T>
void softmax_forward_t(const Tensor& x, int64_t axis, bool log, Tensor& y) {
  const Layout L = layout_of(x.shape(), axis);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  if (L.C == 0 || x.numel() == 0) return;
  if (L.inner == 1) {
    parallel_for(0, L.outer, std::max<int64_t>(1, 8192 / L.C), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) softmax_row(px + r * L.C, py + r * L.C, L.C, log);
    });
    return;
  }
  const int64_t tiles = (L.inner + kTile - 1) / kTile;
  parallel_for(
      0, L.outer * tiles, std::max<int64_t>(1, 8192 / (L.C * kTile)), [&](int64_t b, int64_t e) {
        T mx[kTile], sm[kTile];
        for (int64_t task = b; task < e; ++task) {
          const int64_t o = task / tiles, i0 = (task % tiles) * kTile;
          const int64_t w = std::min(kTile, L.inner - i0);
          const T* xb = px + o * L.C * L.inner + i0;  // x[o, c, i0 + j] = xb[c * inner + j]
          T* yb = py + o * L.C * L.inner + i0;
          std::fill(mx, mx + w, -std::numeric_limits<T>::infinity());
          std::fill(sm, sm + w, T(0));
          for (int64_t c = 0; c < L.C; ++c)
            for (int64_t j = 0; j < w; ++j) mx[j] = std::max(mx[j], xb[c * L.inner + j]);
          for (int64_t c = 0; c < L.C; ++c)
            for (int64_t j = 0; j < w; ++j) {
              T ev = std::exp(xb[c * L.inner + j] - mx[j]);
              sm[j] += ev;
              if (!log) yb[c * L.inner + j] = ev;
            }
          if (log) {
            for (int64_t j = 0; j < w; ++j) sm[j] = std::log(sm[j]);
            for (int64_t c = 0; c < L.C; ++c)
              for (int64_t j = 0; j < w; ++j)
                yb[c * L.inner + j] = (xb[c * L.inner + j] - mx[j]) - sm[j];
          } else {
            for (int64_t j = 0; j < w; ++j) sm[j] = T(1) / sm[j];
            for (int64_t c = 0; c < L.C; ++c)
              for (int64_t j = 0; j < w; ++j) yb[c * L.inner + j] *= sm[j];
          }
        }
      });
}

// softmax: gx = y * (gy - sum_c(gy * y)); log-softmax: gx = gy - exp(y) * sum_c(gy).
template <class T>
void softmax_backward_t(const Tensor& y, const Tensor& gy, int64_t axis, bool log, Tensor& gx) {
  const Layout L = layout_of(y.shape(), axis);
  const T* py = y.data<T>();
  const T* pg = gy.data<T>();
  T* po = gx.data<T>();
  if (L.C == 0 || y.numel() == 0) return;
  if (L.inner == 1) {
    parallel_for(0, L.outer, std::max<int64_t>(1, 8192 / L.C), [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) {
        const T* yr = py + r * L.C;
        const T* gr = pg + r * L.C;
        T* out = po + r * L.C;
        T s = 0;
        if (log) {
#pragma omp simd reduction(+ : s)
          for (int64_t c = 0; c < L.C; ++c) s += gr[c];
          for (int64_t c = 0; c < L.C; ++c) out[c] = gr[c] - std::exp(yr[c]) * s;
        } else {
#pragma omp simd reduction(+ : s)
          for (int64_t c = 0; c < L.C; ++c) s += gr[c] * yr[c];
#pragma omp simd
          for (int64_t c = 0; c < L.C; ++c) out[c] = yr[c] * (gr[c] - s);
        }
      }
    });
    return;
  }
  const int64_t tiles = (L.inner + kTile - 1) / kTile;
  parallel_for(
      0, L.outer * tiles, std::max<int64_t>(1, 8192 / (L.C * kTile)), [&](int64_t b, int64_t e) {
        T sm[kTile];
        for (int64_t task = b; task < e; ++task) {
          const int64_t o = task / tiles, i0 = (task % tiles) * kTile;
          const int64_t w = std::min(kTile, L.inner - i0);
          const int64_t base = o * L.C * L.inner + i0;
          const T *yb = py + base, *gb = pg + base;
          T* ob = po + base;
          std::fill(sm, sm + w, T(0));
          for (int64_t c = 0; c < L.C; ++c)
            for (int64_t j = 0; j < w; ++j)
              sm[j] += log ? gb[c * L.inner + j] : gb[c * L.inner + j] * yb[c * L.inner + j];
          for (int64_t c = 0; c < L.C; ++c)
            for (int64_t j = 0; j < w; ++j) {
              const int64_t k = c * L.inner + j;
              ob[k] = log ? gb[k] - std::exp(yb[k]) * sm[j] : yb[k] * (gb[k] - sm[j]);
            }
        }
      });
}

// Per row i with label l and s = smoothing: lse = log-sum-exp(x_i),
//   loss_i = (1 - s) * (lse - x_il) + s * (lse - mean_c x_ic),   probs_i = exp(x_i - lse).
// Row losses go to a buffer and are summed in row order, so the result is independent of the
// thread count.
template <class T>
void cross_entropy_forward_t(const Tensor& logits, const Tensor& labels, double s, Tensor& loss,
                             Tensor& grad1, const std::string& who) {
  const int64_t N = logits.size(0), C = logits.size(1);
  const T* px = logits.data<T>();
  const int64_t* pl = labels.data<int64_t>();
  for (int64_t i = 0; i < N; ++i)
    if (pl[i] < 0 || pl[i] >= C)
      throw ValueError(detail::concat(who, ": label ", pl[i], " in row ", i,
                                      " is out of range for ", C, " classes (expected 0 to ", C - 1,
                                      ")"));
  T* pp = grad1.data<T>();
  // grad1 = (probs - target) / N with target = (1 - s) * one_hot + s / C; probs - s / C as one
  // fused multiply-add, on the GPU too, so both round alike whatever the compiler contracts.
  const T inv_n = T(1.0 / double(N)), off = T(s / double(C)), hit = T(1.0 - s);
  std::vector<double> row_loss(N);
  parallel_for(0, N, std::max<int64_t>(1, 8192 / std::max<int64_t>(1, C)),
               [&](int64_t b, int64_t e) {
                 for (int64_t i = b; i < e; ++i) {
                   const T* x = px + i * C;
                   T* p = pp + i * C;
                   T m = -std::numeric_limits<T>::infinity();
                   for (int64_t c = 0; c < C; ++c) m = std::max(m, x[c]);
                   double se = 0, sx = 0;
                   for (int64_t c = 0; c < C; ++c) {
                     T ev = std::exp(x[c] - m);
                     p[c] = ev;
                     se += double(ev);
                     sx += double(x[c]);
                   }
                   const double lse = double(m) + std::log(se);
                   const T inv = T(1.0 / se);
#pragma omp simd
                   for (int64_t c = 0; c < C; ++c) p[c] = std::fma(p[c], inv, -off) * inv_n;
                   p[pl[i]] -= hit * inv_n;
                   row_loss[i] = (1.0 - s) * (lse - double(x[pl[i]])) + s * (lse - sx / double(C));
                 }
               });
  double total = 0;
  for (int64_t i = 0; i < N; ++i) total += row_loss[i];
  *loss.data<T>() = T(total / double(N));
}

void softmax_forward(const Tensor& x, int64_t axis, bool log, Tensor& y) {
  if (x.dtype() == DType::Float32) return softmax_forward_t<float>(x, axis, log, y);
  if (x.dtype() == DType::Float64) return softmax_forward_t<double>(x, axis, log, y);
  throw Error(std::string("softmax: unsupported dtype ") + dtype_name(x.dtype()));
}
void softmax_backward(const Tensor& y, const Tensor& gy, int64_t axis, bool log, Tensor& gx) {
  if (y.dtype() == DType::Float32) return softmax_backward_t<float>(y, gy, axis, log, gx);
  if (y.dtype() == DType::Float64) return softmax_backward_t<double>(y, gy, axis, log, gx);
  throw Error(std::string("softmax backward: unsupported dtype ") + dtype_name(y.dtype()));
}
void cross_entropy_forward(const Tensor& logits, const Tensor& labels, double s, Tensor& loss,
                           Tensor& grad1, const std::string& who) {
  if (logits.dtype() == DType::Float32)
    return cross_entropy_forward_t<float>(logits, labels, s, loss, grad1, who);
  if (logits.dtype() == DType::Float64)
    return cross_entropy_forward_t<double>(logits, labels, s, loss, grad1, who);
  throw Error(std::string("cross_entropy: unsupported dtype ") + dtype_name(logits.dtype()));
}
}  // namespace

void register_softmax() {
  softmax_forward_kernel.set(DeviceType::CPU, &softmax_forward);
  softmax_backward_kernel.set(DeviceType::CPU, &softmax_backward);
  cross_entropy_forward_kernel.set(DeviceType::CPU, &cross_entropy_forward);
}

}  // namespace ng::cpu
