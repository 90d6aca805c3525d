// DataLoader: turns a Dataset into batches for training, with seeded shuffling, per-channel
// normalisation, simple image augmentation and a background thread that prepares the next
// batches while the trainer computes.
//
//   DataLoaderOptions opt;
//   opt.batch_size = 64;  opt.seed = 42;
//   opt.normalization = compute_normalization(*train);     // use the same for validation
//   opt.augmentation.crop_padding = 4;  opt.augmentation.horizontal_flip = true;
//   DataLoader loader(train, opt);
//   for (int64_t e = 0; e < epochs; ++e) {
//     loader.start_epoch(e);
//     while (auto b = loader.next()) step(b->inputs, b->targets);   // [N, C, H, W], [N]
//   }
//
// NOTE [Epoch order]: the order of epoch e is a pure function of (seed, e), and the random
// crop/flip of the sample at position p of epoch e a pure function of (seed, e, p). A run
// resumed at (epoch, batch) with start_epoch(epoch, batch) sees exactly the batches the
// interrupted run would have seen, whatever the prefetch depth or thread timing.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/data/dataset.h"

namespace ng::data {

// Per-channel statistics; the channel is dimension 0 of the sample shape ([C, H, W] images:
// C channels; [F] feature vectors: each feature its own channel). Empty: no normalisation.
// The loader writes (x - mean[c]) / std[c].
struct Normalization {
  std::vector<float> mean, std;
  bool empty() const { return mean.empty() && std.empty(); }
};

// Mean and (population) standard deviation per channel over the whole set. A constant channel
// gets std 1, so it is centred but not blown up.
Normalization compute_normalization(const Dataset& ds);

// Image augmentation for [C, H, W] samples, applied before normalisation (as torchvision's
// RandomCrop(padding) + RandomHorizontalFlip before Normalize).
struct Augmentation {
  int64_t crop_padding = 0;      // > 0: pad by this many zeros on each side, crop H x W at random
  bool horizontal_flip = false;  // mirror left-right with probability 1/2
  bool enabled() const { return crop_padding > 0 || horizontal_flip; }
};

struct DataLoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;     // false: dataset order every epoch
  bool drop_last = false;  // true: no short last batch
  uint64_t seed = 0;       // shuffling and augmentation
  Normalization normalization;
  Augmentation augmentation;
  int prefetch = 2;  // batches prepared ahead by a background thread (1-8); 0: no thread
};

struct Batch {
  Tensor inputs;   // [n, sample_shape...] float32
  Tensor targets;  // classification: [n] int64 class indices; regression: [n, k] float32
  int64_t epoch = 0, index = 0;  // batch `index` of epoch `epoch`
  std::vector<int64_t> samples;  // the dataset index of each row
};

class DataLoader {
 public:
  // Throws ng::Error naming the dataset when the options do not fit it.
  DataLoader(DatasetPtr dataset, DataLoaderOptions options);
  // Stops and joins the prefetch thread, also in the middle of an epoch.
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  const Dataset& dataset() const { return *ds_; }
  const DataLoaderOptions& options() const { return opt_; }
  // Batches per epoch (the short last one included unless drop_last).
  int64_t num_batches() const;

  // The dataset indices in the order epoch `epoch` visits them (see NOTE [Epoch order]).
  std::vector<int64_t> epoch_order(int64_t epoch) const;

  // Starts epoch `epoch` at batch `first_batch` (0, or where a resumed run left off). An epoch in
  // progress is abandoned: its prefetch thread is stopped and joined, its batches dropped.
  void start_epoch(int64_t epoch, int64_t first_batch = 0);
  // The next batch of the current epoch, or std::nullopt at its end. An exception thrown while a
  // batch was prepared (also on the prefetch thread) is re-thrown here and ends the epoch.
  std::optional<Batch> next();
  // Abandons the epoch in progress (stops and joins the prefetch thread).
  void stop();

  // Builds batch `index` of an epoch whose order is `order`, on the calling thread.
  Batch make_batch(int64_t epoch, const std::vector<int64_t>& order, int64_t index) const;

 private:
  struct Item {
    std::optional<Batch> batch;  // none and no error: end of the epoch
    std::exception_ptr error;
  };
  void worker(int64_t epoch, int64_t first_batch);
  void augment(float* x, float* scratch, int64_t epoch, int64_t position) const;

  DatasetPtr ds_;
  DataLoaderOptions opt_;
  int64_t numel_ = 0, channels_ = 1;

  // The epoch in progress.
  int64_t epoch_ = 0, next_batch_ = 0;
  bool active_ = false, started_ = false;
  std::vector<int64_t> order_;

  // Prefetch: the worker fills `queue_` (at most opt_.prefetch items), next() drains it.
  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  bool stop_ = false;
};

}  // namespace ng::data
