#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "engine/core/parallel.h"
#include "engine/core/rng.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"
#include "engine/ops/reduce.h"
#include "tests/engine/gradcheck.h"

using ng::testing::contains;
using ng::testing::message_of;

using namespace ng;
using ng::testing::expect_gradients_match;
using ng::testing::rand64;

namespace {

// Plain reference statistics of x [N, C, S...] per channel: mean and biased variance.
void channel_stats(const std::vector<double>& x, int64_t N, int64_t C, int64_t S,
                   std::vector<double>& mean, std::vector<double>& var) {
  mean.assign(C, 0.0);
  var.assign(C, 0.0);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) mean[c] += x[(n * C + c) * S + s];
    mean[c] /= double(N * S);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t s = 0; s < S; ++s) {
        double d = x[(n * C + c) * S + s] - mean[c];
        var[c] += d * d;
      }
    var[c] /= double(N * S);
  }
}

// A fixed random weighting so that sum(w * y) has a non-trivial gradient (sum(y) of a
// normalised output does not depend on x).
Tensor weights_like(const Tensor& t, uint64_t seed) {
  return rand64(t.shape(), seed, -1, 1, false);
}

}  // namespace

TEST(BatchNorm, TrainForwardMatchesHandComputedStatisticsAndPyTorchRunningUpdate) {
  for (Shape shape : {Shape{6, 3}, Shape{4, 3, 2, 5}}) {
    const int64_t N = shape[0], C = shape[1], S = numel(shape) / (N * C);
    Tensor x = rand64(shape, 1, -2, 3, false);
    Tensor gamma = rand64({C}, 2, 0.5, 1.5, false), beta = rand64({C}, 3, -1, 1, false);
    Tensor rm = Tensor::zeros({C}, DType::Float64), rv = Tensor::ones({C}, DType::Float64);
    const double momentum = 0.1, eps = 1e-5;
    Tensor y = batch_norm(x, gamma, beta, rm, rv, Mode::Train, momentum, eps);

    auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
    auto g = gamma.to_vector<double>(), b = beta.to_vector<double>();
    std::vector<double> mean, var;
    channel_stats(xv, N, C, S, mean, var);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t s = 0; s < S; ++s) {
          int64_t i = (n * C + c) * S + s;
          double ref = (xv[i] - mean[c]) / std::sqrt(var[c] + eps) * g[c] + b[c];
          EXPECT_NEAR(yv[i], ref, 1e-12) << shape_str(shape) << " element " << i;
        }
    // PyTorch: running = (1 - momentum) * running + momentum * stat, unbiased variance.
    const double M = double(N * S);
    auto rmv = rm.to_vector<double>(), rvv = rv.to_vector<double>();
    for (int64_t c = 0; c < C; ++c) {
      EXPECT_NEAR(rmv[c], 0.9 * 0.0 + 0.1 * mean[c], 1e-12);
      EXPECT_NEAR(rvv[c], 0.9 * 1.0 + 0.1 * var[c] * M / (M - 1), 1e-12);
    }
    // A second step compounds from the updated values.
    batch_norm(x, gamma, beta, rm, rv, Mode::Train, momentum, eps);
    auto rm2 = rm.to_vector<double>(), rv2 = rv.to_vector<double>();
    for (int64_t c = 0; c < C; ++c) {
      EXPECT_NEAR(rm2[c], 0.9 * rmv[c] + 0.1 * mean[c], 1e-12);
      EXPECT_NEAR(rv2[c], 0.9 * rvv[c] + 0.1 * var[c] * M / (M - 1), 1e-12);
    }
  }
}

TEST(BatchNorm, KnownNumbers) {
  // One channel holding 1, 2, 3, 4: mean 2.5, biased var 1.25, unbiased var 5/3.
  Tensor x = Tensor::from_vector<double>({1, 2, 3, 4}, {4, 1});
  Tensor rm = Tensor::zeros({1}, DType::Float64), rv = Tensor::ones({1}, DType::Float64);
  Tensor y = batch_norm(x, Tensor(), Tensor(), rm, rv, Mode::Train, 0.1, 1e-5);
  auto yv = y.to_vector<double>();
  const double inv = 1.0 / std::sqrt(1.25 + 1e-5);
  EXPECT_NEAR(yv[0], -1.5 * inv, 1e-12);
  EXPECT_NEAR(yv[3], 1.5 * inv, 1e-12);
  EXPECT_NEAR(rm.item(), 0.25, 1e-12);
  EXPECT_NEAR(rv.item(), 0.9 + 0.1 * 5.0 / 3.0, 1e-12);
}

TEST(BatchNorm, EvalUsesRunningStatisticsAndLeavesThemUnchanged) {
  Tensor x = rand64({3, 2, 2, 2}, 4, -1, 1, false);
  Tensor gamma = Tensor::from_vector<double>({2.0, 0.5}, {2});
  Tensor beta = Tensor::from_vector<double>({0.1, -0.3}, {2});
  Tensor rm = Tensor::from_vector<double>({0.4, -0.2}, {2});
  Tensor rv = Tensor::from_vector<double>({1.5, 0.25}, {2});
  Tensor y = batch_norm(x, gamma, beta, rm, rv, Mode::Eval, 0.1, 1e-5);
  auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
  const double m[2] = {0.4, -0.2}, v[2] = {1.5, 0.25}, g[2] = {2.0, 0.5}, b[2] = {0.1, -0.3};
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t c = (i / 4) % 2;
    EXPECT_NEAR(yv[i], (xv[i] - m[c]) / std::sqrt(v[c] + 1e-5) * g[c] + b[c], 1e-12);
  }
  EXPECT_EQ(rm.to_vector<double>(), (std::vector<double>{0.4, -0.2}));
  EXPECT_EQ(rv.to_vector<double>(), (std::vector<double>{1.5, 0.25}));
}

TEST(BatchNorm, Float32StatisticsStayAccurateWithLargeOffsets) {
  // Values 1000 + noise: a naive one-pass E[x^2] - E[x]^2 in float32 loses the variance.
  Rng rng(5);
  Tensor x64 = Tensor::randn({64, 4, 8, 8}, rng, DType::Float64);
  x64 = add_scalar(mul_scalar(x64, 0.5), 1000.0);
  Tensor x32 = x64.to(DType::Float32);
  Tensor rm32 = Tensor::zeros({4}), rv32 = Tensor::ones({4});
  Tensor rm64 = Tensor::zeros({4}, DType::Float64), rv64 = Tensor::ones({4}, DType::Float64);
  Tensor y32 = batch_norm(x32, Tensor(), Tensor(), rm32, rv32, Mode::Train);
  Tensor y64 = batch_norm(x64, Tensor(), Tensor(), rm64, rv64, Mode::Train);
  auto a = y32.to_vector<double>(), b = y64.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 2e-3) << i;
  auto va = rv32.to_vector<double>(), vb = rv64.to_vector<double>();
  for (size_t c = 0; c < 4; ++c) EXPECT_NEAR(va[c], vb[c], 1e-4);
}

// NOTE [Batch-norm apply] (ops/cpu/norm_cpu.cpp): y = (x - mean) * scale + beta far from zero.
// Values 1000 + noise (spread 1, float32 ulp 6e-5 there), scale up to 3: the differences
// between a channel's outputs match float64's to y's and scale's own rounding (2 ulp at
// |y| <= 12), with or without a fused multiply-add; the channel as a whole is offset by at most
// the float32 mean's rounding times scale (measured 7e-5; x * scale + shift gave 2.6e-4 here),
// in train mode, and by nothing in eval mode with a running mean that float32 holds exactly.
TEST(BatchNorm, OutputsFarFromZeroKeepTheirDifferences) {
  Rng rng(9);
  const int64_t N = 32, C = 3, S = 25;
  Tensor x64 = add_scalar(Tensor::randn({N, C, 5, 5}, rng, DType::Float64), 1000.0);
  Tensor x32 = x64.to(DType::Float32);
  x64 = x32.to(DType::Float64);  // the same inputs exactly
  Rng grng(10);
  Tensor g32 = add_scalar(Tensor::uniform({C}, -1, 1, grng, DType::Float64), 2.0);
  g32 = g32.to(DType::Float32);
  Tensor b32 = Tensor::uniform({C}, -1, 1, grng, DType::Float64).to(DType::Float32);
  Tensor g64 = g32.to(DType::Float64), b64 = b32.to(DType::Float64);  // the same exactly
  for (Mode mode : {Mode::Train, Mode::Eval}) {
    SCOPED_TRACE(mode == Mode::Train ? "train" : "eval");
    Tensor rm32 = Tensor::full({C}, 999.5), rv32 = Tensor::full({C}, 1.5);
    Tensor rm64 = rm32.to(DType::Float64), rv64 = rv32.to(DType::Float64);
    Tensor y32 = batch_norm(x32, g32, b32, rm32, rv32, mode);
    Tensor y64 = batch_norm(x64, g64, b64, rm64, rv64, mode);
    const auto a = y32.to_vector<double>(), b = y64.to_vector<double>();
    double worst = 0, offset = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t c = 0; c < C; ++c)
        for (int64_t i = 0; i < S; ++i) {
          const size_t k = size_t((n * C + c) * S + i), k0 = size_t(c * S);  // vs (0, c, 0)
          worst = std::max(worst, std::abs((a[k] - a[k0]) - (b[k] - b[k0])));
          offset = std::max(offset, std::abs(a[k] - b[k]));
        }
    EXPECT_LT(worst, 2e-6);  // per value: the float32 rounding of y itself
    EXPECT_LT(offset, mode == Mode::Train ? 1.2e-4 : 2e-6);  // per channel: the mean's rounding
  }
}

TEST(BatchNorm, TrainBackwardMatchesFiniteDifferences) {
  for (Shape shape : {Shape{5, 3}, Shape{3, 2, 3, 2}}) {
    const int64_t C = shape[1];
    Tensor x = rand64(shape, 6), gamma = rand64({C}, 7, 0.5, 1.5), beta = rand64({C}, 8);
    Tensor w = weights_like(x, 9);
    Tensor rm = Tensor::zeros({C}, DType::Float64), rv = Tensor::ones({C}, DType::Float64);
    expect_gradients_match(
        [&](const std::vector<Tensor>& in) {
          return sum(mul(batch_norm(in[0], in[1], in[2], rm, rv, Mode::Train), w));
        },
        {x, gamma, beta});
    // affine = false, no running statistics.
    expect_gradients_match(
        [&](const std::vector<Tensor>& in) {
          return sum(mul(
              square(batch_norm(in[0], Tensor(), Tensor(), Tensor(), Tensor(), Mode::Train)), w));
        },
        {x});
  }
}

TEST(BatchNorm, EvalBackwardMatchesFiniteDifferences) {
  Tensor x = rand64({3, 2, 2, 2}, 10), gamma = rand64({2}, 11, 0.5, 1.5), beta = rand64({2}, 12);
  Tensor rm = rand64({2}, 13, -0.5, 0.5, false), rv = rand64({2}, 14, 0.5, 2.0, false);
  Tensor w = weights_like(x, 15);
  expect_gradients_match(
      [&](const std::vector<Tensor>& in) {
        return sum(mul(batch_norm(in[0], in[1], in[2], rm, rv, Mode::Eval), w));
      },
      {x, gamma, beta});
}

TEST(BatchNorm, BadInputsNameTheLayerAndShapes) {
  Tensor x = Tensor::zeros({4, 3, 2, 2});
  std::string m = message_of<ShapeError>([&] {
    batch_norm(x, Tensor::ones({4}), Tensor(), Tensor::zeros({3}), Tensor::ones({3}), Mode::Train,
               0.1, 1e-5, "BatchNorm2d 'bn1'");
  });
  EXPECT_TRUE(contains(m, "bn1") && contains(m, "[4]") && contains(m, "[3]")) << m;
  m = message_of<ShapeError>([&] {
    batch_norm(Tensor::zeros({5}), Tensor(), Tensor(), Tensor(), Tensor(), Mode::Train, 0.1, 1e-5,
               "BatchNorm1d 'bn2'");
  });
  EXPECT_TRUE(contains(m, "bn2") && contains(m, "[5]")) << m;
  m = message_of<ShapeError>([&] {
    batch_norm(Tensor::zeros({1, 3}), Tensor(), Tensor(), Tensor(), Tensor(), Mode::Train, 0.1,
               1e-5, "BatchNorm1d 'bn3'");
  });
  EXPECT_TRUE(contains(m, "bn3") && contains(m, "more than one value")) << m;
  m = message_of<Error>([&] {
    batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), Mode::Eval, 0.1, 1e-5, "BN 'bn4'");
  });
  EXPECT_TRUE(contains(m, "bn4") && contains(m, "running")) << m;
}

TEST(LayerNorm, ForwardMatchesPlainReference) {
  Tensor x = rand64({2, 3, 4}, 20, -2, 2, false);
  Tensor gamma = rand64({3, 4}, 21, 0.5, 1.5, false), beta = rand64({3, 4}, 22, -1, 1, false);
  Tensor y = layer_norm(x, {3, 4}, gamma, beta, 1e-5);
  auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
  auto g = gamma.to_vector<double>(), b = beta.to_vector<double>();
  for (int r = 0; r < 2; ++r) {
    double m = 0, v = 0;
    for (int i = 0; i < 12; ++i) m += xv[r * 12 + i] / 12;
    for (int i = 0; i < 12; ++i) v += (xv[r * 12 + i] - m) * (xv[r * 12 + i] - m) / 12;
    for (int i = 0; i < 12; ++i)
      EXPECT_NEAR(yv[r * 12 + i], (xv[r * 12 + i] - m) / std::sqrt(v + 1e-5) * g[i] + b[i], 1e-12);
  }
  // Without affine parameters each row has mean 0 and (biased) variance ~1.
  auto z = layer_norm(x, {4}, Tensor(), Tensor(), 1e-12).to_vector<double>();
  for (int r = 0; r < 6; ++r) {
    double m = 0, v = 0;
    for (int i = 0; i < 4; ++i) m += z[r * 4 + i] / 4;
    for (int i = 0; i < 4; ++i) v += z[r * 4 + i] * z[r * 4 + i] / 4;
    EXPECT_NEAR(m, 0.0, 1e-12);
    EXPECT_NEAR(v, 1.0, 1e-9);
  }
}

TEST(LayerNorm, BackwardMatchesFiniteDifferences) {
  Tensor x = rand64({3, 2, 4}, 23), gamma = rand64({4}, 24, 0.5, 1.5), beta = rand64({4}, 25);
  Tensor w = weights_like(x, 26);
  expect_gradients_match(
      [&](const std::vector<Tensor>& in) {
        return sum(mul(layer_norm(in[0], {4}, in[1], in[2]), w));
      },
      {x, gamma, beta});
  Tensor g2 = rand64({2, 4}, 27, 0.5, 1.5);
  expect_gradients_match(
      [&](const std::vector<Tensor>& in) {
        return sum(mul(square(layer_norm(in[0], {2, 4}, in[1], Tensor())), w));
      },
      {x, g2});
}

TEST(LayerNorm, WrongNormalizedShapeNamesLayerAndShapes) {
  std::string m = message_of<ShapeError>([&] {
    layer_norm(Tensor::zeros({2, 5}), {4}, Tensor(), Tensor(), 1e-5, "LayerNorm 'ln1'");
  });
  EXPECT_TRUE(contains(m, "ln1") && contains(m, "[2, 5]") && contains(m, "[4]")) << m;
}

TEST(Dropout, KeepsAboutOneMinusPAndPreservesTheMean) {
  Rng rng(42);
  const int64_t n = 200000;
  const double p = 0.3;
  Tensor x = Tensor::ones({n});
  auto y = dropout(x, p, Mode::Train, rng).to_vector<float>();
  int64_t kept = 0;
  double total = 0;
  for (float v : y) {
    if (v != 0) {
      ++kept;
      EXPECT_FLOAT_EQ(v, float(1.0 / (1.0 - p)));
    }
    total += v;
  }
  EXPECT_NEAR(double(kept) / double(n), 1.0 - p, 0.005);
  EXPECT_NEAR(total / double(n), 1.0, 0.01);
}

TEST(Dropout, SameSeedGivesSameMaskOnAnyThreadCount) {
  Tensor x = Tensor::ones({10001, 3}, DType::Float64);
  Rng a(7), b(7), c(8);
  auto ya = dropout(x, 0.5, Mode::Train, a).to_vector<double>();
  const int prev = num_threads();
  set_num_threads(prev == 1 ? 2 : 1);
  auto yb = dropout(x, 0.5, Mode::Train, b).to_vector<double>();
  set_num_threads(prev);
  auto yc = dropout(x, 0.5, Mode::Train, c).to_vector<double>();
  EXPECT_EQ(ya, yb);
  EXPECT_NE(ya, yc);
  // The generator advances: a second draw from the same Rng gives another mask.
  auto ya2 = dropout(x, 0.5, Mode::Train, a).to_vector<double>();
  EXPECT_NE(ya, ya2);
}

TEST(Dropout, EvalAndZeroProbabilityAreTheIdentity) {
  Rng rng(1);
  Tensor x = rand64({4, 5}, 30, -1, 1, false);
  EXPECT_EQ(dropout(x, 0.5, Mode::Eval, rng).to_vector<double>(), x.to_vector<double>());
  EXPECT_EQ(dropout(x, 0.0, Mode::Train, rng).to_vector<double>(), x.to_vector<double>());
  for (double v : dropout(x, 1.0, Mode::Train, rng).to_vector<double>()) EXPECT_EQ(v, 0.0);
}

TEST(Dropout, BackwardMultipliesByTheMask) {
  Tensor x = rand64({6, 7}, 31, 0.5, 1.5);  // no zeros, so y / x recovers the mask
  Tensor w = weights_like(x, 32);
  expect_gradients_match(
      [&](const std::vector<Tensor>& in) {
        Rng rng(99);  // the same mask at every evaluation
        return sum(mul(dropout(in[0], 0.4, Mode::Train, rng), w));
      },
      {x});
  x.zero_grad();
  Rng rng(99);
  Tensor y = dropout(x, 0.4, Mode::Train, rng);
  sum(y).backward();
  auto xv = x.to_vector<double>(), yv = y.to_vector<double>(), gv = x.grad().to_vector<double>();
  int zeros = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    EXPECT_NEAR(gv[i], yv[i] / xv[i], 1e-12);
    zeros += gv[i] == 0;
  }
  EXPECT_GT(zeros, 0);
  EXPECT_LT(zeros, int(xv.size()));
}

TEST(Dropout, ProbabilityOutOfRangeNamesLayerAndValue) {
  Rng rng(1);
  std::string m = message_of<Error>(
      [&] { dropout(Tensor::ones({3}), 1.5, Mode::Train, rng, "Dropout 'drop1'"); });
  EXPECT_TRUE(contains(m, "drop1") && contains(m, "1.5")) << m;
}

namespace {

// Forward output and input/parameter gradients of f(x, gamma, beta) weighted by w, run with
// `threads` threads (the serial run is the reference for the chunked parallel one).
std::vector<std::vector<double>> run_with_threads(
    int threads, const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& f,
    Tensor x, Tensor gamma, Tensor beta, const Tensor& w) {
  const int prev = num_threads();
  set_num_threads(threads);
  x.zero_grad(), gamma.zero_grad(), beta.zero_grad();
  Tensor y = f(x, gamma, beta);
  sum(mul(y, w)).backward();
  set_num_threads(prev);
  return {y.to_vector<double>(), x.grad().to_vector<double>(), gamma.grad().to_vector<double>(),
          beta.grad().to_vector<double>()};
}

void expect_all_near(const std::vector<std::vector<double>>& a,
                     const std::vector<std::vector<double>>& b, double tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    ASSERT_EQ(a[k].size(), b[k].size());
    for (size_t i = 0; i < a[k].size(); ++i) ASSERT_NEAR(a[k][i], b[k][i], tol) << k << " " << i;
  }
}

}  // namespace

TEST(BatchNorm, ThreadCountDoesNotChangeResults) {
  // Large enough that the channel loops split into parallel chunks.
  for (Shape shape : {Shape{4096, 64}, Shape{32, 16, 16, 16}}) {
    const int64_t C = shape[1];
    Tensor x = rand64(shape, 40, -2, 3), g = rand64({C}, 41, 0.5, 1.5), b = rand64({C}, 42);
    Tensor w = weights_like(x, 43);
    auto f = [C](const Tensor& x, const Tensor& g, const Tensor& b) {
      Tensor rm = Tensor::zeros({C}, DType::Float64), rv = Tensor::ones({C}, DType::Float64);
      return batch_norm(x, g, b, rm, rv, Mode::Train);
    };
    expect_all_near(run_with_threads(1, f, x, g, b, w), run_with_threads(2, f, x, g, b, w), 1e-10);
  }
}

TEST(LayerNorm, ThreadCountDoesNotChangeResults) {
  Tensor x = rand64({512, 64}, 44, -2, 3), g = rand64({64}, 45, 0.5, 1.5), b = rand64({64}, 46);
  Tensor w = weights_like(x, 47);
  auto f = [](const Tensor& x, const Tensor& g, const Tensor& b) {
    return layer_norm(x, {64}, g, b);
  };
  expect_all_near(run_with_threads(1, f, x, g, b, w), run_with_threads(2, f, x, g, b, w), 1e-10);
}
