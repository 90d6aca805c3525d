// "Click to train" in a real main window: open the spiral example, press Train (F5), watch the
// plots fill and validation accuracy rise over 3 epochs, find the graph read-only meanwhile,
// press Stop (Shift+F5) and read the checkpoint back; a screenshot of the dashboard mid-training
// that must not be blank; an engine failure shown as a badge on its node and in the log; the
// plots' exports.
#include <QAction>
#include <QComboBox>
#include <QDir>
#include <QDockWidget>
#include <QFileInfo>
#include <QGuiApplication>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpression>
#include <QScreen>
#include <QStandardItemModel>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>
#include <QUndoStack>

#include "app/gui/main_window.h"
#include "app/gui/training/graph_lock.h"
#include "app/gui/training/insights_panel.h"
#include "app/gui/training/metrics_dashboard.h"
#include "app/gui/training/node_overlays.h"
#include "app/gui/training/runs_panel.h"
#include "app/gui/training/training_ui.h"
#include "engine/io/checkpoint.h"
#include "engine/io/project.h"
#include "tests/gui/gui_test_main.h"
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

using namespace ng::gui;
using State = TrainingController::State;

namespace {

QString spiralPath() {
  return QStringLiteral(NG_SOURCE_DIR "/resources/examples/spiral-mlp.ngraph");
}

// A shown, active main window with the spiral example; runs go to a temporary folder.
struct Window {
  MainWindow w;
  QStringList errors;
  QTemporaryDir runs;
  explicit Window(int64_t epochs = 0, double lr = 0, const QString& optimizer = {}) {
    w.errorBox = [this](const QString& title, const QString& text) {
      errors << title + ": " + text;
    };
    w.askSave = [](const QString&) { return QMessageBox::Discard; };
    w.resize(1400, 900);
    w.show();
    w.activateWindow();  // shortcuts need the active window
    (void)QTest::qWaitForWindowActive(&w);
    w.openFile(spiralPath(), true);
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

  void theDeviceSelectorOffersOnlyWhatThisBuildHas() {
    Window t;
    QComboBox* box = t.w.training()->deviceBox();
    QCOMPARE(box->count(), 3);
    QCOMPARE(box->currentData().toString(), QString("auto"));
    auto* model = qobject_cast<QStandardItemModel*>(box->model());
#ifdef NG_WITH_CUDA
    QVERIFY(model->item(2)->isEnabled());
#else
    QVERIFY(!model->item(2)->isEnabled());
    QVERIFY(box->itemData(2, Qt::ToolTipRole).toString().contains("no CUDA backend"));
#endif
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
