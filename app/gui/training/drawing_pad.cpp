#include "app/gui/training/drawing_pad.h"

#include <QMouseEvent>
#include <QPainter>
#include <algorithm>
#include <cmath>

#include "widgets/plots/live_plot.h"  // PlotColors

namespace ng::gui {

namespace {
constexpr int kCanvas = 280;  // 10 x the 28-pixel image
}  // namespace

DrawingPad::DrawingPad(QWidget* parent) : QWidget(parent) {
  setMinimumSize(90, 90);
  setCursor(Qt::CrossCursor);
  setToolTip(tr("Draw a digit (left button); the model's answer appears beside it"));
  clear();
}

void DrawingPad::clear() {
  canvas_ = QImage(kCanvas, kCanvas, QImage::Format_Grayscale8);
  canvas_.fill(0);
  small_ = QImage();
  update();
}

QPointF DrawingPad::toCanvas(QPointF p) const {
  const double side = std::min(width(), height());
  const QPointF origin((width() - side) / 2, (height() - side) / 2);
  return (p - origin) * (kCanvas / side);
}

void DrawingPad::drawTo(QPointF c) {
  QPainter g(&canvas_);
  g.setRenderHint(QPainter::Antialiasing);
  g.setPen(QPen(Qt::white, 22, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin));
  if (drawing_)
    g.drawLine(last_, c);
  else
    g.drawPoint(c);
  last_ = c;
  drawing_ = true;
}

void DrawingPad::stroke(const std::vector<QPointF>& unitPoints) {
  drawing_ = false;
  for (const QPointF& u : unitPoints) drawTo(u * kCanvas);
  drawing_ = false;
  changed();
}

void DrawingPad::mousePressEvent(QMouseEvent* e) {
  if (e->button() != Qt::LeftButton) return;
  drawing_ = false;
  drawTo(toCanvas(e->position()));
  update();
}

void DrawingPad::mouseMoveEvent(QMouseEvent* e) {
  if (!(e->buttons() & Qt::LeftButton)) return;
  drawTo(toCanvas(e->position()));
  update();
}

void DrawingPad::mouseReleaseEvent(QMouseEvent* e) {
  if (e->button() != Qt::LeftButton) return;
  drawing_ = false;
  changed();
}

void DrawingPad::resizeEvent(QResizeEvent*) {
  update();
}

std::vector<float> DrawingPad::image() const {
  if (small_.isNull()) return {};
  std::vector<float> px(784);
  for (int y = 0; y < 28; ++y) {
    const uchar* row = small_.constScanLine(y);
    for (int x = 0; x < 28; ++x) px[size_t(y * 28 + x)] = float(row[x]) / 255.0f;
  }
  return px;
}

void DrawingPad::changed() {
  // The ink's bounding box, scaled to fit 20 x 20 (of 28), centred by its centre of mass.
  int x0 = kCanvas, y0 = kCanvas, x1 = -1, y1 = -1;
  for (int y = 0; y < kCanvas; ++y) {
    const uchar* row = canvas_.constScanLine(y);
    for (int x = 0; x < kCanvas; ++x)
      if (row[x] > 0) {
        x0 = std::min(x0, x), x1 = std::max(x1, x);
        y0 = std::min(y0, y), y1 = std::max(y1, y);
      }
  }
  if (x1 < 0) {
    small_ = QImage();
    update();
    emit imageChanged({});
    return;
  }
  QImage ink = canvas_.copy(x0, y0, x1 - x0 + 1, y1 - y0 + 1);
  const double scale = 200.0 / std::max(ink.width(), ink.height());
  QImage fit = ink.scaled(std::max(1, int(std::lround(ink.width() * scale))),
                          std::max(1, int(std::lround(ink.height() * scale))), Qt::KeepAspectRatio,
                          Qt::SmoothTransformation)
                   .convertToFormat(QImage::Format_Grayscale8);
  double mx = 0, my = 0, mass = 0;
  for (int y = 0; y < fit.height(); ++y) {
    const uchar* row = fit.constScanLine(y);
    for (int x = 0; x < fit.width(); ++x) {
      mx += x * double(row[x]);
      my += y * double(row[x]);
      mass += row[x];
    }
  }
  if (mass > 0) mx /= mass, my /= mass;
  QImage placed(kCanvas, kCanvas, QImage::Format_Grayscale8);
  placed.fill(0);
  {
    QPainter g(&placed);
    g.drawImage(QPointF(kCanvas / 2.0 - mx, kCanvas / 2.0 - my), fit);
  }
  small_ = placed.scaled(28, 28, Qt::IgnoreAspectRatio, Qt::SmoothTransformation)
               .convertToFormat(QImage::Format_Grayscale8);
  update();
  emit imageChanged(image());
}

void DrawingPad::paintEvent(QPaintEvent*) {
  QPainter g(this);
  const ng::plots::PlotColors colours = ng::plots::PlotColors::from(palette());
  const QColor kBg = colours.background, kDim = colours.dim;
  g.fillRect(rect(), kBg);
  const double side = std::min(width(), height());
  QRectF r((width() - side) / 2, (height() - side) / 2, side, side);
  g.drawImage(r, canvas_);
  g.setPen(QPen(QColor(0x5a, 0x5f, 0x68), 1));
  g.drawRect(r.adjusted(0, 0, -1, -1));
  if (!small_.isNull()) {  // what the network sees
    QRectF s(r.right() - 58, r.top() + 4, 54, 54);
    g.drawImage(s, small_);
    g.setPen(QPen(QColor(0x42, 0xa5, 0xf5), 1));
    g.drawRect(s);
  } else {
    g.setPen(kDim);
    g.drawText(r, Qt::AlignCenter, tr("draw a digit"));
  }
}

// ---- ProbabilityBars -----------------------------------------------------------------------

ProbabilityBars::ProbabilityBars(QWidget* parent) : QWidget(parent) {
  setMinimumSize(90, 90);
}

void ProbabilityBars::setProbabilities(std::vector<double> p, QStringList names) {
  p_ = std::move(p);
  names_ = std::move(names);
  update();
}

void ProbabilityBars::clear() {
  p_.clear();
  update();
}

void ProbabilityBars::paintEvent(QPaintEvent*) {
  QPainter g(this);
  const ng::plots::PlotColors colours = ng::plots::PlotColors::from(palette());
  const QColor kBg = colours.background, kDim = colours.dim;
  g.fillRect(rect(), kBg);
  QFont f = font();
  f.setPointSizeF(f.pointSizeF() * 0.85);
  g.setFont(f);
  if (p_.empty()) {
    g.setPen(kDim);
    g.drawText(rect().adjusted(6, 6, -6, -6), Qt::AlignCenter | Qt::TextWordWrap,
               tr("The model's answer appears here."));
    return;
  }
  const int n = int(p_.size());
  const int best = int(std::max_element(p_.begin(), p_.end()) - p_.begin());
  const double rowH = double(height() - 8) / n;
  const int label = 28, pctW = g.fontMetrics().horizontalAdvance("100%") + 4;
  for (int i = 0; i < n; ++i) {
    QRectF row(4, 4 + i * rowH, width() - 8, rowH);
    g.setPen(i == best ? colours.text : kDim);
    g.drawText(QRectF(row.left(), row.top(), label, row.height()), Qt::AlignCenter,
               i < names_.size() ? names_[i] : QString::number(i));
    const double w = (row.width() - label - pctW) * std::clamp(p_[size_t(i)], 0.0, 1.0);
    g.fillRect(QRectF(row.left() + label, row.top() + rowH * 0.2, w, rowH * 0.6),
               i == best ? QColor(0x42, 0xa5, 0xf5) : QColor(0x5a, 0x5f, 0x68));
    g.setPen(kDim);
    g.drawText(QRectF(row.right() - pctW, row.top(), pctW, row.height()),
               Qt::AlignRight | Qt::AlignVCenter,
               QString::number(100.0 * p_[size_t(i)], 'f', 0) + "%");
  }
}

}  // namespace ng::gui
