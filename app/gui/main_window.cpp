#include "app/gui/main_window.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QCryptographicHash>
#include <QDateTime>
#include <QDir>
#include <QDockWidget>
#include <QFileDialog>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QLabel>
#include <QLocale>
#include <QLockFile>
#include <QMenuBar>
#include <QMimeData>
#include <QRandomGenerator>
#include <QSettings>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTimer>
#include <QUndoStack>

#include "app/gui/issues_panel.h"
#include "app/gui/training/training_ui.h"
#include "widgets/inspector/node_inspector.h"
#include "widgets/nodegraph/model/graph_model.h"
#include "widgets/nodegraph/view/layer_palette.h"
#include "widgets/nodegraph/view/node_scene.h"
#include "widgets/nodegraph/view/node_view.h"

#ifndef NG_SOURCE_DIR
#define NG_SOURCE_DIR ""
#endif

namespace ng::gui {

namespace {
constexpr int kMaxRecent = 8;

QString projectFileIn(const QMimeData* md) {
  for (const QUrl& u : md->urls())
    if (u.isLocalFile() && u.toLocalFile().endsWith(".ngraph", Qt::CaseInsensitive))
      return u.toLocalFile();
  return {};
}
}  // namespace

MainWindow::MainWindow(QWidget* parent) : QMainWindow(parent) {
  setObjectName("mainWindow");
  setAcceptDrops(true);
  model_ = new GraphModel(this);
  scene_ = new NodeGraphScene(model_, this);
  view_ = new NodeGraphView(scene_, this);
  setCentralWidget(view_);

  errorBox = [this](const QString& title, const QString& text) {
    QMessageBox box(QMessageBox::Critical, title, text, QMessageBox::Ok, this);
    box.exec();
  };
  askSave = [this](const QString& question) {
    return QMessageBox::warning(this, tr("Unsaved changes"), question,
                                QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel,
                                QMessageBox::Save);
  };
  pickFile = [this](bool forSaving) {
    QString filter = tr("Neurograph projects (*.ngraph);;All files (*)");
    QString dir = file_.isEmpty() ? QDir::homePath() : QFileInfo(file_).absolutePath();
    // Saving: a name to start from (the file's, the example's, or "untitled").
    QString name = !file_.isEmpty()          ? QFileInfo(file_).fileName()
                   : !exampleName_.isEmpty() ? exampleName_ + ".ngraph"
                                             : QStringLiteral("untitled.ngraph");
    return forSaving ? QFileDialog::getSaveFileName(this, tr("Save project"),
                                                    QDir(dir).filePath(name), filter)
                     : QFileDialog::getOpenFileName(this, tr("Open project"), dir, filter);
  };

  buildDocks();
  buildMenus();
  totals_ = new QLabel(this);
  totals_->setObjectName("totals");
  statusBar()->addPermanentWidget(totals_);
  training_ = new TrainingUi(this);

  connect(model_, &GraphModel::analysisChanged, this, &MainWindow::updateTotals);
  connect(model_->undoStack(), &QUndoStack::cleanChanged, this, [this](bool clean) {
    updateTitle();
    if (clean) removeAutosave();
  });
  autosaveKey_ = QString("untitled-%1-%2")
                     .arg(QCoreApplication::applicationPid())
                     .arg(QRandomGenerator::global()->generate64());
  autosaveTimer_ = new QTimer(this);
  autosaveTimer_->setInterval(60 * 1000);
  connect(autosaveTimer_, &QTimer::timeout, this, &MainWindow::autosaveNow);
  autosaveTimer_->start();
  askRecover = [this](const QString& question) {
    return QMessageBox::question(this, tr("Recover unsaved work?"), question,
                                 QMessageBox::Yes | QMessageBox::No, QMessageBox::Yes);
  };
  connect(view_, &NodeGraphView::statusMessage, this,
          [this](const QString& t) { statusBar()->showMessage(t, 8000); });
  connect(view_, &NodeGraphView::projectFilesDropped, this,
          [this](const QStringList& files) { openFile(files.first()); });
  connect(scene_, &QGraphicsScene::selectionChanged, this, [this] {
    QStringList sel = scene_->selectedNodeIds();
    inspector_->setSelectionCount(int(sel.size()));
    inspector_->setNode(sel.size() == 1 ? sel[0] : QString());
  });
  connect(issues_, &IssuesPanel::nodeActivated, this, &MainWindow::selectAndShow);

  resize(1400, 860);
  fitToScreen();  // the default size and layout; a saved one (readSettings) is kept as saved
  ensureMnemonics();
  readSettings();
  updateTitle();
  updateTotals();
}

MainWindow::~MainWindow() {
  autosaveTimer_->stop();
  // Qt would delete the model first (the first child) while the scene, the panels and this
  // window still listen to it: take the readers down first, then the model.
  delete training_;  // stops and joins a run; its overlays live on the scene
  training_ = nullptr;
  model_->undoStack()->disconnect(this);
  scene_->disconnect(this);
  delete view_;
  delete scene_;
  delete inspector_;
  delete issues_;
  delete model_;
}

void MainWindow::buildDocks() {
  palette_ = new LayerPalette(this);
  auto* left = new QDockWidget(tr("Layers"), this);
  left->setObjectName("paletteDock");
  left->setWidget(palette_);
  addDockWidget(Qt::LeftDockWidgetArea, left);
  // Double-click or Enter: after the selected node, wired to it (as Tab's quick-add); with no
  // single node selected, the middle of the canvas.
  connect(palette_, &LayerPalette::addRequested, view_, &NodeGraphView::addAfterSelection);

  inspector_ = new NodeInspector(model_, this);
  auto* right = new QDockWidget(tr("Inspector"), this);
  right->setObjectName("inspectorDock");
  right->setWidget(inspector_);
  addDockWidget(Qt::RightDockWidgetArea, right);

  issues_ = new IssuesPanel(model_, this);
  auto* bottom = new QDockWidget(tr("Issues"), this);
  bottom->setObjectName("issuesDock");
  bottom->setWidget(issues_);
  addDockWidget(Qt::BottomDockWidgetArea, bottom);
  resizeDocks({left, right}, {290, 330}, Qt::Horizontal);
  resizeDocks({bottom}, {150}, Qt::Vertical);
}

void MainWindow::buildMenus() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  editActions_ << file->addAction(tr("&New"), QKeySequence::New, this, [this] {
    if (maybeSave()) newDocument();
  });
  editActions_ << file->addAction(tr("&Open..."), QKeySequence::Open, this, [this] {
    if (!maybeSave()) return;
    QString path = pickFile(false);
    if (!path.isEmpty()) openFile(path, true);
  });
  recentMenu_ = file->addMenu(tr("Open &Recent"));
  editActions_ << recentMenu_->menuAction();
  rebuildRecentMenu();
  QMenu* examples = file->addMenu(tr("Open &Example"));
  editActions_ << examples->menuAction();
  rebuildExamplesMenu(examples);
  QMenu* fileMenu = file;
  file->addSeparator();
  file->addAction(tr("&Save"), QKeySequence::Save, this, [this] { save(); });
  QAction* saveAsAction = file->addAction(tr("Save &As..."), this, [this] { saveAs(); });
  // The platform's key, else the common Ctrl+Shift+S (X11 without a desktop has none).
  saveAsAction->setShortcuts(
      QKeySequence::keyBindings(QKeySequence::SaveAs).isEmpty()
          ? QList<QKeySequence>{QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_S)}
          : QKeySequence::keyBindings(QKeySequence::SaveAs));
  saveAsAction->setObjectName("saveAs");
  file->addSeparator();
  file->addAction(tr("&Quit"), QKeySequence::Quit, this, &QWidget::close);

  QMenu* edit = menuBar()->addMenu(tr("&Edit"));
  QAction* undo = model_->undoStack()->createUndoAction(this, tr("&Undo"));
  undo->setShortcuts(QKeySequence::Undo);
  QAction* redo = model_->undoStack()->createRedoAction(this, tr("&Redo"));
  QList<QKeySequence> redoKeys = QKeySequence::keyBindings(QKeySequence::Redo);
  if (!redoKeys.contains(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z)))
    redoKeys << QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_Z);
  redo->setShortcuts(redoKeys);
  edit->addAction(undo);
  edit->addAction(redo);
  undo_ = undo;
  redo_ = redo;
  editActions_ << undo << redo << view_->cutAction() << view_->pasteAction()
               << view_->duplicateAction() << view_->deleteAction() << view_->layoutAction();
  edit->addSeparator();
  for (QAction* a : {view_->cutAction(), view_->copyAction(), view_->pasteAction(),
                     view_->duplicateAction(), view_->deleteAction()})
    edit->addAction(a);
  edit->addSeparator();
  edit->addAction(view_->selectAllAction());
  QAction* add = edit->addAction(tr("Add &Layer..."), this, [this] {
    view_->setFocus();
    view_->openQuickAdd();
  });
  add->setShortcut(QKeySequence(Qt::Key_Tab));
  editActions_ << add;
  add->setShortcutContext(Qt::WidgetShortcut);  // the canvas handles Tab itself

  QMenu* viewMenu = menuBar()->addMenu(tr("&View"));
  for (QAction* a : {view_->fitAction(), view_->zoomInAction(), view_->zoomOutAction()})
    viewMenu->addAction(a);
  viewMenu->addSeparator();
  viewMenu->addAction(view_->layoutAction());
  viewMenu->addAction(view_->miniMapAction());
  viewMenu->addSeparator();
  for (QDockWidget* d : findChildren<QDockWidget*>()) viewMenu->addAction(d->toggleViewAction());

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("&Canvas controls"), this, [this] {
    QMessageBox::information(
        this, tr("Canvas controls"),
        tr("Add a layer: drag it from the Layers pane, double-click it there, or press Tab on "
           "the canvas and type its name (with one node selected, a double-clicked or Tab-added "
           "layer is wired after it).\nConnect: drag from an output (right) to an input (left); "
           "the wire snaps to "
           "ports that fit.\nMove a wire: drag it off its input; drop it on empty canvas to "
           "remove it.\nZoom: mouse wheel. Pan: middle button, or Space + drag. F fits the "
           "graph in view.\nSelect: click, or drag a rectangle on empty canvas.\n"
           "Ctrl+C / Ctrl+V / Ctrl+D copy, paste and duplicate; Del deletes; Ctrl+L lays the "
           "graph out."));
  });
  help->addAction(tr("&About Neurograph"), this, [this] {
    QMessageBox::about(this, tr("About Neurograph"),
                       tr("<b>Neurograph %1</b><br>Design neural networks as node graphs, "
                          "train them and watch them learn.")
                           .arg(QString::fromUtf8(NG_VERSION)));
  });
  // Blocks, frames, keyboard wiring, themes, panes, gallery; Help > Keyboard (so after Help).
  addEditorActions(fileMenu, edit, viewMenu);
}

void MainWindow::setGraphEditable(bool on) {
  if (on == editable_) return;
  editable_ = on;
  for (QAction* a : editActions_) a->setEnabled(on);
  // The editor's structural actions (blocks, frames, keyboard wiring, new from an example).
  for (QAction* a : {view_->makeBlockAction(), view_->unpackBlockAction(), view_->addFrameAction(),
                     view_->renameFrameAction(), view_->connectAction(), view_->disconnectAction(),
                     findChild<QAction*>("newFromExample")})
    if (a) a->setEnabled(on);
  if (on) {  // undo and redo follow the stack again
    undo_->setEnabled(model_->undoStack()->canUndo());
    redo_->setEnabled(model_->undoStack()->canRedo());
  }
}

// ---- documents -----------------------------------------------------------------------------

QString MainWindow::examplesDir() {
  QString exe = QCoreApplication::applicationDirPath();
  QStringList dirs = {exe + "/../../resources/examples", exe + "/../resources/examples",
                      exe + "/../share/neurograph/examples", exe + "/resources/examples",
                      QString::fromUtf8(NG_SOURCE_DIR) + "/resources/examples"};
  for (const QString& d : dirs)
    if (!QDir(d).entryList({"*.ngraph"}, QDir::Files).isEmpty())
      return QFileInfo(d).canonicalFilePath();
  return {};
}

QString MainWindow::findExample(const QString& name) {
  QString dir = examplesDir();
  QString p = dir.isEmpty() ? QString() : QDir(dir).filePath(name);
  return !p.isEmpty() && QFileInfo::exists(p) ? p : QString();
}

bool MainWindow::load(const QString& path) {
  try {
    model_->loadProject(path);
  } catch (const std::exception& e) {
    errorBox(tr("Cannot open project"),
             tr("%1 could not be opened:\n\n%2")
                 .arg(QFileInfo(path).fileName(), QString::fromUtf8(e.what())));
    return false;
  }
  removeAutosave();  // the previous document's, now that it is gone
  arrangeIfCrowded();
  view_->fitToView();
  int errors = model_->errorCount();
  statusBar()->showMessage(
      errors ? tr("Opened %1: %n error(s) to fix.", nullptr, errors).arg(QFileInfo(path).fileName())
             : tr("Opened %1.").arg(QFileInfo(path).fileName()),
      8000);
  return true;
}

bool MainWindow::openFile(const QString& path, bool force) {
  if (!force && !maybeSave()) return false;
  if (!load(path)) return false;
  file_ = QFileInfo(path).absoluteFilePath();
  exampleName_.clear();
  exampleDir_.clear();
  addRecent(file_);
  updateTitle();
  return true;
}

bool MainWindow::openExample(const QString& path, bool force) {
  if (!force && !maybeSave()) return false;
  if (!load(path)) return false;
  file_.clear();
  exampleName_ = QFileInfo(path).completeBaseName();
  exampleDir_ = QFileInfo(path).absolutePath();
  updateTitle();
  return true;
}

QString MainWindow::dataDir() const {
  return !file_.isEmpty() ? QFileInfo(file_).absolutePath() : exampleDir_;
}

void MainWindow::arrangeIfCrowded() {
  // Files written with other node sizes (or none) may overlap here: lay them out afresh. This
  // is part of opening, not an edit (NOTE [Every edit is a command]): no undo step, still clean.
  if (scene_->crowded()) model_->arrangeOpened(view_->computeLayout());
}

bool MainWindow::saveTo(const QString& path) {
  // A relative dataset path keeps pointing at the same data from the new folder: the file is
  // written with it rebased, and only once that worked does the document take it (not an
  // edit: no undo step; GraphModel::relocateDatasetPaths).
  const QString to = QFileInfo(path).absolutePath();
  const QString from = dataDir().isEmpty() ? QDir::currentPath() : dataDir();
  const bool moved = QDir::cleanPath(from) != QDir::cleanPath(to);
  try {
    if (moved) {
      ng::ProjectSpec p = model_->project();
      p.dataset.path = GraphModel::rebasedPath(p.dataset.path, from, to);
      ng::save_project(p, path.toStdString());
      model_->relocateDatasetPaths(from, to);
      model_->undoStack()->setClean();
    } else {
      model_->saveProject(path);
    }
  } catch (const std::exception& e) {
    errorBox(tr("Cannot save project"), QString::fromUtf8(e.what()));
    return false;
  }
  file_ = QFileInfo(path).absoluteFilePath();
  exampleName_.clear();
  exampleDir_.clear();
  addRecent(file_);
  updateTitle();
  statusBar()->showMessage(tr("Saved %1.").arg(QFileInfo(path).fileName()), 5000);
  return true;
}

bool MainWindow::save() {
  return file_.isEmpty() ? saveAs() : saveTo(file_);
}

bool MainWindow::saveAs() {
  QString path = pickFile(true);
  if (path.isEmpty()) return false;
  if (QFileInfo(path).suffix().isEmpty()) path += ".ngraph";
  return saveTo(path);
}

void MainWindow::newDocument() {
  removeAutosave();
  model_->clear();
  file_.clear();
  exampleName_.clear();
  exampleDir_.clear();
  updateTitle();
  view_->fitToView();
  statusBar()->showMessage(tr("New project: add layers from the Layers pane or press Tab."), 8000);
}

bool MainWindow::maybeSave() {
  if (model_->undoStack()->isClean()) return true;
  QString name = file_.isEmpty() ? tr("The new project") : QFileInfo(file_).fileName();
  switch (askSave(tr("%1 has unsaved changes. Save them?").arg(name))) {
    case QMessageBox::Save:
      return save();
    case QMessageBox::Discard:
      return true;
    default:
      return false;
  }
}

void MainWindow::updateTitle() {
  setWindowModified(!model_->undoStack()->isClean());
  QString name = !file_.isEmpty()          ? QFileInfo(file_).fileName()
                 : !exampleName_.isEmpty() ? tr("%1 (example)").arg(exampleName_)
                                           : tr("untitled.ngraph");
  setWindowTitle(tr("%1[*] \u2014 Neurograph").arg(name));
  setWindowFilePath(file_);
}

void MainWindow::updateTotals() {
  int errors = model_->errorCount(), warnings = model_->warningCount();
  // An empty project is not in error (the engine asks for a loss node): it says so.
  QString state = model_->nodes().empty() ? tr("empty")
                  : errors ? tr("<span style='color:#f44336'>%n error(s)</span>", nullptr, errors)
                  : warnings
                      ? tr("<span style='color:#ffa000'>%n warning(s)</span>", nullptr, warnings)
                      : tr("<span style='color:#66bb6a'>valid</span>");
  totals_->setText(
      tr("%n layer(s) \u00b7 %1 parameters \u00b7 %2 of activations per example "
         "\u00b7 %3",
         nullptr, int(model_->analysis().nodes.size()))  // as trained: blocks expanded
          .arg(countText(model_->totalParams()), bytesText(model_->totalOutputBytes()), state));
}

void MainWindow::selectAndShow(const QString& flatId) {
  // Issues name the flattened graph's nodes ("stage1.2/conv"): show the node standing for it.
  QString id = model_->localNode(flatId.toStdString());
  if (id.isEmpty() && !model_->scopePath().isEmpty()) {
    model_->leaveToDepth(0);
    id = model_->localNode(flatId.toStdString());
  }
  NodeItem* n = scene_->nodeItem(id);
  if (!n) return;
  scene_->selectNodes({id});
  view_->ensureVisible(n, 60, 60);
}

// ---- recent files and settings -------------------------------------------------------------

QStringList MainWindow::recentFiles() const {
  return QSettings().value("recentFiles").toStringList();
}

void MainWindow::addRecent(const QString& path) {
  QStringList r = recentFiles();
  r.removeAll(path);
  r.prepend(path);
  while (r.size() > kMaxRecent) r.removeLast();
  QSettings().setValue("recentFiles", r);
  rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu() {
  if (!recentMenu_) return;
  recentMenu_->clear();
  QStringList r = recentFiles();
  for (int i = 0; i < r.size(); ++i) {
    QString path = r[i];
    QAction* a = recentMenu_->addAction(
        QString("&%1 %2").arg(i + 1).arg(QFileInfo(path).fileName()), this, [this, path] {
          // A file moved or deleted since: say so and forget it.
          if (!QFileInfo::exists(path)) {
            QStringList r = recentFiles();
            r.removeAll(path);
            QSettings().setValue("recentFiles", r);
            rebuildRecentMenu();
            errorBox(tr("Open recent"),
                     tr("%1 is no longer there; it has been taken off the recent files.")
                         .arg(QDir::toNativeSeparators(path)));
            return;
          }
          openFile(path);
        });
    a->setToolTip(path);
    a->setStatusTip(path);
  }
  if (r.isEmpty()) recentMenu_->addAction(tr("(none)"))->setEnabled(false);
  recentMenu_->addSeparator();
  recentMenu_->addAction(tr("Clear the list"), this, [this] {
    QSettings().remove("recentFiles");
    rebuildRecentMenu();
  });
}

void MainWindow::rebuildExamplesMenu(QMenu* menu) {
  QString dir = examplesDir();
  QStringList files =
      dir.isEmpty() ? QStringList() : QDir(dir).entryList({"*.ngraph"}, QDir::Files, QDir::Name);
  for (const QString& f : files) {
    QString path = QDir(dir).filePath(f);
    menu->addAction(QFileInfo(f).completeBaseName(), this, [this, path] { openExample(path); })
        ->setStatusTip(path);
  }
  if (files.isEmpty()) menu->addAction(tr("(no examples found)"))->setEnabled(false);
}

// ---- autosave (NOTE [Autosave]) ------------------------------------------------------------

QString MainWindow::autosaveDir() {
  return QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) + "/autosave";
}

QString MainWindow::autosaveFile() const {
  QString key = file_.isEmpty() ? autosaveKey_ : file_;
  QString hash = QString::fromLatin1(
      QCryptographicHash::hash(key.toUtf8(), QCryptographicHash::Sha1).toHex().left(16));
  return QDir(autosaveDir()).filePath(hash + ".ngraph");
}

void MainWindow::setAutosaveInterval(int ms) {
  autosaveTimer_->setInterval(ms);
}

void MainWindow::autosaveNow() {
  if (model_->undoStack()->isClean()) return;
  QString path = autosaveFile();
  QDir().mkpath(autosaveDir());
  if (path != lastAutosave_) removeAutosave();
  if (!autosaveLock_) {
    autosaveLock_ = std::make_unique<QLockFile>(path + ".lock");
    autosaveLock_->setStaleLockTime(0);
    autosaveLock_->tryLock(100);
  }
  try {
    model_->saveProject(path, /*markClean=*/false);
  } catch (const std::exception& e) {
    statusBar()->showMessage(tr("Autosave failed: %1").arg(QString::fromUtf8(e.what())), 8000);
    return;
  }
  QFile meta(path + ".json");
  if (meta.open(QIODevice::WriteOnly | QIODevice::Truncate)) {
    QJsonObject o{{"file", file_},
                  {"example", exampleName_},
                  {"exampleDir", exampleDir_},
                  {"saved", QDateTime::currentDateTime().toString(Qt::ISODate)}};
    meta.write(QJsonDocument(o).toJson());
  }
  lastAutosave_ = path;
}

void MainWindow::removeAutosave() {
  if (!lastAutosave_.isEmpty()) {
    QFile::remove(lastAutosave_);
    QFile::remove(lastAutosave_ + ".json");
  }
  lastAutosave_.clear();
  autosaveLock_.reset();  // unlocks and removes the lock file
}

bool MainWindow::recoverAutosaves() {
  QDir dir(autosaveDir());
  QFileInfoList copies = dir.entryInfoList({"*.ngraph"}, QDir::Files, QDir::Time);
  for (const QFileInfo& copy : copies) {
    QLockFile lock(copy.absoluteFilePath() + ".lock");
    lock.setStaleLockTime(0);        // stale only when its process is gone, however old
    if (!lock.tryLock(0)) continue;  // a running window's
    QFile metaFile(copy.absoluteFilePath() + ".json");
    QJsonObject meta;
    if (metaFile.open(QIODevice::ReadOnly))
      meta = QJsonDocument::fromJson(metaFile.readAll()).object();
    QString original = meta.value("file").toString();
    QString name = !original.isEmpty() ? QFileInfo(original).fileName()
                   : !meta.value("example").toString().isEmpty()
                       ? tr("%1 (example)").arg(meta.value("example").toString())
                       : tr("an untitled project");
    QString when = QDateTime::fromString(meta.value("saved").toString(), Qt::ISODate)
                       .toString(QLocale().dateTimeFormat(QLocale::ShortFormat));
    auto answer = askRecover(
        tr("Neurograph found unsaved changes to %1 from %2, kept when it last closed without "
           "saving. Recover them?")
            .arg(name, when.isEmpty() ? copy.lastModified().toString() : when));
    bool recovered = false;
    if (answer == QMessageBox::Yes) {
      try {
        model_->loadProject(copy.absoluteFilePath());
        file_ = original;
        exampleName_ = meta.value("example").toString();
        exampleDir_ = meta.value("exampleDir").toString();
        model_->undoStack()->resetClean();  // unsaved work, as it was
        updateTitle();
        view_->fitToView();
        statusBar()->showMessage(tr("Recovered %1: save it to keep it.").arg(name), 10000);
        recovered = true;
      } catch (const std::exception& e) {
        errorBox(tr("Cannot recover"), QString::fromUtf8(e.what()));
      }
    }
    lock.unlock();
    QFile::remove(copy.absoluteFilePath());
    QFile::remove(copy.absoluteFilePath() + ".json");
    if (recovered) {
      autosaveNow();  // keep a copy under this window's name until it is saved
      return true;
    }
  }
  return false;
}

void MainWindow::readSettings() {
  QSettings s;
  if (s.contains("window/geometry")) restoreGeometry(s.value("window/geometry").toByteArray());
  if (s.contains("window/state")) restoreState(s.value("window/state").toByteArray());
}

void MainWindow::writeSettings() {
  QSettings s;
  s.setValue("window/geometry", saveGeometry());
  s.setValue("window/state", saveState());
}

// ---- events --------------------------------------------------------------------------------

void MainWindow::closeEvent(QCloseEvent* e) {
  if (!maybeSave()) {
    e->ignore();
    return;
  }
  writeSettings();
  removeAutosave();
  e->accept();
}

void MainWindow::showEvent(QShowEvent* e) {
  QMainWindow::showEvent(e);
  if (!fittedOnce_) {
    fittedOnce_ = true;
    // Once the canvas has its real size: lay out crowded files again for it, and fit.
    QTimer::singleShot(0, this, [this] {
      bool clean = model_->undoStack()->isClean();
      if (clean) arrangeIfCrowded();
      view_->fitToView();
    });
  }
}

void MainWindow::dragEnterEvent(QDragEnterEvent* e) {
  if (!projectFileIn(e->mimeData()).isEmpty()) e->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent* e) {
  QString path = projectFileIn(e->mimeData());
  if (path.isEmpty()) return;
  e->acceptProposedAction();
  openFile(path);
}

}  // namespace ng::gui
