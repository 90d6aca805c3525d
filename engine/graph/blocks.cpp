#include "engine/graph/blocks.h"

#include <algorithm>
#include <map>
#include <set>

#include "engine/core/error.h"

// ParamDefs with designated initialisers (see engine/graph/layers/layers.h, GCC bug 96868).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace ng {

using nlohmann::json;

// ---- definitions as JSON -------------------------------------------------------------------

BlockDef BlockDef::from_json(const json& j, size_t index) {
  std::string who = "graph: blocks[" + std::to_string(index) + "]";
  NG_CHECK(j.is_object(), who, " must be an object {\"name\", \"nodes\", \"edges\"}, got ",
           j.dump());
  NG_CHECK(j.contains("name") && j["name"].is_string() && !j["name"].get<std::string>().empty(),
           who, ": field 'name' must be a non-empty string");
  BlockDef b;
  b.name = j["name"].get<std::string>();
  who = "graph: block '" + b.name + "'";
  for (auto it = j.begin(); it != j.end(); ++it)
    NG_CHECK(it.key() == "name" || it.key() == "nodes" || it.key() == "edges", who,
             ": unknown field '", it.key(), "' (a block has name, nodes and edges)");
  // The nodes and edges have the graph's own form: read them as a graph.
  json g = json::object();
  if (j.contains("nodes")) g["nodes"] = j["nodes"];
  if (j.contains("edges")) g["edges"] = j["edges"];
  try {
    GraphSpec body = GraphSpec::from_json(g);
    b.nodes = std::move(body.nodes);
    b.edges = std::move(body.edges);
  } catch (const Error& e) {
    std::string m = e.what();
    if (m.rfind("graph: ", 0) == 0) m = m.substr(7);
    throw Error(who + ": " + m);
  }
  return b;
}

json BlockDef::to_json() const {
  GraphSpec body;
  body.nodes = nodes;
  body.edges = edges;
  json j = body.to_json();
  j["name"] = name;
  return j;
}

const NodeSpec* BlockDef::find(std::string_view id) const {
  for (const NodeSpec& n : nodes)
    if (n.id == id) return &n;
  return nullptr;
}

std::vector<BlockDef> block_defs(const GraphSpec& g) {
  std::vector<BlockDef> r;
  if (g.blocks.is_null()) return r;
  NG_CHECK(g.blocks.is_array(), "graph: field 'blocks' must be an array");
  std::set<std::string> names;
  for (size_t i = 0; i < g.blocks.size(); ++i) {
    r.push_back(BlockDef::from_json(g.blocks[i], i));
    NG_CHECK(names.insert(r.back().name).second, "graph: two blocks are called '", r.back().name,
             "'; block names must be unique");
  }
  return r;
}

// ---- the block node types --------------------------------------------------------------------

namespace {

std::vector<LayerDef> make_block_kinds() {
  std::vector<LayerDef> kinds(3);
  LayerDef& use = kinds[0];
  use.name = std::string(kBlockType);
  use.category = LayerCategory::Structure;
  use.summary = "A named group of layers used as one node, stacked N times (repeat).";
  use.description =
      "A block is a piece of network made once and used as a single node: select layers and "
      "choose Make Block, or open a block (double-click) to edit what is inside. With repeat "
      "N the block is stacked N times, each copy's output feeding the next copy's input, as "
      "the stages of a ResNet or the layers of an MLP are. Every copy has its own weights. "
      "For training and export the blocks are expanded into their layers (ids like "
      "'stage1.2/conv').";
  use.params = {
      {.name = "block",
       .type = ParamType::String,
       .presence = ParamPresence::Required,
       .description = "the name of the block definition (the project's blocks section)"},
      {.name = "repeat",
       .type = ParamType::Int,
       .default_value = 1,
       .min = 1,
       .max = 1000,
       .description = "how many copies are chained, each one's output into the next one's input"},
  };
  use.inputs = {{.name = "input", .description = "what enters the first copy"}};
  use.outputs = {{.name = "output", .description = "what leaves the last copy"}};

  LayerDef& in = kinds[1];
  in.name = std::string(kBlockInputType);
  in.category = LayerCategory::Input;
  in.summary = "Where data enters a block: what feeds the block node.";
  in.description =
      "Inside a block, BlockInput stands for whatever is wired into the block node (for the "
      "second and later copies: the previous copy's output). Wire it to every layer that reads "
      "the block's input; a residual block wires it to its first layer and to the Add.";
  in.outputs = {{.name = "output", .description = "the block's input"}};

  LayerDef& out = kinds[2];
  out.name = std::string(kBlockOutputType);
  out.category = LayerCategory::Structure;
  out.summary = "Where data leaves a block: what the block node gives.";
  out.description =
      "Inside a block, BlockOutput receives the one value the block gives to the layers after "
      "the block node (or to the next copy). Exactly one wire enters it.";
  out.inputs = {{.name = "input", .description = "the block's output"}};
  return kinds;
}

}  // namespace

const LayerDef* find_block_kind(std::string_view type) {
  static const std::vector<LayerDef> kinds = make_block_kinds();
  for (const LayerDef& d : kinds)
    if (d.name == type) return &d;
  return nullptr;
}

bool split_block_id(std::string_view flat_id, std::string_view use, int* copy, std::string* rest) {
  if (flat_id.size() <= use.size() + 2 || flat_id.substr(0, use.size()) != use ||
      flat_id[use.size()] != '.')
    return false;
  size_t i = use.size() + 1, digits = 0;
  int k = 0;
  while (i < flat_id.size() && flat_id[i] >= '0' && flat_id[i] <= '9' && digits < 9) {
    k = k * 10 + (flat_id[i] - '0');
    ++i, ++digits;
  }
  if (digits == 0 || i >= flat_id.size() || flat_id[i] != '/') return false;
  if (copy) *copy = k;
  if (rest) *rest = std::string(flat_id.substr(i + 1));
  return true;
}

// ---- flattening (NOTE [Blocks]) --------------------------------------------------------------

namespace {

struct Body {
  std::vector<NodeSpec> nodes;
  std::vector<EdgeSpec> edges;
};

// A definition with its own uses expanded; ids relative to the definition.
struct Expanded {
  Body body;
  std::vector<BlockExpansion> uses;
  std::vector<Diagnostic> diagnostics;
  bool ok = true;
  std::string why;                  // when not ok: what is wrong with it
  std::string input_id, output_id;  // its BlockInput and BlockOutput
  PortRef out_src;                  // what enters the BlockOutput
};

class Flattener {
 public:
  explicit Flattener(const GraphSpec& g, std::vector<Diagnostic>& diags) {
    if (g.blocks.is_null()) return;
    if (!g.blocks.is_array()) {
      diags.push_back(
          {Severity::Error, "", "graph.blocks", "graph: field 'blocks' must be an array"});
      return;
    }
    for (size_t i = 0; i < g.blocks.size(); ++i) {
      try {
        BlockDef b = BlockDef::from_json(g.blocks[i], i);
        if (defs_.count(b.name)) {
          diags.push_back(
              {Severity::Error, "", "graph.blocks[" + std::to_string(i) + "].name",
               "graph: two blocks are called '" + b.name + "'; block names must be unique"});
          continue;
        }
        names_.push_back(b.name);
        defs_.emplace(b.name, std::move(b));
      } catch (const Error& e) {
        diags.push_back({Severity::Error, "", "graph.blocks[" + std::to_string(i) + "]", e.what()});
      }
    }
  }

  bool has_work(const GraphSpec& g) const {
    if (!defs_.empty()) return true;
    return std::any_of(g.nodes.begin(), g.nodes.end(),
                       [](const NodeSpec& n) { return is_block_kind(n.type); });
  }

  // Replaces the uses in `in`. `top`: the graph itself (BlockInput/BlockOutput do not belong).
  Body expand(const Body& in, std::vector<BlockExpansion>& uses_out, std::vector<Diagnostic>& diags,
              bool top) {
    struct Use {
      std::string block;
      const Expanded* def = nullptr;
      int repeat = 1;
      int in_edge = -1;
      PortRef src;
      bool ok = true;
      std::vector<PortRef> ins, outs;
      std::vector<NodeSpec> nodes;
      std::vector<EdgeSpec> edges;
    };
    std::map<std::string, Use> uses;
    const LayerDef& kind = *find_block_kind(kBlockType);

    for (const NodeSpec& n : in.nodes) {
      if (n.type == kBlockInputType || n.type == kBlockOutputType) {
        if (top)
          diags.push_back({Severity::Error, n.id, "type",
                           n.type + " '" + n.id +
                               "' belongs inside a block definition (it stands for the block's " +
                               (n.type == kBlockInputType ? "input" : "output") +
                               "); in the graph itself use an Input node or wire the layers"});
        continue;
      }
      if (n.type != kBlockType || uses.count(n.id)) continue;
      Use& u = uses[n.id];
      size_t before = diags.size();
      json p = kind.check_params(n.id, n.params, diags);
      if (diags.size() != before) {
        u.ok = false;
        continue;
      }
      std::string name = p["block"].get<std::string>();
      u.repeat = int(p["repeat"].get<int64_t>());
      if (!defs_.count(name)) {
        std::string known;
        for (const std::string& k : names_) known += (known.empty() ? "" : ", ") + k;
        diags.push_back({Severity::Error, n.id, "params.block",
                         kind.who(n.id) + ": there is no block '" + name + "'" +
                             (known.empty() ? "; the project defines no blocks"
                                            : "; the project defines: " + known)});
        u.ok = false;
        continue;
      }
      const Expanded& d = definition(name);
      if (!d.ok) {
        diags.push_back({Severity::Error, n.id, "params.block", kind.who(n.id) + ": " + d.why});
        u.ok = false;
        continue;
      }
      u.block = name;
      u.def = &d;
    }

    // The edges at each use's ports.
    for (size_t k = 0; k < in.edges.size(); ++k) {
      const EdgeSpec& e = in.edges[k];
      if (auto it = uses.find(e.to.node); it != uses.end() && it->second.ok) {
        Use& u = it->second;
        if (!e.to.port.empty() && e.to.port != "input") {
          diags.push_back({Severity::Error, e.to.node, "edges[" + std::to_string(k) + "]",
                           kind.who(e.to.node) + " has no input port '" + e.to.port +
                               "'; its input port: input"});
        } else if (u.in_edge >= 0) {
          diags.push_back({Severity::Error, e.to.node, "inputs.input",
                           kind.who(e.to.node) +
                               ": input 'input' has 2 or more incoming edges; it accepts one "
                               "(merge them with an Add or a Concat)"});
        } else {
          u.in_edge = int(k);
          u.src = e.from;
        }
      }
      if (auto it = uses.find(e.from.node); it != uses.end() && it->second.ok)
        if (!e.from.port.empty() && e.from.port != "output")
          diags.push_back({Severity::Error, e.to.node, "edges[" + std::to_string(k) + "]",
                           kind.who(e.from.node) + " has no output port '" + e.from.port +
                               "'; its output port: output"});
    }

    // Each good use: its copies, with the input of copy 1 still naming what feeds the use
    // (which may be another use: resolved below).
    std::map<std::string, std::vector<BlockExpansion>> nested;  // by the use they are in
    for (auto& [id, u] : uses) {
      if (!u.ok) continue;
      const Expanded& d = *u.def;
      PortRef cur = u.src;
      for (int k = 1; k <= u.repeat; ++k) {
        std::string prefix = id + "." + std::to_string(k) + "/";
        auto map = [&](const PortRef& r) {
          return r.node == d.input_id ? cur : PortRef{prefix + r.node, r.port};
        };
        for (const NodeSpec& n : d.body.nodes) {
          if (n.id == d.input_id || n.id == d.output_id) continue;
          NodeSpec c = n;
          c.id = prefix + n.id;
          u.nodes.push_back(std::move(c));
        }
        for (const EdgeSpec& e : d.body.edges) {
          if (e.to.node == d.output_id) continue;
          PortRef from = map(e.from);
          if (from.node.empty()) continue;  // the use's input is not connected
          u.edges.push_back({from, map(e.to)});
        }
        u.ins.push_back(cur);
        PortRef out = map(d.out_src);
        u.outs.push_back(out);
        for (const BlockExpansion& x : d.uses) {
          BlockExpansion y = x;
          y.id = prefix + x.id;
          for (PortRef& r : y.inputs) r = r.node.empty() ? r : map(r);
          for (PortRef& r : y.outputs) r = r.node.empty() ? r : map(r);
          nested[id].push_back(std::move(y));
        }
        if (k == 1)
          for (Diagnostic g : d.diagnostics) {
            g.node_id = g.node_id.empty() ? id : prefix + g.node_id;
            diags.push_back(std::move(g));
          }
        cur = out;
      }
    }

    // What a reference to a use means: its last copy's output (identity blocks pass through).
    auto resolve = [&](PortRef r) {
      for (size_t guard = 0; guard <= uses.size(); ++guard) {
        auto it = uses.find(r.node);
        if (it == uses.end() || !it->second.ok) return r;
        r = it->second.outs.back();
        if (r.node.empty()) return r;
      }
      return PortRef{};  // a loop of pass-through blocks
    };
    for (auto& [id, u] : uses) {
      if (!u.ok) continue;
      for (EdgeSpec& e : u.edges) e.from = resolve(e.from);
      std::erase_if(u.edges, [](const EdgeSpec& e) { return e.from.node.empty(); });
      for (PortRef& r : u.ins) r = resolve(r);
      for (PortRef& r : u.outs) r = resolve(r);
      for (BlockExpansion& x : nested[id]) {
        for (PortRef& r : x.inputs) r = resolve(r);
        for (PortRef& r : x.outputs) r = resolve(r);
      }
    }

    Body out;
    for (const NodeSpec& n : in.nodes) {
      auto it = n.type == kBlockType ? uses.find(n.id) : uses.end();
      if (it == uses.end() || !it->second.ok) {
        out.nodes.push_back(n);
        continue;
      }
      for (NodeSpec& c : it->second.nodes) out.nodes.push_back(std::move(c));
      it->second.nodes.clear();
    }
    std::set<std::string> emitted;
    auto emit_use = [&](const std::string& id, Use& u) {
      if (!emitted.insert(id).second) return;
      for (EdgeSpec& e : u.edges) out.edges.push_back(std::move(e));
    };
    for (size_t k = 0; k < in.edges.size(); ++k) {
      const EdgeSpec& e = in.edges[k];
      if (auto it = uses.find(e.to.node); it != uses.end() && it->second.ok) {
        if (it->second.in_edge == int(k)) emit_use(it->first, it->second);
        continue;
      }
      EdgeSpec c = e;
      c.from = resolve(e.from);
      if (!c.from.node.empty()) out.edges.push_back(std::move(c));
    }
    for (auto& [id, u] : uses)
      if (u.ok) emit_use(id, u);

    // The uses in graph order, each followed by its nested uses.
    for (const NodeSpec& n : in.nodes) {
      auto it = n.type == kBlockType ? uses.find(n.id) : uses.end();
      if (it == uses.end() || !it->second.ok) continue;
      const Use& u = it->second;
      uses_out.push_back({n.id, u.block, u.repeat, u.ins, u.outs});
      for (BlockExpansion& x : nested[n.id]) uses_out.push_back(std::move(x));
      nested[n.id].clear();
    }
    return out;
  }

 private:
  std::map<std::string, BlockDef> defs_;
  std::vector<std::string> names_;  // in file order
  std::map<std::string, Expanded> done_;
  std::vector<std::string> stack_;
  Expanded failed_;  // what definition() gives for a definition that uses itself

  const Expanded& definition(const std::string& name) {
    if (auto it = std::find(stack_.begin(), stack_.end(), name); it != stack_.end()) {
      std::string chain;
      for (auto s = it; s != stack_.end(); ++s) chain += *s + " -> ";
      failed_ = {};
      failed_.ok = false;
      failed_.why =
          "block '" + name + "' uses itself (" + chain + name + "); a block cannot contain itself";
      return failed_;
    }
    if (auto it = done_.find(name); it != done_.end()) return it->second;
    const BlockDef& def = defs_.at(name);
    stack_.push_back(name);
    Expanded x;
    x.body = expand({def.nodes, def.edges}, x.uses, x.diagnostics, false);
    stack_.pop_back();

    std::string who = "block '" + name + "'";
    std::vector<std::string> ins, outs;
    for (const NodeSpec& n : def.nodes) {
      if (n.type == kBlockInputType) ins.push_back(n.id);
      if (n.type == kBlockOutputType) outs.push_back(n.id);
    }
    auto fail = [&](const std::string& why) {
      x.ok = false;
      x.why = who + " " + why;
    };
    if (ins.size() != 1)
      fail(ins.empty() ? "has no BlockInput node; a block needs one, for its input"
                       : "has " + std::to_string(ins.size()) +
                             " BlockInput nodes; a block has exactly one input");
    else if (outs.size() != 1)
      fail(outs.empty() ? "has no BlockOutput node; a block needs one, for its output"
                        : "has " + std::to_string(outs.size()) +
                              " BlockOutput nodes; a block has exactly one output");
    if (x.ok) {
      x.input_id = ins[0];
      x.output_id = outs[0];
      int into_out = 0;
      for (const EdgeSpec& e : x.body.edges) {
        if (e.to.node == x.output_id) {
          ++into_out;
          x.out_src = e.from;
        }
        if (e.to.node == x.input_id)
          fail("has a wire into its BlockInput '" + x.input_id + "'; nothing can feed it");
        if (e.from.node == x.output_id)
          fail("has a wire out of its BlockOutput '" + x.output_id + "'; it has no output");
      }
      if (x.ok && into_out == 0)
        fail("gives nothing: no wire enters its BlockOutput '" + x.output_id +
             "'; wire the block's last layer to it");
      if (x.ok && into_out > 1)
        fail("has " + std::to_string(into_out) + " wires into its BlockOutput '" + x.output_id +
             "'; a block has one output (merge them with an Add or a Concat)");
      if (x.ok && x.out_src.node == x.output_id) fail("wires its BlockOutput to itself");
    }
    return done_.emplace(name, std::move(x)).first->second;
  }
};

}  // namespace

FlattenResult flatten_blocks_checked(const GraphSpec& g) {
  FlattenResult r;
  Flattener f(g, r.diagnostics);
  if (!f.has_work(g)) {
    r.graph = g;
    r.graph.blocks = json::array();
    return r;
  }
  Body b = f.expand({g.nodes, g.edges}, r.uses, r.diagnostics, true);
  r.graph.nodes = std::move(b.nodes);
  r.graph.edges = std::move(b.edges);
  return r;
}

GraphSpec flatten_blocks(const GraphSpec& g) {
  FlattenResult r = flatten_blocks_checked(g);
  for (const Diagnostic& d : r.diagnostics)
    if (d.severity == Severity::Error) {
      if (d.field.rfind("params.", 0) == 0) throw NodeValueError(d.node_id, d.field, d.message);
      throw Error(d.message);
    }
  return std::move(r.graph);
}

}  // namespace ng
