// TrainingUi: "click to train" in the main window. It owns the TrainingController and puts its
// controls into the window: a Train menu and toolbar (Train F5, Pause F6, Resume, Step F10,
// Stop Shift+F5; the device: auto, CPU or the GPU by name with its memory; the learning rate,
// applied while a run is active; the optimiser, changed while paused; progress and state), the
// Plots dock (MetricsDashboard), the Insights dock (weight and gradient histograms over time), the
// Training log dock, a checkpoint status line, and the canvas overlays (failure badge,
// gradient-norm halos). While a run is active the graph is read-only (GraphLock). Every engine
// event reaches the views once per controller tick, and the plots replot once per tick.
//   MainWindow w;                 // creates its TrainingUi
//   w.training()->train();        // = F5
//   w.training()->controller()->state();
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QPointer>
#include <QString>
#include <memory>
#include <vector>

#include "app/gui/training/training_controller.h"

class QAction;
class QComboBox;
class QDockWidget;
class QLabel;
class QLineEdit;
class QMessageBox;
class QPlainTextEdit;
class QProgressBar;
class QToolBar;

namespace ng::gui {

class MainWindow;
class MetricsDashboard;
class InsightsPanel;
class NodeOverlays;
class GraphLock;
class RunsPanel;
class InsightEngine;
struct RunSnapshot;

class TrainingUi : public QObject {
  Q_OBJECT
 public:
  explicit TrainingUi(MainWindow* window);
  ~TrainingUi() override;

  TrainingController* controller() const { return controller_; }
  MetricsDashboard* dashboard() const { return dashboard_; }
  InsightsPanel* insights() const { return insights_; }
  NodeOverlays* overlays() const { return overlays_; }
  GraphLock* graphLock() const { return lock_; }
  InsightEngine* insightEngine() const { return engine_; }
  RunsPanel* runs() const { return runs_; }
  QPlainTextEdit* log() const { return log_; }
  QLabel* checkpointLabel() const { return checkpointLabel_; }
  QComboBox* deviceBox() const { return device_; }
  QLineEdit* learningRateField() const { return lrField_; }
  QAction* trainAction() const { return train_; }
  QAction* pauseAction() const { return pause_; }
  QAction* resumeAction() const { return resume_; }
  QAction* stepAction() const { return step_; }
  QAction* stopAction() const { return stop_; }
  QAction* optimizerAction() const { return optimizer_; }
  QAction* settingsAction() const { return settings_; }
  QDockWidget* plotsDock() const { return plotsDock_; }
  // After a run ran out of device memory with a batch size that fits (FailedEvent::
  // suggested_batch_size): the open prompt offering it, else null.
  QMessageBox* batchPrompt() const { return batchPrompt_; }

  // Where runs go ("" : next to the project file, in runs/). Tests point it elsewhere.
  void setRunsRoot(const QString& dir) {
    runsRoot_ = dir;
    updateRunsFolder();
  }
  // Engine threads for runs started here (0: the engine's default).
  void setThreads(int n) { threads_ = n; }

  // F5: starts a run of the graph on the canvas (Idle/Failed), or resumes a paused one. False
  // when it cannot start (the reason is in the log and the status bar).
  bool train();
  // Starts a run paused and takes one step (Step from Idle).
  bool trainOneStep();
  // Continues a run from a checkpoint file (its run folder receives the new checkpoints).
  bool resumeFrom(const QString& checkpoint);
  // "Load weights": a checkpoint whose weights start the next runs (checked against the graph
  // now; "" clears it). False, with the reason in the log, when it does not fit the graph.
  bool setStartWeights(const QString& checkpoint);
  const QString& startWeights() const { return startWeights_; }
  // While paused: the optimiser dialog (modal), then TrainingController::setOptimizer.
  void editOptimizer();
  // While no run is active: the training settings dialog (modal), then the project's recipe.
  void editSettings();
  // The run ran out of memory at `failedBatch`; `batch` fits: a prompt that sets it as the
  // project's batch size.
  void offerBatchSize(qint64 batch, qint64 failedBatch);
  // The node a failure message names: FailedEvent.node, else the first 'quoted' node id.
  QString nodeNamedIn(const QString& message, const QString& node) const;

 private:
  bool startRun(bool paused, const QString& resume = {});
  void updateRunsFolder();
  void showPlots();
  void buildActions();
  void buildDocks();
  void onStateChanged(TrainingController::State now, TrainingController::State before);
  void onEvents(const std::vector<ng::train::TrainingEvent>& events);
  void onFailed(const QString& message, const QString& node);
  void onCheckpoint(const QString& path, const QString& kind, qint64 epoch, qint64 step);
  void appendLog(const QString& text, int level);
  void updateActions();
  void applyLearningRate();
  void updateDevices();
  void updateSnapshots();
  void updateProgress();

  MainWindow* window_;
  TrainingController* controller_;
  MetricsDashboard* dashboard_ = nullptr;
  InsightsPanel* insights_ = nullptr;
  NodeOverlays* overlays_ = nullptr;
  GraphLock* lock_ = nullptr;
  InsightEngine* engine_ = nullptr;
  std::shared_ptr<const RunSnapshot> snapshot_;  // the newest copy of the weights
  QPlainTextEdit* log_ = nullptr;
  QLabel* checkpointLabel_ = nullptr;
  QLabel* stateLabel_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QComboBox* device_ = nullptr;
  QLineEdit* lrField_ = nullptr;
  QToolBar* toolbar_ = nullptr;
  QAction *train_ = nullptr, *pause_ = nullptr, *resume_ = nullptr, *step_ = nullptr,
          *stop_ = nullptr, *optimizer_ = nullptr, *settings_ = nullptr;
  QPointer<QMessageBox> batchPrompt_;
  QString lastFailure_;  // the last run's failure message, for the batch prompt's details
  QDockWidget *plotsDock_ = nullptr, *logDock_ = nullptr, *insightsDock_ = nullptr,
              *runsDock_ = nullptr;
  RunsPanel* runs_ = nullptr;
  QString runsRoot_, startWeights_;
  QElapsedTimer sinceHalos_, sinceLabels_;
  ng::train::StepEvent lastStep_;  // the newest, for the labels
  int threads_ = 0;
};

}  // namespace ng::gui
