#include <gtest/gtest.h>

#include "engine/core/parallel.h"
#include "engine/core/rng.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/reduce.h"
#include "tests/engine/gradcheck.h"

using namespace ng;
using ng::testing::expect_gradients_match;
using ng::testing::rand64;

TEST(Tensor, StorageIs64ByteAligned) {
  for (int64_t n : {1, 3, 17, 1000, 100000}) {
    Tensor t = Tensor::empty({n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u) << n;
  }
}

TEST(Tensor, ReshapeTransposePermuteAreViews) {
  Tensor t = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor r = t.reshape({3, -1});
  EXPECT_EQ(r.shape(), (Shape{3, 2}));
  EXPECT_EQ(r.raw_data(), t.raw_data());
  Tensor tr = t.transpose(0, 1);
  EXPECT_FALSE(tr.is_contiguous());
  EXPECT_EQ(tr.contiguous().to_vector<float>(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor p = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7}, {2, 2, 2}).permute({2, 0, 1});
  EXPECT_EQ(p.contiguous().to_vector<float>(), (std::vector<float>{0, 2, 4, 6, 1, 3, 5, 7}));
  EXPECT_EQ(Tensor::zeros({2, 3, 4, 5}).flatten().shape(), (Shape{2, 60}));
}

TEST(Tensor, ReshapeOfWrongSizeNamesBothShapes) {
  Tensor t = Tensor::zeros({2, 3});
  try {
    t.reshape({4, 2});
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[4, 2]"), std::string::npos) << e.what();
  }
}

TEST(Rng, SameSeedSameNumbersAnyThreadCount) {
  Rng a(7), b(7), c(8);
  std::vector<float> x(100001), y(100001), z(100001);
  a.fill_normal(x.data(), int64_t(x.size()), 0, 1);
  set_num_threads(1);
  b.fill_normal(y.data(), int64_t(y.size()), 0, 1);
  set_num_threads(2);
  c.fill_normal(z.data(), int64_t(z.size()), 0, 1);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
  double m = 0, v = 0;
  for (float f : x) m += f;
  m /= double(x.size());
  for (float f : x) v += (f - m) * (f - m);
  v /= double(x.size());
  EXPECT_NEAR(m, 0.0, 0.02);
  EXPECT_NEAR(v, 1.0, 0.02);
}

TEST(Rng, PhiloxMatchesPublishedKnownAnswer) {
  // Random123's kat_vectors: philox4x32_10 with counter and key all 0.
  auto r = philox4x32({0, 0, 0, 0}, {0, 0});
  EXPECT_EQ(r[0], 0x6627e8d5u);
  EXPECT_EQ(r[1], 0xe169c58du);
  EXPECT_EQ(r[2], 0xbc57ac4cu);
  EXPECT_EQ(r[3], 0x9b00dbd8u);
}

TEST(Elementwise, BroadcastAddMatchesReference) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector<float>({10, 20, 30}, {3});
  Tensor c = Tensor::from_vector<float>({100, 200}, {2, 1});
  EXPECT_EQ(add(a, b).to_vector<float>(), (std::vector<float>{11, 22, 33, 14, 25, 36}));
  EXPECT_EQ(add(a, c).to_vector<float>(), (std::vector<float>{101, 102, 103, 204, 205, 206}));
  EXPECT_THROW(add(a, Tensor::zeros({4})), ShapeError);
}

TEST(Elementwise, ActivationValues) {
  Tensor x = Tensor::from_vector<double>({-2, -0.5, 0, 0.5, 2}, {5});
  auto g = gelu(x).to_vector<double>();
  EXPECT_NEAR(g[0], -0.04550026389635842, 1e-12);
  EXPECT_NEAR(g[3], 0.34573123063700656, 1e-12);
  auto s = sigmoid(x).to_vector<double>();
  EXPECT_NEAR(s[4], 1.0 / (1.0 + std::exp(-2.0)), 1e-15);
  auto l = leaky_relu(x, 0.1).to_vector<double>();
  EXPECT_DOUBLE_EQ(l[0], -0.2);
  EXPECT_DOUBLE_EQ(l[4], 2.0);
}

TEST(Elementwise, BinaryBackwardMatchesFiniteDifferences) {
  Tensor a = rand64({3, 4}, 1), b = rand64({4}, 2, 0.5, 1.5), c = rand64({3, 1}, 3);
  expect_gradients_match(
      [](const std::vector<Tensor>& in) {
        return sum(mul(div(add(in[0], in[1]), in[1]), sub(in[2], in[0])));
      },
      {a, b, c});
  expect_gradients_match(
      [](const std::vector<Tensor>& in) {
        return sum(mul(maximum(in[0], in[1]), minimum(in[0], in[2])));
      },
      {a, b, c});
}

TEST(Elementwise, UnaryBackwardMatchesFiniteDifferences) {
  for (UnaryOp op : {UnaryOp::Relu, UnaryOp::LeakyRelu, UnaryOp::Sigmoid, UnaryOp::Tanh,
                     UnaryOp::Gelu, UnaryOp::Exp, UnaryOp::Neg, UnaryOp::Square, UnaryOp::Abs,
                     UnaryOp::MulScalar, UnaryOp::AddScalar}) {
    Tensor x = rand64({2, 5}, 4);
    expect_gradients_match(
        [op](const std::vector<Tensor>& in) { return sum(mul(unary(op, in[0], 0.3), in[0])); },
        {x});
  }
  Tensor pos = rand64({7}, 5, 0.5, 2.0);
  for (UnaryOp op : {UnaryOp::Log, UnaryOp::Sqrt, UnaryOp::Reciprocal, UnaryOp::PowScalar}) {
    expect_gradients_match(
        [op](const std::vector<Tensor>& in) { return sum(unary(op, in[0], 1.7)); }, {pos});
  }
}

TEST(Reduce, ValuesAndGradients) {
  Tensor x = Tensor::from_vector<double>({1, 5, 3, 4, 2, 6}, {2, 3});
  EXPECT_EQ(sum(x, {0}).to_vector<double>(), (std::vector<double>{5, 7, 9}));
  EXPECT_EQ(mean(x, {1}).to_vector<double>(), (std::vector<double>{3, 4}));
  EXPECT_EQ(max(x, {1}).to_vector<double>(), (std::vector<double>{5, 6}));
  EXPECT_EQ(min(x).item(), 1.0);
  EXPECT_EQ(sum(x, {1}, true).shape(), (Shape{2, 1}));
  Tensor y = rand64({2, 3, 4}, 6);
  for (auto axes : std::vector<std::vector<int64_t>>{{}, {0}, {1, 2}, {-1}}) {
    expect_gradients_match(
        [axes](const std::vector<Tensor>& in) {
          return sum(square(mean(in[0], axes))) + sum(max(in[0], axes)) * 0.5 +
                 sum(min(in[0], axes)) * 0.25;
        },
        {y});
  }
}

TEST(MatMul, ValuesAndGradients) {
  Tensor a = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = Tensor::from_vector<double>({1, 0, 0, 1, 1, 1}, {3, 2});
  EXPECT_EQ(matmul(a, b).to_vector<double>(), (std::vector<double>{4, 5, 10, 11}));
  Tensor x = rand64({5, 3}, 7), w = rand64({4, 3}, 8), bias = rand64({4}, 9);
  expect_gradients_match(
      [](const std::vector<Tensor>& in) { return sum(square(linear(in[0], in[1], in[2]))); },
      {x, w, bias});
  Tensor p = rand64({2, 3, 4}, 10), q = rand64({2, 4, 2}, 11);
  expect_gradients_match(
      [](const std::vector<Tensor>& in) { return sum(square(matmul(in[0], in[1]))); }, {p, q});
  expect_gradients_match(
      [](const std::vector<Tensor>& in) {
        return sum(square(matmul(in[0].transpose(0, 1), in[1])));
      },
      {rand64({3, 5}, 12), rand64({3, 2}, 13)});
}

TEST(MatMul, WrongShapeNamesLayerAndShapes) {
  try {
    linear(Tensor::zeros({2, 5}), Tensor::zeros({4, 3}), Tensor(), "Linear 'fc1'");
    FAIL();
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("fc1"), std::string::npos) << m;
    EXPECT_NE(m.find("[2, 5]"), std::string::npos) << m;
  }
}

TEST(Autograd, AccumulatesAcrossBackwardCallsAndNoGradRecordsNothing) {
  Tensor w = rand64({3}, 14);
  sum(mul_scalar(w, 2.0)).backward();
  sum(mul_scalar(w, 3.0)).backward();
  for (double g : w.grad().to_vector<double>()) EXPECT_DOUBLE_EQ(g, 5.0);
  w.zero_grad();
  EXPECT_FALSE(w.grad().defined());
  {
    autograd::NoGradGuard ng;
    Tensor y = mul_scalar(w, 2.0);
    EXPECT_FALSE(y.requires_grad());
  }
  // A tensor used twice gets both contributions.
  Tensor y = add(w, w);
  sum(mul(y, w)).backward();  // d/dw sum(2 w^2) = 4 w
  auto wv = w.to_vector<double>(), gv = w.grad().to_vector<double>();
  for (size_t i = 0; i < wv.size(); ++i) EXPECT_NEAR(gv[i], 4 * wv[i], 1e-12);
}

TEST(Rng, FillsMatchTheScalarPhiloxBlockByBlock) {
  // The vectorised fill must produce exactly philox4x32(seed, offset + i / 4) lane i % 4.
  Rng rng(0x123456789abcdefULL, 5);
  std::vector<float> u(103);
  rng.fill_uniform(u.data(), int64_t(u.size()), 0.0, 1.0);
  for (size_t i = 0; i < u.size(); ++i) {
    uint64_t ctr = 5 + i / 4;
    auto r = philox4x32({uint32_t(ctr), uint32_t(ctr >> 32), 0, 0}, {0x89abcdefu, 0x1234567u});
    EXPECT_FLOAT_EQ(u[i], float((r[i % 4] >> 8) * (1.0 / 16777216.0))) << i;
  }
  EXPECT_EQ(rng.offset(), 5u + 26u);
}

TEST(Views, ReshapeFlattenPermuteTransposeBackwardMatchFiniteDifferences) {
  Tensor x = rand64({2, 3, 4}, 21);
  Tensor w = rand64({24}, 22, -1, 1, false);
  // Each view is followed by a non-uniform weighting so that a wrong element order shows.
  expect_gradients_match(
      [w](const std::vector<Tensor>& in) {
        return sum(mul(in[0].reshape({4, 6}).reshape({24}), w));
      },
      {x});
  expect_gradients_match(
      [w](const std::vector<Tensor>& in) { return sum(mul(in[0].flatten().flatten(0), w)); }, {x});
  expect_gradients_match(
      [w](const std::vector<Tensor>& in) {
        return sum(mul(in[0].permute({2, 0, 1}).contiguous().reshape({24}), w));
      },
      {x});
  expect_gradients_match(
      [w](const std::vector<Tensor>& in) {
        return sum(mul(in[0].transpose(0, 2).reshape({24}), w));
      },
      {x});
  expect_gradients_match(
      [w](const std::vector<Tensor>& in) { return sum(mul(in[0].clone().reshape({24}), w)); }, {x});
  // A float32 round trip is too coarse for finite differences: its gradient is the weighting.
  x.zero_grad();
  sum(mul(x.to(DType::Float32).to(DType::Float64).reshape({24}), w)).backward();
  EXPECT_EQ(x.grad().reshape({24}).to_vector<double>(), w.to_vector<double>());
}
