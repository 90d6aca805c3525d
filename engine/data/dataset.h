// Dataset: a fixed, in-memory collection of samples for training or evaluation. Every loader in
// engine/data/ returns one; the DataLoader batches it. A sample is a float32 array of
// sample_shape() (no batch dimension) plus either a class index (classification) or
// target_dim() float targets (regression). The sets Neurograph teaches with are small, so the
// whole set lives in memory.
//
//   auto train = ng::data::load_idx("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");
//   train->size();          // 60000
//   train->sample_shape();  // [1, 28, 28]
//   std::vector<float> x(ng::numel(train->sample_shape()));
//   train->copy_features(0, x.data());  int64_t y = train->label(0);
//   auto [tr, va] = ng::data::split(train, 0.8, ng::data::SplitMode::PerClass, /*seed=*/1);
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/shape.h"

namespace ng::data {

enum class Task { Classification, Regression };

inline const char* task_name(Task t) {
  return t == Task::Classification ? "classification" : "regression";
}

class Dataset {
 public:
  virtual ~Dataset() = default;

  // A short description for messages and the GUI, e.g. "MNIST train" or "iris.csv".
  virtual std::string name() const = 0;
  virtual int64_t size() const = 0;
  // One sample's feature shape, without the batch dimension: [C, H, W] for images, [F] for
  // tabular and synthetic sets. Dimension 0 is the channel for normalisation.
  virtual const Shape& sample_shape() const = 0;
  virtual Task task() const = 0;
  // Classification: the number of classes and their names (index = class). Regression: 0, {}.
  virtual int64_t num_classes() const = 0;
  virtual const std::vector<std::string>& class_names() const = 0;
  // Regression: the number of float targets per sample (k of the [N, k] target batch).
  // Classification: 0.
  virtual int64_t target_dim() const = 0;

  // Writes sample i's features (numel(sample_shape()) floats) to `out`.
  virtual void copy_features(int64_t i, float* out) const = 0;
  // Classification only: the class of sample i, in [0, num_classes()).
  virtual int64_t label(int64_t i) const = 0;
  // Regression only: writes sample i's target_dim() targets to `out`.
  virtual void copy_targets(int64_t i, float* out) const = 0;

  int64_t sample_numel() const { return ng::numel(sample_shape()); }
};

using DatasetPtr = std::shared_ptr<const Dataset>;

// The one concrete store: features as float32, or as bytes read back as byte / 255 (8-bit
// image sets keep a quarter of the memory: CIFAR-10's 50,000 training images are 150 MB, not
// 600 MB). Loaders fill it through the mutable accessors, then hand it out as a DatasetPtr.
class InMemoryDataset : public Dataset {
 public:
  enum class Storage { Float32, Bytes };

  // Classification set of n samples; features zeroed, labels 0.
  static std::shared_ptr<InMemoryDataset> classification(std::string name, Shape sample_shape,
                                                         int64_t n,
                                                         std::vector<std::string> class_names,
                                                         Storage storage = Storage::Float32);
  // Regression set of n samples with `target_dim` float targets each.
  static std::shared_ptr<InMemoryDataset> regression(std::string name, Shape sample_shape,
                                                     int64_t n, int64_t target_dim,
                                                     Storage storage = Storage::Float32);

  std::string name() const override { return name_; }
  int64_t size() const override { return n_; }
  const Shape& sample_shape() const override { return shape_; }
  Task task() const override { return task_; }
  int64_t num_classes() const override { return int64_t(class_names_.size()); }
  const std::vector<std::string>& class_names() const override { return class_names_; }
  int64_t target_dim() const override { return target_dim_; }
  void copy_features(int64_t i, float* out) const override;
  int64_t label(int64_t i) const override;
  void copy_targets(int64_t i, float* out) const override;

  Storage storage() const { return storage_; }
  // Sample i's features; float_features() for Storage::Float32, byte_features() for Bytes.
  float* float_features(int64_t i);
  uint8_t* byte_features(int64_t i);
  // Labels (classification) and targets (regression, [n, target_dim] row-major), writable.
  std::vector<int64_t>& labels() { return labels_; }
  std::vector<float>& targets() { return targets_; }
  // Throws ng::ValueError naming the dataset and the sample when a label is out of range.
  void check_labels() const;

 private:
  InMemoryDataset() = default;
  void check_index(int64_t i) const;

  std::string name_;
  Shape shape_;
  int64_t n_ = 0, numel_ = 0, target_dim_ = 0;
  Task task_ = Task::Classification;
  Storage storage_ = Storage::Float32;
  std::vector<std::string> class_names_;
  std::vector<float> floats_;
  std::vector<uint8_t> bytes_;
  std::vector<int64_t> labels_;
  std::vector<float> targets_;
};

// A view of some samples of another dataset, in the given order (no copy of the data).
class Subset : public Dataset {
 public:
  Subset(DatasetPtr base, std::vector<int64_t> indices, std::string name);

  std::string name() const override { return name_; }
  int64_t size() const override { return int64_t(indices_.size()); }
  const Shape& sample_shape() const override { return base_->sample_shape(); }
  Task task() const override { return base_->task(); }
  int64_t num_classes() const override { return base_->num_classes(); }
  const std::vector<std::string>& class_names() const override { return base_->class_names(); }
  int64_t target_dim() const override { return base_->target_dim(); }
  void copy_features(int64_t i, float* out) const override;
  int64_t label(int64_t i) const override;
  void copy_targets(int64_t i, float* out) const override;

  const std::vector<int64_t>& indices() const { return indices_; }

 private:
  int64_t map(int64_t i) const;
  DatasetPtr base_;
  std::vector<int64_t> indices_;
  std::string name_;
};

// --- train / validation split ---

enum class SplitMode {
  PerClass,  // each class split on its own (stratified): class c gives floor(n_c * fraction)
  Plain,     // the whole set split once: floor(n * fraction) train samples
};

// Splits `ds` into (train, validation) views. Without a seed the samples keep their order, so
// the first `train_fraction` of each class (PerClass) or of the set (Plain) trains: with
// train_fraction 0.8 this is the split of the MNIST reference (bench/torch_mnist_reference.py).
// With a seed, the samples that train are drawn at random instead (Philox, a pure function of
// the seed). Either way each part lists its samples in dataset order.
// PerClass needs a classification set. Throws ng::ValueError for a fraction outside (0, 1).
std::pair<DatasetPtr, DatasetPtr> split(const DatasetPtr& ds, double train_fraction,
                                        SplitMode mode = SplitMode::PerClass,
                                        std::optional<uint64_t> shuffle_seed = std::nullopt);

// Per-class sample counts of a classification set (index = class).
std::vector<int64_t> class_counts(const Dataset& ds);

}  // namespace ng::data
