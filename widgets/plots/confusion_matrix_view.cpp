#include "widgets/plots/confusion_matrix_view.h"

#include <QPainter>
#include <cmath>
#include <limits>

namespace ng::plots {

namespace {
const QColor kBg(0x24, 0x26, 0x2b), kText(0xc8, 0xcc, 0xd2), kDim(0x8a, 0x8f, 0x98);
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

QString pct(double v) {
  return std::isfinite(v) ? QString::number(100.0 * v, 'f', 0) + "%" : QString("–");
}
}  // namespace

ConfusionMatrixView::ConfusionMatrixView(QWidget* parent) : QWidget(parent) {
  setMinimumSize(220, 200);
}

void ConfusionMatrixView::setMatrix(int classes, std::vector<int64_t> counts, QStringList names,
                                    const QString& caption) {
  n_ = classes;
  counts_ = std::move(counts);
  counts_.resize(size_t(n_ * n_), 0);
  names_ = std::move(names);
  while (names_.size() < n_) names_ << QString::number(names_.size());
  caption_ = caption;
  update();
}

void ConfusionMatrixView::clear() {
  n_ = 0;
  counts_.clear();
  update();
}

double ConfusionMatrixView::precision(int c) const {
  int64_t col = 0;
  for (int t = 0; t < n_; ++t) col += count(t, c);
  return col ? double(count(c, c)) / double(col) : kNaN;
}

double ConfusionMatrixView::recall(int c) const {
  int64_t row = 0;
  for (int p = 0; p < n_; ++p) row += count(c, p);
  return row ? double(count(c, c)) / double(row) : kNaN;
}

double ConfusionMatrixView::accuracy() const {
  int64_t all = 0, right = 0;
  for (int t = 0; t < n_; ++t)
    for (int p = 0; p < n_; ++p) {
      all += count(t, p);
      if (t == p) right += count(t, p);
    }
  return all ? double(right) / double(all) : kNaN;
}

void ConfusionMatrixView::paintEvent(QPaintEvent*) {
  QPainter g(this);
  g.fillRect(rect(), kBg);
  g.setRenderHint(QPainter::Antialiasing);
  QFont f = font();
  f.setPointSizeF(f.pointSizeF() * 0.85);
  g.setFont(f);
  if (n_ == 0) {
    g.setPen(kDim);
    g.drawText(rect().adjusted(12, 12, -12, -12), Qt::AlignCenter | Qt::TextWordWrap,
               tr("The confusion matrix of the validation set appears here while a "
                  "classification model trains."));
    return;
  }
  const int top = 38, left = 64, right = 52, bottom = 40;
  const double cell = std::max(
      4.0, std::min(double(width() - left - right) / n_, double(height() - top - bottom) / n_));
  QFont bold = f;
  bold.setBold(true);
  g.setFont(bold);
  g.setPen(kText);
  g.drawText(QRect(6, 2, width() - 12, 18), Qt::AlignLeft | Qt::AlignVCenter,
             tr("Accuracy %1 · %2").arg(pct(accuracy()), caption_));
  g.setFont(f);
  g.setPen(kDim);
  g.drawText(QRect(left, 20, int(cell * n_), 16), Qt::AlignCenter, tr("predicted →"));
  const bool labels = cell >= 14;
  for (int t = 0; t < n_; ++t) {
    int64_t row = 0;
    for (int p = 0; p < n_; ++p) row += count(t, p);
    for (int p = 0; p < n_; ++p) {
      const double share = row ? double(count(t, p)) / double(row) : 0.0;
      QColor c = t == p ? QColor(0x42, 0xa5, 0xf5) : QColor(0xef, 0x53, 0x50);
      QColor fill = QColor::fromRgbF(float(kBg.redF() + (c.redF() - kBg.redF()) * share),
                                     float(kBg.greenF() + (c.greenF() - kBg.greenF()) * share),
                                     float(kBg.blueF() + (c.blueF() - kBg.blueF()) * share));
      QRectF r(left + p * cell, top + t * cell, cell - 1, cell - 1);
      g.fillRect(r, fill);
      if (cell >= 22 && count(t, p)) {
        g.setPen(share > 0.5 ? Qt::white : kText);
        g.drawText(r, Qt::AlignCenter, QString::number(count(t, p)));
      }
    }
    if (labels) {
      g.setPen(kText);
      g.drawText(QRectF(2, top + t * cell, left - 6, cell), Qt::AlignRight | Qt::AlignVCenter,
                 g.fontMetrics().elidedText(names_[t], Qt::ElideRight, left - 8));
      g.setPen(kDim);
      g.drawText(QRectF(left + n_ * cell + 4, top + t * cell, right - 4, cell),
                 Qt::AlignLeft | Qt::AlignVCenter, pct(recall(t)));
    }
  }
  for (int p = 0; p < n_ && labels; ++p) {
    g.setPen(kDim);
    g.drawText(QRectF(left + p * cell, top + n_ * cell + 2, cell, 16), Qt::AlignCenter,
               pct(precision(p)));
  }
  g.setPen(kDim);
  g.drawText(QRectF(left + n_ * cell + 4, top - 16, right, 14), Qt::AlignLeft, tr("recall"));
  g.drawText(QRectF(2, top + n_ * cell + 2, left - 6, 16), Qt::AlignRight, tr("precision"));
}

}  // namespace ng::plots
