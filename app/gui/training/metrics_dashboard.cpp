#include "app/gui/training/metrics_dashboard.h"

#include <unistd.h>

#include <QCheckBox>
#include <QComboBox>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QJsonArray>
#include <QLabel>
#include <QLocale>
#include <QMenu>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "widgets/plots/live_plot.h"

namespace ng::gui {

using namespace ng::train;
using ng::plots::LivePlot;

namespace {
const QColor kTrain(0x42, 0xa5, 0xf5), kVal(0xff, 0xa7, 0x26), kLr(0xab, 0x47, 0xbc),
    kSpeed(0x66, 0xbb, 0x6a), kMemory(0x90, 0xa4, 0xae);
QColor faded(QColor c) {
  c.setAlpha(110);
  return c;
}
}  // namespace

int64_t MetricsDashboard::residentBytes() {
  QFile f("/proc/self/statm");
  if (!f.open(QIODevice::ReadOnly)) return 0;
  QList<QByteArray> parts = f.readAll().split(' ');
  if (parts.size() < 2) return 0;
  return parts[1].toLongLong() * int64_t(sysconf(_SC_PAGESIZE));
}

MetricsDashboard::MetricsDashboard(QWidget* parent) : QWidget(parent) {
  setObjectName("metricsDashboard");
  auto* top = new QHBoxLayout;
  top->setContentsMargins(6, 4, 6, 0);
  top->addWidget(new QLabel(tr("x axis:")));
  unitBox_ = new QComboBox;
  unitBox_->setObjectName("xUnit");
  unitBox_->addItems({tr("steps"), tr("epochs")});
  top->addWidget(unitBox_);
  logLoss_ = new QCheckBox(tr("log-scale loss"));
  logLoss_->setObjectName("logLoss");
  top->addWidget(logLoss_);
  follow_ = new QToolButton;
  follow_->setObjectName("follow");
  follow_->setText(tr("Follow"));
  follow_->setCheckable(true);
  follow_->setChecked(true);
  follow_->setToolTip(
      tr("Keep the whole run in view (zooming or dragging a plot stops "
         "following; a double-click follows again)"));
  top->addWidget(follow_);
  auto* exportBtn = new QToolButton;
  exportBtn->setObjectName("export");
  exportBtn->setText(tr("Export"));
  exportBtn->setPopupMode(QToolButton::InstantPopup);
  auto* menu = new QMenu(exportBtn);
  menu->addAction(tr("Image (PNG)..."), this,
                  [this] { exportAs(tr("Export plots as PNG"), "PNG images (*.png)", "png"); });
  menu->addAction(tr("Vector (PDF)..."), this,
                  [this] { exportAs(tr("Export plots as PDF"), "PDF documents (*.pdf)", "pdf"); });
  menu->addAction(tr("Data (CSV)..."), this,
                  [this] { exportAs(tr("Export metrics as CSV"), "CSV files (*.csv)", "csv"); });
  exportBtn->setMenu(menu);
  top->addWidget(exportBtn);
  summary_ = new QLabel;
  summary_->setObjectName("summary");
  summary_->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
  summary_->setAlignment(Qt::AlignRight | Qt::AlignVCenter);
  top->addWidget(summary_, 1);

  plot_ = new LivePlot(this);
  plot_->setObjectName("livePlot");
  lossPanel_ = plot_->addPanel(tr("Loss"), 0, 0);
  int acc = accPanel_ = plot_->addPanel(tr("Accuracy"), 0, 1);
  int lr = plot_->addPanel(tr("Learning rate"), 1, 0);
  int speed = plot_->addPanel(tr("Throughput and memory"), 1, 1, tr("samples/s"));
  plot_->addCurve("loss.batch", lossPanel_, tr("training (batch)"), faded(kTrain));
  plot_->addCurve("loss.train", lossPanel_, tr("training (epoch)"), kTrain, LivePlot::LineAndDots);
  plot_->addCurve("loss.val", lossPanel_, tr("validation"), kVal, LivePlot::LineAndDots);
  plot_->addCurve("acc.batch", acc, tr("training (batch)"), faded(kTrain));
  plot_->addCurve("acc.train", acc, tr("training (epoch)"), kTrain, LivePlot::LineAndDots);
  plot_->addCurve("acc.val", acc, tr("validation"), kVal, LivePlot::LineAndDots);
  plot_->addCurve("lr", lr, tr("learning rate"), kLr);
  plot_->addCurve("throughput", speed, tr("samples/s"), kSpeed);
  plot_->addCurve("memory", speed, tr("memory (MiB)"), kMemory, LivePlot::Line,
                  LivePlot::Side::Right, tr("MiB"));

  auto* lay = new QVBoxLayout(this);
  lay->setContentsMargins(0, 0, 0, 0);
  lay->setSpacing(2);
  lay->addLayout(top);
  lay->addWidget(plot_, 1);

  deferred_ = new QTimer(this);
  deferred_->setSingleShot(true);
  connect(deferred_, &QTimer::timeout, this, [this] { refresh(); });

  pickExportFile = [this](const QString& title, const QString& filter) {
    return QFileDialog::getSaveFileName(this, title, QString(), filter);
  };
  connect(unitBox_, &QComboBox::currentIndexChanged, this,
          [this](int i) { setXUnit(i == 1 ? XUnit::Epoch : XUnit::Step); });
  connect(logLoss_, &QCheckBox::toggled, this,
          [this](bool on) { plot_->setLogScale(lossPanel_, on); });
  connect(follow_, &QToolButton::clicked, this, [this](bool on) {
    if (on) plot_->followData();
  });
  connect(plot_, &LivePlot::followingChanged, follow_, &QToolButton::setChecked);
}

void MetricsDashboard::addEvents(const std::vector<TrainingEvent>& events) {
  const StepEvent* lastStepEvent = nullptr;
  for (const TrainingEvent& e : events) {
    if (auto* s = std::get_if<StepEvent>(&e)) {
      const double x = double(s->step);
      plot_->append("loss.batch", x, s->batch_metrics.loss);
      plot_->append("acc.batch", x, s->batch_metrics.accuracy);
      plot_->append("lr", x, s->lr);
      plot_->append("throughput", x, s->samples_per_s);
      lastStep_ = s->step;
      if (s->batches_per_epoch != stepsPerEpoch_) {
        stepsPerEpoch_ = s->batches_per_epoch;
        if (unit_ == XUnit::Epoch) setXUnit(unit_);
      }
      lastStepEvent = s;
    } else if (auto* ep = std::get_if<EpochEvent>(&e)) {
      // The training metrics are means over the epoch's batches: drawn at the epoch's middle;
      // validation is measured after the epoch: at its end.
      const double x = double(ep->step);
      const double mid = x - 0.5 * double(stepsPerEpoch_);
      plot_->append("loss.train", mid, ep->train.loss);
      plot_->append("acc.train", mid, ep->train.accuracy);
      if (ep->val.samples > 0) {
        plot_->append("loss.val", x, ep->val.loss);
        plot_->append("acc.val", x, ep->val.accuracy);
      }
    }
  }
  if (lastStepEvent)  // once per batch of events
    summary_->setText(tr("epoch %1 · step %2 · %3 samples/s")
                          .arg(lastStepEvent->epoch)
                          .arg(lastStepEvent->step)
                          .arg(QLocale().toString(lastStepEvent->samples_per_s, 'f', 0)));
}

void MetricsDashboard::sampleMemory() {
  if (lastStep_ > 0)
    plot_->append("memory", double(lastStep_), double(residentBytes()) / 1048576.0);
}

bool MetricsDashboard::refresh() {
  QElapsedTimer t;
  t.start();
  const bool drawn = plot_->refresh();
  if (drawn) {
    const double ms = double(t.nsecsElapsed()) / 1e6;
    costMs_ = costMs_ > 0 ? 0.8 * costMs_ + 0.2 * ms : ms;
    minIntervalMs_ = std::clamp(int(12.0 * costMs_), 33, 250);
  }
  sinceRefresh_.start();
  deferred_->stop();
  return drawn;
}

void MetricsDashboard::requestRefresh() {
  const qint64 since = sinceRefresh_.isValid() ? sinceRefresh_.elapsed() : INT32_MAX;
  if (since >= minIntervalMs_) {
    refresh();
  } else if (!deferred_->isActive()) {
    deferred_->start(int(minIntervalMs_ - since));
  }
}

void MetricsDashboard::clear() {
  plot_->clearData("overlay.");
  lastStep_ = 0;
  summary_->clear();
  plot_->refresh();
}

void MetricsDashboard::addOverlay(const QString& name, const QJsonObject& record) {
  static const QColor colours[] = {QColor(0xce, 0x93, 0xd8), QColor(0x80, 0xcb, 0xc4),
                                   QColor(0xff, 0xcc, 0x80)};
  if (overlays_.contains(name)) return;
  while (overlays_.size() >= 3) {
    const QString old = overlays_.takeFirst();
    for (const QString& k : plot_->curveKeys())
      if (k.startsWith("overlay." + old + ".")) plot_->removeCurve(k);
  }
  const QJsonObject history = record.value("history").toObject();
  const double samples = record.value("dataset").toObject().value("train_samples").toDouble();
  const double batch = record.value("project")
                           .toObject()
                           .value("training")
                           .toObject()
                           .value("batch_size")
                           .toDouble();
  const double spe = batch > 0 ? std::ceil(samples / batch) : 1.0;
  const QColor colour = colours[overlayColour_++ % 3];
  struct Series {
    const char* key;
    int panel;
    QString label;
  };
  const Series series[] = {{"val_loss", lossPanel_, tr("validation (%1)")},
                           {"train_loss", lossPanel_, tr("training (%1)")},
                           {"val_accuracy", accPanel_, tr("validation (%1)")},
                           {"train_accuracy", accPanel_, tr("training (%1)")}};
  for (const Series& s : series) {
    const QJsonArray values = history.value(s.key).toArray();
    if (values.isEmpty()) continue;
    const QString key = "overlay." + name + "." + s.key;
    QColor c = colour;
    if (QString(s.key).startsWith("train")) c.setAlpha(150);
    plot_->addCurve(key, s.panel, s.label.arg(name), c);
    plot_->setCurveDashed(key);
    for (int e = 0; e < values.size(); ++e) {
      // Training means at mid-epoch, validation at the epoch's end (as the live curves).
      const double x = QString(s.key).startsWith("train") ? (e + 0.5) * spe : (e + 1) * spe;
      plot_->append(key, x, values[e].toDouble());
    }
  }
  overlays_ << name;
  plot_->refresh();
}

void MetricsDashboard::clearOverlays() {
  for (const QString& k : plot_->curveKeys())
    if (k.startsWith("overlay.")) plot_->removeCurve(k);
  overlays_.clear();
  plot_->refresh();
}

void MetricsDashboard::setXUnit(XUnit u) {
  unit_ = u;
  if (unitBox_->currentIndex() != (u == XUnit::Epoch ? 1 : 0))
    unitBox_->setCurrentIndex(u == XUnit::Epoch ? 1 : 0);
  if (u == XUnit::Epoch && stepsPerEpoch_ > 0)
    plot_->setXScale(1.0 / double(stepsPerEpoch_), tr("epoch"));
  else
    plot_->setXScale(1.0, u == XUnit::Epoch ? tr("epoch") : tr("step"));
}

bool MetricsDashboard::exportTo(const QString& path) {
  const QString suffix = QFileInfo(path).suffix().toLower();
  if (suffix == "png") return plot_->exportPng(path);
  if (suffix == "pdf") return plot_->exportPdf(path);
  if (suffix == "csv") return plot_->exportCsv(path);
  return false;
}

void MetricsDashboard::exportAs(const QString& title, const QString& filter,
                                const QString& suffix) {
  QString path = pickExportFile(title, filter);
  if (path.isEmpty()) return;
  if (QFileInfo(path).suffix().isEmpty()) path += "." + suffix;
  if (!exportTo(path))
    summary_->setText(tr("Could not write %1").arg(path));
  else
    summary_->setText(tr("Exported %1").arg(QFileInfo(path).fileName()));
}

}  // namespace ng::gui
