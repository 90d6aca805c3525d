// Validation and shape inference of a GraphSpec. analyze() first expands the graph's blocks
// (flatten_blocks, NOTE [Blocks]): the nodes it describes are the flattened ones ("stage1.2/conv"),
// and `blocks` says where each use of a block went. It reports EVERY problem it can find
// (unknown types, bad parameters, dangling edges, unconnected inputs, cycles, a missing or
// extra loss, shape mismatches after propagating what it can) and, for the GUI, the inferred
// output shapes, parameter count and output memory of each node.
//   GraphAnalysis a = ng::analyze(spec);
//   for (const Diagnostic& d : a.diagnostics) show(d.node_id, d.field, d.message);
//   a.find("conv1")->outputs[0]->shape;   // [-1, 6, 28, 28] (the batch as -1)
//   std::vector<Diagnostic> ds = ng::validate(spec);   // just the diagnostics
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/graph/blocks.h"
#include "engine/graph/diagnostic.h"
#include "engine/graph/graph_spec.h"
#include "engine/graph/layer_registry.h"

namespace ng {

struct ValidateOptions {
  // Training needs exactly one loss node; an inference-only graph may have none.
  bool require_loss = true;
};

// An output port of a node (indices into GraphAnalysis::nodes and the kind's outputs).
struct PortLink {
  int node = -1;
  int port = -1;
};

struct NodeInfo {
  std::string id, type;
  const LayerDef* def = nullptr;  // nullptr when the type is unknown
  // Checked params with defaults filled; Inferred params (in_features, ...) are set once the
  // node's shapes are inferred. Exporters read these.
  nlohmann::json params = nlohmann::json::object();
  bool params_ok = false;
  std::vector<std::vector<PortLink>> inputs;       // per input port, its edges in order
  std::vector<Shape> input_shapes;                 // incoming shapes, ports in order (when
                                                   // inferred): for LayerDef::torch_module
  std::vector<std::optional<TensorType>> outputs;  // per output port; nullopt when unknown
  bool inferred = false;                           // shape inference succeeded
  std::vector<WeightDef> weights;                  // when inferred
  int64_t param_count = 0;                         // trainable values (when inferred)
  int64_t output_bytes_per_example = 0;            // bytes of the outputs for one example
};

struct GraphAnalysis {
  std::vector<Diagnostic> diagnostics;
  std::vector<NodeInfo> nodes;   // in GraphSpec order
  std::vector<int> order;        // topological order (ties in GraphSpec order), cycles left out
  std::vector<int> input_nodes;  // the Input nodes, in GraphSpec order
  int loss_node = -1;            // the (first) loss node
  int64_t param_count = 0;       // over the nodes whose shapes are known
  std::vector<BlockExpansion> blocks;  // the uses of blocks the graph had, expanded

  bool ok() const { return !has_errors(diagnostics); }
  int index_of(std::string_view id) const;  // -1 when absent
  const NodeInfo* find(std::string_view id) const;
};

GraphAnalysis analyze(const GraphSpec& spec, const ValidateOptions& options = {});
std::vector<Diagnostic> validate(const GraphSpec& spec, const ValidateOptions& options = {});

}  // namespace ng
