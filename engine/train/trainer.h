// Trainer: runs a project's training recipe (TrainingSpec) on a compiled Model and its datasets:
// epochs of optimiser steps, train and validation metrics, the learning-rate schedule, gradient
// clipping, early stopping, HDF5 checkpoints (last.h5, best.h5) and an event stream. run()
// blocks; the control calls (pause, resume, stop, step_once) may come from any thread and take
// effect between two steps.
//
//   ProjectSpec p = load_project(path);
//   TrainingData d = make_datasets(p.dataset, project_dir);
//   Model model = Model::compile(p.graph, p.training.seed);
//   EventQueue events;
//   Trainer t(model, d, {.training = p.training, .out_dir = "runs/lenet-1"}, &events);
//   t.restore("runs/lenet-0/last.h5");      // optional: continue that run exactly
//   std::thread worker([&] { t.run(); });     // GUI: drain `events` on a timer; t.pause() ...
//
// Learning-rate schedule (training.schedule, base lr = optimizer.lr), with e the 0-based epoch
// and s the 0-based global step:
//   constant     lr                                           set once
//   step         lr * gamma^floor(e / step_size)              per epoch
//   exponential  lr * gamma^e                                 per epoch
//   cosine       eta_min + (lr - eta_min)(1 + cos(pi e / epochs)) / 2   per epoch
//   one_cycle    OneCycleLR(max_lr, epochs * batches, pct_start) at s   per step
//   warmup_steps > 0 multiplies any of them, per step, by
//                start_factor + (1 - start_factor) * s / warmup_steps   while s < warmup_steps.
// Schedules that span the run (cosine, one_cycle) use training.epochs as the run's length.
//
// Epochs: training.epochs is the run's total; a restored run continues from its completed
// epochs (and step, mid-epoch) up to that total.
//
// Checkpoints (training.checkpoint, written to out_dir; none when out_dir is empty):
//   every_epoch    last.h5 after each epoch
//   best           best.h5 when the monitored metric improves (val_accuracy: higher is better;
//                  *_loss, *_mse: lower). Without a validation set val_* monitors train_*;
//                  for regression *_accuracy monitors *_loss.
//   every_minutes  last.h5 mid-epoch once that long has passed since the last write
//   stop()         last.h5 where the run stopped (even mid-epoch), so it can be resumed
// Each holds weights, buffers, the optimiser state, epoch, step, the model's Rng state, the best
// metric and the history (per-epoch series train_loss, train_accuracy, train_top5, train_mse,
// val_*, lr, epoch_s; plus "epoch_partial", the running sums of an epoch cut short).
// Resuming is exact: on the CPU, N + M epochs in one run and N epochs, then a restore and M more,
// give bitwise identical weights (the DataLoader's order is a function of (seed, epoch), and the
// dropout draws continue from the saved Rng state).
//
// Early stopping: training.early_stopping_patience > 0 stops the run once that many epochs passed
// without a new best of the monitored metric.
//
// On a GPU a step never waits for the device (train/step_graph.h): it is replayed as a CUDA
// graph after two warm-up steps (TrainerOptions::cuda_graphs, NG_CUDA_GRAPHS=0 turns it off;
// gradient clipping and layer-statistics steps run eagerly), its batch crosses on a copy stream
// while the previous step computes, and its loss and prediction come back asynchronously, so
// StepEvents trail the GPU by a step or two. All of a run's steps are read back before anything
// that needs them: epoch ends, checkpoints, pause and stop. A non-finite loss (or a bad label)
// found there stops the run naming the step it came from.
//
// Precision (training.precision): "float32", or "bf16" mixed precision on a CUDA device
// (NOTE [Autocast], engine/ops/autocast.h: run() holds an AutocastScope, so training steps and
// validation use bf16 products while weights, optimiser state and checkpoints stay float32).
// The constructor refuses "bf16" for a model on the CPU.
//
// Failure: an ng::Error (bad data for the graph, a non-finite loss, a failed checkpoint write)
// is sent as FailedEvent, then run() rethrows it. A non-finite loss throws NonFiniteError naming
// the first node, in topological order, whose output is not finite.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "engine/io/checkpoint.h"
#include "engine/io/project.h"
#include "engine/nn/model.h"
#include "engine/ops/autocast.h"
#include "engine/optim/lr_schedule.h"
#include "engine/optim/optimizer.h"
#include "engine/train/datasets.h"
#include "engine/train/events.h"
#include "engine/train/memory_fit.h"
#include "engine/train/metrics.h"
#include "engine/train/step_graph.h"

namespace ng::train {

struct TrainerOptions {
  TrainingSpec training;
  std::string out_dir;      // checkpoints go here (created when needed); empty: none written
  std::string graph_json;   // the graph stored in checkpoints; empty: model.spec().to_json()
  int prefetch = 2;         // DataLoader prefetch depth (0: no background thread)
  int stats_bins = 32;      // histogram bins of LayerStatsEvent
  bool cuda_graphs = true;  // on a GPU, replay steps as CUDA graphs (also needs NG_CUDA_GRAPHS)
};

// A loss (or an output before it) became inf or NaN.
class NonFiniteError : public Error {
 public:
  NonFiniteError(const std::string& msg, std::string node) : Error(msg), node(std::move(node)) {}
  std::string node;  // the first node whose output is not finite
};

// The optimiser a recipe names (SGD | Adam | AdamW | RMSprop, case-insensitive), over `params`.
// Throws ng::Error naming training.optimizer.type for an unknown one, ValueError for bad values.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& spec, std::vector<Tensor> params);

// The learning rate of the recipe's schedule (see the table above) at 0-based epoch e and
// global step s. Throws ng::Error naming training.schedule.type for an unknown type.
class LrPlan {
 public:
  LrPlan(const TrainingSpec& t, int64_t steps_per_epoch);
  double lr(int64_t epoch, int64_t step) const;

 private:
  std::shared_ptr<LrSchedule> sched_;
  bool per_step_ = false;
  int64_t warmup_ = 0, total_steps_ = 0;
  double start_factor_ = 1.0;
};

// True when the loss node's "target" port is wired from the graph (an autoencoder compares its
// output with its own input): then the dataset's labels are not used and only the loss is a
// metric.
bool loss_target_from_graph(const GraphAnalysis& a);

// Loss and metrics of `model` over `ds` in eval mode without gradients (the model's mode is
// restored after). `norm` as the training DataLoader used.
Metrics evaluate(Model& model, const data::DatasetPtr& ds, int64_t batch_size,
                 const data::Normalization& norm = {}, int prefetch = 2);

// Copies a checkpoint's weights and buffers into `model`. Throws ng::Error naming `source` and
// the parameter when one is missing, extra or of another shape.
void load_weights(Model& model, const Checkpoint& c, const std::string& source);

class Trainer {
 public:
  // Checks that the data fits the graph (one Input whose shape is the samples' shape, as many
  // class scores as classes) and builds the optimiser; throws ng::Error naming the node and the
  // dataset otherwise. `model` and `sink` must outlive the trainer. The trainer reseeds the
  // model's Rng with training.seed (the run's one seed: dropout draws and DataLoader order).
  Trainer(Model& model, TrainingData data, TrainerOptions options, EventSink* sink = nullptr);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Continues the run saved in a checkpoint (call before run()): weights, buffers, optimiser
  // state, epoch and step, the Rng state (its seed becomes the run's seed), best metric and
  // history. Throws ng::Error naming the file when it does not fit the model or the optimiser.
  void restore(const std::string& checkpoint_path);

  // Trains until training.epochs epochs are done, early stopping or stop(). Sends events to the
  // sink; returns the FinishedEvent it sent. On failure sends FailedEvent and rethrows. Once.
  FinishedEvent run();

  // Thread-safe controls, checked between steps. pause() holds the run before its next step;
  // resume() continues; step_once() runs exactly one more step and then holds (from a paused or
  // a running state); stop() ends the run (also a paused one) and writes last.h5. Each may be
  // called before run(): a run started paused waits for resume() or step_once().
  void pause();
  void resume();
  void step_once();
  void stop();
  // Thread-safe, like the controls: from the next step on, the schedule runs from base learning
  // rate `lr` (training.optimizer.lr; for one_cycle, schedule.max_lr), e.g. while paused. The
  // optimiser keeps its state (momentum, Adam moments). Throws ValueError for a negative or
  // non-finite lr.
  void set_lr(double lr);
  // Thread-safe, like set_lr: from the next step on, the optimiser is `spec` (type and
  // hyper-parameters; spec.lr becomes the schedule's base as with set_lr). The same type keeps
  // its state (momentum buffers, Adam moments, step counts); another type starts fresh. Throws
  // ng::Error (unknown type) or ValueError (a bad value) at once, changing nothing.
  void set_optimizer(const OptimizerSpec& spec);
  TrainerState state() const { return state_.load(); }

  // The state to save, as save_checkpoint takes it (the trainer's own thread, or after run()).
  Checkpoint checkpoint() const;

  Model& model() { return model_; }
  Optimizer& optimizer() { return *optim_; }
  // The step runner of the run in progress (null before run()): captures, replays.
  const TrainStep* step_runner() const { return step_runner_.get(); }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t epochs_completed() const { return epoch_; }
  int64_t global_step() const { return step_; }
  const std::map<std::string, std::vector<double>>& history() const { return history_; }
  // The metric that early stopping and best.h5 follow, after the fallbacks above.
  const std::string& monitor() const { return monitor_; }
  Precision precision() const { return precision_; }

 private:
  void check_data_fits() const;
  // After an OutOfMemoryError: the batch size that fits (NOTE [Batch size that fits]);
  // capacity_bytes 0 where none can be given.
  BatchFit fit_after_out_of_memory();
  void emit(const TrainingEvent& e);
  bool gate();  // between steps: false when the run must stop
  void train_step(const data::Batch& b);
  // A step whose loss is (or will be) on the host: its metrics and StepEvent.
  struct PendingStep {
    Tensor targets;  // host
    int64_t epoch = 0, batch = 0, step = 0;
    double lr = 0.0;
    std::unique_ptr<HostReadback> readback;  // GPU: loss and prediction on their way
    Tensor loss, prediction;                 // CPU: the values themselves
  };
  void finish_step(PendingStep& p);
  // GPU: finishes the steps whose values arrived (all of them when `all`).
  void drain_steps(bool all);
  void emit_layer_stats();
  bool end_epoch();  // true when early stopping ends the run
  void save(CheckpointKind kind);
  // `step`: the 1-based global step it happened in; `outputs`: that step's node outputs when
  // still there (they name the first node that is not finite).
  [[noreturn]] void non_finite(const std::string& what, int64_t step,
                               const std::vector<Tensor>* outputs = nullptr);
  double metric_value(const Metrics& train, const Metrics& val) const;

  Model& model_;
  TrainingData data_;
  TrainerOptions options_;
  EventSink* sink_;
  std::unique_ptr<Optimizer> optim_;
  std::vector<Tensor> params_;
  int64_t num_classes_ = 0;
  int64_t steps_per_epoch_ = 0;
  std::unique_ptr<LrPlan> lr_plan_;
  uint64_t data_seed_ = 0;
  std::string monitor_;
  bool monitor_higher_ = true;
  Precision precision_ = Precision::Float32;

  // Progress (the run's thread).
  int64_t epoch_ = 0;           // completed epochs
  int64_t step_ = 0;            // global optimiser steps
  int64_t batch_in_epoch_ = 0;  // batches done in the epoch in progress
  MetricAccumulator train_acc_;
  std::map<std::string, std::vector<double>> history_;
  double best_ = kNaN;
  int64_t best_epoch_ = -1;  // 1-based
  double lr_ = 0.0;
  std::unique_ptr<TrainStep> step_runner_;
  std::deque<PendingStep> pending_;                       // GPU steps not read back yet
  std::vector<std::unique_ptr<HostReadback>> readbacks_;  // free ones, reused
  double t0_ = 0.0, last_save_ = 0.0, epoch_t0_ = 0.0;
  int64_t epoch_samples_ = 0;
  std::string last_path_, best_path_;  // written by this run
  bool ran_ = false;
  bool validating_ = false;  // an OutOfMemoryError now is validation's, not a training step's
  Metrics last_train_, last_val_;

  // Controls (any thread).
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> pause_{false}, stop_{false};
  int single_steps_ = 0;  // guarded by mu_
  double new_lr_ = 0.0;   // guarded by mu_; taken by the next step when lr_changed_
  std::atomic<bool> lr_changed_{false};
  OptimizerSpec new_optim_;  // guarded by mu_; taken by the next step when optim_changed_
  std::atomic<bool> optim_changed_{false};
  std::atomic<TrainerState> state_{TrainerState::Idle};
};

}  // namespace ng::train
