#include "widgets/nodegraph/model/graph_model.h"

#include <QDir>
#include <QHash>
#include <QSet>
#include <QUndoStack>
#include <algorithm>
#include <cmath>
#include <set>

#include "widgets/nodegraph/model/graph_commands.h"
#include "widgets/nodegraph/model/graph_layout.h"

namespace ng::gui {

using nlohmann::json;

namespace {

std::string s(const QString& q) {
  return q.toStdString();
}
QString q(const std::string& s) {
  return QString::fromStdString(s);
}

const std::vector<ng::PortDef>& ports(const ng::LayerDef& d, PortSide side) {
  return side == PortSide::Input ? d.inputs : d.outputs;
}

// The port a file's endpoint means: "" stands for the kind's single port on that side.
QString resolveFor(const ng::LayerDef* def, const QString& port, PortSide side) {
  if (!port.isEmpty() || !def) return port;
  const auto& ps = ports(*def, side);
  return ps.size() == 1 ? q(ps[0].name) : port;
}

}  // namespace

GraphModel::GraphModel(QObject* parent) : QObject(parent), undo_(new QUndoStack(this)) {
  reanalyze();
}

GraphModel::~GraphModel() {
  // The stack's commands point at this model; drop them before the members go.
  undo_->clear();
}

// ---- reading -------------------------------------------------------------------------------

namespace {
QString portKey(const QString& node, const QString& port, PortSide side) {
  return node + QChar(0x1f) + port + (side == PortSide::Input ? QChar('i') : QChar('o'));
}
}  // namespace

void GraphModel::rebuildIndex() const {
  if (!indexStale_) return;
  indexCache_.clear();
  indexCache_.reserve(qsizetype(nodes_.size()));
  for (size_t i = 0; i < nodes_.size(); ++i) indexCache_.insert(nodes_[i].id, int(i));
  edgeIndex_.clear();
  portEdges_.clear();
  for (size_t i = 0; i < edges_.size(); ++i) {
    const Edge& e = edges_[i];
    edgeIndex_.insert(e.id, int(i));
    portEdges_[portKey(e.fromNode, e.fromPort, PortSide::Output)].push_back(int(i));
    portEdges_[portKey(e.toNode, e.toPort, PortSide::Input)].push_back(int(i));
  }
  indexStale_ = false;
}

int GraphModel::nodeIndex(const QString& id) const {
  rebuildIndex();
  return indexCache_.value(id, -1);
}

const Node* GraphModel::node(const QString& id) const {
  int i = nodeIndex(id);
  return i < 0 ? nullptr : &nodes_[size_t(i)];
}

const Edge* GraphModel::edge(int edgeId) const {
  rebuildIndex();
  int i = edgeIndex_.value(edgeId, -1);
  return i < 0 ? nullptr : &edges_[size_t(i)];
}

QStringList GraphModel::nodeIds() const {
  QStringList r;
  for (const Node& n : nodes_) r << n.id;
  return r;
}

const ng::LayerDef* GraphModel::kindOf(const QString& type) {
  std::string t = s(type);
  if (const ng::LayerDef* d = ng::LayerRegistry::instance().find(t)) return d;
  return ng::find_block_kind(t);
}

const ng::LayerDef* GraphModel::layerDef(const QString& id) const {
  const Node* n = node(id);
  return n ? kindOf(n->type) : nullptr;
}

QStringList GraphModel::portNames(const QString& id, PortSide side) const {
  QStringList r;
  if (const ng::LayerDef* d = layerDef(id))
    for (const ng::PortDef& p : ports(*d, side)) r << q(p.name);
  return r;
}

std::vector<Edge> GraphModel::edgesOf(const QString& nodeId) const {
  std::vector<Edge> r;
  for (const Edge& e : edges_)
    if (e.fromNode == nodeId || e.toNode == nodeId) r.push_back(e);
  return r;
}

std::vector<Edge> GraphModel::edgesAt(const PortKey& p) const {
  rebuildIndex();
  std::vector<Edge> r;
  auto it = portEdges_.constFind(portKey(p.node, p.port, p.side));
  if (it != portEdges_.constEnd())
    for (int i : *it) r.push_back(edges_[size_t(i)]);  // in edge-list order
  return r;
}

// ---- analysis ------------------------------------------------------------------------------

const ng::NodeInfo* GraphModel::nodeInfo(const QString& id) const {
  if (auto it = synthInfo_.constFind(id); it != synthInfo_.constEnd()) return &it.value();
  int i = localIndex_.value(id, -1);
  return i < 0 ? nullptr : &analysis_.nodes[size_t(i)];
}

std::optional<ng::TensorType> GraphModel::outputType(const QString& id, int port) const {
  const ng::NodeInfo* n = nodeInfo(id);
  if (!n || port < 0 || port >= int(n->outputs.size())) return std::nullopt;
  return n->outputs[size_t(port)];
}

std::optional<ng::TensorType> GraphModel::outputType(const QString& id, const QString& port) const {
  const ng::LayerDef* d = layerDef(id);
  return d ? outputType(id, d->output_index(s(port))) : std::nullopt;
}

std::vector<ng::Diagnostic> GraphModel::diagnostics(const QString& id) const {
  return localDiags_.value(id);
}

bool GraphModel::hasError(const QString& id) const {
  auto it = localDiags_.constFind(id);
  if (it == localDiags_.constEnd()) return false;
  for (const ng::Diagnostic& d : it.value())
    if (d.severity == ng::Severity::Error) return true;
  return false;
}

int64_t GraphModel::paramCount(const QString& id) const {
  const ng::NodeInfo* n = nodeInfo(id);
  return n && n->inferred ? n->param_count : 0;
}

int64_t GraphModel::outputBytes(const QString& id) const {
  const ng::NodeInfo* n = nodeInfo(id);
  return n && n->inferred ? n->output_bytes_per_example : 0;
}

int64_t GraphModel::totalOutputBytes() const {
  int64_t t = 0;
  for (const ng::NodeInfo& n : analysis_.nodes)
    if (n.inferred) t += n.output_bytes_per_example;
  return t;
}

int GraphModel::errorCount() const {
  int k = 0;
  for (const ng::Diagnostic& d : analysis_.diagnostics) k += d.severity == ng::Severity::Error;
  return k;
}

int GraphModel::warningCount() const {
  int k = 0;
  for (const ng::Diagnostic& d : analysis_.diagnostics) k += d.severity == ng::Severity::Warning;
  return k;
}

json GraphModel::resolvedParams(const QString& id) const {
  const ng::NodeInfo* n = nodeInfo(id);
  if (n && n->def && n->params.is_object() && !n->params.empty()) return n->params;
  const Node* nd = node(id);
  return nd ? nd->params : json::object();
}

void GraphModel::reanalyze() {
  try {
    analysis_ = ng::analyze(toSpec(), {.require_loss = requireLoss_});
  } catch (const std::exception& e) {
    analysis_ = {};
    analysis_.diagnostics.push_back({ng::Severity::Error, "", "graph", e.what()});
  }
  mapAnalysisToScope();
  emit analysisChanged();
}

void GraphModel::endBatch() {
  if (--batch_ == 0 && pending_) {
    pending_ = false;
    reanalyze();
  }
}

void GraphModel::setRequireLoss(bool on) {
  requireLoss_ = on;
  reanalyze();
}

// ---- ids -----------------------------------------------------------------------------------

QString GraphModel::freeId(const QString& wanted, const QStringList& alsoTaken) const {
  auto taken = [&](const QString& id) { return node(id) || alsoTaken.contains(id); };
  if (!taken(wanted)) return wanted;
  QString base = wanted;
  while (!base.isEmpty() && base.back().isDigit()) base.chop(1);
  if (base.isEmpty()) base = "node";
  if (base.back().isDigit()) base += '_';
  for (int k = 2;; ++k)
    if (!taken(base + QString::number(k))) return base + QString::number(k);
}

QString GraphModel::uniqueId(const QString& type) const {
  // Losses and inputs by their role ("loss1", "input1"), other kinds by their name.
  const ng::LayerDef* def = ng::LayerRegistry::instance().find(s(type));
  QString base = def && def->category == ng::LayerCategory::Loss    ? QStringLiteral("loss")
                 : def && def->category == ng::LayerCategory::Input ? QStringLiteral("input")
                                                                    : type.toLower();
  if (base.isEmpty()) base = "node";
  // "conv2d1" would read badly: a name with digits gets a separator.
  if (std::any_of(base.begin(), base.end(), [](QChar c) { return c.isDigit(); })) base += '_';
  for (int k = 1;; ++k)
    if (!node(base + QString::number(k))) return base + QString::number(k);
}

// ---- editing -------------------------------------------------------------------------------

QString GraphModel::addNode(const QString& type, QPointF pos, const json& params,
                            const QString& id) {
  // Layers only: Block nodes come from makeBlock, BlockInput/BlockOutput with the definition.
  if (!ng::LayerRegistry::instance().find(s(type))) return {};
  Node n;
  n.type = type;
  n.id = id.isEmpty() ? uniqueId(type) : freeId(id);
  n.params = params.is_object() ? params : json::object();
  n.pos = pos;
  auto* cmd = new AddNodeCommand(this, n);
  undo_->push(cmd);
  return n.id;
}

void GraphModel::removeItems(const QStringList& nodeIds, const QList<int>& edgeIds,
                             const QList<int>& frameIds) {
  QStringList nodes;
  for (const QString& id : nodeIds)
    if (const Node* n = node(id); n && !nodes.contains(id) && !isBlockBoundary(*n)) nodes << id;
  QList<int> edges;
  for (int e : edgeIds)
    if (edge(e) && !edges.contains(e)) edges << e;
  QList<int> frames;
  for (int f : frameIds)
    if (frame(f) && !frames.contains(f)) frames << f;
  if (nodes.isEmpty() && edges.isEmpty() && frames.isEmpty()) return;
  auto* cmd = new RemoveNodesCommand(this, nodes, edges, frames);
  if (nodes.isEmpty() && frames.isEmpty() && edges.size() == 1)
    cmd->setText(tr("Disconnect %1 from %2").arg(edge(edges[0])->fromNode, edge(edges[0])->toNode));
  if (nodes.isEmpty() && edges.isEmpty() && frames.size() == 1)
    cmd->setText(tr("Remove frame %1").arg(frame(frames[0])->title));
  undo_->push(cmd);
}

QString GraphModel::connectionError(const PortKey& a, const PortKey& b, int ignoreEdge) const {
  if (a.side == b.side)
    return a.side == PortSide::Output
               ? tr("Cannot connect two outputs: drag from an output (right side) to an input "
                    "(left side).")
               : tr("Cannot connect two inputs: drag from an output (right side) to an input "
                    "(left side).");
  const PortKey& from = a.side == PortSide::Output ? a : b;
  const PortKey& to = a.side == PortSide::Output ? b : a;
  const Node* fn = node(from.node);
  const Node* tn = node(to.node);
  if (!fn || !tn) return tr("There is no node '%1'.").arg(fn ? to.node : from.node);
  const ng::LayerDef* fd = layerDef(from.node);
  const ng::LayerDef* td = layerDef(to.node);
  auto who = [](const ng::LayerDef* d, const Node* n) {
    return d ? q(d->who(s(n->id))) : QString("%1 '%2'").arg(n->type, n->id);
  };
  if (!fd || fd->output_index(s(from.port)) < 0)
    return tr("%1 has no output '%2'.").arg(who(fd, fn), from.port);
  if (!td || td->input_index(s(to.port)) < 0)
    return tr("%1 has no input '%2'.").arg(who(td, tn), to.port);
  if (from.node == to.node) return tr("%1 cannot feed itself.").arg(who(fd, fn));
  const ng::PortDef& in = td->inputs[size_t(td->input_index(s(to.port)))];
  if (!in.variadic) {
    std::vector<Edge> there = edgesAt(to);
    std::erase_if(there, [&](const Edge& e) { return e.id == ignoreEdge; });
    if (!there.empty())
      return tr("Input '%1' of %2 is already connected (from %3); delete that wire first. Only "
                "inputs such as Add's and Concat's take several wires.")
          .arg(to.port, who(td, tn), there[0].fromNode);
  }
  // A cycle: the new edge from -> to closes one when `to` already reaches `from`.
  QSet<QString> seen{to.node};
  QStringList stack{to.node};
  while (!stack.isEmpty()) {
    QString cur = stack.takeLast();
    if (cur == from.node)
      return tr("Connecting %1 to %2 would make a cycle: %2 already feeds %1.")
          .arg(from.node, to.node);
    for (const Edge& e : edges_)
      if (e.id != ignoreEdge && e.fromNode == cur && !seen.contains(e.toNode)) {
        seen.insert(e.toNode);
        stack << e.toNode;
      }
  }
  return {};
}

QString GraphModel::connect(const PortKey& a, const PortKey& b) {
  QString why = connectionError(a, b);
  if (!why.isEmpty()) return why;
  const PortKey& from = a.side == PortSide::Output ? a : b;
  const PortKey& to = a.side == PortSide::Output ? b : a;
  Edge e;
  e.fromNode = from.node;
  e.fromPort = from.port;
  e.toNode = to.node;
  e.toPort = to.port;
  undo_->push(new AddEdgeCommand(this, e));
  return {};
}

QString GraphModel::reconnect(int edgeId, const PortKey& newInput) {
  const Edge* old = edge(edgeId);
  if (!old) return tr("That wire no longer exists.");
  if (old->to() == newInput) return {};
  QString why = connectionError(old->from(), newInput, edgeId);
  if (!why.isEmpty()) return why;
  Edge e = *old;
  e.toNode = newInput.node;
  e.toPort = newInput.port;
  auto* cmd = new GraphCommand(this, tr("Reconnect %1 to %2").arg(e.fromNode, e.toNode));
  new RemoveEdgeCommand(this, edgeId, cmd);
  new AddEdgeCommand(this, e, cmd);
  undo_->push(cmd);
  return {};
}

void GraphModel::moveNodes(const std::map<QString, QPointF>& newPos, const QString& text) {
  moveItems(newPos, {}, text);
}

void GraphModel::moveItems(const std::map<QString, QPointF>& newPos,
                           const std::map<int, QRectF>& frames, const QString& text) {
  std::map<QString, QPointF> from, to;
  for (const auto& [id, p] : newPos)
    if (const Node* n = node(id); n && n->pos != p) {
      from[id] = n->pos;
      to[id] = p;
    }
  std::map<int, QRectF> changed;
  for (const auto& [id, r] : frames)
    if (const Frame* f = frame(id); f && f->rect != r) changed[id] = r;
  if (to.empty() && changed.empty()) return;
  if (changed.empty()) {
    undo_->push(new MoveNodesCommand(this, from, to, text));
    return;
  }
  auto* cmd = new GraphCommand(this, text.isEmpty() ? tr("Move") : text);
  if (!to.empty()) new MoveNodesCommand(this, from, to, text, cmd);
  for (const auto& [id, r] : changed) new SetFrameCommand(this, id, frame(id)->title, r, cmd);
  undo_->push(cmd);
}

void GraphModel::setParam(const QString& id, const QString& name, const json& value) {
  const Node* n = node(id);
  if (!n) return;
  auto it = n->params.find(s(name));
  json old = it == n->params.end() ? json() : *it;
  if (old == value) return;
  undo_->push(new SetParamCommand(this, id, name, value));
}

QString GraphModel::renameNode(const QString& id, const QString& newId) {
  if (!node(id)) return tr("There is no node '%1'.").arg(id);
  if (newId.contains('/'))
    return tr("'%1' contains '/', which separates a block from its layers.").arg(newId);
  if (newId == id) return {};
  if (newId.trimmed().isEmpty()) return tr("A node needs a name.");
  if (newId.contains(':'))
    return tr("'%1' contains ':', which separates node and port in wires.").arg(newId);
  if (newId.trimmed() != newId) return tr("A name cannot start or end with spaces.");
  if (node(newId)) return tr("Another node is already called '%1'.").arg(newId);
  undo_->push(new RenameNodeCommand(this, id, newId));
  return {};
}

json GraphModel::fragment(const QStringList& ids) const {
  GraphBody cur{nodes_, edges_, {}};
  ng::GraphSpec full = bodySpec(cur), part;
  std::set<std::string> keep;
  for (const QString& id : ids) keep.insert(s(id));
  QStringList uses;
  for (const ng::NodeSpec& n : full.nodes)
    if (keep.count(n.id)) {
      part.nodes.push_back(n);
      if (n.type == ng::kBlockType && n.params.contains("block") && n.params["block"].is_string())
        uses << q(n.params["block"].get<std::string>());
    }
  for (const ng::EdgeSpec& e : full.edges)
    if (keep.count(e.from.node) && keep.count(e.to.node)) part.edges.push_back(e);
  // The definitions the nodes use, and those these use.
  QStringList defs;
  while (!uses.isEmpty()) {
    QString name = uses.takeFirst();
    const GraphBody* b = bodyOf(name);
    if (!b || defs.contains(name)) continue;
    defs << name;
    for (const Node& n : b->nodes)
      if (isBlockUse(n)) uses << blockNameOf(n);
  }
  json j = part.to_json();
  if (!defs.isEmpty()) {
    j["blocks"] = json::array();
    for (const QString& name : defs) {
      ng::GraphSpec body = bodySpec(*bodyOf(name));
      json b = body.to_json();
      b["name"] = s(name);
      j["blocks"].push_back(b);
    }
  }
  return j;
}

QStringList GraphModel::paste(const json& fragment, QPointF offset) {
  ng::GraphSpec g = ng::GraphSpec::from_json(fragment);
  // A block's BlockInput and BlockOutput belong to it alone.
  std::erase_if(g.nodes, [](const ng::NodeSpec& n) {
    return n.type == ng::kBlockInputType || n.type == ng::kBlockOutputType;
  });
  if (g.nodes.empty()) return {};
  std::vector<ng::BlockDef> defs = ng::block_defs(g);  // throws on a malformed fragment
  QHash<QString, QString> newId;                       // fragment id -> model id
  QHash<QString, QString> typeOf;                      // fragment id -> type
  QStringList ids;
  auto* cmd = new GraphCommand(this, g.nodes.size() == 1
                                         ? tr("Paste %1").arg(q(g.nodes[0].id))
                                         : tr("Paste %n node(s)", nullptr, int(g.nodes.size())));
  // Definitions: the model's own when equal, else added (renamed when the name is taken).
  QHash<QString, QString> blockName;  // fragment name -> model name
  QStringList added;
  for (const ng::BlockDef& d : defs) {
    QString name = q(d.name);
    const GraphBody* mine = bodyOf(name);
    if (mine) {
      ng::GraphSpec a = bodySpec(*mine);
      if (a.nodes == d.nodes && a.edges == d.edges) {
        blockName.insert(name, name);
        continue;
      }
    }
    QString fresh = name;
    for (int k = 2; bodyOf(fresh) || added.contains(fresh); ++k) fresh = name + QString::number(k);
    blockName.insert(name, fresh);
    added << fresh;
  }
  auto renamed = [&](ng::NodeSpec n) {
    if (n.type == ng::kBlockType && n.params.is_object() && n.params.contains("block") &&
        n.params["block"].is_string()) {
      QString b = q(n.params["block"].get<std::string>());
      if (blockName.contains(b)) n.params["block"] = s(blockName[b]);
    }
    return n;
  };
  for (const ng::BlockDef& d : defs) {
    QString name = blockName.value(q(d.name));
    if (!added.contains(name)) continue;
    std::vector<ng::NodeSpec> nodes;
    for (const ng::NodeSpec& n : d.nodes) nodes.push_back(renamed(n));
    new AddBlockCommand(this, name, bodyFromSpec(nodes, d.edges, &nextEdgeId_), cmd);
  }
  for (ng::NodeSpec ns : g.nodes) {
    ns = renamed(ns);
    Node n;
    n.id = freeId(q(ns.id).isEmpty() ? uniqueId(q(ns.type)) : q(ns.id), ids);
    n.type = q(ns.type);
    n.params = ns.params.is_object() ? ns.params : json::object();
    n.pos = QPointF(ns.position[0], ns.position[1]) + offset;
    newId.insert(q(ns.id), n.id);
    typeOf.insert(q(ns.id), n.type);
    ids << n.id;
    new AddNodeCommand(this, n, cmd);
  }
  for (const ng::EdgeSpec& es : g.edges) {
    QString a = q(es.from.node), b = q(es.to.node);
    if (!newId.contains(a) || !newId.contains(b)) continue;
    Edge e;
    e.fromNode = newId[a];
    e.fromPort = resolveFor(kindOf(typeOf[a]), q(es.from.port), PortSide::Output);
    e.toNode = newId[b];
    e.toPort = resolveFor(kindOf(typeOf[b]), q(es.to.port), PortSide::Input);
    new AddEdgeCommand(this, e, cmd);
  }
  undo_->push(cmd);
  return ids;
}

void GraphModel::autoLayout(const std::function<QSizeF(const QString&)>& size,
                            const LayoutOptions& options) {
  moveNodes(layeredLayout(*this, size, options), tr("Auto layout"));
}

void GraphModel::arrangeOpened(const std::map<QString, QPointF>& pos) {
  for (const auto& [id, p] : pos) setNodePos(id, p);
}

// ---- mutators (NOTE [Every edit is a command]) -------------------------------------------

void GraphModel::insertNode(int index, const Node& n) {
  if (index < 0 || index > int(nodes_.size())) index = int(nodes_.size());
  nodes_.insert(nodes_.begin() + index, n);
  indexStale_ = true;
  pending_ = true;
  emit nodeAdded(n.id);
}

Node GraphModel::takeNode(const QString& id, int* index) {
  int i = nodeIndex(id);
  Q_ASSERT(i >= 0);
  emit nodeAboutToBeRemoved(id);
  Node n = nodes_[size_t(i)];
  nodes_.erase(nodes_.begin() + i);
  indexStale_ = true;
  if (index) *index = i;
  pending_ = true;
  emit nodeRemoved(id);
  return n;
}

void GraphModel::insertEdge(int index, const Edge& e) {
  if (index < 0 || index > int(edges_.size())) index = int(edges_.size());
  edges_.insert(edges_.begin() + index, e);
  indexStale_ = true;
  pending_ = true;
  emit edgeAdded(e.id);
}

Edge GraphModel::takeEdge(int edgeId, int* index) {
  int i = 0;
  while (i < int(edges_.size()) && edges_[size_t(i)].id != edgeId) ++i;
  Q_ASSERT(i < int(edges_.size()));
  emit edgeAboutToBeRemoved(edgeId);
  Edge e = edges_[size_t(i)];
  edges_.erase(edges_.begin() + i);
  indexStale_ = true;
  if (index) *index = i;
  pending_ = true;
  emit edgeRemoved(edgeId);
  return e;
}

void GraphModel::setNodePos(const QString& id, QPointF pos) {
  int i = nodeIndex(id);
  if (i < 0) return;
  nodes_[size_t(i)].pos = pos;
  emit nodeMoved(id, pos);  // positions do not change shapes: no analysis
}

void GraphModel::setNodeParam(const QString& id, const QString& name, const json& value) {
  int i = nodeIndex(id);
  if (i < 0) return;
  json& p = nodes_[size_t(i)].params;
  if (!p.is_object()) p = json::object();
  if (value.is_null())
    p.erase(s(name));
  else
    p[s(name)] = value;
  pending_ = true;
  emit nodeParamsChanged(id);
}

void GraphModel::setNodeId(const QString& id, const QString& newId) {
  int i = nodeIndex(id);
  if (i < 0) return;
  nodes_[size_t(i)].id = newId;
  indexStale_ = true;
  for (Edge& e : edges_) {
    if (e.fromNode == id) e.fromNode = newId;
    if (e.toNode == id) e.toNode = newId;
  }
  pending_ = true;
  emit nodeRenamed(id, newId);
}

// ---- documents -----------------------------------------------------------------------------

QString GraphModel::resolvePort(const QString& node, const QString& port, PortSide side) const {
  return resolveFor(layerDef(node), port, side);
}

GraphBody GraphModel::bodyFromSpec(const std::vector<ng::NodeSpec>& nodes,
                                   const std::vector<ng::EdgeSpec>& edges, int* nextEdgeId) {
  GraphBody b;
  QHash<QString, QString> typeOf;
  for (const ng::NodeSpec& ns : nodes) {
    Node n;
    n.id = q(ns.id);
    n.type = q(ns.type);
    n.params = ns.params.is_object() ? ns.params : json::object();
    n.pos = QPointF(ns.position[0], ns.position[1]);
    if (!typeOf.contains(n.id)) typeOf.insert(n.id, n.type);
    b.nodes.push_back(n);
  }
  for (const ng::EdgeSpec& es : edges) {
    Edge e;
    e.id = (*nextEdgeId)++;
    e.fromNode = q(es.from.node);
    e.fromPort = resolveFor(kindOf(typeOf.value(e.fromNode)), q(es.from.port), PortSide::Output);
    e.toNode = q(es.to.node);
    e.toPort = resolveFor(kindOf(typeOf.value(e.toNode)), q(es.to.port), PortSide::Input);
    b.edges.push_back(e);
  }
  return b;
}

ng::GraphSpec GraphModel::bodySpec(const GraphBody& b) {
  ng::GraphSpec g;
  QHash<QString, QString> typeOf;
  for (const Node& n : b.nodes) {
    g.nodes.push_back({s(n.id), s(n.type), n.params, {n.pos.x(), n.pos.y()}});
    if (!typeOf.contains(n.id)) typeOf.insert(n.id, n.type);
  }
  // A port that is the only one on its side is written as the bare node id, as in the
  // examples ("conv1" -> "relu1"); others as "node:port" ("fc3" -> "loss:input").
  auto end = [&](const QString& nodeId, const QString& port, PortSide side) {
    const ng::LayerDef* d = kindOf(typeOf.value(nodeId));
    bool single = d && ports(*d, side).size() == 1 && q(ports(*d, side)[0].name) == port;
    return ng::PortRef{s(nodeId), single ? std::string() : s(port)};
  };
  for (const Edge& e : b.edges)
    g.edges.push_back(
        {end(e.fromNode, e.fromPort, PortSide::Output), end(e.toNode, e.toPort, PortSide::Input)});
  return g;
}

void GraphModel::setGraph(const ng::GraphSpec& g) {
  GraphBody root = bodyFromSpec(g.nodes, g.edges, &nextEdgeId_);
  nodes_ = std::move(root.nodes);
  edges_ = std::move(root.edges);
  frames_.clear();
  indexStale_ = true;
  // Files written by hand (or by tools) may leave positions out: lay such graphs out.
  QSet<QPair<double, double>> distinct;
  for (const Node& n : nodes_) distinct.insert({n.pos.x(), n.pos.y()});
  if (size_t(distinct.size()) < nodes_.size())
    for (const auto& [id, p] : layeredLayout(*this)) nodes_[size_t(nodeIndex(id))].pos = p;
}

void GraphModel::clear() {
  setProject(ng::ProjectSpec{});
}

void GraphModel::setProject(const ng::ProjectSpec& p) {
  undo_->clear();
  project_ = p;
  project_.graph = {};  // held in the bodies
  projectDiags_.clear();
  scope_.clear();
  path_.clear();
  root_ = {};
  blocks_.clear();
  badBlocks_ = json::array();
  setGraph(p.graph);
  // Block definitions: readable ones become bodies; others are kept as given (analysis says
  // what is wrong with them).
  if (p.graph.blocks.is_array())
    for (size_t i = 0; i < p.graph.blocks.size(); ++i) {
      try {
        ng::BlockDef d = ng::BlockDef::from_json(p.graph.blocks[i], i);
        if (blockBody(q(d.name))) throw ng::Error("a second block '" + d.name + "'");
        blocks_.push_back({q(d.name), bodyFromSpec(d.nodes, d.edges, &nextEdgeId_)});
      } catch (const ng::Error&) {
        badBlocks_.push_back(p.graph.blocks[i]);
      }
    }
  // Frames, from the "ui" section.
  if (project_.ui.is_object() && project_.ui.contains("frames") && project_.ui["frames"].is_array())
    for (const json& f : project_.ui["frames"]) {
      if (!f.is_object() || !f.contains("rect") || !f["rect"].is_array() || f["rect"].size() != 4)
        continue;
      Frame fr;
      fr.id = newFrameId();
      fr.title = f.contains("title") && f["title"].is_string() ? q(f["title"].get<std::string>())
                                                               : QString();
      const json& r = f["rect"];
      if (!r[0].is_number() || !r[1].is_number() || !r[2].is_number() || !r[3].is_number())
        continue;
      fr.rect =
          QRectF(r[0].get<double>(), r[1].get<double>(), r[2].get<double>(), r[3].get<double>());
      QString block = f.contains("block") && f["block"].is_string()
                          ? q(f["block"].get<std::string>())
                          : QString();
      if (block.isEmpty())
        frames_.push_back(fr);
      else if (GraphBody* b = storedBody(block); b && !block.isEmpty())
        b->frames.push_back(fr);
    }
  undo_->setClean();
  forceAll_ = true;
  emit modelReset();
  emit scopeChanged();
  reanalyze();
  emit trainingChanged();
}

void GraphModel::loadProject(const QString& path) {
  std::vector<ng::Diagnostic> diags;
  ng::ProjectSpec p = ng::load_project(s(path), diags);  // throws ProjectError
  setProject(p);
  keepRecipeDiagnostics(diags);
  emit trainingChanged();  // the Issues panel lists them
}

void GraphModel::saveProject(const QString& path, bool markClean) {
  ng::save_project(project(), s(path));
  if (markClean) undo_->setClean();
}

ng::GraphSpec GraphModel::toSpec() const {
  ng::GraphSpec g = bodySpec(*bodyOf({}));
  g.blocks = json::array();
  QStringList used = usedBlocks();
  for (const auto& [name, stored] : blocks_) {
    if (!used.contains(name)) continue;
    ng::GraphSpec b = bodySpec(*bodyOf(name));
    ng::BlockDef d{s(name), std::move(b.nodes), std::move(b.edges)};
    g.blocks.push_back(d.to_json());
  }
  for (const json& bad : badBlocks_) g.blocks.push_back(bad);
  return g;
}

void GraphModel::setRecipe(const ng::DatasetSpec& d, const ng::TrainingSpec& t,
                           const QString& text) {
  if (d == project_.dataset && t == project_.training) return;
  undo_->push(new SetRecipeCommand(this, {project_.dataset, project_.training}, {d, t},
                                   text.isEmpty() ? tr("Training settings") : text));
}

void GraphModel::setRecipeData(const ng::DatasetSpec& d, const ng::TrainingSpec& t) {
  project_.dataset = d;
  project_.training = t;
  // The dataset and training problems found when the file was read are those of these values
  // now (the graph's come from analysis).
  ng::ProjectSpec p;
  p.dataset = d;
  p.training = t;
  keepRecipeDiagnostics(ng::validate_project(p));
  emit trainingChanged();
}

void GraphModel::keepRecipeDiagnostics(const std::vector<ng::Diagnostic>& diags) {
  // The graph's problems come back from analysis; these are the dataset and training ones.
  projectDiags_.clear();
  for (const ng::Diagnostic& d : diags)
    if (d.node_id.empty() &&
        (d.field.rfind("dataset", 0) == 0 || d.field.rfind("training", 0) == 0))
      projectDiags_.push_back(d);
}

std::string GraphModel::rebasedPath(const std::string& path, const QString& from,
                                    const QString& to) {
  const QString p = q(path);
  if (p.isEmpty() || !QDir::isRelativePath(p)) return path;
  return s(QDir(to).relativeFilePath(QDir(from).absoluteFilePath(p)));
}

void GraphModel::relocateDatasetPaths(const QString& from, const QString& to) {
  auto rebase = [&](const std::string& path) { return rebasedPath(path, from, to); };
  project_.dataset.path = rebase(project_.dataset.path);
  for (int i = 0; i < undo_->count(); ++i)
    if (auto* c = dynamic_cast<SetRecipeCommand*>(const_cast<QUndoCommand*>(undo_->command(i))))
      c->rewritePaths(rebase);
  emit trainingChanged();
}

ng::ProjectSpec GraphModel::project() const {
  ng::ProjectSpec p = project_;
  p.graph = toSpec();
  // Frames go to the "ui" section: the main graph's, then each used block's ("block": name).
  json frames = json::array();
  auto add = [&](const GraphBody& b, const QString& block) {
    for (const Frame& f : b.frames) {
      json j = {{"title", s(f.title)},
                {"rect", {f.rect.x(), f.rect.y(), f.rect.width(), f.rect.height()}}};
      if (!block.isEmpty()) j["block"] = s(block);
      frames.push_back(j);
    }
  };
  add(*bodyOf({}), {});
  QStringList used = usedBlocks();
  for (const auto& [name, stored] : blocks_)
    if (used.contains(name)) add(*bodyOf(name), name);
  if (!p.ui.is_object()) p.ui = json::object();
  if (frames.empty())
    p.ui.erase("frames");
  else
    p.ui["frames"] = frames;
  return p;
}

// ---- text ----------------------------------------------------------------------------------

QString typeText(const std::optional<ng::TensorType>& t) {
  return t ? q(ng::type_str(*t)) : QStringLiteral("?");
}

QString countText(int64_t n) {
  if (n >= 10'000'000) return QString::number(double(n) / 1e6, 'f', 1) + " M";
  QString digits = QString::number(n), r;
  for (int i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1].isDigit()) r += ',';
    r += digits[i];
  }
  return r;
}

QString bytesText(int64_t b) {
  if (b < 1024) return QString::number(b) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB"};
  double v = double(b);
  int u = -1;
  while (v >= 1024 && u < 3) v /= 1024, ++u;
  return QString::number(v, 'f', v < 10 ? 2 : (v < 100 ? 1 : 0)) + " " + units[u];
}

}  // namespace ng::gui
