// ChoicePopup: a small keyboard-first chooser at a point of the screen: a filter field over a
// list; typing filters (every word typed must appear), Up/Down move, Enter or a click chooses,
// Escape closes. The canvas uses it to connect the selected node to a port ("Connect to…"), to
// remove a wire ("Disconnect…") and to find a node by name ("Find Node…").
//   popup->setChoices({{"conv1 \u00b7 input", "conv1:input"}, ...}, tr("Connect relu1 to…"));
//   connect(popup, &ChoicePopup::chosen, this, [](const QString& key) { ... });
//   popup->popup(QCursor::pos());
#pragma once

#include <QFrame>
#include <QPair>

class QLabel;
class QLineEdit;
class QListWidget;

namespace ng::gui {

class ChoicePopup : public QFrame {
  Q_OBJECT
 public:
  struct Choice {
    QString text;     // what the list shows
    QString key;      // what chosen() gives
    QString tooltip;  // optional
  };
  explicit ChoicePopup(QWidget* parent = nullptr);
  void setChoices(const QList<Choice>& choices, const QString& title);
  void popup(QPoint globalPos);
  QLineEdit* filterField() const { return filter_; }
  QListWidget* list() const { return list_; }
  // The keys shown for the current filter, in order.
  QStringList shownKeys() const;

 signals:
  void chosen(const QString& key);

 protected:
  bool eventFilter(QObject* o, QEvent* e) override;

 private:
  void applyFilter(const QString& text);
  void choose();
  QLabel* title_;
  QLineEdit* filter_;
  QListWidget* list_;
  QList<Choice> choices_;
};

}  // namespace ng::gui
