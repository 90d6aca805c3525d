// CUDA backend: every op of the kernel tables, forward and backward, on the GPU against the CPU
// kernels on fresh random inputs (never zeros), with the allocator poisoning every block it hands
// out so that an unwritten output element shows as NaN; tolerance ||gpu - cpu|| / ||cpu||
// <= 1e-5 in pure float32 (TF32 off) and <= 3e-3 with TF32 for matrix products and
// convolutions. Then LeNet-5 trained on both devices from the same seed, giving the same loss
// curve. Every GPU test skips (GTEST_SKIP) where no CUDA device is present; the file compiles in
// every build (engine/ops/cuda/backend.h has stubs without NG_WITH_CUDA).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

#include "engine/autograd/autograd.h"
#include "engine/core/allocator.h"
#include "engine/core/rng.h"
#include "engine/nn/model.h"
#include "engine/ops/conv.h"
#include "engine/ops/cuda/backend.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/norm.h"
#include "engine/ops/optim.h"
#include "engine/ops/pool.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "engine/ops/softmax.h"
#include "engine/optim/sgd.h"
#include "tests/engine/cuda_test_util.h"
#include "tests/engine/gradcheck.h"

#ifdef NG_WITH_CUDA
#include "engine/ops/cuda/libs.h"
#endif

using namespace ng;
using ng::testing::contains;
using ng::testing::message_of;
using namespace ng::testing;

namespace {

constexpr double kTol = 1e-5;      // float32, TF32 off
constexpr double kTolTf32 = 3e-3;  // float32 products on TF32 tensor cores

class CudaParity : public ng::testing::CudaTestBase {};

Tensor labels(const std::vector<int64_t>& v) {
  return Tensor::from_vector(v, {int64_t(v.size())});
}

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Runs f on the CPU inputs and on GPU copies of them: the outputs must agree, and so must the
// gradients of sum(f(x) * r) (r random) for every input that requires grad.
void expect_parity(const std::string& what, const Fn& f, const std::vector<Tensor>& cpu_in,
                   double tol = kTol) {
  SCOPED_TRACE(what);
  std::vector<Tensor> gpu_in;
  for (const Tensor& t : cpu_in) gpu_in.push_back(on_gpu(t));
  for (Tensor t : cpu_in)
    if (t.requires_grad()) t.zero_grad();
  Tensor yc = f(cpu_in), yg = f(gpu_in);
  ASSERT_TRUE(yg.device() == kGpu) << "the GPU result is on " << yg.device().str();
  ASSERT_EQ(yc.shape(), yg.shape());
  const double e = rel_err(yg, yc);
  EXPECT_LE(e, tol) << "forward, shape " << shape_str(yc.shape());
  if (!yc.requires_grad()) return;
  Tensor r = rnd(yc.shape(), 4242, 0.5, 1.5, yc.dtype());
  sum(mul(yc, r)).backward();
  sum(mul(yg, on_gpu(r))).backward();
  for (size_t k = 0; k < cpu_in.size(); ++k) {
    if (!cpu_in[k].requires_grad()) continue;
    Tensor gc = cpu_in[k].grad(), gg = gpu_in[k].grad();
    ASSERT_TRUE(gc.defined() && gg.defined()) << "input " << k << " got no gradient";
    EXPECT_TRUE(gg.device() == kGpu);
    EXPECT_LE(rel_err(gg, gc), tol)
        << "gradient of input " << k << ", shape " << shape_str(gc.shape());
  }
}

}  // namespace

// ---------------------------------------------------------------- the backend itself

TEST(CudaBackend, AvailabilityCheckNeverThrowsAndGivesAReason) {
  bool available = false;
  EXPECT_NO_THROW(available = cuda_available());
  if (!available) {
    EXPECT_FALSE(cuda_unavailable_reason().empty());
  }
  EXPECT_FALSE(cuda_device_description().empty());
}

TEST(CudaBackend, WithoutADeviceATensorThereIsAClearError) {
  if (cuda_available()) {
    GTEST_SKIP() << "a CUDA device is present";
  }
  const std::string msg = message_of<Error>([] { Tensor::zeros({4}, DType::Float32, kGpu); });
  EXPECT_TRUE(contains(msg, "cuda")) << msg;
}

#ifdef NG_WITH_CUDA
TEST(CudaBackend, CheckMacroThrowsWithTheCallAndTheSourceLine) {
  // No device needed: the macro only looks at the status it is given.
  const std::string a = message_of<Error>([] { NG_CUDA_CHECK(cudaErrorInvalidValue); });
  EXPECT_TRUE(contains(a, "cudaErrorInvalidValue")) << a;
  EXPECT_TRUE(contains(a, "test_cuda_parity.cpp:")) << a;
  const std::string b = message_of<Error>([] { NG_CUDA_CHECK(CUBLAS_STATUS_INVALID_VALUE); });
  EXPECT_TRUE(contains(b, "cuBLAS") && contains(b, "CUBLAS_STATUS_INVALID_VALUE")) << b;
  const std::string c = message_of<Error>([] { NG_CUDA_CHECK(CUDNN_STATUS_BAD_PARAM); });
  EXPECT_TRUE(contains(c, "cuDNN") && contains(c, "test_cuda_parity.cpp:")) << c;
  EXPECT_NO_THROW(NG_CUDA_CHECK(cudaSuccess));
}
#endif

TEST_F(CudaParity, AllocatorReusesFreedBlocksAndCountsThem) {
  Allocator& a = allocator(kGpu);
  const size_t before = a.bytes_in_use();
  void* p = a.allocate(3 << 20);
  EXPECT_GE(a.bytes_in_use(), before + (3 << 20));
  a.deallocate(p, 3 << 20);
  EXPECT_EQ(a.bytes_in_use(), before);
  void* q = a.allocate(3 << 20);  // the same bucket: the same block, no cudaMalloc
  EXPECT_EQ(p, q);
  a.deallocate(q, 3 << 20);
}

TEST_F(CudaParity, OutOfMemorySaysHowMuchWasAskedAndSuggestsASmallerBatch) {
  const std::string msg =
      message_of<Error>([] { allocator(kGpu).allocate(size_t(1) << 50); });  // 1 PiB
  EXPECT_TRUE(contains(msg, "out of memory")) << msg;
  EXPECT_TRUE(contains(msg, "1048576.00 GiB")) << msg;  // asked
  EXPECT_TRUE(contains(msg, "free")) << msg;
  EXPECT_TRUE(contains(msg, "smaller batch")) << msg;
  // The device is still usable afterwards.
  EXPECT_EQ(Tensor::full({3}, 2.0, DType::Float32, kGpu).to_vector<float>(),
            std::vector<float>(3, 2.f));
}

// ---------------------------------------------------------------- copy, fill, axpy

TEST_F(CudaParity, CopiesRoundTripEveryDtypeExactly) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    Tensor h = rnd({5, 7}, 1, -3, 3, dt);
    EXPECT_EQ(rel_err(h.to(kGpu).to(Device::cpu()), h), 0.0);
  }
  Tensor ids = Tensor::from_vector<int64_t>({5, -2, 1LL << 40, 7}, {2, 2});
  EXPECT_EQ(ids.to(kGpu).to(Device::cpu()).to_vector<int64_t>(), ids.to_vector<int64_t>());
}

TEST_F(CudaParity, StridedCopiesAndCastsMatchTheCpu) {
  Tensor h = rnd({4, 6, 5}, 2, -4, 4);
  // Host -> device from a permuted (non-contiguous) view.
  Tensor p = h.permute({2, 0, 1});
  EXPECT_EQ(rel_err(p.to(kGpu), p.contiguous()), 0.0);
  // Device -> device: a permuted view made contiguous on the GPU.
  EXPECT_EQ(rel_err(h.to(kGpu).permute({1, 2, 0}).contiguous(), h.permute({1, 2, 0}).contiguous()),
            0.0);
  // Casts on the device, each against the CPU's cast.
  Tensor g = h.to(kGpu);
  for (DType to : {DType::Float64, DType::Int64}) {
    Tensor c = g.to(to), ref = h.to(to);
    EXPECT_EQ(c.dtype(), to);
    EXPECT_EQ(rel_err(c, ref), 0.0) << dtype_name(to);
  }
  Tensor d = h.to(DType::Float64).to(kGpu).to(DType::Float32);
  EXPECT_EQ(rel_err(d, h), 0.0);
  // Host tensor -> device with a cast (float64 host into a float32 device tensor).
  Tensor dst = Tensor::empty({4, 6, 5}, DType::Float32, kGpu);
  copy_(dst, h.to(DType::Float64));
  EXPECT_EQ(rel_err(dst, h), 0.0);
  // Device -> host into a transposed view.
  Tensor host = Tensor::zeros({5, 6}).transpose(0, 1);  // [6, 5], strides [1, 6]
  Tensor src = rnd({6, 5}, 3);
  copy_(host, src.to(kGpu));
  EXPECT_EQ(rel_err(host, src), 0.0);
  // A broadcast source (stride 0) into a device tensor, as linear() copies its bias.
  Tensor b = rnd({5}, 4).to(kGpu);
  Tensor rows = make_view(b, {3, 5}, {0, 1}, b.impl()->offset);
  Tensor y = Tensor::empty({3, 5}, DType::Float32, kGpu);
  copy_(y, rows);
  Tensor bc = b.to(Device::cpu());
  EXPECT_EQ(rel_err(y, make_view(bc, {3, 5}, {0, 1}, 0).contiguous()), 0.0);
}

TEST_F(CudaParity, FillWritesEveryElementOfContiguousAndStridedTensors) {
  for (DType dt : {DType::Float32, DType::Float64, DType::Int64}) {
    for (double v : {0.0, -3.0, 2.5}) {
      Tensor t = Tensor::full({3, 4}, v, dt, kGpu);
      EXPECT_EQ(rel_err(t, Tensor::full({3, 4}, v, dt)), 0.0) << dtype_name(dt) << " " << v;
    }
  }
  // A column of a matrix: strided.
  Tensor hc = rnd({4, 3}, 5), gc = hc.to(kGpu);
  Tensor vh = make_view(hc, {4}, {3}, 1), vg = make_view(gc, {4}, {3}, gc.impl()->offset + 1);
  fill_(vh, 7.25);
  fill_(vg, 7.25);
  EXPECT_EQ(rel_err(gc, hc), 0.0);
}

TEST_F(CudaParity, AxpyAddsScaledTensors) {
  Tensor yh = rnd({1000}, 6), x = rnd({1000}, 7);
  Tensor yg = yh.to(kGpu);
  add_(yh, x, -0.75);
  add_(yg, x.to(kGpu), -0.75);
  EXPECT_LE(rel_err(yg, yh), kTol);
}

// ---------------------------------------------------------------- elementwise

TEST_F(CudaParity, BinaryOpsWithBroadcastingForwardAndBackward) {
  struct Case {
    const char* name;
    Tensor (*f)(const Tensor&, const Tensor&);
  };
  const Case cases[] = {{"add", &ng::add},
                        {"sub", &ng::sub},
                        {"mul", &ng::mul},
                        {"div", &ng::div},
                        {"maximum", &ng::maximum},
                        {"minimum", &ng::minimum},
                        {"greater_equal", &ng::greater_equal}};
  for (const Case& c : cases) {
    Fn f = [&](const std::vector<Tensor>& in) { return c.f(in[0], in[1]); };
    // [3, 1, 5] with [4, 1] -> [3, 4, 5]; denominators kept away from zero.
    expect_parity(std::string(c.name) + " broadcast", f,
                  {grad_leaf(rnd({3, 1, 5}, 10)), grad_leaf(rnd({4, 1}, 11, 0.5, 1.5))});
    // Same shapes, contiguous (the direct path), large enough for many blocks.
    expect_parity(std::string(c.name) + " contiguous", f,
                  {grad_leaf(rnd({300, 70}, 12)), grad_leaf(rnd({300, 70}, 13, 0.5, 1.5))});
    // A transposed operand and a scalar.
    Fn ft = [&](const std::vector<Tensor>& in) { return c.f(in[0].transpose(0, 1), in[1]); };
    expect_parity(std::string(c.name) + " transposed and scalar", ft,
                  {grad_leaf(rnd({6, 9}, 14)), grad_leaf(rnd({}, 15, 0.5, 1.5))});
  }
}

TEST_F(CudaParity, UnaryOpsForwardAndBackward) {
  struct Case {
    UnaryOp op;
    double alpha, lo, hi;
  };
  const Case cases[] = {{UnaryOp::Neg, 0, -2, 2},          {UnaryOp::Exp, 0, -2, 2},
                        {UnaryOp::Log, 0, 0.5, 3},         {UnaryOp::Sqrt, 0, 0.5, 3},
                        {UnaryOp::Abs, 0, -2, 2},          {UnaryOp::Square, 0, -2, 2},
                        {UnaryOp::Reciprocal, 0, 0.5, 3},  {UnaryOp::AddScalar, 1.5, -2, 2},
                        {UnaryOp::MulScalar, -0.5, -2, 2}, {UnaryOp::PowScalar, 2.5, 0.5, 3},
                        {UnaryOp::Relu, 0, -2, 2},         {UnaryOp::LeakyRelu, 0.1, -2, 2},
                        {UnaryOp::Sigmoid, 0, -6, 6},      {UnaryOp::Tanh, 0, -3, 3},
                        {UnaryOp::Gelu, 0, -3, 3}};
  uint64_t seed = 20;
  for (const Case& c : cases) {
    Fn f = [&](const std::vector<Tensor>& in) { return unary(c.op, in[0], c.alpha); };
    expect_parity(unary_op_name(c.op), f, {grad_leaf(rnd({257, 33}, seed++, c.lo, c.hi))});
    Fn ft = [&](const std::vector<Tensor>& in) {
      return unary(c.op, in[0].transpose(0, 1), c.alpha);
    };
    expect_parity(std::string(unary_op_name(c.op)) + " of a transposed input", ft,
                  {grad_leaf(rnd({12, 7}, seed++, c.lo, c.hi))});
  }
}

// ---------------------------------------------------------------- reductions

TEST_F(CudaParity, ReductionsOverAnyAxesForwardAndBackward) {
  const std::vector<std::vector<int64_t>> axes_sets = {{}, {0}, {1}, {2}, {0, 2}, {1, 2}};
  uint64_t seed = 60;
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min}) {
    for (const auto& axes : axes_sets) {
      for (bool keep : {false, true}) {
        Fn f = [&](const std::vector<Tensor>& in) { return reduce(op, in[0], axes, keep); };
        std::string name = "reduce op " + std::to_string(int(op)) + " axes " +
                           std::to_string(axes.size()) + (axes.empty() ? " (all)" : "");
        // Short slices (a thread per output) and long ones (a block per output).
        expect_parity(name + " small", f, {grad_leaf(rnd({5, 6, 7}, seed++))});
        expect_parity(name + " large", f, {grad_leaf(rnd({40, 30, 200}, seed++))});
      }
    }
    // A permuted (strided) input.
    Fn fp = [&](const std::vector<Tensor>& in) {
      return reduce(op, in[0].permute({2, 0, 1}), {1});
    };
    expect_parity("reduce of a permuted input", fp, {grad_leaf(rnd({6, 5, 300}, seed++))});
    // A Linear layer's bias gradient (the batch summed, 8 lanes per output, outputs not a
    // multiple of 32) and slices too short for the lanes (one thread per output).
    Fn f0 = [&](const std::vector<Tensor>& in) { return reduce(op, in[0], {0}, false); };
    expect_parity("reduce over the batch of [64, 120]", f0, {grad_leaf(rnd({64, 120}, seed++))});
    expect_parity("reduce over the batch of [3, 70]", f0, {grad_leaf(rnd({3, 70}, seed++))});
  }
}

// ---------------------------------------------------------------- matrix products

void matmul_cases(double tol) {
  expect_parity(
      "matmul 2-D", [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
      {grad_leaf(rnd({33, 70}, 100)), grad_leaf(rnd({70, 45}, 101))}, tol);
  expect_parity(
      "matmul batched", [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
      {grad_leaf(rnd({3, 17, 20}, 102)), grad_leaf(rnd({3, 20, 9}, 103))}, tol);
  expect_parity(
      "matmul of transposed views",
      [](const std::vector<Tensor>& in) { return matmul(in[0].transpose(0, 1), in[1]); },
      {grad_leaf(rnd({64, 31}, 104)), grad_leaf(rnd({64, 50}, 105))}, tol);
  expect_parity(
      "linear with bias", [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
      {grad_leaf(rnd({64, 784}, 106)), grad_leaf(rnd({256, 784}, 107, -0.05, 0.05)),
       grad_leaf(rnd({256}, 108))},
      tol);
  expect_parity(
      "linear without bias",
      [](const std::vector<Tensor>& in) { return linear(in[0], in[1], Tensor()); },
      {grad_leaf(rnd({10, 84}, 109)), grad_leaf(rnd({10, 84}, 110))}, tol);
}

TEST_F(CudaParity, MatrixProductsInFloat32) {
  matmul_cases(kTol);
}

TEST_F(CudaParity, MatrixProductsWithTf32) {
  set_cuda_tf32(true);
  matmul_cases(kTolTf32);
}

TEST_F(CudaParity, MatrixProductsInFloat64) {
  expect_parity(
      "matmul float64", [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
      {grad_leaf(rnd({20, 30}, 111, -1, 1, DType::Float64)),
       grad_leaf(rnd({30, 10}, 112, -1, 1, DType::Float64))},
      1e-12);
}

// ---------------------------------------------------------------- convolution

struct ConvCase {
  const char* name;
  Shape x, w;
  Conv2dParams p;
  bool bias;
};

std::vector<ConvCase> conv_cases() {
  Conv2dParams same;
  same.padding = {1, 1};
  Conv2dParams s2 = same;
  s2.stride = {2, 2};
  Conv2dParams dil;
  dil.dilation = {2, 2};
  dil.padding = {2, 2};
  Conv2dParams grouped = same;
  grouped.groups = 2;
  Conv2dParams lenet;
  lenet.padding = {2, 2};
  Conv2dParams rect;
  rect.stride = {1, 2};
  rect.padding = {0, 1};
  return {{"3x3 same, bias", {2, 3, 9, 9}, {4, 3, 3, 3}, same, true},
          {"3x3 stride 2, no bias", {3, 4, 10, 11}, {8, 4, 3, 3}, s2, false},
          {"3x3 dilation 2", {2, 3, 12, 12}, {5, 3, 3, 3}, dil, true},
          {"groups 2", {2, 4, 8, 8}, {6, 2, 3, 3}, grouped, true},
          {"1x1 projection", {4, 16, 8, 8}, {32, 16, 1, 1}, Conv2dParams{}, false},
          {"LeNet 5x5 pad 2", {4, 1, 28, 28}, {6, 1, 5, 5}, lenet, true},
          {"rectangular stride and padding", {2, 3, 7, 9}, {4, 3, 2, 3}, rect, true}};
}

void conv_parity(double tol) {
  uint64_t seed = 200;
  for (const ConvCase& c : conv_cases()) {
    std::vector<Tensor> in = {grad_leaf(rnd(c.x, seed++)), grad_leaf(rnd(c.w, seed++, -0.5, 0.5))};
    if (c.bias) in.push_back(grad_leaf(rnd({c.w[0]}, seed++)));
    const Conv2dParams p = c.p;
    const bool bias = c.bias;
    expect_parity(
        c.name,
        [p, bias](const std::vector<Tensor>& v) {
          return conv2d(v[0], v[1], bias ? v[2] : Tensor(), p);
        },
        in, tol);
  }
}

TEST_F(CudaParity, Conv2dForwardAndBackwardInFloat32) {
  conv_parity(kTol);
}

TEST_F(CudaParity, Conv2dForwardAndBackwardWithTf32) {
  set_cuda_tf32(true);
  conv_parity(kTolTf32);
}

TEST_F(CudaParity, Conv2dWithOnlyTheBiasTrainable) {
  Conv2dParams p;
  p.padding = {1, 1};
  expect_parity("conv bias only",
                [p](const std::vector<Tensor>& v) { return conv2d(v[0], v[1], v[2], p); },
                {rnd({2, 3, 6, 6}, 300), rnd({4, 3, 3, 3}, 301), grad_leaf(rnd({4}, 302))});
}

// ---------------------------------------------------------------- pooling

TEST_F(CudaParity, PoolingForwardAndBackward) {
  Pool2dParams k2;  // 2x2 stride 2 (LeNet)
  Pool2dParams k3s2p1;
  k3s2p1.kernel = {3, 3};
  k3s2p1.stride = {2, 2};
  k3s2p1.padding = {1, 1};
  Pool2dParams k3s1p1 = k3s2p1;
  k3s1p1.stride = {1, 1};
  Pool2dParams rect;
  rect.kernel = {2, 3};
  rect.stride = {1, 2};
  uint64_t seed = 400;
  for (const Pool2dParams& p : {k2, k3s2p1, k3s1p1, rect}) {
    expect_parity("max_pool2d", [p](const std::vector<Tensor>& v) { return max_pool2d(v[0], p); },
                  {grad_leaf(rnd({3, 4, 13, 14}, seed++))});
    expect_parity("avg_pool2d", [p](const std::vector<Tensor>& v) { return avg_pool2d(v[0], p); },
                  {grad_leaf(rnd({3, 4, 13, 14}, seed++))});
  }
  expect_parity("global_avg_pool",
                [](const std::vector<Tensor>& v) { return global_avg_pool(v[0]); },
                {grad_leaf(rnd({16, 64, 8, 8}, seed++))});
}

// ---------------------------------------------------------------- normalisation, dropout

TEST_F(CudaParity, BatchNormTrainingMatchesAndUpdatesTheSameRunningStatistics) {
  for (const Shape& s : {Shape{8, 5, 6, 7}, Shape{32, 10}, Shape{512, 16, 4, 4}}) {
    const int64_t C = s[1];
    Tensor rm_c = rnd({C}, 500, -0.1, 0.1), rv_c = rnd({C}, 501, 0.5, 1.5);
    Tensor rm_g = rm_c.to(kGpu), rv_g = rv_c.to(kGpu);
    int call = 0;
    Fn f = [&](const std::vector<Tensor>& v) {
      const bool gpu = call++ == 1;  // expect_parity runs the CPU first
      return batch_norm(v[0], v[1], v[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, Mode::Train, 0.1,
                        1e-5);
    };
    expect_parity("batch_norm train " + shape_str(s), f,
                  {grad_leaf(rnd(s, 502, -2, 3)), grad_leaf(rnd({C}, 503, 0.5, 1.5)),
                   grad_leaf(rnd({C}, 504))});
    EXPECT_LE(rel_err(rm_g, rm_c), kTol) << shape_str(s);
    EXPECT_LE(rel_err(rv_g, rv_c), kTol) << shape_str(s);
  }
}

TEST_F(CudaParity, BatchNormEvalAndWithoutAffineParameters) {
  const Shape s{6, 4, 5, 5};
  Tensor rm_c = rnd({4}, 510), rv_c = rnd({4}, 511, 0.5, 1.5);
  Tensor rm_g = rm_c.to(kGpu), rv_g = rv_c.to(kGpu);
  int call = 0;
  Fn eval = [&](const std::vector<Tensor>& v) {
    const bool gpu = call++ == 1;
    return batch_norm(v[0], v[1], v[2], gpu ? rm_g : rm_c, gpu ? rv_g : rv_c, Mode::Eval);
  };
  expect_parity("batch_norm eval", eval,
                {grad_leaf(rnd(s, 512)), grad_leaf(rnd({4}, 513)), grad_leaf(rnd({4}, 514))});
  Fn plain = [](const std::vector<Tensor>& v) {
    return batch_norm(v[0], Tensor(), Tensor(), Tensor(), Tensor(), Mode::Train);
  };
  expect_parity("batch_norm without affine or running stats", plain, {grad_leaf(rnd(s, 515))});
}

TEST_F(CudaParity, LayerNormForwardAndBackward) {
  Fn affine = [](const std::vector<Tensor>& v) { return layer_norm(v[0], {6, 50}, v[1], v[2]); };
  expect_parity("layer_norm", affine,
                {grad_leaf(rnd({4, 7, 6, 50}, 520, -2, 3)), grad_leaf(rnd({6, 50}, 521)),
                 grad_leaf(rnd({6, 50}, 522))});
  Fn plain = [](const std::vector<Tensor>& v) {
    return layer_norm(v[0], {700}, Tensor(), Tensor());
  };
  expect_parity("layer_norm without affine", plain, {grad_leaf(rnd({9, 700}, 523))});
}

TEST_F(CudaParity, DropoutDrawsTheSameMaskFromTheSameSeed) {
  Fn f = [](const std::vector<Tensor>& v) {
    Rng rng(77);
    return dropout(v[0], 0.3, Mode::Train, rng);
  };
  expect_parity("dropout", f, {grad_leaf(rnd({40, 50}, 530))});
}

// ---------------------------------------------------------------- softmax and losses

TEST_F(CudaParity, SoftmaxAndLogSoftmaxOverAnyAxis) {
  for (int64_t axis : {-1, 1, 0}) {
    Fn sm = [axis](const std::vector<Tensor>& v) { return softmax(v[0], axis); };
    Fn lsm = [axis](const std::vector<Tensor>& v) { return log_softmax(v[0], axis); };
    expect_parity("softmax axis " + std::to_string(axis), sm,
                  {grad_leaf(rnd({6, 10, 7}, 600, -5, 5))});
    expect_parity("log_softmax axis " + std::to_string(axis), lsm,
                  {grad_leaf(rnd({6, 10, 7}, 601, -5, 5))});
  }
  Fn wide = [](const std::vector<Tensor>& v) { return log_softmax(v[0], -1); };
  expect_parity("log_softmax, 1000 classes, large logits", wide,
                {grad_leaf(rnd({16, 1000}, 602, -40, 40))});
}

TEST_F(CudaParity, LossesForwardAndBackward) {
  Rng rng(610);
  std::vector<int64_t> lab(64);
  for (auto& l : lab) l = int64_t(rng.randint(10));
  for (double smoothing : {0.0, 0.1}) {
    Fn ce = [smoothing](const std::vector<Tensor>& v) {
      return cross_entropy(v[0], v[1], smoothing);
    };
    expect_parity("cross_entropy smoothing " + std::to_string(smoothing), ce,
                  {grad_leaf(rnd({64, 10}, 611, -4, 4)), labels(lab)});
  }
  // Beyond 2^16 logits the rows spread over the GPU before their mean (two kernels); the batch
  // above runs in one.
  std::vector<int64_t> many(3000);
  for (auto& l : many) l = int64_t(rng.randint(40));
  Fn ce = [](const std::vector<Tensor>& v) { return cross_entropy(v[0], v[1], 0.1); };
  expect_parity("cross_entropy [3000, 40]", ce,
                {grad_leaf(rnd({3000, 40}, 616, -4, 4)), labels(many)});
  Fn mse = [](const std::vector<Tensor>& v) { return mse_loss(v[0], v[1]); };
  expect_parity("mse_loss", mse, {grad_leaf(rnd({32, 5}, 612)), grad_leaf(rnd({32, 5}, 613))});
  Fn bce = [](const std::vector<Tensor>& v) { return bce_with_logits(v[0], v[1]); };
  expect_parity("bce_with_logits", bce,
                {grad_leaf(rnd({32, 5}, 614, -6, 6)), rnd({32, 5}, 615, 0.01, 0.99)});
}

// ---------------------------------------------------------------- shape ops

TEST_F(CudaParity, ConcatSplitAndEmbedding) {
  Fn cat = [](const std::vector<Tensor>& v) { return concat({v[0], v[1]}, 1); };
  expect_parity("concat", cat,
                {grad_leaf(rnd({3, 2, 4, 4}, 700)), grad_leaf(rnd({3, 5, 4, 4}, 701))});
  Fn spl = [](const std::vector<Tensor>& v) {
    auto parts = split(v[0], {2, 3}, 1);
    return add(mul_scalar(parts[0], 2.0), sum(parts[1], {1}, true));
  };
  expect_parity("split", spl, {grad_leaf(rnd({3, 5, 4}, 702))});
  // Repeated ids: their gradient rows add up.
  Tensor ids = Tensor::from_vector<int64_t>({3, 1, 3, 0, 9, 3, 1, 2}, {2, 4});
  Fn emb = [](const std::vector<Tensor>& v) { return embedding(v[0], v[1]); };
  expect_parity("embedding", emb, {ids, grad_leaf(rnd({10, 16}, 703))});
}

// ---------------------------------------------------------------- optimiser kernels

// Runs `steps` updates of one kernel on both devices from the same random state; the
// parameters and every state tensor must agree.
void expect_optimizer_parity(const std::string& what, int n_state,
                             const std::function<void(int step, std::vector<Tensor>&)>& update) {
  SCOPED_TRACE(what);
  // t[0]: param, t[1]: grad, t[2...]: state (non-negative where it is a square average).
  std::vector<Tensor> c = {rnd({1000}, 800), rnd({1000}, 801)};
  // State in [0.05, 0.1): with square average >= grad average^2, centered RMSprop stays real.
  for (int k = 0; k < n_state; ++k) c.push_back(rnd({1000}, 802 + k, 0.05, 0.1));
  std::vector<Tensor> g;
  for (const Tensor& t : c) g.push_back(t.to(kGpu));
  for (int step = 1; step <= 5; ++step) {
    update(step, c);
    update(step, g);
    Tensor ng = rnd({1000}, 900 + step);  // a fresh gradient for the next step
    c[1] = ng;
    g[1] = ng.to(kGpu);
  }
  EXPECT_LE(rel_err(g[0], c[0]), kTol) << "parameter";
  for (int k = 0; k < n_state; ++k) EXPECT_LE(rel_err(g[2 + k], c[2 + k]), kTol) << "state " << k;
}

TEST_F(CudaParity, OptimizerUpdatesMatchTheCpu) {
  for (bool nesterov : {false, true}) {
    SgdHyper h{
        .lr = 0.1, .momentum = 0.9, .dampening = 0.0, .weight_decay = 1e-2, .nesterov = nesterov};
    expect_optimizer_parity("SGD", 1, [h](int step, std::vector<Tensor>& t) {
      sgd_step_kernel(t[0].device())(h, step == 1, t[0], t[1], t[2]);
    });
  }
  SgdHyper plain{.lr = 0.05};
  expect_optimizer_parity("SGD without momentum", 0, [plain](int, std::vector<Tensor>& t) {
    Tensor none;
    sgd_step_kernel(t[0].device())(plain, false, t[0], t[1], none);
  });
  for (bool decoupled : {false, true}) {
    expect_optimizer_parity(
        decoupled ? "AdamW" : "Adam", 2, [decoupled](int step, std::vector<Tensor>& t) {
          AdamHyper h{
              .lr = 1e-2, .weight_decay = 1e-2, .decoupled_weight_decay = decoupled, .step = step};
          adam_step_kernel(t[0].device())(h, t[0], t[1], t[2], t[3]);
        });
  }
  for (bool centered : {false, true}) {
    RmspropHyper h{.lr = 1e-2, .weight_decay = 1e-3, .momentum = 0.9, .centered = centered};
    expect_optimizer_parity("RMSprop", 3, [h](int, std::vector<Tensor>& t) {
      rmsprop_step_kernel(t[0].device())(h, t[0], t[1], t[2], t[3], t[4]);
    });
  }
}

TEST_F(CudaParity, GradientClippingKernels) {
  for (int64_t n : {int64_t(1), int64_t(1000), int64_t(100000)}) {
    Tensor x = rnd({n}, 950, -2, 2);
    const double c = sum_squares_kernel(Device::cpu())(x);
    const double g = sum_squares_kernel(kGpu)(x.to(kGpu));
    EXPECT_NEAR(g, c, 1e-12 * c) << n;
    EXPECT_EQ(sum_squares_kernel(kGpu)(x.to(kGpu)), g) << "the same sum on every run";
    Tensor xs = x.clone(), xg = x.to(kGpu);
    scale_kernel(Device::cpu())(xs, 0.37);
    scale_kernel(kGpu)(xg, 0.37);
    EXPECT_EQ(rel_err(xg, xs), 0.0);
  }
}

// ---------------------------------------------------------------- a model, end to end

namespace {

GraphSpec lenet_spec() {
  std::string f = __FILE__;  // <root>/tests/engine/test_cuda_parity.cpp
  std::ifstream in(f.substr(0, f.rfind("/tests/engine/")) + "/resources/examples/lenet.graph.json");
  EXPECT_TRUE(in.good());
  nlohmann::json j = nlohmann::json::parse(in);
  if (j.contains("graph")) j = j["graph"];
  return GraphSpec::from_json(j);
}

// Losses of `steps` SGD steps (lr 0.01, momentum 0.9) of LeNet-5 on `device`, cycling through
// four fixed random batches of 16; the model starts from seed 0 on the CPU either way.
std::vector<double> lenet_losses(Device device, int steps, Model* out = nullptr) {
  Model m = Model::compile(lenet_spec(), 0);
  m.to(device);
  std::vector<Tensor> params;
  for (const auto& [name, p] : m.parameters()) params.push_back(p);
  SGD opt(params, {.lr = 0.01, .momentum = 0.9});
  std::vector<Tensor> xs, ys;
  Rng rng(3);
  for (int b = 0; b < 4; ++b) {
    xs.push_back(Tensor::randn({16, 1, 28, 28}, rng));
    std::vector<int64_t> lab(16);
    for (auto& l : lab) l = int64_t(rng.randint(10));
    ys.push_back(Tensor::from_vector(lab, {16}));
  }
  m.set_mode(Mode::Train);
  std::vector<double> losses;
  Model::Result r;
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    m.forward({xs[size_t(s % 4)]}, ys[size_t(s % 4)], r);
    r.loss.backward();
    opt.step();
    losses.push_back(r.loss.item());
  }
  if (out) *out = std::move(m);
  return losses;
}

void expect_same_curve(const std::vector<double>& gpu, const std::vector<double>& cpu, double tol) {
  ASSERT_EQ(gpu.size(), cpu.size());
  for (size_t s = 0; s < cpu.size(); ++s)
    EXPECT_NEAR(gpu[s], cpu[s], tol * std::abs(cpu[s])) << "step " << s;
  EXPECT_LT(cpu.back(), cpu.front()) << "the model should learn the four batches";
}

}  // namespace

TEST_F(CudaParity, LeNetTrainsToTheSameLossCurveOnBothDevices) {
  Model mc = Model::compile(lenet_spec(), 0), mg = Model::compile(lenet_spec(), 0);
  const auto cpu = lenet_losses(Device::cpu(), 40, &mc);
  const auto gpu = lenet_losses(kGpu, 40, &mg);
  expect_same_curve(gpu, cpu, 1e-3);
  // And the trained weights agree.
  const auto pc = mc.parameters(), pg = mg.parameters();
  ASSERT_EQ(pc.size(), pg.size());
  for (size_t i = 0; i < pc.size(); ++i)
    EXPECT_LE(rel_err(pg[i].second, pc[i].second), 1e-3) << pc[i].first;
}

TEST_F(CudaParity, LeNetWithTf32FollowsTheFloat32Curve) {
  set_cuda_tf32(true);
  const auto cpu = lenet_losses(Device::cpu(), 40);
  const auto gpu = lenet_losses(kGpu, 40);
  expect_same_curve(gpu, cpu, 3e-2);
}
