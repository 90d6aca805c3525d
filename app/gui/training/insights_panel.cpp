#include "app/gui/training/insights_panel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QMenu>
#include <QPushButton>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QTabWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <cmath>

#include "app/gui/training/drawing_pad.h"
#include "widgets/plots/confusion_matrix_view.h"
#include "widgets/plots/decision_boundary_view.h"
#include "widgets/plots/histogram_heatmap.h"
#include "widgets/plots/tile_grid.h"

namespace ng::gui {

using ng::plots::HistogramHeatmap;
using ng::plots::HistogramHistory;
using ng::plots::TileGrid;

namespace {

constexpr size_t kMaxTiles = 512;  // a grid of more would be too small to read

QString shapeText(const std::vector<int64_t>& shape) {
  QStringList d;
  for (int64_t v : shape) d << QString::number(v);
  return d.join(QString::fromUtf8(" \u00d7 "));
}

// Values of `shape` as tiles: [C, H, W] one per channel (or one RGB tile for a 3-channel image
// when `rgb`), [H, W] one, anything else one tile of its values in a near-square grid (NaN
// padding is left blank).
std::vector<TileGrid::Tile> tilesOf(const std::vector<int64_t>& shape, const std::vector<float>& v,
                                    bool rgb) {
  std::vector<TileGrid::Tile> tiles;
  if (v.empty()) return tiles;
  if (shape.size() == 3 && shape[1] * shape[2] > 1) {
    const int c = int(shape[0]), h = int(shape[1]), w = int(shape[2]);
    const size_t plane = size_t(h) * size_t(w);
    if (rgb && c == 3) {
      tiles.push_back(TileGrid::Tile::image(w, h, v, true));
      return tiles;
    }
    for (int k = 0; k < c && size_t(k) < kMaxTiles; ++k) {
      tiles.push_back(TileGrid::Tile::image(
          w, h, std::vector<float>(v.begin() + k * plane, v.begin() + (k + 1) * plane)));
    }
    return tiles;
  }
  if (shape.size() == 2 && shape[0] > 1 && shape[1] > 1) {
    tiles.push_back(TileGrid::Tile::image(int(shape[1]), int(shape[0]), v));
    return tiles;
  }
  const int n = int(v.size());
  const int w = int(std::ceil(std::sqrt(double(n))));
  const int h = (n + w - 1) / w;
  std::vector<float> grid(size_t(w * h), NAN);
  std::copy(v.begin(), v.end(), grid.begin());
  tiles.push_back(TileGrid::Tile::image(w, h, std::move(grid)));
  return tiles;
}

QString className(const QStringList& names, int c) {
  return c >= 0 && c < names.size() ? names[c] : QString::number(c);
}

}  // namespace

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
  tabs_->addTab(buildFiltersPage(), tr("Filters"));
  tabs_->addTab(buildActivationsPage(), tr("Activations"));

  confusion_ = new ng::plots::ConfusionMatrixView;
  confusion_->setObjectName("confusionMatrix");
  tabs_->addTab(confusion_, tr("Confusion"));
  tabs_->addTab(buildMistakesPage(), tr("Mistakes"));

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

  // Seven pages do not fit the tab bar of a dock at its usual width: a button in the corner
  // lists them all, as a browser lists its tabs, so none is hidden behind the scroll arrows.
  auto* pages = new QToolButton;
  pages->setObjectName("insightsPages");
  pages->setText(QStringLiteral("\u2630"));  // ☰
  pages->setToolTip(tr("All insight pages"));
  pages->setPopupMode(QToolButton::InstantPopup);
  pages->setAutoRaise(true);
  auto* pageMenu = new QMenu(pages);
  for (int i = 0; i < tabs_->count(); ++i) {
    QAction* a = pageMenu->addAction(tabs_->tabText(i));
    a->setCheckable(true);
    connect(a, &QAction::triggered, this, [this, i] { tabs_->setCurrentIndex(i); });
  }
  connect(pageMenu, &QMenu::aboutToShow, this, [this, pageMenu] {
    const auto actions = pageMenu->actions();
    for (int i = 0; i < actions.size(); ++i) actions[i]->setChecked(i == tabs_->currentIndex());
  });
  pages->setMenu(pageMenu);
  tabs_->setCornerWidget(pages, Qt::TopRightCorner);

  // In a scroll area: a short window still fits (the views keep a usable size and scroll).
  auto* scroll = new QScrollArea;
  scroll->setWidget(tabs_);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  tabs_->setMinimumHeight(260);
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->addWidget(scroll);
  connect(param_, &QComboBox::currentTextChanged, this, &InsightsPanel::showParam);
  connect(tabs_, &QTabWidget::currentChanged, this, [this](int tab) {
    dirty_ = true;
    filtersDirty_ = true;
    refresh();
    emit snapshotsWantedChanged();
    if (tab == Activations) requestInspect();
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

QWidget* InsightsPanel::buildFiltersPage() {
  auto* page = new QWidget;
  auto* lay = new QVBoxLayout(page);
  lay->setContentsMargins(4, 4, 4, 4);
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("Layer")));
  filterLayer_ = new QComboBox;
  filterLayer_->setObjectName("filterLayer");
  filterLayer_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  filterLayer_->setToolTip(tr("A convolution's weights [out, in, kh, kw]"));
  row->addWidget(filterLayer_, 1);
  lay->addLayout(row);
  filters_ = new TileGrid;
  filters_->setObjectName("filterGrid");
  filters_->setEmptyText(
      tr("The filters of the graph's convolutions appear here while a run trains: one small "
         "image per output filter (row) and input channel (column); blue negative, red "
         "positive."));
  lay->addWidget(filters_, 1);
  connect(filterLayer_, &QComboBox::currentTextChanged, this, [this] {
    filtersDirty_ = true;
    drawFilters();
  });
  return page;
}

QWidget* InsightsPanel::buildActivationsPage() {
  auto* page = new QWidget;
  auto* lay = new QVBoxLayout(page);
  lay->setContentsMargins(4, 4, 4, 4);
  auto* row = new QHBoxLayout;
  row->addWidget(new QLabel(tr("Node")));
  nodeBox_ = new QComboBox;
  nodeBox_->setObjectName("activationNode");
  nodeBox_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  nodeBox_->setToolTip(
      tr("The node whose outputs are shown; selecting a node on the canvas "
         "chooses it too"));
  row->addWidget(nodeBox_, 1);
  row->addWidget(new QLabel(tr("Sample")));
  sampleBox_ = new QSpinBox;
  sampleBox_->setObjectName("activationSample");
  sampleBox_->setRange(0, 0);
  sampleBox_->setToolTip(
      tr("The index of a validation sample (the training set when the "
         "project has no validation set)"));
  row->addWidget(sampleBox_);
  lay->addLayout(row);
  auto* info = new QHBoxLayout;
  inputTile_ = new TileGrid;
  inputTile_->setObjectName("activationInput");
  inputTile_->setEmptyText({});
  inputTile_->setFixedSize(72, 72);
  inputTile_->hide();  // until there is a sample to show
  info->addWidget(inputTile_);
  activationInfo_ =
      new QLabel(tr("Choose a node (or select one on the canvas) and a sample to see the node's "
                    "outputs for it, with the newest weights."));
  activationInfo_->setObjectName("activationInfo");
  activationInfo_->setWordWrap(true);
  info->addWidget(activationInfo_, 1);
  lay->addLayout(info);
  activations_ = new TileGrid;
  activations_->setObjectName("activationGrid");
  activations_->setEmptyText(tr("No activations yet: they need a run's weights."));
  lay->addWidget(activations_, 1);
  connect(nodeBox_, &QComboBox::currentTextChanged, this, &InsightsPanel::requestInspect);
  connect(sampleBox_, &QSpinBox::valueChanged, this, &InsightsPanel::requestInspect);
  return page;
}

QWidget* InsightsPanel::buildMistakesPage() {
  auto* page = new QWidget;
  auto* lay = new QVBoxLayout(page);
  lay->setContentsMargins(4, 4, 4, 4);
  mistakesInfo_ = new QLabel(
      tr("The validation samples the model gets wrong, the most confident mistakes first. "
         "Click one to see its activations."));
  mistakesInfo_->setObjectName("mistakesInfo");
  mistakesInfo_->setWordWrap(true);
  lay->addWidget(mistakesInfo_);
  gallery_ = new TileGrid;
  gallery_->setObjectName("mistakeGallery");
  gallery_->setEmptyText(tr("No mistakes to show yet."));
  lay->addWidget(gallery_, 1);
  connect(gallery_, &TileGrid::tileClicked, this, [this](int i) {
    if (i < 0 || size_t(i) >= mistakes_.items.size()) return;
    selectSample(mistakes_.items[size_t(i)].index);
    showTab(Activations);
  });
  return page;
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

InsightEngine::Views InsightsPanel::wantedViews() const {
  const int t = tabs_->currentIndex();
  InsightEngine::Views v;
  v.confusion = t == Confusion;
  v.boundary = t == Boundary;
  v.mistakes = t == Mistakes;
  v.activations = t == Activations;
  return v;
}

void InsightsPanel::showSnapshot(std::shared_ptr<const RunSnapshot> s) {
  if (!s) return;
  snapshot_ = std::move(s);
  for (const auto& [name, t] : snapshot_->params)
    if (t.dim() == 4 && filterLayer_->findText(QString::fromStdString(name)) < 0)
      filterLayer_->addItem(QString::fromStdString(name));
  if (snapshot_->run && snapshot_->run->val)
    sampleBox_->setMaximum(int(std::min<int64_t>(snapshot_->run->val->size() - 1, INT32_MAX)));
  else if (snapshot_->run && snapshot_->run->train)
    sampleBox_->setMaximum(int(std::min<int64_t>(snapshot_->run->train->size() - 1, INT32_MAX)));
  filtersDirty_ = true;
  drawFilters();
}

void InsightsPanel::drawFilters() {
  if (!filtersDirty_ || !snapshot_ || !isVisible() || tabs_->currentIndex() != Filters) return;
  filtersDirty_ = false;
  const std::string want = filterLayer_->currentText().toStdString();
  for (const auto& [name, t] : snapshot_->params) {
    if (name != want || t.dim() != 4) continue;
    // weight: [O, I, kh, kw] -> O rows of min(I, 32) tiles of kw x kh
    const ng::Shape& sh = t.shape();
    const int out = int(sh[0]), in = int(sh[1]), kh = int(sh[2]), kw = int(sh[3]);
    const int cols = std::min(in, 32);
    const int rows = std::min<int>(out, int(kMaxTiles) / std::max(1, cols));
    std::vector<float> w = t.detach().contiguous().to(ng::Device::cpu()).to_vector<float>();
    std::vector<TileGrid::Tile> tiles;
    const size_t plane = size_t(kh) * size_t(kw);
    for (int o = 0; o < rows; ++o)
      for (int i = 0; i < cols; ++i) {
        const size_t at = (size_t(o) * size_t(in) + size_t(i)) * plane;
        TileGrid::Tile tile = TileGrid::Tile::image(
            kw, kh, std::vector<float>(w.begin() + at, w.begin() + at + plane));
        auto [lo, hi] = std::minmax_element(tile.values.begin(), tile.values.end());
        tile.tip = tr("filter %1, input channel %2: %3 .. %4")
                       .arg(o)
                       .arg(i)
                       .arg(*lo, 0, 'g', 3)
                       .arg(*hi, 0, 'g', 3);
        tiles.push_back(std::move(tile));
      }
    QString caption = tr("%1: %2 filters of %3, %4 \u00d7 %5, step %6")
                          .arg(QString::fromStdString(name))
                          .arg(out)
                          .arg(in == 1 ? tr("1 channel") : tr("%1 channels").arg(in))
                          .arg(kh)
                          .arg(kw)
                          .arg(snapshot_->step);
    if (rows < out || cols < in) caption += tr(" (the first %1 \u00d7 %2)").arg(rows).arg(cols);
    // One input channel: the filters in a square-ish grid; else one row per output filter.
    filters_->setTiles(std::move(tiles), TileGrid::Scale::SharedSymmetric, caption,
                       in == 1 ? 0 : cols);
    filters_->setToolTip(tr("Blue: negative, white: 0, red: positive (up to %1)")
                             .arg(filters_->maxAbs(), 0, 'g', 3));
    return;
  }
}

void InsightsPanel::setNodes(const QStringList& ids) {
  const QString keep = nodeBox_->currentText();
  QSignalBlocker block(nodeBox_);
  nodeBox_->clear();
  nodeBox_->addItems(ids);
  const int at = nodeBox_->findText(keep);
  nodeBox_->setCurrentIndex(at >= 0 ? at : std::min(1, int(ids.size()) - 1));
  requestInspect();  // the run's first weights show it without a choice
}

void InsightsPanel::selectNode(const QString& id) {
  const int at = nodeBox_->findText(id);
  if (at >= 0) nodeBox_->setCurrentIndex(at);
}

void InsightsPanel::selectSample(int64_t index) {
  if (index > sampleBox_->maximum()) sampleBox_->setMaximum(int(index));
  sampleBox_->setValue(int(index));
  requestInspect();
}

int64_t InsightsPanel::sample() const {
  return sampleBox_->value();
}

QString InsightsPanel::node() const {
  return nodeBox_->currentText();
}

void InsightsPanel::requestInspect() {
  if (nodeBox_->currentText().isEmpty()) return;
  emit inspectRequested(sampleBox_->value(), nodeBox_->currentText());
}

void InsightsPanel::showActivations(const InsightEngine::Activations& a) {
  if (a.node != nodeBox_->currentText() || a.sample != sampleBox_->value()) return;  // stale
  const bool image = a.inputShape.size() == 3 && (a.inputShape[0] == 1 || a.inputShape[0] == 3);
  std::vector<TileGrid::Tile> in = tilesOf(a.inputShape, a.input, true);
  if (image) {
    if (in.size() > 1) in.resize(1);
    inputTile_->setTiles(std::move(in), TileGrid::Scale::PerTile, {});
    inputTile_->show();
  } else {
    inputTile_->hide();
  }
  QString text = tr("%1 sample %2").arg(a.set).arg(a.sample);
  if (a.truth >= 0) text += tr(": class %1").arg(className(a.names, a.truth));
  if (a.predicted >= 0)
    text += tr(", read as %1 (%2 %)")
                .arg(className(a.names, a.predicted))
                .arg(100.0 * a.confidence, 0, 'f', 1);
  text += tr(" \u00b7 epoch %1, step %2").arg(a.epoch).arg(a.step);
  activationInfo_->setText(text);
  if (a.values.empty()) {
    activations_->clear();
    activations_->setEmptyText(tr("'%1' has no output to show for this sample.").arg(a.node));
    return;
  }
  std::vector<TileGrid::Tile> tiles = tilesOf(a.shape, a.values, false);
  const bool maps = a.shape.size() == 3 && a.shape[1] * a.shape[2] > 1;
  QString caption;
  if (maps) {
    caption =
        tr("%1: %2 of %3 \u00d7 %4")
            .arg(a.node)
            .arg(a.shape[0] == 1 ? tr("1 feature map") : tr("%1 feature maps").arg(a.shape[0]))
            .arg(a.shape[1])
            .arg(a.shape[2]);
    for (size_t k = 0; k < tiles.size(); ++k) {
      auto [lo, hi] = std::minmax_element(tiles[k].values.begin(), tiles[k].values.end());
      tiles[k].tip = tr("channel %1: %2 .. %3").arg(k).arg(*lo, 0, 'g', 3).arg(*hi, 0, 'g', 3);
    }
    if (tiles.size() < size_t(a.shape[0])) caption += tr(" (the first %1)").arg(tiles.size());
  } else {
    caption = tr("%1: output of shape %2").arg(a.node, shapeText(a.shape));
    if (!tiles.empty() && a.shape.size() != 2)
      caption += tr(", shown as %1 \u00d7 %2").arg(tiles[0].h).arg(tiles[0].w);
  }
  activations_->setTiles(std::move(tiles), TileGrid::Scale::PerTile, caption);
  activations_->setToolTip(
      tr("Each map on its own scale: black its lowest value, white its "
         "highest"));
}

void InsightsPanel::showMistakes(const InsightEngine::Mistakes& m) {
  mistakes_ = m;
  const bool image = m.sampleShape.size() == 3 && (m.sampleShape[0] == 1 || m.sampleShape[0] == 3);
  std::vector<TileGrid::Tile> tiles;
  for (size_t k = 0; k < m.items.size(); ++k) {
    const InsightEngine::Mistake& it = m.items[k];
    TileGrid::Tile tile;
    if (image) {
      std::vector<TileGrid::Tile> t = tilesOf(m.sampleShape, m.features[k], true);
      if (!t.empty()) tile = t[0];
    } else if (m.features[k].size() <= 4) {  // its values, e.g. a 2-D point's coordinates
      QStringList v;
      for (float f : m.features[k]) v << QString::number(f, 'f', 2);
      tile.text = "(" + v.join(", ") + ")";
    } else {
      tile = tilesOf({int64_t(m.features[k].size())}, m.features[k], false)[0];
    }
    tile.caption = QString("%1\u2192%2\n%3%")
                       .arg(className(m.names, it.truth), className(m.names, it.predicted))
                       .arg(100.0 * it.confidence, 0, 'f', 0);
    tile.frame = QColor(229, 57, 53);
    QString tip = tr("%1 sample %2: class %3, read as %4 with %5 % confidence.")
                      .arg(m.set)
                      .arg(it.index)
                      .arg(className(m.names, it.truth), className(m.names, it.predicted))
                      .arg(100.0 * it.confidence, 0, 'f', 1);
    if (!image && m.features[k].size() <= 4) {
      QStringList v;
      for (float f : m.features[k]) v << QString::number(f, 'g', 3);
      tip += " (" + v.join(", ") + ")";
    }
    tile.tip = tip + tr(" Click to see its activations.");
    tiles.push_back(std::move(tile));
  }
  mistakesInfo_->setText(
      tr("%1 of %2 %3 samples misclassified (epoch %4, step %5). The %6 most confident "
         "mistakes, most confident first (true \u2192 predicted, confidence); click one to see "
         "its activations.")
          .arg(m.wrong)
          .arg(m.examined)
          .arg(m.set)
          .arg(m.epoch)
          .arg(m.step)
          .arg(m.items.size()));
  if (tiles.empty()) {
    gallery_->clear();
    gallery_->setEmptyText(tr("No misclassified samples."));
    return;
  }
  gallery_->setTiles(std::move(tiles), TileGrid::Scale::PerTile, {});
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
  mistakesInfo_->setText(why);
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
  drawFilters();
  if (!dirty_ || !isVisible()) return;  // hidden: drawn when shown (showParam on the next tick)
  dirty_ = false;
  weights_->refresh();
  grads_->refresh();
}

void InsightsPanel::clear() {
  confusion_->clear();
  filters_->clear();
  filterLayer_->clear();
  snapshot_.reset();
  activations_->clear();
  inputTile_->clear();
  inputTile_->hide();
  gallery_->clear();
  mistakes_ = {};
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
