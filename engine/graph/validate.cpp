#include "engine/graph/validate.h"

#include <algorithm>
#include <functional>
#include <queue>
#include <unordered_map>

namespace ng {

using nlohmann::json;

int GraphAnalysis::index_of(std::string_view id) const {
  for (size_t i = 0; i < nodes.size(); ++i)
    if (nodes[i].id == id) return int(i);
  return -1;
}

const NodeInfo* GraphAnalysis::find(std::string_view id) const {
  int i = index_of(id);
  return i < 0 ? nullptr : &nodes[size_t(i)];
}

namespace {

std::string port_names(const std::vector<PortDef>& ports) {
  std::string r;
  for (const PortDef& p : ports) r += (r.empty() ? "" : ", ") + p.name;
  return r;
}

class Analyzer {
 public:
  Analyzer(const GraphSpec& spec, const ValidateOptions& opt) : spec_(spec), opt_(opt) {}

  GraphAnalysis run() {
    check_nodes();
    check_edges();
    check_connections();
    sort_topologically();
    check_loss_and_inputs();
    infer_shapes();
    warn_unused_and_misused();
    return std::move(a_);
  }

 private:
  const GraphSpec& spec_;
  const ValidateOptions& opt_;
  GraphAnalysis a_;
  std::unordered_map<std::string, int> index_;  // first node with each id
  std::vector<std::vector<int>> succ_;          // successor nodes (one entry per edge)
  std::vector<std::vector<int>> used_;          // per node, per output port: number of out edges

  void error(const std::string& node, const std::string& field, const std::string& msg) {
    a_.diagnostics.push_back({Severity::Error, node, field, msg});
  }
  void warning(const std::string& node, const std::string& field, const std::string& msg) {
    a_.diagnostics.push_back({Severity::Warning, node, field, msg});
  }
  std::string who(int i) const {
    const NodeInfo& n = a_.nodes[size_t(i)];
    return n.def ? n.def->who(n.id) : n.type + " '" + n.id + "'";
  }

  void check_nodes() {
    const LayerRegistry& reg = LayerRegistry::instance();
    a_.nodes.resize(spec_.nodes.size());
    succ_.resize(spec_.nodes.size());
    used_.resize(spec_.nodes.size());
    for (size_t i = 0; i < spec_.nodes.size(); ++i) {
      const NodeSpec& s = spec_.nodes[i];
      NodeInfo& n = a_.nodes[i];
      n.id = s.id;
      n.type = s.type;
      if (s.id.empty())
        error("", "id", "node " + std::to_string(i) + " (" + s.type + ") has an empty id");
      else if (s.id.find(':') != std::string::npos)
        error(s.id, "id",
              "node id '" + s.id +
                  "' contains ':', which separates node and port "
                  "in edges; rename it");
      if (!index_.emplace(s.id, int(i)).second)
        error(s.id, "id",
              "node id '" + s.id +
                  "' is used by more than one node; ids must be "
                  "unique");
      n.def = reg.find(s.type);
      if (!n.def && is_block_kind(s.type)) {
        // A use of a block that could not be expanded, or a BlockInput/BlockOutput outside a
        // block: flattening has said why. Ports, but no shape.
        n.def = find_block_kind(s.type);
        n.params = s.params;
        n.inputs.resize(n.def->inputs.size());
        n.outputs.resize(n.def->outputs.size());
        used_[i].resize(n.def->outputs.size());
        continue;
      }
      if (!n.def) {
        try {
          reg.at(s.type, s.id);
        } catch (const Error& e) {
          error(s.id, "type", e.what());
        }
        continue;
      }
      size_t before = a_.diagnostics.size();
      n.params = n.def->check_params(s.id, s.params, a_.diagnostics);
      n.params_ok = a_.diagnostics.size() == before;
      n.inputs.resize(n.def->inputs.size());
      n.outputs.resize(n.def->outputs.size());
      used_[i].resize(n.def->outputs.size());
      if (n.def->category == LayerCategory::Input) a_.input_nodes.push_back(int(i));
    }
  }

  // Resolves one end of edge k; returns (node, port) or (-1, -1) after reporting.
  std::pair<int, int> resolve(const PortRef& ref, bool output, size_t k, const std::string& at) {
    std::string edge = "edge " + std::to_string(k) + " (\"" + spec_.edges[k].from.str() +
                       "\" -> \"" + spec_.edges[k].to.str() + "\")";
    std::string field = "edges[" + std::to_string(k) + "]";
    auto it = index_.find(ref.node);
    if (it == index_.end()) {
      error(at, field, edge + ": there is no node '" + ref.node + "'");
      return {-1, -1};
    }
    int i = it->second;
    const NodeInfo& n = a_.nodes[size_t(i)];
    if (!n.def) return {-1, -1};  // unknown type, already reported
    const std::vector<PortDef>& ports = output ? n.def->outputs : n.def->inputs;
    const char* side = output ? "output" : "input";
    if (ports.empty()) {
      error(n.id, field, edge + ": " + who(i) + " has no " + side + " ports");
      return {-1, -1};
    }
    if (ref.port.empty()) {
      if (ports.size() == 1) return {i, 0};
      error(n.id, field,
            edge + ": " + who(i) + " has " + std::to_string(ports.size()) + " " + side +
                " ports (" + port_names(ports) + "); name one, as in \"" + n.id + ":" +
                ports[0].name + "\"");
      return {-1, -1};
    }
    int p = output ? n.def->output_index(ref.port) : n.def->input_index(ref.port);
    if (p < 0) {
      error(n.id, field,
            edge + ": " + who(i) + " has no " + side + " port '" + ref.port + "'; its " + side +
                " ports: " + port_names(ports));
      return {-1, -1};
    }
    return {i, p};
  }

  void check_edges() {
    for (size_t k = 0; k < spec_.edges.size(); ++k) {
      const EdgeSpec& e = spec_.edges[k];
      // Diagnostics about an edge sit on its target node when there is one.
      std::string at = index_.count(e.to.node) ? e.to.node : e.from.node;
      auto [fn, fp] = resolve(e.from, true, k, at);
      auto [tn, tp] = resolve(e.to, false, k, at);
      if (fn < 0 || tn < 0) continue;
      a_.nodes[size_t(tn)].inputs[size_t(tp)].push_back({fn, fp});
      succ_[size_t(fn)].push_back(tn);
      ++used_[size_t(fn)][size_t(fp)];
    }
  }

  void check_connections() {
    for (size_t i = 0; i < a_.nodes.size(); ++i) {
      const NodeInfo& n = a_.nodes[i];
      if (!n.def) continue;
      for (size_t p = 0; p < n.def->inputs.size(); ++p) {
        const PortDef& port = n.def->inputs[p];
        size_t count = n.inputs[p].size();
        if (count == 0 && !port.optional)
          error(n.id, "inputs." + port.name,
                who(int(i)) + ": input '" + port.name + "' is not connected");
        if (count > 1 && !port.variadic)
          error(n.id, "inputs." + port.name,
                who(int(i)) + ": input '" + port.name + "' has " + std::to_string(count) +
                    " incoming edges; it accepts one (merge them with an Add or a Concat)");
      }
    }
  }

  void sort_topologically() {
    size_t n = a_.nodes.size();
    std::vector<int> indeg(n, 0);
    for (size_t i = 0; i < n; ++i)
      for (int j : succ_[i]) ++indeg[size_t(j)];
    std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
    for (size_t i = 0; i < n; ++i)
      if (indeg[i] == 0) ready.push(int(i));
    std::vector<bool> done(n, false);
    while (!ready.empty()) {
      int i = ready.top();
      ready.pop();
      a_.order.push_back(i);
      done[size_t(i)] = true;
      for (int j : succ_[size_t(i)])
        if (--indeg[size_t(j)] == 0) ready.push(j);
    }
    if (a_.order.size() == n) return;
    // Tarjan's strongly connected components over the rest: report each cycle on its nodes.
    std::vector<int> idx(n, -1), low(n, 0), stack;
    std::vector<bool> on(n, false);
    int counter = 0;
    std::function<void(int)> connect = [&](int v) {
      idx[size_t(v)] = low[size_t(v)] = counter++;
      stack.push_back(v);
      on[size_t(v)] = true;
      for (int w : succ_[size_t(v)]) {
        if (done[size_t(w)]) continue;
        if (idx[size_t(w)] < 0) {
          connect(w);
          low[size_t(v)] = std::min(low[size_t(v)], low[size_t(w)]);
        } else if (on[size_t(w)]) {
          low[size_t(v)] = std::min(low[size_t(v)], idx[size_t(w)]);
        }
      }
      if (low[size_t(v)] != idx[size_t(v)]) return;
      std::vector<int> comp;
      int w;
      do {
        w = stack.back();
        stack.pop_back();
        on[size_t(w)] = false;
        comp.push_back(w);
      } while (w != v);
      bool self =
          std::find(succ_[size_t(v)].begin(), succ_[size_t(v)].end(), v) != succ_[size_t(v)].end();
      if (comp.size() < 2 && !self) return;
      std::sort(comp.begin(), comp.end());
      std::string members;
      for (int c : comp) members += (members.empty() ? "'" : ", '") + a_.nodes[size_t(c)].id + "'";
      for (int c : comp)
        error(a_.nodes[size_t(c)].id, "inputs",
              who(c) + " is part of a cycle (" + members +
                  "); data must flow one way from the inputs to the loss");
    };
    for (size_t i = 0; i < n; ++i)
      if (!done[i] && idx[i] < 0) connect(int(i));
  }

  void check_loss_and_inputs() {
    std::vector<int> losses;
    for (size_t i = 0; i < a_.nodes.size(); ++i)
      if (a_.nodes[i].def && a_.nodes[i].def->is_loss()) losses.push_back(int(i));
    if (!losses.empty()) a_.loss_node = losses[0];
    if (losses.empty() && opt_.require_loss)
      error("", "graph",
            "the graph has no loss node; connect the network's output to a loss such as "
            "CrossEntropyLoss (classification) or MSELoss (regression)");
    if (losses.size() > 1) {
      std::string names;
      for (int l : losses) names += (names.empty() ? "'" : ", '") + a_.nodes[size_t(l)].id + "'";
      for (size_t k = 1; k < losses.size(); ++k)
        error(a_.nodes[size_t(losses[k])].id, "type",
              "the graph has " + std::to_string(losses.size()) + " loss nodes (" + names +
                  "); training needs exactly one");
    }
    if (a_.input_nodes.empty() && !a_.nodes.empty())
      error("", "graph", "the graph has no Input node; add one with the shape of an example");
  }

  void infer_shapes() {
    for (int i : a_.order) {
      NodeInfo& n = a_.nodes[size_t(i)];
      if (!n.def || !n.params_ok) continue;
      std::vector<std::vector<TensorType>> in(n.inputs.size());
      bool known = true;
      for (size_t p = 0; p < n.inputs.size() && known; ++p) {
        const PortDef& port = n.def->inputs[p];
        if ((n.inputs[p].empty() && !port.optional) || (n.inputs[p].size() > 1 && !port.variadic))
          known = false;  // already reported by check_connections
        for (const PortLink& l : n.inputs[p]) {
          const auto& t = a_.nodes[size_t(l.node)].outputs[size_t(l.port)];
          if (!t) {
            known = false;
            break;
          }
          in[p].push_back(*t);
        }
      }
      if (!known) continue;
      std::vector<Shape> in_shapes;
      for (const auto& port : in)
        for (const TensorType& t : port) in_shapes.push_back(t.shape);
      try {
        std::vector<TensorType> out = n.def->infer_shapes(n.id, n.params, std::move(in));
        n.weights = n.def->weight_defs(n.params);
        n.param_count = 0;
        for (const WeightDef& w : n.weights)
          if (w.role == WeightRole::Parameter) n.param_count += ng::numel(w.shape);
        n.output_bytes_per_example = 0;
        for (size_t p = 0; p < out.size(); ++p) {
          int64_t per = 1;
          for (size_t d = 0; d < out[p].shape.size(); ++d)
            if (out[p].shape[d] >= 0) per *= out[p].shape[d];
          n.output_bytes_per_example += per * int64_t(dtype_size(out[p].dtype));
          n.outputs[p] = out[p];
        }
        n.inferred = true;
        n.input_shapes = std::move(in_shapes);
        a_.param_count += n.param_count;
      } catch (const NodeShapeError& e) {
        error(n.id, e.field(), e.what());
      } catch (const NodeValueError& e) {
        error(n.id, e.field(), e.what());
      } catch (const Error& e) {
        error(n.id, "inputs", e.what());
      }
    }
  }

  void warn_unused_and_misused() {
    for (size_t i = 0; i < a_.nodes.size(); ++i) {
      const NodeInfo& n = a_.nodes[i];
      if (!n.def) continue;
      if (!n.def->is_loss())
        for (size_t p = 0; p < n.def->outputs.size(); ++p)
          if (used_[i][p] == 0)
            warning(n.id, "outputs." + n.def->outputs[p].name,
                    who(int(i)) + ": output '" + n.def->outputs[p].name +
                        "' is not used; connect it or delete the node");
      // Lints for learners, declared by the kinds (LayerDef::discouraged_inputs).
      for (const auto& [kind, advice] : n.def->discouraged_inputs)
        if (!n.inputs.empty())
          for (const PortLink& l : n.inputs[0])
            if (a_.nodes[size_t(l.node)].type == kind)
              warning(n.id, "inputs." + n.def->inputs[0].name,
                      who(int(i)) + ": its input comes from " + who(l.node) + "; " + advice);
    }
  }
};

}  // namespace

GraphAnalysis analyze(const GraphSpec& spec, const ValidateOptions& options) {
  bool blocks = (spec.blocks.is_array() && !spec.blocks.empty()) ||
                std::any_of(spec.nodes.begin(), spec.nodes.end(),
                            [](const NodeSpec& n) { return is_block_kind(n.type); });
  if (!blocks) return Analyzer(spec, options).run();
  FlattenResult flat = flatten_blocks_checked(spec);
  GraphAnalysis a = Analyzer(flat.graph, options).run();
  a.diagnostics.insert(a.diagnostics.begin(), flat.diagnostics.begin(), flat.diagnostics.end());
  a.blocks = std::move(flat.uses);
  return a;
}

std::vector<Diagnostic> validate(const GraphSpec& spec, const ValidateOptions& options) {
  return analyze(spec, options).diagnostics;
}

}  // namespace ng
