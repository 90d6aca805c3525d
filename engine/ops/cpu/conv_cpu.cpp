// CPU conv2d kernels: im2col + GEMM (OpenBLAS) per sample and group, threads over the batch.
//
// Each thread takes a contiguous block of samples and owns one column buffer, reused for all of
// its samples; OpenBLAS runs single-threaded inside the parallel region. Per sample n, group g:
//   forward:         cols = im2col(x[n])                 // [C*KH*KW, Ho*Wo]
//                    y[n]_g = W_g cols_g (+ b)           // [O/G, Cg*KH*KW] x [Cg*KH*KW, Ho*Wo]
//   backward-data:   cols_g = W_g^T gy[n]_g;  gx[n] = col2im(cols)
//   backward-weight: gW_g += gy[n]_g cols_g^T            // per-thread partial sums, then reduced
// A 1x1 convolution with stride 1 and no padding uses x[n] (and gx[n]) as its columns directly.
#include <cblas.h>

#include <algorithm>
#include <cstring>

#include "engine/core/parallel.h"
#include "engine/ops/conv.h"
#include "engine/ops/cpu/cpu_kernels.h"

namespace ng::cpu {
namespace {

struct ConvGeom {
  int64_t N, C, H, W;  // input
  int64_t O, KH, KW;   // weight [O, C/G, KH, KW]
  int64_t Ho, Wo;      // output
  int64_t sh, sw, ph, pw, dh, dw, G;
  int64_t Cg, Og;    // channels per group
  int64_t Kg, K, P;  // Cg*KH*KW, C*KH*KW, Ho*Wo
  bool pointwise;    // 1x1, stride 1, no padding: the columns are x itself
};

ConvGeom make_geom(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) {
  ConvGeom g{};
  g.N = x[0], g.C = x[1], g.H = x[2], g.W = x[3];
  g.O = w[0], g.KH = w[2], g.KW = w[3];
  g.Ho = y[2], g.Wo = y[3];
  g.sh = p.stride[0], g.sw = p.stride[1], g.ph = p.padding[0], g.pw = p.padding[1];
  g.dh = p.dilation[0], g.dw = p.dilation[1], g.G = p.groups;
  g.Cg = g.C / g.G, g.Og = g.O / g.G;
  g.Kg = g.Cg * g.KH * g.KW, g.K = g.C * g.KH * g.KW, g.P = g.Ho * g.Wo;
  g.pointwise = g.KH == 1 && g.KW == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0;
  return g;
}

// Row-major C[M,N] = op(A) op(B) + beta C.
inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              blasint(M), blasint(N), blasint(K), 1.0f, A, blasint(lda), B, blasint(ldb), beta, C,
              blasint(ldc));
}
inline void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, const double* A, int64_t lda,
                 const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
              blasint(M), blasint(N), blasint(K), 1.0, A, blasint(lda), B, blasint(ldb), beta, C,
              blasint(ldc));
}

// The output columns [ow0, ow1) whose input column ow*sw + off lies inside [0, W).
inline void valid_range(int64_t off, int64_t s, int64_t W, int64_t Wo, int64_t& ow0, int64_t& ow1) {
  ow0 = off >= 0 ? 0 : (-off + s - 1) / s;
  ow1 = W - 1 - off < 0 ? 0 : std::min(Wo, (W - 1 - off) / s + 1);
  ow0 = std::min(ow0, Wo);
  ow1 = std::max(ow1, ow0);
}

// x: [C, H, W] -> cols: [C*KH*KW, Ho*Wo]; padded positions are 0.
template <class T>
void im2col(const T* x, const ConvGeom& g, T* cols) {
  for (int64_t c = 0; c < g.C; ++c) {
    const T* xc = x + c * g.H * g.W;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        T* row = cols + ((c * g.KH + kh) * g.KW + kw) * g.P;
        const int64_t woff = kw * g.dw - g.pw;
        int64_t ow0, ow1;
        valid_range(woff, g.sw, g.W, g.Wo, ow0, ow1);
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          T* r = row + oh * g.Wo;
          const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
          if (ih < 0 || ih >= g.H) {
            std::fill(r, r + g.Wo, T(0));
            continue;
          }
          const T* xr = xc + ih * g.W + woff;  // xr[ow * sw] is input column ow*sw + woff
          for (int64_t ow = 0; ow < ow0; ++ow) r[ow] = T(0);
          if (g.sw == 1) {
            for (int64_t ow = ow0; ow < ow1; ++ow) r[ow] = xr[ow];
          } else {
            for (int64_t ow = ow0; ow < ow1; ++ow) r[ow] = xr[ow * g.sw];
          }
          for (int64_t ow = ow1; ow < g.Wo; ++ow) r[ow] = T(0);
        }
      }
    }
  }
}

// cols: [C*KH*KW, Ho*Wo] -> x: [C, H, W] (overwritten), summing where windows overlap.
template <class T>
void col2im(const T* cols, const ConvGeom& g, T* x) {
  std::memset(x, 0, sizeof(T) * size_t(g.C * g.H * g.W));
  for (int64_t c = 0; c < g.C; ++c) {
    T* xc = x + c * g.H * g.W;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const T* row = cols + ((c * g.KH + kh) * g.KW + kw) * g.P;
        const int64_t woff = kw * g.dw - g.pw;
        int64_t ow0, ow1;
        valid_range(woff, g.sw, g.W, g.Wo, ow0, ow1);
        for (int64_t oh = 0; oh < g.Ho; ++oh) {
          const int64_t ih = oh * g.sh - g.ph + kh * g.dh;
          if (ih < 0 || ih >= g.H) continue;
          const T* r = row + oh * g.Wo;
          T* xr = xc + ih * g.W + woff;
          if (g.sw == 1) {
            for (int64_t ow = ow0; ow < ow1; ++ow) xr[ow] += r[ow];
          } else {
            for (int64_t ow = ow0; ow < ow1; ++ow) xr[ow * g.sw] += r[ow];
          }
        }
      }
    }
  }
}

// Splits the batch into one contiguous block per thread: f(t, n_begin, n_end), t < nblocks.
template <class F>
void for_each_block(int64_t nblocks, int64_t N, const F& f) {
  parallel_for(0, nblocks, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) f(t, t * N / nblocks, (t + 1) * N / nblocks);
  });
}

inline int64_t num_blocks(int64_t N) {
  return std::max<int64_t>(1, std::min<int64_t>(num_threads(), N));
}

template <class T>
void forward_t(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
               Tensor& y) {
  const ConvGeom g = make_geom(x.shape(), w.shape(), y.shape(), p);
  const T* px = x.data<T>();
  const T* pw = w.data<T>();
  const T* pb = b.defined() ? b.data<T>() : nullptr;
  T* py = y.data<T>();
  const int64_t nb = num_blocks(g.N);
  Tensor buf = g.pointwise ? Tensor() : Tensor::empty({nb, g.K * g.P}, x.dtype());
  for_each_block(nb, g.N, [&](int64_t t, int64_t n0, int64_t n1) {
    T* cols = g.pointwise ? nullptr : buf.data<T>() + t * g.K * g.P;
    for (int64_t n = n0; n < n1; ++n) {
      const T* xn = px + n * g.C * g.H * g.W;
      T* yn = py + n * g.O * g.P;  // [O, Ho*Wo]
      const T* src = xn;
      if (!g.pointwise) {
        im2col(xn, g, cols);
        src = cols;
      }
      if (pb) {  // y = b, then y += W cols (GEMM with beta 1 costs no more than beta 0)
        for (int64_t o = 0; o < g.O; ++o) std::fill(yn + o * g.P, yn + (o + 1) * g.P, pb[o]);
      }
      for (int64_t gi = 0; gi < g.G; ++gi)
        // [Og, Kg] x [Kg, P] -> [Og, P]
        gemm(false, false, g.Og, g.P, g.Kg, pw + gi * g.Og * g.Kg, g.Kg, src + gi * g.Kg * g.P, g.P,
             pb ? T(1) : T(0), yn + gi * g.Og * g.P, g.P);
    }
  });
}

template <class T>
void backward_data_t(const Tensor& gy, const Tensor& w, const Conv2dParams& p, Tensor& gx) {
  const ConvGeom g = make_geom(gx.shape(), w.shape(), gy.shape(), p);
  const T* pgy = gy.data<T>();
  const T* pw = w.data<T>();
  T* pgx = gx.data<T>();
  const int64_t nb = num_blocks(g.N);
  Tensor buf = g.pointwise ? Tensor() : Tensor::empty({nb, g.K * g.P}, gx.dtype());
  for_each_block(nb, g.N, [&](int64_t t, int64_t n0, int64_t n1) {
    T* cols = g.pointwise ? nullptr : buf.data<T>() + t * g.K * g.P;
    for (int64_t n = n0; n < n1; ++n) {
      const T* gyn = pgy + n * g.O * g.P;
      T* gxn = pgx + n * g.C * g.H * g.W;
      T* dst = g.pointwise ? gxn : cols;
      for (int64_t gi = 0; gi < g.G; ++gi)
        // [Og, Kg]^T x [Og, P] -> [Kg, P]
        gemm(true, false, g.Kg, g.P, g.Og, pw + gi * g.Og * g.Kg, g.Kg, gyn + gi * g.Og * g.P, g.P,
             T(0), dst + gi * g.Kg * g.P, g.P);
      if (!g.pointwise) col2im(cols, g, gxn);
    }
  });
}

template <class T>
void backward_weight_t(const Tensor& gy, const Tensor& x, const Conv2dParams& p, Tensor& gw,
                       Tensor& gb) {
  const ConvGeom g = make_geom(x.shape(), gw.shape(), gy.shape(), p);
  const T* pgy = gy.data<T>();
  const T* px = x.data<T>();
  const int64_t nb = num_blocks(g.N);
  const int64_t wsize = g.O * g.Kg;
  // Per block: columns [K, P] (unless pointwise), then partial gW [O, Kg] and gb [O] for blocks
  // other than the first, which writes straight into gw / gb.
  const int64_t cols_size = g.pointwise ? 0 : g.K * g.P;
  const int64_t per_block = cols_size + wsize + g.O;
  Tensor buf = Tensor::empty({nb, per_block}, x.dtype());
  T* pbuf = buf.data<T>();
  T* pgw = gw.data<T>();
  T* pgb = gb.defined() ? gb.data<T>() : nullptr;
  for_each_block(nb, g.N, [&](int64_t t, int64_t n0, int64_t n1) {
    T* cols = pbuf + t * per_block;
    T* gw_t = t == 0 ? pgw : cols + cols_size;
    T* gb_t = t == 0 && pgb ? pgb : cols + cols_size + wsize;
    if (pgb) std::fill(gb_t, gb_t + g.O, T(0));
    for (int64_t n = n0; n < n1; ++n) {
      const T* xn = px + n * g.C * g.H * g.W;
      const T* gyn = pgy + n * g.O * g.P;
      const T* src = xn;
      if (!g.pointwise) {
        im2col(xn, g, cols);
        src = cols;
      }
      for (int64_t gi = 0; gi < g.G; ++gi)
        // [Og, P] x [Kg, P]^T -> [Og, Kg], accumulated over the block's samples
        gemm(false, true, g.Og, g.Kg, g.P, gyn + gi * g.Og * g.P, g.P, src + gi * g.Kg * g.P, g.P,
             n == n0 ? T(0) : T(1), gw_t + gi * g.Og * g.Kg, g.Kg);
      if (pgb) {
        for (int64_t o = 0; o < g.O; ++o) {
          const T* r = gyn + o * g.P;
          T s = 0;
          for (int64_t i = 0; i < g.P; ++i) s += r[i];
          gb_t[o] += s;
        }
      }
    }
  });
  for (int64_t t = 1; t < nb; ++t) {
    const T* gw_t = pbuf + t * per_block + cols_size;
    for (int64_t i = 0; i < wsize; ++i) pgw[i] += gw_t[i];
    if (pgb)
      for (int64_t o = 0; o < g.O; ++o) pgb[o] += gw_t[wsize + o];
  }
}

template <class F32, class F64>
void by_dtype(DType dt, const char* what, const F32& f32, const F64& f64) {
  if (dt == DType::Float32)
    f32();
  else if (dt == DType::Float64)
    f64();
  else
    throw Error(std::string(what) + ": needs a floating tensor, got " + dtype_name(dt));
}

void forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p, Tensor& y) {
  by_dtype(
      x.dtype(), "conv2d", [&] { forward_t<float>(x, w, b, p, y); },
      [&] { forward_t<double>(x, w, b, p, y); });
}

void backward_data(const Tensor& gy, const Tensor& w, const Conv2dParams& p, Tensor& gx) {
  by_dtype(
      gy.dtype(), "conv2d backward", [&] { backward_data_t<float>(gy, w, p, gx); },
      [&] { backward_data_t<double>(gy, w, p, gx); });
}

void backward_weight(const Tensor& gy, const Tensor& x, const Conv2dParams& p, Tensor& gw,
                     Tensor& gb) {
  by_dtype(
      gy.dtype(), "conv2d backward", [&] { backward_weight_t<float>(gy, x, p, gw, gb); },
      [&] { backward_weight_t<double>(gy, x, p, gw, gb); });
}

}  // namespace

void register_conv() {
  conv2d_forward_kernel.set(DeviceType::CPU, &forward);
  conv2d_backward_data_kernel.set(DeviceType::CPU, &backward_data);
  conv2d_backward_weight_kernel.set(DeviceType::CPU, &backward_weight);
}

}  // namespace ng::cpu
