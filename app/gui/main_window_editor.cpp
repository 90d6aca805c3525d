// MainWindow: the editor's menus beyond the basics (main_window.cpp): blocks, frames, keyboard
// wiring, File > New from Example…, View > Theme, and moving the keyboard focus between panes.
//
// NOTE [Keyboard reachability]
// Every feature has a menu entry with a mnemonic, and most a shortcut (the canvas's are scoped to
// it, so typing in a field never triggers them):
//   panes        Alt+1 canvas, Alt+2 layers, Alt+3 inspector, Alt+4 issues; Ctrl+F6 and
//                Ctrl+Shift+F6 cycle through every open pane (F6 pauses training)
//   add a layer  Tab on the canvas (quick-add; after the selected node, wired), or the Layers
//                pane: type to filter, Enter adds (after the selected node, wired, too)
//   wires        C: connect the selected node's output to a port from a list; Shift+C: remove one
//   select       Alt+Right / Alt+Left along the wires (Alt+Shift: extend the selection);
//                Ctrl+F find a node or a frame; Ctrl+A all
//   move         arrows (Shift: further); Ctrl+L auto layout; F fit; Ctrl+= / Ctrl+- zoom
//   edit         the inspector (Alt+3, then Tab through the fields); F2 renames (node or frame)
//   blocks       Ctrl+G make, Ctrl+Shift+G unpack, Enter / Alt+Down open, Alt+Up leave
//   frames       Ctrl+Shift+F frame the selection, F2 rename, arrows move (with the nodes
//                inside), Alt+Shift+arrows resize, Delete removes
//   issues       Alt+4, arrows, Enter selects the node
#include <QAction>
#include <QActionGroup>
#include <QApplication>
#include <QDockWidget>
#include <QLayout>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QScreen>
#include <QTreeWidget>

#include "app/gui/example_gallery.h"
#include "app/gui/issues_panel.h"
#include "app/gui/main_window.h"
#include "app/gui/theme.h"
#include "widgets/inspector/node_inspector.h"
#include "widgets/nodegraph/model/graph_model.h"
#include "widgets/nodegraph/view/layer_palette.h"
#include "widgets/nodegraph/view/mini_map.h"
#include "widgets/nodegraph/view/node_scene.h"
#include "widgets/nodegraph/view/node_view.h"

namespace ng::gui {

void MainWindow::addEditorActions(QMenu* file, QMenu* edit, QMenu* view) {
  // File > New from Example…, after Open Example.
  pickExample = [this] {
    ExampleGallery g(examplesDir(), this);
    return g.exec() == QDialog::Accepted ? g.chosenPath() : QString();
  };
  auto* gallery = new QAction(tr("New from E&xample..."), this);
  gallery->setObjectName("newFromExample");
  gallery->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_N));
  connect(gallery, &QAction::triggered, this, [this] { newFromExample(); });
  QList<QAction*> fileActions = file->actions();
  QAction* before = nullptr;
  for (int i = 0; i + 1 < fileActions.size(); ++i)
    if (fileActions[i]->menu() && fileActions[i]->text().contains(tr("Example")))
      before = fileActions[i + 1];
  file->insertAction(before, gallery);

  edit->addSeparator();
  for (QAction* a : {view_->makeBlockAction(), view_->unpackBlockAction()}) edit->addAction(a);
  edit->addSeparator();
  for (QAction* a : {view_->addFrameAction(), view_->renameFrameAction()}) edit->addAction(a);
  edit->addSeparator();
  for (QAction* a : {view_->connectAction(), view_->disconnectAction(), view_->findAction()})
    edit->addAction(a);
  connect(view_, &NodeGraphView::renameNodeRequested, this, [this](const QString& id) {
    focusPane(2);
    if (QLineEdit* name = inspector_->nameField(); name && inspector_->node() == id)
      name->selectAll();
  });

  // Mnemonics for the panes' entries (their titles have none).
  for (QDockWidget* d : findChildren<QDockWidget*>()) {
    QString t = d->objectName() == "paletteDock"     ? tr("La&yers")
                : d->objectName() == "inspectorDock" ? tr("I&nspector")
                : d->objectName() == "issuesDock"    ? tr("Is&sues")
                                                     : QString();
    if (!t.isEmpty()) d->toggleViewAction()->setText(t);
  }
  view->addSeparator();
  view->addAction(view_->openBlockAction());
  view->addAction(view_->leaveBlockAction());
  view->addSeparator();
  addThemeMenu(view);
  addFocusActions(view);

  // Help > Keyboard: every key of NOTE [Keyboard reachability], in the Help menu.
  for (QAction* top : menuBar()->actions())
    if (top->menu() && top->text() == tr("&Help")) {
      QAction* keys = new QAction(tr("&Keyboard"), this);
      connect(keys, &QAction::triggered, this, [this] {
        QMessageBox::information(
            this, tr("Keyboard"),
            tr("<table>"
               "<tr><td><b>Panes</b></td><td>Alt+1 canvas, Alt+2 layers, Alt+3 inspector, Alt+4 "
               "issues; Ctrl+F6 / Ctrl+Shift+F6 next / previous</td></tr>"
               "<tr><td><b>Add a layer</b></td><td>Tab on the canvas (after the selected node, "
               "wired); or Alt+2, type, Enter (the same)</td></tr>"
               "<tr><td><b>Wires</b></td><td>C connects the selected node's output to a port "
               "from a list; Shift+C removes one of its wires</td></tr>"
               "<tr><td><b>Select</b></td><td>Alt+Right / Alt+Left along the wires (with "
               "Shift: add to the selection); Ctrl+F finds a node or frame; Ctrl+A all</td></tr>"
               "<tr><td><b>Move</b></td><td>arrows (Shift: further); Ctrl+L lays out; F fits; "
               "Ctrl+= / Ctrl+- zoom; M mini-map</td></tr>"
               "<tr><td><b>Edit</b></td><td>Alt+3 then Tab through the parameters; F2 renames "
               "the selected node or frame; Del deletes</td></tr>"
               "<tr><td><b>Blocks</b></td><td>Ctrl+G makes one of the selection, Enter opens "
               "it, Alt+Up goes back, Ctrl+Shift+G unpacks it</td></tr>"
               "<tr><td><b>Frames</b></td><td>Ctrl+Shift+F frames the selection; arrows move the "
               "selected frame with its nodes, Alt+Shift+arrows resize it</td></tr>"
               "<tr><td><b>Files</b></td><td>Ctrl+N new, Ctrl+Shift+N new from an example, "
               "Ctrl+O open, Ctrl+S save, Ctrl+Shift+S save as; Ctrl+Z / Ctrl+Shift+Z undo / "
               "redo</td></tr></table>"));
      });
      top->menu()->insertAction(top->menu()->actions().value(1), keys);
    }
}

void MainWindow::addThemeMenu(QMenu* view) {
  QMenu* menu = view->addMenu(tr("&Theme"));
  menu->setObjectName("themeMenu");
  auto* group = new QActionGroup(this);
  QAction* dark = menu->addAction(tr("&Dark"), this, [this] { setTheme(int(style::Theme::Dark)); });
  QAction* light =
      menu->addAction(tr("&Light"), this, [this] { setTheme(int(style::Theme::Light)); });
  dark->setObjectName("themeDark");
  light->setObjectName("themeLight");
  for (QAction* a : {dark, light}) {
    a->setCheckable(true);
    group->addAction(a);
  }
  (style::theme() == style::Theme::Dark ? dark : light)->setChecked(true);
}

void MainWindow::setTheme(int theme) {
  auto t = style::Theme(theme);
  applyTheme(t);
  saveTheme(t);
  for (QAction* a : findChildren<QAction*>())
    if (a->objectName() == "themeDark" || a->objectName() == "themeLight")
      a->setChecked(a->objectName() == (t == style::Theme::Dark ? "themeDark" : "themeLight"));
  scene_->restyle();
  view_->resetCachedContent();
  view_->viewport()->update();
  view_->miniMap()->update();
}

void MainWindow::addFocusActions(QMenu* view) {
  QMenu* menu = view->addMenu(tr("&Go To Pane"));
  const char* names[] = {QT_TR_NOOP("&Canvas"), QT_TR_NOOP("&Layers"), QT_TR_NOOP("&Inspector"),
                         QT_TR_NOOP("I&ssues")};
  for (int i = 0; i < 4; ++i) {
    QAction* a = menu->addAction(tr(names[i]), this, [this, i] { focusPane(i); });
    a->setShortcut(QKeySequence(Qt::ALT | Qt::Key(Qt::Key_1 + i)));
    a->setShortcutContext(Qt::WindowShortcut);
  }
  menu->addSeparator();
  // Every pane in turn: the canvas, then each visible dock (the training panes included).
  QAction* next = menu->addAction(tr("&Next Pane"), this, [this] { cyclePane(+1); });
  // F5/F6/Shift+F5 drive training (training_ui.cpp); panes cycle with Ctrl+F6.
  next->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_F6));
  QAction* prev = menu->addAction(tr("&Previous Pane"), this, [this] { cyclePane(-1); });
  prev->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_F6));
}

void MainWindow::cyclePane(int direction) {
  // Open panes (the docks, those in a tab behind another included, with their title bars).
  // A fixed order (raising a dock reorders the children): the editor's, then the others by name.
  QList<QDockWidget*> docks = findChildren<QDockWidget*>();
  auto rank = [](const QDockWidget* d) {
    static const QStringList first{"paletteDock", "inspectorDock", "issuesDock"};
    int i = int(first.indexOf(d->objectName()));
    return i < 0 ? int(first.size()) : i;
  };
  std::stable_sort(docks.begin(), docks.end(), [&](QDockWidget* a, QDockWidget* b) {
    return rank(a) != rank(b) ? rank(a) < rank(b) : a->objectName() < b->objectName();
  });
  QList<QWidget*> panes{view_};
  for (QDockWidget* d : docks)
    if (d->toggleViewAction()->isChecked() && d->widget()) panes << d;
  int at = -1;
  for (QWidget* w = QApplication::focusWidget(); w && at < 0; w = w->parentWidget())
    at = int(panes.indexOf(w));
  int n = int(panes.size());
  QWidget* target = panes[((at < 0 ? (direction > 0 ? -1 : 0) : at) + direction + n) % n];
  if (auto* dock = qobject_cast<QDockWidget*>(target)) target = dock->widget();
  QWidget* known[] = {view_, palette_, inspector_, issues_};
  for (int i = 0; i < 4; ++i)
    if (target == known[i] || (i == 1 && target->isAncestorOf(palette_)) ||
        (i == 2 && target->isAncestorOf(inspector_)) || (i == 3 && target->isAncestorOf(issues_)))
      return focusPane(i);
  // Another pane: shown (its tab raised), then its first widget that takes the keyboard.
  if (auto* dock = qobject_cast<QDockWidget*>(target->parentWidget())) {
    dock->show();
    dock->raise();
  }
  QWidget* focus = target->focusPolicy() & Qt::TabFocus ? target : nullptr;
  for (QWidget* c : target->findChildren<QWidget*>())
    if (!focus && c->isVisible() && c->isEnabled() && (c->focusPolicy() & Qt::TabFocus)) focus = c;
  (focus ? focus : target)->setFocus(Qt::ShortcutFocusReason);
}

void MainWindow::ensureMnemonics() {
  // Menu entries without one (panes' toggles, entries other parts add) get the first letter of
  // a word, else any letter, that no other entry of their menu uses.
  std::function<void(QMenu*)> fix = [&](QMenu* menu) {
    QString used;
    auto mnemonic = [](const QString& t) {
      int i = t.indexOf('&');
      return i >= 0 && i + 1 < t.size() ? t[i + 1].toLower() : QChar();
    };
    for (QAction* a : menu->actions())
      if (QChar m = mnemonic(a->text()); !m.isNull()) used += m;
    for (QAction* a : menu->actions()) {
      if (a->menu()) fix(a->menu());
      QString t = a->text();
      if (a->isSeparator() || t.isEmpty() || t.contains('&') || t.startsWith('(')) continue;
      int pick = -1;
      for (int i = 0; i < t.size() && pick < 0; ++i)  // word starts first
        if (t[i].isLetter() && (i == 0 || t[i - 1] == ' ') && !used.contains(t[i].toLower()))
          pick = i;
      for (int i = 0; i < t.size() && pick < 0; ++i)
        if (t[i].isLetter() && !used.contains(t[i].toLower())) pick = i;
      if (pick < 0) continue;
      used += t[pick].toLower();
      a->setText(t.left(pick) + '&' + t.mid(pick));
    }
  };
  for (QAction* top : menuBar()->actions())
    if (top->menu()) fix(top->menu());
}

void MainWindow::focusPane(int pane) {
  QWidget* target[] = {view_, palette_, inspector_, issues_};
  QWidget* w = target[std::clamp(pane, 0, 3)];
  for (QWidget* p = w; p; p = p->parentWidget())
    if (auto* dock = qobject_cast<QDockWidget*>(p)) {
      dock->show();
      dock->raise();
    }
  switch (pane) {
    case 1:
      palette_->searchField()->setFocus(Qt::ShortcutFocusReason);
      palette_->searchField()->selectAll();
      return;
    case 2:
      if (QLineEdit* name = inspector_->nameField())
        name->setFocus(Qt::ShortcutFocusReason);
      else
        inspector_->setFocus(Qt::ShortcutFocusReason);
      return;
    case 3:
      issues_->setFocus(Qt::ShortcutFocusReason);
      if (!issues_->currentItem() && issues_->topLevelItemCount())
        issues_->setCurrentItem(issues_->topLevelItem(0));
      return;
    default:
      view_->setFocus(Qt::ShortcutFocusReason);
  }
}

bool MainWindow::newFromExample() {
  if (!maybeSave()) return false;
  QString path = pickExample ? pickExample() : QString();
  if (path.isEmpty()) return false;
  return openExample(path, true);
}

void MainWindow::fitToScreen() {
  // Sizes are in device-independent pixels: at a scale factor of 2 a small screen has room for
  // less. Keep the window inside the screen's available area.
  QScreen* s = screen();
  if (!s) return;
  QSize avail = s->availableGeometry().size() * 0.92;
  // When the panes side by side need more room than the screen has, those sharing an edge of
  // the window become tabs of one pane.
  auto tooBig = [&] {
    layout()->activate();
    QSize m = minimumSizeHint();
    return m.width() > avail.width() || m.height() > avail.height();
  };
  if (tooBig())
    for (Qt::DockWidgetArea area : {Qt::BottomDockWidgetArea, Qt::RightDockWidgetArea,
                                    Qt::LeftDockWidgetArea, Qt::TopDockWidgetArea}) {
      QDockWidget* first = nullptr;
      for (QDockWidget* d : findChildren<QDockWidget*>()) {
        if (d->isFloating() || dockWidgetArea(d) != area) continue;
        if (!first)
          first = d;
        else if (!tabifiedDockWidgets(first).contains(d))
          tabifyDockWidget(first, d);
      }
      if (first) first->raise();
      if (!tooBig()) break;
    }
  // Still too tall (a small screen at a large scale): the bottom panes join the right ones.
  if (tooBig()) {
    QDockWidget* right = nullptr;
    QList<QDockWidget*> bottom;
    for (QDockWidget* d : findChildren<QDockWidget*>()) {
      if (d->isFloating()) continue;
      if (dockWidgetArea(d) == Qt::RightDockWidgetArea && !right) right = d;
      if (dockWidgetArea(d) == Qt::BottomDockWidgetArea) bottom << d;
    }
    if (right)
      for (QDockWidget* d : bottom) tabifyDockWidget(right, d);
    if (right) right->raise();
  }
  layout()->activate();  // the new minimum size first, or the resize below is clamped to the old
  if (width() > avail.width() || height() > avail.height()) resize(size().boundedTo(avail));
  // On a small (or strongly scaled) screen the panes give the canvas its share.
  if (width() < 1300 || height() < 800) {
    QList<QDockWidget*> side, bottom;
    for (QDockWidget* d : findChildren<QDockWidget*>()) {
      if (dockWidgetArea(d) == Qt::BottomDockWidgetArea)
        bottom << d;
      else if (!d->isFloating())
        side << d;
    }
    QList<int> widths;
    for (int i = 0; i < side.size(); ++i) widths << std::max(140, int(width() * 0.19));
    resizeDocks(side, widths, Qt::Horizontal);
    QList<int> heights;
    for (int i = 0; i < bottom.size(); ++i) heights << std::max(70, int(height() * 0.16));
    resizeDocks(bottom, heights, Qt::Vertical);
  }
}

}  // namespace ng::gui
