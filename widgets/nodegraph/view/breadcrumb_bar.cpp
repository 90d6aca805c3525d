#include "widgets/nodegraph/view/breadcrumb_bar.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>

#include "widgets/nodegraph/model/graph_model.h"

namespace ng::gui {

BreadcrumbBar::BreadcrumbBar(GraphModel* model, QWidget* parent)
    : QFrame(parent), model_(model), lay_(new QHBoxLayout(this)) {
  setObjectName("breadcrumbBar");
  setFrameShape(QFrame::StyledPanel);
  setAutoFillBackground(true);
  lay_->setContentsMargins(6, 2, 6, 2);
  lay_->setSpacing(4);
  connect(model_, &GraphModel::scopeChanged, this, &BreadcrumbBar::rebuild);
  connect(model_, &GraphModel::modelReset, this, &BreadcrumbBar::rebuild);
  rebuild();
}

QStringList BreadcrumbBar::steps() const {
  QStringList r;
  for (int i = 0; i < lay_->count(); ++i) {
    QWidget* w = lay_->itemAt(i)->widget();
    if (auto* b = qobject_cast<QToolButton*>(w)) r << b->text().remove('&');
    if (auto* l = qobject_cast<QLabel*>(w); l && l->objectName() == "current") r << l->text();
  }
  return r;
}

void BreadcrumbBar::rebuild() {
  while (QLayoutItem* it = lay_->takeAt(0)) {
    delete it->widget();
    delete it;
  }
  const QStringList& path = model_->scopePath();
  QStringList names{tr("Main graph")};
  for (int i = 0; i < path.size(); ++i) names << path[i];
  // The block each step shows: the last one is the scope itself.
  for (int i = 0; i < names.size(); ++i) {
    bool last = i + 1 == names.size();
    QString text = names[i];
    if (last && !model_->scope().isEmpty())
      text = tr("%1 (block %2)").arg(names[i], model_->scope());
    if (last) {
      auto* l = new QLabel(text, this);
      l->setObjectName("current");
      l->setTextFormat(Qt::PlainText);
      QFont f = l->font();
      f.setBold(true);
      l->setFont(f);
      lay_->addWidget(l);
    } else {
      auto* b = new QToolButton(this);
      b->setText(text);
      b->setAutoRaise(true);
      b->setToolTip(i + 2 == names.size() ? tr("Back to %1 (Alt+Up)").arg(names[i])
                                          : tr("Back to %1").arg(names[i]));
      connect(b, &QToolButton::clicked, this, [this, i] { model_->leaveToDepth(i); });
      lay_->addWidget(b);
      auto* sep = new QLabel(QString::fromUtf8("\u203a"), this);
      lay_->addWidget(sep);
    }
  }
  // (Shown after the children are added: a child made while its parent is visible stays
  // hidden until shown.)
  for (QWidget* w : findChildren<QWidget*>(QString(), Qt::FindDirectChildrenOnly)) w->show();
  setVisible(!path.isEmpty() || !model_->scope().isEmpty());
  adjustSize();
}

}  // namespace ng::gui
