#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "engine/core/parallel.h"
#include "engine/core/rng.h"
#include "engine/ops/conv.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "tests/engine/gradcheck.h"

using namespace ng;
using ng::testing::expect_gradients_match;
using ng::testing::rand64;

namespace {

Conv2dParams params(std::array<int64_t, 2> stride = {1, 1}, std::array<int64_t, 2> pad = {0, 0},
                    std::array<int64_t, 2> dil = {1, 1}, int64_t groups = 1) {
  Conv2dParams p;
  p.stride = stride;
  p.padding = pad;
  p.dilation = dil;
  p.groups = groups;
  return p;
}

// The definition, written out: y[n, o, i, j] = b[o] + sum over the input channels c of o's group
// and kernel taps (u, v) of x[n, c, i*sh - ph + u*dh, j*sw - pw + v*dw] * w[o, c - group start,
// u, v], with zeros outside the input. Computed in double.
std::vector<double> reference_conv(const Tensor& xt, const Tensor& wt, const Tensor& bt,
                                   const Conv2dParams& p, Shape& ys) {
  const auto x = xt.to_vector<double>(), w = wt.to_vector<double>();
  const auto b = bt.defined() ? bt.to_vector<double>() : std::vector<double>();
  const int64_t N = xt.size(0), C = xt.size(1), H = xt.size(2), W = xt.size(3);
  const int64_t O = wt.size(0), Cg = wt.size(1), KH = wt.size(2), KW = wt.size(3);
  const int64_t Og = O / p.groups;
  const int64_t Ho = (H + 2 * p.padding[0] - p.dilation[0] * (KH - 1) - 1) / p.stride[0] + 1;
  const int64_t Wo = (W + 2 * p.padding[1] - p.dilation[1] * (KW - 1) - 1) / p.stride[1] + 1;
  ys = {N, O, Ho, Wo};
  std::vector<double> y(size_t(N * O * Ho * Wo));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          double s = b.empty() ? 0.0 : b[size_t(o)];
          const int64_t c0 = (o / Og) * Cg;
          for (int64_t ci = 0; ci < Cg; ++ci)
            for (int64_t u = 0; u < KH; ++u)
              for (int64_t v = 0; v < KW; ++v) {
                const int64_t h = i * p.stride[0] - p.padding[0] + u * p.dilation[0];
                const int64_t ww = j * p.stride[1] - p.padding[1] + v * p.dilation[1];
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                s += x[size_t(((n * C + c0 + ci) * H + h) * W + ww)] *
                     w[size_t(((o * Cg + ci) * KH + u) * KW + v)];
              }
          y[size_t(((n * O + o) * Ho + i) * Wo + j)] = s;
        }
  return y;
}

struct ConvCase {
  const char* name;
  Shape x, w;
  Conv2dParams p;
  bool bias;
};

// Small shapes covering each feature; N = 3 splits unevenly over 2 threads. Few channels and
// small planes: these take the im2col + GEMM kernels.
std::vector<ConvCase> gemm_cases() {
  return {
      {"plain", {3, 2, 5, 6}, {3, 2, 3, 3}, params(), true},
      {"no bias", {3, 2, 5, 6}, {3, 2, 3, 3}, params(), false},
      {"stride 2", {3, 2, 7, 6}, {4, 2, 3, 3}, params({2, 2}), true},
      {"padding 1", {3, 2, 5, 5}, {3, 2, 3, 3}, params({1, 1}, {1, 1}), true},
      {"stride 2 padding 1", {3, 3, 6, 7}, {2, 3, 3, 3}, params({2, 2}, {1, 1}), false},
      {"dilation 2", {3, 2, 7, 7}, {3, 2, 3, 3}, params({1, 1}, {1, 1}, {2, 2}), true},
      {"groups 2", {3, 4, 5, 5}, {6, 2, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 2), true},
      {"depthwise", {3, 3, 5, 5}, {3, 1, 3, 3}, params({1, 1}, {1, 1}, {1, 1}, 3), false},
      {"depthwise x2", {3, 2, 5, 5}, {4, 1, 3, 3}, params({2, 1}, {1, 0}, {1, 1}, 2), true},
      {"non-square kernel", {3, 2, 6, 7}, {3, 2, 2, 3}, params({2, 1}, {1, 0}), true},
      {"1x1", {3, 4, 4, 5}, {3, 4, 1, 1}, params(), true},
      {"1x1 stride 2", {3, 4, 5, 5}, {6, 4, 1, 1}, params({2, 2}), false},
      {"kernel covers padded input", {3, 2, 3, 3}, {2, 2, 5, 5}, params({1, 1}, {1, 1}), true},
      {"padding wider than the kernel", {3, 2, 4, 4}, {3, 2, 1, 1}, params({1, 1}, {1, 1}), true},
  };
}

// Stride 1, 8 channels and rows of 12+ pixels: these take the direct (padded-width) kernels
// in float64, where a SIMD vector holds 8 values.
std::vector<ConvCase> direct_cases() {
  return {
      {"direct 3x3 padding 1", {2, 8, 6, 14}, {8, 8, 3, 3}, params({1, 1}, {1, 1}), true},
      {"direct no padding", {1, 8, 6, 14}, {8, 8, 3, 3}, params(), false},
      {"direct dilation 2", {1, 8, 7, 12}, {8, 8, 3, 3}, params({1, 1}, {2, 2}, {2, 2}), true},
      {"direct non-square kernel", {1, 8, 5, 13}, {8, 8, 2, 3}, params({1, 1}, {1, 1}), true},
      // backward-data cannot flip a kernel narrower than its padding: that part takes GEMM
      {"direct 1x1 padding 1", {1, 8, 4, 12}, {8, 8, 1, 1}, params({1, 1}, {1, 1}), true},
  };
}

std::vector<ConvCase> conv_cases() {
  auto all = gemm_cases();
  for (const auto& c : direct_cases()) all.push_back(c);
  return all;
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

TEST(Conv2d, OutputShapeFollowsTheFormula) {
  EXPECT_EQ(conv2d_output_shape({2, 1, 28, 28}, {6, 1, 5, 5}, params({1, 1}, {2, 2})),
            (Shape{2, 6, 28, 28}));
  EXPECT_EQ(conv2d_output_shape({2, 6, 14, 14}, {16, 6, 5, 5}, params()), (Shape{2, 16, 10, 10}));
  EXPECT_EQ(conv2d_output_shape({1, 16, 32, 32}, {32, 16, 1, 1}, params({2, 2})),
            (Shape{1, 32, 16, 16}));
  // (9 + 2 - 2*2 - 1) / 2 + 1 = 4; (8 + 0 - 1*2 - 1) / 1 + 1 = 6
  EXPECT_EQ(conv2d_output_shape({1, 4, 9, 8}, {4, 2, 3, 3}, params({2, 1}, {1, 0}, {2, 1}, 2)),
            (Shape{1, 4, 4, 6}));
}

TEST(Conv2d, ForwardMatchesNaiveReference) {
  for (const auto& c : conv_cases()) {
    SCOPED_TRACE(c.name);
    Tensor x = rand64(c.x, 1, -1, 1, false), w = rand64(c.w, 2, -1, 1, false);
    Tensor b = c.bias ? rand64({c.w[0]}, 3, -1, 1, false) : Tensor();
    Shape ys;
    auto expect = reference_conv(x, w, b, c.p, ys);
    Tensor y = conv2d(x, w, b, c.p);
    ASSERT_EQ(y.shape(), ys);
    auto got = y.to_vector<double>();
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expect[i], 1e-12) << i;
  }
}

TEST(Conv2d, Float32LeNetLayersMatchNaiveReference) {
  Rng rng(11);
  struct L {
    Shape x, w;
    Conv2dParams p;
  };
  for (const L& l : {L{{16, 1, 28, 28}, {6, 1, 5, 5}, params({1, 1}, {2, 2})},
                     L{{16, 6, 14, 14}, {16, 6, 5, 5}, params()}}) {
    Tensor x = Tensor::uniform(l.x, -1, 1, rng);
    Tensor w = Tensor::uniform(l.w, -0.5, 0.5, rng);
    Tensor b = Tensor::uniform({l.w[0]}, -0.5, 0.5, rng);
    Shape ys;
    auto expect = reference_conv(x, w, b, l.p, ys);
    Tensor y = conv2d(x, w, b, l.p);
    ASSERT_EQ(y.dtype(), DType::Float32);
    ASSERT_EQ(y.shape(), ys);
    auto got = y.to_vector<float>();
    for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expect[i], 2e-5) << i;
  }
}

TEST(Conv2d, BackwardMatchesFiniteDifferences) {
  int seed = 100;
  for (const auto& c : conv_cases()) {
    SCOPED_TRACE(c.name);
    Tensor x = rand64(c.x, seed++), w = rand64(c.w, seed++);
    Tensor b = c.bias ? rand64({c.w[0]}, seed++) : Tensor();
    Shape ys = conv2d_output_shape(c.x, c.w, c.p);
    // A random weighting of the outputs, so each output's gradient differs.
    Tensor r = rand64(ys, seed++, -1, 1, false);
    auto f = [&](const std::vector<Tensor>& in) {
      return sum(mul(conv2d(in[0], in[1], c.bias ? in[2] : Tensor(), c.p), r));
    };
    std::vector<Tensor> inputs{x, w};
    if (c.bias) inputs.push_back(b);
    expect_gradients_match(f, inputs);
  }
}

TEST(Conv2d, ResultsAreTheSameBitsWithAnyThreadCount) {
  // Direct (stride 1) and im2col (stride 2) kernels; 37 samples, enough work for threads.
  for (const auto& p : {params({1, 1}, {1, 1}), params({2, 2}, {1, 1})}) {
    // exp() fills all 53 bits of the mantissas: with the ~24-bit random numbers alone the sums
    // are exact and would hide a change in summation order.
    auto full_bits = [](Tensor t) { return exp(t).detach().set_requires_grad(true); };
    Tensor x = full_bits(rand64({37, 8, 10, 10}, 1)), w = full_bits(rand64({16, 8, 3, 3}, 2));
    Tensor b = full_bits(rand64({16}, 3));
    Tensor r = exp(rand64(conv2d_output_shape(x.shape(), w.shape(), p), 4, -1, 1, false));
    auto run = [&](int threads) {
      set_num_threads(threads);
      x.zero_grad(), w.zero_grad(), b.zero_grad();
      Tensor y = conv2d(x, w, b, p);
      sum(mul(y, r)).backward();
      return std::vector<std::vector<double>>{y.to_vector<double>(), x.grad().to_vector<double>(),
                                              w.grad().to_vector<double>(),
                                              b.grad().to_vector<double>()};
    };
    auto one = run(1), two = run(2), three = run(3);
    set_num_threads(2);
    EXPECT_EQ(one, two);
    EXPECT_EQ(one, three);
  }
}

namespace {

// Naive gradients of sum(y * gy) for a conv without groups: gx and gw by the definition.
void reference_conv_grads(const Tensor& xt, const Tensor& wt, const Tensor& gyt,
                          const Conv2dParams& p, std::vector<double>& gx, std::vector<double>& gw) {
  const auto x = xt.to_vector<double>(), w = wt.to_vector<double>(), gy = gyt.to_vector<double>();
  const int64_t N = xt.size(0), C = xt.size(1), H = xt.size(2), W = xt.size(3);
  const int64_t O = wt.size(0), KH = wt.size(2), KW = wt.size(3);
  const int64_t Ho = gyt.size(2), Wo = gyt.size(3);
  gx.assign(x.size(), 0.0);
  gw.assign(w.size(), 0.0);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < O; ++o)
      for (int64_t i = 0; i < Ho; ++i)
        for (int64_t j = 0; j < Wo; ++j) {
          const double g = gy[size_t(((n * O + o) * Ho + i) * Wo + j)];
          for (int64_t c = 0; c < C; ++c)
            for (int64_t u = 0; u < KH; ++u)
              for (int64_t v = 0; v < KW; ++v) {
                const int64_t h = i * p.stride[0] - p.padding[0] + u * p.dilation[0];
                const int64_t ww = j * p.stride[1] - p.padding[1] + v * p.dilation[1];
                if (h < 0 || h >= H || ww < 0 || ww >= W) continue;
                const size_t xi = size_t(((n * C + c) * H + h) * W + ww);
                const size_t wi = size_t(((o * C + c) * KH + u) * KW + v);
                gx[xi] += g * w[wi];
                gw[wi] += g * x[xi];
              }
        }
}

}  // namespace

TEST(Conv2d, Float32GradientsMatchNaiveReference) {
  // The float32 kernels on network-like shapes: ResNet's 3x3 convs (16 and 32 channels, so
  // whole SIMD vectors of output channels) and LeNet's second conv.
  Rng rng(21);
  struct L {
    Shape x, w;
    Conv2dParams p;
  };
  for (const L& l : {L{{3, 16, 8, 8}, {16, 16, 3, 3}, params({1, 1}, {1, 1})},
                     L{{3, 16, 8, 8}, {32, 16, 3, 3}, params({2, 2}, {1, 1})},
                     L{{2, 32, 6, 6}, {48, 32, 3, 3}, params({1, 1}, {1, 1})},
                     L{{3, 6, 14, 14}, {16, 6, 5, 5}, params()}}) {
    SCOPED_TRACE(shape_str(l.w));
    Tensor x = Tensor::uniform(l.x, -1, 1, rng).set_requires_grad(true);
    Tensor w = Tensor::uniform(l.w, -0.5, 0.5, rng).set_requires_grad(true);
    Tensor b = Tensor::uniform({l.w[0]}, -0.5, 0.5, rng).set_requires_grad(true);
    Tensor gy = Tensor::uniform(conv2d_output_shape(l.x, l.w, l.p), -1, 1, rng);
    conv2d(x, w, b, l.p).backward(gy);
    std::vector<double> gx, gw;
    reference_conv_grads(x, w, gy, l.p, gx, gw);
    auto gx32 = x.grad().to_vector<float>(), gw32 = w.grad().to_vector<float>();
    for (size_t i = 0; i < gx.size(); ++i) ASSERT_NEAR(gx32[i], gx[i], 1e-4) << "gx " << i;
    for (size_t i = 0; i < gw.size(); ++i)
      ASSERT_NEAR(gw32[i], gw[i], 1e-4 * (1 + std::abs(gw[i]))) << "gw " << i;
    // gb = sum of gy over N, H, W
    auto gyv = gy.to_vector<double>();
    auto gb32 = b.grad().to_vector<float>();
    const int64_t O = l.w[0], P = gy.size(2) * gy.size(3);
    for (int64_t o = 0; o < O; ++o) {
      double s = 0;
      for (int64_t n = 0; n < gy.size(0); ++n)
        for (int64_t i = 0; i < P; ++i) s += gyv[size_t((n * O + o) * P + i)];
      EXPECT_NEAR(gb32[size_t(o)], s, 1e-4 * (1 + std::abs(s)));
    }
  }
}

TEST(Conv2d, OnlyTheTensorsThatRequireGradGetGradients) {
  // A network's first layer: the input needs no gradient, the weight does; the bias is frozen.
  Tensor x = rand64({2, 3, 6, 6}, 1, -1, 1, false), w = rand64({4, 3, 3, 3}, 2);
  Tensor b = rand64({4}, 3, -1, 1, false);
  sum(conv2d(x, w, b, params({1, 1}, {1, 1}))).backward();
  EXPECT_FALSE(x.grad().defined());
  EXPECT_FALSE(b.grad().defined());
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().shape(), w.shape());
  // Only the bias trainable: its gradient is the number of outputs per channel, 2 * 6 * 6.
  Tensor w2 = rand64({4, 3, 3, 3}, 2, -1, 1, false), b2 = rand64({4}, 3);
  sum(conv2d(x, w2, b2, params({1, 1}, {1, 1}))).backward();
  EXPECT_FALSE(w2.grad().defined());
  EXPECT_EQ(b2.grad().to_vector<double>(), std::vector<double>(4, 72.0));
}

TEST(Conv2d, EmptyBatchGivesEmptyOutputAndZeroGradients) {
  for (const auto& p : {params({1, 1}, {1, 1}), params({2, 2})}) {  // direct and GEMM kernels
    Tensor x = rand64({0, 16, 8, 8}, 1), w = rand64({16, 16, 3, 3}, 2), b = rand64({16}, 3);
    Tensor y = conv2d(x, w, b, p);
    EXPECT_EQ(y.shape()[0], 0);
    y.backward(Tensor::zeros(y.shape(), DType::Float64));
    EXPECT_EQ(w.grad().to_vector<double>(), std::vector<double>(size_t(w.numel()), 0.0));
    EXPECT_EQ(b.grad().to_vector<double>(), std::vector<double>(16, 0.0));
  }
}

TEST(Conv2d, NonContiguousInputIsAccepted) {
  Tensor x = rand64({2, 3, 5, 4}, 1, -1, 1, false).transpose(2, 3);  // [2, 3, 4, 5] view
  Tensor w = rand64({2, 3, 3, 3}, 2, -1, 1, false);
  Shape ys;
  auto expect = reference_conv(x, w, Tensor(), params(), ys);
  auto got = conv2d(x, w, Tensor(), params()).to_vector<double>();
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], expect[i], 1e-12);
}

TEST(Conv2d, ChannelMismatchNamesTheLayerAndBothShapes) {
  Tensor x = Tensor::zeros({2, 3, 8, 8}), w = Tensor::zeros({4, 1, 3, 3});
  std::string msg = error_of([&] { conv2d(x, w, Tensor(), params(), "Conv2d 'conv1'"); });
  EXPECT_MENTIONS(msg, "Conv2d 'conv1'");
  EXPECT_MENTIONS(msg, "[2, 3, 8, 8]");
  EXPECT_MENTIONS(msg, "[4, 1, 3, 3]");
  EXPECT_MENTIONS(msg, "3 channels");
  EXPECT_MENTIONS(msg, "expects 1");
  EXPECT_THROW(conv2d(x, w, Tensor(), params()), ShapeError);
}

TEST(Conv2d, GroupsThatDoNotDivideTheChannelsAreRejected) {
  std::string msg = error_of([] {
    conv2d(Tensor::zeros({1, 6, 8, 8}), Tensor::zeros({4, 2, 3, 3}), Tensor(),
           params({1, 1}, {0, 0}, {1, 1}, 4), "Conv2d 'dw'");
  });
  EXPECT_MENTIONS(msg, "Conv2d 'dw'");
  EXPECT_MENTIONS(msg, "groups (4)");
  EXPECT_MENTIONS(msg, "6 input channels");
  msg = error_of([] {
    conv2d(Tensor::zeros({1, 4, 8, 8}), Tensor::zeros({3, 2, 3, 3}), Tensor(),
           params({1, 1}, {0, 0}, {1, 1}, 2), "Conv2d 'g'");
  });
  EXPECT_MENTIONS(msg, "Conv2d 'g'");
  EXPECT_MENTIONS(msg, "3 output channels");
}

TEST(Conv2d, OutputSmallerThanOneIsRejected) {
  std::string msg = error_of([] {
    conv2d(Tensor::zeros({1, 1, 4, 4}), Tensor::zeros({2, 1, 5, 5}), Tensor(), params(),
           "Conv2d 'big'");
  });
  EXPECT_MENTIONS(msg, "Conv2d 'big'");
  EXPECT_MENTIONS(msg, "[1, 1, 4, 4]");
  EXPECT_MENTIONS(msg, "5x5");
  // Dilation makes a 3x3 kernel span 5 pixels.
  msg = error_of([] {
    conv2d(Tensor::zeros({1, 1, 4, 4}), Tensor::zeros({2, 1, 3, 3}), Tensor(),
           params({1, 1}, {0, 0}, {2, 2}), "Conv2d 'dil'");
  });
  EXPECT_MENTIONS(msg, "Conv2d 'dil'");
  EXPECT_MENTIONS(msg, "dilation");
}

TEST(Conv2d, OtherBadInputsAreRejectedWithTheLayerName) {
  Tensor x = Tensor::zeros({1, 2, 5, 5}), w = Tensor::zeros({3, 2, 3, 3});
  EXPECT_MENTIONS(error_of([&] { conv2d(x, w, Tensor::zeros({4}), params(), "Conv2d 'c'"); }),
                  "bias has shape [4], expected [3]");
  EXPECT_MENTIONS(error_of([&] {
                    conv2d(Tensor::zeros({2, 5, 5}), w, Tensor(), params(), "C");
                  }),
                  "[2, 5, 5]");
  EXPECT_MENTIONS(error_of([&] {
                    conv2d(x, w, Tensor(), params({0, 1}), "Conv2d 'c'");
                  }),
                  "stride");
  EXPECT_MENTIONS(
      error_of([&] { conv2d(x, w.to(DType::Float64), Tensor(), params(), "Conv2d 'c'"); }),
      "float32 and float64");
}
