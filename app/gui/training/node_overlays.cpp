#include "app/gui/training/node_overlays.h"

#include <QGraphicsItem>
#include <QPainter>
#include <algorithm>
#include <cmath>

#include "widgets/nodegraph/view/node_scene.h"

namespace ng::gui {

namespace {

enum { kFailureType = QGraphicsItem::UserType + 40, kHaloType = QGraphicsItem::UserType + 41 };

// The red outline and tag of the node a training error names.
class FailureItem : public QGraphicsItem {
 public:
  FailureItem(NodeItem* node, const QString& message) : QGraphicsItem(node), size_(node->size()) {
    setToolTip(QObject::tr("Training failed here:\n%1").arg(message));
    setZValue(5);
    setAcceptHoverEvents(true);
  }
  int type() const override { return kFailureType; }
  QRectF boundingRect() const override {
    return QRectF(-4, -24, size_.width() + 8, size_.height() + 28);
  }
  void paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) override {
    p->setRenderHint(QPainter::Antialiasing);
    const QColor red(0xf4, 0x43, 0x36);
    p->setPen(QPen(red, 2.5));
    p->setBrush(Qt::NoBrush);
    p->drawRoundedRect(QRectF(-2, -2, size_.width() + 4, size_.height() + 4), 8, 8);
    QRectF tag(0, -22, 150, 18);
    p->setPen(Qt::NoPen);
    p->setBrush(red);
    p->drawRoundedRect(tag, 5, 5);
    p->setPen(Qt::white);
    QFont f = p->font();
    f.setPointSizeF(8);
    f.setBold(true);
    p->setFont(f);
    p->drawText(tag, Qt::AlignCenter, QObject::tr("\u26a0 training failed here"));
  }

 private:
  QSizeF size_;
};

// A halo behind the card coloured by the gradient norm, and the norm under it.
class HaloItem : public QGraphicsItem {
 public:
  HaloItem(NodeItem* node, QColor color, QString text)
      : QGraphicsItem(node), size_(node->size()), color_(color), text_(std::move(text)) {
    setFlag(ItemStacksBehindParent);
  }
  int type() const override { return kHaloType; }
  QRectF boundingRect() const override {
    return QRectF(-8, -8, size_.width() + 16, size_.height() + 30);
  }
  void paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) override {
    p->setRenderHint(QPainter::Antialiasing);
    p->setPen(Qt::NoPen);
    for (int i = 3; i >= 1; --i) {  // a soft glow: three rings, fainter outwards
      QColor c = color_;
      c.setAlpha(70 + 50 * (3 - i));
      p->setBrush(c);
      double d = 2.0 * i;
      p->drawRoundedRect(QRectF(-d, -d, size_.width() + 2 * d, size_.height() + 2 * d), 8 + d,
                         8 + d);
    }
    QFont f = p->font();
    f.setPointSizeF(7.5);
    p->setFont(f);
    p->setPen(color_.lighter(130));
    p->drawText(QRectF(0, size_.height() + 7, size_.width(), 14), Qt::AlignCenter, text_);
  }

 private:
  QSizeF size_;
  QColor color_;
  QString text_;
};

}  // namespace

NodeOverlays::NodeOverlays(NodeGraphScene* scene) : QObject(scene), scene_(scene) {
  // Cards are rebuilt when a document is opened: draw again on the new ones.
  connect(scene_->model(), &GraphModel::modelReset, this, [this] { clear(); });
}

NodeOverlays::~NodeOverlays() = default;

QColor NodeOverlays::normColor(double norm, double lo, double hi) {
  double t = 0.5;
  if (norm > 0 && lo > 0 && hi > lo)
    t = (std::log10(norm) - std::log10(lo)) / (std::log10(hi) - std::log10(lo));
  t = std::clamp(t, 0.0, 1.0);
  // blue (0.62) -> cyan -> yellow -> red (0.0) in hue
  return QColor::fromHsvF(float(0.62 * (1.0 - t)), 0.85f, 1.0f);
}

void NodeOverlays::removeItems(int type) {
  for (NodeItem* n : scene_->nodeItems())
    for (QGraphicsItem* c : n->childItems())
      if (c->type() == type) delete c;
}

void NodeOverlays::showFailure(const QString& node, const QString& message) {
  failedNode_ = node;
  failedMessage_ = message;
  apply();
}

void NodeOverlays::clearFailure() {
  failedNode_.clear();
  failedMessage_.clear();
  removeItems(kFailureType);
}

void NodeOverlays::setGradientNorms(const QHash<QString, double>& norms, qint64 step) {
  norms_ = norms;
  normsStep_ = step;
  apply();
}

void NodeOverlays::clearGradientNorms() {
  norms_.clear();
  removeItems(kHaloType);
}

void NodeOverlays::apply() {
  removeItems(kFailureType);
  if (!failedNode_.isEmpty())
    if (NodeItem* n = scene_->nodeItem(failedNode_)) new FailureItem(n, failedMessage_);
  removeItems(kHaloType);
  if (norms_.isEmpty()) return;
  double lo = 0, hi = 0;
  for (double v : norms_)
    if (v > 0) {
      lo = lo > 0 ? std::min(lo, v) : v;
      hi = std::max(hi, v);
    }
  for (auto it = norms_.begin(); it != norms_.end(); ++it)
    if (NodeItem* n = scene_->nodeItem(it.key())) {
      auto* h = new HaloItem(n, normColor(it.value(), lo, hi),
                             QString::fromUtf8("\u2016\u2207\u2016 %1").arg(it.value(), 0, 'g', 3));
      h->setToolTip(tr("Gradient norm of %1's weights at step %2: %3")
                        .arg(it.key())
                        .arg(normsStep_)
                        .arg(it.value(), 0, 'g', 4));
    }
}

}  // namespace ng::gui
