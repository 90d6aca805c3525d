#include "engine/graph/graph_spec.h"

#include "engine/core/error.h"

namespace ng {

using nlohmann::json;

PortRef PortRef::parse(std::string_view s) {
  size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return {std::string(s), ""};
  return {std::string(s.substr(0, colon)), std::string(s.substr(colon + 1))};
}

namespace {

std::string node_label(const json& n, size_t i) {
  if (n.is_object() && n.contains("id") && n["id"].is_string())
    return "node '" + n["id"].get<std::string>() + "'";
  return "node " + std::to_string(i);
}

NodeSpec node_from_json(const json& n, size_t i) {
  std::string who = "graph: " + node_label(n, i);
  NG_CHECK(n.is_object(), who, " must be an object, got ", n.dump());
  NodeSpec node;
  NG_CHECK(n.contains("id") && n["id"].is_string(), who, ": field 'id' must be a string");
  node.id = n["id"].get<std::string>();
  NG_CHECK(n.contains("type") && n["type"].is_string(), who,
           ": field 'type' must be a string (a layer type such as \"Linear\")");
  node.type = n["type"].get<std::string>();
  if (n.contains("params") && !n["params"].is_null()) {
    NG_CHECK(n["params"].is_object(), who, ": field 'params' must be an object, got ",
             n["params"].dump());
    node.params = n["params"];
  }
  if (n.contains("position") && !n["position"].is_null()) {
    const json& p = n["position"];
    NG_CHECK(p.is_array() && p.size() == 2 && p[0].is_number() && p[1].is_number(), who,
             ": field 'position' must be [x, y], got ", p.dump());
    node.position = {p[0].get<double>(), p[1].get<double>()};
  }
  for (auto it = n.begin(); it != n.end(); ++it) {
    const std::string& k = it.key();
    NG_CHECK(k == "id" || k == "type" || k == "params" || k == "position", who, ": unknown field '",
             k, "' (a node has id, type, params and position)");
  }
  return node;
}

PortRef endpoint_from_json(const json& e, const char* field, size_t i) {
  NG_CHECK(e.contains(field) && e[field].is_string() && !e[field].get<std::string>().empty(),
           "graph: edge ", i, ": field '", field,
           "' must be a string \"node:port\" (or \"node\"), got ",
           e.contains(field) ? e[field].dump() : std::string("nothing"));
  return PortRef::parse(e[field].get<std::string>());
}

}  // namespace

GraphSpec GraphSpec::from_json(const json& j) {
  NG_CHECK(j.is_object(), "graph: must be an object with \"nodes\" and \"edges\", got ",
           j.type_name());
  GraphSpec g;
  if (j.contains("nodes")) {
    NG_CHECK(j["nodes"].is_array(), "graph: field 'nodes' must be an array");
    for (size_t i = 0; i < j["nodes"].size(); ++i)
      g.nodes.push_back(node_from_json(j["nodes"][i], i));
  }
  if (j.contains("edges")) {
    NG_CHECK(j["edges"].is_array(), "graph: field 'edges' must be an array");
    for (size_t i = 0; i < j["edges"].size(); ++i) {
      const json& e = j["edges"][i];
      NG_CHECK(e.is_object(), "graph: edge ", i, " must be an object {\"from\", \"to\"}, got ",
               e.dump());
      g.edges.push_back({endpoint_from_json(e, "from", i), endpoint_from_json(e, "to", i)});
    }
  }
  if (j.contains("blocks") && !j["blocks"].is_null()) {
    NG_CHECK(j["blocks"].is_array(), "graph: field 'blocks' must be an array");
    g.blocks = j["blocks"];
  }
  for (auto it = j.begin(); it != j.end(); ++it)
    NG_CHECK(it.key() == "nodes" || it.key() == "edges" || it.key() == "blocks",
             "graph: unknown field '", it.key(), "' (a graph has nodes, edges and blocks)");
  return g;
}

json GraphSpec::to_json() const {
  json nodes_j = json::array(), edges_j = json::array();
  for (const NodeSpec& n : nodes)
    nodes_j.push_back({{"id", n.id},
                       {"type", n.type},
                       {"params", n.params.is_null() ? json::object() : n.params},
                       {"position", {n.position[0], n.position[1]}}});
  for (const EdgeSpec& e : edges) edges_j.push_back({{"from", e.from.str()}, {"to", e.to.str()}});
  json j = {{"nodes", nodes_j}, {"edges", edges_j}};
  if (!blocks.empty()) j["blocks"] = blocks;
  return j;
}

const NodeSpec* GraphSpec::find(std::string_view id) const {
  for (const NodeSpec& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

NodeSpec* GraphSpec::find(std::string_view id) {
  for (NodeSpec& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

}  // namespace ng
