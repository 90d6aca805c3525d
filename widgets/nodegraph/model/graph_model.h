// GraphModel: the network being edited, as nodes, ports, edges and parameters addressed by id,
// with change signals, undo and live shape inference. It needs no view (QtCore, plus QtGui only
// for QUndoStack, which Qt 6 keeps there); the scene, palette, inspector and issues panel read it
// by id and react to its signals.
//
//   GraphModel m;
//   m.loadProject("resources/examples/lenet-mnist.ngraph");     // throws ng::Error on a bad file
//   QString fc = m.addNode("Linear", {400, 0}, {{"out_features", 10}});   // -> "linear1"
//   QString why = m.connect({"flatten", "output"}, {fc, "input"});         // "" when accepted
//   m.setParam(fc, "out_features", 20);         // an undo command; consecutive ones merge
//   m.undoStack()->undo();
//   m.outputType(fc, 0);                        // [N, 10] from ng::analyze()
//   m.diagnostics(fc);                          // this node's errors and warnings
//   ng::GraphSpec spec = m.toSpec();
//
// NOTE [Every edit is a command]
// The public editing functions build QUndoCommands (graph_commands.h) and push them on
// undoStack(); only those commands call the private mutators. The mutators emit the fine-grained
// signals (nodeAdded, edgeRemoved, ...); analysis runs again once per pushed, undone or redone
// command (a compound command runs it once at its end) and then analysisChanged() is emitted.
#pragma once

#include <QObject>
#include <QPointF>
#include <QSizeF>
#include <QString>
#include <QStringList>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "engine/graph/graph_spec.h"
#include "engine/graph/layer_registry.h"
#include "engine/graph/validate.h"
#include "engine/io/project.h"
#include "widgets/nodegraph/model/graph_layout.h"

class QUndoStack;

namespace ng::gui {

enum class PortSide { Input, Output };

// One port of one node: ("conv1", "output", Output).
struct PortKey {
  QString node;
  QString port;
  PortSide side = PortSide::Output;
  bool operator==(const PortKey&) const = default;
};

// An edge from an output port to an input port. `id` is stable for the model's lifetime (undo
// and redo bring an edge back with its id) and names the edge for views.
struct Edge {
  int id = 0;
  QString fromNode, fromPort;  // an output port
  QString toNode, toPort;      // an input port
  PortKey from() const { return {fromNode, fromPort, PortSide::Output}; }
  PortKey to() const { return {toNode, toPort, PortSide::Input}; }
};

struct Node {
  QString id;
  QString type;                                      // a LayerRegistry name
  nlohmann::json params = nlohmann::json::object();  // as the user set them
  QPointF pos;                                       // top-left corner on the canvas
};

class GraphModel : public QObject {
  Q_OBJECT
 public:
  explicit GraphModel(QObject* parent = nullptr);
  ~GraphModel() override;

  // ---- reading -----------------------------------------------------------------------------
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<Edge>& edges() const { return edges_; }
  const Node* node(const QString& id) const;
  const Edge* edge(int edgeId) const;
  QStringList nodeIds() const;
  // The registry entry of a node's type; nullptr for an unknown type.
  const ng::LayerDef* layerDef(const QString& id) const;
  QStringList portNames(const QString& id, PortSide side) const;
  // Edges touching a node or a port, in edge-list order.
  std::vector<Edge> edgesOf(const QString& nodeId) const;
  std::vector<Edge> edgesAt(const PortKey& port) const;

  // ---- shape inference and diagnostics (ng::analyze, rerun after every edit) ----------------
  const ng::GraphAnalysis& analysis() const { return analysis_; }
  const ng::NodeInfo* nodeInfo(const QString& id) const;
  std::optional<ng::TensorType> outputType(const QString& id, int port = 0) const;
  std::optional<ng::TensorType> outputType(const QString& id, const QString& port) const;
  std::vector<ng::Diagnostic> diagnostics(const QString& id) const;
  bool hasError(const QString& id) const;
  int64_t paramCount(const QString& id) const;   // trainable values (0 when unknown)
  int64_t outputBytes(const QString& id) const;  // bytes of the outputs per example
  int64_t totalParams() const { return analysis_.param_count; }
  int64_t totalOutputBytes() const;
  int errorCount() const;
  int warningCount() const;
  // Params with defaults and inferred values filled (the analysis' view), or the user's params
  // when the node could not be checked.
  nlohmann::json resolvedParams(const QString& id) const;

  // ---- editing (each pushes one undo command; NOTE [Every edit is a command]) ---------------
  QUndoStack* undoStack() const { return undo_; }

  // Adds a node of a registry type; `id` empty picks a fresh one ("conv2d_1", "linear2").
  // Returns the id, or "" for an unknown type.
  QString addNode(const QString& type, QPointF pos, const nlohmann::json& params = {},
                  const QString& id = {});
  // Removes nodes with every edge touching them, and edges, as one command.
  void removeItems(const QStringList& nodeIds, const QList<int>& edgeIds);
  void removeNodes(const QStringList& ids) { removeItems(ids, {}); }
  void removeEdges(const QList<int>& edgeIds) { removeItems({}, edgeIds); }
  // Why the two ports cannot be joined by a new edge, or "" when they can. Either order of
  // output and input is accepted. `ignoreEdge` is left out of the checks (an edge being moved).
  QString connectionError(const PortKey& a, const PortKey& b, int ignoreEdge = 0) const;
  // Adds the edge when connectionError() is empty; returns that reason (empty on success).
  QString connect(const PortKey& a, const PortKey& b);
  // Moves the input end of an edge to another input port (one command); "" on success.
  QString reconnect(int edgeId, const PortKey& newInput);
  // Moves nodes to new positions (one command, e.g. the end of a drag or a layout).
  void moveNodes(const std::map<QString, QPointF>& newPos, const QString& text = {});
  // Sets one parameter; a null `value` removes it (back to its default or inferred value).
  // Consecutive changes of the same parameter merge into one undo step.
  void setParam(const QString& id, const QString& name, const nlohmann::json& value);
  // Renames a node (edges follow). Returns why not ("" on success): empty, taken, has ':'.
  QString renameNode(const QString& id, const QString& newId);

  // A self-contained fragment {"nodes": [...], "edges": [...]} (edges between the given nodes
  // only), for the clipboard.
  nlohmann::json fragment(const QStringList& ids) const;
  // Adds a fragment's nodes (ids renamed where taken) moved by `offset`, and its edges; one
  // command. Returns the new ids; throws ng::Error when the JSON is not a graph.
  QStringList paste(const nlohmann::json& fragment, QPointF offset);
  // Layered left-to-right layout of all nodes (graph_layout.h) as one undoable move.
  // `size` gives each node's size on the canvas (a default size when empty).
  void autoLayout(const std::function<QSizeF(const QString&)>& size = {},
                  const LayoutOptions& options = {});
  // Not an edit: places the nodes of a document just opened whose positions overlap (no undo
  // step; the undo stack stays clean). Emits nodeMoved.
  void arrangeOpened(const std::map<QString, QPointF>& pos);

  // ---- documents -----------------------------------------------------------------------------
  // Empty graph, default recipe, clean undo stack.
  void clear();
  // Replaces everything with a project (the graph may contain errors: they become diagnostics).
  // Clears the undo stack. Nodes without positions are laid out.
  void setProject(const ng::ProjectSpec& p);
  // Reads a project file; throws ng::Error (ng::ProjectError) with a message naming the file
  // when it cannot be opened as a project. The model is unchanged then.
  void loadProject(const QString& path);
  // Writes the project (atomic); marks the undo stack clean unless told not to (an autosave
  // copy). Throws ng::Error.
  void saveProject(const QString& path, bool markClean = true);
  // The current graph as the engine's plain data, and the whole project (dataset, training and
  // ui sections as loaded).
  ng::GraphSpec toSpec() const;
  ng::ProjectSpec project() const;
  // Diagnostics the loader reported about the dataset and training sections.
  const std::vector<ng::Diagnostic>& projectDiagnostics() const { return projectDiags_; }

  // Training needs a loss; inference-only graphs may set this off.
  void setRequireLoss(bool on);

  // A fresh node id from a type ("Conv2d" -> "conv2d_1", "Linear" -> "linear1").
  QString uniqueId(const QString& type) const;
  // An id not in use: `wanted` itself, or wanted2, wanted3...
  QString freeId(const QString& wanted, const QStringList& alsoTaken = {}) const;

 signals:
  void nodeAdded(const QString& id);
  void nodeAboutToBeRemoved(const QString& id);
  void nodeRemoved(const QString& id);
  void nodeMoved(const QString& id, QPointF pos);
  void nodeParamsChanged(const QString& id);
  void nodeRenamed(const QString& oldId, const QString& newId);
  void edgeAdded(int edgeId);
  void edgeAboutToBeRemoved(int edgeId);
  void edgeRemoved(int edgeId);
  // Everything changed (load, clear): views rebuild.
  void modelReset();
  // Shapes, diagnostics and counts were recomputed.
  void analysisChanged();

 private:
  friend class GraphCommand;

  // Mutators: only undo commands call these (through GraphCommand).
  void insertNode(int index, const Node& n);
  Node takeNode(const QString& id, int* index);
  void insertEdge(int index, const Edge& e);
  Edge takeEdge(int edgeId, int* index);
  void setNodePos(const QString& id, QPointF pos);
  void setNodeParam(const QString& id, const QString& name, const nlohmann::json& value);
  void setNodeId(const QString& id, const QString& newId);
  int nodeIndex(const QString& id) const;
  int newEdgeId() { return nextEdgeId_++; }

  // Batches: analysis runs once when the outermost batch ends.
  void beginBatch() { ++batch_; }
  void endBatch();
  void reanalyze();

  // The port on the given side a file's endpoint means ("" -> the kind's single port).
  QString resolvePort(const QString& node, const QString& port, PortSide side) const;
  void setGraph(const ng::GraphSpec& g);

  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  int nextEdgeId_ = 1;
  ng::ProjectSpec project_;  // dataset, training, ui; its graph is rebuilt by toSpec()
  std::vector<ng::Diagnostic> projectDiags_;
  ng::GraphAnalysis analysis_;
  bool requireLoss_ = true;
  int batch_ = 0;
  bool pending_ = false;
  QUndoStack* undo_ = nullptr;
};

// "[N, 6, 28, 28]", or "?" when unknown.
QString typeText(const std::optional<ng::TensorType>& t);
// "61,706" / "1.2 M" style counts and "24.5 KiB" style sizes.
QString countText(int64_t n);
QString bytesText(int64_t bytes);

}  // namespace ng::gui
