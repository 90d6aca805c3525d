#include "widgets/nodegraph/view/filter_list_popup.h"

#include <QGuiApplication>
#include <QKeyEvent>
#include <QLineEdit>
#include <QListWidget>
#include <QScreen>
#include <QVBoxLayout>

namespace ng::gui {

FilterListPopup::FilterListPopup(QWidget* parent, const QString& objectName,
                                 const QString& placeholder)
    : QFrame(parent, Qt::Popup) {
  setFrameShape(QFrame::StyledPanel);
  setObjectName(objectName);
  layout_ = new QVBoxLayout(this);
  layout_->setContentsMargins(4, 4, 4, 4);
  layout_->setSpacing(4);
  filter_ = new QLineEdit(this);
  filter_->setPlaceholderText(placeholder);
  filter_->setClearButtonEnabled(true);
  list_ = new QListWidget(this);
  list_->setUniformItemSizes(true);
  layout_->addWidget(filter_);
  layout_->addWidget(list_);
  // The subclass's applyFilter is reached through the virtual call only once it is constructed.
  connect(filter_, &QLineEdit::textChanged, this, [this](const QString& t) { applyFilter(t); });
  connect(filter_, &QLineEdit::returnPressed, this, &FilterListPopup::choose);
  connect(list_, &QListWidget::itemActivated, this, &FilterListPopup::choose);
  connect(list_, &QListWidget::itemClicked, this, &FilterListPopup::choose);
  filter_->installEventFilter(this);
}

void FilterListPopup::popup(QPoint globalPos) {
  filter_->clear();
  applyFilter({});  // every item, the first highlighted (and the subclass's size for them)
  QScreen* s = QGuiApplication::screenAt(globalPos);
  QRect screen = s ? s->availableGeometry() : QRect(0, 0, 4000, 4000);
  QPoint p = globalPos;
  p.setX(std::max(screen.left(), std::min(p.x(), screen.right() - width())));
  p.setY(std::max(screen.top(), std::min(p.y(), screen.bottom() - height())));
  move(p);
  show();
  filter_->setFocus();
}

QStringList FilterListPopup::shownKeys() const {
  QStringList r;
  for (int i = 0; i < list_->count(); ++i) r << list_->item(i)->data(Qt::UserRole).toString();
  return r;
}

void FilterListPopup::choose() {
  QListWidgetItem* it = list_->currentItem();
  if (!it) return;
  QString key = it->data(Qt::UserRole).toString();
  hide();
  emit chosen(key);
}

bool FilterListPopup::eventFilter(QObject* o, QEvent* e) {
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
