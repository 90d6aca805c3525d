#include "engine/data/dataset.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/data/random.h"

namespace ng::data {

// --- InMemoryDataset ---

std::shared_ptr<InMemoryDataset> InMemoryDataset::classification(
    std::string name, Shape sample_shape, int64_t n, std::vector<std::string> class_names,
    Storage storage) {
  NG_CHECK(n >= 0, "dataset '", name, "': negative size ", n);
  NG_CHECK(!class_names.empty(), "dataset '", name, "': a classification set needs classes");
  std::shared_ptr<InMemoryDataset> d(new InMemoryDataset());
  d->name_ = std::move(name);
  d->shape_ = std::move(sample_shape);
  d->n_ = n;
  d->numel_ = ng::numel(d->shape_);
  d->task_ = Task::Classification;
  d->storage_ = storage;
  d->class_names_ = std::move(class_names);
  if (storage == Storage::Float32)
    d->floats_.assign(size_t(n * d->numel_), 0.0f);
  else
    d->bytes_.assign(size_t(n * d->numel_), 0);
  d->labels_.assign(size_t(n), 0);
  return d;
}

std::shared_ptr<InMemoryDataset> InMemoryDataset::regression(std::string name, Shape sample_shape,
                                                             int64_t n, int64_t target_dim,
                                                             Storage storage) {
  NG_CHECK(n >= 0, "dataset '", name, "': negative size ", n);
  NG_CHECK(target_dim >= 1, "dataset '", name, "': a regression set needs at least one target");
  std::shared_ptr<InMemoryDataset> d(new InMemoryDataset());
  d->name_ = std::move(name);
  d->shape_ = std::move(sample_shape);
  d->n_ = n;
  d->numel_ = ng::numel(d->shape_);
  d->task_ = Task::Regression;
  d->storage_ = storage;
  d->target_dim_ = target_dim;
  if (storage == Storage::Float32)
    d->floats_.assign(size_t(n * d->numel_), 0.0f);
  else
    d->bytes_.assign(size_t(n * d->numel_), 0);
  d->targets_.assign(size_t(n * target_dim), 0.0f);
  return d;
}

void InMemoryDataset::check_index(int64_t i) const {
  if (i < 0 || i >= n_)
    throw ValueError(
        detail::concat("dataset '", name_, "': sample ", i, " out of range [0, ", n_, ")"));
}

float* InMemoryDataset::float_features(int64_t i) {
  check_index(i);
  NG_CHECK(storage_ == Storage::Float32, "dataset '", name_, "' stores bytes, not floats");
  return floats_.data() + i * numel_;
}

uint8_t* InMemoryDataset::byte_features(int64_t i) {
  check_index(i);
  NG_CHECK(storage_ == Storage::Bytes, "dataset '", name_, "' stores floats, not bytes");
  return bytes_.data() + i * numel_;
}

void InMemoryDataset::copy_features(int64_t i, float* out) const {
  check_index(i);
  if (storage_ == Storage::Float32) {
    std::memcpy(out, floats_.data() + i * numel_, size_t(numel_) * sizeof(float));
  } else {
    const uint8_t* p = bytes_.data() + i * numel_;
    for (int64_t k = 0; k < numel_; ++k) out[k] = float(p[k]) * (1.0f / 255.0f);
  }
}

int64_t InMemoryDataset::label(int64_t i) const {
  check_index(i);
  NG_CHECK(task_ == Task::Classification, "dataset '", name_,
           "' is a regression set: it has targets, not class labels");
  return labels_[size_t(i)];
}

void InMemoryDataset::copy_targets(int64_t i, float* out) const {
  check_index(i);
  NG_CHECK(task_ == Task::Regression, "dataset '", name_,
           "' is a classification set: it has class labels, not float targets");
  std::memcpy(out, targets_.data() + i * target_dim_, size_t(target_dim_) * sizeof(float));
}

void InMemoryDataset::check_labels() const {
  if (task_ != Task::Classification) return;
  for (int64_t i = 0; i < n_; ++i) {
    int64_t y = labels_[size_t(i)];
    if (y < 0 || y >= num_classes())
      throw ValueError(detail::concat("dataset '", name_, "': sample ", i, " has label ", y,
                                      ", outside [0, ", num_classes(), ")"));
  }
}

// --- Subset ---

Subset::Subset(DatasetPtr base, std::vector<int64_t> indices, std::string name)
    : base_(std::move(base)), indices_(std::move(indices)), name_(std::move(name)) {
  NG_CHECK(base_ != nullptr, "Subset '", name_, "': no base dataset");
  for (int64_t i : indices_)
    if (i < 0 || i >= base_->size())
      throw ValueError(detail::concat("Subset '", name_, "': index ", i, " outside dataset '",
                                      base_->name(), "' of ", base_->size(), " samples"));
}

int64_t Subset::map(int64_t i) const {
  if (i < 0 || i >= size())
    throw ValueError(
        detail::concat("dataset '", name_, "': sample ", i, " out of range [0, ", size(), ")"));
  return indices_[size_t(i)];
}

void Subset::copy_features(int64_t i, float* out) const {
  base_->copy_features(map(i), out);
}
int64_t Subset::label(int64_t i) const {
  return base_->label(map(i));
}
void Subset::copy_targets(int64_t i, float* out) const {
  base_->copy_targets(map(i), out);
}

// --- split ---

std::vector<int64_t> class_counts(const Dataset& ds) {
  NG_CHECK(ds.task() == Task::Classification, "class_counts: dataset '", ds.name(),
           "' is a regression set");
  std::vector<int64_t> c(size_t(ds.num_classes()), 0);
  for (int64_t i = 0; i < ds.size(); ++i) {
    int64_t y = ds.label(i);
    if (y < 0 || y >= ds.num_classes())
      throw ValueError(detail::concat("dataset '", ds.name(), "': sample ", i, " has label ", y,
                                      ", outside [0, ", ds.num_classes(), ")"));
    ++c[size_t(y)];
  }
  return c;
}

std::pair<DatasetPtr, DatasetPtr> split(const DatasetPtr& ds, double train_fraction, SplitMode mode,
                                        std::optional<uint64_t> shuffle_seed) {
  NG_CHECK(ds != nullptr, "split: no dataset");
  if (!(train_fraction > 0.0 && train_fraction < 1.0))
    throw ValueError(detail::concat("split of '", ds->name(), "': train fraction ", train_fraction,
                                    " must lie strictly between 0 and 1"));
  NG_CHECK(mode == SplitMode::Plain || ds->task() == Task::Classification, "split of '", ds->name(),
           "': a per-class split needs a classification set, this one is ", task_name(ds->task()));

  // Groups of sample indices, each split on its own: one per class, or the whole set.
  std::vector<std::vector<int64_t>> groups(mode == SplitMode::PerClass ? size_t(ds->num_classes())
                                                                       : 1);
  for (int64_t i = 0; i < ds->size(); ++i) {
    size_t g = 0;
    if (mode == SplitMode::PerClass) {
      int64_t y = ds->label(i);
      if (y < 0 || y >= ds->num_classes())
        throw ValueError(detail::concat("split of '", ds->name(), "': sample ", i, " has label ", y,
                                        ", outside [0, ", ds->num_classes(), ")"));
      g = size_t(y);
    }
    groups[g].push_back(i);
  }

  std::vector<int64_t> train, val;
  for (size_t g = 0; g < groups.size(); ++g) {
    std::vector<int64_t>& idx = groups[g];
    if (shuffle_seed) {
      Rng rng = stream_rng(*shuffle_seed, kSplitStream, g);
      std::vector<int64_t> p = permutation(int64_t(idx.size()), rng);
      std::vector<int64_t> shuffled(idx.size());
      for (size_t k = 0; k < idx.size(); ++k) shuffled[k] = idx[size_t(p[k])];
      idx = std::move(shuffled);
    }
    // floor(n * fraction) in double precision, as Python's int(len(x) * 0.8).
    auto n_train = size_t(std::floor(double(idx.size()) * train_fraction));
    train.insert(train.end(), idx.begin(), idx.begin() + ptrdiff_t(n_train));
    val.insert(val.end(), idx.begin() + ptrdiff_t(n_train), idx.end());
  }
  std::sort(train.begin(), train.end());
  std::sort(val.begin(), val.end());
  return {std::make_shared<Subset>(ds, std::move(train), ds->name() + " (train)"),
          std::make_shared<Subset>(ds, std::move(val), ds->name() + " (validation)")};
}

}  // namespace ng::data
