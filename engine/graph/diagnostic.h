// Diagnostic: one problem found in a graph, for the GUI's issues panel and the CLI. `node_id`
// and `field` say where to show it:
//   field "type"                  the node's layer type
//   field "params.<name>"         one of its parameters
//   field "inputs.<port>"         an input port (unconnected, wrong shape, ...)
//   field "outputs.<port>"        an output port (unused)
//   field "edges[<i>]"            edge i of the GraphSpec (unknown node or port)
//   field "id", "graph"           the node id itself / the graph as a whole (node_id empty)
//   Diagnostic{Severity::Error, "fc1", "inputs.input",
//              "Linear 'fc1': input has 400 features, in_features is 256"}
#pragma once

#include <string>
#include <vector>

#include "engine/core/error.h"

namespace ng {

enum class Severity { Error, Warning };

inline const char* severity_name(Severity s) {
  return s == Severity::Error ? "error" : "warning";
}

struct Diagnostic {
  Severity severity = Severity::Error;
  std::string node_id;
  std::string field;
  std::string message;  // complete sentence, already naming the layer: "Linear 'fc1': ..."
};

inline bool has_errors(const std::vector<Diagnostic>& ds) {
  for (const auto& d : ds)
    if (d.severity == Severity::Error) return true;
  return false;
}

// One line per diagnostic: "error: Linear 'fc1': input has 400 features, in_features is 256".
inline std::string format_diagnostics(const std::vector<Diagnostic>& ds) {
  std::string r;
  for (const auto& d : ds) {
    if (!r.empty()) r += '\n';
    r += severity_name(d.severity);
    r += ": ";
    r += d.message;
  }
  return r;
}

// A ShapeError / ValueError that also says which node and field it concerns, so that
// validation can turn it into a Diagnostic placed on the right field.
class NodeShapeError : public ShapeError {
 public:
  NodeShapeError(std::string node, std::string field, const std::string& msg)
      : ShapeError(msg), node_(std::move(node)), field_(std::move(field)) {}
  const std::string& node() const { return node_; }
  const std::string& field() const { return field_; }

 private:
  std::string node_, field_;
};

class NodeValueError : public ValueError {
 public:
  NodeValueError(std::string node, std::string field, const std::string& msg)
      : ValueError(msg), node_(std::move(node)), field_(std::move(field)) {}
  const std::string& node() const { return node_; }
  const std::string& field() const { return field_; }

 private:
  std::string node_, field_;
};

}  // namespace ng
