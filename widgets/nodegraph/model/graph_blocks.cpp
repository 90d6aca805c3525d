// GraphModel: blocks (making, unpacking, opening), scopes, frames, and how the flattened
// analysis maps onto the scope shown. The rest of the model is in graph_model.cpp.
#include <QSet>
#include <QUndoStack>
#include <algorithm>
#include <unordered_map>

#include "widgets/nodegraph/model/graph_commands.h"
#include "widgets/nodegraph/model/graph_model.h"

namespace ng::gui {

using nlohmann::json;

namespace {

std::string s(const QString& q) {
  return q.toStdString();
}
QString q(const std::string& s) {
  return QString::fromStdString(s);
}

// `wanted`, or wanted2, wanted3... not in `taken`.
QString freeIn(const QString& wanted, const QSet<QString>& taken) {
  if (!taken.contains(wanted)) return wanted;
  QString base = wanted;
  while (!base.isEmpty() && base.back().isDigit()) base.chop(1);
  if (base.isEmpty()) base = "node";
  if (base.back().isDigit()) base += '_';
  for (int k = 2;; ++k)
    if (!taken.contains(base + QString::number(k))) return base + QString::number(k);
}

constexpr double kGap = 220;  // between a block's input/output and its layers, between copies

}  // namespace

QString blockNameOf(const Node& n) {
  if (!isBlockUse(n) || !n.params.is_object()) return {};
  auto it = n.params.find("block");
  return it != n.params.end() && it->is_string() ? q(it->get<std::string>()) : QString();
}

// ---- scopes ----------------------------------------------------------------------------------

const GraphBody* GraphModel::bodyOf(const QString& scope) const {
  if (scope == scope_) return &cur_;
  if (scope.isEmpty()) return &root_;
  for (const auto& [name, b] : blocks_)
    if (name == scope) return &b;
  return nullptr;
}

GraphBody* GraphModel::storedBody(const QString& scope) {
  if (scope.isEmpty()) return &root_;
  for (auto& [name, b] : blocks_)
    if (name == scope) return &b;
  return nullptr;
}

QStringList GraphModel::blockNames() const {
  QStringList r;
  for (const auto& [name, b] : blocks_) r << name;
  return r;
}

const GraphBody* GraphModel::blockBody(const QString& name) const {
  return name.isEmpty() ? nullptr : bodyOf(name);
}

bool GraphModel::isBlockNode(const QString& id) const {
  const Node* n = node(id);
  return n && isBlockUse(*n);
}

QString GraphModel::blockOf(const QString& id) const {
  const Node* n = node(id);
  return n ? blockNameOf(*n) : QString();
}

QString GraphModel::freeBlockName(const QString& wanted) const {
  QSet<QString> taken;
  for (const auto& [name, b] : blocks_) taken.insert(name);
  if (!wanted.isEmpty()) return freeIn(wanted, taken);
  for (int k = 1;; ++k)
    if (!taken.contains(QString("block%1").arg(k))) return QString("block%1").arg(k);
}

QStringList GraphModel::usedBlocks() const {
  QStringList used, todo;
  for (const Node& n : bodyOf({})->nodes)
    if (isBlockUse(n)) todo << blockNameOf(n);
  while (!todo.isEmpty()) {
    QString name = todo.takeFirst();
    if (name.isEmpty() || used.contains(name)) continue;
    const GraphBody* b = blockBody(name);
    if (!b) continue;
    used << name;
    for (const Node& n : b->nodes)
      if (isBlockUse(n)) todo << blockNameOf(n);
  }
  return used;
}

std::optional<QStringList> GraphModel::pathTo(const QString& scope) const {
  if (scope.isEmpty()) return QStringList{};
  // Along the path shown first (an undo inside the block being edited)...
  QString at;
  for (int i = 0; i < path_.size(); ++i) {
    const GraphBody* b = bodyOf(at);
    const Node* use = nullptr;
    if (b)
      for (const Node& n : b->nodes)
        if (n.id == path_[i]) use = &n;
    if (!use) break;
    at = blockNameOf(*use);
    if (at == scope) return path_.mid(0, i + 1);
  }
  // ... else the first use found from the main graph.
  std::vector<std::pair<QString, QStringList>> queue{{QString(), QStringList()}};
  QSet<QString> seen{QString()};
  for (size_t k = 0; k < queue.size(); ++k) {
    auto [sc, path] = queue[k];
    const GraphBody* b = bodyOf(sc);
    if (!b) continue;
    for (const Node& n : b->nodes) {
      if (!isBlockUse(n)) continue;
      QString name = blockNameOf(n);
      if (name == scope) return path + QStringList{n.id};
      if (!seen.contains(name)) {
        seen.insert(name);
        queue.push_back({name, path + QStringList{n.id}});
      }
    }
  }
  return std::nullopt;
}

void GraphModel::switchScope(const QString& scope, const QStringList& path) {
  if (scope != scope_) {
    GraphBody* to = storedBody(scope);
    if (!to) return;
    if (GraphBody* from = storedBody(scope_)) std::swap(*from, cur_);
    std::swap(cur_, *to);
    scope_ = scope;
    indexStale_ = true;
  }
  path_ = path;
  forceAll_ = true;
  mapAnalysisToScope();
  forceAll_ = true;  // and for the analysis after the batch
  emit modelReset();
  emit scopeChanged();
  if (batch_ > 0)
    pending_ = true;
  else
    emit analysisChanged();
}

void GraphModel::ensureScope(const QString& scope) {
  if (scope == scope_) return;
  if (!scope.isEmpty() && !blockBody(scope)) return;
  switchScope(scope, pathTo(scope).value_or(QStringList{}));
}

bool GraphModel::openBlock(const QString& id) {
  const Node* n = node(id);
  if (!n || !isBlockUse(*n)) return false;
  QString name = blockNameOf(*n);
  if (name.isEmpty() || name == scope_ || !blockBody(name) || path_.contains(id)) return false;
  switchScope(name, path_ + QStringList{id});
  return true;
}

void GraphModel::leaveBlock(int levels) {
  leaveToDepth(std::max<int>(0, int(path_.size()) - levels));
}

void GraphModel::leaveToDepth(int depth) {
  if (depth < 0 || depth >= path_.size()) return;
  QString at;
  for (int i = 0; i < depth; ++i) {
    const GraphBody* b = bodyOf(at);
    QString next;
    if (b)
      for (const Node& n : b->nodes)
        if (n.id == path_[i]) next = blockNameOf(n);
    at = next;
  }
  if (!at.isEmpty() && !blockBody(at)) at.clear(), depth = 0;
  switchScope(at, path_.mid(0, depth));
}

GraphModel::Document GraphModel::document() const {
  Document d;
  d.root = *bodyOf({});
  for (const auto& [name, b] : blocks_) d.blocks.push_back({name, *bodyOf(name)});
  return d;
}

void GraphModel::setDocument(const Document& d) {
  root_ = d.root;
  blocks_ = d.blocks;
  GraphBody* mine = storedBody(scope_);
  std::optional<QStringList> path;
  if (mine) {
    cur_ = *mine;
    path = pathTo(scope_);
  }
  if (!mine || !path) {  // the block shown is gone: back to the main graph
    scope_.clear();
    cur_ = root_;
    path = QStringList{};
  }
  path_ = *path;
  indexStale_ = true;
  pending_ = true;
  forceAll_ = true;
  mapAnalysisToScope();
  forceAll_ = true;
  emit modelReset();
  emit scopeChanged();
}

void GraphModel::addBlockDef(int index, const QString& name, const GraphBody& body) {
  if (index < 0 || index > int(blocks_.size())) index = int(blocks_.size());
  blocks_.insert(blocks_.begin() + index, {name, body});
  pending_ = true;
}

GraphBody GraphModel::removeBlockDef(const QString& name, int* index) {
  if (name == scope_) switchScope({}, {});
  for (size_t i = 0; i < blocks_.size(); ++i)
    if (blocks_[i].first == name) {
      GraphBody b = std::move(blocks_[i].second);
      blocks_.erase(blocks_.begin() + qsizetype(i));
      if (index) *index = int(i);
      pending_ = true;
      return b;
    }
  return {};
}

// ---- making and unpacking blocks -------------------------------------------------------------

QString GraphModel::makeBlockError(const QStringList& ids) const {
  if (ids.isEmpty()) return tr("Select the layers to make a block of.");
  QSet<QString> sel;
  for (const QString& id : ids) {
    const Node* n = node(id);
    if (!n) return tr("There is no node '%1'.").arg(id);
    if (isBlockBoundary(*n))
      return tr("A block's %1 cannot go into another block.")
          .arg(n->type == QLatin1String("BlockInput") ? tr("input") : tr("output"));
    sel.insert(id);
  }
  QStringList ins, outs;
  for (const Edge& e : edges_) {
    bool a = sel.contains(e.fromNode), b = sel.contains(e.toNode);
    QString src = e.fromNode + ":" + e.fromPort;
    if (!a && b && !ins.contains(src)) ins << src;
    if (a && !b && !outs.contains(src)) outs << src;
  }
  if (ins.size() > 1)
    return tr("A block has one input, but the selection is fed from %1 places (%2). Select "
              "the layers between one input and one output.")
        .arg(ins.size())
        .arg(ins.join(", "));
  if (outs.size() > 1)
    return tr("A block has one output, but the selection gives results from %1 places (%2). "
              "Select the layers between one input and one output.")
        .arg(outs.size())
        .arg(outs.join(", "));
  // One piece: no path may leave the selection and come back into it (the block would feed
  // itself).
  QSet<QString> seen;
  QStringList todo;
  for (const Edge& e : edges_)
    if (sel.contains(e.fromNode) && !sel.contains(e.toNode)) todo << e.toNode;
  while (!todo.isEmpty()) {
    QString cur = todo.takeLast();
    if (seen.contains(cur)) continue;
    seen.insert(cur);
    for (const Edge& e : edges_) {
      if (e.fromNode != cur) continue;
      if (sel.contains(e.toNode))
        return tr("The selection is not one piece: its result comes back into it through %1, "
                  "so the block would feed itself. Select the layers in between too.")
            .arg(cur);
      todo << e.toNode;
    }
  }
  return {};
}

QString GraphModel::makeBlock(const QStringList& ids, const QString& wanted, QString* why) {
  QString err = makeBlockError(ids);
  if (why) *why = err;
  if (!err.isEmpty()) return {};
  QSet<QString> sel(ids.begin(), ids.end());
  QString name = freeBlockName(wanted);
  Document before = document(), after = before;
  GraphBody& outer = scope_.isEmpty() ? after.root : [&]() -> GraphBody& {
    for (auto& [n, b] : after.blocks)
      if (n == scope_) return b;
    return after.root;
  }();

  double minX = 1e300, minY = 1e300, maxX = -1e300;
  for (const Node& n : outer.nodes)
    if (sel.contains(n.id)) {
      minX = std::min(minX, n.pos.x());
      minY = std::min(minY, n.pos.y());
      maxX = std::max(maxX, n.pos.x());
    }
  QPointF origin(minX, minY);

  // The definition: BlockInput, the selected nodes (moved to start at 0, 0), BlockOutput.
  GraphBody def;
  QString inId = freeIn("in", sel), outId = freeIn("out", sel);
  def.nodes.push_back({inId, "BlockInput", json::object(), QPointF(-kGap, 0)});
  for (const Node& n : outer.nodes)
    if (sel.contains(n.id)) {
      Node c = n;
      c.pos -= origin;
      def.nodes.push_back(c);
    }
  def.nodes.push_back({outId, "BlockOutput", json::object(), QPointF(maxX - minX + kGap, 0)});
  std::optional<PortKey> src, result;
  for (const Edge& e : outer.edges) {
    bool a = sel.contains(e.fromNode), b = sel.contains(e.toNode);
    if (a && b) def.edges.push_back(e);
    if (!a && b) {
      src = e.from();
      def.edges.push_back({newEdgeId(), inId, "output", e.toNode, e.toPort});
    }
    if (a && !b && !result) {
      result = e.from();
      def.edges.push_back({newEdgeId(), e.fromNode, e.fromPort, outId, "input"});
    }
  }
  // Where the block's input and output sit: beside what they are wired to.
  for (const Edge& e : def.edges) {
    auto posOf = [&](const QString& id) {
      for (const Node& n : def.nodes)
        if (n.id == id) return n.pos;
      return QPointF();
    };
    if (e.fromNode == inId) def.nodes.front().pos.setY(posOf(e.toNode).y());
    if (e.toNode == outId) def.nodes.back().pos.setY(posOf(e.fromNode).y());
  }

  // The scope: one Block node where the first selected node was, wired in the selection's place.
  Node use;
  {
    QSet<QString> taken;
    for (const Node& n : outer.nodes)
      if (!sel.contains(n.id)) taken.insert(n.id);
    use.id = freeIn(name, taken);
  }
  use.type = "Block";
  use.params = {{"block", s(name)}, {"repeat", 1}};
  use.pos = origin;
  std::vector<Node> nodes;
  bool placed = false;
  for (const Node& n : outer.nodes) {
    if (!sel.contains(n.id)) {
      nodes.push_back(n);
    } else if (!placed) {
      nodes.push_back(use);
      placed = true;
    }
  }
  std::vector<Edge> edges;
  bool fed = false;
  for (const Edge& e : outer.edges) {
    bool a = sel.contains(e.fromNode), b = sel.contains(e.toNode);
    if (a && b) continue;
    if (!a && b) {
      if (!fed) edges.push_back({e.id, e.fromNode, e.fromPort, use.id, "input"});
      fed = true;
      continue;
    }
    if (a && !b) {
      edges.push_back({e.id, use.id, "output", e.toNode, e.toPort});
      continue;
    }
    edges.push_back(e);
  }
  outer.nodes = std::move(nodes);
  outer.edges = std::move(edges);
  after.blocks.push_back({name, std::move(def)});
  undo_->push(new DocumentCommand(this, tr("Make block %1").arg(name), std::move(before),
                                  std::move(after)));
  return use.id;
}

QStringList GraphModel::unpackBlock(const QString& id) {
  const Node* u = node(id);
  if (!u || !isBlockUse(*u)) return {};
  QString name = blockNameOf(*u);
  const GraphBody* b = blockBody(name);
  if (!b || name == scope_) return {};
  int repeat = 1;
  if (auto it = u->params.find("repeat"); it != u->params.end() && it->is_number_integer())
    repeat = int(std::clamp<int64_t>(it->get<int64_t>(), 1, 1000));
  QString inId, outId;
  int ins = 0, outs = 0;
  for (const Node& n : b->nodes) {
    if (n.type == QLatin1String("BlockInput")) inId = n.id, ++ins;
    if (n.type == QLatin1String("BlockOutput")) outId = n.id, ++outs;
  }
  std::optional<PortKey> result;
  int into = 0;
  for (const Edge& e : b->edges)
    if (e.toNode == outId) result = e.from(), ++into;
  if (ins != 1 || outs != 1 || into != 1) return {};

  Document before = document(), after = before;
  GraphBody& outer = scope_.isEmpty() ? after.root : [&]() -> GraphBody& {
    for (auto& [n, body] : after.blocks)
      if (n == scope_) return body;
    return after.root;
  }();
  double minX = 1e300, minY = 1e300, maxX = -1e300;
  for (const Node& n : b->nodes)
    if (!isBlockBoundary(n)) {
      minX = std::min(minX, n.pos.x());
      minY = std::min(minY, n.pos.y());
      maxX = std::max(maxX, n.pos.x());
    }
  if (minX > maxX) minX = minY = maxX = 0;
  const double step = maxX - minX + kGap;

  std::optional<PortKey> cur;
  for (const Edge& e : outer.edges)
    if (e.toNode == id) cur = e.from();
  QSet<QString> taken;
  for (const Node& n : outer.nodes)
    if (n.id != id) taken.insert(n.id);
  std::vector<Node> copies;
  std::vector<Edge> copyEdges;
  QStringList newIds;
  for (int k = 0; k < repeat; ++k) {
    QHash<QString, QString> idOf;
    for (const Node& n : b->nodes) {
      if (isBlockBoundary(n)) continue;
      Node c = n;
      c.id = freeIn(n.id, taken);
      taken.insert(c.id);
      idOf.insert(n.id, c.id);
      c.pos = u->pos + (n.pos - QPointF(minX, minY)) + QPointF(k * step, 0);
      copies.push_back(c);
      newIds << c.id;
    }
    for (const Edge& e : b->edges) {
      if (e.toNode == outId) continue;
      if (e.fromNode == inId) {
        if (cur) copyEdges.push_back({newEdgeId(), cur->node, cur->port, idOf[e.toNode], e.toPort});
        continue;
      }
      copyEdges.push_back({newEdgeId(), idOf[e.fromNode], e.fromPort, idOf[e.toNode], e.toPort});
    }
    if (result->node == inId) {
      // A pass-through block: the output is its input.
    } else {
      cur = PortKey{idOf[result->node], result->port, PortSide::Output};
    }
  }

  std::vector<Node> nodes;
  for (const Node& n : outer.nodes) {
    if (n.id != id) {
      nodes.push_back(n);
      continue;
    }
    for (const Node& c : copies) nodes.push_back(c);
  }
  std::vector<Edge> edges;
  bool emitted = false;
  for (const Edge& e : outer.edges) {
    if (e.toNode == id) {
      if (!emitted) edges.insert(edges.end(), copyEdges.begin(), copyEdges.end());
      emitted = true;
      continue;
    }
    if (e.fromNode == id) {
      if (cur) edges.push_back({e.id, cur->node, cur->port, e.toNode, e.toPort});
      continue;
    }
    edges.push_back(e);
  }
  if (!emitted) edges.insert(edges.end(), copyEdges.begin(), copyEdges.end());
  outer.nodes = std::move(nodes);
  outer.edges = std::move(edges);
  undo_->push(new DocumentCommand(this, tr("Unpack block %1").arg(id), std::move(before),
                                  std::move(after)));
  return newIds;
}

// ---- the analysis seen from the scope shown ----------------------------------------------------

QString GraphModel::localNode(const std::string& flatId) const {
  if (!scope_.isEmpty() && path_.isEmpty()) return {};  // a block no node uses
  std::string rest = flatId;
  for (const QString& u : path_) {
    std::string tail;
    if (!ng::split_block_id(rest, s(u), nullptr, &tail)) return {};
    rest = std::move(tail);
  }
  QString r = q(rest);
  if (nodeIndex(r) >= 0) return r;
  size_t slash = rest.find('/');
  if (slash == std::string::npos) return {};
  size_t dot = rest.rfind('.', slash);
  if (dot == std::string::npos || dot + 1 == slash) return {};
  for (size_t i = dot + 1; i < slash; ++i)
    if (rest[i] < '0' || rest[i] > '9') return {};
  QString use = q(rest.substr(0, dot));
  const Node* n = node(use);
  return n && isBlockUse(*n) ? use : QString();
}

std::optional<ng::TensorType> GraphModel::flatType(const ng::PortRef& r) const {
  if (r.node.empty()) return std::nullopt;
  int i = analysis_.index_of(r.node);
  if (i < 0) return std::nullopt;
  const ng::NodeInfo& n = analysis_.nodes[size_t(i)];
  int p = r.port.empty() || !n.def ? 0 : n.def->output_index(r.port);
  if (p < 0 || p >= int(n.outputs.size())) return std::nullopt;
  return n.outputs[size_t(p)];
}

// NOTE [Analysis per scope]
// The analysis covers the whole project, flattened. A node of the scope shown reads: its own
// first copy (prefix "<use>.1/" per level of scopePath()); a Block node, a made-up NodeInfo with
// its last copy's output type and the sums over its copies; a BlockInput, the type that enters
// the block. Diagnostics go to the node that stands for their node id (localNode), from every
// copy.
void GraphModel::mapAnalysisToScope() {
  localIndex_.clear();
  synthInfo_.clear();
  localDiags_.clear();
  if (!scope_.isEmpty() && path_.isEmpty()) return;
  std::string prefix, parent;
  for (int i = 0; i < path_.size(); ++i) {
    parent = prefix;
    prefix += s(path_[i]) + ".1/";
  }
  std::unordered_map<std::string, int> flat;
  flat.reserve(analysis_.nodes.size());
  for (size_t i = 0; i < analysis_.nodes.size(); ++i) flat.emplace(analysis_.nodes[i].id, int(i));
  auto expansion = [&](const std::string& id) -> const ng::BlockExpansion* {
    for (const ng::BlockExpansion& x : analysis_.blocks)
      if (x.id == id) return &x;
    return nullptr;
  };

  const ng::LayerDef* blockKind = ng::find_block_kind(ng::kBlockType);
  bool hasBlocks = false;
  for (const Node& n : nodes_) {
    if (isBlockUse(n)) {
      hasBlocks = true;
      ng::NodeInfo info;
      info.id = s(n.id);
      info.type = s(n.type);
      info.def = blockKind;
      std::vector<ng::Diagnostic> tmp;
      info.params = blockKind->check_params(info.id, n.params, tmp);
      info.params_ok = tmp.empty();
      info.inputs.resize(1);
      info.outputs.resize(1);
      if (const ng::BlockExpansion* x = expansion(prefix + info.id); x && !x->outputs.empty())
        info.outputs[0] = flatType(x->outputs.back());
      info.inferred = info.outputs[0].has_value();
      synthInfo_.insert(n.id, std::move(info));
    } else if (isBlockBoundary(n)) {
      ng::NodeInfo info;
      info.id = s(n.id);
      info.type = s(n.type);
      info.def = kindOf(n.type);
      info.inputs.resize(info.def->inputs.size());
      info.outputs.resize(info.def->outputs.size());
      if (!info.outputs.empty() && !path_.isEmpty())
        if (const ng::BlockExpansion* x = expansion(parent + s(path_.back()));
            x && !x->inputs.empty())
          info.outputs[0] = flatType(x->inputs[0]);
      info.inferred = !info.outputs.empty() && info.outputs[0].has_value();
      synthInfo_.insert(n.id, std::move(info));
    } else if (auto it = flat.find(prefix + s(n.id)); it != flat.end()) {
      localIndex_.insert(n.id, it->second);
    }
  }
  // A Block node's counts: the sums over its copies.
  if (hasBlocks)
    for (const ng::NodeInfo& fn : analysis_.nodes) {
      if (fn.id.find('/', prefix.size()) == std::string::npos) continue;
      QString local = localNode(fn.id);
      auto it = synthInfo_.find(local);
      if (it == synthInfo_.end() || it->type != ng::kBlockType) continue;
      it->param_count += fn.inferred ? fn.param_count : 0;
      it->output_bytes_per_example += fn.inferred ? fn.output_bytes_per_example : 0;
      it->weights.insert(it->weights.end(), fn.weights.begin(), fn.weights.end());
      if (!fn.inferred) it->inferred = false;
    }
  for (const ng::Diagnostic& d : analysis_.diagnostics) {
    if (d.node_id.empty()) continue;
    QString local = localNode(d.node_id);
    if (!local.isEmpty()) localDiags_[local].push_back(d);
  }

  // What changed since the last analysis, node by node (views redraw only those).
  QHash<QString, std::string> fps;
  fps.reserve(qsizetype(nodes_.size()));
  for (const Node& n : nodes_) {
    std::string fp;
    if (const ng::NodeInfo* info = nodeInfo(n.id)) {
      fp += info->inferred ? 'i' : '-';
      for (const auto& t : info->outputs) fp += (t ? ng::type_str(*t) : std::string("?")) + ';';
      fp += std::to_string(info->param_count) + ';' +
            std::to_string(info->output_bytes_per_example) + ';';
      fp += info->params.dump();
    }
    for (const ng::Diagnostic& d : localDiags_.value(n.id))
      fp += '\n' + d.field + ':' + d.message + (d.severity == ng::Severity::Error ? "E" : "W");
    fps.insert(n.id, std::move(fp));
  }
  changed_.clear();
  changedAll_ = forceAll_ || fingerprints_.isEmpty();
  if (!changedAll_)
    for (const Node& n : nodes_)
      if (isBlockBoundary(n) || fingerprints_.value(n.id) != fps.value(n.id) ||
          !fingerprints_.contains(n.id))
        changed_.insert(n.id);
  fingerprints_ = std::move(fps);
  forceAll_ = false;
}

// ---- frames ------------------------------------------------------------------------------------

const Frame* GraphModel::frame(int id) const {
  for (const Frame& f : frames_)
    if (f.id == id) return &f;
  return nullptr;
}

int GraphModel::addFrame(const QRectF& rect, const QString& title) {
  auto* cmd = new AddFrameCommand(this, Frame{0, title, rect.normalized()});
  int id = cmd->frameId();
  undo_->push(cmd);
  return id;
}

void GraphModel::setFrameTitle(int id, const QString& title) {
  const Frame* f = frame(id);
  if (!f || f->title == title) return;
  undo_->push(new SetFrameCommand(this, id, title, f->rect));
}

void GraphModel::setFrameRect(int id, const QRectF& rect) {
  const Frame* f = frame(id);
  if (!f || f->rect == rect.normalized()) return;
  undo_->push(new SetFrameCommand(this, id, f->title, rect.normalized()));
}

QStringList GraphModel::nodesInFrame(int id,
                                     const std::function<QSizeF(const QString&)>& size) const {
  QStringList r;
  const Frame* f = frame(id);
  if (!f) return r;
  for (const Node& n : nodes_)
    if (f->rect.contains(QRectF(n.pos, size ? size(n.id) : QSizeF(156, 100)))) r << n.id;
  return r;
}

void GraphModel::insertFrame(int index, const Frame& f) {
  if (index < 0 || index > int(frames_.size())) index = int(frames_.size());
  frames_.insert(frames_.begin() + index, f);
  emit frameAdded(f.id);
}

Frame GraphModel::takeFrame(int frameId, int* index) {
  int i = 0;
  while (i < int(frames_.size()) && frames_[size_t(i)].id != frameId) ++i;
  Q_ASSERT(i < int(frames_.size()));
  emit frameAboutToBeRemoved(frameId);
  Frame f = frames_[size_t(i)];
  frames_.erase(frames_.begin() + i);
  if (index) *index = i;
  emit frameRemoved(frameId);
  return f;
}

void GraphModel::setFrameData(int frameId, const QString& title, const QRectF& rect) {
  for (Frame& f : frames_)
    if (f.id == frameId) {
      f.title = title;
      f.rect = rect;
      emit frameChanged(frameId);
    }
}

}  // namespace ng::gui
