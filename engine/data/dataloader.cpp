#include "engine/data/dataloader.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/data/random.h"

namespace ng::data {

namespace {

// Channels for normalisation: dimension 0 of the sample shape (1 for a scalar sample).
int64_t channels_of(const Shape& s) {
  return s.empty() ? 1 : std::max<int64_t>(s[0], 1);
}

}  // namespace

Normalization compute_normalization(const Dataset& ds) {
  const int64_t n = ds.size(), numel = ds.sample_numel(), C = channels_of(ds.sample_shape());
  NG_CHECK(n > 0, "compute_normalization: dataset '", ds.name(), "' is empty");
  const int64_t per = numel / C;  // elements per channel
  std::vector<float> x(static_cast<size_t>(numel));
  // Two passes in double: the mean, then the spread around it (no cancellation).
  std::vector<double> sum(size_t(C), 0.0), sq(size_t(C), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    ds.copy_features(i, x.data());
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < per; ++k) sum[size_t(c)] += x[size_t(c * per + k)];
  }
  const double count = double(n) * double(per);
  for (double& s : sum) s /= count;
  for (int64_t i = 0; i < n; ++i) {
    ds.copy_features(i, x.data());
    for (int64_t c = 0; c < C; ++c)
      for (int64_t k = 0; k < per; ++k) {
        double d = x[size_t(c * per + k)] - sum[size_t(c)];
        sq[size_t(c)] += d * d;
      }
  }
  Normalization norm;
  for (int64_t c = 0; c < C; ++c) {
    double sd = std::sqrt(sq[size_t(c)] / count);
    norm.mean.push_back(float(sum[size_t(c)]));
    norm.std.push_back(sd > 1e-12 ? float(sd) : 1.0f);
  }
  return norm;
}

DataLoader::DataLoader(DatasetPtr dataset, DataLoaderOptions options)
    : ds_(std::move(dataset)), opt_(std::move(options)) {
  NG_CHECK(ds_ != nullptr, "DataLoader: no dataset");
  const std::string who = "DataLoader on '" + ds_->name() + "'";
  const Shape& s = ds_->sample_shape();
  numel_ = ds_->sample_numel();
  channels_ = channels_of(s);
  if (opt_.batch_size < 1)
    throw ValueError(detail::concat(who, ": batch size ", opt_.batch_size, " must be at least 1"));
  if (opt_.prefetch < 0 || opt_.prefetch > 8)
    throw ValueError(detail::concat(who, ": prefetch ", opt_.prefetch, " must lie in [0, 8]"));
  const Normalization& nm = opt_.normalization;
  if (!nm.empty()) {
    NG_CHECK_SHAPE(int64_t(nm.mean.size()) == channels_ && int64_t(nm.std.size()) == channels_, who,
                   ": normalisation has ", nm.mean.size(), " means and ", nm.std.size(),
                   " stds, samples of shape ", shape_str(s), " have ", channels_, " channels");
    for (size_t c = 0; c < nm.std.size(); ++c)
      if (!(nm.std[c] > 0.0f) || !std::isfinite(nm.mean[c]))
        throw ValueError(detail::concat(who, ": normalisation of channel ", c, " has mean ",
                                        nm.mean[c], " and std ", nm.std[c], " (std must be > 0)"));
  }
  const Augmentation& au = opt_.augmentation;
  if (au.crop_padding < 0)
    throw ValueError(detail::concat(who, ": crop padding ", au.crop_padding, " is negative"));
  if (au.enabled())
    NG_CHECK_SHAPE(s.size() == 3, who, ": crop and flip need image samples [C, H, W], not ",
                   shape_str(s));
}

DataLoader::~DataLoader() {
  stop();
}

int64_t DataLoader::num_batches() const {
  const int64_t n = ds_->size(), b = opt_.batch_size;
  return opt_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> DataLoader::epoch_order(int64_t epoch) const {
  const int64_t n = ds_->size();
  if (!opt_.shuffle) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
    return order;
  }
  Rng rng = stream_rng(opt_.seed, kShuffleStream, uint64_t(epoch));
  return permutation(n, rng);
}

// Random crop with zero padding and horizontal flip of one [C, H, W] sample, in place.
// `scratch` holds C*H*W floats. The draws depend on (seed, epoch, position) only.
void DataLoader::augment(float* x, float* scratch, int64_t epoch, int64_t position) const {
  const Shape& s = ds_->sample_shape();
  const int64_t C = s[0], H = s[1], W = s[2], p = opt_.augmentation.crop_padding;
  Rng rng = stream_rng(opt_.seed, kAugmentStream, uint64_t(epoch));
  rng.set_state(rng.seed(), uint64_t(position) * 4);              // 4 blocks per sample, 3 used
  const auto dy = int64_t(rng.randint(uint64_t(2 * p + 1))) - p;  // window offset in [-p, p]
  const auto dx = int64_t(rng.randint(uint64_t(2 * p + 1))) - p;
  const bool flip = opt_.augmentation.horizontal_flip && (rng.next_u32() & 1u);
  if (p > 0 && (dx != 0 || dy != 0)) {
    // out[c, y, x] = in[c, y + dy, x + dx], zero outside the image.
    std::memcpy(scratch, x, size_t(C * H * W) * sizeof(float));
    const int64_t x0 = std::max<int64_t>(0, -dx), x1 = std::min(W, W - dx);
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < H; ++y) {
        float* row = x + (c * H + y) * W;
        const int64_t sy = y + dy;
        if (sy < 0 || sy >= H || x0 >= x1) {
          std::fill(row, row + W, 0.0f);
          continue;
        }
        const float* src = scratch + (c * H + sy) * W;
        std::fill(row, row + x0, 0.0f);
        std::memcpy(row + x0, src + x0 + dx, size_t(x1 - x0) * sizeof(float));
        std::fill(row + x1, row + W, 0.0f);
      }
  }
  if (flip)
    for (int64_t r = 0; r < C * H; ++r) std::reverse(x + r * W, x + (r + 1) * W);
}

Batch DataLoader::make_batch(int64_t epoch, const std::vector<int64_t>& order,
                             int64_t index) const {
  const int64_t b = opt_.batch_size, begin = index * b;
  const int64_t n = std::min<int64_t>(b, int64_t(order.size()) - begin);
  NG_CHECK(index >= 0 && n > 0, "DataLoader on '", ds_->name(), "': batch ", index,
           " is past the end of the epoch (", num_batches(), " batches)");
  Batch batch;
  batch.epoch = epoch;
  batch.index = index;
  batch.samples.assign(order.begin() + begin, order.begin() + begin + n);

  Shape in_shape{n};
  in_shape.insert(in_shape.end(), ds_->sample_shape().begin(), ds_->sample_shape().end());
  batch.inputs = Tensor::empty(in_shape);  // [n, sample_shape...]
  float* x = batch.inputs.data<float>();
  const bool aug = opt_.augmentation.enabled();
  std::vector<float> scratch(aug ? size_t(numel_) : 0);
  const Normalization& nm = opt_.normalization;
  const int64_t per = numel_ / channels_;
  for (int64_t k = 0; k < n; ++k) {
    float* xs = x + k * numel_;
    ds_->copy_features(batch.samples[size_t(k)], xs);  // straight into the batch tensor
    if (aug) augment(xs, scratch.data(), epoch, begin + k);
    if (!nm.empty())
      for (int64_t c = 0; c < channels_; ++c) {
        const float m = nm.mean[size_t(c)], inv = 1.0f / nm.std[size_t(c)];
        float* xc = xs + c * per;
        for (int64_t j = 0; j < per; ++j) xc[j] = (xc[j] - m) * inv;
      }
  }

  if (ds_->task() == Task::Classification) {
    batch.targets = Tensor::empty({n}, DType::Int64);  // [n]
    int64_t* y = batch.targets.data<int64_t>();
    for (int64_t k = 0; k < n; ++k) y[k] = ds_->label(batch.samples[size_t(k)]);
  } else {
    const int64_t t = ds_->target_dim();
    batch.targets = Tensor::empty({n, t});  // [n, k]
    float* y = batch.targets.data<float>();
    for (int64_t k = 0; k < n; ++k) ds_->copy_targets(batch.samples[size_t(k)], y + k * t);
  }
  return batch;
}

void DataLoader::start_epoch(int64_t epoch, int64_t first_batch) {
  stop();
  if (first_batch < 0 || first_batch > num_batches())
    throw ValueError(detail::concat("DataLoader on '", ds_->name(), "': cannot start epoch ", epoch,
                                    " at batch ", first_batch, " of ", num_batches()));
  epoch_ = epoch;
  next_batch_ = first_batch;
  order_ = epoch_order(epoch);
  active_ = started_ = true;
  if (opt_.prefetch > 0) {
    stop_ = false;
    thread_ = std::thread([this, epoch, first_batch] { worker(epoch, first_batch); });
  }
}

void DataLoader::worker(int64_t epoch, int64_t first_batch) {
  const int64_t nb = num_batches();
  for (int64_t b = first_batch; b <= nb; ++b) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;  // abandoned while the previous batch was queued
    }
    Item item;
    try {
      if (b < nb) item.batch = make_batch(epoch, order_, b);
    } catch (...) {
      item.error = std::current_exception();
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stop_ || int64_t(queue_.size()) < opt_.prefetch; });
    if (stop_) return;
    const bool last = b == nb || item.error;
    queue_.push_back(std::move(item));
    cv_.notify_all();
    if (last) return;
  }
}

std::optional<Batch> DataLoader::next() {
  NG_CHECK(started_, "DataLoader on '", ds_->name(), "': next() before start_epoch()");
  if (!active_) return std::nullopt;
  if (opt_.prefetch == 0) {
    if (next_batch_ >= num_batches()) {
      active_ = false;
      return std::nullopt;
    }
    try {
      return make_batch(epoch_, order_, next_batch_++);
    } catch (...) {
      active_ = false;
      throw;
    }
  }
  Item item;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !queue_.empty(); });
    item = std::move(queue_.front());
    queue_.pop_front();
    cv_.notify_all();
  }
  if (item.batch) {
    ++next_batch_;
    return std::move(item.batch);
  }
  stop();  // the worker has returned: join it
  if (item.error) std::rethrow_exception(item.error);
  return std::nullopt;
}

void DataLoader::stop() {
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  std::lock_guard<std::mutex> lock(mu_);
  queue_.clear();
  stop_ = false;
  active_ = false;
}

}  // namespace ng::data
