// bfloat16 and bf16 mixed precision (NOTE [Autocast], engine/ops/autocast.h).
// On the CPU: the host bfloat16 type's rounding, casts of tensors to and from it, that it is a
// storage type only, the precision setting and its scope, that CPU ops ignore autocast, and that
// the trainer refuses bf16 there. On a GPU (CudaBf16*, skipped without a device): casts match
// the host bit for bit; products use bfloat16 inputs with float32 accumulation; Linear, MatMul
// and Conv2d forward and backward agree with the float32 CPU kernels within 2e-2 relative;
// weights are cast once per step; master weights, gradients and optimiser state stay float32;
// LeNet-5 and the MLP trained in bf16 for 500 steps reach float32's loss; the Trainer and its
// checkpoints run in bf16.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>
#include <tuple>

#include "engine/autograd/autograd.h"
#include "engine/core/rng.h"
#include "engine/io/project.h"
#include "engine/nn/model.h"
#include "engine/ops/autocast.h"
#include "engine/ops/conv.h"
#include "engine/ops/cuda/backend.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/reduce.h"
#include "engine/optim/sgd.h"
#include "engine/train/datasets.h"
#include "engine/train/trainer.h"
#include "tests/engine/cuda_test_util.h"
#include "tests/engine/gradcheck.h"

using namespace ng;
using ng::testing::contains;
using ng::testing::grad_leaf;
using ng::testing::kGpu;
using ng::testing::message_of;
using ng::testing::on_gpu;
using ng::testing::rel_err;
using ng::testing::rnd;

namespace {

std::string source_root() {
  std::string f = __FILE__;  // <root>/tests/engine/test_bf16.cpp
  return f.substr(0, f.rfind("/tests/engine/"));
}

GraphSpec graph_file(const std::string& name) {
  std::ifstream in(source_root() + "/resources/examples/" + name + ".graph.json");
  EXPECT_TRUE(in.good()) << name;
  nlohmann::json j = nlohmann::json::parse(in);
  if (j.contains("graph")) j = j["graph"];
  return GraphSpec::from_json(j);
}

uint16_t bits_of(float f) {
  return bfloat16(f).bits;
}
float float_of_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

// The float32 values of t rounded to bfloat16 and back (an independent host reference: the
// bits are cut by hand here, not by ng::bfloat16).
std::vector<double> rounded_to_bf16(const Tensor& t) {
  std::vector<float> v = t.to_vector<float>();
  std::vector<double> r(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t u;
    std::memcpy(&u, &v[i], sizeof u);
    const uint32_t lsb = (u >> 16) & 1u;
    u = (u + 0x7fffu + lsb) & 0xffff0000u;
    r[i] = double(float_of_bits(u));
  }
  return r;
}

}  // namespace

// ---------------------------------------------------------------- the host type (CPU)

TEST(Bf16Type, RoundsToNearestEvenAndKeepsInfinityAndNan) {
  EXPECT_EQ(bits_of(1.0f), 0x3F80);
  EXPECT_EQ(bits_of(-2.0f), 0xC000);
  EXPECT_EQ(bits_of(0.0f), 0x0000);
  EXPECT_EQ(bits_of(-0.0f), 0x8000);
  // 1 + 2^-8 lies halfway between 1 (even mantissa) and 1 + 2^-7: ties go to the even one.
  EXPECT_EQ(bits_of(1.0f + 0x1p-8f), 0x3F80);
  // 1 + 2^-7 + 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up.
  EXPECT_EQ(bits_of(1.0f + 0x1p-7f + 0x1p-8f), 0x3F82);
  // Just above halfway rounds up, just below rounds down.
  EXPECT_EQ(bits_of(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);
  EXPECT_EQ(bits_of(1.0f + 0x1p-8f - 0x1p-20f), 0x3F80);
  EXPECT_EQ(bits_of(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(bits_of(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(bits_of(std::numeric_limits<float>::max()), 0x7F80);  // rounds past the largest
  EXPECT_TRUE(std::isnan(float(bfloat16(std::numeric_limits<float>::quiet_NaN()))));
  // A NaN whose payload sits only in the low 16 bits must not become infinity.
  EXPECT_TRUE(std::isnan(float(bfloat16(float_of_bits(0x7F800001u)))));
  // The same exponent range as float32: tiny and huge values survive (no loss scaling needed).
  EXPECT_NEAR(float(bfloat16(1e-30f)), 1e-30f, 1e-30f * 0x1p-8f);
  EXPECT_NEAR(float(bfloat16(1e30f)), 1e30f, 1e30f * 0x1p-8f);
  // Widening is exact.
  EXPECT_EQ(float(bfloat16::from_bits(0x4049)), 3.140625f);
}

TEST(Bf16Type, RelativeRoundingErrorIsAtMostTwoToTheMinusEight) {
  Rng rng(7);
  Tensor x = Tensor::uniform({10000}, -1000.0, 1000.0, rng);
  for (float v : x.to_vector<float>()) {
    const float r = float(bfloat16(v));
    EXPECT_LE(std::abs(r - v), std::abs(v) * 0x1p-8f) << v;
  }
}

TEST(Bf16Type, TensorsCastToAndFromEveryDtypeOnTheCpu) {
  Tensor x = rnd({7, 13}, 11, -50, 50);
  Tensor h = x.to(DType::BFloat16);
  EXPECT_EQ(h.dtype(), DType::BFloat16);
  EXPECT_EQ(h.nbytes(), size_t(7 * 13 * 2));
  EXPECT_STREQ(dtype_name(h.dtype()), "bfloat16");
  std::vector<double> want = rounded_to_bf16(x);
  EXPECT_EQ(h.to(DType::Float32).to_vector<double>(), want);
  EXPECT_EQ(h.to(DType::Float64).to_vector<double>(), want);
  EXPECT_EQ(h.to_vector<double>(), want);
  // Strided sources and destinations.
  Tensor ht = x.transpose(0, 1).to(DType::BFloat16);
  EXPECT_EQ(ht.to(DType::Float32).to_vector<double>(),
            rounded_to_bf16(x.transpose(0, 1).contiguous()));
  // Integers and scalars.
  Tensor i = Tensor::from_vector<int64_t>({-3, 0, 7, 256, 257}, {5});
  EXPECT_EQ(i.to(DType::BFloat16).to(DType::Int64).to_vector<int64_t>(),
            (std::vector<int64_t>{-3, 0, 7, 256, 256}));  // 257 needs 9 mantissa bits
  EXPECT_EQ(Tensor::full({3}, 2.5, DType::BFloat16).to_vector<double>(),
            (std::vector<double>{2.5, 2.5, 2.5}));
  EXPECT_EQ(Tensor::scalar(-0.75, DType::BFloat16).item(), -0.75);
  EXPECT_EQ(Tensor::zeros({4}, DType::BFloat16).to_vector<double>(), std::vector<double>(4, 0.0));
}

TEST(Bf16Type, IsAStorageTypeThatNoOpComputesIn) {
  EXPECT_FALSE(is_floating(DType::BFloat16));
  Tensor h = rnd({4, 4}, 12).to(DType::BFloat16);
  EXPECT_TRUE(contains(message_of<Error>([&] { h.set_requires_grad(true); }), "bfloat16"));
  EXPECT_TRUE(contains(message_of<Error>([&] { matmul(h, h); }), "bfloat16"));
  // Casting a tensor that requires grad records nothing: bfloat16 is never differentiated.
  Tensor w = rnd({4, 4}, 13);
  w.set_requires_grad(true);
  EXPECT_FALSE(w.to(DType::BFloat16).requires_grad());
}

// ---------------------------------------------------------------- the setting (CPU)

TEST(Autocast, PrecisionNamesParseAndOtherValuesAreRefusedNamingWhere) {
  EXPECT_EQ(parse_precision("float32", "x"), Precision::Float32);
  EXPECT_EQ(parse_precision("bf16", "x"), Precision::BFloat16);
  EXPECT_STREQ(precision_name(Precision::BFloat16), "bf16");
  EXPECT_STREQ(precision_name(Precision::Float32), "float32");
  const std::string m = message_of<Error>([] { parse_precision("fp16", "--precision"); });
  EXPECT_TRUE(contains(m, "--precision")) << m;
  EXPECT_TRUE(contains(m, "fp16")) << m;
  EXPECT_TRUE(contains(m, "\"float32\" or \"bf16\"")) << m;
}

TEST(Autocast, ScopesNestAndRestoreThePreviousPrecision) {
  EXPECT_EQ(autocast_precision(), Precision::Float32);
  {
    AutocastScope a(Precision::BFloat16);
    EXPECT_EQ(autocast_precision(), Precision::BFloat16);
    EXPECT_TRUE(autocast_bf16(Device::cuda(), DType::Float32));
    EXPECT_FALSE(autocast_bf16(Device::cpu(), DType::Float32));
    EXPECT_FALSE(autocast_bf16(Device::cuda(), DType::Float64));
    {
      AutocastScope b(Precision::Float32);
      EXPECT_FALSE(autocast_bf16(Device::cuda(), DType::Float32));
    }
    EXPECT_EQ(autocast_precision(), Precision::BFloat16);
  }
  EXPECT_EQ(autocast_precision(), Precision::Float32);
  EXPECT_FALSE(autocast_bf16(Device::cuda(), DType::Float32));
}

TEST(Autocast, CpuOpsAreUnaffectedByABf16Scope) {
  Tensor x = rnd({8, 20}, 21), w = rnd({6, 20}, 22), b = rnd({6}, 23);
  Tensor xi = rnd({2, 3, 9, 9}, 24), wi = rnd({4, 3, 3, 3}, 25), bi = rnd({4}, 26);
  Conv2dParams p;
  p.padding = {1, 1};
  const Tensor y0 = linear(x, w, b), m0 = matmul(x, w.transpose(0, 1)), c0 = conv2d(xi, wi, bi, p);
  const int64_t casts = autocast_weight_casts();
  AutocastScope amp(Precision::BFloat16);
  EXPECT_EQ(linear(x, w, b).to_vector<float>(), y0.to_vector<float>());
  EXPECT_EQ(matmul(x, w.transpose(0, 1)).to_vector<float>(), m0.to_vector<float>());
  EXPECT_EQ(conv2d(xi, wi, bi, p).to_vector<float>(), c0.to_vector<float>());
  EXPECT_EQ(autocast_weight_casts(), casts);
}

TEST(Autocast, TheTrainerRefusesBf16OnTheCpuNamingTheField) {
  ProjectSpec p = load_project(source_root() + "/resources/examples/spiral-mlp.ngraph");
  p.training.precision = "bf16";
  train::TrainingData d = train::make_datasets(p.dataset, "");
  Model m = Model::compile(p.graph, 0);
  train::TrainerOptions o;
  o.training = p.training;
  const std::string msg = message_of<Error>([&] { train::Trainer t(m, d, o); });
  EXPECT_TRUE(contains(msg, "training.precision")) << msg;
  EXPECT_TRUE(contains(msg, "CUDA")) << msg;
  EXPECT_TRUE(contains(msg, "cpu")) << msg;
  // float32 is accepted, and is the default.
  o.training.precision = "float32";
  train::Trainer t(m, d, o);
  EXPECT_EQ(t.precision(), Precision::Float32);
  EXPECT_EQ(TrainingSpec{}.precision, "float32");
}

// ---------------------------------------------------------------- on a GPU

namespace {

constexpr double kTolBf16 = 2e-2;

// GPU tests: skipped without a device; TF32 off so that float32 references are exact.
class CudaBf16 : public ng::testing::CudaTestBase {};

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// f on the CPU in float32 and on GPU copies in bf16 autocast: outputs and the gradients of
// sum(f(x) * r) agree within `tol`; every GPU result and gradient is float32.
void expect_bf16_parity(const std::string& what, const Fn& f, const std::vector<Tensor>& cpu_in,
                        double tol = kTolBf16) {
  SCOPED_TRACE(what);
  std::vector<Tensor> gpu_in;
  for (const Tensor& t : cpu_in) gpu_in.push_back(on_gpu(t));
  Tensor yc = f(cpu_in), yg;
  {
    AutocastScope amp(Precision::BFloat16);
    yg = f(gpu_in);
  }
  ASSERT_TRUE(yg.device() == kGpu);
  EXPECT_EQ(yg.dtype(), DType::Float32);
  EXPECT_LE(rel_err(yg, yc), tol) << "forward, shape " << shape_str(yc.shape());
  Tensor r = rnd(yc.shape(), 4242, 0.5, 1.5);
  sum(mul(yc, r)).backward();
  sum(mul(yg, on_gpu(r))).backward();  // backward outside the scope: the recorded bf16 products
  for (size_t k = 0; k < cpu_in.size(); ++k) {
    if (!cpu_in[k].requires_grad()) continue;
    Tensor gc = cpu_in[k].grad(), gg = gpu_in[k].grad();
    ASSERT_TRUE(gc.defined() && gg.defined()) << "input " << k << " got no gradient";
    EXPECT_EQ(gg.dtype(), DType::Float32);
    EXPECT_TRUE(gg.device() == kGpu);
    EXPECT_LE(rel_err(gg, gc), tol)
        << "gradient of input " << k << ", shape " << shape_str(gc.shape());
  }
}

}  // namespace

TEST_F(CudaBf16, CastsOnTheGpuMatchTheHostBitForBit) {
  for (int64_t n : {1, 3, 4, 5, 1000, 4099}) {
    SCOPED_TRACE(n);
    Tensor x = rnd({n}, 30 + uint64_t(n), -3e4, 3e4);
    Tensor want = x.to(DType::BFloat16);  // the host's rounding
    Tensor got = x.to(kGpu).to(DType::BFloat16);
    EXPECT_EQ(got.device(), kGpu);
    EXPECT_EQ(got.to(Device::cpu()).to_vector<double>(), want.to_vector<double>());
    // Back to float32 exactly; and from a view that starts one element in (unaligned).
    EXPECT_EQ(got.to(DType::Float32).to_vector<double>(), want.to_vector<double>());
    if (n > 1) {
      Tensor xv = make_view(x.to(kGpu), {n - 1}, {1}, 1);
      EXPECT_EQ(xv.to(DType::BFloat16).to_vector<double>(),
                make_view(want, {n - 1}, {1}, 1).to_vector<double>());
    }
  }
  // Special values, strided views, other dtypes, fill.
  Tensor s = Tensor::from_vector<float>(
      {0.f, -0.f, 1.f + 0x1p-8f, 1.f + 0x1p-7f + 0x1p-8f, std::numeric_limits<float>::infinity(),
       std::numeric_limits<float>::max(), 1e-30f, -7.5f},
      {8});
  EXPECT_EQ(s.to(kGpu).to(DType::BFloat16).to_vector<double>(),
            s.to(DType::BFloat16).to_vector<double>());
  Tensor m = rnd({9, 14}, 40);
  EXPECT_EQ(m.to(kGpu).transpose(0, 1).to(DType::BFloat16).to_vector<double>(),
            m.transpose(0, 1).to(DType::BFloat16).to_vector<double>());
  Tensor d = rnd({33}, 41).to(DType::Float64);
  EXPECT_EQ(d.to(kGpu).to(DType::BFloat16).to_vector<double>(),
            d.to(DType::BFloat16).to_vector<double>());
  EXPECT_EQ(Tensor::full({5, 3}, -1.25, DType::BFloat16, kGpu).to_vector<double>(),
            std::vector<double>(15, -1.25));
  EXPECT_EQ(Tensor::zeros({6}, DType::BFloat16, kGpu).to_vector<double>(),
            std::vector<double>(6, 0.0));
}

TEST_F(CudaBf16, ProductsTakeBf16InputsAndAccumulateInFloat32) {
  // Against a float64 host product of the bf16-rounded operands: agreement to float32
  // accumulation (1e-5) shows the inputs were rounded to bfloat16 and nothing else was.
  const int64_t N = 64, K = 300, O = 40;
  Tensor x = rnd({N, K}, 50), w = rnd({O, K}, 51);
  std::vector<double> xr = rounded_to_bf16(x), wr = rounded_to_bf16(w), ref(size_t(N * O));
  for (int64_t i = 0; i < N; ++i)
    for (int64_t j = 0; j < O; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k) s += xr[size_t(i * K + k)] * wr[size_t(j * K + k)];
      ref[size_t(i * O + j)] = s;
    }
  Tensor y;
  {
    AutocastScope amp(Precision::BFloat16);
    y = linear(x.to(kGpu), w.to(kGpu), Tensor());
  }
  EXPECT_EQ(y.dtype(), DType::Float32);
  Tensor want = Tensor::from_vector(ref, {N, O});
  EXPECT_LE(rel_err(y, want), 1e-5);
  // And they differ from the exact float32 product by bfloat16's rounding, so bf16 was used.
  const double vs_f32 = rel_err(y, linear(x, w, Tensor()));
  EXPECT_GT(vs_f32, 1e-4);
  EXPECT_LT(vs_f32, kTolBf16);
}

TEST_F(CudaBf16, LinearAndMatMulForwardAndBackwardMatchFloat32) {
  expect_bf16_parity("matmul 2-D",
                     [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                     {grad_leaf(rnd({33, 70}, 100)), grad_leaf(rnd({70, 45}, 101))});
  expect_bf16_parity("matmul batched",
                     [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
                     {grad_leaf(rnd({3, 17, 20}, 102)), grad_leaf(rnd({3, 20, 9}, 103))});
  expect_bf16_parity(
      "matmul of transposed views",
      [](const std::vector<Tensor>& in) { return matmul(in[0].transpose(0, 1), in[1]); },
      {grad_leaf(rnd({64, 31}, 104)), grad_leaf(rnd({64, 50}, 105))});
  expect_bf16_parity("linear with bias",
                     [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                     {grad_leaf(rnd({64, 784}, 106)), grad_leaf(rnd({256, 784}, 107, -0.05, 0.05)),
                      grad_leaf(rnd({256}, 108))});
  expect_bf16_parity("linear without bias, input not trainable",
                     [](const std::vector<Tensor>& in) { return linear(in[0], in[1], Tensor()); },
                     {rnd({10, 84}, 109), grad_leaf(rnd({10, 84}, 110))});
}

TEST_F(CudaBf16, Conv2dForwardAndBackwardMatchFloat32) {
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
  struct Case {
    const char* name;
    Shape x, w;
    Conv2dParams p;
    bool bias;
  };
  const std::vector<Case> cases = {
      {"3x3 same, bias", {2, 3, 9, 9}, {4, 3, 3, 3}, same, true},
      {"3x3 stride 2, no bias", {3, 4, 10, 11}, {8, 4, 3, 3}, s2, false},
      {"3x3 dilation 2", {2, 3, 12, 12}, {5, 3, 3, 3}, dil, true},
      {"groups 2", {2, 4, 8, 8}, {6, 2, 3, 3}, grouped, true},
      {"1x1 projection", {4, 16, 8, 8}, {32, 16, 1, 1}, Conv2dParams{}, false},
      {"LeNet 5x5 pad 2", {4, 1, 28, 28}, {6, 1, 5, 5}, lenet, true},
      {"ResNet 3x3, 16 -> 16", {8, 16, 32, 32}, {16, 16, 3, 3}, same, false}};
  uint64_t seed = 200;
  for (const Case& c : cases) {
    std::vector<Tensor> in = {grad_leaf(rnd(c.x, seed++)), grad_leaf(rnd(c.w, seed++, -0.5, 0.5))};
    if (c.bias) in.push_back(grad_leaf(rnd({c.w[0]}, seed++)));
    const Conv2dParams p = c.p;
    const bool bias = c.bias;
    expect_bf16_parity(
        c.name,
        [p, bias](const std::vector<Tensor>& v) {
          return conv2d(v[0], v[1], bias ? v[2] : Tensor(), p);
        },
        in);
  }
}

TEST_F(CudaBf16, ConvolutionsRunOnBf16DataWithFloat32Accumulation) {
  // Inputs and weights of the form k/256 (exact in bfloat16): the only rounding left is that of
  // cuDNN's bfloat16 output, so every output is a bfloat16 value (its low 16 bits are zero),
  // which float32 arithmetic on these sums would not give, and it is within that rounding of
  // the float32 CPU result.
  Conv2dParams same, lenet;
  same.padding = {1, 1};
  lenet.padding = {2, 2};
  auto exact = [](const Shape& s, uint64_t seed) {
    Rng rng(seed);
    std::vector<float> v(size_t(numel(s)));
    for (float& e : v) e = float(int64_t(rng.randint(511)) - 255) / 256.f;
    return Tensor::from_vector(v, s);
  };
  for (auto [x, w, p] : std::vector<std::tuple<Shape, Shape, Conv2dParams>>{
           {{8, 16, 32, 32}, {16, 16, 3, 3}, same},
           {{16, 1, 28, 28}, {6, 1, 5, 5}, lenet},
           {{8, 32, 16, 16}, {64, 32, 3, 3}, same}}) {
    SCOPED_TRACE(shape_str(x) + " * " + shape_str(w));
    Tensor xc = exact(x, 60), wc = exact(w, 61);
    Tensor want = conv2d(xc, wc, Tensor(), p);
    Tensor got;
    {
      AutocastScope amp(Precision::BFloat16);
      got = conv2d(xc.to(kGpu), wc.to(kGpu), Tensor(), p);
    }
    EXPECT_EQ(got.dtype(), DType::Float32);
    int64_t not_bf16 = 0;
    for (float v : got.to_vector<float>()) {
      uint32_t u;
      std::memcpy(&u, &v, sizeof u);
      not_bf16 += (u & 0xffffu) != 0;
    }
    EXPECT_EQ(not_bf16, 0) << "outputs that are not bfloat16 values: the convolution ran in "
                              "float32 (cuDNN offered no bfloat16 algorithm?)";
    EXPECT_LE(rel_err(got, want), 4e-3);
  }
}

namespace {

// LeNet-5 or the MLP on `device`, SGD (lr 0.01, momentum 0.9), cycling through eight fixed
// random batches of 32 with labels that depend on the input (so there is something to learn);
// the model starts from seed 0 either way. Returns the loss of every step.
std::vector<double> train_losses(const std::string& graph, Device device, Precision precision,
                                 int steps, Model* out = nullptr) {
  Model m = Model::compile(graph_file(graph), 0);
  m.to(device);
  std::vector<Tensor> params;
  for (const auto& [name, p] : m.parameters()) params.push_back(p);
  SGD opt(params, {.lr = 0.01, .momentum = 0.9});
  std::vector<Tensor> xs, ys;
  Rng rng(3);
  for (int b = 0; b < 8; ++b) {
    Tensor x = Tensor::randn({32, 1, 28, 28}, rng);
    std::vector<float> v = x.to_vector<float>();
    std::vector<int64_t> lab(32);
    for (int i = 0; i < 32; ++i) {  // the class: which tenth of the image is brightest on average
      double best = -1e9;
      for (int c = 0; c < 10; ++c) {
        double s = 0;
        for (int k = c * 78; k < c * 78 + 78; ++k) s += v[size_t(i * 784 + k)];
        if (s > best) best = s, lab[size_t(i)] = c;
      }
    }
    xs.push_back(x);
    ys.push_back(Tensor::from_vector(lab, {32}));
  }
  m.set_mode(Mode::Train);
  std::vector<double> losses;
  Model::Result r;
  AutocastScope amp(precision);
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    m.forward({xs[size_t(s % 8)]}, ys[size_t(s % 8)], r);
    r.outputs.clear();
    r.loss.backward();
    opt.step();
    losses.push_back(r.loss.item());
  }
  if (out) *out = std::move(m);
  return losses;
}

double mean(const std::vector<double>& v, size_t from, size_t to) {
  double s = 0;
  for (size_t i = from; i < to; ++i) s += v[i];
  return s / double(to - from);
}

void expect_bf16_follows_float32(const std::string& graph) {
  SCOPED_TRACE(graph);
  const int steps = 500;  // both converge: float32 ends near 0.002 from 2.3
  Model m16 = Model::compile(graph_file(graph), 0);
  const auto f32 = train_losses(graph, Device::cpu(), Precision::Float32, steps);
  const auto b16 = train_losses(graph, kGpu, Precision::BFloat16, steps, &m16);
  ASSERT_EQ(b16.size(), f32.size());
  // The first steps follow the float32 curve closely...
  for (size_t s = 0; s < 10; ++s) EXPECT_NEAR(b16[s], f32[s], kTolBf16 * f32[s]) << "step " << s;
  // ... both learn ...
  const double start = mean(f32, 0, 8), end32 = mean(f32, steps - 40, steps);
  const double end16 = mean(b16, steps - 40, steps);
  EXPECT_LT(end32, 0.1 * start);
  // ... along the same path (halfway, within 10% of the loss float32 removes) ...
  EXPECT_NEAR(mean(b16, 200, 240), mean(f32, 200, 240), 0.1 * (start - end32));
  // ... and bf16 ends where float32 does: within 5% of the loss float32 removed (or 2e-2).
  EXPECT_NEAR(end16, end32, std::max(0.05 * (start - end32), 2e-2))
      << "float32 " << start << " -> " << end32 << ", bf16 -> " << end16;
  // The master weights stayed float32.
  for (const auto& [name, p] : m16.parameters()) {
    EXPECT_EQ(p.dtype(), DType::Float32) << name;
    EXPECT_TRUE(std::isfinite(sum(p).item())) << name;
  }
}

}  // namespace

TEST_F(CudaBf16, LeNetTrainedInBf16ReachesTheFloat32Loss) {
  expect_bf16_follows_float32("lenet");
}

TEST_F(CudaBf16, MlpTrainedInBf16ReachesTheFloat32Loss) {
  expect_bf16_follows_float32("mlp");
}

TEST_F(CudaBf16, EachWeightIsCastOncePerStepAndGradientsAndStateStayFloat32) {
  Model m = Model::compile(graph_file("lenet"), 0);
  m.to(kGpu);
  std::vector<Tensor> params;
  int64_t weights = 0;  // conv and linear weights: the bf16 products' parameters (not biases)
  for (const auto& [name, p] : m.parameters()) {
    params.push_back(p);
    if (p.dim() >= 2) ++weights;
  }
  ASSERT_EQ(weights, 5);
  SGD opt(params, {.lr = 0.01, .momentum = 0.9});
  Rng rng(5);
  Tensor x = Tensor::randn({16, 1, 28, 28}, rng, DType::Float32, kGpu);
  Tensor y = Tensor::from_vector<int64_t>(std::vector<int64_t>(16, 3), {16}, kGpu);
  Model::Result r;
  m.set_mode(Mode::Train);
  AutocastScope amp(Precision::BFloat16);
  const int64_t c0 = autocast_weight_casts();
  m.forward({x}, y, r);
  r.loss.backward();
  EXPECT_EQ(autocast_weight_casts() - c0, weights) << "forward and backward cast each weight once";
  {
    autograd::NoGradGuard no_grad;  // an evaluation pass before the update: nothing new
    m.forward({x}, y, r);
  }
  EXPECT_EQ(autocast_weight_casts() - c0, weights);
  const std::vector<float> before = params[0].to_vector<float>();
  opt.step();
  EXPECT_NE(params[0].to_vector<float>(), before);
  for (size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(params[i].dtype(), DType::Float32);
    EXPECT_EQ(params[i].grad().dtype(), DType::Float32);
    for (const auto& [slot, t] : opt.state(i)) {
      if (slot != "step") {
        EXPECT_EQ(t.dtype(), DType::Float32) << slot;
      }
    }
  }
  // The update made every copy stale: the next step casts each weight again, from the new values.
  opt.zero_grad();
  m.forward({x}, y, r);
  r.loss.backward();
  EXPECT_EQ(autocast_weight_casts() - c0, 2 * weights);
}

TEST_F(CudaBf16, TheTrainerTrainsInBf16AndSavesFloat32Checkpoints) {
  ProjectSpec p = load_project(source_root() + "/resources/examples/spiral-mlp.ngraph");
  p.training.epochs = 4;
  auto run = [&](const std::string& precision, const std::string& out) {
    train::TrainingData d = train::make_datasets(p.dataset, "");
    Model m = Model::compile(p.graph, p.training.seed);
    m.to(kGpu);
    train::TrainerOptions o;
    o.training = p.training;
    o.training.precision = precision;
    o.out_dir = out;
    train::Trainer t(m, d, o);
    EXPECT_EQ(t.precision(), parse_precision(precision, "test"));
    train::FinishedEvent f = t.run();
    for (const auto& [name, w] : m.parameters()) EXPECT_EQ(w.dtype(), DType::Float32) << name;
    return f;
  };
  const std::string dir =
      (std::filesystem::temp_directory_path() / ("ng_bf16_" + std::to_string(::getpid()))).string();
  train::FinishedEvent f32 = run("float32", "");
  train::FinishedEvent b16 = run("bf16", dir);
  EXPECT_EQ(autocast_precision(), Precision::Float32) << "run() leaves no scope behind";
  EXPECT_EQ(b16.epochs_completed, 4);
  EXPECT_NEAR(b16.final_train.loss, f32.final_train.loss,
              std::max(0.1 * f32.final_train.loss, 3e-2));
  EXPECT_NEAR(b16.final_val.accuracy, f32.final_val.accuracy, 0.1);
  EXPECT_FALSE(b16.last_checkpoint.empty());
  std::filesystem::remove_all(dir);
}
