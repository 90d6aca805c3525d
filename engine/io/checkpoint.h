// HDF5 checkpoints: everything needed to resume a training run or to reuse its weights, in a
// file that anyone with h5py can read (docs/checkpoint-format.md describes every name).
//
// The API works on a plain struct, so that the model, the optimiser and the trainer each fill
// their part without this file knowing them:
//
//   ng::Checkpoint c;
//   c.graph_json = project_graph_json;
//   c.weights.push_back({"conv1", "weight", w});          // float32, any device
//   c.buffers.push_back({"bn1", "running_mean", rm});
//   c.optimizer.type = "adam";
//   c.optimizer.hyper = {{"lr", 1e-3}, {"beta1", 0.9}};
//   c.optimizer.params.push_back({"conv1", "weight", {{"exp_avg", m}, {"exp_avg_sq", v}},
//                                 {{"step", 120}}});
//   c.training.epoch = 3;  c.training.history["train_loss"] = {0.9, 0.5, 0.4};
//   ng::save_checkpoint(c, "run/last.h5");                 // atomic, see NOTE in the .cpp
//   ng::Checkpoint back = ng::load_checkpoint("run/last.h5");
//
// Every failure (missing, foreign, damaged, truncated or newer file; unwritable target) is an
// ng::Error whose message starts with "checkpoint '<path>': ".
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "engine/core/tensor.h"

namespace ng {

// The checkpoint layout version this build writes and the newest it reads.
inline constexpr int64_t kCheckpointFormatVersion = 1;

// One tensor of a node: a weight ("conv1", "weight") or a buffer ("bn1", "running_mean").
struct NamedTensor {
  std::string node;  // node id of the graph; may contain any character except NUL
  std::string name;  // parameter or buffer name
  Tensor tensor;     // any device (copied to the host to be written); read back on the CPU
};

// The optimiser's state for one parameter, named like its weight (node, param).
struct OptimizerParamState {
  std::string node;
  std::string param;
  std::map<std::string, Tensor> tensors;  // e.g. "momentum_buffer", "exp_avg", "exp_avg_sq"
  std::map<std::string, double> scalars;  // e.g. "step"

  // "node/param", the name a user reads in messages (the file escapes '/' in node ids).
  std::string qualified_name() const { return node + "/" + param; }
};

struct OptimizerCheckpoint {
  std::string type;                     // "sgd", "adam", ...; empty when none was saved
  std::map<std::string, double> hyper;  // "lr", "momentum", "weight_decay", ...
  std::vector<OptimizerParamState> params;
};

struct TrainingCheckpoint {
  int64_t epoch = 0;      // completed epochs
  int64_t step = 0;       // global optimiser step
  uint64_t rng_seed = 0;  // ng::Rng state (seed, offset), exact to all 64 bits
  uint64_t rng_offset = 0;
  std::string best_metric_name;  // e.g. "val_accuracy"; empty when none is tracked
  double best_metric = std::numeric_limits<double>::quiet_NaN();
  int64_t best_epoch = -1;
  // Named per-epoch series, e.g. "train_loss", "val_accuracy".
  std::map<std::string, std::vector<double>> history;
};

struct Checkpoint {
  std::string graph_json;            // the project's graph (the .ngraph "graph" object)
  std::vector<NamedTensor> weights;  // trainable parameters, in the model's order
  std::vector<NamedTensor> buffers;  // non-trainable state (running_mean, running_var, ...)
  OptimizerCheckpoint optimizer;
  TrainingCheckpoint training;
#ifdef NG_VERSION
  std::string app_version = NG_VERSION;
#else
  std::string app_version;
#endif
  std::string created;  // ISO 8601 UTC, "2026-11-26T14:03:07Z"; save fills it when empty
};

// Writes `c` to `path` atomically: a crash or an error mid-write leaves any previous file at
// `path` intact and no temporary file behind (NOTE [Checkpoint atomicity] in checkpoint.cpp).
// Throws ng::Error naming the path on any failure, e.g. an undefined tensor, a duplicate
// (node, name) or a missing target directory.
void save_checkpoint(const Checkpoint& c, const std::string& path);

// Reads a checkpoint written by save_checkpoint: tensors bitwise equal (on the CPU, with the
// dtype they were written with), strings and 64-bit integers exact. Weights and buffers come
// back grouped by node, nodes in the order they first appeared, names in their written order;
// this is the written order whenever each node's entries were consecutive (as a model lists
// them). Throws ng::Error naming the path and what is wrong for a missing, non-HDF5, foreign,
// newer, damaged or truncated file, or a missing group, dataset or attribute.
Checkpoint load_checkpoint(const std::string& path);

// The current time as ISO 8601 UTC with seconds: "2026-11-26T14:03:07Z".
std::string iso8601_utc_now();

// How a node id, parameter, buffer, state or series name becomes one HDF5 link name:
// '%' -> "%25", '/' -> "%2F", and the name "." -> "%2E"; everything else is kept. Empty
// names are refused by save_checkpoint.
std::string escape_checkpoint_name(const std::string& name);
std::string unescape_checkpoint_name(const std::string& link);

namespace detail {
// Test hook: when set, save_checkpoint calls it with "temp_created" (after the temporary file
// is created), "temp_written" (after it is closed and synced, before the rename). A hook that
// throws simulates a crash or a failed write at that point.
using CheckpointSaveHook = void (*)(const char* stage, const std::string& temp_path);
void set_checkpoint_save_hook(CheckpointSaveHook hook);
}  // namespace detail

}  // namespace ng
