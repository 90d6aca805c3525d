// CPU kernels for batch norm and layer norm (dropout is composed from Rng and Mul in norm.cpp).
//
// Batch norm sees x as [N, C, S]. Per-channel sums run in parallel over channels; for S > 1 each
// (n, c) row of S values is summed with `omp simd` partial sums in T and added into a double
// accumulator, so float32 sums stay accurate over large batches. The variance is taken about a
// per-channel shift (the channel's first value), which avoids cancellation in one pass.
// For S == 1 ([N, C] input) channels are contiguous, so the loops run over n outside and a
// vectorised block of channels inside.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <vector>

#include "engine/core/parallel.h"
#include "engine/ops/cpu/cpu_kernels.h"
#include "engine/ops/norm.h"

namespace ng::cpu {
namespace {

constexpr int64_t kChunk = 1024;  // values summed in T before being added to a double

// sum(p[i] - k) and sum((p[i] - k)^2) over n contiguous values.
template <class T>
inline void shifted_sums(const T* p, int64_t n, T k, double& s1, double& s2) {
  for (int64_t b = 0; b < n; b += kChunk) {
    int64_t e = std::min(n, b + kChunk);
    T a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a1, a2)
    for (int64_t i = b; i < e; ++i) {
      T d = p[i] - k;
      a1 += d;
      a2 += d * d;
    }
    s1 += double(a1);
    s2 += double(a2);
  }
}

// sum(g[i]) and sum(g[i] * (x[i] - m)) over n contiguous values.
template <class T>
inline void grad_sums(const T* g, const T* x, int64_t n, T m, double& sg, double& sgx) {
  for (int64_t b = 0; b < n; b += kChunk) {
    int64_t e = std::min(n, b + kChunk);
    T a1 = 0, a2 = 0;
#pragma omp simd reduction(+ : a1, a2)
    for (int64_t i = b; i < e; ++i) {
      a1 += g[i];
      a2 += g[i] * (x[i] - m);
    }
    sg += double(a1);
    sgx += double(a2);
  }
}

// Channels per task so that a task touches at least ~32K values.
inline int64_t channel_grain(int64_t per_channel) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, per_channel));
}

template <class T>
void batch_norm_forward_t(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          Tensor& running_mean, Tensor& running_var, Mode mode, double momentum,
                          double eps, Tensor& y, Tensor& mean_t, Tensor& invstd_t) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / std::max<int64_t>(1, N * C);
  const int64_t M = N * S;
  const T* px = x.data<T>();
  T* py = y.data<T>();
  const T* pg = gamma.defined() ? gamma.data<T>() : nullptr;
  const T* pb = beta.defined() ? beta.data<T>() : nullptr;
  T* prm = running_mean.defined() ? running_mean.data<T>() : nullptr;
  T* prv = running_var.defined() ? running_var.data<T>() : nullptr;
  T* pmean = mean_t.data<T>();
  T* pinv = invstd_t.data<T>();
  const bool train = mode == Mode::Train;

  // Per channel c in [c0, c1): statistics (train) and y = (x - mean) * scale + beta, with
  // scale = gamma * invstd. NOTE [Batch-norm apply]: the centring comes first. The form
  // x * scale + shift (shift = beta - mean * scale) rounds shift at the magnitude of
  // mean * scale, which offsets a channel far from zero (1000 +- 1) by ~2.6e-4 of its spread,
  // and without a fused multiply-add rounds every x * scale there too; x - mean is exact for
  // values near the mean, so what remains is the float mean's own rounding (~7e-5 there; none
  // for an exact running mean), the same for every value of the channel. The GPU kernels
  // (ops/cuda/norm.cu) compute the same, with one fused multiply-add.
  auto stats = [&](int64_t c, double s1, double s2, T k) {
    // s1 = sum(x - k), s2 = sum((x - k)^2) over M values.
    double dm = s1 / double(M);
    double var = std::max(0.0, s2 / double(M) - dm * dm);  // biased
    double mu = double(k) + dm;
    pmean[c] = T(mu);
    pinv[c] = T(1.0 / std::sqrt(var + eps));
    if (prm) {
      double unbiased = M > 1 ? var * double(M) / double(M - 1) : var;
      prm[c] = T((1.0 - momentum) * double(prm[c]) + momentum * mu);
      prv[c] = T((1.0 - momentum) * double(prv[c]) + momentum * unbiased);
    }
  };
  auto coefficients = [&](int64_t c, T& m, T& sc, T& b) {
    double inv;
    if (train) {
      m = pmean[c];
      inv = double(pinv[c]);
    } else {
      m = prm[c];
      inv = 1.0 / std::sqrt(double(prv[c]) + eps);
    }
    sc = T(inv * (pg ? double(pg[c]) : 1.0));
    b = pb ? pb[c] : T(0);
  };

  if (S == 1) {
    // x: [N, C]; a task owns channels [c0, c1) and walks rows n.
    parallel_for(0, C, channel_grain(N), [&](int64_t c0, int64_t c1) {
      const int64_t w = c1 - c0;
      std::vector<T> m(w), sc(w), b(w);
      if (train) {
        std::vector<double> s1(w, 0.0), s2(w, 0.0);
        std::vector<T> k(px + c0, px + c1);  // shift: the first row
        for (int64_t n = 0; n < N; ++n) {
          const T* row = px + n * C + c0;
          for (int64_t j = 0; j < w; ++j) {
            double d = double(row[j] - k[j]);
            s1[j] += d;
            s2[j] += d * d;
          }
        }
        for (int64_t j = 0; j < w; ++j) stats(c0 + j, s1[j], s2[j], k[j]);
      }
      for (int64_t j = 0; j < w; ++j) coefficients(c0 + j, m[j], sc[j], b[j]);
      for (int64_t n = 0; n < N; ++n) {
        const T* row = px + n * C + c0;
        T* out = py + n * C + c0;
        for (int64_t j = 0; j < w; ++j) out[j] = (row[j] - m[j]) * sc[j] + b[j];
      }
    });
    return;
  }

  // x: [N, C, S]; a task owns channels [c0, c1), each a set of N contiguous rows of S.
  parallel_for(0, C, channel_grain(M), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      if (train) {
        double s1 = 0, s2 = 0;
        T k = px[c * S];
        for (int64_t n = 0; n < N; ++n) shifted_sums(px + (n * C + c) * S, S, k, s1, s2);
        stats(c, s1, s2, k);
      }
      T m, sc, b;
      coefficients(c, m, sc, b);
      for (int64_t n = 0; n < N; ++n) {
        const T* row = px + (n * C + c) * S;
        T* out = py + (n * C + c) * S;
#pragma omp simd
        for (int64_t i = 0; i < S; ++i) out[i] = (row[i] - m) * sc + b;
      }
    }
  });
}

// Train-mode backward. With xhat = (x - mean) * invstd and M = N * S values per channel:
//   gbeta = sum(gy), ggamma = sum(gy * xhat),
//   gx = gamma * invstd * (gy - gbeta / M - xhat * ggamma / M).
template <class T>
void batch_norm_backward_t(const Tensor& gy, const Tensor& x, const Tensor& gamma,
                           const Tensor& mean_t, const Tensor& invstd_t, Tensor& gx, Tensor& ggamma,
                           Tensor& gbeta) {
  const int64_t N = x.size(0), C = x.size(1), S = x.numel() / std::max<int64_t>(1, N * C);
  const int64_t M = N * S;
  const T* px = x.data<T>();
  const T* pgy = gy.data<T>();
  const T* pg = gamma.defined() ? gamma.data<T>() : nullptr;
  const T* pmean = mean_t.data<T>();
  const T* pinv = invstd_t.data<T>();
  T* pgx = gx.defined() ? gx.data<T>() : nullptr;
  T* pgg = ggamma.defined() ? ggamma.data<T>() : nullptr;
  T* pgb = gbeta.defined() ? gbeta.data<T>() : nullptr;

  // From sg = sum(gy), sgx = sum(gy * (x - mean)): parameter grads and the gx coefficients
  //   gx = a * gy + b * (x - mean) + d.
  auto coeffs = [&](int64_t c, double sg, double sgx, T& a, T& b, T& d) {
    double inv = double(pinv[c]);
    if (pgb) pgb[c] = T(sg);
    if (pgg) pgg[c] = T(sgx * inv);
    double ga = (pg ? double(pg[c]) : 1.0) * inv;
    a = T(ga);
    b = T(-ga * inv * inv * sgx / double(M));
    d = T(-ga * sg / double(M));
  };

  if (S == 1) {
    parallel_for(0, C, channel_grain(N), [&](int64_t c0, int64_t c1) {
      const int64_t w = c1 - c0;
      std::vector<double> sg(w, 0.0), sgx(w, 0.0);
      for (int64_t n = 0; n < N; ++n) {
        const T* row = px + n * C + c0;
        const T* grow = pgy + n * C + c0;
        for (int64_t j = 0; j < w; ++j) {
          sg[j] += double(grow[j]);
          sgx[j] += double(grow[j]) * double(row[j] - pmean[c0 + j]);
        }
      }
      std::vector<T> a(w), b(w), d(w);
      for (int64_t j = 0; j < w; ++j) coeffs(c0 + j, sg[j], sgx[j], a[j], b[j], d[j]);
      if (!pgx) return;
      const T* m = pmean + c0;
      for (int64_t n = 0; n < N; ++n) {
        const T* row = px + n * C + c0;
        const T* grow = pgy + n * C + c0;
        T* out = pgx + n * C + c0;
        for (int64_t j = 0; j < w; ++j) out[j] = a[j] * grow[j] + b[j] * (row[j] - m[j]) + d[j];
      }
    });
    return;
  }

  parallel_for(0, C, channel_grain(M), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const T m = pmean[c];
      double sg = 0, sgx = 0;
      for (int64_t n = 0; n < N; ++n) {
        int64_t o = (n * C + c) * S;
        grad_sums(pgy + o, px + o, S, m, sg, sgx);
      }
      T a, b, d;
      coeffs(c, sg, sgx, a, b, d);
      if (!pgx) continue;
      for (int64_t n = 0; n < N; ++n) {
        int64_t o = (n * C + c) * S;
        const T* row = px + o;
        const T* grow = pgy + o;
        T* out = pgx + o;
#pragma omp simd
        for (int64_t i = 0; i < S; ++i) out[i] = a * grow[i] + b * (row[i] - m) + d;
      }
    }
  });
}

// Layer norm over rows of D values (x: [M, D]); each row is in cache, so the statistics are
// two-pass (mean, then centred variance).
template <class T>
void layer_norm_forward_t(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                          Tensor& y, Tensor& mean_t, Tensor& invstd_t) {
  const int64_t M = mean_t.numel(), D = M ? x.numel() / M : 0;
  const T* px = x.data<T>();
  T* py = y.data<T>();
  const T* pg = gamma.defined() ? gamma.data<T>() : nullptr;
  const T* pb = beta.defined() ? beta.data<T>() : nullptr;
  T* pmean = mean_t.data<T>();
  T* pinv = invstd_t.data<T>();
  parallel_for(0, M, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, D)),
               [&](int64_t r0, int64_t r1) {
                 for (int64_t r = r0; r < r1; ++r) {
                   const T* row = px + r * D;
                   T* out = py + r * D;
                   double s = 0;
                   for (int64_t b = 0; b < D; b += kChunk) {
                     int64_t e = std::min(D, b + kChunk);
                     T a = 0;
#pragma omp simd reduction(+ : a)
                     for (int64_t i = b; i < e; ++i) a += row[i];
                     s += double(a);
                   }
                   const T mu = T(s / double(D));
                   double d1 = 0, d2 = 0;  // about the rounded mean: d1 is the rounding residue
                   shifted_sums(row, D, mu, d1, d2);
                   const double dm = d1 / double(D);
                   const T inv = T(1.0 / std::sqrt(std::max(0.0, d2 / double(D) - dm * dm) + eps));
                   pmean[r] = mu;
                   pinv[r] = inv;
                   if (pg && pb) {
#pragma omp simd
                     for (int64_t i = 0; i < D; ++i) out[i] = (row[i] - mu) * inv * pg[i] + pb[i];
                   } else if (pg) {
#pragma omp simd
                     for (int64_t i = 0; i < D; ++i) out[i] = (row[i] - mu) * inv * pg[i];
                   } else if (pb) {
#pragma omp simd
                     for (int64_t i = 0; i < D; ++i) out[i] = (row[i] - mu) * inv + pb[i];
                   } else {
#pragma omp simd
                     for (int64_t i = 0; i < D; ++i) out[i] = (row[i] - mu) * inv;
                   }
                 }
               });
}

// With xhat = (x - mean) * invstd and h = gy * gamma, per row:
//   gx = invstd * (h - mean(h) - xhat * mean(h * xhat));
// ggamma = sum over rows of gy * xhat, gbeta = sum over rows of gy (per-task partials, merged).
template <class T>
void layer_norm_backward_t(const Tensor& gy, const Tensor& x, const Tensor& gamma,
                           const Tensor& mean_t, const Tensor& invstd_t, Tensor& gx, Tensor& ggamma,
                           Tensor& gbeta) {
  const int64_t M = mean_t.numel(), D = M ? x.numel() / M : 0;
  const T* px = x.data<T>();
  const T* pgy = gy.data<T>();
  const T* pg = gamma.defined() ? gamma.data<T>() : nullptr;
  const T* pmean = mean_t.data<T>();
  const T* pinv = invstd_t.data<T>();
  T* pgx = gx.defined() ? gx.data<T>() : nullptr;
  T* pgg = ggamma.defined() ? ggamma.data<T>() : nullptr;
  T* pgb = gbeta.defined() ? gbeta.data<T>() : nullptr;
  // Per-task partial sums of ggamma / gbeta, keyed by the task's first row and merged in row
  // order afterwards, so the result does not depend on which thread finishes first.
  struct Partial {
    int64_t r0;
    std::vector<double> g, b;
  };
  std::vector<Partial> partials;
  std::mutex merge;
  parallel_for(0, M, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, D)),
               [&](int64_t r0, int64_t r1) {
                 std::vector<double> lg(pgg ? D : 0, 0.0), lb(pgb ? D : 0, 0.0);
                 std::vector<T> xhat(D), h(D);
                 for (int64_t r = r0; r < r1; ++r) {
                   const T* row = px + r * D;
                   const T* grow = pgy + r * D;
                   const T mu = pmean[r], inv = pinv[r];
                   for (int64_t i = 0; i < D; ++i) xhat[i] = (row[i] - mu) * inv;
                   if (pgg)
                     for (int64_t i = 0; i < D; ++i) lg[i] += double(grow[i] * xhat[i]);
                   if (pgb)
                     for (int64_t i = 0; i < D; ++i) lb[i] += double(grow[i]);
                   if (!pgx) continue;
                   if (pg) {
                     for (int64_t i = 0; i < D; ++i) h[i] = grow[i] * pg[i];
                   } else {
                     std::copy(grow, grow + D, h.begin());
                   }
                   T s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
                   for (int64_t i = 0; i < D; ++i) {
                     s1 += h[i];
                     s2 += h[i] * xhat[i];
                   }
                   const T m1 = s1 / T(D), m2 = s2 / T(D);
                   T* out = pgx + r * D;
#pragma omp simd
                   for (int64_t i = 0; i < D; ++i) out[i] = inv * (h[i] - m1 - xhat[i] * m2);
                 }
                 std::lock_guard<std::mutex> lock(merge);
                 partials.push_back({r0, std::move(lg), std::move(lb)});
               });
  std::sort(partials.begin(), partials.end(),
            [](const Partial& a, const Partial& b) { return a.r0 < b.r0; });
  std::vector<double> acc_g(pgg ? D : 0, 0.0), acc_b(pgb ? D : 0, 0.0);
  for (const Partial& p : partials) {
    for (int64_t i = 0; i < int64_t(p.g.size()); ++i) acc_g[i] += p.g[i];
    for (int64_t i = 0; i < int64_t(p.b.size()); ++i) acc_b[i] += p.b[i];
  }
  for (int64_t i = 0; pgg && i < D; ++i) pgg[i] = T(acc_g[i]);
  for (int64_t i = 0; pgb && i < D; ++i) pgb[i] = T(acc_b[i]);
}

#define NG_FLOAT_DISPATCH(name, x, ...)                                               \
  do {                                                                                \
    if ((x).dtype() == DType::Float32) return name<float>(__VA_ARGS__);               \
    if ((x).dtype() == DType::Float64) return name<double>(__VA_ARGS__);              \
    throw Error(std::string(#name ": unsupported dtype ") + dtype_name((x).dtype())); \
  } while (0)

void batch_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                        Tensor& running_mean, Tensor& running_var, Mode mode, double momentum,
                        double eps, Tensor& y, Tensor& mean, Tensor& invstd) {
  NG_FLOAT_DISPATCH(batch_norm_forward_t, x, x, gamma, beta, running_mean, running_var, mode,
                    momentum, eps, y, mean, invstd);
}
void batch_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                         const Tensor& invstd, Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  NG_FLOAT_DISPATCH(batch_norm_backward_t, x, gy, x, gamma, mean, invstd, gx, ggamma, gbeta);
}
void layer_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                        Tensor& y, Tensor& mean, Tensor& invstd) {
  NG_FLOAT_DISPATCH(layer_norm_forward_t, x, x, gamma, beta, eps, y, mean, invstd);
}
void layer_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                         const Tensor& invstd, Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  NG_FLOAT_DISPATCH(layer_norm_backward_t, x, gy, x, gamma, mean, invstd, gx, ggamma, gbeta);
}

}  // namespace

void register_norm() {
  batch_norm_forward_kernel.set(DeviceType::CPU, &batch_norm_forward);
  batch_norm_backward_kernel.set(DeviceType::CPU, &batch_norm_backward);
  layer_norm_forward_kernel.set(DeviceType::CPU, &layer_norm_forward);
  layer_norm_backward_kernel.set(DeviceType::CPU, &layer_norm_backward);
}

}  // namespace ng::cpu
