#include "widgets/nodegraph/view/wire_item.h"

#include <QFontMetricsF>
#include <QPainter>
#include <QPainterPathStroker>
#include <cmath>

#include "widgets/nodegraph/view/node_style.h"

namespace ng::gui {

namespace {
QFont labelFont() {
  QFont f;
  f.setPointSizeF(7.5);
  return f;
}
}  // namespace

WireItem::WireItem(int edgeId) : edgeId_(edgeId) {
  setZValue(-1);
  if (edgeId_ != 0) setFlag(ItemIsSelectable);
  setAcceptHoverEvents(true);
}

void WireItem::setEnds(QPointF a, QPointF b) {
  if (a == from_ && b == to_ && !path().isEmpty()) return;
  prepareGeometryChange();
  from_ = a;
  to_ = b;
  QPainterPath path(a);
  double span = b.x() - a.x();
  if (span > 300 && std::abs(b.y() - a.y()) < 40) {
    // A wire that skips over the nodes of its row (a residual connection) arcs above them
    // instead of hiding behind them.
    double lift = 150;
    path.cubicTo(a + QPointF(50, -lift), b + QPointF(-50, -lift), b);
  } else {
    // Horizontal tangents at both ends; a wire going backwards bends out further.
    double dx = std::max(40.0, std::abs(span) * 0.5);
    if (span < 0) dx = std::max(dx, std::min(160.0, std::abs(b.y() - a.y()) * 0.6 + 60));
    path.cubicTo(a + QPointF(dx, 0), b - QPointF(dx, 0), b);
  }
  setPath(path);
}

void WireItem::setLabel(const QString& label) {
  if (label == label_) return;
  prepareGeometryChange();
  label_ = label;
  update();
}

void WireItem::setError(bool e) {
  if (e == error_) return;
  error_ = e;
  update();
}

void WireItem::setPending(bool p) {
  pending_ = p;
  setZValue(p ? 5 : -1);
  update();
}

QRectF WireItem::labelRect() const {
  if (label_.isEmpty() || path().isEmpty()) return {};
  QFontMetricsF fm(labelFont());
  QSizeF s(fm.horizontalAdvance(label_) + 10, fm.height() + 2);
  QPointF mid = path().pointAtPercent(0.5);
  return QRectF(mid - QPointF(s.width() / 2, s.height() / 2), s);
}

QRectF WireItem::boundingRect() const {
  return path().boundingRect().adjusted(-4, -4, 4, 4).united(labelRect());
}

QPainterPath WireItem::shape() const {
  QPainterPathStroker s;
  s.setWidth(12);
  QPainterPath p = s.createStroke(path());
  if (!label_.isEmpty()) p.addRect(labelRect());
  return p;
}

void WireItem::paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) {
  p->setRenderHint(QPainter::Antialiasing);
  QColor c = error_ ? style::errorColor() : style::wireColor();
  if (isSelected()) c = style::selectionColor();
  QPen pen(c, isSelected() ? 3 : 2, pending_ ? Qt::DashLine : Qt::SolidLine, Qt::RoundCap);
  p->setPen(pen);
  p->setBrush(Qt::NoBrush);
  p->drawPath(path());
  if (!label_.isEmpty()) {
    QRectF r = labelRect();
    p->setPen(QPen(c, 1));
    p->setBrush(style::canvasColor());
    p->drawRoundedRect(r, r.height() / 2, r.height() / 2);
    p->setFont(labelFont());
    p->setPen(error_ ? style::errorColor() : style::nodeTextColor());
    p->drawText(r, Qt::AlignCenter, label_);
  }
}

}  // namespace ng::gui
