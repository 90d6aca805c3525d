// InsightEngine: evaluates copies of a run's weights (RunSnapshot) on a thread of its own, for
// the insight views: the confusion matrix over the validation set (the training set when there
// is none) and its misclassified samples ranked by confidence, the decision regions of a model
// with 2-D inputs on a grid around its data, the outputs of one node for one sample (feature
// maps), and the class probabilities of an image drawn on the pad. Only the newest snapshot
// matters: one that arrives while another is evaluated replaces any waiting one. Results come back
// as signals on the GUI thread. The destructor cancels and joins.
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
  // A misclassified sample: its index in the evaluated set, its class, the predicted class and
  // the model's probability for it (softmax of the class scores).
  struct Mistake {
    int64_t index = 0;
    int truth = 0, predicted = 0;
    float confidence = 0;
  };
  struct Mistakes {
    int64_t epoch = 0, step = 0;
    int64_t examined = 0, wrong = 0;  // samples looked at, of them misclassified
    std::vector<Mistake> items;       // the most confident first, at most kMaxMistakes
    std::vector<int64_t> sampleShape;
    std::vector<std::vector<float>> features;  // per item, as stored (not normalised)
    QStringList names;
    QString set;
  };
  static constexpr size_t kMaxMistakes = 64;
  // The misclassified rows of `logits` ([n, classes], row-major) against `labels`, the most
  // confident first (ties: the lower index first), at most `limit`. Rows whose label is out of
  // range are skipped.
  static std::vector<Mistake> rankMistakes(const std::vector<float>& logits,
                                           const std::vector<int64_t>& labels, int classes,
                                           size_t limit);
  // The output of one node for one sample of the evaluated set.
  struct Activations {
    int64_t epoch = 0, step = 0;
    int64_t sample = 0;
    QString node, set;
    std::vector<int64_t> shape;  // without the batch dimension, e.g. [6, 28, 28]
    std::vector<float> values;
    std::vector<int64_t> inputShape;
    std::vector<float> input;  // the sample as stored
    int truth = -1, predicted = -1;
    float confidence = 0;
    QStringList names;
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
  struct Views {
    bool confusion = false, boundary = false, mistakes = false, activations = false;
  };
  void setViews(Views v);
  // The outputs of `node` for sample `index` of the evaluated set, with the newest weights (at
  // once, then after each snapshot while the activations view is wanted).
  void inspect(int64_t index, const QString& node);
  // Whether the model of the newest snapshot takes [1, 28, 28] images / 2-D points.
  bool takesImages() const { return takesImages_; }
  int64_t evaluated() const { return evaluated_; }

 signals:
  void confusionReady(const ng::gui::InsightEngine::Confusion& c);
  void boundaryReady(const ng::gui::InsightEngine::Boundary& b);
  void imageClassified(const ng::gui::InsightEngine::ImageGuess& g);
  void mistakesReady(const ng::gui::InsightEngine::Mistakes& m);
  void activationsReady(const ng::gui::InsightEngine::Activations& a);
  // The snapshot's graph cannot be evaluated here (e.g. no class scores): why.
  void unavailable(const QString& why);

 private:
  struct Work;
  void loop();

  std::mutex mu_;
  std::condition_variable cv_;
  std::shared_ptr<const RunSnapshot> pending_;  // guarded by mu_
  std::vector<float> image_;                    // guarded by mu_
  bool imageDirty_ = false, quit_ = false;      // guarded by mu_
  Views views_{true, true, false, false};       // guarded by mu_
  int64_t inspectIndex_ = -1;                   // guarded by mu_; -1: none
  std::string inspectNode_;                     // guarded by mu_
  bool inspectDirty_ = false;                   // guarded by mu_
  bool takesImages_ = false;
  int64_t evaluated_ = 0;  // GUI thread
  std::thread worker_;
};

}  // namespace ng::gui
