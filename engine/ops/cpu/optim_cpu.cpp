// CPU kernels for the fused optimiser updates (ops/optim.h) and gradient clipping. Each update
// reads the gradient and the state once and writes the parameter and state once, in a loop the
// compiler vectorises; the options that change the arithmetic are template flags so the inner
// loops carry no branches. Scalars are cast to the tensor type before the loop, as PyTorch does.
#include <cmath>
#include <vector>

#include "engine/core/parallel.h"
#include "engine/ops/cpu/cpu_kernels.h"
#include "engine/ops/optim.h"

namespace ng::cpu {
namespace {

constexpr int64_t kGrain = 32768;

// Calls f.template operator()<T>() for the tensor's floating dtype.
template <class F>
void dispatch_floating(const Tensor& t, const char* what, const F& f) {
  switch (t.dtype()) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    default:
      throw Error(std::string(what) + ": needs a float32 or float64 tensor, got " +
                  dtype_name(t.dtype()));
  }
}

// ---------------------------------------------------------------- SGD
// The *_range functions hold the loops: their pointers are __restrict (parameter, gradient and
// state are distinct allocations), which lets GCC vectorise without runtime alias checks.

template <class T>
struct SgdConsts {
  T lr, wd, mom, keep;  // keep = 1 - dampening
  bool init;
};

template <class T, bool WD, bool MOM, bool NESTEROV>
void sgd_range(SgdConsts<T> c, int64_t b, int64_t e, T* __restrict p, const T* __restrict g,
               T* __restrict buf) {
  for (int64_t i = b; i < e; ++i) {
    T d = g[i];
    if constexpr (WD) d += c.wd * p[i];
    if constexpr (MOM) {
      T m = c.init ? d : c.mom * buf[i] + c.keep * d;
      buf[i] = m;
      if constexpr (NESTEROV)
        d += c.mom * m;
      else
        d = m;
    }
    p[i] -= c.lr * d;
  }
}

template <class T, bool WD, bool MOM, bool NESTEROV>
void sgd_run(const SgdHyper& h, bool init, T* p, const T* g, T* buf, int64_t n) {
  SgdConsts<T> c{T(h.lr), T(h.weight_decay), T(h.momentum), T(1.0 - h.dampening), init};
  parallel_for(0, n, kGrain,
               [=](int64_t b, int64_t e) { sgd_range<T, WD, MOM, NESTEROV>(c, b, e, p, g, buf); });
}

template <class T>
void sgd_t(const SgdHyper& h, bool init, Tensor& param, const Tensor& grad, Tensor& buf) {
  T* p = param.data<T>();
  const T* g = grad.data<T>();
  int64_t n = param.numel();
  bool wd = h.weight_decay != 0.0;
  if (h.momentum == 0.0) {
    if (wd)
      sgd_run<T, true, false, false>(h, init, p, g, nullptr, n);
    else
      sgd_run<T, false, false, false>(h, init, p, g, nullptr, n);
    return;
  }
  T* m = buf.data<T>();
  if (h.nesterov) {
    if (wd)
      sgd_run<T, true, true, true>(h, init, p, g, m, n);
    else
      sgd_run<T, false, true, true>(h, init, p, g, m, n);
  } else {
    if (wd)
      sgd_run<T, true, true, false>(h, init, p, g, m, n);
    else
      sgd_run<T, false, true, false>(h, init, p, g, m, n);
  }
}

void sgd_step(const SgdHyper& h, bool init, Tensor& param, const Tensor& grad, Tensor& buf) {
  dispatch_floating(param, "SGD", [&]<class T>() { sgd_t<T>(h, init, param, grad, buf); });
}

// ---------------------------------------------------------------- Adam / AdamW

template <class T>
struct AdamConsts {
  T step_size, bc2_sqrt, wd, decay, w1, b2, w2, eps;
};

template <class T, bool L2, bool DECOUPLED>
void adam_range(AdamConsts<T> c, int64_t b, int64_t e, T* __restrict p, const T* __restrict g,
                T* __restrict m, T* __restrict v) {
  for (int64_t i = b; i < e; ++i) {
    T pi = p[i], gi = g[i];
    if constexpr (DECOUPLED) pi *= c.decay;
    if constexpr (L2) gi += c.wd * pi;
    T mi = m[i] + c.w1 * (gi - m[i]);
    T vi = c.b2 * v[i] + c.w2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - c.step_size * (mi / (std::sqrt(vi) / c.bc2_sqrt + c.eps));
  }
}

template <class T, bool L2, bool DECOUPLED>
void adam_run(const AdamHyper& h, T* p, const T* g, T* m, T* v, int64_t n) {
  const double bc1 = 1.0 - std::pow(h.beta1, double(h.step));
  const double bc2 = 1.0 - std::pow(h.beta2, double(h.step));
  AdamConsts<T> c{
      T(h.lr / bc1),    T(std::sqrt(bc2)), T(h.weight_decay), T(1.0 - h.lr * h.weight_decay),
      T(1.0 - h.beta1), T(h.beta2),        T(1.0 - h.beta2),  T(h.eps)};
  parallel_for(0, n, kGrain,
               [=](int64_t b, int64_t e) { adam_range<T, L2, DECOUPLED>(c, b, e, p, g, m, v); });
}

template <class T>
void adam_t(const AdamHyper& h, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v) {
  T* p = param.data<T>();
  const T* g = grad.data<T>();
  T* pm = m.data<T>();
  T* pv = v.data<T>();
  int64_t n = param.numel();
  if (h.weight_decay == 0.0)
    adam_run<T, false, false>(h, p, g, pm, pv, n);
  else if (h.decoupled_weight_decay)
    adam_run<T, false, true>(h, p, g, pm, pv, n);
  else
    adam_run<T, true, false>(h, p, g, pm, pv, n);
}

void adam_step(const AdamHyper& h, Tensor& param, const Tensor& grad, Tensor& m, Tensor& v) {
  dispatch_floating(param, "Adam", [&]<class T>() { adam_t<T>(h, param, grad, m, v); });
}

// ---------------------------------------------------------------- RMSprop

template <class T>
struct RmspropConsts {
  T lr, wd, a, w, eps, mom;  // w = 1 - alpha
};

template <class T, bool WD, bool CENTERED, bool MOM>
void rmsprop_range(RmspropConsts<T> c, int64_t b, int64_t e, T* __restrict p, const T* __restrict g,
                   T* __restrict sq, T* __restrict ga, T* __restrict buf) {
  for (int64_t i = b; i < e; ++i) {
    T gi = g[i];
    if constexpr (WD) gi += c.wd * p[i];
    T s = c.a * sq[i] + c.w * gi * gi;
    sq[i] = s;
    T avg;
    if constexpr (CENTERED) {
      T ci = ga[i] + c.w * (gi - ga[i]);
      ga[i] = ci;
      avg = std::sqrt(s - ci * ci) + c.eps;
    } else {
      avg = std::sqrt(s) + c.eps;
    }
    if constexpr (MOM) {
      T m = c.mom * buf[i] + gi / avg;
      buf[i] = m;
      p[i] -= c.lr * m;
    } else {
      p[i] -= c.lr * (gi / avg);
    }
  }
}

template <class T, bool WD, bool CENTERED, bool MOM>
void rmsprop_run(const RmspropHyper& h, T* p, const T* g, T* sq, T* ga, T* buf, int64_t n) {
  RmspropConsts<T> c{T(h.lr),          T(h.weight_decay), T(h.alpha),
                     T(1.0 - h.alpha), T(h.eps),          T(h.momentum)};
  parallel_for(0, n, kGrain, [=](int64_t b, int64_t e) {
    rmsprop_range<T, WD, CENTERED, MOM>(c, b, e, p, g, sq, ga, buf);
  });
}

template <class T, bool WD>
void rmsprop_flags(const RmspropHyper& h, T* p, const T* g, T* sq, T* ga, T* buf, int64_t n) {
  bool mom = h.momentum > 0.0;
  if (h.centered) {
    if (mom)
      rmsprop_run<T, WD, true, true>(h, p, g, sq, ga, buf, n);
    else
      rmsprop_run<T, WD, true, false>(h, p, g, sq, ga, buf, n);
  } else {
    if (mom)
      rmsprop_run<T, WD, false, true>(h, p, g, sq, ga, buf, n);
    else
      rmsprop_run<T, WD, false, false>(h, p, g, sq, ga, buf, n);
  }
}

template <class T>
void rmsprop_t(const RmspropHyper& h, Tensor& param, const Tensor& grad, Tensor& sq, Tensor& ga,
               Tensor& buf) {
  T* p = param.data<T>();
  const T* g = grad.data<T>();
  T* psq = sq.data<T>();
  T* pga = h.centered ? ga.data<T>() : nullptr;
  T* pbuf = h.momentum > 0.0 ? buf.data<T>() : nullptr;
  int64_t n = param.numel();
  if (h.weight_decay != 0.0)
    rmsprop_flags<T, true>(h, p, g, psq, pga, pbuf, n);
  else
    rmsprop_flags<T, false>(h, p, g, psq, pga, pbuf, n);
}

void rmsprop_step(const RmspropHyper& h, Tensor& param, const Tensor& grad, Tensor& sq, Tensor& ga,
                  Tensor& buf) {
  dispatch_floating(param, "RMSprop",
                    [&]<class T>() { rmsprop_t<T>(h, param, grad, sq, ga, buf); });
}

// ---------------------------------------------------------------- clipping

// Fixed blocks, each summed in double, then the block sums in order: the result does not depend
// on the thread count.
constexpr int64_t kBlock = 16384;
constexpr int kLanes = 16;

template <class T>
double sum_squares_t(const Tensor& x) {
  const T* px = x.data<T>();
  int64_t n = x.numel();
  int64_t nb = (n + kBlock - 1) / kBlock;
  std::vector<double> part(size_t(nb), 0.0);
  parallel_for(0, nb, 2, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) {
      int64_t lo = k * kBlock, hi = std::min(n, lo + kBlock);
      // kLanes independent sums (so the adds pipeline and vectorise), then the lanes in order.
      double lane[kLanes] = {};
      int64_t i = lo;
      for (; i + kLanes <= hi; i += kLanes)
        for (int j = 0; j < kLanes; ++j) lane[j] += double(px[i + j]) * double(px[i + j]);
      double s = 0.0;
      for (; i < hi; ++i) s += double(px[i]) * double(px[i]);
      for (int j = 0; j < kLanes; ++j) s += lane[j];
      part[size_t(k)] = s;
    }
  });
  double total = 0.0;
  for (double s : part) total += s;
  return total;
}

double sum_squares(const Tensor& x) {
  double r = 0.0;
  dispatch_floating(x, "clip_grad_norm", [&]<class T>() { r = sum_squares_t<T>(x); });
  return r;
}

void scale(Tensor& x, double s) {
  dispatch_floating(x, "clip_grad_norm", [&]<class T>() {
    T* px = x.data<T>();
    const T f = T(s);
    parallel_for(0, x.numel(), kGrain, [=](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) px[i] *= f;
    });
  });
}

}  // namespace

void register_optim() {
  sgd_step_kernel.set(DeviceType::CPU, &sgd_step);
  adam_step_kernel.set(DeviceType::CPU, &adam_step);
  rmsprop_step_kernel.set(DeviceType::CPU, &rmsprop_step);
  sum_squares_kernel.set(DeviceType::CPU, &sum_squares);
  scale_kernel.set(DeviceType::CPU, &scale);
}

}  // namespace ng::cpu
