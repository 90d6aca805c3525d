// NodeGraphScene: the canvas contents for a GraphModel. It keeps one NodeItem per node and one
// WireItem per edge in step with the model's signals, lets the user draw wires from port to port
// (snapping to compatible ports, refusing others with the model's reason on statusMessage), and
// turns item drags into one undoable move. It never edits the model except through its editing
// functions (NOTE [Every edit is a command]).
//   GraphModel model;  NodeGraphScene scene(&model);  NodeGraphView view(&scene);
//   scene.nodeItem("conv1")->texts();   // {"conv1", "Conv2d", "→ [N, 6, 28, 28]", "156 params ·
//   ..."}
#pragma once

#include <QGraphicsScene>
#include <QHash>

#include "widgets/nodegraph/model/graph_model.h"
#include "widgets/nodegraph/view/frame_item.h"
#include "widgets/nodegraph/view/node_item.h"
#include "widgets/nodegraph/view/wire_item.h"

namespace ng::gui {

class NodeGraphScene : public QGraphicsScene {
  Q_OBJECT
 public:
  explicit NodeGraphScene(GraphModel* model, QObject* parent = nullptr);
  GraphModel* model() const { return model_; }

  NodeItem* nodeItem(const QString& id) const { return nodes_.value(id); }
  WireItem* wireItem(int edgeId) const { return wires_.value(edgeId); }
  QList<NodeItem*> nodeItems() const { return nodes_.values(); }
  QList<WireItem*> wireItems() const { return wires_.values(); }
  FrameItem* frameItem(int frameId) const { return frames_.value(frameId); }
  QList<FrameItem*> frameItems() const { return frames_.values(); }

  QStringList selectedNodeIds() const;  // in the model's order
  QList<int> selectedEdgeIds() const;
  QList<int> selectedFrameIds() const;
  void selectNodes(const QStringList& ids);  // replaces the selection
  void deleteSelection();
  QSizeF nodeSize(const QString& id) const;
  QRectF nodesBoundingRect() const;
  // `topLeft`, or the first of topLeft + k * step where a new node would not overlap another.
  QPointF freeSpot(QPointF topLeft, QPointF step) const;
  // True when two nodes overlap or nearly touch (a file written with other node sizes).
  bool crowded() const;
  // The nearest port within `radius` of a scene point.
  PortItem* portNear(QPointF scenePos, double radius = 14,
                     const std::function<bool(PortItem*)>& accept = {}) const;
  bool drawingWire() const { return pending_ != nullptr; }

  // Called by NodeItem when it moves: its wires follow.
  void nodeItemMoved(NodeItem* item);
  // Items dragged away from the model's positions become one undoable move (called after a
  // mouse release; also by keyboard moves).
  void commitMoves();
  // Repaints every item with the current style (after a theme change).
  void restyle();

 signals:
  // A short explanation for the status bar (why a connection was refused, ...).
  void statusMessage(const QString& text);
  // A double-click on a frame's title.
  void frameRenameRequested(int frameId);

 protected:
  void mousePressEvent(QGraphicsSceneMouseEvent* e) override;
  void mouseMoveEvent(QGraphicsSceneMouseEvent* e) override;
  void mouseReleaseEvent(QGraphicsSceneMouseEvent* e) override;

 private:
  void rebuild();
  void addNodeItem(const QString& id);
  void addWireItem(int edgeId);
  void addFrameItem(int frameId);
  void updateWire(WireItem* w);
  void refreshAll();
  void endWireDrag();
  QPointF portPoint(const QString& node, const QString& port, PortSide side) const;

  GraphModel* model_;
  QHash<QString, NodeItem*> nodes_;
  QHash<int, WireItem*> wires_;
  QHash<int, FrameItem*> frames_;

  // Wire drawing: from an output (or from an input, backwards); picking up the wire of a
  // connected input moves that edge (dragEdge_).
  PortItem* dragFrom_ = nullptr;
  int dragEdge_ = 0;
  WireItem* pending_ = nullptr;
  PortItem* snapped_ = nullptr;
  PortItem* refused_ = nullptr;
  QString refusedWhy_;
  bool refreshing_ = false;
  QStringList removedEnds_;  // the nodes of the edge being removed
};

// "6×28×28" (the batch left out), "scalar", with " int64" for integer data.
QString shortShape(const std::optional<ng::TensorType>& t);

}  // namespace ng::gui
