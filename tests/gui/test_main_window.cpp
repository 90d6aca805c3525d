// The main window: opening (the LeNet example, a corrupt file, a newer file, a dropped file),
// saving with dirty-state tracking and the prompt before losing work, recent files, the issues
// panel, the shortcuts, and a screenshot of the real window checked to show the network.
#include <QAbstractSpinBox>
#include <QDir>
#include <QDockWidget>
#include <QLabel>
#include <QLineEdit>
#include <QMimeData>
#include <QScreen>
#include <QSettings>
#include <QStatusBar>
#include <QTemporaryDir>
#include <QTest>
#include <QTreeWidget>
#include <QUndoStack>
#include <QUrl>

#include "app/gui/issues_panel.h"
#include "app/gui/main_window.h"
#include "engine/io/project.h"
#include "gui_test_main.h"
#include "widgets/inspector/node_inspector.h"
#include "widgets/nodegraph/model/graph_model.h"
#include "widgets/nodegraph/view/layer_palette.h"
#include "widgets/nodegraph/view/node_view.h"
#include "widgets/nodegraph/view/quick_add_popup.h"

using namespace ng::gui;

namespace {

QString lenetPath() {
  return QStringLiteral(NG_SOURCE_DIR "/resources/examples/lenet-mnist.ngraph");
}

// A window whose dialogs are answered by the test.
struct Window {
  MainWindow w;
  QStringList errors;
  QMessageBox::StandardButton answer = QMessageBox::Cancel;
  int asked = 0;
  QString saveAsPath;

  Window() {
    w.errorBox = [this](const QString& title, const QString& text) {
      errors << title + ": " + text;
    };
    w.askSave = [this](const QString&) {
      ++asked;
      return answer;
    };
    w.pickFile = [this](bool) { return saveAsPath; };
    w.resize(1400, 900);
    w.show();
    w.activateWindow();  // shortcuts need the active window
    (void)QTest::qWaitForWindowActive(&w);
  }
};

QString write(const QTemporaryDir& dir, const QString& name, const QByteArray& text) {
  QFile f(dir.filePath(name));
  if (f.open(QIODevice::WriteOnly)) f.write(text);
  return dir.filePath(name);
}

// Pixels of an image that differ clearly from a colour.
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

}  // namespace

class MainWindowTest : public QObject {
  Q_OBJECT
 private slots:
  void startUpFindsTheLeNetExample() {
    QString p = MainWindow::findExample("lenet-mnist.ngraph");
    QVERIFY2(!p.isEmpty(), "resources/examples/lenet-mnist.ngraph not found");
    QVERIFY(QFileInfo(p).isFile());
  }

  void opensLeNetAndTheScreenshotShowsIt() {
    Window t;
    QVERIFY(t.w.openFile(lenetPath()));
    QVERIFY(t.errors.isEmpty());
    QCOMPARE(int(t.w.model()->nodes().size()), 14);
    QVERIFY(t.w.model()->analysis().ok());
    QVERIFY(t.w.model()->undoStack()->isClean());
    QVERIFY(!t.w.isWindowModified());
    QVERIFY(t.w.windowTitle().contains("lenet-mnist.ngraph"));
    QVERIFY2(t.w.totalsLabel()->text().contains("61,706"), qPrintable(t.w.totalsLabel()->text()));
    QTest::qWait(200);  // the first show lays out and fits once the canvas has its size

    // Every node is inside the canvas, not overlapping another.
    NodeGraphView* v = t.w.view();
    QRectF visible = v->mapToScene(v->viewport()->rect()).boundingRect();
    for (NodeItem* n : t.w.scene()->nodeItems())
      QVERIFY2(visible.contains(n->sceneBoundingRect()), qPrintable(n->id()));
    QVERIFY(!t.w.scene()->crowded());
    QVERIFY2(v->zoom() > 0.45, "the nodes are drawn too small to read");

    // The real window's pixels: the screen's copy when there is a display, the widget's own
    // rendering otherwise. The canvas must not be blank: nodes and wires differ from the
    // background.
    QImage shot;
    if (QGuiApplication::platformName() == "xcb" && t.w.screen())
      shot = t.w.screen()->grabWindow(t.w.winId()).toImage();
    if (shot.isNull() || shot.width() < 100) shot = t.w.grab().toImage();
    QVERIFY(!shot.isNull());
    QString out = QDir::current().filePath("lenet-window.png");
    shot.save(out);
    qInfo("screenshot: %s (%s)", qPrintable(out), qPrintable(QGuiApplication::platformName()));
    QRect canvas(v->viewport()->mapTo(&t.w, QPoint(0, 0)), v->viewport()->size());
    canvas = canvas.intersected(shot.rect());
    double painted = shareNotLike(shot, QColor(0x26, 0x28, 0x2d), canvas);
    QVERIFY2(painted > 0.08, qPrintable(QString("only %1 of the canvas is drawn").arg(painted)));
    // Each node's header shows in its category colour where the node is.
    for (const char* id : {"conv1", "fc3", "loss"}) {
      NodeItem* n = t.w.scene()->nodeItem(id);
      QPoint p = v->mapFromScene(n->mapToScene(QPointF(n->size().width() / 2, 4)));
      p = v->viewport()->mapTo(&t.w, p);
      QColor c = shot.pixelColor(p);
      QVERIFY2(
          shareNotLike(shot, QColor(0x26, 0x28, 0x2d), QRect(p, QSize(4, 4))) > 0.5,
          qPrintable(QString("%1 at %2,%3 is %4").arg(id).arg(p.x()).arg(p.y()).arg(c.name())));
    }
  }

  void corruptAndNewerFilesShowAMessageAndKeepTheDocument() {
    QTemporaryDir dir;
    Window t;
    QVERIFY(t.w.openFile(lenetPath()));
    ng::GraphSpec before = t.w.model()->toSpec();
    QString corrupt = write(dir, "corrupt.ngraph", "{\"format\": \"neurograph-project\", \"gra");
    QString newer = write(dir, "newer.ngraph",
                          R"({"format": "neurograph-project", "version": 7, "graph": {}})");
    QString foreign = write(dir, "photo.ngraph", "\x89PNG\r\n\x1a\n\0\0\0");
    for (const QString& p : {corrupt, newer, foreign, dir.filePath("missing.ngraph")}) {
      t.errors.clear();
      QVERIFY(!t.w.openFile(p));
      QCOMPARE(t.errors.size(), 1);
      QVERIFY2(t.errors[0].contains(QFileInfo(p).fileName()), qPrintable(t.errors[0]));
      QVERIFY(t.w.model()->toSpec() == before);
      QVERIFY(t.w.currentFile().endsWith("lenet-mnist.ngraph"));
    }
    QVERIFY(t.errors.last().size() > 40);  // says why, not just "failed"
  }

  void saveTracksDirtyStateAndRoundTrips() {
    QTemporaryDir dir;
    Window t;
    QVERIFY(t.w.openFile(lenetPath()));
    t.w.model()->setParam("fc1", "out_features", 100);
    t.w.model()->setParam("fc2", "in_features", nlohmann::json());
    QVERIFY(t.w.isWindowModified());
    t.saveAsPath = dir.filePath("mine");  // Save As adds the extension
    QVERIFY(t.w.saveAs());
    QCOMPARE(t.w.currentFile(), dir.filePath("mine.ngraph"));
    QVERIFY(!t.w.isWindowModified());
    QVERIFY(t.w.windowTitle().contains("mine.ngraph"));
    QCOMPARE(t.w.recentFiles().value(0), dir.filePath("mine.ngraph"));

    Window t2;
    QVERIFY(t2.w.openFile(dir.filePath("mine.ngraph")));
    QVERIFY(t2.w.model()->toSpec() == t.w.model()->toSpec());
    QVERIFY(t2.w.model()->analysis().ok());
    QCOMPARE(t2.w.model()->resolvedParams("fc2")["in_features"].get<int>(), 100);

    // Ctrl+S saves in place.
    t2.w.model()->setParam("fc3", "bias", false);
    QVERIFY(t2.w.isWindowModified());
    t2.w.view()->setFocus();
    QTest::keyClick(t2.w.view(), Qt::Key_S, Qt::ControlModifier);
    QVERIFY(!t2.w.isWindowModified());
    GraphModel check;
    check.loadProject(dir.filePath("mine.ngraph"));
    QVERIFY(check.node("fc3")->params["bias"] == false);
  }

  void unsavedWorkIsNeverLostSilently() {
    QTemporaryDir dir;
    Window t;
    QVERIFY(t.w.openFile(lenetPath()));
    t.w.newDocument();  // (through the API: no prompt when clean)
    QVERIFY(t.w.model()->nodes().empty());
    t.w.model()->addNode("ReLU", {0, 0});
    // Cancel keeps everything.
    t.answer = QMessageBox::Cancel;
    QVERIFY(!t.w.openFile(lenetPath()));
    QCOMPARE(t.asked, 1);
    QCOMPARE(int(t.w.model()->nodes().size()), 1);
    QVERIFY(!t.w.close());
    QVERIFY(t.w.isVisible());
    // Save asks for a name and saves, then goes on.
    t.answer = QMessageBox::Save;
    t.saveAsPath = dir.filePath("kept.ngraph");
    QVERIFY(t.w.openFile(lenetPath()));
    QVERIFY(QFile::exists(dir.filePath("kept.ngraph")));
    // Discard goes on without saving.
    t.w.model()->setParam("fc1", "out_features", 7);
    t.answer = QMessageBox::Discard;
    int asked = t.asked;
    QVERIFY(t.w.close());
    QCOMPARE(t.asked, asked + 1);
  }

  void droppingAProjectFileOpensIt() {
    Window t;
    auto* md = new QMimeData;
    md->setUrls({QUrl::fromLocalFile(lenetPath())});
    QPoint p = t.w.view()->viewport()->rect().center();
    QDragEnterEvent enter(p, Qt::CopyAction, md, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(t.w.view()->viewport(), &enter);
    QVERIFY(enter.isAccepted());
    QDropEvent drop(QPointF(p), Qt::CopyAction, md, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(t.w.view()->viewport(), &drop);
    QCOMPARE(int(t.w.model()->nodes().size()), 14);
    QVERIFY(t.w.currentFile().endsWith("lenet-mnist.ngraph"));
    delete md;
  }

  void issuesListEveryDiagnosticAndClickingSelectsTheNode() {
    Window t;
    QVERIFY(t.w.openFile(lenetPath()));
    QCOMPARE(t.w.issues()->topLevelItemCount(), 0);
    t.w.model()->setParam("fc2", "in_features", 99);
    QVERIFY(t.w.issues()->topLevelItemCount() >= 1);
    QTreeWidgetItem* it = t.w.issues()->topLevelItem(0);
    QCOMPARE(it->text(1), QString("fc2"));
    QVERIFY(it->text(2).contains("fc2"));
    QVERIFY(t.w.totalsLabel()->text().contains("error"));
    QRect r = t.w.issues()->visualItemRect(it);
    QTest::mouseClick(t.w.issues()->viewport(), Qt::LeftButton, {}, r.center());
    QCOMPARE(t.w.scene()->selectedNodeIds(), QStringList{"fc2"});
    QCOMPARE(t.w.inspector()->node(), QString("fc2"));
    QVERIFY(t.w.inspector()->paramEditor("in_features")->message().contains("120"));
  }

  void refusedConnectionsExplainThemselvesInTheStatusBar() {
    Window t;
    QVERIFY(t.w.openFile(lenetPath()));
    NodeGraphView* v = t.w.view();
    auto port = [&](const char* node, PortSide side, const char* name) {
      return v->mapFromScene(t.w.scene()->nodeItem(node)->port(side, name)->scenePos());
    };
    // relu1's output onto conv1's output
    QPoint a = port("relu1", PortSide::Output, "output"),
           b = port("conv1", PortSide::Output, "output");
    QTest::mousePress(v->viewport(), Qt::LeftButton, {}, a);
    for (int k = 1; k <= 4; ++k) QTest::mouseMove(v->viewport(), a + (b - a) * k / 4);
    QTest::mouseRelease(v->viewport(), Qt::LeftButton, {}, b);
    QVERIFY2(t.w.statusBar()->currentMessage().contains("two outputs"),
             qPrintable(t.w.statusBar()->currentMessage()));
    QVERIFY(t.w.model()->undoStack()->isClean());
  }

  void standardShortcutsWork() {
    Window t;
    QVERIFY(t.w.openFile(lenetPath()));
    NodeGraphView* v = t.w.view();
    v->setFocus();
    t.w.scene()->selectNodes({"relu1"});
    QTest::keyClick(v, Qt::Key_D, Qt::ControlModifier);
    QCOMPARE(int(t.w.model()->nodes().size()), 15);
    QTest::keyClick(v, Qt::Key_Delete);
    QCOMPARE(int(t.w.model()->nodes().size()), 14);
    QTest::keyClick(v, Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(int(t.w.model()->nodes().size()), 15);
    QTest::keyClick(v, Qt::Key_Z, Qt::ControlModifier | Qt::ShiftModifier);
    QCOMPARE(int(t.w.model()->nodes().size()), 14);
    QTest::keyClick(v, Qt::Key_Z, Qt::ControlModifier);
    QTest::keyClick(v, Qt::Key_Z, Qt::ControlModifier);
    QVERIFY(t.w.model()->undoStack()->isClean());
    QVERIFY(!t.w.isWindowModified());
    v->zoomBy(3);
    QTest::keyClick(v, Qt::Key_F);
    QRectF visible = v->mapToScene(v->viewport()->rect()).boundingRect();
    for (NodeItem* n : t.w.scene()->nodeItems()) QVERIFY(visible.contains(n->sceneBoundingRect()));
    QTest::keyClick(v, Qt::Key_N, Qt::ControlModifier);  // clean: no question
    QVERIFY(t.w.model()->nodes().empty());
    QCOMPARE(t.asked, 0);
  }

  // A learner's session: LeNet-5 from an empty canvas with Tab quick-add, the inspector's
  // editors (typed keys) and one wire drawn with the mouse; it ends valid, with the example's
  // parameter count.
  void buildsLeNetFromAnEmptyCanvas() {
    Window t;
    t.w.newDocument();
    NodeGraphView* v = t.w.view();
    NodeInspector* ins = t.w.inspector();
    auto type = [&](QWidget* w, const QString& text) {
      w->setFocus();
      QTest::keyClick(w, Qt::Key_A, Qt::ControlModifier);
      QTest::keyClicks(w, text);
      QTest::keyClick(w, Qt::Key_Return);
    };
    auto set = [&](const QString& param, const QStringList& values) {
      ParamEditor* e = ins->paramEditor(param);
      QVERIFY2(e, qPrintable(param));
      for (int i = 0; i < values.size(); ++i) {
        QWidget* in = e->inputs()[i];
        if (auto* spin = qobject_cast<QAbstractSpinBox*>(in))
          type(spin, values[i]);
        else
          type(in, values[i]);
      }
    };
    auto add = [&](const QString& kind) {
      v->setFocus();
      QTest::keyClick(v, Qt::Key_Tab);
      QTRY_VERIFY(v->quickAddPopup()->isVisible());
      QTest::keyClicks(v->quickAddPopup()->filterField(), kind);
      QCOMPARE(v->quickAddPopup()->shownKeys().value(0), kind);
      QTest::keyClick(v->quickAddPopup()->filterField(), Qt::Key_Return);
      QStringList sel = t.w.scene()->selectedNodeIds();
      QCOMPARE(sel.size(), 1);
      QCOMPARE(ins->node(), sel[0]);
    };
    auto selected = [&] { return t.w.scene()->selectedNodeIds().value(0); };
    QTest::mouseMove(v->viewport(), QPoint(120, 200));
    add("Input");
    set("shape", {"1, 28, 28"});
    add("Conv2d");
    set("out_channels", {"6"});
    set("kernel_size", {"5", "5"});
    set("padding", {"2", "2"});
    add("ReLU");
    add("MaxPool2d");
    add("Conv2d");
    set("out_channels", {"16"});
    set("kernel_size", {"5", "5"});
    add("ReLU");
    add("MaxPool2d");
    add("Flatten");
    QCOMPARE(typeText(t.w.model()->outputType(selected())), QString("[N, 400]"));
    add("Linear");
    set("out_features", {"120"});
    add("ReLU");
    add("Linear");
    set("out_features", {"84"});
    add("ReLU");
    add("Linear");
    QString fc3 = selected();
    set("out_features", {"10"});
    // The loss from the palette (double-click), then a wire drawn by hand.
    t.w.scene()->clearSelection();
    emit t.w.palette()->addRequested("CrossEntropyLoss");
    QString loss = t.w.scene()->selectedNodeIds().value(0);
    QVERIFY(t.w.model()->edgesAt({loss, "input", PortSide::Input}).empty());
    v->fitToView();
    QPoint from =
        v->mapFromScene(t.w.scene()->nodeItem(fc3)->port(PortSide::Output, "output")->scenePos());
    QPoint to =
        v->mapFromScene(t.w.scene()->nodeItem(loss)->port(PortSide::Input, "input")->scenePos());
    QTest::mousePress(v->viewport(), Qt::LeftButton, {}, from);
    for (int k = 1; k <= 6; ++k) QTest::mouseMove(v->viewport(), from + (to - from) * k / 6);
    QTest::mouseRelease(v->viewport(), Qt::LeftButton, {}, to);
    QCOMPARE(t.w.model()->edgesAt({loss, "input", PortSide::Input}).size(), size_t(1));

    QVERIFY2(t.w.model()->analysis().ok(),
             ng::format_diagnostics(t.w.model()->analysis().diagnostics).c_str());
    QCOMPARE(int(t.w.model()->nodes().size()), 14);
    QCOMPARE(t.w.model()->totalParams(), int64_t(61706));
    GraphModel example;
    example.loadProject(lenetPath());
    QCOMPARE(t.w.model()->totalParams(), example.totalParams());
    QCOMPARE(t.w.model()->totalOutputBytes(), example.totalOutputBytes());

    QTest::keyClick(v, Qt::Key_L, Qt::ControlModifier);  // auto layout, fitted
    QVERIFY(!t.w.scene()->crowded());
    QRectF visible = v->mapToScene(v->viewport()->rect()).boundingRect();
    for (NodeItem* n : t.w.scene()->nodeItems())
      QVERIFY2(visible.contains(n->sceneBoundingRect()), qPrintable(n->id()));
    t.w.grab().save(QDir::current().filePath("lenet-built.png"));
    // Undo takes it all back, step by step, to the empty canvas.
    while (t.w.model()->undoStack()->canUndo()) t.w.model()->undoStack()->undo();
    QVERIFY(t.w.model()->nodes().empty());
  }

  void examplesOpenAsUntitledCopies() {
    QTemporaryDir dir;
    QFile f(lenetPath());
    QVERIFY(f.open(QIODevice::ReadOnly));
    QByteArray original = f.readAll();
    Window t;
    QVERIFY(t.w.openExample(lenetPath()));
    QVERIFY(t.w.currentFile().isEmpty());
    QVERIFY2(t.w.windowTitle().contains("lenet-mnist (example)"), qPrintable(t.w.windowTitle()));
    // Its dataset path ("../../datasets/mnist") is read from the example's own folder...
    const QString examples = QFileInfo(lenetPath()).absolutePath();
    QCOMPARE(t.w.dataDir(), examples);
    const QString data = QDir::cleanPath(
        QDir(examples).absoluteFilePath(QString::fromStdString(t.w.model()->dataset().path)));
    t.w.model()->setParam("fc1", "out_features", 64);
    t.saveAsPath = dir.filePath("my-lenet.ngraph");
    QVERIFY(t.w.save());  // asks where
    QCOMPARE(t.w.currentFile(), t.saveAsPath);
    // ...and saved elsewhere, it still points at the same folder from there.
    QCOMPARE(t.w.dataDir(), QFileInfo(t.saveAsPath).absolutePath());
    std::vector<ng::Diagnostic> diags;
    const ng::ProjectSpec saved = ng::load_project(t.saveAsPath.toStdString(), diags);
    QCOMPARE(QDir::cleanPath(
                 QDir(dir.path()).absoluteFilePath(QString::fromStdString(saved.dataset.path))),
             data);
    QVERIFY(t.w.model()->undoStack()->isClean());
    // A Save As that fails (no such folder) leaves the path and the history as they were.
    const std::string kept = t.w.model()->dataset().path;
    const int index = t.w.model()->undoStack()->index();
    t.saveAsPath = dir.filePath("no/such/folder/x.ngraph");
    QVERIFY(!t.w.saveAs());
    QCOMPARE(t.w.model()->dataset().path, kept);
    QCOMPARE(t.w.model()->undoStack()->index(), index);
    QCOMPARE(t.w.currentFile(), dir.filePath("my-lenet.ngraph"));
    QFile again(lenetPath());
    QVERIFY(again.open(QIODevice::ReadOnly));
    QCOMPARE(again.readAll(), original);
  }

  void autosaveKeepsUnsavedWorkForRecovery() {
    QTemporaryDir dir;
    QString mine = dir.filePath("mine.ngraph");
    QVERIFY(QFile::copy(lenetPath(), mine));
    {
      Window t;
      QVERIFY(t.w.openFile(mine));
      t.w.autosaveNow();  // nothing unsaved: nothing written
      QVERIFY(!QFile::exists(t.w.autosaveFile()));
      t.w.model()->setParam("fc1", "out_features", 99);
      t.w.autosaveNow();
      QString copy = t.w.autosaveFile();
      QVERIFY(QFile::exists(copy));
      // A crash would leave the copy behind: put it aside while this window closes normally
      // (which removes it), then back.
      QVERIFY(QFile::copy(copy, dir.filePath("a.ngraph")));
      QVERIFY(QFile::copy(copy + ".json", dir.filePath("a.json")));
      // While this window lives, its copy is not offered to another.
      Window other;
      other.w.askRecover = [](const QString&) { return QMessageBox::Yes; };
      QVERIFY(!other.w.recoverAutosaves());
      t.answer = QMessageBox::Discard;
      QVERIFY(t.w.close());
      QVERIFY(!QFile::exists(copy));
      QVERIFY(QFile::copy(dir.filePath("a.ngraph"), copy));
      QVERIFY(QFile::copy(dir.filePath("a.json"), copy + ".json"));
    }
    Window t2;
    QString question;
    t2.w.askRecover = [&](const QString& q) {
      question = q;
      return QMessageBox::Yes;
    };
    QVERIFY(t2.w.recoverAutosaves());
    QVERIFY2(question.contains("mine.ngraph"), qPrintable(question));
    QCOMPARE(t2.w.currentFile(), mine);
    QVERIFY(t2.w.isWindowModified());
    QCOMPARE(t2.w.model()->node("fc1")->params["out_features"].get<int>(), 99);
    QVERIFY(t2.w.save());  // saving removes the copy
    QVERIFY(QDir(MainWindow::autosaveDir()).entryList({"*.ngraph"}, QDir::Files).isEmpty());
    Window t3;
    t3.w.askRecover = [](const QString&) { return QMessageBox::Yes; };
    QVERIFY(!t3.w.recoverAutosaves());
    GraphModel check;
    check.loadProject(mine);
    QCOMPARE(check.node("fc1")->params["out_features"].get<int>(), 99);
  }

  void windowStateIsRestored() {
    {
      Window t;
      t.w.resize(1111, 777);
      for (QDockWidget* d : t.w.findChildren<QDockWidget*>())
        if (d->objectName() == "issuesDock") d->hide();
      QTest::qWait(50);
      QVERIFY(t.w.close());
    }
    QSettings s;
    QVERIFY(s.contains("window/geometry"));
    MainWindow w;  // reads the settings in its constructor
    QCOMPARE(w.size(), QSize(1111, 777));
    w.show();
    for (QDockWidget* d : w.findChildren<QDockWidget*>())
      QCOMPARE(d->isVisible(), d->objectName() != "issuesDock");
  }
};

NG_GUI_TEST_MAIN(MainWindowTest)
#include "test_main_window.moc"
