// FilterListPopup: what the canvas's keyboard-first choosers share: a filter field over a list,
// in a popup frame. Typing refilters (the subclass decides what matches, in applyFilter), Up/Down
// move the highlight, Enter or a click emits chosen() with the item's key (Qt::UserRole), Escape
// closes. ChoicePopup (connect, disconnect, find) and QuickAddPopup (Tab: add a layer) are its
// two kinds.
#pragma once

#include <QFrame>

class QLineEdit;
class QListWidget;
class QVBoxLayout;

namespace ng::gui {

class FilterListPopup : public QFrame {
  Q_OBJECT
 public:
  // Shows the popup at globalPos, kept on that screen, with an empty filter and the focus in it.
  void popup(QPoint globalPos);
  QLineEdit* filterField() const { return filter_; }
  QListWidget* list() const { return list_; }
  // The keys shown for the current filter, in order.
  QStringList shownKeys() const;

 signals:
  void chosen(const QString& key);

 protected:
  FilterListPopup(QWidget* parent, const QString& objectName, const QString& placeholder);
  // Refills list() for the filter text and highlights its first row.
  virtual void applyFilter(const QString& text) = 0;
  QVBoxLayout* layout_;  // the subclass may put widgets above the filter field

 private:
  bool eventFilter(QObject* o, QEvent* e) override;
  void choose();
  QLineEdit* filter_;
  QListWidget* list_;
};

}  // namespace ng::gui
