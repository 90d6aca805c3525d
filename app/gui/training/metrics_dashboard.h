// MetricsDashboard: the live plots of a training run (one LivePlot, four panels): loss and
// accuracy (training per batch, training and validation per epoch, overlaid), the learning
// rate, and throughput (samples/s) with the process's memory (RSS, MiB) on a second axis.
// Against steps or epochs; the loss on a log scale on request; exports to PNG, PDF and CSV.
// addEvents() only stores; refresh() replots once (TrainingUi calls both once per tick).
//   MetricsDashboard d;
//   d.addEvents(events);   // ng::train::TrainingEvent values from TrainingController
//   d.refresh();
#pragma once

#include <QElapsedTimer>
#include <QJsonObject>
#include <QStringList>
#include <QTimer>
#include <QWidget>
#include <functional>
#include <vector>

#include "engine/train/events.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QToolButton;

namespace ng::plots {
class LivePlot;
}

namespace ng::gui {

class MetricsDashboard : public QWidget {
  Q_OBJECT
 public:
  explicit MetricsDashboard(QWidget* parent = nullptr);

  // Curve keys: loss.batch, loss.train, loss.val, acc.batch, acc.train, acc.val, lr,
  // throughput, memory.
  void addEvents(const std::vector<ng::train::TrainingEvent>& events);
  // A memory sample (RSS of this process) at the current step.
  void sampleMemory();
  // One replot if anything changed; true when it replotted.
  bool refresh();
  // NOTE [Plot budget]: a replot of the four panels costs a few milliseconds of the GUI thread,
  // which shares two cores with training. requestRefresh() replots at once when the last
  // replot is long enough ago, else once later: at most every 12 x the measured replot time
  // (so plotting takes under ~8% of a core) and at least every 33 ms (30 Hz).
  void requestRefresh();
  int refreshInterval() const { return minIntervalMs_; }
  // A new run: forget every point (overlays stay).
  void clear();
  // Another run's per-epoch curves (its run.json record: history, dataset size, batch size),
  // dashed, over the loss and accuracy panels; at most three overlays (the oldest goes).
  void addOverlay(const QString& name, const QJsonObject& record);
  void clearOverlays();
  QStringList overlays() const { return overlays_; }

  enum class XUnit { Step, Epoch };
  void setXUnit(XUnit u);
  XUnit xUnit() const { return unit_; }

  ng::plots::LivePlot* plot() const { return plot_; }
  int64_t lastStep() const { return lastStep_; }

  // Export hooks (a file dialog by default): the chosen path, "" to cancel.
  std::function<QString(const QString& title, const QString& filter)> pickExportFile;
  bool exportTo(const QString& path);  // by suffix: .png, .pdf, .csv

  // Resident memory of this process in bytes (Linux /proc/self/statm; 0 elsewhere).
  static int64_t residentBytes();

 private:
  void exportAs(const QString& title, const QString& filter, const QString& suffix);

  ng::plots::LivePlot* plot_;
  QComboBox* unitBox_;
  QCheckBox* logLoss_;
  QToolButton* follow_;
  QLabel* summary_;
  XUnit unit_ = XUnit::Step;
  int64_t stepsPerEpoch_ = 0;
  int64_t lastStep_ = 0;
  int lossPanel_ = 0, accPanel_ = 0;
  QElapsedTimer sinceRefresh_;
  QTimer* deferred_ = nullptr;
  double costMs_ = 0;  // moving average of a replot
  int minIntervalMs_ = 33;
  QStringList overlays_;  // names, oldest first
  int overlayColour_ = 0;
};

}  // namespace ng::gui
