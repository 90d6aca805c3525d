// The editor's later parts in a real main window: blocks (double-click opens, breadcrumb and
// Alt+Up go back, Ctrl+G makes one, issues inside a block lead to it), frames (dragged with their
// nodes, resized by the corner, renamed, deleted), keyboard wiring and navigation, panes by
// keyboard, LeNet built with the keyboard alone, what the mouse walk-through found awkward
// (docs/editor-walkthrough.md), the example gallery and the themes. Runs at scale 1 and, as
// gui_editor_tests_2x, with QT_SCALE_FACTOR=2.
#include <QDockWidget>
#include <QFile>
#include <QFileDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QMenu>
#include <QMenuBar>
#include <QScreen>
#include <QSet>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <QToolButton>
#include <QTreeWidget>
#include <QUndoStack>

#include "app/gui/example_gallery.h"
#include "app/gui/issues_panel.h"
#include "app/gui/main_window.h"
#include "gui_test_main.h"
#include "widgets/inspector/node_inspector.h"
#include "widgets/nodegraph/model/graph_model.h"
#include "widgets/nodegraph/view/breadcrumb_bar.h"
#include "widgets/nodegraph/view/choice_popup.h"
#include "widgets/nodegraph/view/layer_palette.h"
#include "widgets/nodegraph/view/mini_map.h"
#include "widgets/nodegraph/view/node_style.h"
#include "widgets/nodegraph/view/node_view.h"
#include "widgets/nodegraph/view/quick_add_popup.h"

using namespace ng::gui;

namespace {

QString example(const QString& name) {
  return QStringLiteral(NG_SOURCE_DIR "/resources/examples/") + name;
}

struct Window {
  MainWindow w;
  QStringList errors;
  QString blockName = "layer", frameTitle = "Group";

  Window() {
    w.errorBox = [this](const QString& title, const QString& text) {
      errors << title + ": " + text;
    };
    w.askSave = [](const QString&) { return QMessageBox::Discard; };
    w.view()->askBlockName = [this](const QString&) { return blockName; };
    w.view()->askFrameTitle = [this](const QString&) { return frameTitle; };
    w.resize(1300, 850);
    w.show();
    w.activateWindow();
    (void)QTest::qWaitForWindowActive(&w);
  }
  GraphModel* m() { return w.model(); }
  NodeGraphView* v() { return w.view(); }
  QWidget* vp() { return w.view()->viewport(); }
  QPoint at(QPointF scenePos) { return v()->mapFromScene(scenePos); }
  // The middle of a node's header, in viewport coordinates.
  QPoint header(const QString& id) {
    NodeItem* n = w.scene()->nodeItem(id);
    return at(n->mapToScene(QPointF(n->size().width() / 2, 8)));
  }
  void drag(QPoint a, QPoint b) {
    QTest::mousePress(vp(), Qt::LeftButton, Qt::NoModifier, a);
    for (int k = 1; k <= 6; ++k) QTest::mouseMove(vp(), a + (b - a) * k / 6);
    QTest::mouseRelease(vp(), Qt::LeftButton, Qt::NoModifier, b);
  }
  // Shows the scene at 1:1 with `p` in the middle.
  void look(QPointF p) {
    v()->resetTransform();
    v()->centerOn(p);
  }
};

}  // namespace

class EditorTest : public QObject {
  Q_OBJECT
 private slots:
  // ---- blocks ----------------------------------------------------------------------------------

  void doubleClickOpensABlockAndTheBreadcrumbGoesBack() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-blocks.ngraph")));
    QVERIFY(t.m()->analysis().ok());
    QVERIFY(!t.v()->breadcrumb()->isVisible());
    QVERIFY(t.w.totalsLabel()->text().contains("14 layer(s)"));  // as trained
    t.look(t.m()->node("body")->pos + QPointF(80, 40));
    QTest::mouseDClick(t.vp(), Qt::LeftButton, Qt::NoModifier, t.header("body"));
    QCOMPARE(t.m()->scope(), QString("residual"));
    QCOMPARE(t.m()->nodeIds(), (QStringList{"in", "fc", "act", "add", "out"}));
    QVERIFY(t.w.scene()->nodeItem("fc"));
    QVERIFY(!t.w.scene()->nodeItem("body"));
    QVERIFY(t.v()->breadcrumb()->isVisible());
    QCOMPARE(t.v()->breadcrumb()->steps(), (QStringList{"Main graph", "body (block residual)"}));
    QVERIFY(t.m()->undoStack()->isClean());  // opening is not an edit
    // The canvas shows the whole inside.
    QTest::qWait(50);
    QRectF visible = t.v()->mapToScene(t.vp()->rect()).boundingRect();
    for (NodeItem* n : t.w.scene()->nodeItems())
      QVERIFY2(visible.contains(n->sceneBoundingRect()), qPrintable(n->id()));
    // Back with the breadcrumb's button...
    auto buttons = t.v()->breadcrumb()->findChildren<QToolButton*>();
    QCOMPARE(buttons.size(), 1);
    QVERIFY(buttons[0]->isVisible());
    QVERIFY(t.v()->breadcrumb()->width() > buttons[0]->width());
    buttons[0]->click();
    QCOMPARE(t.m()->scope(), QString());
    QVERIFY(!t.v()->breadcrumb()->isVisible());
    // ... and by keyboard: Enter opens the selected block, Alt+Up leaves it.
    t.w.scene()->selectNodes({"body"});
    t.v()->setFocus();
    QTest::keyClick(t.v(), Qt::Key_Return);
    QCOMPARE(t.m()->scope(), QString("residual"));
    QTest::keyClick(t.v(), Qt::Key_Up, Qt::AltModifier);
    QCOMPARE(t.m()->scope(), QString());
    QCOMPARE(t.w.scene()->selectedNodeIds(), QStringList{"body"});
  }

  void ctrlGMakesABlockAndTheInspectorSetsItsRepeat() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-mlp.ngraph")));
    int64_t params = t.m()->totalParams();
    t.w.scene()->selectNodes({"fc2", "act2"});
    t.v()->setFocus();
    QTest::keyClick(t.v(), Qt::Key_G, Qt::ControlModifier);
    QVERIFY(t.m()->isBlockNode("layer"));
    QCOMPARE(t.w.scene()->selectedNodeIds(), QStringList{"layer"});
    QVERIFY(t.w.scene()->nodeItem("layer")->isBlock());
    QVERIFY(t.w.scene()->nodeItem("layer")->texts()[1].contains("layer"));
    QCOMPARE(t.m()->totalParams(), params);
    QVERIFY(t.w.isWindowModified());
    // The inspector edits the repeat count like any parameter.
    QCOMPARE(t.w.inspector()->node(), QString("layer"));
    ParamEditor* repeat = t.w.inspector()->paramEditor("repeat");
    QVERIFY(repeat);
    t.m()->setParam("layer", "repeat", 3);
    QVERIFY(t.m()->analysis().ok());
    QCOMPARE(t.m()->totalParams(), params + 2 * (64 * 64 + 64));
    QVERIFY(t.w.scene()->nodeItem("layer")->texts()[1].contains(QString::fromUtf8("\u00d73")));
    // Undo twice: the graph as it was.
    QTest::keyClick(t.v(), Qt::Key_Z, Qt::ControlModifier);
    QTest::keyClick(t.v(), Qt::Key_Z, Qt::ControlModifier);
    QVERIFY(t.m()->node("fc2") && !t.m()->node("layer"));
    QVERIFY(t.m()->undoStack()->isClean());
    // What cannot be a block says why.
    t.w.scene()->selectNodes({"input", "loss"});
    QTest::keyClick(t.v(), Qt::Key_G, Qt::ControlModifier);
    QVERIFY(!t.m()->isBlockNode("layer"));
  }

  void anIssueInsideABlockLeadsToTheBlock() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-blocks.ngraph")));
    t.m()->openBlock("body");
    t.m()->setParam("fc", "out_features", 16);  // the skip Add now gets 16 and 32
    t.m()->leaveBlock();
    QVERIFY(t.m()->hasError("body"));
    QTreeWidget* issues = t.w.issues();
    QTreeWidgetItem* row = nullptr;
    for (int i = 0; i < issues->topLevelItemCount(); ++i)
      if (issues->topLevelItem(i)->text(1).startsWith("body.1/")) row = issues->topLevelItem(i);
    QVERIFY(row);
    t.w.scene()->clearSelection();
    emit issues->itemActivated(row, 0);
    QCOMPARE(t.w.scene()->selectedNodeIds(), QStringList{"body"});
  }

  void anEditRedrawsWhatItChangedAndOnlyThat() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-mlp.ngraph")));
    NodeGraphScene* sc = t.w.scene();
    QString act2Before = sc->nodeItem("act2")->texts().join(' ');
    t.m()->setParam("fc2", "out_features", 40);
    QVERIFY(!t.m()->analysisChangedAll());
    // fc2 (its shape), act2 (its shape), fc3 (its in_features and count) changed; input did not.
    QSet<QString> changed = t.m()->analysisChangedNodes();
    QVERIFY(changed.contains("fc2") && changed.contains("act2") && changed.contains("fc3"));
    QVERIFY(!changed.contains("input") && !changed.contains("fc1"));
    QVERIFY(sc->nodeItem("act2")->texts().join(' ').contains("[N, 40]"));
    QVERIFY(sc->nodeItem("act2")->texts().join(' ') != act2Before);
    QVERIFY(sc->nodeItem("fc3")->texts().join(' ').contains(QString("%1 params").arg(40 * 3 + 3)));
    WireItem* w = sc->wireItem(t.m()->edgesAt({"act2", "input", PortSide::Input})[0].id);
    QCOMPARE(w->label(), QString("40"));
    // A wire removed and added: its ports show it at once.
    int e = t.m()->edgesAt({"act2", "input", PortSide::Input})[0].id;
    t.m()->removeEdges({e});
    QVERIFY(!sc->nodeItem("act2")->port(PortSide::Input, "input")->isConnected());
    t.m()->undoStack()->undo();
    QVERIFY(sc->nodeItem("act2")->port(PortSide::Input, "input")->isConnected());
  }

  // ---- frames ----------------------------------------------------------------------------------

  void framesMoveWithTheirNodesResizeAndRename() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-mlp.ngraph")));
    t.w.scene()->selectNodes({"fc1", "act1"});
    t.v()->setFocus();
    QTest::keyClick(t.v(), Qt::Key_F, Qt::ControlModifier | Qt::ShiftModifier);
    QCOMPARE(int(t.m()->frames().size()), 1);
    const Frame f0 = t.m()->frames()[0];
    QCOMPARE(f0.title, QString("Group"));
    FrameItem* item = t.w.scene()->frameItem(f0.id);
    QVERIFY(item && item->isSelected());
    QPointF fc1 = t.m()->node("fc1")->pos, act1 = t.m()->node("act1")->pos;
    QPointF fc2 = t.m()->node("fc2")->pos;
    int steps = t.m()->undoStack()->count();

    // Drag the title bar: the frame and the nodes inside move, in one undo step.
    t.look(f0.rect.center());
    QPoint grab = t.at(f0.rect.topLeft() + QPointF(40, 12));
    t.drag(grab, grab + QPoint(0, 120));
    QCOMPARE(t.m()->undoStack()->count(), steps + 1);
    QCOMPARE(t.m()->frames()[0].rect.topLeft(), f0.rect.topLeft() + QPointF(0, 120));
    QCOMPARE(t.m()->node("fc1")->pos, fc1 + QPointF(0, 120));
    QCOMPARE(t.m()->node("act1")->pos, act1 + QPointF(0, 120));
    QCOMPARE(t.m()->node("fc2")->pos, fc2);  // outside: stays
    t.m()->undoStack()->undo();
    QCOMPARE(t.m()->node("fc1")->pos, fc1);
    QCOMPARE(t.m()->frames()[0].rect, f0.rect);

    // The corner resizes.
    t.look(f0.rect.center());
    QPoint corner = t.at(f0.rect.bottomRight() - QPointF(5, 5));
    t.drag(corner, corner + QPoint(80, 40));
    QCOMPARE(t.m()->frames()[0].rect.size(), f0.rect.size() + QSizeF(80, 40));
    QCOMPARE(t.m()->node("fc1")->pos, fc1);
    // By keyboard: arrows move the frame with its nodes, Alt+Shift+arrows resize it.
    t.w.scene()->clearSelection();
    t.w.scene()->frameItem(f0.id)->setSelected(true);
    t.v()->setFocus();
    QSizeF before = t.m()->frames()[0].rect.size();
    QTest::keyClick(t.v(), Qt::Key_Right);
    QCOMPARE(t.m()->node("fc1")->pos, fc1 + QPointF(20, 0));
    QCOMPARE(t.m()->frames()[0].rect.topLeft(), f0.rect.topLeft() + QPointF(20, 0));
    QTest::keyClick(t.v(), Qt::Key_Down, Qt::AltModifier | Qt::ShiftModifier);
    QCOMPARE(t.m()->frames()[0].rect.size(), before + QSizeF(0, 20));
    t.m()->undoStack()->undo();
    t.m()->undoStack()->undo();
    QCOMPARE(t.m()->node("fc1")->pos, fc1);
    // F2 renames; Delete removes; both undo.
    t.w.scene()->clearSelection();
    t.w.scene()->frameItem(f0.id)->setSelected(true);
    t.frameTitle = "Hidden layers";
    QTest::keyClick(t.v(), Qt::Key_F2);
    QCOMPARE(t.m()->frames()[0].title, QString("Hidden layers"));
    QTest::keyClick(t.v(), Qt::Key_Delete);
    QVERIFY(t.m()->frames().empty());
    QVERIFY(t.m()->node("fc1"));  // the nodes inside stay
    t.m()->undoStack()->undo();
    QCOMPARE(t.m()->frames()[0].title, QString("Hidden layers"));
  }

  // ---- keyboard ----------------------------------------------------------------------------

  void wiresCanBeMadeAndRemovedByKeyboard() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-mlp.ngraph")));
    t.m()->removeEdges({t.m()->edgesAt({"act1", "input", PortSide::Input})[0].id});
    t.w.scene()->selectNodes({"fc1"});
    t.v()->setFocus();
    QTest::keyClick(t.v(), Qt::Key_C);
    ChoicePopup* popup = t.v()->choicePopup();
    QTRY_VERIFY(popup->isVisible());
    QVERIFY(popup->shownKeys().contains("output\nact1\ninput"));
    QTest::keyClicks(popup->filterField(), "act1");
    QCOMPARE(popup->shownKeys(), QStringList{"output\nact1\ninput"});
    QTest::keyClick(popup->filterField(), Qt::Key_Return);
    QVERIFY(!popup->isVisible());
    QCOMPARE(t.m()->edgesAt({"act1", "input", PortSide::Input}).size(), size_t(1));
    QVERIFY(t.m()->analysis().ok());
    // Shift+C lists its wires; Enter removes the first.
    t.v()->setFocus();
    QTest::keyClick(t.v(), Qt::Key_C, Qt::ShiftModifier);
    QTRY_VERIFY(popup->isVisible());
    QCOMPARE(popup->shownKeys().size(), 2);
    QTest::keyClick(popup->filterField(), Qt::Key_Return);
    QCOMPARE(t.m()->edgesOf("fc1").size(), size_t(1));
  }

  void selectionMovesAlongWiresAndArrowsMoveNodes() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-mlp.ngraph")));
    t.w.scene()->selectNodes({"input"});
    t.v()->setFocus();
    QTest::keyClick(t.v(), Qt::Key_Right, Qt::AltModifier);
    QCOMPARE(t.w.scene()->selectedNodeIds(), QStringList{"fc1"});
    QTest::keyClick(t.v(), Qt::Key_Right, Qt::AltModifier);
    QCOMPARE(t.w.scene()->selectedNodeIds(), QStringList{"act1"});
    QTest::keyClick(t.v(), Qt::Key_Left, Qt::AltModifier);
    QCOMPARE(t.w.scene()->selectedNodeIds(), QStringList{"fc1"});
    QPointF p = t.m()->node("fc1")->pos;
    QTest::keyClick(t.v(), Qt::Key_Down);
    QCOMPARE(t.m()->node("fc1")->pos, p + QPointF(0, 20));
    QTest::keyClick(t.v(), Qt::Key_Z, Qt::ControlModifier);
    QCOMPARE(t.m()->node("fc1")->pos, p);
    // Ctrl+F finds a node by name.
    t.w.scene()->clearSelection();
    QTest::keyClick(t.v(), Qt::Key_F, Qt::ControlModifier);
    QTRY_VERIFY(t.v()->choicePopup()->isVisible());
    QTest::keyClicks(t.v()->choicePopup()->filterField(), "loss");
    QTest::keyClick(t.v()->choicePopup()->filterField(), Qt::Key_Return);
    QCOMPARE(t.w.scene()->selectedNodeIds(), QStringList{"loss"});
  }

  void panesAreReachedByKeyboard() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-mlp.ngraph")));
    t.v()->setFocus();
    QTest::keyClick(&t.w, Qt::Key_2, Qt::AltModifier);
    QTRY_COMPARE(QApplication::focusWidget(), t.w.palette()->searchField());
    t.w.scene()->selectNodes({"fc1"});
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_3, Qt::AltModifier);
    QTRY_COMPARE(QApplication::focusWidget(), t.w.inspector()->nameField());
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_4, Qt::AltModifier);
    QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(t.w.issues()));
    // Ctrl+F6 visits every pane in turn and comes back to the canvas.
    t.v()->setFocus();
    QSet<QWidget*> seen;
    QStringList visited;
    for (int k = 0; k < 12; ++k) {
      QTest::keyClick(QApplication::focusWidget(), Qt::Key_F6, Qt::ControlModifier);
      QWidget* f = QApplication::focusWidget();
      QVERIFY(f);
      if (f == t.v()) break;
      seen.insert(f);
      visited << f->metaObject()->className() + QString("/") + f->objectName();
    }
    QCOMPARE(QApplication::focusWidget(), static_cast<QWidget*>(t.v()));
    QVERIFY2(seen.contains(t.w.palette()->searchField()), qPrintable(visited.join(", ")));
    QVERIFY2(seen.contains(t.w.inspector()->nameField()), qPrintable(visited.join(", ")));
    QVERIFY2(seen.contains(t.w.issues()), qPrintable(visited.join(", ")));
    QTest::keyClick(QApplication::focusWidget(), Qt::Key_2, Qt::AltModifier);
    QTRY_COMPARE(QApplication::focusWidget(), t.w.palette()->searchField());
    // The palette: type, Down, Enter adds a layer.
    size_t before = t.m()->nodes().size();
    QTest::keyClicks(t.w.palette()->searchField(), "Dropout");
    QTest::keyClick(t.w.palette()->searchField(), Qt::Key_Return);
    QTRY_COMPARE(t.m()->nodes().size(), before + 1);
  }

  void everyMenuEntryHasAMnemonicAndTheEditorsHaveShortcuts() {
    Window t;
    for (QAction* menu : t.w.menuBar()->actions()) {
      QVERIFY2(menu->text().contains('&'), qPrintable(menu->text()));
      QStringList seen;
      for (QAction* a : menu->menu()->actions()) {
        if (a->isSeparator() || a->text().startsWith("(")) continue;
        QVERIFY2(a->text().contains('&'), qPrintable(menu->text() + " > " + a->text()));
      }
    }
    for (QAction* a :
         {t.v()->makeBlockAction(), t.v()->unpackBlockAction(), t.v()->openBlockAction(),
          t.v()->leaveBlockAction(), t.v()->addFrameAction(), t.v()->renameFrameAction(),
          t.v()->connectAction(), t.v()->disconnectAction(), t.v()->findAction()})
      QVERIFY2(!a->shortcut().isEmpty(), qPrintable(a->text()));
    // Help > Keyboard lists the keys.
    bool keys = false;
    for (QAction* top : t.w.menuBar()->actions())
      if (top->menu() && top->text() == "&Help")
        for (QAction* a : top->menu()->actions()) keys |= a->text() == "&Keyboard";
    QVERIFY(keys);
    // Save As has a key on every platform (X11 without a desktop has no standard one).
    QAction* saveAs = t.w.findChild<QAction*>("saveAs");
    QVERIFY(saveAs && !saveAs->shortcut().isEmpty());
  }

  // ---- the keyboard alone --------------------------------------------------------------------

  // LeNet-5 from an empty canvas with key presses only, each sent to the widget that has the
  // keyboard focus, as a keyboard would: panes by Alt+1/2/3, layers from the palette's search
  // (Enter) and from Tab's quick-add, parameters typed in the inspector reached with Tab, the
  // selection moved along the wires, the loss's wire removed and made again from a list of
  // ports, then Ctrl+S (the file dialog answered by the hook). See docs/editor-walkthrough.md.
  void leNetIsBuiltWithTheKeyboardAlone() {
    Window t;
    QTemporaryDir dir;
    QString path = dir.filePath("lenet-by-keys.ngraph");
    t.w.pickFile = [&](bool forSaving) { return forSaving ? path : QString(); };
    auto focus = [] { return QApplication::focusWidget(); };
    auto key = [&](int k, Qt::KeyboardModifiers mods = Qt::NoModifier) {
      QWidget* f = focus();
      QVERIFY2(f, "nothing has the keyboard focus");
      QTest::keyClick(f, Qt::Key(k), mods);
    };
    auto type = [&](const QString& text) {
      QVERIFY(focus());
      QTest::keyClicks(focus(), text);
    };
    auto selected = [&] { return t.w.scene()->selectedNodeIds().value(0); };
    // Tab through the inspector until `target` has the focus (at most `presses` presses).
    auto tabTo = [&](QWidget* target, int presses = 12) {
      for (int i = 0; i < presses && focus() != target; ++i) key(Qt::Key_Tab);
      QVERIFY2(focus() == target, qPrintable(focus() ? focus()->objectName() : "none"));
    };
    ParamEditor* e = nullptr;
    auto editor = [&](const QString& param) {
      e = t.w.inspector()->paramEditor(param);
      QVERIFY2(e, qPrintable(param));
    };
    // Alt+3, then Tab to a parameter's first field; the values typed with Tab between them.
    auto set = [&](const QString& param, const QStringList& values) {
      key(Qt::Key_3, Qt::AltModifier);
      QTRY_COMPARE(focus(), static_cast<QWidget*>(t.w.inspector()->nameField()));
      editor(param);
      tabTo(e->inputs()[0]);
      for (int i = 0; i < values.size(); ++i) {
        if (i) QCOMPARE(focus(), e->inputs()[i]);
        type(values[i]);
        key(Qt::Key_Tab);
      }
    };
    auto quickAdd = [&](const QString& kind) {
      key(Qt::Key_1, Qt::AltModifier);
      QTRY_COMPARE(focus(), static_cast<QWidget*>(t.v()));
      QString before = selected();
      key(Qt::Key_Tab);
      QTRY_VERIFY(t.v()->quickAddPopup()->isVisible());
      type(kind);
      key(Qt::Key_Return);
      QCOMPARE(t.m()->node(selected())->type, kind);
      if (!before.isEmpty())  // wired after the node that was selected
        QCOMPARE(t.m()->edgesAt({selected(), "input", PortSide::Input}).size(), size_t(1));
    };
    auto paletteAdd = [&](const QString& search, const QString& kind) {
      key(Qt::Key_2, Qt::AltModifier);
      QTRY_COMPARE(focus(), static_cast<QWidget*>(t.w.palette()->searchField()));
      type(search);
      QCOMPARE(t.w.palette()->highlightedType(), kind);
      QString before = selected();
      key(Qt::Key_Return);
      QCOMPARE(t.m()->node(selected())->type, kind);
      if (!before.isEmpty()) {
        auto in = t.m()->edgesAt({selected(), "input", PortSide::Input});
        QCOMPARE(in.size(), size_t(1));
        QCOMPARE(in[0].fromNode, before);
      }
    };

    QTest::keyClick(&t.w, Qt::Key_1, Qt::AltModifier);
    QTRY_COMPARE(focus(), static_cast<QWidget*>(t.v()));
    key(Qt::Key_N, Qt::ControlModifier);
    QVERIFY(t.m()->nodes().empty());
    QVERIFY(t.v()->emptyHint()->isVisible());

    paletteAdd("input", "Input");
    QVERIFY(!t.v()->emptyHint()->isVisible());
    set("shape", {"1, 28, 28"});
    QCOMPARE(typeText(t.m()->outputType(selected())), QString("[N, 1, 28, 28]"));
    quickAdd("Conv2d");
    set("out_channels", {"6"});
    // Kernel and padding: the first number sets both (a square pair stays square).
    set("kernel_size", {"5"});
    set("padding", {"2"});
    QVERIFY(t.m()->node(selected())->params["kernel_size"] == nlohmann::json({5, 5}));
    QCOMPARE(typeText(t.m()->outputType(selected())), QString("[N, 6, 28, 28]"));
    quickAdd("ReLU");
    paletteAdd("maxpool", "MaxPool2d");
    paletteAdd("conv2d", "Conv2d");
    set("out_channels", {"16"});
    set("kernel_size", {"5"});
    quickAdd("ReLU");
    quickAdd("MaxPool2d");
    paletteAdd("flatten", "Flatten");
    QCOMPARE(typeText(t.m()->outputType(selected())), QString("[N, 400]"));
    paletteAdd("linear", "Linear");
    set("out_features", {"120"});
    paletteAdd("relu", "ReLU");
    quickAdd("Linear");
    set("out_features", {"84"});
    quickAdd("ReLU");
    quickAdd("Linear");
    set("out_features", {"10"});
    QString fc3 = selected();
    paletteAdd("crossentropy", "CrossEntropyLoss");
    QString loss = selected();
    QVERIFY2(t.m()->analysis().ok(), ng::format_diagnostics(t.m()->analysis().diagnostics).c_str());

    // Along the wires and back; the loss's wire removed (Shift+C) and made again from the
    // last Linear (C, then the port chosen by typing).
    key(Qt::Key_1, Qt::AltModifier);
    QTRY_COMPARE(focus(), static_cast<QWidget*>(t.v()));
    key(Qt::Key_Left, Qt::AltModifier);
    QCOMPARE(selected(), fc3);
    key(Qt::Key_Right, Qt::AltModifier);
    QCOMPARE(selected(), loss);
    key(Qt::Key_C, Qt::ShiftModifier);
    QTRY_VERIFY(t.v()->choicePopup()->isVisible());
    key(Qt::Key_Return);
    QVERIFY(t.m()->edgesAt({loss, "input", PortSide::Input}).empty());
    QTRY_COMPARE(focus(), static_cast<QWidget*>(t.v()));
    key(Qt::Key_F, Qt::ControlModifier);
    QTRY_VERIFY(t.v()->choicePopup()->isVisible());
    type(fc3);
    key(Qt::Key_Return);
    QCOMPARE(selected(), fc3);
    QTRY_COMPARE(focus(), static_cast<QWidget*>(t.v()));
    key(Qt::Key_C);
    QTRY_VERIFY(t.v()->choicePopup()->isVisible());
    QVERIFY(t.v()->choicePopup()->shownKeys().contains("output\n" + loss + "\ninput"));
    type(loss + " input");
    QCOMPARE(t.v()->choicePopup()->shownKeys(), QStringList{"output\n" + loss + "\ninput"});
    key(Qt::Key_Return);
    QCOMPARE(t.m()->edgesAt({loss, "input", PortSide::Input}).size(), size_t(1));

    QVERIFY(t.m()->analysis().ok());
    QCOMPARE(int(t.m()->nodes().size()), 14);
    QCOMPARE(t.m()->totalParams(), int64_t(61706));
    QTRY_COMPARE(focus(), static_cast<QWidget*>(t.v()));
    key(Qt::Key_L, Qt::ControlModifier);  // auto layout
    QVERIFY(!t.w.scene()->crowded());
    key(Qt::Key_S, Qt::ControlModifier);
    QCOMPARE(t.w.currentFile(), path);
    QVERIFY(t.m()->undoStack()->isClean());
    GraphModel saved;
    saved.loadProject(path);
    QCOMPARE(int(saved.nodes().size()), 14);
    QCOMPARE(saved.totalParams(), int64_t(61706));
    QVERIFY(saved.analysis().ok());
  }

  // What the mouse walk-through found awkward, fixed: a layer double-clicked in the palette
  // follows the selected node, wired (as Tab's quick-add), in one undo step; with nothing
  // selected it goes to the middle of the canvas, unwired.
  void paletteDoubleClickAddsAfterTheSelectedNode() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-mlp.ngraph")));
    t.w.scene()->selectNodes({"fc1"});
    size_t nodes = t.m()->nodes().size();
    int steps = t.m()->undoStack()->count();
    QTreeWidgetItem* item = t.w.palette()->itemFor("Dropout");
    QVERIFY(item);
    t.w.palette()->tree()->scrollToItem(item);
    QRect r = t.w.palette()->tree()->visualItemRect(item);
    QTest::mouseClick(t.w.palette()->tree()->viewport(), Qt::LeftButton, {}, r.center());
    QTest::mouseDClick(t.w.palette()->tree()->viewport(), Qt::LeftButton, {}, r.center());
    QCOMPARE(t.m()->nodes().size(), nodes + 1);
    QString id = t.w.scene()->selectedNodeIds().value(0);
    QCOMPARE(t.m()->node(id)->type, QString("Dropout"));
    auto in = t.m()->edgesAt({id, "input", PortSide::Input});
    QCOMPARE(in.size(), size_t(1));
    QCOMPARE(in[0].fromNode, QString("fc1"));
    QVERIFY(t.m()->node(id)->pos.x() > t.m()->node("fc1")->pos.x());
    QCOMPARE(t.m()->undoStack()->count(), steps + 1);
    t.m()->undoStack()->undo();
    QCOMPARE(t.m()->nodes().size(), nodes);
    // Nothing selected: the middle of the view, no wire.
    t.w.scene()->clearSelection();
    QTest::mouseClick(t.w.palette()->tree()->viewport(), Qt::LeftButton, {}, r.center());
    QTest::mouseDClick(t.w.palette()->tree()->viewport(), Qt::LeftButton, {}, r.center());
    id = t.w.scene()->selectedNodeIds().value(0);
    QVERIFY(t.m()->edgesAt({id, "input", PortSide::Input}).empty());
    QPointF mid = t.v()->mapToScene(t.v()->viewport()->rect().center());
    QVERIFY(QLineF(t.w.scene()->nodeItem(id)->sceneBoundingRect().center(), mid).length() < 200);
  }

  // Quick-add is as tall as what it lists: a single match is not a column of empty space.
  void quickAddFitsItsMatches() {
    Window t;
    t.v()->setFocus();
    QTest::keyClick(t.v(), Qt::Key_Tab);
    QuickAddPopup* q = t.v()->quickAddPopup();
    QTRY_VERIFY(q->isVisible());
    int full = q->height();
    QCOMPARE(full, 380);
    QTest::keyClicks(q->filterField(), "dropo");
    QCOMPARE(q->shownKeys(), QStringList{"Dropout"});
    QVERIFY2(q->height() < full / 3, qPrintable(QString::number(q->height())));
    QVERIFY(q->findChild<QListWidget*>()
                ->visualItemRect(q->findChild<QListWidget*>()->item(0))
                .bottom() <= q->findChild<QListWidget*>()->viewport()->height());
    QTest::keyClick(q->filterField(), Qt::Key_Escape);
  }

  // The palette's search highlights what Enter will add: the name itself, else a name starting
  // with the text, else the first shown; Up and Down move the highlight.
  void paletteSearchHighlightsTheBestMatch() {
    LayerPalette p;
    p.show();
    QTest::keyClicks(p.searchField(), "relu");
    QCOMPARE(p.highlightedType(), QString("ReLU"));  // not LeakyReLU
    p.searchField()->clear();
    QTest::keyClicks(p.searchField(), "lin");
    QCOMPARE(p.highlightedType(), QString("Linear"));
    p.searchField()->clear();
    QTest::keyClicks(p.searchField(), "pool");
    QStringList shown = p.visibleTypes();
    QVERIFY(shown.size() >= 2);
    QCOMPARE(p.highlightedType(), shown[0]);
    QTest::keyClick(p.searchField(), Qt::Key_Down);
    QCOMPARE(p.highlightedType(), shown[1]);
    QTest::keyClick(p.searchField(), Qt::Key_Up);
    QTest::keyClick(p.searchField(), Qt::Key_Up);
    QCOMPARE(p.highlightedType(), shown[0]);
    QSignalSpy added(&p, &LayerPalette::addRequested);
    QTest::keyClick(p.searchField(), Qt::Key_Down);
    QTest::keyClick(p.searchField(), Qt::Key_Return);
    QCOMPARE(added.size(), 1);
    QCOMPARE(added[0][0].toString(), shown[1]);
  }

  // The inspector's Tab order does not change as values change: the reset buttons (shown only
  // for values other than the default) take no focus. A pair stays square while it is.
  void inspectorTabOrderIsStableAndPairsStaySquare() {
    Window t;
    QVERIFY(t.w.openFile(example("lenet-mnist.ngraph")));
    t.w.scene()->selectNodes({"conv2"});
    ParamEditor* k = t.w.inspector()->paramEditor("kernel_size");
    ParamEditor* s = t.w.inspector()->paramEditor("stride");
    QVERIFY(k && s && k->resetButton());
    QCOMPARE(k->resetButton()->focusPolicy(), Qt::NoFocus);
    QVERIFY(k->resetButton()->isVisibleTo(k));  // 5 x 5 is not the default
    k->inputs()[1]->setFocus(Qt::TabFocusReason);
    QTest::keyClick(k->inputs()[1], Qt::Key_Tab);
    QCOMPARE(QApplication::focusWidget(), s->inputs()[0]);
    // 5 x 5 -> 3 x 3 with one number and one undo step; then 3 x 1 with the second alone.
    auto* a = static_cast<QSpinBox*>(k->inputs()[0]);
    auto* b = static_cast<QSpinBox*>(k->inputs()[1]);
    int steps = t.m()->undoStack()->count();
    a->setFocus();
    QTest::keyClick(a, Qt::Key_A, Qt::ControlModifier);
    QTest::keyClicks(a, "3");
    QTest::keyClick(a, Qt::Key_Return);
    QVERIFY(t.m()->node("conv2")->params["kernel_size"] == nlohmann::json({3, 3}));
    QCOMPARE(t.m()->undoStack()->count(), steps + 1);
    b->setFocus();
    QTest::keyClick(b, Qt::Key_A, Qt::ControlModifier);
    QTest::keyClicks(b, "1");
    QTest::keyClick(b, Qt::Key_Return);
    QVERIFY(t.m()->node("conv2")->params["kernel_size"] == nlohmann::json({3, 1}));
    // Not square: the first alone.
    a->setFocus();
    QTest::keyClick(a, Qt::Key_A, Qt::ControlModifier);
    QTest::keyClicks(a, "2");
    QTest::keyClick(a, Qt::Key_Return);
    QVERIFY(t.m()->node("conv2")->params["kernel_size"] == nlohmann::json({2, 1}));
  }

  // An empty canvas says how to begin, and its only problem (no loss yet) is not an error.
  void anEmptyCanvasSaysHowToBegin() {
    Window t;  // a new window's canvas is empty: the hint is in its middle from the start
    QPoint off = t.v()->emptyHint()->geometry().center() - t.v()->viewport()->rect().center();
    QVERIFY2(t.v()->emptyHint()->isVisible() && off.manhattanLength() <= 2,
             qPrintable(QString("the hint is off the middle by %1, %2").arg(off.x()).arg(off.y())));
    t.w.newDocument();
    QVERIFY(t.v()->emptyHint()->isVisible());
    QVERIFY(t.v()->emptyHint()->text().contains("Tab"));
    QVERIFY(t.v()->viewport()->rect().contains(t.v()->emptyHint()->geometry()));
    // In the middle of the canvas, also after the window changes size.
    for (QSize size : {QSize(1300, 850), QSize(1000, 700)}) {
      t.w.resize(size);
      QTest::qWait(30);
      QPoint off = t.v()->emptyHint()->geometry().center() - t.v()->viewport()->rect().center();
      QVERIFY2(
          off.manhattanLength() <= 2,
          qPrintable(QString("the hint is off the middle by %1, %2").arg(off.x()).arg(off.y())));
    }
    QCOMPARE(t.w.issues()->topLevelItemCount(), 0);
    QVERIFY(!t.w.totalsLabel()->text().contains("error"));
    t.v()->addNodeAt("ReLU", {0, 0});
    QVERIFY(!t.v()->emptyHint()->isVisible());
    QVERIFY(t.w.issues()->topLevelItemCount() > 0);  // now the problems are listed
    t.m()->undoStack()->undo();
    QVERIFY(t.v()->emptyHint()->isVisible());
  }

  // Save As proposes a name: the file's, the example's, or untitled.ngraph.
  void saveAsProposesAName() {
    Window t;
    QVERIFY(t.w.openExample(example("spiral-mlp.ngraph")));
    QString proposed;
    // Qt's own dialog (a desktop's native one could not be read or closed from here).
    QCoreApplication::setAttribute(Qt::AA_DontUseNativeDialogs, true);
    QTimer::singleShot(300, [&] {
      for (QWidget* w : QApplication::topLevelWidgets())
        if (auto* d = qobject_cast<QFileDialog*>(w); d && d->isVisible()) {
          proposed = d->selectedFiles().value(0);
          d->reject();
        }
      if (QWidget* modal = QApplication::activeModalWidget()) modal->close();
    });
    QCOMPARE(t.w.pickFile(true), QString());  // the real dialog, cancelled
    QVERIFY2(proposed.endsWith("/spiral-mlp.ngraph"), qPrintable(proposed));
  }

  // Alt+Shift+Right / Left add the next node along the wires to the selection: a run of layers
  // chosen by keyboard becomes a block with Ctrl+G.
  void theSelectionExtendsAlongTheWiresByKeyboard() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-mlp.ngraph")));
    t.w.scene()->selectNodes({"fc2"});
    t.v()->setFocus();
    auto selection = [&] {
      QStringList s = t.w.scene()->selectedNodeIds();
      s.sort();
      return s;
    };
    QTest::keyClick(t.v(), Qt::Key_Left, Qt::AltModifier | Qt::ShiftModifier);
    QCOMPARE(selection(), (QStringList{"act1", "fc2"}));
    QTest::keyClick(t.v(), Qt::Key_Left, Qt::AltModifier | Qt::ShiftModifier);
    QCOMPARE(selection(), (QStringList{"act1", "fc1", "fc2"}));
    // Alt+Right alone: one node again, from the end reached last.
    QTest::keyClick(t.v(), Qt::Key_Right, Qt::AltModifier);
    QCOMPARE(selection(), QStringList{"act1"});
    QTest::keyClick(t.v(), Qt::Key_Right, Qt::AltModifier | Qt::ShiftModifier);
    QTest::keyClick(t.v(), Qt::Key_Right, Qt::AltModifier | Qt::ShiftModifier);
    QCOMPARE(selection(), (QStringList{"act1", "act2", "fc2"}));
    QTest::keyClick(t.v(), Qt::Key_G, Qt::ControlModifier);
    QVERIFY(t.m()->isBlockNode("layer"));
    QVERIFY(t.m()->analysis().ok());
    QVERIFY(!t.m()->node("act1") && !t.m()->node("act2"));
  }

  // A frame is found by its title (Ctrl+F) and then moves with the arrows, its nodes with it.
  void framesAreFoundByKeyboard() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-blocks.ngraph")));
    QCOMPARE(int(t.m()->frames().size()), 1);
    Frame f = t.m()->frames()[0];
    t.w.scene()->clearSelection();
    t.v()->setFocus();
    QTest::keyClick(t.v(), Qt::Key_F, Qt::ControlModifier);
    QTRY_VERIFY(t.v()->choicePopup()->isVisible());
    QTest::keyClicks(t.v()->choicePopup()->filterField(), f.title + " frame");
    QCOMPARE(t.v()->choicePopup()->shownKeys().size(), 1);
    QTest::keyClick(t.v()->choicePopup()->filterField(), Qt::Key_Return);
    QCOMPARE(t.w.scene()->selectedFrameIds(), QList<int>{f.id});
    QTRY_COMPARE(QApplication::focusWidget(), static_cast<QWidget*>(t.v()));
    QTest::keyClick(t.v(), Qt::Key_Down);
    QCOMPARE(t.m()->frame(f.id)->rect.topLeft(), f.rect.topLeft() + QPointF(0, 20));
  }

  // Cut in one window, paste in another: the nodes travel as JSON on the clipboard with the
  // wire between them and their parameters; each window undoes its own part.
  void cutAndPasteGoBetweenWindows() {
    Window a, b;
    QVERIFY(a.w.openFile(example("spiral-mlp.ngraph")));
    b.w.newDocument();
    size_t n = a.m()->nodes().size();
    a.w.scene()->selectNodes({"fc2", "act2"});
    a.w.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&a.w));
    a.v()->setFocus();
    QTest::keyClick(a.v(), Qt::Key_X, Qt::ControlModifier);
    QCOMPARE(a.m()->nodes().size(), n - 2);
    QVERIFY(!a.m()->node("fc2"));
    b.w.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&b.w));
    b.v()->setFocus();
    QTest::keyClick(b.v(), Qt::Key_V, Qt::ControlModifier);
    QCOMPARE(b.m()->nodes().size(), size_t(2));
    QCOMPARE(b.m()->edges().size(), size_t(1));
    QStringList types;
    for (const Node& node : b.m()->nodes()) {
      types << node.type;
      if (node.type == "Linear") QVERIFY(node.params["out_features"] == 64);
    }
    types.sort();
    QCOMPARE(types, (QStringList{"Linear", "Tanh"}));
    QVERIFY(b.w.isWindowModified());
    // Pasted again in the first window (as copies with fresh names), and the cut undone there.
    a.w.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&a.w));
    a.v()->setFocus();
    QTest::keyClick(a.v(), Qt::Key_V, Qt::ControlModifier);
    QCOMPARE(a.m()->nodes().size(), n);
    a.m()->undoStack()->undo();
    a.m()->undoStack()->undo();
    QVERIFY(a.m()->node("fc2") && a.m()->node("act2"));
    QVERIFY(a.m()->analysis().ok());
    QCOMPARE(b.m()->nodes().size(), size_t(2));
  }

  // File > Open Recent: newest first with mnemonics, kept with QSettings for the next window;
  // a file gone since is reported and taken off the list, and the document stays.
  void recentFilesReopenAndForgetMissingOnes() {
    QTemporaryDir dir;
    QString a = dir.filePath("a.ngraph"), b = dir.filePath("b.ngraph");
    QVERIFY(QFile::copy(example("spiral-mlp.ngraph"), a));
    QVERIFY(QFile::copy(example("lenet-mnist.ngraph"), b));
    QSettings().remove("recentFiles");
    Window t;
    QVERIFY(t.w.openFile(a));
    QVERIFY(t.w.openFile(b));
    QCOMPARE(t.w.recentFiles(), (QStringList{b, a}));
    auto recentMenu = [&]() -> QMenu* {
      for (QAction* top : t.w.menuBar()->actions())
        if (top->menu())
          for (QAction* a : top->menu()->actions())
            if (a->menu() && a->text().contains("Recent")) return a->menu();
      return nullptr;
    };
    QMenu* recent = recentMenu();
    QVERIFY(recent);
    QCOMPARE(recent->actions()[0]->text(), QString("&1 b.ngraph"));
    QCOMPARE(recent->actions()[1]->text(), QString("&2 a.ngraph"));
    recent->actions()[1]->trigger();
    QCOMPARE(t.w.currentFile(), a);
    QCOMPARE(t.w.recentFiles(), (QStringList{a, b}));
    {
      MainWindow other;  // the next session's window reads the same list
      QCOMPARE(other.recentFiles(), (QStringList{a, b}));
    }
    QVERIFY(QFile::remove(b));
    QCOMPARE(recent->actions()[1]->text(), QString("&2 b.ngraph"));
    recent->actions()[1]->trigger();
    QCOMPARE(t.errors.size(), 1);
    QVERIFY2(t.errors[0].contains("b.ngraph") && t.errors[0].contains("no longer"),
             qPrintable(t.errors[0]));
    QCOMPARE(t.w.recentFiles(), QStringList{a});
    QCOMPARE(recent->actions()[0]->text(), QString("&1 a.ngraph"));
    QCOMPARE(t.w.currentFile(), a);
    QCOMPARE(int(t.m()->nodes().size()), 7);
  }

  // On a small canvas (a laptop at 2x) the mini-map is smaller, and fitting the graph leaves no
  // node under it; several selected nodes make the inspector say what can be done with them.
  void theMiniMapHidesNoNodeAndTheInspectorCountsTheSelection() {
    Window t;
    QVERIFY(t.w.openFile(example("lenet-mnist.ngraph")));
    for (QSize size : {QSize(1300, 850), QSize(1000, 640)}) {
      t.w.resize(size);
      QTest::qWait(50);
      QTest::keyClick(t.v(), Qt::Key_L, Qt::ControlModifier);
      t.v()->fitToView();
      QWidget* map = t.v()->miniMap();
      int vw = t.v()->viewport()->width();
      QCOMPARE(map->width(), std::clamp(vw / 5, 120, 200));
      if (!map->isVisible()) continue;
      for (NodeItem* n : t.w.scene()->nodeItems())
        QVERIFY2(
            !t.v()->mapFromScene(n->sceneBoundingRect()).boundingRect().intersects(map->geometry()),
            qPrintable(QString("%1 under the mini-map on a %2x%3 canvas")
                           .arg(n->id())
                           .arg(vw)
                           .arg(t.v()->viewport()->height())));
    }
    t.w.scene()->selectNodes({"conv1", "relu1", "pool1"});
    QVERIFY(t.w.inspector()->node().isEmpty());
    QVERIFY2(t.w.inspector()->placeholderText().contains("3 nodes selected") &&
                 t.w.inspector()->placeholderText().contains("Ctrl+G"),
             qPrintable(t.w.inspector()->placeholderText()));
    t.w.scene()->clearSelection();
    QVERIFY(t.w.inspector()->placeholderText().startsWith("Select a node"));
  }

  // ---- gallery and themes ------------------------------------------------------------------

  void theGalleryShowsEveryExampleWithASummary() {
    ExampleGallery g(MainWindow::examplesDir());
    QStringList names;
    for (const ExampleGallery::Entry& e : g.entries()) {
      names << e.name;
      QVERIFY2(e.error.isEmpty(), qPrintable(e.error));
      QVERIFY(!e.picture.isNull());
      // The picture shows the graph: not just the background.
      QImage img = e.picture.toImage();
      int differ = 0;
      QColor bg = img.pixelColor(1, 1);
      for (int y = 0; y < img.height(); y += 3)
        for (int x = 0; x < img.width(); x += 3) differ += img.pixelColor(x, y) != bg;
      QVERIFY2(differ > 50, qPrintable(e.name));
      // ... and fills the picture: a long chain wraps instead of being a thin strip.
      QRect used;
      for (int y = 0; y < img.height(); y += 2)
        for (int x = 0; x < img.width(); x += 2)
          if (img.pixelColor(x, y) != bg) used |= QRect(x, y, 1, 1);
      QVERIFY2(used.width() > img.width() / 2 && used.height() > img.height() / 3,
               qPrintable(QString("%1: the graph covers %2x%3 of %4x%5")
                              .arg(e.name)
                              .arg(used.width())
                              .arg(used.height())
                              .arg(img.width())
                              .arg(img.height())));
    }
    QVERIFY(names.contains("lenet-mnist") && names.contains("spiral-blocks"));
    QCOMPARE(g.list()->count(), int(g.entries().size()));
    auto entry = [&](const QString& n) {
      for (const ExampleGallery::Entry& e : g.entries())
        if (e.name == n) return e;
      return ExampleGallery::Entry{};
    };
    ExampleGallery::Entry lenet = entry("lenet-mnist");
    QCOMPARE(lenet.layerCount, 14);
    QCOMPARE(lenet.params, int64_t(61706));
    QVERIFY2(lenet.summary.contains("61,706 parameters") && lenet.summary.contains("mnist"),
             qPrintable(lenet.summary));
    QVERIFY(lenet.layers.contains(QString::fromUtf8("Conv2d \u00d72")));
    QVERIFY(entry("spiral-blocks").summary.contains("blocks: residual"));
    // Keyboard: arrows choose, the details follow.
    g.list()->setCurrentRow(names.indexOf("spiral-blocks"));
    QVERIFY(g.chosenPath().endsWith("spiral-blocks.ngraph"));
    QVERIFY(g.findChild<QLabel*>("details")->text().contains("spiral-blocks"));
  }

  void newFromExampleOpensAnUntitledCopy() {
    Window t;
    t.w.pickExample = [] { return example("spiral-blocks.ngraph"); };
    QVERIFY(t.w.newFromExample());
    QVERIFY(t.w.currentFile().isEmpty());
    QVERIFY(t.w.windowTitle().contains("spiral-blocks (example)"));
    QVERIFY(t.m()->isBlockNode("body"));
    QCOMPARE(int(t.m()->frames().size()), 1);
    t.w.pickExample = [] { return QString(); };  // cancelled
    QVERIFY(!t.w.newFromExample());
  }

  void theThemeSwitchesAndIsRemembered() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-mlp.ngraph")));
    QAction* light = t.w.findChild<QAction*>("themeLight");
    QAction* dark = t.w.findChild<QAction*>("themeDark");
    QVERIFY(light && dark);
    light->trigger();
    QCOMPARE(style::theme(), style::Theme::Light);
    QCOMPARE(QSettings().value("view/theme").toString(), QString("light"));
    QVERIFY(light->isChecked() && !dark->isChecked());
    QVERIFY(QApplication::palette().color(QPalette::Window).lightness() > 200);
    QTest::qWait(50);
    QImage shot = t.v()->viewport()->grab().toImage();
    QVERIFY(QColor(shot.pixel(3, 3)).lightness() > 200);  // the canvas is light
    dark->trigger();
    QCOMPARE(style::theme(), style::Theme::Dark);
    QCOMPARE(QSettings().value("view/theme").toString(), QString("dark"));
    QVERIFY(QApplication::palette().color(QPalette::Window).lightness() < 80);
    // Disabled menu entries are not etched with a bright shadow on the dark menu.
    QCOMPARE(QApplication::palette().color(QPalette::Disabled, QPalette::Light).alpha(), 0);
    shot = t.v()->viewport()->grab().toImage();
    QVERIFY(QColor(shot.pixel(3, 3)).lightness() < 80);
  }

  // ---- high DPI ------------------------------------------------------------------------------

  void theWindowFitsTheScreenAndTextFitsTheNodes() {
    Window t;
    QVERIFY(t.w.openFile(example("spiral-blocks.ngraph")));
    QScreen* s = t.w.screen();
    QVERIFY(s);
    MainWindow fresh;  // the default size, before any geometry is restored
    if (s->availableGeometry().width() < 640 || s->availableGeometry().height() < 400)
      QSKIP("a screen smaller than 640x400 logical pixels (Qt's offscreen 800x600 at 2x)");
    QVERIFY2(s->availableGeometry().width() >= fresh.width() &&
                 s->availableGeometry().height() >= fresh.height(),
             qPrintable(QString("%1x%2 on %3x%4 at scale %5")
                            .arg(fresh.width())
                            .arg(fresh.height())
                            .arg(s->availableGeometry().width())
                            .arg(s->availableGeometry().height())
                            .arg(s->devicePixelRatio())));
    // A node's title fits its header at this scale (fonts in points, sizes in logical pixels).
    QFont f;
    f.setPointSizeF(9.5);
    f.setBold(true);
    QVERIFY(QFontMetricsF(f).height() < 24);
    // Grabbed pixels follow the device pixel ratio: nothing is drawn at 1x and stretched.
    QImage shot = t.v()->viewport()->grab().toImage();
    QCOMPARE(shot.width(), qRound(t.v()->viewport()->width() * t.v()->devicePixelRatioF()));
  }
};

NG_GUI_TEST_MAIN(EditorTest)
#include "test_editor.moc"
