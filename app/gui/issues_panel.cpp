#include "app/gui/issues_panel.h"

#include <QHeaderView>
#include <QPainter>

#include "widgets/nodegraph/model/graph_model.h"
#include "widgets/nodegraph/view/node_style.h"

namespace ng::gui {

namespace {
QIcon dot(const QColor& c) {
  // Drawn at twice the size and marked so: sharp on high-DPI screens, scaled down elsewhere.
  QPixmap pm(28, 28);
  pm.setDevicePixelRatio(2);
  pm.fill(Qt::transparent);
  QPainter p(&pm);
  p.setRenderHint(QPainter::Antialiasing);
  p.setBrush(c);
  p.setPen(Qt::NoPen);
  p.drawEllipse(QRectF(2, 2, 10, 10));
  return QIcon(pm);
}
}  // namespace

IssuesPanel::IssuesPanel(GraphModel* model, QWidget* parent) : QTreeWidget(parent), model_(model) {
  setObjectName("issuesPanel");
  setColumnCount(3);
  setHeaderLabels({tr("Severity"), tr("Node"), tr("Message")});
  setRootIsDecorated(false);
  setUniformRowHeights(true);
  setAlternatingRowColors(true);
  setWordWrap(false);
  header()->setStretchLastSection(true);
  header()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
  header()->setSectionResizeMode(1, QHeaderView::ResizeToContents);
  connect(model_, &GraphModel::analysisChanged, this, &IssuesPanel::refresh);
  connect(model_, &GraphModel::trainingChanged, this, &IssuesPanel::refresh);  // its problems
  connect(this, &QTreeWidget::itemClicked, this, [this](QTreeWidgetItem* it) {
    QString id = it->data(1, Qt::UserRole).toString();
    if (!id.isEmpty()) emit nodeActivated(id);
  });
  connect(this, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* it) {
    QString id = it->data(1, Qt::UserRole).toString();
    if (!id.isEmpty()) emit nodeActivated(id);
  });
  refresh();
}

void IssuesPanel::paintEvent(QPaintEvent* e) {
  QTreeWidget::paintEvent(e);
  if (topLevelItemCount() > 0) return;
  QPainter p(viewport());
  QColor c = palette().color(QPalette::Text);
  c.setAlpha(150);
  p.setPen(c);
  p.drawText(viewport()->rect().adjusted(10, 6, -10, -6), Qt::AlignLeft | Qt::AlignTop,
             model_->nodes().empty()
                 ? tr("No layers yet: add some from the Layers pane, or press Tab on the canvas.")
                 : tr("No problems: every shape fits."));
}

void IssuesPanel::refresh() {
  clear();
  viewport()->update();
  // An empty graph has one complaint (no loss node): the empty list's hint says what to do.
  std::vector<ng::Diagnostic> all;
  if (!model_->nodes().empty()) all = model_->analysis().diagnostics;
  all.insert(all.end(), model_->projectDiagnostics().begin(), model_->projectDiagnostics().end());
  std::stable_sort(all.begin(), all.end(), [](const ng::Diagnostic& a, const ng::Diagnostic& b) {
    return a.severity == ng::Severity::Error && b.severity != ng::Severity::Error;
  });
  static const QIcon err = dot(style::errorColor()), warn = dot(style::warningColor());
  for (const ng::Diagnostic& d : all) {
    bool e = d.severity == ng::Severity::Error;
    auto* it = new QTreeWidgetItem(
        this, {e ? tr("error") : tr("warning"), QString::fromStdString(d.node_id),
               QString::fromStdString(d.message)});
    it->setIcon(0, e ? err : warn);
    it->setData(1, Qt::UserRole, QString::fromStdString(d.node_id));
    it->setToolTip(2, QString::fromStdString(d.message));
  }
}

}  // namespace ng::gui
