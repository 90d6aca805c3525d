// IssuesPanel: every diagnostic of the graph (and of the project's dataset and training
// sections), errors first; clicking one asks to select its node.
#pragma once

#include <QTreeWidget>

namespace ng::gui {

class GraphModel;

class IssuesPanel : public QTreeWidget {
  Q_OBJECT
 public:
  explicit IssuesPanel(GraphModel* model, QWidget* parent = nullptr);
  void refresh();

 signals:
  void nodeActivated(const QString& id);

 protected:
  void paintEvent(QPaintEvent* e) override;  // says so when there is nothing to list

 private:
  GraphModel* model_;
};

}  // namespace ng::gui
