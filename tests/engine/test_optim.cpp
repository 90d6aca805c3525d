// Optimisers, learning-rate schedules and gradient clipping against the published rules
// (PyTorch's torch.optim documentation), each written out again here as a plain loop.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <numbers>
#include <string>
#include <vector>

#include "engine/core/parallel.h"
#include "engine/core/rng.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/optim/adam.h"
#include "engine/optim/clip.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/rmsprop.h"
#include "engine/optim/sgd.h"

using namespace ng;

namespace {

using Vec = std::vector<double>;

Tensor param_of(const Vec& v, DType dt = DType::Float64) {
  Tensor p = Tensor::from_vector<double>(v, {int64_t(v.size())}).to(dt);
  p.set_requires_grad(true);
  return p;
}

void set_grad(Tensor& p, const Vec& g) {
  p.set_grad(Tensor::from_vector<double>(g, {int64_t(g.size())}).to(p.dtype()));
}

Vec values(const Tensor& t) {
  return t.to(DType::Float64).to_vector<double>();
}

// The hand-made gradient at step k (1-based) for parameter value p: it depends on p, so a
// wrong parameter update changes every later gradient too.
Vec grad_at(const Vec& p, int k) {
  Vec g(p.size());
  for (size_t i = 0; i < p.size(); ++i)
    g[i] = 0.7 * p[i] + 0.25 * std::sin(double(i) + 1.3 * k) - 0.05 * double(k);
  return g;
}

const Vec kP0 = {0.5, -1.25, 2.0, 0.0, -0.3, 1.1, 3.5};

void expect_near_vec(const Vec& got, const Vec& want, double rtol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i)
    if (!(std::abs(got[i] - want[i]) <= rtol * (1.0 + std::abs(want[i])))) {
      if (bad++ == 0) first = i;
    }
  EXPECT_EQ(bad, 0u) << what << ": first mismatch at element " << first << ": got " << got[first]
                     << ", want " << want[first];
}

// Runs `steps` updates of opt on p with grad_at, returning the parameter after each step.
std::vector<Vec> run_engine(Optimizer& opt, Tensor& p, int steps) {
  std::vector<Vec> out;
  for (int k = 1; k <= steps; ++k) {
    set_grad(p, grad_at(values(p), k));
    opt.step();
    out.push_back(values(p));
  }
  return out;
}

// ---- the published update rules, plainly ----

struct RefSgd {
  double lr, momentum, dampening, wd;
  bool nesterov;
  Vec buf;
  void step(Vec& p, const Vec& g) {
    bool first = buf.empty();
    if (first) buf.assign(p.size(), 0.0);
    for (size_t i = 0; i < p.size(); ++i) {
      double d = g[i] + wd * p[i];
      if (momentum != 0.0) {
        buf[i] = first ? d : momentum * buf[i] + (1.0 - dampening) * d;
        d = nesterov ? d + momentum * buf[i] : buf[i];
      }
      p[i] = p[i] - lr * d;
    }
  }
};

struct RefAdam {
  double lr, b1, b2, eps, wd;
  bool decoupled;
  Vec m, v;
  int t = 0;
  void step(Vec& p, const Vec& g0) {
    if (m.empty()) m.assign(p.size(), 0.0), v.assign(p.size(), 0.0);
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      double g = g0[i];
      if (decoupled)
        p[i] = p[i] - lr * wd * p[i];
      else
        g = g + wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      double m_hat = m[i] / (1 - std::pow(b1, t));
      double v_hat = v[i] / (1 - std::pow(b2, t));
      p[i] = p[i] - lr * m_hat / (std::sqrt(v_hat) + eps);
    }
  }
};

struct RefRmsprop {
  double lr, alpha, eps, wd, momentum;
  bool centered;
  Vec sq, ga, buf;
  void step(Vec& p, const Vec& g0) {
    if (sq.empty()) sq = ga = buf = Vec(p.size(), 0.0);
    for (size_t i = 0; i < p.size(); ++i) {
      double g = g0[i] + wd * p[i];
      sq[i] = alpha * sq[i] + (1 - alpha) * g * g;
      double denom_sq = sq[i];
      if (centered) {
        ga[i] = alpha * ga[i] + (1 - alpha) * g;
        denom_sq -= ga[i] * ga[i];
      }
      double avg = std::sqrt(denom_sq) + eps;
      if (momentum > 0) {
        buf[i] = momentum * buf[i] + g / avg;
        p[i] -= lr * buf[i];
      } else {
        p[i] -= lr * g / avg;
      }
    }
  }
};

template <class Ref>
std::vector<Vec> run_reference(Ref ref, int steps, const Vec& p0 = kP0) {
  Vec p = p0;
  std::vector<Vec> out;
  for (int k = 1; k <= steps; ++k) {
    ref.step(p, grad_at(p, k));
    out.push_back(p);
  }
  return out;
}

template <class Opt, class Options, class Ref>
void expect_matches_reference(const Options& o, Ref ref, DType dt, double rtol,
                              const std::string& what, const Vec& p0 = kP0) {
  Tensor p = param_of(p0, dt);
  Opt opt({p}, o);
  auto got = run_engine(opt, p, 5);
  auto want = run_reference(ref, 5, p0);
  for (size_t k = 0; k < got.size(); ++k)
    expect_near_vec(got[k], want[k], rtol, what + ", step " + std::to_string(k + 1));
}

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ValueError& e) {
    return e.what();
  } catch (const std::exception& e) {
    return std::string("wrong exception type: ") + e.what();
  }
  return "no exception";
}

void expect_message_has(const std::string& msg, std::initializer_list<const char*> parts) {
  for (const char* s : parts) EXPECT_NE(msg.find(s), std::string::npos) << msg << " lacks " << s;
}

}  // namespace

// ------------------------------------------------------------------------------------ SGD

TEST(SGD, MatchesPublishedRuleWithMomentumDampeningNesterovAndWeightDecay) {
  struct Case {
    SgdOptions o;
    const char* what;
  };
  for (const Case& c :
       {Case{{.lr = 0.1}, "plain"}, Case{{.lr = 0.1, .weight_decay = 0.01}, "weight decay"},
        Case{{.lr = 0.05, .momentum = 0.9}, "momentum"},
        Case{{.lr = 0.05, .momentum = 0.8, .dampening = 0.3}, "dampening"},
        Case{{.lr = 0.05, .momentum = 0.9, .nesterov = true}, "nesterov"},
        Case{{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true},
             "nesterov + weight decay"}}) {
    RefSgd ref{c.o.lr, c.o.momentum, c.o.dampening, c.o.weight_decay, c.o.nesterov, {}};
    expect_matches_reference<SGD>(c.o, ref, DType::Float64, 1e-14, c.what);
    expect_matches_reference<SGD>(c.o, ref, DType::Float32, 2e-6, std::string(c.what) + " f32");
  }
}

TEST(SGD, MomentumBufferStartsAtTheFirstGradientUndampened) {
  Tensor p = param_of({1.0, -2.0});
  SGD opt({p}, {.lr = 0.5, .momentum = 0.9, .dampening = 0.5});
  set_grad(p, {0.2, 0.4});
  opt.step();
  // buf = g (no dampening on the first step), p = p - lr*buf.
  EXPECT_EQ(values(opt.state(0).at(1).second), (Vec{0.2, 0.4}));
  EXPECT_EQ(values(p), (Vec{1.0 - 0.5 * 0.2, -2.0 - 0.5 * 0.4}));
  set_grad(p, {1.0, 1.0});
  opt.step();
  // buf = 0.9*buf + 0.5*g
  expect_near_vec(values(opt.state(0).at(1).second), {0.9 * 0.2 + 0.5, 0.9 * 0.4 + 0.5}, 1e-15,
                  "buffer");
}

TEST(SGD, ParameterWithoutGradientIsSkipped) {
  Tensor a = param_of({1.0, 2.0}), b = param_of({3.0});
  SGD opt({a, b}, {.lr = 0.1, .momentum = 0.9});
  set_grad(a, {1.0, 1.0});
  opt.step();
  EXPECT_EQ(values(b), (Vec{3.0}));
  EXPECT_EQ(opt.step_count(0), 1);
  EXPECT_EQ(opt.step_count(1), 0);
  EXPECT_TRUE(opt.state(1).empty());
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(SGD, NonContiguousGradientIsUsedByValue) {
  Tensor p = Tensor::from_vector<double>({1, 2, 3, 4, 5, 6}, {2, 3});
  p.set_requires_grad(true);
  Tensor gt = Tensor::from_vector<double>({10, 40, 20, 50, 30, 60}, {3, 2}).transpose(0, 1);
  ASSERT_FALSE(gt.is_contiguous());
  p.set_grad(gt);
  SGD opt({p}, {.lr = 0.05});
  opt.step();
  // g read logically: [[10, 20, 30], [40, 50, 60]], not in its memory order.
  expect_near_vec(values(p), {0.5, 1.0, 1.5, 2.0, 2.5, 3.0}, 1e-15, "p");
}

TEST(SGD, LargeTensorSameResultOnOneAndTwoThreads) {
  // Above the kernels' parallel grain, so two threads split the work.
  const int64_t n = 100003;
  Rng rng(3);
  Tensor p0 = Tensor::randn({n}, rng), g = Tensor::randn({n}, rng);
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    Tensor p = p0.clone();
    p.set_requires_grad(true);
    SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-4, .nesterov = true});
    for (int k = 0; k < 3; ++k) {
      p.set_grad(g.clone());
      opt.step();
    }
    results.push_back(p.to_vector<float>());
  }
  set_num_threads(2);
  EXPECT_EQ(results[0], results[1]);
  // And the values follow the rule: the same gradient thrice, buffer g, 1.9g, 2.71g (+ decay).
  RefSgd ref{0.1, 0.9, 0.0, 1e-4, true, {}};
  auto pv = p0.to_vector<float>();
  auto gv = g.to_vector<float>();
  for (int64_t i : {int64_t(0), int64_t(50000), n - 1}) {
    Vec pi = {pv[size_t(i)]};
    RefSgd r = ref;
    for (int k = 0; k < 3; ++k) r.step(pi, {gv[size_t(i)]});
    EXPECT_NEAR(results[0][size_t(i)], pi[0], 1e-5) << i;
  }
}

// ----------------------------------------------------------------------------------- Adam

TEST(Adam, FirstStepMovesEachParameterByLrAgainstTheGradientSign) {
  // After one step m_hat = g and v_hat = g^2, so p -= lr * g / (|g| + eps).
  Tensor p = param_of({1.0, 1.0, 1.0});
  Adam opt({p}, {.lr = 0.01, .eps = 1e-8});
  set_grad(p, {0.5, -3.0, 1e-3});
  opt.step();
  expect_near_vec(values(p),
                  {1.0 - 0.01 * 0.5 / (0.5 + 1e-8), 1.0 + 0.01 * 3.0 / (3.0 + 1e-8),
                   1.0 - 0.01 * 1e-3 / (1e-3 + 1e-8)},
                  1e-15, "p");
}

TEST(Adam, MatchesPublishedRuleWithBiasCorrectionAndL2WeightDecay) {
  struct Case {
    AdamOptions o;
    const char* what;
  };
  for (const Case& c :
       {Case{{.lr = 0.01}, "defaults"},
        Case{{.lr = 0.02, .beta1 = 0.5, .beta2 = 0.9, .eps = 1e-3}, "betas, large eps"},
        Case{{.lr = 0.01, .weight_decay = 0.1}, "L2 weight decay"}}) {
    RefAdam ref{c.o.lr, c.o.beta1, c.o.beta2, c.o.eps, c.o.weight_decay, false, {}, {}};
    expect_matches_reference<Adam>(c.o, ref, DType::Float64, 1e-13, c.what);
    expect_matches_reference<Adam>(c.o, ref, DType::Float32, 5e-6, std::string(c.what) + " f32");
  }
}

TEST(AdamW, MatchesPublishedRuleWithDecoupledWeightDecay) {
  AdamWOptions o{.lr = 0.01, .beta1 = 0.8, .beta2 = 0.99, .weight_decay = 0.1};
  RefAdam ref{o.lr, o.beta1, o.beta2, o.eps, o.weight_decay, true, {}, {}};
  expect_matches_reference<AdamW>(o, ref, DType::Float64, 1e-13, "AdamW");
  expect_matches_reference<AdamW>(o, ref, DType::Float32, 5e-6, "AdamW f32");
}

TEST(AdamW, DiffersFromAdamExactlyByTheDecoupledTerm) {
  // With gradients that do not depend on the parameter, both keep the same moments, so each
  // AdamW step equals the Adam (weight_decay 0) step minus lr*wd*p.
  const double lr = 0.01, wd = 0.2;
  Tensor pa = param_of(kP0), pw = param_of(kP0);
  Adam adam({pa}, {.lr = lr});
  AdamW adamw({pw}, {.lr = lr, .weight_decay = wd});
  for (int k = 1; k <= 4; ++k) {
    Vec a0 = values(pa), w0 = values(pw);
    Vec g = grad_at(kP0, k);
    set_grad(pa, g);
    set_grad(pw, g);
    adam.step();
    adamw.step();
    Vec a1 = values(pa), w1 = values(pw);
    for (size_t i = 0; i < g.size(); ++i)
      EXPECT_NEAR((w1[i] - w0[i]) - (a1[i] - a0[i]), -lr * wd * w0[i], 1e-15)
          << "step " << k << " element " << i;
  }
  EXPECT_EQ(adamw.name(), "AdamW");
  EXPECT_EQ(AdamW({param_of({1.0})}).hyperparams().at("weight_decay"), 0.01);
}

TEST(Adam, ZeroWeightDecayAdamAndAdamWAreIdentical) {
  Tensor pa = param_of(kP0), pw = param_of(kP0);
  Adam adam({pa}, {.lr = 0.03});
  AdamW adamw({pw}, {.lr = 0.03, .weight_decay = 0.0});
  run_engine(adam, pa, 3);
  run_engine(adamw, pw, 3);
  EXPECT_EQ(values(pa), values(pw));
}

// -------------------------------------------------------------------------------- RMSprop

TEST(RMSprop, MatchesPublishedRuleCenteredWithMomentumAndWeightDecay) {
  struct Case {
    RmspropOptions o;
    const char* what;
  };
  for (const Case& c :
       {Case{{.lr = 0.01}, "plain"}, Case{{.lr = 0.01, .alpha = 0.9, .centered = true}, "centered"},
        Case{{.lr = 0.01, .momentum = 0.9}, "momentum"},
        Case{{.lr = 0.005,
        .alpha = 0.8,
        .eps = 1e-4,
        .weight_decay = 0.1,
        .momentum = 0.5,
        .centered = true},
             "everything"}}) {
    RefRmsprop ref{c.o.lr, c.o.alpha, c.o.eps, c.o.weight_decay, c.o.momentum, c.o.centered,
                   {},     {},        {}};
    expect_matches_reference<RMSprop>(c.o, ref, DType::Float64, 1e-13, c.what);
    expect_matches_reference<RMSprop>(c.o, ref, DType::Float32, 5e-6, std::string(c.what) + " f32");
  }
}

TEST(RMSprop, StateHoldsOnlyTheBuffersItsOptionsUse) {
  Tensor p = param_of({1.0, 2.0});
  RMSprop plain({p}, {.lr = 0.01});
  set_grad(p, {1.0, 1.0});
  plain.step();
  auto s = plain.state(0);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].first, "step");
  EXPECT_EQ(s[1].first, "square_avg");
  Tensor q = param_of({1.0, 2.0});
  RMSprop full({q}, {.lr = 0.01, .momentum = 0.5, .centered = true});
  set_grad(q, {1.0, 1.0});
  full.step();
  EXPECT_EQ(full.state(0).size(), 4u);
}

// ------------------------------------------------------------------ long tensors, threads

TEST(Optimizer, LongTensorsMatchTheRuleInTheVectorLoopsAndAnyThreadCount) {
  // Long enough for the vectorised loop bodies and for two threads to split the work (the
  // 7-element tests above only reach the scalar remainder loops).
  Vec p0(70001);
  for (size_t i = 0; i < p0.size(); ++i) p0[i] = 2.0 * std::sin(0.37 * double(i));
  SgdOptions so{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.1, .nesterov = true};
  AdamOptions ao{.lr = 0.01, .beta1 = 0.8, .weight_decay = 0.1};
  AdamWOptions wo{.lr = 0.01, .beta2 = 0.99, .weight_decay = 0.1};
  RmspropOptions ro{.lr = 0.005,
                    .alpha = 0.8,
                    .eps = 1e-4,
                    .weight_decay = 0.1,
                    .momentum = 0.5,
                    .centered = true};
  for (DType dt : {DType::Float64, DType::Float32}) {
    double rtol = dt == DType::Float64 ? 1e-13 : 5e-6;
    const char* t = dt == DType::Float64 ? " f64" : " f32";
    expect_matches_reference<SGD>(so, RefSgd{0.05, 0.9, 0.0, 0.1, true, {}}, dt, rtol,
                                  std::string("SGD") + t, p0);
    expect_matches_reference<Adam>(ao, RefAdam{0.01, 0.8, 0.999, 1e-8, 0.1, false, {}, {}}, dt,
                                   rtol, std::string("Adam") + t, p0);
    expect_matches_reference<AdamW>(wo, RefAdam{0.01, 0.9, 0.99, 1e-8, 0.1, true, {}, {}}, dt, rtol,
                                    std::string("AdamW") + t, p0);
    expect_matches_reference<RMSprop>(ro, RefRmsprop{0.005, 0.8, 1e-4, 0.1, 0.5, true, {}, {}, {}},
                                      dt, rtol, std::string("RMSprop") + t, p0);
  }
  // Elementwise updates: bit-identical on one and on two threads.
  auto run = [&](int threads, auto make) {
    set_num_threads(threads);
    Tensor p = param_of(p0, DType::Float32);
    auto opt = make(p);
    auto out = run_engine(*opt, p, 3).back();
    set_num_threads(2);
    return out;
  };
  auto adam = [&](Tensor p) { return std::make_unique<Adam>(std::vector<Tensor>{p}, ao); };
  auto rms = [&](Tensor p) { return std::make_unique<RMSprop>(std::vector<Tensor>{p}, ro); };
  EXPECT_EQ(run(1, adam), run(2, adam));
  EXPECT_EQ(run(1, rms), run(2, rms));
}

// ------------------------------------------------------------------ minimising a quadratic

TEST(Optimizer, EachOptimiserMinimisesAQuadratic) {
  // f(x) = sum a_i (x_i - c_i)^2, through autograd; the minimum is x = c.
  Tensor a = Tensor::from_vector<double>({1.0, 3.0, 0.5, 2.0}, {4});
  Tensor c = Tensor::from_vector<double>({1.0, -2.0, 0.5, 3.0}, {4});
  auto loss_of = [&](const Tensor& x) { return sum(mul(a, square(sub(x, c)))); };
  using Make = std::function<std::unique_ptr<Optimizer>(Tensor)>;
  std::vector<std::pair<const char*, Make>> makers = {
      {"SGD",
       [](Tensor x) {
         return std::make_unique<SGD>(std::vector<Tensor>{x},
                                      SgdOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
       }},
      {"Adam",
       [](Tensor x) {
         return std::make_unique<Adam>(std::vector<Tensor>{x}, AdamOptions{.lr = 0.05});
       }},
      {"AdamW",
       [](Tensor x) {
         return std::make_unique<AdamW>(std::vector<Tensor>{x},
                                        AdamWOptions{.lr = 0.05, .weight_decay = 0});
       }},
      {"RMSprop", [](Tensor x) {
         return std::make_unique<RMSprop>(std::vector<Tensor>{x},
                                          RmspropOptions{.lr = 0.05, .centered = true});
       }}};
  for (auto& [name, make] : makers) {
    Tensor x = Tensor::zeros({4}, DType::Float64);
    x.set_requires_grad(true);
    auto opt = make(x);
    CosineAnnealingLR sched(opt->lr(), 600);
    double first = loss_of(x).item();
    for (int t = 0; t < 600; ++t) {
      opt->set_lr(sched.lr(t));
      opt->zero_grad();
      loss_of(x).backward();
      opt->step();
    }
    double last = loss_of(x).item();
    EXPECT_LT(last, 1e-6 * first) << name;
    expect_near_vec(values(x), {1.0, -2.0, 0.5, 3.0}, 1e-3, name);
  }
}

// ------------------------------------------------------------------------- state round trip

namespace {

// a takes 3 steps; b, on a copy of a's parameters, loads a's state; both then take the same
// 4th step and must agree exactly. c, a copy without the state, must not.
template <class Opt, class Options>
void expect_restored_optimiser_takes_the_same_step(const Options& o, const char* what) {
  Tensor pa = param_of(kP0), pb2 = param_of({0.1, 0.2});
  Tensor qa = param_of({-1.0, 0.5});
  Opt a({pa, qa, pb2}, o);
  for (int k = 1; k <= 3; ++k) {
    set_grad(pa, grad_at(values(pa), k));
    set_grad(qa, grad_at(values(qa), k));
    a.step();  // pb2 has no gradient: its state stays empty
  }
  Tensor pb = pa.detach().clone(), qb = qa.detach().clone(), rb = pb2.detach().clone();
  for (Tensor* t : {&pb, &qb, &rb}) t->set_requires_grad(true);
  Tensor pc = pa.detach().clone(), qc = qa.detach().clone(), rc = pb2.detach().clone();
  for (Tensor* t : {&pc, &qc, &rc}) t->set_requires_grad(true);
  Opt b({pb, qb, rb}, Options{});  // other options: load_hyperparams must bring a's
  Opt c({pc, qc, rc}, o);
  for (size_t i = 0; i < a.num_params(); ++i) b.load_state(i, a.state(i));
  b.load_hyperparams(a.hyperparams());
  EXPECT_EQ(b.hyperparams(), a.hyperparams()) << what;
  EXPECT_TRUE(b.state(2).empty()) << what;
  for (Tensor* t : {&pa, &pb, &pc}) set_grad(*t, grad_at(values(pa), 4));
  for (Tensor* t : {&qa, &qb, &qc}) set_grad(*t, grad_at(values(qa), 4));
  a.step();
  b.step();
  c.step();
  EXPECT_EQ(values(pb), values(pa)) << what;
  EXPECT_EQ(values(qb), values(qa)) << what;
  EXPECT_NE(values(pc), values(pa)) << what << ": the test cannot tell state from no state";
  EXPECT_EQ(b.step_count(0), 4) << what;
}

}  // namespace

TEST(OptimizerState, RestoredOptimiserTakesTheSameNextStep) {
  expect_restored_optimiser_takes_the_same_step<SGD>(
      SgdOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true}, "SGD");
  expect_restored_optimiser_takes_the_same_step<Adam>(
      AdamOptions{.lr = 0.02, .beta1 = 0.8, .weight_decay = 0.01}, "Adam");
  expect_restored_optimiser_takes_the_same_step<AdamW>(
      AdamWOptions{.lr = 0.02, .beta2 = 0.99, .weight_decay = 0.05}, "AdamW");
  expect_restored_optimiser_takes_the_same_step<RMSprop>(
      RmspropOptions{.lr = 0.01, .alpha = 0.9, .momentum = 0.5, .centered = true}, "RMSprop");
}

TEST(OptimizerState, StateIsNamedAndLoadCopiesIt) {
  Tensor p = param_of({1.0, 2.0});
  Adam a({p}, {.lr = 0.1});
  EXPECT_TRUE(a.state(0).empty());
  set_grad(p, {0.5, -0.5});
  a.step();
  a.step();
  auto s = a.state(0);
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].first, "step");
  EXPECT_EQ(s[0].second.dtype(), DType::Int64);
  EXPECT_EQ(s[0].second.item(), 2.0);
  EXPECT_EQ(s[1].first, "exp_avg");
  EXPECT_EQ(s[2].first, "exp_avg_sq");
  EXPECT_EQ(s[1].second.shape(), p.shape());

  // float32 state into a float64 optimiser is converted; later edits to the source do not leak.
  Tensor q = param_of({1.0, 2.0});
  Adam b({q}, {.lr = 0.1});
  Tensor m = Tensor::from_vector<float>({0.25f, -0.5f}, {2});
  b.load_state(0, {{"step", Tensor::full({}, 7, DType::Int64)},
                   {"exp_avg", m},
                   {"exp_avg_sq", Tensor::full({2}, 1.0, DType::Float32)}});
  fill_(m, 9.0);
  EXPECT_EQ(b.step_count(0), 7);
  EXPECT_EQ(b.state(0)[1].second.dtype(), DType::Float64);
  EXPECT_EQ(values(b.state(0)[1].second), (Vec{0.25, -0.5}));
  b.load_state(0, {});
  EXPECT_EQ(b.step_count(0), 0);
  EXPECT_TRUE(b.state(0).empty());
}

TEST(OptimizerState, BadStateIsRejectedWithTheNameAndShape) {
  Tensor p = param_of({1.0, 2.0});
  SGD opt({p}, {.lr = 0.1, .momentum = 0.9});
  std::string msg = message_of([&] { opt.load_state(0, {{"exp_avg", Tensor::zeros({2})}}); });
  expect_message_has(msg, {"SGD", "exp_avg", "momentum_buffer"});
  try {
    opt.load_state(0, {{"momentum_buffer", Tensor::zeros({3})}});
    FAIL();
  } catch (const ShapeError& e) {
    expect_message_has(e.what(), {"SGD", "momentum_buffer", "[3]", "[2]"});
  }
  expect_message_has(message_of([&] { opt.load_state(5, {}); }), {"SGD", "5"});
  expect_message_has(message_of([&] {
                       opt.load_state(0, {{"step", Tensor::full({}, -1.0)}});
                     }),
                     {"step"});
}

TEST(OptimizerState, HyperparamsRoundTripAndRejectBadValuesWithoutChange) {
  Tensor p = param_of({1.0});
  SGD opt({p}, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
  auto hp = opt.hyperparams();
  EXPECT_EQ(hp.at("lr"), 0.1);
  EXPECT_EQ(hp.at("momentum"), 0.9);
  EXPECT_EQ(hp.at("nesterov"), 1.0);
  EXPECT_EQ(hp.at("dampening"), 0.0);
  opt.set_lr(0.02);
  EXPECT_EQ(opt.hyperparams().at("lr"), 0.02);
  expect_message_has(message_of([&] {
                       opt.load_hyperparams({{"momentum", 1.5}});
                     }),
                     {"SGD", "momentum", "1.5"});
  expect_message_has(message_of([&] {
                       opt.load_hyperparams({{"betas", 0.5}});
                     }),
                     {"SGD", "betas", "momentum"});
  expect_message_has(message_of([&] {
                       opt.load_hyperparams({{"lr", 0.5}, {"nesterov", 0.5}});
                     }),
                     {"nesterov", "0.5"});
  EXPECT_EQ(opt.hyperparams().at("momentum"), 0.9);
  EXPECT_EQ(opt.lr(), 0.02);
  opt.load_hyperparams({{"lr", 0.3}, {"weight_decay", 1e-3}});
  EXPECT_EQ(opt.lr(), 0.3);
  EXPECT_EQ(opt.options().weight_decay, 1e-3);
}

// ------------------------------------------------------------------- bad hyper-parameters

TEST(Optimizer, BadHyperparametersThrowNamingTheOptimiserAndValue) {
  auto p = [] { return std::vector<Tensor>{param_of({1.0})}; };
  expect_message_has(message_of([&] { SGD(p(), {.lr = -0.1}); }), {"SGD", "learning rate", "-0.1"});
  expect_message_has(message_of([&] { SGD(p(), {.lr = 0.1, .momentum = 1.0}); }),
                     {"SGD", "momentum", "1"});
  expect_message_has(message_of([&] { SGD(p(), {.lr = 0.1, .momentum = -0.5}); }),
                     {"SGD", "momentum", "-0.5"});
  expect_message_has(message_of([&] { SGD(p(), {.lr = 0.1, .nesterov = true}); }),
                     {"SGD", "Nesterov", "momentum 0"});
  expect_message_has(message_of([&] {
                       SGD(p(), {.lr = 0.1, .momentum = 0.9, .dampening = 0.1, .nesterov = true});
                     }),
                     {"SGD", "Nesterov", "dampening 0.1"});
  expect_message_has(message_of([&] { SGD(p(), {.lr = 0.1, .weight_decay = -1e-4}); }),
                     {"SGD", "weight_decay", "-0.0001"});
  expect_message_has(message_of([&] { Adam(p(), {.beta1 = 1.0}); }), {"Adam", "beta1", "1"});
  expect_message_has(message_of([&] { Adam(p(), {.beta2 = -0.1}); }), {"Adam", "beta2", "-0.1"});
  expect_message_has(message_of([&] { Adam(p(), {.eps = -1e-8}); }), {"Adam", "eps"});
  expect_message_has(message_of([&] { AdamW(p(), {.lr = std::nan("")}); }),
                     {"AdamW", "learning rate", "nan"});
  expect_message_has(message_of([&] { AdamW(p(), {.beta1 = 1.5}); }), {"AdamW", "beta1", "1.5"});
  expect_message_has(message_of([&] { RMSprop(p(), {.alpha = 1.2}); }),
                     {"RMSprop", "alpha", "1.2"});
  expect_message_has(message_of([&] { RMSprop(p(), {.momentum = 1.0}); }),
                     {"RMSprop", "momentum", "1"});
  SGD ok(p(), {.lr = 0.1});
  expect_message_has(message_of([&] { ok.set_lr(-2.0); }), {"SGD", "-2"});
  EXPECT_EQ(ok.lr(), 0.1);
}

TEST(Optimizer, BadParameterListsAreRejected) {
  expect_message_has(message_of([] { SGD({}, {.lr = 0.1}); }), {"SGD", "empty"});
  Tensor frozen = Tensor::zeros({3});
  expect_message_has(message_of([&] { Adam({frozen}); }), {"Adam", "parameter 0", "[3]", "grad"});
  Tensor p = param_of({1.0, 2.0});
  expect_message_has(message_of([&] { RMSprop({p, p}); }), {"RMSprop", "0 and 1", "same"});
  Tensor labels = Tensor::zeros({2}, DType::Int64);
  expect_message_has(message_of([&] { SGD({labels}); }), {"SGD", "int64"});
}

TEST(Optimizer, GradientOfTheWrongShapeIsRejectedAtStep) {
  Tensor p = param_of({1.0, 2.0});
  SGD opt({p}, {.lr = 0.1});
  p.set_grad(Tensor::zeros({3}, DType::Float64));
  try {
    opt.step();
    FAIL();
  } catch (const ShapeError& e) {
    expect_message_has(e.what(), {"SGD", "parameter 0", "[3]", "[2]"});
  }
  EXPECT_EQ(opt.step_count(0), 0);
}

// ------------------------------------------------------------------------------ schedules

TEST(LrSchedule, StepAndExponentialMatchClosedForms) {
  StepLR step(0.1, 30, 0.1);
  EXPECT_DOUBLE_EQ(step.lr(0), 0.1);
  EXPECT_DOUBLE_EQ(step.lr(29), 0.1);
  EXPECT_DOUBLE_EQ(step.lr(30), 0.1 * 0.1);
  EXPECT_DOUBLE_EQ(step.lr(59), 0.1 * 0.1);
  EXPECT_DOUBLE_EQ(step.lr(60), 0.1 * 0.1 * 0.1);
  ExponentialLR expo(0.5, 0.9);
  EXPECT_DOUBLE_EQ(expo.lr(0), 0.5);
  EXPECT_DOUBLE_EQ(expo.lr(1), 0.45);
  EXPECT_NEAR(expo.lr(10), 0.5 * 0.3486784401, 1e-15);
}

TEST(LrSchedule, CosineAnnealingHitsMidpointAndMinimum) {
  const double base = 0.1, eta_min = 0.001;
  CosineAnnealingLR cos(base, 100, eta_min);
  EXPECT_DOUBLE_EQ(cos.lr(0), base);
  EXPECT_NEAR(cos.lr(50), (base + eta_min) / 2, 1e-16);
  EXPECT_NEAR(cos.lr(100), eta_min, 1e-16);
  EXPECT_NEAR(cos.lr(25), eta_min + (base - eta_min) * (1 + std::sqrt(0.5)) / 2, 1e-16);
  EXPECT_NEAR(cos.lr(150), (base + eta_min) / 2, 1e-16);  // periodic after t_max, as torch
  // Pure: any order, any number of times.
  EXPECT_EQ(cos.lr(37), CosineAnnealingLR(base, 100, eta_min).lr(37));
}

TEST(LrSchedule, LinearWarmupRampsThenHandsOver) {
  LinearWarmup fixed(10, 0.1, 0.5);
  EXPECT_DOUBLE_EQ(fixed.lr(0), 0.05);
  EXPECT_DOUBLE_EQ(fixed.lr(5), 0.5 * (0.1 + 0.9 * 0.5));
  EXPECT_DOUBLE_EQ(fixed.lr(10), 0.5);
  EXPECT_DOUBLE_EQ(fixed.lr(1000), 0.5);
  // Warm-up, then cosine starting from its own index 0.
  LinearWarmup warm(10, 0.01, std::make_shared<CosineAnnealingLR>(0.2, 40, 0.0));
  EXPECT_DOUBLE_EQ(warm.lr(0), 0.002);
  EXPECT_LT(warm.lr(9), 0.2);
  EXPECT_DOUBLE_EQ(warm.lr(10), 0.2);
  EXPECT_NEAR(warm.lr(30), 0.1, 1e-16);
  EXPECT_NEAR(warm.lr(50), 0.0, 1e-16);
}

TEST(LrSchedule, OneCycleStartsPeaksAndEndsAsTorch) {
  const double max_lr = 0.1, div = 25, final_div = 1e4;
  const int64_t total = 100;
  OneCycleLR oc(max_lr, total, 0.3, div, final_div);
  const double initial = max_lr / div, min_lr = initial / final_div;
  EXPECT_NEAR(oc.lr(0), initial, 1e-17);
  EXPECT_DOUBLE_EQ(oc.lr(29), max_lr);  // pct_start * total - 1
  EXPECT_NEAR(oc.lr(total - 1), min_lr, 1e-17);
  // Half-way up and half-way down: the cosine midpoints.
  OneCycleLR even(max_lr, 101, 0.5);  // peak at 49.5
  double up = (initial + max_lr) / 2, down = (max_lr + min_lr) / 2;
  OneCycleLR sym(max_lr, 201, 101.0 / 201.0, div, final_div);  // peak at 100, end at 200
  EXPECT_NEAR(sym.lr(50), up, 1e-15);
  EXPECT_NEAR(sym.lr(100), max_lr, 1e-15);
  EXPECT_NEAR(sym.lr(150), down, 1e-15);
  EXPECT_NEAR(sym.lr(200), min_lr, 1e-17);
  for (int64_t t = 1; t <= 29; ++t) EXPECT_GT(oc.lr(t), oc.lr(t - 1)) << t;
  for (int64_t t = 30; t < total; ++t) EXPECT_LT(oc.lr(t), oc.lr(t - 1)) << t;
  EXPECT_GT(even.lr(49), even.lr(48));
  EXPECT_NO_THROW(oc.lr(total));
  expect_message_has(message_of([&] { oc.lr(total + 1); }), {"OneCycleLR", "101", "100"});
}

TEST(LrSchedule, BadArgumentsThrowNamingTheSchedule) {
  expect_message_has(message_of([] { StepLR(0.1, 0); }), {"StepLR", "step_size", "0"});
  expect_message_has(message_of([] { ExponentialLR(0.1, -0.5); }),
                     {"ExponentialLR", "gamma", "-0.5"});
  expect_message_has(message_of([] { CosineAnnealingLR(0.1, 0); }),
                     {"CosineAnnealingLR", "t_max", "0"});
  expect_message_has(message_of([] { LinearWarmup(10, 0.0, 0.1); }),
                     {"LinearWarmup", "start_factor", "0"});
  expect_message_has(message_of([] { LinearWarmup(10, 0.5, nullptr); }), {"LinearWarmup", "null"});
  expect_message_has(message_of([] { OneCycleLR(0.1, 100, 1.5); }),
                     {"OneCycleLR", "pct_start", "1.5"});
  expect_message_has(message_of([] { OneCycleLR(-0.1, 100); }), {"OneCycleLR", "max_lr", "-0.1"});
  expect_message_has(message_of([] { StepLR(0.1, 10).lr(-1); }), {"StepLR", "-1"});
}

// ------------------------------------------------------------------------------- clipping

TEST(ClipGradNorm, ScalesToTheGivenNormAndReturnsTheNormBefore) {
  Tensor a = param_of({0.0, 0.0}), b = param_of({0.0}), c = param_of({5.0});
  set_grad(a, {3.0, 4.0});
  set_grad(b, {12.0});  // global norm sqrt(9 + 16 + 144) = 13; c has no gradient
  double norm = clip_grad_norm({a, b, c}, 6.5);
  EXPECT_DOUBLE_EQ(norm, 13.0);
  double s = 6.5 / (13.0 + 1e-6);
  expect_near_vec(values(a.grad()), {3.0 * s, 4.0 * s}, 1e-15, "a");
  expect_near_vec(values(b.grad()), {12.0 * s}, 1e-15, "b");
  EXPECT_NEAR(grad_norm({a, b, c}), 6.5, 1e-6);
  EXPECT_FALSE(c.grad().defined());
}

TEST(ClipGradNorm, SmallGradientsAreLeftUnchanged) {
  Tensor a = param_of({0.0, 0.0});
  set_grad(a, {0.3, -0.4});
  EXPECT_DOUBLE_EQ(clip_grad_norm({a}, 1.0), 0.5);
  EXPECT_EQ(values(a.grad()), (Vec{0.3, -0.4}));
  EXPECT_DOUBLE_EQ(clip_grad_norm({a}, 0.5), 0.5);  // exactly at the limit: unchanged
  EXPECT_EQ(values(a.grad()), (Vec{0.3, -0.4}));
}

TEST(ClipGradNorm, LargeFloat32GradientNormMatchesDoubleReference) {
  const int64_t n = 200001;
  Rng rng(11);
  Tensor p = Tensor::zeros({n});
  p.set_requires_grad(true);
  p.set_grad(Tensor::randn({n}, rng));
  auto g = p.grad().to_vector<float>();
  double ref = 0;
  for (float v : g) ref += double(v) * double(v);
  ref = std::sqrt(ref);
  double norm = clip_grad_norm({p}, 1.0);
  EXPECT_NEAR(norm, ref, 1e-9 * ref);
  EXPECT_NEAR(grad_norm({p}), 1.0, 1e-5);
  auto scaled = p.grad().to_vector<float>();
  EXPECT_NEAR(scaled[12345], g[12345] * (1.0 / (ref + 1e-6)), 1e-7);
}

TEST(ClipGradNorm, NonFiniteNormLeavesGradientsAndBadMaxNormThrows) {
  Tensor a = param_of({0.0, 0.0});
  set_grad(a, {INFINITY, 1.0});
  EXPECT_TRUE(std::isinf(clip_grad_norm({a}, 1.0)));
  EXPECT_EQ(values(a.grad())[1], 1.0);
  expect_message_has(message_of([&] { clip_grad_norm({a}, 0.0); }), {"clip_grad_norm", "0"});
}
