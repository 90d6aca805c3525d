// Blocks (NOTE [Blocks]): flattening into copies with ids "use.k/inner", chaining of the
// copies, residual and Concat blocks, nested blocks, uses fed by uses, every problem as a
// diagnostic on the use, and training a graph with blocks exactly as its hand-expanded twin.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "engine/graph/blocks.h"
#include "engine/graph/validate.h"
#include "engine/io/project.h"
#include "engine/nn/model.h"
#include "engine/optim/sgd.h"
#include "tests/engine/gradcheck.h"

using ng::testing::contains;
using namespace ng;
using nlohmann::json;

namespace {

GraphSpec parse(const std::string& text) {
  return GraphSpec::from_json(json::parse(text));
}

// x [8] -> body (Block "layer" x3: Linear 8 + ReLU) -> head (Linear 3) -> loss
const char* kMlpWithBlock = R"({
  "nodes": [
    {"id": "x", "type": "Input", "params": {"shape": [8]}},
    {"id": "body", "type": "Block", "params": {"block": "layer", "repeat": 3}},
    {"id": "head", "type": "Linear", "params": {"out_features": 3}},
    {"id": "loss", "type": "CrossEntropyLoss"}],
  "edges": [{"from": "x", "to": "body"}, {"from": "body", "to": "head"},
            {"from": "head", "to": "loss:input"}],
  "blocks": [{"name": "layer",
    "nodes": [{"id": "in", "type": "BlockInput"},
              {"id": "fc", "type": "Linear", "params": {"out_features": 8}},
              {"id": "act", "type": "ReLU"},
              {"id": "out", "type": "BlockOutput"}],
    "edges": [{"from": "in", "to": "fc"}, {"from": "fc", "to": "act"},
              {"from": "act", "to": "out"}]}]})";

// The same network written out by hand.
const char* kMlpExpanded = R"({
  "nodes": [
    {"id": "x", "type": "Input", "params": {"shape": [8]}},
    {"id": "body.1/fc", "type": "Linear", "params": {"out_features": 8}},
    {"id": "body.1/act", "type": "ReLU"},
    {"id": "body.2/fc", "type": "Linear", "params": {"out_features": 8}},
    {"id": "body.2/act", "type": "ReLU"},
    {"id": "body.3/fc", "type": "Linear", "params": {"out_features": 8}},
    {"id": "body.3/act", "type": "ReLU"},
    {"id": "head", "type": "Linear", "params": {"out_features": 3}},
    {"id": "loss", "type": "CrossEntropyLoss"}],
  "edges": [{"from": "x", "to": "body.1/fc"}, {"from": "body.1/fc", "to": "body.1/act"},
            {"from": "body.1/act", "to": "body.2/fc"}, {"from": "body.2/fc", "to": "body.2/act"},
            {"from": "body.2/act", "to": "body.3/fc"}, {"from": "body.3/fc", "to": "body.3/act"},
            {"from": "body.3/act", "to": "head"}, {"from": "head", "to": "loss:input"}]})";

std::set<std::string> edge_set(const GraphSpec& g) {
  std::set<std::string> r;
  for (const EdgeSpec& e : g.edges) r.insert(e.from.str() + " -> " + e.to.str());
  return r;
}

std::vector<std::string> ids(const GraphSpec& g) {
  std::vector<std::string> r;
  for (const NodeSpec& n : g.nodes) r.push_back(n.id);
  return r;
}

const Diagnostic* find_diag(const std::vector<Diagnostic>& ds, const std::string& node,
                            const std::string& field) {
  for (const Diagnostic& d : ds)
    if (d.node_id == node && d.field == field) return &d;
  return nullptr;
}

std::string all_messages(const std::vector<Diagnostic>& ds) {
  return format_diagnostics(ds);
}

}  // namespace

// --- flattening ---------------------------------------------------------------------------------

TEST(Blocks, FlattenedGraphEqualsTheHandExpandedOne) {
  GraphSpec flat = flatten_blocks(parse(kMlpWithBlock));
  GraphSpec hand = parse(kMlpExpanded);
  EXPECT_EQ(ids(flat), ids(hand));
  for (const NodeSpec& n : hand.nodes) {
    ASSERT_NE(flat.find(n.id), nullptr) << n.id;
    EXPECT_EQ(flat.find(n.id)->type, n.type) << n.id;
    EXPECT_EQ(flat.find(n.id)->params, n.params) << n.id;
  }
  // The chain between copies: copy k's ReLU feeds copy k+1's Linear.
  EXPECT_TRUE(edge_set(hand).count("body.1/act -> body.2/fc"));
  EXPECT_EQ(edge_set(flat), edge_set(hand));
  EXPECT_TRUE(flat.blocks.empty());
}

TEST(Blocks, AGraphWithoutBlocksIsUnchanged) {
  GraphSpec hand = parse(kMlpExpanded);
  EXPECT_EQ(flatten_blocks(hand), hand);
}

TEST(Blocks, AnalysisDescribesTheCopiesAndWhereEachUseWent) {
  GraphAnalysis a = analyze(parse(kMlpWithBlock));
  ASSERT_TRUE(a.ok()) << all_messages(a.diagnostics);
  ASSERT_NE(a.find("body.3/act"), nullptr);
  EXPECT_EQ(a.find("body.2/fc")->outputs[0]->shape, (Shape{-1, 8}));
  EXPECT_EQ(a.find("head")->params["in_features"], 8);
  EXPECT_EQ(a.param_count, 3 * (8 * 8 + 8) + (8 * 3 + 3));
  ASSERT_EQ(a.blocks.size(), 1u);
  const BlockExpansion& x = a.blocks[0];
  EXPECT_EQ(x.id, "body");
  EXPECT_EQ(x.block, "layer");
  EXPECT_EQ(x.repeat, 3);
  ASSERT_EQ(x.inputs.size(), 3u);
  EXPECT_EQ(x.inputs[0].node, "x");
  EXPECT_EQ(x.inputs[1].str(), "body.1/act");
  EXPECT_EQ(x.outputs[2].str(), "body.3/act");
}

TEST(Blocks, RepeatOneIsOneCopy) {
  json j = json::parse(kMlpWithBlock);
  j["nodes"][1]["params"]["repeat"] = 1;
  GraphSpec flat = flatten_blocks(GraphSpec::from_json(j));
  EXPECT_EQ(ids(flat), (std::vector<std::string>{"x", "body.1/fc", "body.1/act", "head", "loss"}));
  j["nodes"][1]["params"].erase("repeat");  // the default
  EXPECT_EQ(flatten_blocks(GraphSpec::from_json(j)), flat);
}

TEST(Blocks, ResidualBlockFeedsItsInputToTwoPortsInWrittenOrder) {
  // in -> fc -> act -> add(inputs: [act, in]) -> out; a Concat block checks the order.
  GraphSpec g = parse(R"({
    "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}},
              {"id": "r", "type": "Block", "params": {"block": "res", "repeat": 2}},
              {"id": "c", "type": "Block", "params": {"block": "cat"}},
              {"id": "loss", "type": "MSELoss"}],
    "edges": [{"from": "x", "to": "r"}, {"from": "r", "to": "c"},
              {"from": "c", "to": "loss:input"}],
    "blocks": [
      {"name": "res",
       "nodes": [{"id": "in", "type": "BlockInput"},
                 {"id": "fc", "type": "Linear", "params": {"out_features": 4}},
                 {"id": "act", "type": "Tanh"},
                 {"id": "add", "type": "Add"},
                 {"id": "out", "type": "BlockOutput"}],
       "edges": [{"from": "in", "to": "fc"}, {"from": "fc", "to": "act"},
                 {"from": "act", "to": "add"}, {"from": "in", "to": "add"},
                 {"from": "add", "to": "out"}]},
      {"name": "cat",
       "nodes": [{"id": "in", "type": "BlockInput"},
                 {"id": "fc", "type": "Linear", "params": {"out_features": 2}},
                 {"id": "cat", "type": "Concat"},
                 {"id": "out", "type": "BlockOutput"}],
       "edges": [{"from": "in", "to": "fc"}, {"from": "fc", "to": "cat"},
                 {"from": "in", "to": "cat"}, {"from": "cat", "to": "out"}]}]})");
  GraphSpec flat = flatten_blocks(g);
  std::vector<std::string> into_add2, into_cat;
  for (const EdgeSpec& e : flat.edges) {
    if (e.to.node == "r.2/add") into_add2.push_back(e.from.str());
    if (e.to.node == "c.1/cat") into_cat.push_back(e.from.str());
  }
  EXPECT_EQ(into_add2, (std::vector<std::string>{"r.2/act", "r.1/add"}));
  EXPECT_EQ(into_cat, (std::vector<std::string>{"c.1/fc", "r.2/add"}));  // as written
  GraphAnalysis a = analyze(g);
  ASSERT_TRUE(a.ok()) << all_messages(a.diagnostics);
  EXPECT_EQ(a.find("c.1/cat")->outputs[0]->shape, (Shape{-1, 6}));
  EXPECT_EQ(a.blocks.size(), 2u);
}

TEST(Blocks, NestedBlocksGetNestedIds) {
  GraphSpec g = parse(R"({
    "nodes": [{"id": "x", "type": "Input", "params": {"shape": [3]}},
              {"id": "outer", "type": "Block", "params": {"block": "two", "repeat": 2}},
              {"id": "loss", "type": "MSELoss"}],
    "edges": [{"from": "x", "to": "outer"}, {"from": "outer", "to": "loss:input"}],
    "blocks": [
      {"name": "one",
       "nodes": [{"id": "in", "type": "BlockInput"},
                 {"id": "fc", "type": "Linear", "params": {"out_features": 3}},
                 {"id": "out", "type": "BlockOutput"}],
       "edges": [{"from": "in", "to": "fc"}, {"from": "fc", "to": "out"}]},
      {"name": "two",
       "nodes": [{"id": "in", "type": "BlockInput"},
                 {"id": "inner", "type": "Block", "params": {"block": "one", "repeat": 2}},
                 {"id": "out", "type": "BlockOutput"}],
       "edges": [{"from": "in", "to": "inner"}, {"from": "inner", "to": "out"}]}]})");
  GraphSpec flat = flatten_blocks(g);
  EXPECT_EQ(ids(flat),
            (std::vector<std::string>{"x", "outer.1/inner.1/fc", "outer.1/inner.2/fc",
                                      "outer.2/inner.1/fc", "outer.2/inner.2/fc", "loss"}));
  std::set<std::string> want = {
      "x -> outer.1/inner.1/fc", "outer.1/inner.1/fc -> outer.1/inner.2/fc",
      "outer.1/inner.2/fc -> outer.2/inner.1/fc", "outer.2/inner.1/fc -> outer.2/inner.2/fc",
      "outer.2/inner.2/fc -> loss:input"};
  EXPECT_EQ(edge_set(flat), want);
  GraphAnalysis a = analyze(g);
  ASSERT_TRUE(a.ok()) << all_messages(a.diagnostics);
  ASSERT_EQ(a.blocks.size(), 3u);  // outer, then its nested uses
  EXPECT_EQ(a.blocks[0].id, "outer");
  EXPECT_EQ(a.blocks[1].id, "outer.1/inner");
  EXPECT_EQ(a.blocks[1].inputs[0].node, "x");
  EXPECT_EQ(a.blocks[2].id, "outer.2/inner");
  EXPECT_EQ(a.blocks[2].inputs[0].node, "outer.1/inner.2/fc");
}

TEST(Blocks, UsesFeedingUsesAndPassThroughBlocksAreResolved) {
  GraphSpec g = parse(R"({
    "nodes": [{"id": "x", "type": "Input", "params": {"shape": [3]}},
              {"id": "a", "type": "Block", "params": {"block": "fc"}},
              {"id": "skip", "type": "Block", "params": {"block": "id", "repeat": 4}},
              {"id": "b", "type": "Block", "params": {"block": "fc"}},
              {"id": "loss", "type": "MSELoss"}],
    "edges": [{"from": "x", "to": "a"}, {"from": "a", "to": "skip"}, {"from": "skip", "to": "b"},
              {"from": "b", "to": "loss:input"}],
    "blocks": [
      {"name": "fc",
       "nodes": [{"id": "in", "type": "BlockInput"},
                 {"id": "fc", "type": "Linear", "params": {"out_features": 3}},
                 {"id": "out", "type": "BlockOutput"}],
       "edges": [{"from": "in", "to": "fc"}, {"from": "fc", "to": "out"}]},
      {"name": "id",
       "nodes": [{"id": "in", "type": "BlockInput"}, {"id": "out", "type": "BlockOutput"}],
       "edges": [{"from": "in", "to": "out"}]}]})");
  GraphSpec flat = flatten_blocks(g);
  EXPECT_EQ(edge_set(flat),
            (std::set<std::string>{"x -> a.1/fc", "a.1/fc -> b.1/fc", "b.1/fc -> loss:input"}));
  EXPECT_TRUE(analyze(g).ok());
}

TEST(Blocks, SplitBlockIdFindsTheUseAndTheCopy) {
  int k = 0;
  std::string rest;
  EXPECT_TRUE(split_block_id("stage1.12/inner.1/conv", "stage1", &k, &rest));
  EXPECT_EQ(k, 12);
  EXPECT_EQ(rest, "inner.1/conv");
  EXPECT_FALSE(split_block_id("stage1/conv", "stage1"));
  EXPECT_FALSE(split_block_id("stage10.1/conv", "stage1"));
  EXPECT_FALSE(split_block_id("stage1.x/conv", "stage1"));
  EXPECT_FALSE(split_block_id("stage1.1", "stage1"));
}

TEST(Blocks, DefinitionsRoundTripThroughJsonAndProjectFiles) {
  GraphSpec g = parse(kMlpWithBlock);
  std::vector<BlockDef> defs = block_defs(g);
  ASSERT_EQ(defs.size(), 1u);
  EXPECT_EQ(defs[0].name, "layer");
  EXPECT_EQ(defs[0].nodes.size(), 4u);
  EXPECT_EQ(BlockDef::from_json(defs[0].to_json()), defs[0]);

  ProjectSpec p;
  p.graph = g;
  std::string path = (std::filesystem::temp_directory_path() /
                      ("ng_blocks_" + std::to_string(::getpid()) + ".ngraph"))
                         .string();
  save_project(p, path);
  ProjectSpec q = load_project(path);  // validates: the blocks expand without errors
  std::remove(path.c_str());
  EXPECT_EQ(block_defs(q.graph), defs);
  EXPECT_EQ(q.graph.nodes, p.graph.nodes);
}

// --- problems -----------------------------------------------------------------------------------

TEST(Blocks, UnknownBlockIsAnErrorOnTheUseNamingTheKnownOnes) {
  json j = json::parse(kMlpWithBlock);
  j["nodes"][1]["params"]["block"] = "layr";
  GraphAnalysis a = analyze(GraphSpec::from_json(j));
  const Diagnostic* d = find_diag(a.diagnostics, "body", "params.block");
  ASSERT_NE(d, nullptr) << all_messages(a.diagnostics);
  EXPECT_TRUE(contains(d->message, "Block 'body': there is no block 'layr'")) << d->message;
  EXPECT_TRUE(contains(d->message, "the project defines: layer")) << d->message;
  EXPECT_FALSE(a.ok());
  // The broken use keeps its place with no shape: nothing else is blamed on it.
  EXPECT_EQ(find_diag(a.diagnostics, "body", "type"), nullptr);
  EXPECT_EQ(find_diag(a.diagnostics, "head", "inputs.input"), nullptr)
      << all_messages(a.diagnostics);
  try {
    flatten_blocks(GraphSpec::from_json(j));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "Block 'body': there is no block 'layr'")) << e.what();
  }
}

TEST(Blocks, RepeatBelowOneIsAnErrorOnTheRepeatParameter) {
  json j = json::parse(kMlpWithBlock);
  j["nodes"][1]["params"]["repeat"] = 0;
  GraphAnalysis a = analyze(GraphSpec::from_json(j));
  const Diagnostic* d = find_diag(a.diagnostics, "body", "params.repeat");
  ASSERT_NE(d, nullptr) << all_messages(a.diagnostics);
  EXPECT_TRUE(contains(d->message, "Block 'body'")) << d->message;
  EXPECT_THROW(flatten_blocks(GraphSpec::from_json(j)), ValueError);
}

TEST(Blocks, DefinitionWithoutOutputOrWithTwoInputsIsRefused) {
  json j = json::parse(kMlpWithBlock);
  json& def = j["blocks"][0];
  def["edges"].erase(2);  // act -> out
  GraphAnalysis a = analyze(GraphSpec::from_json(j));
  const Diagnostic* d = find_diag(a.diagnostics, "body", "params.block");
  ASSERT_NE(d, nullptr) << all_messages(a.diagnostics);
  EXPECT_TRUE(contains(d->message, "block 'layer' gives nothing: no wire enters its BlockOutput"))
      << d->message;

  json k = json::parse(kMlpWithBlock);
  k["blocks"][0]["nodes"].push_back({{"id", "in2"}, {"type", "BlockInput"}});
  a = analyze(GraphSpec::from_json(k));
  d = find_diag(a.diagnostics, "body", "params.block");
  ASSERT_NE(d, nullptr) << all_messages(a.diagnostics);
  EXPECT_TRUE(contains(d->message, "has 2 BlockInput nodes")) << d->message;
}

TEST(Blocks, ABlockThatUsesItselfIsAnError) {
  json j = json::parse(kMlpWithBlock);
  json& def = j["blocks"][0];
  def["nodes"][2] = {{"id", "act"}, {"type", "Block"}, {"params", {{"block", "layer"}}}};
  GraphAnalysis a = analyze(GraphSpec::from_json(j));
  std::string all = all_messages(a.diagnostics);
  EXPECT_TRUE(contains(all, "block 'layer' uses itself (layer -> layer)")) << all;
  EXPECT_FALSE(a.ok());
}

TEST(Blocks, BlockInputOutsideABlockAndTwoWiresIntoAUseAreErrors) {
  json j = json::parse(kMlpWithBlock);
  j["nodes"].push_back({{"id", "stray"}, {"type", "BlockInput"}});
  j["nodes"].push_back({{"id", "y"}, {"type", "Input"}, {"params", {{"shape", {8}}}}});
  j["edges"].push_back({{"from", "y"}, {"to", "body"}});
  GraphAnalysis a = analyze(GraphSpec::from_json(j));
  const Diagnostic* d = find_diag(a.diagnostics, "stray", "type");
  ASSERT_NE(d, nullptr) << all_messages(a.diagnostics);
  EXPECT_TRUE(contains(d->message, "BlockInput 'stray' belongs inside a block definition"));
  d = find_diag(a.diagnostics, "body", "inputs.input");
  ASSERT_NE(d, nullptr) << all_messages(a.diagnostics);
  EXPECT_TRUE(contains(d->message, "Block 'body': input 'input' has 2 or more incoming edges"));
}

TEST(Blocks, ProblemsInsideADefinitionAreReportedUnderTheFirstCopy) {
  // in_features fixed to 8 fits copy 1 but the block maps 8 -> 4, so copy 2 sees 4 features.
  json j = json::parse(kMlpWithBlock);
  j["blocks"][0]["nodes"][1]["params"] = {{"out_features", 4}, {"in_features", 8}};
  GraphAnalysis a = analyze(GraphSpec::from_json(j));
  const Diagnostic* d = find_diag(a.diagnostics, "body.2/fc", "params.in_features");
  ASSERT_NE(d, nullptr) << all_messages(a.diagnostics);
  EXPECT_TRUE(contains(d->message, "Linear 'body.2/fc': input has 4 features, in_features is 8"))
      << d->message;
  EXPECT_EQ(find_diag(a.diagnostics, "body.1/fc", "params.in_features"), nullptr);

  // A malformed node inside a definition: reported once, on the first copy.
  json k = json::parse(kMlpWithBlock);
  k["blocks"][0]["nodes"][2]["type"] = "Relu";
  a = analyze(GraphSpec::from_json(k));
  int count = 0;
  for (const Diagnostic& g : a.diagnostics) count += g.field == "type";
  EXPECT_EQ(count, 3) << "one per copy: each copy is a node of the flattened graph";
  EXPECT_NE(find_diag(a.diagnostics, "body.1/act", "type"), nullptr);
}

TEST(Blocks, MalformedDefinitionsNameTheBlockAndField) {
  json j = json::parse(kMlpWithBlock);
  j["blocks"][0]["colour"] = "red";
  GraphAnalysis a = analyze(GraphSpec::from_json(j));
  std::string all = all_messages(a.diagnostics);
  EXPECT_TRUE(contains(all, "graph: block 'layer': unknown field 'colour'")) << all;
  j = json::parse(kMlpWithBlock);
  j["blocks"].push_back(j["blocks"][0]);
  EXPECT_THROW(block_defs(GraphSpec::from_json(j)), Error);
  all = all_messages(analyze(GraphSpec::from_json(j)).diagnostics);
  EXPECT_TRUE(contains(all, "two blocks are called 'layer'")) << all;
}

// --- training -----------------------------------------------------------------------------------

TEST(Blocks, TrainingWithBlocksEqualsTrainingTheHandExpandedGraph) {
  Model a = Model::compile(parse(kMlpWithBlock), 7);
  Model b = Model::compile(parse(kMlpExpanded), 7);
  ASSERT_EQ(a.parameters().size(), b.parameters().size());
  for (size_t i = 0; i < a.parameters().size(); ++i) {
    EXPECT_EQ(a.parameters()[i].first, b.parameters()[i].first);
    EXPECT_EQ(a.parameters()[i].second.to_vector<float>(),
              b.parameters()[i].second.to_vector<float>());
  }
  EXPECT_EQ(a.parameters()[0].first, "body.1/fc/weight");
  auto params = [](Model& m) {
    std::vector<Tensor> r;
    for (const auto& [n, t] : m.parameters()) r.push_back(t);
    return r;
  };
  SGD oa(params(a), {.lr = 0.1}), ob(params(b), {.lr = 0.1});
  Rng rng(3);
  Tensor x = Tensor::uniform({16, 8}, -1, 1, rng);
  Tensor y = Tensor::from_vector<int64_t>({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0}, {16});
  for (int step = 0; step < 5; ++step) {
    a.zero_grad();
    b.zero_grad();
    Model::Result ra = a.forward({x}, y), rb = b.forward({x}, y);
    EXPECT_EQ(ra.loss.to_vector<float>(), rb.loss.to_vector<float>()) << "step " << step;
    ra.loss.backward();
    rb.loss.backward();
    oa.step();
    ob.step();
  }
  for (size_t i = 0; i < a.parameters().size(); ++i)
    EXPECT_EQ(a.parameters()[i].second.to_vector<float>(),
              b.parameters()[i].second.to_vector<float>())
        << a.parameters()[i].first;
}

TEST(Blocks, CompilingABrokenBlockListsItsProblem) {
  json j = json::parse(kMlpWithBlock);
  j["nodes"][1]["params"]["block"] = "nope";
  try {
    Model::compile(GraphSpec::from_json(j));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "Block 'body': there is no block 'nope'")) << e.what();
  }
}
