#include "widgets/nodegraph/view/node_view.h"

#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QMimeData>
#include <QPainter>
#include <QScrollBar>
#include <QUndoStack>
#include <QUrl>
#include <QWheelEvent>
#include <cmath>

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
  setViewportUpdateMode(QGraphicsView::FullViewportUpdate);
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
  const Node* after = model()->node(quickAddAfter_);
  const ng::LayerDef* def = ng::LayerRegistry::instance().find(type.toStdString());
  if (!after || !def || def->inputs.empty() ||
      model()->portNames(after->id, PortSide::Output).isEmpty()) {
    addNodeAt(type, quickAddAt_);
    setFocus();
    return;
  }
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
  setFocus();
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
  auto size = [this](const QString& id) { return scene_->nodeSize(id); };
  // Long chains wrap into bands: of the band widths, the one whose layout fits the canvas at
  // the largest scale (fewer bands on a tie).
  QSizeF vp(std::max(200, viewport()->width()), std::max(150, viewport()->height()));
  std::map<QString, QPointF> best;
  double bestScale = -1;
  int n = int(model()->nodes().size());
  for (int k = n; k >= 1; --k) {
    LayoutOptions o;
    o.maxColumns = k;
    std::map<QString, QPointF> pos = layeredLayout(*model(), size, o);
    QRectF box;
    for (const auto& [id, p] : pos) box = box.united(QRectF(p, size(id)));
    // (fitToView never zooms in past 1:1 and a bit, so larger scales gain nothing)
    double s = std::min({vp.width() / (box.width() + 80), vp.height() / (box.height() + 80), 1.0});
    if (s > bestScale * 1.05) {
      bestScale = s;
      best = std::move(pos);
    }
  }
  return best;
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
  miniMap_->update();
  if (zoom() > 1.25) {
    setTransform(QTransform::fromScale(1.25, 1.25));
    centerOn(r.center());
  }
}

void NodeGraphView::zoomBy(double factor) {
  double z = zoom();
  double target = std::clamp(z * factor, 0.08, 4.0);
  scale(target / z, target / z);
  miniMap_->update();
}

void NodeGraphView::placeMiniMap() {
  // Bottom right of the canvas; hidden while there is nothing to give an overview of.
  QRect vp = viewport()->geometry();
  miniMap_->move(vp.right() - miniMap_->width() - 10, vp.bottom() - miniMap_->height() - 10);
  miniMap_->setVisible(miniMapToggle_->isChecked() && !scene_->nodeItems().isEmpty() &&
                       vp.width() > 3 * miniMap_->width() && vp.height() > 2 * miniMap_->height());
  miniMap_->raise();
  miniMap_->update();
}

void NodeGraphView::resizeEvent(QResizeEvent* e) {
  QGraphicsView::resizeEvent(e);
  placeMiniMap();
}

void NodeGraphView::scrollContentsBy(int dx, int dy) {
  QGraphicsView::scrollContentsBy(dx, dy);
  miniMap_->update();
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
  if (e->button() == Qt::LeftButton && !itemAt(e->position().toPoint())) {
    scene_->clearSelection();
    openQuickAdd(e->position().toPoint());
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

}  // namespace ng::gui
