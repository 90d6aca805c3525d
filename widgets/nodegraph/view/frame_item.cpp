#include "widgets/nodegraph/view/frame_item.h"

#include <QFontMetricsF>
#include <QGraphicsSceneMouseEvent>
#include <QPainter>
#include <QPainterPath>
#include <QStyleOptionGraphicsItem>

#include "widgets/nodegraph/view/node_scene.h"
#include "widgets/nodegraph/view/node_style.h"

namespace ng::gui {

namespace {
constexpr double kTitleHeight = 26;
constexpr double kBorder = 6;  // the border band that takes the mouse
constexpr double kGrip = 16;   // the resize corner
constexpr double kMinWidth = 120, kMinHeight = 60;

QFont titleFont() {
  QFont f;
  f.setPointSizeF(10);
  f.setBold(true);
  return f;
}
}  // namespace

FrameItem::FrameItem(NodeGraphScene* scene, int frameId) : scene_(scene), id_(frameId) {
  setFlags(ItemIsMovable | ItemIsSelectable | ItemSendsGeometryChanges);
  setZValue(-2);  // behind wires (-1) and nodes
  setAcceptHoverEvents(true);
  refresh();
}

void FrameItem::refresh() {
  const Frame* f = scene_->model()->frame(id_);
  if (!f) return;
  if (f->rect.size() != size_) prepareGeometryChange();
  title_ = f->title;
  size_ = f->rect.size();
  if (pos() != f->rect.topLeft()) setPos(f->rect.topLeft());
  setToolTip(QObject::tr("<b>%1</b><br>Drag the title to move the frame with its nodes, the "
                         "corner to resize it; double-click the title or press F2 to rename it.")
                 .arg(title_.toHtmlEscaped()));
  update();
}

QRectF FrameItem::boundingRect() const {
  return QRectF(QPointF(0, 0), size_).adjusted(-2, -2, 2, 2);
}

QRectF FrameItem::titleRect() const {
  return QRectF(0, 0, size_.width(), kTitleHeight);
}

QRectF FrameItem::gripRect() const {
  return QRectF(size_.width() - kGrip, size_.height() - kGrip, kGrip, kGrip);
}

QPainterPath FrameItem::shape() const {
  QPainterPath outer, inner;
  QRectF r(QPointF(0, 0), size_);
  outer.addRect(r);
  inner.addRect(r.adjusted(kBorder, kTitleHeight, -kBorder, -kBorder));
  QPainterPath grip;
  grip.addRect(gripRect());
  return outer.subtracted(inner).united(grip);
}

void FrameItem::paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) {
  p->setRenderHint(QPainter::Antialiasing);
  QRectF r(QPointF(0, 0), size_);
  QColor c = style::frameColor();
  QColor fill = c;
  fill.setAlpha(38);
  QColor border = isSelected() ? style::selectionColor() : c;
  p->setPen(QPen(border, isSelected() ? 2.2 : 1.4));
  p->setBrush(fill);
  p->drawRoundedRect(r, 8, 8);
  // Title bar.
  QPainterPath bar;
  bar.addRoundedRect(QRectF(0, 0, r.width(), kTitleHeight + 8), 8, 8);
  QPainterPath clip;
  clip.addRect(titleRect());
  QColor barColor = c;
  barColor.setAlpha(210);
  p->setPen(Qt::NoPen);
  p->setBrush(barColor);
  p->drawPath(bar.intersected(clip));
  QFont f = titleFont();
  p->setFont(f);
  p->setPen(Qt::white);
  QRectF text = titleRect().adjusted(10, 0, -10, 0);
  p->drawText(
      text, Qt::AlignVCenter | Qt::AlignLeft,
      QFontMetricsF(f).elidedText(title_.isEmpty() ? QObject::tr("(untitled frame)") : title_,
                                  Qt::ElideRight, text.width()));
  // Resize grip: three short diagonals in the corner.
  p->setPen(QPen(border, 1.2));
  QRectF g = gripRect();
  for (double d : {4.0, 8.0, 12.0})
    p->drawLine(QPointF(g.right() - d, g.bottom() - 2), QPointF(g.right() - 2, g.bottom() - d));
}

void FrameItem::mousePressEvent(QGraphicsSceneMouseEvent* e) {
  resizing_ = e->button() == Qt::LeftButton && gripRect().contains(e->pos());
  pressPos_ = pos();
  carried_.clear();
  if (!resizing_ && e->button() == Qt::LeftButton) {
    // The nodes inside move along (unless selected: those move with the selection anyway).
    QRectF inside = sceneRect();
    for (NodeItem* n : scene_->nodeItems())
      if (!n->isSelected() && inside.contains(QRectF(n->pos(), n->size())))
        carried_.insert(n->id(), n->pos());
  }
  if (resizing_) {
    gripOffset_ = QPointF(size_.width(), size_.height()) - e->pos();
    setSelected(true);
    e->accept();
    return;
  }
  QGraphicsItem::mousePressEvent(e);
}

void FrameItem::mouseMoveEvent(QGraphicsSceneMouseEvent* e) {
  if (resizing_) {
    QPointF corner = e->pos() + gripOffset_;
    QSizeF s(std::max(kMinWidth, std::round(corner.x())),
             std::max(kMinHeight, std::round(corner.y())));
    if (s != size_) {
      prepareGeometryChange();
      size_ = s;
      update();
    }
    e->accept();
    return;
  }
  QGraphicsItem::mouseMoveEvent(e);
}

void FrameItem::mouseReleaseEvent(QGraphicsSceneMouseEvent* e) {
  resizing_ = false;
  QGraphicsItem::mouseReleaseEvent(e);
  // The scene turns what moved (this frame, its nodes) into one command after this.
  carried_.clear();
}

void FrameItem::mouseDoubleClickEvent(QGraphicsSceneMouseEvent* e) {
  if (titleRect().contains(e->pos())) {
    emit scene_->frameRenameRequested(id_);
    e->accept();
    return;
  }
  QGraphicsItem::mouseDoubleClickEvent(e);
}

QVariant FrameItem::itemChange(GraphicsItemChange change, const QVariant& value) {
  if (change == ItemPositionHasChanged && !carried_.isEmpty()) {
    QPointF d = pos() - pressPos_;
    for (auto it = carried_.begin(); it != carried_.end(); ++it)
      if (NodeItem* n = scene_->nodeItem(it.key())) n->setPos(it.value() + d);
  }
  if (change == ItemSelectedHasChanged) update();
  return QGraphicsItem::itemChange(change, value);
}

}  // namespace ng::gui
