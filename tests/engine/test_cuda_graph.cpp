// One CUDA graph per training step (engine/train/step_graph.h): a replayed step equals the eager
// step, step for step, for MLP and LeNet-5 with SGD and Adam, a learning rate that changes every
// step and a short last batch (a second capture); dropout draws new numbers on every replay and
// the same ones as the eager steps; an out-of-range label is reported clearly without a host
// synchronisation in the step; the Trainer gives the same loss curve with and without graphs.
// The GPU tests skip (GTEST_SKIP) where no CUDA device is present; the CPU tests check that
// TrainStep is the plain eager step there.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>

#include "engine/core/rng.h"
#include "engine/nn/model.h"
#include "engine/ops/conv.h"
#include "engine/ops/cuda/backend.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/softmax.h"
#include "engine/optim/adam.h"
#include "engine/optim/sgd.h"
#include "engine/train/datasets.h"
#include "engine/train/step_graph.h"
#include "engine/train/trainer.h"

using namespace ng;
using namespace ng::train;
using nlohmann::json;

namespace {

GraphSpec example_spec(const std::string& name) {
  std::string f = __FILE__;  // <root>/tests/engine/test_cuda_graph.cpp
  std::ifstream in(f.substr(0, f.rfind("/tests/engine/")) + "/resources/examples/" + name +
                   ".graph.json");
  EXPECT_TRUE(in.good()) << name;
  json j = json::parse(in);
  if (j.contains("graph")) j = j["graph"];
  return GraphSpec::from_json(j);
}

// Input [1, 28, 28] -> flatten -> fc1 (64) -> relu -> dropout(p) -> fc2 (10) -> cross-entropy.
GraphSpec dropout_mlp_spec(double p) {
  json nodes = json::array(), edges = json::array();
  nodes.push_back({{"id", "x"}, {"type", "Input"}, {"params", {{"shape", {1, 28, 28}}}}});
  nodes.push_back({{"id", "flat"}, {"type", "Flatten"}, {"params", json::object()}});
  nodes.push_back({{"id", "fc1"}, {"type", "Linear"}, {"params", {{"out_features", 64}}}});
  nodes.push_back({{"id", "act"}, {"type", "ReLU"}, {"params", json::object()}});
  nodes.push_back({{"id", "drop"}, {"type", "Dropout"}, {"params", {{"p", p}}}});
  nodes.push_back({{"id", "fc2"}, {"type", "Linear"}, {"params", {{"out_features", 10}}}});
  nodes.push_back({{"id", "loss"}, {"type", "CrossEntropyLoss"}, {"params", json::object()}});
  edges.push_back({{"from", "x"}, {"to", "flat"}});
  edges.push_back({{"from", "flat"}, {"to", "fc1"}});
  edges.push_back({{"from", "fc1"}, {"to", "act"}});
  edges.push_back({{"from", "act"}, {"to", "drop"}});
  edges.push_back({{"from", "drop"}, {"to", "fc2"}});
  edges.push_back({{"from", "fc2"}, {"to", "loss:input"}});
  return GraphSpec::from_json({{"nodes", nodes}, {"edges", edges}});
}

// An "epoch" of batches 16, 16, 16, 7 of random [C, H, W] images (default [1, 28, 28]) and labels
// in 0-9 (host).
struct Batches {
  std::vector<Tensor> x, y;
};
Batches make_batches(uint64_t seed, const Shape& image = {1, 28, 28}) {
  Batches b;
  Rng rng(seed);
  for (int64_t n : {16, 16, 16, 7}) {
    b.x.push_back(Tensor::randn({n, image[0], image[1], image[2]}, rng));
    std::vector<int64_t> lab(static_cast<size_t>(n));
    for (auto& l : lab) l = int64_t(rng.randint(10));
    b.y.push_back(Tensor::from_vector(lab, {n}));
  }
  return b;
}

enum class Opt { Sgd, Adam };

struct StepRun {
  std::vector<double> losses;
  std::vector<std::vector<float>> params;  // after the last step
  int64_t captures = 0, replays = 0;
  size_t branches = 0;     // weight-gradient branches of the last captured graph
  size_t early_joins = 0;  // ... and its joins before a fork (CudaBranchLimits)
  size_t nodes = 0;        // and its nodes
};

// `steps` steps over the batches in turn with lr 0.05 * (1 - s / 40) at step s.
StepRun train_steps(const GraphSpec& spec, Device device, Opt opt, bool graphs, int steps,
                    uint64_t rng_seed = 7, const Shape& image = {1, 28, 28},
                    bool keep_outputs = true, std::optional<bool> fuse_bn_add = {}) {
  Model m = Model::compile(spec, 0);
  m.set_keep_outputs(keep_outputs);
  if (fuse_bn_add) m.set_fuse_bn_add(*fuse_bn_add);  // else as compile() set it
  m.to(device);
  m.rng() = Rng(rng_seed);
  m.set_mode(Mode::Train);
  std::vector<Tensor> params;
  for (const auto& [name, p] : m.parameters()) params.push_back(p);
  std::unique_ptr<Optimizer> o;
  if (opt == Opt::Sgd)
    o = std::make_unique<SGD>(params, SgdOptions{.lr = 0.05, .momentum = 0.9});
  else
    o = std::make_unique<Adam>(params, AdamOptions{.lr = 0.05});
  TrainStep step(m, *o, {.cuda_graphs = graphs});
  const Batches b = make_batches(11, image);
  StepRun r;
  for (int s = 0; s < steps; ++s) {
    o->set_lr(0.05 * (1.0 - s / 40.0));
    const auto& out = step.run(b.x[size_t(s) % 4], b.y[size_t(s) % 4]);
    r.losses.push_back(out.loss.item());
  }
  for (const Tensor& p : params) r.params.push_back(p.detach().to_vector<float>());
  r.captures = step.captures();
  r.replays = step.replays();
  r.branches = step.graph_branches();
  r.early_joins = step.graph_early_joins();
  r.nodes = step.graph_nodes();
  return r;
}

double rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

void expect_same_run(const StepRun& graph, const StepRun& eager, double tol) {
  ASSERT_EQ(graph.losses.size(), eager.losses.size());
  for (size_t s = 0; s < eager.losses.size(); ++s)
    EXPECT_NEAR(graph.losses[s], eager.losses[s], tol * std::abs(eager.losses[s])) << "step " << s;
  ASSERT_EQ(graph.params.size(), eager.params.size());
  for (size_t i = 0; i < eager.params.size(); ++i)
    EXPECT_LE(rel_diff(graph.params[i], eager.params[i]), tol) << "parameter " << i;
}

class CudaGraphStep : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) GTEST_SKIP() << "no CUDA device here: " << cuda_unavailable_reason();
    if (!cuda_graphs_enabled()) GTEST_SKIP() << "CUDA graphs are off (NG_CUDA_GRAPHS=0)";
    saved_tf32_ = cuda_tf32();
    set_cuda_tf32(false);
    // Replayed and eager steps are compared to 1e-6: the convolutions must be reproducible.
    // Without this, cuDNN may pick backward algorithms that accumulate with atomics, and Adam
    // (which divides by sqrt(v)) turns their last-bit differences into ~3e-6 relative after 20
    // steps (seen on an H200).
    saved_deterministic_ = cudnn_deterministic();
    set_cudnn_deterministic(true);
  }
  void TearDown() override {
    if (cuda_available()) {
      set_cuda_tf32(saved_tf32_);
      set_cudnn_deterministic(saved_deterministic_);
    }
  }
  bool saved_tf32_ = true;
  bool saved_deterministic_ = false;
};

constexpr double kTol = 1e-6;
// 5 "epochs" of 4 batches: the short batch runs eagerly twice, then is captured and replayed.
constexpr int kSteps = 20;

}  // namespace

// ---------------------------------------------------------------- CPU: the plain eager step

TEST(TrainStep, OnTheCpuIsThePlainEagerStep) {
  const GraphSpec spec = dropout_mlp_spec(0.25);
  const StepRun a = train_steps(spec, Device::cpu(), Opt::Adam, true, 6);
  // The same steps written out by hand.
  Model m = Model::compile(spec, 0);
  m.rng() = Rng(7);
  std::vector<Tensor> params;
  for (const auto& [name, p] : m.parameters()) params.push_back(p);
  Adam o(params, {.lr = 0.05});
  const Batches b = make_batches(11);
  Model::Result r;
  for (int s = 0; s < 6; ++s) {
    o.set_lr(0.05 * (1.0 - s / 40.0));
    o.zero_grad();
    m.forward({b.x[size_t(s) % 4]}, b.y[size_t(s) % 4], r);
    r.loss.backward();
    o.step();
    EXPECT_EQ(r.loss.item(), a.losses[size_t(s)]) << "step " << s;
  }
  for (size_t i = 0; i < params.size(); ++i)
    EXPECT_EQ(rel_diff(params[i].detach().to_vector<float>(), a.params[i]), 0.0);
  EXPECT_EQ(a.captures, 0);
  EXPECT_EQ(a.replays, 0);
}

TEST(TrainStep, HooksRunInsideTheStep) {
  Model m = Model::compile(dropout_mlp_spec(0.0), 0);
  std::vector<Tensor> params;
  for (const auto& [name, p] : m.parameters()) params.push_back(p);
  SGD o(params, {.lr = 0.1});
  TrainStep step(m, o);
  const Batches b = make_batches(3);
  int forward_calls = 0;
  std::vector<float> w_before_update;
  TrainStep::Hooks hooks;
  hooks.after_forward = [&](Model::Result& r) {
    ++forward_calls;
    EXPECT_FALSE(r.outputs.empty()) << "the activations are still there";
  };
  hooks.after_backward = [&] {
    EXPECT_TRUE(params[0].grad().defined());
    w_before_update = params[0].detach().to_vector<float>();
  };
  const std::vector<float> w0 = params[0].detach().to_vector<float>();
  step.run(b.x[0], b.y[0], hooks);
  EXPECT_EQ(forward_calls, 1);
  EXPECT_EQ(w_before_update, w0) << "after_backward runs before the update";
  EXPECT_NE(params[0].detach().to_vector<float>(), w0) << "and the update follows it";
}

TEST(TrainStep, OptimizerReplayBookkeepingCountsOnlyTheMaskedParameters) {
  Model m = Model::compile(dropout_mlp_spec(0.0), 0);
  std::vector<Tensor> params;
  for (const auto& [name, p] : m.parameters()) params.push_back(p);
  Adam o(params);
  std::vector<bool> mask(params.size(), false);
  mask[1] = true;
  o.prepare_replay(mask);
  o.prepare_replay(mask);
  EXPECT_EQ(o.step_count(0), 0);
  EXPECT_EQ(o.step_count(1), 2);
  o.set_step_counts(std::vector<int64_t>(params.size(), 5));
  EXPECT_EQ(o.step_count(0), 5);
  EXPECT_THROW(o.prepare_replay({true}), Error);
}

// ---------------------------------------------------------------- GPU

TEST_F(CudaGraphStep, MlpWithSgdReplaysTheEagerStepsExactly) {
  const GraphSpec spec = example_spec("mlp");
  const StepRun eager = train_steps(spec, Device::cuda(), Opt::Sgd, false, kSteps);
  const StepRun graph = train_steps(spec, Device::cuda(), Opt::Sgd, true, kSteps);
  EXPECT_EQ(eager.captures, 0);
  EXPECT_EQ(graph.captures, 2) << "one graph for batches of 16, one for the short batch of 7";
  // Every step but the first two of each shape (eager warm-ups) is a replay, captures included.
  EXPECT_EQ(graph.replays, kSteps - 4);
  expect_same_run(graph, eager, kTol);
}

TEST_F(CudaGraphStep, MlpWithAdamReplaysTheEagerStepsExactly) {
  const GraphSpec spec = example_spec("mlp");
  const StepRun eager = train_steps(spec, Device::cuda(), Opt::Adam, false, kSteps);
  const StepRun graph = train_steps(spec, Device::cuda(), Opt::Adam, true, kSteps);
  EXPECT_EQ(graph.captures, 2);
  expect_same_run(graph, eager, kTol);
}

TEST_F(CudaGraphStep, LeNetWithSgdReplaysTheEagerStepsExactly) {
  const GraphSpec spec = example_spec("lenet");
  const StepRun eager = train_steps(spec, Device::cuda(), Opt::Sgd, false, kSteps);
  const StepRun graph = train_steps(spec, Device::cuda(), Opt::Sgd, true, kSteps);
  EXPECT_EQ(graph.captures, 2);
  expect_same_run(graph, eager, kTol);
}

TEST_F(CudaGraphStep, LeNetWithAdamReplaysTheEagerStepsExactly) {
  const GraphSpec spec = example_spec("lenet");
  const StepRun eager = train_steps(spec, Device::cuda(), Opt::Adam, false, kSteps);
  const StepRun graph = train_steps(spec, Device::cuda(), Opt::Adam, true, kSteps);
  EXPECT_EQ(graph.captures, 2);
  expect_same_run(graph, eager, kTol);
}

// TrainStep copies each batch into the graph's static inputs with copy nodes of the graph itself
// (CudaGraph::capture_copy); set_copy_source moves what a node reads between replays.
TEST_F(CudaGraphStep, ACapturedCopyReadsWhereverItsSourceIsMoved) {
  const Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, {4}, Device::cuda());
  const Tensor b = Tensor::from_vector<float>({10, 20, 30, 40}, {4}, Device::cuda());
  Tensor dst = Tensor::empty({4}, DType::Float32, Device::cuda());
  CudaGraph g;
  g.begin_capture();
  const size_t i = g.capture_copy(dst.raw_data(), a.raw_data(), a.nbytes());
  const Tensor out = mul_scalar(dst, 2.0);  // captured after the copy: it reads the copied values
  g.end_capture();
  g.replay();
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{2, 4, 6, 8}));
  g.set_copy_source(i, b.raw_data());
  g.replay();
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{20, 40, 60, 80}));
  g.set_copy_source(i, a.raw_data());
  g.replay();
  EXPECT_EQ(out.to_vector<float>(), (std::vector<float>{2, 4, 6, 8}));
  EXPECT_THROW(g.set_copy_source(1, a.raw_data()), Error);
}

// NOTE [Weight-gradient branches]: with the weight gradients of every layer on a side branch of
// the captured graph (LeNet's and the MLP's gradients are all well under 4 MiB), the replayed
// steps still equal the eager ones: the branches read what they should, the blocks they use are
// not handed to the compute stream's kernels early, and the optimiser sees joined gradients.
class CudaGraphBranches : public CudaGraphStep {
 protected:
  void SetUp() override {
    CudaGraphStep::SetUp();
    if (IsSkipped()) return;
    saved_ = cuda_graph_branches();
    saved_limits_ = cuda_branch_limits();
    saved_policy_ = channels_last_policy();
    set_cuda_graph_branches(true);
    set_cuda_branch_limits(CudaBranchLimits{});  // the defaults, whatever NG_GRAPH_*_MB say
  }
  void TearDown() override {
    if (cuda_available()) {
      set_cuda_graph_branches(saved_);
      set_cuda_branch_limits(saved_limits_);
      set_cuda_branch_delay(0);
      set_cuda_poison_allocations(false);
      set_channels_last_policy(saved_policy_);
    }
    CudaGraphStep::TearDown();
  }
  bool saved_ = false;
  CudaBranchLimits saved_limits_;
  ChannelsLastPolicy saved_policy_ = ChannelsLastPolicy::Auto;
};

// Eager steps, then the same steps replayed with branches: equal, with `branches` per graph.
StepRun expect_branched_replays_equal_eager(const std::string& model, Opt opt, size_t branches) {
  const GraphSpec spec = example_spec(model);
  const StepRun eager = train_steps(spec, Device::cuda(), opt, false, kSteps);
  const StepRun graph = train_steps(spec, Device::cuda(), opt, true, kSteps);
  EXPECT_EQ(graph.captures, 2);
  EXPECT_EQ(graph.branches, branches);
  expect_same_run(graph, eager, kTol);
  return graph;
}

TEST_F(CudaGraphBranches, LeNetWithSgdReplaysTheEagerStepsExactly) {
  expect_branched_replays_equal_eager("lenet", Opt::Sgd, 5);  // conv1, conv2, fc1, fc2, fc3
}

TEST_F(CudaGraphBranches, LeNetWithAdamReplaysTheEagerStepsExactly) {
  expect_branched_replays_equal_eager("lenet", Opt::Adam, 5);
}

TEST_F(CudaGraphBranches, MlpWithSgdReplaysTheEagerStepsExactly) {
  expect_branched_replays_equal_eager("mlp", Opt::Sgd, 3);  // fc1, fc2, fc3
}

// Each branch starts with a 300 us wait on the GPU, far longer than any LeNet kernel: a
// compute-stream kernel that read a branch's gradient before the join, or was handed a block a
// branch still reads (its output gradient, its saved input, its workspace), would now run first
// and change the step.
TEST_F(CudaGraphBranches, ADelayedBranchChangesNothing) {
  set_cuda_poison_allocations(true);
  set_cuda_branch_delay(300'000);
  expect_branched_replays_equal_eager("lenet", Opt::Sgd, 5);
}

// With nothing allowed to be kept, each branch but the first joins the one before it as it forks
// (not when the old one closes, so every branch still overlaps its own layer's input gradient):
// four early joins, and still the eager steps, with every branch delayed and every block
// poisoned.
TEST_F(CudaGraphBranches, JoiningTheOpenBranchBeforeEachForkChangesNothing) {
  set_cuda_branch_limits({.max_grad_bytes = size_t(4) << 20, .max_held_bytes = 1});
  set_cuda_poison_allocations(true);
  set_cuda_branch_delay(300'000);
  const StepRun r = expect_branched_replays_equal_eager("lenet", Opt::Sgd, 5);
  EXPECT_EQ(r.early_joins, 4u);
}

// ResNet-20 at batch 16 (every gradient under 4 MiB): 21 convolutions with batch norms between
// them and residual adds (whose gradients the compute stream adds while branches are open), all
// on channels-last memory, so each branch also copies its weight gradient back to NCHW. Delayed
// branches and poisoned blocks, with a held limit (2 MiB) that the first stage's gradients and
// inputs pass once a few branches are open (0.44 MiB each in the batch-7 graph, the one counted;
// 1 MiB at batch 16), so some forks join first.
TEST_F(CudaGraphBranches, ResNet20OnChannelsLastReplaysTheEagerStepsExactly) {
  set_channels_last_policy(ChannelsLastPolicy::On);
  set_cuda_branch_limits({.max_grad_bytes = size_t(4) << 20, .max_held_bytes = size_t(2) << 20});
  set_cuda_poison_allocations(true);
  set_cuda_branch_delay(100'000);
  const GraphSpec spec = example_spec("resnet20");
  const Shape image{3, 32, 32};
  const StepRun eager = train_steps(spec, Device::cuda(), Opt::Sgd, false, 12, 7, image);
  const StepRun graph = train_steps(spec, Device::cuda(), Opt::Sgd, true, 12, 7, image);
  EXPECT_EQ(graph.captures, 2);
  EXPECT_GT(graph.replays, 0);
  EXPECT_EQ(graph.branches, 22u);  // one per convolution (21) and the Linear head's
  EXPECT_GT(graph.early_joins, 0u);
  EXPECT_LT(graph.early_joins, 22u);
  expect_same_run(graph, eager, kTol);
}

// NOTE [Batch norm into the add] (ops/cuda/norm.cu): ResNet-20's nine residual sums computed in
// their batch norms' apply passes give the same steps, eager and replayed, as the separate Add
// kernels, and each captured step has nine kernels fewer (the add_relu kernels; neither way
// copies the sum's gradient for its second input: NOTE [Shared pending gradients]).
TEST_F(CudaGraphStep, BatchNormIntoTheAddGivesTheSameStepsWithNineKernelsFewer) {
  const GraphSpec spec = example_spec("resnet20");
  const Shape image{3, 32, 32};
  const StepRun plain =
      train_steps(spec, Device::cuda(), Opt::Sgd, true, 12, 7, image, false, false);
  const StepRun into = train_steps(spec, Device::cuda(), Opt::Sgd, true, 12, 7, image, false, true);
  EXPECT_EQ(into.captures, 2);
  expect_same_run(into, plain, 0.0);
  EXPECT_EQ(into.nodes + 9, plain.nodes);
}

// NOTE [Gradients added in place by the kernel] (autograd/autograd.h): with NG_CONV_GRAD_ADD, the
// convolution that reads a residual block's input second adds its input gradient into the one
// already waiting (cuDNN's beta = 1): the same steps, eager and replayed, and nine add kernels
// fewer per captured step (one per block).
TEST_F(CudaGraphStep,
       ConvolutionsAddingIntoTheWaitingGradientGiveTheSameStepsWithNineKernelsFewer) {
  const GraphSpec spec = example_spec("resnet20");
  const Shape image{3, 32, 32};
  const bool saved = conv_grad_add();
  set_conv_grad_add(false);
  const StepRun plain = train_steps(spec, Device::cuda(), Opt::Sgd, true, 12, 7, image, false);
  set_conv_grad_add(true);
  const StepRun into = train_steps(spec, Device::cuda(), Opt::Sgd, true, 12, 7, image, false);
  set_conv_grad_add(saved);
  EXPECT_EQ(into.captures, 2);
  expect_same_run(into, plain, kTol);
  EXPECT_EQ(into.nodes + 9, plain.nodes);
}

// The fork and join are edges of the graph, not nodes: the same kernels either way.
TEST_F(CudaGraphBranches, BranchesAddNoNodesAndAreOffWhenTurnedOff) {
  const GraphSpec spec = example_spec("lenet");
  const StepRun with = train_steps(spec, Device::cuda(), Opt::Sgd, true, 4);
  set_cuda_graph_branches(false);
  const StepRun without = train_steps(spec, Device::cuda(), Opt::Sgd, true, 4);
  EXPECT_EQ(with.branches, 5u);
  EXPECT_EQ(with.early_joins, 0u);  // LeNet's branches keep far less than 64 MiB
  EXPECT_EQ(without.branches, 0u);
  EXPECT_GT(without.replays, 0);
  EXPECT_EQ(with.nodes, without.nodes);
}

TEST_F(CudaGraphStep, DeterministicConvolutionsRepeatARunBitForBit) {
  const GraphSpec spec = example_spec("lenet");
  const StepRun a = train_steps(spec, Device::cuda(), Opt::Adam, false, kSteps);
  const StepRun b = train_steps(spec, Device::cuda(), Opt::Adam, false, kSteps);
  expect_same_run(a, b, 0.0);
}

TEST_F(CudaGraphStep, DropoutDrawsTheEagerStepsNumbersAndNewOnesOnEveryReplay) {
  const GraphSpec spec = dropout_mlp_spec(0.5);
  // Replayed and eager steps draw the same masks (the generator moves on with each replay) ...
  const StepRun eager = train_steps(spec, Device::cuda(), Opt::Sgd, false, kSteps);
  const StepRun graph = train_steps(spec, Device::cuda(), Opt::Sgd, true, kSteps);
  EXPECT_GT(graph.replays, 10);
  expect_same_run(graph, eager, kTol);
  // ... and the masks differ between replays: with lr 0 the weights stay, only dropout changes
  // the loss of the same batch.
  Model m = Model::compile(spec, 0);
  m.to(Device::cuda());
  std::vector<Tensor> params;
  for (const auto& [name, p] : m.parameters()) params.push_back(p);
  SGD o(params, {.lr = 0.0});
  TrainStep step(m, o);
  const Batches b = make_batches(5);
  std::vector<double> losses;
  for (int s = 0; s < 6; ++s) losses.push_back(step.run(b.x[0], b.y[0]).loss.item());
  EXPECT_GE(step.replays(), 4);
  for (int s = 3; s < 6; ++s) EXPECT_NE(losses[size_t(s)], losses[size_t(s) - 1]) << "step " << s;
  // The CPU draws the same masks from the same seed (NOTE [Dropout masks]).
  Model mc = Model::compile(spec, 0);
  std::vector<Tensor> pc;
  for (const auto& [name, p] : mc.parameters()) pc.push_back(p);
  SGD oc(pc, {.lr = 0.0});
  TrainStep sc(mc, oc);
  for (int s = 0; s < 6; ++s)
    EXPECT_NEAR(sc.run(b.x[0], b.y[0]).loss.item(), losses[size_t(s)], 1e-5 * losses[size_t(s)]);
}

// NOTE [Fused updates]: the multi-tensor launches (30 parameters: two launches; one of 300k
// elements: blocks that stride) update exactly as the CPU's per-parameter kernels.
TEST_F(CudaGraphStep, MultiTensorOptimizerUpdatesMatchTheCpu) {
  Rng rng(21);
  std::vector<Tensor> pc, pg;
  for (int k = 0; k < 30; ++k) {
    const int64_t n = k == 3 ? 300000 : 1 + 37 * k;
    Tensor w = Tensor::randn({n}, rng);
    pc.push_back(w.clone().set_requires_grad(true));
    pg.push_back(w.to(Device::cuda()).detach().set_requires_grad(true));
  }
  auto make = [](int which, std::vector<Tensor> ps) -> std::unique_ptr<Optimizer> {
    if (which == 0)
      return std::make_unique<SGD>(
          ps, SgdOptions{.lr = 0.1, .momentum = 0.9, .weight_decay = 1e-3, .nesterov = true});
    if (which == 1)
      return std::make_unique<Adam>(ps, AdamOptions{.lr = 0.01, .weight_decay = 1e-3});
    return std::make_unique<AdamW>(ps, AdamWOptions{.lr = 0.01});
  };
  for (int which = 0; which < 3; ++which) {
    auto oc = make(which, pc), og = make(which, pg);
    for (int step = 0; step < 4; ++step) {
      oc->set_lr(oc->lr() * 0.9);
      og->set_lr(og->lr() * 0.9);
      for (size_t k = 0; k < pc.size(); ++k) {
        Tensor g = Tensor::randn(pc[k].shape(), rng);
        pc[k].set_grad(g);
        pg[k].set_grad(g.to(Device::cuda()));
      }
      oc->step();
      og->step();
    }
    for (size_t k = 0; k < pc.size(); ++k)
      EXPECT_LE(rel_diff(pg[k].detach().to_vector<float>(), pc[k].detach().to_vector<float>()),
                1e-6)
          << "optimizer " << which << " parameter " << k;
  }
}

TEST_F(CudaGraphStep, AnOutOfRangeLabelIsReportedWithTheLayerAfterTheStep) {
  // Eager on the device: the step queues without waiting; reading the loss reports the label.
  Model m = Model::compile(example_spec("mlp"), 0);
  m.to(Device::cuda());
  std::vector<Tensor> params;
  for (const auto& [name, p] : m.parameters()) params.push_back(p);
  SGD o(params, {.lr = 0.01});
  TrainStep step(m, o);
  Batches b = make_batches(2);
  for (int s = 0; s < 4; ++s) step.run(b.x[0], b.y[0]).loss.item();  // 2 warm-ups, 2 replays
  ASSERT_GE(step.replays(), 1);
  std::vector<int64_t> lab = b.y[0].to_vector<int64_t>();
  lab[3] = 12;
  const Tensor bad = Tensor::from_vector(lab, {16});
  const auto& out = step.run(b.x[0], bad);  // replayed: no error yet
  EXPECT_TRUE(out.replayed);
  try {
    out.loss.item();
    FAIL() << "expected an error for label 12";
  } catch (const ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("label 12 in row 3 is out of range for 10 classes"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("loss"), std::string::npos) << "names the loss layer: " << msg;
  }
  // The record is cleared: good labels train on.
  EXPECT_TRUE(std::isfinite(step.run(b.x[0], b.y[0]).loss.item()));
  // The plain op reports it the same way when its loss is read.
  Tensor logits = Tensor::zeros({2, 10}, DType::Float32, Device::cuda());
  Tensor labels = Tensor::from_vector(std::vector<int64_t>{1, -1}, {2}, Device::cuda());
  Tensor loss = cross_entropy(logits, labels, 0.0, "CrossEntropyLoss 'ce'");
  try {
    cuda_check_device_errors();
    FAIL() << "expected an error for label -1";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("CrossEntropyLoss 'ce': label -1 in row 1 is out of "
                                         "range for 10 classes (expected 0 to 9)"),
              std::string::npos)
        << e.what();
  }
}

TEST_F(CudaGraphStep, GradientsAndWeightsAreReadableBetweenReplays) {
  Model m = Model::compile(example_spec("mlp"), 0);
  m.to(Device::cuda());
  std::vector<Tensor> params;
  for (const auto& [name, p] : m.parameters()) params.push_back(p);
  SGD o(params, {.lr = 0.1});
  TrainStep step(m, o);
  const Batches b = make_batches(4);
  for (int s = 0; s < 3; ++s) step.run(b.x[0], b.y[0]);
  ASSERT_TRUE(step.run(b.x[0], b.y[0]).replayed);
  // After a replay, p == p_before - lr * grad for plain SGD (no momentum).
  const std::vector<float> w0 = params[0].detach().to_vector<float>();
  ASSERT_TRUE(step.run(b.x[1], b.y[1]).replayed);
  const std::vector<float> w1 = params[0].detach().to_vector<float>();
  const std::vector<float> g = params[0].grad().to_vector<float>();
  ASSERT_EQ(g.size(), w0.size());
  double err = 0, scale = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    err = std::max(err, std::abs(double(w1[i]) - (double(w0[i]) - 0.1 * g[i])));
    scale = std::max(scale, std::abs(double(g[i])));
  }
  EXPECT_GT(scale, 0.0);
  EXPECT_LE(err, 1e-6 + 1e-6 * scale);
}

TEST_F(CudaGraphStep, TheTrainerGivesTheSameLossCurveWithAndWithoutGraphs) {
  DatasetSpec d;
  d.kind = "synthetic";
  d.generator = "spiral";
  d.size = 500;  // 400 train: 12 batches of 32 and one of 16
  d.classes = 3;
  d.noise = 0.05;
  d.seed = 0;
  d.val_fraction = 0.2;
  auto run = [&](bool graphs) {
    json nodes = json::array(), edges = json::array();
    nodes.push_back({{"id", "x"}, {"type", "Input"}, {"params", {{"shape", {2}}}}});
    nodes.push_back({{"id", "fc1"}, {"type", "Linear"}, {"params", {{"out_features", 32}}}});
    nodes.push_back({{"id", "act"}, {"type", "Tanh"}, {"params", json::object()}});
    nodes.push_back({{"id", "drop"}, {"type", "Dropout"}, {"params", {{"p", 0.1}}}});
    nodes.push_back({{"id", "fc2"}, {"type", "Linear"}, {"params", {{"out_features", 3}}}});
    nodes.push_back({{"id", "loss"}, {"type", "CrossEntropyLoss"}, {"params", json::object()}});
    edges.push_back({{"from", "x"}, {"to", "fc1"}});
    edges.push_back({{"from", "fc1"}, {"to", "act"}});
    edges.push_back({{"from", "act"}, {"to", "drop"}});
    edges.push_back({{"from", "drop"}, {"to", "fc2"}});
    edges.push_back({{"from", "fc2"}, {"to", "loss:input"}});
    Model m = Model::compile(GraphSpec::from_json({{"nodes", nodes}, {"edges", edges}}), 0);
    m.to(Device::cuda());
    TrainingData data = make_datasets(d, "");
    TrainingSpec t;
    t.optimizer.type = "Adam";
    t.optimizer.lr = 0.02;
    t.schedule.type = "one_cycle";  // a new learning rate every step
    t.schedule.max_lr = 0.05;
    t.batch_size = 32;
    t.epochs = 3;
    t.seed = 0;
    t.stats_every_steps = 0;
    TrainerOptions o;
    o.training = t;
    o.cuda_graphs = graphs;
    EventQueue q;
    Trainer tr(m, data, o, &q);
    tr.run();
    std::vector<double> step_losses;
    for (const auto& e : q.drain())
      if (auto* s = std::get_if<StepEvent>(&e)) step_losses.push_back(s->batch_metrics.loss);
    EXPECT_EQ(tr.step_runner()->replays() > 0, graphs);
    return std::make_pair(step_losses, tr.history());
  };
  const auto [eager_steps, eager_hist] = run(false);
  const auto [graph_steps, graph_hist] = run(true);
  ASSERT_EQ(graph_steps.size(), eager_steps.size());
  ASSERT_EQ(eager_steps.size(), size_t(3 * 13));
  for (size_t s = 0; s < eager_steps.size(); ++s)
    EXPECT_NEAR(graph_steps[s], eager_steps[s], kTol * std::abs(eager_steps[s])) << "step " << s;
  for (const char* k : {"train_loss", "val_loss", "val_accuracy", "lr"}) {
    ASSERT_EQ(graph_hist.at(k).size(), 3u) << k;
    for (size_t e = 0; e < 3; ++e)
      EXPECT_NEAR(graph_hist.at(k)[e], eager_hist.at(k)[e], kTol * std::abs(eager_hist.at(k)[e]))
          << k << " epoch " << e;
  }
}
