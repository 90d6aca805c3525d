// CUDA backend, batch norm and the conv bias helpers on channels-last (NHWC) tensors, the
// layout cuDNN's convolutions produce (NOTE [Channels-last batch norm] in
// engine/ops/cuda/norm.cu). Each check runs the GPU on a channels-last copy of random values and
// the CPU on the same values in NCHW, and compares outputs, running statistics and every
// gradient; the GPU's y and gx must stay channels-last. The shapes reach every branch of the
// [M, C] kernels: odd channel counts (scalar loads, blocks that are not a multiple of a warp),
// C % 4 == 0 (float4 / double2 loads), a row split into several channel tiles (C = 1030),
// H == W == 1 (both layouts at once), rows enough for the unrolled loop and a ragged last
// chunk, and a view that is not 16-byte aligned. Allocations are poisoned (NaN), so an element
// a kernel forgets to write fails. Every test skips without a CUDA device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "tests/engine/cuda_test_util.h"

#ifdef NG_WITH_CUDA
#include "engine/ops/cuda/common.h"  // add_channel_bias, sum_per_channel
#endif

using namespace ng;
using namespace ng::testing;

namespace {

constexpr double kTol = 1e-5;     // float32
constexpr double kTol64 = 1e-10;  // float64: only the order of the additions differs

class CudaChannelsLastNorm : public CudaTestBase {};

// True when the layouts differ for this shape (C > 1 and H * W > 1), so that a channels-last
// tensor must report MemoryFormat::ChannelsLast.
bool layouts_differ(const Shape& s) {
  return s.size() == 4 && s[1] > 1 && s[2] * s[3] > 1;
}

// A channels-last GPU leaf with the values of the CPU tensor t (NCHW).
Tensor gpu_channels_last_leaf(const Tensor& t) {
  Tensor g = t.detach().to(kGpu).contiguous(MemoryFormat::ChannelsLast).detach();
  g.set_requires_grad(true);
  return g;
}

// The layout check: channels-last strides, and MemoryFormat::ChannelsLast where that differs
// from contiguous.
void expect_channels_last(const Tensor& t, const std::string& what) {
  EXPECT_TRUE(t.is_channels_last())
      << what << " is not channels-last, shape " << shape_str(t.shape()) << ", strides "
      << shape_str(t.strides());
  if (layouts_differ(t.shape())) {
    EXPECT_EQ(t.memory_format(), MemoryFormat::ChannelsLast) << what;
  }
}

// ||a - b|| / max(||b||, scale): the error of a sum measured against the size of what was
// summed (`scale`), the bound float arithmetic gives, where the sum itself may cancel to almost
// nothing (gx is exactly 0 with two values per channel; ggamma sums r * xhat, which is
// zero-mean). NaN anywhere gives infinity.
double scaled_err(const Tensor& a, const Tensor& b, double scale) {
  std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  if (va.size() != vb.size()) return std::numeric_limits<double>::infinity();
  double d = 0, n = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) || std::isnan(vb[i])) return std::numeric_limits<double>::infinity();
    d += (va[i] - vb[i]) * (va[i] - vb[i]);
    n += vb[i] * vb[i];
  }
  return std::sqrt(d) / std::max({std::sqrt(n), scale, 1e-300});
}

double norm2(const Tensor& t) {
  double n = 0;
  for (double v : t.to_vector<double>()) n += v * v;
  return std::sqrt(n);
}

// Batch norm on a channels-last GPU x against the CPU kernel on the NCHW values (issue #4's
// parity: the same op on both devices, relative error within tol): y, the running statistics,
// and the gradients of sum(y * r) for x, gamma and beta. The gradients are sums over N*H*W
// values that cancel, so their error is measured against the size of the summed terms
// (scaled_err), computed in float64.
void bn_parity(const Shape& s, uint64_t seed, DType dt, double tol, Mode mode, double lo = -2,
               double hi = 3) {
  SCOPED_TRACE(std::string(mode == Mode::Train ? "train " : "eval ") + shape_str(s) + " " +
               dtype_name(dt));
  const int64_t C = s[1];
  Tensor x = grad_leaf(rnd(s, seed, lo, hi, dt));
  Tensor gamma = grad_leaf(rnd({C}, seed + 1, 0.5, 1.5, dt));
  Tensor beta = grad_leaf(rnd({C}, seed + 2, -1, 1, dt));
  Tensor rm_c = rnd({C}, seed + 3, -0.1, 0.1, dt), rv_c = rnd({C}, seed + 4, 0.5, 1.5, dt);
  Tensor rm_g = rm_c.to(kGpu), rv_g = rv_c.to(kGpu);
  Tensor xg = gpu_channels_last_leaf(x), gg = on_gpu(gamma), bg = on_gpu(beta);
  ASSERT_TRUE(xg.is_channels_last());

  Tensor yc = batch_norm(x, gamma, beta, rm_c, rv_c, mode, 0.1, 1e-5);
  Tensor yg = batch_norm(xg, gg, bg, rm_g, rv_g, mode, 0.1, 1e-5);
  ASSERT_TRUE(yg.device() == kGpu);
  expect_channels_last(yg, "y");
  EXPECT_LE(rel_err(yg, yc), tol) << "y";
  EXPECT_LE(rel_err(rm_g, rm_c), tol) << "running_mean";
  EXPECT_LE(rel_err(rv_g, rv_c), tol) << "running_var";

  // The upstream gradient in channels-last too, as the next conv hands it back.
  Tensor r = rnd(s, seed + 5, 0.5, 1.5, dt);
  sum(mul(yc, r)).backward();
  sum(mul(yg, r.to(kGpu).contiguous(MemoryFormat::ChannelsLast))).backward();
  ASSERT_TRUE(xg.grad().defined() && gg.grad().defined() && bg.grad().defined());
  if (mode == Mode::Train) expect_channels_last(xg.grad(), "gx");

  // The sizes of the summed terms, in float64 from the batch statistics.
  const std::vector<int64_t> axes = {0, 2, 3};
  Tensor x64 = x.detach().to(DType::Float64), r64 = r.to(DType::Float64);
  Tensor m = mean(x64, axes, true);
  Tensor inv = reciprocal(sqrt(add_scalar(mean(square(sub(x64, m)), axes, true), 1e-5)));
  Tensor xhat = mul(sub(x64, m), inv);
  Tensor g64 = gamma.detach().to(DType::Float64).reshape({1, C, 1, 1});
  const double gx_scale = norm2(mul(r64, mul(g64, inv)));
  const double ggamma_scale = norm2(sum(abs(mul(r64, xhat)), axes));
  const double gbeta_scale = norm2(sum(abs(r64), axes));
  EXPECT_LE(scaled_err(xg.grad(), x.grad(), gx_scale), tol) << "gx";
  EXPECT_LE(scaled_err(gg.grad(), gamma.grad(), ggamma_scale), tol) << "ggamma";
  EXPECT_LE(scaled_err(bg.grad(), beta.grad(), gbeta_scale), tol) << "gbeta";
}

const std::vector<Shape>& shapes() {
  static const std::vector<Shape> s = {
      {2, 3, 5, 7},      // C = 3: scalar loads, a block of 3 x 85 threads
      {8, 16, 32, 32},   // ResNet stage 1 at a small batch: float4 loads
      {4, 64, 8, 8},     // ResNet stage 3
      {3, 5, 1, 1},      // H == W == 1: both layouts at once (the [N, C, S] kernels)
      {2, 1030, 2, 2},   // C > 1024: the row in 5 channel tiles (float64: 3, the last short)
      {6, 7, 3, 5},      // C = 7
      {5, 12, 4, 3},     // C = 12: 3 float4 groups per row
      {1, 2, 1, 2},      // M = 2: the smallest training batch
      {1099, 64, 8, 8},  // rows enough for the 4-row unrolled loop, the last chunk ragged
      {64, 3, 32, 32},   // the same with scalar loads and 85-row steps
  };
  return s;
}

}  // namespace

TEST_F(CudaChannelsLastNorm, BatchNormTrainMatchesTheCpuInFloat32) {
  uint64_t seed = 100;
  for (const Shape& s : shapes()) bn_parity(s, seed += 10, DType::Float32, kTol, Mode::Train);
  // ResNet-20's first stage at the benchmark's batch: 8 rows per thread over 1024 chunks.
  bn_parity({512, 16, 32, 32}, 190, DType::Float32, kTol, Mode::Train);
}

TEST_F(CudaChannelsLastNorm, BatchNormTrainMatchesTheCpuInFloat64) {
  uint64_t seed = 200;
  for (const Shape& s : shapes()) bn_parity(s, seed += 10, DType::Float64, kTol64, Mode::Train);
}

TEST_F(CudaChannelsLastNorm, BatchNormEvalMatchesTheCpu) {
  uint64_t seed = 300;
  for (const Shape& s : shapes()) {
    bn_parity(s, seed += 10, DType::Float32, kTol, Mode::Eval);
    bn_parity(s, seed += 10, DType::Float64, kTol64, Mode::Eval);
  }
}

TEST_F(CudaChannelsLastNorm, BatchNormVarianceStaysAccurateFarFromZero) {
  // Values near 1000 with a spread of 1: the sums are taken about each channel's first value.
  bn_parity({64, 16, 8, 8}, 400, DType::Float32, kTol, Mode::Train, 999, 1001);
}

TEST_F(CudaChannelsLastNorm, BatchNormOnAViewThatIsNotSixteenByteAligned) {
  // A channels-last view starting one element into its storage: scalar loads.
  const Shape s{16, 8, 4, 4};
  const int64_t n = numel(s), C = s[1];
  Tensor flat = rnd({n + 1}, 500, -2, 3);
  Tensor x = grad_leaf(split(flat, {1, n}, 0)[1]
                           .reshape({16, 4, 4, 8})
                           .permute({0, 3, 1, 2})
                           .contiguous());  // NCHW values of the view
  Tensor xg = split(flat.to(kGpu), {1, n}, 0)[1].reshape({16, 4, 4, 8}).permute({0, 3, 1, 2});
  xg = xg.detach();
  xg.set_requires_grad(true);
  ASSERT_EQ(xg.memory_format(), MemoryFormat::ChannelsLast);
  Tensor gamma = grad_leaf(rnd({C}, 501, 0.5, 1.5)), gg = on_gpu(gamma);
  Tensor yc = batch_norm(x, gamma, Tensor(), Tensor(), Tensor(), Mode::Train);
  Tensor yg = batch_norm(xg, gg, Tensor(), Tensor(), Tensor(), Mode::Train);
  expect_channels_last(yg, "y");
  EXPECT_LE(rel_err(yg, yc), kTol);
  Tensor r = rnd(s, 502, 0.5, 1.5);
  sum(mul(yc, r)).backward();
  sum(mul(yg, r.to(kGpu))).backward();
  EXPECT_LE(rel_err(xg.grad(), x.grad()), kTol);
  EXPECT_LE(rel_err(gg.grad(), gamma.grad()), kTol);
}

TEST_F(CudaChannelsLastNorm, BatchNormIsBitwiseRepeatable) {
  const Shape s{300, 16, 8, 8};
  Tensor x = gpu_channels_last_leaf(rnd(s, 600, -2, 3));
  Tensor g = on_gpu(grad_leaf(rnd({16}, 601, 0.5, 1.5)));
  expect_batch_norm_repeatable(x, g, rnd(s, 602).to(kGpu).contiguous(MemoryFormat::ChannelsLast));
}

// ---------------------------------------------------------------- conv bias helpers

#ifdef NG_WITH_CUDA

namespace {

// add_channel_bias and sum_per_channel on a channels-last y / gy against the CPU's broadcast add
// and sum over N, H, W.
void bias_parity(const Shape& s, uint64_t seed, DType dt, double tol) {
  SCOPED_TRACE(shape_str(s) + " " + dtype_name(dt));
  autograd::NoGradGuard no_grad;
  const int64_t C = s[1];
  Tensor y = rnd(s, seed, -2, 3, dt), b = rnd({C}, seed + 1, -1, 1, dt);
  Tensor yg = y.to(kGpu).contiguous(MemoryFormat::ChannelsLast);
  Tensor bg = b.to(kGpu);
  cuda::add_channel_bias(yg, bg);
  expect_channels_last(yg, "y + b");
  EXPECT_LE(rel_err(yg, add(y, b.reshape({1, C, 1, 1}))), tol) << "add_channel_bias";

  Tensor gb = Tensor::empty({C}, dt, kGpu);
  cuda::sum_per_channel(yg, gb);
  Tensor expect = sum(add(y, b.reshape({1, C, 1, 1})), {0, 2, 3});
  EXPECT_LE(rel_err(gb, expect), tol) << "sum_per_channel";
}

}  // namespace

TEST_F(CudaChannelsLastNorm, ConvBiasHelpersMatchTheCpu) {
  uint64_t seed = 700;
  for (const Shape& s : shapes()) {
    bias_parity(s, seed += 10, DType::Float32, kTol);
    bias_parity(s, seed += 10, DType::Float64, kTol64);
  }
  bias_parity({512, 16, 32, 32}, 800, DType::Float32, kTol);
}

TEST_F(CudaChannelsLastNorm, ConvBiasHelpersOnAViewThatIsNotSixteenByteAligned) {
  autograd::NoGradGuard no_grad;
  const Shape s{16, 8, 4, 4};
  const int64_t n = numel(s), C = s[1];
  Tensor flat = rnd({n + 1}, 900, -2, 3), b = rnd({C}, 901);
  Tensor y = split(flat, {1, n}, 0)[1].reshape({16, 4, 4, 8}).permute({0, 3, 1, 2}).contiguous();
  Tensor yg = split(flat.to(kGpu), {1, n}, 0)[1].reshape({16, 4, 4, 8}).permute({0, 3, 1, 2});
  ASSERT_EQ(yg.memory_format(), MemoryFormat::ChannelsLast);
  cuda::add_channel_bias(yg, b.to(kGpu));
  Tensor expect = add(y, b.reshape({1, C, 1, 1}));
  EXPECT_LE(rel_err(yg, expect), kTol);
  Tensor gb = Tensor::empty({C}, DType::Float32, kGpu);
  cuda::sum_per_channel(yg, gb);
  EXPECT_LE(rel_err(gb, sum(expect, {0, 2, 3})), kTol);
}

#endif  // NG_WITH_CUDA
