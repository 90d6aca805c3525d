#include "widgets/plots/live_plot.h"

#include <QFile>
#include <QTextStream>
#include <QTimer>
#include <algorithm>
#include <cmath>

namespace ng::plots {

namespace {
const QColor kBackground(0x24, 0x26, 0x2b);
const QColor kText(0xc8, 0xcc, 0xd2);
const QColor kAxis(0x6b, 0x70, 0x79);
const QColor kGrid(0x36, 0x39, 0x40);
}  // namespace

void styleDarkAxis(QCPAxis* a) {
  a->setBasePen(QPen(kAxis, 1));
  a->setTickPen(QPen(kAxis, 1));
  a->setSubTickPen(QPen(kAxis, 1));
  a->setTickLabelColor(kText);
  a->setLabelColor(kText);
  a->grid()->setPen(QPen(kGrid, 1, Qt::SolidLine));
  a->grid()->setZeroLinePen(Qt::NoPen);
  a->grid()->setSubGridVisible(false);
}

void styleDarkPlot(QCustomPlot* p) {
  p->setBackground(kBackground);
}

LivePlot::LivePlot(QWidget* parent) : QCustomPlot(parent) {
  plotLayout()->clear();  // the default axis rect and legend; panels come from addPanel()
  setAutoAddPlottableToLegend(false);  // each panel has its own legend
  styleDarkPlot(this);
  setPlottingHint(QCP::phFastPolylines, true);
  setNoAntialiasingOnDrag(true);
  setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
  setMinimumSize(320, 220);
  setToolTip(tr("Wheel: zoom the steps · drag: pan · double-click: follow the run again"));
}

LivePlot::~LivePlot() = default;

int LivePlot::addPanel(const QString& title, int row, int col, const QString& yLabel) {
  auto* sub = new QCPLayoutGrid;
  plotLayout()->addElement(row, col, sub);
  Panel p;
  p.cell = sub;
  p.row = row;
  p.col = col;
  QFont f = font();
  f.setPointSizeF(f.pointSizeF() * 0.95);
  f.setBold(true);
  // Row 0: the title on the left, the legend (one row) on the right; row 1: the axes.
  auto* header = new QCPLayoutGrid;
  sub->addElement(0, 0, header);
  p.title = new QCPTextElement(this, title, f);
  p.title->setTextColor(kText);
  p.title->setMargins(QMargins(8, 4, 8, 0));
  p.title->setTextFlags(Qt::AlignLeft | Qt::AlignVCenter);
  header->addElement(0, 0, p.title);
  p.rect = new QCPAxisRect(this);
  sub->addElement(1, 0, p.rect);
  sub->setRowStretchFactor(0, 0.001);
  sub->setRowSpacing(0);
  for (QCPAxis* a : p.rect->axes()) styleDarkAxis(a);
  QFont small = font();
  small.setPointSizeF(small.pointSizeF() * 0.85);
  for (QCPAxis* a : p.rect->axes()) {
    a->setTickLabelFont(small);
    a->setLabelFont(small);
  }
  p.rect->axis(QCPAxis::atLeft)->setLabel(yLabel);
  p.rect->axis(QCPAxis::atBottom)->setLabel(xLabel_);
  p.rect->setRangeDrag(Qt::Horizontal);
  p.rect->setRangeZoom(Qt::Horizontal);
  p.legend = new QCPLegend;
  header->addElement(0, 1, p.legend);
  header->setColumnStretchFactor(0, 1);
  header->setColumnStretchFactor(1, 0.001);
  p.legend->setLayer("legend");
  p.legend->setBrush(Qt::NoBrush);
  p.legend->setBorderPen(Qt::NoPen);
  p.legend->setMargins(QMargins(0, 2, 6, 0));
  p.legend->setTextColor(kText);
  p.legend->setFont(small);
  p.legend->setRowSpacing(-3);
  p.legend->setColumnSpacing(6);
  p.legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
  p.legend->setWrap(4);
  QCPAxis* x = p.rect->axis(QCPAxis::atBottom);
  connect(x, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this,
          [this, x](const QCPRange& r) { onXRangeChanged(r, x); });
  panels_.push_back(p);
  viewDirty_ = true;
  return int(panels_.size()) - 1;
}

void LivePlot::addCurve(const QString& key, int panel, const QString& label, const QColor& color,
                        CurveStyle style, Side side, const QString& rightLabel) {
  Q_ASSERT(panel >= 0 && panel < panelCount() && !index_.contains(key));
  Panel& p = panels_[size_t(panel)];
  QCPAxis* value = p.rect->axis(side == Side::Left ? QCPAxis::atLeft : QCPAxis::atRight);
  if (side == Side::Right && !p.hasRight) {
    p.hasRight = true;
    value->setVisible(true);
    value->setTickLabels(true);
    value->setLabel(rightLabel);
    value->grid()->setVisible(false);
  }
  auto c = std::make_unique<Curve>();
  c->key = key;
  c->label = label;
  c->panel = panel;
  c->side = side;
  c->graph = addGraph(p.rect->axis(QCPAxis::atBottom), value);
  c->graph->setName(label);
  c->graph->setPen(QPen(color, 1.6));
  if (side == Side::Right) c->graph->setPen(QPen(color, 1.4, Qt::DashLine));
  if (style == LineAndDots)
    c->graph->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, color, color, 5));
  c->graph->addToLegend(p.legend);
  index_.insert(key, c.get());
  curves_.push_back(std::move(c));
}

void LivePlot::setCurveDashed(const QString& key) {
  if (Curve* c = index_.value(key)) {
    QPen pen = c->graph->pen();
    pen.setStyle(Qt::DashLine);
    c->graph->setPen(pen);
  }
}

void LivePlot::removeCurve(const QString& key) {
  Curve* c = index_.value(key);
  if (!c) return;
  c->graph->removeFromLegend(panels_[size_t(c->panel)].legend);
  removeGraph(c->graph);
  index_.remove(key);
  curves_.erase(std::find_if(curves_.begin(), curves_.end(),
                             [c](const std::unique_ptr<Curve>& u) { return u.get() == c; }));
  viewDirty_ = true;
}

QStringList LivePlot::curveKeys() const {
  QStringList keys;
  for (const auto& c : curves_) keys << c->key;
  return keys;
}

void LivePlot::append(const QString& key, double x, double y) {
  Curve* c = index_.value(key);
  if (!c) return;
  c->data.append(x, y);
  c->dirty = true;
}

void LivePlot::clearData(const QString& keepPrefix) {
  for (auto& c : curves_) {
    if (!keepPrefix.isEmpty() && c->key.startsWith(keepPrefix)) continue;
    c->data.clear();
    c->graph->data()->clear();
    c->dirty = false;
  }
  follow_ = true;
  viewDirty_ = true;
}

const MetricSeries* LivePlot::series(const QString& key) const {
  const Curve* c = index_.value(key);
  return c ? &c->data : nullptr;
}

QCPGraph* LivePlot::graph(const QString& key) const {
  const Curve* c = index_.value(key);
  return c ? c->graph : nullptr;
}

size_t LivePlot::memoryBytes() const {
  size_t n = 0;
  for (const auto& c : curves_) n += c->data.memoryBytes();
  return n;
}

QCPRange LivePlot::dataXRange() const {
  double lo = 0, hi = 0;
  bool any = false;
  for (const auto& c : curves_) {
    if (c->data.empty()) continue;
    lo = any ? std::min(lo, c->data.first().x) : c->data.first().x;
    hi = any ? std::max(hi, c->data.last().x) : c->data.last().x;
    any = true;
  }
  if (!any) return QCPRange(0, 1);
  if (hi - lo < 1e-9) return QCPRange(lo - 0.5, hi + 0.5);
  return QCPRange(lo, hi);
}

void LivePlot::redecimate(Curve& c) {
  const Panel& p = panels_[size_t(c.panel)];
  const QCPRange r = p.rect->axis(QCPAxis::atBottom)->range();
  const int columns = std::max(64, p.rect->width());
  std::vector<MetricSeries::Point> pts =
      c.data.decimate(r.lower / xScale_, r.upper / xScale_, columns);
  QVector<QCPGraphData> d;
  d.reserve(qsizetype(pts.size()));
  for (const auto& pt : pts) d.append(QCPGraphData(pt.x * xScale_, pt.y));
  c.graph->data()->set(d, true);
  // A decimated curve (about two points per pixel column) is a dense zig-zag: antialiasing it
  // triples the replot time (bench_training_gui) and changes nothing visible. Sparse curves
  // stay smooth.
  c.graph->setAntialiased(qsizetype(pts.size()) * 2 < columns);
  // Dots only where they stay apart.
  if (!c.graph->scatterStyle().isNone() || c.graph->property("dots").toBool()) {
    c.graph->setProperty("dots", true);
    QColor col = c.graph->pen().color();
    bool sparse = qsizetype(pts.size()) * 6 < columns;
    c.graph->setScatterStyle(sparse ? QCPScatterStyle(QCPScatterStyle::ssDisc, col, col, 5)
                                    : QCPScatterStyle());
  }
  c.dirty = false;
}

void LivePlot::fitValueAxes() {
  for (const Panel& p : panels_) {
    for (auto type : {QCPAxis::atLeft, QCPAxis::atRight}) {
      QCPAxis* axis = p.rect->axis(type);
      const QCPRange keys = p.rect->axis(QCPAxis::atBottom)->range();
      const QCP::SignDomain sign = p.log ? QCP::sdPositive : QCP::sdBoth;
      bool any = false;
      QCPRange all;
      for (QCPGraph* g : p.rect->graphs()) {
        if (g->valueAxis() != axis || g->dataCount() == 0) continue;
        bool found = false;
        QCPRange r = g->getValueRange(found, sign, keys);
        if (!found) continue;
        all = any ? QCPRange(std::min(all.lower, r.lower), std::max(all.upper, r.upper)) : r;
        any = true;
      }
      if (!any) continue;
      if (p.log && type == QCPAxis::atLeft) {
        axis->setRange(all.lower / 1.25, all.upper * 1.25);
      } else {
        // At least 2% of the values' size: a near-constant curve (memory, a fixed learning
        // rate) is drawn as the flat line it is, not as magnified noise.
        const double mid = 0.5 * (all.lower + all.upper);
        const double span = std::max({all.upper - all.lower, 0.02 * std::abs(mid), 1e-12});
        const double pad = span * 0.06;
        axis->setRange(mid - span / 2 - pad, mid + span / 2 + pad);
      }
    }
  }
}

bool LivePlot::refresh() {
  bool dirty = viewDirty_;
  for (const auto& c : curves_) dirty = dirty || c->dirty;
  if (!dirty) return false;
  if (follow_) {
    QCPRange r = dataXRange();
    r = QCPRange(r.lower * xScale_, r.upper * xScale_);
    settingRange_ = true;
    for (Panel& p : panels_) {
      QCPAxis* x = p.rect->axis(QCPAxis::atBottom);
      if (x->range() != r) {
        x->setRange(r);
        viewDirty_ = true;
      }
    }
    settingRange_ = false;
  }
  for (auto& c : curves_)
    if (viewDirty_ || c->dirty) redecimate(*c);
  viewDirty_ = false;
  fitValueAxes();
  replot(QCustomPlot::rpImmediateRefresh);
  return true;
}

void LivePlot::onXRangeChanged(const QCPRange& r, QCPAxis* source) {
  if (settingRange_) return;
  // The user dragged or zoomed one panel: the others follow it, the view stops following the
  // data, and every curve is decimated again for the new range (before the interaction's
  // queued replot draws it).
  settingRange_ = true;
  for (Panel& p : panels_) {
    QCPAxis* x = p.rect->axis(QCPAxis::atBottom);
    if (x != source) x->setRange(r);
  }
  settingRange_ = false;
  if (follow_) {
    follow_ = false;
    emit followingChanged(false);
  }
  for (auto& c : curves_) redecimate(*c);
  viewDirty_ = false;
  fitValueAxes();
}

void LivePlot::followData() {
  if (!follow_) {
    follow_ = true;
    emit followingChanged(true);
  }
  viewDirty_ = true;
  refresh();
}

void LivePlot::setXScale(double scale, const QString& label) {
  if (!(scale > 0)) return;
  if (!follow_) {
    settingRange_ = true;
    for (Panel& p : panels_) {
      QCPAxis* x = p.rect->axis(QCPAxis::atBottom);
      QCPRange r = x->range();
      x->setRange(r.lower / xScale_ * scale, r.upper / xScale_ * scale);
    }
    settingRange_ = false;
  }
  xScale_ = scale;
  xLabel_ = label;
  for (Panel& p : panels_) p.rect->axis(QCPAxis::atBottom)->setLabel(label);
  viewDirty_ = true;
  refresh();
}

void LivePlot::setLogScale(int panel, bool on) {
  Panel& p = panels_[size_t(panel)];
  p.log = on;
  QCPAxis* a = p.rect->axis(QCPAxis::atLeft);
  if (on) {
    a->setScaleType(QCPAxis::stLogarithmic);
    a->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
  } else {
    a->setScaleType(QCPAxis::stLinear);
    a->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
  }
  viewDirty_ = true;
  refresh();
}

void LivePlot::mouseDoubleClickEvent(QMouseEvent* e) {
  QCustomPlot::mouseDoubleClickEvent(e);
  followData();
}

void LivePlot::arrange() {
  const bool oneRow = height() < 300 && width() > 160 * panelCount();
  // Legends only where a panel is wide enough to show them beside its title.
  const int columns = oneRow ? panelCount() : 2;
  for (Panel& p : panels_) {
    const bool show = width() / std::max(1, columns) >= 420;
    p.legend->setVisible(show);
    // A hidden element keeps its cell's minimum size: give the title the whole row.
    p.legend->setMaximumSize(show ? QWIDGETSIZE_MAX : 0, QWIDGETSIZE_MAX);
  }
  if (oneRow == oneRow_ || panels_.empty()) return;
  oneRow_ = oneRow;
  for (Panel& p : panels_) plotLayout()->take(p.cell);
  plotLayout()->simplify();
  for (size_t i = 0; i < panels_.size(); ++i) {
    Panel& p = panels_[i];
    if (oneRow)
      plotLayout()->addElement(0, int(i), p.cell);
    else
      plotLayout()->addElement(p.row, p.col, p.cell);
  }
}

void LivePlot::resizeEvent(QResizeEvent* e) {
  arrange();
  QCustomPlot::resizeEvent(e);
  viewDirty_ = true;  // other pixel columns: decimate again once the layout is done
  QTimer::singleShot(0, this, [this] { refresh(); });
}

bool LivePlot::exportPng(const QString& path, int width, int height) {
  return savePng(path, width, height);
}

bool LivePlot::exportPdf(const QString& path) {
  return savePdf(path);
}

bool LivePlot::exportCsv(const QString& path) const {
  QFile f(path);
  if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate | QIODevice::Text)) return false;
  QTextStream out(&f);
  out << "curve,x,y\n";
  for (const auto& c : curves_)
    for (const MetricSeries::Point& p : c->data.points())
      out << c->key << ',' << QString::number(p.x, 'g', 12) << ',' << QString::number(p.y, 'g', 10)
          << '\n';
  out.flush();
  return f.error() == QFile::NoError;
}

}  // namespace ng::plots
