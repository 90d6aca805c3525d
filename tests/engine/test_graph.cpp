// GraphSpec JSON (round trip, structural errors) and validation with shape inference.
#include <gtest/gtest.h>

#include <algorithm>

#include "engine/graph/graph_spec.h"
#include "engine/graph/validate.h"
#include "tests/engine/gradcheck.h"

using ng::testing::contains;
using ng::testing::message_of;

using namespace ng;
using nlohmann::json;

namespace {

GraphSpec parse(const char* text) {
  return GraphSpec::from_json(json::parse(text));
}

// The diagnostics on (node, field), as messages.
std::vector<std::string> at(const std::vector<Diagnostic>& ds, const std::string& node,
                            const std::string& field) {
  std::vector<std::string> r;
  for (const auto& d : ds)
    if (d.node_id == node && d.field == field) r.push_back(d.message);
  return r;
}

std::string all(const std::vector<Diagnostic>& ds) {
  return format_diagnostics(ds);
}

const char* kSmallMlp = R"({
  "nodes": [
    {"id": "x", "type": "Input", "params": {"shape": [1, 28, 28]}, "position": [0, 0]},
    {"id": "flat", "type": "Flatten", "params": {}, "position": [150, 0]},
    {"id": "fc1", "type": "Linear", "params": {"out_features": 32}, "position": [300, 0]},
    {"id": "act", "type": "ReLU", "position": [450, 0]},
    {"id": "fc2", "type": "Linear", "params": {"out_features": 10}, "position": [600, 0.5]},
    {"id": "ce", "type": "CrossEntropyLoss", "params": {"label_smoothing": 0.1},
     "position": [750, 0]}
  ],
  "edges": [
    {"from": "x", "to": "flat"}, {"from": "flat:output", "to": "fc1:input"},
    {"from": "fc1", "to": "act"}, {"from": "act", "to": "fc2"}, {"from": "fc2", "to": "ce:input"}
  ]
})";

}  // namespace

// --- GraphSpec JSON ---

TEST(GraphSpec, ReadsNodesEdgesAndOptionalPorts) {
  GraphSpec g = parse(kSmallMlp);
  ASSERT_EQ(g.nodes.size(), 6u);
  EXPECT_EQ(g.nodes[2].id, "fc1");
  EXPECT_EQ(g.nodes[2].type, "Linear");
  EXPECT_EQ(g.nodes[2].params, json({{"out_features", 32}}));
  EXPECT_EQ(g.nodes[4].position[1], 0.5);
  EXPECT_EQ(g.nodes[3].params, json::object()) << "absent params are an empty object";
  ASSERT_EQ(g.edges.size(), 5u);
  EXPECT_EQ(g.edges[0].from, (PortRef{"x", ""}));
  EXPECT_EQ(g.edges[1].from, (PortRef{"flat", "output"}));
  EXPECT_EQ(g.edges[4].to, (PortRef{"ce", "input"}));
  EXPECT_EQ(g.find("act")->type, "ReLU");
  EXPECT_EQ(g.find("nope"), nullptr);
}

TEST(GraphSpec, JsonRoundTripIsExact) {
  GraphSpec g = parse(kSmallMlp);
  g.blocks = json::array({{{"name", "encoder"}, {"nodes", {"fc1", "act"}}}});
  json j = g.to_json();
  EXPECT_EQ(j["edges"][0], json({{"from", "x"}, {"to", "flat"}})) << "omitted ports stay omitted";
  EXPECT_EQ(j["edges"][1], json({{"from", "flat:output"}, {"to", "fc1:input"}}));
  EXPECT_EQ(j["nodes"][0]["position"], json({0.0, 0.0}));
  GraphSpec back = GraphSpec::from_json(json::parse(j.dump()));
  EXPECT_EQ(back, g);
  EXPECT_EQ(back.to_json(), j);
  EXPECT_FALSE(GraphSpec().to_json().contains("blocks"));
}

TEST(GraphSpec, StructuralErrorsNameTheNodeOrEdgeAndTheField) {
  auto error_of = [](const char* text) {
    try {
      parse(text);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(error_of(R"({"nodes": [{"type": "ReLU"}]})"),
            "graph: node 0: field 'id' must be a string");
  EXPECT_EQ(error_of(R"({"nodes": [{"id": "a", "type": "ReLU", "position": [1]}]})"),
            "graph: node 'a': field 'position' must be [x, y], got [1]");
  EXPECT_EQ(error_of(R"({"nodes": [{"id": "a", "type": "ReLU", "params": [1]}]})"),
            "graph: node 'a': field 'params' must be an object, got [1]");
  EXPECT_EQ(error_of(R"({"nodes": [{"id": "a", "type": "ReLU", "colour": 1}]})"),
            "graph: node 'a': unknown field 'colour' (a node has id, type, params and position)");
  EXPECT_EQ(error_of(R"({"edges": [{"from": "a", "to": 3}]})"),
            "graph: edge 0: field 'to' must be a string \"node:port\" (or \"node\"), got 3");
  EXPECT_EQ(error_of(R"({"nodes": {}})"), "graph: field 'nodes' must be an array");
}

// --- validation ---

TEST(Validate, ACorrectGraphHasNoDiagnosticsAndInferredShapes) {
  GraphAnalysis a = analyze(parse(kSmallMlp));
  EXPECT_TRUE(a.diagnostics.empty()) << all(a.diagnostics);
  EXPECT_TRUE(a.ok());
  EXPECT_EQ(a.find("flat")->outputs[0]->shape, (Shape{-1, 784}));
  EXPECT_EQ(a.find("fc1")->outputs[0]->shape, (Shape{-1, 32}));
  EXPECT_EQ(a.find("fc1")->params["in_features"], 784) << "inferred params are filled in";
  EXPECT_EQ(a.find("fc1")->param_count, 784 * 32 + 32);
  EXPECT_EQ(a.find("fc1")->input_shapes, std::vector<Shape>{Shape({-1, 784})});
  EXPECT_EQ(a.find("fc1")->def->torch_module(a.find("fc1")->params, a.find("fc1")->input_shapes),
            "nn.Linear(784, 32)");
  EXPECT_EQ(a.find("fc1")->output_bytes_per_example, 32 * 4);
  EXPECT_EQ(a.find("x")->output_bytes_per_example, 784 * 4);
  EXPECT_EQ(a.find("ce")->outputs[0]->shape, Shape{});
  EXPECT_EQ(a.param_count, 784 * 32 + 32 + 32 * 10 + 10);
  EXPECT_EQ(a.loss_node, a.index_of("ce"));
  EXPECT_EQ(a.input_nodes, std::vector<int>{0});
  EXPECT_EQ(a.order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
}

TEST(Validate, TopologicalOrderDoesNotDependOnListingOrder) {
  GraphSpec g = parse(kSmallMlp);
  std::reverse(g.nodes.begin(), g.nodes.end());
  GraphAnalysis a = analyze(g);
  ASSERT_TRUE(a.ok()) << all(a.diagnostics);
  std::vector<std::string> ids;
  for (int i : a.order) ids.push_back(a.nodes[size_t(i)].id);
  EXPECT_EQ(ids, (std::vector<std::string>{"x", "flat", "fc1", "act", "fc2", "ce"}));
}

TEST(Validate, ReportsEveryProblemAtOnce) {
  GraphSpec g = parse(R"({
    "nodes": [
      {"id": "x", "type": "Input", "params": {"shape": [3, 32, 32]}},
      {"id": "c1", "type": "Conv3d", "params": {"out_channels": 8}},
      {"id": "c2", "type": "Conv2d", "params": {"out_channels": 0, "kernal_size": 3}},
      {"id": "fc", "type": "Linear", "params": {"in_features": 100, "out_features": 10}},
      {"id": "lonely", "type": "ReLU"},
      {"id": "a", "type": "ReLU"}, {"id": "b", "type": "Tanh"},
      {"id": "sm", "type": "Softmax"},
      {"id": "ce", "type": "CrossEntropyLoss"},
      {"id": "mse", "type": "MSELoss"},
      {"id": "x", "type": "ReLU"}
    ],
    "edges": [
      {"from": "x", "to": "c1"}, {"from": "x", "to": "c2"},
      {"from": "x", "to": "fc"},
      {"from": "ghost", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "a"},
      {"from": "fc:out", "to": "sm"}, {"from": "fc", "to": "sm"}, {"from": "sm", "to": "ce"},
      {"from": "sm", "to": "ce:input"}
    ]
  })");
  auto ds = validate(g);
  std::string text = all(ds);
  // Unknown type, with its suggestion.
  ASSERT_EQ(at(ds, "c1", "type").size(), 1u) << text;
  EXPECT_TRUE(contains(at(ds, "c1", "type")[0],
                       "unknown layer type 'Conv3d' (node 'c1'); did "
                       "you mean 'Conv2d'?"));
  // Both parameter problems of c2.
  EXPECT_EQ(
      at(ds, "c2", "params.out_channels"),
      std::vector<std::string>{"Conv2d 'c2': parameter 'out_channels' is 0, must be at least 1"});
  EXPECT_EQ(at(ds, "c2", "params.kernal_size").size(), 1u) << text;
  // Duplicate id.
  EXPECT_EQ(at(ds, "x", "id").size(), 1u) << text;
  // Shape mismatch found by inference: [N, 3, 32, 32] into a Linear.
  EXPECT_EQ(at(ds, "fc", "inputs.input"),
            std::vector<std::string>{"Linear 'fc': expects input [N, features], got "
                                     "[N, 3, 32, 32]; add a Flatten before it"});
  // Edges: unknown node, unknown port, ambiguous loss port, an input fed twice.
  EXPECT_EQ(at(ds, "a", "edges[3]"),
            std::vector<std::string>{"edge 3 (\"ghost\" -> \"a\"): there is no node 'ghost'"});
  EXPECT_EQ(at(ds, "fc", "edges[6]"),
            std::vector<std::string>{"edge 6 (\"fc:out\" -> \"sm\"): Linear 'fc' has no output "
                                     "port 'out'; its output ports: output"});
  EXPECT_EQ(at(ds, "ce", "edges[8]"),
            std::vector<std::string>{
                "edge 8 (\"sm\" -> \"ce\"): CrossEntropyLoss 'ce' has 2 input ports (input, "
                "target); name one, as in \"ce:input\""});
  // Required inputs unconnected.
  EXPECT_EQ(at(ds, "lonely", "inputs.input"),
            std::vector<std::string>{"ReLU 'lonely': input 'input' is not connected"});
  EXPECT_EQ(at(ds, "mse", "inputs.input").size(), 1u) << text;
  // The cycle a <-> b, on both nodes.
  ASSERT_EQ(at(ds, "a", "inputs").size(), 1u) << text;
  EXPECT_EQ(at(ds, "a", "inputs")[0],
            "ReLU 'a' is part of a cycle ('a', 'b'); data must flow one way from the inputs to "
            "the loss");
  EXPECT_EQ(at(ds, "b", "inputs").size(), 1u) << text;
  // Two losses.
  EXPECT_EQ(at(ds, "mse", "type"),
            std::vector<std::string>{
                "the graph has 2 loss nodes ('ce', 'mse'); training needs exactly one"});
  // Warnings: unused output, Softmax before the cross-entropy.
  bool unused = false, softmax = false;
  for (const auto& d : ds) {
    if (d.severity != Severity::Warning) continue;
    if (d.node_id == "lonely" && d.field == "outputs.output") unused = true;
    if (d.node_id == "ce" && contains(d.message, "its input comes from Softmax 'sm'"))
      softmax = true;
  }
  EXPECT_TRUE(unused) << text;
  EXPECT_TRUE(softmax) << text;
  EXPECT_GE(ds.size(), 14u) << text;
}

TEST(Validate, ShapeErrorsDoNotCascadeDownstream) {
  GraphSpec g = parse(R"({
    "nodes": [
      {"id": "x", "type": "Input", "params": {"shape": [400]}},
      {"id": "fc1", "type": "Linear", "params": {"in_features": 256, "out_features": 120}},
      {"id": "fc2", "type": "Linear", "params": {"out_features": 10}},
      {"id": "ce", "type": "CrossEntropyLoss"}
    ],
    "edges": [{"from": "x", "to": "fc1"}, {"from": "fc1", "to": "fc2"},
              {"from": "fc2", "to": "ce:input"}]
  })");
  GraphAnalysis a = analyze(g);
  ASSERT_EQ(a.diagnostics.size(), 1u) << all(a.diagnostics);
  EXPECT_EQ(a.diagnostics[0].message, "Linear 'fc1': input has 400 features, in_features is 256");
  EXPECT_EQ(a.diagnostics[0].field, "params.in_features");
  EXPECT_FALSE(a.find("fc2")->inferred);
  EXPECT_FALSE(a.find("fc2")->outputs[0].has_value());
  EXPECT_TRUE(a.find("x")->inferred);
}

TEST(Validate, GraphLevelProblemsNoLossNoInput) {
  GraphSpec g = parse(R"({"nodes": [{"id": "r", "type": "ReLU"}], "edges": []})");
  auto ds = validate(g);
  EXPECT_EQ(at(ds, "", "graph").size(), 2u) << all(ds);
  EXPECT_TRUE(contains(all(ds), "the graph has no loss node")) << all(ds);
  EXPECT_TRUE(contains(all(ds), "the graph has no Input node")) << all(ds);
  GraphSpec inference_only = parse(R"({
    "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}},
              {"id": "fc", "type": "Linear", "params": {"out_features": 2}}],
    "edges": [{"from": "x", "to": "fc"}]})");
  auto ds2 = validate(inference_only, {.require_loss = false});
  EXPECT_FALSE(has_errors(ds2)) << all(ds2);
}

TEST(Validate, VariadicPortsKeepEdgeOrder) {
  GraphSpec g = parse(R"({
    "nodes": [
      {"id": "x", "type": "Input", "params": {"shape": [4]}},
      {"id": "a", "type": "Linear", "params": {"out_features": 2}},
      {"id": "b", "type": "Linear", "params": {"out_features": 3}},
      {"id": "cat", "type": "Concat"},
      {"id": "ce", "type": "CrossEntropyLoss"}
    ],
    "edges": [{"from": "x", "to": "a"}, {"from": "x", "to": "b"}, {"from": "b", "to": "cat"},
              {"from": "a", "to": "cat"}, {"from": "cat", "to": "ce:input"}]
  })");
  GraphAnalysis a = analyze(g);
  ASSERT_TRUE(a.ok()) << all(a.diagnostics);
  const NodeInfo* cat = a.find("cat");
  ASSERT_EQ(cat->inputs[0].size(), 2u);
  EXPECT_EQ(cat->inputs[0][0].node, a.index_of("b"));
  EXPECT_EQ(cat->inputs[0][1].node, a.index_of("a"));
  EXPECT_EQ(cat->outputs[0]->shape, (Shape{-1, 5}));
}

TEST(Validate, ConnectedTargetIsChecked) {
  GraphSpec g = parse(R"({
    "nodes": [
      {"id": "x", "type": "Input", "params": {"shape": [4]}},
      {"id": "y", "type": "Input", "params": {"shape": [3]}},
      {"id": "fc", "type": "Linear", "params": {"out_features": 2}},
      {"id": "mse", "type": "MSELoss"}
    ],
    "edges": [{"from": "x", "to": "fc"}, {"from": "fc", "to": "mse:input"},
              {"from": "y", "to": "mse:target"}]
  })");
  auto ds = validate(g);
  EXPECT_EQ(at(ds, "mse", "inputs.target"),
            std::vector<std::string>{"MSELoss 'mse': target [N, 3] must match the prediction "
                                     "[N, 2]"});
}
