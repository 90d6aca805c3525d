// Metrics of training and evaluation: loss, accuracy and top-k for classification, mean squared
// error for regression, accumulated over batches; and summary statistics of weights and
// gradients for the GUI's per-layer plots.
//
//   MetricAccumulator acc(/*num_classes=*/10);          // top-5 is tracked (10 > 5 classes)
//   for (...) {
//     Metrics m = acc.add(loss.item(), result.prediction, batch.targets);  // this batch
//   }
//   Metrics epoch = acc.result();                        // samples-weighted over all batches
//   TensorStats s = tensor_stats(w.grad(), /*bins=*/32);
#pragma once

#include <cstdint>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/train/events.h"

namespace ng::train {

// The k of top-k accuracy: 5 where a task has more than 5 classes, else 0 (not reported).
inline int64_t top_k_for(int64_t num_classes) {
  return num_classes > 5 ? 5 : 0;
}

class MetricAccumulator {
 public:
  // num_classes: 0 for regression. label_metrics = false: the loss compares the prediction
  // with something other than the dataset's targets (an autoencoder's loss target is wired from
  // the graph), so only the loss is tracked.
  explicit MetricAccumulator(int64_t num_classes = 0, bool label_metrics = true)
      : label_metrics_(label_metrics), k_(label_metrics ? top_k_for(num_classes) : 0) {}

  // Adds one batch. `loss`: the batch's mean loss. Classification: prediction [N, C] scores
  // and targets [N] int64 class indices. Regression: prediction and targets of the same numel
  // (e.g. [N, k]). Returns the batch's own metrics. A prediction that fits neither (e.g. an
  // undefined one) counts only towards the loss.
  Metrics add(double loss, const Tensor& prediction, const Tensor& targets);
  // Samples-weighted over every batch added since the last reset().
  Metrics result() const;
  void reset() { sums_ = Sums{}; }

  // The running sums, so that a checkpoint taken mid-epoch resumes the epoch's metrics.
  struct Sums {
    double loss = 0, correct = 0, top_k = 0, sq_err = 0;
    double samples = 0, values = 0, classified = 0;
  };
  const Sums& sums() const { return sums_; }
  bool label_metrics() const { return label_metrics_; }
  void set_sums(const Sums& s) { sums_ = s; }
  static std::vector<double> to_vector(const Sums& s);
  static Sums from_vector(const std::vector<double>& v);  // throws ng::Error on a bad length

 private:
  bool label_metrics_ = true;
  int64_t k_;
  Sums sums_;
};

// Mean, standard deviation (population), min, max, L2 norm and a histogram of `bins` equal-width
// bins over [min, max] (all values in the first bin when min == max). Accumulated in double.
// An undefined tensor gives numel 0, NaN statistics and no histogram; non-finite values are
// left out of the histogram but make the moments non-finite.
TensorStats tensor_stats(const Tensor& t, int bins = 32);

}  // namespace ng::train
