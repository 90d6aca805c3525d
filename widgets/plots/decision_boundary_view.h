// DecisionBoundaryView: what a classifier of 2-D points decides everywhere around its data: a
// grid of cells coloured by the predicted class (fainter where the model is less sure), with
// the samples drawn over it in their true class's colour.
//   DecisionBoundaryView v;
//   v.setRegions(120, 120, {x0, x1}, {y0, y1}, cls, conf, classes);   // row-major from (x0, y0)
//   v.setSamples(xs, ys, labels);
#pragma once

#include <QColor>
#include <vector>

#include "qcustomplot.h"

namespace ng::plots {

class DecisionBoundaryView : public QCustomPlot {
  Q_OBJECT
 public:
  explicit DecisionBoundaryView(QWidget* parent = nullptr);
  void setRegions(int nx, int ny, QCPRange xr, QCPRange yr, const std::vector<int>& cls,
                  const std::vector<float>& conf, int classes);
  void setSamples(const std::vector<double>& x, const std::vector<double>& y,
                  const std::vector<int>& label);
  void setCaption(const QString& text);
  void clearAll();
  // The region image as drawn (for tests).
  const QImage& regions() const { return image_; }
  static QColor classColor(int c);

 private:
  QCPItemPixmap* pixmap_;
  QCPTextElement* caption_;
  std::vector<QCPGraph*> classes_;
  QImage image_;
};

}  // namespace ng::plots
