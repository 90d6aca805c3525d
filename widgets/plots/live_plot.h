// LivePlot: a grid of plot panels (one QCustomPlot) for values that keep arriving, e.g. the
// loss and accuracy of a training run. Curves store their points in bounded MetricSeries
// (widgets/plots/metric_series.h) and draw min/max-decimated copies, one point pair per pixel
// column, re-decimated whenever the view or the data changes; so a curve of a million points
// costs about a megabyte and replots in milliseconds. append() only stores; refresh(), called
// from a timer, redraws everything that changed with ONE replot.
//
// The x axes of all panels are linked. They follow the data until the user drags or zooms
// (wheel) an axis; a double-click returns to following. The value axes fit the visible data.
//
//   LivePlot plot;
//   int loss = plot.addPanel("Loss", 0, 0);
//   plot.addCurve("train_loss", loss, "training", QColor("#42a5f5"));
//   plot.addCurve("val_loss", loss, "validation", QColor("#ffa726"), LivePlot::LineAndDots);
//   plot.append("train_loss", step, value);      // many times
//   plot.refresh();                                // on a ~30 Hz timer
//   plot.setXScale(1.0 / steps_per_epoch, "epoch"); // show x in epochs instead of steps
//   plot.exportCsv("metrics.csv");
#pragma once

#include <QColor>
#include <QHash>
#include <QString>
#include <QStringList>
#include <memory>
#include <vector>

#include "qcustomplot.h"
#include "widgets/plots/metric_series.h"

namespace ng::plots {

class LivePlot : public QCustomPlot {
  Q_OBJECT
 public:
  enum CurveStyle { Line, LineAndDots };
  enum class Side { Left, Right };

  explicit LivePlot(QWidget* parent = nullptr);
  ~LivePlot() override;

  // A panel at (row, col) of the grid, with a title, a legend and axis labels. Returns its index.
  int addPanel(const QString& title, int row, int col, const QString& yLabel = {});
  // A curve in a panel, named by `key` (unique). Side::Right puts it on the panel's right
  // value axis (labelled `rightLabel` of addCurve's first right-side curve).
  void addCurve(const QString& key, int panel, const QString& label, const QColor& color,
                CurveStyle style = Line, Side side = Side::Left, const QString& rightLabel = {});
  // A dashed curve (e.g. another run's, for comparison).
  void setCurveDashed(const QString& key);
  void removeCurve(const QString& key);
  bool hasCurve(const QString& key) const { return index_.contains(key); }
  QStringList curveKeys() const;

  // Stores a point (x non-decreasing per curve; non-finite values are skipped). Cheap: the
  // plot changes at the next refresh().
  void append(const QString& key, double x, double y);
  // Forgets every point (a new run), except those of curves whose key starts with
  // `keepPrefix` (when given); the view follows the data again.
  void clearData(const QString& keepPrefix = QString());

  // Redecimates what changed and replots once. Returns true when it replotted.
  bool refresh();
  // Follow the data again (also on a double-click).
  void followData();
  bool following() const { return follow_; }
  // x shown = stored x * scale, labelled `label` ("step", "epoch").
  void setXScale(double scale, const QString& label);
  double xScale() const { return xScale_; }
  void setLogScale(int panel, bool on);

  // The stored history and the drawn (decimated) points of a curve.
  const MetricSeries* series(const QString& key) const;
  QCPGraph* graph(const QString& key) const;
  int panelCount() const { return int(panels_.size()); }
  QCPAxisRect* panelRect(int panel) const { return panels_[size_t(panel)].rect; }
  // Bytes of the stored histories (not the drawn copies).
  size_t memoryBytes() const;

  // Exports: an image of the plot as shown (PNG), a vector PDF, or every stored point of every
  // curve as CSV (`curve,x,y`; curves longer than their bucket capacity are min/max per
  // bucket). False when the file cannot be written.
  bool exportPng(const QString& path, int width = 0, int height = 0);
  bool exportPdf(const QString& path);
  bool exportCsv(const QString& path) const;

 signals:
  // The user zoomed or dragged (following stopped) or double-clicked (following again).
  void followingChanged(bool following);

 protected:
  void mouseDoubleClickEvent(QMouseEvent* e) override;
  void resizeEvent(QResizeEvent* e) override;

 private:
  struct Panel {
    QCPLayoutGrid* cell = nullptr;  // title row + axes
    int row = 0, col = 0;           // where addPanel() put it
    QCPAxisRect* rect = nullptr;
    QCPLegend* legend = nullptr;
    QCPTextElement* title = nullptr;
    bool log = false;
    bool hasRight = false;
  };
  struct Curve {
    QString key, label;
    int panel = 0;
    Side side = Side::Left;
    MetricSeries data;
    QCPGraph* graph = nullptr;
    bool dirty = false;
  };

  void onXRangeChanged(const QCPRange& r, QCPAxis* source);
  // Short plots put every panel in one row; taller ones use the rows given to addPanel().
  void arrange();
  void redecimate(Curve& c);
  void fitValueAxes();
  QCPRange dataXRange() const;  // stored x, all curves

  std::vector<Panel> panels_;
  std::vector<std::unique_ptr<Curve>> curves_;
  QHash<QString, Curve*> index_;
  QCPLayoutGrid* grid_ = nullptr;
  double xScale_ = 1.0;
  QString xLabel_ = "step";
  bool follow_ = true;
  bool settingRange_ = false;
  bool viewDirty_ = true;  // the x range or the size changed: every curve redecimates
  bool oneRow_ = false;
};

// The plot colours of the dark theme (background, text, grid) applied to a QCustomPlot's axes.
void styleDarkAxis(QCPAxis* a);
void styleDarkPlot(QCustomPlot* p);

}  // namespace ng::plots
