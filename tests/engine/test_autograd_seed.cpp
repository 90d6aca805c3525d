// Backward's seed and the gradients it hands on (engine/autograd/autograd.cpp): backward() on a
// scalar starts from a 1 kept for the process (no fill per step), and an incoming gradient is
// released before its node's results are accumulated, so a view of it (Flatten's reshape, Add's
// pass-through) is taken without a copy. Neither may let a gradient that is still referenced
// elsewhere be written in place: each test accumulates into gradients that alias the seed, the
// caller's gradient or one another, and checks every value, then that the seed is still 1.
#include <gtest/gtest.h>

#include <vector>

#include "engine/autograd/autograd.h"
#include "engine/core/allocator.h"
#include "engine/core/rng.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/softmax.h"

using namespace ng;

namespace {

Tensor leaf(Tensor t) {
  t.set_requires_grad(true);
  return t;
}

Tensor rand_t(const Shape& s, uint64_t seed) {
  Rng rng(seed);
  return Tensor::uniform(s, 0.5, 1.5, rng);
}

// A fresh scalar's backward must still see a seed of 1.
void expect_seed_is_one() {
  Tensor w = leaf(Tensor::full({3}, 2.0));
  sum(w).backward();
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{1, 1, 1})) << "the seed changed";
  Tensor s = leaf(Tensor::full({}, 4.0));
  s.backward();
  EXPECT_EQ(s.grad().item(), 1.0) << "the seed changed";
}

}  // namespace

TEST(AutogradSeed, BackwardOnALeafScalarAccumulatesIntoACopyOfTheSeed) {
  Tensor x = leaf(Tensor::full({}, 3.0));
  x.backward();
  x.backward();
  x.backward();
  EXPECT_EQ(x.grad().item(), 3.0);
  Tensor y = leaf(Tensor::full({1, 1}, 3.0));  // a one-element root of rank 2
  y.backward();
  y.backward();
  EXPECT_EQ(y.grad().shape(), (Shape{1, 1}));
  EXPECT_EQ(y.grad().item(), 2.0);
  expect_seed_is_one();
}

TEST(AutogradSeed, ARootThatPassesTheSeedThroughKeepsItIntact) {
  // add passes its incoming gradient to both inputs; reshape hands back a view of it.
  Tensor a = leaf(Tensor::full({}, 1.0)), b = leaf(Tensor::full({}, 2.0));
  for (int i = 0; i < 3; ++i) add(a, b).backward();
  EXPECT_EQ(a.grad().item(), 3.0);
  EXPECT_EQ(b.grad().item(), 3.0);
  EXPECT_NE(a.grad().raw_data(), b.grad().raw_data()) << "two leaves share one gradient";
  Tensor x = leaf(Tensor::full({}, 5.0));
  x.reshape({1}).backward();
  x.reshape({1, 1}).backward();
  EXPECT_EQ(x.grad().item(), 2.0);
  expect_seed_is_one();
}

TEST(AutogradSeed, TheCallersGradientIsNeverWrittenInPlace) {
  Tensor x = leaf(Tensor::full({2, 3}, 1.0));
  Tensor gin = Tensor::from_vector<float>({1, 2, 3, 4, 5, 6}, {6});
  x.reshape({6}).backward(gin);
  x.reshape({6}).backward(gin);
  EXPECT_EQ(gin.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(x.grad().to_vector<float>(), (std::vector<float>{2, 4, 6, 8, 10, 12}));
  // backward(gin) on the parameter itself: its gradient is a copy, not gin.
  Tensor w = leaf(Tensor::full({6}, 1.0));
  w.backward(gin);
  w.backward(gin);
  EXPECT_EQ(gin.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(w.grad().to_vector<float>(), (std::vector<float>{2, 4, 6, 8, 10, 12}));
}

// A parameter and a waiting node share the gradient Add hands to both (w + a): the parameter's
// gradient must not be that tensor, since w gets a second gradient (from w * a) while a's node
// has yet to read the shared one. y = w a + (w + a) c3 with a = x c1:
// dy/dw = a + c3, dy/dx = c1 (w + c3).
TEST(AutogradSeed, AParametersGradientNeverSharesMemoryWithAWaitingGradient) {
  const Shape s{4, 6};
  const Tensor c1 = rand_t(s, 31), c3 = rand_t(s, 33);
  Tensor w = leaf(rand_t(s, 30)), x = leaf(rand_t(s, 34));
  Tensor a = mul(x, c1);
  Tensor y = add(mul(w, a), mul(add(w, a), c3));
  y.backward(Tensor::ones(s));
  const std::vector<float> gw = w.grad().to_vector<float>(), gx = x.grad().to_vector<float>(),
                           vw = w.to_vector<float>(), va = a.to_vector<float>(),
                           v1 = c1.to_vector<float>(), v3 = c3.to_vector<float>();
  for (size_t i = 0; i < gw.size(); ++i) {
    EXPECT_NEAR(gw[i], double(va[i]) + v3[i], 1e-5) << i;
    EXPECT_NEAR(gx[i], double(v1[i]) * (double(vw[i]) + v3[i]), 1e-5) << i;
  }
}

// u and v meet twice: d/dx sum((u + v) + u) with u = 2x, v = 3x is 2 + 3 + 2 = 7 everywhere. The
// add nodes hand one gradient to two inputs, both of which wait with it; u's gets a second
// gradient while v's node has yet to read the shared one (NOTE [Shared pending gradients]).
TEST(AutogradSeed, GradientsHandedToSeveralInputsAreNotAddedIntoWhileShared) {
  Tensor x = leaf(rand_t({4, 5}, 1));
  Tensor u = mul(x, Tensor::full({}, 2.0)), v = mul(x, Tensor::full({}, 3.0));
  sum(add(add(u, v), u)).backward();
  for (float g : x.grad().to_vector<float>()) EXPECT_FLOAT_EQ(g, 7.0f);
  expect_seed_is_one();
}

// A flatten whose gradient is taken as a view (released first) and then added into in place: h
// is read flattened twice and once as it is, so d/dx = s * (r1 + r2 + r3 reshaped).
TEST(AutogradSeed, AFlattenedGradientTakenAsAViewIsAddedIntoCorrectly) {
  const int64_t N = 2;
  Tensor x = leaf(rand_t({N, 3, 2, 2}, 2));
  Tensor s = rand_t({N, 3, 2, 2}, 3), r1 = rand_t({N, 12}, 4), r2 = rand_t({N, 12}, 5),
         r3 = rand_t({N, 3, 2, 2}, 6);
  Tensor h = mul(x, s);
  Tensor f = h.reshape({N, -1});
  Tensor loss = add(add(sum(mul(f, r1)), sum(mul(f, r2))), sum(mul(h, r3)));
  loss.backward();
  const std::vector<float> g = x.grad().to_vector<float>(), vs = s.to_vector<float>(),
                           v1 = r1.to_vector<float>(), v2 = r2.to_vector<float>(),
                           v3 = r3.to_vector<float>();
  ASSERT_EQ(g.size(), vs.size());
  for (size_t i = 0; i < g.size(); ++i)
    EXPECT_NEAR(g[i], double(vs[i]) * (double(v1[i]) + v2[i] + v3[i]), 1e-5) << i;
  // A second backward through a fresh graph adds the same again.
  Tensor h2 = mul(x, s);
  sum(mul(h2.reshape({N, -1}), r1)).backward();
  const std::vector<float> g2 = x.grad().to_vector<float>();
  for (size_t i = 0; i < g2.size(); ++i)
    EXPECT_NEAR(g2[i], double(vs[i]) * (2.0 * v1[i] + v2[i] + v3[i]), 1e-5) << i;
  expect_seed_is_one();
}

// autograd::is_unit_seed: true for backward()'s own seed of ones, false for a gradient the caller
// gives (even a 1), so a closure such as cross-entropy's may hand on its result unscaled.
TEST(AutogradSeed, OnlyBackwardsOwnSeedCountsAsAUnitSeed) {
  auto seen_by_closure = [](const Tensor* given) {
    Tensor x = leaf(Tensor::full({}, 3.0));
    Tensor y = Tensor::full({}, 6.0);
    bool unit = false;
    autograd::record(y, "Probe", {x}, [&unit](const Tensor& g) {
      unit = autograd::is_unit_seed(g);
      return std::vector<Tensor>{g.clone()};
    });
    if (given)
      y.backward(*given);
    else
      y.backward();
    EXPECT_EQ(x.grad().item(), given ? given->item() : 1.0);
    return unit;
  };
  EXPECT_TRUE(seen_by_closure(nullptr));
  const Tensor one = Tensor::full({}, 1.0), two = Tensor::full({}, 2.0);
  EXPECT_FALSE(seen_by_closure(&one));
  EXPECT_FALSE(seen_by_closure(&two));
  expect_seed_is_one();
}

// Cross-entropy hands its forward's gradient on as it is for backward() on the loss, and scales
// it for any other upstream gradient; both equal (softmax - one_hot) / N (times the upstream).
TEST(AutogradSeed, CrossEntropyGradientWithAndWithoutAUnitSeed) {
  const Tensor x0 = Tensor::from_vector<float>({1, 2, 0, -1, 0.5f, 3}, {2, 3});
  const Tensor labels = Tensor::from_vector<int64_t>({2, 0}, {2});
  const std::vector<float> p = softmax(x0, 1).to_vector<float>();
  std::vector<float> want(6);
  for (int i = 0; i < 6; ++i)  // labels 2 and 0: one-hot at flat 2 and 3
    want[size_t(i)] = (p[size_t(i)] - ((i == 2 || i == 3) ? 1.f : 0.f)) / 2;
  Tensor x = leaf(x0.clone());
  cross_entropy(x, labels).backward();
  const std::vector<float> g1 = x.grad().to_vector<float>();
  Tensor x3 = leaf(x0.clone());
  cross_entropy(x3, labels).backward(Tensor::full({}, 3.0));
  const std::vector<float> g3 = x3.grad().to_vector<float>();
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_NEAR(g1[i], want[i], 1e-7) << i;
    EXPECT_NEAR(g3[i], 3 * want[i], 3e-7) << i;
  }
  expect_seed_is_one();
}

// NOTE [Shared pending gradients]: a residual sum's gradient is shared by its two inputs, not
// copied. y = a + a * w2 with a = x * w1 (1 MiB each), backward from the caller's gradient w3:
// b = a * w2 gets w3 itself, a gets it too and then b's gradient w3 * w2, added into a new tensor
// (w3 is the caller's); x's gradient is w1 * w3 * (1 + w2). About 2 MiB are allocated at once;
// copying the shared gradient for each input, as before, took 3.
TEST(AutogradSeed, AResidualSumsGradientIsSharedNotCopied) {
  const Shape s{256, 1024};
  const Tensor w1 = rand_t(s, 21), w2 = rand_t(s, 22), w3 = rand_t(s, 23);
  const std::vector<float> v3_before = w3.to_vector<float>();
  Tensor x = leaf(rand_t(s, 20));
  Tensor a = mul(x, w1);
  Tensor y = add(a, mul(a, w2));
  Allocator& al = allocator(Device::cpu());
  const size_t base = al.bytes_in_use();
  al.reset_peak();
  y.backward(w3);
  const double mib = double(al.peak_bytes_in_use() - base) / (1 << 20);
  EXPECT_LT(mib, 2.5) << "backward's peak above its start";
  const std::vector<float> g = x.grad().to_vector<float>(), v1 = w1.to_vector<float>(),
                           v2 = w2.to_vector<float>(), v3 = w3.to_vector<float>();
  EXPECT_EQ(v3, v3_before) << "the caller's gradient was written";
  for (size_t i = 0; i < g.size(); i += 97)
    EXPECT_NEAR(g[i], double(v1[i]) * v3[i] * (1.0 + v2[i]), 1e-5) << i;
}

// NOTE [Gradients added in place by the kernel]: a closure may add its input's gradient into the
// one already waiting there (accumulation_target) and return it; autograd adds nothing more.
// y = 3a + 5a with a = 2x, the 5a term an op whose backward adds into the waiting gradient when
// there is one: dy/dx = 16 either way, and in one of the two orders of the sum the closure finds
// the 3a term's gradient waiting.
TEST(AutogradSeed, AClosureMayAddItsGradientIntoTheOneWaiting) {
  int added_into = 0;
  for (int order = 0; order < 2; ++order) {
    Tensor x = leaf(rand_t({3, 4}, 40));
    Tensor a = mul(x, Tensor::full({}, 2.0));
    Tensor b = mul(a, Tensor::full({}, 3.0));
    Tensor c = mul(a.detach(), Tensor::full({}, 5.0));
    autograd::record(c, "TimesFive", {a}, [&added_into](const Tensor& g) {
      Tensor five_g = mul(g, Tensor::full({}, 5.0));
      Tensor t = autograd::accumulation_target(0);
      if (!t.defined()) return std::vector<Tensor>{five_g};
      ++added_into;
      add_(t, five_g);
      return std::vector<Tensor>{t};
    });
    Tensor y = order == 0 ? add(b, c) : add(c, b);
    y.backward(Tensor::ones({3, 4}));
    for (float v : x.grad().to_vector<float>()) EXPECT_FLOAT_EQ(v, 16.0f) << order;
    EXPECT_FALSE(autograd::accumulation_target(0).defined()) << "outside a closure";
  }
  EXPECT_GE(added_into, 1);
}

// No target while the waiting gradient is shared (here with the caller's gradient, which the sum
// handed on to both of its inputs), nor for an input the node reads twice.
TEST(AutogradSeed, NoTargetForASharedGradientOrARepeatedInput) {
  Tensor x = leaf(rand_t({5}, 41));
  Tensor a = mul(x, Tensor::full({}, 2.0));
  Tensor c = mul(a.detach(), Tensor::full({}, 5.0));
  bool offered = false;
  autograd::record(c, "TimesFive", {a}, [&offered](const Tensor& g) {
    offered |= autograd::accumulation_target(0).defined();
    return std::vector<Tensor>{mul(g, Tensor::full({}, 5.0))};
  });
  Tensor gin = Tensor::ones({5});
  add(a, c).backward(gin);  // a's slot waits with gin itself, which the caller holds
  EXPECT_FALSE(offered);
  for (float v : x.grad().to_vector<float>()) EXPECT_FLOAT_EQ(v, 12.0f);

  // Square reads a2 twice; with the sum in this order b2's node runs first, so a2's gradient is
  // waiting alone when Square asks (without the repeated-input rule it would be offered).
  offered = false;
  Tensor x2 = leaf(rand_t({5}, 42));
  Tensor a2 = mul(x2, Tensor::full({}, 2.0));
  Tensor b2 = mul(a2, Tensor::full({}, 3.0));
  Tensor d = mul(a2.detach(), a2.detach());
  autograd::record(d, "Square", {a2, a2}, [&offered, a2](const Tensor& g) {
    offered |=
        autograd::accumulation_target(0).defined() || autograd::accumulation_target(1).defined();
    Tensor ga = mul(g, a2.detach());
    return std::vector<Tensor>{ga, ga};
  });
  add(d, b2).backward(Tensor::ones({5}));
  EXPECT_FALSE(offered);
  const std::vector<float> g = x2.grad().to_vector<float>(), v = x2.to_vector<float>();
  for (size_t i = 0; i < g.size(); ++i) EXPECT_NEAR(g[i], 2.0 * (3.0 + 2.0 * (2.0 * v[i])), 1e-5);
}

// A backward run inside a closure (after it asked for its target) leaves the outer closure's
// target as it was: the outer result is still taken as added in place, not added again.
TEST(AutogradSeed, ABackwardInsideAClosureKeepsTheOuterTarget) {
  int added_into = 0;
  for (int order = 0; order < 2; ++order) {
    Tensor z = leaf(rand_t({2}, 44));
    Tensor inner = sum(mul(z, Tensor::full({}, 2.0)));  // recorded before the outer backward
    Tensor x = leaf(rand_t({3, 4}, 40));
    Tensor a = mul(x, Tensor::full({}, 2.0));
    Tensor b = mul(a, Tensor::full({}, 3.0));
    Tensor c = mul(a.detach(), Tensor::full({}, 5.0));
    autograd::record(c, "TimesFive", {a}, [&added_into, inner](const Tensor& g) {
      Tensor t = autograd::accumulation_target(0);
      inner.backward();
      Tensor five_g = mul(g, Tensor::full({}, 5.0));
      if (!t.defined()) return std::vector<Tensor>{five_g};
      ++added_into;
      add_(t, five_g);
      return std::vector<Tensor>{t};
    });
    (order == 0 ? add(b, c) : add(c, b)).backward(Tensor::ones({3, 4}));
    for (float v : x.grad().to_vector<float>()) EXPECT_FLOAT_EQ(v, 16.0f) << order;
    for (float v : z.grad().to_vector<float>()) EXPECT_FLOAT_EQ(v, 2.0f) << order;
  }
  EXPECT_GE(added_into, 1);
}
