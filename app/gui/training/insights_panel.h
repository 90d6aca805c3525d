// InsightsPanel: views into a run beyond its metrics. "Histograms": the distribution of a
// chosen parameter's weights and of its gradients over the run, as heatmaps (from the trainer's
// LayerStatsEvent, every training.stats_every_steps steps).
//   InsightsPanel p;
//   p.addLayerStats(event);  p.refresh();   // once per tick
#pragma once

#include <QHash>
#include <QString>
#include <QWidget>
#include <memory>

#include "engine/train/events.h"

class QComboBox;
class QLabel;
class QTabWidget;

namespace ng::plots {
class HistogramHistory;
class HistogramHeatmap;
}  // namespace ng::plots

namespace ng::gui {

class InsightsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit InsightsPanel(QWidget* parent = nullptr);
  ~InsightsPanel() override;

  void addLayerStats(const ng::train::LayerStatsEvent& e);
  void refresh();  // redraws what changed
  void clear();

  QComboBox* parameterBox() const { return param_; }
  ng::plots::HistogramHeatmap* weightMap() const { return weights_; }
  ng::plots::HistogramHeatmap* gradientMap() const { return grads_; }
  QTabWidget* tabs() const { return tabs_; }
  // The histories of a parameter ("fc1/weight"); nullptr when none arrived.
  const ng::plots::HistogramHistory* weightHistory(const QString& param) const;
  const ng::plots::HistogramHistory* gradientHistory(const QString& param) const;

 private:
  struct Histories;
  void showParam(const QString& name);

  QTabWidget* tabs_;
  QComboBox* param_;
  QLabel* hint_;
  ng::plots::HistogramHeatmap *weights_, *grads_;
  QHash<QString, std::shared_ptr<Histories>> hist_;
  bool dirty_ = false;
};

}  // namespace ng::gui
