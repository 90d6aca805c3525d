// The canvas, palette, quick-add popup and inspector, driven with real mouse and key events on
// a shown view (a real X display under CI, or Qt's offscreen platform).
#include <QAbstractItemModel>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QLineEdit>
#include <QListWidget>
#include <QMimeData>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTest>
#include <QToolButton>
#include <QTreeWidget>
#include <QUndoStack>

#include "gui_test_main.h"
#include "tests/gui/graph_model_fixture.h"
#include "widgets/inspector/node_inspector.h"
#include "widgets/nodegraph/view/layer_palette.h"
#include "widgets/nodegraph/view/mime.h"
#include "widgets/nodegraph/view/mini_map.h"
#include "widgets/nodegraph/view/node_view.h"
#include "widgets/nodegraph/view/quick_add_popup.h"

using namespace ng::gui;
using ng::gui::testing::in;
using ng::gui::testing::out;
using nlohmann::json;

namespace {

struct Canvas {
  GraphModel model;
  NodeGraphScene scene{&model};
  NodeGraphView view{&scene};
  QStringList messages;

  Canvas() {
    QObject::connect(&view, &NodeGraphView::statusMessage,
                     [this](const QString& t) { messages << t; });
    view.resize(1000, 700);
    view.show();
    view.activateWindow();
    view.setFocus();
    (void)QTest::qWaitForWindowExposed(&view);
    // Shortcuts (F to fit, Tab, Del...) reach only the active window; on a bare X server the
    // activation lands a moment after the window shows.
    (void)QTest::qWaitForWindowActive(&view);
    view.resetTransform();
    view.centerOn(400, 200);  // scene (400, 200) in the middle, 1:1
  }
  QPoint at(QPointF scenePos) const { return view.mapFromScene(scenePos); }
  QPoint portAt(const QString& node, PortSide side, const QString& port) const {
    return at(scene.nodeItem(node)->port(side, port)->scenePos());
  }
  QWidget* vp() { return view.viewport(); }
  // Press at a, move in steps to b, release: a user's drag.
  void drag(QPoint a, QPoint b, Qt::MouseButton button = Qt::LeftButton) {
    QTest::mousePress(vp(), button, Qt::NoModifier, a);
    for (int k = 1; k <= 5; ++k) QTest::mouseMove(vp(), a + (b - a) * k / 5);
    QTest::mouseRelease(vp(), button, Qt::NoModifier, b);
  }
  QString lastMessage() const { return messages.isEmpty() ? QString() : messages.last(); }
};

// input [1, 28, 28] -> conv1 (6, 5x5, padding 2) at 1:1 positions on the canvas
void twoNodes(GraphModel& m) {
  m.addNode("Input", {0, 100}, {{"shape", {1, 28, 28}}}, "input");
  m.addNode("Conv2d", {300, 100}, {{"out_channels", 6}, {"kernel_size", 5}, {"padding", 2}},
            "conv1");
}

}  // namespace

class CanvasTest : public QObject {
  Q_OBJECT
 private slots:
  void paletteListsEveryRegistryKindByCategory() {
    LayerPalette palette;
    QStringList all = palette.visibleTypes();
    QCOMPARE(all.size(), int(ng::LayerRegistry::instance().kinds().size()));
    for (const ng::LayerDef& d : ng::LayerRegistry::instance().kinds())
      QVERIFY2(all.contains(QString::fromStdString(d.name)), d.name.c_str());
    QCOMPARE(palette.tree()->topLevelItem(0)->text(0), QString("Input"));
    palette.searchField()->setText("pool");
    QStringList pools = palette.visibleTypes();
    QVERIFY(pools.contains("MaxPool2d") && pools.contains("AvgPool2d"));
    QVERIFY(!pools.contains("Linear"));
    palette.searchField()->setText("residual");  // in Add's summary
    QCOMPARE(palette.visibleTypes(), QStringList{"Add"});
    palette.searchField()->setText("zzzz");
    QVERIFY(palette.visibleTypes().isEmpty());
  }

  void dragFromPaletteCreatesANode() {
    Canvas c;
    LayerPalette palette;
    // What the palette's tree hands to a drag of its Conv2d item.
    QTreeWidgetItem* item = palette.itemFor("Conv2d");
    QVERIFY(item);
    QModelIndex index = palette.tree()->indexFromItem(item);
    std::unique_ptr<QMimeData> md(palette.tree()->model()->mimeData({index}));
    QVERIFY(md && md->hasFormat(mime::kLayerType));

    QPoint drop = c.at({500, 300});
    QDragEnterEvent enter(drop, Qt::CopyAction, md.get(), Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(c.vp(), &enter);
    QVERIFY(enter.isAccepted());
    QDragMoveEvent move(drop, Qt::CopyAction, md.get(), Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(c.vp(), &move);
    QDropEvent dropEv(QPointF(drop), Qt::CopyAction, md.get(), Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(c.vp(), &dropEv);
    QVERIFY(dropEv.isAccepted());

    QCOMPARE(int(c.model.nodes().size()), 1);
    const Node& n = c.model.nodes()[0];
    QCOMPARE(n.type, QString("Conv2d"));
    NodeItem* it = c.scene.nodeItem(n.id);
    QVERIFY(it);
    QVERIFY(it->sceneBoundingRect().contains(QPointF(500, 300)));  // under the drop point
    QVERIFY(it->isSelected());
    c.model.undoStack()->undo();
    QVERIFY(c.model.nodes().empty());
    QVERIFY(c.scene.nodeItems().isEmpty());
  }

  void doubleClickInPaletteRequestsAdd() {
    LayerPalette palette;
    QSignalSpy spy(&palette, &LayerPalette::addRequested);
    palette.show();
    QVERIFY(QTest::qWaitForWindowExposed(&palette));
    QTreeWidgetItem* item = palette.itemFor("ReLU");
    palette.tree()->scrollToItem(item);
    QRect r = palette.tree()->visualItemRect(item);
    QTest::mouseClick(palette.tree()->viewport(), Qt::LeftButton, {}, r.center());
    QTest::mouseDClick(palette.tree()->viewport(), Qt::LeftButton, {}, r.center());
    QCOMPARE(spy.count(), 1);
    QCOMPARE(spy[0][0].toString(), QString("ReLU"));
  }

  void dragBetweenPortsCreatesAnEdge() {
    Canvas c;
    twoNodes(c.model);
    QPoint from = c.portAt("input", PortSide::Output, "output");
    QPoint to = c.portAt("conv1", PortSide::Input, "input");
    // Released a little off the port: the wire snaps to it.
    c.drag(from, to + QPoint(12, 9));
    QCOMPARE(int(c.model.edges().size()), 1);
    const Edge& e = c.model.edges()[0];
    QCOMPARE(e.fromNode, QString("input"));
    QCOMPARE(e.toNode, QString("conv1"));
    QVERIFY(!c.scene.drawingWire());
    WireItem* w = c.scene.wireItem(e.id);
    QVERIFY(w);
    QCOMPARE(w->label(), QString::fromUtf8("1\u00d728\u00d728"));  // the shape on the wire
    QVERIFY(c.scene.nodeItem("conv1")->texts().join(' ').contains("[N, 6, 28, 28]"));
    QVERIFY(c.scene.nodeItem("conv1")->texts().join(' ').contains("156 params"));
    // And backwards, from an input to an output.
    c.model.addNode("ReLU", {600, 100}, {}, "relu");
    c.drag(c.portAt("relu", PortSide::Input, "input"),
           c.portAt("conv1", PortSide::Output, "output"));
    QCOMPARE(c.model.edgesAt(in("relu")).size(), size_t(1));
  }

  void incompatibleConnectionsAreRefusedWithTheReason() {
    Canvas c;
    twoNodes(c.model);
    c.model.addNode("ReLU", {600, 100}, {}, "relu");
    c.model.addNode("Input", {0, 300}, {{"shape", {1, 28, 28}}}, "other");
    // output to output
    c.drag(c.portAt("input", PortSide::Output, "output"),
           c.portAt("conv1", PortSide::Output, "output"));
    QVERIFY(c.model.edges().empty());
    QVERIFY2(c.lastMessage().contains("two outputs"), qPrintable(c.lastMessage()));
    // a second wire into a single input
    QCOMPARE(c.model.connect(out("input"), in("conv1")), QString());
    c.drag(c.portAt("other", PortSide::Output, "output"),
           c.portAt("conv1", PortSide::Input, "input"));
    QCOMPARE(c.model.edgesAt(in("conv1")).size(), size_t(1));
    QCOMPARE(c.model.edgesAt(in("conv1"))[0].fromNode, QString("input"));
    QVERIFY2(c.lastMessage().contains("already connected"), qPrintable(c.lastMessage()));
    // a cycle
    QCOMPARE(c.model.connect(out("conv1"), in("relu")), QString());
    c.model.addNode("Add", {300, 400}, {}, "add");
    QCOMPARE(c.model.connect(out("relu"), in("add")), QString());
    c.drag(c.portAt("add", PortSide::Output, "output"), c.portAt("add", PortSide::Input, "input"));
    QVERIFY2(c.lastMessage().contains("itself"), qPrintable(c.lastMessage()));
    int edges = int(c.model.edges().size());
    c.model.addNode("Add", {800, 300}, {}, "add2");
    QCOMPARE(c.model.connect(out("add"), in("add2")), QString());
    c.drag(c.portAt("add2", PortSide::Output, "output"), c.portAt("add", PortSide::Input, "input"));
    QCOMPARE(int(c.model.edges().size()), edges + 1);  // only the connect() above
    QVERIFY2(c.lastMessage().contains("cycle"), qPrintable(c.lastMessage()));
  }

  void draggingAWireOffItsInputMovesOrRemovesIt() {
    Canvas c;
    twoNodes(c.model);
    c.model.addNode("Conv2d", {300, 350}, {{"out_channels", 3}}, "conv2");
    QCOMPARE(c.model.connect(out("input"), in("conv1")), QString());
    // onto another input: the wire moves (one undo step)
    int steps = c.model.undoStack()->count();
    c.drag(c.portAt("conv1", PortSide::Input, "input"),
           c.portAt("conv2", PortSide::Input, "input"));
    QCOMPARE(c.model.edgesAt(in("conv1")).size(), size_t(0));
    QCOMPARE(c.model.edgesAt(in("conv2")).size(), size_t(1));
    QCOMPARE(c.model.undoStack()->count(), steps + 1);
    // onto empty canvas: removed
    c.drag(c.portAt("conv2", PortSide::Input, "input"), c.at({200, 600}));
    QVERIFY(c.model.edges().empty());
    QVERIFY(c.scene.wireItems().isEmpty());
    c.model.undoStack()->undo();
    QCOMPARE(c.model.edgesAt(in("conv2")).size(), size_t(1));
    QVERIFY(c.scene.wireItem(c.model.edges()[0].id)->isVisible());
  }

  void tabOpensQuickAddWithTypeToFilter() {
    Canvas c;
    QTest::mouseMove(c.vp(), c.at({400, 200}));
    QTest::keyClick(&c.view, Qt::Key_Tab);
    QuickAddPopup* popup = c.view.quickAddPopup();
    QTRY_VERIFY(popup->isVisible());
    QTest::keyClicks(popup->filterField(), "maxp");
    QCOMPARE(popup->shownKeys(), QStringList{"MaxPool2d"});
    QTest::keyClick(popup->filterField(), Qt::Key_Return);
    QVERIFY(!popup->isVisible());
    QCOMPARE(int(c.model.nodes().size()), 1);
    QCOMPARE(c.model.nodes()[0].type, QString("MaxPool2d"));
    QCOMPARE(c.scene.selectedNodeIds(), QStringList{c.model.nodes()[0].id});

    // Names starting with the text come first; arrows move; with a node selected the new
    // node goes after it, wired.
    QTest::keyClick(&c.view, Qt::Key_Tab);
    QTRY_VERIFY(popup->isVisible());
    QTest::keyClicks(popup->filterField(), "re");
    QStringList shown = popup->shownKeys();
    QVERIFY(shown.size() > 2);
    QVERIFY(shown[0].startsWith("Re", Qt::CaseInsensitive));
    QTest::keyClick(popup->filterField(), Qt::Key_Escape);
    QVERIFY(!popup->isVisible());
    QTest::keyClick(&c.view, Qt::Key_Tab);
    QTRY_VERIFY(popup->isVisible());
    QTest::keyClicks(popup->filterField(), "Flatten");
    QTest::keyClick(popup->filterField(), Qt::Key_Enter);
    QCOMPARE(int(c.model.nodes().size()), 2);
    QCOMPARE(int(c.model.edges().size()), 1);
    QCOMPARE(c.model.edges()[0].toNode, QString("flatten1"));
    QVERIFY(c.model.node("flatten1")->pos.x() > c.model.nodes()[0].pos.x());
    c.model.undoStack()->undo();  // node and wire in one step
    QCOMPARE(int(c.model.nodes().size()), 1);
    QVERIFY(c.model.edges().empty());
  }

  void invalidNodesShowABadgeWithTheEnginesMessage() {
    Canvas c;
    twoNodes(c.model);
    c.model.connect(out("input"), in("conv1"));
    NodeItem* conv = c.scene.nodeItem("conv1");
    // (its unused output may give a warning badge, not an error)
    QVERIFY(!conv->badge()->isVisible() || !conv->badge()->isError());
    c.model.setParam("conv1", "in_channels", 3);  // the input has 1 channel
    QVERIFY(conv->badge()->isVisible());
    QVERIFY(conv->badge()->isError());
    QString tip = conv->badge()->toolTip();
    QVERIFY2(tip.contains("conv1") && tip.contains("1 channels"), qPrintable(tip));
    c.model.undoStack()->undo();
    QVERIFY(!conv->badge()->isVisible() || !conv->badge()->isError());
    // A problem with what arrives on an input also marks the wire, with the message.
    c.model.setParam("input", "shape", json::array({784}));
    QVERIFY(conv->badge()->isError());
    WireItem* w = c.scene.wireItem(c.model.edges()[0].id);
    QVERIFY2(w->toolTip().contains("[N, C, H, W]"), qPrintable(w->toolTip()));
    QCOMPARE(w->label(), QString("784"));
  }

  void nodesMoveWithOneUndoStepAndWiresFollow() {
    Canvas c;
    twoNodes(c.model);
    c.model.connect(out("input"), in("conv1"));
    WireItem* w = c.scene.wireItem(c.model.edges()[0].id);
    QPointF endBefore = w->toPoint();
    int steps = c.model.undoStack()->count();
    QPoint title = c.at({300 + 60, 100 + 10});  // conv1's header
    c.drag(title, title + QPoint(50, 80));
    QCOMPARE(c.model.node("conv1")->pos, QPointF(350, 180));
    QCOMPARE(c.model.undoStack()->count(), steps + 1);
    QCOMPARE(w->toPoint(), endBefore + QPointF(50, 80));
    c.model.undoStack()->undo();
    QCOMPARE(c.scene.nodeItem("conv1")->pos(), QPointF(300, 100));
    QCOMPARE(w->toPoint(), endBefore);
  }

  void rubberBandSelectsAndDeleteRemoves() {
    Canvas c;
    twoNodes(c.model);
    c.model.addNode("ReLU", {0, 400}, {}, "far");
    c.model.connect(out("input"), in("conv1"));
    c.drag(c.at({-30, 60}), c.at({520, 260}));
    QCOMPARE(c.scene.selectedNodeIds(), QStringList({"input", "conv1"}));
    c.view.setFocus();
    QTest::keyClick(&c.view, Qt::Key_Delete);
    QCOMPARE(c.model.nodeIds(), QStringList{"far"});
    QVERIFY(c.model.edges().empty());
    QTest::keyClick(&c.view, Qt::Key_Z, Qt::ControlModifier);  // no undo action on a bare view
    c.model.undoStack()->undo();
    QCOMPARE(int(c.model.nodes().size()), 3);
    QCOMPARE(int(c.model.edges().size()), 1);
  }

  void copyPasteAndDuplicateGoThroughTheClipboardAsJson() {
    Canvas c;
    twoNodes(c.model);
    c.model.connect(out("input"), in("conv1"));
    c.scene.selectNodes({"input", "conv1"});
    c.view.setFocus();
    QTest::keyClick(&c.view, Qt::Key_C, Qt::ControlModifier);
    const QMimeData* md = QApplication::clipboard()->mimeData();
    QVERIFY(md && md->hasFormat(mime::kGraphFragment));
    json frag = json::parse(md->text().toStdString());
    QCOMPARE(frag["nodes"].size(), size_t(2));
    QCOMPARE(frag["edges"].size(), size_t(1));
    QTest::mouseMove(c.vp(), c.at({100, 500}));
    QTest::keyClick(&c.view, Qt::Key_V, Qt::ControlModifier);
    QCOMPARE(int(c.model.nodes().size()), 4);
    QCOMPARE(int(c.model.edges().size()), 2);
    QStringList pasted = c.scene.selectedNodeIds();
    QCOMPARE(pasted.size(), 2);
    QVERIFY(!pasted.contains("input") && !pasted.contains("conv1"));
    QCOMPARE(c.model.hasError(pasted[1]), false);  // the pasted pair is wired and valid
    QTest::keyClick(&c.view, Qt::Key_D, Qt::ControlModifier);
    QCOMPARE(int(c.model.nodes().size()), 6);
    QCOMPARE(int(c.model.edges().size()), 3);
    // Text that is not a graph is refused politely.
    QApplication::clipboard()->setText("hello");
    QTest::keyClick(&c.view, Qt::Key_V, Qt::ControlModifier);
    QCOMPARE(int(c.model.nodes().size()), 6);
    QVERIFY(c.lastMessage().contains("no Neurograph nodes"));
  }

  void wheelZoomsAndFitShowsEverything() {
    Canvas c;
    twoNodes(c.model);
    c.model.addNode("ReLU", {2400, 1500}, {}, "far");
    double z = c.view.zoom();
    QPoint p = c.at({400, 200});
    QWheelEvent wheel(p, c.vp()->mapToGlobal(p), QPoint(), QPoint(0, 240), Qt::NoButton,
                      Qt::NoModifier, Qt::NoScrollPhase, false);
    QApplication::sendEvent(c.vp(), &wheel);
    QVERIFY(c.view.zoom() > z);
    c.view.setFocus();
    QTest::keyClick(&c.view, Qt::Key_F);
    QRectF visible = c.view.mapToScene(c.vp()->rect()).boundingRect();
    for (NodeItem* n : c.scene.nodeItems())
      QVERIFY2(visible.contains(n->sceneBoundingRect()), qPrintable(n->id()));
    QVERIFY(c.view.zoom() < 1);
    // Middle-button drag pans.
    QPointF before = c.view.mapToScene(c.vp()->rect().center());
    c.drag(c.vp()->rect().center(), c.vp()->rect().center() + QPoint(100, 0), Qt::MiddleButton);
    QVERIFY(c.view.mapToScene(c.vp()->rect().center()).x() < before.x());
  }

  void spaceAndDragPans() {
    Canvas c;
    twoNodes(c.model);
    QPoint mid = c.vp()->rect().center();
    QPointF before = c.view.mapToScene(mid);
    QTest::keyPress(&c.view, Qt::Key_Space);
    c.drag(mid, mid + QPoint(0, 120));
    QTest::keyRelease(&c.view, Qt::Key_Space);
    QVERIFY(c.view.mapToScene(mid).y() < before.y() - 100);
    QVERIFY(c.scene.selectedNodeIds().isEmpty());  // panned, no rubber band
    QCOMPARE(c.model.node("input")->pos, QPointF(0, 100));
  }

  void unknownLayerTypesAreShownNotDropped() {
    Canvas c;
    ng::ProjectSpec p;
    p.graph = ng::GraphSpec::from_json(json::parse(R"({
      "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}, "position": [0, 0]},
                {"id": "q", "type": "Conv3d", "params": {}, "position": [300, 0]}],
      "edges": [{"from": "x", "to": "q:input"}]})"));
    c.model.setProject(p);
    NodeItem* q = c.scene.nodeItem("q");
    QVERIFY(q);
    QVERIFY(q->badge()->isError());
    QVERIFY2(q->badge()->toolTip().contains("Conv3d"), qPrintable(q->badge()->toolTip()));
    QVERIFY(q->ports().empty());
    WireItem* w = c.scene.wireItem(c.model.edges()[0].id);
    QVERIFY(w && q->sceneBoundingRect().contains(w->toPoint()));
    QVERIFY(c.model.toSpec() == p.graph);  // kept as it was, for the user to fix
  }

  void miniMapShowsTheGraphAndMovesTheCanvas() {
    Canvas c;
    QVERIFY(!c.view.miniMap()->isVisible());  // nothing to show yet
    twoNodes(c.model);
    c.model.addNode("ReLU", {3000, 2000}, {}, "far");
    QVERIFY(c.view.miniMap()->isVisible());
    MiniMap* map = c.view.miniMap();
    QPoint target = map->toMap({3050, 2050}).toPoint();
    QTest::mouseClick(map, Qt::LeftButton, {}, target);
    QPointF centre = c.view.mapToScene(c.vp()->rect().center());
    QVERIFY2(QLineF(centre, QPointF(3050, 2050)).length() < 60,
             qPrintable(QString("%1,%2").arg(centre.x()).arg(centre.y())));
    c.view.miniMapAction()->setChecked(false);
    QVERIFY(!map->isVisible());
  }

  void autoLayoutArrangesLeftToRight() {
    Canvas c;
    twoNodes(c.model);
    c.model.addNode("ReLU", {-500, 0}, {}, "relu");
    c.model.connect(out("input"), in("conv1"));
    c.model.connect(out("conv1"), in("relu"));
    c.view.layoutAction()->trigger();
    QVERIFY(c.model.node("conv1")->pos.x() > c.model.node("input")->pos.x());
    QVERIFY(c.model.node("relu")->pos.x() > c.model.node("conv1")->pos.x());
    QVERIFY(!c.scene.crowded());
  }

  void inspectorEditorsComeFromTheSchemaAndEditThroughUndo() {
    GraphModel m;
    twoNodes(m);
    m.connect(out("input"), in("conv1"));
    NodeInspector ins(&m);
    ins.show();
    ins.setNode("conv1");
    QVERIFY(ins.descriptionText().contains("convolution", Qt::CaseInsensitive));

    // Required int: a spin box with the schema's minimum.
    ParamEditor* outCh = ins.paramEditor("out_channels");
    QVERIFY(outCh);
    auto* spin = qobject_cast<QSpinBox*>(outCh->inputs()[0]);
    QVERIFY(spin);
    QCOMPARE(spin->value(), 6);
    QCOMPARE(spin->minimum(), 1);
    int steps = m.undoStack()->count();
    spin->setValue(7);
    spin->setValue(8);
    QCOMPARE(m.node("conv1")->params["out_channels"].get<int>(), 8);
    QCOMPARE(m.undoStack()->count(), steps + 1);  // merged
    QVERIFY(m.outputType("conv1")->shape[1] == 8);
    m.undoStack()->undo();
    QCOMPARE(spin->value(), 6);  // the editor follows undo

    // Inferred: "auto" with the inferred value shown, read-only until switched off.
    ParamEditor* inCh = ins.paramEditor("in_channels");
    QVERIFY(inCh->autoSwitch() && inCh->autoSwitch()->isChecked());
    auto* inSpin = qobject_cast<QSpinBox*>(inCh->inputs()[0]);
    QCOMPARE(inSpin->value(), 1);
    QVERIFY(!inSpin->isEnabled());
    inCh->autoSwitch()->setChecked(false);
    QCOMPARE(m.node("conv1")->params["in_channels"].get<int>(), 1);
    inSpin->setValue(3);  // disagrees with the input: the engine's message, inline
    QVERIFY2(inCh->message().contains("in_channels"), qPrintable(inCh->message()));
    inCh->autoSwitch()->setChecked(true);
    QVERIFY(!m.node("conv1")->params.contains("in_channels"));
    QVERIFY(inCh->message().isEmpty());

    // Int pair: two spin boxes; a default can be reset.
    ParamEditor* stride = ins.paramEditor("stride");
    QCOMPARE(stride->inputs().size(), 2);
    QVERIFY(!stride->resetButton()->isVisible());
    qobject_cast<QSpinBox*>(stride->inputs()[1])->setValue(2);
    QVERIFY(m.node("conv1")->params["stride"] == json({1, 2}));
    QVERIFY(stride->resetButton()->isVisibleTo(&ins));
    stride->resetButton()->click();
    QVERIFY(!m.node("conv1")->params.contains("stride"));

    // Bool: a check box.
    auto* bias = qobject_cast<QCheckBox*>(ins.paramEditor("bias")->inputs()[0]);
    QVERIFY(bias && bias->isChecked());
    bias->setChecked(false);
    QCOMPARE(m.paramCount("conv1"), int64_t(6 * 25));

    // Enum and int list on the Input node.
    ins.setNode("input");
    auto* dtype = qobject_cast<QComboBox*>(ins.paramEditor("dtype")->inputs()[0]);
    QVERIFY(dtype);
    QCOMPARE(dtype->count(), 2);
    auto* shape = qobject_cast<QLineEdit*>(ins.paramEditor("shape")->inputs()[0]);
    QVERIFY(shape);
    QCOMPARE(shape->text(), QString("1, 28, 28"));
    shape->setText("1, 32, 32");
    emit shape->editingFinished();
    QVERIFY(m.node("input")->params["shape"] == json({1, 32, 32}));
    QCOMPARE(typeText(m.outputType("conv1")), QString("[N, 6, 32, 32]"));
    shape->setText("1, 3a");
    emit shape->editingFinished();
    QVERIFY(m.node("input")->params["shape"] == json({1, 32, 32}));  // unchanged
    QVERIFY(ins.paramEditor("shape")->message().contains("whole numbers"));

    // Renaming through the name field; a taken name is refused with the reason.
    ins.nameField()->setText("conv1");
    emit ins.nameField()->editingFinished();
    QVERIFY(m.node("input"));
    ins.nameField()->setText("pixels");
    emit ins.nameField()->editingFinished();
    QVERIFY(m.node("pixels") && !m.node("input"));
    QCOMPARE(ins.node(), QString("pixels"));
  }
};

NG_GUI_TEST_MAIN(CanvasTest)
#include "test_canvas.moc"
