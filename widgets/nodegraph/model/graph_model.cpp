#include "widgets/nodegraph/model/graph_model.h"

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

int GraphModel::nodeIndex(const QString& id) const {
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (nodes_[i].id == id) return int(i);
  return -1;
}

const Node* GraphModel::node(const QString& id) const {
  int i = nodeIndex(id);
  return i < 0 ? nullptr : &nodes_[size_t(i)];
}

const Edge* GraphModel::edge(int edgeId) const {
  for (const Edge& e : edges_)
    if (e.id == edgeId) return &e;
  return nullptr;
}

QStringList GraphModel::nodeIds() const {
  QStringList r;
  for (const Node& n : nodes_) r << n.id;
  return r;
}

const ng::LayerDef* GraphModel::layerDef(const QString& id) const {
  const Node* n = node(id);
  return n ? ng::LayerRegistry::instance().find(s(n->type)) : nullptr;
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
  std::vector<Edge> r;
  for (const Edge& e : edges_)
    if ((p.side == PortSide::Output ? e.from() : e.to()) == p) r.push_back(e);
  return r;
}

// ---- analysis ------------------------------------------------------------------------------

const ng::NodeInfo* GraphModel::nodeInfo(const QString& id) const {
  return analysis_.find(s(id));
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
  std::vector<ng::Diagnostic> r;
  std::string sid = s(id);
  for (const ng::Diagnostic& d : analysis_.diagnostics)
    if (d.node_id == sid) r.push_back(d);
  return r;
}

bool GraphModel::hasError(const QString& id) const {
  std::string sid = s(id);
  for (const ng::Diagnostic& d : analysis_.diagnostics)
    if (d.node_id == sid && d.severity == ng::Severity::Error) return true;
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

void GraphModel::removeItems(const QStringList& nodeIds, const QList<int>& edgeIds) {
  QStringList nodes;
  for (const QString& id : nodeIds)
    if (node(id) && !nodes.contains(id)) nodes << id;
  QList<int> edges;
  for (int e : edgeIds)
    if (edge(e) && !edges.contains(e)) edges << e;
  if (nodes.isEmpty() && edges.isEmpty()) return;
  auto* cmd = new RemoveNodesCommand(this, nodes, edges);
  if (nodes.isEmpty() && edges.size() == 1)
    cmd->setText(tr("Disconnect %1 from %2").arg(edge(edges[0])->fromNode, edge(edges[0])->toNode));
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
  std::map<QString, QPointF> from, to;
  for (const auto& [id, p] : newPos)
    if (const Node* n = node(id); n && n->pos != p) {
      from[id] = n->pos;
      to[id] = p;
    }
  if (to.empty()) return;
  undo_->push(new MoveNodesCommand(this, from, to, text));
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
  ng::GraphSpec full = toSpec(), part;
  std::set<std::string> keep;
  for (const QString& id : ids) keep.insert(s(id));
  for (const ng::NodeSpec& n : full.nodes)
    if (keep.count(n.id)) part.nodes.push_back(n);
  for (const ng::EdgeSpec& e : full.edges)
    if (keep.count(e.from.node) && keep.count(e.to.node)) part.edges.push_back(e);
  return part.to_json();
}

QStringList GraphModel::paste(const json& fragment, QPointF offset) {
  ng::GraphSpec g = ng::GraphSpec::from_json(fragment);
  if (g.nodes.empty()) return {};
  const ng::LayerRegistry& reg = ng::LayerRegistry::instance();
  QHash<QString, QString> newId;   // fragment id -> model id
  QHash<QString, QString> typeOf;  // fragment id -> type
  QStringList ids;
  auto* cmd = new GraphCommand(this, g.nodes.size() == 1
                                         ? tr("Paste %1").arg(q(g.nodes[0].id))
                                         : tr("Paste %n node(s)", nullptr, int(g.nodes.size())));
  for (const ng::NodeSpec& ns : g.nodes) {
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
    e.fromPort = resolveFor(reg.find(s(typeOf[a])), q(es.from.port), PortSide::Output);
    e.toNode = newId[b];
    e.toPort = resolveFor(reg.find(s(typeOf[b])), q(es.to.port), PortSide::Input);
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
  pending_ = true;
  emit nodeAdded(n.id);
}

Node GraphModel::takeNode(const QString& id, int* index) {
  int i = nodeIndex(id);
  Q_ASSERT(i >= 0);
  emit nodeAboutToBeRemoved(id);
  Node n = nodes_[size_t(i)];
  nodes_.erase(nodes_.begin() + i);
  if (index) *index = i;
  pending_ = true;
  emit nodeRemoved(id);
  return n;
}

void GraphModel::insertEdge(int index, const Edge& e) {
  if (index < 0 || index > int(edges_.size())) index = int(edges_.size());
  edges_.insert(edges_.begin() + index, e);
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

void GraphModel::setGraph(const ng::GraphSpec& g) {
  nodes_.clear();
  edges_.clear();
  for (const ng::NodeSpec& ns : g.nodes) {
    Node n;
    n.id = q(ns.id);
    n.type = q(ns.type);
    n.params = ns.params.is_object() ? ns.params : json::object();
    n.pos = QPointF(ns.position[0], ns.position[1]);
    nodes_.push_back(n);
  }
  for (const ng::EdgeSpec& es : g.edges) {
    Edge e;
    e.id = newEdgeId();
    e.fromNode = q(es.from.node);
    e.fromPort = resolvePort(e.fromNode, q(es.from.port), PortSide::Output);
    e.toNode = q(es.to.node);
    e.toPort = resolvePort(e.toNode, q(es.to.port), PortSide::Input);
    edges_.push_back(e);
  }
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
  project_.graph.nodes.clear();  // held in nodes_ and edges_; "blocks" stay as given
  project_.graph.edges.clear();
  projectDiags_.clear();
  setGraph(p.graph);
  undo_->setClean();
  emit modelReset();
  reanalyze();
}

void GraphModel::loadProject(const QString& path) {
  std::vector<ng::Diagnostic> diags;
  ng::ProjectSpec p = ng::load_project(s(path), diags);  // throws ProjectError
  setProject(p);
  // The graph's problems come back from analysis; keep the dataset and training ones.
  for (const ng::Diagnostic& d : diags)
    if (d.node_id.empty() &&
        (d.field.rfind("dataset", 0) == 0 || d.field.rfind("training", 0) == 0))
      projectDiags_.push_back(d);
}

void GraphModel::saveProject(const QString& path, bool markClean) {
  ng::save_project(project(), s(path));
  if (markClean) undo_->setClean();
}

ng::GraphSpec GraphModel::toSpec() const {
  ng::GraphSpec g;
  g.blocks = project_.graph.blocks;
  for (const Node& n : nodes_)
    g.nodes.push_back({s(n.id), s(n.type), n.params, {n.pos.x(), n.pos.y()}});
  // A port that is the only one on its side is written as the bare node id, as in the
  // examples ("conv1" -> "relu1"); others as "node:port" ("fc3" -> "loss:input").
  auto end = [&](const QString& nodeId, const QString& port, PortSide side) {
    const ng::LayerDef* d = layerDef(nodeId);
    bool single = d && ports(*d, side).size() == 1 && q(ports(*d, side)[0].name) == port;
    return ng::PortRef{s(nodeId), single ? std::string() : s(port)};
  };
  for (const Edge& e : edges_)
    g.edges.push_back(
        {end(e.fromNode, e.fromPort, PortSide::Output), end(e.toNode, e.toPort, PortSide::Input)});
  return g;
}

ng::ProjectSpec GraphModel::project() const {
  ng::ProjectSpec p = project_;
  p.graph = toSpec();
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
