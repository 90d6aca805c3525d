// MainWindow: the node-graph editor. The canvas in the middle, the layer palette on the left,
// the inspector on the right, the issues list at the bottom; File menu with dirty-state
// tracking, recent files and a prompt before losing work; drop a .ngraph file to open it;
// window layout and recent files kept with QSettings.
//   MainWindow w;  w.show();  w.openFile("resources/examples/lenet-mnist.ngraph");
// Dialogs go through replaceable hooks (errorBox, askSave, pickFile) so that tests can answer
// them.
#pragma once

#include <QMainWindow>
#include <QMessageBox>
#include <functional>
#include <memory>

class QLockFile;
class QTimer;

class QAction;
class QLabel;
class QMenu;

namespace ng::gui {

class GraphModel;
class NodeGraphScene;
class NodeGraphView;
class LayerPalette;
class NodeInspector;
class IssuesPanel;
class TrainingUi;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  GraphModel* model() const { return model_; }
  NodeGraphScene* scene() const { return scene_; }
  NodeGraphView* view() const { return view_; }
  LayerPalette* palette() const { return palette_; }
  NodeInspector* inspector() const { return inspector_; }
  IssuesPanel* issues() const { return issues_; }
  QLabel* totalsLabel() const { return totals_; }
  const QString& currentFile() const { return file_; }
  // The folder the project's relative dataset paths are read from: the project file's, or for
  // an untitled copy of an example the example's own; "" for a new untitled project (the
  // working folder). Saving somewhere else rewrites a relative dataset path to match.
  QString dataDir() const;
  QStringList recentFiles() const;
  // Training: its toolbar, docks and controller (app/gui/training/training_ui.h).
  TrainingUi* training() const { return training_; }

  // While a training run is active the graph is read-only (GraphLock): this disables the
  // window's editing actions and their shortcuts (undo, redo, cut, paste, duplicate, delete,
  // layout, add layer, blocks, frames, connect/disconnect, new, open).
  void setGraphEditable(bool on);
  bool graphEditable() const { return editable_; }

  // Opens a project; on failure shows the reason (errorBox) and keeps the current document.
  // Asks to save unsaved changes first unless `force`.
  bool openFile(const QString& path, bool force = false);
  // Opens a bundled example as a new, untitled document: saving asks where, so the example
  // itself is never overwritten.
  bool openExample(const QString& path, bool force = false);
  bool save();
  bool saveAs();
  bool saveTo(const QString& path);
  void newDocument();
  // True when there is nothing unsaved or the user chose to save (successfully) or discard.
  bool maybeSave();

  // Dialog hooks (message boxes and file dialogs by default).
  std::function<void(const QString& title, const QString& text)> errorBox;
  std::function<QMessageBox::StandardButton(const QString& question)> askSave;
  std::function<QString(bool forSaving)> pickFile;

  // File > New from Example…: the gallery (pickExample, replaceable by tests) and the chosen
  // example opened as an untitled copy. Asks to save unsaved changes first.
  bool newFromExample();
  std::function<QString()> pickExample;

  // resources/examples/<name> next to the executable or in the source tree ("" when absent).
  static QString findExample(const QString& name);
  static QString examplesDir();

  // NOTE [Autosave]
  // While there are unsaved changes the project is written every autosave interval (default
  // one minute) to autosaveFile() in autosaveDir(), with a side file naming the document; the
  // copy is removed when the work is saved, discarded or the window closes normally. A lock
  // file held while the window lives tells a crashed session's copy from a running one's.
  // On start-up recoverAutosaves() offers the copies a crash left behind (askRecover).
  void setAutosaveInterval(int ms);
  void autosaveNow();
  QString autosaveFile() const;
  static QString autosaveDir();
  bool recoverAutosaves();
  std::function<QMessageBox::StandardButton(const QString& question)> askRecover;

 protected:
  void closeEvent(QCloseEvent* e) override;
  void showEvent(QShowEvent* e) override;
  void dragEnterEvent(QDragEnterEvent* e) override;
  void dropEvent(QDropEvent* e) override;

 private:
  void buildMenus();
  void buildDocks();
  void updateTitle();
  void updateTotals();
  void addRecent(const QString& path);
  void rebuildRecentMenu();
  void readSettings();
  void writeSettings();
  void arrangeIfCrowded();
  bool load(const QString& path);
  void removeAutosave();
  void rebuildExamplesMenu(QMenu* menu);
  void selectAndShow(const QString& id);
  // Blocks, frames, keyboard wiring, themes, pane focus, gallery (main_window_editor.cpp).
  void addEditorActions(QMenu* file, QMenu* edit, QMenu* view);
  void addThemeMenu(QMenu* view);
  void addFocusActions(QMenu* view);
  void setTheme(int theme);
  void focusPane(int pane);  // 0 canvas, 1 layers, 2 inspector, 3 issues
  void cyclePane(int direction);
  void ensureMnemonics();
  void fitToScreen();

  GraphModel* model_;
  NodeGraphScene* scene_;
  NodeGraphView* view_;
  LayerPalette* palette_;
  NodeInspector* inspector_;
  IssuesPanel* issues_;
  QLabel* totals_;
  QMenu* recentMenu_ = nullptr;
  QList<QAction*> editActions_;  // disabled while the graph is read-only
  QAction *undo_ = nullptr, *redo_ = nullptr;
  bool editable_ = true;
  TrainingUi* training_ = nullptr;
  QString file_;
  QString exampleName_;  // the example an untitled document started from
  QString exampleDir_;   // and its folder, where its dataset paths point from
  bool fittedOnce_ = false;
  QTimer* autosaveTimer_ = nullptr;
  QString autosaveKey_;   // this window's untitled documents
  QString lastAutosave_;  // the copy written last (its path follows file_)
  std::unique_ptr<QLockFile> autosaveLock_;
};

}  // namespace ng::gui
