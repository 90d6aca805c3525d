#include "widgets/nodegraph/view/node_view.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QInputDialog>
#include <QLabel>
#include <QMimeData>
#include <QPainter>
#include <QScrollBar>
#include <QTimer>
#include <QUndoStack>
#include <QUrl>
#include <QWheelEvent>
#include <cmath>

#include "widgets/nodegraph/model/graph_layout.h"
#include "widgets/nodegraph/view/breadcrumb_bar.h"
#include "widgets/nodegraph/view/choice_popup.h"
#include "widgets/nodegraph/view/mime.h"
#include "widgets/nodegraph/view/mini_map.h"
#include "widgets/nodegraph/view/node_style.h"
#include "widgets/nodegraph/view/quick_add_popup.h"

namespace ng::gui {

NodeGraphView::NodeGraphView(NodeGraphScene* scene, QWidget* parent)
    : QGraphicsView(scene, parent), scene_(scene) {
  setRenderHints(QPainter::Antialiasing | QPainter::TextAntialiasing |
                 QPainter::SmoothPixmapTransform);
  setDragMode(QGraphicsView::RubberBandDrag);
  setRubberBandSelectionMode(Qt::IntersectsItemShape);
  setTransformationAnchor(QGraphicsView::AnchorUnderMouse);
  setResizeAnchor(QGraphicsView::AnchorViewCenter);
  setViewportUpdateMode(QGraphicsView::SmartViewportUpdate);
  // The grid is drawn once per zoom level and scrolled as a picture (drawBackground).
  setCacheMode(QGraphicsView::CacheBackground);
  setOptimizationFlags(QGraphicsView::DontSavePainterState);  // items set the hints they need
  setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setVerticalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  setFrameShape(QFrame::NoFrame);
  setFocusPolicy(Qt::StrongFocus);
  setAcceptDrops(true);
  viewport()->setAcceptDrops(true);
  setObjectName("nodeGraphView");

  copy_ = makeAction(tr("&Copy"), QKeySequence::Copy, &NodeGraphView::copySelection);
  cut_ = makeAction(tr("Cu&t"), QKeySequence::Cut, &NodeGraphView::cutSelection);
  paste_ = makeAction(tr("&Paste"), QKeySequence::Paste, &NodeGraphView::pasteClipboard);
  duplicate_ = makeAction(tr("&Duplicate"), QKeySequence(Qt::CTRL | Qt::Key_D),
                          &NodeGraphView::duplicateSelection);
  delete_ = makeAction(tr("De&lete"), QKeySequence::Delete, &NodeGraphView::deleteSelection);
  delete_->setShortcuts({QKeySequence::Delete, QKeySequence(Qt::Key_Backspace)});
  selectAll_ = makeAction(tr("Select &All"), QKeySequence::SelectAll, &NodeGraphView::selectAll);
  fit_ = makeAction(tr("&Fit to View"), QKeySequence(Qt::Key_F), &NodeGraphView::fitToView);
  zoomIn_ = makeAction(tr("Zoom &In"), QKeySequence::ZoomIn, nullptr);
  connect(zoomIn_, &QAction::triggered, this, [this] { zoomBy(1.25); });
  zoomOut_ = makeAction(tr("Zoom &Out"), QKeySequence::ZoomOut, nullptr);
  connect(zoomOut_, &QAction::triggered, this, [this] { zoomBy(0.8); });
  layout_ = makeAction(tr("Auto &Layout"), QKeySequence(Qt::CTRL | Qt::Key_L),
                       &NodeGraphView::autoLayout);
  makeBlock_ = makeAction(tr("Make &Block..."), QKeySequence(Qt::CTRL | Qt::Key_G),
                          &NodeGraphView::makeBlock);
  unpackBlock_ = makeAction(tr("Unpac&k Block"), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_G),
                            &NodeGraphView::unpackBlock);
  // (Enter also opens the selected block: keyPressEvent, so that the popups' fields keep it.)
  openBlock_ = makeAction(tr("Open &Block"), QKeySequence(Qt::ALT | Qt::Key_Down),
                          &NodeGraphView::openSelectedBlock);
  leaveBlock_ = makeAction(tr("Lea&ve Block"), QKeySequence(Qt::ALT | Qt::Key_Up),
                           &NodeGraphView::leaveBlock);
  addFrame_ = makeAction(tr("Add &Frame..."), QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_F),
                         &NodeGraphView::addFrame);
  renameFrame_ = makeAction(tr("Rena&me..."), QKeySequence(Qt::Key_F2), nullptr);
  connect(renameFrame_, &QAction::triggered, this, [this] { renameFrame(0); });
  connect_ =
      makeAction(tr("C&onnect To..."), QKeySequence(Qt::Key_C), &NodeGraphView::openConnectPopup);
  disconnect_ = makeAction(tr("Disconnect W&ire..."), QKeySequence(Qt::SHIFT | Qt::Key_C),
                           &NodeGraphView::openDisconnectPopup);
  find_ = makeAction(tr("Find &Node..."), QKeySequence::Find, &NodeGraphView::openFindPopup);
  QAction* next =
      makeAction(tr("Select Next Node"), QKeySequence(Qt::ALT | Qt::Key_Right), nullptr);
  connect(next, &QAction::triggered, this, [this] { selectAlongWires(+1); });
  QAction* prev =
      makeAction(tr("Select Previous Node"), QKeySequence(Qt::ALT | Qt::Key_Left), nullptr);
  connect(prev, &QAction::triggered, this, [this] { selectAlongWires(-1); });

  askBlockName = [this](const QString& suggestion) {
    bool ok = false;
    QString name = QInputDialog::getText(this, tr("Make block"),
                                         tr("Name of the block (its layers can be edited by "
                                            "opening it):"),
                                         QLineEdit::Normal, suggestion, &ok);
    return ok ? name.trimmed() : QString();
  };
  askFrameTitle = [this](const QString& current) {
    bool ok = false;
    QString t = QInputDialog::getText(this, tr("Frame title"), tr("Title:"), QLineEdit::Normal,
                                      current, &ok);
    return ok ? t : QString();
  };

  miniMap_ = new MiniMap(this);
  miniMapToggle_ = new QAction(tr("&Mini-map"), this);
  miniMapToggle_->setCheckable(true);
  miniMapToggle_->setChecked(true);
  miniMapToggle_->setShortcut(QKeySequence(Qt::Key_M));
  miniMapToggle_->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  addAction(miniMapToggle_);
  connect(miniMapToggle_, &QAction::toggled, this, [this](bool on) { placeMiniMap(); });
  // The map follows the graph (batched into the scene's own change notification).
  connect(scene_, &QGraphicsScene::changed, miniMap_, [this] { miniMap_->update(); });
  placeMiniMap();

  quickAdd_ = new QuickAddPopup(this);
  connect(quickAdd_, &QuickAddPopup::chosen, this, &NodeGraphView::quickAddChosen);
  connect(scene_, &NodeGraphScene::statusMessage, this, &NodeGraphView::statusMessage);
  connect(model(), &GraphModel::analysisChanged, this, &NodeGraphView::placeMiniMap);
  connect(model(), &GraphModel::modelReset, this, &NodeGraphView::placeMiniMap);

  // On the viewport, like the mini-map (a scroll moves them: scrollContentsBy puts them back).
  breadcrumb_ = new BreadcrumbBar(model(), viewport());
  choice_ = new ChoicePopup(this);
  connect(choice_, &ChoicePopup::chosen, this, &NodeGraphView::choiceChosen);
  connect(scene_, &NodeGraphScene::frameRenameRequested, this, [this](int id) { renameFrame(id); });
  // Another scope shown: show all of it (once the scene has rebuilt).
  connect(model(), &GraphModel::scopeChanged, this, [this] {
    placeOverlays();
    QTimer::singleShot(0, this, [this] { fitToView(); });
  });
  // An empty canvas says how to begin (hidden once there is a node).
  emptyHint_ = new QLabel(tr("Drag a layer here from the Layers pane, double-click one there,\n"
                             "or press Tab here and type its name.\n"
                             "A layer added while a node is selected follows it, already wired."),
                          viewport());
  emptyHint_->setObjectName("emptyCanvasHint");
  emptyHint_->setAlignment(Qt::AlignCenter);
  emptyHint_->setForegroundRole(QPalette::PlaceholderText);
  emptyHint_->setAttribute(Qt::WA_TransparentForMouseEvents);
  connect(model(), &GraphModel::analysisChanged, this, &NodeGraphView::placeEmptyHint);
  connect(model(), &GraphModel::modelReset, this, &NodeGraphView::placeEmptyHint);
  connect(model(), &GraphModel::scopeChanged, this, &NodeGraphView::placeEmptyHint);
  placeOverlays();
}

void NodeGraphView::placeEmptyHint() {
  // (placed also while the window is not shown yet: isVisible() would be false then)
  bool show = model()->nodes().empty() && model()->scopePath().isEmpty();
  emptyHint_->setVisible(show);
  if (!show) return;
  emptyHint_->adjustSize();
  QRect r = emptyHint_->rect();
  r.moveCenter(viewport()->rect().center());
  emptyHint_->move(r.topLeft());
}

bool NodeGraphView::viewportEvent(QEvent* e) {
  // The viewport gets its final size after the view's own resize (the window's first layout, a
  // restored geometry): the hint is centred again then.
  if (e->type() == QEvent::Resize && emptyHint_) placeEmptyHint();
  return QGraphicsView::viewportEvent(e);
}

void NodeGraphView::placeOverlays() {
  placeEmptyHint();
  breadcrumb_->adjustSize();
  breadcrumb_->move(10, 10);
  breadcrumb_->raise();
}

QAction* NodeGraphView::makeAction(const QString& text, const QKeySequence& key,
                                   void (NodeGraphView::*slot)()) {
  auto* a = new QAction(text, this);
  a->setShortcut(key);
  a->setShortcutContext(Qt::WidgetWithChildrenShortcut);
  if (slot) connect(a, &QAction::triggered, this, slot);
  addAction(a);
  return a;
}

// ---- adding --------------------------------------------------------------------------------

QString NodeGraphView::addNodeAt(const QString& type, QPointF scenePos) {
  QPointF topLeft(std::round(scenePos.x() - style::kNodeWidth / 2), std::round(scenePos.y() - 12));
  QString id = model()->addNode(type, scene_->freeSpot(topLeft, {0, 40}));
  if (id.isEmpty()) {
    emit statusMessage(tr("Unknown layer type '%1'.").arg(type));
    return id;
  }
  scene_->selectNodes({id});
  if (NodeItem* n = scene_->nodeItem(id)) ensureVisible(n, 40, 40);
  emit statusMessage(tr("Added %1 (%2).").arg(id, type));
  return id;
}

void NodeGraphView::openQuickAdd(QPoint viewPos) {
  if (!viewport()->rect().contains(viewPos)) viewPos = viewport()->mapFromGlobal(QCursor::pos());
  if (!viewport()->rect().contains(viewPos)) viewPos = viewport()->rect().center();
  quickAddAt_ = mapToScene(viewPos);
  QStringList sel = scene_->selectedNodeIds();
  quickAddAfter_ = sel.size() == 1 ? sel[0] : QString();
  quickAdd_->popup(viewport()->mapToGlobal(viewPos));
}

void NodeGraphView::quickAddChosen(const QString& type) {
  addAfter(type, quickAddAfter_, quickAddAt_);
  setFocus();
}

QString NodeGraphView::addAfterSelection(const QString& type) {
  QStringList sel = scene_->selectedNodeIds();
  return addAfter(type, sel.size() == 1 ? sel[0] : QString(),
                  mapToScene(viewport()->rect().center()));
}

QString NodeGraphView::addAfter(const QString& type, const QString& afterId, QPointF fallback) {
  const Node* after = model()->node(afterId);
  const ng::LayerDef* def = ng::LayerRegistry::instance().find(type.toStdString());
  if (!after || !def || def->inputs.empty() ||
      model()->portNames(after->id, PortSide::Output).isEmpty())
    return addNodeAt(type, fallback);
  // After the selected node: to its right (lower down while that spot is taken), wired to it.
  QSizeF size = scene_->nodeSize(after->id);
  QPointF pos = scene_->freeSpot(after->pos + QPointF(size.width() + 90, 0), {0, 130});
  QString from = after->id;
  QUndoStack* undo = model()->undoStack();
  undo->beginMacro(tr("Add %1 after %2").arg(type, from));
  QString id = model()->addNode(type, pos);
  QString why =
      model()->connect({from, model()->portNames(from, PortSide::Output)[0], PortSide::Output},
                       {id, QString::fromStdString(def->inputs[0].name), PortSide::Input});
  undo->endMacro();
  scene_->selectNodes({id});
  if (NodeItem* n = scene_->nodeItem(id)) ensureVisible(n, 40, 40);
  emit statusMessage(why.isEmpty() ? tr("Added %1 after %2.").arg(id, from)
                                   : tr("Added %1; not connected: %2").arg(id, why));
  return id;
}

// ---- clipboard -----------------------------------------------------------------------------

void NodeGraphView::copySelection() {
  QStringList ids = scene_->selectedNodeIds();
  if (ids.isEmpty()) {
    emit statusMessage(tr("Select nodes to copy."));
    return;
  }
  nlohmann::json frag = model()->fragment(ids);
  auto* md = new QMimeData;
  md->setData(mime::kGraphFragment, QByteArray::fromStdString(frag.dump()));
  md->setText(QString::fromStdString(frag.dump(2)));
  QApplication::clipboard()->setMimeData(md);
  emit statusMessage(tr("Copied %n node(s).", nullptr, int(ids.size())));
}

void NodeGraphView::cutSelection() {
  if (scene_->selectedNodeIds().isEmpty()) return;
  copySelection();
  deleteSelection();
}

std::optional<QPointF> NodeGraphView::cursorScenePos() const {
  QPoint p = viewport()->mapFromGlobal(QCursor::pos());
  if (!viewport()->rect().contains(p)) return std::nullopt;
  return mapToScene(p);
}

void NodeGraphView::pasteClipboard() {
  const QMimeData* md = QApplication::clipboard()->mimeData();
  QByteArray bytes;
  if (md && md->hasFormat(mime::kGraphFragment))
    bytes = md->data(mime::kGraphFragment);
  else if (md && md->hasText())
    bytes = md->text().toUtf8();
  nlohmann::json frag = nlohmann::json::parse(bytes.toStdString(), nullptr, false);
  if (frag.is_discarded() || !frag.is_object() || !frag.contains("nodes")) {
    emit statusMessage(tr("The clipboard holds no Neurograph nodes."));
    return;
  }
  pasteFragment(frag, cursorScenePos());
}

void NodeGraphView::duplicateSelection() {
  QStringList ids = scene_->selectedNodeIds();
  if (ids.isEmpty()) {
    emit statusMessage(tr("Select nodes to duplicate."));
    return;
  }
  pasteFragment(model()->fragment(ids), std::nullopt);
}

void NodeGraphView::pasteFragment(const nlohmann::json& frag, std::optional<QPointF> at) {
  QPointF offset(40, 40);
  if (at) {
    // The fragment's top-left corner goes to the cursor.
    double x = 1e300, y = 1e300;
    for (const auto& n : frag["nodes"])
      if (n.contains("position") && n["position"].is_array() && n["position"].size() == 2 &&
          n["position"][0].is_number() && n["position"][1].is_number()) {
        x = std::min(x, n["position"][0].get<double>());
        y = std::min(y, n["position"][1].get<double>());
      }
    if (x < 1e300) offset = QPointF(std::round(at->x() - x), std::round(at->y() - y));
  }
  try {
    QStringList ids = model()->paste(frag, offset);
    scene_->selectNodes(ids);
    emit statusMessage(tr("Pasted %n node(s).", nullptr, int(ids.size())));
  } catch (const std::exception& e) {
    emit statusMessage(tr("Cannot paste: %1").arg(QString::fromUtf8(e.what())));
  }
}

void NodeGraphView::deleteSelection() {
  scene_->deleteSelection();
}

void NodeGraphView::selectAll() {
  for (NodeItem* n : scene_->nodeItems()) n->setSelected(true);
}

std::map<QString, QPointF> NodeGraphView::computeLayout() const {
  // Long chains wrap into bands to suit the canvas's shape.
  QSizeF vp(std::max(200, viewport()->width()), std::max(150, viewport()->height()));
  return layoutToFit(
      *model(), [this](const QString& id) { return scene_->nodeSize(id); }, vp);
}

void NodeGraphView::autoLayout() {
  model()->moveNodes(computeLayout(), tr("Auto layout"));
  fitToView();
}

// ---- zoom and pan --------------------------------------------------------------------------

void NodeGraphView::fitToView() {
  QRectF r = scene_->nodesBoundingRect();
  if (r.isEmpty()) {
    resetTransform();
    centerOn(0, 0);
    return;
  }
  fitInView(r.adjusted(-40, -40, 40, 40), Qt::KeepAspectRatio);
  if (zoom() > 1.25) {
    setTransform(QTransform::fromScale(1.25, 1.25));
    centerOn(r.center());
  }
  // The mini-map lies over the canvas's corner: zoom out a little while it would hide a node.
  placeMiniMap();
  auto hidden = [&] {
    if (!miniMap_->isVisible()) return false;
    QRect map = miniMap_->geometry().adjusted(-6, -6, 0, 0);
    for (NodeItem* n : scene_->nodeItems())
      if (mapFromScene(n->sceneBoundingRect()).boundingRect().intersects(map)) return true;
    return false;
  };
  for (int i = 0; i < 6 && hidden(); ++i) {
    scale(0.9, 0.9);
    centerOn(r.center());
  }
  miniMap_->update();
}

void NodeGraphView::zoomBy(double factor) {
  double z = zoom();
  double target = std::clamp(z * factor, 0.08, 4.0);
  scale(target / z, target / z);
  miniMap_->update();
}

void NodeGraphView::placeMiniMap() {
  // Bottom right of the canvas (viewport coordinates); hidden while there is nothing to give an
  // overview of.
  QRect vp = viewport()->rect();
  // A fifth of the canvas's width (120 to 200 pixels), in the proportions of a canvas.
  int w = std::clamp(vp.width() / 5, 120, 200);
  if (miniMap_->width() != w) miniMap_->setFixedSize(w, w * 13 / 20);
  miniMap_->move(vp.right() - miniMap_->width() - 10, vp.bottom() - miniMap_->height() - 10);
  miniMap_->setVisible(miniMapToggle_->isChecked() && !scene_->nodeItems().isEmpty() &&
                       vp.width() > 3 * miniMap_->width() && vp.height() > 2 * miniMap_->height());
  miniMap_->raise();
  miniMap_->update();
}

void NodeGraphView::resizeEvent(QResizeEvent* e) {
  QGraphicsView::resizeEvent(e);
  placeMiniMap();
  placeOverlays();
}

void NodeGraphView::scrollContentsBy(int dx, int dy) {
  // The viewport's pixels are scrolled (only the uncovered strip is drawn); its child widgets
  // move with them: put the overlays back in their corners.
  QGraphicsView::scrollContentsBy(dx, dy);
  QRect vp = viewport()->rect();
  miniMap_->move(vp.right() - miniMap_->width() - 10, vp.bottom() - miniMap_->height() - 10);
  breadcrumb_->move(10, 10);
  miniMap_->update();
  if (emptyHint_->isVisible()) placeEmptyHint();
}

void NodeGraphView::wheelEvent(QWheelEvent* e) {
  double delta = e->angleDelta().y();
  if (delta == 0) delta = e->angleDelta().x();
  zoomBy(std::pow(1.0015, delta));
  e->accept();
}

void NodeGraphView::mousePressEvent(QMouseEvent* e) {
  if (e->button() == Qt::MiddleButton || (e->button() == Qt::LeftButton && spaceHeld_)) {
    panning_ = true;
    panLast_ = e->position().toPoint();
    viewport()->setCursor(Qt::ClosedHandCursor);
    e->accept();
    return;
  }
  QGraphicsView::mousePressEvent(e);
}

void NodeGraphView::mouseMoveEvent(QMouseEvent* e) {
  if (panning_) {
    QPoint d = e->position().toPoint() - panLast_;
    panLast_ = e->position().toPoint();
    horizontalScrollBar()->setValue(horizontalScrollBar()->value() - d.x());
    verticalScrollBar()->setValue(verticalScrollBar()->value() - d.y());
    e->accept();
    return;
  }
  QGraphicsView::mouseMoveEvent(e);
}

void NodeGraphView::mouseReleaseEvent(QMouseEvent* e) {
  if (panning_ && (e->button() == Qt::MiddleButton || e->button() == Qt::LeftButton)) {
    panning_ = false;
    viewport()->setCursor(spaceHeld_ ? Qt::OpenHandCursor : Qt::ArrowCursor);
    e->accept();
    return;
  }
  QGraphicsView::mouseReleaseEvent(e);
}

void NodeGraphView::mouseDoubleClickEvent(QMouseEvent* e) {
  QGraphicsItem* item = itemAt(e->position().toPoint());
  if (e->button() == Qt::LeftButton && !item) {
    scene_->clearSelection();
    openQuickAdd(e->position().toPoint());
    return;
  }
  // A block opens for editing.
  for (QGraphicsItem* it = item; it; it = it->parentItem())
    if (it->type() == NodeItem::Type && static_cast<NodeItem*>(it)->isBlock() &&
        e->button() == Qt::LeftButton) {
      QString id = static_cast<NodeItem*>(it)->id();
      if (model()->openBlock(id))
        emit statusMessage(tr("Editing block %1: Alt+Up goes back.").arg(model()->scope()));
      e->accept();
      return;
    }
  QGraphicsView::mouseDoubleClickEvent(e);
}

bool NodeGraphView::event(QEvent* e) {
  // Tab adds a layer instead of moving the focus.
  if (e->type() == QEvent::KeyPress) {
    auto* k = static_cast<QKeyEvent*>(e);
    if (k->key() == Qt::Key_Tab &&
        !(k->modifiers() & (Qt::ControlModifier | Qt::AltModifier | Qt::ShiftModifier))) {
      openQuickAdd();
      return true;
    }
  }
  return QGraphicsView::event(e);
}

void NodeGraphView::keyPressEvent(QKeyEvent* e) {
  if ((e->key() == Qt::Key_Return || e->key() == Qt::Key_Enter) && e->modifiers() == 0 &&
      !selectedBlock().isEmpty()) {
    openSelectedBlock();
    e->accept();
    return;
  }
  // Arrows move the selection (Shift: further); with nothing selected they pan.
  int dx = e->key() == Qt::Key_Left ? -1 : e->key() == Qt::Key_Right ? 1 : 0;
  int dy = e->key() == Qt::Key_Up ? -1 : e->key() == Qt::Key_Down ? 1 : 0;
  // Alt+Shift+arrows resize the selected frames.
  if ((dx || dy) && e->modifiers() == (Qt::AltModifier | Qt::ShiftModifier) &&
      !scene_->selectedFrameIds().isEmpty()) {
    for (int id : scene_->selectedFrameIds())
      if (const Frame* f = model()->frame(id))
        model()->setFrameRect(id,
                              QRectF(f->rect.topLeft(), f->rect.size() + QSizeF(dx * 20, dy * 20))
                                  .intersected(QRectF(f->rect.topLeft(), QSizeF(1e6, 1e6)))
                                  .united(QRectF(f->rect.topLeft(), QSizeF(120, 60))));
    e->accept();
    return;
  }
  // Alt+Shift+Right / Left (no frame selected) add the next node along the wires to the
  // selection: a run of layers chosen by keyboard, for Make Block or a frame.
  if (dx && e->modifiers() == (Qt::AltModifier | Qt::ShiftModifier) &&
      !scene_->selectedNodeIds().isEmpty()) {
    selectAlongWires(dx, true);
    e->accept();
    return;
  }
  if ((dx || dy) && !(e->modifiers() & (Qt::ControlModifier | Qt::AltModifier)) &&
      (!scene_->selectedNodeIds().isEmpty() || !scene_->selectedFrameIds().isEmpty())) {
    double step = e->modifiers() & Qt::ShiftModifier ? 100 : 20;
    nudgeSelection(QPointF(dx * step, dy * step));
    e->accept();
    return;
  }
  if (e->key() == Qt::Key_Space && !e->isAutoRepeat()) {
    spaceHeld_ = true;
    setDragMode(QGraphicsView::NoDrag);
    viewport()->setCursor(Qt::OpenHandCursor);
    e->accept();
    return;
  }
  QGraphicsView::keyPressEvent(e);
}

void NodeGraphView::keyReleaseEvent(QKeyEvent* e) {
  if (e->key() == Qt::Key_Space && !e->isAutoRepeat()) {
    spaceHeld_ = false;
    panning_ = false;
    setDragMode(QGraphicsView::RubberBandDrag);
    viewport()->setCursor(Qt::ArrowCursor);
    e->accept();
    return;
  }
  QGraphicsView::keyReleaseEvent(e);
}

void NodeGraphView::drawBackground(QPainter* p, const QRectF& rect) {
  p->fillRect(rect, style::canvasColor());
  double z = zoom();
  auto grid = [&](double step, const QColor& c) {
    if (step * z < 8) return;
    p->setPen(QPen(c, 0));
    double x0 = std::floor(rect.left() / step) * step, y0 = std::floor(rect.top() / step) * step;
    QVector<QLineF> lines;
    for (double x = x0; x < rect.right(); x += step)
      lines << QLineF(x, rect.top(), x, rect.bottom());
    for (double y = y0; y < rect.bottom(); y += step)
      lines << QLineF(rect.left(), y, rect.right(), y);
    p->drawLines(lines);
  };
  QColor minor = style::gridColor();
  minor.setAlpha(90);
  grid(20, minor);
  grid(100, style::gridColor());
}

// ---- drops from the palette (and project files) --------------------------------------------

namespace {
QStringList projectFiles(const QMimeData* md) {
  QStringList r;
  for (const QUrl& u : md->urls())
    if (u.isLocalFile() && u.toLocalFile().endsWith(".ngraph", Qt::CaseInsensitive))
      r << u.toLocalFile();
  return r;
}
}  // namespace

void NodeGraphView::dragEnterEvent(QDragEnterEvent* e) {
  dragMoveEvent(e);
}

void NodeGraphView::dragMoveEvent(QDragMoveEvent* e) {
  if (e->mimeData()->hasFormat(mime::kLayerType) || !projectFiles(e->mimeData()).isEmpty())
    e->acceptProposedAction();
  else
    e->ignore();
}

void NodeGraphView::dropEvent(QDropEvent* e) {
  if (QStringList files = projectFiles(e->mimeData()); !files.isEmpty()) {
    e->acceptProposedAction();
    emit projectFilesDropped(files);
    return;
  }
  if (!e->mimeData()->hasFormat(mime::kLayerType)) {
    e->ignore();
    return;
  }
  QString type = QString::fromUtf8(e->mimeData()->data(mime::kLayerType));
  addNodeAt(type, mapToScene(e->position().toPoint()));
  e->acceptProposedAction();
  setFocus();
}

// ---- blocks and frames ---------------------------------------------------------------------

QString NodeGraphView::selectedBlock() const {
  QStringList sel = scene_->selectedNodeIds();
  return sel.size() == 1 && model()->isBlockNode(sel[0]) ? sel[0] : QString();
}

void NodeGraphView::makeBlock() {
  QStringList ids = scene_->selectedNodeIds();
  QString why = model()->makeBlockError(ids);
  if (!why.isEmpty()) {
    emit statusMessage(tr("Cannot make a block: %1").arg(why));
    return;
  }
  QString name = askBlockName ? askBlockName(model()->freeBlockName({})) : QString();
  if (name.isEmpty()) return;
  QString id = model()->makeBlock(ids, name, &why);
  if (id.isEmpty()) {
    emit statusMessage(tr("Cannot make a block: %1").arg(why));
    return;
  }
  scene_->selectNodes({id});
  emit statusMessage(tr("Made block %1 of %n layer(s): Enter opens it, its repeat count is in "
                        "the inspector.",
                        nullptr, int(ids.size()))
                         .arg(model()->blockOf(id)));
}

void NodeGraphView::unpackBlock() {
  QString id = selectedBlock();
  if (id.isEmpty()) {
    emit statusMessage(tr("Select one block to unpack."));
    return;
  }
  QStringList ids = model()->unpackBlock(id);
  if (ids.isEmpty()) {
    emit statusMessage(tr("Block %1 cannot be unpacked: fix its problems first.").arg(id));
    return;
  }
  scene_->selectNodes(ids);
  emit statusMessage(tr("Unpacked %1 into %n layer(s).", nullptr, int(ids.size())).arg(id));
}

void NodeGraphView::openSelectedBlock() {
  QString id = selectedBlock();
  if (id.isEmpty() || !model()->openBlock(id)) {
    emit statusMessage(tr("Select a block to open (Make Block turns selected layers into one)."));
    return;
  }
  emit statusMessage(tr("Editing block %1: Alt+Up goes back.").arg(model()->scope()));
}

void NodeGraphView::leaveBlock() {
  if (model()->scopePath().isEmpty()) return;
  QString from = model()->scopePath().last();
  model()->leaveBlock();
  scene_->selectNodes({from});
}

void NodeGraphView::addFrame() {
  QRectF r;
  for (const QString& id : scene_->selectedNodeIds())
    if (NodeItem* n = scene_->nodeItem(id)) r = r.united(QRectF(n->pos(), n->size()));
  if (r.isNull()) {
    QPointF c = mapToScene(viewport()->rect().center());
    r = QRectF(c - QPointF(200, 120), QSizeF(400, 240));
  } else {
    r = r.adjusted(-24, -48, 24, 24);  // room for the title bar
  }
  r = QRectF(std::round(r.x()), std::round(r.y()), std::round(r.width()), std::round(r.height()));
  QString title = askFrameTitle ? askFrameTitle(tr("Frame")) : tr("Frame");
  if (title.isEmpty()) return;
  int id = model()->addFrame(r, title);
  scene_->clearSelection();
  if (FrameItem* f = scene_->frameItem(id)) f->setSelected(true);
  emit statusMessage(tr("Added frame %1: drag its title to move it with its nodes.").arg(title));
}

void NodeGraphView::renameFrame(int frameId) {
  if (frameId == 0) {
    QList<int> sel = scene_->selectedFrameIds();
    QStringList nodes = scene_->selectedNodeIds();
    if (sel.isEmpty() && nodes.size() == 1) {
      emit renameNodeRequested(nodes[0]);
      return;
    }
    if (sel.size() != 1) {
      emit statusMessage(tr("Select one frame (or node) to rename."));
      return;
    }
    frameId = sel[0];
  }
  const Frame* f = model()->frame(frameId);
  if (!f || !askFrameTitle) return;
  QString title = askFrameTitle(f->title);
  if (!title.isEmpty()) model()->setFrameTitle(frameId, title);
}

void NodeGraphView::nudgeSelection(QPointF delta) {
  // A frame carries the nodes inside it, as when dragged.
  QStringList ids = scene_->selectedNodeIds();
  auto size = [this](const QString& id) { return scene_->nodeSize(id); };
  for (int id : scene_->selectedFrameIds())
    for (const QString& n : model()->nodesInFrame(id, size))
      if (!ids.contains(n)) ids << n;
  for (const QString& id : ids)
    if (NodeItem* n = scene_->nodeItem(id)) n->setPos(n->pos() + delta);
  for (int id : scene_->selectedFrameIds())
    if (FrameItem* f = scene_->frameItem(id)) f->setPos(f->pos() + delta);
  scene_->commitMoves();
  if (QGraphicsItem* first = scene_->selectedItems().value(0)) ensureVisible(first, 40, 40);
}

// ---- keyboard wiring and navigation --------------------------------------------------------

void NodeGraphView::openConnectPopup() {
  QStringList sel = scene_->selectedNodeIds();
  if (sel.size() != 1) {
    emit statusMessage(tr("Select one node to connect its output."));
    return;
  }
  QString from = sel[0];
  QStringList outs = model()->portNames(from, PortSide::Output);
  QList<ChoicePopup::Choice> choices;
  for (const Node& n : model()->nodes())
    for (const QString& in : model()->portNames(n.id, PortSide::Input))
      for (const QString& out : outs) {
        PortKey a{from, out, PortSide::Output}, b{n.id, in, PortSide::Input};
        if (!model()->connectionError(a, b).isEmpty()) continue;
        QString text = outs.size() > 1 ? QString("%1 \u2192 %2 \u00b7 %3").arg(out, n.id, in)
                                       : QString("%1 \u00b7 %2").arg(n.id, in);
        choices.push_back({text, out + "\n" + n.id + "\n" + in, n.type});
      }
  if (choices.isEmpty()) {
    emit statusMessage(tr("No input can take %1's output now.").arg(from));
    return;
  }
  choiceKind_ = ChoiceKind::Connect;
  choiceNode_ = from;
  choice_->setChoices(choices, tr("Connect %1 to\u2026").arg(from));
  NodeItem* n = scene_->nodeItem(from);
  QPoint at = n ? mapFromScene(n->sceneBoundingRect().topRight()) : viewport()->rect().center();
  choice_->popup(viewport()->mapToGlobal(at));
}

void NodeGraphView::openDisconnectPopup() {
  QStringList sel = scene_->selectedNodeIds();
  if (sel.size() != 1) {
    emit statusMessage(tr("Select one node to remove one of its wires."));
    return;
  }
  QList<ChoicePopup::Choice> choices;
  for (const Edge& e : model()->edgesOf(sel[0]))
    choices.push_back(
        {QString("%1:%2 \u2192 %3:%4").arg(e.fromNode, e.fromPort, e.toNode, e.toPort),
         QString::number(e.id),
         {}});
  if (choices.isEmpty()) {
    emit statusMessage(tr("%1 has no wires.").arg(sel[0]));
    return;
  }
  choiceKind_ = ChoiceKind::Disconnect;
  choiceNode_ = sel[0];
  choice_->setChoices(choices, tr("Remove a wire of %1").arg(sel[0]));
  choice_->popup(viewport()->mapToGlobal(viewport()->rect().center()));
}

void NodeGraphView::openFindPopup() {
  QList<ChoicePopup::Choice> choices;
  for (const Node& n : model()->nodes())
    choices.push_back({QString("%1 \u00b7 %2").arg(n.id, n.type), n.id, {}});
  // Frames too (selected, they move with their nodes by the arrows, F2 renames them).
  for (const Frame& f : model()->frames())
    choices.push_back({tr("%1 \u00b7 frame").arg(f.title), QString("\nframe %1").arg(f.id), {}});
  choiceKind_ = ChoiceKind::Find;
  choice_->setChoices(choices, tr("Find a node or frame"));
  choice_->popup(viewport()->mapToGlobal(viewport()->rect().topLeft() + QPoint(40, 40)));
}

void NodeGraphView::choiceChosen(const QString& key) {
  switch (choiceKind_) {
    case ChoiceKind::Connect: {
      QStringList p = key.split('\n');
      if (p.size() != 3) return;
      QString why =
          model()->connect({choiceNode_, p[0], PortSide::Output}, {p[1], p[2], PortSide::Input});
      emit statusMessage(why.isEmpty() ? tr("Connected %1 to %2.").arg(choiceNode_, p[1])
                                       : tr("Not connected: %1").arg(why));
      break;
    }
    case ChoiceKind::Disconnect:
      model()->removeEdges({key.toInt()});
      emit statusMessage(tr("Wire removed."));
      break;
    case ChoiceKind::Find:
      if (key.startsWith("\nframe ")) {
        FrameItem* f = scene_->frameItem(key.mid(7).toInt());
        if (!f) break;
        scene_->clearSelection();
        f->setSelected(true);
        ensureVisible(f, 40, 40);
        break;
      }
      scene_->selectNodes({key});
      if (NodeItem* n = scene_->nodeItem(key)) centerOn(n);
      break;
  }
  setFocus();
}

void NodeGraphView::selectAlongWires(int direction, bool extend) {
  QStringList sel = scene_->selectedNodeIds();
  if (sel.isEmpty()) {
    if (model()->nodes().empty()) return;
    alongEnd_ = model()->nodes().front().id;
    scene_->selectNodes({alongEnd_});
  } else {
    // From the node reached last (the end of a run being extended), else any selected one.
    QString cur = sel.contains(alongEnd_) ? alongEnd_ : sel.last(), next;
    for (const Edge& e : model()->edgesOf(cur)) {
      if (direction > 0 && e.fromNode == cur && (!extend || !sel.contains(e.toNode)))
        next = e.toNode;
      if (direction < 0 && e.toNode == cur && (!extend || !sel.contains(e.fromNode)))
        next = e.fromNode;
      if (!next.isEmpty()) break;
    }
    if (next.isEmpty()) return;
    alongEnd_ = next;
    scene_->selectNodes(extend ? sel + QStringList{next} : QStringList{next});
  }
  if (NodeItem* n = scene_->nodeItem(alongEnd_)) ensureVisible(n, 60, 60);
}

}  // namespace ng::gui
