// CUDA backend, the training-step hot paths of convolutional nets: batch norm's multi-block
// kernels (NOTE [Batch-norm grid] in engine/ops/cuda/norm.cu) and convolutions whose cuDNN
// algorithms are chosen by timing (NOTE [cuDNN plans] in engine/ops/cuda/conv.cpp). Each is
// checked against the CPU kernels on fresh random inputs, forward and backward, over shapes
// that reach every branch: channels 1..70, N * S not a multiple of the block or of the vector
// width, several blocks per channel with a ragged last one, [N, C] inputs, a view that starts
// one element into its storage (no vector loads), float64, and eval mode. Allocations are
// poisoned (NaN) so an unwritten element fails. Every test skips without a CUDA device.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "engine/autograd/autograd.h"
#include "engine/core/rng.h"
#include "engine/ops/conv.h"
#include "engine/ops/cuda/backend.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "tests/engine/cuda_test_util.h"

#ifdef NG_WITH_CUDA
#include "engine/ops/cuda/common.h"  // set_conv_algorithm_timing
#endif

using namespace ng;
using namespace ng::testing;

namespace {

constexpr double kTol = 1e-5;      // float32, TF32 off
constexpr double kTolTf32 = 3e-3;  // float32 convolutions on TF32 tensor cores
constexpr double kTol64 = 1e-10;   // float64: only the order of the additions differs

class CudaHotPaths : public ng::testing::CudaTestBase {};

using Fn = std::function<Tensor(const std::vector<Tensor>&, bool gpu)>;

// f on the CPU inputs and on GPU copies: outputs and the gradients of sum(f(x) * r) agree.
void expect_parity(const std::string& what, const Fn& f, const std::vector<Tensor>& cpu_in,
                   double tol) {
  SCOPED_TRACE(what);
  std::vector<Tensor> gpu_in;
  for (const Tensor& t : cpu_in) gpu_in.push_back(on_gpu(t));
  Tensor yc = f(cpu_in, false), yg = f(gpu_in, true);
  ASSERT_TRUE(yg.device() == kGpu);
  EXPECT_LE(rel_err(yg, yc), tol) << "forward, shape " << shape_str(yc.shape());
  if (!yc.requires_grad()) return;
  Tensor r = rnd(yc.shape(), 4242, 0.5, 1.5, yc.dtype());
  sum(mul(yc, r)).backward();
  sum(mul(yg, on_gpu(r))).backward();
  for (size_t k = 0; k < cpu_in.size(); ++k) {
    if (!cpu_in[k].requires_grad()) continue;
    Tensor gc = cpu_in[k].grad(), gg = gpu_in[k].grad();
    ASSERT_TRUE(gc.defined() && gg.defined()) << "input " << k << " got no gradient";
    EXPECT_LE(rel_err(gg, gc), tol)
        << "gradient of input " << k << ", shape " << shape_str(gc.shape());
  }
}

// Batch norm in train mode on both devices with their own copies of the same running
// statistics: y, the three gradients and the updated running statistics agree.
void bn_train_parity(const Shape& s, uint64_t seed, double lo, double hi, DType dt, double tol) {
  const int64_t C = s[1];
  Tensor rm_c = rnd({C}, seed, -0.1, 0.1, dt), rv_c = rnd({C}, seed + 1, 0.5, 1.5, dt);
  Tensor rm_g = rm_c.to(kGpu), rv_g = rv_c.to(kGpu);
  Fn f = [&](const std::vector<Tensor>& v, bool gpu) {
    return batch_norm(v[0], v[1], v[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, Mode::Train, 0.1,
                      1e-5);
  };
  expect_parity(
      "batch_norm train " + shape_str(s) + " " + dtype_name(dt), f,
      {grad_leaf(rnd(s, seed + 2, lo, hi, dt)), grad_leaf(rnd({C}, seed + 3, 0.5, 1.5, dt)),
       grad_leaf(rnd({C}, seed + 4, -1, 1, dt))},
      tol);
  EXPECT_LE(rel_err(rm_g, rm_c), tol) << "running_mean, " << shape_str(s);
  EXPECT_LE(rel_err(rv_g, rv_c), tol) << "running_var, " << shape_str(s);
}

}  // namespace

// ---------------------------------------------------------------- batch norm

TEST_F(CudaHotPaths, BatchNormTrainingOverOddShapesAndChannelCounts) {
  const std::vector<Shape> shapes = {
      {3, 1, 5, 7},       // one channel, S = 35 (scalar loads)
      {7, 3, 5, 5},       // S = 25
      {5, 70, 3, 3},      // channels past 64, S = 9
      {9, 65, 4, 4},      // S = 16 (vector loads), 65 channels
      {2, 1, 2},          // the smallest a training batch can be: two values
      {64, 33},           // [N, C]: S = 1
      {300, 5, 49},       // several blocks per channel, the last one ragged; scalar loads
      {300, 6, 8, 8},     // several blocks per channel, the last one ragged; vector loads
      {256, 16, 16, 16},  // ResNet-like first stage, 32 blocks per channel
      {130, 64, 1, 7}};   // S = 7 across many blocks
  uint64_t seed = 1000;
  for (const Shape& s : shapes) {
    bn_train_parity(s, seed, -2, 3, DType::Float32, kTol);
    seed += 10;
  }
}

TEST_F(CudaHotPaths, BatchNormVarianceStaysAccurateFarFromZero) {
  // Values near 1000 with a spread of 1: the variance is taken about the channel's first value,
  // so float32 sums do not cancel.
  bn_train_parity({128, 8, 6, 6}, 1100, 999, 1001, DType::Float32, kTol);
}

TEST_F(CudaHotPaths, BatchNormInFloat64) {
  bn_train_parity({50, 7, 6, 6}, 1200, -2, 3, DType::Float64, kTol64);  // double2 loads
  bn_train_parity({33, 3, 5}, 1210, -2, 3, DType::Float64, kTol64);     // scalar loads
}

TEST_F(CudaHotPaths, BatchNormOnAViewThatIsNotSixteenByteAligned) {
  // x starts one element into its storage: the kernels must fall back to scalar loads.
  const Shape s{40, 6, 4, 4};
  const int64_t n = numel(s), C = s[1];
  Tensor rm_c = rnd({C}, 1300, -0.1, 0.1), rv_c = rnd({C}, 1301, 0.5, 1.5);
  Tensor rm_g = rm_c.to(kGpu), rv_g = rv_c.to(kGpu);
  Fn f = [&](const std::vector<Tensor>& v, bool gpu) {
    Tensor x = split(v[0], {1, n}, 0)[1].reshape(s);
    return batch_norm(x, v[1], v[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, Mode::Train, 0.1, 1e-5);
  };
  expect_parity("batch_norm on an offset view", f,
                {grad_leaf(rnd({n + 1}, 1302, -2, 3)), grad_leaf(rnd({C}, 1303, 0.5, 1.5)),
                 grad_leaf(rnd({C}, 1304))},
                kTol);
  EXPECT_LE(rel_err(rm_g, rm_c), kTol);
  EXPECT_LE(rel_err(rv_g, rv_c), kTol);
}

TEST_F(CudaHotPaths, BatchNormEvalModeOverOddShapes) {
  uint64_t seed = 1400;
  for (const Shape& s :
       {Shape{3, 1, 5, 7}, Shape{64, 33}, Shape{300, 6, 8, 8}, Shape{5, 70, 3, 3}}) {
    const int64_t C = s[1];
    Tensor rm_c = rnd({C}, seed, -0.5, 0.5), rv_c = rnd({C}, seed + 1, 0.5, 1.5);
    Tensor rm_g = rm_c.to(kGpu), rv_g = rv_c.to(kGpu);
    Fn f = [&](const std::vector<Tensor>& v, bool gpu) {
      return batch_norm(v[0], v[1], v[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, Mode::Eval);
    };
    expect_parity("batch_norm eval " + shape_str(s), f,
                  {grad_leaf(rnd(s, seed + 2, -2, 3)), grad_leaf(rnd({C}, seed + 3, 0.5, 1.5)),
                   grad_leaf(rnd({C}, seed + 4))},
                  kTol);
    // Eval leaves the running statistics alone.
    EXPECT_EQ(rel_err(rm_g, rm_c), 0.0);
    EXPECT_EQ(rel_err(rv_g, rv_c), 0.0);
    seed += 10;
  }
}

TEST_F(CudaHotPaths, BatchNormIsBitwiseRepeatable) {
  // Fixed-order reductions: the same input gives the same bits, forward and backward.
  const Shape s{300, 6, 8, 8};
  Tensor x = on_gpu(grad_leaf(rnd(s, 1500, -2, 3)));
  Tensor g = on_gpu(grad_leaf(rnd({6}, 1501, 0.5, 1.5)));
  expect_batch_norm_repeatable(x, g, rnd(s, 1502).to(kGpu));
}

// ---------------------------------------------------------------- convolution

namespace {

struct ResNetConv {
  const char* name;
  Shape x, w;
  int64_t stride, pad;
};

// ResNet-20's convolution shapes at a batch large enough for cuDNN's timed choice to differ from
// the small parity cases (FFT, Winograd and implicit-GEMM candidates all apply).
std::vector<ResNetConv> resnet_convs() {
  return {{"stem 3->16", {32, 3, 32, 32}, {16, 3, 3, 3}, 1, 1},
          {"stage 1 16->16", {32, 16, 32, 32}, {16, 16, 3, 3}, 1, 1},
          {"stage 2 entry 16->32 stride 2", {32, 16, 32, 32}, {32, 16, 3, 3}, 2, 1},
          {"1x1 projection stride 2", {32, 16, 32, 32}, {32, 16, 1, 1}, 2, 0},
          {"stage 3 64->64", {32, 64, 8, 8}, {64, 64, 3, 3}, 1, 1}};
}

// batch: replaces the cases' batch size, so that the plans are new (plans are cached per shape).
void resnet_conv_parity(double tol, int64_t batch = 0) {
  uint64_t seed = 2000;
  for (ResNetConv c : resnet_convs()) {
    if (batch) c.x[0] = batch;
    Conv2dParams p;
    p.stride = {c.stride, c.stride};
    p.padding = {c.pad, c.pad};
    Fn f = [p](const std::vector<Tensor>& v, bool) { return conv2d(v[0], v[1], Tensor(), p); };
    expect_parity(c.name, f, {grad_leaf(rnd(c.x, seed)), grad_leaf(rnd(c.w, seed + 1, -0.3, 0.3))},
                  tol);
    // The second call runs the cached plan's algorithms: the same agreement.
    expect_parity(std::string(c.name) + ", cached plan", f,
                  {grad_leaf(rnd(c.x, seed + 2)), grad_leaf(rnd(c.w, seed + 3, -0.3, 0.3))}, tol);
    seed += 10;
  }
}

}  // namespace

TEST_F(CudaHotPaths, TimedConvolutionAlgorithmsMatchTheCpuInFloat32) {
  resnet_conv_parity(kTol);
}

TEST_F(CudaHotPaths, TimedConvolutionAlgorithmsMatchTheCpuWithTf32) {
  set_cuda_tf32(true);
  resnet_conv_parity(kTolTf32);
}

#ifdef NG_WITH_CUDA
TEST_F(CudaHotPaths, HeuristicConvolutionAlgorithmsStillMatchTheCpu) {
  // The fallback when timing is off (NG_CUDNN_FIND=0, or a CUDA graph being captured).
  cuda::set_conv_algorithm_timing(false);
  resnet_conv_parity(kTol, 24);
  set_cuda_tf32(true);
  resnet_conv_parity(kTolTf32, 24);
  cuda::set_conv_algorithm_timing(true);
}

TEST_F(CudaHotPaths, AlgorithmsRankedByTheMedianOfThreeFindsStillMatchTheCpu) {
  // NG_CUDNN_FIND_TRIALS=3: each problem (batch 20: plans no other test made) timed three times,
  // so Find runs three times per choice.
  const int saved = cuda::conv_find_trials();
  cuda::set_conv_find_trials(3);
  const int64_t before = cuda::conv_find_calls();
  resnet_conv_parity(kTol, 20);
  set_cuda_tf32(true);
  resnet_conv_parity(kTolTf32, 20);
  const int64_t calls = cuda::conv_find_calls() - before;
  cuda::set_conv_find_trials(saved);
  EXPECT_GT(calls, 0);
  EXPECT_EQ(calls % 3, 0) << calls << " Find calls";
}
#endif

// NOTE [Gradients added in place by the kernel]: the backward-data kernel that adds (cuDNN's
// beta = 1) gives what is there plus the plain kernel's result, NCHW and channels-last, also on a
// plan's first call, whose algorithm search must not write over the gradient given (shapes no
// other test uses, so the add kernel makes the plans).
TEST_F(CudaHotPaths, BackwardDataAddsIntoTheGradientGiven) {
  uint64_t seed = 2300;
  for (bool cl : {false, true}) {
    SCOPED_TRACE(cl ? "channels-last" : "NCHW");
    const MemoryFormat fmt = cl ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous;
    Conv2dParams p;
    p.padding = {1, 1};
    p.channels_last = cl;
    const Shape xs{6, 16, cl ? 18 : 17, 18}, ws{24, 16, 3, 3};
    const Shape ys{xs[0], ws[0], xs[2], xs[3]};
    Tensor gy = rnd(ys, seed).to(kGpu).contiguous(fmt);
    Tensor w = rnd(ws, seed + 1, -0.3, 0.3).to(kGpu).contiguous(fmt);
    Tensor before = rnd(xs, seed + 2).to(kGpu).contiguous(fmt);
    Tensor added = before.clone().contiguous(fmt);
    conv2d_backward_data_add_kernel(kGpu)(gy, w, p, added);
    Tensor plain = Tensor::empty(xs, DType::Float32, kGpu, fmt);
    conv2d_backward_data_kernel(kGpu)(gy, w, p, plain);
    EXPECT_LE(rel_err(added, add(before, plain)), 1e-6);
    EXPECT_GT(rel_err(added, plain), 0.1);  // what was there counts
    seed += 10;
  }
}

TEST_F(CudaHotPaths, ConvolutionBiasAddAndGradientOverManyBlocks) {
  // The bias is added by a vectorised kernel and its gradient summed on batch norm's two-pass
  // grid: S = 256 (vector loads) and S = 225 (scalar), with several blocks per channel.
  Conv2dParams p;
  p.padding = {1, 1};
  uint64_t seed = 2200;
  for (const Shape& xs : {Shape{96, 5, 16, 16}, Shape{96, 5, 15, 15}, Shape{3, 70, 4, 4}}) {
    const int64_t O = xs[1] == 70 ? 66 : 7;
    Fn f = [p](const std::vector<Tensor>& v, bool) { return conv2d(v[0], v[1], v[2], p); };
    expect_parity("conv with bias " + shape_str(xs), f,
                  {grad_leaf(rnd(xs, seed)), grad_leaf(rnd({O, xs[1], 3, 3}, seed + 1, -0.3, 0.3)),
                   grad_leaf(rnd({O}, seed + 2))},
                  kTol);
    seed += 10;
  }
}

TEST_F(CudaHotPaths, ConvBatchNormReluBlockMatchesTheCpu) {
  // conv -> batch norm -> relu -> conv, as in a ResNet block, TF32 on: the layers' tolerances
  // add up, so TF32's bound applies. Inputs with a mean of 0.5 keep the channel means (and so
  // the running means compared below) away from zero, where a relative error means little.
  set_cuda_tf32(true);
  Conv2dParams p;
  p.padding = {1, 1};
  Tensor rm_c = Tensor::zeros({16}), rv_c = Tensor::ones({16});
  Tensor rm_g = rm_c.to(kGpu), rv_g = rv_c.to(kGpu);
  Fn f = [&](const std::vector<Tensor>& v, bool gpu) {
    Tensor h = conv2d(v[0], v[1], Tensor(), p);
    h = relu(batch_norm(h, v[2], v[3], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, Mode::Train));
    return conv2d(h, v[4], Tensor(), p);
  };
  expect_parity(
      "conv-bn-relu-conv", f,
      {grad_leaf(rnd({64, 16, 16, 16}, 2100, -0.5, 1.5)),
       grad_leaf(rnd({16, 16, 3, 3}, 2101, -0.3, 0.3)), grad_leaf(rnd({16}, 2102, 0.5, 1.5)),
       grad_leaf(rnd({16}, 2103)), grad_leaf(rnd({16, 16, 3, 3}, 2104, -0.3, 0.3))},
      kTolTf32);
  EXPECT_LE(rel_err(rm_g, rm_c), kTolTf32);
  EXPECT_LE(rel_err(rv_g, rv_c), kTolTf32);
}
