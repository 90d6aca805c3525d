#include "app/gui/training/training_ui.h"

#include <QAction>
#include <QApplication>
#include <QComboBox>
#include <QDateTime>
#include <QDockWidget>
#include <QDoubleValidator>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QSettings>
#include <QStandardItemModel>
#include <QStatusBar>
#include <QStyle>
#include <QTabWidget>
#include <QTimer>
#include <QToolBar>
#include <cmath>

#include "app/gui/main_window.h"
#include "app/gui/training/graph_lock.h"
#include "app/gui/training/insight_engine.h"
#include "app/gui/training/insights_panel.h"
#include "app/gui/training/metrics_dashboard.h"
#include "app/gui/training/node_overlays.h"
#include "app/gui/training/optimizer_dialog.h"
#include "app/gui/training/runs_panel.h"
#include "app/gui/training/training_settings_dialog.h"
#include "engine/io/checkpoint.h"
#include "engine/nn/model.h"
#include "engine/ops/cuda/backend.h"
#pragma push_macro("emit")
#undef emit
#include "engine/train/trainer.h"  // load_weights
#pragma pop_macro("emit")
#include "widgets/nodegraph/model/graph_model.h"
#include "widgets/nodegraph/view/node_scene.h"
#include "widgets/nodegraph/view/node_view.h"

namespace ng::gui {

using namespace ng::train;
using State = TrainingController::State;

TrainingUi::TrainingUi(MainWindow* window)
    : QObject(window), window_(window), controller_(new TrainingController(this)) {
  setObjectName("trainingUi");
  overlays_ = new NodeOverlays(window_->scene());
  lock_ = new GraphLock(window_);
  buildDocks();
  buildActions();

  connect(controller_, &TrainingController::stateChanged, this, &TrainingUi::onStateChanged);
  connect(controller_, &TrainingController::eventsReady, this, &TrainingUi::onEvents);
  connect(controller_, &TrainingController::message, this, &TrainingUi::appendLog);
  connect(controller_, &TrainingController::failed, this, &TrainingUi::onFailed);
  connect(controller_, &TrainingController::batchSizeSuggested, this, &TrainingUi::offerBatchSize);
  // The idle learning-rate field shows the project's rate, which the settings dialog changes.
  connect(window_->model(), &GraphModel::trainingChanged, this, &TrainingUi::updateActions);
  connect(controller_, &TrainingController::checkpointWritten, this, &TrainingUi::onCheckpoint);
  // An edit after a run: the failure badge and the gradient halos described the old graph.
  connect(window_->model(), &GraphModel::analysisChanged, this, [this] {
    if (!controller_->active()) overlays_->clear();
  });
  connect(window_->model(), &GraphModel::modelReset, this, &TrainingUi::updateActions);
  // (queued: MainWindow learns the file's name after the model is reset)
  connect(window_->model(), &GraphModel::modelReset, this, &TrainingUi::updateRunsFolder,
          Qt::QueuedConnection);
  connect(runs_, &RunsPanel::overlayRequested, dashboard_, &MetricsDashboard::addOverlay);
  connect(runs_, &RunsPanel::resumeRequested, this, [this](const QString& c) { resumeFrom(c); });
  connect(runs_, &RunsPanel::weightsRequested, this, [this](const QString& c) {
    if (setStartWeights(c)) train();
  });

  // Insight views: weight snapshots while someone looks, evaluated off the GUI thread.
  engine_ = new InsightEngine(this);
  connect(controller_, &TrainingController::snapshotReady, this,
          [this](std::shared_ptr<const RunSnapshot> s) {
            snapshot_ = std::move(s);
            if (insights_->wantsSnapshots()) {
              engine_->submit(snapshot_);
              insights_->showSnapshot(snapshot_);
            }
          });
  connect(insights_, &InsightsPanel::snapshotsWantedChanged, this, &TrainingUi::updateSnapshots);
  connect(insights_, &InsightsPanel::imageDrawn, engine_, &InsightEngine::classifyImage);
  connect(engine_, &InsightEngine::confusionReady, insights_, &InsightsPanel::showConfusion);
  connect(engine_, &InsightEngine::boundaryReady, insights_, &InsightsPanel::showBoundary);
  connect(engine_, &InsightEngine::imageClassified, insights_, &InsightsPanel::showGuess);
  connect(engine_, &InsightEngine::unavailable, insights_, &InsightsPanel::showUnavailable);
  connect(engine_, &InsightEngine::mistakesReady, insights_, &InsightsPanel::showMistakes);
  connect(engine_, &InsightEngine::activationsReady, insights_, &InsightsPanel::showActivations);
  connect(insights_, &InsightsPanel::inspectRequested, this,
          [this](qint64 sample, const QString& node) { engine_->inspect(sample, node); });
  // The node selected on the canvas is the one whose activations are shown.
  connect(window_->scene(), &QGraphicsScene::selectionChanged, this, [this] {
    const QStringList ids = window_->scene()->selectedNodeIds();
    if (ids.size() == 1) insights_->selectNode(ids.first());
  });
  updateActions();
}

TrainingUi::~TrainingUi() {
  // The controller stops and joins its worker; then nothing may touch the scene any more.
  controller_->disconnect(this);
  delete controller_;
  controller_ = nullptr;
  delete engine_;  // joins the insight thread
  engine_ = nullptr;
}

void TrainingUi::updateSnapshots() {
  const bool want = insights_->wantsSnapshots();
  engine_->setViews(insights_->wantedViews());
  controller_->setSnapshotInterval(want ? 300 : 0);
  if (want && snapshot_) {
    engine_->submit(snapshot_);
    insights_->showSnapshot(snapshot_);
  }
}

// ---- building ------------------------------------------------------------------------------

void TrainingUi::buildActions() {
  QStyle* st = QApplication::style();
  train_ = new QAction(st->standardIcon(QStyle::SP_MediaPlay), tr("&Train"), this);
  train_->setObjectName("trainAction");
  train_->setShortcut(QKeySequence(Qt::Key_F5));
  train_->setToolTip(tr("Train the graph on its dataset (F5); resumes a paused run"));
  pause_ = new QAction(st->standardIcon(QStyle::SP_MediaPause), tr("&Pause"), this);
  pause_->setObjectName("pauseAction");
  pause_->setShortcut(QKeySequence(Qt::Key_F6));
  pause_->setToolTip(tr("Pause before the next step (F6)"));
  resume_ = new QAction(st->standardIcon(QStyle::SP_MediaSeekForward), tr("&Resume"), this);
  resume_->setObjectName("resumeAction");
  resume_->setToolTip(tr("Continue the paused run (F5)"));
  step_ = new QAction(st->standardIcon(QStyle::SP_MediaSkipForward), tr("S&tep"), this);
  step_->setObjectName("stepAction");
  step_->setShortcut(QKeySequence(Qt::Key_F10));
  step_->setToolTip(tr("Train one batch, then pause (F10)"));
  stop_ = new QAction(st->standardIcon(QStyle::SP_MediaStop), tr("St&op"), this);
  stop_->setObjectName("stopAction");
  stop_->setShortcut(QKeySequence(Qt::SHIFT | Qt::Key_F5));
  stop_->setToolTip(
      tr("End the run; its state is saved to last.h5 so it can be resumed "
         "(Shift+F5)"));
  connect(train_, &QAction::triggered, this, [this] { train(); });
  connect(pause_, &QAction::triggered, controller_, &TrainingController::pause);
  connect(resume_, &QAction::triggered, controller_, &TrainingController::resume);
  connect(step_, &QAction::triggered, this, [this] {
    if (controller_->active())
      controller_->step();
    else
      trainOneStep();
  });
  connect(stop_, &QAction::triggered, controller_, &TrainingController::stop);
  optimizer_ = new QAction(tr("Change &optimiser..."), this);
  optimizer_->setObjectName("optimizerAction");
  optimizer_->setToolTip(
      tr("While paused: the optimiser's type and hyper-parameters for the rest of the run (the "
         "same type keeps its state)"));
  connect(optimizer_, &QAction::triggered, this, &TrainingUi::editOptimizer);
  settings_ = new QAction(tr("Training &settings..."), this);
  settings_->setObjectName("trainingSettingsAction");
  settings_->setToolTip(
      tr("Epochs, batch size, precision and optimiser of the next run (saved with the project)"));
  connect(settings_, &QAction::triggered, this, &TrainingUi::editSettings);

  auto* loadWeights = new QAction(tr("&Load weights..."), this);
  loadWeights->setObjectName("loadWeightsAction");
  loadWeights->setToolTip(tr("Start the next runs from a checkpoint's weights"));
  connect(loadWeights, &QAction::triggered, this, [this] {
    QString path =
        QFileDialog::getOpenFileName(window_, tr("Load weights from a checkpoint"), runs_->folder(),
                                     tr("Checkpoints (*.h5);;All files (*)"));
    if (!path.isEmpty()) setStartWeights(path);
  });
  auto* clearWeights = new QAction(tr("Start from &fresh weights"), this);
  connect(clearWeights, &QAction::triggered, this, [this] { setStartWeights({}); });
  auto* resumeCkpt = new QAction(tr("Resume from &checkpoint..."), this);
  resumeCkpt->setObjectName("resumeCheckpointAction");
  connect(resumeCkpt, &QAction::triggered, this, [this] {
    QString path = QFileDialog::getOpenFileName(window_, tr("Resume a run from a checkpoint"),
                                                controller_->runDir(),
                                                tr("Checkpoints (*.h5);;All files (*)"));
    if (!path.isEmpty()) resumeFrom(path);
  });

  QMenu* menu = window_->menuBar()->addMenu(tr("&Train"));
  menu->setObjectName("trainMenu");
  menu->addActions({train_, pause_, resume_, step_, stop_});
  menu->addAction(optimizer_);
  menu->addAction(settings_);
  menu->addSeparator();
  menu->addAction(resumeCkpt);
  menu->addAction(loadWeights);
  menu->addAction(clearWeights);
  menu->addSeparator();
  // Dock toggles with a mnemonic each (the dock titles themselves stay plain).
  for (QDockWidget* d : {plotsDock_, insightsDock_, runsDock_, logDock_}) {
    QAction* a = d->toggleViewAction();
    if (!a->text().contains('&')) a->setText("&" + a->text());
    menu->addAction(a);
  }

  toolbar_ = window_->addToolBar(tr("Training"));
  toolbar_->setObjectName("trainingToolbar");
  toolbar_->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  toolbar_->addActions({train_, pause_, resume_, step_, stop_});
  toolbar_->addSeparator();
  toolbar_->addWidget(new QLabel(tr(" Device ")));
  device_ = new QComboBox;
  device_->setObjectName("deviceBox");
  device_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  device_->addItem(tr("Auto"), "auto");
  device_->addItem(tr("CPU"), "cpu");
  if (ng::cuda_available()) device_->addItem(tr("GPU"), "cuda");
  updateDevices();
  toolbar_->addWidget(device_);
  toolbar_->addWidget(new QLabel(tr("  Learning rate ")));
  lrField_ = new QLineEdit;
  lrField_->setObjectName("learningRate");
  lrField_->setMaximumWidth(90);
  auto* v = new QDoubleValidator(0.0, 100.0, 8, lrField_);
  v->setNotation(QDoubleValidator::ScientificNotation);
  v->setLocale(QLocale::c());
  lrField_->setValidator(v);
  lrField_->setToolTip(
      tr("The run's learning rate: type a new one and press Enter to apply it "
         "from the next step (e.g. while paused). The optimiser keeps its "
         "state."));
  connect(lrField_, &QLineEdit::returnPressed, this, &TrainingUi::applyLearningRate);
  toolbar_->addWidget(lrField_);
  toolbar_->addAction(optimizer_);
  toolbar_->addAction(settings_);
  toolbar_->addSeparator();
  stateLabel_ = new QLabel;
  stateLabel_->setObjectName("trainingState");
  stateLabel_->setMinimumWidth(90);
  toolbar_->addWidget(stateLabel_);
  progress_ = new QProgressBar;
  progress_->setObjectName("trainingProgress");
  progress_->setMaximumWidth(260);
  progress_->setMinimumWidth(160);
  progress_->setRange(0, 1);
  progress_->setValue(0);
  progress_->setFormat(tr("not started"));
  progress_->setTextVisible(true);
  toolbar_->addWidget(progress_);

  checkpointLabel_ = new QLabel(tr("No checkpoint yet"));
  checkpointLabel_->setObjectName("checkpointStatus");
  window_->statusBar()->addPermanentWidget(checkpointLabel_);
}

void TrainingUi::buildDocks() {
  dashboard_ = new MetricsDashboard;
  plotsDock_ = new QDockWidget(tr("Plots"), window_);
  plotsDock_->setObjectName("plotsDock");
  plotsDock_->setWidget(dashboard_);

  log_ = new QPlainTextEdit;
  log_->setObjectName("trainingLog");
  log_->setReadOnly(true);
  log_->setMaximumBlockCount(5000);
  log_->setPlaceholderText(tr("Training messages appear here."));
  logDock_ = new QDockWidget(tr("Training log"), window_);
  logDock_->setObjectName("trainingLogDock");
  logDock_->setWidget(log_);

  runs_ = new RunsPanel;
  runsDock_ = new QDockWidget(tr("Runs"), window_);
  runsDock_->setObjectName("runsDock");
  runsDock_->setWidget(runs_);

  insights_ = new InsightsPanel;
  insightsDock_ = new QDockWidget(tr("Insights"), window_);
  insightsDock_->setObjectName("insightsDock");
  insightsDock_->setWidget(insights_);

  QDockWidget* issues = window_->findChild<QDockWidget*>("issuesDock");
  QDockWidget* inspector = window_->findChild<QDockWidget*>("inspectorDock");
  window_->addDockWidget(Qt::BottomDockWidgetArea, plotsDock_);
  if (issues) {
    window_->splitDockWidget(issues, plotsDock_, Qt::Horizontal);
    window_->tabifyDockWidget(issues, logDock_);
    window_->tabifyDockWidget(issues, runsDock_);
    issues->raise();
  } else {
    window_->addDockWidget(Qt::BottomDockWidgetArea, logDock_);
    window_->addDockWidget(Qt::BottomDockWidgetArea, runsDock_);
  }
  if (inspector) {
    window_->tabifyDockWidget(inspector, insightsDock_);
    inspector->raise();
  } else {
    window_->addDockWidget(Qt::RightDockWidgetArea, insightsDock_);
  }
  // The editor keeps its room until the first run, which makes the plots taller (showPlots()).
}

// ---- commands ------------------------------------------------------------------------------

bool TrainingUi::train() {
  if (controller_->state() == State::Paused) {
    controller_->resume();
    return true;
  }
  return startRun(false);
}

bool TrainingUi::trainOneStep() {
  if (!startRun(true)) return false;
  controller_->step();
  return true;
}

bool TrainingUi::resumeFrom(const QString& checkpoint) {
  return startRun(false, checkpoint);
}

bool TrainingUi::startRun(bool paused, const QString& resume) {
  if (controller_->active()) return false;
  GraphModel* m = window_->model();
  auto refuse = [&](const QString& why) {
    appendLog(why, 2);
    window_->statusBar()->showMessage(why, 10000);
    return false;
  };
  if (m->nodes().empty()) return refuse(tr("Nothing to train: the graph is empty."));
  if (int errors = m->errorCount())
    return refuse(
        tr("The graph has %n error(s); fix them before training (see Issues).", nullptr, errors));
  for (const ng::Diagnostic& d : m->projectDiagnostics())
    if (d.severity == ng::Severity::Error)
      return refuse(tr("The project cannot be trained: %1").arg(QString::fromStdString(d.message)));

  TrainingController::RunOptions o;
  o.projectFile = window_->currentFile();
  o.dataDir = window_->dataDir();
  o.device = device_->currentData().toString();
  o.threads = threads_;
  o.startPaused = paused;
  o.resumeFrom = resume;
  if (resume.isEmpty()) o.weightsFrom = startWeights_;
  if (!resume.isEmpty()) {
    o.runDir = QFileInfo(resume).absolutePath();
  } else if (!runsRoot_.isEmpty()) {
    QString name =
        o.projectFile.isEmpty() ? "untitled" : QFileInfo(o.projectFile).completeBaseName();
    o.runDir =
        runsRoot_ + "/" + name + "-" + QDateTime::currentDateTime().toString("yyyyMMdd-HHmmss-zzz");
  }
  overlays_->clear();
  dashboard_->clear();
  insights_->clear();
  QStringList nodes;
  for (const ng::NodeSpec& n : m->project().graph.nodes) nodes << QString::fromStdString(n.id);
  insights_->setNodes(nodes);
  snapshot_.reset();
  lastStep_ = StepEvent{};
  progress_->setRange(0, 1);
  progress_->setValue(0);
  progress_->setFormat(tr("preparing data..."));
  checkpointLabel_->setText(tr("No checkpoint yet"));
  if (!controller_->start(m->project(), o)) return refuse(controller_->lastError());
  lrField_->setText(QString::number(m->project().training.optimizer.lr, 'g', 6));
  showPlots();
  return true;
}

bool TrainingUi::setStartWeights(const QString& checkpoint) {
  if (checkpoint.isEmpty()) {
    startWeights_.clear();
    appendLog(tr("The next run starts from fresh weights (the project's seed)."), 0);
    return true;
  }
  try {  // the weights must fit the graph on the canvas
    ng::Model m = ng::Model::compile(window_->model()->toSpec(), 0);
    ng::train::load_weights(m, ng::load_checkpoint(checkpoint.toStdString()),
                            checkpoint.toStdString());
  } catch (const std::exception& e) {
    appendLog(tr("Cannot load weights: %1").arg(QString::fromUtf8(e.what())), 2);
    window_->statusBar()->showMessage(tr("Cannot load weights: %1").arg(e.what()), 10000);
    return false;
  }
  startWeights_ = QFileInfo(checkpoint).absoluteFilePath();
  appendLog(tr("The next run starts from the weights of %1.").arg(startWeights_), 0);
  checkpointLabel_->setText(tr("Next run starts from %1").arg(QFileInfo(checkpoint).fileName()));
  return true;
}

void TrainingUi::updateRunsFolder() {
  if (!runs_) return;
  QString dir = runsRoot_;
  if (dir.isEmpty() && !window_->currentFile().isEmpty())
    dir = QFileInfo(window_->currentFile()).absolutePath() + "/runs";
  if (dir != runs_->folder()) runs_->setFolder(dir);
}

void TrainingUi::showPlots() {
  plotsDock_->show();
  plotsDock_->raise();
  if (plotsDock_->isFloating() || plotsDock_->height() >= 300) return;
  // Room for four panels; the canvas shrinks, so fit the graph into what is left.
  QDockWidget* issues = window_->findChild<QDockWidget*>("issuesDock");
  if (issues && !issues->isFloating() && issues->isVisible())
    window_->resizeDocks({issues, plotsDock_}, {360, 1000}, Qt::Horizontal);
  window_->resizeDocks({plotsDock_}, {360}, Qt::Vertical);
  QTimer::singleShot(0, window_->view(), &NodeGraphView::fitToView);
}

void TrainingUi::updateDevices() {
  // NOTE: ng::cuda_available() is false in a CPU-only build (stubs) and on a machine without a
  // GPU: then the GPU is not offered and the tooltip says why.
  const int gpu = device_->findData("cuda");
  if (gpu < 0) {
    const QString why = QString::fromStdString(ng::cuda_unavailable_reason());
    device_->setItemText(0, tr("Auto (CPU)"));
    device_->setToolTip(tr("Where the next run trains. No GPU is offered: %1.").arg(why));
    return;
  }
  const QString desc = QString::fromStdString(ng::cuda_device_description());
  size_t freeB = 0, totalB = 0;
  ng::cuda_memory_info(freeB, totalB);
  const QString name = desc.section(" (", 0, 0);
  const double gib = double(1ull << 30);
  device_->setItemText(gpu, tr("GPU: %1 \u00b7 %2 of %3 GiB free")
                                .arg(name)
                                .arg(double(freeB) / gib, 0, 'f', 1)
                                .arg(double(totalB) / gib, 0, 'f', 1));
  device_->setItemData(gpu, desc, Qt::ToolTipRole);
  device_->setItemText(0, tr("Auto (%1)").arg(name));
  device_->setToolTip(tr("Where the next run trains: %1").arg(desc));
}

void TrainingUi::editOptimizer() {
  if (controller_->state() != State::Paused) return;
  OptimizerDialog d(controller_->optimizer(), window_);
  if (d.exec() != QDialog::Accepted || controller_->state() != State::Paused) return;
  if (controller_->setOptimizer(d.spec()))
    lrField_->setText(QString::number(controller_->optimizer().lr, 'g', 6));
}

void TrainingUi::editSettings() {
  if (controller_->active()) return;
  GraphModel* m = window_->model();
  std::optional<ng::Shape> input;  // one example at the Input node, when the graph says
  if (const ng::GraphAnalysis& a = m->analysis(); a.input_nodes.size() == 1) {
    const ng::NodeInfo& in = a.nodes[size_t(a.input_nodes[0])];
    if (!in.outputs.empty() && in.outputs[0])
      input = ng::Shape(in.outputs[0]->shape.begin() + 1, in.outputs[0]->shape.end());
  }
  TrainingSettingsDialog d(m->project(), window_->dataDir(), input, ng::cuda_available(), window_);
  if (d.exec() != QDialog::Accepted || controller_->active()) return;
  m->setRecipe(d.dataset(), d.training());
}

void TrainingUi::offerBatchSize(qint64 batch, qint64 failedBatch) {
  if (batchPrompt_) batchPrompt_->close();
  auto* box = new QMessageBox(QMessageBox::Warning, tr("Out of memory"),
                              tr("The run ran out of the device's memory at a batch size of %1. "
                                 "A batch of %2 fits.")
                                  .arg(failedBatch)
                                  .arg(batch),
                              QMessageBox::NoButton, window_);
  box->setObjectName("batchSizePrompt");
  box->setInformativeText(lastFailure_);
  QPushButton* use = box->addButton(tr("Use batch %1").arg(batch), QMessageBox::AcceptRole);
  use->setObjectName("useSuggestedBatch");
  box->addButton(QMessageBox::Close);
  box->setAttribute(Qt::WA_DeleteOnClose);
  connect(use, &QPushButton::clicked, this, [this, batch] {
    // (The failed run may still be winding down: it copied the project when it started.)
    ng::TrainingSpec t = window_->model()->training();
    t.batch_size = batch;
    window_->model()->setTraining(t, tr("Batch size %1").arg(batch));
    appendLog(tr("Batch size set to %1 (Edit > Undo takes it back); press Train to start again.")
                  .arg(batch),
              0);
  });
  batchPrompt_ = box;
  box->open();
}

void TrainingUi::applyLearningRate() {
  bool ok = false;
  double lr = QLocale::c().toDouble(lrField_->text(), &ok);
  if (!ok) return;
  controller_->setLearningRate(lr);
}

// ---- from the controller -------------------------------------------------------------------

void TrainingUi::updateProgress() {
  sinceLabels_.start();
  const StepEvent* s = &lastStep_;
  if (s->step == 0) return;
  progress_->setRange(0, int(std::min<int64_t>(s->total_steps, INT32_MAX)));
  progress_->setValue(int(std::min<int64_t>(s->step, INT32_MAX)));
  progress_->setFormat(tr("epoch %1/%2 \u00b7 step %3")
                           .arg(s->epoch)
                           .arg(s->batches_per_epoch ? s->total_steps / s->batches_per_epoch : 0)
                           .arg(s->step));
  if (!lrField_->hasFocus()) lrField_->setText(QString::number(s->lr, 'g', 6));
}

void TrainingUi::onStateChanged(State now, State before) {
  if (lastStep_.step > 0) updateProgress();  // the newest numbers when the run pauses or ends
  lock_->setLocked(controller_->active());
  updateActions();
  if (now == State::Idle || now == State::Failed) {
    if (device_->findData("cuda") >= 0) updateDevices();  // the GPU's free memory now
    runs_->refresh();
    runs_->select(controller_->runDir());
    if (progress_->format() == tr("preparing data...")) progress_->setFormat(tr("not started"));
    dashboard_->refresh();
  }
  Q_UNUSED(before);
}

void TrainingUi::updateActions() {
  const State s = controller_->state();
  const bool active = controller_->active();
  train_->setEnabled(!active || s == State::Paused);
  train_->setText(s == State::Paused ? tr("&Train (resume)") : tr("&Train"));
  pause_->setEnabled(s == State::Running);
  resume_->setEnabled(s == State::Paused);
  step_->setEnabled(!active || s == State::Running || s == State::Paused);
  stop_->setEnabled(s == State::Running || s == State::Paused);
  device_->setEnabled(!active);
  optimizer_->setEnabled(s == State::Paused);
  settings_->setEnabled(!active);
  lrField_->setEnabled(s == State::Running || s == State::Paused);
  if (!active)  // the project's rate, for the next run
    lrField_->setText(QString::number(window_->model()->project().training.optimizer.lr, 'g', 6));
  static const char* colours[] = {"#9aa3b0", "#66bb6a", "#ffa726", "#ffa726", "#f44336"};
  stateLabel_->setText(QString("<span style='color:%1'>\u25cf</span> %2")
                           .arg(colours[int(s)], TrainingController::stateName(s)));
}

void TrainingUi::onEvents(const std::vector<TrainingEvent>& events) {
  dashboard_->addEvents(events);
  const LayerStatsEvent* stats = nullptr;
  const StepEvent* lastStep = nullptr;
  for (const TrainingEvent& e : events) {
    if (auto* s = std::get_if<StepEvent>(&e)) {
      lastStep = s;
    } else if (auto* ep = std::get_if<EpochEvent>(&e)) {
      QString line = tr("Epoch %1/%2: training loss %3")
                         .arg(ep->epoch)
                         .arg(ep->epochs)
                         .arg(ep->train.loss, 0, 'f', 4);
      if (std::isfinite(ep->train.accuracy))
        line += tr(", accuracy %1").arg(ep->train.accuracy, 0, 'f', 4);
      if (ep->val.samples > 0) {
        line += tr("; validation loss %1").arg(ep->val.loss, 0, 'f', 4);
        if (std::isfinite(ep->val.accuracy))
          line += tr(", accuracy %1").arg(ep->val.accuracy, 0, 'f', 4);
      }
      line += tr(" (%1 s)").arg(ep->epoch_s, 0, 'f', 2);
      if (ep->improved) line += tr(" \u2605 best so far");
      appendLog(line, 0);
    } else if (auto* ls = std::get_if<LayerStatsEvent>(&e)) {
      stats = ls;
      insights_->addLayerStats(*ls);
    } else if (auto* st = std::get_if<StateEvent>(&e)) {
      if (st->state == TrainerState::Paused)
        appendLog(tr("Paused at epoch %1, step %2.").arg(st->epoch).arg(st->step), 0);
    }
  }
  // Progress and labels: text layout is not free; five times a second is enough to read.
  if (lastStep) lastStep_ = *lastStep;
  if (lastStep && (!sinceLabels_.isValid() || sinceLabels_.elapsed() >= 200)) updateProgress();
  if (stats && (!sinceHalos_.isValid() || sinceHalos_.elapsed() >= 500)) {
    // Gradient norms per node, at most twice a second (each update repaints the canvas).
    sinceHalos_.start();  // the norm of a node: sqrt of the sum over its parameters
    QHash<QString, double> sq;
    for (const LayerStats& l : stats->layers)
      if (l.grad.numel > 0 && std::isfinite(l.grad.norm))
        sq[QString::fromStdString(l.node)] += l.grad.norm * l.grad.norm;
    for (auto it = sq.begin(); it != sq.end(); ++it) it.value() = std::sqrt(it.value());
    overlays_->setGradientNorms(sq, stats->step);
  }
  dashboard_->sampleMemory();
  dashboard_->requestRefresh();  // at most one replot this tick (NOTE [Plot budget])
  insights_->refresh();
}

QString TrainingUi::nodeNamedIn(const QString& message, const QString& node) const {
  GraphModel* m = window_->model();
  if (!node.isEmpty() && m->node(node)) return node;
  static const QRegularExpression quoted("'([^']+)'");
  for (auto it = quoted.globalMatch(message); it.hasNext();) {
    QString id = it.next().captured(1);
    if (m->node(id)) return id;
  }
  return {};
}

void TrainingUi::onFailed(const QString& message, const QString& node) {
  lastFailure_ = message;
  QString id = nodeNamedIn(message, node);
  if (!id.isEmpty()) {
    overlays_->showFailure(id, message);
    window_->scene()->selectNodes({id});
    if (NodeItem* n = window_->scene()->nodeItem(id)) window_->view()->ensureVisible(n, 60, 60);
  }
  window_->statusBar()->showMessage(tr("Training failed: %1").arg(message), 15000);
  logDock_->show();
  logDock_->raise();
}

void TrainingUi::onCheckpoint(const QString& path, const QString& kind, qint64 epoch, qint64 step) {
  const QString when = QTime::currentTime().toString("HH:mm:ss");
  checkpointLabel_->setText(tr("Checkpoint %1 (%2) \u00b7 epoch %3, step %4 \u00b7 %5")
                                .arg(QFileInfo(path).fileName(), kind)
                                .arg(epoch)
                                .arg(step)
                                .arg(when));
  checkpointLabel_->setToolTip(QDir::toNativeSeparators(path));
  if (kind != "last")
    appendLog(
        tr("Saved %1 (%2 checkpoint, epoch %3).").arg(QFileInfo(path).fileName(), kind).arg(epoch),
        0);
}

void TrainingUi::appendLog(const QString& text, int level) {
  static const char* colours[] = {"#c8ccd2", "#ffa726", "#f44336"};
  const QString time = QTime::currentTime().toString("HH:mm:ss");
  log_->appendHtml(QString("<span style='color:#7d828a'>%1</span> <span style='color:%2'>%3</span>")
                       .arg(time, colours[std::clamp(level, 0, 2)], text.toHtmlEscaped()));
}

}  // namespace ng::gui
