// inspect: per-node cost tables of a project and summaries of checkpoints.
#include "engine/io/inspect.h"

#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>

#include "engine/core/format.h"
#include "engine/io/checkpoint.h"

namespace ng {

using nlohmann::json;

namespace {

// Values per example of a shape with the batch as -1 ([-1, 6, 28, 28] -> 4704); a shape
// without the batch dimension (a loss's scalar) counts as 0 per example.
int64_t per_example(const Shape& s) {
  if (s.empty() || s[0] != -1) return 0;
  int64_t n = 1;
  for (size_t i = 1; i < s.size(); ++i) n *= s[i];
  return n;
}

int64_t pair_product(const json& params, const char* name) {
  const json& v = params.at(name);
  return v.at(0).get<int64_t>() * v.at(1).get<int64_t>();
}

bool flag(const json& params, const char* name) {
  auto it = params.find(name);
  return it != params.end() && it->is_boolean() && it->get<bool>();
}

// NOTE [FLOP convention]
// Forward FLOPs per example; a multiply-add counts as 2, any other arithmetic operation or
// comparison as 1, and an exp/log/tanh as 1 (nominal). Layers that only move or view data
// count 0. docs/project-format.md ("inspect") shows the same table.
using FlopRule = std::function<int64_t(const NodeInfo&, int64_t out, int64_t in)>;

const std::unordered_map<std::string, FlopRule>& flop_rules() {
  auto per_value = [](int64_t k) {
    return FlopRule([k](const NodeInfo&, int64_t out, int64_t) { return k * out; });
  };
  auto zero = FlopRule([](const NodeInfo&, int64_t, int64_t) { return int64_t(0); });
  // Losses: per value of the prediction.
  auto per_input = [](int64_t k) {
    return FlopRule([k](const NodeInfo&, int64_t, int64_t in) { return k * in; });
  };
  static const std::unordered_map<std::string, FlopRule> rules = {
      {"Input", zero},
      {"Flatten", zero},
      {"Reshape", zero},
      {"Concat", zero},
      {"Embedding", zero},  // a table lookup
      // y = x W^T + b: per output value, in multiply-adds and one bias add.
      {"Linear",
       [](const NodeInfo& n, int64_t out, int64_t) {
         return out * (2 * n.params.at("in_features").get<int64_t>() + flag(n.params, "bias"));
       }},
      // Per output value: (Cin/groups)*kh*kw multiply-adds and one bias add.
      {"Conv2d",
       [](const NodeInfo& n, int64_t out, int64_t) {
         int64_t cin = n.params.at("in_channels").get<int64_t>();
         int64_t g = n.params.at("groups").get<int64_t>();
         return out *
                (2 * (cin / g) * pair_product(n.params, "kernel_size") + flag(n.params, "bias"));
       }},
      // Per output value: one operation (compare or add) per window element.
      {"MaxPool2d", [](const NodeInfo& n, int64_t out,
                       int64_t) { return out * pair_product(n.params, "kernel_size"); }},
      {"AvgPool2d", [](const NodeInfo& n, int64_t out,
                       int64_t) { return out * pair_product(n.params, "kernel_size"); }},
      {"GlobalAvgPool", [](const NodeInfo&, int64_t, int64_t in) { return in; }},
      {"ReLU", per_value(1)},
      {"LeakyReLU", per_value(1)},
      {"Sigmoid", per_value(1)},
      {"Tanh", per_value(1)},
      {"GELU", per_value(1)},
      {"Dropout", per_value(1)},
      // max, subtract, exp, sum, normalise.
      {"Softmax", per_value(5)},
      {"LogSoftmax", per_value(5)},
      // Normalise and scale/shift: counted as one multiply and one add per value (the
      // convention for batch norm; the kernels centre first, NOTE [Batch-norm apply]).
      {"BatchNorm", per_value(2)},
      // Mean 1, variance 2, normalise 2, scale and shift 2.
      {"LayerNorm", [](const NodeInfo& n, int64_t out,
                       int64_t) { return out * (flag(n.params, "elementwise_affine") ? 7 : 5); }},
      // k inputs: k - 1 additions per value.
      {"Add",
       [](const NodeInfo& n, int64_t out, int64_t) {
         return out * std::max<int64_t>(0, int64_t(n.input_shapes.size()) - 1);
       }},
      {"CrossEntropyLoss", per_input(5)},   // log-softmax of the scores, pick the target
      {"MSELoss", per_input(3)},            // subtract, square, sum
      {"BCEWithLogitsLoss", per_input(6)},  // max(x, 0) - x t + log(1 + exp(-|x|)), sum
  };
  return rules;
}

std::string with_commas(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -v : v), r;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) r += ',';
    r += digits[i];
  }
  return (v < 0 ? "-" : "") + r;
}

std::string fixed(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// 54100000 -> "54.1 MFLOP"
std::string human_flops(double f) {
  const char* units[] = {"FLOP", "kFLOP", "MFLOP", "GFLOP", "TFLOP", "PFLOP"};
  int u = 0;
  while (f >= 1000.0 && u < 5) f /= 1000.0, ++u;
  return u == 0 ? fixed(f, 0) + " FLOP" : fixed(f, 2) + " " + units[u];
}

std::string shapes_str(const InspectRow& r) {
  if (!r.shape_known) return "?";
  std::string s;
  for (const Shape& sh : r.output_shapes) s += (s.empty() ? "" : ", ") + shape_str(sh);
  return s;
}

// A plain-text table: columns left-aligned (text) or right-aligned (numbers).
std::string table(const std::vector<std::vector<std::string>>& rows,
                  const std::vector<bool>& right) {
  std::vector<size_t> width(right.size(), 0);
  for (const auto& r : rows)
    for (size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  std::string out;
  for (size_t i = 0; i < rows.size(); ++i) {
    std::string line;
    for (size_t c = 0; c < rows[i].size(); ++c) {
      const std::string& cell = rows[i][c];
      std::string pad(width[c] - cell.size(), ' ');
      if (c) line += "  ";
      line += right[c] ? pad + cell : cell + pad;
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
    if (i == 0) {  // rule under the header
      std::string rule;
      for (size_t c = 0; c < width.size(); ++c)
        rule += (c ? "  " : "") + std::string(width[c], '-');
      out += rule + "\n";
    }
  }
  return out;
}

// Two spaces before every line.
std::string indent(const std::string& text) {
  std::string out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size() - 1;
    out += "  " + text.substr(start, end - start + 1);
    start = end + 1;
  }
  return out;
}

json diagnostic_json(const Diagnostic& d) {
  return {{"severity", severity_name(d.severity)},
          {"node_id", d.node_id},
          {"field", d.field},
          {"message", d.message}};
}

json real_or_null(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}

// The checkpoint's layout version (a root attribute load_checkpoint checks but does not return).
int64_t checkpoint_format_version(const std::string& path) {
  int64_t v = -1;
  H5E_BEGIN_TRY {
    hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f >= 0) {
      hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
      if (a >= 0) {
        if (H5Aread(a, H5T_NATIVE_INT64, &v) < 0) v = -1;
        H5Aclose(a);
      }
      H5Fclose(f);
    }
  }
  H5E_END_TRY;
  return v;
}

std::string number(double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

}  // namespace

bool has_flop_rule(std::string_view type) {
  return flop_rules().count(std::string(type)) > 0;
}

int64_t node_flops_per_example(const NodeInfo& n) {
  if (!n.inferred || n.outputs.empty() || !n.outputs[0]) return -1;
  auto it = flop_rules().find(n.type);
  if (it == flop_rules().end()) return -1;
  int64_t out = per_example(n.outputs[0]->shape);
  int64_t in = n.input_shapes.empty() ? 0 : per_example(n.input_shapes[0]);
  try {
    return it->second(n, out, in);
  } catch (const json::exception&) {
    return -1;  // a parameter the rule needs is missing (cannot happen for an inferred node)
  }
}

ProjectInspection inspect_project(const ProjectSpec& project, int64_t batch) {
  if (batch < 1) throw ValueError("inspect: batch must be >= 1, got " + std::to_string(batch));
  GraphAnalysis a = analyze(project.graph);
  ProjectInspection r;
  r.batch = batch;
  r.diagnostics = a.diagnostics;
  std::vector<int> order = a.order;
  std::vector<bool> listed(a.nodes.size(), false);
  for (int i : order) listed[size_t(i)] = true;
  for (size_t i = 0; i < a.nodes.size(); ++i)
    if (!listed[i]) order.push_back(int(i));
  for (int i : order) {
    const NodeInfo& n = a.nodes[size_t(i)];
    InspectRow row;
    row.id = n.id;
    row.type = n.type;
    row.shape_known = n.inferred;
    if (n.inferred) {
      for (const auto& t : n.outputs) {
        Shape s = t->shape;
        if (!s.empty() && s[0] == -1) s.erase(s.begin());
        row.output_shapes.push_back(s);
        row.activation_bytes += per_example(t->shape) * int64_t(dtype_size(t->dtype));
      }
      for (const WeightDef& w : n.weights)
        (w.role == WeightRole::Parameter ? row.params : row.buffers) += numel(w.shape);
    }
    row.flops = node_flops_per_example(n);
    r.params += row.params;
    r.buffers += row.buffers;
    if (row.flops >= 0)
      r.flops += row.flops;
    else
      r.flops_complete = false;
    r.activation_bytes_per_example += row.activation_bytes;
    r.rows.push_back(std::move(row));
  }
  r.parameter_bytes = (r.params + r.buffers) * int64_t(sizeof(float));
  r.activation_bytes = r.activation_bytes_per_example * batch;
  return r;
}

json inspection_to_json(const ProjectInspection& r) {
  json rows = json::array();
  for (const InspectRow& row : r.rows)
    rows.push_back({{"id", row.id},
                    {"type", row.type},
                    {"output_shapes", row.shape_known ? json(row.output_shapes) : json(nullptr)},
                    {"params", row.params},
                    {"buffers", row.buffers},
                    {"flops", row.flops >= 0 ? json(row.flops) : json(nullptr)},
                    {"activation_bytes", row.activation_bytes}});
  json diags = json::array();
  for (const Diagnostic& d : r.diagnostics) diags.push_back(diagnostic_json(d));
  return {{"batch", r.batch},
          {"flop_convention", "forward FLOPs per example; a multiply-add counts as 2"},
          {"rows", rows},
          {"totals",
           {{"params", r.params},
            {"buffers", r.buffers},
            {"parameter_bytes", r.parameter_bytes},
            {"flops_per_example", r.flops},
            {"flops_per_batch", r.flops * r.batch},
            {"flops_complete", r.flops_complete},
            {"activation_bytes_per_example", r.activation_bytes_per_example},
            {"activation_bytes", r.activation_bytes}}},
          {"diagnostics", diags}};
}

std::string inspect_project_report(const ProjectSpec& project, int64_t batch) {
  ProjectInspection r = inspect_project(project, batch);
  std::vector<std::vector<std::string>> cells = {
      {"id", "type", "output", "params", "FLOPs/example", "activations/example"}};
  for (const InspectRow& row : r.rows)
    cells.push_back({row.id, row.type, shapes_str(row), with_commas(row.params),
                     row.flops >= 0 ? with_commas(row.flops) : "?",
                     row.shape_known ? human_bytes(row.activation_bytes) : "?"});
  cells.push_back({"total", "", "", with_commas(r.params),
                   with_commas(r.flops) + (r.flops_complete ? "" : "+"),
                   human_bytes(r.activation_bytes_per_example)});
  std::string out = std::to_string(r.rows.size()) + " nodes, batch " + std::to_string(batch) +
                    ". FLOPs: forward, per example, a multiply-add counted as 2.\n\n";
  out += table(cells, {false, false, false, true, true, true});
  out += "\nparameters   " + with_commas(r.params) + " trainable";
  if (r.buffers) out += " + " + with_commas(r.buffers) + " in buffers";
  out += ", " + human_bytes(r.parameter_bytes) + " as float32\n";
  out += "FLOPs        " + human_flops(double(r.flops)) + " per example, " +
         human_flops(double(r.flops) * double(batch)) + " per batch of " + std::to_string(batch) +
         " (forward" + (r.flops_complete ? "" : "; some nodes unknown") + ")\n";
  out += "activations  " + human_bytes(r.activation_bytes_per_example) + " per example, " +
         human_bytes(r.activation_bytes) + " at batch " + std::to_string(batch) +
         " (every node's outputs)\n";
  if (!r.diagnostics.empty()) out += "\n" + format_diagnostics(r.diagnostics) + "\n";
  return out;
}

json inspect_checkpoint_json(const std::string& path) {
  Checkpoint c = load_checkpoint(path);  // throws ng::Error naming the path
  json j;
  j["path"] = path;
  j["format_version"] = checkpoint_format_version(path);
  j["app_version"] = c.app_version;
  j["created"] = c.created;
  j["epoch"] = c.training.epoch;
  j["step"] = c.training.step;
  j["rng"] = {{"seed", c.training.rng_seed}, {"offset", c.training.rng_offset}};
  j["best_metric"] = {{"name", c.training.best_metric_name},
                      {"value", real_or_null(c.training.best_metric)},
                      {"epoch", c.training.best_epoch}};
  try {
    json g = json::parse(c.graph_json);
    j["graph"] = {{"nodes", g.value("nodes", json::array()).size()},
                  {"edges", g.value("edges", json::array()).size()}};
  } catch (const json::exception&) {
    j["graph"] = nullptr;  // not JSON: the report says so
  }
  auto tensors = [](const std::vector<NamedTensor>& ts) {
    json a = json::array();
    for (const NamedTensor& t : ts)
      a.push_back({{"name", t.node + "/" + t.name},
                   {"shape", t.tensor.shape()},
                   {"count", t.tensor.numel()},
                   {"dtype", dtype_name(t.tensor.dtype())}});
    return a;
  };
  j["weights"] = tensors(c.weights);
  j["buffers"] = tensors(c.buffers);
  std::set<std::string> state_names;
  for (const OptimizerParamState& s : c.optimizer.params)
    for (const auto& [name, t] : s.tensors) state_names.insert(name);
  json hyper = json::object();
  for (const auto& [k, v] : c.optimizer.hyper) hyper[k] = real_or_null(v);
  j["optimizer"] = {{"type", c.optimizer.type},
                    {"hyper", hyper},
                    {"state_params", c.optimizer.params.size()},
                    {"state_names", state_names}};
  json history = json::object();
  for (const auto& [name, series] : c.training.history)
    history[name] = {{"length", series.size()},
                     {"last", series.empty() ? json(nullptr) : real_or_null(series.back())}};
  j["history"] = history;
  return j;
}

std::string inspect_checkpoint_report(const std::string& path) {
  json j = inspect_checkpoint_json(path);
  std::string out = "checkpoint " + path + "\n";
  int64_t fv = j["format_version"].get<int64_t>();
  out += "  format version  " + (fv >= 0 ? std::to_string(fv) : std::string("?")) + "\n";
  out += "  written by      Neurograph " + j["app_version"].get<std::string>() + "\n";
  out += "  created         " + j["created"].get<std::string>() + "\n";
  out += "  epoch           " + std::to_string(j["epoch"].get<int64_t>()) + " (completed), step " +
         std::to_string(j["step"].get<int64_t>()) + "\n";
  const json& best = j["best_metric"];
  if (best["name"].get<std::string>().empty() || best["value"].is_null())
    out += "  best metric     none\n";
  else
    out += "  best metric     " + best["name"].get<std::string>() + " = " +
           number(best["value"].get<double>()) + " (epoch " +
           std::to_string(best["epoch"].get<int64_t>()) + ")\n";
  if (j["graph"].is_null())
    out += "  graph           not readable as JSON\n";
  else
    out += "  graph           " + std::to_string(j["graph"]["nodes"].get<size_t>()) + " nodes, " +
           std::to_string(j["graph"]["edges"].get<size_t>()) + " edges\n";

  auto tensor_table = [&](const char* title, const json& ts) {
    int64_t total = 0;
    for (const json& t : ts) total += t["count"].get<int64_t>();
    out += std::string("\n") + title + ": " + std::to_string(ts.size()) + " tensors, " +
           with_commas(total) + " values\n";
    if (ts.empty()) return;
    std::vector<std::vector<std::string>> cells = {{"name", "shape", "count", "dtype"}};
    for (const json& t : ts)
      cells.push_back({t["name"].get<std::string>(), shape_str(t["shape"].get<Shape>()),
                       with_commas(t["count"].get<int64_t>()), t["dtype"].get<std::string>()});
    out += indent(table(cells, {false, false, true, false}));
  };
  tensor_table("weights", j["weights"]);
  tensor_table("buffers", j["buffers"]);

  const json& opt = j["optimizer"];
  out += "\noptimizer: ";
  if (opt["type"].get<std::string>().empty()) {
    out += "none saved\n";
  } else {
    out += opt["type"].get<std::string>() + "\n";
    std::string hp;
    for (auto it = opt["hyper"].begin(); it != opt["hyper"].end(); ++it)
      hp += (hp.empty() ? "" : ", ") + it.key() + " = " +
            (it->is_null() ? std::string("nan") : number(it->get<double>()));
    out += "  hyper-parameters  " + (hp.empty() ? std::string("none") : hp) + "\n";
    std::string names;
    for (const json& n : opt["state_names"])
      names += (names.empty() ? "" : ", ") + n.get<std::string>();
    out += "  state             " + std::to_string(opt["state_params"].get<size_t>()) +
           " parameters" + (names.empty() ? "" : " (" + names + ")") + "\n";
  }

  out += "\nhistory:";
  if (j["history"].empty()) {
    out += " none\n";
  } else {
    out += "\n";
    std::vector<std::vector<std::string>> cells = {{"series", "length", "last"}};
    for (auto it = j["history"].begin(); it != j["history"].end(); ++it) {
      size_t n = (*it)["length"].get<size_t>();
      const json& last = (*it)["last"];
      cells.push_back({it.key(), std::to_string(n),
                       n == 0           ? "-"
                       : last.is_null() ? "nan"
                                        : number(last.get<double>())});
    }
    out += indent(table(cells, {false, true, true}));
  }
  return out;
}

}  // namespace ng
