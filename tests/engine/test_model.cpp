// Model: compile + forward of an MLP, LeNet-5 and a residual net with Add and Concat branches,
// gradients reaching every parameter, seeding and initialisation, modes, and the example graphs.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "engine/autograd/autograd.h"
#include "engine/nn/model.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "engine/ops/softmax.h"
#include "tests/engine/gradcheck.h"

using ng::testing::contains;
using ng::testing::message_of;

using namespace ng;
using nlohmann::json;

namespace {

GraphSpec parse(const std::string& text) {
  return GraphSpec::from_json(json::parse(text));
}

std::string repo_root() {
  std::string f = __FILE__;  // <root>/tests/engine/test_model.cpp
  return f.substr(0, f.rfind("/tests/engine/"));
}

GraphSpec example(const std::string& name) {
  std::ifstream in(repo_root() + "/resources/examples/" + name + ".graph.json");
  EXPECT_TRUE(in.good()) << name;
  return GraphSpec::from_json(json::parse(in));
}

const Tensor& param(const Model& m, const std::string& name) {
  for (const auto& [n, t] : m.parameters())
    if (n == name) return t;
  for (const auto& [n, t] : m.buffers())
    if (n == name) return t;
  throw Error("no weight " + name);
}

Tensor labels_of(std::vector<int64_t> v) {
  int64_t n = int64_t(v.size());
  return Tensor::from_vector<int64_t>(v, {n});
}

double max_abs(const Tensor& t) {
  double r = 0;
  for (float v : t.to_vector<float>()) r = std::max(r, double(std::abs(v)));
  return r;
}

void expect_all_near(const Tensor& a, const Tensor& b, double tol, const std::string& what) {
  ASSERT_EQ(a.shape(), b.shape()) << what;
  auto x = a.to_vector<float>(), y = b.to_vector<float>();
  for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], tol) << what << " element " << i;
}

// Every parameter got a gradient of its own shape with some non-zero value.
void expect_gradients_everywhere(const Model& m) {
  for (const auto& [name, p] : m.parameters()) {
    Tensor g = p.grad();
    ASSERT_TRUE(g.defined()) << name << " got no gradient";
    EXPECT_EQ(g.shape(), p.shape()) << name;
    EXPECT_GT(max_abs(g), 0.0) << name << " has an all-zero gradient";
  }
}

const char* kTinyMlp = R"({
  "nodes": [
    {"id": "x", "type": "Input", "params": {"shape": [3]}},
    {"id": "fc1", "type": "Linear", "params": {"out_features": 4}},
    {"id": "act", "type": "ReLU"},
    {"id": "fc2", "type": "Linear", "params": {"out_features": 2}},
    {"id": "ce", "type": "CrossEntropyLoss"}
  ],
  "edges": [{"from": "x", "to": "fc1"}, {"from": "fc1", "to": "act"},
            {"from": "act", "to": "fc2"}, {"from": "fc2", "to": "ce:input"}]
})";

// Input [3, 8, 8] -> stem conv/bn/relu -> two branches (1x1 conv; 3x3 conv + ReLU) joined by
// Concat, added to the stem (residual), pooled and classified.
const char* kBranchyNet = R"({
  "nodes": [
    {"id": "x", "type": "Input", "params": {"shape": [3, 8, 8]}},
    {"id": "stem", "type": "Conv2d", "params": {"out_channels": 8, "padding": 1}},
    {"id": "bn", "type": "BatchNorm"},
    {"id": "r0", "type": "ReLU"},
    {"id": "b1", "type": "Conv2d", "params": {"out_channels": 4, "kernel_size": 1}},
    {"id": "b2", "type": "Conv2d", "params": {"out_channels": 4, "padding": 1}},
    {"id": "r2", "type": "Tanh"},
    {"id": "cat", "type": "Concat"},
    {"id": "add", "type": "Add"},
    {"id": "pool", "type": "GlobalAvgPool"},
    {"id": "fc", "type": "Linear", "params": {"out_features": 5}},
    {"id": "ce", "type": "CrossEntropyLoss"}
  ],
  "edges": [
    {"from": "x", "to": "stem"}, {"from": "stem", "to": "bn"}, {"from": "bn", "to": "r0"},
    {"from": "r0", "to": "b1"}, {"from": "r0", "to": "b2"}, {"from": "b2", "to": "r2"},
    {"from": "b1", "to": "cat"}, {"from": "r2", "to": "cat"},
    {"from": "cat", "to": "add"}, {"from": "r0", "to": "add"},
    {"from": "add", "to": "pool"}, {"from": "pool", "to": "fc"}, {"from": "fc", "to": "ce:input"}
  ]
})";

}  // namespace

TEST(Model, CompileThrowsWithEveryProblem) {
  GraphSpec g = parse(R"({
    "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}},
              {"id": "fc", "type": "Linear", "params": {"out_features": -1}},
              {"id": "bad", "type": "Lnear"}],
    "edges": [{"from": "x", "to": "fc"}]})");
  try {
    Model::compile(g);
    FAIL() << "compiled an invalid graph";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_TRUE(contains(m, "the graph has 3 problems:")) << m;
    EXPECT_TRUE(contains(m, "error: Linear 'fc': parameter 'out_features' is -1")) << m;
    EXPECT_TRUE(contains(m, "unknown layer type 'Lnear' (node 'bad'); did you mean 'Linear'?"))
        << m;
    EXPECT_TRUE(contains(m, "no loss node")) << m;
  }
}

TEST(Model, MlpForwardAndGradientsMatchAHandWrittenReference) {
  Model m = Model::compile(parse(kTinyMlp), 3);
  ASSERT_EQ(m.parameters().size(), 4u);
  Rng rng(11);
  Tensor x = Tensor::randn({5, 3}, rng);
  Tensor y = labels_of({0, 1, 1, 0, 1});
  Model::Result r = m.forward({x}, y);

  // Plain loops: h = relu(x W1^T + b1); z = h W2^T + b2; loss = mean(logsumexp(z) - z[y]).
  auto X = x.to_vector<float>();
  auto W1 = param(m, "fc1/weight").to_vector<float>(), B1 = param(m, "fc1/bias").to_vector<float>();
  auto W2 = param(m, "fc2/weight").to_vector<float>(), B2 = param(m, "fc2/bias").to_vector<float>();
  std::vector<int64_t> Y = {0, 1, 1, 0, 1};
  double loss = 0;
  std::vector<float> Z(10), H(20);
  for (int n = 0; n < 5; ++n) {
    for (int j = 0; j < 4; ++j) {
      double s = B1[j];
      for (int i = 0; i < 3; ++i) s += X[n * 3 + i] * W1[j * 3 + i];
      H[n * 4 + j] = float(std::max(0.0, s));
    }
    for (int k = 0; k < 2; ++k) {
      double s = B2[k];
      for (int j = 0; j < 4; ++j) s += H[n * 4 + j] * W2[k * 4 + j];
      Z[n * 2 + k] = float(s);
    }
    double mx = std::max(Z[n * 2], Z[n * 2 + 1]);
    double lse = mx + std::log(std::exp(Z[n * 2] - mx) + std::exp(Z[n * 2 + 1] - mx));
    loss += (lse - Z[n * 2 + Y[n]]) / 5.0;
  }
  EXPECT_NEAR(r.loss.item(), loss, 1e-5);
  expect_all_near(r.outputs[size_t(m.node_index("act"))], Tensor::from_vector(H, {5, 4}), 1e-5,
                  "act");
  expect_all_near(r.prediction, Tensor::from_vector(Z, {5, 2}), 1e-5, "prediction");
  EXPECT_TRUE(r.outputs[size_t(m.node_index("x"))].same(x));

  // Gradients equal those of the same computation written with the ops directly.
  r.loss.backward();
  std::vector<Tensor> ref;
  for (const auto& [n, p] : m.parameters())
    ref.push_back(p.detach().clone().set_requires_grad(true));
  Tensor ref_loss = cross_entropy(linear(relu(linear(x, ref[0], ref[1])), ref[2], ref[3]), y);
  ref_loss.backward();
  for (size_t i = 0; i < ref.size(); ++i)
    expect_all_near(m.parameters()[i].second.grad(), ref[i].grad(), 1e-6, m.parameters()[i].first);
  expect_gradients_everywhere(m);
}

TEST(Model, LeNetRunsAndEveryParameterGetsAGradient) {
  Model m = Model::compile(example("lenet"), 0);
  Rng rng(5);
  Tensor x = Tensor::randn({4, 1, 28, 28}, rng);
  Model::Result r = m.forward({x}, labels_of({3, 1, 4, 1}));
  EXPECT_EQ(r.outputs[size_t(m.node_index("conv1"))].shape(), (Shape{4, 6, 28, 28}));
  EXPECT_EQ(r.outputs[size_t(m.node_index("pool2"))].shape(), (Shape{4, 16, 5, 5}));
  EXPECT_EQ(r.prediction.shape(), (Shape{4, 10}));
  EXPECT_EQ(r.loss.dim(), 0);
  EXPECT_TRUE(std::isfinite(r.loss.item()));
  // Random weights on 10 classes: the loss is near log(10).
  EXPECT_NEAR(r.loss.item(), std::log(10.0), 0.5);
  r.loss.backward();
  expect_gradients_everywhere(m);
  // Every node's activation matches the shape validation inferred (batch = 4).
  for (size_t i = 0; i < m.analysis().nodes.size(); ++i) {
    Shape s = m.analysis().nodes[i].outputs[0]->shape;
    if (!s.empty()) s[0] = 4;
    EXPECT_EQ(r.outputs[i].shape(), s) << m.analysis().nodes[i].id;
  }
}

TEST(Model, ParameterNamesAreQualifiedInTopologicalOrder) {
  Model m = Model::compile(example("lenet"), 0);
  std::vector<std::string> names;
  for (const auto& [n, t] : m.parameters()) names.push_back(n);
  EXPECT_EQ(names, (std::vector<std::string>{"conv1/weight", "conv1/bias", "conv2/weight",
                                             "conv2/bias", "fc1/weight", "fc1/bias", "fc2/weight",
                                             "fc2/bias", "fc3/weight", "fc3/bias"}));
  EXPECT_TRUE(m.buffers().empty());
  EXPECT_EQ(m.parameter_count(), 61706);
  EXPECT_EQ(m.input_ids(), std::vector<std::string>{"input"});
  EXPECT_EQ(m.loss_id(), "loss");
}

TEST(Model, BranchesMergeInEdgeOrderThroughConcatAndAdd) {
  Model m = Model::compile(parse(kBranchyNet), 1);
  Rng rng(2);
  Tensor x = Tensor::randn({3, 3, 8, 8}, rng);
  Model::Result r = m.forward({x}, labels_of({0, 4, 2}));
  auto out = [&](const char* id) { return r.outputs[size_t(m.node_index(id))]; };
  EXPECT_EQ(out("cat").shape(), (Shape{3, 8, 8, 8}));
  {
    autograd::NoGradGuard no_grad;
    expect_all_near(out("cat"), concat({out("b1"), out("r2")}, 1), 0, "cat = [b1, r2]");
    expect_all_near(out("add"), add(out("cat"), out("r0")), 0, "add = cat + r0");
  }
  EXPECT_EQ(out("pool").shape(), (Shape{3, 8}));
  r.loss.backward();
  expect_gradients_everywhere(m);
  std::set<std::string> names;
  for (const auto& [n, t] : m.parameters()) names.insert(n);
  EXPECT_EQ(names,
            (std::set<std::string>{"stem/weight", "stem/bias", "bn/weight", "bn/bias", "b1/weight",
                                   "b1/bias", "b2/weight", "b2/bias", "fc/weight", "fc/bias"}));
  ASSERT_EQ(m.buffers().size(), 2u);
  EXPECT_EQ(m.buffers()[0].first, "bn/running_mean");
  EXPECT_EQ(m.buffers()[1].first, "bn/running_var");
}

TEST(Model, TrainModeUpdatesRunningStatsEvalModeUsesThem) {
  Model m = Model::compile(parse(kBranchyNet), 1);
  Rng rng(4);
  Tensor x = add_scalar(Tensor::randn({6, 3, 8, 8}, rng), 0.5);
  Tensor rm = m.buffers()[0].second;
  EXPECT_EQ(max_abs(rm), 0.0);
  m.forward({x}, labels_of({0, 1, 2, 3, 4, 0}));
  double after_train = max_abs(rm);
  EXPECT_GT(after_train, 0.0) << "running mean updated in Train mode";
  m.set_mode(Mode::Eval);
  EXPECT_EQ(m.mode(), Mode::Eval);
  autograd::NoGradGuard no_grad;
  auto a = m.forward({x}).outputs[size_t(m.node_index("bn"))].to_vector<float>();
  auto b = m.forward({x}).outputs[size_t(m.node_index("bn"))].to_vector<float>();
  EXPECT_EQ(a, b);
  EXPECT_EQ(max_abs(rm), after_train) << "running stats frozen in Eval mode";
}

TEST(Model, InferenceOnlyGraphCompilesWhenAsked) {
  GraphSpec g = parse(R"({
    "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}},
              {"id": "sm", "type": "Softmax"}],
    "edges": [{"from": "x", "to": "sm"}]})");
  EXPECT_THROW(Model::compile(g), Error);
  Model m = Model::compile(g, 0, {.require_loss = false});
  Rng rng(1);
  Model::Result r = m.forward({Tensor::randn({2, 4}, rng)});
  EXPECT_FALSE(r.loss.defined());
  EXPECT_FALSE(r.prediction.defined());
  EXPECT_EQ(m.loss_id(), "");
  auto p = r.outputs[1].to_vector<float>();
  EXPECT_NEAR(p[0] + p[1] + p[2] + p[3], 1.0, 1e-6);
}

TEST(Model, ForwardWithoutLabelsSkipsOnlyTheLoss) {
  Model m = Model::compile(parse(kTinyMlp), 0);
  Rng rng(1);
  Model::Result r = m.forward({Tensor::randn({2, 3}, rng)});
  EXPECT_FALSE(r.loss.defined());
  EXPECT_FALSE(r.outputs[size_t(m.node_index("ce"))].defined());
  EXPECT_EQ(r.prediction.shape(), (Shape{2, 2}));
}

TEST(Model, ReusedResultAndInputsById) {
  Model m = Model::compile(parse(kTinyMlp), 0);
  Rng rng(1);
  Tensor x = Tensor::randn({2, 3}, rng), y = labels_of({1, 0});
  Model::Result r;
  m.forward({x}, y, r);
  double first = r.loss.item();
  m.forward({x}, y, r);
  EXPECT_EQ(r.loss.item(), first);
  EXPECT_EQ(m.forward_by_id({{"x", x}}, y).loss.item(), first);
  try {
    m.forward_by_id({{"x", x}, {"z", x}}, y);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "Model: 'z' is not an Input node of the graph");
  }
  try {
    m.forward(std::vector<Tensor>{}, y);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "Model: the graph has 1 input (x), got 0 tensors");
  }
}

TEST(Model, WrongInputBatchNamesTheInputNodeAndShapes) {
  Model m = Model::compile(example("mlp"), 0);
  try {
    m.forward({Tensor::zeros({64, 784})}, labels_of(std::vector<int64_t>(64, 0)));
    FAIL();
  } catch (const ShapeError& e) {
    EXPECT_EQ(std::string(e.what()),
              "Input 'input': expected a batch of shape [N, 1, 28, 28] float32, got [64, 784] "
              "float32");
  }
}

TEST(Model, ConnectedTargetComesFromTheGraphFreeTargetFromLabels) {
  GraphSpec g = parse(R"({
    "nodes": [{"id": "x", "type": "Input", "params": {"shape": [3]}},
              {"id": "t", "type": "Input", "params": {"shape": [2]}},
              {"id": "fc", "type": "Linear", "params": {"out_features": 2}},
              {"id": "mse", "type": "MSELoss"}],
    "edges": [{"from": "x", "to": "fc"}, {"from": "fc", "to": "mse:input"},
              {"from": "t", "to": "mse:target"}]})");
  Model m = Model::compile(g, 0);
  EXPECT_EQ(m.input_ids(), (std::vector<std::string>{"x", "t"}));
  Rng rng(3);
  Tensor x = Tensor::randn({4, 3}, rng), t = Tensor::randn({4, 2}, rng);
  Model::Result r = m.forward({x, t});  // no labels needed
  ASSERT_TRUE(r.loss.defined());
  autograd::NoGradGuard no_grad;
  Tensor d = sub(r.prediction, t);
  EXPECT_NEAR(r.loss.item(), ng::mean(ng::mul(d, d)).item(), 1e-6);
}

TEST(Model, EmbeddingTakesInt64Inputs) {
  GraphSpec g = parse(R"({
    "nodes": [{"id": "ids", "type": "Input", "params": {"shape": [6], "dtype": "int64"}},
              {"id": "emb", "type": "Embedding",
               "params": {"num_embeddings": 50, "embedding_dim": 8}},
              {"id": "ln", "type": "LayerNorm"},
              {"id": "flat", "type": "Flatten"},
              {"id": "drop", "type": "Dropout", "params": {"p": 0.1}},
              {"id": "fc", "type": "Linear", "params": {"out_features": 3}},
              {"id": "ce", "type": "CrossEntropyLoss", "params": {"label_smoothing": 0.1}}],
    "edges": [{"from": "ids", "to": "emb"}, {"from": "emb", "to": "ln"},
              {"from": "ln", "to": "flat"}, {"from": "flat", "to": "drop"},
              {"from": "drop", "to": "fc"}, {"from": "fc", "to": "ce:input"}]})");
  Model m = Model::compile(g, 9);
  std::vector<int64_t> ids(12);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int64_t(i * 7 % 50);
  Model::Result r = m.forward({Tensor::from_vector<int64_t>(ids, {2, 6})}, labels_of({2, 0}));
  EXPECT_EQ(r.outputs[size_t(m.node_index("emb"))].shape(), (Shape{2, 6, 8}));
  r.loss.backward();
  expect_gradients_everywhere(m);
}

TEST(Model, DropoutDrawsFromTheModelRng) {
  GraphSpec g = parse(R"({
    "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4000]}},
              {"id": "drop", "type": "Dropout", "params": {"p": 0.25}},
              {"id": "fc", "type": "Linear", "params": {"out_features": 2}},
              {"id": "ce", "type": "CrossEntropyLoss"}],
    "edges": [{"from": "x", "to": "drop"}, {"from": "drop", "to": "fc"},
              {"from": "fc", "to": "ce:input"}]})");
  Model m = Model::compile(g, 5);
  Tensor x = Tensor::ones({1, 4000});
  uint64_t seed = m.rng().seed(), offset = m.rng().offset();
  auto d1 = m.forward({x}).outputs[1].to_vector<float>();
  auto d2 = m.forward({x}).outputs[1].to_vector<float>();
  EXPECT_NE(d1, d2) << "each step draws a new mask";
  int zeros = 0;
  for (float v : d1) {
    EXPECT_TRUE(v == 0.0f || std::abs(v - 1.0f / 0.75f) < 1e-6) << v;
    zeros += v == 0.0f;
  }
  EXPECT_NEAR(zeros / 4000.0, 0.25, 0.03);
  m.rng().set_state(seed, offset);
  EXPECT_EQ(m.forward({x}).outputs[1].to_vector<float>(), d1) << "the model's Rng decides";
  m.set_mode(Mode::Eval);
  EXPECT_EQ(m.forward({x}).outputs[1].to_vector<float>(), x.to_vector<float>());
}

TEST(Model, SameSeedSameWeightsAndOneNodeDoesNotShiftAnother) {
  Model a = Model::compile(example("lenet"), 42), b = Model::compile(example("lenet"), 42);
  Model c = Model::compile(example("lenet"), 43);
  ASSERT_EQ(a.parameters().size(), b.parameters().size());
  for (size_t i = 0; i < a.parameters().size(); ++i) {
    EXPECT_EQ(a.parameters()[i].second.to_vector<float>(),
              b.parameters()[i].second.to_vector<float>())
        << a.parameters()[i].first;
    EXPECT_NE(a.parameters()[i].second.to_vector<float>(),
              c.parameters()[i].second.to_vector<float>())
        << a.parameters()[i].first;
  }
  // Widening conv2 changes conv2 and fc1's shapes but not conv1's or fc3's initial weights.
  GraphSpec wider = example("lenet");
  wider.find("conv1")->params["out_channels"] = 6;  // unchanged
  wider.find("conv2")->params["out_channels"] = 20;
  wider.find("fc1")->params.erase("in_features");
  Model w = Model::compile(wider, 42);
  EXPECT_EQ(param(w, "conv1/weight").to_vector<float>(),
            param(a, "conv1/weight").to_vector<float>());
  EXPECT_EQ(param(w, "fc3/weight").to_vector<float>(), param(a, "fc3/weight").to_vector<float>());
  EXPECT_EQ(param(w, "fc1/weight").shape(), (Shape{120, 500}));
}

TEST(Model, InitialisationMatchesPyTorchBounds) {
  Model m = Model::compile(example("lenet"), 0);
  // kaiming_uniform(a = sqrt(5)) and PyTorch's bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  struct Case {
    const char* name;
    int64_t fan_in;
  };
  for (Case c :
       {Case{"conv1/weight", 1 * 5 * 5}, Case{"conv1/bias", 25}, Case{"conv2/weight", 6 * 5 * 5},
        Case{"fc1/weight", 400}, Case{"fc1/bias", 400}, Case{"fc3/weight", 84}}) {
    SCOPED_TRACE(c.name);
    Tensor t = param(m, c.name);
    double bound = 1.0 / std::sqrt(double(c.fan_in));
    double mx = max_abs(t);
    EXPECT_LE(mx, bound);
    if (t.numel() >= 100) {
      EXPECT_GT(mx, 0.9 * bound) << "fills the range";
      double mean = 0, var = 0;
      auto v = t.to_vector<float>();
      for (float e : v) mean += e / double(v.size());
      for (float e : v) var += (e - mean) * (e - mean) / double(v.size());
      EXPECT_NEAR(mean, 0.0, 0.1 * bound);
      EXPECT_NEAR(var, bound * bound / 3.0, 0.15 * bound * bound / 3.0);  // uniform variance
    }
  }
  Model r = Model::compile(example("resnet20"), 0);
  EXPECT_EQ(param(r, "stem_bn/weight").to_vector<float>(), std::vector<float>(16, 1.0f));
  EXPECT_EQ(param(r, "stem_bn/bias").to_vector<float>(), std::vector<float>(16, 0.0f));
  EXPECT_EQ(param(r, "stem_bn/running_mean").to_vector<float>(), std::vector<float>(16, 0.0f));
  EXPECT_EQ(param(r, "stem_bn/running_var").to_vector<float>(), std::vector<float>(16, 1.0f));
  EXPECT_LE(max_abs(param(r, "stem_conv/weight")), 1.0 / std::sqrt(27.0));
  EXPECT_FALSE(param(r, "stem_bn/running_mean").requires_grad());
  EXPECT_TRUE(param(r, "stem_bn/weight").requires_grad());
}

TEST(Model, EmbeddingStartsStandardNormal) {
  GraphSpec g = parse(R"({
    "nodes": [{"id": "ids", "type": "Input", "params": {"shape": [1], "dtype": "int64"}},
              {"id": "emb", "type": "Embedding",
               "params": {"num_embeddings": 1000, "embedding_dim": 20}},
              {"id": "flat", "type": "Flatten"},
              {"id": "ce", "type": "CrossEntropyLoss"}],
    "edges": [{"from": "ids", "to": "emb"}, {"from": "emb", "to": "flat"},
              {"from": "flat", "to": "ce:input"}]})");
  Model m = Model::compile(g, 0);
  auto v = param(m, "emb/weight").to_vector<float>();
  double mean = 0, var = 0;
  for (float e : v) mean += e / double(v.size());
  for (float e : v) var += (e - mean) * (e - mean) / double(v.size());
  EXPECT_NEAR(mean, 0.0, 0.03);
  EXPECT_NEAR(var, 1.0, 0.05);
}

TEST(Model, ToTheCurrentDeviceKeepsTheWeights) {
  Model m = Model::compile(parse(kTinyMlp), 0);
  Tensor before = m.parameters()[0].second;
  m.to(Device::cpu());
  EXPECT_TRUE(m.parameters()[0].second.same(before));
  EXPECT_EQ(m.device(), Device::cpu());
}

// The benchmark graphs (../shared/bench/README.md) against PyTorch's parameter counts
// (sum(p.numel() for p in model.parameters())).
TEST(ExampleGraphs, ParameterCountsMatchPyTorch) {
  // mlp: 784*256+256 + 256*128+128 + 128*10+10
  Model mlp = Model::compile(example("mlp"), 0);
  EXPECT_EQ(mlp.parameter_count(), 235146);
  // lenet: (6*1*25+6) + (16*6*25+16) + (400*120+120) + (120*84+84) + (84*10+10)
  Model lenet = Model::compile(example("lenet"), 0);
  EXPECT_EQ(lenet.parameter_count(), 61706);
  // CIFAR ResNet-20 with 1x1 conv + BN projection shortcuts at the stride-2 stages,
  // convolutions without bias, BN weight + bias counted (running stats are buffers):
  //   stem:     conv 3->16 3x3 = 432,  BN 32                                   =     464
  //   stage 1:  3 blocks x (2 x 16*16*9 = 4608 + 2 BN x 32 = 64)               =  14,016
  //   stage 2:  block 1: 16*32*9 = 4608 + 32*32*9 = 9216 + BN 128
  //                      + shortcut 16*32 = 512 + BN 64                        =  14,528
  //             blocks 2-3: 2 x (2 x 9216 + 128)                               =  37,120
  //   stage 3:  block 1: 32*64*9 = 18432 + 64*64*9 = 36864 + BN 256
  //                      + shortcut 32*64 = 2048 + BN 128                      =  57,728
  //             blocks 2-3: 2 x (2 x 36864 + 256)                              = 147,968
  //   fc:       64*10 + 10                                                    =     650
  //   total                                                                   = 272,474
  // (ResNet-20 with parameter-free shortcuts has 269,722; the projections add 2,752.)
  int64_t stem = 3 * 16 * 9 + 32;
  int64_t stage1 = 3 * (2 * 16 * 16 * 9 + 2 * 32);
  int64_t stage2 =
      (16 * 32 * 9 + 32 * 32 * 9 + 2 * 64 + 16 * 32 + 64) + 2 * (2 * 32 * 32 * 9 + 2 * 64);
  int64_t stage3 =
      (32 * 64 * 9 + 64 * 64 * 9 + 2 * 128 + 32 * 64 + 128) + 2 * (2 * 64 * 64 * 9 + 2 * 128);
  int64_t fc = 64 * 10 + 10;
  ASSERT_EQ(stem + stage1 + stage2 + stage3 + fc, 272474);
  Model resnet = Model::compile(example("resnet20"), 0);
  EXPECT_EQ(resnet.parameter_count(), 272474);
  EXPECT_EQ(resnet.analysis().param_count, 272474);
  int convs = 0, adds = 0;
  for (const auto& n : resnet.spec().nodes) convs += n.type == "Conv2d", adds += n.type == "Add";
  EXPECT_EQ(convs, 1 + 18 + 2);
  EXPECT_EQ(adds, 9);
}

TEST(ExampleGraphs, ValidateCleanlyAndRun) {
  for (const char* name : {"mlp", "lenet", "resnet20"}) {
    SCOPED_TRACE(name);
    GraphSpec g = example(name);
    auto ds = validate(g);
    EXPECT_TRUE(ds.empty()) << format_diagnostics(ds);
    EXPECT_EQ(GraphSpec::from_json(g.to_json()), g);
  }
  Model m = Model::compile(example("resnet20"), 0);
  Rng rng(0);
  Model::Result r = m.forward({Tensor::randn({2, 3, 32, 32}, rng)}, labels_of({1, 7}));
  EXPECT_EQ(r.prediction.shape(), (Shape{2, 10}));
  EXPECT_EQ(r.outputs[size_t(m.node_index("s3b1_add"))].shape(), (Shape{2, 64, 8, 8}));
  r.loss.backward();
  expect_gradients_everywhere(m);
}
