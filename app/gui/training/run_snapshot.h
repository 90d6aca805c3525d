// RunSnapshot: a copy of a training run's weights at one step, with what is needed to run them
// elsewhere (the graph, the seed, the datasets and their normalisation). The trainer's thread
// takes it between two steps (TrainingController, when insight views ask for snapshots); the
// InsightEngine evaluates it on a thread of its own, so the views never touch the live model.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/data/dataloader.h"
#include "engine/data/dataset.h"
#include "engine/graph/graph_spec.h"

namespace ng::gui {

struct RunData {
  std::shared_ptr<const ng::GraphSpec> graph;
  uint64_t seed = 0;
  ng::data::DatasetPtr train, val;  // val: null when the project has none
  ng::data::Normalization normalization;
};

struct RunSnapshot {
  int64_t epoch = 0;  // the epoch in progress (1-based)
  int64_t step = 0;   // global steps done
  std::vector<std::pair<std::string, ng::Tensor>> params, buffers;  // copies ("node/param")
  std::shared_ptr<const RunData> run;
};

}  // namespace ng::gui
