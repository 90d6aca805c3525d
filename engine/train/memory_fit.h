// The batch size that fits a device's memory, for the message a user gets when a training step
// runs out of it.
//
// NOTE [Batch size that fits]: a step's memory is, to a good approximation, a fixed part
// (weights, their gradients, the optimiser's state, workspaces that do not grow with the batch)
// plus a part that grows with the batch (activations and their gradients). fit_batch_size runs
// forward, loss and backward at two small batch sizes on random inputs shaped like the model's
// Input, reads the allocator's peak for each (the second run of each size, after cuDNN has chosen
// its algorithms and freed Find's scratch), and solves for the two parts. That line runs low
// (at small batches the peak comes with the weight gradients at the end of backward; at large
// ones with every activation alive at its start), so it only proposes: the step is then measured
// at the largest power of two the line allows, below the batch that failed, and halved until it
// stays within kFitShare of what the device can hold (Allocator::capacity_bytes). The rest is
// left for what the measurement does not see (a CUDA graph's pool, the batch's static copies).
// Optimiser state that does not exist yet (a first step that ran out) is added.
//
// Nothing the user has is changed: weights are not updated, and the BatchNorm running
// statistics, the model's Rng, its mode, its keep-outputs setting and every parameter's
// gradient are as they were before the measurement.
//
//   catch (const OutOfMemoryError& e) {
//     BatchFit f = fit_batch_size(model, allocator(model.device()).capacity_bytes(), 0);
//     message += " " + f.describe(batch);   // "A batch of 256 fits: ..."
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/core/tensor.h"
#include "engine/io/project.h"
#include "engine/nn/model.h"
#include "engine/optim/optimizer.h"

namespace ng::train {

inline constexpr double kFitShare = 0.85;
inline constexpr int64_t kMaxBatch = int64_t(1) << 20;  // the largest batch ever suggested

// Random inputs for the model's one Input node at batch `batch` (standard normal; zeros, a
// valid index for every Embedding, where the Input holds int64 ids) and targets of the kind its
// loss takes (class indices for CrossEntropyLoss, values in [0, 1) otherwise), on the model's
// device. Throws ng::Error naming what is missing for a graph without one Input or a loss.
struct RandomBatch {
  Tensor x, y;
};
RandomBatch random_batch(const Model& model, int64_t batch, uint64_t seed);

struct BatchFit {
  int64_t batch = 0;      // largest power of two that fits; 0 when not even one example does
  int64_t max_batch = 0;  // largest batch the estimate lets in
  double fixed_bytes = 0;
  double per_example_bytes = 0;
  size_t capacity_bytes = 0;  // what the device could hold when measured
  bool host = false;          // the device is the CPU (the machine's memory)
  // One or two sentences for the user, e.g. "A batch of 256 fits this GPU (the step takes
  // about 0.4 GiB plus 11.2 MiB per example, of 79.1 GiB); 512 did not."
  std::string describe(int64_t failed_batch) const;
};

// Estimates from the model's step at batch sizes `probe` and 2 * `probe` (1 and 2 where those
// run out of memory too) the largest batch within kFitShare of `capacity_bytes`, then measures
// the step at the largest power of two under that (and under `failed_batch`, when > 0), halving
// until one fits: `batch` is a measured fit, 0 when not even one example fits.
// `pending_state_bytes`: optimiser state the real step will create that does not exist yet
// (pending_optimizer_state_bytes).
BatchFit fit_batch_size(Model& model, size_t capacity_bytes, size_t pending_state_bytes,
                        int64_t failed_batch = 0, int64_t probe = 4);

// Bytes of optimiser state `opt` will allocate for parameters it has not updated yet (Adam: two
// buffers the size of each, SGD with momentum: one); `spec` makes a throwaway optimiser of the
// same kind to count its buffers per parameter.
size_t pending_optimizer_state_bytes(const Optimizer& opt, const OptimizerSpec& spec);

}  // namespace ng::train
