#include "widgets/nodegraph/view/choice_popup.h"

#include <QGuiApplication>
#include <QKeyEvent>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QRegularExpression>
#include <QScreen>
#include <QVBoxLayout>

namespace ng::gui {

ChoicePopup::ChoicePopup(QWidget* parent) : QFrame(parent, Qt::Popup) {
  setFrameShape(QFrame::StyledPanel);
  setObjectName("choicePopup");
  auto* lay = new QVBoxLayout(this);
  lay->setContentsMargins(4, 4, 4, 4);
  lay->setSpacing(4);
  title_ = new QLabel(this);
  title_->setTextFormat(Qt::PlainText);
  filter_ = new QLineEdit(this);
  filter_->setPlaceholderText(tr("Type to filter"));
  filter_->setClearButtonEnabled(true);
  list_ = new QListWidget(this);
  list_->setUniformItemSizes(true);
  lay->addWidget(title_);
  lay->addWidget(filter_);
  lay->addWidget(list_);
  // Sized in text lines, so that it keeps its proportions at any scale factor.
  QFontMetrics fm(font());
  resize(fm.averageCharWidth() * 48, fm.height() * 18);
  connect(filter_, &QLineEdit::textChanged, this, &ChoicePopup::applyFilter);
  connect(filter_, &QLineEdit::returnPressed, this, &ChoicePopup::choose);
  connect(list_, &QListWidget::itemActivated, this, &ChoicePopup::choose);
  connect(list_, &QListWidget::itemClicked, this, &ChoicePopup::choose);
  filter_->installEventFilter(this);
}

void ChoicePopup::setChoices(const QList<Choice>& choices, const QString& title) {
  choices_ = choices;
  title_->setText(title);
  filter_->clear();
  applyFilter({});
}

void ChoicePopup::popup(QPoint globalPos) {
  QScreen* s = QGuiApplication::screenAt(globalPos);
  QRect screen = s ? s->availableGeometry() : QRect(0, 0, 4000, 4000);
  QPoint p = globalPos;
  p.setX(std::max(screen.left(), std::min(p.x(), screen.right() - width())));
  p.setY(std::max(screen.top(), std::min(p.y(), screen.bottom() - height())));
  move(p);
  show();
  filter_->setFocus();
}

void ChoicePopup::applyFilter(const QString& text) {
  // Every word typed must appear ("loss in" finds "loss1 \u00b7 input"); those starting with the
  // first word come first.
  QStringList words = text.split(QRegularExpression("\\s+"), Qt::SkipEmptyParts);
  auto all = [&](const QString& s) {
    for (const QString& w : words)
      if (!s.contains(w, Qt::CaseInsensitive)) return false;
    return true;
  };
  list_->clear();
  for (int pass = 0; pass < 2; ++pass)
    for (const Choice& c : choices_) {
      bool match = all(c.text);
      bool starts = words.isEmpty() || (match && c.text.startsWith(words[0], Qt::CaseInsensitive));
      bool contains = !starts && match;
      if ((pass == 0 && !starts) || (pass == 1 && !contains)) continue;
      auto* it = new QListWidgetItem(c.text, list_);
      it->setData(Qt::UserRole, c.key);
      if (!c.tooltip.isEmpty()) it->setToolTip(c.tooltip);
    }
  if (list_->count()) list_->setCurrentRow(0);
}

QStringList ChoicePopup::shownKeys() const {
  QStringList r;
  for (int i = 0; i < list_->count(); ++i) r << list_->item(i)->data(Qt::UserRole).toString();
  return r;
}

void ChoicePopup::choose() {
  QListWidgetItem* it = list_->currentItem();
  if (!it) return;
  QString key = it->data(Qt::UserRole).toString();
  hide();
  emit chosen(key);
}

bool ChoicePopup::eventFilter(QObject* o, QEvent* e) {
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
