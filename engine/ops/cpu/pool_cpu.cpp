// CPU pooling kernels: one (n, c) plane at a time, planes split across threads.
// Windows are clipped to the input: max pooling skips padded positions (as if -inf), average
// pooling counts them in the divisor (count_include_pad=True).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "engine/core/parallel.h"
#include "engine/ops/cpu/cpu_kernels.h"
#include "engine/ops/pool.h"

namespace ng::cpu {
namespace {

struct PoolGeom {
  int64_t planes, H, W, Ho, Wo, kh, kw, sh, sw, ph, pw;
};

PoolGeom make_geom(const Shape& x, const Shape& y, const Pool2dParams& p) {
  return {x[0] * x[1], x[2],        x[3],        y[2],         y[3],        p.kernel[0],
          p.kernel[1], p.stride[0], p.stride[1], p.padding[0], p.padding[1]};
}

// Planes per thread chunk so that a chunk holds at least ~32K input elements.
inline int64_t plane_grain(const PoolGeom& g) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(1, g.H * g.W));
}

// Keeps (best, index) or takes (v, i) when v is larger or NaN (a NaN in the window makes the
// output NaN, as in PyTorch).
template <class T>
inline void keep_max(T v, int64_t i, T& best, int64_t& bi) {
  const bool take = (v > best) | (v != v);
  best = take ? v : best;
  bi = take ? i : bi;
}

// One output row of 2x2 windows with stride 2 and no padding (LeNet's pools); `base` is the
// flat index of r0[0] within the plane. Uses max and index arithmetic, no branches (random
// data makes compare-and-branch code mispredict on every other window); a row that holds a NaN
// is redone with keep_max so that the NaN wins.
template <class T>
void max_row_2x2(const T* __restrict r0, const T* __restrict r1, int64_t W, int64_t base,
                 int64_t Wo, T* __restrict y, int64_t* __restrict a) {
  bool nan = false;
  for (int64_t ow = 0; ow < Wo; ++ow) {
    const T v0 = r0[2 * ow], v1 = r0[2 * ow + 1], v2 = r1[2 * ow], v3 = r1[2 * ow + 1];
    const T m0 = std::max(v0, v1), m1 = std::max(v2, v3);
    const int64_t o0 = v0 < v1, o1 = v2 < v3, bottom = m0 < m1;  // ties keep the first
    y[ow] = std::max(m0, m1);
    a[ow] = base + 2 * ow + o0 + bottom * (W + o1 - o0);
    nan |= (v0 != v0) | (v1 != v1) | (v2 != v2) | (v3 != v3);
  }
  if (!nan) return;
  for (int64_t ow = 0; ow < Wo; ++ow) {
    const int64_t i = 2 * ow;
    T best = r0[i];
    int64_t bi = base + i;
    keep_max(r0[i + 1], base + i + 1, best, bi);
    keep_max(r1[i], base + W + i, best, bi);
    keep_max(r1[i + 1], base + W + i + 1, best, bi);
    y[ow] = best;
    a[ow] = bi;
  }
}

// One plane, any window; g is a copy so that the stores cannot alias it.
template <class T>
void max_plane(const T* __restrict xp, const PoolGeom g, T* __restrict yp, int64_t* __restrict ap) {
  if (g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0) {
    for (int64_t oh = 0; oh < g.Ho; ++oh)
      max_row_2x2(xp + 2 * oh * g.W, xp + (2 * oh + 1) * g.W, g.W, 2 * oh * g.W, g.Wo,
                  yp + oh * g.Wo, ap + oh * g.Wo);
    return;
  }
  for (int64_t oh = 0; oh < g.Ho; ++oh) {
    const int64_t h0 = std::max<int64_t>(oh * g.sh - g.ph, 0);
    const int64_t h1 = std::min(oh * g.sh - g.ph + g.kh, g.H);
    for (int64_t ow = 0; ow < g.Wo; ++ow) {
      const int64_t w0 = std::max<int64_t>(ow * g.sw - g.pw, 0);
      const int64_t w1 = std::min(ow * g.sw - g.pw + g.kw, g.W);
      T best = -std::numeric_limits<T>::infinity();
      int64_t bi = h0 * g.W + w0;
      for (int64_t h = h0; h < h1; ++h)
        for (int64_t w = w0; w < w1; ++w) keep_max(xp[h * g.W + w], h * g.W + w, best, bi);
      yp[oh * g.Wo + ow] = best;
      ap[oh * g.Wo + ow] = bi;
    }
  }
}

template <class T>
void max_forward_t(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& argmax) {
  const PoolGeom g = make_geom(x.shape(), y.shape(), p);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  int64_t* pa = argmax.data<int64_t>();
  const bool mask = p.masks_relu_grad;
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      T* yp = py + pl * g.Ho * g.Wo;
      int64_t* ap = pa + pl * g.Ho * g.Wo;
      max_plane(px + pl * g.H * g.W, g, yp, ap);
      if (mask)  // NOTE [ReLU gradient in the max pool]
        for (int64_t i = 0; i < g.Ho * g.Wo; ++i)
          if (!(yp[i] > T(0))) ap[i] = -1;
    }
  });
}

template <class T>
void max_backward_t(const Tensor& gy, const Tensor& argmax, Tensor& gx) {
  const int64_t planes = gx.size(0) * gx.size(1), HW = gx.size(2) * gx.size(3);
  const int64_t P = gy.size(2) * gy.size(3);
  const T* pgy = gy.data<T>();
  const int64_t* pa = argmax.data<int64_t>();
  T* pgx = gx.data<T>();
  parallel_for(0, planes, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, HW)),
               [&](int64_t b, int64_t e) {
                 std::memset(pgx + b * HW, 0, sizeof(T) * size_t((e - b) * HW));
                 for (int64_t pl = b; pl < e; ++pl) {
                   T* gxp = pgx + pl * HW;
                   const T* gyp = pgy + pl * P;
                   const int64_t* ap = pa + pl * P;
                   for (int64_t i = 0; i < P; ++i)
                     if (ap[i] >= 0) gxp[ap[i]] += gyp[i];  // -1: routes no gradient
                 }
               });
}

// Divisor with count_include_pad: the window clipped to the padded input (PyTorch's rule).
inline int64_t avg_divisor(const PoolGeom& g, int64_t oh, int64_t ow) {
  const int64_t hs = oh * g.sh - g.ph, ws = ow * g.sw - g.pw;
  return (std::min(hs + g.kh, g.H + g.ph) - hs) * (std::min(ws + g.kw, g.W + g.pw) - ws);
}

template <class T>
void avg_forward_t(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  const PoolGeom g = make_geom(x.shape(), y.shape(), p);
  const T* px = x.data<T>();
  T* py = y.data<T>();
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t b, int64_t e) {
    for (int64_t pl = b; pl < e; ++pl) {
      const T* xp = px + pl * g.H * g.W;
      T* yp = py + pl * g.Ho * g.Wo;
      for (int64_t oh = 0; oh < g.Ho; ++oh) {
        const int64_t h0 = std::max<int64_t>(oh * g.sh - g.ph, 0);
        const int64_t h1 = std::min(oh * g.sh - g.ph + g.kh, g.H);
        for (int64_t ow = 0; ow < g.Wo; ++ow) {
          const int64_t w0 = std::max<int64_t>(ow * g.sw - g.pw, 0);
          const int64_t w1 = std::min(ow * g.sw - g.pw + g.kw, g.W);
          T s = 0;
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) s += xp[h * g.W + w];
          yp[oh * g.Wo + ow] = s / T(avg_divisor(g, oh, ow));
        }
      }
    }
  });
}

template <class T>
void avg_backward_t(const Tensor& gy, const Pool2dParams& p, Tensor& gx) {
  const PoolGeom g = make_geom(gx.shape(), gy.shape(), p);
  const T* pgy = gy.data<T>();
  T* pgx = gx.data<T>();
  parallel_for(0, g.planes, plane_grain(g), [&](int64_t b, int64_t e) {
    std::memset(pgx + b * g.H * g.W, 0, sizeof(T) * size_t((e - b) * g.H * g.W));
    for (int64_t pl = b; pl < e; ++pl) {
      T* gxp = pgx + pl * g.H * g.W;
      const T* gyp = pgy + pl * g.Ho * g.Wo;
      for (int64_t oh = 0; oh < g.Ho; ++oh) {
        const int64_t h0 = std::max<int64_t>(oh * g.sh - g.ph, 0);
        const int64_t h1 = std::min(oh * g.sh - g.ph + g.kh, g.H);
        for (int64_t ow = 0; ow < g.Wo; ++ow) {
          const int64_t w0 = std::max<int64_t>(ow * g.sw - g.pw, 0);
          const int64_t w1 = std::min(ow * g.sw - g.pw + g.kw, g.W);
          const T v = gyp[oh * g.Wo + ow] / T(avg_divisor(g, oh, ow));
          for (int64_t h = h0; h < h1; ++h)
            for (int64_t w = w0; w < w1; ++w) gxp[h * g.W + w] += v;
        }
      }
    }
  });
}

#define NG_POOL_DISPATCH(dt, what, call)                                                   \
  do {                                                                                     \
    if ((dt) == DType::Float32) {                                                          \
      using T = float;                                                                     \
      call;                                                                                \
    } else if ((dt) == DType::Float64) {                                                   \
      using T = double;                                                                    \
      call;                                                                                \
    } else {                                                                               \
      throw Error(std::string(what) + ": needs a floating tensor, got " + dtype_name(dt)); \
    }                                                                                      \
  } while (0)

void max_forward(const Tensor& x, const Pool2dParams& p, Tensor& y, Tensor& argmax) {
  NG_POOL_DISPATCH(x.dtype(), "max_pool2d", max_forward_t<T>(x, p, y, argmax));
}
// Scatters through argmax in output order (the window geometry is not needed on the CPU).
void max_backward(const Tensor& gy, const Tensor& argmax, const Pool2dParams&, Tensor& gx) {
  NG_POOL_DISPATCH(gy.dtype(), "max_pool2d backward", max_backward_t<T>(gy, argmax, gx));
}
void avg_forward(const Tensor& x, const Pool2dParams& p, Tensor& y) {
  NG_POOL_DISPATCH(x.dtype(), "avg_pool2d", avg_forward_t<T>(x, p, y));
}
void avg_backward(const Tensor& gy, const Pool2dParams& p, Tensor& gx) {
  NG_POOL_DISPATCH(gy.dtype(), "avg_pool2d backward", avg_backward_t<T>(gy, p, gx));
}

}  // namespace

void register_pool() {
  max_pool2d_forward_kernel.set(DeviceType::CPU, &max_forward);
  max_pool2d_backward_kernel.set(DeviceType::CPU, &max_backward);
  avg_pool2d_forward_kernel.set(DeviceType::CPU, &avg_forward);
  avg_pool2d_backward_kernel.set(DeviceType::CPU, &avg_backward);
}

}  // namespace ng::cpu
