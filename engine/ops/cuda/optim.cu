// CUDA kernels for the fused optimiser updates (ops/optim.h) and gradient clipping, one pass over
// each parameter, with the arithmetic of ops/cpu/optim_cpu.cpp: scalars are cast to the tensor
// type on the host, as PyTorch does. The sum of squares is reduced in double over fixed blocks,
// then the block sums in order, so it does not change between runs.
#include <cmath>

#include "engine/ops/cuda/kernels.cuh"
#include "engine/ops/optim.h"

namespace ng::cuda {
namespace {

__device__ __forceinline__ float d_sqrt(float x) {
  return sqrtf(x);
}
__device__ __forceinline__ double d_sqrt(double x) {
  return ::sqrt(x);
}

// ---------------------------------------------------------------- SGD

template <class T>
struct SgdConsts {
  T lr, wd, mom, keep;  // keep = 1 - dampening
  bool init, use_wd, use_mom, nesterov;
};

template <class T>
__global__ void sgd_k(int64_t n, SgdConsts<T> c, T* p, const T* g, T* buf) {
  NG_GRID_STRIDE(i, n) {
    T d = g[i];
    if (c.use_wd) d += c.wd * p[i];
    if (c.use_mom) {
      const T m = c.init ? d : c.mom * buf[i] + c.keep * d;
      buf[i] = m;
      d = c.nesterov ? d + c.mom * m : m;
    }
    p[i] -= c.lr * d;
  }
}

void sgd_step(const SgdHyper& h, bool init, Tensor& param, const Tensor& grad, Tensor& buf) {
  const int64_t n = param.numel();
  if (n == 0) return;
  dispatch_floating(param.dtype(), "SGD", [&]<class T>() {
    const bool mom = h.momentum != 0.0;
    SgdConsts<T> c{T(h.lr), T(h.weight_decay),     T(h.momentum), T(1.0 - h.dampening),
                   init,    h.weight_decay != 0.0, mom,           h.nesterov};
    sgd_k<T><<<grid_for(n), kThreads, 0, stream()>>>(n, c, param.data<T>(), grad.data<T>(),
                                                     mom ? buf.data<T>() : nullptr);
    NG_CUDA_CHECK_LAUNCH("sgd_k");
  });
}

// ---------------------------------------------------------------- Adam / AdamW

template <class T>
struct AdamConsts {
  T step_size, bc2_sqrt, wd, decay, w1, b2, w2, eps;
  bool l2, decoupled;
};

template <class T>
__global__ void adam_k(int64_t n, AdamConsts<T> c, T* p, const T* g, T* m, T* v) {
  NG_GRID_STRIDE(i, n) {
    T pi = p[i], gi = g[i];
    if (c.decoupled) pi *= c.decay;
    if (c.l2) gi += c.wd * pi;
    const T mi = m[i] + c.w1 * (gi - m[i]);
    const T vi = c.b2 * v[i] + c.w2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - c.step_size * (mi / (d_sqrt(vi) / c.bc2_sqrt + c.eps));
  }
}

void adam_step(const AdamHyper& h, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v) {
  const int64_t n = param.numel();
  if (n == 0) return;
  dispatch_floating(param.dtype(), "Adam", [&]<class T>() {
    const double bc1 = 1.0 - std::pow(h.beta1, double(h.step));
    const double bc2 = 1.0 - std::pow(h.beta2, double(h.step));
    const bool wd = h.weight_decay != 0.0;
    AdamConsts<T> c{T(h.lr / bc1),
                    T(std::sqrt(bc2)),
                    T(h.weight_decay),
                    T(1.0 - h.lr * h.weight_decay),
                    T(1.0 - h.beta1),
                    T(h.beta2),
                    T(1.0 - h.beta2),
                    T(h.eps),
                    wd && !h.decoupled_weight_decay,
                    wd && h.decoupled_weight_decay};
    adam_k<T><<<grid_for(n), kThreads, 0, stream()>>>(n, c, param.data<T>(), grad.data<T>(),
                                                      m.data<T>(), v.data<T>());
    NG_CUDA_CHECK_LAUNCH("adam_k");
  });
}

// ---------------------------------------------------------------- RMSprop

template <class T>
struct RmspropConsts {
  T lr, wd, a, w, eps, mom;  // w = 1 - alpha
  bool use_wd, centered, use_mom;
};

template <class T>
__global__ void rmsprop_k(int64_t n, RmspropConsts<T> c, T* p, const T* g, T* sq, T* ga, T* buf) {
  NG_GRID_STRIDE(i, n) {
    T gi = g[i];
    if (c.use_wd) gi += c.wd * p[i];
    const T s = c.a * sq[i] + c.w * gi * gi;
    sq[i] = s;
    T avg;
    if (c.centered) {
      const T ci = ga[i] + c.w * (gi - ga[i]);
      ga[i] = ci;
      avg = d_sqrt(s - ci * ci) + c.eps;
    } else {
      avg = d_sqrt(s) + c.eps;
    }
    if (c.use_mom) {
      const T mo = c.mom * buf[i] + gi / avg;
      buf[i] = mo;
      p[i] -= c.lr * mo;
    } else {
      p[i] -= c.lr * (gi / avg);
    }
  }
}

void rmsprop_step(const RmspropHyper& h, Tensor& param, const Tensor& grad, Tensor& sq, Tensor& ga,
                  Tensor& buf) {
  const int64_t n = param.numel();
  if (n == 0) return;
  dispatch_floating(param.dtype(), "RMSprop", [&]<class T>() {
    const bool mom = h.momentum > 0.0;
    RmspropConsts<T> c{T(h.lr),
                       T(h.weight_decay),
                       T(h.alpha),
                       T(1.0 - h.alpha),
                       T(h.eps),
                       T(h.momentum),
                       h.weight_decay != 0.0,
                       h.centered,
                       mom};
    rmsprop_k<T><<<grid_for(n), kThreads, 0, stream()>>>(
        n, c, param.data<T>(), grad.data<T>(), sq.data<T>(), h.centered ? ga.data<T>() : nullptr,
        mom ? buf.data<T>() : nullptr);
    NG_CUDA_CHECK_LAUNCH("rmsprop_k");
  });
}

// ---------------------------------------------------------------- clipping

constexpr int64_t kChunk = 16384;  // elements per block of the sum of squares

// Block b sums x*x over [b * kChunk, (b + 1) * kChunk) in double.
template <class T>
__global__ void sum_squares_blocks_k(int64_t n, const T* x, double* part) {
  const int64_t lo = int64_t(blockIdx.x) * kChunk, hi = min(n, lo + kChunk);
  double acc = 0;
  for (int64_t i = lo + threadIdx.x; i < hi; i += blockDim.x) acc += double(x[i]) * double(x[i]);
  acc = block_sum(acc);
  if (threadIdx.x == 0) part[blockIdx.x] = acc;
}

// One thread adds the block sums in order.
__global__ void sum_parts_k(int64_t nb, const double* part, double* out) {
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    double s = 0;
    for (int64_t b = 0; b < nb; ++b) s += part[b];
    *out = s;
  }
}

double sum_squares(const Tensor& x) {
  const int64_t n = x.numel();
  if (n == 0) return 0.0;
  const int64_t nb = (n + kChunk - 1) / kChunk;
  NG_CHECK(nb <= INT32_MAX, "sum of squares on cuda: tensor of ", n, " elements is too large");
  DeviceBuffer part(size_t(nb + 1) * sizeof(double));  // [block sums..., total]
  dispatch_floating(x.dtype(), "clip_grad_norm", [&]<class T>() {
    sum_squares_blocks_k<T>
        <<<unsigned(nb), kThreads, 0, stream()>>>(n, x.data<T>(), part.as<double>());
    NG_CUDA_CHECK_LAUNCH("sum_squares_blocks_k");
  });
  sum_parts_k<<<1, 1, 0, stream()>>>(nb, part.as<double>(), part.as<double>() + nb);
  NG_CUDA_CHECK_LAUNCH("sum_parts_k");
  double total = 0;
  NG_CUDA_CHECK(cudaMemcpyAsync(&total, part.as<double>() + nb, sizeof(double),
                                cudaMemcpyDeviceToHost, stream()));
  NG_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return total;
}

template <class T>
__global__ void scale_k(int64_t n, T s, T* x) {
  NG_GRID_STRIDE(i, n) x[i] *= s;
}

void scale(Tensor& x, double s) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dispatch_floating(x.dtype(), "clip_grad_norm", [&]<class T>() {
    scale_k<T><<<grid_for(n), kThreads, 0, stream()>>>(n, T(s), x.data<T>());
    NG_CUDA_CHECK_LAUNCH("scale_k");
  });
}

}  // namespace

void register_optim() {
  sgd_step_kernel.set(DeviceType::CUDA, &sgd_step);
  adam_step_kernel.set(DeviceType::CUDA, &adam_step);
  rmsprop_step_kernel.set(DeviceType::CUDA, &rmsprop_step);
  sum_squares_kernel.set(DeviceType::CUDA, &sum_squares);
  scale_kernel.set(DeviceType::CUDA, &scale);
}

}  // namespace ng::cuda
