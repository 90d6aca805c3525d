// TrainingController: the bridge between the GUI and the training engine. It trains a copy of
// the project on a worker thread (std::thread running ng::train::Trainer), takes the user's
// commands (train, pause, resume, single step, stop, change the learning rate) without ever
// waiting for the engine, and hands the engine's events back on the GUI thread: the trainer
// pushes them into a lock-free EventChannel that a QTimer drains at ~30 Hz; each tick emits
// eventsReady() once with everything that arrived, so views update (and replot) once per tick.
//
// States (NOTE [Training states]):
//
//   Idle ──start()──▶ Running ──pause()/step()──▶ Paused ──resume()──▶ Running
//     ▲                 │  ▲                        │ step(): one batch, stays Paused
//     │                 │  └────────────────────────┘
//     │            stop()│ (also from Paused)             the run ends by itself (completed,
//     │                 ▼                                 early stopping): Running ──▶ Idle
//     └──────────── Stopping  (the worker writes last.h5 where it stopped, then ends)
//   Failed: an engine error (bad data for the graph, a non-finite loss, a failed checkpoint
//   write) ended the run; failed() carries the message and the node. start() leaves it.
//
// Commands take effect at once in state(); the trainer applies them between two steps. A stop
// during a checkpoint write waits for the write (the file stays whole) on the worker, never on
// the GUI. The destructor stops the run and joins the worker.
//
//   TrainingController c;
//   connect(&c, &TrainingController::eventsReady, plots, &Dashboard::addEvents);
//   c.start(model->project(), {.projectFile = "spiral-mlp.ngraph"});   // Running
//   c.pause();  c.setLearningRate(0.003);  c.resume();
//   c.pause();  c.setOptimizer({.type = "Adam", .lr = 1e-3});  c.resume();   // fresh Adam state
//   c.stop();   // Stopping, then Idle once last.h5 is written; lastCheckpoint() names it
#pragma once

#include <QObject>
#include <QString>
#include <QTimer>
#include <memory>
#include <thread>
#include <vector>

#include "engine/io/project.h"
#include "engine/train/events.h"

namespace ng::gui {

class EventChannel;
struct RunSnapshot;

class TrainingController : public QObject {
  Q_OBJECT
 public:
  enum class State { Idle, Running, Paused, Stopping, Failed };
  Q_ENUM(State)

  struct RunOptions {
    QString projectFile;       // its folder resolves dataset paths and holds runs/; "" for none
    QString dataDir;           // resolves dataset paths instead, where set (an example's folder)
    QString runDir;            // "" -> <project folder>/runs/<project name>-<yyyyMMdd-HHmmss>
    QString resumeFrom;        // a checkpoint to continue (weights, optimiser, epoch, history)
    QString weightsFrom;       // a checkpoint whose weights start the run (a fresh optimiser)
    QString device = "auto";   // auto | cpu | cuda
    int threads = 0;           // engine threads for this run; 0: the engine's default
    bool startPaused = false;  // wait for resume() or step() before the first step
  };

  explicit TrainingController(QObject* parent = nullptr);
  ~TrainingController() override;

  State state() const { return state_; }
  bool active() const {
    return state_ == State::Running || state_ == State::Paused || state_ == State::Stopping;
  }

  // Idle/Failed -> Running (or Paused with startPaused). Copies the project; the run's files go
  // to runDir(). False, with lastError(), when a run is active or the device is unavailable.
  bool start(const ng::ProjectSpec& project, const RunOptions& options);
  void pause();                     // Running -> Paused
  void resume();                    // Paused -> Running
  void step();                      // Running/Paused -> Paused after one more batch
  void stop();                      // Running/Paused -> Stopping -> Idle
  void setLearningRate(double lr);  // Running/Paused: the schedule's base from the next step
  // Running/Paused (e.g. while paused): the optimiser's type and hyper-parameters from the next
  // step on. The same type keeps its state (momentum buffers, Adam moments); another type starts
  // with fresh state, which the log says. False, with a warning in the log, for a bad value.
  bool setOptimizer(const ng::OptimizerSpec& spec);
  // The optimiser of the run (the project's until setOptimizer/setLearningRate change it).
  const ng::OptimizerSpec& optimizer() const { return optimizer_; }

  // Copies of the weights for the insight views, taken between two steps at most every `ms`
  // milliseconds (and at the end of the run); 0 (the default): none. snapshotReady() hands
  // out the newest, once per tick.
  void setSnapshotInterval(int ms);
  int snapshotInterval() const { return snapshotMs_; }

  // Drains the channel now (the timer does it ~30 times a second).
  void poll();
  void setTickInterval(int ms) { timer_.setInterval(ms); }
  int tickInterval() const { return timer_.interval(); }

  QString runDir() const { return runDir_; }
  QString lastCheckpoint() const { return lastCheckpoint_; }
  QString bestCheckpoint() const { return bestCheckpoint_; }
  QString lastError() const { return lastError_; }
  // The last step's learning rate and the run's batches per epoch (0 before the first step).
  double learningRate() const { return lr_; }
  int64_t stepsPerEpoch() const { return stepsPerEpoch_; }
  int64_t globalStep() const { return globalStep_; }
  int64_t epochsDone() const { return epochsDone_; }
  int64_t eventsReceived() const { return eventsReceived_; }

  // Whether this build and machine can train on a device ("auto", "cpu", "cuda", "cuda:N"), and
  // why not. "auto" is the GPU when there is one (ng::cuda_available()), else the CPU.
  static bool deviceAvailable(const QString& device, QString* why = nullptr);
  // "An H200 (sm_90, 139.8 GiB), ..." with its free memory, or why there is no GPU.
  static QString gpuDescription();
  static QString stateName(State s);

 signals:
  void stateChanged(ng::gui::TrainingController::State now,
                    ng::gui::TrainingController::State before);
  // Everything that arrived since the last tick, oldest first (once per tick).
  void eventsReady(const std::vector<ng::train::TrainingEvent>& events);
  // A line for the log: level 0 info, 1 warning, 2 error.
  void message(const QString& text, int level);
  void checkpointWritten(const QString& path, const QString& kind, qint64 epoch, qint64 step);
  // The run failed: the engine's message and the node it names ("" when none).
  void failed(const QString& message, const QString& node);
  // The run ran out of device memory, and the engine measured a batch size that fits (NOTE
  // [Batch size that fits] in engine/train/memory_fit.h); after failed().
  void batchSizeSuggested(qint64 batch, qint64 failedBatch);
  // The run ended without an error: "completed", "early_stopped" or "stopped".
  void finished(const QString& reason);
  // A new copy of the weights (see setSnapshotInterval).
  void snapshotReady(std::shared_ptr<const ng::gui::RunSnapshot> snapshot);

 public:
  struct Shared;  // with the worker (training_controller.cpp)

 private:
  void setState(State s);
  void handle(const ng::train::TrainingEvent& e);
  void finishRun();

  State state_ = State::Idle;
  QTimer timer_;
  std::shared_ptr<Shared> shared_;
  std::thread worker_;
  QString runDir_, lastCheckpoint_, bestCheckpoint_, lastError_;
  bool sawFailure_ = false;
  double lr_ = 0.0;
  int64_t stepsPerEpoch_ = 0, globalStep_ = 0, epochsDone_ = 0, eventsReceived_ = 0;
  int snapshotMs_ = 0;
  uint64_t snapSeq_ = 0;
  ng::OptimizerSpec optimizer_;
};

}  // namespace ng::gui
