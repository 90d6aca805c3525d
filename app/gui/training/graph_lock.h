// GraphLock: makes the editor read-only while a training run is active (the run trains a copy,
// so edits could not reach it; the graph on screen stays the graph being trained). Locked, the
// canvas still pans, zooms and selects (the inspector shows the selected node, greyed), but it
// swallows everything that would edit: node drags, wire drawing from ports, Tab and
// double-click quick-add, drops from the palette; the palette and the inspector are disabled
// and MainWindow::setGraphEditable(false) disables the editing actions and their shortcuts
// (undo, redo, cut, paste, duplicate, delete, layout, new, open).
//   GraphLock lock(mainWindow);
//   lock.setLocked(true);    // run started
//   lock.setLocked(false);   // run ended
#pragma once

#include <QObject>

namespace ng::gui {

class MainWindow;

class GraphLock : public QObject {
  Q_OBJECT
 public:
  explicit GraphLock(MainWindow* window);
  void setLocked(bool on);
  bool locked() const { return locked_; }

 protected:
  bool eventFilter(QObject* watched, QEvent* e) override;

 private:
  MainWindow* window_;
  bool locked_ = false;
};

}  // namespace ng::gui
