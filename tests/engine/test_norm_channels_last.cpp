// Batch norm on channels-last (NHWC) inputs on the CPU: the CPU kernels are NCHW, so
// ng::batch_norm copies x to contiguous and returns a contiguous y; values, running statistics
// and every gradient must be those of the same values given in NCHW, in train and eval mode.
// (On cuda the layout is kept; tests/engine/test_cuda_channels_last_norm.cpp checks that.)
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/core/rng.h"
#include "engine/core/tensor.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"
#include "engine/ops/reduce.h"

using namespace ng;

namespace {

Tensor random(const Shape& s, uint64_t seed, double lo, double hi, DType dt) {
  Rng rng(seed);
  return Tensor::uniform(s, lo, hi, rng, dt);
}

Tensor leaf(Tensor t) {
  t = t.detach();
  t.set_requires_grad(true);
  return t;
}

// batch_norm on x in NCHW and on a channels-last copy of x agree exactly: the CPU runs the same
// kernel on the same values.
void expect_same_as_nchw(const Shape& s, Mode mode, DType dt, uint64_t seed) {
  SCOPED_TRACE(std::string(mode == Mode::Train ? "train " : "eval ") + shape_str(s) + " " +
               dtype_name(dt));
  const int64_t C = s[1];
  Tensor base = random(s, seed, -2, 3, dt);
  Tensor x = leaf(base), xl = leaf(base.contiguous(MemoryFormat::ChannelsLast));
  ASSERT_TRUE(xl.is_channels_last());
  ASSERT_EQ(xl.memory_format(), MemoryFormat::ChannelsLast);
  ASSERT_FALSE(xl.is_contiguous());
  Tensor g1 = leaf(random({C}, seed + 1, 0.5, 1.5, dt)), g2 = leaf(g1);
  Tensor b1 = leaf(random({C}, seed + 2, -1, 1, dt)), b2 = leaf(b1);
  Tensor rm1 = random({C}, seed + 3, -0.1, 0.1, dt), rv1 = random({C}, seed + 4, 0.5, 1.5, dt);
  Tensor rm2 = rm1.clone(), rv2 = rv1.clone();

  Tensor y1 = batch_norm(x, g1, b1, rm1, rv1, mode, 0.1, 1e-5);
  Tensor y2 = batch_norm(xl, g2, b2, rm2, rv2, mode, 0.1, 1e-5);
  EXPECT_TRUE(y2.is_contiguous()) << "the CPU kernels write NCHW";
  EXPECT_EQ(y2.to_vector<double>(), y1.to_vector<double>()) << "y";
  EXPECT_EQ(rm2.to_vector<double>(), rm1.to_vector<double>()) << "running_mean";
  EXPECT_EQ(rv2.to_vector<double>(), rv1.to_vector<double>()) << "running_var";
  if (mode == Mode::Train) {  // the batch statistics moved the running ones
    EXPECT_NE(rm1.to_vector<double>(), random({C}, seed + 3, -0.1, 0.1, dt).to_vector<double>());
  }

  Tensor r = random(s, seed + 5, 0.5, 1.5, dt);
  sum(mul(y1, r)).backward();
  sum(mul(y2, r.contiguous(MemoryFormat::ChannelsLast))).backward();
  ASSERT_TRUE(x.grad().defined() && xl.grad().defined());
  EXPECT_EQ(xl.grad().to_vector<double>(), x.grad().to_vector<double>()) << "gx";
  EXPECT_EQ(g2.grad().to_vector<double>(), g1.grad().to_vector<double>()) << "ggamma";
  EXPECT_EQ(b2.grad().to_vector<double>(), b1.grad().to_vector<double>()) << "gbeta";
  // Not all zero: the comparison means something.
  double gx_norm = 0;
  for (double v : x.grad().to_vector<double>()) gx_norm += v * v;
  EXPECT_GT(gx_norm, 0.0);
}

}  // namespace

TEST(BatchNormChannelsLast, CpuMatchesNchwInTrainMode) {
  uint64_t seed = 10;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{4, 16, 6, 6}, Shape{3, 7, 2, 3}})
    for (DType dt : {DType::Float32, DType::Float64})
      expect_same_as_nchw(s, Mode::Train, dt, seed += 10);
}

TEST(BatchNormChannelsLast, CpuMatchesNchwInEvalMode) {
  uint64_t seed = 100;
  for (const Shape& s : {Shape{2, 3, 5, 7}, Shape{4, 16, 6, 6}})
    for (DType dt : {DType::Float32, DType::Float64})
      expect_same_as_nchw(s, Mode::Eval, dt, seed += 10);
}

TEST(BatchNormChannelsLast, CpuTrainMatchesHandComputedNormalisation) {
  // An independent reference on a channels-last input: per channel, (x - mean) / sqrt(var + eps)
  // with the biased batch variance, gamma = 1, beta = 0.
  const Shape s{3, 2, 2, 2};
  Tensor base = random(s, 7, -2, 3, DType::Float64);
  Tensor xl = base.contiguous(MemoryFormat::ChannelsLast);
  ASSERT_EQ(xl.memory_format(), MemoryFormat::ChannelsLast);
  Tensor y = batch_norm(xl, Tensor(), Tensor(), Tensor(), Tensor(), Mode::Train, 0.1, 1e-5);
  std::vector<double> v = base.to_vector<double>(), out = y.to_vector<double>();
  for (int64_t c = 0; c < 2; ++c) {
    std::vector<int64_t> idx;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t k = 0; k < 4; ++k) idx.push_back((n * 2 + c) * 4 + k);
    double m = 0, var = 0;
    for (int64_t i : idx) m += v[i];
    m /= double(idx.size());
    for (int64_t i : idx) var += (v[i] - m) * (v[i] - m);
    var /= double(idx.size());
    for (int64_t i : idx) EXPECT_NEAR(out[i], (v[i] - m) / std::sqrt(var + 1e-5), 1e-12);
  }
}
