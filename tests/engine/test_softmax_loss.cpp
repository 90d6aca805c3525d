#include <gtest/gtest.h>

#include <cmath>

#include "engine/core/parallel.h"
#include "engine/core/rng.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/softmax.h"
#include "tests/engine/gradcheck.h"

using ng::testing::contains;
using ng::testing::message_of;

using namespace ng;
using ng::testing::expect_gradients_match;
using ng::testing::rand64;

namespace {

Tensor weights_like(const Tensor& t, uint64_t seed) {
  return rand64(t.shape(), seed, -1, 1, false);
}

// Softmax of x [A, B, C] over `axis` (0, 1 or 2), written from the definition.
std::vector<double> reference_softmax(const std::vector<double>& x, const Shape& s, int axis) {
  std::vector<double> y(x.size());
  auto at = [&](int64_t a, int64_t b, int64_t c) { return (a * s[1] + b) * s[2] + c; };
  for (int64_t a = 0; a < s[0]; ++a)
    for (int64_t b = 0; b < s[1]; ++b)
      for (int64_t c = 0; c < s[2]; ++c) {
        double den = 0;
        for (int64_t k = 0; k < s[axis]; ++k) {
          int64_t idx = axis == 0 ? at(k, b, c) : axis == 1 ? at(a, k, c) : at(a, b, k);
          den += std::exp(x[idx]);
        }
        y[at(a, b, c)] = std::exp(x[at(a, b, c)]) / den;
      }
  return y;
}

// Cross-entropy from the definition: -mean_i sum_c target_ic * log softmax(x_i)_c.
double reference_cross_entropy(const std::vector<double>& x, const std::vector<int64_t>& labels,
                               int64_t C, double s) {
  const int64_t N = int64_t(labels.size());
  double total = 0;
  for (int64_t i = 0; i < N; ++i) {
    double den = 0;
    for (int64_t c = 0; c < C; ++c) den += std::exp(x[i * C + c]);
    for (int64_t c = 0; c < C; ++c) {
      double target = (c == labels[i] ? 1.0 - s : 0.0) + s / double(C);
      total -= target * std::log(std::exp(x[i * C + c]) / den);
    }
  }
  return total / double(N);
}

}  // namespace

TEST(Softmax, ForwardMatchesDefinitionOnEveryAxis) {
  const Shape s{3, 4, 5};
  Tensor x = rand64(s, 1, -3, 3, false);
  auto xv = x.to_vector<double>();
  for (int axis : {0, 1, 2}) {
    auto ref = reference_softmax(xv, s, axis);
    auto y = softmax(x, axis).to_vector<double>();
    auto ly = log_softmax(x, axis).to_vector<double>();
    for (size_t i = 0; i < ref.size(); ++i) {
      EXPECT_NEAR(y[i], ref[i], 1e-14) << "axis " << axis << " element " << i;
      EXPECT_NEAR(ly[i], std::log(ref[i]), 1e-12) << "axis " << axis << " element " << i;
    }
  }
  // Negative axes count from the end.
  EXPECT_EQ(softmax(x, -1).to_vector<double>(), softmax(x, 2).to_vector<double>());
  EXPECT_EQ(log_softmax(x, -3).to_vector<double>(), log_softmax(x, 0).to_vector<double>());
}

TEST(Softmax, StableForHugeLogits) {
  Tensor x = Tensor::from_vector<float>({1e4f, 1e4f - 1.0f, 0.0f, -1e4f}, {1, 4});
  auto y = softmax(x, -1).to_vector<double>();
  auto ly = log_softmax(x, -1).to_vector<double>();
  const double z = 1.0 + std::exp(-1.0);
  EXPECT_NEAR(y[0], 1.0 / z, 1e-6);
  EXPECT_NEAR(y[1], std::exp(-1.0) / z, 1e-6);
  EXPECT_EQ(y[2], 0.0);
  EXPECT_NEAR(ly[0], -std::log(z), 1e-6);
  EXPECT_NEAR(ly[3], -2e4 - std::log(z), 1.0);
  for (double v : ly) EXPECT_TRUE(std::isfinite(v));
  // The same along a non-trailing axis.
  auto yc = softmax(x.reshape({4, 1}), 0).to_vector<double>();
  EXPECT_NEAR(yc[0], 1.0 / z, 1e-6);
  auto lyc = log_softmax(x.reshape({4, 1}), 0).to_vector<double>();
  EXPECT_NEAR(lyc[0], -std::log(z), 1e-6);
  EXPECT_NEAR(lyc[1], -1.0 - std::log(z), 1e-6);
}

TEST(Softmax, BackwardMatchesFiniteDifferences) {
  Tensor x = rand64({3, 4, 5}, 2, -2, 2);
  Tensor w = weights_like(x, 3);
  for (int64_t axis : {0, 1, -1}) {
    expect_gradients_match(
        [&](const std::vector<Tensor>& in) { return sum(mul(softmax(in[0], axis), w)); }, {x});
    expect_gradients_match(
        [&](const std::vector<Tensor>& in) { return sum(mul(log_softmax(in[0], axis), w)); }, {x});
  }
}

TEST(CrossEntropy, UniformLogitsGiveLogC) {
  for (int64_t C : {2, 10, 1000}) {
    Tensor x = Tensor::full({4, C}, 3.7);
    Tensor labels = Tensor::from_vector<int64_t>({0, 1, C - 1, 1}, {4});
    EXPECT_NEAR(cross_entropy(x, labels).item(), std::log(double(C)), 1e-5);
    EXPECT_NEAR(cross_entropy(x, labels, 0.3).item(), std::log(double(C)), 1e-5);
  }
}

TEST(CrossEntropy, MatchesDefinitionWithAndWithoutLabelSmoothing) {
  const int64_t N = 5, C = 7;
  Tensor x = rand64({N, C}, 4, -3, 3, false);
  std::vector<int64_t> lv{0, 6, 3, 3, 1};
  Tensor labels = Tensor::from_vector<int64_t>(lv, {N});
  for (double s : {0.0, 0.1, 0.5}) {
    double ref = reference_cross_entropy(x.to_vector<double>(), lv, C, s);
    EXPECT_NEAR(cross_entropy(x, labels, s).item(), ref, 1e-13) << "smoothing " << s;
    EXPECT_NEAR(cross_entropy(x.to(DType::Float32), labels, s).item(), ref, 1e-5);
  }
  EXPECT_EQ(cross_entropy(x, labels).shape(), Shape{});
}

TEST(CrossEntropy, StableForHugeLogits) {
  Tensor x = Tensor::from_vector<float>({1e4f, 0.0f, -1e4f, 0.0f, 1e4f, 0.0f}, {2, 3});
  // Row 0 predicts class 0 with certainty (loss 0); row 1 labels class 0 at logit 0 while
  // class 1 has 1e4 (loss 1e4). Mean: 5e3.
  Tensor labels = Tensor::from_vector<int64_t>({0, 0}, {2});
  double loss = cross_entropy(x, labels).item();
  EXPECT_TRUE(std::isfinite(loss));
  EXPECT_NEAR(loss, 5e3, 1e-2);
  Tensor xg = x.clone().set_requires_grad(true);
  cross_entropy(xg, labels).backward();
  for (double g : xg.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(g));
  auto g = xg.grad().to_vector<double>();
  EXPECT_NEAR(g[3], -0.5, 1e-6);  // (p - 1) / N at the label of row 1
  EXPECT_NEAR(g[4], 0.5, 1e-6);   // p = 1 / N at its argmax
}

TEST(CrossEntropy, BackwardMatchesFiniteDifferences) {
  Tensor x = rand64({4, 6}, 5, -2, 2);
  Tensor labels = Tensor::from_vector<int64_t>({5, 0, 2, 2}, {4});
  for (double s : {0.0, 0.2}) {
    expect_gradients_match(
        [&](const std::vector<Tensor>& in) {
          return mul_scalar(cross_entropy(in[0], labels, s), 3.0);  // a non-unit upstream gradient
        },
        {x});
  }
}

TEST(CrossEntropy, LabelOutOfRangeNamesLayerValueAndRow) {
  Tensor x = Tensor::zeros({3, 4});
  std::string m = message_of<ValueError>([&] {
    cross_entropy(x, Tensor::from_vector<int64_t>({0, 3, 7}, {3}), 0.0, "CrossEntropyLoss 'loss'");
  });
  EXPECT_TRUE(contains(m, "'loss'") && contains(m, "label 7") && contains(m, "row 2") &&
              contains(m, "4 classes"))
      << m;
  m = message_of<ValueError>([&] {
    cross_entropy(x, Tensor::from_vector<int64_t>({-1, 0, 0}, {3}));
  });
  EXPECT_TRUE(contains(m, "CrossEntropyLoss") && contains(m, "label -1") && contains(m, "row 0"))
      << m;
  m = message_of<ShapeError>([&] {
    cross_entropy(x, Tensor::from_vector<int64_t>({0, 1}, {2}), 0.0, "CE 'ce1'");
  });
  EXPECT_TRUE(contains(m, "ce1") && contains(m, "[2]") && contains(m, "[3, 4]")) << m;
  m = message_of<Error>([&] { cross_entropy(x, Tensor::zeros({3}), 0.0, "CE 'ce2'"); });
  EXPECT_TRUE(contains(m, "ce2") && contains(m, "int64")) << m;
}

TEST(MSELoss, ValueAndGradients) {
  Tensor p = Tensor::from_vector<double>({1, 2, 3, 4}, {2, 2});
  Tensor t = Tensor::from_vector<double>({1, 0, 5, 3}, {2, 2});
  EXPECT_DOUBLE_EQ(mse_loss(p, t).item(), (0 + 4 + 4 + 1) / 4.0);
  Tensor a = rand64({3, 4}, 6), b = rand64({3, 4}, 7);
  expect_gradients_match([](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); },
                         {a, b});
  std::string m = message_of<ShapeError>([&] {
    mse_loss(Tensor::zeros({3, 4}), Tensor::zeros({3}), "MSELoss 'mse'");
  });
  EXPECT_TRUE(contains(m, "'mse'") && contains(m, "[3, 4]") && contains(m, "[3]")) << m;
}

TEST(BCEWithLogits, MatchesDefinitionAndIsStable) {
  Tensor x = rand64({3, 5}, 8, -4, 4, false), t = rand64({3, 5}, 9, 0, 1, false);
  auto xv = x.to_vector<double>(), tv = t.to_vector<double>();
  double ref = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    double s = 1.0 / (1.0 + std::exp(-xv[i]));
    ref -= tv[i] * std::log(s) + (1 - tv[i]) * std::log(1 - s);
  }
  ref /= double(xv.size());
  EXPECT_NEAR(bce_with_logits(x, t).item(), ref, 1e-13);
  // Huge logits: the naive form gives log(0); the stable one gives |x| for a wrong certain guess.
  Tensor big = Tensor::from_vector<float>({1000.0f, -1000.0f, 1000.0f}, {3});
  Tensor tb = Tensor::from_vector<float>({0.0f, 1.0f, 1.0f}, {3});
  EXPECT_NEAR(bce_with_logits(big, tb).item(), 2000.0 / 3.0, 1e-3);
}

TEST(BCEWithLogits, BackwardMatchesFiniteDifferences) {
  Tensor x = rand64({4, 3}, 10, -3, 3), t = rand64({4, 3}, 11, 0, 1);
  expect_gradients_match(
      [](const std::vector<Tensor>& in) { return mul_scalar(bce_with_logits(in[0], in[1]), 2.0); },
      {x, t});
  // At x = 0 the derivative is sigmoid(0) - t = 0.5 - t (over numel), also where |x| kinks.
  Tensor z = Tensor::zeros({2}, DType::Float64).set_requires_grad(true);
  Tensor tz = Tensor::from_vector<double>({0.0, 1.0}, {2});
  bce_with_logits(z, tz).backward();
  EXPECT_EQ(z.grad().to_vector<double>(), (std::vector<double>{0.25, -0.25}));
}

TEST(Softmax, ThreadCountDoesNotChangeResults) {
  // [256, 100] over the last axis (row path) and [8, 10, 1024] over axis 1 (tiled path).
  for (auto [shape, axis] :
       std::vector<std::pair<Shape, int64_t>>{{{256, 100}, -1}, {{8, 10, 1024}, 1}}) {
    Tensor x = rand64(shape, 50, -3, 3);
    Tensor w = weights_like(x, 51);
    std::vector<std::vector<double>> res[2];
    const int prev = num_threads();
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      for (bool log : {false, true}) {
        x.zero_grad();
        Tensor y = log ? log_softmax(x, axis) : softmax(x, axis);
        sum(mul(y, w)).backward();
        res[threads - 1].push_back(y.to_vector<double>());
        res[threads - 1].push_back(x.grad().to_vector<double>());
      }
    }
    set_num_threads(prev);
    for (size_t k = 0; k < res[0].size(); ++k)
      for (size_t i = 0; i < res[0][k].size(); ++i)
        ASSERT_NEAR(res[0][k][i], res[1][k][i], 1e-14) << k << " " << i;
  }
}

TEST(CrossEntropy, ThreadCountDoesNotChangeResults) {
  const int64_t N = 4096, C = 10;
  Tensor x = rand64({N, C}, 52, -3, 3);
  std::vector<int64_t> lv(N);
  for (int64_t i = 0; i < N; ++i) lv[i] = (i * 7) % C;
  Tensor labels = Tensor::from_vector<int64_t>(lv, {N});
  double loss[2];
  std::vector<double> grad[2];
  const int prev = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    x.zero_grad();
    Tensor l = cross_entropy(x, labels, 0.1);
    l.backward();
    loss[threads - 1] = l.item();
    grad[threads - 1] = x.grad().to_vector<double>();
  }
  set_num_threads(prev);
  EXPECT_EQ(loss[0], loss[1]);  // row losses are summed in row order
  EXPECT_EQ(grad[0], grad[1]);
  EXPECT_NEAR(loss[0], reference_cross_entropy(x.to_vector<double>(), lv, C, 0.1), 1e-12);
}
