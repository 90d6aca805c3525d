#include "widgets/nodegraph/view/node_item.h"

#include <QFontMetricsF>
#include <QPainter>
#include <QPainterPath>
#include <QStyleOptionGraphicsItem>

#include "widgets/nodegraph/view/node_scene.h"
#include "widgets/nodegraph/view/node_style.h"

namespace ng::gui {

namespace {

constexpr double kTypeRow = 16;
constexpr double kPortsTop = style::kHeaderHeight + kTypeRow + 2;
constexpr double kInfoRow = 15;
constexpr double kStackStep = 5;  // offset of each card behind a Block node

constexpr double kDetailLod = 0.45;  // NOTE [Canvas level of detail]

}  // namespace

// Device pixels per scene unit: the view's scale times the screen's pixel ratio (at 2x, text
// stays readable at half the zoom).
double detailOf(const QPainter* p, const QStyleOptionGraphicsItem* o) {
  double dpr = p->device() ? p->device()->devicePixelRatioF() : 1.0;
  return o->levelOfDetailFromTransform(p->worldTransform()) * dpr;
}

namespace {

QFont font(double points, bool bold = false) {
  QFont f;
  f.setPointSizeF(points);
  f.setBold(bold);
  return f;
}

}  // namespace

const NodeItem::Fonts& NodeItem::fonts() {
  static const Fonts f{font(9.5, true), font(8), font(8.5, true), font(8, true)};
  return f;
}

NodeItem::Fonts::Fonts(QFont t, QFont s, QFont sh, QFont b)
    : title(t), small(s), shape(sh), badge(b), titleMetrics(t), smallMetrics(s), shapeMetrics(sh) {}

// ---- PortItem ------------------------------------------------------------------------------

PortItem::PortItem(NodeItem* node, PortSide side, const QString& name, const ng::PortDef* def)
    : QGraphicsItem(node), node_(node), side_(side), name_(name) {
  if (def) {
    variadic_ = def->variadic;
    optional_ = def->optional;
    QString tip =
        QString("<b>%1</b> (%2)<br>%3")
            .arg(name, side == PortSide::Input ? QObject::tr("input") : QObject::tr("output"),
                 QString::fromStdString(def->description).toHtmlEscaped());
    if (variadic_) tip += QObject::tr("<br>Takes several wires, in order.");
    if (optional_) tip += QObject::tr("<br>May stay unconnected.");
    setToolTip(tip);
  }
  setAcceptHoverEvents(true);
  setCursor(Qt::CrossCursor);
  setZValue(1);
}

PortKey PortItem::key() const {
  return {node_->id(), name_, side_};
}

QRectF PortItem::boundingRect() const {
  return QRectF(-9, -9, 18, 18);
}

void PortItem::setMark(Mark m) {
  if (m == mark_) return;
  mark_ = m;
  update();
}

void PortItem::setConnected(bool c) {
  if (c == connected_) return;
  connected_ = c;
  update();
}

void PortItem::paint(QPainter* p, const QStyleOptionGraphicsItem* o, QWidget*) {
  if (o && detailOf(p, o) < kDetailLod && mark_ == Mark::None) return;  // too small to aim at
  p->setRenderHint(QPainter::Antialiasing);
  const double r = style::kPortRadius;
  QColor ring = style::wireColor();
  QColor fill = connected_ ? style::wireColor() : style::nodeBodyColor();
  if (mark_ == Mark::Candidate) ring = style::okColor();
  if (mark_ == Mark::Snapped) ring = fill = style::okColor();
  if (mark_ == Mark::Refused) ring = style::errorColor();
  if (mark_ != Mark::None) {
    p->setPen(Qt::NoPen);
    QColor halo = ring;
    halo.setAlpha(70);
    p->setBrush(halo);
    p->drawEllipse(QPointF(0, 0), r + 3.5, r + 3.5);
  }
  QPen pen(ring, 1.6);
  if (optional_ && !connected_) pen.setStyle(Qt::DotLine);
  p->setPen(pen);
  p->setBrush(fill);
  if (variadic_)
    p->drawRoundedRect(QRectF(-r, -r, 2 * r, 2 * r), 2, 2);
  else
    p->drawEllipse(QPointF(0, 0), r, r);
}

// ---- BadgeItem -----------------------------------------------------------------------------

BadgeItem::BadgeItem(QGraphicsItem* parent) : QGraphicsItem(parent) {
  setAcceptHoverEvents(true);
  setZValue(2);
}

void BadgeItem::paint(QPainter* p, const QStyleOptionGraphicsItem* o, QWidget*) {
  if (o && detailOf(p, o) < kDetailLod) {
    p->setPen(Qt::NoPen);
    p->setBrush(error_ ? style::errorColor() : style::warningColor());
    p->drawEllipse(QPointF(0, 0), 7.2, 7.2);
    return;
  }
  p->setRenderHint(QPainter::Antialiasing);
  p->setPen(Qt::NoPen);
  p->setBrush(QColor(0, 0, 0, 110));  // a dark ring: visible on every header colour
  p->drawEllipse(QPointF(0, 0), 8.8, 8.8);
  p->setPen(QPen(Qt::white, 1.2));
  p->setBrush(error_ ? style::errorColor() : style::warningColor());
  p->drawEllipse(QPointF(0, 0), 7.2, 7.2);
  p->setFont(NodeItem::fonts().badge);
  p->drawText(boundingRect(), Qt::AlignCenter, "!");
}

// ---- NodeItem ------------------------------------------------------------------------------

NodeItem::NodeItem(NodeGraphScene* scene, const QString& id)
    : scene_(scene), id_(id), width_(style::kNodeWidth) {
  setFlags(ItemIsMovable | ItemIsSelectable | ItemSendsGeometryChanges);
  setAcceptHoverEvents(true);
  badge_ = new BadgeItem(this);
  badge_->setVisible(false);
  refresh();
}

void NodeItem::setId(const QString& id) {
  id_ = id;
  refresh();
}

PortItem* NodeItem::port(PortSide side, const QString& name) const {
  for (PortItem* p : ports_)
    if (p->side() == side && p->name() == name) return p;
  return nullptr;
}

void NodeItem::rebuildPorts(const ng::LayerDef* def) {
  for (PortItem* p : ports_) delete p;
  ports_.clear();
  if (!def) {
    rows_ = 1;
    return;
  }
  auto add = [&](PortSide side, const std::vector<ng::PortDef>& defs) {
    for (size_t i = 0; i < defs.size(); ++i) {
      auto* p = new PortItem(this, side, QString::fromStdString(defs[i].name), &defs[i]);
      p->setPos(side == PortSide::Input ? 0 : width_,
                kPortsTop + double(i) * style::kPortRow + style::kPortRow / 2);
      ports_.push_back(p);
    }
  };
  add(PortSide::Input, def->inputs);
  add(PortSide::Output, def->outputs);
  rows_ = int(std::max<size_t>({def->inputs.size(), def->outputs.size(), 1}));
}

void NodeItem::refresh() {
  const GraphModel* m = scene_->model();
  const Node* n = m->node(id_);
  if (!n) return;
  const ng::LayerDef* def = m->layerDef(id_);
  if (n->type != type_ || (def != nullptr) != known_ || ports_.empty() != (def == nullptr)) {
    prepareGeometryChange();
    type_ = n->type;
    known_ = def != nullptr;
    if (def) category_ = def->category;
    rebuildPorts(def);
    height_ = kPortsTop + rows_ * style::kPortRow + 2 + 2 * kInfoRow + 6;
    badge_->setPos(width_ - 13, style::kHeaderHeight / 2);
  }
  for (PortItem* p : ports_) p->setConnected(!m->edgesAt(p->key()).empty());
  bool block = isBlockUse(*n);
  int repeat = 1;
  if (block) {
    if (auto it = n->params.find("repeat"); it != n->params.end() && it->is_number_integer())
      repeat = int(std::max<int64_t>(1, it->get<int64_t>()));
    typeText_ = QObject::tr("Block: %1 \u00d7%2").arg(blockNameOf(*n)).arg(repeat);
  } else {
    typeText_ = def ? type_ : QObject::tr("%1 (unknown type)").arg(type_);
  }
  if (block != block_ || repeat != repeat_) {
    prepareGeometryChange();
    block_ = block;
    repeat_ = repeat;
  }

  // Texts: the first output's type, and the counts.
  if (!def) {
    shapeText_ = QObject::tr("unknown layer type");
    infoText_.clear();
  } else if (n->type == QLatin1String("BlockOutput")) {
    // What leaves the block: the type wired into it.
    std::vector<Edge> in = m->edgesAt({id_, "input", PortSide::Input});
    shapeText_ = QString::fromUtf8("\u2190 ") +
                 (in.empty() ? QObject::tr("nothing yet")
                             : typeText(m->outputType(in[0].fromNode, in[0].fromPort)));
    infoText_ = QObject::tr("leaves the block");
  } else if (def->outputs.empty()) {
    shapeText_.clear();
    infoText_.clear();
  } else if (n->type == QLatin1String("BlockInput")) {
    shapeText_ = QString::fromUtf8("\u2192 ") + typeText(m->outputType(id_, 0));
    infoText_ = QObject::tr("enters the block");
  } else {
    const ng::NodeInfo* info = m->nodeInfo(id_);
    auto t = m->outputType(id_, 0);
    shapeText_ = QString::fromUtf8("\u2192 ") +
                 (t && t->shape.empty() ? QObject::tr("scalar") : typeText(t));
    if (info && info->inferred) {
      int64_t pc = m->paramCount(id_);
      infoText_ = (pc ? QObject::tr("%1 params").arg(countText(pc)) : QObject::tr("no weights")) +
                  QString::fromUtf8(" \u00b7 ") + bytesText(m->outputBytes(id_));
    } else {
      infoText_ = QObject::tr("shape unknown");
    }
  }

  // Diagnostics: a badge with every message in its tooltip.
  std::vector<ng::Diagnostic> ds = m->diagnostics(id_);
  error_ = warning_ = false;
  QStringList lines;
  for (const ng::Diagnostic& d : ds) {
    (d.severity == ng::Severity::Error ? error_ : warning_) = true;
    lines << QString("%1: %2").arg(
        d.severity == ng::Severity::Error ? QObject::tr("Error") : QObject::tr("Warning"),
        QString::fromStdString(d.message));
  }
  badge_->setVisible(error_ || warning_);
  badge_->setSeverity(error_);
  badge_->setToolTip(lines.join('\n'));

  QString tip = QString("<b>%1</b> &mdash; %2").arg(id_.toHtmlEscaped(), typeText_.toHtmlEscaped());
  if (block_) tip += QObject::tr("<br>Double-click (or Enter) to open the block.");
  if (def) tip += "<br>" + QString::fromStdString(def->summary).toHtmlEscaped();
  for (const QString& l : lines) tip += "<br>" + l.toHtmlEscaped();
  setToolTip(tip);
  elideTexts();
  update();
}

QRectF NodeItem::boundingRect() const {
  // Room for ports and the selection outline (and a block's stack of cards).
  double stack = block_ ? kStackStep * std::min(repeat_, 3) : 0;
  return QRectF(-10, -4, width_ + 20 + stack, height_ + 8 + stack);
}

QPainterPath NodeItem::shape() const {
  QPainterPath p;
  p.addRoundedRect(QRectF(0, 0, width_, height_), 6, 6);
  return p;
}

void NodeItem::paint(QPainter* p, const QStyleOptionGraphicsItem* o, QWidget*) {
  // NOTE [Canvas level of detail]: below about half size the texts cannot be read; the card is
  // drawn as its coloured header and body only, which keeps panning and zooming a large graph
  // fluid (tests/bench/results/editor-*.md).
  const double lod = o ? detailOf(p, o) : 1.0;
  QRectF body(0, 0, width_, height_);
  const double hh = style::kHeaderHeight;
  QColor headerColor = block_   ? style::blockColor()
                       : known_ ? style::categoryColor(category_)
                                : QColor(0x55, 0x55, 0x55);
  QPen outline(style::outlineColor(), 1);
  if (error_) outline = QPen(style::errorColor(), 1.6);
  if (isSelected()) outline = QPen(style::selectionColor(), 2.2);
  if (lod < kDetailLod) {
    if (block_) p->fillRect(body.translated(kStackStep * 2, kStackStep * 2), style::blockColor());
    p->fillRect(body, style::nodeBodyColor());
    p->fillRect(QRectF(0, 0, width_, hh), headerColor);
    if (error_ || isSelected()) {
      outline.setWidthF(outline.widthF() / std::max(lod, 0.05));  // stays visible
      p->setPen(outline);
      p->setBrush(Qt::NoBrush);
      p->drawRect(body);
    }
    return;
  }
  p->setRenderHint(QPainter::Antialiasing);
  p->setRenderHint(QPainter::TextAntialiasing);

  // A block: the cards of its copies behind it (up to three).
  if (block_)
    for (int k = std::min(repeat_, 3); k >= 1; --k) {
      QRectF card = body.translated(k * kStackStep, k * kStackStep);
      p->setPen(QPen(style::blockColor(), 1.2));
      p->setBrush(style::nodeBodyColor().darker(100 + 12 * k));
      p->drawRoundedRect(card, 6, 6);
    }

  // Body and header.
  p->setPen(Qt::NoPen);
  p->setBrush(style::shadowColor());
  p->drawRoundedRect(body.translated(2, 3), 6, 6);  // shadow
  p->setBrush(hover_ ? style::nodeBodyColor().lighter(112) : style::nodeBodyColor());
  p->drawRoundedRect(body, 6, 6);
  p->setBrush(headerColor);
  p->drawPath(headerPath());

  // Outline: selection, then errors.
  p->setPen(outline);
  p->setBrush(Qt::NoBrush);
  p->drawRoundedRect(body, 6, 6);

  // Title and type (elided once, in refresh()).
  const Fonts& f = fonts();
  p->setFont(f.title);
  p->setPen(Qt::white);
  p->drawText(QRectF(8, 0, width_ - 16, hh), Qt::AlignVCenter | Qt::AlignLeft, shown_[0]);
  p->setFont(f.small);
  p->setPen(style::nodeDimTextColor());
  p->drawText(QRectF(8, hh, width_ - 16, kTypeRow), Qt::AlignVCenter | Qt::AlignLeft, shown_[1]);

  // Port names beside their circles.
  for (PortItem* port : ports_) {
    QRectF r(10, port->y() - style::kPortRow / 2, width_ / 2 - 10, style::kPortRow);
    if (port->side() == PortSide::Output) r.moveRight(width_ - 10);
    p->drawText(
        r, Qt::AlignVCenter | (port->side() == PortSide::Input ? Qt::AlignLeft : Qt::AlignRight),
        port->name());
  }

  // Output shape and counts.
  double y = kPortsTop + rows_ * style::kPortRow + 2;
  p->setPen(style::outlineColor());
  p->drawLine(QPointF(6, y - 1), QPointF(width_ - 6, y - 1));
  p->setFont(f.shape);
  p->setPen(style::nodeTextColor());
  p->drawText(QRectF(8, y, width_ - 16, kInfoRow), Qt::AlignVCenter | Qt::AlignLeft, shown_[2]);
  p->setFont(f.small);
  p->setPen(style::nodeDimTextColor());
  p->drawText(QRectF(8, y + kInfoRow, width_ - 16, kInfoRow), Qt::AlignVCenter | Qt::AlignLeft,
              shown_[3]);
}

const QPainterPath& NodeItem::headerPath() const {
  // The header: the top of the rounded card, square at the bottom. The same for every node.
  static const QPainterPath path = [] {
    QPainterPath header;
    header.addRoundedRect(QRectF(0, 0, style::kNodeWidth, style::kHeaderHeight + 6), 6, 6);
    QPainterPath clip;
    clip.addRect(QRectF(0, 0, style::kNodeWidth, style::kHeaderHeight));
    return header.intersected(clip);
  }();
  return path;
}

void NodeItem::elideTexts() {
  const Fonts& f = fonts();
  double titleRoom = width_ - 16 - (badge_->isVisible() ? 16 : 0);
  shown_[0] = f.titleMetrics.elidedText(id_, Qt::ElideRight, titleRoom);
  shown_[1] = f.smallMetrics.elidedText(typeText_, Qt::ElideRight, width_ - 16);
  shown_[2] = f.shapeMetrics.elidedText(shapeText_, Qt::ElideRight, width_ - 16);
  shown_[3] = f.smallMetrics.elidedText(infoText_, Qt::ElideRight, width_ - 16);
}

QVariant NodeItem::itemChange(GraphicsItemChange change, const QVariant& value) {
  if (change == ItemPositionHasChanged) scene_->nodeItemMoved(this);
  if (change == ItemSelectedHasChanged) update();
  return QGraphicsItem::itemChange(change, value);
}

void NodeItem::hoverEnterEvent(QGraphicsSceneHoverEvent*) {
  hover_ = true;
  update();
}

void NodeItem::hoverLeaveEvent(QGraphicsSceneHoverEvent*) {
  hover_ = false;
  update();
}

}  // namespace ng::gui
