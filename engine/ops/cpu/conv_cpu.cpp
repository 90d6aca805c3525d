// CPU conv2d kernels. Samples are handed out to the threads one at a time (run_workers); every
// thread owns its scratch buffers and reuses them for all of its samples. OpenBLAS runs
// single-threaded inside the parallel region. Two algorithms:
//
// Direct (stride 1, groups 1 — the 3x3 convs of ResNet and both LeNet convs).
// NOTE [Padded-width convolution]: each input plane is copied into a zero-padded buffer of width
// Wp, and the output is computed on that width, so output position q = oh*Wp + ow reads input
// q + kh*dh*Wp + kw*dw: a 1-D convolution over the flattened planes, with no im2col matrix and
// no GEMM packing. The Wp - Wo columns at the end of each output row (and the positions and
// channels that round up to a register block) are computed from whatever lies there and
// dropped; they never reach an output.
//   forward:         yext[o, q]  = sum_{c,kh,kw} W[o, c, kh, kw] * xpad[c, q + off(kh, kw)]
//   backward-data:   the same with gy padded by (K-1)*d - p and W flipped and transposed
//   backward-weight: gW[o, c, kh, kw] = sum_{oh, ow} gy[o, oh*Wo + ow] * xpad[c, oh*Wp + ow +
//                    off(kh, kw)], with gy transposed to [Ho*Wo, O] so that the registers hold
//                    vectors over o and the sum over positions needs no horizontal adds
// The inner loops keep a block of outputs in SIMD registers (GCC vector extensions, so
// -march=native picks AVX-512 or AVX2 and other targets still compile).
//
// im2col + GEMM (strided and grouped convs), per sample n and group g:
//   forward:         cols = im2col(x[n])                 // [C*KH*KW, Ho*Wo]
//                    y[n]_g = W_g cols_g (+ b)           // [O/G, Cg*KH*KW] x [Cg*KH*KW, Ho*Wo]
//   backward-data:   cols_g = W_g^T gy[n]_g;  gx[n] = col2im(cols)
//   backward-weight: gW_g += gy[n]_g cols_g^T
// A 1x1 convolution with stride 1 and no padding uses x[n] (and gx[n]) as its columns directly.
//
// Every kernel gives the same bits with any number of threads (see weight_chunks).
#include <cblas.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <vector>

#include "engine/core/parallel.h"
#include "engine/ops/conv.h"
#include "engine/ops/cpu/cpu_kernels.h"

namespace ng::cpu {
namespace {

// ---------------------------------------------------------------------------------------------
// Shared helpers

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

// The direct kernels take stride-1 convs without groups (pointwise ones are plain GEMMs).
inline bool direct_applies(const ConvGeom& g) {
  return g.sh == 1 && g.sw == 1 && g.G == 1 && !g.pointwise;
}

inline int64_t round_up(int64_t v, int64_t m) {
  return (v + m - 1) / m * m;
}

// Work sharing: each of `workers` threads runs body(t, next) once, with its own scratch index t,
// and takes work items by calling next() until it returns a value >= the item count. Items are
// handed out dynamically, so a thread that the OS preempts (a busy desktop) delays the call by
// at most one item rather than by its whole share.
template <class Body>
void run_workers(int64_t workers, const Body& body) {
  std::atomic<int64_t> counter{0};
  auto next = [&counter] { return counter.fetch_add(1, std::memory_order_relaxed); };
  parallel_for(0, workers, 1, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) body(t, next);
  });
}

// Threads for a call: one per item at most, and one for a call too small to repay waking the
// others (about 10 us of work).
inline int64_t num_workers(const ConvGeom& g, int64_t items) {
  const int64_t macs = g.N * g.O * g.Kg * g.P;
  if (macs < (int64_t(1) << 19)) return 1;
  return std::max<int64_t>(1, std::min<int64_t>(num_threads(), items));
}

// Backward-weight sums per-chunk partial gradients: the batch is cut into a number of chunks
// that does not depend on the thread count, each chunk's samples are summed in order, and the
// chunks are summed in order after the parallel region — so gW is the same bit for bit with
// any number of threads. The count is capped so that the partials stay small.
inline int64_t weight_chunks(int64_t N, int64_t wsize) {
  const int64_t by_memory = std::max<int64_t>(1, (int64_t(1) << 22) / std::max<int64_t>(1, wsize));
  return std::max<int64_t>(1, std::min({N, int64_t(16), by_memory}));
}

// ---------------------------------------------------------------------------------------------
// Direct convolution on padded-width planes (NOTE [Padded-width convolution])

template <class T>
struct SimdOf {
  // One 64-byte vector; alignment of T so that loads and stores may be unaligned.
  typedef T type __attribute__((vector_size(64), aligned(alignof(T))));
};
template <class T>
using Vec = typename SimdOf<T>::type;
template <class T>
constexpr int64_t kLanes = int64_t(64 / sizeof(T));

template <class T>
inline Vec<T> load(const T* p) {  // compiles to one unaligned vector load
  Vec<T> v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <class T>
inline void store(T* p, Vec<T> v) {
  std::memcpy(p, &v, sizeof(v));
}

constexpr int kOB = 8;       // forward: output channels per register block
constexpr int kQV = 2;       // forward: vectors of output positions per register block
constexpr int kMaxTaps = 9;  // backward-weight: kernel taps per register block

// A stack of `ch` planes [H, W] zero-padded by (ph, pw), flattened with a row stride Wp, and
// the stride-1 output of a (KH, KW) kernel with dilation (dh, dw) over it, on the same stride.
// Input (ih, iw) sits at (ih + ph)*Wp + pw + iw; rows are padded on the left only, because a
// window that runs past the right end of a row reads the zeros that pad the next row on the
// left: Wp = W + pw is enough unless the padding exceeds the kernel's reach.
struct PaddedPlanes {
  int64_t ch, H, W, ph, pw;
  int64_t Hp, Wp, plane;
  int64_t Ho, Wo;  // output rows and valid columns
  int64_t Q, Qr;   // Ho*Wp output positions, rounded up to a SIMD vector
  int64_t size;    // ch*plane plus the slack the last vector reads past the end

  PaddedPlanes(int64_t ch_, int64_t H_, int64_t W_, int64_t ph_, int64_t pw_, int64_t KH,
               int64_t KW, int64_t dh, int64_t dw, int64_t lanes)
      : ch(ch_), H(H_), W(W_), ph(ph_), pw(pw_) {
    Ho = H + 2 * ph - (KH - 1) * dh, Wo = W + 2 * pw - (KW - 1) * dw;
    Hp = H + 2 * ph, Wp = std::max(W + pw, Wo), plane = Hp * Wp;
    Q = Ho * Wp, Qr = round_up(Q, lanes);
    // The last read is (ch-1)*plane + (Qr-1) + (KH-1)*dh*Wp + (KW-1)*dw, and
    // (KH-1)*dh*Wp = plane - Q.
    size = ch * plane + (Qr - Q) + (KW - 1) * dw;
  }

  // Copies src [ch, H, W] into the interior of dst; the border must already be zero.
  template <class T>
  void fill(const T* src, T* dst) const {
    for (int64_t c = 0; c < ch; ++c)
      for (int64_t h = 0; h < H; ++h)
        std::memcpy(dst + c * plane + (h + ph) * Wp + pw, src + (c * H + h) * W, sizeof(T) * W);
  }
};

// The planes each direct kernel works on.
template <class T>
PaddedPlanes forward_planes(const ConvGeom& g) {  // x padded by p; y on its width
  return PaddedPlanes(g.C, g.H, g.W, g.ph, g.pw, g.KH, g.KW, g.dh, g.dw, kLanes<T>);
}
template <class T>
PaddedPlanes backward_data_planes(const ConvGeom& g) {  // gy padded by (K-1)*d - p; gx
  return PaddedPlanes(g.O, g.Ho, g.Wo, (g.KH - 1) * g.dh - g.ph, (g.KW - 1) * g.dw - g.pw, g.KH,
                      g.KW, g.dh, g.dw, kLanes<T>);
}
template <class T>
PaddedPlanes weight_planes(const ConvGeom& g) {  // x padded by p
  return PaddedPlanes(g.C, g.H, g.W, g.ph, g.pw, g.KH, g.KW, g.dh, g.dw, kLanes<T>);
}

// Direct or im2col + GEMM: the direct kernels also compute the dropped columns, the positions
// that round Ho*Wp up to a SIMD vector and the channels that round up to kOB (or, in
// backward-weight, to a SIMD vector). Where that waste passes ~40% of the multiply-adds, GEMM
// is faster (measured on LeNet's 5x5 convs: 6 channels on 10x10 and 14x14 planes).
constexpr double kMinUsefulFraction = 0.6;

template <class T>
bool direct_forward_pays(const ConvGeom& g) {
  if (!direct_applies(g)) return false;
  const PaddedPlanes pp = forward_planes<T>(g);
  return double(g.Ho * g.Wo * g.O) >= kMinUsefulFraction * double(pp.Qr * round_up(g.O, kOB));
}

template <class T>
bool direct_backward_data_pays(const ConvGeom& g) {
  // The flipped kernel needs its padding (K-1)*d - p to be >= 0.
  if (!direct_applies(g) || (g.KH - 1) * g.dh < g.ph || (g.KW - 1) * g.dw < g.pw) return false;
  const PaddedPlanes pp = backward_data_planes<T>(g);
  return double(g.H * g.W * g.C) >= kMinUsefulFraction * double(pp.Qr * round_up(g.C, kOB));
}

template <class T>
bool direct_backward_weight_pays(const ConvGeom& g) {
  return direct_applies(g) && double(g.O) >= kMinUsefulFraction * double(round_up(g.O, kLanes<T>));
}

// out[o, q0 .. q0 + QV*lanes) = sum_{c, kh, kw} wr[c, kh, kw, o] * in[c*plane + q + off(kh, kw)]
// for the kOB output channels whose weights wr holds ([Cin, KH, KW, kOB]).
template <class T, int QV>
inline void direct_block(const T* in, int64_t plane, int64_t Cin, int64_t KH, int64_t KW,
                         int64_t row_step, int64_t dw, const T* wr, T* out, int64_t ldo) {
  constexpr int64_t L = kLanes<T>;
  Vec<T> acc[kOB][QV];
  for (int o = 0; o < kOB; ++o)
    for (int v = 0; v < QV; ++v) acc[o][v] = Vec<T>{};
  for (int64_t c = 0; c < Cin; ++c) {
    const T* ic = in + c * plane;
    for (int64_t kh = 0; kh < KH; ++kh) {
      const T* ir = ic + kh * row_step;
      for (int64_t kw = 0; kw < KW; ++kw, wr += kOB) {
        Vec<T> xv[QV];
        for (int v = 0; v < QV; ++v) xv[v] = load(ir + kw * dw + v * L);
        for (int o = 0; o < kOB; ++o) {
          const T w = wr[o];
          for (int v = 0; v < QV; ++v) acc[o][v] += w * xv[v];
        }
      }
    }
  }
  for (int o = 0; o < kOB; ++o)
    for (int v = 0; v < QV; ++v) store(out + o * ldo + v * L, acc[o][v]);
}

// out: [Opad, Qr] = the padded-width convolution of `in` (laid out as `pp`) with weights wr:
// [Opad / kOB][Cin][KH][KW][kOB].
template <class T>
void direct_conv(const T* in, const PaddedPlanes& pp, int64_t Opad, int64_t KH, int64_t KW,
                 int64_t dh, int64_t dw, const T* wr, T* out) {
  constexpr int64_t L = kLanes<T>;
  const int64_t wblock = pp.ch * KH * KW * kOB;
  for (int64_t ob = 0; ob < Opad; ob += kOB) {
    const T* w = wr + (ob / kOB) * wblock;
    T* o = out + ob * pp.Qr;
    int64_t q0 = 0;
    for (; q0 + kQV * L <= pp.Qr; q0 += kQV * L)
      direct_block<T, kQV>(in + q0, pp.plane, pp.ch, KH, KW, dh * pp.Wp, dw, w, o + q0, pp.Qr);
    for (; q0 < pp.Qr; q0 += L)  // the last vector, when Qr is an odd number of them
      direct_block<T, 1>(in + q0, pp.plane, pp.ch, KH, KW, dh * pp.Wp, dw, w, o + q0, pp.Qr);
  }
}

// Drops the padded columns: out[o, oh, ow] = ext[o, oh*Wp + ow] (+ bias[o]).
template <class T>
void extract(const T* ext, const PaddedPlanes& pp, int64_t O, const T* bias, T* out) {
  for (int64_t o = 0; o < O; ++o) {
    const T b = bias ? bias[o] : T(0);
    for (int64_t oh = 0; oh < pp.Ho; ++oh) {
      const T* e = ext + o * pp.Qr + oh * pp.Wp;
      T* r = out + (o * pp.Ho + oh) * pp.Wo;
      for (int64_t ow = 0; ow < pp.Wo; ++ow) r[ow] = e[ow] + b;
    }
  }
}

// Weights for direct_conv: wr[ob][c][kh][kw][o % kOB] = W[o, c, kh, kw] (zero for o >= O); with
// `flip`, the backward-data weights: wr[cb][o][kh][kw][c % kOB] = W[o, c, KH-1-kh, KW-1-kw].
template <class T>
void pack_weights(const T* w, int64_t O, int64_t C, int64_t KH, int64_t KW, bool flip, T* wr) {
  const int64_t out_ch = flip ? C : O, in_ch = flip ? O : C;
  const int64_t out_pad = round_up(out_ch, kOB);
  std::fill(wr, wr + out_pad * in_ch * KH * KW, T(0));
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t kh = 0; kh < KH; ++kh)
        for (int64_t kw = 0; kw < KW; ++kw) {
          const T v = w[((o * C + c) * KH + kh) * KW + kw];
          const int64_t a = flip ? c : o, b = flip ? o : c;  // (output, input) channel of wr
          const int64_t i = flip ? KH - 1 - kh : kh, j = flip ? KW - 1 - kw : kw;
          wr[(((a / kOB * in_ch + b) * KH + i) * KW + j) * kOB + a % kOB] = v;
        }
}

template <class T>
void direct_forward(const ConvGeom& g, const T* px, const T* pw, const T* pb, T* py) {
  const PaddedPlanes pp = forward_planes<T>(g);
  const int64_t Opad = round_up(g.O, kOB);
  const int64_t nw = num_workers(g, g.N);
  const int64_t per_thread = round_up(pp.size, kLanes<T>) + Opad * pp.Qr;
  Tensor wr_t = Tensor::empty({Opad * g.K}, dtype_of<T>::value);
  Tensor buf = Tensor::empty({nw, per_thread}, dtype_of<T>::value);
  T* wr = wr_t.data<T>();
  pack_weights(pw, g.O, g.C, g.KH, g.KW, false, wr);
  run_workers(nw, [&](int64_t t, const auto& next) {
    T* xpad = buf.data<T>() + t * per_thread;       // [C, Hp, Wp] + slack
    T* yext = xpad + round_up(pp.size, kLanes<T>);  // [Opad, Qr]
    std::fill(xpad, xpad + pp.size, T(0));          // the border stays zero
    for (int64_t n; (n = next()) < g.N;) {
      pp.fill(px + n * g.C * g.H * g.W, xpad);
      direct_conv(xpad, pp, Opad, g.KH, g.KW, g.dh, g.dw, wr, yext);
      extract(yext, pp, g.O, pb, py + n * g.O * g.P);
    }
  });
}

template <class T>
void direct_backward_data(const ConvGeom& g, const T* pgy, const T* pw, T* pgx) {
  // gx = conv(gy padded by (K-1)*d - p, W flipped and transposed): [O, Ho, Wo] -> [C, H, W]
  const PaddedPlanes pp = backward_data_planes<T>(g);
  const int64_t Cpad = round_up(g.C, kOB);
  const int64_t nw = num_workers(g, g.N);
  const int64_t per_thread = round_up(pp.size, kLanes<T>) + Cpad * pp.Qr;
  Tensor wr_t = Tensor::empty({Cpad * g.O * g.KH * g.KW}, dtype_of<T>::value);
  Tensor buf = Tensor::empty({nw, per_thread}, dtype_of<T>::value);
  T* wr = wr_t.data<T>();
  pack_weights(pw, g.O, g.C, g.KH, g.KW, true, wr);
  run_workers(nw, [&](int64_t t, const auto& next) {
    T* gypad = buf.data<T>() + t * per_thread;        // [O, Ho + 2p', Wo + 2p'] + slack
    T* gxext = gypad + round_up(pp.size, kLanes<T>);  // [Cpad, Qr]
    std::fill(gypad, gypad + pp.size, T(0));          // the border stays zero
    for (int64_t n; (n = next()) < g.N;) {
      pp.fill(pgy + n * g.O * g.P, gypad);
      direct_conv(gypad, pp, Cpad, g.KH, g.KW, g.dh, g.dw, wr, gxext);
      extract(gxext, pp, g.C, static_cast<const T*>(nullptr), pgx + n * g.C * g.H * g.W);
    }
  });
}

// gwT[s, o] += sum_{oh < Ho, ow < Wo} x[oh*Wp + ow + off[s]] * gyT[oh*Wo + ow, o] for S taps and
// OV vectors of output channels: the outer product of a row of gy^T with S broadcast inputs,
// accumulated in registers over all output positions.
template <class T, int S, int OV>
void weight_block(const T* x, const int64_t* off, int64_t Ho, int64_t Wo, int64_t Wp, const T* gyT,
                  int64_t ldg, T* gwT) {
  constexpr int64_t L = kLanes<T>;
  Vec<T> acc[S][OV];
  for (int s = 0; s < S; ++s)
    for (int v = 0; v < OV; ++v) acc[s][v] = Vec<T>{};
  int64_t o[S];
  for (int s = 0; s < S; ++s) o[s] = off[s];
  for (int64_t oh = 0; oh < Ho; ++oh) {
    const T* xr = x + oh * Wp;
    const T* gr = gyT + oh * Wo * ldg;
    for (int64_t ow = 0; ow < Wo; ++ow) {
      Vec<T> gv[OV];
      for (int v = 0; v < OV; ++v) gv[v] = load(gr + ow * ldg + v * L);
      for (int s = 0; s < S; ++s) {
        const T xs = xr[ow + o[s]];
        for (int v = 0; v < OV; ++v) acc[s][v] += xs * gv[v];
      }
    }
  }
  for (int s = 0; s < S; ++s)
    for (int v = 0; v < OV; ++v)
      store(gwT + s * ldg + v * L, load(gwT + s * ldg + v * L) + acc[s][v]);
}

template <class T, int OV>
void weight_block_s(int S, const T* x, const int64_t* off, int64_t Ho, int64_t Wo, int64_t Wp,
                    const T* gyT, int64_t ldg, T* gwT) {
  static_assert(kMaxTaps == 9);
  switch (S) {
    case 1:
      return weight_block<T, 1, OV>(x, off, Ho, Wo, Wp, gyT, ldg, gwT);
    case 2:
      return weight_block<T, 2, OV>(x, off, Ho, Wo, Wp, gyT, ldg, gwT);
    case 3:
      return weight_block<T, 3, OV>(x, off, Ho, Wo, Wp, gyT, ldg, gwT);
    case 4:
      return weight_block<T, 4, OV>(x, off, Ho, Wo, Wp, gyT, ldg, gwT);
    case 5:
      return weight_block<T, 5, OV>(x, off, Ho, Wo, Wp, gyT, ldg, gwT);
    case 6:
      return weight_block<T, 6, OV>(x, off, Ho, Wo, Wp, gyT, ldg, gwT);
    case 7:
      return weight_block<T, 7, OV>(x, off, Ho, Wo, Wp, gyT, ldg, gwT);
    case 8:
      return weight_block<T, 8, OV>(x, off, Ho, Wo, Wp, gyT, ldg, gwT);
    default:
      return weight_block<T, 9, OV>(x, off, Ho, Wo, Wp, gyT, ldg, gwT);
  }
}

// Scratch per thread for direct_backward_weight_chunk: padded x, gy^T [Ho*Wo, Opad] and the
// transposed partial gradient gW^T [C*KH*KW, Opad]. The borders of x and the padded channels
// of gy^T are zeroed once per thread (direct_weight_scratch_init) and stay zero.
inline int64_t weight_opad(int64_t O, int64_t lanes) {
  return round_up(O, lanes);
}
template <class T>
int64_t direct_weight_scratch(const ConvGeom& g, const PaddedPlanes& pp) {
  const int64_t Opad = weight_opad(g.O, kLanes<T>);
  return round_up(pp.size, kLanes<T>) + g.P * Opad + g.K * Opad;
}

template <class T>
void direct_weight_scratch_init(const ConvGeom& g, const PaddedPlanes& pp, T* scratch) {
  std::fill(scratch, scratch + round_up(pp.size, kLanes<T>) + g.P * weight_opad(g.O, kLanes<T>),
            T(0));
}

// gw_t = sum over samples [n0, n1) of the weight gradient; gb_t likewise when defined.
template <class T>
void direct_backward_weight_chunk(const ConvGeom& g, const PaddedPlanes& pp, const T* px,
                                  const T* pgy, int64_t n0, int64_t n1, T* scratch, T* gw_t,
                                  T* gb_t) {
  constexpr int64_t L = kLanes<T>;
  const int64_t Opad = weight_opad(g.O, L);
  T* xpad = scratch;                     // [C, Hp, Wp] + slack
  T* gyT = xpad + round_up(pp.size, L);  // [Ho*Wo, Opad]
  T* gwT = gyT + g.P * Opad;             // [C*KH*KW, Opad]
  std::fill(gwT, gwT + g.K * Opad, T(0));
  if (gb_t) std::fill(gb_t, gb_t + g.O, T(0));
  const int64_t taps = g.KH * g.KW;
  std::vector<int64_t> off(static_cast<size_t>(taps));
  for (int64_t kh = 0; kh < g.KH; ++kh)
    for (int64_t kw = 0; kw < g.KW; ++kw)
      off[size_t(kh * g.KW + kw)] = kh * g.dh * pp.Wp + kw * g.dw;
  for (int64_t n = n0; n < n1; ++n) {
    pp.fill(px + n * g.C * g.H * g.W, xpad);
    const T* gyn = pgy + n * g.O * g.P;  // [O, P] -> gyT: [P, Opad]
    for (int64_t o = 0; o < g.O; ++o)
      for (int64_t i = 0; i < g.P; ++i) gyT[i * Opad + o] = gyn[o * g.P + i];
    // Blocks of output rows whose gy^T (~16 KB) stays in L1 while every channel passes over it.
    const int64_t rows = std::max<int64_t>(1, int64_t(16384 / sizeof(T)) / Opad / g.Wo);
    for (int64_t oh0 = 0; oh0 < g.Ho; oh0 += rows) {
      const int64_t nr = std::min(rows, g.Ho - oh0);
      const T* gyb = gyT + oh0 * g.Wo * Opad;
      for (int64_t c = 0; c < g.C; ++c)
        for (int64_t t0 = 0; t0 < taps; t0 += kMaxTaps) {
          const int S = int(std::min<int64_t>(kMaxTaps, taps - t0));
          const T* xc = xpad + c * pp.plane + oh0 * pp.Wp;
          T* dst = gwT + (c * taps + t0) * Opad;
          int64_t ob = 0;
          for (; ob + 2 * L <= Opad; ob += 2 * L)
            weight_block_s<T, 2>(S, xc, off.data() + t0, nr, g.Wo, pp.Wp, gyb + ob, Opad, dst + ob);
          if (ob < Opad)
            weight_block_s<T, 1>(S, xc, off.data() + t0, nr, g.Wo, pp.Wp, gyb + ob, Opad, dst + ob);
        }
    }
    if (gb_t)
      for (int64_t o = 0; o < g.O; ++o) {
        const T* r = gyn + o * g.P;
        T s = 0;
        for (int64_t i = 0; i < g.P; ++i) s += r[i];
        gb_t[o] += s;
      }
  }
  // gW [O, K] = gW^T [K, Opad] transposed
  for (int64_t o = 0; o < g.O; ++o)
    for (int64_t k = 0; k < g.K; ++k) gw_t[o * g.K + k] = gwT[k * Opad + o];
}

// ---------------------------------------------------------------------------------------------
// im2col + GEMM

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

// dst[i] = src[i * stride] for i < n; a loop per common stride so that each one vectorises
// (stride 2 with even/odd shuffles), and no aliasing between src and dst.
template <class T>
inline void copy_strided(const T* __restrict src, int64_t stride, int64_t n, T* __restrict dst) {
  if (stride == 1) {
    std::memcpy(dst, src, sizeof(T) * size_t(std::max<int64_t>(n, 0)));
  } else if (stride == 2) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[2 * i];
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i * stride];
  }
}

// dst[i * stride] += src[i] for i < n.
template <class T>
inline void add_strided(const T* __restrict src, int64_t n, T* __restrict dst, int64_t stride) {
  if (stride == 1) {
    for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
  } else if (stride == 2) {
    for (int64_t i = 0; i < n; ++i) dst[2 * i] += src[i];
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i * stride] += src[i];
  }
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
          copy_strided(xr + ow0 * g.sw, g.sw, ow1 - ow0, r + ow0);
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
          add_strided(r + ow0, ow1 - ow0, xr + ow0 * g.sw, g.sw);
        }
      }
    }
  }
}

template <class T>
void gemm_forward(const ConvGeom& g, const T* px, const T* pw, const T* pb, T* py) {
  const int64_t nw = num_workers(g, g.N);
  Tensor buf = g.pointwise ? Tensor() : Tensor::empty({nw, g.K * g.P}, dtype_of<T>::value);
  run_workers(nw, [&](int64_t t, const auto& next) {
    T* cols = g.pointwise ? nullptr : buf.data<T>() + t * g.K * g.P;
    for (int64_t n; (n = next()) < g.N;) {
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
void gemm_backward_data(const ConvGeom& g, const T* pgy, const T* pw, T* pgx) {
  const int64_t nw = num_workers(g, g.N);
  Tensor buf = g.pointwise ? Tensor() : Tensor::empty({nw, g.K * g.P}, dtype_of<T>::value);
  run_workers(nw, [&](int64_t t, const auto& next) {
    T* cols = g.pointwise ? nullptr : buf.data<T>() + t * g.K * g.P;
    for (int64_t n; (n = next()) < g.N;) {
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

// gw_t = sum over samples [n0, n1) of gy[n] cols[n]^T; gb_t likewise when defined.
template <class T>
void gemm_backward_weight_chunk(const ConvGeom& g, const T* px, const T* pgy, int64_t n0,
                                int64_t n1, T* cols, T* gw_t, T* gb_t) {
  if (gb_t) std::fill(gb_t, gb_t + g.O, T(0));
  if (n0 == n1) std::fill(gw_t, gw_t + g.O * g.Kg, T(0));  // an empty batch
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
    if (gb_t)
      for (int64_t o = 0; o < g.O; ++o) {
        const T* r = gyn + o * g.P;
        T s = 0;
        for (int64_t i = 0; i < g.P; ++i) s += r[i];
        gb_t[o] += s;
      }
  }
}

// ---------------------------------------------------------------------------------------------
// Kernel entry points

template <class T>
void forward_t(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
               Tensor& y) {
  const ConvGeom g = make_geom(x.shape(), w.shape(), y.shape(), p);
  const T* pb = b.defined() ? b.data<T>() : nullptr;
  if (direct_forward_pays<T>(g))
    direct_forward(g, x.data<T>(), w.data<T>(), pb, y.data<T>());
  else
    gemm_forward(g, x.data<T>(), w.data<T>(), pb, y.data<T>());
}

template <class T>
void backward_data_t(const Tensor& gy, const Tensor& w, const Conv2dParams& p, Tensor& gx) {
  const ConvGeom g = make_geom(gx.shape(), w.shape(), gy.shape(), p);
  if (direct_backward_data_pays<T>(g))
    direct_backward_data(g, gy.data<T>(), w.data<T>(), gx.data<T>());
  else
    gemm_backward_data(g, gy.data<T>(), w.data<T>(), gx.data<T>());
}

template <class T>
void backward_weight_t(const Tensor& gy, const Tensor& x, const Conv2dParams& p, Tensor& gw,
                       Tensor& gb) {
  const ConvGeom g = make_geom(x.shape(), gw.shape(), gy.shape(), p);
  const T* pgy = gy.data<T>();
  const T* px = x.data<T>();
  T* pgw = gw.data<T>();
  T* pgb = gb.defined() ? gb.data<T>() : nullptr;
  const int64_t wsize = g.O * g.Kg;
  const int64_t nchunks = weight_chunks(g.N, wsize + g.O);
  const int64_t nw = num_workers(g, nchunks);
  const bool direct = direct_backward_weight_pays<T>(g);
  const PaddedPlanes pp = weight_planes<T>(g);
  // Per worker: scratch (padded x and gy, or columns). Per chunk but the first, which writes
  // straight into gw / gb: a partial gW [O, Kg] and gb [O].
  const int64_t scratch = direct ? direct_weight_scratch<T>(g, pp) : g.pointwise ? 0 : g.K * g.P;
  Tensor scratch_buf = Tensor::empty({nw, scratch}, dtype_of<T>::value);
  Tensor partial_buf = Tensor::empty({nchunks - 1, wsize + g.O}, dtype_of<T>::value);
  T* partial = partial_buf.data<T>();
  run_workers(nw, [&](int64_t t, const auto& next) {
    T* s = scratch_buf.data<T>() + t * scratch;
    if (direct) direct_weight_scratch_init(g, pp, s);
    for (int64_t c; (c = next()) < nchunks;) {
      const int64_t n0 = c * g.N / nchunks, n1 = (c + 1) * g.N / nchunks;
      T* gw_c = c == 0 ? pgw : partial + (c - 1) * (wsize + g.O);
      T* gb_c = !pgb ? nullptr : c == 0 ? pgb : gw_c + wsize;
      if (direct)
        direct_backward_weight_chunk(g, pp, px, pgy, n0, n1, s, gw_c, gb_c);
      else
        gemm_backward_weight_chunk(g, px, pgy, n0, n1, s, gw_c, gb_c);
    }
  });
  for (int64_t c = 1; c < nchunks; ++c) {
    const T* gw_c = partial + (c - 1) * (wsize + g.O);
    for (int64_t i = 0; i < wsize; ++i) pgw[i] += gw_c[i];
    if (pgb)
      for (int64_t o = 0; o < g.O; ++o) pgb[o] += gw_c[wsize + o];
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
