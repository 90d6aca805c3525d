// Blocks: named sub-graphs that a graph uses as single nodes, each use repeated `repeat` times
// (NOTE [Blocks]). A definition lives in GraphSpec::blocks; a use is a node of type "Block".
//
//   graph.blocks = [{"name": "mlp_layer",
//                    "nodes": [{"id": "in",   "type": "BlockInput"},
//                              {"id": "fc",   "type": "Linear", "params": {"out_features": 64}},
//                              {"id": "act",  "type": "ReLU"},
//                              {"id": "out",  "type": "BlockOutput"}],
//                    "edges": [{"from": "in", "to": "fc"}, {"from": "fc", "to": "act"},
//                              {"from": "act", "to": "out"}]}]
//   graph.nodes  += {"id": "body", "type": "Block", "params": {"block": "mlp_layer", "repeat": 3}}
//
//   GraphSpec flat = ng::flatten_blocks(graph);   // body.1/fc, body.1/act, body.2/fc, ...
//   body.3/act
//
// NOTE [Blocks]
// - A definition has exactly one BlockInput node and one BlockOutput node; the BlockInput's
//   output may feed any number of inner ports (its edges keep their place in the edge list, so
//   an inner Concat sees its inputs in the written order); exactly one edge enters the
//   BlockOutput. A block is therefore a single-input, single-output chain element.
// - A use "u" with repeat N becomes N copies of the definition, the copy k (1-based) with node
//   ids "u.k/<inner id>"; copy 1 takes what feeds u's input, copy k+1 takes copy k's output, and
//   what u's output fed now comes from copy N. BlockInput and BlockOutput leave no node behind.
// - Definitions may use other blocks (ids nest: "u.2/v.1/conv"); a definition that uses itself,
//   directly or not, is an error.
// - analyze()/validate() (and so Model::compile, the CLI and the GUI) flatten first. Problems of
//   a use (unknown block, bad repeat, a definition without BlockOutput, recursion) are
//   diagnostics on the use's (flattened) id; problems inside a definition are reported under
//   the first copy ("u.1/conv") of each use.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "engine/graph/diagnostic.h"
#include "engine/graph/graph_spec.h"
#include "engine/graph/layer_registry.h"

namespace ng {

inline constexpr std::string_view kBlockType = "Block";              // a use of a block
inline constexpr std::string_view kBlockInputType = "BlockInput";    // inside a definition
inline constexpr std::string_view kBlockOutputType = "BlockOutput";  // inside a definition

// One entry of GraphSpec::blocks.
struct BlockDef {
  std::string name;
  std::vector<NodeSpec> nodes;  // including one BlockInput and one BlockOutput
  std::vector<EdgeSpec> edges;

  // Throws ng::Error naming the block (or its index) and the field.
  static BlockDef from_json(const nlohmann::json& j, size_t index = 0);
  // {"name", "nodes", "edges"} in GraphSpec::to_json's node and edge form.
  nlohmann::json to_json() const;
  const NodeSpec* find(std::string_view id) const;
  bool operator==(const BlockDef&) const = default;
};

// The definitions of a graph, in file order. Throws ng::Error on a malformed entry or two
// definitions with one name.
std::vector<BlockDef> block_defs(const GraphSpec& g);

// The port and parameter descriptions of the three block node types, for editors and
// validation; they are not layers, so they are not in the LayerRegistry (no shape inference,
// no builder). nullptr for any other type.
//   Block:       params block (string, required), repeat (int >= 1, default 1);
//                ports input -> output
//   BlockInput:  one output, "output"
//   BlockOutput: one input, "input"
const LayerDef* find_block_kind(std::string_view type);
inline bool is_block_kind(std::string_view type) {
  return type == kBlockType || type == kBlockInputType || type == kBlockOutputType;
}

// Where one use of a block went in the flattened graph.
struct BlockExpansion {
  std::string id;     // the use's flattened id: "body", or "body.1/inner" for a nested use
  std::string block;  // the definition's name
  int repeat = 1;
  // Per copy (repeat entries): what feeds it and what it gives, as flattened "node:port"
  // references; a reference with an empty node means nothing (an unconnected input).
  std::vector<PortRef> inputs, outputs;
};

struct FlattenResult {
  GraphSpec graph;                      // no Block nodes (but for broken uses), no blocks
  std::vector<BlockExpansion> uses;     // every use, nested ones after their parent's
  std::vector<Diagnostic> diagnostics;  // the problems of uses and definitions
};

// The graph with every use of a block replaced by its copies (NOTE [Blocks]). Throws ng::Error
// naming the use and the field for the first problem. A graph without blocks comes back equal
// (with an empty "blocks").
GraphSpec flatten_blocks(const GraphSpec& g);
// The same, collecting every problem instead of throwing: a broken use stays in the graph as a
// node of type "Block" (validation knows it and gives it no shape).
FlattenResult flatten_blocks_checked(const GraphSpec& g);

// "body.2/inner.1/conv" -> the use "body" and the rest "inner.1/conv" with copy 2; false when
// `flat_id` does not start with "<use>.<k>/".
bool split_block_id(std::string_view flat_id, std::string_view use, int* copy = nullptr,
                    std::string* rest = nullptr);

}  // namespace ng
