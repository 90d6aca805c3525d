#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "engine/core/rng.h"
#include "engine/ops/conv.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/pool.h"
#include "engine/ops/reduce.h"
#include "tests/engine/gradcheck.h"

using namespace ng;
using ng::testing::expect_gradients_match;
using ng::testing::rand64;

namespace {

Pool2dParams pool(std::array<int64_t, 2> k, std::array<int64_t, 2> s,
                  std::array<int64_t, 2> pad = {0, 0}) {
  Pool2dParams p;
  p.kernel = k;
  p.stride = s;
  p.padding = pad;
  return p;
}

enum class Kind { Max, Avg };

// Naive pooling: the window at (i, j) covers rows i*sh - ph .. +kh and columns j*sw - pw .. +kw;
// max ignores positions outside the input, avg counts them as zeros (divisor kh * kw).
std::vector<double> reference_pool(Kind kind, const Tensor& xt, const Pool2dParams& p, Shape& ys) {
  const auto x = xt.to_vector<double>();
  const int64_t N = xt.size(0), C = xt.size(1), H = xt.size(2), W = xt.size(3);
  const int64_t Ho = (H + 2 * p.padding[0] - p.kernel[0]) / p.stride[0] + 1;
  const int64_t Wo = (W + 2 * p.padding[1] - p.kernel[1]) / p.stride[1] + 1;
  ys = {N, C, Ho, Wo};
  std::vector<double> y;
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t i = 0; i < Ho; ++i)
      for (int64_t j = 0; j < Wo; ++j) {
        double m = -std::numeric_limits<double>::infinity(), s = 0;
        for (int64_t u = 0; u < p.kernel[0]; ++u)
          for (int64_t v = 0; v < p.kernel[1]; ++v) {
            const int64_t h = i * p.stride[0] - p.padding[0] + u;
            const int64_t w = j * p.stride[1] - p.padding[1] + v;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            m = std::max(m, x[size_t((nc * H + h) * W + w)]);
            s += x[size_t((nc * H + h) * W + w)];
          }
        y.push_back(kind == Kind::Max ? m : s / double(p.kernel[0] * p.kernel[1]));
      }
  return y;
}

std::vector<Pool2dParams> pool_cases() {
  return {pool({2, 2}, {2, 2}),         pool({3, 3}, {2, 2}, {1, 1}), pool({3, 3}, {1, 1}, {1, 1}),
          pool({2, 3}, {1, 2}, {1, 1}), pool({3, 2}, {3, 1}),         pool({2, 2}, {3, 3}, {1, 0})};
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_MENTIONS(msg, part) \
  EXPECT_NE((msg).find(part), std::string::npos) << "'" << (msg) << "' lacks '" << (part) << "'"

}  // namespace

TEST(MaxPool2d, HandComputedExample) {
  // 4x4 plane, 2x2 windows, stride 2.
  Tensor x = Tensor::from_vector<float>({1, 5, 2, 0,    //
                                         3, 4, 8, 7,    //
                                         -1, -2, 6, 9,  //
                                         -3, -4, 6, 1},
                                        {1, 1, 4, 4});
  Tensor y = max_pool2d(x, pool({2, 2}, {2, 2}));
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{5, 8, -1, 9}));
}

TEST(MaxPool2d, ForwardMatchesNaiveReference) {
  for (const auto& p : pool_cases()) {
    SCOPED_TRACE(shape_str({p.kernel[0], p.kernel[1], p.stride[0], p.stride[1], p.padding[0]}));
    Tensor x = rand64({2, 3, 7, 8}, 1, -1, 1, false);
    Shape ys;
    auto expect = reference_pool(Kind::Max, x, p, ys);
    Tensor y = max_pool2d(x, p);
    ASSERT_EQ(y.shape(), ys);
    EXPECT_EQ(y.to_vector<double>(), expect);
  }
}

TEST(MaxPool2d, Float32LeNetPoolMatchesNaiveReference) {
  Rng rng(5);
  Tensor x = Tensor::uniform({16, 6, 28, 28}, -1, 1, rng);
  Shape ys;
  auto expect = reference_pool(Kind::Max, x, pool({2, 2}, {2, 2}), ys);
  Tensor y = max_pool2d(x, pool({2, 2}, {2, 2}));
  ASSERT_EQ(y.shape(), ys);
  auto got = y.to_vector<float>();
  for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(double(got[i]), expect[i]) << i;
}

TEST(MaxPool2d, BackwardMatchesFiniteDifferences) {
  int seed = 10;
  for (const auto& p : pool_cases()) {
    SCOPED_TRACE(shape_str({p.kernel[0], p.kernel[1], p.stride[0], p.stride[1], p.padding[0]}));
    Tensor x = rand64({2, 2, 6, 7}, seed++);
    Tensor r = rand64(pool2d_output_shape(x.shape(), p, "MaxPool2d"), seed++, -1, 1, false);
    expect_gradients_match(
        [&](const std::vector<Tensor>& in) { return sum(mul(max_pool2d(in[0], p), r)); }, {x});
  }
}

TEST(MaxPool2d, OverlappingWindowsAccumulateGradient) {
  // 3x3 windows with stride 1 over a plane whose maximum is in the middle: all four windows
  // pick it, so it receives the sum of the four output gradients.
  Tensor x = Tensor::from_vector<double>({0, 0, 0, 0,  //
                                          0, 9, 0, 0,  //
                                          0, 0, 0, 0,  //
                                          0, 0, 0, 1},
                                         {1, 1, 4, 4});
  x.set_requires_grad(true);
  Tensor y = max_pool2d(x, pool({3, 3}, {1, 1}));
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{9, 9, 9, 9}));
  y.backward(Tensor::from_vector<double>({1, 2, 3, 4}, {1, 1, 2, 2}));
  auto g = x.grad().to_vector<double>();
  EXPECT_EQ(g[5], 10.0);
  EXPECT_EQ(std::accumulate(g.begin(), g.end(), 0.0), 10.0);
}

TEST(MaxPool2d, NaNInAWindowGivesNaN) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4,     //
                                          5, nan, 7, 8,   //
                                          9, 10, 11, 12,  //
                                          13, 14, 15, 16},
                                         {1, 1, 4, 4});
  for (const auto& p : {pool({2, 2}, {2, 2}), pool({3, 3}, {1, 1}, {1, 1})}) {
    auto y = max_pool2d(x, p).to_vector<double>();
    EXPECT_TRUE(std::isnan(y[0]));
    EXPECT_FALSE(std::isnan(y.back()));
  }
}

TEST(AvgPool2d, PaddingCountsInTheDivisor) {
  // All ones, 3x3 windows, stride 1, padding 1: a corner window sees 4 ones out of 9 cells.
  Tensor x = Tensor::ones({1, 1, 3, 3}, DType::Float64);
  auto y = avg_pool2d(x, pool({3, 3}, {1, 1}, {1, 1})).to_vector<double>();
  ASSERT_EQ(y.size(), 9u);
  EXPECT_DOUBLE_EQ(y[0], 4.0 / 9);
  EXPECT_DOUBLE_EQ(y[1], 6.0 / 9);
  EXPECT_DOUBLE_EQ(y[4], 1.0);
}

TEST(AvgPool2d, ForwardMatchesNaiveReference) {
  for (const auto& p : pool_cases()) {
    SCOPED_TRACE(shape_str({p.kernel[0], p.kernel[1], p.stride[0], p.stride[1], p.padding[0]}));
    Tensor x = rand64({2, 3, 7, 8}, 2, -1, 1, false);
    Shape ys;
    auto expect = reference_pool(Kind::Avg, x, p, ys);
    Tensor y = avg_pool2d(x, p);
    ASSERT_EQ(y.shape(), ys);
    auto got = y.to_vector<double>();
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expect[i], 1e-14) << i;
  }
}

TEST(AvgPool2d, BackwardMatchesFiniteDifferences) {
  int seed = 30;
  for (const auto& p : pool_cases()) {
    SCOPED_TRACE(shape_str({p.kernel[0], p.kernel[1], p.stride[0], p.stride[1], p.padding[0]}));
    Tensor x = rand64({2, 2, 6, 7}, seed++);
    Tensor r = rand64(pool2d_output_shape(x.shape(), p, "AvgPool2d"), seed++, -1, 1, false);
    expect_gradients_match(
        [&](const std::vector<Tensor>& in) { return sum(mul(avg_pool2d(in[0], p), r)); }, {x});
  }
}

TEST(GlobalAvgPool, AveragesEachPlane) {
  Tensor x = rand64({3, 4, 5, 6}, 3, -1, 1, false);
  Tensor y = global_avg_pool(x);
  ASSERT_EQ(y.shape(), (Shape{3, 4}));
  auto xv = x.to_vector<double>();
  auto yv = y.to_vector<double>();
  for (int64_t nc = 0; nc < 12; ++nc) {
    double s = 0;
    for (int64_t i = 0; i < 30; ++i) s += xv[size_t(nc * 30 + i)];
    EXPECT_NEAR(yv[size_t(nc)], s / 30, 1e-14);
  }
}

TEST(GlobalAvgPool, BackwardMatchesFiniteDifferences) {
  Tensor x = rand64({2, 3, 4, 5}, 4);
  Tensor r = rand64({2, 3}, 5, -1, 1, false);
  expect_gradients_match(
      [&](const std::vector<Tensor>& in) { return sum(mul(global_avg_pool(in[0]), r)); }, {x});
}

TEST(Pool2d, KernelLargerThanThePaddedInputNamesTheLayerAndShape) {
  std::string msg = error_of([] {
    max_pool2d(Tensor::zeros({2, 3, 4, 4}), pool({3, 3}, {1, 1}), "MaxPool2d 'p'");
  });
  EXPECT_EQ(msg, "(no error)");  // 4x4 input: a 3x3 kernel fits
  msg = error_of([] {
    max_pool2d(Tensor::zeros({2, 3, 2, 5}), pool({3, 3}, {1, 1}, {0, 0}), "MaxPool2d 'p'");
  });
  EXPECT_MENTIONS(msg, "MaxPool2d 'p'");
  EXPECT_MENTIONS(msg, "[2, 3, 2, 5]");
  EXPECT_MENTIONS(msg, "3x3");
  msg = error_of([] {
    avg_pool2d(Tensor::zeros({1, 1, 1, 1}), pool({4, 4}, {1, 1}, {1, 1}), "AvgPool2d 'a'");
  });
  EXPECT_MENTIONS(msg, "AvgPool2d 'a'");
  EXPECT_MENTIONS(msg, "[1, 1, 1, 1]");
}

TEST(Pool2d, OtherBadInputsAreRejectedWithTheLayerName) {
  EXPECT_MENTIONS(
      error_of([] {
        avg_pool2d(Tensor::zeros({1, 1, 8, 8}), pool({2, 2}, {2, 2}, {2, 2}), "AvgPool2d 'a'");
      }),
      "AvgPool2d 'a': padding [2, 2] must be between 0 and half the kernel [2, 2]");
  EXPECT_MENTIONS(error_of([] {
                    max_pool2d(Tensor::zeros({8, 8}), pool({2, 2}, {2, 2}), "MaxPool2d 'm'");
                  }),
                  "MaxPool2d 'm': input must be [N, C, H, W], got [8, 8]");
  EXPECT_MENTIONS(error_of([] {
                    max_pool2d(Tensor::zeros({1, 1, 8, 8}), pool({2, 2}, {0, 2}), "MaxPool2d 'm'");
                  }),
                  "stride");
  EXPECT_MENTIONS(error_of([] {
                    global_avg_pool(Tensor::zeros({4, 64}), "GlobalAvgPool 'gap'");
                  }),
                  "GlobalAvgPool 'gap': input must be [N, C, H, W], got [4, 64]");
}

// NOTE [ReLU gradient in the max pool] (ops/pool.h).
TEST(MaxPool2d, MaskingTheReluGradientMarksWindowsWhoseMaximumIsNotPositive) {
  // One plane of a ReLU's output: the top-left window is all zeros, the others have a maximum.
  Tensor x = Tensor::from_vector<double>({0, 0, 1, 0,  //
                                          0, 0, 0, 2,  //
                                          3, 0, 0, 0,  //
                                          0, 0, 0, 0},
                                         {1, 1, 4, 4});
  Pool2dParams p = pool({2, 2}, {2, 2});
  Tensor y = Tensor::empty({1, 1, 2, 2}, DType::Float64);
  Tensor am = Tensor::empty({1, 1, 2, 2}, DType::Int64);
  max_pool2d_forward_kernel(Device::cpu())(x, p, y, am);
  EXPECT_EQ(am.to_vector<int64_t>(), (std::vector<int64_t>{0, 7, 8, 10}));
  p.masks_relu_grad = true;
  max_pool2d_forward_kernel(Device::cpu())(x, p, y, am);
  EXPECT_EQ(y.to_vector<double>(), (std::vector<double>{0, 2, 3, 0}));
  EXPECT_EQ(am.to_vector<int64_t>(), (std::vector<int64_t>{-1, 7, 8, -1}));
  Tensor gx = Tensor::empty({1, 1, 4, 4}, DType::Float64);
  max_pool2d_backward_kernel(Device::cpu())(Tensor::from_vector<double>({1, 2, 3, 4}, {1, 1, 2, 2}),
                                            am, p, gx);
  EXPECT_EQ(gx.to_vector<double>(),
            (std::vector<double>{0, 0, 0, 0, 0, 0, 0, 2, 3, 0, 0, 0, 0, 0, 0, 0}));
}

// conv2d(relu, relu_grad_by_reader) -> max_pool2d(masks_relu_grad) gives the gradients of
// relu(conv2d) -> max_pool2d exactly; and the convolution really leaves the ReLU's derivative
// to the pool: read by a pool that does not mask, its gradients differ.
TEST(MaxPool2d, MaskingTheReluGradientForTheConvolutionGivesTheSameGradients) {
  Rng rng(21);
  const Tensor x0 = Tensor::randn({4, 3, 12, 12}, rng), w0 = Tensor::randn({5, 3, 3, 3}, rng),
               b0 = Tensor::randn({5}, rng), r = Tensor::randn({4, 5, 5, 5}, rng);
  Conv2dParams cp;
  cp.padding = {0, 0};
  struct Grads {
    std::vector<float> x, w, b;
  };
  auto run = [&](bool by_reader, bool mask) {
    Tensor x = x0.clone(), w = w0.clone(), b = b0.clone();
    for (Tensor* t : {&x, &w, &b}) t->set_requires_grad(true);
    Pool2dParams p = pool({2, 2}, {2, 2});
    p.masks_relu_grad = mask;
    Tensor y = max_pool2d(conv2d(x, w, b, cp, "conv", true, by_reader), p);
    sum(mul(y, r)).backward();
    return Grads{x.grad().to_vector<float>(), w.grad().to_vector<float>(),
                 b.grad().to_vector<float>()};
  };
  const Grads plain = run(false, false), masked = run(true, true), unmasked = run(true, false);
  EXPECT_EQ(masked.x, plain.x);
  EXPECT_EQ(masked.w, plain.w);
  EXPECT_EQ(masked.b, plain.b);
  EXPECT_NE(unmasked.w, plain.w) << "no window of relu(conv) was all zeros: this proves nothing";
}
