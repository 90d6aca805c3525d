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
// Blocks (NOTE [Blocks] in engine/graph/blocks.h): makeBlock() collapses selected nodes into one
// node of type "Block" whose definition the model keeps; openBlock() shows and edits a block's
// inside (the model's nodes(), edges() and frames() are then the definition's, with its
// BlockInput and BlockOutput nodes) and leaveBlock() goes back. Analysis always covers the whole
// project, flattened; the per-node readers (nodeInfo, outputType, diagnostics, ...) answer for
// the nodes of the scope shown: a Block node sums its copies and gives its last copy's output,
// a node inside a block shows its first copy (and the problems of every copy).
//   m.makeBlock({"fc1", "relu"}, "layer");     // -> a node "layer" (Block, repeat 1)
//   m.setParam("layer", "repeat", 3);
//   m.openBlock("layer");  m.nodeIds();         // {"in", "fc1", "relu", "out"}
//   m.leaveBlock();
//
// Frames: titled rectangles that group and annotate nodes, kept per scope in the project's
// "ui" section; moving a frame moves the nodes inside it (one undo step).
//
// NOTE [Every edit is a command]
// The public editing functions build QUndoCommands (graph_commands.h) and push them on
// undoStack(); only those commands call the private mutators. The mutators emit the fine-grained
// signals (nodeAdded, edgeRemoved, ...); analysis runs again once per pushed, undone or redone
// command (a compound command runs it once at its end) and then analysisChanged() is emitted.
// A command remembers the scope (main graph or block) it was made in and shows that scope again
// before it is undone or redone, so the stack stays one linear history across blocks.
#pragma once

#include <QHash>
#include <QObject>
#include <QPointF>
#include <QRectF>
#include <QSet>
#include <QSizeF>
#include <QString>
#include <QStringList>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "engine/graph/blocks.h"
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
  QString type;                                      // a LayerRegistry name, or a block kind
  nlohmann::json params = nlohmann::json::object();  // as the user set them
  QPointF pos;                                       // top-left corner on the canvas
};

// Block nodes (NOTE [Blocks]): a use of a block, and a definition's input and output.
inline bool isBlockUse(const Node& n) {
  return n.type == QLatin1String("Block");
}
inline bool isBlockBoundary(const Node& n) {
  return n.type == QLatin1String("BlockInput") || n.type == QLatin1String("BlockOutput");
}
// The definition a Block node names in its "block" parameter ("" when none).
QString blockNameOf(const Node& n);

// A titled rectangle on the canvas grouping nodes (scene coordinates). `id` is stable for the
// model's lifetime, like an edge's.
struct Frame {
  int id = 0;
  QString title;
  QRectF rect;
  bool operator==(const Frame&) const = default;
};

// The contents of one scope: the main graph, or the inside of one block definition.
struct GraphBody {
  std::vector<Node> nodes;
  std::vector<Edge> edges;
  std::vector<Frame> frames;
};

class GraphModel : public QObject {
  Q_OBJECT
 public:
  // The whole document's structure: every scope's body (for commands that change several).
  struct Document {
    GraphBody root;
    std::vector<std::pair<QString, GraphBody>> blocks;
  };

  explicit GraphModel(QObject* parent = nullptr);
  ~GraphModel() override;

  // ---- reading -----------------------------------------------------------------------------
  const std::vector<Node>& nodes() const { return nodes_; }
  const std::vector<Edge>& edges() const { return edges_; }
  const Node* node(const QString& id) const;
  const Edge* edge(int edgeId) const;
  QStringList nodeIds() const;
  // The registry entry of a node's type (or the description of a block kind,
  // ng::find_block_kind); nullptr for an unknown type.
  const ng::LayerDef* layerDef(const QString& id) const;
  static const ng::LayerDef* kindOf(const QString& type);
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
  // What the last analysis changed, for views that redraw only that: every node (after a load,
  // another scope, the first analysis) or the nodes of the scope shown whose shapes, counts,
  // resolved parameters or diagnostics differ from the analysis before.
  bool analysisChangedAll() const { return changedAll_; }
  const QSet<QString>& analysisChangedNodes() const { return changed_; }
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
  // Removes nodes with every edge touching them, edges and frames, as one command. A block's
  // BlockInput and BlockOutput stay.
  void removeItems(const QStringList& nodeIds, const QList<int>& edgeIds,
                   const QList<int>& frameIds = {});
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
  // Moves nodes and frames (new rectangles) as one command.
  void moveItems(const std::map<QString, QPointF>& newPos, const std::map<int, QRectF>& frames,
                 const QString& text = {});
  // Sets one parameter; a null `value` removes it (back to its default or inferred value).
  // Consecutive changes of the same parameter merge into one undo step.
  void setParam(const QString& id, const QString& name, const nlohmann::json& value);
  // Renames a node (edges follow). Returns why not ("" on success): empty, taken, has ':'.
  QString renameNode(const QString& id, const QString& newId);

  // A self-contained fragment {"nodes": [...], "edges": [...], "blocks": [...]} (edges between
  // the given nodes only; the definitions their Block nodes use), for the clipboard.
  nlohmann::json fragment(const QStringList& ids) const;
  // Adds a fragment's nodes (ids renamed where taken) moved by `offset`, its edges and the
  // block definitions the model lacks (renamed when a different one has the name); one command.
  // Returns the new ids; throws ng::Error when the JSON is not a graph.
  QStringList paste(const nlohmann::json& fragment, QPointF offset);
  // Layered left-to-right layout of all nodes (graph_layout.h) as one undoable move.
  // `size` gives each node's size on the canvas (a default size when empty).
  void autoLayout(const std::function<QSizeF(const QString&)>& size = {},
                  const LayoutOptions& options = {});
  // Not an edit: places the nodes of a document just opened whose positions overlap (no undo
  // step; the undo stack stays clean). Emits nodeMoved.
  void arrangeOpened(const std::map<QString, QPointF>& pos);

  // ---- blocks (NOTE [Blocks]) -----------------------------------------------------------------
  // Why these nodes cannot become a block ("" when they can): a block has one input and one
  // output, so everything entering the selection must come from one output port, and
  // everything leaving it must leave from one output port.
  QString makeBlockError(const QStringList& ids) const;
  // Collapses the nodes into one Block node using a new definition `name` (made unique; "" picks
  // "block1", ...), repeat 1, wired in their place; one undo step. Returns the new node's id, or
  // "" with `why` set.
  QString makeBlock(const QStringList& ids, const QString& name = {}, QString* why = nullptr);
  // Replaces a Block node by its copies' nodes, wired in its place; one undo step. Returns the
  // new nodes' ids (empty when `id` is not a usable Block node).
  QStringList unpackBlock(const QString& id);
  // Names of the block definitions, in file order (unused ones included until saved).
  QStringList blockNames() const;
  // The inside of a definition as stored (the current scope's own is in nodes()/edges()).
  const GraphBody* blockBody(const QString& name) const;
  bool isBlockNode(const QString& id) const;
  // The definition a Block node uses ("" when none).
  QString blockOf(const QString& id) const;
  // `wanted` when no definition has that name, else wanted2, wanted3...
  QString freeBlockName(const QString& wanted) const;

  // The scope shown and edited: "" for the main graph, else a block's name. Navigation, not an
  // edit: no undo step, the document stays clean.
  const QString& scope() const { return scope_; }
  // The Block nodes opened from the main graph down to the current scope.
  const QStringList& scopePath() const { return path_; }
  // Shows the inside of a Block node of the current scope; false when it is not one.
  bool openBlock(const QString& id);
  // Back out `levels` scopes (towards the main graph); leaveToDepth(0) shows the main graph.
  void leaveBlock(int levels = 1);
  void leaveToDepth(int depth);
  // The node of the current scope that stands for a node of the flattened graph (the analysis'
  // ids): itself, or the Block node containing it; "" when it is outside this scope.
  QString localNode(const std::string& flatId) const;

  // ---- frames ----------------------------------------------------------------------------------
  const std::vector<Frame>& frames() const { return frames_; }
  const Frame* frame(int id) const;
  // One undo step each. addFrame returns the new frame's id.
  int addFrame(const QRectF& rect, const QString& title);
  void setFrameTitle(int id, const QString& title);
  void setFrameRect(int id, const QRectF& rect);
  // Nodes lying inside a frame's rectangle (their whole card, given their sizes).
  QStringList nodesInFrame(int id, const std::function<QSizeF(const QString&)>& size = {}) const;

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

  // The project's recipe: its dataset section (what the next run trains on) and training
  // section (epochs, batch size, optimiser, precision, ...). setRecipe / setTraining are one
  // undo step each ("Training settings"); trainingChanged() says so, also on undo and redo.
  const ng::DatasetSpec& dataset() const { return project_.dataset; }
  const ng::TrainingSpec& training() const { return project_.training; }
  void setRecipe(const ng::DatasetSpec& d, const ng::TrainingSpec& t, const QString& text = {});
  void setTraining(const ng::TrainingSpec& t, const QString& text = {}) {
    setRecipe(project_.dataset, t, text);
  }
  // The project moves from folder `from` to `to` (Save As): a relative dataset path, here and
  // in the recipe's undo steps, is rewritten to name the same place from `to`. Not an edit: no
  // undo step. rebasedPath is that rewrite (absolute and empty paths stay as they are).
  void relocateDatasetPaths(const QString& from, const QString& to);
  static std::string rebasedPath(const std::string& path, const QString& from, const QString& to);

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
  // Everything changed (load, clear, another scope shown): views rebuild.
  void modelReset();
  // Another scope is shown (openBlock, leaveBlock, an undo elsewhere).
  void scopeChanged();
  void frameAdded(int frameId);
  void frameAboutToBeRemoved(int frameId);
  void frameRemoved(int frameId);
  void frameChanged(int frameId);
  // Shapes, diagnostics and counts were recomputed.
  void analysisChanged();
  // The recipe changed (setRecipe, its undo or redo, or a new document).
  void trainingChanged();

 private:
  friend class GraphCommand;

  friend class DocumentCommand;
  friend class AddBlockCommand;
  friend class SetRecipeCommand;
  void setRecipeData(const ng::DatasetSpec& d, const ng::TrainingSpec& t);
  // projectDiagnostics() from a list: its dataset and training entries.
  void keepRecipeDiagnostics(const std::vector<ng::Diagnostic>& diags);

  Document document() const;
  // Replaces the structure; the scope shown stays if it still exists (else the main graph).
  void setDocument(const Document& d);
  // Shows a scope (switching bodies, emitting modelReset and scopeChanged); commands call it.
  void ensureScope(const QString& scope);
  void switchScope(const QString& scope, const QStringList& path);
  // The body of a scope: the live one for the current scope, else the stored one.
  const GraphBody* bodyOf(const QString& scope) const;
  GraphBody* storedBody(const QString& scope);
  // A path of Block node ids from the main graph to a use of `scope` ({} when none).
  std::optional<QStringList> pathTo(const QString& scope) const;
  void addBlockDef(int index, const QString& name, const GraphBody& body);
  GraphBody removeBlockDef(const QString& name, int* index);
  // Names of the definitions the main graph uses, directly or through other blocks.
  QStringList usedBlocks() const;
  static ng::GraphSpec bodySpec(const GraphBody& b);
  static GraphBody bodyFromSpec(const std::vector<ng::NodeSpec>& nodes,
                                const std::vector<ng::EdgeSpec>& edges, int* nextEdgeId);
  // After each analysis: what the current scope's nodes show (NOTE at reanalyze()).
  void mapAnalysisToScope();
  std::optional<ng::TensorType> flatType(const ng::PortRef& r) const;

  // Mutators: only undo commands call these (through GraphCommand).
  void insertNode(int index, const Node& n);
  Node takeNode(const QString& id, int* index);
  void insertEdge(int index, const Edge& e);
  Edge takeEdge(int edgeId, int* index);
  void setNodePos(const QString& id, QPointF pos);
  void setNodeParam(const QString& id, const QString& name, const nlohmann::json& value);
  void setNodeId(const QString& id, const QString& newId);
  void insertFrame(int index, const Frame& f);
  Frame takeFrame(int frameId, int* index);
  void setFrameData(int frameId, const QString& title, const QRectF& rect);
  int newFrameId() { return nextFrameId_++; }
  int nodeIndex(const QString& id) const;
  int newEdgeId() { return nextEdgeId_++; }

  // Batches: analysis runs once when the outermost batch ends.
  void beginBatch() { ++batch_; }
  void endBatch();
  void reanalyze();

  // The port on the given side a file's endpoint means ("" -> the kind's single port).
  QString resolvePort(const QString& node, const QString& port, PortSide side) const;
  void setGraph(const ng::GraphSpec& g);

  // The current scope's body; the other scopes' bodies are stored in root_ and blocks_ (the
  // current scope's slot there is stale while it is shown).
  GraphBody cur_;
  std::vector<Node>& nodes_ = cur_.nodes;
  std::vector<Edge>& edges_ = cur_.edges;
  std::vector<Frame>& frames_ = cur_.frames;
  GraphBody root_;
  std::vector<std::pair<QString, GraphBody>> blocks_;
  nlohmann::json badBlocks_ = nlohmann::json::array();  // unreadable entries, kept as given
  QString scope_;
  QStringList path_;
  int nextEdgeId_ = 1;
  int nextFrameId_ = 1;
  // Lookup tables of the current body, rebuilt when stale (after any change of nodes or edges).
  mutable QHash<QString, int> indexCache_;              // node id -> index in nodes_
  mutable QHash<int, int> edgeIndex_;                   // edge id -> index in edges_
  mutable QHash<QString, std::vector<int>> portEdges_;  // port -> indices in edges_, in order
  mutable bool indexStale_ = true;
  void rebuildIndex() const;
  // The analysis as the current scope sees it.
  QHash<QString, int> localIndex_;          // node id -> analysis_.nodes index
  QHash<QString, ng::NodeInfo> synthInfo_;  // Block, BlockInput nodes
  QHash<QString, std::vector<ng::Diagnostic>> localDiags_;
  QHash<QString, std::string> fingerprints_;  // per node: what it shows (analysisChangedNodes)
  QSet<QString> changed_;
  bool changedAll_ = true, forceAll_ = true;
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
