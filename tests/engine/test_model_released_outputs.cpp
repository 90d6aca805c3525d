// Model::set_keep_outputs(false) (NOTE [Released activations] in engine/nn/model.h): the forward
// pass drops each node's output after its last reader, so a training step holds only what
// backward needs. Same loss and gradients as the default, no per-node outputs, and a lower peak
// of allocated memory on ResNet-20.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/core/allocator.h"
#include "engine/core/rng.h"
#include "engine/nn/model.h"

using namespace ng;

namespace {

GraphSpec example(const std::string& name) {
  std::string f = __FILE__;  // <root>/tests/engine/test_model_released_outputs.cpp
  std::ifstream in(f.substr(0, f.rfind("/tests/engine/")) + "/resources/examples/" + name +
                   ".graph.json");
  EXPECT_TRUE(in.good()) << name;
  return GraphSpec::from_json(nlohmann::json::parse(in));
}

GraphSpec resnet20() {
  return example("resnet20");
}

struct StepResult {
  double loss = 0;
  std::vector<std::vector<float>> grads;
  size_t outputs = 0;
  size_t peak = 0;  // bytes allocated at the peak of forward + backward, above the start
};

StepResult train_step(bool keep, bool fuse = true, std::optional<bool> fuse_bn_add = {}) {
  Model m = Model::compile(resnet20(), 7);
  m.set_keep_outputs(keep);
  m.set_fuse_relu(fuse);
  if (fuse_bn_add) m.set_fuse_bn_add(*fuse_bn_add);  // else as compile() set it
  m.set_mode(Mode::Train);
  Rng rng(3);
  Tensor x = Tensor::randn({4, 3, 32, 32}, rng);
  Tensor y = Tensor::from_vector(std::vector<int64_t>{1, 4, 9, 0}, {4});
  Allocator& a = allocator(Device::cpu());
  const size_t base = a.bytes_in_use();
  a.reset_peak();
  StepResult out;
  {
    Model::Result r = m.forward({x}, y);
    out.outputs = r.outputs.size();
    out.loss = r.loss.item();
    Tensor loss = r.loss;
    r = Model::Result();  // as a training loop does: only the loss is held into backward
    loss.backward();
  }
  out.peak = a.peak_bytes_in_use() - base;
  for (const auto& [name, p] : m.parameters()) out.grads.push_back(p.grad().to_vector<float>());
  return out;
}

}  // namespace

TEST(ModelReleasedOutputs, SameLossAndGradientsWithLessMemory) {
  const StepResult kept = train_step(true), released = train_step(false);
  EXPECT_EQ(kept.loss, released.loss);
  ASSERT_EQ(kept.grads.size(), released.grads.size());
  for (size_t i = 0; i < kept.grads.size(); ++i) EXPECT_EQ(kept.grads[i], released.grads[i]) << i;
  EXPECT_GT(kept.outputs, 0u);
  EXPECT_EQ(released.outputs, 0u);
  // ResNet-20 keeps a BatchNorm output per ReLU and an Add output per block beside what
  // backward needs: releasing them saves about 40% of the peak.
  EXPECT_LT(double(released.peak), 0.8 * double(kept.peak))
      << "peak with outputs kept " << kept.peak << " bytes, released " << released.peak;
}

TEST(ModelReleasedOutputs, TheLossAndThePredictionAreStillReturned) {
  Model m = Model::compile(resnet20(), 7);
  m.set_keep_outputs(false);
  Rng rng(4);
  Model::Result r = m.forward({Tensor::randn({2, 3, 32, 32}, rng)},
                              Tensor::from_vector(std::vector<int64_t>{2, 5}, {2}));
  ASSERT_TRUE(r.loss.defined());
  ASSERT_TRUE(r.prediction.defined());
  EXPECT_EQ(r.prediction.shape(), (Shape{2, 10}));
  EXPECT_TRUE(r.outputs.empty());
}

// NOTE [Fused ReLU]: with outputs released, each BatchNorm and Add that only a ReLU reads
// computes the ReLU itself. Same loss and gradients, bit for bit, on the CPU.
TEST(ModelReleasedOutputs, FusedReluGivesTheSameStep) {
  Model m = Model::compile(resnet20(), 7);
  // ResNet-20: 19 BatchNorm -> ReLU (the stem and the first of each block's two) ... and the
  // 9 residual sums -> ReLU; the second BatchNorm of a block feeds the Add, not a ReLU.
  EXPECT_EQ(m.fused_relu_count(), 1 + 9 + 9);
  train_step(false, false);  // the first backward makes autograd's cached seed: not measured
  const StepResult fused = train_step(false, true), plain = train_step(false, false);
  EXPECT_EQ(fused.loss, plain.loss);
  ASSERT_EQ(fused.grads.size(), plain.grads.size());
  for (size_t i = 0; i < fused.grads.size(); ++i) EXPECT_EQ(fused.grads[i], plain.grads[i]) << i;
  EXPECT_LE(fused.peak, plain.peak);
}

// LeNet-5: conv1, conv2, fc1 and fc2 each absorb the ReLU after them, and pool1 and pool2
// apply conv1's and conv2's ReLU derivatives (NOTE [ReLU gradient in the max pool]). Same loss
// and gradients as the plain step.
TEST(ModelReleasedOutputs, ConvAndLinearAbsorbTheReluAfterThem) {
  auto step = [](bool fuse, int* fused_count) {
    Model m = Model::compile(example("lenet"), 5);
    m.set_keep_outputs(false);
    m.set_fuse_relu(fuse);
    *fused_count = m.fused_relu_count();
    EXPECT_EQ(m.relu_grads_in_pools(), 2);
    Rng rng(6);
    Tensor x = Tensor::randn({3, 1, 28, 28}, rng);
    Model::Result r = m.forward({x}, Tensor::from_vector(std::vector<int64_t>{7, 1, 0}, {3}));
    const double loss = r.loss.item();
    r.loss.backward();
    std::vector<std::vector<float>> grads;
    for (const auto& [name, p] : m.parameters()) grads.push_back(p.grad().to_vector<float>());
    return std::make_pair(loss, grads);
  };
  int count = 0;
  const auto fused = step(true, &count), plain = step(false, &count);
  EXPECT_EQ(count, 4);
  EXPECT_EQ(fused.first, plain.first);
  EXPECT_EQ(fused.second, plain.second);
}

// NOTE [Batch norm into the add] (engine/ops/cuda/norm.cu): each block's second BatchNorm, read
// by the residual Add alone, computes relu(batch_norm + shortcut) and the Add and its ReLU steps
// pass that on. On the CPU batch_norm_add_relu composes the two ops, so this checks the Model's
// plumbing (the shortcut reaches the batch norm, the skipped steps pass the right slot on, the
// shortcut is released after): the same loss and gradients bit for bit, and no more memory.
TEST(ModelReleasedOutputs, BatchNormIntoTheAddGivesTheSameStep) {
  Model m = Model::compile(resnet20(), 7);
  EXPECT_EQ(m.bn_add_fusions(), 9);  // one per block; the projection blocks' too
  train_step(false, false);          // autograd's cached seed, as above
  const StepResult into = train_step(false, true, true), plain = train_step(false, true, false);
  EXPECT_EQ(into.loss, plain.loss);
  ASSERT_EQ(into.grads.size(), plain.grads.size());
  for (size_t i = 0; i < into.grads.size(); ++i) EXPECT_EQ(into.grads[i], plain.grads[i]) << i;
  EXPECT_LE(into.peak, plain.peak);
  // With outputs kept (per-node activations shown) nothing is fused: every node's output exists.
  const StepResult kept = train_step(true, true, true), kept_plain = train_step(true, true, false);
  EXPECT_EQ(kept.outputs, kept_plain.outputs);
  EXPECT_EQ(kept.loss, kept_plain.loss);
}

// Only a BatchNorm whose one reader is an Add that takes its ReLU: LeNet has neither.
TEST(ModelReleasedOutputs, NoBatchNormIntoAnAddWithoutOne) {
  EXPECT_EQ(Model::compile(example("lenet"), 5).bn_add_fusions(), 0);
}

// The shortcut may be the graph's input itself (a slot no step makes): x -> Linear -> BatchNorm,
// plus x, then ReLU. The same loss with the batch norm taking the sum as without.
TEST(ModelReleasedOutputs, BatchNormIntoAnAddWhoseShortcutIsTheGraphInput) {
  using nlohmann::json;
  json nodes = json::array(), edges = json::array();
  nodes.push_back({{"id", "x"}, {"type", "Input"}, {"params", {{"shape", {4}}}}});
  nodes.push_back({{"id", "fc"}, {"type", "Linear"}, {"params", {{"out_features", 4}}}});
  nodes.push_back({{"id", "bn"}, {"type", "BatchNorm"}, {"params", {{"num_features", 4}}}});
  nodes.push_back({{"id", "add"}, {"type", "Add"}, {"params", json::object()}});
  nodes.push_back({{"id", "act"}, {"type", "ReLU"}, {"params", json::object()}});
  nodes.push_back({{"id", "head"}, {"type", "Linear"}, {"params", {{"out_features", 3}}}});
  nodes.push_back({{"id", "loss"}, {"type", "CrossEntropyLoss"}, {"params", json::object()}});
  edges.push_back({{"from", "x"}, {"to", "fc"}});
  edges.push_back({{"from", "fc"}, {"to", "bn"}});
  edges.push_back({{"from", "bn"}, {"to", "add"}});
  edges.push_back({{"from", "x"}, {"to", "add"}});
  edges.push_back({{"from", "add"}, {"to", "act"}});
  edges.push_back({{"from", "act"}, {"to", "head"}});
  edges.push_back({{"from", "head"}, {"to", "loss:input"}});
  Model m = Model::compile(GraphSpec::from_json({{"nodes", nodes}, {"edges", edges}}), 3);
  ASSERT_EQ(m.bn_add_fusions(), 1);
  m.set_keep_outputs(false);
  m.set_mode(Mode::Train);
  Rng rng(8);
  const Tensor x = Tensor::randn({6, 4}, rng);
  const Tensor y = Tensor::from_vector(std::vector<int64_t>{0, 1, 2, 0, 1, 2}, {6});
  m.set_fuse_bn_add(true);
  const double into = m.forward({x}, y).loss.item();
  m.set_fuse_bn_add(false);
  const double plain = m.forward({x}, y).loss.item();
  EXPECT_EQ(into, plain);
}
