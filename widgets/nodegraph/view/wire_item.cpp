#include "widgets/nodegraph/view/wire_item.h"

#include <QFontMetricsF>
#include <QPainter>
#include <QPainterPathStroker>
#include <QStyleOptionGraphicsItem>
#include <cmath>

#include "widgets/nodegraph/view/node_item.h"
#include "widgets/nodegraph/view/node_style.h"

namespace ng::gui {

namespace {
const QFont& labelFont() {
  static const QFont f = [] {
    QFont f;
    f.setPointSizeF(7.5);
    return f;
  }();
  return f;
}
const QFontMetricsF& labelMetrics() {
  static const QFontMetricsF m(labelFont());
  return m;
}
constexpr double kDetailLod = 0.45;  // NOTE [Canvas level of detail] (node_item.cpp)
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
  updateGeometry();
}

void WireItem::setLabel(const QString& label) {
  if (label == label_) return;
  prepareGeometryChange();
  label_ = label;
  updateGeometry();
  update();
}

void WireItem::updateGeometry() {
  labelRect_ = QRectF();
  if (!label_.isEmpty() && !path().isEmpty()) {
    QSizeF s(labelMetrics().horizontalAdvance(label_) + 10, labelMetrics().height() + 2);
    QPointF mid = path().pointAtPercent(0.5);
    labelRect_ = QRectF(mid - QPointF(s.width() / 2, s.height() / 2), s);
  }
  bounds_ = path().boundingRect().adjusted(-4, -4, 4, 4).united(labelRect_);
  shape_ = QPainterPath();
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

QRectF WireItem::boundingRect() const {
  return bounds_;
}

QPainterPath WireItem::shape() const {
  if (shape_.isEmpty()) {
    QPainterPathStroker s;
    s.setWidth(12);
    shape_ = s.createStroke(path());
    if (!label_.isEmpty()) shape_.addRect(labelRect());
  }
  return shape_;
}

void WireItem::paint(QPainter* p, const QStyleOptionGraphicsItem* o, QWidget*) {
  const bool detail = !o || detailOf(p, o) >= kDetailLod;
  p->setRenderHint(QPainter::Antialiasing, detail);
  QColor c = error_ ? style::errorColor() : style::wireColor();
  if (isSelected()) c = style::selectionColor();
  QPen pen(c, isSelected() ? 3 : 2, pending_ ? Qt::DashLine : Qt::SolidLine, Qt::RoundCap);
  p->setPen(pen);
  p->setBrush(Qt::NoBrush);
  p->drawPath(path());
  if (!label_.isEmpty() && detail) {
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
