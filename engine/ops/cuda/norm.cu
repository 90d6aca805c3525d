// CUDA kernels for batch norm and layer norm, with the arithmetic of ops/cpu/norm_cpu.cpp:
// statistics accumulate in double, the batch-norm variance is taken about a per-channel shift
// (the channel's first value), layer norm is two-pass. Reductions are per-block with a
// fixed-order block sum, so results do not change between runs.
#include "engine/ops/cuda/kernels.cuh"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"

namespace ng::cuda {
namespace {

// ---------------------------------------------------------------- batch norm, x: [N, C, S]

// One block per channel: mean, invstd (and the running statistics when given).
template <class T>
__global__ void bn_stats_kernel(int64_t N, int64_t C, int64_t S, const T* x, double momentum,
                                double eps, T* mean, T* invstd, T* running_mean, T* running_var) {
  const int64_t M = N * S;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const T k = x[c * S];  // shift: the channel's first value
    double s1 = 0, s2 = 0;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
      const int64_t n = j / S, s = j % S;
      const double d = double(x[(n * C + c) * S + s] - k);
      s1 += d;
      s2 += d * d;
    }
    s1 = block_sum(s1);
    s2 = block_sum(s2);
    if (threadIdx.x == 0) {
      const double dm = s1 / double(M);
      const double var = ::fmax(0.0, s2 / double(M) - dm * dm);  // biased
      const double mu = double(k) + dm;
      mean[c] = T(mu);
      invstd[c] = T(1.0 / ::sqrt(var + eps));
      if (running_mean) {
        const double unbiased = M > 1 ? var * double(M) / double(M - 1) : var;
        running_mean[c] = T((1.0 - momentum) * double(running_mean[c]) + momentum * mu);
        running_var[c] = T((1.0 - momentum) * double(running_var[c]) + momentum * unbiased);
      }
    }
  }
}

// Per channel: y = x * scale + shift, from the batch statistics (train) or the running ones.
template <class T>
__global__ void bn_scale_shift_kernel(int64_t C, bool train, const T* mean, const T* invstd,
                                      const T* running_mean, const T* running_var, const T* gamma,
                                      const T* beta, double eps, T* scale, T* shift) {
  NG_GRID_STRIDE(c, C) {
    double mu, inv;
    if (train) {
      mu = double(mean[c]);
      inv = double(invstd[c]);
    } else {
      mu = double(running_mean[c]);
      inv = 1.0 / ::sqrt(double(running_var[c]) + eps);
    }
    const double sc = inv * (gamma ? double(gamma[c]) : 1.0);
    scale[c] = T(sc);
    shift[c] = T((beta ? double(beta[c]) : 0.0) - mu * sc);
  }
}

template <class T>
__global__ void bn_apply_kernel(int64_t n, int64_t C, int64_t S, const T* x, const T* scale,
                                const T* shift, T* y) {
  NG_GRID_STRIDE(i, n) {
    const int64_t c = (i / S) % C;
    y[i] = x[i] * scale[c] + shift[c];
  }
}

// One block per channel: sg = sum(gy), sgx = sum(gy * (x - mean)); the parameter gradients and
// the coefficients of gx = a * gy + b * (x - mean) + d  (coef: [3, C] = a, b, d).
template <class T>
__global__ void bn_backward_sums_kernel(int64_t N, int64_t C, int64_t S, const T* gy, const T* x,
                                        const T* gamma, const T* mean, const T* invstd, T* ggamma,
                                        T* gbeta, T* coef) {
  const int64_t M = N * S;
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    const T m = mean[c];
    double sg = 0, sgx = 0;
    for (int64_t j = threadIdx.x; j < M; j += blockDim.x) {
      const int64_t n = j / S, s = j % S, o = (n * C + c) * S + s;
      sg += double(gy[o]);
      sgx += double(gy[o]) * double(x[o] - m);
    }
    sg = block_sum(sg);
    sgx = block_sum(sgx);
    if (threadIdx.x == 0) {
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

template <class T>
__global__ void bn_backward_apply_kernel(int64_t n, int64_t C, int64_t S, const T* gy, const T* x,
                                         const T* mean, const T* coef, T* gx) {
  NG_GRID_STRIDE(i, n) {
    const int64_t c = (i / S) % C;
    gx[i] = coef[c] * gy[i] + coef[C + c] * (x[i] - mean[c]) + coef[2 * C + c];
  }
}

unsigned channel_blocks(int64_t C) {
  return unsigned(std::clamp<int64_t>(C, 1, 65535));
}

void batch_norm_forward(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                        Tensor& running_mean, Tensor& running_var, Mode mode, double momentum,
                        double eps, Tensor& y, Tensor& mean, Tensor& invstd) {
  const int64_t N = x.size(0), C = x.size(1), n = x.numel();
  const int64_t S = N * C != 0 ? n / (N * C) : 0;
  if (C == 0) return;
  const bool train = mode == Mode::Train;
  dispatch_floating(x.dtype(), "batch_norm", [&]<class T>() {
    T* rm = running_mean.defined() ? running_mean.data<T>() : nullptr;
    T* rv = running_var.defined() ? running_var.data<T>() : nullptr;
    if (train) {
      bn_stats_kernel<T><<<channel_blocks(C), kThreads, 0, stream()>>>(
          N, C, S, x.data<T>(), momentum, eps, mean.data<T>(), invstd.data<T>(), rm, rv);
      NG_CUDA_CHECK_LAUNCH("bn_stats_kernel");
    }
    DeviceBuffer ss(2 * size_t(C) * sizeof(T));  // [scale | shift]
    bn_scale_shift_kernel<T><<<grid_for(C), kThreads, 0, stream()>>>(
        C, train, train ? mean.data<T>() : nullptr, train ? invstd.data<T>() : nullptr, rm, rv,
        gamma.defined() ? gamma.data<T>() : nullptr, beta.defined() ? beta.data<T>() : nullptr, eps,
        ss.as<T>(), ss.as<T>() + C);
    NG_CUDA_CHECK_LAUNCH("bn_scale_shift_kernel");
    if (n == 0) return;
    bn_apply_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(n, C, S, x.data<T>(), ss.as<T>(),
                                                               ss.as<T>() + C, y.data<T>());
    NG_CUDA_CHECK_LAUNCH("bn_apply_kernel");
  });
}

void batch_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& gamma, const Tensor& mean,
                         const Tensor& invstd, Tensor& gx, Tensor& ggamma, Tensor& gbeta) {
  const int64_t N = x.size(0), C = x.size(1), n = x.numel();
  const int64_t S = N * C != 0 ? n / (N * C) : 0;
  if (C == 0) return;
  dispatch_floating(x.dtype(), "batch_norm backward", [&]<class T>() {
    DeviceBuffer coef(3 * size_t(C) * sizeof(T));  // [a | b | d]
    bn_backward_sums_kernel<T><<<channel_blocks(C), kThreads, 0, stream()>>>(
        N, C, S, gy.data<T>(), x.data<T>(), gamma.defined() ? gamma.data<T>() : nullptr,
        mean.data<T>(), invstd.data<T>(), ggamma.defined() ? ggamma.data<T>() : nullptr,
        gbeta.defined() ? gbeta.data<T>() : nullptr, coef.as<T>());
    NG_CUDA_CHECK_LAUNCH("bn_backward_sums_kernel");
    if (!gx.defined() || n == 0) return;
    bn_backward_apply_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(
        n, C, S, gy.data<T>(), x.data<T>(), mean.data<T>(), coef.as<T>(), gx.data<T>());
    NG_CUDA_CHECK_LAUNCH("bn_backward_apply_kernel");
  });
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
  layer_norm_forward_kernel.set(DeviceType::CUDA, &layer_norm_forward);
  layer_norm_backward_kernel.set(DeviceType::CUDA, &layer_norm_backward);
}

}  // namespace ng::cuda
