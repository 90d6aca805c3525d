#include "app/gui/training/graph_lock.h"

#include <QGraphicsSceneMouseEvent>
#include <QKeyEvent>

#include "app/gui/main_window.h"
#include "widgets/inspector/node_inspector.h"
#include "widgets/nodegraph/view/layer_palette.h"
#include "widgets/nodegraph/view/node_scene.h"
#include "widgets/nodegraph/view/node_view.h"

namespace ng::gui {

GraphLock::GraphLock(MainWindow* window) : QObject(window), window_(window) {}

void GraphLock::setLocked(bool on) {
  if (on == locked_) return;
  locked_ = on;
  window_->setGraphEditable(!on);
  window_->palette()->setEnabled(!on);
  window_->inspector()->setEnabled(!on);
  NodeGraphView* view = window_->view();
  for (QObject* o : {static_cast<QObject*>(view), static_cast<QObject*>(view->viewport()),
                     static_cast<QObject*>(window_->scene())}) {
    if (on)
      o->installEventFilter(this);
    else
      o->removeEventFilter(this);
  }
  view->setAcceptDrops(!on);
}

bool GraphLock::eventFilter(QObject* watched, QEvent* e) {
  if (!locked_) return false;
  switch (e->type()) {
    case QEvent::KeyPress: {
      // Tab (quick-add) and the edit keys; navigation (arrows, F, +/-, space-pan) passes.
      auto* k = static_cast<QKeyEvent*>(e);
      if (k->key() == Qt::Key_Tab || k->key() == Qt::Key_Delete || k->key() == Qt::Key_Backspace)
        return true;
      return false;
    }
    case QEvent::MouseButtonDblClick:  // quick-add on empty canvas
    case QEvent::DragEnter:
    case QEvent::DragMove:
    case QEvent::Drop:
    case QEvent::GraphicsSceneMouseDoubleClick:
    case QEvent::GraphicsSceneDragEnter:
    case QEvent::GraphicsSceneDragMove:
    case QEvent::GraphicsSceneDrop:
      return true;
    case QEvent::GraphicsSceneMousePress: {
      // A press on a port starts a wire (or picks one up): refused. Elsewhere it selects.
      auto* m = static_cast<QGraphicsSceneMouseEvent*>(e);
      for (QGraphicsItem* it : window_->scene()->items(m->scenePos()))
        if (it->type() == PortItem::Type) return true;
      return false;
    }
    case QEvent::GraphicsSceneMouseMove: {
      // Dragging would move nodes.
      auto* m = static_cast<QGraphicsSceneMouseEvent*>(e);
      return (m->buttons() & Qt::LeftButton) != 0;
    }
    default:
      return false;
  }
  Q_UNUSED(watched);
}

}  // namespace ng::gui
