// BreadcrumbBar: where the canvas is while a block is open: "Main graph › stage1 (resblock)",
// each earlier step a button that goes back there; hidden on the main graph. NodeGraphView keeps
// one in its top-left corner. Keyboard: Alt+Up goes back one step (the view's Leave Block).
//   auto* bar = new BreadcrumbBar(model, view);   // follows GraphModel::scopeChanged
#pragma once

#include <QFrame>

class QHBoxLayout;

namespace ng::gui {

class GraphModel;

class BreadcrumbBar : public QFrame {
  Q_OBJECT
 public:
  BreadcrumbBar(GraphModel* model, QWidget* parent);
  // The steps shown, e.g. {"Main graph", "stage1 (resblock)"}.
  QStringList steps() const;

 private:
  void rebuild();
  GraphModel* model_;
  QHBoxLayout* lay_;
};

}  // namespace ng::gui
