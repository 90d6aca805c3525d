// The batch size that fits (NOTE [Batch size that fits], engine/train/memory_fit.h): the
// measurement against real peaks, the model left as it was, the optimiser state still to come,
// and the Trainer's out-of-memory path end to end on a CPU "device" whose allocator has a limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/autograd/autograd.h"
#include "engine/core/allocator.h"
#include "engine/core/error.h"
#include "engine/ops/cuda/backend.h"
#ifdef NG_WITH_CUDA
#include "engine/ops/cuda/common.h"  // set_conv_algorithm_timing
#endif
#include "engine/train/datasets.h"
#include "engine/train/memory_fit.h"
#include "engine/train/trainer.h"
#include "tests/limited_allocator.h"

using namespace ng;
using namespace ng::train;
using ng::testing::CpuAllocatorSwap;
using ng::testing::LimitedAllocator;
using nlohmann::json;

namespace {

// Input [in] -> Linear(hidden) -> [BatchNorm1d] -> ReLU -> [Dropout] -> Linear(classes) -> CE.
GraphSpec wide_mlp(int64_t in, int64_t hidden, int64_t classes, bool norm_and_dropout = false) {
  json nodes = json::array(), edges = json::array();
  nodes.push_back({{"id", "x"}, {"type", "Input"}, {"params", {{"shape", {in}}}}});
  nodes.push_back({{"id", "fc1"}, {"type", "Linear"}, {"params", {{"out_features", hidden}}}});
  std::string prev = "fc1";
  auto add = [&](const std::string& id, const std::string& type, json params) {
    nodes.push_back({{"id", id}, {"type", type}, {"params", params}});
    edges.push_back({{"from", prev}, {"to", id}});
    prev = id;
  };
  edges.push_back({{"from", "x"}, {"to", "fc1"}});
  if (norm_and_dropout) add("bn", "BatchNorm", json::object());
  add("act", "ReLU", json::object());
  if (norm_and_dropout) add("drop", "Dropout", {{"p", 0.5}});
  add("fc2", "Linear", {{"out_features", classes}});
  nodes.push_back({{"id", "loss"}, {"type", "CrossEntropyLoss"}, {"params", json::object()}});
  edges.push_back({{"from", prev}, {"to", "loss:input"}});
  return GraphSpec::from_json({{"nodes", nodes}, {"edges", edges}});
}

// Peak bytes of one forward + backward at `batch`, as the Trainer's step takes it (TrainStep:
// the per-node outputs dropped before backward).
size_t measured_peak(Model& m, int64_t batch) {
  Allocator& a = allocator(Device::cpu());
  m.zero_grad();
  a.reset_peak();
  {
    RandomBatch rb = random_batch(m, batch, 7);
    Model::Result r = m.forward({rb.x}, rb.y);
    r.outputs.clear();
    r.loss.backward();
  }
  m.zero_grad();
  return a.peak_bytes_in_use();
}

DatasetSpec blobs(int64_t n) {
  DatasetSpec d;
  d.kind = "synthetic";
  d.generator = "spiral";
  d.size = n;
  d.classes = 3;
  d.noise = 0.05;
  d.seed = 0;
  d.val_fraction = 0.25;
  return d;
}

}  // namespace

TEST(MemoryFit, HostMemoryRunningOutIsAnOutOfMemoryErrorThatSaysHowMuch) {
  // The CPU's allocator says what it could not get and what the machine has, as the GPU's
  // does, so that the Trainer can name a batch that fits there too.
  Allocator& a = allocator(Device::cpu());
  const size_t before = a.bytes_in_use();
  try {
    (void)a.allocate(size_t(1) << 60);
    FAIL() << "an exbibyte was allocated";
  } catch (const OutOfMemoryError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("out of host memory: tried to allocate 1048576.0 TiB"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("available"), std::string::npos) << msg;
    EXPECT_NE(msg.find("smaller batch size"), std::string::npos) << msg;
  }
  EXPECT_EQ(a.bytes_in_use(), before);
  EXPECT_GT(a.capacity_bytes(), a.bytes_in_use());  // MemAvailable, read from /proc/meminfo
}

TEST(MemoryFit, RandomBatchIsShapedLikeTheInputAndTheLoss) {
  Model m = Model::compile(wide_mlp(12, 16, 5), 0);
  RandomBatch rb = random_batch(m, 9, 1);
  EXPECT_EQ(rb.x.shape(), (Shape{9, 12}));
  EXPECT_EQ(rb.x.dtype(), DType::Float32);
  ASSERT_EQ(rb.y.shape(), (Shape{9}));
  EXPECT_EQ(rb.y.dtype(), DType::Int64);
  for (int64_t i = 0; i < 9; ++i) {
    const int64_t c = rb.y.to_vector<int64_t>()[size_t(i)];
    EXPECT_GE(c, 0);
    EXPECT_LT(c, 5);
  }
  Model::Result r = m.forward({rb.x}, rb.y);
  EXPECT_TRUE(std::isfinite(r.loss.item()));
}

TEST(MemoryFit, TheNamedBatchIsTheLargestPowerOfTwoThatFits) {
  // Weights of ~4.2 MB (and their gradients) against ~40 KB of activations per example: both
  // parts matter. A device that holds batch 200's step within the share: 128 is named, and the
  // step really fits at 128 and not at 256.
  Model m = Model::compile(wide_mlp(512, 2048, 10), 0);
  const double share_of = double(measured_peak(m, 200));
  const BatchFit f = fit_batch_size(m, size_t(share_of / kFitShare), 0, /*failed_batch=*/512);
  EXPECT_EQ(f.batch, 128);
  EXPECT_LE(double(measured_peak(m, 128)), kFitShare * double(f.capacity_bytes));
  EXPECT_GT(double(measured_peak(m, 256)), kFitShare * double(f.capacity_bytes));
  EXPECT_GT(f.fixed_bytes, 2.0 * 4.0 * 512 * 2048 * 0.9);  // at least weights and gradients
  EXPECT_GT(f.per_example_bytes, 4.0 * 2048);              // at least the hidden activations
  const std::string d = f.describe(512);
  EXPECT_NE(d.find("A batch of 128 fits"), std::string::npos) << d;
  EXPECT_NE(d.find("512 did not"), std::string::npos) << d;
}

TEST(MemoryFit, WhereTheLineRunsLowTheNamedBatchStillFits) {
  // Wide and deep, activations dropped after their last reader (as on a GPU): at batches 4 and
  // 8 the peak comes with the weight gradients at the end of backward, at large batches with
  // every activation alive at its start, so a line through the small batches promises too
  // much. The named batch is measured, not taken from the line.
  json nodes = json::array(), edges = json::array();
  nodes.push_back({{"id", "x"}, {"type", "Input"}, {"params", {{"shape", {2}}}}});
  std::string prev = "x";
  int k = 0;
  for (int64_t width : {4096, 64, 4096, 64, 4096, 3}) {
    const std::string id = "fc" + std::to_string(++k);
    nodes.push_back({{"id", id}, {"type", "Linear"}, {"params", {{"out_features", width}}}});
    edges.push_back({{"from", prev}, {"to", id}});
    prev = id;
    if (width != 3) {
      nodes.push_back(
          {{"id", "act" + std::to_string(k)}, {"type", "ReLU"}, {"params", json::object()}});
      edges.push_back({{"from", prev}, {"to", "act" + std::to_string(k)}});
      prev = "act" + std::to_string(k);
    }
  }
  nodes.push_back({{"id", "loss"}, {"type", "CrossEntropyLoss"}, {"params", json::object()}});
  edges.push_back({{"from", prev}, {"to", "loss:input"}});
  Model m = Model::compile(GraphSpec::from_json({{"nodes", nodes}, {"edges", edges}}), 0);
  m.set_keep_outputs(false);
  // A device on which batch 1024's step just misses the share.
  const size_t capacity = size_t(double(measured_peak(m, 1024) - 1) / kFitShare);
  const BatchFit f = fit_batch_size(m, capacity, 0, /*failed_batch=*/2048);
  EXPECT_GE(f.max_batch, 1024) << "the line no longer runs low here: " << f.describe(2048);
  EXPECT_EQ(f.batch, 512) << f.describe(2048);
  EXPECT_LE(double(measured_peak(m, f.batch)), kFitShare * double(capacity));
}

TEST(MemoryFit, TheModelIsAsItWasAfterTheMeasurement) {
  Model m = Model::compile(wide_mlp(6, 32, 4, /*norm_and_dropout=*/true), 3);
  m.set_mode(Mode::Eval);
  m.set_keep_outputs(false);
  // A gradient from an earlier step, which the measurement must neither add to nor drop.
  {
    RandomBatch rb = random_batch(m, 5, 2);
    m.forward({rb.x}, rb.y).loss.backward();
  }
  std::vector<std::vector<float>> weights, grads, buffers;
  for (const auto& [n, p] : m.parameters()) {
    weights.push_back(p.to_vector<float>());
    grads.push_back(p.grad().to_vector<float>());
  }
  for (const auto& [n, b] : m.buffers())
    if (b.dtype() == DType::Float32) buffers.push_back(b.to_vector<float>());
  const uint64_t rng_offset = m.rng().offset();

  BatchFit f = fit_batch_size(m, size_t(1) << 30, 0);
  EXPECT_GT(f.batch, 0);

  size_t i = 0, k = 0;
  for (const auto& [n, p] : m.parameters()) {
    EXPECT_EQ(p.to_vector<float>(), weights[i]) << n;
    ASSERT_TRUE(p.grad().defined()) << n;
    EXPECT_EQ(p.grad().to_vector<float>(), grads[i]) << n;
    ++i;
  }
  for (const auto& [n, b] : m.buffers())
    if (b.dtype() == DType::Float32) {
      EXPECT_EQ(b.to_vector<float>(), buffers[k++]) << n;
    }
  EXPECT_EQ(m.rng().offset(), rng_offset);
  EXPECT_EQ(m.mode(), Mode::Eval);
  EXPECT_FALSE(m.keep_outputs());
}

TEST(MemoryFit, OptimiserStateStillToComeIsCounted) {
  Model m = Model::compile(wide_mlp(10, 20, 3), 0);
  std::vector<Tensor> params;
  size_t param_bytes = 0;
  for (const auto& [n, p] : m.parameters()) {
    params.push_back(p);
    param_bytes += p.nbytes();
  }
  OptimizerSpec adam;
  adam.type = "Adam";
  OptimizerSpec sgd;  // momentum 0: no buffers
  OptimizerSpec momentum;
  momentum.momentum = 0.9;
  for (const auto& [spec, buffers] :
       {std::pair{adam, 2u}, std::pair{sgd, 0u}, std::pair{momentum, 1u}}) {
    std::unique_ptr<Optimizer> o = make_optimizer(spec, params);
    EXPECT_EQ(pending_optimizer_state_bytes(*o, spec), buffers * param_bytes) << spec.type;
    // After a step every parameter has its state: nothing more to come.
    RandomBatch rb = random_batch(m, 4, 0);
    o->zero_grad();
    m.forward({rb.x}, rb.y).loss.backward();
    o->step();
    EXPECT_EQ(pending_optimizer_state_bytes(*o, spec), 0u) << spec.type;
  }
}

TEST(MemoryFit, ATrainerOutOfMemoryNamesABatchThatThenTrains) {
  // The user's path: a batch too large for the device stops the run with a message naming one
  // that fits, and a run with that batch on the same device completes.
  TrainingData d = make_datasets(blobs(1200), "");
  TrainingSpec t;
  t.optimizer.type = "Adam";
  t.batch_size = 512;
  t.epochs = 1;
  t.stats_every_steps = 0;
  TrainerOptions o;
  o.training = t;
  const GraphSpec g = wide_mlp(2, 1024, 3);

  // What batches of 32 and 512 really take, trained without a limit.
  auto run_peak = [&](int64_t batch) {
    Model m = Model::compile(g, 0);
    TrainerOptions ob = o;
    ob.training.batch_size = batch;
    Trainer tr(m, d, ob);
    allocator(Device::cpu()).reset_peak();
    tr.run();
    return allocator(Device::cpu()).peak_bytes_in_use();
  };
  const size_t p32 = run_peak(32), p512 = run_peak(512);
  ASSERT_GT(p512, p32);
  const size_t limit = p32 + (p512 - p32) / 3;

  LimitedAllocator limited(allocator(Device::cpu()), limit);
  int64_t suggested = 0;
  {
    CpuAllocatorSwap swap(&limited);
    Model m = Model::compile(g, 0);
    struct Sink : EventSink {
      std::vector<FailedEvent> failed;
      void on_event(const TrainingEvent& e) override {
        if (auto* f = std::get_if<FailedEvent>(&e)) failed.push_back(*f);
      }
    } sink;
    Trainer tr(m, d, o, &sink);
    try {
      tr.run();
      FAIL() << "batch 512 trained within " << limit << " bytes";
    } catch (const OutOfMemoryError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("test device out of memory"), std::string::npos) << msg;
      EXPECT_NE(msg.find("fits"), std::string::npos) << msg;
      EXPECT_NE(msg.find("512 did not"), std::string::npos) << msg;
    }
    ASSERT_EQ(sink.failed.size(), 1u);
    suggested = sink.failed[0].suggested_batch_size;
    EXPECT_NE(sink.failed[0].message.find("A batch of " + std::to_string(suggested) + " fits"),
              std::string::npos)
        << sink.failed[0].message;
  }
  EXPECT_GE(suggested, 32);  // 32 fits by construction; a power of two
  EXPECT_LT(suggested, 512);
  EXPECT_EQ(suggested & (suggested - 1), 0);
  {
    CpuAllocatorSwap swap(&limited);
    Model m = Model::compile(g, 0);
    o.training.batch_size = suggested;
    Trainer tr(m, d, o);
    FinishedEvent f = tr.run();
    EXPECT_EQ(f.reason, FinishReason::Completed);
  }
}

#ifdef NG_WITH_CUDA
// On a GPU: the batch named for ResNet-20 runs within the share of the device it was fitted to,
// and one well past the device's memory fails with OutOfMemoryError (not an abort), after which
// the device still trains.
TEST(CudaMemoryFit, TheNamedBatchRunsAndOneTooLargeRunsOutCleanly) {
  if (!cuda_available()) GTEST_SKIP() << "no CUDA device here: " << cuda_unavailable_reason();
  std::string f = __FILE__;  // <root>/tests/engine/test_memory_fit.cpp
  std::ifstream in(f.substr(0, f.rfind("/tests/engine/")) +
                   "/resources/examples/resnet20.graph.json");
  ASSERT_TRUE(in.good());
  json j = json::parse(in);
  if (j.contains("graph")) j = j["graph"];
  Model m = Model::compile(GraphSpec::from_json(j), 0);
  m.to(Device::cuda());
  // The heuristics choose the convolutions' algorithms: timing every one of them at tens of
  // thousands of images would take most of a minute.
  cuda::set_conv_algorithm_timing(false);
  struct TimingBack {
    ~TimingBack() { cuda::set_conv_algorithm_timing(true); }
  } timing_back;
  m.set_keep_outputs(false);  // as the Trainer runs a GPU step
  Allocator& a = allocator(Device::cuda());
  a.release_cache();
  const BatchFit fit = fit_batch_size(m, a.capacity_bytes(), 0);
  std::printf("ResNet-20 on this GPU: %s\n", fit.describe(0).c_str());
  ASSERT_GT(fit.batch, 256);

  auto step = [&](int64_t batch) {
    RandomBatch rb = random_batch(m, batch, 5);
    Model::Result r;
    m.forward({rb.x}, rb.y, r);
    r.loss.backward();
    (void)r.loss.item();
    m.zero_grad();
  };
  a.release_cache();
  a.reset_peak();
  step(fit.batch);
  EXPECT_LE(double(a.peak_bytes_in_use()), kFitShare * double(fit.capacity_bytes));

  // Twice what the estimate lets in, kept under 2^31 elements per tensor (cuDNN's limit: the
  // first stage holds 16 x 32 x 32 values per image).
  const int64_t too_many = std::min<int64_t>(2 * fit.max_batch, (int64_t(1) << 31) / 16384 - 1);
  if (double(too_many) * fit.per_example_bytes < double(fit.capacity_bytes))
    GTEST_SKIP() << "this GPU holds more than cuDNN's largest batch for ResNet-20";
  EXPECT_THROW(step(too_many), OutOfMemoryError);
  m.zero_grad();
  a.release_cache();
  step(64);  // and the device trains on
}
#endif  // NG_WITH_CUDA
