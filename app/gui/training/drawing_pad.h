// DrawingPad: draw a digit with the mouse for an MNIST model to read. The strokes are turned
// into what the network expects, as MNIST's digits were made: the ink's bounding box scaled
// to fit 20 x 20 pixels, placed by its centre of mass in a 28 x 28 image, white on black,
// values in [0, 1]. The pad shows that 28 x 28 image in its corner. ProbabilityBars shows the
// model's answer, one bar per class.
//   DrawingPad pad;
//   connect(&pad, &DrawingPad::imageChanged, engine, &InsightEngine::classifyImage);
#pragma once

#include <QImage>
#include <QStringList>
#include <QWidget>
#include <vector>

namespace ng::gui {

class DrawingPad : public QWidget {
  Q_OBJECT
 public:
  explicit DrawingPad(QWidget* parent = nullptr);
  void clear();
  // The 28 x 28 image (row-major, [0, 1]); empty when nothing is drawn.
  std::vector<float> image() const;
  // Draws a stroke through points given in pad coordinates (0..1), as the mouse would.
  void stroke(const std::vector<QPointF>& unitPoints);
  QSize sizeHint() const override { return {200, 200}; }

 signals:
  void imageChanged(const std::vector<float>& pixels);

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent* e) override;
  void mouseMoveEvent(QMouseEvent* e) override;
  void mouseReleaseEvent(QMouseEvent* e) override;
  void resizeEvent(QResizeEvent*) override;

 private:
  QPointF toCanvas(QPointF widgetPos) const;
  void drawTo(QPointF canvasPos);
  void changed();

  QImage canvas_;  // 280 x 280 strokes, white on black
  QImage small_;   // the 28 x 28 image the model reads
  QPointF last_;
  bool drawing_ = false;
};

class ProbabilityBars : public QWidget {
  Q_OBJECT
 public:
  explicit ProbabilityBars(QWidget* parent = nullptr);
  void setProbabilities(std::vector<double> p, QStringList names);
  void clear();
  const std::vector<double>& probabilities() const { return p_; }
  QSize sizeHint() const override { return {200, 200}; }

 protected:
  void paintEvent(QPaintEvent*) override;

 private:
  std::vector<double> p_;
  QStringList names_;
};

}  // namespace ng::gui
