#include "widgets/nodegraph/view/quick_add_popup.h"

#include <QGuiApplication>
#include <QKeyEvent>
#include <QLineEdit>
#include <QListWidget>
#include <QScreen>
#include <QVBoxLayout>

#include "engine/graph/layer_registry.h"
#include "widgets/nodegraph/view/layer_palette.h"
#include "widgets/nodegraph/view/node_style.h"

namespace ng::gui {

QuickAddPopup::QuickAddPopup(QWidget* parent) : QFrame(parent, Qt::Popup) {
  setFrameShape(QFrame::StyledPanel);
  setObjectName("quickAddPopup");
  auto* lay = new QVBoxLayout(this);
  lay->setContentsMargins(4, 4, 4, 4);
  lay->setSpacing(4);
  filter_ = new QLineEdit(this);
  filter_->setPlaceholderText(tr("Add a layer: type to search"));
  filter_->setClearButtonEnabled(true);
  list_ = new QListWidget(this);
  list_->setUniformItemSizes(true);
  list_->setItemDelegate(new LayerItemDelegate(list_));
  list_->setIconSize(QSize(18, 18));
  lay->addWidget(filter_);
  lay->addWidget(list_);
  resize(380, 380);
  connect(filter_, &QLineEdit::textChanged, this, &QuickAddPopup::applyFilter);
  connect(filter_, &QLineEdit::returnPressed, this, &QuickAddPopup::choose);
  connect(list_, &QListWidget::itemActivated, this, &QuickAddPopup::choose);
  connect(list_, &QListWidget::itemClicked, this, &QuickAddPopup::choose);
  filter_->installEventFilter(this);
  applyFilter({});
}

void QuickAddPopup::popup(QPoint globalPos) {
  filter_->clear();
  applyFilter({});
  QRect screen = QGuiApplication::screenAt(globalPos)
                     ? QGuiApplication::screenAt(globalPos)->availableGeometry()
                     : QRect(0, 0, 4000, 4000);
  QPoint p = globalPos;
  p.setX(std::min(p.x(), screen.right() - width()));
  p.setY(std::min(p.y(), screen.bottom() - height()));
  move(p);
  show();
  filter_->setFocus();
}

void QuickAddPopup::applyFilter(const QString& text) {
  QString t = text.trimmed();
  // Names that start with the text first, then names containing it, then kinds whose category
  // or summary mention it; registry order within each group.
  std::vector<std::pair<int, const ng::LayerDef*>> shown;
  for (const ng::LayerDef& d : ng::LayerRegistry::instance().kinds()) {
    QString name = QString::fromStdString(d.name);
    int r = -1;
    if (t.isEmpty() || name.startsWith(t, Qt::CaseInsensitive))
      r = 0;
    else if (name.contains(t, Qt::CaseInsensitive))
      r = 1;
    else if (style::categoryLabel(d.category).contains(t, Qt::CaseInsensitive) ||
             QString::fromStdString(d.summary).contains(t, Qt::CaseInsensitive))
      r = 2;
    if (r >= 0) shown.push_back({r, &d});
  }
  std::stable_sort(shown.begin(), shown.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  list_->clear();
  for (const auto& [r, d] : shown) {
    auto* it = new QListWidgetItem(style::categoryIcon(d->category),
                                   QString::fromStdString(d->name), list_);
    it->setData(Qt::UserRole, QString::fromStdString(d->name));
    it->setData(Qt::UserRole + 1, QString::fromStdString(d->summary));  // LayerItemDelegate
    it->setToolTip(QString::fromStdString(d->description));
  }
  if (list_->count()) list_->setCurrentRow(0);
  // As tall as what it lists, up to 380 pixels: one match is one row, not a column of space.
  int rows = std::max(1, list_->count());
  int rowHeight = list_->count() ? list_->sizeHintForRow(0) : filter_->sizeHint().height();
  int h = filter_->sizeHint().height() + 12 + 2 * list_->frameWidth() + rows * rowHeight;
  resize(380, std::min(380, h));
}

QStringList QuickAddPopup::shownTypes() const {
  QStringList r;
  for (int i = 0; i < list_->count(); ++i) r << list_->item(i)->data(Qt::UserRole).toString();
  return r;
}

void QuickAddPopup::choose() {
  QListWidgetItem* it = list_->currentItem();
  if (!it) return;
  QString type = it->data(Qt::UserRole).toString();
  hide();
  emit chosen(type);
}

bool QuickAddPopup::eventFilter(QObject* o, QEvent* e) {
  if (o == filter_ && e->type() == QEvent::KeyPress) {
    auto* k = static_cast<QKeyEvent*>(e);
    int step = k->key() == Qt::Key_Down ? 1 : k->key() == Qt::Key_Up ? -1 : 0;
    if (step) {
      int row = list_->currentRow();
      if (row + step >= 0 && row + step < list_->count()) list_->setCurrentRow(row + step);
      return true;
    }
    if (k->key() == Qt::Key_Escape) {
      hide();
      return true;
    }
  }
  return QFrame::eventFilter(o, e);
}

}  // namespace ng::gui
