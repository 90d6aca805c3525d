#include "widgets/plots/tile_grid.h"

#include <QHelpEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>
#include <cmath>

namespace ng::plots {

namespace {

// Blue (-1) .. white (0) .. red (+1).
QRgb diverging(float t) {
  t = std::clamp(t, -1.0f, 1.0f);
  const QColor neg(33, 102, 172), pos(178, 24, 43), mid(247, 247, 247);
  const QColor& end = t < 0 ? neg : pos;
  const float a = std::abs(t);
  return qRgb(int(mid.red() + (end.red() - mid.red()) * a),
              int(mid.green() + (end.green() - mid.green()) * a),
              int(mid.blue() + (end.blue() - mid.blue()) * a));
}

}  // namespace

TileGrid::TileGrid(QWidget* parent) : QWidget(parent) {
  setMouseTracking(false);
  empty_ = tr("Nothing to show yet.");
}

void TileGrid::setEmptyText(const QString& text) {
  empty_ = text;
  update();
}

void TileGrid::clear() {
  tiles_.clear();
  images_.clear();
  caption_.clear();
  maxAbs_ = 0;
  update();
}

void TileGrid::setTiles(std::vector<Tile> tiles, Scale scale, const QString& caption, int columns) {
  tiles_ = std::move(tiles);
  scale_ = scale;
  caption_ = caption;
  fixedCols_ = columns;
  maxAbs_ = 0;
  for (const Tile& t : tiles_)
    for (float v : t.values)
      if (std::isfinite(v)) maxAbs_ = std::max(maxAbs_, std::abs(v));
  images_.clear();
  images_.reserve(tiles_.size());
  const QRgb blank = palette().color(QPalette::Window).rgb();
  for (const Tile& t : tiles_) {
    QImage img(std::max(1, t.w), std::max(1, t.h), QImage::Format_RGB32);
    img.fill(blank);
    const size_t plane = size_t(t.w) * size_t(t.h);
    if (t.w > 0 && t.h > 0 && t.values.size() >= plane * (t.rgb ? 3 : 1)) {
      float lo = INFINITY, hi = -INFINITY;
      for (float v : t.values)
        if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
      const float span = hi > lo ? hi - lo : 1.0f;
      for (int y = 0; y < t.h; ++y)
        for (int x = 0; x < t.w; ++x) {
          const size_t k = size_t(y) * size_t(t.w) + size_t(x);
          if (t.rgb) {
            int c[3];
            for (int ch = 0; ch < 3; ++ch) {
              const float v = t.values[ch * plane + k];
              c[ch] = std::isfinite(v) ? int(255.0f * (v - lo) / span) : 0;
            }
            img.setPixel(x, y, qRgb(c[0], c[1], c[2]));
            continue;
          }
          const float v = t.values[k];
          if (!std::isfinite(v)) continue;
          if (scale_ == Scale::SharedSymmetric) {
            img.setPixel(x, y, diverging(maxAbs_ > 0 ? v / maxAbs_ : 0.0f));
          } else {
            const int g = hi > lo ? int(255.0f * (v - lo) / span) : 128;
            img.setPixel(x, y, qRgb(g, g, g));
          }
        }
    }
    images_.push_back(img);
  }
  layoutTiles();
  update();
}

int TileGrid::captionLines() const {
  int lines = 0;
  for (const Tile& t : tiles_) lines = std::max(lines, int(t.caption.count('\n')) + 1);
  for (const Tile& t : tiles_)
    if (!t.caption.isEmpty()) return lines;
  return 0;
}

QFont TileGrid::captionFont() const {
  QFont f = font();
  f.setPointSizeF(f.pointSizeF() * 0.9);
  return f;
}

int TileGrid::headerHeight() const {
  if (caption_.isEmpty()) return 4;
  const QFontMetrics fm(font());
  const QRect r = fm.boundingRect(QRect(0, 0, std::max(1, width() - 8), 1000),
                                  Qt::AlignLeft | Qt::TextWordWrap, caption_);
  return r.height() + 8;
}

void TileGrid::layoutTiles() {
  const int n = int(tiles_.size());
  if (n == 0) return;
  const QFontMetrics fm(captionFont());
  const int top = headerHeight();
  captionH_ = captionLines() * fm.height();
  // A column is at least as wide as the widest caption line, so that captions never touch.
  int captionW = 0;
  for (const Tile& t : tiles_)
    for (const QString& line : t.caption.split('\n'))
      captionW = std::max(captionW, fm.horizontalAdvance(line) + 2);
  const int W = std::max(1, width() - 8), H = std::max(1, height() - top - 4);
  // The tiles' aspect: the widest of them decides (most grids hold one size).
  aspect_ = 1.0;
  for (const Tile& t : tiles_)
    if (t.w > 0 && t.h > 0) aspect_ = std::max(aspect_, double(t.w) / double(t.h));
  // Tiles without an image (their text instead, e.g. a 2-D point's coordinates) keep one size:
  // a box as wide as the widest text, two lines high.
  bool textOnly = true;
  int textW = 0;
  for (const Tile& t : tiles_) {
    textOnly = textOnly && (t.w <= 0 || t.h <= 0);
    textW = std::max(textW, fm.horizontalAdvance(t.text) + 12);
  }
  if (textOnly) {
    cell_ = 2 * fm.height();
    aspect_ = std::max(1.0, double(textW) / cell_);
    colW_ = std::max(int(cell_ * aspect_), captionW);
    cols_ = std::max(1, std::min(n, (W + gap_) / (colW_ + gap_)));
    origin_ = QPoint(std::max(4, (width() - (cols_ * colW_ + (cols_ - 1) * gap_)) / 2), top);
    return;
  }
  int bestCols = 1, bestCell = -1, bestColW = 1;
  for (int c = 1; c <= n; ++c) {
    if (fixedCols_ > 0 && c != std::min(fixedCols_, n)) continue;
    const int rows = (n + c - 1) / c;
    const int colW = (W - gap_ * (c - 1)) / c;
    if (colW < captionW && c > 1 && fixedCols_ == 0) break;  // more columns only get narrower
    const int byW = int(colW / aspect_);
    const int byH = (H - rows * (gap_ + captionH_)) / rows;
    const int cell = std::min(byW, byH);
    if (cell > bestCell) bestCell = cell, bestCols = c, bestColW = colW;
  }
  cols_ = bestCols;
  cell_ = std::max(bestCell, 4);
  colW_ = std::max(int(cell_ * aspect_), std::min(bestColW, captionW));
  const int rows = (n + cols_ - 1) / cols_;
  const int gridW = cols_ * colW_ + (cols_ - 1) * gap_;
  const int gridH = rows * (cell_ + captionH_ + gap_);
  origin_ = QPoint(std::max(4, (width() - gridW) / 2), top + std::max(0, (H - gridH) / 2));
}

QRect TileGrid::tileRect(int i) const {
  if (i < 0 || i >= int(tiles_.size())) return {};
  const int cellW = int(cell_ * aspect_);
  const int r = i / cols_, c = i % cols_;
  return QRect(origin_.x() + c * (colW_ + gap_) + (colW_ - cellW) / 2,
               origin_.y() + r * (cell_ + captionH_ + gap_), cellW, cell_);
}

int TileGrid::tileAt(QPoint p) const {
  for (int i = 0; i < int(tiles_.size()); ++i) {
    QRect r = tileRect(i);
    r.setHeight(r.height() + captionH_);
    if (r.contains(p)) return i;
  }
  return -1;
}

void TileGrid::resizeEvent(QResizeEvent* e) {
  QWidget::resizeEvent(e);
  layoutTiles();
}

void TileGrid::paintEvent(QPaintEvent*) {
  QPainter p(this);
  const QPalette& pal = palette();
  if (tiles_.empty()) {
    p.setPen(pal.color(QPalette::PlaceholderText));
    p.drawText(rect().adjusted(12, 12, -12, -12), Qt::AlignCenter | Qt::TextWordWrap, empty_);
    return;
  }
  if (!caption_.isEmpty()) {
    p.setPen(pal.color(QPalette::WindowText));
    p.drawText(QRect(4, 4, width() - 8, headerHeight()), Qt::AlignLeft | Qt::TextWordWrap,
               caption_);
  }
  p.setFont(captionFont());
  for (int i = 0; i < int(tiles_.size()); ++i) {
    const QRect r = tileRect(i);
    // Keep the tile's own aspect inside its cell.
    const Tile& t = tiles_[size_t(i)];
    QRect img = r;
    if (t.w > 0 && t.h > 0) {
      QSize s = QSize(t.w, t.h).scaled(r.size(), Qt::KeepAspectRatio);
      img = QRect(r.x() + (r.width() - s.width()) / 2, r.y() + (r.height() - s.height()) / 2,
                  s.width(), s.height());
    }
    if (t.w > 0 && t.h > 0) {
      p.drawImage(img, images_[size_t(i)]);
    } else {  // a text tile
      p.fillRect(img, pal.color(QPalette::Base));
      p.setPen(pal.color(QPalette::Text));
      p.drawText(img, Qt::AlignCenter, t.text);
    }
    if (t.frame.isValid()) {
      p.setPen(QPen(t.frame, 2));
      p.drawRect(img.adjusted(-1, -1, 0, 0));
    }
    if (!t.caption.isEmpty() && captionH_ > 0) {
      p.setPen(pal.color(QPalette::WindowText));
      const int x = r.center().x() - colW_ / 2;
      p.drawText(QRect(x, r.bottom() + 1, colW_, captionH_), Qt::AlignHCenter | Qt::AlignTop,
                 t.caption);
    }
  }
}

void TileGrid::mousePressEvent(QMouseEvent* e) {
  const int i = tileAt(e->position().toPoint());
  if (i >= 0 && e->button() == Qt::LeftButton) emit tileClicked(i);
  QWidget::mousePressEvent(e);
}

bool TileGrid::event(QEvent* e) {
  if (e->type() == QEvent::ToolTip) {
    auto* h = static_cast<QHelpEvent*>(e);
    const int i = tileAt(h->pos());
    if (i >= 0 && !tiles_[size_t(i)].tip.isEmpty())
      QToolTip::showText(h->globalPos(), tiles_[size_t(i)].tip, this);
    else
      QToolTip::hideText();
    return true;
  }
  return QWidget::event(e);
}

}  // namespace ng::plots
