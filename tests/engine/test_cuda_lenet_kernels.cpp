// CUDA kernels that LeNet's training step runs fewer of: max-pool backward as one gather kernel
// (engine/ops/cuda/pool.cu), the conv bias gradient in one kernel when it is small (NOTE
// [One-pass bias gradient] in engine/ops/cuda/conv_bias.cu), and backward's seed and flatten
// without a fill or a copy (engine/autograd/autograd.cpp). Values against the CPU kernels and
// double-precision loops, bit for bit where the order of the additions is the same; then the
// nodes of a captured CUDA graph, to show each saving. Allocations are poisoned (NaN), so an
// element a kernel forgets to write fails. Every test skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd/autograd.h"
#include "engine/ops/conv.h"
#include "engine/ops/cuda/backend.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/pool.h"
#include "engine/ops/reduce.h"
#include "engine/ops/softmax.h"
#include "tests/engine/cuda_test_util.h"

#ifdef NG_WITH_CUDA
#include "engine/ops/cuda/common.h"  // sum_per_channel
#endif

using namespace ng;
using namespace ng::testing;

namespace {

class CudaLenetKernels : public CudaTestBase {};

// Bitwise equality of two tensors' values (NaN equal to NaN), with the first difference named.
void expect_same_values(const Tensor& a, const Tensor& b, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  const std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  for (size_t i = 0; i < va.size(); ++i) {
    const bool same = va[i] == vb[i] || (std::isnan(va[i]) && std::isnan(vb[i]));
    ASSERT_TRUE(same) << what << ": element " << i << " is " << va[i] << ", expected " << vb[i];
  }
}

Pool2dParams pool(int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t ph, int64_t pw) {
  Pool2dParams p;
  p.kernel = {kh, kw};
  p.stride = {sh, sw};
  p.padding = {ph, pw};
  return p;
}

enum class Fill { Random, Ties, NaNs };

// x of shape s: random, or few distinct values (ties in most windows), or random with NaNs.
Tensor pool_input(const Shape& s, uint64_t seed, Fill fill, DType dt) {
  Tensor x = rnd(s, seed, -1, 1, DType::Float64);
  std::vector<double> v = x.to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i) {
    if (fill == Fill::Ties) v[i] = std::floor(v[i] * 1.5);  // -2, -1, 0 or 1
    if (fill == Fill::NaNs && i % 7 == 3) v[i] = std::numeric_limits<double>::quiet_NaN();
  }
  return Tensor::from_vector(v, s).to(dt);
}

// Max-pool forward and backward kernels on both devices: the same y and argmax, and gx equal
// to the CPU's scatter bit for bit (both add an input's outputs in output order) and to a
// double-precision scatter within rounding; two GPU runs give the same bits.
void max_pool_case(const Shape& s, const Pool2dParams& p, Fill fill, DType dt, uint64_t seed) {
  SCOPED_TRACE(shape_str(s) + " kernel " + std::to_string(p.kernel[0]) + "x" +
               std::to_string(p.kernel[1]) + " stride " + std::to_string(p.stride[0]) + "," +
               std::to_string(p.stride[1]) + " pad " + std::to_string(p.padding[0]) + "," +
               std::to_string(p.padding[1]) + " fill " + std::to_string(int(fill)) + " " +
               dtype_name(dt));
  const Shape ys = pool2d_output_shape(s, p, "test");
  Tensor x = pool_input(s, seed, fill, dt);
  Tensor gy = rnd(ys, seed + 1, -1, 1, dt);
  Tensor y = Tensor::empty(ys, dt), am = Tensor::empty(ys, DType::Int64);
  max_pool2d_forward_kernel(Device::cpu())(x, p, y, am);
  Tensor xg = x.to(kGpu), gyg = gy.to(kGpu);
  Tensor yg = Tensor::empty(ys, dt, kGpu), amg = Tensor::empty(ys, DType::Int64, kGpu);
  max_pool2d_forward_kernel(kGpu)(xg, p, yg, amg);
  expect_same_values(yg, y, "y");
  expect_same_values(amg, am, "argmax");

  Tensor gx = Tensor::empty(s, dt);
  max_pool2d_backward_kernel(Device::cpu())(gy, am, p, gx);
  Tensor gxg = Tensor::empty(s, dt, kGpu), gxg2 = Tensor::empty(s, dt, kGpu);
  max_pool2d_backward_kernel(kGpu)(gyg, amg, p, gxg);
  max_pool2d_backward_kernel(kGpu)(gyg, amg, p, gxg2);
  expect_same_values(gxg, gx, "gx against the CPU");
  expect_same_values(gxg2, gxg, "gx of a second run");

  // Independent reference: every output adds its gy at its argmax, which lies in its window.
  const int64_t planes = s[0] * s[1], HW = s[2] * s[3], P = ys[2] * ys[3];
  const std::vector<int64_t> a = am.to_vector<int64_t>();
  const std::vector<double> g = gy.to_vector<double>(), yv = y.to_vector<double>();
  if (p.masks_relu_grad) {  // NOTE [ReLU gradient in the max pool]: -1 exactly where not positive
    for (size_t k = 0; k < a.size(); ++k) {
      ASSERT_EQ(a[k] < 0, !(yv[k] > 0)) << "output " << k << " = " << yv[k] << ", argmax " << a[k];
    }
  }
  std::vector<double> ref(size_t(planes * HW), 0.0);
  for (int64_t pl = 0; pl < planes; ++pl)
    for (int64_t o = 0; o < P; ++o) {
      const int64_t i = a[size_t(pl * P + o)], oh = o / ys[3], ow = o % ys[3];
      if (i < 0) {  // NOTE [ReLU gradient in the max pool]: a window whose maximum is not positive
        ASSERT_TRUE(p.masks_relu_grad) << "argmax -1 without masks_relu_grad";
        continue;
      }
      const int64_t h = i / s[3], w = i % s[3];
      ASSERT_TRUE(h >= oh * p.stride[0] - p.padding[0] &&
                  h < oh * p.stride[0] - p.padding[0] + p.kernel[0] &&
                  w >= ow * p.stride[1] - p.padding[1] &&
                  w < ow * p.stride[1] - p.padding[1] + p.kernel[1] && h < s[2] && w < s[3])
          << "argmax " << i << " of output " << o << " lies outside its window";
      ref[size_t(pl * HW + i)] += g[size_t(pl * P + o)];
    }
  EXPECT_LE(rel_err(gxg.to(DType::Float64), Tensor::from_vector(ref, s)),
            dt == DType::Float32 ? 1e-6 : 1e-14);
}

// d/dx sum(y * r) for y = max_pool2d(x) through autograd on both devices.
void max_pool_autograd_case(const Shape& s, const Pool2dParams& p, uint64_t seed) {
  Tensor x = grad_leaf(pool_input(s, seed, Fill::Ties, DType::Float32));
  Tensor xg = on_gpu(x);
  const Shape ys = pool2d_output_shape(s, p, "test");
  Tensor r = rnd(ys, seed + 1, 0.5, 1.5);
  sum(mul(max_pool2d(x, p), r)).backward();
  sum(mul(max_pool2d(xg, p), r.to(kGpu))).backward();
  expect_same_values(xg.grad(), x.grad(), "x.grad");
}

// gb[c] = sum over n, h, w of gy in double, from a CPU tensor in NCHW.
[[maybe_unused]] Tensor bias_grad_reference(const Tensor& gy) {  // used by the CUDA-only tests
  const Shape s = gy.shape();
  const std::vector<double> v = gy.to_vector<double>();
  const int64_t C = s[1], S = s[2] * s[3];
  std::vector<double> gb(size_t(C), 0.0);
  for (int64_t n = 0; n < s[0]; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < S; ++i) gb[size_t(c)] += v[size_t((n * C + c) * S + i)];
  return Tensor::from_vector(gb, {C});
}

}  // namespace

// ---------------------------------------------------------------- max-pool backward

TEST_F(CudaLenetKernels, MaxPoolBackwardGathersWhatTheCpuScatters) {
  struct Case {
    Shape s;
    Pool2dParams p;
  };
  const std::vector<Case> cases = {
      {{64, 6, 28, 28}, pool(2, 2, 2, 2, 0, 0)},  // LeNet's pools
      {{64, 16, 10, 10}, pool(2, 2, 2, 2, 0, 0)},
      {{3, 4, 13, 14}, pool(3, 3, 1, 1, 1, 1)},  // overlapping, padded
      {{3, 4, 13, 14}, pool(3, 3, 2, 2, 1, 1)},
      {{2, 3, 11, 9}, pool(2, 3, 1, 2, 1, 0)},  // rectangular, padding one axis
      {{2, 5, 9, 10}, pool(4, 4, 1, 1, 2, 2)},  // every input under up to 16 windows
      {{2, 2, 7, 7}, pool(5, 5, 3, 3, 0, 0)},   // windows that miss the last row and column
      {{1, 1, 1, 1}, pool(1, 1, 1, 1, 0, 0)},
  };
  uint64_t seed = 100;
  for (const Case& c : cases)
    for (Fill f : {Fill::Random, Fill::Ties, Fill::NaNs}) {
      max_pool_case(c.s, c.p, f, DType::Float32, seed += 2);
      if (c.s[0] < 64) max_pool_case(c.s, c.p, f, DType::Float64, seed += 2);
    }
}

// NOTE [ReLU gradient in the max pool]: with masks_relu_grad, windows whose maximum is not
// positive (Ties fills many with -2, -1 or 0; NaN is not positive either) record argmax -1 on
// both devices, and neither backward routes gradient through them.
TEST_F(CudaLenetKernels, MaxPoolMaskingTheReluGradientMatchesTheCpu) {
  Pool2dParams lenet = pool(2, 2, 2, 2, 0, 0), overlapping = pool(3, 3, 1, 1, 1, 1);
  lenet.masks_relu_grad = overlapping.masks_relu_grad = true;
  uint64_t seed = 300;
  for (Fill f : {Fill::Random, Fill::Ties, Fill::NaNs}) {
    max_pool_case({64, 6, 28, 28}, lenet, f, DType::Float32, seed += 2);
    max_pool_case({3, 4, 13, 14}, overlapping, f, DType::Float32, seed += 2);
    max_pool_case({3, 4, 13, 14}, overlapping, f, DType::Float64, seed += 2);
  }
}

// Through autograd on the GPU: conv2d with its ReLU's derivative left to the pool (cuDNN's fused
// convolution + bias + ReLU with a bias; the convolution and a forward-only ReLU without) gives
// the gradients of the plain relu(conv2d) -> max_pool2d, and the CPU's.
TEST_F(CudaLenetKernels, ConvolutionLeavingItsReluGradientToThePoolMatches) {
  const bool saved = cudnn_deterministic();
  set_cudnn_deterministic(true);  // the same backward-filter sums in both runs
  Conv2dParams cp;
  cp.padding = {2, 2};
  for (bool bias : {true, false}) {
    SCOPED_TRACE(bias ? "with a bias" : "without a bias");
    const Tensor x0 = rnd({16, 3, 14, 14}, 800), w0 = rnd({6, 3, 5, 5}, 801),
                 b0 = rnd({6}, 802, -0.5, 0.5), r = rnd({16, 6, 7, 7}, 803);
    auto run = [&](Device d, bool by_reader) {
      Tensor x = grad_leaf(x0.to(d).detach()), w = grad_leaf(w0.to(d).detach());
      Tensor b = bias ? grad_leaf(b0.to(d).detach()) : Tensor();
      Pool2dParams p = pool(2, 2, 2, 2, 0, 0);
      p.masks_relu_grad = by_reader;
      sum(mul(max_pool2d(conv2d(x, w, b, cp, "conv", true, by_reader), p), r.to(d))).backward();
      std::vector<Tensor> g{x.grad().to(Device::cpu()), w.grad().to(Device::cpu())};
      if (bias) g.push_back(b.grad().to(Device::cpu()));
      return g;
    };
    const auto masked = run(kGpu, true), plain = run(kGpu, false), cpu = run(Device::cpu(), false);
    for (size_t i = 0; i < plain.size(); ++i) {
      expect_same_values(masked[i], plain[i], "gradient " + std::to_string(i));
      EXPECT_LE(rel_err(masked[i].to(DType::Float64), cpu[i].to(DType::Float64)), 1e-5) << i;
    }
  }
  set_cudnn_deterministic(saved);
}

TEST_F(CudaLenetKernels, MaxPoolGradientsThroughAutogradMatchTheCpu) {
  max_pool_autograd_case({8, 6, 28, 28}, pool(2, 2, 2, 2, 0, 0), 200);
  max_pool_autograd_case({3, 4, 13, 14}, pool(3, 3, 1, 1, 1, 1), 210);
}

TEST_F(CudaLenetKernels, MaxPoolBackwardIsOneKernel) {
  set_cuda_poison_allocations(false);  // no fill kernels in the counts
  for (const Pool2dParams& p : {pool(2, 2, 2, 2, 0, 0), pool(3, 3, 1, 1, 1, 1)}) {
    const Shape s{64, 6, 28, 28}, ys = pool2d_output_shape(s, p, "test");
    Tensor gy = rnd(ys, 300).to(kGpu), am = Tensor::zeros(ys, DType::Int64, kGpu);
    Tensor gx = Tensor::empty(s, DType::Float32, kGpu);
    max_pool2d_backward_kernel(kGpu)(gy, am, p, gx);  // eager first
    cuda_synchronize();
    EXPECT_EQ(captured_nodes([&] { max_pool2d_backward_kernel(kGpu)(gy, am, p, gx); }), 1u);
  }
}

// ---------------------------------------------------------------- conv bias gradient

#ifdef NG_WITH_CUDA

namespace {

// sum_per_channel on gy (NCHW or channels-last on the GPU) against the double reference, and
// bit for bit against a second run.
void bias_case(const Shape& s, bool channels_last, DType dt, uint64_t seed) {
  SCOPED_TRACE(shape_str(s) + (channels_last ? " channels-last " : " NCHW ") + dtype_name(dt));
  autograd::NoGradGuard no_grad;
  Tensor gy = rnd(s, seed, -1, 2, dt);
  Tensor gyg = channels_last ? gy.to(kGpu).contiguous(MemoryFormat::ChannelsLast) : gy.to(kGpu);
  if (channels_last && s[1] > 1 && s[2] * s[3] > 1) {
    ASSERT_EQ(gyg.memory_format(), MemoryFormat::ChannelsLast);
  }
  Tensor gb = Tensor::empty({s[1]}, dt, kGpu), gb2 = Tensor::empty({s[1]}, dt, kGpu);
  cuda::sum_per_channel(gyg, gb);
  cuda::sum_per_channel(gyg, gb2);
  const Tensor ref = bias_grad_reference(gy);
  // Double accumulation: only the final rounding to T (and float4 chunks added in T) differ.
  EXPECT_LE(rel_err(gb.to(DType::Float64), ref), dt == DType::Float32 ? 1e-6 : 1e-13);
  expect_same_values(gb2, gb, "a second run");
}

}  // namespace

TEST_F(CudaLenetKernels, BiasGradientMatchesADoubleSumInOneAndTwoPasses) {
  const std::vector<Shape> shapes = {
      {64, 6, 28, 28},   // LeNet conv1: one pass, 1024 threads
      {64, 16, 10, 10},  // LeNet conv2: one pass
      {3, 5, 7, 7},      // odd sizes, scalar loads
      {1, 3, 1, 1},      // one value per channel
      {2, 1030, 3, 3},   // many channels, a few values each
      {1, 2, 300, 301},  // N = 1: one split, so one pass however large
      {64, 8, 64, 64},   // 262144 values per channel: two passes
      {128, 3, 33, 17},  // two passes, scalar loads
      {64, 16, 5, 5},    // channels-last: one pass, float4 loads
      {8, 32, 9, 9},
  };
  uint64_t seed = 400;
  for (const Shape& s : shapes)
    for (bool cl : {false, true}) {
      bias_case(s, cl, DType::Float32, seed += 2);
      bias_case(s, cl, DType::Float64, seed += 2);
    }
}

TEST_F(CudaLenetKernels, ConvBiasGradientMatchesTheCpuForLeNetsConvolutions) {
  struct Case {
    Shape x, w;
    int64_t pad;
  };
  uint64_t seed = 500;
  for (const Case& c :
       {Case{{16, 1, 28, 28}, {6, 1, 5, 5}, 2}, Case{{16, 6, 14, 14}, {16, 6, 5, 5}, 0}}) {
    Conv2dParams p;
    p.padding = {c.pad, c.pad};
    Tensor x = rnd(c.x, seed++), w = rnd(c.w, seed++), b = grad_leaf(rnd({c.w[0]}, seed++));
    Tensor bg = on_gpu(b);
    const Shape ys{c.x[0], c.w[0], c.x[2] + 2 * c.pad - 4, c.x[3] + 2 * c.pad - 4};
    Tensor r = rnd(ys, seed++, 0.5, 1.5);
    sum(mul(conv2d(x, w, b, p), r)).backward();
    sum(mul(conv2d(x.to(kGpu), w.to(kGpu), bg, p), r.to(kGpu))).backward();
    // The bias gradient is sum over n, h, w of r: both against the double sum of r.
    Tensor ref = bias_grad_reference(r);
    EXPECT_LE(rel_err(bg.grad().to(DType::Float64), ref), 1e-6);
    EXPECT_LE(rel_err(bg.grad(), b.grad()), 1e-6);
  }
}

TEST_F(CudaLenetKernels, ASmallBiasGradientIsOneKernel) {
  set_cuda_poison_allocations(false);
  auto nodes = [](const Shape& s, bool cl) {
    Tensor gy = rnd(s, 600).to(kGpu);
    if (cl) gy = gy.contiguous(MemoryFormat::ChannelsLast);
    Tensor gb = Tensor::empty({s[1]}, DType::Float32, kGpu);
    cuda::sum_per_channel(gy, gb);  // eager first
    cuda_synchronize();
    return captured_nodes([&] { cuda::sum_per_channel(gy, gb); });
  };
  // LeNet's convolutions run in NCHW (conv2d_runs_channels_last): one kernel each.
  EXPECT_EQ(nodes({64, 6, 28, 28}, false), 1u);
  EXPECT_EQ(nodes({64, 16, 10, 10}, false), 1u);
  EXPECT_EQ(nodes({2, 1030, 3, 3}, false), 1u);
  EXPECT_EQ(nodes({64, 8, 64, 64}, false), 2u);  // large: partial sums, then the finish
  // Channels-last: one block holds every row of its channels, so only small sums are one pass.
  EXPECT_EQ(nodes({64, 16, 5, 5}, true), 1u);  // 1600 rows x 16 channels
  EXPECT_EQ(nodes({8, 32, 9, 9}, true), 1u);
  EXPECT_EQ(nodes({2, 1030, 3, 3}, true), 1u);  // two channel tiles
  EXPECT_EQ(nodes({64, 6, 28, 28}, true), 2u);  // 50176 rows x 6 channels: two passes
}

#endif  // NG_WITH_CUDA

// ---------------------------------------------------------------- backward's seed and flatten

// Cross-entropy's forward writes the gradient for an upstream 1, so backward() on the loss adds
// no node to a captured step; another upstream gradient costs one product.
TEST_F(CudaLenetKernels, CrossEntropyBackwardFromTheSeedIsNoKernel) {
  set_cuda_poison_allocations(false);
  Tensor x = grad_leaf(rnd({64, 10}, 720).to(kGpu));
  std::vector<int64_t> lab(64);
  for (size_t i = 0; i < lab.size(); ++i) lab[i] = int64_t(i % 10);
  const Tensor labels = Tensor::from_vector(lab, {64}, kGpu);
  const Tensor three = Tensor::full({}, 3.0, DType::Float32, kGpu);
  auto step = [&](int how) {  // 0: forward only, 1: backward(), 2: backward(3)
    x.zero_grad();
    Tensor loss = cross_entropy(x, labels);
    if (how == 1) loss.backward();
    if (how == 2) loss.backward(three);
  };
  for (int how : {0, 1, 2}) step(how);  // eager first (the seed is made outside a capture)
  cuda_synchronize();
  const size_t forward = captured_nodes([&] { step(0); });
  EXPECT_EQ(captured_nodes([&] { step(1); }), forward);
  EXPECT_EQ(captured_nodes([&] { step(2); }), forward + 1);
}

// A captured backward from a default seed holds no more nodes than one from a gradient made
// before the capture (no fill), and a flatten between two ops adds no node (no copy).
TEST_F(CudaLenetKernels, TheSeedAndAFlattenAddNoNodeToACapturedBackward) {
  set_cuda_poison_allocations(false);
  const int64_t N = 64;
  Tensor x = grad_leaf(rnd({N, 16, 5, 5}, 700).to(kGpu));
  Tensor s = rnd({N, 16, 5, 5}, 701).to(kGpu), r = rnd({N, 400}, 702).to(kGpu);
  Tensor r4 = r.reshape({N, 16, 5, 5});
  Tensor one = Tensor::ones({}, DType::Float32, kGpu);
  auto backward = [&](bool flatten, bool seed) {
    x.zero_grad();
    Tensor h = mul(x, s);
    Tensor loss = flatten ? sum(mul(h.reshape({N, -1}), r)) : sum(mul(h, r4));
    if (seed)
      loss.backward();
    else
      loss.backward(one);
  };
  for (bool flatten : {false, true})
    for (bool seed : {false, true}) backward(flatten, seed);  // eager first
  cuda_synchronize();
  const size_t plain = captured_nodes([&] { backward(false, false); });
  EXPECT_EQ(captured_nodes([&] { backward(false, true); }), plain) << "the seed adds a node";
  EXPECT_EQ(captured_nodes([&] { backward(true, false); }), plain) << "the flatten adds a node";
  EXPECT_EQ(captured_nodes([&] { backward(true, true); }), plain);
  // And the values after an eager run: d/dx = s * r.
  backward(true, true);
  EXPECT_LE(rel_err(x.grad(), mul(s, r4)), 1e-6);
}
