// GraphModel's blocks and frames with no view: making a block of selected nodes, opening it,
// editing inside it and undoing from anywhere, the repeat count, unpacking, copy and paste,
// save and load, the flattened training graph against the hand-expanded one, and frames.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QUndoStack>
#include <set>

#include "engine/graph/blocks.h"
#include "engine/nn/model.h"
#include "tests/gui/graph_model_fixture.h"
#include "widgets/nodegraph/model/graph_commands.h"
#include "widgets/nodegraph/model/graph_model.h"

using namespace ng::gui;
using namespace ng::gui::testing;
using nlohmann::json;

namespace {

QStringList edgeTexts(const GraphModel& m) {
  QStringList r;
  for (const Edge& e : m.edges())
    r << QString("%1:%2->%3:%4").arg(e.fromNode, e.fromPort, e.toNode, e.toPort);
  return r;
}

std::set<std::string> edgeSet(const ng::GraphSpec& g) {
  std::set<std::string> r;
  for (const ng::EdgeSpec& e : g.edges) r.insert(e.from.str() + " -> " + e.to.str());
  return r;
}

}  // namespace

class BlocksModelTest : public QObject {
  Q_OBJECT
 private slots:
  void makeBlockCollapsesTheSelectionKeepingShapesAndOneUndoStep() {
    GraphModel m;
    buildMlp(m, 16, 16, 4);
    ng::GraphSpec before = m.toSpec();
    int64_t params = m.totalParams();
    int steps = m.undoStack()->count();
    QString why;
    QString id = m.makeBlock({"fc1", "relu"}, "layer", &why);
    QCOMPARE(why, QString());
    QCOMPARE(id, QString("layer"));
    QCOMPARE(m.undoStack()->count(), steps + 1);
    QCOMPARE(m.nodeIds(), (QStringList{"x", "layer", "fc2", "loss"}));
    QVERIFY(m.isBlockNode("layer"));
    QCOMPARE(m.blockOf("layer"), QString("layer"));
    QCOMPARE(m.node("layer")->params["repeat"].get<int>(), 1);
    QCOMPARE(edgeTexts(m), (QStringList{"x:output->layer:input", "layer:output->fc2:input",
                                        "fc2:output->loss:input"}));
    QVERIFY(m.analysis().ok());
    QCOMPARE(shapeOf(m, "layer"), QString("[N, 16]"));
    QCOMPARE(m.paramCount("layer"), int64_t(16 * 16 + 16));
    QCOMPARE(m.totalParams(), params);
    QCOMPARE(m.blockNames(), QStringList{"layer"});
    // The definition: BlockInput, the two layers, BlockOutput, wired.
    const GraphBody* def = m.blockBody("layer");
    QVERIFY(def);
    QCOMPARE(int(def->nodes.size()), 4);
    QCOMPARE(def->nodes.front().type, QString("BlockInput"));
    QCOMPARE(def->nodes.back().type, QString("BlockOutput"));

    m.undoStack()->undo();
    QVERIFY(m.toSpec() == before);
    QVERIFY(m.blockNames().isEmpty());
    m.undoStack()->redo();
    QCOMPARE(shapeOf(m, "layer"), QString("[N, 16]"));
  }

  void makeBlockRefusesWhatIsNotOneInputOneOutput() {
    GraphModel m;
    buildMlp(m, 16, 16, 4);
    m.addNode("Input", {0, 200}, {{"shape", {16}}}, "y");
    m.addNode("Add", {400, 200}, {}, "add");
    QCOMPARE(m.connect(out("relu"), in("add")), QString());
    QCOMPARE(m.connect(out("y"), in("add")), QString());
    QString why = m.makeBlockError({"relu", "add"});
    QVERIFY2(why.contains("one input") && why.contains("2 places"), qPrintable(why));
    why = m.makeBlockError({"fc1", "relu", "add"});
    QVERIFY2(why.contains("one input"), qPrintable(why));  // x and y feed it
    QVERIFY(m.makeBlockError({}).contains("Select"));
    int steps = m.undoStack()->count();
    QCOMPARE(m.makeBlock({"relu", "add"}, "b", &why), QString());
    QCOMPARE(m.undoStack()->count(), steps);
    // One result may go to several places (relu feeds fc2 and add)...
    QVERIFY(m.makeBlockError({"fc1", "relu"}).isEmpty());
    // ... but two results cannot leave: fc1 now also feeds r2.
    m.addNode("ReLU", {600, 200}, {}, "r2");
    QCOMPARE(m.connect(out("fc1"), in("r2")), QString());
    why = m.makeBlockError({"fc1", "relu"});
    QVERIFY2(why.contains("one output") && why.contains("2 places"), qPrintable(why));
    // Not one piece: x and loss have one input (fc2) and one output (x), but the block would
    // feed itself through fc1 ... fc2.
    GraphModel m2;
    buildMlp(m2, 16, 16, 4);
    why = m2.makeBlockError({"x", "loss"});
    QVERIFY2(why.contains("not one piece"), qPrintable(why));
  }

  void openingABlockShowsItsInsideWithShapesAndUndoReturnsThere() {
    GraphModel m;
    buildMlp(m, 16, 16, 4);
    m.makeBlock({"fc1", "relu"}, "layer");
    QSignalSpy scope(&m, &GraphModel::scopeChanged);
    QSignalSpy reset(&m, &GraphModel::modelReset);
    int steps = m.undoStack()->count();
    QVERIFY(m.openBlock("layer"));
    QCOMPARE(m.undoStack()->count(), steps);  // navigation, not an edit
    QVERIFY(m.undoStack()->index() == steps);
    QCOMPARE(scope.count(), 1);
    QCOMPARE(reset.count(), 1);
    QCOMPARE(m.scope(), QString("layer"));
    QCOMPARE(m.scopePath(), QStringList{"layer"});
    QCOMPARE(m.nodeIds(), (QStringList{"in", "fc1", "relu", "out"}));
    QCOMPARE(shapeOf(m, "in"), QString("[N, 16]"));  // what enters the block
    QCOMPARE(shapeOf(m, "fc1"), QString("[N, 16]"));
    QCOMPARE(m.paramCount("fc1"), int64_t(16 * 16 + 16));
    QCOMPARE(m.resolvedParams("fc1")["in_features"].get<int>(), 16);

    // An edit inside: the main graph's shapes follow.
    m.setParam("fc1", "out_features", 8);
    QCOMPARE(shapeOf(m, "relu"), QString("[N, 8]"));
    m.leaveBlock();
    QCOMPARE(m.scope(), QString());
    QCOMPARE(m.nodeIds(), (QStringList{"x", "layer", "fc2", "loss"}));
    QCOMPARE(shapeOf(m, "layer"), QString("[N, 8]"));
    QCOMPARE(m.resolvedParams("fc2")["in_features"].get<int>(), 8);
    // Undo from the main graph: the block is shown again and the edit undone there.
    m.undoStack()->undo();
    QCOMPARE(m.scope(), QString("layer"));
    QCOMPARE(m.node("fc1")->params["out_features"].get<int>(), 16);
    m.undoStack()->redo();
    QCOMPARE(shapeOf(m, "fc1"), QString("[N, 8]"));
    // Undoing Make Block while inside it: back to the main graph, block gone.
    m.undoStack()->undo();
    m.undoStack()->undo();
    QCOMPARE(m.scope(), QString());
    QVERIFY(m.node("fc1"));
    QVERIFY(!m.node("layer"));
  }

  void theBlockInputAndOutputCannotBeDeleted() {
    GraphModel m;
    buildMlp(m, 16, 16, 4);
    m.makeBlock({"fc1", "relu"}, "layer");
    m.openBlock("layer");
    m.removeNodes({"in", "out", "relu"});
    QVERIFY(m.node("in") && m.node("out"));
    QVERIFY(!m.node("relu"));
    QVERIFY(m.addNode("BlockInput", {0, 0}).isEmpty());  // not a layer of the palette
  }

  void repeatStacksCopiesAndProblemsOfLaterCopiesShowOnTheBlock() {
    GraphModel m;
    buildMlp(m, 16, 16, 4);
    m.makeBlock({"fc1", "relu"}, "layer");
    m.setParam("layer", "repeat", 3);
    QVERIFY(m.analysis().ok());
    QCOMPARE(m.paramCount("layer"), int64_t(3 * (16 * 16 + 16)));
    QCOMPARE(int(m.analysis().nodes.size()), 3 + 2 * 3);
    QVERIFY(m.analysis().find("layer.3/relu"));
    // A block that changes the width cannot be stacked: copy 2 sees 8 features.
    m.openBlock("layer");
    m.setParam("fc1", "out_features", 8);
    m.setParam("fc1", "in_features", 16);
    QVERIFY(m.hasError("fc1"));  // the error of copy 2 shows on the inner node...
    QString msg = QString::fromStdString(m.diagnostics("fc1")[0].message);
    QVERIFY2(msg.contains("layer.2/fc1") && msg.contains("input has 8 features"), qPrintable(msg));
    m.leaveBlock();
    QVERIFY(m.hasError("layer"));  // ...and on the block node
    m.setParam("layer", "repeat", 1);
    QVERIFY(!m.hasError("layer"));
    m.setParam("layer", "repeat", 0);
    QVERIFY(m.hasError("layer"));
    QCOMPARE(QString::fromStdString(m.diagnostics("layer")[0].field), QString("params.repeat"));
  }

  void theFlattenedTrainingGraphEqualsTheHandExpandedOne() {
    GraphModel m;
    buildMlp(m, 16, 16, 4);
    m.makeBlock({"fc1", "relu"}, "layer");
    m.setParam("layer", "repeat", 2);
    ng::GraphSpec flat = ng::flatten_blocks(m.toSpec());
    ng::GraphSpec hand = ng::GraphSpec::from_json(json::parse(R"({
      "nodes": [{"id": "x", "type": "Input", "params": {"shape": [16]}},
                {"id": "layer.1/fc1", "type": "Linear", "params": {"out_features": 16}},
                {"id": "layer.1/relu", "type": "ReLU"},
                {"id": "layer.2/fc1", "type": "Linear", "params": {"out_features": 16}},
                {"id": "layer.2/relu", "type": "ReLU"},
                {"id": "fc2", "type": "Linear", "params": {"out_features": 4}},
                {"id": "loss", "type": "CrossEntropyLoss"}],
      "edges": [{"from": "x", "to": "layer.1/fc1"}, {"from": "layer.1/fc1", "to": "layer.1/relu"},
                {"from": "layer.1/relu", "to": "layer.2/fc1"},
                {"from": "layer.2/fc1", "to": "layer.2/relu"},
                {"from": "layer.2/relu", "to": "fc2"}, {"from": "fc2", "to": "loss:input"}]})"));
    QCOMPARE(flat.nodes.size(), hand.nodes.size());
    for (size_t i = 0; i < hand.nodes.size(); ++i) {
      QCOMPARE(flat.nodes[i].id, hand.nodes[i].id);
      QCOMPARE(flat.nodes[i].type, hand.nodes[i].type);
      QVERIFY(flat.nodes[i].params == hand.nodes[i].params);
    }
    QVERIFY(edgeSet(flat) == edgeSet(hand));
    // The models train identically: same names, same initial weights.
    ng::Model a = ng::Model::compile(m.toSpec(), 5), b = ng::Model::compile(hand, 5);
    QCOMPARE(a.parameters().size(), b.parameters().size());
    for (size_t i = 0; i < a.parameters().size(); ++i) {
      QCOMPARE(a.parameters()[i].first, b.parameters()[i].first);
      QVERIFY(a.parameters()[i].second.to_vector<float>() ==
              b.parameters()[i].second.to_vector<float>());
    }
  }

  void savedAndLoadedBlocksComeBackAndUnusedOnesAreDropped() {
    GraphModel m;
    buildMlp(m, 16, 16, 4);
    m.makeBlock({"fc1", "relu"}, "layer");
    m.setParam("layer", "repeat", 2);
    QTemporaryDir dir;
    QString path = dir.filePath("b.ngraph");
    m.saveProject(path);
    ng::ProjectSpec p = ng::load_project(path.toStdString());  // validates
    QCOMPARE(p.graph.blocks.size(), size_t(1));
    QCOMPARE(QString::fromStdString(p.graph.blocks[0]["name"].get<std::string>()),
             QString("layer"));
    GraphModel m2;
    m2.loadProject(path);
    QVERIFY(m2.toSpec() == m.toSpec());
    QVERIFY(ng::project_to_json(m2.project()) == ng::project_to_json(m.project()));
    QVERIFY(m2.openBlock("layer"));
    QCOMPARE(m2.nodeIds(), (QStringList{"in", "fc1", "relu", "out"}));
    m2.leaveBlock();
    // Deleting the block's node drops the definition from the file; undo brings it back.
    m2.removeNodes({"layer"});
    QVERIFY(m2.toSpec().blocks.empty());
    m2.undoStack()->undo();
    QCOMPARE(m2.toSpec().blocks.size(), size_t(1));
  }

  void unpackingReplacesTheBlockByItsCopies() {
    GraphModel m;
    buildMlp(m, 16, 16, 4);
    m.makeBlock({"fc1", "relu"}, "layer");
    m.setParam("layer", "repeat", 2);
    int64_t params = m.totalParams();
    QStringList ids = m.unpackBlock("layer");
    QCOMPARE(ids, (QStringList{"fc1", "relu", "fc3", "relu2"}));  // fresh ids for copy 2
    QVERIFY(!m.node("layer"));
    QVERIFY(m.analysis().ok());
    QCOMPARE(m.totalParams(), params);
    QCOMPARE(m.edgesAt(in(ids[2])).at(0).fromNode, ids[1]);  // copy 1 feeds copy 2
    QCOMPARE(m.edgesAt(in("fc2")).at(0).fromNode, ids[3]);
    m.undoStack()->undo();
    QVERIFY(m.isBlockNode("layer"));
    QCOMPARE(m.totalParams(), params);
  }

  void copyAndPasteCarryTheDefinition() {
    GraphModel m;
    buildMlp(m, 16, 16, 4);
    m.makeBlock({"fc1", "relu"}, "layer");
    json frag = m.fragment({"layer"});
    QVERIFY(frag.contains("blocks"));
    QCOMPARE(frag["blocks"].size(), size_t(1));
    // Into another document: the definition comes along.
    GraphModel other;
    other.addNode("Input", {0, 0}, {{"shape", {16}}}, "x");
    QStringList ids = other.paste(frag, {0, 200});
    QCOMPARE(ids, QStringList{"layer"});
    QCOMPARE(other.blockNames(), QStringList{"layer"});
    QCOMPARE(other.connect(out("x"), in("layer")), QString());
    QCOMPARE(shapeOf(other, "layer"), QString("[N, 16]"));
    other.undoStack()->undo();
    other.undoStack()->undo();
    QVERIFY(other.blockNames().isEmpty());
    // Into the same document: the definition is shared, not copied.
    ids = m.paste(frag, {0, 200});
    QCOMPARE(ids, QStringList{"layer2"});
    QCOMPARE(m.blockNames(), QStringList{"layer"});
    QCOMPARE(m.blockOf("layer2"), QString("layer"));
    // A different definition with the same name is renamed.
    json changed = frag;
    changed["blocks"][0]["nodes"][1]["params"]["out_features"] = 3;
    ids = m.paste(changed, {0, 400});
    QCOMPARE(m.blockNames(), (QStringList{"layer", "layer2"}));
    QCOMPARE(m.blockOf(ids[0]), QString("layer2"));
  }

  void blocksNestAndTheScopePathFollows() {
    GraphModel m;
    buildMlp(m, 16, 16, 4);
    m.makeBlock({"fc1", "relu"}, "outer");
    m.openBlock("outer");
    QString inner = m.makeBlock({"fc1"}, "inner");
    QCOMPARE(inner, QString("inner"));
    QVERIFY(m.openBlock("inner"));
    QCOMPARE(m.scopePath(), (QStringList{"outer", "inner"}));
    QCOMPARE(shapeOf(m, "fc1"), QString("[N, 16]"));
    QCOMPARE(m.localNode("outer.1/inner.1/fc1"), QString("fc1"));
    m.leaveToDepth(0);
    QCOMPARE(m.localNode("outer.1/inner.1/fc1"), QString("outer"));
    QVERIFY(m.analysis().find("outer.1/inner.1/fc1"));
    QCOMPARE(m.toSpec().blocks.size(), size_t(2));
    // A block cannot be opened from inside itself (it would contain itself).
    m.openBlock("outer");
    QVERIFY(!m.openBlock("outer"));
  }

  // ---- frames --------------------------------------------------------------------------------

  void framesAreUndoableAndSavedInTheUiSection() {
    GraphModel m;
    buildMlp(m, 16, 16, 4);
    int id = m.addFrame(QRectF(180, -40, 400, 200), "Hidden layer");
    QCOMPARE(int(m.frames().size()), 1);
    QCOMPARE(m.frame(id)->title, QString("Hidden layer"));
    QCOMPARE(m.nodesInFrame(id, [](const QString&) { return QSizeF(156, 100); }),
             (QStringList{"fc1", "relu"}));
    m.setFrameTitle(id, "Hidden");
    m.setFrameTitle(id, "Hidden 1");  // consecutive renames merge
    int steps = m.undoStack()->count();
    m.undoStack()->undo();
    QCOMPARE(m.frame(id)->title, QString("Hidden layer"));
    m.undoStack()->redo();
    // Moving a frame with its nodes: one step.
    m.moveItems({{"fc1", QPointF(200, 100)}, {"relu", QPointF(400, 100)}},
                {{id, QRectF(180, 60, 400, 200)}}, "Move frame");
    QCOMPARE(m.undoStack()->count(), steps + 1);
    m.undoStack()->undo();
    QCOMPARE(m.node("fc1")->pos, QPointF(200, 0));
    QCOMPARE(m.frame(id)->rect, QRectF(180, -40, 400, 200));
    m.undoStack()->redo();
    ng::ProjectSpec p = m.project();
    QVERIFY(p.ui.contains("frames"));
    QCOMPARE(p.ui["frames"][0]["title"].get<std::string>(), std::string("Hidden 1"));
    QVERIFY(p.ui["frames"][0]["rect"] == json({180, 60, 400, 200}));
    // Round trip; other "ui" fields are kept.
    p.ui["zoom"] = 2;
    GraphModel m2;
    m2.setProject(p);
    QCOMPARE(int(m2.frames().size()), 1);
    QCOMPARE(m2.frames()[0].rect, QRectF(180, 60, 400, 200));
    QVERIFY(m2.project().ui == p.ui);
    // Removing: one step, undoable.
    m2.removeItems({}, {}, {m2.frames()[0].id});
    QVERIFY(m2.frames().empty());
    QVERIFY(!m2.project().ui.contains("frames"));
    m2.undoStack()->undo();
    QCOMPARE(int(m2.frames().size()), 1);
  }

  void framesInsideABlockStayWithIt() {
    GraphModel m;
    buildMlp(m, 16, 16, 4);
    m.makeBlock({"fc1", "relu"}, "layer");
    m.openBlock("layer");
    m.addFrame(QRectF(0, -40, 300, 200), "inside");
    m.leaveBlock();
    QVERIFY(m.frames().empty());
    ng::ProjectSpec p = m.project();
    QCOMPARE(p.ui["frames"][0]["block"].get<std::string>(), std::string("layer"));
    GraphModel m2;
    m2.setProject(p);
    QVERIFY(m2.frames().empty());
    m2.openBlock("layer");
    QCOMPARE(int(m2.frames().size()), 1);
    QCOMPARE(m2.frames()[0].title, QString("inside"));
  }
};

QTEST_GUILESS_MAIN(BlocksModelTest)
#include "test_blocks_model.moc"
