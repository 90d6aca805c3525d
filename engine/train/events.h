// Training events: what the Trainer reports while it runs, as plain value types, so that a sink
// on another thread (the GUI's queue, the CLI's progress bar, a test) can keep them after the
// trainer has moved on. The Trainer calls EventSink::on_event on its own thread, in this order:
//
//   StateEvent(Running)
//   per epoch:
//     per step: [LayerStatsEvent (step 1 and every training.stats_every_steps)], StepEvent,
//               [CheckpointEvent(Timed)]
//     EpochEvent, [CheckpointEvent(Last)], [CheckpointEvent(Best)]
//   ... StateEvent(Paused) / StateEvent(Running) around a pause (single steps while paused send
//       only their step's events) ...
//   [CheckpointEvent(Stopped)], then FinishedEvent, or FailedEvent            (exactly one)
//
//   ng::train::EventQueue q;                       // thread-safe: drain it from any thread
//   ng::train::Trainer t(model, data, options, &q);
//   std::thread worker([&] { t.run(); });
//   for (const TrainingEvent& e : q.drain())       // e.g. on a 30 Hz timer
//     if (auto* ep = std::get_if<EpochEvent>(&e)) plot(ep->epoch, ep->val.accuracy);
#pragma once

#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <limits>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

namespace ng::train {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Metrics over a set of samples (a batch, an epoch's training batches, the validation set).
// A metric that does not apply is NaN: accuracy and top-k for regression, mse for
// classification.
struct Metrics {
  double loss = kNaN;      // mean loss per sample
  double accuracy = kNaN;  // fraction of samples whose top class is the label
  double top_k = kNaN;     // fraction whose label is among the k best classes
  int64_t k = 0;           // the k of top_k: 5 where there are more than 5 classes, else 0
  double mse = kNaN;       // mean squared error per target value (regression)
  int64_t samples = 0;
};

enum class TrainerState { Idle, Running, Paused, Stopping, Finished, Failed };
const char* trainer_state_name(TrainerState s);

// The run changed state (Running after start or resume, Paused when a pause took effect).
struct StateEvent {
  TrainerState state = TrainerState::Idle;
  int64_t epoch = 0;  // the epoch in progress, 1-based
  int64_t step = 0;   // global optimiser steps done
};

// One optimiser step done.
struct StepEvent {
  int64_t epoch = 0;              // 1-based epoch this step belongs to
  int64_t batch = 0;              // 1-based batch within the epoch
  int64_t batches_per_epoch = 0;  //
  int64_t step = 0;               // global optimiser steps done (this one included)
  int64_t total_steps = 0;        // steps of the whole run (all epochs)
  double lr = 0.0;                // the learning rate this step used
  Metrics batch_metrics;          // this batch, before the update
  Metrics running;                // the epoch so far
  double samples_per_s = 0.0;     // training throughput over the epoch so far
  double elapsed_s = 0.0;         // wall time since run() started
};

// One epoch done: its training metrics (accumulated over the epoch's batches, while the weights
// changed) and the validation metrics after it (eval mode, no gradients).
struct EpochEvent {
  int64_t epoch = 0;  // 1-based, = epochs completed
  int64_t epochs = 0;
  int64_t step = 0;
  double lr = 0.0;  // at the epoch's last step
  Metrics train;
  Metrics val;              // samples == 0 when there is no validation set
  std::string monitor;      // the monitored metric, e.g. "val_accuracy"
  double monitored = kNaN;  // its value this epoch
  bool improved = false;    // a new best
  double epoch_s = 0.0;     // wall time of the epoch, validation included
  double elapsed_s = 0.0;
};

// Summary statistics of one tensor. The histogram has equal-width bins over [min, max] of the
// finite values (non-finite values are not counted in it).
struct TensorStats {
  double mean = kNaN, std = kNaN, min = kNaN, max = kNaN;
  double norm = kNaN;  // L2 norm
  int64_t numel = 0;
  std::vector<int64_t> histogram;  // counts; empty for an undefined tensor
};

// Weight and gradient statistics of every trainable parameter after the backward pass of step
// `step` (before the optimiser update), every training.stats_every_steps steps.
struct LayerStats {
  std::string node;   // node id, e.g. "conv1"
  std::string param;  // e.g. "weight"
  TensorStats weight;
  TensorStats grad;  // numel 0 when the parameter got no gradient
};
struct LayerStatsEvent {
  int64_t epoch = 0;
  int64_t step = 0;
  std::vector<LayerStats> layers;  // in Model::parameters() order
};

enum class CheckpointKind {
  Last,     // last.h5 at the end of an epoch (policy every_epoch)
  Best,     // best.h5, the monitored metric improved (policy best)
  Timed,    // last.h5 mid-epoch (policy every_minutes)
  Stopped,  // last.h5 when the run was stopped
};
const char* checkpoint_kind_name(CheckpointKind k);

struct CheckpointEvent {
  CheckpointKind kind = CheckpointKind::Last;
  std::string path;
  int64_t epoch = 0;  // completed epochs
  int64_t step = 0;
};

enum class FinishReason { Completed, EarlyStopped, Stopped };
const char* finish_reason_name(FinishReason r);

struct FinishedEvent {
  FinishReason reason = FinishReason::Completed;
  int64_t epochs_completed = 0;
  int64_t steps = 0;
  double wall_s = 0.0;
  std::string last_checkpoint;  // empty when none was written
  std::string best_checkpoint;
  std::string monitor;
  double best_metric = kNaN;
  int64_t best_epoch = -1;  // 1-based; -1 when none
  Metrics final_train, final_val;
};

// The run failed; run() rethrows the exception after sending this.
struct FailedEvent {
  std::string message;
  std::string node;  // the node id involved, when known (e.g. the first non-finite output)
  int64_t epoch = 0;
  int64_t step = 0;
  // Out of device memory: the run's batch size, and one that fits (NOTE [Batch size that
  // fits]); 0 otherwise.
  int64_t batch_size = 0;
  int64_t suggested_batch_size = 0;
};

using TrainingEvent = std::variant<StateEvent, StepEvent, EpochEvent, LayerStatsEvent,
                                   CheckpointEvent, FinishedEvent, FailedEvent>;

// Receives events on the trainer's thread. An implementation must return quickly (it holds up
// training) and must not call back into the trainer's run loop (control calls are fine).
class EventSink {
 public:
  virtual ~EventSink() = default;
  virtual void on_event(const TrainingEvent& e) = 0;
};

// A thread-safe queue of events: the trainer pushes, any thread drains.
class EventQueue : public EventSink {
 public:
  void on_event(const TrainingEvent& e) override;
  // Every event queued so far, oldest first; empties the queue.
  std::vector<TrainingEvent> drain();
  // Waits up to `timeout_ms` for at least one event, then drains.
  std::vector<TrainingEvent> wait_and_drain(int timeout_ms);

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TrainingEvent> q_;
};

}  // namespace ng::train
