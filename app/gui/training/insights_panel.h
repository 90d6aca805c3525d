// InsightsPanel: views into a run beyond its metrics.
//   Histograms  the distribution of a chosen parameter's weights and of its gradients over the
//               run, as heatmaps (from the trainer's LayerStatsEvent)
//   Confusion   the confusion matrix on the validation set, per-class precision and recall
//   Boundary    the decision regions of a 2-D classifier, with the samples over them
//   Draw        a pad to draw a digit on, and the MNIST model's class probabilities
// The last three show InsightEngine results (evaluations of weight snapshots); the panel says
// when it wants snapshots (wantsSnapshots(): shown, on one of those tabs), so that a run pays
// for them only while someone looks.
//   InsightsPanel p;
//   p.addLayerStats(event);  p.refresh();   // once per tick
#pragma once

#include <QHash>
#include <QString>
#include <QWidget>
#include <memory>

#include "app/gui/training/insight_engine.h"
#include "engine/train/events.h"

class QComboBox;
class QLabel;
class QTabWidget;

namespace ng::plots {
class HistogramHistory;
class HistogramHeatmap;
class ConfusionMatrixView;
class DecisionBoundaryView;
}  // namespace ng::plots

namespace ng::gui {

class DrawingPad;
class ProbabilityBars;

class InsightsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit InsightsPanel(QWidget* parent = nullptr);
  ~InsightsPanel() override;

  void addLayerStats(const ng::train::LayerStatsEvent& e);
  void refresh();  // redraws what changed
  void clear();

  enum Tab { Histograms, Confusion, Boundary, Draw };
  void showTab(Tab t);
  bool wantsSnapshots() const;
  void showConfusion(const InsightEngine::Confusion& c);
  void showBoundary(const InsightEngine::Boundary& b);
  void showGuess(const InsightEngine::ImageGuess& g);
  void showUnavailable(const QString& why);

  ng::plots::ConfusionMatrixView* confusionView() const { return confusion_; }
  ng::plots::DecisionBoundaryView* boundaryView() const { return boundary_; }
  DrawingPad* drawingPad() const { return pad_; }
  ProbabilityBars* probabilityBars() const { return bars_; }

 signals:
  // wantsSnapshots() may have changed (shown, hidden, another tab).
  void snapshotsWantedChanged();
  // The drawing pad's image (28 x 28, [0, 1]; empty: cleared).
  void imageDrawn(const std::vector<float>& pixels);

 public:
  QComboBox* parameterBox() const { return param_; }
  ng::plots::HistogramHeatmap* weightMap() const { return weights_; }
  ng::plots::HistogramHeatmap* gradientMap() const { return grads_; }
  QTabWidget* tabs() const { return tabs_; }
  // The histories of a parameter ("fc1/weight"); nullptr when none arrived.
  const ng::plots::HistogramHistory* weightHistory(const QString& param) const;
  const ng::plots::HistogramHistory* gradientHistory(const QString& param) const;

 protected:
  void showEvent(QShowEvent* e) override;
  void hideEvent(QHideEvent* e) override;

 private:
  struct Histories;
  void showParam(const QString& name);

  QTabWidget* tabs_;
  QComboBox* param_;
  QLabel* hint_;
  ng::plots::HistogramHeatmap *weights_, *grads_;
  ng::plots::ConfusionMatrixView* confusion_;
  ng::plots::DecisionBoundaryView* boundary_;
  QLabel *boundaryHint_, *drawHint_;
  DrawingPad* pad_;
  ProbabilityBars* bars_;
  QHash<QString, std::shared_ptr<Histories>> hist_;
  bool dirty_ = false;
};

}  // namespace ng::gui
