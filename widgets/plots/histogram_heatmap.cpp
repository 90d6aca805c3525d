#include "widgets/plots/histogram_heatmap.h"

#include <algorithm>
#include <cmath>

#include "widgets/plots/live_plot.h"  // styleDarkAxis

namespace ng::plots {

void HistogramHistory::add(double x, double lo, double hi, std::vector<int64_t> counts) {
  if (counts.empty() || !std::isfinite(lo) || !std::isfinite(hi)) return;
  if (cols_.size() >= max_) {
    // Drop every other column (keep the first); the newest is added below.
    std::vector<Column> kept;
    kept.reserve(max_ / 2 + 1);
    for (size_t i = 0; i < cols_.size(); i += 2) kept.push_back(std::move(cols_[i]));
    cols_ = std::move(kept);
  }
  cols_.push_back({x, lo, hi, std::move(counts)});
}

double HistogramHistory::lo() const {
  double v = 0;
  for (size_t i = 0; i < cols_.size(); ++i) v = i ? std::min(v, cols_[i].lo) : cols_[i].lo;
  return v;
}

double HistogramHistory::hi() const {
  double v = 0;
  for (size_t i = 0; i < cols_.size(); ++i) v = i ? std::max(v, cols_[i].hi) : cols_[i].hi;
  return v;
}

std::vector<std::vector<double>> HistogramHistory::raster(int rows) const {
  std::vector<std::vector<double>> out(cols_.size(), std::vector<double>(size_t(rows), 0.0));
  const double L = lo(), H = hi();
  const double span = H > L ? H - L : 1.0;
  for (size_t c = 0; c < cols_.size(); ++c) {
    const Column& col = cols_[c];
    std::vector<double>& r = out[c];
    const size_t bins = col.counts.size();
    const double w = (col.hi - col.lo) / double(bins);
    for (size_t b = 0; b < bins; ++b) {
      const double n = double(col.counts[b]);
      if (n <= 0) continue;
      // The bin's interval in row units; a bin of zero width (constant tensor) is one point.
      double a = (col.lo + w * double(b) - L) / span * rows;
      double z = (col.lo + w * double(b + 1) - L) / span * rows;
      if (z - a < 1e-9) {
        int row = std::clamp(int(a), 0, rows - 1);
        r[size_t(row)] += n;
        continue;
      }
      for (int row = std::max(0, int(std::floor(a))); row < std::min(rows, int(std::ceil(z)));
           ++row) {
        double overlap = std::min(z, double(row + 1)) - std::max(a, double(row));
        if (overlap > 0) r[size_t(row)] += n * overlap / (z - a);
      }
    }
    double peak = 0;
    for (double& v : r) {
      v = std::log1p(v);
      peak = std::max(peak, v);
    }
    if (peak > 0)
      for (double& v : r) v /= peak;
  }
  return out;
}

HistogramHeatmap::HistogramHeatmap(QWidget* parent) : QCustomPlot(parent) {
  styleDarkPlot(this);
  for (QCPAxis* a : axisRect()->axes()) styleDarkAxis(a);
  xAxis->setLabel(tr("step"));
  yAxis->setLabel(tr("value"));
  QFont small = font();
  small.setPointSizeF(small.pointSizeF() * 0.85);
  for (QCPAxis* a : axisRect()->axes()) {
    a->setTickLabelFont(small);
    a->setLabelFont(small);
  }
  plotLayout()->insertRow(0);
  QFont f = font();
  f.setBold(true);
  f.setPointSizeF(f.pointSizeF() * 0.95);
  title_ = new QCPTextElement(this, QString(), f);
  title_->setTextColor(QColor(0xc8, 0xcc, 0xd2));
  plotLayout()->addElement(0, 0, title_);
  map_ = new QCPColorMap(xAxis, yAxis);
  map_->setGradient(QCPColorGradient::gpThermal);
  map_->setInterpolate(false);
  map_->setDataRange(QCPRange(0, 1));
  map_->setVisible(false);
  setMinimumSize(200, 90);
}

void HistogramHeatmap::setHistory(const HistogramHistory* h, const QString& title) {
  hist_ = h;
  title_->setText(title);
  refresh();
}

void HistogramHeatmap::refresh() {
  constexpr int kRows = 64;
  if (!hist_ || hist_->empty()) {
    map_->setVisible(false);
    replot(rpQueuedReplot);
    return;
  }
  map_->setVisible(true);
  const auto& cols = hist_->columns();
  std::vector<std::vector<double>> r = hist_->raster(kRows);
  double x0 = cols.front().x, x1 = cols.back().x;
  if (x1 <= x0) x1 = x0 + 1;
  double lo = hist_->lo(), hi = hist_->hi();
  if (hi <= lo) hi = lo + 1e-6;
  const int nx = int(cols.size());
  map_->data()->setSize(nx, kRows);
  map_->data()->setRange(QCPRange(x0, x1), QCPRange(lo, hi));
  for (int i = 0; i < nx; ++i)
    for (int j = 0; j < kRows; ++j) map_->data()->setCell(i, j, r[size_t(i)][size_t(j)]);
  map_->setDataRange(QCPRange(0, 1));
  rescaleAxes();
  replot(rpQueuedReplot);
}

}  // namespace ng::plots
