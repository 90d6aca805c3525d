#include "widgets/nodegraph/view/layer_palette.h"

#include <QApplication>
#include <QHeaderView>
#include <QKeyEvent>
#include <QLineEdit>
#include <QMimeData>
#include <QPainter>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <map>

#include "engine/graph/layer_registry.h"
#include "widgets/nodegraph/view/mime.h"
#include "widgets/nodegraph/view/node_style.h"

namespace ng::gui {

namespace {

constexpr int kTypeRole = Qt::UserRole;
constexpr int kSummaryRole = Qt::UserRole + 1;

// A tree whose kind items drag as mime::kLayerType.
class PaletteTree : public QTreeWidget {
 public:
  using QTreeWidget::QTreeWidget;

 protected:
  QMimeData* mimeData(const QList<QTreeWidgetItem*>& items) const override {
    for (QTreeWidgetItem* it : items)
      if (QString t = it->data(0, kTypeRole).toString(); !t.isEmpty())
        return LayerPalette::mimeDataFor(t);
    return nullptr;
  }
  void keyPressEvent(QKeyEvent* e) override {
    if ((e->key() == Qt::Key_Return || e->key() == Qt::Key_Enter) && currentItem() &&
        !currentItem()->data(0, kTypeRole).toString().isEmpty()) {
      emit itemActivated(currentItem(), 0);
      return;
    }
    QTreeWidget::keyPressEvent(e);
  }
};

}  // namespace

void LayerItemDelegate::paint(QPainter* p, const QStyleOptionViewItem& o,
                              const QModelIndex& i) const {
  QString summary = i.data(kSummaryRole).toString();
  if (summary.isEmpty()) {
    QStyledItemDelegate::paint(p, o, i);
    return;
  }
  QStyleOptionViewItem opt = o;
  initStyleOption(&opt, i);
  QString name = opt.text;
  opt.text.clear();
  QWidget* w = const_cast<QWidget*>(o.widget);
  (w ? w->style() : QApplication::style())->drawControl(QStyle::CE_ItemViewItem, &opt, p, w);
  QRect r = opt.rect.adjusted(opt.decorationSize.width() + 10, 2, -4, -2);
  QFont bold = opt.font;
  bold.setBold(true);
  QFontMetrics fmBold(bold);
  p->save();
  QPalette::ColorGroup cg =
      opt.state & QStyle::State_Enabled ? QPalette::Normal : QPalette::Disabled;
  QColor text = opt.palette.color(
      cg, opt.state & QStyle::State_Selected ? QPalette::HighlightedText : QPalette::Text);
  p->setFont(bold);
  p->setPen(text);
  p->drawText(QRect(r.left(), r.top(), r.width(), fmBold.height()),
              Qt::AlignLeft | Qt::AlignVCenter, name);
  QFont small = opt.font;
  small.setPointSizeF(std::max(7.0, small.pointSizeF() - 1));
  QFontMetrics fm(small);
  QColor dim = text;
  dim.setAlpha(170);
  p->setFont(small);
  p->setPen(dim);
  p->drawText(QRect(r.left(), r.top() + fmBold.height(), r.width(), fm.height()),
              Qt::AlignLeft | Qt::AlignVCenter, fm.elidedText(summary, Qt::ElideRight, r.width()));
  p->restore();
}

QSize LayerItemDelegate::sizeHint(const QStyleOptionViewItem& o, const QModelIndex& i) const {
  QSize s = QStyledItemDelegate::sizeHint(o, i);
  if (i.data(kSummaryRole).toString().isEmpty()) return s;
  QFontMetrics fm(o.font);
  return QSize(s.width(), std::max(s.height(), 2 * fm.height() + 6));
}

LayerPalette::LayerPalette(QWidget* parent) : QWidget(parent) {
  setObjectName("layerPalette");
  auto* lay = new QVBoxLayout(this);
  lay->setContentsMargins(4, 4, 4, 4);
  lay->setSpacing(4);
  search_ = new QLineEdit(this);
  search_->setPlaceholderText(tr("Search layers"));
  search_->setClearButtonEnabled(true);
  tree_ = new PaletteTree(this);
  tree_->setHeaderHidden(true);
  tree_->setRootIsDecorated(true);
  tree_->setIndentation(12);
  tree_->setIconSize(QSize(20, 20));
  tree_->setDragEnabled(true);
  tree_->setDragDropMode(QAbstractItemView::DragOnly);
  tree_->setSelectionMode(QAbstractItemView::SingleSelection);
  tree_->setItemDelegate(new LayerItemDelegate(tree_));
  tree_->setTextElideMode(Qt::ElideRight);
  tree_->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  lay->addWidget(search_);
  lay->addWidget(tree_);

  // Categories in registry (palette) order, kinds as registered.
  std::map<ng::LayerCategory, QTreeWidgetItem*> groups;
  for (const ng::LayerDef& d : ng::LayerRegistry::instance().kinds()) {
    QTreeWidgetItem*& g = groups[d.category];
    if (!g) {
      g = new QTreeWidgetItem(tree_, {style::categoryLabel(d.category)});
      g->setIcon(0, style::categoryIcon(d.category));
      QFont f = g->font(0);
      f.setBold(true);
      g->setFont(0, f);
      g->setFlags(Qt::ItemIsEnabled);
    }
    auto* it = new QTreeWidgetItem(g, {QString::fromStdString(d.name)});
    it->setIcon(0, style::categoryIcon(d.category));
    it->setData(0, kTypeRole, QString::fromStdString(d.name));
    it->setData(0, kSummaryRole, QString::fromStdString(d.summary));
    it->setToolTip(0, QString("<b>%1</b><br>%2<br><br>%3")
                          .arg(QString::fromStdString(d.name),
                               QString::fromStdString(d.summary).toHtmlEscaped(),
                               QString::fromStdString(d.description).toHtmlEscaped()));
    it->setFlags(Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemIsDragEnabled);
  }
  tree_->expandAll();

  connect(search_, &QLineEdit::textChanged, this, &LayerPalette::applyFilter);
  connect(search_, &QLineEdit::returnPressed, this, [this] {
    if (QString t = highlightedType(); !t.isEmpty()) emit addRequested(t);
  });
  search_->installEventFilter(this);
  connect(tree_, &QTreeWidget::itemActivated, this, [this](QTreeWidgetItem* it) {
    if (QString t = it->data(0, kTypeRole).toString(); !t.isEmpty()) emit addRequested(t);
  });
}

QMimeData* LayerPalette::mimeDataFor(const QString& type) {
  auto* md = new QMimeData;
  md->setData(mime::kLayerType, type.toUtf8());
  md->setText(type);
  return md;
}

QTreeWidgetItem* LayerPalette::itemFor(const QString& type) const {
  for (int g = 0; g < tree_->topLevelItemCount(); ++g)
    for (int k = 0; k < tree_->topLevelItem(g)->childCount(); ++k)
      if (tree_->topLevelItem(g)->child(k)->data(0, kTypeRole).toString() == type)
        return tree_->topLevelItem(g)->child(k);
  return nullptr;
}

QStringList LayerPalette::visibleTypes() const {
  QStringList r;
  for (int g = 0; g < tree_->topLevelItemCount(); ++g) {
    QTreeWidgetItem* group = tree_->topLevelItem(g);
    if (group->isHidden()) continue;
    for (int k = 0; k < group->childCount(); ++k)
      if (!group->child(k)->isHidden()) r << group->child(k)->data(0, kTypeRole).toString();
  }
  return r;
}

QString LayerPalette::highlightedType() const {
  QTreeWidgetItem* it = tree_->currentItem();
  if (it && !it->isHidden() && it->parent() && !it->parent()->isHidden())
    return it->data(0, kTypeRole).toString();
  QStringList v = visibleTypes();
  return v.value(0);
}

bool LayerPalette::eventFilter(QObject* o, QEvent* e) {
  // Up and Down in the search field move the highlight through the kinds shown.
  if (o == search_ && e->type() == QEvent::KeyPress) {
    int key = static_cast<QKeyEvent*>(e)->key();
    if (key == Qt::Key_Up || key == Qt::Key_Down) {
      QStringList v = visibleTypes();
      if (v.isEmpty()) return true;
      int at = int(v.indexOf(highlightedType()));
      at = std::clamp(at + (key == Qt::Key_Down ? 1 : -1), 0, int(v.size()) - 1);
      QTreeWidgetItem* it = itemFor(v[at]);
      tree_->setCurrentItem(it);
      tree_->scrollToItem(it);
      return true;
    }
  }
  return QWidget::eventFilter(o, e);
}

void LayerPalette::applyFilter(const QString& text) {
  QString t = text.trimmed();
  for (int g = 0; g < tree_->topLevelItemCount(); ++g) {
    QTreeWidgetItem* group = tree_->topLevelItem(g);
    bool groupMatches = group->text(0).contains(t, Qt::CaseInsensitive);
    int shown = 0;
    for (int k = 0; k < group->childCount(); ++k) {
      QTreeWidgetItem* it = group->child(k);
      bool match = t.isEmpty() || groupMatches || it->text(0).contains(t, Qt::CaseInsensitive) ||
                   it->data(0, kSummaryRole).toString().contains(t, Qt::CaseInsensitive);
      it->setHidden(!match);
      shown += match;
    }
    group->setHidden(shown == 0);
  }
  tree_->expandAll();
  // Highlight the best match: the name itself, else a name starting with the text, else the
  // first shown.
  QTreeWidgetItem* best = nullptr;
  int bestRank = 3;
  for (const QString& type : visibleTypes()) {
    int rank = type.compare(t, Qt::CaseInsensitive) == 0 ? 0
               : type.startsWith(t, Qt::CaseInsensitive) ? 1
               : type.contains(t, Qt::CaseInsensitive)   ? 2
                                                         : 3;
    if (!best || rank < bestRank) best = itemFor(type), bestRank = rank;
  }
  if (t.isEmpty()) best = nullptr;
  tree_->setCurrentItem(best);
  if (best) tree_->scrollToItem(best);
}

}  // namespace ng::gui
