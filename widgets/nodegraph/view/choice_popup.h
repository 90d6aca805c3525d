// ChoicePopup: a small keyboard-first chooser at a point of the screen: a filter field over a
// list; typing filters (every word typed must appear), Up/Down move, Enter or a click chooses,
// Escape closes. The canvas uses it to connect the selected node to a port ("Connect to…"), to
// remove a wire ("Disconnect…") and to find a node by name ("Find Node…").
//   popup->setChoices({{"conv1 \u00b7 input", "conv1:input"}, ...}, tr("Connect relu1 to…"));
//   connect(popup, &ChoicePopup::chosen, this, [](const QString& key) { ... });
//   popup->popup(QCursor::pos());
#pragma once

#include <QList>

#include "widgets/nodegraph/view/filter_list_popup.h"

class QLabel;

namespace ng::gui {

class ChoicePopup : public FilterListPopup {
  Q_OBJECT
 public:
  struct Choice {
    QString text;     // what the list shows
    QString key;      // what chosen() gives
    QString tooltip;  // optional
  };
  explicit ChoicePopup(QWidget* parent = nullptr);
  void setChoices(const QList<Choice>& choices, const QString& title);

 private:
  void applyFilter(const QString& text) override;
  QLabel* title_;
  QList<Choice> choices_;
};

}  // namespace ng::gui
