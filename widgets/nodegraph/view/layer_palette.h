// LayerPalette: every layer kind of the registry, grouped by category (with the category's
// icon), each with its one-line summary; a search field filters by name, category and summary.
// While typing, the best match is highlighted (the name itself, else a name that starts with
// the text, else the first shown); Up and Down in the search field move the highlight, and Enter
// adds the highlighted kind. Drag a kind onto the canvas, or double-click it (or press Enter), to
// add it (the main window
// puts it after the selected node, wired: NodeGraphView::addAfterSelection).
//   auto* palette = new LayerPalette;
//   connect(palette, &LayerPalette::addRequested, view, [&](const QString& t) { ... });
#pragma once

#include <QStyledItemDelegate>
#include <QWidget>

class QLineEdit;
class QMimeData;
class QTreeWidget;
class QTreeWidgetItem;

namespace ng::gui {

// Draws a kind as its name over its summary (Qt::UserRole + 1), dimmed.
class LayerItemDelegate : public QStyledItemDelegate {
 public:
  using QStyledItemDelegate::QStyledItemDelegate;
  void paint(QPainter* p, const QStyleOptionViewItem& o, const QModelIndex& i) const override;
  QSize sizeHint(const QStyleOptionViewItem& o, const QModelIndex& i) const override;
};

class LayerPalette : public QWidget {
  Q_OBJECT
 public:
  explicit LayerPalette(QWidget* parent = nullptr);
  QLineEdit* searchField() const { return search_; }
  QTreeWidget* tree() const { return tree_; }
  // The kinds the filter leaves visible, in palette order.
  QStringList visibleTypes() const;
  QTreeWidgetItem* itemFor(const QString& type) const;
  // What a drag of `type` carries (mime::kLayerType).
  static QMimeData* mimeDataFor(const QString& type);
  // The highlighted kind, the one Enter in the search field adds ("" when none is shown).
  QString highlightedType() const;

 signals:
  void addRequested(const QString& type);

 private:
  void applyFilter(const QString& text);
  bool eventFilter(QObject* o, QEvent* e) override;
  QLineEdit* search_;
  QTreeWidget* tree_;
};

}  // namespace ng::gui
