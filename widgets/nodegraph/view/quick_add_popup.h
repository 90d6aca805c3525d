// The quick-add popup: Tab on the canvas opens it at the cursor; typing filters every layer kind
// of the registry (by name, then category and summary); Enter or a click adds the highlighted
// kind, Escape closes it.
//   auto* popup = new QuickAddPopup(view);
//   connect(popup, &QuickAddPopup::chosen, view, [&](const QString& type) { ... });
//   popup->popup(QCursor::pos());
#pragma once

#include <QFrame>

class QLineEdit;
class QListWidget;

namespace ng::gui {

class QuickAddPopup : public QFrame {
  Q_OBJECT
 public:
  explicit QuickAddPopup(QWidget* parent = nullptr);
  void popup(QPoint globalPos);
  QLineEdit* filterField() const { return filter_; }
  QListWidget* list() const { return list_; }
  // The kinds shown for the current filter, best match first.
  QStringList shownTypes() const;

 signals:
  void chosen(const QString& type);

 protected:
  bool eventFilter(QObject* o, QEvent* e) override;

 private:
  void applyFilter(const QString& text);
  void choose();
  QLineEdit* filter_;
  QListWidget* list_;
};

}  // namespace ng::gui
