// MiniMap: an overview in the canvas's corner: every node as a small block in its category
// colour and the part of the graph the canvas shows as a frame. Click or drag in it to move the
// canvas there.
//   auto* map = new MiniMap(&view);   // NodeGraphView creates and places its own
#pragma once

#include <QWidget>

namespace ng::gui {

class NodeGraphView;

class MiniMap : public QWidget {
  Q_OBJECT
 public:
  explicit MiniMap(NodeGraphView* view);
  // The scene rectangle the map shows (the nodes and the visible area, with a margin).
  QRectF sceneArea() const;
  QPointF toScene(QPointF mapPos) const;
  QPointF toMap(QPointF scenePos) const;

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent* e) override;
  void mouseMoveEvent(QMouseEvent* e) override;

 private:
  QRectF drawArea() const;  // where the scene area lands in the widget (aspect kept)
  NodeGraphView* view_;
};

}  // namespace ng::gui
