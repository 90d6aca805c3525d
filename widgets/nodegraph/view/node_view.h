// NodeGraphView: the canvas widget. Wheel zooms at the cursor, the middle button or Space+drag
// pans, a left drag on empty canvas selects with a rubber band; layers dropped from the palette
// become nodes; Tab opens the quick-add popup at the cursor (with one node selected, the new
// node is placed after it and wired to it). Its actions (copy, paste, duplicate, delete, select
// all, fit, zoom, layout) carry the standard shortcuts, scoped to the canvas, and the main
// window puts the same actions in its menus.
//   NodeGraphView view(&scene);
//   view.fitToView();
//   view.addNodeAt("Conv2d", view.mapToScene(view.viewport()->rect().center()));
#pragma once

#include <QGraphicsView>

#include "widgets/nodegraph/view/node_scene.h"

class QAction;

namespace ng::gui {

class MiniMap;
class QuickAddPopup;

class NodeGraphView : public QGraphicsView {
  Q_OBJECT
 public:
  explicit NodeGraphView(NodeGraphScene* scene, QWidget* parent = nullptr);
  NodeGraphScene* graphScene() const { return scene_; }
  GraphModel* model() const { return scene_->model(); }

  QAction* copyAction() const { return copy_; }
  QAction* cutAction() const { return cut_; }
  QAction* pasteAction() const { return paste_; }
  QAction* duplicateAction() const { return duplicate_; }
  QAction* deleteAction() const { return delete_; }
  QAction* selectAllAction() const { return selectAll_; }
  QAction* fitAction() const { return fit_; }
  QAction* zoomInAction() const { return zoomIn_; }
  QAction* zoomOutAction() const { return zoomOut_; }
  QAction* layoutAction() const { return layout_; }
  QAction* miniMapAction() const { return miniMapToggle_; }
  MiniMap* miniMap() const { return miniMap_; }

  QuickAddPopup* quickAddPopup() const { return quickAdd_; }
  // A layered layout of the whole graph whose long chains wrap to suit the canvas's shape.
  std::map<QString, QPointF> computeLayout() const;
  double zoom() const { return transform().m11(); }

 public slots:
  // Adds a node of `type` centred at a scene point and selects it; returns its id.
  QString addNodeAt(const QString& type, QPointF scenePos);
  void fitToView();
  void zoomBy(double factor);
  void copySelection();
  void cutSelection();
  void pasteClipboard();
  void duplicateSelection();
  void deleteSelection();
  void selectAll();
  void autoLayout();
  // Opens the quick-add popup for the scene point under `viewPos` (the cursor when invalid).
  void openQuickAdd(QPoint viewPos = QPoint(-1, -1));

 signals:
  void statusMessage(const QString& text);
  // Project files (*.ngraph) dropped on the canvas.
  void projectFilesDropped(const QStringList& paths);

 protected:
  bool event(QEvent* e) override;
  void wheelEvent(QWheelEvent* e) override;
  void mousePressEvent(QMouseEvent* e) override;
  void mouseMoveEvent(QMouseEvent* e) override;
  void mouseReleaseEvent(QMouseEvent* e) override;
  void mouseDoubleClickEvent(QMouseEvent* e) override;
  void keyPressEvent(QKeyEvent* e) override;
  void keyReleaseEvent(QKeyEvent* e) override;
  void drawBackground(QPainter* p, const QRectF& rect) override;
  void resizeEvent(QResizeEvent* e) override;
  void scrollContentsBy(int dx, int dy) override;
  void dragEnterEvent(QDragEnterEvent* e) override;
  void dragMoveEvent(QDragMoveEvent* e) override;
  void dropEvent(QDropEvent* e) override;

 private:
  QAction* makeAction(const QString& text, const QKeySequence& key, void (NodeGraphView::*slot)());
  void quickAddChosen(const QString& type);
  void pasteFragment(const nlohmann::json& fragment, std::optional<QPointF> at);
  std::optional<QPointF> cursorScenePos() const;

  NodeGraphScene* scene_;
  QuickAddPopup* quickAdd_;
  MiniMap* miniMap_;
  QAction* miniMapToggle_;
  void placeMiniMap();
  QPointF quickAddAt_;
  QString quickAddAfter_;  // the node selected when Tab was pressed
  bool panning_ = false, spaceHeld_ = false;
  QPoint panLast_;
  QAction *copy_, *cut_, *paste_, *duplicate_, *delete_, *selectAll_, *fit_, *zoomIn_, *zoomOut_,
      *layout_;
};

}  // namespace ng::gui
