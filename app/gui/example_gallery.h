// ExampleGallery: File > New from Example…, a dialog listing every bundled example
// (resources/examples/*.ngraph) with a picture of its graph and a summary: layers, parameters,
// dataset, recipe. Enter or a double-click starts a new, untitled project from the highlighted
// one (MainWindow::openExample); the example file itself is never written.
//   ExampleGallery g(MainWindow::examplesDir(), this);
//   if (g.exec() == QDialog::Accepted) openExample(g.chosenPath(), true);
#pragma once

#include <QDialog>
#include <QPixmap>

class QLabel;
class QListWidget;

namespace ng::gui {

class ExampleGallery : public QDialog {
  Q_OBJECT
 public:
  // What the gallery shows of one example.
  struct Entry {
    QString path, name;  // name: the file's base name, "lenet-mnist"
    QString summary;     // one line: "14 layers · 61,706 parameters · mnist · SGD, 5 epochs"
    QString layers;  // "Input → Conv2d ×2 · MaxPool2d ×2 · Linear ×3 · ... → CrossEntropyLoss"
    QString error;  // when the file cannot be read
    int layerCount = 0;
    int64_t params = 0;
    QString dataset;
    QPixmap picture;
  };
  // Reads an example: its summary and a picture of its graph `size` large (logical pixels,
  // drawn for the screen's pixel ratio).
  static Entry describe(const QString& path, QSize size, double pixelRatio = 1.0);

  ExampleGallery(const QString& dir, QWidget* parent = nullptr);
  const QList<Entry>& entries() const { return entries_; }
  QListWidget* list() const { return list_; }
  // The example highlighted ("" when none).
  QString chosenPath() const;

 private:
  void showDetails();
  QList<Entry> entries_;
  QListWidget* list_;
  QLabel *picture_, *details_;
};

}  // namespace ng::gui
