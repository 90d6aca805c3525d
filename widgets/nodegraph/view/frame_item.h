// FrameItem: a frame on the canvas, a titled rectangle behind the nodes that groups and
// annotates them. Drag its title bar to move it with the nodes inside; drag its bottom-right
// corner to resize it; double-click the title (or press F2) to rename it. It only displays the
// model's Frame; the scene turns drags into one undoable move (GraphModel::moveItems).
//   FrameItem* f = scene.frameItem(id);
//   f->carriedNodes();   // the nodes that move with it during a drag
#pragma once

#include <QGraphicsItem>
#include <QHash>

namespace ng::gui {

class NodeGraphScene;

class FrameItem : public QGraphicsItem {
 public:
  enum { Type = UserType + 5 };
  FrameItem(NodeGraphScene* scene, int frameId);
  int type() const override { return Type; }
  int frameId() const { return id_; }
  QRectF boundingRect() const override;
  // Only the title bar, the border and the corner grip take the mouse: a click on the empty
  // inside of a frame selects with a rubber band, as on the bare canvas.
  QPainterPath shape() const override;
  void paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) override;

  // Reads title and rectangle from the model.
  void refresh();
  QString title() const { return title_; }
  QSizeF size() const { return size_; }
  // The rectangle shown (during a drag it differs from the model's until the drop).
  QRectF sceneRect() const { return QRectF(pos(), size_); }
  QRectF titleRect() const;
  QRectF gripRect() const;
  QStringList carriedNodes() const { return carried_.keys(); }

 protected:
  void mousePressEvent(QGraphicsSceneMouseEvent* e) override;
  void mouseMoveEvent(QGraphicsSceneMouseEvent* e) override;
  void mouseReleaseEvent(QGraphicsSceneMouseEvent* e) override;
  void mouseDoubleClickEvent(QGraphicsSceneMouseEvent* e) override;
  QVariant itemChange(GraphicsItemChange change, const QVariant& value) override;

 private:
  NodeGraphScene* scene_;
  int id_;
  QString title_;
  QSizeF size_;
  bool resizing_ = false;
  QPointF pressPos_;                 // the frame's position when a drag began
  QPointF gripOffset_;               // from the mouse to the corner while resizing
  QHash<QString, QPointF> carried_;  // nodes moving along, with their start positions
};

}  // namespace ng::gui
