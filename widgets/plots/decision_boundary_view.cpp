#include "widgets/plots/decision_boundary_view.h"

#include "widgets/plots/live_plot.h"  // styleDark*

namespace ng::plots {

QColor DecisionBoundaryView::classColor(int c) {
  static const QColor palette[] = {QColor(0x42, 0xa5, 0xf5), QColor(0xff, 0xa7, 0x26),
                                   QColor(0x66, 0xbb, 0x6a), QColor(0xef, 0x53, 0x50),
                                   QColor(0xab, 0x47, 0xbc), QColor(0x26, 0xc6, 0xda),
                                   QColor(0xff, 0xee, 0x58), QColor(0x8d, 0x6e, 0x63),
                                   QColor(0xec, 0x40, 0x7a), QColor(0xbd, 0xbd, 0xbd)};
  return palette[((c % 10) + 10) % 10];
}

DecisionBoundaryView::DecisionBoundaryView(QWidget* parent) : QCustomPlot(parent) {
  styleDarkPlot(this);
  for (QCPAxis* a : axisRect()->axes()) styleDarkAxis(a);
  xAxis->setLabel("x₁");
  yAxis->setLabel("x₂");
  plotLayout()->insertRow(0);
  caption_ = new QCPTextElement(this, QString(), QFont(font().family(), 9, QFont::Bold));
  caption_->setTextColor(QColor(0xc8, 0xcc, 0xd2));
  plotLayout()->addElement(0, 0, caption_);
  pixmap_ = new QCPItemPixmap(this);
  pixmap_->setScaled(true, Qt::IgnoreAspectRatio, Qt::FastTransformation);
  pixmap_->setLayer("background");
  pixmap_->topLeft->setType(QCPItemPosition::ptPlotCoords);
  pixmap_->bottomRight->setType(QCPItemPosition::ptPlotCoords);
  setMinimumSize(220, 200);
}

void DecisionBoundaryView::setCaption(const QString& text) {
  caption_->setText(text);
}

void DecisionBoundaryView::setRegions(int nx, int ny, QCPRange xr, QCPRange yr,
                                      const std::vector<int>& cls, const std::vector<float>& conf,
                                      int classes) {
  if (nx <= 0 || ny <= 0 || cls.size() < size_t(nx * ny)) return;
  const QColor bg(0x24, 0x26, 0x2b);
  image_ = QImage(nx, ny, QImage::Format_RGB32);
  const double chance = classes > 0 ? 1.0 / classes : 0.0;
  for (int j = 0; j < ny; ++j)
    for (int i = 0; i < nx; ++i) {
      const size_t k = size_t(j * nx + i);
      QColor c = classColor(cls[k]);
      // Sure cells are strong, cells near chance fade into the background.
      double t = conf.size() > k ? (double(conf[k]) - chance) / (1.0 - chance) : 1.0;
      t = 0.18 + 0.5 * std::clamp(t, 0.0, 1.0);
      image_.setPixel(i, ny - 1 - j,  // image rows go down, y goes up
                      qRgb(int(bg.red() + (c.red() - bg.red()) * t),
                           int(bg.green() + (c.green() - bg.green()) * t),
                           int(bg.blue() + (c.blue() - bg.blue()) * t)));
    }
  pixmap_->setPixmap(QPixmap::fromImage(image_));
  pixmap_->topLeft->setCoords(xr.lower, yr.upper);
  pixmap_->bottomRight->setCoords(xr.upper, yr.lower);
  xAxis->setRange(xr);
  yAxis->setRange(yr);
  replot(rpQueuedReplot);
}

void DecisionBoundaryView::setSamples(const std::vector<double>& x, const std::vector<double>& y,
                                      const std::vector<int>& label) {
  int classes = 0;
  for (int l : label) classes = std::max(classes, l + 1);
  while (int(classes_.size()) < classes) {
    QCPGraph* g = addGraph();
    QColor c = classColor(int(classes_.size()));
    g->setLineStyle(QCPGraph::lsNone);
    g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle,
                                       QPen(QColor(0x10, 0x10, 0x10), 0.8), QBrush(c), 5));
    classes_.push_back(g);
  }
  std::vector<QVector<double>> xs(classes_.size()), ys(classes_.size());
  for (size_t i = 0; i < x.size() && i < label.size(); ++i) {
    if (label[i] < 0) continue;
    xs[size_t(label[i])].append(x[i]);
    ys[size_t(label[i])].append(y[i]);
  }
  for (size_t c = 0; c < classes_.size(); ++c) classes_[c]->setData(xs[c], ys[c]);
  replot(rpQueuedReplot);
}

void DecisionBoundaryView::clearAll() {
  for (QCPGraph* g : classes_) g->data()->clear();
  pixmap_->setPixmap(QPixmap());
  image_ = QImage();
  caption_->setText(QString());
  replot(rpQueuedReplot);
}

}  // namespace ng::plots
