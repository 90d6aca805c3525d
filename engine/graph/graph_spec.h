// GraphSpec: the network as plain data — nodes (id, layer type, parameters, position on the
// canvas) and edges between their ports. It is the "graph" object of a project file, what the
// GUI snapshots and what validation and Model::compile read. No behaviour lives here.
//   GraphSpec g = GraphSpec::from_json(nlohmann::json::parse(R"({
//     "nodes": [{"id": "x", "type": "Input", "params": {"shape": [784]}, "position": [0, 0]},
//               {"id": "fc1", "type": "Linear", "params": {"out_features": 10}}],
//     "edges": [{"from": "x", "to": "fc1:input"}]})"));
//   nlohmann::json j = g.to_json();   // the same object back
// An endpoint is "node:port", or just "node" when the node has a single port on that side.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace ng {

// One end of an edge. `port` is empty when the file named only the node ("conv1"), which
// means the node's single output (or input) port; validation resolves it.
struct PortRef {
  std::string node;
  std::string port;

  // "node:port", or "node" when port is empty.
  std::string str() const { return port.empty() ? node : node + ":" + port; }
  // Splits at the last ':'; no ':' gives an empty port.
  static PortRef parse(std::string_view s);
  bool operator==(const PortRef&) const = default;
};

struct NodeSpec {
  std::string id;                                    // unique in the graph, e.g. "conv1"
  std::string type;                                  // a LayerRegistry name, e.g. "Conv2d"
  nlohmann::json params = nlohmann::json::object();  // as the user set them (not defaults)
  std::array<double, 2> position{0.0, 0.0};          // canvas position (x, y)
  bool operator==(const NodeSpec&) const = default;
};

struct EdgeSpec {
  PortRef from;  // an output port
  PortRef to;    // an input port; edges into a variadic port (Add, Concat) count in list order
  bool operator==(const EdgeSpec&) const = default;
};

struct GraphSpec {
  std::vector<NodeSpec> nodes;
  std::vector<EdgeSpec> edges;
  // The block definitions that nodes of type "Block" use (engine/graph/blocks.h, NOTE
  // [Blocks]); kept here as JSON, read by block_defs() and expanded by flatten_blocks().
  nlohmann::json blocks = nlohmann::json::array();

  // Reads the "graph" object. Throws ng::Error naming the node (or edge index) and the field
  // when the structure is wrong (missing "id", "position" not [x, y], edge not a string, ...).
  // Semantic checks (unknown types, bad params, dangling edges) are validate()'s job.
  static GraphSpec from_json(const nlohmann::json& j);
  // Writes {"nodes": [...], "edges": [...]} ("blocks" only when non-empty).
  nlohmann::json to_json() const;

  // The node with this id, or nullptr.
  const NodeSpec* find(std::string_view id) const;
  NodeSpec* find(std::string_view id);

  bool operator==(const GraphSpec&) const = default;
};

}  // namespace ng
