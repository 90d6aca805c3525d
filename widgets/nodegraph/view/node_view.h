// NodeGraphView: the canvas widget. Wheel zooms at the cursor, the middle button or Space+drag
// pans, a left drag on empty canvas selects with a rubber band; layers dropped from the palette
// become nodes; Tab opens the quick-add popup at the cursor (with one node selected, the new
// node is placed after it and wired to it; so is a layer double-clicked in the palette); an
// empty canvas says how to begin. Its actions (copy, paste, duplicate, delete, select
// all, fit, zoom, layout, blocks, frames, keyboard wiring) carry shortcuts scoped to the canvas,
// and the main window puts the same actions in its menus.
//
// Keyboard: arrows move the selected nodes (Shift: further) or pan when nothing is selected;
// Alt+Right / Alt+Left select the next node downstream / upstream (with Shift: add it to the
// selection); C connects the selected
// node's output to a port chosen from a list ("Connect To…"), Shift+C removes one of its wires;
// Ctrl+F finds a node (or a frame) by name; Ctrl+G makes a block of the selection, Enter opens the
// selected block, Alt+Up leaves it; Ctrl+Shift+F frames the selection, F2 renames the selected
// frame.
//   NodeGraphView view(&scene);
//   view.fitToView();
//   view.addNodeAt("Conv2d", view.mapToScene(view.viewport()->rect().center()));
#pragma once

#include <QGraphicsView>
#include <functional>

#include "widgets/nodegraph/view/node_scene.h"

class QAction;
class QLabel;

namespace ng::gui {

class BreadcrumbBar;
class ChoicePopup;
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
  QAction* makeBlockAction() const { return makeBlock_; }
  QAction* unpackBlockAction() const { return unpackBlock_; }
  QAction* openBlockAction() const { return openBlock_; }
  QAction* leaveBlockAction() const { return leaveBlock_; }
  QAction* addFrameAction() const { return addFrame_; }
  QAction* renameFrameAction() const { return renameFrame_; }
  QAction* connectAction() const { return connect_; }
  QAction* disconnectAction() const { return disconnect_; }
  QAction* findAction() const { return find_; }
  MiniMap* miniMap() const { return miniMap_; }
  BreadcrumbBar* breadcrumb() const { return breadcrumb_; }
  ChoicePopup* choicePopup() const { return choice_; }

  // Dialog hooks (an input dialog by default; tests answer them): the name of a new block, a
  // frame's title. An empty answer cancels.
  std::function<QString(const QString& suggestion)> askBlockName;
  std::function<QString(const QString& current)> askFrameTitle;

  QuickAddPopup* quickAddPopup() const { return quickAdd_; }
  // The "how to begin" text shown over an empty canvas.
  QLabel* emptyHint() const { return emptyHint_; }
  // A layered layout of the whole graph whose long chains wrap to suit the canvas's shape.
  std::map<QString, QPointF> computeLayout() const;
  double zoom() const { return transform().m11(); }

 public slots:
  // Adds a node of `type` centred at a scene point and selects it; returns its id.
  QString addNodeAt(const QString& type, QPointF scenePos);
  // With one node selected (that has an output, and `type` an input): the new node goes to its
  // right, wired to it, in one undo step. Otherwise as addNodeAt in the middle of the view.
  // The palette's double-click and Enter, like Tab's quick-add.
  QString addAfterSelection(const QString& type);
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
  // Blocks: of the selection (asking its name), unpack / open the selected Block node, back out.
  void makeBlock();
  void unpackBlock();
  void openSelectedBlock();
  void leaveBlock();
  // A frame around the selected nodes (or in the middle of the view), asking its title.
  void addFrame();
  void renameFrame(int frameId = 0);  // 0: the selected frame
  // Keyboard wiring and navigation (the choice popup).
  void openConnectPopup();
  void openDisconnectPopup();
  void openFindPopup();
  // Selects the next node along the wires (+1 downstream, -1 upstream) of the selected one;
  // `extend` adds it to the selection instead (Alt+Shift+Right / Left).
  void selectAlongWires(int direction, bool extend = false);
  // Moves the selected nodes and frames by a scene offset (one undo step).
  void nudgeSelection(QPointF delta);

 signals:
  void statusMessage(const QString& text);
  // Project files (*.ngraph) dropped on the canvas.
  void projectFilesDropped(const QStringList& paths);
  // F2 with one node (and no frame) selected: its name is edited in the inspector.
  void renameNodeRequested(const QString& id);

 protected:
  bool event(QEvent* e) override;
  bool viewportEvent(QEvent* e) override;
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
  QString addAfter(const QString& type, const QString& afterId, QPointF fallback);
  void placeEmptyHint();
  QLabel* emptyHint_ = nullptr;
  QString alongEnd_;  // the node selectAlongWires reached last
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
  QAction *makeBlock_, *unpackBlock_, *openBlock_, *leaveBlock_, *addFrame_, *renameFrame_,
      *connect_, *disconnect_, *find_;
  BreadcrumbBar* breadcrumb_;
  ChoicePopup* choice_;
  enum class ChoiceKind { Connect, Disconnect, Find } choiceKind_ = ChoiceKind::Find;
  QString choiceNode_;
  void choiceChosen(const QString& key);
  void placeOverlays();
  QString selectedBlock() const;
};

}  // namespace ng::gui
