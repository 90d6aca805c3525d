// `inspect`: what a project's network costs and what a checkpoint holds, as text for people and
// as JSON for tools (neurograph-cli inspect [--json]).
//
//   ProjectSpec p = load_project("resources/examples/lenet-mnist.ngraph");
//   std::cout << inspect_project_report(p, 64);
//   ProjectInspection r = inspect_project(p, 64);
//   r.rows[1].id == "conv1";  r.rows[1].output_shapes[0] == Shape{6, 28, 28};
//   r.rows[1].params == 156;  r.rows[1].flops == 239904;
//   std::cout << inspect_checkpoint_report("runs/lenet/best.h5");
//
// FLOPs are forward FLOPs per example, a multiply-add counted as 2 (docs/project-format.md,
// "inspect", lists the rule of every layer type): Conv2d 2*Cin/groups*kh*kw per output value
// plus 1 for the bias, Linear 2*in plus 1 for the bias per output value, elementwise layers 1
// per value, and so on.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/shape.h"
#include "engine/graph/diagnostic.h"
#include "engine/graph/validate.h"
#include "engine/io/project.h"

namespace ng {

// One node of the graph.
struct InspectRow {
  std::string id, type;
  bool shape_known = false;          // shape inference reached this node
  std::vector<Shape> output_shapes;  // per output port, WITHOUT the batch dimension ([6, 28, 28];
                                     // [] for a loss's scalar); empty when unknown
  int64_t params = 0;                // trainable values
  int64_t buffers = 0;               // non-trainable values (BatchNorm running statistics)
  int64_t flops = 0;                 // forward FLOPs per example; -1 when unknown
  int64_t activation_bytes = 0;      // bytes of the node's outputs per example
};

struct ProjectInspection {
  int64_t batch = 0;
  std::vector<InspectRow> rows;  // in topological order (nodes on a cycle last, shapes unknown)
  int64_t params = 0;            // totals over the rows
  int64_t buffers = 0;
  int64_t parameter_bytes = 0;  // (params + buffers) as float32
  int64_t flops = 0;            // forward FLOPs per example (rows with known FLOPs)
  bool flops_complete = true;   // every row's FLOPs are known
  int64_t activation_bytes_per_example = 0;
  int64_t activation_bytes = 0;         // at the batch: per example * batch
  std::vector<Diagnostic> diagnostics;  // the graph's errors and warnings, if any
};

// Throws ng::ValueError when batch < 1. A graph with errors still gives a row per node, with the
// shapes, parameters and FLOPs that could be inferred.
ProjectInspection inspect_project(const ProjectSpec& project, int64_t batch);
// {"batch", "rows": [{"id", "type", "output_shapes", "params", "buffers", "flops" (null when
// unknown), "activation_bytes"}], "totals": {...}, "diagnostics": [{"severity", "node_id",
// "field", "message"}]}
nlohmann::json inspection_to_json(const ProjectInspection& r);
// A table, one row per node, then the totals and any diagnostics.
std::string inspect_project_report(const ProjectSpec& project, int64_t batch);

// Forward FLOPs per example of one analysed node (see the convention above); -1 when its
// shapes are unknown or its type has no rule. Every registered layer type has one.
int64_t node_flops_per_example(const NodeInfo& node);
bool has_flop_rule(std::string_view type);

// A checkpoint's summary: format version, app version, creation time, epoch and step, best
// metric, each weight's and buffer's name, shape and size, the optimiser and its
// hyper-parameters, and each history series' length and last value. Errors (missing, foreign,
// damaged file) propagate from load_checkpoint as ng::Error naming the path.
std::string inspect_checkpoint_report(const std::string& path);
nlohmann::json inspect_checkpoint_json(const std::string& path);

}  // namespace ng
