#include "widgets/nodegraph/view/quick_add_popup.h"

#include <QLineEdit>
#include <QListWidget>

#include "engine/graph/layer_registry.h"
#include "widgets/nodegraph/view/layer_palette.h"
#include "widgets/nodegraph/view/node_style.h"

namespace ng::gui {

QuickAddPopup::QuickAddPopup(QWidget* parent)
    : FilterListPopup(parent, "quickAddPopup", tr("Add a layer: type to search")) {
  list()->setItemDelegate(new LayerItemDelegate(list()));
  list()->setIconSize(QSize(18, 18));
  resize(380, 380);
  applyFilter({});
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
  list()->clear();
  for (const auto& [r, d] : shown) {
    auto* it = new QListWidgetItem(style::categoryIcon(d->category),
                                   QString::fromStdString(d->name), list());
    it->setData(Qt::UserRole, QString::fromStdString(d->name));
    it->setData(Qt::UserRole + 1, QString::fromStdString(d->summary));  // LayerItemDelegate
    it->setToolTip(QString::fromStdString(d->description));
  }
  if (list()->count()) list()->setCurrentRow(0);
  // As tall as what it lists, up to 380 pixels: one match is one row, not a column of space.
  int rows = std::max(1, list()->count());
  int rowHeight = list()->count() ? list()->sizeHintForRow(0) : filterField()->sizeHint().height();
  int h = filterField()->sizeHint().height() + 12 + 2 * list()->frameWidth() + rows * rowHeight;
  resize(380, std::min(380, h));
}

}  // namespace ng::gui
