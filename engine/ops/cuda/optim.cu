// CUDA kernels for the fused optimiser updates (ops/optim.h) and gradient clipping, one pass over
// each parameter, with the arithmetic of ops/cpu/optim_cpu.cpp: scalars are cast to the tensor
// type on the host, as PyTorch does. The sum of squares is reduced in double over fixed blocks,
// then the block sums in order, so it does not change between runs.
#include <algorithm>
#include <cmath>

#include "engine/ops/cuda/kernels.cuh"
#include "engine/ops/optim.h"

namespace ng::cuda {
namespace {

// ---------------------------------------------------------------- SGD

template <class T>
struct SgdConsts {
  T lr, wd, mom, keep;  // keep = 1 - dampening
  bool init, use_wd, use_mom, nesterov;
  const double* dev;  // NOTE [Device hyper-parameters]: {lr} or null
};

// One element's update (shared by the per-parameter and the multi-tensor kernels).
template <class T>
__device__ __forceinline__ void sgd_elem(const SgdConsts<T>& c, T lr, T* p, const T* g, T* buf,
                                         int64_t i) {
  T d = g[i];
  if (c.use_wd) d += c.wd * p[i];
  if (c.use_mom) {
    const T m = c.init ? d : c.mom * buf[i] + c.keep * d;
    buf[i] = m;
    d = c.nesterov ? d + c.mom * m : m;
  }
  p[i] -= lr * d;
}

template <class T>
__global__ void sgd_k(int64_t n, SgdConsts<T> c, T* p, const T* g, T* buf) {
  const T lr = c.dev ? T(c.dev[0]) : c.lr;
  NG_GRID_STRIDE(i, n) sgd_elem(c, lr, p, g, buf, i);
}

void sgd_step(const SgdHyper& h, bool init, Tensor& param, const Tensor& grad, Tensor& buf) {
  const int64_t n = param.numel();
  if (n == 0) return;
  dispatch_floating(param.dtype(), "SGD", [&]<class T>() {
    const bool mom = h.momentum != 0.0;
    SgdConsts<T> c{T(h.lr),
                   T(h.weight_decay),
                   T(h.momentum),
                   T(1.0 - h.dampening),
                   init,
                   h.weight_decay != 0.0,
                   mom,
                   h.nesterov,
                   h.device_scalars};
    sgd_k<T><<<grid_for(n), kThreads, 0, stream()>>>(n, c, param.data<T>(), grad.data<T>(),
                                                     mom ? buf.data<T>() : nullptr);
    NG_CUDA_CHECK_LAUNCH("sgd_k");
  });
}

// ---------------------------------------------------------------- Adam / AdamW

// The per-step constants, from lr and t = step (host values or device memory):
//   step_size = lr / (1 - beta1^t), bc2_sqrt = sqrt(1 - beta2^t), decay = 1 - lr * wd,
// computed in double and cast to T, as the host did before the step count moved to the device.
template <class T>
struct AdamConsts {
  double lr, step, beta1, beta2, wd_d;
  T wd, w1, b2, w2, eps;
  bool l2, decoupled;
  const double* dev;  // NOTE [Device hyper-parameters]: {lr, step} or null
};

template <class T>
struct AdamStep {
  T step_size, bc2_sqrt, decay;
};

template <class T>
__device__ __forceinline__ AdamStep<T> adam_step_consts(const AdamConsts<T>& c, const double* dev) {
  const double lr = dev ? dev[0] : c.lr, t = dev ? dev[1] : c.step;
  const double bc1 = 1.0 - ::pow(c.beta1, t), bc2 = 1.0 - ::pow(c.beta2, t);
  return {T(lr / bc1), T(::sqrt(bc2)), T(1.0 - lr * c.wd_d)};
}

template <class T>
__device__ __forceinline__ void adam_elem(const AdamConsts<T>& c, const AdamStep<T>& s, T* p,
                                          const T* g, T* m, T* v, int64_t i) {
  T pi = p[i], gi = g[i];
  if (c.decoupled) pi *= s.decay;
  if (c.l2) gi += c.wd * pi;
  const T mi = m[i] + c.w1 * (gi - m[i]);
  const T vi = c.b2 * v[i] + c.w2 * gi * gi;
  m[i] = mi;
  v[i] = vi;
  p[i] = pi - s.step_size * (mi / (std::sqrt(vi) / s.bc2_sqrt + c.eps));
}

template <class T>
__global__ void adam_k(int64_t n, AdamConsts<T> c, T* p, const T* g, T* m, T* v) {
  const AdamStep<T> s = adam_step_consts(c, c.dev);
  NG_GRID_STRIDE(i, n) adam_elem(c, s, p, g, m, v, i);
}

void adam_step(const AdamHyper& h, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v) {
  const int64_t n = param.numel();
  if (n == 0) return;
  dispatch_floating(param.dtype(), "Adam", [&]<class T>() {
    const bool wd = h.weight_decay != 0.0;
    AdamConsts<T> c{h.lr,
                    double(h.step),
                    h.beta1,
                    h.beta2,
                    h.weight_decay,
                    T(h.weight_decay),
                    T(1.0 - h.beta1),
                    T(h.beta2),
                    T(1.0 - h.beta2),
                    T(h.eps),
                    wd && !h.decoupled_weight_decay,
                    wd && h.decoupled_weight_decay,
                    h.device_scalars};
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
  const double* dev;  // NOTE [Device hyper-parameters]: {lr} or null
};

template <class T>
__global__ void rmsprop_k(int64_t n, RmspropConsts<T> c, T* p, const T* g, T* sq, T* ga, T* buf) {
  if (c.dev) c.lr = T(c.dev[0]);
  NG_GRID_STRIDE(i, n) {
    T gi = g[i];
    if (c.use_wd) gi += c.wd * p[i];
    const T s = c.a * sq[i] + c.w * gi * gi;
    sq[i] = s;
    T avg;
    if (c.centered) {
      const T ci = ga[i] + c.w * (gi - ga[i]);
      ga[i] = ci;
      avg = std::sqrt(s - ci * ci) + c.eps;
    } else {
      avg = std::sqrt(s) + c.eps;
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
                       mom,
                       h.device_scalars};
    rmsprop_k<T><<<grid_for(n), kThreads, 0, stream()>>>(
        n, c, param.data<T>(), grad.data<T>(), sq.data<T>(), h.centered ? ga.data<T>() : nullptr,
        mom ? buf.data<T>() : nullptr);
    NG_CUDA_CHECK_LAUNCH("rmsprop_k");
  });
}

// ---------------------------------------------------------------- multi-tensor updates

// NOTE [Fused updates]: up to kMaxTensors parameters per launch. Tensor k owns the blocks
// [first[k], first[k + 1]) and walks its elements with a stride of its block count; each element
// gets exactly the arithmetic of the per-parameter kernel.
constexpr int kMaxTensors = 24;
constexpr int64_t kMaxBlocksPerTensor = 1024;

template <class T>
struct TensorList {
  int count = 0;
  T* p[kMaxTensors];
  const T* g[kMaxTensors];
  T* a[kMaxTensors];  // SGD: momentum buffer; Adam: exp_avg
  T* b[kMaxTensors];  // Adam: exp_avg_sq
  const double* dev[kMaxTensors];
  int64_t n[kMaxTensors];
  int first[kMaxTensors + 1];
};

// The tensor that block `blk` belongs to (count <= kMaxTensors: a short linear search).
template <class T>
__device__ __forceinline__ int owner_of(const TensorList<T>& L, int blk) {
  int k = 0;
  while (k + 1 < L.count && blk >= L.first[k + 1]) ++k;
  return k;
}

template <class T>
__global__ void sgd_multi_k(TensorList<T> L, SgdConsts<T> c) {
  const int k = owner_of(L, int(blockIdx.x));
  const int64_t nb = L.first[k + 1] - L.first[k];
  const T lr = L.dev[k] ? T(L.dev[k][0]) : c.lr;
  for (int64_t i = (int64_t(blockIdx.x) - L.first[k]) * blockDim.x + threadIdx.x; i < L.n[k];
       i += nb * blockDim.x)
    sgd_elem(c, lr, L.p[k], L.g[k], L.a[k], i);
}

template <class T>
__global__ void adam_multi_k(TensorList<T> L, AdamConsts<T> c) {
  const int k = owner_of(L, int(blockIdx.x));
  const int64_t nb = L.first[k + 1] - L.first[k];
  const AdamStep<T> s = adam_step_consts(c, L.dev[k]);
  for (int64_t i = (int64_t(blockIdx.x) - L.first[k]) * blockDim.x + threadIdx.x; i < L.n[k];
       i += nb * blockDim.x)
    adam_elem(c, s, L.p[k], L.g[k], L.a[k], L.b[k], i);
}

// Launches `launch(list)` for consecutive groups of at most kMaxTensors non-empty tensors.
template <class T, class F>
void for_tensor_lists(const MultiTensorArgs& a, const F& launch) {
  TensorList<T> L;
  int blocks = 0;
  auto flush = [&] {
    if (L.count == 0) return;
    L.first[L.count] = blocks;
    launch(L, blocks);
    L = TensorList<T>();
    blocks = 0;
  };
  for (size_t i = 0; i < a.params.size(); ++i) {
    const int64_t n = a.params[i].numel();
    if (n == 0) continue;
    const int k = L.count++;
    L.p[k] = a.params[i].data<T>();
    L.g[k] = a.grads[i].data<T>();
    L.a[k] = a.slot_a.empty() || !a.slot_a[i].defined() ? nullptr : a.slot_a[i].data<T>();
    L.b[k] = a.slot_b.empty() || !a.slot_b[i].defined() ? nullptr : a.slot_b[i].data<T>();
    L.dev[k] = a.device_scalars.empty() ? nullptr : a.device_scalars[i];
    L.n[k] = n;
    L.first[k] = blocks;
    blocks += int(std::min<int64_t>(kMaxBlocksPerTensor, (n + kThreads - 1) / kThreads));
    if (L.count == kMaxTensors) flush();
  }
  flush();
}

void sgd_multi_step(const SgdHyper& h, MultiTensorArgs& a) {
  NG_CHECK(a.params.size() == a.grads.size(), "SGD (multi-tensor): ", a.params.size(),
           " parameters but ", a.grads.size(), " gradients");
  if (a.params.empty()) return;
  dispatch_floating(a.params[0].dtype(), "SGD", [&]<class T>() {
    const bool mom = h.momentum != 0.0;
    const SgdConsts<T> c{T(h.lr), T(h.weight_decay),     T(h.momentum), T(1.0 - h.dampening),
                         false,   h.weight_decay != 0.0, mom,           h.nesterov,
                         nullptr};
    for_tensor_lists<T>(a, [&](const TensorList<T>& L, int blocks) {
      sgd_multi_k<T><<<unsigned(blocks), kThreads, 0, stream()>>>(L, c);
      NG_CUDA_CHECK_LAUNCH("sgd_multi_k");
    });
  });
}

void adam_multi_step(const AdamHyper& h, MultiTensorArgs& a) {
  NG_CHECK(a.params.size() == a.grads.size(), "Adam (multi-tensor): ", a.params.size(),
           " parameters but ", a.grads.size(), " gradients");
  if (a.params.empty()) return;
  dispatch_floating(a.params[0].dtype(), "Adam", [&]<class T>() {
    const bool wd = h.weight_decay != 0.0;
    const AdamConsts<T> c{h.lr,
                          double(h.step),
                          h.beta1,
                          h.beta2,
                          h.weight_decay,
                          T(h.weight_decay),
                          T(1.0 - h.beta1),
                          T(h.beta2),
                          T(1.0 - h.beta2),
                          T(h.eps),
                          wd && !h.decoupled_weight_decay,
                          wd && h.decoupled_weight_decay,
                          nullptr};
    for_tensor_lists<T>(a, [&](const TensorList<T>& L, int blocks) {
      adam_multi_k<T><<<unsigned(blocks), kThreads, 0, stream()>>>(L, c);
      NG_CUDA_CHECK_LAUNCH("adam_multi_k");
    });
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
  sgd_multi_step_kernel.set(DeviceType::CUDA, &sgd_multi_step);
  adam_multi_step_kernel.set(DeviceType::CUDA, &adam_multi_step);
  rmsprop_step_kernel.set(DeviceType::CUDA, &rmsprop_step);
  sum_squares_kernel.set(DeviceType::CUDA, &sum_squares);
  scale_kernel.set(DeviceType::CUDA, &scale);
}

}  // namespace ng::cuda
