// TrainStep: one training step — zero grad, forward, loss, backward, optimiser update — as the
// Trainer and the step benchmark run it. On the CPU it is the plain eager step. On a GPU it
// never waits for the device, and after warm-up it is one CUDA graph per batch shape:
//   - each batch crosses on the copy stream from pinned memory (DeviceUploader) while the
//     previous step computes;
//   - the first `warmup_steps` steps of a batch shape run eagerly (they also create the
//     optimiser's state, the cuBLAS/cuDNN handles and algorithm choices); the next one is
//     captured (NOTE [CUDA graphs] in ops/cuda/backend.h) with its inputs in static device
//     buffers, and from then on each step copies the batch into those buffers and replays;
//   - a new shape (the short last batch of an epoch) gets its own graph; at most `max_graphs`
//     are kept (the least recently used is dropped);
//   - the learning rate and Adam's step counts are written to device memory before each
//     replay (Optimizer::prepare_replay), dropout's Philox offsets move on with each replay, so
//     changing them never needs a new capture;
//   - after a replay every parameter's grad() is the gradient of that step, the loss and the
//     prediction are output(), so anything that reads them between steps (the GUI's layer views,
//     the stats events) sees what an eager step would have left.
// A step with a hook (gradient clipping, layer statistics), with graphs off (NG_CUDA_GRAPHS=0 or
// StepOptions::cuda_graphs = false) or whose capture fails runs eagerly; eager and replayed
// steps may alternate freely, since both update the same parameters and optimiser state.
//
//   TrainStep step(model, optimizer, {.cuda_graphs = true});
//   for (auto& b : batches) {
//     optimizer.set_lr(schedule(s));
//     const TrainStep::Output& out = step.run(b.inputs, b.targets);  // out.loss on the device
//   }
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/nn/model.h"
#include "engine/ops/cuda/backend.h"
#include "engine/optim/optimizer.h"

namespace ng::train {

struct StepOptions {
  // Capture steps as CUDA graphs on a GPU (also needs NG_CUDA_GRAPHS unset or 1).
  bool cuda_graphs = true;
  // Eager steps of a batch shape before its capture (>= 1). Two, so that every kernel the
  // capture records has run once (SGD's first update initialises its momentum buffers with
  // per-parameter kernels; the later ones use the multi-tensor launch).
  int warmup_steps = 2;
  int max_graphs = 4;  // batch shapes whose graphs are kept
};

class TrainStep {
 public:
  TrainStep(Model& model, Optimizer& optimizer, StepOptions options = {});
  ~TrainStep();
  TrainStep(const TrainStep&) = delete;
  TrainStep& operator=(const TrainStep&) = delete;

  struct Output {
    Tensor loss;        // [] on the model's device
    Tensor prediction;  // what entered the loss (the logits), when the graph has one
    bool replayed = false;
  };
  // Optional work inside the step; a step with any of them runs eagerly.
  struct Hooks {
    // After forward, before backward (e.g. a host check of the loss; outputs are still there).
    std::function<void(Model::Result&)> after_forward;
    // After backward, before the update (gradient clipping, statistics of the gradients).
    std::function<void()> after_backward;
  };

  // One step on a batch: inputs for the model's Input node and labels (CPU or device tensors).
  // Returns the step's outputs, valid until the next run() (device values are not waited for).
  const Output& run(const Tensor& inputs, const Tensor& labels, const Hooks& hooks = {});

  // True when this step object captures CUDA graphs (a GPU model and graphs on).
  bool graphs_enabled() const { return graphs_; }
  // Turns capture off from now on (and drops the graphs), e.g. for an eager-only feature.
  void disable_graphs();
  // Drops every captured graph (after the parameters or the optimiser's state were replaced).
  void reset();

  int64_t captures() const { return captures_; }
  int64_t replays() const { return replays_; }
  // Kernel and copy nodes of the most recently used captured graph (0 when none): what one
  // replayed step launches, for benchmarks.
  size_t graph_nodes() const;
  // Weight-gradient branches in the latest captured step, and its early joins (NOTE
  // [Weight-gradient branches]).
  size_t graph_branches() const;
  size_t graph_early_joins() const;
  // Why capture was turned off ("" while it is on or was never on).
  const std::string& disabled_reason() const { return disabled_reason_; }

 private:
  struct Entry;
  void eager(const Tensor& x, const Tensor& y, const Hooks& hooks);
  Entry& entry_for(const Tensor& x, const Tensor& y);
  void capture(Entry& e, const Tensor& x, const Tensor& y);
  const CudaGraph* latest_graph() const;  // the most recently used captured graph, or null
  void replay(Entry& e);

  Model& model_;
  Optimizer& optim_;
  StepOptions opts_;
  bool graphs_ = false;
  Model::Result result_;
  Output out_;
  std::unique_ptr<DeviceUploader> uploader_;
  std::list<std::unique_ptr<Entry>> entries_;  // most recently used first
  int64_t captures_ = 0, replays_ = 0;
  std::string disabled_reason_;
};

}  // namespace ng::train
