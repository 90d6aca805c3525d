#include "widgets/nodegraph/view/node_scene.h"

#include <QGraphicsSceneMouseEvent>
#include <QLineF>
#include <cmath>

#include "widgets/nodegraph/view/node_style.h"

namespace ng::gui {

QString shortShape(const std::optional<ng::TensorType>& t) {
  if (!t) return {};
  QStringList dims;
  for (size_t i = 1; i < t->shape.size(); ++i) dims << QString::number(t->shape[i]);
  QString r = t->shape.empty() ? QObject::tr("scalar")
              : dims.isEmpty() ? QStringLiteral("N")
                               : dims.join(QString::fromUtf8("\u00d7"));
  if (t->dtype != ng::DType::Float32) r += ' ' + QString::fromUtf8(ng::dtype_name(t->dtype));
  return r;
}

NodeGraphScene::NodeGraphScene(GraphModel* model, QObject* parent)
    : QGraphicsScene(parent), model_(model) {
  setSceneRect(-20000, -20000, 40000, 40000);
  // A BSP index: painting a large graph (hundreds of nodes and wires) then visits only the items
  // in view; moves update it item by item.
  setItemIndexMethod(QGraphicsScene::BspTreeIndex);
  connect(model_, &GraphModel::modelReset, this, &NodeGraphScene::rebuild);
  connect(model_, &GraphModel::nodeAdded, this, &NodeGraphScene::addNodeItem);
  connect(model_, &GraphModel::nodeRemoved, this, [this](const QString& id) {
    if (dragFrom_ && dragFrom_->node()->id() == id) endWireDrag();
    delete nodes_.take(id);
  });
  connect(model_, &GraphModel::nodeMoved, this, [this](const QString& id, QPointF p) {
    if (NodeItem* n = nodes_.value(id); n && n->pos() != p) n->setPos(p);
  });
  connect(model_, &GraphModel::nodeRenamed, this, [this](const QString& a, const QString& b) {
    NodeItem* n = nodes_.take(a);
    if (!n) return;
    nodes_.insert(b, n);
    n->setId(b);
  });
  connect(model_, &GraphModel::nodeParamsChanged, this, [this](const QString& id) {
    if (NodeItem* n = nodes_.value(id)) n->refresh();
  });
  connect(model_, &GraphModel::edgeAdded, this, [this](int id) {
    addWireItem(id);
    if (const Edge* e = model_->edge(id))  // their ports now show a wire
      for (const QString& n : {e->fromNode, e->toNode})
        if (NodeItem* item = nodes_.value(n)) item->refresh();
  });
  connect(model_, &GraphModel::edgeAboutToBeRemoved, this, [this](int id) {
    if (const Edge* e = model_->edge(id)) removedEnds_ = {e->fromNode, e->toNode};
  });
  connect(model_, &GraphModel::edgeRemoved, this, [this](int id) {
    if (dragEdge_ == id) endWireDrag();
    delete wires_.take(id);
    for (const QString& n : removedEnds_)
      if (NodeItem* item = nodes_.value(n)) item->refresh();
    removedEnds_.clear();
  });
  connect(model_, &GraphModel::analysisChanged, this, &NodeGraphScene::refreshAll);
  connect(model_, &GraphModel::frameAdded, this, &NodeGraphScene::addFrameItem);
  connect(model_, &GraphModel::frameRemoved, this, [this](int id) { delete frames_.take(id); });
  connect(model_, &GraphModel::frameChanged, this, [this](int id) {
    if (FrameItem* f = frames_.value(id)) f->refresh();
  });
  rebuild();
}

void NodeGraphScene::rebuild() {
  endWireDrag();
  // Forget the items before deleting them: deleting a selected item emits selectionChanged,
  // whose listeners read the selection through these tables.
  nodes_.clear();
  wires_.clear();
  frames_.clear();
  clear();  // deletes every item
  for (const Frame& f : model_->frames()) addFrameItem(f.id);
  for (const Node& n : model_->nodes()) addNodeItem(n.id);
  for (const Edge& e : model_->edges()) addWireItem(e.id);
}

void NodeGraphScene::restyle() {
  for (QGraphicsItem* it : items()) it->update();
  update();
}

void NodeGraphScene::addFrameItem(int frameId) {
  if (frames_.contains(frameId) || !model_->frame(frameId)) return;
  auto* f = new FrameItem(this, frameId);
  frames_.insert(frameId, f);
  addItem(f);
}

void NodeGraphScene::addNodeItem(const QString& id) {
  const Node* n = model_->node(id);
  if (!n || nodes_.contains(id)) return;
  auto* item = new NodeItem(this, id);
  nodes_.insert(id, item);
  addItem(item);
  item->setPos(n->pos);
}

void NodeGraphScene::addWireItem(int edgeId) {
  if (wires_.contains(edgeId) || !model_->edge(edgeId)) return;
  auto* w = new WireItem(edgeId);
  wires_.insert(edgeId, w);
  addItem(w);
  updateWire(w);
}

QPointF NodeGraphScene::portPoint(const QString& node, const QString& port, PortSide side) const {
  NodeItem* n = nodes_.value(node);
  if (!n) return {};
  if (PortItem* p = n->port(side, port)) return p->scenePos();
  // An unknown port (an unknown type): the middle of the node's side.
  QSizeF s = n->size();
  return n->pos() + QPointF(side == PortSide::Input ? 0 : s.width(), s.height() / 2);
}

void NodeGraphScene::updateWire(WireItem* w) {
  const Edge* e = model_->edge(w->edgeId());
  if (!e) return;
  w->setEnds(portPoint(e->fromNode, e->fromPort, PortSide::Output),
             portPoint(e->toNode, e->toPort, PortSide::Input));
  auto t = model_->outputType(e->fromNode, e->fromPort);
  w->setLabel(shortShape(t));
  QString tip = QString("%1:%2 \u2192 %3:%4").arg(e->fromNode, e->fromPort, e->toNode, e->toPort);
  if (t) tip += "\n" + typeText(t);
  bool error = false;
  std::string field = "inputs." + e->toPort.toStdString();
  for (const ng::Diagnostic& d : model_->diagnostics(e->toNode))
    if (d.severity == ng::Severity::Error && d.field == field) {
      error = true;
      tip += "\n" + QString::fromStdString(d.message);
    }
  w->setError(error);
  w->setToolTip(tip);
}

void NodeGraphScene::refreshAll() {
  if (model_->analysisChangedAll()) {
    for (NodeItem* n : nodes_) n->refresh();
    for (WireItem* w : wires_) updateWire(w);
    return;
  }
  // Only what the analysis changed: those nodes and the wires at them.
  for (const QString& id : model_->analysisChangedNodes()) {
    if (NodeItem* n = nodes_.value(id)) n->refresh();
    for (const Edge& e : model_->edgesOf(id))
      if (WireItem* w = wires_.value(e.id)) updateWire(w);
  }
}

void NodeGraphScene::nodeItemMoved(NodeItem* item) {
  const QString& id = item->id();
  for (WireItem* w : wires_) {
    const Edge* e = model_->edge(w->edgeId());
    if (e && (e->fromNode == id || e->toNode == id)) updateWire(w);
  }
}

QStringList NodeGraphScene::selectedNodeIds() const {
  QStringList r;
  for (const Node& n : model_->nodes())
    if (NodeItem* i = nodes_.value(n.id); i && i->isSelected()) r << n.id;
  return r;
}

QList<int> NodeGraphScene::selectedEdgeIds() const {
  QList<int> r;
  for (const Edge& e : model_->edges())
    if (WireItem* w = wires_.value(e.id); w && w->isSelected()) r << e.id;
  return r;
}

QList<int> NodeGraphScene::selectedFrameIds() const {
  QList<int> r;
  for (const Frame& f : model_->frames())
    if (FrameItem* i = frames_.value(f.id); i && i->isSelected()) r << f.id;
  return r;
}

void NodeGraphScene::selectNodes(const QStringList& ids) {
  clearSelection();
  for (const QString& id : ids)
    if (NodeItem* n = nodes_.value(id)) n->setSelected(true);
}

void NodeGraphScene::deleteSelection() {
  model_->removeItems(selectedNodeIds(), selectedEdgeIds(), selectedFrameIds());
}

QSizeF NodeGraphScene::nodeSize(const QString& id) const {
  NodeItem* n = nodes_.value(id);
  return n ? n->size() : QSizeF(style::kNodeWidth, 100);
}

QRectF NodeGraphScene::nodesBoundingRect() const {
  QRectF r;
  for (NodeItem* n : nodes_) r = r.united(n->sceneBoundingRect());
  for (WireItem* w : wires_) r = r.united(w->sceneBoundingRect());
  for (FrameItem* f : frames_) r = r.united(f->sceneBoundingRect());
  return r;
}

QPointF NodeGraphScene::freeSpot(QPointF p, QPointF step) const {
  auto taken = [&](QPointF at) {
    QRectF r(at, QSizeF(style::kNodeWidth, 100));
    for (NodeItem* n : nodes_)
      if (QRectF(n->pos(), n->size()).adjusted(-12, -12, 12, 12).intersects(r)) return true;
    return false;
  };
  for (int k = 0; k < 200 && taken(p); ++k) p += step;
  return p;
}

bool NodeGraphScene::crowded() const {
  QList<QRectF> rects;
  for (NodeItem* n : nodes_) rects << QRectF(n->pos(), n->size());
  for (int i = 0; i < rects.size(); ++i)
    for (int j = i + 1; j < rects.size(); ++j)
      if (rects[i].adjusted(-20, -10, 20, 10).intersects(rects[j])) return true;
  return false;
}

PortItem* NodeGraphScene::portNear(QPointF p, double radius,
                                   const std::function<bool(PortItem*)>& accept) const {
  PortItem* best = nullptr;
  double bestD = radius;
  for (NodeItem* n : nodes_)
    for (PortItem* port : n->ports()) {
      double d = QLineF(port->scenePos(), p).length();
      if (d <= bestD && (!accept || accept(port))) {
        bestD = d;
        best = port;
      }
    }
  return best;
}

// ---- drawing wires and moving nodes --------------------------------------------------------

void NodeGraphScene::mousePressEvent(QGraphicsSceneMouseEvent* e) {
  if (e->button() == Qt::LeftButton && !pending_) {
    PortItem* port = nullptr;
    for (QGraphicsItem* it : items(e->scenePos()))
      if (it->type() == PortItem::Type) {
        port = static_cast<PortItem*>(it);
        break;
      }
    if (port) {
      dragFrom_ = port;
      dragEdge_ = 0;
      // Picking up the wire of a connected single input moves (or, dropped on empty canvas,
      // removes) that wire.
      if (port->side() == PortSide::Input && !port->variadic()) {
        std::vector<Edge> there = model_->edgesAt(port->key());
        if (!there.empty())
          if (NodeItem* src = nodes_.value(there[0].fromNode))
            if (PortItem* out = src->port(PortSide::Output, there[0].fromPort)) {
              dragFrom_ = out;
              dragEdge_ = there[0].id;
              if (WireItem* w = wires_.value(dragEdge_)) w->setVisible(false);
            }
      }
      pending_ = new WireItem(0);
      pending_->setPending(true);
      addItem(pending_);
      for (NodeItem* n : nodes_)
        for (PortItem* p : n->ports())
          if (model_->connectionError(dragFrom_->key(), p->key(), dragEdge_).isEmpty())
            p->setMark(PortItem::Mark::Candidate);
      mouseMoveEvent(e);
      e->accept();
      return;
    }
  }
  QGraphicsScene::mousePressEvent(e);
}

void NodeGraphScene::mouseMoveEvent(QGraphicsSceneMouseEvent* e) {
  if (!pending_) {
    QGraphicsScene::mouseMoveEvent(e);
    return;
  }
  QPointF at = e->scenePos();
  PortItem* snap = portNear(at, 28, [&](PortItem* p) {
    return model_->connectionError(dragFrom_->key(), p->key(), dragEdge_).isEmpty();
  });
  if (snap != snapped_) {
    if (snapped_) snapped_->setMark(PortItem::Mark::Candidate);
    snapped_ = snap;
    if (snapped_) snapped_->setMark(PortItem::Mark::Snapped);
  }
  // A port right under the cursor that cannot take the wire says why.
  PortItem* under = snap ? nullptr : portNear(at, 10);
  if (under == dragFrom_) under = nullptr;
  if (under != refused_) {
    if (refused_) refused_->setMark(PortItem::Mark::None);
    refused_ = under;
    refusedWhy_.clear();
    if (refused_) {
      refused_->setMark(PortItem::Mark::Refused);
      refusedWhy_ = model_->connectionError(dragFrom_->key(), refused_->key(), dragEdge_);
      emit statusMessage(refusedWhy_);
    }
  }
  QPointF end = snapped_ ? snapped_->scenePos() : at;
  QPointF start = dragFrom_->scenePos();
  if (dragFrom_->side() == PortSide::Input)
    pending_->setEnds(end, start);
  else
    pending_->setEnds(start, end);
  e->accept();
}

void NodeGraphScene::mouseReleaseEvent(QGraphicsSceneMouseEvent* e) {
  if (pending_) {
    if (e->button() != Qt::LeftButton) return;
    PortItem* target = snapped_;
    PortKey from = dragFrom_->key();
    int moving = dragEdge_;
    QString refused = refusedWhy_;
    endWireDrag();
    QString why;
    if (target) {
      why =
          moving ? model_->reconnect(moving, target->key()) : model_->connect(from, target->key());
      if (why.isEmpty())
        emit statusMessage(tr("Connected %1 to %2.").arg(from.node, target->key().node));
    } else if (!refused.isEmpty()) {
      why = refused;
    } else if (moving) {
      model_->removeEdges({moving});
      emit statusMessage(tr("Wire removed."));
    }
    if (!why.isEmpty()) emit statusMessage(tr("Not connected: %1").arg(why));
    e->accept();
    return;
  }
  QGraphicsScene::mouseReleaseEvent(e);
  commitMoves();
}

void NodeGraphScene::commitMoves() {
  // Nodes and frames the user dragged (or resized): one undoable move, at whole-pixel positions.
  std::map<QString, QPointF> moved;
  for (NodeItem* n : nodes_) {
    const Node* m = model_->node(n->id());
    if (m && n->pos() != m->pos)
      moved[n->id()] = QPointF(std::round(n->pos().x()), std::round(n->pos().y()));
  }
  std::map<int, QRectF> frames;
  for (FrameItem* f : frames_) {
    const Frame* m = model_->frame(f->frameId());
    QRectF r(QPointF(std::round(f->pos().x()), std::round(f->pos().y())), f->size());
    if (m && f->sceneRect() != m->rect) frames[f->frameId()] = r;
  }
  if (!moved.empty() || !frames.empty()) {
    const Frame* first = frames.empty() ? nullptr : model_->frame(frames.begin()->first);
    bool resized = first && frames.size() == 1 && moved.empty() &&
                   frames.begin()->second.size() != first->rect.size();
    QString text = resized             ? tr("Resize frame %1").arg(first->title)
                   : first             ? tr("Move frame %1").arg(first->title)
                   : moved.size() == 1 ? tr("Move %1").arg(moved.begin()->first)
                                       : tr("Move %n node(s)", nullptr, int(moved.size()));
    model_->moveItems(moved, frames, text);
    for (const auto& [id, p] : moved)
      if (NodeItem* n = nodes_.value(id)) n->setPos(p);
    for (const auto& [id, r] : frames)
      if (FrameItem* f = frames_.value(id)) f->refresh();
  }
}

void NodeGraphScene::endWireDrag() {
  if (!pending_) return;
  for (NodeItem* n : nodes_)
    for (PortItem* p : n->ports()) p->setMark(PortItem::Mark::None);
  if (WireItem* w = wires_.value(dragEdge_)) w->setVisible(true);
  delete pending_;
  pending_ = nullptr;
  dragFrom_ = snapped_ = refused_ = nullptr;
  dragEdge_ = 0;
  refusedWhy_.clear();
}

}  // namespace ng::gui
