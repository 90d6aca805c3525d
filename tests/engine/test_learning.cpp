// End-to-end learning: graphs built from specs, trained with the engine's own optimisers.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "engine/autograd/autograd.h"
#include "engine/nn/model.h"
#include "engine/optim/adam.h"
#include "engine/optim/sgd.h"

using namespace ng;
using nlohmann::json;

namespace {

std::vector<Tensor> params_of(Model& m) {
  std::vector<Tensor> ps;
  for (auto& [name, p] : m.parameters()) ps.push_back(p);
  return ps;
}

}  // namespace

TEST(Learning, MlpLearnsXor) {
  json g = json::parse(R"({
    "nodes": [
      {"id": "x", "type": "Input", "params": {"shape": [2]}},
      {"id": "fc1", "type": "Linear", "params": {"out_features": 8}},
      {"id": "act", "type": "Tanh", "params": {}},
      {"id": "fc2", "type": "Linear", "params": {"out_features": 2}},
      {"id": "loss", "type": "CrossEntropyLoss", "params": {}}
    ],
    "edges": [{"from": "x", "to": "fc1"}, {"from": "fc1", "to": "act"},
              {"from": "act", "to": "fc2"}, {"from": "fc2", "to": "loss:input"}]
  })");
  Model m = Model::compile(GraphSpec::from_json(g), 3);
  Tensor x = Tensor::from_vector<float>({0, 0, 0, 1, 1, 0, 1, 1}, {4, 2});
  Tensor y = Tensor::from_vector<int64_t>({0, 1, 1, 0}, {4});
  Adam opt(params_of(m), {.lr = 0.05});
  double loss = 0;
  for (int step = 0; step < 300; ++step) {
    opt.zero_grad();
    auto r = m.forward({x}, y);
    r.loss.backward();
    opt.step();
    loss = r.loss.item();
  }
  EXPECT_LT(loss, 0.02);
  autograd::NoGradGuard ng;
  auto logits = m.forward({x}, y).prediction.to_vector<float>();
  for (int i = 0; i < 4; ++i) {
    int predicted = logits[2 * i + 1] > logits[2 * i] ? 1 : 0;
    EXPECT_EQ(predicted, (i == 1 || i == 2) ? 1 : 0) << "row " << i;
  }
}

TEST(Learning, CnnDrivesTheLossOnOneBatchNearZero) {
  json g = json::parse(R"({
    "nodes": [
      {"id": "img", "type": "Input", "params": {"shape": [1, 12, 12]}},
      {"id": "conv1", "type": "Conv2d", "params": {"out_channels": 8, "kernel_size": [3, 3], "padding": [1, 1]}},
      {"id": "bn1", "type": "BatchNorm", "params": {}},
      {"id": "relu1", "type": "ReLU", "params": {}},
      {"id": "pool1", "type": "MaxPool2d", "params": {"kernel_size": [2, 2]}},
      {"id": "conv2", "type": "Conv2d", "params": {"out_channels": 16, "kernel_size": [3, 3], "stride": [2, 2], "padding": [1, 1]}},
      {"id": "relu2", "type": "ReLU", "params": {}},
      {"id": "gap", "type": "GlobalAvgPool", "params": {}},
      {"id": "fc", "type": "Linear", "params": {"out_features": 4}},
      {"id": "loss", "type": "CrossEntropyLoss", "params": {}}
    ],
    "edges": [{"from": "img", "to": "conv1"}, {"from": "conv1", "to": "bn1"},
              {"from": "bn1", "to": "relu1"}, {"from": "relu1", "to": "pool1"},
              {"from": "pool1", "to": "conv2"}, {"from": "conv2", "to": "relu2"},
              {"from": "relu2", "to": "gap"}, {"from": "gap", "to": "fc"},
              {"from": "fc", "to": "loss:input"}]
  })");
  Model m = Model::compile(GraphSpec::from_json(g), 7);
  Rng rng(11);
  Tensor x = Tensor::randn({16, 1, 12, 12}, rng);
  std::vector<int64_t> labels(16);
  for (int i = 0; i < 16; ++i) labels[i] = i % 4;
  Tensor y = Tensor::from_vector(labels, {16});
  SGD opt(params_of(m), {.lr = 0.05, .momentum = 0.9});
  double first = 0, last = 0;
  for (int step = 0; step < 250; ++step) {
    opt.zero_grad();
    auto r = m.forward({x}, y);
    r.loss.backward();
    opt.step();
    if (step == 0) first = r.loss.item();
    last = r.loss.item();
  }
  EXPECT_GT(first, 1.0);  // log(4) ~ 1.39 at the start
  EXPECT_LT(last, 0.05);
}
