#include "app/gui/training/insights_panel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QTabWidget>
#include <QVBoxLayout>

#include "app/gui/training/drawing_pad.h"
#include "widgets/plots/confusion_matrix_view.h"
#include "widgets/plots/decision_boundary_view.h"
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
  tabs_->addTab(page, tr("Weights"));

  confusion_ = new ng::plots::ConfusionMatrixView;
  confusion_->setObjectName("confusionMatrix");
  tabs_->addTab(confusion_, tr("Confusion"));

  auto* bpage = new QWidget;
  auto* blay = new QVBoxLayout(bpage);
  blay->setContentsMargins(4, 4, 4, 4);
  boundaryHint_ =
      new QLabel(tr("For models of 2-D points (e.g. the spiral example): what the "
                    "model decides around its data, updated while it trains."));
  boundaryHint_->setWordWrap(true);
  boundaryHint_->setStyleSheet("color: #8a8f98");
  boundary_ = new ng::plots::DecisionBoundaryView;
  boundary_->setObjectName("decisionBoundary");
  blay->addWidget(boundaryHint_);
  blay->addWidget(boundary_, 1);
  tabs_->addTab(bpage, tr("Boundary"));

  auto* dpage = new QWidget;
  auto* dlay = new QVBoxLayout(dpage);
  dlay->setContentsMargins(4, 4, 4, 4);
  drawHint_ =
      new QLabel(tr("For MNIST models (28 x 28 images): draw a digit and see what the "
                    "model reads, with the newest weights."));
  drawHint_->setWordWrap(true);
  drawHint_->setStyleSheet("color: #8a8f98");
  dlay->addWidget(drawHint_);
  auto* drow = new QHBoxLayout;
  pad_ = new DrawingPad;
  pad_->setObjectName("drawingPad");
  bars_ = new ProbabilityBars;
  bars_->setObjectName("probabilityBars");
  drow->addWidget(pad_, 3);
  drow->addWidget(bars_, 2);
  dlay->addLayout(drow, 1);
  auto* clearPad = new QPushButton(tr("Clear"));
  clearPad->setObjectName("clearPad");
  dlay->addWidget(clearPad, 0, Qt::AlignLeft);
  tabs_->addTab(dpage, tr("Draw"));

  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->addWidget(tabs_);
  connect(param_, &QComboBox::currentTextChanged, this, &InsightsPanel::showParam);
  connect(tabs_, &QTabWidget::currentChanged, this, [this] {
    dirty_ = true;
    refresh();
    emit snapshotsWantedChanged();
  });
  connect(pad_, &DrawingPad::imageChanged, this, [this](const std::vector<float>& px) {
    if (px.empty()) bars_->clear();
    emit imageDrawn(px);
  });
  connect(clearPad, &QPushButton::clicked, this, [this] {
    pad_->clear();
    bars_->clear();
    emit imageDrawn({});
  });
}

void InsightsPanel::showEvent(QShowEvent* e) {
  QWidget::showEvent(e);
  dirty_ = true;
  emit snapshotsWantedChanged();
}

void InsightsPanel::hideEvent(QHideEvent* e) {
  QWidget::hideEvent(e);
  emit snapshotsWantedChanged();
}

void InsightsPanel::showTab(Tab t) {
  tabs_->setCurrentIndex(int(t));
}

bool InsightsPanel::wantsSnapshots() const {
  return isVisible() && tabs_->currentIndex() != Histograms;
}

void InsightsPanel::showConfusion(const InsightEngine::Confusion& c) {
  confusion_->setMatrix(c.classes, c.counts, c.names,
                        tr("%1 set, epoch %2, step %3").arg(c.set).arg(c.epoch).arg(c.step));
}

void InsightsPanel::showBoundary(const InsightEngine::Boundary& b) {
  boundaryHint_->hide();
  boundary_->setRegions(b.nx, b.ny, QCPRange(b.x0, b.x1), QCPRange(b.y0, b.y1), b.cls, b.conf,
                        b.classes);
  boundary_->setSamples(b.x, b.y, b.label);
  boundary_->setCaption(tr("Decision regions at epoch %1, step %2").arg(b.epoch).arg(b.step));
}

void InsightsPanel::showGuess(const InsightEngine::ImageGuess& g) {
  drawHint_->hide();
  bars_->setProbabilities(g.probs, g.names);
}

void InsightsPanel::showUnavailable(const QString& why) {
  boundaryHint_->setText(why);
  boundaryHint_->show();
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
  confusion_->clear();
  boundary_->clearAll();
  bars_->clear();
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
