#include "app/gui/training/insights_panel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QTabWidget>
#include <QVBoxLayout>

#include "widgets/plots/histogram_heatmap.h"

namespace ng::gui {

using ng::plots::HistogramHeatmap;
using ng::plots::HistogramHistory;

struct InsightsPanel::Histories {
  HistogramHistory weight, grad;
};

InsightsPanel::InsightsPanel(QWidget* parent) : QWidget(parent) {
  setObjectName("insightsPanel");
  tabs_ = new QTabWidget;
  auto* page = new QWidget;
  auto* lay = new QVBoxLayout(page);
  lay->setContentsMargins(4, 4, 4, 4);
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("Parameter")));
  param_ = new QComboBox;
  param_->setObjectName("histogramParameter");
  param_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  row->addWidget(param_, 1);
  lay->addLayout(row);
  hint_ =
      new QLabel(tr("Weight and gradient histograms appear here while a run trains "
                    "(every training.stats_every_steps steps)."));
  hint_->setWordWrap(true);
  hint_->setStyleSheet("color: #8a8f98");
  lay->addWidget(hint_);
  weights_ = new HistogramHeatmap;
  weights_->setObjectName("weightHeatmap");
  grads_ = new HistogramHeatmap;
  grads_->setObjectName("gradientHeatmap");
  lay->addWidget(weights_, 1);
  lay->addWidget(grads_, 1);
  tabs_->addTab(page, tr("Histograms"));
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->addWidget(tabs_);
  connect(param_, &QComboBox::currentTextChanged, this, &InsightsPanel::showParam);
}

InsightsPanel::~InsightsPanel() = default;

void InsightsPanel::addLayerStats(const ng::train::LayerStatsEvent& e) {
  for (const ng::train::LayerStats& l : e.layers) {
    QString name = QString::fromStdString(l.node + "/" + l.param);
    auto& h = hist_[name];
    if (!h) {
      h = std::make_shared<Histories>();
      param_->addItem(name);
    }
    h->weight.add(double(e.step), l.weight.min, l.weight.max, l.weight.histogram);
    if (l.grad.numel > 0) h->grad.add(double(e.step), l.grad.min, l.grad.max, l.grad.histogram);
  }
  hint_->setVisible(hist_.isEmpty());
  dirty_ = true;
}

void InsightsPanel::refresh() {
  if (!dirty_ || !isVisible()) return;  // hidden: drawn when shown (showParam on the next tick)
  dirty_ = false;
  weights_->refresh();
  grads_->refresh();
}

void InsightsPanel::clear() {
  weights_->setHistory(nullptr, QString());
  grads_->setHistory(nullptr, QString());
  param_->clear();
  hist_.clear();
  hint_->setVisible(true);
  dirty_ = false;
}

void InsightsPanel::showParam(const QString& name) {
  auto it = hist_.find(name);
  if (it == hist_.end()) return;
  weights_->setHistory(&(*it)->weight, tr("%1: weights").arg(name));
  grads_->setHistory(&(*it)->grad, tr("%1: gradients").arg(name));
}

const HistogramHistory* InsightsPanel::weightHistory(const QString& param) const {
  auto it = hist_.find(param);
  return it == hist_.end() ? nullptr : &(*it)->weight;
}

const HistogramHistory* InsightsPanel::gradientHistory(const QString& param) const {
  auto it = hist_.find(param);
  return it == hist_.end() ? nullptr : &(*it)->grad;
}

}  // namespace ng::gui
