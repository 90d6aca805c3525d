// Channels-last (NHWC) activations, NOTE [Channels-last] in engine/ops/cuda/conv.cpp: the
// tensor API, elementwise ops and autograd keeping the layout, and a residual block giving the
// same loss and gradients with convolutions forced channels-last as in plain NCHW, on the CPU
// (where only the layout changes) and on CUDA (where cuDNN runs NHWC kernels).
#include <gtest/gtest.h>

#include <functional>

#include "cuda_test_util.h"
#include "engine/autograd/autograd.h"
#include "engine/ops/conv.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/norm.h"
#include "engine/ops/pool.h"
#include "engine/ops/reduce.h"
#include "engine/ops/softmax.h"

namespace ng {
namespace {

using testing::rel_err;
using testing::rnd;

// Forces a channels-last policy for one test.
class PolicyGuard {
 public:
  explicit PolicyGuard(ChannelsLastPolicy p) : prev_(channels_last_policy()) {
    set_channels_last_policy(p);
  }
  ~PolicyGuard() { set_channels_last_policy(prev_); }

 private:
  ChannelsLastPolicy prev_;
};

TEST(ChannelsLast, EmptyHasNhwcStrides) {
  Tensor t = Tensor::empty({2, 3, 4, 5}, DType::Float32, Device::cpu(), MemoryFormat::ChannelsLast);
  EXPECT_EQ(t.strides(), (std::vector<int64_t>{60, 1, 15, 3}));
  EXPECT_TRUE(t.is_channels_last());
  EXPECT_FALSE(t.is_contiguous());
  EXPECT_EQ(t.memory_format(), MemoryFormat::ChannelsLast);
  // One channel: both layouts are the same memory, reported as contiguous.
  Tensor one =
      Tensor::empty({2, 1, 4, 5}, DType::Float32, Device::cpu(), MemoryFormat::ChannelsLast);
  EXPECT_TRUE(one.is_channels_last());
  EXPECT_TRUE(one.is_contiguous());
  EXPECT_EQ(one.memory_format(), MemoryFormat::Contiguous);
  // A permuted NHWC buffer is channels-last; a plain transpose is neither.
  EXPECT_TRUE(Tensor::empty({2, 4, 5, 3}).permute({0, 3, 1, 2}).is_channels_last());
  EXPECT_FALSE(Tensor::empty({2, 3, 4, 5}).transpose(2, 3).is_channels_last());
  EXPECT_THROW(Tensor::empty({2, 3}, DType::Float32, Device::cpu(), MemoryFormat::ChannelsLast),
               ShapeError);
}

TEST(ChannelsLast, ContiguousConvertsBothWaysAndKeepsValues) {
  Tensor x = rnd({2, 3, 4, 5}, 1);
  Tensor cl = x.contiguous(MemoryFormat::ChannelsLast);
  ASSERT_EQ(cl.memory_format(), MemoryFormat::ChannelsLast);
  // Element (n, c, h, w) sits at n*60 + h*15 + w*3 + c in the NHWC buffer.
  const std::vector<float> xv = x.to_vector<float>();
  const float* p = cl.data<float>();
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 3; ++c)
      for (int h = 0; h < 4; ++h)
        for (int w = 0; w < 5; ++w)
          ASSERT_EQ(p[n * 60 + h * 15 + w * 3 + c], xv[((n * 3 + c) * 4 + h) * 5 + w]);
  EXPECT_TRUE(cl.contiguous(MemoryFormat::ChannelsLast).same(cl));  // no copy when already so
  Tensor back = cl.contiguous();
  EXPECT_TRUE(back.is_contiguous());
  EXPECT_EQ(back.to_vector<float>(), xv);
  EXPECT_EQ(cl.to_vector<float>(), xv);  // host reads give logical order
}

TEST(ChannelsLast, ElementwiseOpsKeepTheLayoutAndTheirGradientsAreRight) {
  Tensor a = rnd({2, 3, 4, 5}, 2), b = rnd({2, 3, 4, 5}, 3), bias = rnd({1, 3, 1, 1}, 4);
  Tensor acl = testing::grad_leaf(a.contiguous(MemoryFormat::ChannelsLast).detach());
  Tensor bcl = testing::grad_leaf(b.contiguous(MemoryFormat::ChannelsLast).detach());
  Tensor an = testing::grad_leaf(a.detach()), bn = testing::grad_leaf(b.detach());
  auto f = [&](const Tensor& x, const Tensor& y) {
    Tensor r = relu(add(mul(x, y), bias));  // broadcast bias keeps x's layout
    EXPECT_EQ(r.memory_format(), x.memory_format());
    return sum(mul(r, tanh(y)));
  };
  Tensor lcl = f(acl, bcl), ln = f(an, bn);
  EXPECT_NEAR(lcl.item(), ln.item(), 1e-5);
  lcl.backward();
  ln.backward();
  EXPECT_LT(rel_err(acl.grad(), an.grad()), 1e-6);
  EXPECT_LT(rel_err(bcl.grad(), bn.grad()), 1e-6);
  // Mixed layouts: the result is right whichever operand leads.
  EXPECT_LT(rel_err(add(acl, bn), add(an, bn)), 1e-7);
  EXPECT_LT(rel_err(sub(an, bcl), sub(an, bn)), 1e-7);
}

TEST(ChannelsLast, AccumulatedGradientKeepsTheLayout) {
  // x feeds two branches (as a residual block's input does): its gradient is the sum of both.
  Tensor x =
      testing::grad_leaf(rnd({2, 4, 3, 3}, 5).contiguous(MemoryFormat::ChannelsLast).detach());
  Tensor y = add(relu(x), mul_scalar(x, 3.0));
  sum(mul(y, y)).backward();
  Tensor xn = x.contiguous().detach();
  Tensor yn = add(relu(xn), mul_scalar(xn, 3.0));
  // d/dx sum(y^2) = 2 y (relu'(x) + 3)
  Tensor want =
      mul(mul_scalar(yn, 2.0), add_scalar(greater_equal(xn, Tensor::zeros_like(xn)), 3.0));
  EXPECT_LT(rel_err(x.grad(), want), 1e-6);
}

// A residual block as ResNet-20 has them, then pooling and a classifier; returns the loss and
// the gradients of the input and every parameter.
struct BlockRun {
  double loss = 0;
  std::vector<Tensor> grads;  // x, w1, g1, b1, w2, g2, b2, fc_w, fc_b
  MemoryFormat hidden_format = MemoryFormat::Contiguous;
};

BlockRun run_block(Device dev, int C, int N, int HW, ChannelsLastPolicy policy) {
  PolicyGuard guard(policy);
  std::vector<Tensor> leaves = {
      rnd({N, C, HW, HW}, 11), rnd({C, C, 3, 3}, 12, -0.3, 0.3), rnd({C}, 13, 0.5, 1.5),
      rnd({C}, 14, -0.2, 0.2), rnd({C, C, 3, 3}, 15, -0.3, 0.3), rnd({C}, 16, 0.5, 1.5),
      rnd({C}, 17, -0.2, 0.2), rnd({10, C}, 18, -0.5, 0.5),      rnd({10}, 19, -0.1, 0.1)};
  for (Tensor& t : leaves) t = testing::grad_leaf(t.to(dev).detach());
  std::vector<int64_t> lv(static_cast<size_t>(N));
  for (int i = 0; i < N; ++i) lv[size_t(i)] = i % 10;
  Tensor labels = Tensor::from_vector<int64_t>(lv, {N}).to(dev);
  Conv2dParams p;
  p.padding = {1, 1};
  const Tensor& x = leaves[0];
  Tensor h = conv2d(x, leaves[1], Tensor(), p);
  BlockRun r;
  r.hidden_format = h.memory_format();
  h = relu(batch_norm(h, leaves[2], leaves[3], Tensor(), Tensor(), Mode::Train, 0.1, 1e-5));
  h = conv2d(h, leaves[4], Tensor(), p);
  h = batch_norm(h, leaves[5], leaves[6], Tensor(), Tensor(), Mode::Train, 0.1, 1e-5);
  h = relu(add(h, x));
  Tensor logits = linear(global_avg_pool(h), leaves[7], leaves[8]);
  Tensor loss = cross_entropy(logits, labels);
  loss.backward();
  r.loss = loss.item();
  for (const Tensor& t : leaves) r.grads.push_back(t.grad().to(Device::cpu()));
  return r;
}

void expect_same_run(const BlockRun& cl, const BlockRun& ref, double tol) {
  EXPECT_NEAR(cl.loss, ref.loss, tol * std::abs(ref.loss));
  const char* names[] = {"x",     "conv1.w", "bn1.g", "bn1.b", "conv2.w",
                         "bn2.g", "bn2.b",   "fc.w",  "fc.b"};
  for (size_t i = 0; i < ref.grads.size(); ++i)
    EXPECT_LT(rel_err(cl.grads[i], ref.grads[i]), tol) << "gradient of " << names[i];
  // Parameters' gradients reach the optimiser in the parameter's own layout.
  for (size_t i = 1; i < cl.grads.size(); ++i) EXPECT_TRUE(cl.grads[i].is_contiguous()) << names[i];
}

TEST(ChannelsLast, ResidualBlockOnTheCpuMatchesNchw) {
  const BlockRun ref = run_block(Device::cpu(), 8, 4, 6, ChannelsLastPolicy::Off);
  const BlockRun cl = run_block(Device::cpu(), 8, 4, 6, ChannelsLastPolicy::On);
  EXPECT_EQ(ref.hidden_format, MemoryFormat::Contiguous);
  EXPECT_EQ(cl.hidden_format, MemoryFormat::ChannelsLast);
  expect_same_run(cl, ref, 1e-5);
}

TEST(ChannelsLast, AutoPolicyKeepsTheCpuAndSmallConvolutionsNchw) {
  PolicyGuard g(ChannelsLastPolicy::Auto);
  Tensor x = rnd({8, 3, 32, 32}, 1);
  EXPECT_FALSE(conv2d_runs_channels_last(x, {8, 16, 32, 32}));  // CPU
  if (!cuda_available()) GTEST_SKIP() << "the CUDA half needs a device";
  Tensor xg = x.to(Device::cuda());
  EXPECT_FALSE(conv2d_runs_channels_last(xg, {64, 6, 28, 28}));   // LeNet's conv1
  EXPECT_TRUE(conv2d_runs_channels_last(xg, {512, 16, 32, 32}));  // ResNet's stem
  EXPECT_TRUE(conv2d_runs_channels_last(xg.contiguous(MemoryFormat::ChannelsLast),
                                        {8, 6, 28, 28}));  // input already channels-last
}

class CudaChannelsLast : public testing::CudaTestBase {};

TEST_F(CudaChannelsLast, ResidualBlockMatchesTheCpu) {
  const BlockRun ref = run_block(Device::cpu(), 16, 8, 8, ChannelsLastPolicy::Off);
  const BlockRun cl = run_block(Device::cuda(), 16, 8, 8, ChannelsLastPolicy::On);
  EXPECT_EQ(cl.hidden_format, MemoryFormat::ChannelsLast);
  expect_same_run(cl, ref, 1e-4);  // float32, TF32 off: cuDNN's summation order differs
}

TEST_F(CudaChannelsLast, ConvolutionWithBiasStridesAndOddChannels) {
  PolicyGuard g(ChannelsLastPolicy::On);
  for (int64_t C : {3, 5, 16}) {
    Tensor x = rnd({3, C, 9, 7}, 21), w = rnd({7, C, 3, 3}, 22), b = rnd({7}, 23);
    Conv2dParams p;
    p.stride = {2, 2};
    p.padding = {1, 1};
    Tensor xc = testing::grad_leaf(x.detach()), wc = testing::grad_leaf(w.detach()),
           bc = testing::grad_leaf(b.detach());
    Tensor xg = testing::on_gpu(xc), wg = testing::on_gpu(wc), bg = testing::on_gpu(bc);
    Tensor yc, yg;
    {
      PolicyGuard off(ChannelsLastPolicy::Off);
      yc = conv2d(xc, wc, bc, p);
    }
    yg = conv2d(xg, wg, bg, p);
    EXPECT_EQ(yg.memory_format(), MemoryFormat::ChannelsLast) << "C=" << C;
    EXPECT_LT(rel_err(yg, yc), 1e-5) << "C=" << C;
    Tensor gy = rnd(yc.shape(), 24);
    sum(mul(yc, gy)).backward();
    sum(mul(yg, gy.to(Device::cuda()))).backward();
    EXPECT_LT(rel_err(xg.grad(), xc.grad()), 1e-5) << "C=" << C;
    EXPECT_LT(rel_err(wg.grad(), wc.grad()), 1e-5) << "C=" << C;
    EXPECT_LT(rel_err(bg.grad(), bc.grad()), 1e-5) << "C=" << C;
    EXPECT_TRUE(wg.grad().is_contiguous());
  }
}

// conv2d(..., relu = true): cuDNN's fused convolution + bias + ReLU (NCHW, LeNet's shapes) and
// the channels-last path, forward and all gradients against the CPU's relu(conv2d).
TEST_F(CudaChannelsLast, ConvolutionBiasReluMatchesTheCpu) {
  struct Case {
    Shape x, w;
    int64_t pad;
    ChannelsLastPolicy policy;
  };
  for (const Case& c : {Case{{64, 1, 28, 28}, {6, 1, 5, 5}, 2, ChannelsLastPolicy::Off},
                        Case{{64, 6, 14, 14}, {16, 6, 5, 5}, 0, ChannelsLastPolicy::Off},
                        Case{{4, 16, 9, 9}, {16, 16, 3, 3}, 1, ChannelsLastPolicy::On}}) {
    PolicyGuard g(c.policy);
    Conv2dParams p;
    p.padding = {c.pad, c.pad};
    Tensor x = testing::grad_leaf(rnd(c.x, 31)), w = testing::grad_leaf(rnd(c.w, 32, -0.3, 0.3)),
           b = testing::grad_leaf(rnd({c.w[0]}, 33, -0.2, 0.2));
    Tensor xg = testing::on_gpu(x), wg = testing::on_gpu(w), bg = testing::on_gpu(b);
    Tensor y;
    {
      PolicyGuard off(ChannelsLastPolicy::Off);
      y = relu(conv2d(x, w, b, p));
    }
    Tensor yg = conv2d(xg, wg, bg, p, "Conv2d", true);
    EXPECT_LT(rel_err(yg, y), 1e-5) << shape_str(c.x);
    Tensor gy = rnd(y.shape(), 34);
    sum(mul(y, gy)).backward();
    sum(mul(yg, gy.to(Device::cuda()))).backward();
    EXPECT_LT(rel_err(xg.grad(), x.grad()), 1e-5) << shape_str(c.x);
    EXPECT_LT(rel_err(wg.grad(), w.grad()), 1e-5) << shape_str(c.x);
    EXPECT_LT(rel_err(bg.grad(), b.grad()), 1e-5) << shape_str(c.x);
  }
}

TEST(ChannelsLast, ConvolutionWithReluOnTheCpuIsReluOfConvolution) {
  Conv2dParams p;
  p.padding = {1, 1};
  Tensor x = rnd({2, 3, 6, 6}, 41), w = rnd({4, 3, 3, 3}, 42), b = rnd({4}, 43);
  EXPECT_EQ(conv2d(x, w, b, p, "Conv2d", true).to_vector<float>(),
            relu(conv2d(x, w, b, p)).to_vector<float>());
}

}  // namespace
}  // namespace ng
