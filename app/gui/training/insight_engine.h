// InsightEngine: evaluates copies of a run's weights (RunSnapshot) on a thread of its own, for
// the insight views: the confusion matrix over the validation set (the training set when there
// is none), the decision regions of a model with 2-D inputs on a grid around its data, and the
// class probabilities of an image drawn on the pad. Only the newest snapshot matters: one that
// arrives while another is evaluated replaces any waiting one. Results come back as signals on
// the GUI thread. The destructor cancels and joins.
//   InsightEngine e;
//   connect(controller, &TrainingController::snapshotReady, &e, &InsightEngine::submit);
//   connect(&e, &InsightEngine::confusionReady, view, ...);
//   e.classifyImage(pixels);   // 28 x 28 values in [0, 1] for an MNIST model
#pragma once

#include <QObject>
#include <QStringList>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "app/gui/training/run_snapshot.h"

namespace ng::gui {

class InsightEngine : public QObject {
  Q_OBJECT
 public:
  struct Confusion {
    int64_t epoch = 0, step = 0;
    int classes = 0;
    std::vector<int64_t> counts;  // [true class][predicted class], row-major
    QStringList names;
    QString set;  // "validation" or "training"
  };
  struct Boundary {
    int64_t epoch = 0, step = 0;
    int nx = 0, ny = 0, classes = 0;
    double x0 = 0, x1 = 1, y0 = 0, y1 = 1;  // the grid's extent in input units
    std::vector<int> cls;                   // predicted class per cell, row-major from (x0, y0)
    std::vector<float> conf;                // its probability
    // The samples drawn over it (validation set, else training), in input units.
    std::vector<double> x, y;
    std::vector<int> label;
  };
  struct ImageGuess {
    int64_t step = 0;
    std::vector<double> probs;  // per class
    QStringList names;
  };

  explicit InsightEngine(QObject* parent = nullptr);
  ~InsightEngine() override;

  // Any thread. Replaces a waiting snapshot.
  void submit(std::shared_ptr<const ng::gui::RunSnapshot> snapshot);
  // The image to classify with the newest weights (again after each snapshot); empty: none.
  void classifyImage(std::vector<float> pixels);
  // Which snapshot evaluations to make (the views shown); the drawn image is always classified.
  void setViews(bool confusion, bool boundary);
  // Whether the model of the newest snapshot takes [1, 28, 28] images / 2-D points.
  bool takesImages() const { return takesImages_; }
  int64_t evaluated() const { return evaluated_; }

 signals:
  void confusionReady(const ng::gui::InsightEngine::Confusion& c);
  void boundaryReady(const ng::gui::InsightEngine::Boundary& b);
  void imageClassified(const ng::gui::InsightEngine::ImageGuess& g);
  // The snapshot's graph cannot be evaluated here (e.g. no class scores): why.
  void unavailable(const QString& why);

 private:
  struct Work;
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const RunSnapshot> pending_;       // guarded by mu_
  std::vector<float> image_;                         // guarded by mu_
  bool imageDirty_ = false, quit_ = false;           // guarded by mu_
  bool wantConfusion_ = true, wantBoundary_ = true;  // guarded by mu_
  bool takesImages_ = false;
  int64_t evaluated_ = 0;  // GUI thread
  std::thread worker_;
};

}  // namespace ng::gui
