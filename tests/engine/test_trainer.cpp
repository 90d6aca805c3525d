// The Trainer: learning, metrics, the event stream, controls from another thread, checkpoints
// and exact resume, non-finite losses, schedules, and the dataset factory.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/autograd/autograd.h"
#include "engine/data/synthetic.h"
#include "engine/io/checkpoint.h"
#include "engine/ops/elementwise.h"
#include "engine/train/datasets.h"
#include "engine/train/metrics.h"
#include "engine/train/trainer.h"

using namespace ng;
using namespace ng::train;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// Input [2] -> fc1 -> act -> [dropout] -> fc2 -> act -> fc3 (classes) -> cross-entropy.
GraphSpec mlp_graph(int64_t classes, int64_t hidden = 32, double dropout = 0.0) {
  json nodes = json::array(), edges = json::array();
  nodes.push_back({{"id", "x"}, {"type", "Input"}, {"params", {{"shape", {2}}}}});
  nodes.push_back({{"id", "fc1"}, {"type", "Linear"}, {"params", {{"out_features", hidden}}}});
  nodes.push_back({{"id", "act1"}, {"type", "Tanh"}, {"params", json::object()}});
  std::string prev = "act1";
  if (dropout > 0) {
    nodes.push_back({{"id", "drop"}, {"type", "Dropout"}, {"params", {{"p", dropout}}}});
    edges.push_back({{"from", "act1"}, {"to", "drop"}});
    prev = "drop";
  }
  nodes.push_back({{"id", "fc2"}, {"type", "Linear"}, {"params", {{"out_features", hidden}}}});
  nodes.push_back({{"id", "act2"}, {"type", "Tanh"}, {"params", json::object()}});
  nodes.push_back({{"id", "fc3"}, {"type", "Linear"}, {"params", {{"out_features", classes}}}});
  nodes.push_back({{"id", "loss"}, {"type", "CrossEntropyLoss"}, {"params", json::object()}});
  edges.push_back({{"from", "x"}, {"to", "fc1"}});
  edges.push_back({{"from", "fc1"}, {"to", "act1"}});
  edges.push_back({{"from", prev}, {"to", "fc2"}});
  edges.push_back({{"from", "fc2"}, {"to", "act2"}});
  edges.push_back({{"from", "act2"}, {"to", "fc3"}});
  edges.push_back({{"from", "fc3"}, {"to", "loss:input"}});
  return GraphSpec::from_json({{"nodes", nodes}, {"edges", edges}});
}

DatasetSpec spiral_spec(int64_t n = 600, int64_t classes = 3) {
  DatasetSpec d;
  d.kind = "synthetic";
  d.generator = "spiral";
  d.size = n;
  d.classes = classes;
  d.noise = 0.05;
  d.seed = 0;
  d.val_fraction = 0.2;
  return d;
}

TrainingSpec adam_recipe(int64_t epochs, double lr = 0.01) {
  TrainingSpec t;
  t.optimizer.type = "Adam";
  t.optimizer.lr = lr;
  t.batch_size = 32;
  t.epochs = epochs;
  t.seed = 0;
  t.stats_every_steps = 0;
  return t;
}

TrainerOptions options(TrainingSpec t, std::string out_dir = "") {
  TrainerOptions o;
  o.training = std::move(t);
  o.out_dir = std::move(out_dir);
  return o;
}

// A fresh, empty folder under the test temp dir.
std::string temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() / ("ng_trainer_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::vector<float> values(const Tensor& t) {
  return t.detach().contiguous().to_vector<float>();
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  std::vector<float> x = values(a), y = values(b);
  return std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

template <class E>
std::vector<E> events_of(const std::vector<TrainingEvent>& evs) {
  std::vector<E> out;
  for (const auto& e : evs)
    if (auto* p = std::get_if<E>(&e)) out.push_back(*p);
  return out;
}

// Records every event; optionally calls stop() after a given step (on the trainer's thread).
struct Recorder : EventSink {
  std::vector<TrainingEvent> events;
  Trainer* trainer = nullptr;
  int64_t stop_after_step = -1;
  void on_event(const TrainingEvent& e) override {
    events.push_back(e);
    if (auto* s = std::get_if<StepEvent>(&e))
      if (s->step == stop_after_step && trainer) trainer->stop();
  }
};

}  // namespace

// --- metrics ---

TEST(Metrics, AccuracyAndTopKAgainstHandCountedRows) {
  // 3 samples, 7 classes (top-5 tracked). Row 0: label 2 is the max. Row 1: label 0 is the
  // 6th best (5 scores above it). Row 2: label 6 is the 5th best (4 above it).
  Tensor p = Tensor::from_vector<float>({0, 1, 9, 2, 3, 4, 5,     //
                                         1, 7, 6, 5, 4, 3, 0.5,   //
                                         9, 8, 7, 6, 0, 0, 5.5},  //
                                        {3, 7});
  Tensor y = Tensor::from_vector<int64_t>({2, 0, 6}, {3});
  MetricAccumulator acc(7);
  Metrics m = acc.add(0.5, p, y);
  EXPECT_DOUBLE_EQ(m.accuracy, 1.0 / 3);
  EXPECT_EQ(m.k, 5);
  EXPECT_DOUBLE_EQ(m.top_k, 2.0 / 3);
  EXPECT_TRUE(std::isnan(m.mse));
  // A second batch of one correct sample: the epoch is samples-weighted.
  acc.add(2.0, Tensor::from_vector<float>({0, 0, 0, 0, 0, 0, 1}, {1, 7}),
          Tensor::from_vector<int64_t>({6}, {1}));
  Metrics r = acc.result();
  EXPECT_EQ(r.samples, 4);
  EXPECT_DOUBLE_EQ(r.loss, (0.5 * 3 + 2.0) / 4);
  EXPECT_DOUBLE_EQ(r.accuracy, 2.0 / 4);
  EXPECT_DOUBLE_EQ(r.top_k, 3.0 / 4);
}

TEST(Metrics, NoTopKForFiveClassesOrFewer) {
  MetricAccumulator acc(5);
  Metrics m = acc.add(1.0, Tensor::from_vector<float>({1, 0, 0, 0, 0}, {1, 5}),
                      Tensor::from_vector<int64_t>({0}, {1}));
  EXPECT_EQ(m.k, 0);
  EXPECT_TRUE(std::isnan(m.top_k));
  EXPECT_DOUBLE_EQ(m.accuracy, 1.0);
}

TEST(Metrics, RegressionGivesMseAndNoAccuracy) {
  MetricAccumulator acc(0);
  Metrics m = acc.add(0.0, Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2}),
                      Tensor::from_vector<float>({1, 0, 3, 7}, {2, 2}));
  EXPECT_DOUBLE_EQ(m.mse, (4.0 + 9.0) / 4);
  EXPECT_TRUE(std::isnan(m.accuracy));
}

TEST(Metrics, TensorStatsMatchHandComputedValues) {
  TensorStats s = tensor_stats(Tensor::from_vector<float>({-1, 0, 0, 1, 5}, {5}), 3);
  EXPECT_DOUBLE_EQ(s.mean, 1.0);
  EXPECT_NEAR(s.std, std::sqrt((4 + 1 + 1 + 0 + 16) / 5.0), 1e-12);
  EXPECT_DOUBLE_EQ(s.min, -1);
  EXPECT_DOUBLE_EQ(s.max, 5);
  EXPECT_NEAR(s.norm, std::sqrt(27.0), 1e-12);
  // bins of width 2 over [-1, 5]: [-1, 1) holds -1, 0, 0; [1, 3) holds 1; [3, 5] holds 5
  EXPECT_EQ(s.histogram, (std::vector<int64_t>{3, 1, 1}));
  TensorStats none = tensor_stats(Tensor(), 3);
  EXPECT_EQ(none.numel, 0);
  EXPECT_TRUE(none.histogram.empty());
}

// --- schedules and optimisers from the recipe ---

TEST(LrPlan, FollowsTheDocumentedScheduleTable) {
  TrainingSpec t;
  t.optimizer.lr = 0.1;
  t.epochs = 10;
  t.schedule.type = "step";
  t.schedule.step_size = 3;
  t.schedule.gamma = 0.5;
  LrPlan step(t, 100);
  EXPECT_DOUBLE_EQ(step.lr(2, 299), 0.1);
  EXPECT_DOUBLE_EQ(step.lr(3, 300), 0.05);
  EXPECT_DOUBLE_EQ(step.lr(7, 700), 0.025);

  t.schedule.type = "cosine";
  t.schedule.eta_min = 0.0;
  LrPlan cosine(t, 100);
  EXPECT_NEAR(cosine.lr(5, 500), 0.05, 1e-12);  // half way: (1 + cos(pi/2)) / 2
  EXPECT_NEAR(cosine.lr(5, 599), 0.05, 1e-12);  // per epoch: constant within the epoch

  t.schedule.type = "constant";
  t.schedule.warmup_steps = 10;
  t.schedule.warmup_start_factor = 0.1;
  LrPlan warm(t, 100);
  EXPECT_NEAR(warm.lr(0, 0), 0.01, 1e-12);
  EXPECT_NEAR(warm.lr(0, 5), 0.1 * (0.1 + 0.9 * 0.5), 1e-12);
  EXPECT_DOUBLE_EQ(warm.lr(0, 10), 0.1);

  t.schedule = ScheduleSpec{};
  t.schedule.type = "one_cycle";
  t.schedule.max_lr = 1.0;
  t.schedule.pct_start = 0.5;
  LrPlan cycle(t, 10);  // 100 steps, peak at step 49
  EXPECT_NEAR(cycle.lr(4, 49), 1.0, 1e-12);
  EXPECT_LT(cycle.lr(0, 0), 0.05);

  t.schedule.type = "linear";
  try {
    LrPlan bad(t, 10);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("training.schedule"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("linear"), std::string::npos) << e.what();
  }
}

TEST(MakeOptimizer, BuildsEachTypeAndNamesAnUnknownOne) {
  Tensor w = Tensor::zeros({2}).set_requires_grad(true);
  OptimizerSpec s;
  for (const char* type : {"SGD", "adam", "AdamW", "RMSprop"}) {
    s.type = type;
    EXPECT_EQ(make_optimizer(s, {w})->name().size() > 0, true) << type;
  }
  s.type = "Adagrad";
  try {
    make_optimizer(s, {w});
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("training.optimizer.type"), std::string::npos) << e.what();
  }
}

// --- learning ---

TEST(Trainer, LearnsTheSpiralToHighAccuracyInAFewEpochs) {
  TrainingData d = make_datasets(spiral_spec(), "");
  Model model = Model::compile(mlp_graph(3, 64), 0);
  Trainer t(model, d, options(adam_recipe(25)));
  FinishedEvent f = t.run();
  EXPECT_EQ(f.reason, FinishReason::Completed);
  EXPECT_EQ(f.epochs_completed, 25);
  EXPECT_GE(f.final_val.accuracy, 0.95) << "val loss " << f.final_val.loss;
  EXPECT_EQ(f.final_val.samples, 120);
  EXPECT_EQ(f.monitor, "val_accuracy");
  // The history has one value per epoch, and the loss went down.
  ASSERT_EQ(t.history().at("train_loss").size(), 25u);
  EXPECT_LT(t.history().at("train_loss").back(), 0.5 * t.history().at("train_loss").front());
  // Evaluating the trained model again gives the last epoch's validation metrics.
  Metrics again = evaluate(model, d.val, 50);
  EXPECT_NEAR(again.accuracy, f.final_val.accuracy, 1e-12);
  EXPECT_NEAR(again.loss, f.final_val.loss, 1e-5);
}

TEST(Trainer, AnAutoencoderTrainsOnAClassificationSetWithItsTargetFromTheGraph) {
  // x -> fc (2 -> 2) -> MSELoss(input: fc, target: x): the labels play no part, only the loss
  // is a metric, and the monitor falls back to the validation loss.
  json nodes = json::array({{{"id", "x"}, {"type", "Input"}, {"params", {{"shape", {2}}}}},
                            {{"id", "fc"}, {"type", "Linear"}, {"params", {{"out_features", 2}}}},
                            {{"id", "loss"}, {"type", "MSELoss"}, {"params", json::object()}}});
  json edges = json::array({{{"from", "x"}, {"to", "fc"}},
                            {{"from", "fc"}, {"to", "loss:input"}},
                            {{"from", "x"}, {"to", "loss:target"}}});
  TrainingData d = make_datasets(spiral_spec(), "");
  Model model = Model::compile(GraphSpec::from_json({{"nodes", nodes}, {"edges", edges}}), 0);
  Trainer t(model, d, options(adam_recipe(15, 0.05)));
  FinishedEvent f = t.run();
  EXPECT_EQ(f.reason, FinishReason::Completed);
  EXPECT_EQ(f.monitor, "val_loss");
  EXPECT_TRUE(std::isnan(f.final_val.accuracy));
  EXPECT_LT(t.history().at("train_loss").back(), 0.1 * t.history().at("train_loss").front());
}

TEST(Trainer, RegressionReportsMseAndMonitorsTheLoss) {
  DatasetSpec s;
  s.kind = "synthetic";
  s.generator = "regression1d";  // alias of "sine"
  s.size = 200;
  s.noise = 0.05;
  TrainingData d = make_datasets(s, "");
  GraphSpec g = GraphSpec::from_json(json::parse(R"({
    "nodes": [{"id": "x", "type": "Input", "params": {"shape": [1]}},
              {"id": "fc1", "type": "Linear", "params": {"out_features": 32}},
              {"id": "act", "type": "Tanh", "params": {}},
              {"id": "fc2", "type": "Linear", "params": {"out_features": 1}},
              {"id": "loss", "type": "MSELoss", "params": {}}],
    "edges": [{"from": "x", "to": "fc1"}, {"from": "fc1", "to": "act"},
              {"from": "act", "to": "fc2"}, {"from": "fc2", "to": "loss:input"}]})"));
  Model model = Model::compile(g, 0);
  Trainer t(model, d, options(adam_recipe(20)));
  EXPECT_EQ(t.monitor(), "val_loss");  // val_accuracy does not apply to regression
  FinishedEvent f = t.run();
  EXPECT_LT(f.final_val.mse, 0.05);
  EXPECT_NEAR(f.final_val.mse, f.final_val.loss, 1e-5);  // MSELoss is the MSE
  EXPECT_TRUE(std::isnan(f.final_val.accuracy));
  EXPECT_EQ(t.history().count("val_mse"), 1u);
  EXPECT_EQ(t.history().count("val_accuracy"), 0u);
}

// --- events ---

TEST(Trainer, EventsArriveInOrder) {
  TrainingData d = make_datasets(spiral_spec(200), "");
  Model model = Model::compile(mlp_graph(3), 0);
  TrainingSpec r = adam_recipe(3);
  r.stats_every_steps = 2;
  std::string dir = temp_dir("events");
  Recorder rec;
  Trainer t(model, d, options(r, dir), &rec);
  const int64_t spe = t.steps_per_epoch();
  ASSERT_EQ(spe, 5);  // 158 training samples (80% of each class) in batches of 32
  t.run();

  const auto& ev = rec.events;
  ASSERT_FALSE(ev.empty());
  ASSERT_TRUE(std::holds_alternative<StateEvent>(ev.front()));
  EXPECT_EQ(std::get<StateEvent>(ev.front()).state, TrainerState::Running);
  ASSERT_TRUE(std::holds_alternative<FinishedEvent>(ev.back()));
  EXPECT_EQ(std::get<FinishedEvent>(ev.back()).reason, FinishReason::Completed);

  // Walk the stream: steps 1..5 of epoch 1, its EpochEvent, last.h5, [best.h5], epoch 2, ...
  int64_t step = 0, epoch = 0;
  size_t i = 1;
  for (; i + 1 < ev.size(); ++i) {
    if (auto* s = std::get_if<StepEvent>(&ev[i])) {
      ++step;
      EXPECT_EQ(s->step, step);
      EXPECT_EQ(s->epoch, epoch + 1);
      EXPECT_EQ(s->batch, (step - 1) % spe + 1);
      EXPECT_EQ(s->total_steps, 3 * spe);
      EXPECT_GT(s->samples_per_s, 0.0);
    } else if (auto* ls = std::get_if<LayerStatsEvent>(&ev[i])) {
      // Sent after the backward pass of step ls->step, before its StepEvent.
      EXPECT_EQ(ls->step, step + 1);
      EXPECT_TRUE(ls->step == 1 || ls->step % 2 == 0) << ls->step;
      ASSERT_EQ(ls->layers.size(), 6u);  // fc1..fc3, weight and bias
      EXPECT_EQ(ls->layers[0].node, "fc1");
      EXPECT_EQ(ls->layers[0].param, "weight");
      EXPECT_EQ(ls->layers[0].weight.numel, 64);
      EXPECT_EQ(ls->layers[0].grad.numel, 64);
      EXPECT_EQ(ls->layers[0].weight.histogram.size(), 32u);
    } else if (auto* e = std::get_if<EpochEvent>(&ev[i])) {
      ++epoch;
      EXPECT_EQ(e->epoch, epoch);
      EXPECT_EQ(step, epoch * spe);  // every step of the epoch came first
      EXPECT_EQ(e->val.samples, d.val->size());
      EXPECT_EQ(e->train.samples, d.train->size());
      // then last.h5, then best.h5 when improved
      ASSERT_TRUE(std::holds_alternative<CheckpointEvent>(ev[i + 1]));
      const auto& c = std::get<CheckpointEvent>(ev[i + 1]);
      EXPECT_EQ(c.kind, CheckpointKind::Last);
      EXPECT_EQ(c.path, (fs::path(dir) / "last.h5").string());
      EXPECT_EQ(c.epoch, epoch);
      if (e->improved) {
        ASSERT_TRUE(std::holds_alternative<CheckpointEvent>(ev[i + 2]));
        EXPECT_EQ(std::get<CheckpointEvent>(ev[i + 2]).kind, CheckpointKind::Best);
      }
    }
  }
  EXPECT_EQ(epoch, 3);
  EXPECT_EQ(step, 3 * spe);
  EXPECT_TRUE(events_of<EpochEvent>(ev).front().improved);    // the first epoch is a best
  EXPECT_EQ(events_of<LayerStatsEvent>(ev).size(), 1u + 7u);  // step 1 and steps 2, 4, ..., 14
  EXPECT_TRUE(events_of<FailedEvent>(ev).empty());

  // The checkpoint holds the run: counters, history, the monitored best.
  Checkpoint c = load_checkpoint((fs::path(dir) / "last.h5").string());
  EXPECT_EQ(c.training.epoch, 3);
  EXPECT_EQ(c.training.step, 15);
  EXPECT_EQ(c.training.history.at("val_accuracy").size(), 3u);
  EXPECT_EQ(c.training.best_metric_name, "val_accuracy");
  EXPECT_EQ(c.optimizer.type, "adam");
  EXPECT_EQ(c.weights.size(), 6u);
  EXPECT_TRUE(fs::exists(fs::path(dir) / "best.h5"));
}

// --- controls from another thread ---

TEST(Trainer, PauseStepResumeAndStopFromAnotherThread) {
  TrainingData d = make_datasets(spiral_spec(600), "");
  Model model = Model::compile(mlp_graph(3), 0);
  std::string dir = temp_dir("controls");
  EventQueue q;
  Trainer t(model, d, options(adam_recipe(1000), dir), &q);
  t.pause();  // start paused
  std::vector<TrainingEvent> seen;
  auto wait_for = [&](auto pred, const char* what) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
      bool found = false;
      for (auto& e : q.wait_and_drain(20)) {  // keep the whole batch, then say if it matched
        seen.push_back(e);
        found = found || pred(e);
      }
      if (found) return;
    }
    FAIL() << "timed out waiting for " << what;
  };
  auto is_state = [](TrainerState s) {
    return [s](const TrainingEvent& e) {
      auto* st = std::get_if<StateEvent>(&e);
      return st && st->state == s;
    };
  };
  auto steps_seen = [&] { return events_of<StepEvent>(seen).size(); };

  std::thread worker([&] {
    try {
      t.run();
    } catch (...) {
    }
  });
  wait_for(is_state(TrainerState::Paused), "Paused");
  EXPECT_EQ(t.state(), TrainerState::Paused);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& e : q.drain()) seen.push_back(e);
  EXPECT_EQ(steps_seen(), 0u);  // paused before the first step

  // Three single steps: exactly three steps, still paused.
  for (int k = 1; k <= 3; ++k) {
    t.step_once();
    wait_for([&](const TrainingEvent& e) { return std::holds_alternative<StepEvent>(e); },
             "a single step");
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& e : q.drain()) seen.push_back(e);
  EXPECT_EQ(steps_seen(), 3u);
  EXPECT_EQ(t.state(), TrainerState::Paused);

  // Resume: steps flow again.
  t.resume();
  wait_for(is_state(TrainerState::Running), "Running");
  wait_for([&](const TrainingEvent&) { return steps_seen() >= 20; }, "20 steps");

  // Pause again: the steps stop.
  t.pause();
  wait_for(is_state(TrainerState::Paused), "Paused again");
  const size_t at_pause = steps_seen();
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  for (auto& e : q.drain()) seen.push_back(e);
  EXPECT_EQ(steps_seen(), at_pause);

  // Stop a paused run: it finishes as Stopped and writes last.h5 where it stopped.
  t.stop();
  wait_for([](const TrainingEvent& e) { return std::holds_alternative<FinishedEvent>(e); },
           "Finished");
  worker.join();
  auto fin = events_of<FinishedEvent>(seen);
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].reason, FinishReason::Stopped);
  EXPECT_EQ(fin[0].steps, int64_t(at_pause));
  auto ck = events_of<CheckpointEvent>(seen);
  ASSERT_FALSE(ck.empty());
  EXPECT_EQ(ck.back().kind, CheckpointKind::Stopped);
  EXPECT_EQ(load_checkpoint(ck.back().path).training.step, int64_t(at_pause));
  EXPECT_EQ(t.state(), TrainerState::Finished);
}

// --- exact resume ---

namespace {

struct RunResult {
  std::vector<std::pair<std::string, std::vector<float>>> weights;
  std::map<std::string, std::vector<double>> history;
  Checkpoint state;
};

// Trains the spiral MLP (with dropout, SGD with momentum) for `epochs`, optionally restoring a
// checkpoint first and optionally stopping after a step.
RunResult train_run(int64_t epochs, const std::string& out_dir, const std::string& restore,
                    int64_t stop_after_step = -1, uint64_t compile_seed = 0) {
  TrainingData d = make_datasets(spiral_spec(300), "");
  Model model = Model::compile(mlp_graph(3, 32, 0.2), compile_seed);
  TrainingSpec r = adam_recipe(epochs);
  r.optimizer.type = "SGD";
  r.optimizer.lr = 0.05;
  r.optimizer.momentum = 0.9;
  r.schedule.type = "step";  // per-epoch decay, identical for both lengths of run
  r.schedule.step_size = 2;
  r.schedule.gamma = 0.5;
  r.batch_size = 16;  // 240 / 16 = 15 steps per epoch
  Recorder rec;
  rec.stop_after_step = stop_after_step;
  Trainer t(model, d, options(r, out_dir), &rec);
  rec.trainer = &t;
  if (!restore.empty()) t.restore(restore);
  t.run();
  RunResult res;
  for (const auto& [name, p] : model.parameters()) res.weights.push_back({name, values(p)});
  res.history = t.history();
  res.state = t.checkpoint();
  return res;
}

void expect_same_run(const RunResult& a, const RunResult& b) {
  ASSERT_EQ(a.weights.size(), b.weights.size());
  for (size_t i = 0; i < a.weights.size(); ++i) {
    ASSERT_EQ(a.weights[i].first, b.weights[i].first);
    ASSERT_EQ(a.weights[i].second.size(), b.weights[i].second.size());
    EXPECT_EQ(std::memcmp(a.weights[i].second.data(), b.weights[i].second.data(),
                          a.weights[i].second.size() * sizeof(float)),
              0)
        << a.weights[i].first << " differs";
  }
  // Optimizer state (momentum buffers) and counters too.
  ASSERT_EQ(a.state.optimizer.params.size(), b.state.optimizer.params.size());
  for (size_t i = 0; i < a.state.optimizer.params.size(); ++i)
    for (const auto& [k, v] : a.state.optimizer.params[i].tensors)
      EXPECT_TRUE(bitwise_equal(v, b.state.optimizer.params[i].tensors.at(k)))
          << a.state.optimizer.params[i].qualified_name() << " " << k;
  EXPECT_EQ(a.state.training.step, b.state.training.step);
  EXPECT_EQ(a.state.training.rng_offset, b.state.training.rng_offset);
  for (const auto& [name, series] : a.history)
    if (name != "epoch_s") {  // wall time differs
      EXPECT_EQ(series, b.history.at(name)) << name;
    }
}

}  // namespace

TEST(Trainer, ResumeAfterNEpochsGivesBitwiseIdenticalWeights) {
  RunResult whole = train_run(5, "", "");
  std::string dir = temp_dir("resume_epoch");
  RunResult first = train_run(2, dir, "");
  ASSERT_EQ(load_checkpoint(dir + "/last.h5").training.epoch, 2);
  // Compiled with another seed: every weight must come from the checkpoint.
  RunResult rest = train_run(5, dir, dir + "/last.h5", -1, /*compile_seed=*/99);
  expect_same_run(whole, rest);
  // And the run really did move on from the checkpoint.
  EXPECT_NE(std::memcmp(first.weights[0].second.data(), rest.weights[0].second.data(),
                        first.weights[0].second.size() * sizeof(float)),
            0);
}

TEST(Trainer, ResumeMidEpochAfterStopGivesBitwiseIdenticalWeights) {
  RunResult whole = train_run(3, "", "");
  std::string dir = temp_dir("resume_mid");
  train_run(3, dir, "", /*stop_after_step=*/22);  // epoch 2, batch 7 of 15
  Checkpoint c = load_checkpoint(dir + "/last.h5");
  EXPECT_EQ(c.training.epoch, 1);
  EXPECT_EQ(c.training.step, 22);
  EXPECT_EQ(c.training.history.count("epoch_partial"), 1u);
  RunResult rest = train_run(3, dir, dir + "/last.h5", -1, 99);
  expect_same_run(whole, rest);
}

TEST(Trainer, RestoreRefusesACheckpointOfAnotherGraph) {
  std::string dir = temp_dir("other_graph");
  TrainingData d = make_datasets(spiral_spec(200), "");
  {
    Model m = Model::compile(mlp_graph(3, 32), 0);
    Trainer t(m, d, options(adam_recipe(1), dir));
    t.run();
  }
  Model wider = Model::compile(mlp_graph(3, 16), 0);
  Trainer t(wider, d, options(adam_recipe(2)));
  try {
    t.restore(dir + "/last.h5");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("last.h5"), std::string::npos) << msg;
    EXPECT_NE(msg.find("fc1/weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[16, 2]"), std::string::npos) << msg;
  }
}

// --- early stopping ---

TEST(Trainer, EarlyStoppingEndsARunThatStopsImproving) {
  TrainingData d = make_datasets(spiral_spec(200), "");
  Model model = Model::compile(mlp_graph(3), 0);
  TrainingSpec r = adam_recipe(10, /*lr=*/0.0);  // nothing changes after epoch 1
  r.early_stopping_patience = 2;
  Recorder rec;
  Trainer t(model, d, options(r), &rec);
  FinishedEvent f = t.run();
  EXPECT_EQ(f.reason, FinishReason::EarlyStopped);
  EXPECT_EQ(f.epochs_completed, 3);  // best at 1; 2 and 3 without improvement
  EXPECT_EQ(f.best_epoch, 1);
  EXPECT_EQ(events_of<EpochEvent>(rec.events).size(), 3u);
}

// --- failures ---

TEST(Trainer, NonFiniteLossNamesTheFirstNonFiniteNodeInTopologicalOrder) {
  // Nodes listed in reverse: GraphSpec order is not the order they run in.
  GraphSpec g = GraphSpec::from_json(json::parse(R"({
    "nodes": [{"id": "loss", "type": "CrossEntropyLoss", "params": {}},
              {"id": "fc3", "type": "Linear", "params": {"out_features": 3}},
              {"id": "act2", "type": "ReLU", "params": {}},
              {"id": "fc2", "type": "Linear", "params": {"out_features": 8}},
              {"id": "act1", "type": "ReLU", "params": {}},
              {"id": "fc1", "type": "Linear", "params": {"out_features": 8}},
              {"id": "x", "type": "Input", "params": {"shape": [2]}}],
    "edges": [{"from": "x", "to": "fc1"}, {"from": "fc1", "to": "act1"},
              {"from": "act1", "to": "fc2"}, {"from": "fc2", "to": "act2"},
              {"from": "act2", "to": "fc3"}, {"from": "fc3", "to": "loss:input"}]})"));
  Model model = Model::compile(g, 0);
  // fc1's outputs reach ~1e20 (finite in float32); fc2 multiplies by 1e20 again: inf.
  for (auto& [name, p] : model.parameters()) {
    Tensor w = p.detach();
    if (name == "fc1/weight" || name == "fc2/weight") fill_(w, 1e20);
  }
  TrainingData d = make_datasets(spiral_spec(200), "");
  Recorder rec;
  Trainer t(model, d, options(adam_recipe(1)), &rec);
  try {
    t.run();
    FAIL() << "no error";
  } catch (const NonFiniteError& e) {
    EXPECT_EQ(e.node, "fc2");
    std::string msg = e.what();
    EXPECT_NE(msg.find("'fc2' (Linear)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("epoch 1, step 1"), std::string::npos) << msg;
  }
  auto failed = events_of<FailedEvent>(rec.events);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].node, "fc2");
  EXPECT_TRUE(events_of<FinishedEvent>(rec.events).empty());
  EXPECT_EQ(t.state(), TrainerState::Failed);
}

TEST(Trainer, AHugeLearningRateStopsWithANamedNode) {
  TrainingData d = make_datasets(spiral_spec(200), "");
  Model model = Model::compile(mlp_graph(3), 0);
  TrainingSpec r = adam_recipe(50);
  r.optimizer.type = "SGD";
  r.optimizer.lr = 1e38;
  Trainer t(model, d, options(r));
  try {
    t.run();
    FAIL() << "no error";
  } catch (const NonFiniteError& e) {
    EXPECT_NE(model.analysis().find(e.node), nullptr) << e.what();
    EXPECT_NE(std::string(e.what()).find("'" + e.node + "'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("learning rate"), std::string::npos);
  }
}

TEST(Trainer, DataThatDoesNotFitTheGraphIsNamed) {
  TrainingData d = make_datasets(spiral_spec(200, 4), "");  // 4 classes, samples [2]
  Model three = Model::compile(mlp_graph(3), 0);
  try {
    Trainer t(three, d, options(adam_recipe(1)));
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("'fc3' gives 3 class scores"), std::string::npos) << msg;
    EXPECT_NE(msg.find("4 classes"), std::string::npos) << msg;
  }
  GraphSpec g = GraphSpec::from_json(json::parse(R"({
    "nodes": [{"id": "img", "type": "Input", "params": {"shape": [3]}},
              {"id": "fc", "type": "Linear", "params": {"out_features": 4}},
              {"id": "loss", "type": "CrossEntropyLoss", "params": {}}],
    "edges": [{"from": "img", "to": "fc"}, {"from": "fc", "to": "loss:input"}]})"));
  Model wrong_input = Model::compile(g, 0);
  try {
    Trainer t(wrong_input, d, options(adam_recipe(1)));
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("Input 'img' expects samples of shape [3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[2]"), std::string::npos) << msg;
  }
}

// --- dataset factory ---

TEST(MakeDatasets, SplitsASyntheticSetAtRandomAndKeepsItStable) {
  TrainingData a = make_datasets(spiral_spec(500), "");
  TrainingData b = make_datasets(spiral_spec(500), "");
  ASSERT_TRUE(a.val);
  EXPECT_EQ(a.train->size() + a.val->size(), 500);
  EXPECT_NEAR(double(a.val->size()), 100.0, 3.0);
  std::vector<float> x(2), y(2);
  for (int64_t i = 0; i < a.val->size(); i += 17) {
    a.val->copy_features(i, x.data());
    b.val->copy_features(i, y.data());
    EXPECT_EQ(x, y);
  }
  DatasetSpec none = spiral_spec(100);
  none.val_fraction = 0.0;
  EXPECT_EQ(make_datasets(none, "").val, nullptr);
}

TEST(MakeDatasets, MissingMnistSaysHowToGetIt) {
  DatasetSpec s;
  s.kind = "mnist";
  s.path = "no/such/folder";
  try {
    make_datasets(s, temp_dir("no_mnist"));
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("fetch_mnist.sh"), std::string::npos) << msg;
    EXPECT_NE(msg.find("no/such/folder"), std::string::npos) << msg;
  }
}

TEST(MakeDatasets, UnknownKindNamesTheField) {
  DatasetSpec s;
  s.kind = "imagenet";
  try {
    make_datasets(s, "");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("dataset.kind"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("imagenet"), std::string::npos) << e.what();
  }
}

TEST(MakeDatasets, ImageFolderWithoutSizeUsesTheStoredSizeAndChannels) {
  // Two classes of 3 x 2 grey images, written as binary PGM (stb_image reads PNM).
  fs::path root = temp_dir("image_folder");
  for (const char* cls : {"a", "b"}) {
    fs::create_directories(root / cls);
    for (int k = 0; k < 2; ++k) {
      std::ofstream f(root / cls / ("img" + std::to_string(k) + ".pgm"), std::ios::binary);
      f << "P5\n3 2\n255\n";
      const unsigned char px[6] = {0, 50, 100, 150, 200, 250};
      f.write(reinterpret_cast<const char*>(px), 6);
    }
  }
  DatasetSpec s;
  s.kind = "image_folder";
  s.path = root.filename().string();  // relative to the "project" folder
  s.val_fraction = 0.0;
  TrainingData d = make_datasets(s, root.parent_path().string());
  EXPECT_EQ(d.train->sample_shape(), (Shape{1, 2, 3}));
  EXPECT_EQ(d.train->size(), 4);
  s.channels = 3;
  s.image_size = {4, 6};
  d = make_datasets(s, root.parent_path().string());
  EXPECT_EQ(d.train->sample_shape(), (Shape{3, 4, 6}));
}
