// A wire on the canvas: a horizontal S-curve from an output port to an input port, with the
// tensor shape that flows along it drawn at its middle ("6×28×28"; the batch dimension left
// out, the full type in the tooltip). Edge id 0 is the wire being drawn during a drag.
#pragma once

#include <QGraphicsPathItem>

namespace ng::gui {

class WireItem : public QGraphicsPathItem {
 public:
  enum { Type = QGraphicsItem::UserType + 4 };
  explicit WireItem(int edgeId);
  int type() const override { return Type; }
  int edgeId() const { return edgeId_; }

  void setEnds(QPointF from, QPointF to);
  QPointF fromPoint() const { return from_; }
  QPointF toPoint() const { return to_; }
  void setLabel(const QString& label);
  const QString& label() const { return label_; }
  void setError(bool e);
  void setPending(bool p);  // dashed, above the nodes

  QRectF boundingRect() const override;
  QPainterPath shape() const override;
  void paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) override;

 private:
  QRectF labelRect() const { return labelRect_; }
  void updateGeometry();  // the label's place, bounds and shape, after a change
  int edgeId_;
  QRectF labelRect_, bounds_;
  mutable QPainterPath shape_;  // made on first use (hit tests), dropped on change
  QPointF from_, to_;
  QString label_;
  bool error_ = false, pending_ = false;
};

}  // namespace ng::gui
