#include "widgets/nodegraph/view/choice_popup.h"

#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QRegularExpression>
#include <QVBoxLayout>

namespace ng::gui {

ChoicePopup::ChoicePopup(QWidget* parent)
    : FilterListPopup(parent, "choicePopup", tr("Type to filter")) {
  title_ = new QLabel(this);
  title_->setTextFormat(Qt::PlainText);
  layout_->insertWidget(0, title_);
  // Sized in text lines, so that it keeps its proportions at any scale factor.
  QFontMetrics fm(font());
  resize(fm.averageCharWidth() * 48, fm.height() * 18);
}

void ChoicePopup::setChoices(const QList<Choice>& choices, const QString& title) {
  choices_ = choices;
  title_->setText(title);
  filterField()->clear();
  applyFilter({});
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
  list()->clear();
  for (int pass = 0; pass < 2; ++pass)
    for (const Choice& c : choices_) {
      bool match = all(c.text);
      bool starts = words.isEmpty() || (match && c.text.startsWith(words[0], Qt::CaseInsensitive));
      bool contains = !starts && match;
      if ((pass == 0 && !starts) || (pass == 1 && !contains)) continue;
      auto* it = new QListWidgetItem(c.text, list());
      it->setData(Qt::UserRole, c.key);
      if (!c.tooltip.isEmpty()) it->setToolTip(c.tooltip);
    }
  if (list()->count()) list()->setCurrentRow(0);
}

}  // namespace ng::gui
