#include "app/gui/training/runs_panel.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonDocument>
#include <QLabel>
#include <QPushButton>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <cmath>

namespace ng::gui {

RunsPanel::RunsPanel(QWidget* parent) : QWidget(parent) {
  setObjectName("runsPanel");
  list_ = new QTreeWidget;
  list_->setObjectName("runsList");
  list_->setHeaderLabels({tr("Run"), tr("Status"), tr("Epochs"), tr("Best"), tr("Started")});
  list_->setRootIsDecorated(false);
  list_->setAlternatingRowColors(true);
  list_->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
  empty_ =
      new QLabel(tr("Runs of this project appear here (each run's folder in runs/ next to "
                    "the project file)."));
  empty_->setWordWrap(true);
  empty_->setStyleSheet("color: #8a8f98; padding: 6px");
  overlay_ = new QPushButton(tr("Overlay"));
  overlay_->setToolTip(tr("Draw this run's per-epoch curves over the plots, for comparison"));
  resume_ = new QPushButton(tr("Resume"));
  resume_->setToolTip(
      tr("Continue this run from its last checkpoint (weights, optimiser state, "
         "epoch and history)"));
  weights_ = new QPushButton(tr("Start from weights"));
  weights_->setToolTip(tr("Start a new run whose weights start from this run's best checkpoint"));
  auto* buttons = new QHBoxLayout;
  buttons->addWidget(overlay_);
  buttons->addWidget(resume_);
  buttons->addWidget(weights_);
  buttons->addStretch(1);
  auto* lay = new QVBoxLayout(this);
  lay->setContentsMargins(0, 0, 0, 4);
  lay->addWidget(empty_);
  lay->addWidget(list_, 1);
  lay->addLayout(buttons);
  connect(list_, &QTreeWidget::itemSelectionChanged, this, &RunsPanel::updateButtons);
  connect(overlay_, &QPushButton::clicked, this, [this] {
    QString dir = selectedRun();
    if (!dir.isEmpty()) emit overlayRequested(QFileInfo(dir).fileName(), record(dir));
  });
  connect(resume_, &QPushButton::clicked, this, [this] {
    QString dir = selectedRun();
    if (!dir.isEmpty()) emit resumeRequested(QDir(dir).filePath("last.h5"));
  });
  connect(weights_, &QPushButton::clicked, this, [this] {
    QString dir = selectedRun();
    if (dir.isEmpty()) return;
    QString best = QDir(dir).filePath("best.h5");
    emit weightsRequested(QFileInfo::exists(best) ? best : QDir(dir).filePath("last.h5"));
  });
  updateButtons();
}

void RunsPanel::setFolder(const QString& runsDir) {
  folder_ = runsDir;
  refresh();
}

QJsonObject RunsPanel::record(const QString& runDir) const {
  QFile f(QDir(runDir).filePath("run.json"));
  if (!f.open(QIODevice::ReadOnly)) return {};
  return QJsonDocument::fromJson(f.readAll()).object();
}

void RunsPanel::refresh() {
  const QString keep = selectedRun();
  list_->clear();
  QDir dir(folder_);
  const QFileInfoList runs =
      folder_.isEmpty()
          ? QFileInfoList()
          : dir.entryInfoList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name | QDir::Reversed);
  for (const QFileInfo& fi : runs) {
    QJsonObject r = record(fi.absoluteFilePath());
    if (r.value("format").toString() != "neurograph-run") continue;
    auto* item = new QTreeWidgetItem(list_);
    item->setText(0, fi.fileName());
    item->setData(0, Qt::UserRole, fi.absoluteFilePath());
    item->setText(1, r.value("status").toString());
    item->setText(2, r.contains("epochs_completed")
                         ? QString::number(r.value("epochs_completed").toInt())
                         : QString());
    if (r.contains("best_metric"))
      item->setText(3, QString("%1 %2")
                           .arg(r.value("monitor").toString())
                           .arg(r.value("best_metric").toDouble(), 0, 'f', 4));
    item->setText(4, r.value("started").toString().replace('T', ' ').remove('Z'));
    item->setToolTip(0, QString("%1\ngraph %2 · seed %3 · %4 parameters")
                            .arg(fi.absoluteFilePath(), r.value("graph_hash").toString())
                            .arg(r.value("seed").toInteger())
                            .arg(r.value("parameters").toInteger()));
    if (fi.absoluteFilePath() == keep) item->setSelected(true);
  }
  empty_->setVisible(list_->topLevelItemCount() == 0);
  updateButtons();
}

QString RunsPanel::selectedRun() const {
  QList<QTreeWidgetItem*> sel = list_->selectedItems();
  return sel.isEmpty() ? QString() : sel.first()->data(0, Qt::UserRole).toString();
}

void RunsPanel::select(const QString& runDir) {
  const QString want = QFileInfo(runDir).absoluteFilePath();
  for (int i = 0; i < list_->topLevelItemCount(); ++i) {
    QTreeWidgetItem* it = list_->topLevelItem(i);
    it->setSelected(it->data(0, Qt::UserRole).toString() == want);
  }
}

void RunsPanel::updateButtons() {
  const QString dir = selectedRun();
  overlay_->setEnabled(!dir.isEmpty() && record(dir).contains("history"));
  resume_->setEnabled(!dir.isEmpty() && QFileInfo::exists(QDir(dir).filePath("last.h5")));
  weights_->setEnabled(!dir.isEmpty() && (QFileInfo::exists(QDir(dir).filePath("best.h5")) ||
                                          QFileInfo::exists(QDir(dir).filePath("last.h5"))));
}

}  // namespace ng::gui
