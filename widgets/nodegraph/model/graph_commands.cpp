#include "widgets/nodegraph/model/graph_commands.h"

namespace ng::gui {

void GraphCommand::redo() {
  model_->beginBatch();
  model_->ensureScope(scope_);
  apply(true);
  QUndoCommand::redo();  // children, in order
  model_->endBatch();
}

void GraphCommand::undo() {
  model_->beginBatch();
  model_->ensureScope(scope_);
  QUndoCommand::undo();  // children, in reverse order
  apply(false);
  model_->endBatch();
}

AddNodeCommand::AddNodeCommand(GraphModel* m, Node n, QUndoCommand* parent)
    : GraphCommand(m, QObject::tr("Add %1").arg(n.id), parent), node_(std::move(n)) {}

void AddNodeCommand::apply(bool redo) {
  if (redo) {
    insertNode(index_, node_);
  } else {
    node_ = takeNode(node_.id, &index_);
  }
}

RemoveNodeCommand::RemoveNodeCommand(GraphModel* m, const QString& id, QUndoCommand* parent)
    : GraphCommand(m, QObject::tr("Remove %1").arg(id), parent), id_(id) {}

void RemoveNodeCommand::apply(bool redo) {
  if (redo)
    node_ = takeNode(id_, &index_);
  else
    insertNode(index_, node_);
}

AddEdgeCommand::AddEdgeCommand(GraphModel* m, Edge e, QUndoCommand* parent)
    : GraphCommand(m, QObject::tr("Connect %1 to %2").arg(e.fromNode, e.toNode), parent),
      edge_(std::move(e)) {
  edge_.id = newEdgeId();
}

void AddEdgeCommand::apply(bool redo) {
  if (redo)
    insertEdge(index_, edge_);
  else
    edge_ = takeEdge(edge_.id, &index_);
}

RemoveEdgeCommand::RemoveEdgeCommand(GraphModel* m, int edgeId, QUndoCommand* parent)
    : GraphCommand(m, QObject::tr("Disconnect"), parent), edgeId_(edgeId) {
  if (const Edge* e = m->edge(edgeId))
    setText(QObject::tr("Disconnect %1 from %2").arg(e->fromNode, e->toNode));
}

void RemoveEdgeCommand::apply(bool redo) {
  if (redo)
    edge_ = takeEdge(edgeId_, &index_);
  else
    insertEdge(index_, edge_);
}

RemoveNodesCommand::RemoveNodesCommand(GraphModel* m, const QStringList& ids,
                                       const QList<int>& edgeIds, const QList<int>& frameIds)
    : GraphCommand(m, ids.size() == 1 && frameIds.isEmpty()
                          ? QObject::tr("Remove %1").arg(ids.first())
                          : QObject::tr("Remove %n item(s)", nullptr,
                                        int(ids.size() + edgeIds.size() + frameIds.size()))) {
  // Edges first (later ones first, so each undo puts an edge back at its old index), then the
  // nodes.
  QList<int> edges;
  for (const Edge& e : m->edges()) {
    bool touches = ids.contains(e.fromNode) || ids.contains(e.toNode);
    if (touches || edgeIds.contains(e.id)) edges.prepend(e.id);
  }
  for (int e : edges) new RemoveEdgeCommand(m, e, this);
  for (const QString& id : ids)
    if (m->node(id)) new RemoveNodeCommand(m, id, this);
  for (int f : frameIds)
    if (m->frame(f)) new RemoveFrameCommand(m, f, this);
}

MoveNodesCommand::MoveNodesCommand(GraphModel* m, std::map<QString, QPointF> from,
                                   std::map<QString, QPointF> to, const QString& text,
                                   QUndoCommand* parent)
    : GraphCommand(m, text.isEmpty() ? QObject::tr("Move") : text, parent),
      from_(std::move(from)),
      to_(std::move(to)) {}

void MoveNodesCommand::apply(bool redo) {
  for (const auto& [id, p] : redo ? to_ : from_) setNodePos(id, p);
}

SetParamCommand::SetParamCommand(GraphModel* m, const QString& node, const QString& name,
                                 nlohmann::json value)
    : GraphCommand(m, QObject::tr("Set %1.%2").arg(node, name)),
      node_(node),
      name_(name),
      new_(std::move(value)) {
  if (const Node* n = m->node(node)) {
    auto it = n->params.find(name.toStdString());
    if (it != n->params.end()) old_ = *it;
  }
}

bool SetParamCommand::mergeWith(const QUndoCommand* other) {
  auto* o = dynamic_cast<const SetParamCommand*>(other);
  if (!o || o->node_ != node_ || o->name_ != name_) return false;
  new_ = o->new_;
  setObsolete(new_ == old_);
  return true;
}

void SetParamCommand::apply(bool redo) {
  setNodeParam(node_, name_, redo ? new_ : old_);
}

RenameNodeCommand::RenameNodeCommand(GraphModel* m, const QString& id, const QString& newId)
    : GraphCommand(m, QObject::tr("Rename %1 to %2").arg(id, newId)), old_(id), new_(newId) {}

void RenameNodeCommand::apply(bool redo) {
  if (redo)
    setNodeId(old_, new_);
  else
    setNodeId(new_, old_);
}

DocumentCommand::DocumentCommand(GraphModel* m, const QString& text, GraphModel::Document before,
                                 GraphModel::Document after)
    : GraphCommand(m, text), before_(std::move(before)), after_(std::move(after)) {}

void DocumentCommand::apply(bool redo) {
  model_->setDocument(redo ? after_ : before_);
}

SetRecipeCommand::SetRecipeCommand(GraphModel* m, Recipe before, Recipe after, const QString& text)
    : QUndoCommand(text), model_(m), before_(std::move(before)), after_(std::move(after)) {}

AddBlockCommand::AddBlockCommand(GraphModel* m, const QString& name, GraphBody body,
                                 QUndoCommand* parent)
    : GraphCommand(m, QObject::tr("Add block %1").arg(name), parent),
      name_(name),
      body_(std::move(body)) {}

void AddBlockCommand::apply(bool redo) {
  if (redo)
    model_->addBlockDef(index_, name_, body_);
  else
    body_ = model_->removeBlockDef(name_, &index_);
}

AddFrameCommand::AddFrameCommand(GraphModel* m, Frame f, QUndoCommand* parent)
    : GraphCommand(m, QObject::tr("Add frame %1").arg(f.title), parent), frame_(std::move(f)) {
  frame_.id = newFrameId();
}

void AddFrameCommand::apply(bool redo) {
  if (redo)
    insertFrame(index_, frame_);
  else
    frame_ = takeFrame(frame_.id, &index_);
}

RemoveFrameCommand::RemoveFrameCommand(GraphModel* m, int frameId, QUndoCommand* parent)
    : GraphCommand(m, QObject::tr("Remove frame"), parent), id_(frameId) {}

void RemoveFrameCommand::apply(bool redo) {
  if (redo)
    frame_ = takeFrame(id_, &index_);
  else
    insertFrame(index_, frame_);
}

SetFrameCommand::SetFrameCommand(GraphModel* m, int frameId, const QString& title,
                                 const QRectF& rect, QUndoCommand* parent)
    : GraphCommand(m, QObject::tr("Change frame %1").arg(title), parent),
      frame_(frameId),
      newTitle_(title),
      newRect_(rect),
      parent_(parent != nullptr) {
  if (const Frame* f = m->frame(frameId)) {
    oldTitle_ = f->title;
    oldRect_ = f->rect;
    if (f->title != title) setText(QObject::tr("Rename frame %1 to %2").arg(f->title, title));
  }
}

bool SetFrameCommand::mergeWith(const QUndoCommand* other) {
  auto* o = dynamic_cast<const SetFrameCommand*>(other);
  if (!o || o->frame_ != frame_ || o->newRect_ != newRect_ || newRect_ != oldRect_) return false;
  newTitle_ = o->newTitle_;
  setObsolete(newTitle_ == oldTitle_);
  return true;
}

void SetFrameCommand::apply(bool redo) {
  setFrameData(frame_, redo ? newTitle_ : oldTitle_, redo ? newRect_ : oldRect_);
}

}  // namespace ng::gui
