// GraphModel with no view and no display: edits, undo/redo, merging, shape inference after
// every edit, clipboard fragments, layout and project round trips.
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QUndoStack>

#include "tests/gui/graph_model_fixture.h"
#include "widgets/nodegraph/model/graph_commands.h"
#include "widgets/nodegraph/model/graph_model.h"

using namespace ng::gui;
using namespace ng::gui::testing;
using nlohmann::json;

class GraphModelTest : public QObject {
  Q_OBJECT
 private slots:
  void addNodePicksFreshIdsAndEmitsSignals() {
    GraphModel m;
    QSignalSpy added(&m, &GraphModel::nodeAdded);
    QCOMPARE(m.addNode("Conv2d", {0, 0}), QString("conv2d_1"));
    QCOMPARE(m.addNode("Conv2d", {0, 0}), QString("conv2d_2"));
    QCOMPARE(m.addNode("Linear", {0, 0}), QString("linear1"));
    QCOMPARE(m.addNode("Linear", {0, 0}, {}, "linear1"), QString("linear2"));
    QCOMPARE(m.addNode("NoSuchLayer", {0, 0}), QString());
    QCOMPARE(added.count(), 4);
    QCOMPARE(m.undoStack()->count(), 4);
  }

  void shapesAreInferredAfterEveryEdit() {
    GraphModel m;
    buildMlp(m);
    QVERIFY(m.analysis().ok());
    QCOMPARE(shapeOf(m, "fc1"), QString("[N, 32]"));
    QCOMPARE(shapeOf(m, "fc2"), QString("[N, 10]"));
    QCOMPARE(m.paramCount("fc1"), int64_t(784 * 32 + 32));
    QCOMPARE(m.outputBytes("fc1"), int64_t(32 * 4));
    QCOMPARE(m.totalParams(), int64_t(784 * 32 + 32 + 32 * 10 + 10));
    QCOMPARE(m.resolvedParams("fc1")["in_features"].get<int>(), 784);

    QSignalSpy analysed(&m, &GraphModel::analysisChanged);
    m.setParam("fc1", "out_features", 64);
    QCOMPARE(analysed.count(), 1);
    QCOMPARE(shapeOf(m, "fc1"), QString("[N, 64]"));
    QCOMPARE(m.resolvedParams("fc2")["in_features"].get<int>(), 64);
    m.undoStack()->undo();
    QCOMPARE(shapeOf(m, "fc1"), QString("[N, 32]"));
    QCOMPARE(analysed.count(), 2);
  }

  void invalidNodesCarryTheEnginesMessage() {
    GraphModel m;
    buildMlp(m);
    m.setParam("fc2", "in_features", 100);  // fc1 gives 32
    QVERIFY(m.hasError("fc2"));
    QVERIFY(!m.hasError("fc1"));
    auto ds = m.diagnostics("fc2");
    QVERIFY(!ds.empty());
    QVERIFY2(QString::fromStdString(ds[0].message).contains("fc2"), ds[0].message.c_str());
    QVERIFY(QString::fromStdString(ds[0].message).contains("32"));
    QVERIFY(m.errorCount() >= 1);
    m.setParam("fc2", "in_features", json());  // back to inferred
    QVERIFY(!m.hasError("fc2"));
    QVERIFY(m.analysis().ok());
  }

  void refusesIncompatibleConnectionsWithAReason() {
    GraphModel m;
    buildMlp(m);
    m.addNode("ReLU", {0, 200}, {}, "r2");
    // output to output, input to input
    QVERIFY(m.connect(out("fc1"), out("r2")).contains("two outputs"));
    QVERIFY(m.connect(in("fc1"), in("r2")).contains("two inputs"));
    // a second wire into a non-variadic input
    QString why = m.connect(out("x"), in("relu"));
    QVERIFY2(why.contains("already connected"), qPrintable(why));
    // a cycle: fc2 -> fc1 while fc1 feeds fc2 through relu
    m.removeEdges({m.edgesAt(in("fc1"))[0].id});
    why = m.connect(out("fc2"), in("fc1"));
    QVERIFY2(why.contains("cycle"), qPrintable(why));
    // itself
    QVERIFY(m.connect(out("r2"), in("r2")).contains("itself"));
    // unknown port
    QVERIFY(m.connect(out("x", "nope"), in("r2")).contains("no output"));
    // nothing above changed the edges but the explicit removal
    QCOMPARE(int(m.edges().size()), 3);
    // either order of the two ends is fine
    QCOMPARE(m.connect(in("r2"), out("x")), QString());
    QCOMPARE(m.edges().back().fromNode, QString("x"));
  }

  void reconnectMovesTheInputEndInOneStep() {
    GraphModel m;
    buildMlp(m);
    m.addNode("Linear", {600, 200}, {{"out_features", 10}}, "fc2b");
    int e = m.edgesAt(in("fc2"))[0].id;
    int steps = m.undoStack()->count();
    QCOMPARE(m.reconnect(e, in("fc2b")), QString());
    QCOMPARE(m.undoStack()->count(), steps + 1);
    QVERIFY(m.edgesAt(in("fc2")).empty());
    QCOMPARE(m.edgesAt(in("fc2b"))[0].fromNode, QString("relu"));
    // Refused like a new wire: onto an input that is taken.
    QVERIFY(m.reconnect(m.edgesAt(in("fc2b"))[0].id, in("fc1")).contains("already connected"));
    m.undoStack()->undo();
    QCOMPARE(m.edgesAt(in("fc2")).size(), size_t(1));
    QVERIFY(m.edgesAt(in("fc2b")).empty());
  }

  void variadicInputsTakeSeveralWiresInOrder() {
    GraphModel m;
    m.addNode("Input", {0, 0}, {{"shape", {8}}}, "x");
    m.addNode("ReLU", {0, 0}, {}, "a");
    m.addNode("Tanh", {0, 0}, {}, "b");
    m.addNode("Concat", {0, 0}, {}, "cat");
    QCOMPARE(m.connect(out("x"), in("a")), QString());
    QCOMPARE(m.connect(out("x"), in("b")), QString());
    QCOMPARE(m.connect(out("b"), in("cat")), QString());
    QCOMPARE(m.connect(out("a"), in("cat")), QString());
    QCOMPARE(m.edgesAt(in("cat")).size(), size_t(2));
    QCOMPARE(shapeOf(m, "cat"), QString("[N, 16]"));
    // Removing "b" and undoing puts its edges back at their places (b first into cat).
    m.removeNodes({"b"});
    QCOMPARE(m.edgesAt(in("cat")).size(), size_t(1));
    m.undoStack()->undo();
    auto into = m.edgesAt(in("cat"));
    QCOMPARE(into.size(), size_t(2));
    QCOMPARE(into[0].fromNode, QString("b"));
    QCOMPARE(into[1].fromNode, QString("a"));
  }

  void removeUndoRedoRestoresNodesAndEdges() {
    GraphModel m;
    buildMlp(m);
    ng::GraphSpec before = m.toSpec();
    QSignalSpy removed(&m, &GraphModel::nodeRemoved);
    m.removeNodes({"relu", "fc2"});
    QCOMPARE(removed.count(), 2);
    QCOMPARE(int(m.nodes().size()), 3);
    QCOMPARE(int(m.edges().size()), 1);  // x -> fc1 stays
    m.undoStack()->undo();
    QVERIFY(m.toSpec() == before);
    m.undoStack()->redo();
    QCOMPARE(int(m.nodes().size()), 3);
    m.undoStack()->undo();
    QVERIFY(m.toSpec() == before);
    QVERIFY(m.analysis().ok());
  }

  void consecutiveEditsOfOneParameterMerge() {
    GraphModel m;
    buildMlp(m);
    int steps = m.undoStack()->count();
    m.setParam("fc1", "out_features", 33);
    m.setParam("fc1", "out_features", 34);
    m.setParam("fc1", "out_features", 35);
    QCOMPARE(m.undoStack()->count(), steps + 1);
    m.setParam("fc1", "bias", false);      // another parameter: a new step
    m.setParam("fc2", "out_features", 5);  // another node: a new step
    QCOMPARE(m.undoStack()->count(), steps + 3);
    m.undoStack()->undo();
    m.undoStack()->undo();
    QCOMPARE(m.node("fc1")->params["out_features"].get<int>(), 35);
    m.undoStack()->undo();
    QCOMPARE(m.node("fc1")->params["out_features"].get<int>(), 32);
    // Setting a value back to where it started leaves no step behind.
    m.undoStack()->redo();
    m.setParam("fc2", "out_features", 11);
    m.setParam("fc2", "out_features", 10);
    QCOMPARE(m.node("fc2")->params["out_features"].get<int>(), 10);
    QCOMPARE(m.undoStack()->index(), m.undoStack()->count());
  }

  void moveAndRenameAreUndoable() {
    GraphModel m;
    buildMlp(m);
    QSignalSpy moved(&m, &GraphModel::nodeMoved);
    m.moveNodes({{"fc1", QPointF(10, 20)}, {"fc2", QPointF(30, 40)}});
    QCOMPARE(moved.count(), 2);
    QCOMPARE(m.node("fc1")->pos, QPointF(10, 20));
    m.undoStack()->undo();
    QCOMPARE(m.node("fc1")->pos, QPointF(200, 0));

    QCOMPARE(m.renameNode("fc1", "hidden"), QString());
    QVERIFY(!m.node("fc1"));
    QCOMPARE(m.edgesAt(in("hidden")).size(), size_t(1));
    QCOMPARE(shapeOf(m, "hidden"), QString("[N, 32]"));
    QVERIFY(m.renameNode("hidden", "fc2").contains("already"));
    QVERIFY(m.renameNode("hidden", "a:b").contains(":"));
    m.undoStack()->undo();
    QVERIFY(m.node("fc1"));
    QCOMPARE(m.edgesAt(out("fc1")).size(), size_t(1));
  }

  void fragmentsPasteWithFreshIdsAndInnerEdges() {
    GraphModel m;
    buildMlp(m);
    json frag = m.fragment({"fc1", "relu"});
    QCOMPARE(frag["nodes"].size(), size_t(2));
    QCOMPARE(frag["edges"].size(), size_t(1));  // fc1 -> relu only
    QStringList ids = m.paste(frag, {0, 100});
    QCOMPARE(ids, QStringList({"fc3", "relu2"}));  // fc1 and fc2 are taken
    QVERIFY(!ids.contains("fc1") && !ids.contains("relu"));
    QCOMPARE(m.node(ids[0])->type, QString("Linear"));
    QCOMPARE(m.node(ids[0])->pos, QPointF(200, 100));
    QCOMPARE(m.edgesAt(in(ids[1])).size(), size_t(1));
    QCOMPARE(m.edgesAt(in(ids[1]))[0].fromNode, ids[0]);
    m.undoStack()->undo();  // one step
    QCOMPARE(int(m.nodes().size()), 5);
    QVERIFY_THROWS_EXCEPTION(ng::Error, m.paste(json::parse(R"({"nodes": 3})"), {}));
  }

  void autoLayoutGoesLeftToRightInOneStep() {
    GraphModel m;
    buildMlp(m);
    m.moveNodes({{"x", {500, 500}}, {"loss", {-300, 0}}});
    int steps = m.undoStack()->count();
    m.autoLayout();
    QCOMPARE(m.undoStack()->count(), steps + 1);
    QStringList chain{"x", "fc1", "relu", "fc2", "loss"};
    for (int i = 1; i < chain.size(); ++i)
      QVERIFY(m.node(chain[i])->pos.x() > m.node(chain[i - 1])->pos.x());
    // A branch puts two nodes in one column, one above the other.
    m.addNode("Sigmoid", {0, 0}, {}, "side");
    m.connect(out("x"), in("side"));
    m.autoLayout();
    QCOMPARE(m.node("side")->pos.x(), m.node("fc1")->pos.x());
    QVERIFY(m.node("side")->pos.y() != m.node("fc1")->pos.y());
  }

  void longChainsWrapIntoBands() {
    GraphModel m;
    buildMlp(m);
    LayoutOptions o;
    o.maxColumns = 3;
    m.autoLayout({}, o);
    // x, fc1, relu on the first band; fc2, loss start again at the left, lower down.
    QCOMPARE(m.node("fc2")->pos.x(), m.node("x")->pos.x());
    QVERIFY(m.node("fc2")->pos.y() > m.node("relu")->pos.y() + 100);
    QVERIFY(m.node("loss")->pos.x() > m.node("fc2")->pos.x());
  }

  void specWritesSinglePortsAsBareNodeIds() {
    GraphModel m;
    buildMlp(m);
    ng::GraphSpec g = m.toSpec();
    QCOMPARE(g.edges.size(), size_t(4));
    QCOMPARE(QString::fromStdString(g.edges[0].from.str()), QString("x"));
    QCOMPARE(QString::fromStdString(g.edges[0].to.str()), QString("fc1"));
    QCOMPARE(QString::fromStdString(g.edges[3].to.str()), QString("loss:input"));
    // and reads them back with their ports resolved
    ng::ProjectSpec p;
    p.graph = g;
    GraphModel m2;
    m2.setProject(p);
    QCOMPARE(m2.edges()[0].fromPort, QString("output"));
    QCOMPARE(m2.edges()[0].toPort, QString("input"));
    QVERIFY(m2.toSpec() == g);
    QVERIFY(m2.undoStack()->isClean());
    QCOMPARE(m2.undoStack()->count(), 0);
  }

  void blocksAndTheRecipeAreKeptAsGiven() {
    ng::ProjectSpec p;
    p.graph = ng::GraphSpec::from_json(json::parse(R"({
      "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}, "position": [0, 0]}],
      "edges": [], "blocks": [{"name": "stem", "nodes": ["x"]}]})"));
    p.training.epochs = 17;
    p.dataset.kind = "csv";
    p.ui = {{"zoom", 2}};
    GraphModel m;
    m.setProject(p);
    m.addNode("ReLU", {200, 0}, {}, "r");
    ng::ProjectSpec q = m.project();
    QVERIFY(q.graph.blocks == p.graph.blocks);
    QCOMPARE(q.training.epochs, int64_t(17));
    QCOMPARE(QString::fromStdString(q.dataset.kind), QString("csv"));
    QVERIFY(q.ui == p.ui);
    QCOMPARE(q.graph.nodes.size(), size_t(2));
  }

  void graphsWithoutPositionsAreLaidOut() {
    ng::ProjectSpec p;
    p.graph = ng::GraphSpec::from_json(json::parse(R"({
      "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}},
                {"id": "f", "type": "Linear", "params": {"out_features": 2}}],
      "edges": [{"from": "x", "to": "f"}]})"));
    GraphModel m;
    m.setProject(p);
    QVERIFY(m.node("f")->pos.x() > m.node("x")->pos.x());
  }

  void projectFileRoundTrip() {
    QString path = QStringLiteral(NG_SOURCE_DIR "/resources/examples/lenet-mnist.ngraph");
    if (!QFile::exists(path)) QSKIP("resources/examples/lenet-mnist.ngraph not present");
    GraphModel m;
    m.loadProject(path);
    QVERIFY(m.analysis().ok());
    QCOMPARE(shapeOf(m, "flatten"), QString("[N, 400]"));
    QVERIFY(m.totalParams() > 60000);
    QTemporaryDir dir;
    QString copy = dir.filePath("copy.ngraph");
    m.setParam("fc1", "out_features", 100);
    QVERIFY(!m.undoStack()->isClean());
    m.saveProject(copy);
    QVERIFY(m.undoStack()->isClean());
    GraphModel m2;
    m2.loadProject(copy);
    QVERIFY(m2.toSpec() == m.toSpec());
    QVERIFY(ng::project_to_json(m2.project()) == ng::project_to_json(m.project()));
    QCOMPARE(m2.node("fc1")->params["out_features"].get<int>(), 100);
    QVERIFY(m2.hasError("fc2"));  // its in_features is set to 120 in the example
  }

  void badFilesThrowAndLeaveTheModelAlone() {
    QTemporaryDir dir;
    GraphModel m;
    buildMlp(m);
    ng::GraphSpec before = m.toSpec();
    auto write = [&](const char* name, const QByteArray& text) {
      QFile f(dir.filePath(name));
      f.open(QIODevice::WriteOnly);
      f.write(text);
      return dir.filePath(name);
    };
    QStringList bad{
        write("corrupt.ngraph", "{\"format\": \"neurograph-project\", \"vers"),
        write("newer.ngraph",
              R"({"format": "neurograph-project", "version": 99, "graph": {"nodes": []}})"),
        write("foreign.ngraph", R"({"hello": 1})"),
        dir.filePath("missing.ngraph"),
    };
    for (const QString& path : bad) {
      bool threw = false;
      try {
        m.loadProject(path);
      } catch (const ng::Error& e) {
        threw = true;
        QVERIFY2(QString(e.what()).contains(QFileInfo(path).fileName()), e.what());
      }
      QVERIFY2(threw, qPrintable(path));
      QVERIFY(m.toSpec() == before);
    }
  }
};

QTEST_GUILESS_MAIN(GraphModelTest)
#include "test_graph_model.moc"
