// InsightsPanel: views into a run beyond its metrics.
//   Weights      the distribution of a chosen parameter's weights and of its gradients over the
//                run, as heatmaps (from the trainer's LayerStatsEvent)
//   Filters      a conv layer's weights as a grid of small images, one per output filter and
//                input channel, updated while the run trains
//   Activations  the outputs of a chosen node (the canvas selection or the list) for a chosen
//                sample: one tile per feature map
//   Confusion    the confusion matrix on the validation set, per-class precision and recall
//   Mistakes     the misclassified validation samples, the most confident first; a click shows
//                the sample's activations
//   Boundary     the decision regions of a 2-D classifier, with the samples over them
//   Draw         a pad to draw a digit on, and the MNIST model's class probabilities
// All but Weights show weight snapshots (Filters directly, the others as InsightEngine
// evaluations); the panel says when it wants snapshots (wantsSnapshots(): shown, on one of those
// tabs), so that a run pays for them only while someone looks.
//   InsightsPanel p;
//   p.addLayerStats(event);  p.refresh();   // once per tick
//   p.setNodes({"input", "conv1", ...});  p.selectNode("conv1");   // -> inspectRequested
#pragma once

#include <QHash>
#include <QString>
#include <QWidget>
#include <memory>

#include "app/gui/training/insight_engine.h"
#include "engine/train/events.h"

class QComboBox;
class QLabel;
class QSpinBox;
class QTabWidget;

namespace ng::plots {
class HistogramHistory;
class HistogramHeatmap;
class ConfusionMatrixView;
class DecisionBoundaryView;
class TileGrid;
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

  enum Tab { Histograms, Filters, Activations, Confusion, Mistakes, Boundary, Draw };
  void showTab(Tab t);
  bool wantsSnapshots() const;
  // The evaluations the tab shown needs.
  InsightEngine::Views wantedViews() const;
  // A new copy of the weights: the filter grid follows it (drawn when shown).
  void showSnapshot(std::shared_ptr<const ng::gui::RunSnapshot> s);
  void showMistakes(const InsightEngine::Mistakes& m);
  void showActivations(const InsightEngine::Activations& a);
  // The nodes whose outputs can be shown (the run's graph, in its order) and the one chosen.
  void setNodes(const QStringList& ids);
  void selectNode(const QString& id);
  // The sample whose activations are shown (an index into the evaluated set).
  void selectSample(int64_t index);
  int64_t sample() const;
  QString node() const;
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
  // The activations of `node` for `sample` are wanted (the sample or the node changed).
  void inspectRequested(qint64 sample, const QString& node);

 public:
  QComboBox* parameterBox() const { return param_; }
  ng::plots::HistogramHeatmap* weightMap() const { return weights_; }
  ng::plots::HistogramHeatmap* gradientMap() const { return grads_; }
  QTabWidget* tabs() const { return tabs_; }
  QComboBox* filterLayerBox() const { return filterLayer_; }
  ng::plots::TileGrid* filterGrid() const { return filters_; }
  QComboBox* nodeBox() const { return nodeBox_; }
  QSpinBox* sampleBox() const { return sampleBox_; }
  ng::plots::TileGrid* activationGrid() const { return activations_; }
  ng::plots::TileGrid* inputTile() const { return inputTile_; }
  QLabel* activationInfo() const { return activationInfo_; }
  ng::plots::TileGrid* mistakeGallery() const { return gallery_; }
  QLabel* mistakesInfo() const { return mistakesInfo_; }
  // The gallery's items in the order shown.
  const std::vector<InsightEngine::Mistake>& mistakes() const { return mistakes_.items; }
  // The histories of a parameter ("fc1/weight"); nullptr when none arrived.
  const ng::plots::HistogramHistory* weightHistory(const QString& param) const;
  const ng::plots::HistogramHistory* gradientHistory(const QString& param) const;

 protected:
  void showEvent(QShowEvent* e) override;
  void hideEvent(QHideEvent* e) override;

 private:
  struct Histories;
  void showParam(const QString& name);
  void drawFilters();
  void requestInspect();
  QWidget* buildFiltersPage();
  QWidget* buildActivationsPage();
  QWidget* buildMistakesPage();

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
  // Filters.
  QComboBox* filterLayer_;
  ng::plots::TileGrid* filters_;
  std::shared_ptr<const ng::gui::RunSnapshot> snapshot_;
  bool filtersDirty_ = false;
  // Activations.
  QComboBox* nodeBox_;
  QSpinBox* sampleBox_;
  QLabel* activationInfo_;
  ng::plots::TileGrid *activations_, *inputTile_;
  // Mistakes.
  ng::plots::TileGrid* gallery_;
  QLabel* mistakesInfo_;
  InsightEngine::Mistakes mistakes_;
};

}  // namespace ng::gui
