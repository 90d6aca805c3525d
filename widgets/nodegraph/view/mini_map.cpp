#include "widgets/nodegraph/view/mini_map.h"

#include <QMouseEvent>
#include <QPainter>

#include "widgets/nodegraph/view/node_style.h"
#include "widgets/nodegraph/view/node_view.h"

namespace ng::gui {

// A child of the canvas's viewport, not of the view: a widget overlapping the viewport from the
// side would turn every scroll into a full repaint (NOTE [Canvas level of detail]).
MiniMap::MiniMap(NodeGraphView* view) : QWidget(view->viewport()), view_(view) {
  setObjectName("miniMap");
  setFixedSize(200, 130);
  setCursor(Qt::PointingHandCursor);
  setToolTip(tr("Overview: click or drag to move the canvas"));
}

QRectF MiniMap::sceneArea() const {
  QRectF r;
  for (NodeItem* n : view_->graphScene()->nodeItems()) r |= QRectF(n->pos(), n->size());
  QRectF visible = view_->mapToScene(view_->viewport()->rect()).boundingRect();
  r = r.isNull() ? visible : r.united(visible);
  return r.adjusted(-40, -40, 40, 40);
}

QRectF MiniMap::drawArea() const {
  QRectF area = sceneArea();
  QRectF box = QRectF(rect()).adjusted(6, 6, -6, -6);
  double s = std::min(box.width() / area.width(), box.height() / area.height());
  QSizeF size(area.width() * s, area.height() * s);
  return QRectF(box.center() - QPointF(size.width() / 2, size.height() / 2), size);
}

QPointF MiniMap::toMap(QPointF p) const {
  QRectF area = sceneArea(), d = drawArea();
  return d.topLeft() + QPointF((p.x() - area.left()) * d.width() / area.width(),
                               (p.y() - area.top()) * d.height() / area.height());
}

QPointF MiniMap::toScene(QPointF m) const {
  QRectF area = sceneArea(), d = drawArea();
  return area.topLeft() + QPointF((m.x() - d.left()) * area.width() / d.width(),
                                  (m.y() - d.top()) * area.height() / d.height());
}

void MiniMap::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing);
  QColor bg = style::canvasColor().darker(130);
  bg.setAlpha(225);
  p.setPen(QPen(style::gridColor().lighter(130), 1));
  p.setBrush(bg);
  p.drawRoundedRect(QRectF(rect()).adjusted(0.5, 0.5, -0.5, -0.5), 5, 5);
  GraphModel* m = view_->model();
  // One mapping for the whole paint (scene area and drawing area computed once).
  const QRectF area = sceneArea(), d = drawArea();
  const double sx = d.width() / area.width(), sy = d.height() / area.height();
  auto map = [&](QPointF q) {
    return d.topLeft() + QPointF((q.x() - area.left()) * sx, (q.y() - area.top()) * sy);
  };
  p.setPen(Qt::NoPen);
  p.setRenderHint(QPainter::Antialiasing, false);
  for (NodeItem* n : view_->graphScene()->nodeItems()) {
    const ng::LayerDef* def = m->layerDef(n->id());
    QRectF r(map(n->scenePos()),
             map(n->scenePos() + QPointF(n->size().width(), n->size().height())));
    p.setBrush(m->hasError(n->id()) ? style::errorColor()
               : n->isBlock()       ? style::blockColor()
               : def                ? style::categoryColor(def->category)
                                    : QColor(Qt::gray));
    p.drawRect(r);
  }
  p.setRenderHint(QPainter::Antialiasing);
  QRectF visible = view_->mapToScene(view_->viewport()->rect()).boundingRect();
  p.setPen(QPen(style::selectionColor(), 1.2));
  p.setBrush(QColor(255, 255, 255, 18));
  p.drawRect(QRectF(map(visible.topLeft()), map(visible.bottomRight())));
}

void MiniMap::mousePressEvent(QMouseEvent* e) {
  view_->centerOn(toScene(e->position()));
  e->accept();
}

void MiniMap::mouseMoveEvent(QMouseEvent* e) {
  if (e->buttons() & Qt::LeftButton) view_->centerOn(toScene(e->position()));
  e->accept();
}

}  // namespace ng::gui
