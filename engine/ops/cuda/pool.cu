// CUDA pooling kernels over contiguous NCHW tensors, the same rules as ops/cpu/pool_cpu.cpp:
// windows are clipped to the input; max pooling skips padded positions and lets a NaN win (ties
// keep the first position); average pooling divides by the window clipped to the padded input
// (count_include_pad=True). Both backwards gather: one thread per input element sums the outputs
// whose windows cover it, in output order (one kernel, no atomics, the same result every run).
#include <math_constants.h>

#include "engine/ops/cuda/kernels.cuh"
#include "engine/ops/pool.h"

namespace ng::cuda {
namespace {

struct Geom {
  int64_t planes, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw;
};

Geom make_geom(const Shape& x, const Shape& y, const Pool2dParams& p) {
  return {x[0] * x[1], x[2],        x[3],        y[2],         y[3],        p.kernel[0],
          p.kernel[1], p.stride[0], p.stride[1], p.padding[0], p.padding[1]};
}

// Outputs along one axis whose windows cover input position h: [first, last).
__device__ __forceinline__ void covering(int64_t h, int64_t k, int64_t s, int64_t pad,
                                         int64_t n_out, int64_t& first, int64_t& last) {
  first = (h + pad < k) ? 0 : (h + pad - k) / s + 1;
  last = min((h + pad) / s + 1, n_out);
}

// Divisor with count_include_pad: the window clipped to the padded input.
__device__ __forceinline__ int64_t avg_divisor(const Geom& g, int64_t oh, int64_t ow) {
  const int64_t hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
  return (min(hs + g.kh, g.H + g.ph) - hs) * (min(ws + g.kw, g.W + g.pw) - ws);
}

// One thread per output element: y = max over the clipped window, argmax = flat h * W + w.
// mask: argmax -1 where the maximum is not positive (NOTE [ReLU gradient in the max pool]); the
// backward's gather then never matches it.
template <class T>
__global__ void max_forward_kernel(Geom g, bool mask, const T* x, T* y, int64_t* argmax) {
  const int64_t n = g.planes * g.Ho * g.Wo;
  NG_GRID_STRIDE(i, n) {
    const int64_t ow = i % g.Wo, oh = (i / g.Wo) % g.Ho, pl = i / (g.Wo * g.Ho);
    const T* xp = x + pl * g.H * g.W;
    const int64_t h0 = max(oh * g.sh - g.ph, int64_t(0)), h1 = min(oh * g.sh - g.ph + g.kh, g.H);
    const int64_t w0 = max(ow * g.sw - g.pw, int64_t(0)), w1 = min(ow * g.sw - g.pw + g.kw, g.W);
    T best = T(-CUDART_INF);
    int64_t bi = h0 * g.W + w0;
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) {
        const T v = xp[h * g.W + w];
        if (v > best || v != v) {  // a NaN wins, as in PyTorch
          best = v;
          bi = h * g.W + w;
        }
      }
    y[i] = best;
    argmax[i] = mask && !(best > T(0)) ? int64_t(-1) : bi;
  }
}

// One thread per input element: gx = the sum of gy over the outputs whose windows cover it and
// whose argmax is this position, in output order (the CPU kernel's scatter order, so the sums
// match it bit for bit); one kernel, no zeroing pass, no atomics, correct for overlapping windows.
template <class T>
__global__ void max_backward_kernel(Geom g, const T* gy, const int64_t* argmax, T* gx) {
  const int64_t n = g.planes * g.H * g.W;
  NG_GRID_STRIDE(i, n) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, pl = i / (g.W * g.H);
    const int64_t self = h * g.W + w;
    int64_t oh0, oh1, ow0, ow1;
    covering(h, g.kh, g.sh, g.ph, g.Ho, oh0, oh1);
    covering(w, g.kw, g.sw, g.pw, g.Wo, ow0, ow1);
    const T* gyp = gy + pl * g.Ho * g.Wo;
    const int64_t* ap = argmax + pl * g.Ho * g.Wo;
    T acc = T(0);
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow)
        if (ap[oh * g.Wo + ow] == self) acc += gyp[oh * g.Wo + ow];
    gx[i] = acc;
  }
}

template <class T>
__global__ void avg_forward_kernel(Geom g, const T* x, T* y) {
  const int64_t n = g.planes * g.Ho * g.Wo;
  NG_GRID_STRIDE(i, n) {
    const int64_t ow = i % g.Wo, oh = (i / g.Wo) % g.Ho, pl = i / (g.Wo * g.Ho);
    const T* xp = x + pl * g.H * g.W;
    const int64_t h0 = max(oh * g.sh - g.ph, int64_t(0)), h1 = min(oh * g.sh - g.ph + g.kh, g.H);
    const int64_t w0 = max(ow * g.sw - g.pw, int64_t(0)), w1 = min(ow * g.sw - g.pw + g.kw, g.W);
    T s = T(0);
    for (int64_t h = h0; h < h1; ++h)
      for (int64_t w = w0; w < w1; ++w) s += xp[h * g.W + w];
    y[i] = s / T(avg_divisor(g, oh, ow));
  }
}

template <class T>
__global__ void avg_backward_kernel(Geom g, const T* gy, T* gx) {
  const int64_t n = g.planes * g.H * g.W;
  NG_GRID_STRIDE(i, n) {
    const int64_t w = i % g.W, h = (i / g.W) % g.H, pl = i / (g.W * g.H);
    int64_t oh0, oh1, ow0, ow1;
    covering(h, g.kh, g.sh, g.ph, g.Ho, oh0, oh1);
    covering(w, g.kw, g.sw, g.pw, g.Wo, ow0, ow1);
    const T* gyp = gy + pl * g.Ho * g.Wo;
    T acc = T(0);
    for (int64_t oh = oh0; oh < oh1; ++oh)
      for (int64_t ow = ow0; ow < ow1; ++ow) acc += gyp[oh * g.Wo + ow] / T(avg_divisor(g, oh, ow));
    gx[i] = acc;
  }
}

void max_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& argmax) {
  const Geom g = make_geom(x.shape(), y.shape(), p);
  if (y.numel() == 0) return;
  dispatch_floating(x.dtype(), "max_pool2d", [&]<class T>() {
    max_forward_kernel<T><<<grid_for(y.numel()), kThreads, 0, stream()>>>(
        g, p.masks_relu_grad, x.data<T>(), y.data<T>(), argmax.data<int64_t>());
    NG_CUDA_CHECK_LAUNCH("max_forward_kernel");
  });
}

// gy, argmax: [N, C, Ho, Wo] -> gx: [N, C, H, W]
void max_backward(const Tensor& gy, const Tensor& argmax, const Pool2dParams& p, Tensor& gx) {
  const Geom g = make_geom(gx.shape(), gy.shape(), p);
  if (gx.numel() == 0) return;
  dispatch_floating(gy.dtype(), "max_pool2d backward", [&]<class T>() {
    max_backward_kernel<T><<<grid_for(gx.numel()), kThreads, 0, stream()>>>(
        g, gy.data<T>(), argmax.data<int64_t>(), gx.data<T>());
    NG_CUDA_CHECK_LAUNCH("max_backward_kernel");
  });
}

void avg_forward(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  const Geom g = make_geom(x.shape(), y.shape(), p);
  if (y.numel() == 0) return;
  dispatch_floating(x.dtype(), "avg_pool2d", [&]<class T>() {
    avg_forward_kernel<T>
        <<<grid_for(y.numel()), kThreads, 0, stream()>>>(g, x.data<T>(), y.data<T>());
    NG_CUDA_CHECK_LAUNCH("avg_forward_kernel");
  });
}

void avg_backward(const Tensor& gy, const Pool2dParams& p, Tensor& gx) {
  const Geom g = make_geom(gx.shape(), gy.shape(), p);
  if (gx.numel() == 0) return;
  dispatch_floating(gy.dtype(), "avg_pool2d backward", [&]<class T>() {
    avg_backward_kernel<T>
        <<<grid_for(gx.numel()), kThreads, 0, stream()>>>(g, gy.data<T>(), gx.data<T>());
    NG_CUDA_CHECK_LAUNCH("avg_backward_kernel");
  });
}

}  // namespace

void register_pool() {
  max_pool2d_forward_kernel.set(DeviceType::CUDA, &max_forward);
  max_pool2d_backward_kernel.set(DeviceType::CUDA, &max_backward);
  avg_pool2d_forward_kernel.set(DeviceType::CUDA, &avg_forward);
  avg_pool2d_backward_kernel.set(DeviceType::CUDA, &avg_backward);
}

}  // namespace ng::cuda
