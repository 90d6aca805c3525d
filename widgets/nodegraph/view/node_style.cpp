#include "widgets/nodegraph/view/node_style.h"

#include <QPainter>
#include <QPainterPath>
#include <QPixmap>
#include <cmath>

namespace ng::gui::style {

QColor categoryColor(ng::LayerCategory c) {
  switch (c) {
    case ng::LayerCategory::Input:
      return QColor(0x43, 0xa0, 0x47);
    case ng::LayerCategory::Linear:
      return QColor(0x1e, 0x88, 0xe5);
    case ng::LayerCategory::Convolution:
      return QColor(0x7e, 0x57, 0xc2);
    case ng::LayerCategory::Pooling:
      return QColor(0x00, 0x89, 0x7b);
    case ng::LayerCategory::Normalization:
      return QColor(0xef, 0x8f, 0x00);
    case ng::LayerCategory::Activation:
      return QColor(0xd8, 0x1b, 0x60);
    case ng::LayerCategory::Structure:
      return QColor(0x60, 0x7d, 0x8b);
    case ng::LayerCategory::Loss:
      return QColor(0xc6, 0x28, 0x28);
  }
  return Qt::gray;
}

QString categoryLabel(ng::LayerCategory c) {
  return QString::fromUtf8(ng::category_name(c));
}

QIcon categoryIcon(ng::LayerCategory c) {
  QIcon icon;
  for (int size : {16, 24, 32, 48}) {
    QPixmap pm(size, size);
    pm.fill(Qt::transparent);
    QPainter p(&pm);
    p.setRenderHint(QPainter::Antialiasing);
    p.scale(size / 32.0, size / 32.0);
    p.setPen(Qt::NoPen);
    p.setBrush(categoryColor(c));
    p.drawRoundedRect(QRectF(1, 1, 30, 30), 7, 7);
    QPen pen(Qt::white, 2.2, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin);
    p.setPen(pen);
    p.setBrush(Qt::NoBrush);
    switch (c) {
      case ng::LayerCategory::Input:  // an arrow entering a box
        p.drawRect(QRectF(15, 8, 10, 16));
        p.drawLine(QPointF(6, 16), QPointF(19, 16));
        p.drawPolyline(QPolygonF({QPointF(15, 12), QPointF(19, 16), QPointF(15, 20)}));
        break;
      case ng::LayerCategory::Linear:  // every input joined to every output
        for (double a : {9.0, 16.0, 23.0})
          for (double b : {11.0, 21.0}) p.drawLine(QPointF(9, a), QPointF(23, b));
        p.setBrush(Qt::white);
        for (double a : {9.0, 16.0, 23.0}) p.drawEllipse(QPointF(9, a), 1.6, 1.6);
        for (double b : {11.0, 21.0}) p.drawEllipse(QPointF(23, b), 1.6, 1.6);
        break;
      case ng::LayerCategory::Convolution:  // a 3x3 kernel over an image
        p.setPen(QPen(Qt::white, 1.2));
        for (int i = 0; i < 4; ++i) {
          p.drawLine(QPointF(7 + 6 * i, 7), QPointF(7 + 6 * i, 25));
          p.drawLine(QPointF(7, 7 + 6 * i), QPointF(25, 7 + 6 * i));
        }
        p.setBrush(QColor(255, 255, 255, 150));
        p.drawRect(QRectF(7, 7, 12, 12));
        break;
      case ng::LayerCategory::Pooling:  // four cells into one
        p.setPen(QPen(Qt::white, 1.4));
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) p.drawRect(QRectF(5 + 6 * i, 10 + 6 * j, 6, 6));
        p.drawLine(QPointF(18, 16), QPointF(21, 16));
        p.setBrush(Qt::white);
        p.drawRect(QRectF(22, 13, 6, 6));
        break;
      case ng::LayerCategory::Normalization: {  // a bell curve
        QPainterPath path;
        path.moveTo(5, 24);
        for (double x = 5; x <= 27; x += 0.5) {
          double t = (x - 16) / 4.5;
          path.lineTo(x, 24 - 15 * std::exp(-t * t / 2));
        }
        p.drawPath(path);
        break;
      }
      case ng::LayerCategory::Activation:  // ReLU's hinge
        p.drawPolyline(QPolygonF({QPointF(6, 22), QPointF(16, 22), QPointF(26, 8)}));
        break;
      case ng::LayerCategory::Structure:  // a fork
        p.drawLine(QPointF(6, 16), QPointF(14, 16));
        p.drawLine(QPointF(14, 16), QPointF(25, 9));
        p.drawLine(QPointF(14, 16), QPointF(25, 23));
        break;
      case ng::LayerCategory::Loss:  // a target
        p.drawEllipse(QPointF(16, 16), 9, 9);
        p.drawEllipse(QPointF(16, 16), 4.5, 4.5);
        p.setBrush(Qt::white);
        p.drawEllipse(QPointF(16, 16), 1.2, 1.2);
        break;
    }
    p.end();
    icon.addPixmap(pm);
  }
  return icon;
}

namespace {
Theme g_theme = Theme::Dark;
bool dark() {
  return g_theme == Theme::Dark;
}
}  // namespace

void setTheme(Theme t) {
  g_theme = t;
}
Theme theme() {
  return g_theme;
}
const char* themeName(Theme t) {
  return t == Theme::Dark ? "dark" : "light";
}

QColor canvasColor() {
  return dark() ? QColor(0x26, 0x28, 0x2d) : QColor(0xf4, 0xf5, 0xf7);
}
QColor gridColor() {
  return dark() ? QColor(0x3a, 0x3d, 0x44) : QColor(0xd5, 0xd8, 0xde);
}
QColor nodeBodyColor() {
  return dark() ? QColor(0x36, 0x39, 0x40) : QColor(0xff, 0xff, 0xff);
}
QColor nodeTextColor() {
  return dark() ? QColor(0xec, 0xee, 0xf1) : QColor(0x1f, 0x23, 0x29);
}
QColor nodeDimTextColor() {
  return dark() ? QColor(0xa6, 0xab, 0xb5) : QColor(0x5f, 0x66, 0x70);
}
QColor wireColor() {
  return dark() ? QColor(0x9a, 0xa3, 0xb0) : QColor(0x6b, 0x74, 0x80);
}
QColor selectionColor() {
  return dark() ? QColor(0xff, 0xc8, 0x3d) : QColor(0xe6, 0x8a, 0x00);
}
QColor errorColor() {
  return QColor(0xf4, 0x43, 0x36);
}
QColor warningColor() {
  return dark() ? QColor(0xff, 0xa0, 0x00) : QColor(0xef, 0x8f, 0x00);
}
QColor okColor() {
  return QColor(0x66, 0xbb, 0x6a);
}
QColor blockColor() {
  return QColor(0x39, 0x49, 0xab);
}
QColor shadowColor() {
  return dark() ? QColor(0, 0, 0, 60) : QColor(0, 0, 0, 30);
}
QColor outlineColor() {
  return dark() ? QColor(0, 0, 0, 90) : QColor(0, 0, 0, 55);
}
QColor frameColor() {
  return dark() ? QColor(0x5c, 0x6b, 0x8a) : QColor(0x8a, 0x9b, 0xc0);
}

}  // namespace ng::gui::style
