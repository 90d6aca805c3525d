// Histograms over time as a heatmap: HistogramHistory keeps the histograms of one quantity
// (e.g. a layer's weights) taken at successive steps, in bounded memory (at most `maxColumns`
// columns; when full, every other column is dropped, the first and the newest kept), and
// HistogramHeatmap draws one as a QCPColorMap: x = step, y = value, colour = how many values
// fall there (log scale, each column normalised to its own peak, so the shape of the
// distribution stays readable as it narrows or widens).
//   HistogramHistory w;
//   w.add(step, min, max, counts);          // equal-width bins over [min, max]
//   HistogramHeatmap map;  map.setHistory(&w, "fc1/weight");  map.refresh();
#pragma once

#include <QString>
#include <cstdint>
#include <vector>

#include "qcustomplot.h"

namespace ng::plots {

class HistogramHistory {
 public:
  struct Column {
    double x = 0, lo = 0, hi = 0;
    std::vector<int64_t> counts;
  };
  explicit HistogramHistory(size_t maxColumns = 256) : max_(maxColumns < 4 ? 4 : maxColumns) {}

  void add(double x, double lo, double hi, std::vector<int64_t> counts);
  void clear() { cols_.clear(); }
  const std::vector<Column>& columns() const { return cols_; }
  bool empty() const { return cols_.empty(); }
  // The value range over every column.
  double lo() const;
  double hi() const;
  // Rows x columns of intensities in [0, 1] (log(1 + count), normalised per column), the value
  // range split into `rows` equal rows; bins spread over the rows they overlap.
  std::vector<std::vector<double>> raster(int rows) const;

 private:
  size_t max_;
  std::vector<Column> cols_;
};

class HistogramHeatmap : public QCustomPlot {
  Q_OBJECT
 public:
  explicit HistogramHeatmap(QWidget* parent = nullptr);
  // The history to show (not owned; nullptr: none) and the title above it.
  void setHistory(const HistogramHistory* h, const QString& title);
  // Redraws from the history (call after adding columns); one replot.
  void refresh();
  QCPColorMap* colorMap() const { return map_; }

 private:
  const HistogramHistory* hist_ = nullptr;
  QCPColorMap* map_;
  QCPTextElement* title_;
};

}  // namespace ng::plots
