// The canvas items of one node: NodeItem (a card with the node's id, type, ports, output shape,
// parameter count and output memory), its PortItems (circles on the left for inputs and on the
// right for outputs) and a BadgeItem (red for errors, amber for warnings) whose tooltip carries
// the engine's messages. Items only display the model; edits go through GraphModel.
//   NodeItem* n = scene.nodeItem("conv1");
//   n->port(PortSide::Output, "output")->scenePos();   // where wires start
//   n->badge()->isVisible();  n->badge()->toolTip();    // the diagnostics
#pragma once

#include <QFontMetricsF>
#include <QGraphicsItem>
#include <QPainterPath>
#include <QString>
#include <vector>

#include "widgets/nodegraph/model/graph_model.h"

namespace ng::gui {

class NodeGraphScene;
class NodeItem;

// The level of detail an item is painted at: device pixels per scene unit (NOTE [Canvas level
// of detail]).
double detailOf(const QPainter* p, const QStyleOptionGraphicsItem* o);

class PortItem : public QGraphicsItem {
 public:
  enum { Type = UserType + 2 };
  enum class Mark { None, Candidate, Snapped, Refused };  // while a wire is being drawn

  PortItem(NodeItem* node, PortSide side, const QString& name, const ng::PortDef* def);
  int type() const override { return Type; }
  QRectF boundingRect() const override;
  void paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) override;

  NodeItem* node() const { return node_; }
  PortKey key() const;
  PortSide side() const { return side_; }
  const QString& name() const { return name_; }
  bool variadic() const { return variadic_; }
  void setMark(Mark m);
  void setConnected(bool c);
  bool isConnected() const { return connected_; }

 private:
  NodeItem* node_;
  PortSide side_;
  QString name_;
  bool variadic_ = false, optional_ = false, connected_ = false;
  Mark mark_ = Mark::None;
};

class BadgeItem : public QGraphicsItem {
 public:
  enum { Type = UserType + 3 };
  explicit BadgeItem(QGraphicsItem* parent);
  int type() const override { return Type; }
  QRectF boundingRect() const override { return QRectF(-9, -9, 18, 18); }
  void paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) override;
  void setSeverity(bool error) {
    error_ = error;
    update();
  }
  bool isError() const { return error_; }

 private:
  bool error_ = true;
};

class NodeItem : public QGraphicsItem {
 public:
  enum { Type = UserType + 1 };
  NodeItem(NodeGraphScene* scene, const QString& id);
  int type() const override { return Type; }
  QRectF boundingRect() const override;
  QPainterPath shape() const override;
  void paint(QPainter* p, const QStyleOptionGraphicsItem*, QWidget*) override;

  const QString& id() const { return id_; }
  void setId(const QString& id);
  QSizeF size() const { return {width_, height_}; }
  // Reads the node, its kind and its analysis from the model again (texts, ports, badge).
  void refresh();
  PortItem* port(PortSide side, const QString& name) const;
  const std::vector<PortItem*>& ports() const { return ports_; }
  BadgeItem* badge() const { return badge_; }
  // The texts shown, for tests and accessibility: {id, type, shape, counts}. A Block node's
  // type reads "Block: <definition> ×<repeat>".
  QStringList texts() const { return {id_, typeText_, shapeText_, infoText_}; }
  bool isBlock() const { return block_; }

  // The fonts of node cards, made once (sizes in points: they follow the screen's scale).
  struct Fonts {
    Fonts(QFont title, QFont small, QFont shape, QFont badge);
    QFont title, small, shape, badge;
    QFontMetricsF titleMetrics, smallMetrics, shapeMetrics;
  };
  static const Fonts& fonts();

 protected:
  QVariant itemChange(GraphicsItemChange change, const QVariant& value) override;
  void hoverEnterEvent(QGraphicsSceneHoverEvent*) override;
  void hoverLeaveEvent(QGraphicsSceneHoverEvent*) override;

 private:
  void rebuildPorts(const ng::LayerDef* def);
  void elideTexts();
  const QPainterPath& headerPath() const;

  NodeGraphScene* scene_;
  QString id_, type_, typeText_, shapeText_, infoText_;
  QString shown_[4];    // id, type, shape, info as drawn (elided to the card's width)
  bool block_ = false;  // a use of a block: drawn as a stack of cards
  int repeat_ = 1;
  ng::LayerCategory category_ = ng::LayerCategory::Structure;
  bool known_ = false, error_ = false, warning_ = false, hover_ = false;
  double width_ = 0, height_ = 0;
  int rows_ = 1;
  std::vector<PortItem*> ports_;
  BadgeItem* badge_ = nullptr;
};

}  // namespace ng::gui
