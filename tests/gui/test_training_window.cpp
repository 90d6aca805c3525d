// "Click to train" in a real main window: open the spiral example, press Train (F5), watch the
// plots fill and validation accuracy rise over 3 epochs, find the graph read-only meanwhile,
// press Stop (Shift+F5) and read the checkpoint back; a screenshot of the dashboard mid-training
// that must not be blank; an engine failure shown as a badge on its node and in the log; the
// plots' exports.
#include <QAction>
#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QDoubleSpinBox>
#include <QFileInfo>
#include <QGuiApplication>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QScreen>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardItemModel>
#include <QTabWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QToolButton>
#include <QTreeWidget>
#include <QUndoStack>
#include <functional>

#include "app/gui/issues_panel.h"
#include "app/gui/main_window.h"
#include "app/gui/training/graph_lock.h"
#include "app/gui/training/insight_engine.h"
#include "app/gui/training/insights_panel.h"
#include "app/gui/training/metrics_dashboard.h"
#include "app/gui/training/node_overlays.h"
#include "app/gui/training/optimizer_dialog.h"
#include "app/gui/training/run_snapshot.h"
#include "app/gui/training/runs_panel.h"
#include "app/gui/training/training_settings_dialog.h"
#include "app/gui/training/training_ui.h"
#include "engine/io/checkpoint.h"
#include "engine/io/project.h"
#include "engine/nn/model.h"
#include "engine/ops/cuda/backend.h"
#include "engine/train/datasets.h"
#include "tests/gui/gui_test_main.h"
#include "tests/limited_allocator.h"
#include "widgets/inspector/node_inspector.h"
#include "widgets/nodegraph/model/graph_model.h"
#include "widgets/nodegraph/view/layer_palette.h"
#include "widgets/nodegraph/view/node_scene.h"
#include "widgets/nodegraph/view/node_view.h"
#include "widgets/nodegraph/view/quick_add_popup.h"
#include "widgets/plots/confusion_matrix_view.h"
#include "widgets/plots/decision_boundary_view.h"
#include "widgets/plots/histogram_heatmap.h"
#include "widgets/plots/live_plot.h"
#include "widgets/plots/tile_grid.h"

using namespace ng::gui;
using State = TrainingController::State;

namespace {

QString spiralPath() {
  return QStringLiteral(NG_SOURCE_DIR "/resources/examples/spiral-mlp.ngraph");
}

QString lenetPath() {
  return QStringLiteral(NG_SOURCE_DIR "/resources/examples/lenet-mnist.ngraph");
}

// A checkpoint's weight "node/param" as floats, with its shape.
std::vector<float> weightOf(const ng::Checkpoint& c, const std::string& name,
                            ng::Shape* shape = nullptr) {
  for (const auto& w : c.weights)
    if (w.node + "/" + w.name == name) {
      if (shape) *shape = w.tensor.shape();
      return w.tensor.contiguous().to_vector<float>();
    }
  return {};
}

// A shown, active main window with the spiral example; runs go to a temporary folder.
struct Window {
  MainWindow w;
  QStringList errors;
  QTemporaryDir runs;
  explicit Window(int64_t epochs = 0, double lr = 0, const QString& optimizer = {},
                  const QString& project = spiralPath()) {
    w.errorBox = [this](const QString& title, const QString& text) {
      errors << title + ": " + text;
    };
    w.askSave = [](const QString&) { return QMessageBox::Discard; };
    w.resize(1400, 900);
    w.show();
    w.activateWindow();  // shortcuts need the active window
    (void)QTest::qWaitForWindowActive(&w);
    w.openFile(project, true);
    if (epochs || lr || !optimizer.isEmpty()) {  // the recipe, changed as a project edit would
      ng::ProjectSpec p = w.model()->project();
      if (epochs) p.training.epochs = epochs;
      if (lr) p.training.optimizer.lr = lr;
      if (!optimizer.isEmpty()) p.training.optimizer.type = optimizer.toStdString();
      w.model()->setProject(p);
    }
    w.training()->setRunsRoot(runs.path());
  }
  TrainingController* c() { return w.training()->controller(); }
  ng::plots::LivePlot* plot() { return w.training()->dashboard()->plot(); }
};

// Share of sampled pixels that differ clearly from a colour.
double shareNotLike(const QImage& img, QColor bg, QRect area) {
  int64_t differ = 0, total = 0;
  for (int y = area.top(); y <= area.bottom(); y += 2)
    for (int x = area.left(); x <= area.right(); x += 2) {
      QColor c = img.pixelColor(x, y);
      ++total;
      if (std::abs(c.red() - bg.red()) + std::abs(c.green() - bg.green()) +
              std::abs(c.blue() - bg.blue()) >
          60)
        ++differ;
    }
  return total ? double(differ) / double(total) : 0;
}

// Pixels close to a colour (a curve drawn in it).
int pixelsLike(const QImage& img, QColor c, QRect area) {
  int n = 0;
  for (int y = area.top(); y <= area.bottom(); ++y)
    for (int x = area.left(); x <= area.right(); ++x) {
      QColor p = img.pixelColor(x, y);
      if (std::abs(p.red() - c.red()) + std::abs(p.green() - c.green()) +
              std::abs(p.blue() - c.blue()) <
          40)
        ++n;
    }
  return n;
}

// Runs `f` on the Training settings dialog once it is open (modal), then closes it if `f` did
// not: a check failing inside `f` returns early and must not leave the dialog waiting.
void onSettingsDialog(std::function<void(TrainingSettingsDialog*)> f) {
  QTimer::singleShot(0, [f] {
    auto* d = qobject_cast<TrainingSettingsDialog*>(QApplication::activeModalWidget());
    if (!d) {
      if (QWidget* w = QApplication::activeModalWidget()) w->close();
      return;
    }
    f(d);
    if (d->isVisible()) d->reject();
  });
}

QImage screenshot(QWidget& w) {
  QImage shot;
  if (QGuiApplication::platformName() == "xcb" && w.screen())
    shot = w.screen()->grabWindow(w.winId()).toImage();
  if (shot.isNull() || shot.width() < 100) shot = w.grab().toImage();
  return shot;
}

}  // namespace

class TrainingWindowTest : public QObject {
  Q_OBJECT

 private slots:
  void trainThreeEpochsThenStop() {
    Window t(/*epochs=*/2000);
    TrainingUi* ui = t.w.training();
    GraphModel* m = t.w.model();
    const int undoIndex = m->undoStack()->index();
    QCOMPARE(ui->controller()->state(), State::Idle);
    QVERIFY(ui->trainAction()->isEnabled());
    QVERIFY(!ui->stopAction()->isEnabled());

    QTest::keyClick(t.w.view(), Qt::Key_F5);  // Train
    QCOMPARE(t.c()->state(), State::Running);
    QTRY_VERIFY_WITH_TIMEOUT(t.c()->epochsDone() >= 3, 60000);

    // The plots have points; validation accuracy rose over the first epochs.
    QVERIFY(t.plot()->series("loss.batch")->count() >= 3 * 38);
    QTRY_VERIFY(t.plot()->graph("loss.batch")->dataCount() > 10);  // drawn within 250 ms
    const ng::plots::MetricSeries* val = t.plot()->series("acc.val");
    QVERIFY(val->count() >= 3);
    auto pts = val->points();
    QVERIFY2(pts.back().y > pts.front().y + 0.05,
             qPrintable(QString("%1 -> %2").arg(pts.front().y).arg(pts.back().y)));
    QTRY_VERIFY(t.plot()->graph("acc.val")->dataCount() >= 3);
    QVERIFY(t.plot()->series("lr")->count() > 0);
    QVERIFY(t.plot()->series("throughput")->last().y > 0);
    QVERIFY(t.plot()->series("memory")->count() > 0);
    QVERIFY(ui->checkpointLabel()->text().contains(".h5"));
    QVERIFY(ui->log()->toPlainText().contains("Epoch 3/2000"));
    QVERIFY(!ui->insights()->parameterBox()->currentText().isEmpty());

    // Read-only while running: edit actions off, palette and inspector disabled, and the
    // canvas refuses Tab quick-add, double-click quick-add, deleting and dragging nodes.
    QVERIFY(ui->graphLock()->locked());
    QVERIFY(!t.w.graphEditable());
    QVERIFY(!t.w.view()->deleteAction()->isEnabled());
    QVERIFY(!t.w.view()->pasteAction()->isEnabled());
    QVERIFY(!t.w.palette()->isEnabled());
    QVERIFY(!t.w.inspector()->isEnabled());
    NodeGraphView* v = t.w.view();
    for (QAction* a : {v->makeBlockAction(), v->unpackBlockAction(), v->addFrameAction(),
                       v->connectAction(), v->disconnectAction(), v->layoutAction()})
      QVERIFY2(!a->isEnabled(), qPrintable(a->text()));
    QVERIFY(v->fitAction()->isEnabled());  // looking around is allowed
    QVERIFY(v->copyAction()->isEnabled());
    t.w.scene()->selectNodes({"fc2"});
    QTest::keyClick(v, Qt::Key_Delete);
    QTest::keyClick(v, Qt::Key_Tab);
    QVERIFY(!v->quickAddPopup()->isVisible());
    QTest::mouseDClick(v->viewport(), Qt::LeftButton, {}, QPoint(5, 5));
    QVERIFY(!v->quickAddPopup()->isVisible());
    NodeItem* fc2 = t.w.scene()->nodeItem("fc2");
    const QPointF before = m->node("fc2")->pos;
    QPoint at = v->mapFromScene(fc2->mapToScene(QPointF(40, 8)));
    QTest::mousePress(v->viewport(), Qt::LeftButton, {}, at);
    QTest::mouseMove(v->viewport(), at + QPoint(30, 20));
    QTest::mouseMove(v->viewport(), at + QPoint(60, 40));
    QTest::mouseRelease(v->viewport(), Qt::LeftButton, {}, at + QPoint(60, 40));
    QCOMPARE(m->node("fc2")->pos, before);
    t.w.scene()->selectNodes({"fc2"});
    QTest::keyClick(v, Qt::Key_Right);  // arrows move a selection: refused
    QCOMPARE(m->node("fc2")->pos, before);
    QCOMPARE(int(m->nodes().size()), 7);
    QCOMPARE(m->undoStack()->index(), undoIndex);

    // Pause (F6), then Stop (Shift+F5).
    QTest::keyClick(v, Qt::Key_F6);
    QCOMPARE(t.c()->state(), State::Paused);
    QVERIFY(ui->resumeAction()->isEnabled());
    QTest::keyClick(v, Qt::Key_F5, Qt::ShiftModifier);
    QCOMPARE(t.c()->state(), State::Stopping);
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 20000);

    // The checkpoint reads back: the run's weights at the step where it stopped.
    const QString ckpt = t.c()->lastCheckpoint();
    QVERIFY(QFileInfo::exists(ckpt));
    QVERIFY(ckpt.startsWith(t.runs.path()));
    ng::Checkpoint ck = ng::load_checkpoint(ckpt.toStdString());
    QVERIFY(ck.training.epoch >= 3);
    QCOMPARE(int(ck.weights.size()), 6);  // fc1..fc3: weight and bias
    QCOMPARE(ck.training.step, t.c()->globalStep());
    QVERIFY(ck.training.history.at("val_accuracy").size() >= 3);

    // Editable again.
    QVERIFY(!ui->graphLock()->locked());
    QVERIFY(t.w.graphEditable());
    QVERIFY(t.w.palette()->isEnabled());
    QVERIFY(t.w.inspector()->isEnabled());
    QVERIFY(t.w.view()->deleteAction()->isEnabled());
    QVERIFY(t.w.view()->makeBlockAction()->isEnabled());
    // The same drag moves the node now (so the refusal above was the lock's doing).
    at = v->mapFromScene(fc2->mapToScene(QPointF(40, 8)));
    QTest::mousePress(v->viewport(), Qt::LeftButton, {}, at);
    QTest::mouseMove(v->viewport(), at + QPoint(30, 20));
    QTest::mouseMove(v->viewport(), at + QPoint(60, 40));
    QTest::mouseRelease(v->viewport(), Qt::LeftButton, {}, at + QPoint(60, 40));
    QVERIFY(m->node("fc2")->pos != before);
    QVERIFY(t.errors.isEmpty());
  }

  void dashboardScreenshotMidTrainingIsNotBlank() {
    Window t(/*epochs=*/2000);
    TrainingUi* ui = t.w.training();
    QVERIFY(ui->train());
    QTRY_VERIFY_WITH_TIMEOUT(t.c()->epochsDone() >= 4, 60000);
    QTest::qWait(300);  // the plots replot (at most every 250 ms, NOTE [Plot budget])
    QImage shot = screenshot(t.w);
    QVERIFY(!shot.isNull());
    const QString out = QDir::current().filePath("training-dashboard.png");
    shot.save(out);
    qInfo("screenshot: %s (%s)", qPrintable(out), qPrintable(QGuiApplication::platformName()));
    ng::plots::LivePlot* plot = t.plot();
    QRect area(plot->mapTo(&t.w, QPoint(0, 0)), plot->size());
    area = area.intersected(shot.rect());
    QVERIFY(area.width() > 300 && area.height() > 150);
    // Axes, labels, grid and curves differ from the plot's background...
    double painted = shareNotLike(shot, QColor(0x24, 0x26, 0x2b), area);
    QVERIFY2(painted > 0.03, qPrintable(QString("only %1 of the plots is drawn").arg(painted)));
    // ...and the training (blue) and validation (orange) curves are there.
    QVERIFY(pixelsLike(shot, QColor(0x42, 0xa5, 0xf5), area) > 100);
    QVERIFY(pixelsLike(shot, QColor(0xff, 0xa7, 0x26), area) > 30);
    ui->controller()->stop();
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 20000);
  }

  void anEngineFailureShowsABadgeOnTheNodeAndInTheLog() {
    Window t(/*epochs=*/50, /*lr=*/1e38, "SGD");
    TrainingUi* ui = t.w.training();
    QVERIFY(ui->train());
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Failed, 30000);
    const QString node = ui->overlays()->failedNode();
    QVERIFY(!node.isEmpty());
    QVERIFY(t.w.model()->node(node));
    // The badge is an item on that node's card, its tooltip the engine's message.
    NodeItem* card = t.w.scene()->nodeItem(node);
    QString tip;
    for (QGraphicsItem* c : card->childItems())
      if (c->toolTip().contains("Training failed here")) tip = c->toolTip();
    QVERIFY2(tip.contains("not finite"), qPrintable(tip));
    QVERIFY(ui->log()->toPlainText().contains("'" + node + "'"));
    QCOMPARE(t.w.scene()->selectedNodeIds(), QStringList{node});
    // The window is usable: editable again, and a new run can start.
    QVERIFY(t.w.graphEditable());
    QVERIFY(ui->trainAction()->isEnabled());
    // An edit clears the badge (it described the graph before the edit).
    t.w.model()->setParam("fc1", "out_features", 32);
    QVERIFY(ui->overlays()->failedNode().isEmpty());
  }

  void runningOutOfMemoryOffersABatchSizeThatThenTrains() {
    // On a CPU "device" with a limit (the GPU's case where the batch does not fit): the run
    // fails, a prompt offers the batch the engine measured, one click sets it (one undo step),
    // and the next run with it completes on the same device.
    Window t(/*epochs=*/1);
    TrainingUi* ui = t.w.training();
    GraphModel* m = t.w.model();
    ui->deviceBox()->setCurrentIndex(ui->deviceBox()->findData("cpu"));
    ng::Allocator& cpu = ng::allocator(ng::Device::cpu());
    ng::TrainingSpec spec = m->training();
    spec.stats_every_steps = 0;
    // What batches of 16 and 1024 take here, trained without a limit.
    size_t peak[2];
    for (int i = 0; i < 2; ++i) {
      spec.batch_size = i == 0 ? 16 : 1024;
      m->setTraining(spec);
      cpu.reset_peak();
      QVERIFY(ui->train());
      QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 30000);
      peak[i] = cpu.peak_bytes_in_use();
    }
    QVERIFY2(peak[1] > peak[0] + 100000, qPrintable(QString("%1 %2").arg(peak[0]).arg(peak[1])));
    ng::testing::LimitedAllocator limited(cpu, peak[0] + (peak[1] - peak[0]) / 3);
    ng::testing::CpuAllocatorSwap swap(&limited);

    QVERIFY(ui->train());  // batch 1024
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Failed, 30000);
    QTRY_VERIFY(ui->batchPrompt());
    QMessageBox* box = ui->batchPrompt();
    QVERIFY2(box->text().contains("batch size of 1024"), qPrintable(box->text()));
    QVERIFY(box->informativeText().contains("test device out of memory"));
    auto* use = box->findChild<QPushButton*>("useSuggestedBatch");
    QVERIFY(use);
    const qint64 suggested = use->text().section(' ', -1).toLongLong();
    QVERIFY2(suggested >= 16 && suggested < 1024, qPrintable(use->text()));
    QVERIFY(ui->log()->toPlainText().contains(QString("A batch of %1 fits").arg(suggested)));
    const int undoIndex = m->undoStack()->index();
    use->click();
    QCOMPARE(m->training().batch_size, suggested);
    QCOMPARE(m->undoStack()->index(), undoIndex + 1);
    QTRY_VERIFY(!ui->batchPrompt());  // closed by the click

    QVERIFY(ui->train());
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 30000);
    QVERIFY(ui->log()->toPlainText().contains("completed"));
  }

  void trainingSettingsAreTheProjectsRecipeAndUndoable() {
    Window t;
    TrainingUi* ui = t.w.training();
    GraphModel* m = t.w.model();
    QVERIFY(ui->settingsAction()->isEnabled());
    QSignalSpy changed(m, &GraphModel::trainingChanged);
    // The dialog opened from the action: fields set as a user would, then OK.
    onSettingsDialog([&](TrainingSettingsDialog* d) {
      QCOMPARE(d->epochsBox()->value(), 30);
      QCOMPARE(d->batchBox()->value(), 32);
      d->epochsBox()->setValue(7);
      d->batchBox()->setValue(128);
      ng::OptimizerSpec o = m->training().optimizer;
      o.type = "SGD";
      o.lr = 0.05;
      o.momentum = 0.9;
      d->setOptimizer(o);
      QVERIFY(d->optimizerLabel()->text().contains("SGD"));
      d->accept();
    });
    ui->settingsAction()->trigger();
    QCOMPARE(m->training().epochs, 7);
    QCOMPARE(m->training().batch_size, 128);
    QCOMPARE(m->training().optimizer.type, std::string("SGD"));
    QCOMPARE(m->training().optimizer.momentum, 0.9);
    QCOMPARE(changed.count(), 1);
    QCOMPARE(ui->learningRateField()->text(), QString("0.05"));  // the idle field shows it
    QVERIFY(t.w.isWindowModified() || !m->undoStack()->isClean());
    // Saved with the project and read back.
    QTemporaryDir dir;
    const QString file = dir.filePath("spiral.ngraph");
    m->saveProject(file);
    std::vector<ng::Diagnostic> diags;
    ng::ProjectSpec back = ng::load_project(file.toStdString(), diags);
    QCOMPARE(back.training.batch_size, 128);
    QCOMPARE(back.training.epochs, 7);
    // One undo step takes it all back.
    m->undoStack()->undo();
    QCOMPARE(m->training().batch_size, 32);
    QCOMPARE(m->training().optimizer.type, std::string("Adam"));
    QCOMPARE(ui->learningRateField()->text(), QString("0.01"));
    // Not while a run is active.
    QVERIFY(ui->train());
    QVERIFY(!ui->settingsAction()->isEnabled());
    ui->controller()->stop();
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 30000);
    QVERIFY(ui->settingsAction()->isEnabled());
  }

  void theDataSectionChoosesAndChecksTheDataset() {
    // A teacher switches the spiral example to circles with more noise, checks it, and trains
    // on it; a set whose examples do not fit the graph's Input is named before any run.
    Window t(/*epochs=*/1);
    GraphModel* m = t.w.model();
    QString checked, mnistChecked;
    bool fits = false, mnistFits = true;
    QString asyncChecked;
    onSettingsDialog([&](TrainingSettingsDialog* d) {
      QCOMPARE(d->kindBox()->currentData().toString(), QString("synthetic"));
      QVERIFY(d->rowShown("generator") && d->rowShown("noise") && !d->rowShown("path"));
      QVERIFY(d->classesBox()->isEnabled());  // spiral takes a number of classes
      d->generatorBox()->setCurrentText("circles");
      QVERIFY(!d->classesBox()->isEnabled());  // circles makes two
      d->noiseBox()->setValue(0.2);
      d->sizeBox()->setValue(400);
      d->classesBox()->setValue(2);
      d->validationBox()->setValue(0.25);
      fits = d->checkData();
      checked = d->checkLabel()->text();
      // MNIST: its own rows, and its digits do not fit an Input of [2].
      d->kindBox()->setCurrentIndex(d->kindBox()->findData("mnist"));
      QVERIFY(d->rowShown("path") && !d->rowShown("generator"));
      QVERIFY(d->checkLabel()->text().isEmpty());  // a new source clears the last check
      mnistFits = d->checkData();
      mnistChecked = d->checkLabel()->text();
      // The button reads on a pool thread; the dialog answers meanwhile.
      d->checkButton()->click();
      QVERIFY(!d->checkButton()->isEnabled());
      QTRY_VERIFY_WITH_TIMEOUT(d->checkButton()->isEnabled(), 30000);
      asyncChecked = d->checkLabel()->text();
      // CIFAR-10's page offers augmentation; back on a 2-D set none of it may stay on.
      d->kindBox()->setCurrentIndex(d->kindBox()->findData("cifar10"));
      QVERIFY(d->rowShown("augment"));
      for (QCheckBox* c : d->findChildren<QCheckBox*>("settingsFlip")) c->setChecked(true);
      for (QSpinBox* c : d->findChildren<QSpinBox*>("settingsCrop")) c->setValue(4);
      QVERIFY(d->dataset().augment_flip);
      d->kindBox()->setCurrentIndex(d->kindBox()->findData("synthetic"));
      d->accept();
    });
    t.w.training()->settingsAction()->trigger();
    QVERIFY2(fits, qPrintable(checked));
    QVERIFY2(checked.contains("300 training and 100 validation examples of [2], 2 classes"),
             qPrintable(checked));
    QVERIFY(!mnistFits);
    if (QFileInfo::exists(QStringLiteral(NG_SOURCE_DIR "/datasets/mnist/train-images-idx3-ubyte")))
      QVERIFY2(mnistChecked.contains("set its shape to [1, 28, 28]"), qPrintable(mnistChecked));
    else  // the digits not fetched: the loader says where it looked
      QVERIFY2(mnistChecked.contains("not found"), qPrintable(mnistChecked));
    QCOMPARE(asyncChecked, mnistChecked);  // the same answer, read on a pool thread
    QVERIFY(!m->dataset().augment_flip);
    QCOMPARE(m->dataset().augment_crop_padding, int64_t(0));
    QCOMPARE(m->dataset().generator, std::string("circles"));
    QCOMPARE(m->dataset().noise, 0.2);
    QCOMPARE(m->dataset().size, int64_t(400));
    QCOMPARE(m->dataset().classes, int64_t(2));
    QVERIFY(t.w.training()->train());
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 30000);
    QVERIFY(t.w.training()->log()->toPlainText().contains("completed"));
    m->undoStack()->undo();
    QCOMPARE(m->dataset().generator, std::string("spiral"));
  }

  void theRecipesProblemsFollowTheRecipe() {
    // A project read with a dataset problem cannot train; fixing it in Training settings
    // clears the problem at once (no save and reopen), and the Issues panel says so.
    QTemporaryDir dir;
    std::vector<ng::Diagnostic> diags;
    ng::ProjectSpec p = ng::load_project(spiralPath().toStdString(), diags);
    p.dataset.kind = "csv";
    p.dataset.path = "table.csv";
    p.dataset.label_column = "";  // a CSV set needs it
    const QString file = dir.filePath("broken.ngraph");
    ng::save_project(p, file.toStdString());
    Window t(0, 0, {}, file);
    GraphModel* m = t.w.model();
    QVERIFY(!m->projectDiagnostics().empty());
    auto issueRows = [&] {
      QStringList rows;
      for (int i = 0; i < t.w.issues()->topLevelItemCount(); ++i)
        rows << t.w.issues()->topLevelItem(i)->text(2);
      return rows.join('\n');
    };
    QVERIFY2(issueRows().contains("label_column"), qPrintable(issueRows()));  // listed on opening
    QVERIFY(!t.w.training()->train());
    QVERIFY(t.w.training()->log()->toPlainText().contains("label_column"));
    ng::DatasetSpec fixed = m->dataset();
    fixed.kind = "synthetic";
    m->setRecipe(fixed, m->training());
    QVERIFY(m->projectDiagnostics().empty());
    QVERIFY2(!issueRows().contains("label_column"), qPrintable(issueRows()));
    QVERIFY(t.w.training()->train());
    QTRY_VERIFY_WITH_TIMEOUT(!t.c()->active(), 60000);
    t.c()->stop();
    // MNIST without a path (the bundled digits) is a project the command line reads too.
    fixed.kind = "mnist";
    fixed.path = "";
    m->setRecipe(fixed, m->training());
    QVERIFY(m->projectDiagnostics().empty());
    m->saveProject(file);
    try {
      (void)ng::load_project(file.toStdString());  // the strict reader the CLI uses
    } catch (const std::exception& e) {
      QFAIL(e.what());
    }
  }

  void anExampleOpenedAsACopyTrainsOnItsData() {
    // The window with no file opens LeNet as an untitled copy of the example; its dataset path
    // ("../../datasets/mnist") is read from the example's folder, whatever the working folder.
    if (!QFileInfo::exists(QStringLiteral(NG_SOURCE_DIR "/datasets/mnist/train-images-idx3-ubyte")))
      QSKIP("the MNIST digits are not here (datasets/fetch_mnist.sh)");
    struct BackHome {
      QString cwd = QDir::currentPath();
      ~BackHome() { QDir::setCurrent(cwd); }
    } home;
    QTemporaryDir elsewhere;
    QVERIFY(QDir::setCurrent(elsewhere.path()));
    Window t;
    QVERIFY(t.w.openExample(lenetPath(), true));
    QVERIFY(t.w.currentFile().isEmpty());
    QVERIFY(t.w.training()->train());
    QTRY_VERIFY_WITH_TIMEOUT(t.c()->globalStep() >= 3 || t.c()->state() == State::Failed, 60000);
    const QString log = t.w.training()->log()->toPlainText();
    t.c()->stop();
    QTRY_VERIFY_WITH_TIMEOUT(!t.c()->active(), 30000);
    QVERIFY2(t.c()->state() != State::Failed, qPrintable(log));
  }

  void dataThatDoesNotFitNamesTheNodeBeforeTraining() {
    Window t;
    ng::ProjectSpec p = t.w.model()->project();
    p.dataset.classes = 5;  // fc3 gives 3 class scores
    t.w.model()->setProject(p);
    QVERIFY(t.w.training()->train());
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Failed, 30000);
    QCOMPARE(t.w.training()->overlays()->failedNode(), QString("fc3"));
    QVERIFY(t.w.training()->log()->toPlainText().contains("5 classes"));
  }

  void aGraphWithErrorsIsNotTrained() {
    Window t;
    t.w.model()->removeNodes({"fc2"});  // act1 -> ? -> act2: an unconnected input
    QVERIFY(t.w.model()->errorCount() > 0);
    QVERIFY(!t.w.training()->train());
    QCOMPARE(t.c()->state(), State::Idle);
    QVERIFY(t.w.training()->log()->toPlainText().contains("fix them before training"));
  }

  void stepFromIdleTrainsOneBatchAndPauses() {
    Window t;
    TrainingUi* ui = t.w.training();
    QTest::keyClick(t.w.view(), Qt::Key_F10);
    QCOMPARE(t.c()->state(), State::Paused);
    QTRY_COMPARE_WITH_TIMEOUT(t.plot()->series("loss.batch")->count(), int64_t(1), 20000);
    QTest::keyClick(t.w.view(), Qt::Key_F10);
    QTRY_COMPARE_WITH_TIMEOUT(t.plot()->series("loss.batch")->count(), int64_t(2), 20000);
    // Change the learning rate while paused; F5 resumes with it.
    ui->learningRateField()->setText("0.002");
    QTest::keyClick(ui->learningRateField(), Qt::Key_Return);
    QTest::keyClick(t.w.view(), Qt::Key_F5);
    QCOMPARE(t.c()->state(), State::Running);
    QTRY_VERIFY_WITH_TIMEOUT(t.plot()->series("lr")->count() > 5, 20000);
    QCOMPARE(t.plot()->series("lr")->last().y, 0.002);
    QCOMPARE(t.plot()->series("lr")->first().y, 0.01);
    ui->stopAction()->trigger();
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 20000);
  }

  void everyInsightPageIsReachableFromTheCornerMenu() {
    Window t(/*epochs=*/1);
    InsightsPanel* in = t.w.training()->insights();
    QDockWidget* dock = t.w.findChild<QDockWidget*>("insightsDock");
    dock->show();
    auto* tabs = in->findChild<QTabWidget*>();
    auto* pages = in->findChild<QToolButton*>("insightsPages");
    QVERIFY(tabs && pages && pages->menu());
    const QList<QAction*> actions = pages->menu()->actions();
    QCOMPARE(actions.size(), tabs->count());
    QCOMPARE(actions.size(), 7);
    for (int i = actions.size() - 1; i >= 0; --i) {
      QCOMPARE(actions[i]->text(), tabs->tabText(i));
      actions[i]->trigger();
      QCOMPARE(tabs->currentIndex(), i);
    }
  }

  void insightViewsFollowTheRun() {
    Window t(/*epochs=*/6);
    TrainingUi* ui = t.w.training();
    InsightsPanel* in = ui->insights();
    QDockWidget* dock = t.w.findChild<QDockWidget*>("insightsDock");
    dock->show();
    dock->raise();
    in->showTab(InsightsPanel::Boundary);
    QTRY_VERIFY(in->wantsSnapshots());
    QCOMPARE(ui->controller()->snapshotInterval(), 300);
    QVERIFY(ui->train());
    // The decision regions of the spiral model, and the confusion matrix of its validation set.
    QTRY_VERIFY2_WITH_TIMEOUT(!in->boundaryView()->regions().isNull(),
                              qPrintable(ui->log()->toPlainText()), 30000);
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 60000);
    QCOMPARE(in->confusionView()->classes(), 0);  // only the view shown is evaluated
    in->showTab(InsightsPanel::Confusion);        // the final weights, evaluated for it
    QTRY_VERIFY_WITH_TIMEOUT(in->confusionView()->classes() == 3, 10000);
    ng::plots::ConfusionMatrixView* cm = in->confusionView();
    int64_t total = 0;
    for (int a = 0; a < 3; ++a)
      for (int b = 0; b < 3; ++b) total += cm->count(a, b);
    QCOMPARE(total, int64_t(300));  // the validation set: 20% of 1500
    QVERIFY2(cm->accuracy() > 0.7, qPrintable(QString::number(cm->accuracy())));
    // The regions hold every class somewhere, the samples are drawn over them.
    QImage img = in->boundaryView()->regions();
    QSet<QRgb> colours;
    for (int y = 0; y < img.height(); y += 4)
      for (int x = 0; x < img.width(); x += 4) colours.insert(img.pixel(x, y));
    QVERIFY(colours.size() >= 3);
    QCOMPARE(in->boundaryView()->graphCount(), 3);
    // Histograms of every parameter.
    QCOMPARE(in->parameterBox()->count(), 6);
    QVERIFY(!in->weightHistory("fc1/weight")->empty());
    QVERIFY(!in->gradientHistory("fc3/bias")->empty());
    // Hidden, the views cost the run nothing: no snapshots.
    in->showTab(InsightsPanel::Histograms);
    QCOMPARE(ui->controller()->snapshotInterval(), 0);
  }

  void runsAreListedOverlaidResumedAndReused() {
    Window t(/*epochs=*/3);
    TrainingUi* ui = t.w.training();
    RunsPanel* runs = ui->runs();
    QCOMPARE(runs->folder(), t.runs.path());
    QCOMPARE(runs->list()->topLevelItemCount(), 0);
    QVERIFY(ui->train());
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 60000);
    const QString dir = t.c()->runDir();
    QCOMPARE(runs->list()->topLevelItemCount(), 1);
    QCOMPARE(runs->selectedRun(), dir);
    QCOMPARE(runs->list()->topLevelItem(0)->text(1), QString("completed"));
    QCOMPARE(runs->list()->topLevelItem(0)->text(2), QString("3"));

    // Overlay: the run's per-epoch curves, dashed, over the plots.
    QVERIFY(runs->overlayButton()->isEnabled());
    runs->overlayButton()->click();
    const QString name = QFileInfo(dir).fileName();
    QCOMPARE(ui->dashboard()->overlays(), QStringList{name});
    const auto* ov = t.plot()->series("overlay." + name + ".val_accuracy");
    QVERIFY(ov);
    QCOMPARE(ov->count(), int64_t(3));
    QCOMPARE(ov->points().back().y, t.plot()->series("acc.val")->last().y);
    QCOMPARE(ov->points().back().x, t.plot()->series("acc.val")->last().x);

    // Resume: two more epochs of the same run, in its folder.
    ng::ProjectSpec p = t.w.model()->project();
    p.training.epochs = 5;
    t.w.model()->setProject(p);
    QTRY_COMPARE(runs->folder(), t.runs.path());
    runs->select(dir);
    QVERIFY(runs->resumeButton()->isEnabled());
    runs->resumeButton()->click();
    QCOMPARE(t.c()->state(), State::Running);
    QCOMPARE(t.c()->runDir(), dir);
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 60000);
    QCOMPARE(t.c()->epochsDone(), int64_t(5));
    QCOMPARE(runs->record(dir)["epochs_completed"].toInt(), 5);
    QCOMPARE(ng::load_checkpoint((dir + "/last.h5").toStdString()).training.epoch, int64_t(5));

    // Start from its weights: a new run whose first epoch is already good.
    runs->select(dir);
    runs->weightsButton()->click();
    QCOMPARE(t.c()->state(), State::Running);
    QVERIFY(t.c()->runDir() != dir);
    QVERIFY(ui->startWeights().endsWith("best.h5"));
    QTRY_VERIFY_WITH_TIMEOUT(t.plot()->series("acc.val")->count() >= 1, 30000);
    QVERIFY2(t.plot()->series("acc.val")->first().y > 0.8,
             qPrintable(QString::number(t.plot()->series("acc.val")->first().y)));
    ui->stopAction()->trigger();
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 20000);
    QCOMPARE(runs->list()->topLevelItemCount(), 2);

    // Weights that do not fit the graph are refused, with the reason.
    t.w.model()->setParam("fc1", "out_features", 32);
    QVERIFY(!ui->setStartWeights(dir + "/best.h5"));
    QVERIFY(ui->log()->toPlainText().contains("fc1/weight"));
    QVERIFY(ui->startWeights().endsWith("best.h5"));  // the previous choice stays
    QVERIFY(ui->setStartWeights({}));
    QVERIFY(ui->startWeights().isEmpty());
  }

  // Auto, CPU, and the GPU by name with its memory only where ng::cuda_available(); without
  // one (a CPU-only build, or no device here) the tooltip says why.
  void theDeviceSelectorOffersOnlyWhatThisMachineHas() {
    Window t;
    QComboBox* box = t.w.training()->deviceBox();
    QCOMPARE(box->currentData().toString(), QString("auto"));
    QCOMPARE(box->itemData(1).toString(), QString("cpu"));
    if (ng::cuda_available()) {
      QCOMPARE(box->count(), 3);
      const int gpu = box->findData("cuda");
      QCOMPARE(gpu, 2);
      QVERIFY(box->itemText(gpu).startsWith("GPU: "));
      QVERIFY2(box->itemText(gpu).contains("GiB free"), qPrintable(box->itemText(gpu)));
      QVERIFY(box->itemData(gpu, Qt::ToolTipRole).toString().contains("CUDA runtime"));
    } else {
      QCOMPARE(box->count(), 2);
      QCOMPARE(box->findData("cuda"), -1);
      QCOMPARE(box->itemText(0), QString("Auto (CPU)"));
      QVERIFY2(box->toolTip().contains(QString::fromStdString(ng::cuda_unavailable_reason())),
               qPrintable(box->toolTip()));
    }
  }

  // LeNet on MNIST: the filters of both convolutions while it trains, the feature maps of the
  // node selected on the canvas for a chosen sample (checked against a direct convolution), and
  // the misclassified samples, the most confident first; a click shows one's activations.
  void lenetFiltersActivationsAndMistakes() {
    Window t(/*epochs=*/1, 0, {}, lenetPath());
    TrainingUi* ui = t.w.training();
    InsightsPanel* in = ui->insights();
    QDockWidget* dock = t.w.findChild<QDockWidget*>("insightsDock");
    dock->show();
    dock->raise();
    in->showTab(InsightsPanel::Filters);
    QTRY_VERIFY(in->wantsSnapshots());
    QVERIFY(ui->train());
    ng::plots::TileGrid* filters = in->filterGrid();
    QTRY_COMPARE_WITH_TIMEOUT(filters->tileCount(), 6, 30000);  // conv1: 6 filters, 1 channel
    QCOMPARE(in->filterLayerBox()->currentText(), QString("conv1/weight"));
    QCOMPARE(filters->tile(0).w, 5);
    QCOMPARE(filters->scale(), ng::plots::TileGrid::Scale::SharedSymmetric);
    const QString first = filters->caption();
    QTRY_VERIFY_WITH_TIMEOUT(filters->caption() != first, 20000);  // updated while training
    in->filterLayerBox()->setCurrentText("conv2/weight");
    QTRY_COMPARE(filters->tileCount(), 16 * 6);  // a row of 6 input channels per filter
    QCOMPARE(filters->columns(), 6);
    QTRY_VERIFY_WITH_TIMEOUT(t.c()->globalStep() >= 30, 60000);
    t.c()->stop();
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 30000);
    const int64_t steps = t.c()->globalStep();
    ng::Checkpoint ck = ng::load_checkpoint(t.c()->lastCheckpoint().toStdString());
    // The final weights: tile (o, i) is conv2's weight[o, i].
    QTRY_VERIFY(filters->caption().endsWith(QString("step %1").arg(steps)));
    ng::Shape shape;
    std::vector<float> w2 = weightOf(ck, "conv2/weight", &shape);
    QCOMPARE(shape, (ng::Shape{16, 6, 5, 5}));
    for (int o : {0, 7, 15})
      for (int i : {0, 3, 5}) {
        const std::vector<float>& v = filters->tile(o * 6 + i).values;
        QCOMPARE(v.size(), size_t(25));
        for (int k = 0; k < 25; ++k) QCOMPARE(v[size_t(k)], w2[size_t((o * 6 + i) * 25 + k)]);
      }

    // Activations: the node selected on the canvas, sample 7 of the validation set.
    in->showTab(InsightsPanel::Activations);
    t.w.scene()->selectNodes({"conv1"});
    QCOMPARE(in->node(), QString("conv1"));
    in->selectSample(7);
    ng::plots::TileGrid* maps = in->activationGrid();
    QTRY_COMPARE_WITH_TIMEOUT(maps->tileCount(), 6, 20000);
    QCOMPARE(maps->tile(0).w, 28);  // padding 2 keeps 28 x 28
    QCOMPARE(maps->tile(0).h, 28);
    QCOMPARE(in->inputTile()->tileCount(), 1);
    const std::vector<float>& x = in->inputTile()->tile(0).values;  // [28 x 28], as stored
    QCOMPARE(x.size(), size_t(784));
    ng::train::TrainingData data =
        ng::train::make_datasets(ng::load_project(lenetPath().toStdString()).dataset,
                                 QFileInfo(lenetPath()).absolutePath().toStdString());
    std::vector<float> stored(784);
    data.val->copy_features(7, stored.data());
    QVERIFY(x == stored);  // validation sample 7
    std::vector<float> w1 = weightOf(ck, "conv1/weight"), b1 = weightOf(ck, "conv1/bias");
    QCOMPARE(w1.size(), size_t(6 * 25));
    for (int c = 0; c < 6; ++c)
      for (int y = 0; y < 28; ++y)
        for (int xx = 0; xx < 28; ++xx) {
          double want = b1[size_t(c)];
          for (int ky = 0; ky < 5; ++ky)
            for (int kx = 0; kx < 5; ++kx) {
              const int sy = y + ky - 2, sx = xx + kx - 2;
              if (sy < 0 || sy >= 28 || sx < 0 || sx >= 28) continue;
              want += double(w1[size_t(c * 25 + ky * 5 + kx)]) * x[size_t(sy * 28 + sx)];
            }
          const float got = maps->tile(c).values[size_t(y * 28 + xx)];
          if (std::abs(got - want) > 1e-4 + 1e-4 * std::abs(want))
            QFAIL(qPrintable(QString("conv1 map %1 at (%2, %3): %4, expected %5")
                                 .arg(c)
                                 .arg(y)
                                 .arg(xx)
                                 .arg(got)
                                 .arg(want)));
        }
    QVERIFY(in->activationInfo()->text().contains(QString("class %1").arg(data.val->label(7))));
    t.w.scene()->selectNodes({"pool1"});
    QTRY_VERIFY(maps->caption().startsWith("pool1"));
    QCOMPARE(maps->tileCount(), 6);
    QCOMPARE(maps->tile(0).w, 14);
    t.w.scene()->selectNodes({"conv2"});
    QTRY_VERIFY(maps->caption().startsWith("conv2"));
    QCOMPARE(maps->tileCount(), 16);
    QCOMPARE(maps->tile(0).w, 10);
    t.w.scene()->selectNodes({"fc1"});
    QTRY_VERIFY(maps->caption().startsWith("fc1"));
    QCOMPARE(maps->tileCount(), 1);  // 120 values in one 11 x 11 tile
    QCOMPARE(maps->tile(0).w * maps->tile(0).h, 121);

    // Mistakes: the most confident first, each really misclassified.
    in->showTab(InsightsPanel::Mistakes);
    ng::plots::TileGrid* gallery = in->mistakeGallery();
    QTRY_VERIFY_WITH_TIMEOUT(gallery->tileCount() > 3, 30000);
    const auto& items = in->mistakes();
    QCOMPARE(size_t(gallery->tileCount()), items.size());
    for (size_t k = 0; k < items.size(); ++k) {
      QCOMPARE(int64_t(items[k].truth), data.val->label(items[k].index));
      QVERIFY(items[k].predicted != items[k].truth);
      if (k) QVERIFY(items[k - 1].confidence >= items[k].confidence);
    }
    QVERIFY(gallery->tile(0).caption.contains(QString::number(items[0].truth)));
    const auto pick = items[2];
    QTest::mouseClick(gallery, Qt::LeftButton, {}, gallery->tileRect(2).center());
    QCOMPARE(in->tabs()->currentIndex(), int(InsightsPanel::Activations));
    QCOMPARE(in->sample(), pick.index);
    QTRY_VERIFY_WITH_TIMEOUT(
        in->activationInfo()->text().contains(QString("sample %1:").arg(pick.index)), 20000);
    QVERIFY2(in->activationInfo()->text().contains(QString("read as %1").arg(pick.predicted)),
             qPrintable(in->activationInfo()->text()));
  }

  // While paused: the dialog changes the optimiser (Adam -> SGD with momentum); the log says the
  // new one starts fresh, the run continues with its rate, and the checkpoint holds SGD state.
  void theOptimiserDialogChangesAPausedRun() {
    Window t(/*epochs=*/1000);
    TrainingUi* ui = t.w.training();
    QVERIFY(!ui->optimizerAction()->isEnabled());
    QVERIFY(ui->train());
    QVERIFY(!ui->optimizerAction()->isEnabled());  // running
    QTRY_VERIFY_WITH_TIMEOUT(t.c()->globalStep() >= 3, 20000);
    ui->pauseAction()->trigger();
    QCOMPARE(t.c()->state(), State::Paused);
    QVERIFY(ui->optimizerAction()->isEnabled());
    bool sawDialog = false;
    QTimer poll;
    poll.setInterval(20);
    QObject::connect(&poll, &QTimer::timeout, [&] {
      auto* d = qobject_cast<OptimizerDialog*>(QApplication::activeModalWidget());
      if (!d) return;
      poll.stop();
      sawDialog = true;
      QCOMPARE(d->typeBox()->currentText(), QString("Adam"));
      QVERIFY(d->stateNote()->text().contains("kept"));
      QVERIFY(d->fieldShown("beta1") && !d->fieldShown("momentum"));
      d->typeBox()->setCurrentText("SGD");
      QVERIFY(d->fieldShown("momentum") && d->fieldShown("dampening") && !d->fieldShown("beta1"));
      QVERIFY(d->field("momentum")->isVisible() && !d->field("beta2")->isVisible());
      QVERIFY(d->stateNote()->text().contains("fresh state"));
      d->field("lr")->setText("0.003");
      d->field("momentum")->setText("0.9");
      d->nesterovBox()->setChecked(true);
      d->accept();
    });
    poll.start();
    ui->optimizerAction()->trigger();  // modal until the timer accepts it
    QVERIFY(sawDialog);
    QCOMPARE(QString::fromStdString(t.c()->optimizer().type), QString("SGD"));
    QCOMPARE(t.c()->optimizer().lr, 0.003);
    QCOMPARE(ui->learningRateField()->text(), QString("0.003"));
    QVERIFY2(ui->log()->toPlainText().contains("Optimiser changed from Adam to SGD"),
             qPrintable(ui->log()->toPlainText()));
    QVERIFY(ui->log()->toPlainText().contains("starts with fresh state"));
    const int64_t held = t.c()->globalStep();
    ui->resumeAction()->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(t.c()->globalStep() > held + 3, 20000);
    QCOMPARE(t.c()->learningRate(), 0.003);
    t.c()->stop();
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 20000);
    ng::Checkpoint ck = ng::load_checkpoint(t.c()->lastCheckpoint().toStdString());
    QCOMPARE(QString::fromStdString(ck.optimizer.type), QString("sgd"));
    QCOMPARE(ck.optimizer.hyper.at("momentum"), 0.9);
    QCOMPARE(ck.optimizer.hyper.at("nesterov"), 1.0);
    QVERIFY(ck.optimizer.params.at(0).tensors.count("momentum_buffer"));
    QVERIFY(!ck.optimizer.params.at(0).tensors.count("exp_avg"));
  }

  // A run started with the Activations tab shown fills it without a choice: the node after the
  // input (fc1 of the spiral model: 64 values), validation sample 0, updated as it trains.
  void theActivationsTabShowsTheFirstLayerWithoutAChoice() {
    Window t(/*epochs=*/1000);
    TrainingUi* ui = t.w.training();
    InsightsPanel* in = ui->insights();
    QDockWidget* dock = t.w.findChild<QDockWidget*>("insightsDock");
    dock->show();
    dock->raise();
    in->showTab(InsightsPanel::Activations);
    QVERIFY(!in->inputTile()->isVisible());
    QVERIFY(ui->train());
    QCOMPARE(in->node(), QString("fc1"));
    ng::plots::TileGrid* maps = in->activationGrid();
    QTRY_COMPARE_WITH_TIMEOUT(maps->tileCount(), 1, 20000);
    QVERIFY(maps->caption().startsWith("fc1: output of shape 64"));
    QCOMPARE(maps->tile(0).w * maps->tile(0).h, 64);  // 8 x 8
    QVERIFY(!in->inputTile()->isVisible());           // 2-D points: no image to show
    const QString first = in->activationInfo()->text();
    QTRY_VERIFY_WITH_TIMEOUT(in->activationInfo()->text() != first, 20000);  // follows the run
    ui->stopAction()->trigger();
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 20000);
  }

  // The autoencoder has no class scores: its activations still show (the code layer and its
  // ReLU, which must be max(0, code)), and the class views say why they stay empty.
  void activationsOfAModelWithoutClassScores() {
    const QString path =
        QStringLiteral(NG_SOURCE_DIR "/resources/examples/autoencoder-mnist.ngraph");
    ng::ProjectSpec p = ng::load_project(path.toStdString());
    ng::train::TrainingData data =
        ng::train::make_datasets(p.dataset, QFileInfo(path).absolutePath().toStdString());
    auto run = std::make_shared<RunData>();
    run->graph = std::make_shared<const ng::GraphSpec>(p.graph);
    run->train = data.train;
    run->val = data.val;
    ng::Model m = ng::Model::compile(p.graph, 7);
    auto snap = std::make_shared<RunSnapshot>();
    for (const auto& [name, t] : m.parameters())
      snap->params.emplace_back(name, t.detach().clone());
    snap->run = run;
    snap->step = 5;
    InsightEngine e;
    std::map<QString, InsightEngine::Activations> got;
    QStringList why;
    connect(&e, &InsightEngine::activationsReady, this,
            [&](const InsightEngine::Activations& a) { got[a.node] = a; });
    connect(&e, &InsightEngine::unavailable, this, [&](const QString& w) { why << w; });
    e.setViews({.mistakes = true, .activations = true});
    e.submit(snap);
    e.inspect(3, "code");
    QTRY_VERIFY_WITH_TIMEOUT(got.count("code"), 20000);
    e.inspect(3, "code_relu");
    QTRY_VERIFY_WITH_TIMEOUT(got.count("code_relu"), 20000);
    const auto& code = got["code"];
    const auto& relu = got["code_relu"];
    QCOMPARE(code.shape, (std::vector<int64_t>{32}));
    QCOMPARE(code.values.size(), size_t(32));
    QCOMPARE(code.sample, int64_t(3));
    QCOMPARE(code.step, int64_t(5));
    bool negative = false;
    for (size_t k = 0; k < 32; ++k) {
      negative |= code.values[k] < 0;
      QCOMPARE(relu.values[k], std::max(0.0f, code.values[k]));
    }
    QVERIFY(negative);  // the ReLU had something to do
    QTRY_VERIFY(!why.isEmpty());
    QVERIFY(why.first().contains("one score per class"));
  }

  // The ranking of misclassified samples against a hand-made set; the gallery shows them in
  // that order and a click asks for the sample's activations at the chosen node.
  void mistakesAreRankedByConfidence() {
    // 3 classes; rows: sample i's class scores.
    const std::vector<float> logits = {
        2, 0, 0,   // 0: class 0, right
        0, 3, 0,   // 1: class 2, read as 1: p = e^3 / (e^3 + 2)  = 0.909
        1, 0, 0,   // 2: class 1, read as 0: p = e / (e + 2)      = 0.576
        0, 0, 5,   // 3: class 0, read as 2: p = e^5 / (e^5 + 2)  = 0.987
        0, 1, 0,   // 4: class 1, right
        0, 0, 1,   // 5: class 9 (out of range): skipped
        1, 0, 1,   // 6: class 1, a tie read as 0: p = e / (2e + 1) = 0.422
        0, 3, 0};  // 7: class 0, read as 1: the same confidence as 1, after it
    const std::vector<int64_t> labels = {0, 2, 1, 0, 1, 9, 1, 0};
    auto m = InsightEngine::rankMistakes(logits, labels, 3, 10);
    QCOMPARE(m.size(), size_t(5));
    const int64_t order[] = {3, 1, 7, 2, 6};
    const int pred[] = {2, 1, 1, 0, 0};
    const double conf[] = {std::exp(5.0) / (std::exp(5.0) + 2), std::exp(3.0) / (std::exp(3.0) + 2),
                           std::exp(3.0) / (std::exp(3.0) + 2), std::exp(1.0) / (std::exp(1.0) + 2),
                           std::exp(1.0) / (2 * std::exp(1.0) + 1)};
    for (size_t k = 0; k < 5; ++k) {
      QCOMPARE(m[k].index, order[k]);
      QCOMPARE(m[k].predicted, pred[k]);
      QCOMPARE(m[k].truth, int(labels[size_t(order[k])]));
      QVERIFY(std::abs(m[k].confidence - conf[k]) < 1e-6);
    }
    QCOMPARE(InsightEngine::rankMistakes(logits, labels, 3, 2).size(), size_t(2));

    InsightsPanel p;
    p.resize(500, 500);
    p.show();
    QVERIFY(QTest::qWaitForWindowExposed(&p));
    p.setNodes({"input", "fc1", "fc2"});
    p.selectNode("fc2");
    InsightEngine::Mistakes mm;
    mm.items = m;
    mm.sampleShape = {2};
    for (size_t k = 0; k < m.size(); ++k) mm.features.push_back({float(k), -float(k)});
    mm.names = QStringList{"a", "b", "c"};
    mm.set = "validation";
    mm.examined = 8;
    mm.wrong = 5;
    p.showTab(InsightsPanel::Mistakes);
    p.showMistakes(mm);
    ng::plots::TileGrid* g = p.mistakeGallery();
    QCOMPARE(g->tileCount(), 5);
    QCOMPARE(g->tile(0).caption, QString("a\u2192c\n99%"));
    QCOMPARE(g->tile(4).caption, QString("b\u2192a\n42%"));
    QCOMPARE(g->tile(1).text, QString("(1.00, -1.00)"));  // 2-D points: their coordinates
    QCOMPARE(g->tile(1).w, 0);
    QVERIFY(p.mistakesInfo()->text().startsWith("5 of 8 validation samples"));
    QSignalSpy asked(&p, &InsightsPanel::inspectRequested);
    QTest::mouseClick(g, Qt::LeftButton, {}, g->tileRect(3).center());
    QCOMPARE(p.tabs()->currentIndex(), int(InsightsPanel::Activations));
    QCOMPARE(p.sample(), int64_t(2));
    QVERIFY(!asked.isEmpty());
    QCOMPARE(asked.last().at(0).toLongLong(), qint64(2));
    QCOMPARE(asked.last().at(1).toString(), QString("fc2"));
  }

  void exportsWritePngPdfAndCsv() {
    Window t(/*epochs=*/3);
    QVERIFY(t.w.training()->train());
    QTRY_COMPARE_WITH_TIMEOUT(t.c()->state(), State::Idle, 60000);
    MetricsDashboard* d = t.w.training()->dashboard();
    QTemporaryDir dir;
    QVERIFY(d->exportTo(dir.filePath("plots.png")));
    QVERIFY(d->exportTo(dir.filePath("plots.pdf")));
    QVERIFY(d->exportTo(dir.filePath("metrics.csv")));
    QImage png(dir.filePath("plots.png"));
    QVERIFY(!png.isNull() && png.width() > 100);
    QFile pdf(dir.filePath("plots.pdf"));
    QVERIFY(pdf.open(QIODevice::ReadOnly));
    QVERIFY(pdf.read(5) == "%PDF-");
    QFile csv(dir.filePath("metrics.csv"));
    QVERIFY(csv.open(QIODevice::ReadOnly | QIODevice::Text));
    QStringList lines = QString::fromUtf8(csv.readAll()).split('\n', Qt::SkipEmptyParts);
    QCOMPARE(lines.first(), QString("curve,x,y"));
    QCOMPARE(lines.filter(QRegularExpression("^acc\\.val,")).size(), 3);
    QCOMPARE(lines.filter(QRegularExpression("^loss\\.batch,")).size(), 3 * 38);
    // Switching the x axis to epochs shows the same points at step / steps-per-epoch.
    d->setXUnit(MetricsDashboard::XUnit::Epoch);
    d->refresh();
    QCPGraph* g = t.plot()->graph("acc.val");
    QCOMPARE(g->data()->at(g->dataCount() - 1)->key, 3.0);
  }
};

NG_GUI_TEST_MAIN(TrainingWindowTest)
#include "test_training_window.moc"
