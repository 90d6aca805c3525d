// Trainer::set_lr: changing the learning rate of a run from another thread (the GUI's "pause,
// change the learning rate, resume").
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "engine/graph/graph_spec.h"
#include "engine/train/datasets.h"
#include "engine/train/trainer.h"

using namespace ng;
using namespace ng::train;
using nlohmann::json;

namespace {

// Input [2] -> fc1 (16) -> tanh -> fc2 (3) -> cross-entropy.
GraphSpec small_mlp() {
  json nodes = json::array(), edges = json::array();
  nodes.push_back({{"id", "x"}, {"type", "Input"}, {"params", {{"shape", {2}}}}});
  nodes.push_back({{"id", "fc1"}, {"type", "Linear"}, {"params", {{"out_features", 16}}}});
  nodes.push_back({{"id", "act"}, {"type", "Tanh"}, {"params", json::object()}});
  nodes.push_back({{"id", "fc2"}, {"type", "Linear"}, {"params", {{"out_features", 3}}}});
  nodes.push_back({{"id", "loss"}, {"type", "CrossEntropyLoss"}, {"params", json::object()}});
  edges.push_back({{"from", "x"}, {"to", "fc1"}});
  edges.push_back({{"from", "fc1"}, {"to", "act"}});
  edges.push_back({{"from", "act"}, {"to", "fc2"}});
  edges.push_back({{"from", "fc2"}, {"to", "loss:input"}});
  return GraphSpec::from_json({{"nodes", nodes}, {"edges", edges}});
}

TrainingData spiral() {
  DatasetSpec d;
  d.kind = "synthetic";
  d.generator = "spiral";
  d.size = 300;
  d.classes = 3;
  d.val_fraction = 0.0;
  return make_datasets(d, ".");
}

TrainerOptions recipe(const std::string& schedule, double lr) {
  TrainerOptions o;
  o.training.optimizer.type = "SGD";
  o.training.optimizer.momentum = 0.9;
  o.training.optimizer.lr = lr;
  o.training.schedule.type = schedule;
  o.training.schedule.gamma = 0.5;
  o.training.schedule.step_size = 1;
  o.training.batch_size = 30;  // 10 steps per epoch
  o.training.epochs = 3;
  o.training.stats_every_steps = 0;
  return o;
}

// The learning rate of every step, in order.
std::vector<double> step_lrs(EventQueue& q) {
  std::vector<double> lrs;
  for (const TrainingEvent& e : q.drain())
    if (auto* s = std::get_if<StepEvent>(&e)) lrs.push_back(s->lr);
  return lrs;
}

}  // namespace

TEST(TrainerSetLr, WhilePausedTheNextStepsUseTheNewLearningRate) {
  Model m = Model::compile(small_mlp(), 0);
  EventQueue q;
  Trainer t(m, spiral(), recipe("constant", 0.1), &q);
  t.pause();
  std::thread worker([&] { t.run(); });
  t.step_once();
  t.step_once();
  // Wait until both single steps are done (two StepEvents), then change the rate and resume.
  std::vector<double> lrs;
  while (lrs.size() < 2)
    for (const TrainingEvent& e : q.wait_and_drain(1000))
      if (auto* s = std::get_if<StepEvent>(&e)) lrs.push_back(s->lr);
  t.set_lr(0.025);
  t.resume();
  worker.join();
  std::vector<double> rest = step_lrs(q);
  ASSERT_EQ(lrs.size() + rest.size(), 30u);
  EXPECT_DOUBLE_EQ(lrs[0], 0.1);
  EXPECT_DOUBLE_EQ(lrs[1], 0.1);
  for (double lr : rest) EXPECT_DOUBLE_EQ(lr, 0.025);
}

TEST(TrainerSetLr, TheScheduleContinuesFromTheNewBase) {
  // step schedule, gamma 0.5 per epoch: epoch e uses base * 0.5^e. Set before the run: the
  // whole run follows the new base.
  Model m = Model::compile(small_mlp(), 0);
  EventQueue q;
  Trainer t(m, spiral(), recipe("step", 0.1), &q);
  t.set_lr(0.4);
  t.run();
  std::vector<double> lrs = step_lrs(q);
  ASSERT_EQ(lrs.size(), 30u);
  EXPECT_DOUBLE_EQ(lrs[0], 0.4);
  EXPECT_DOUBLE_EQ(lrs[10], 0.2);
  EXPECT_DOUBLE_EQ(lrs[29], 0.1);
}

TEST(TrainerSetLr, TheOptimizerTakesTheNewRateAndBadValuesAreRefused) {
  Model m = Model::compile(small_mlp(), 0);
  EventQueue q;
  Trainer t(m, spiral(), recipe("constant", 0.1), &q);
  EXPECT_THROW(t.set_lr(-1.0), ValueError);
  EXPECT_THROW(t.set_lr(std::nan("")), ValueError);
  t.pause();
  std::thread worker([&] { t.run(); });
  t.step_once();
  int steps = 0;
  while (steps < 1)
    for (const TrainingEvent& e : q.wait_and_drain(1000))
      steps += std::holds_alternative<StepEvent>(e);
  t.set_lr(0.05);
  t.step_once();
  while (steps < 2)
    for (const TrainingEvent& e : q.wait_and_drain(1000))
      steps += std::holds_alternative<StepEvent>(e);
  t.stop();
  worker.join();
  Checkpoint c = t.checkpoint();
  EXPECT_DOUBLE_EQ(c.optimizer.hyper.at("lr"), 0.05);
  // SGD with momentum: the buffers of the steps before the change are kept.
  ASSERT_FALSE(c.optimizer.params.empty());
  EXPECT_TRUE(c.optimizer.params[0].tensors.count("momentum_buffer"));
}
