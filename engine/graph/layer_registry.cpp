#include "engine/graph/layer_registry.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "engine/graph/layers/layers.h"

namespace ng {

using nlohmann::json;

const char* category_name(LayerCategory c) {
  switch (c) {
    case LayerCategory::Input:
      return "Input";
    case LayerCategory::Linear:
      return "Linear";
    case LayerCategory::Convolution:
      return "Convolution";
    case LayerCategory::Pooling:
      return "Pooling";
    case LayerCategory::Normalization:
      return "Normalization";
    case LayerCategory::Activation:
      return "Activation";
    case LayerCategory::Structure:
      return "Structure";
    case LayerCategory::Loss:
      return "Loss";
  }
  return "?";
}

const char* param_type_name(ParamType t) {
  switch (t) {
    case ParamType::Int:
      return "int";
    case ParamType::Float:
      return "float";
    case ParamType::Bool:
      return "bool";
    case ParamType::Enum:
      return "enum";
    case ParamType::IntPair:
      return "int-pair";
    case ParamType::IntList:
      return "int-list";
    case ParamType::String:
      return "string";
  }
  return "?";
}

std::string type_str(const TensorType& t) {
  std::string s = layers::shape_n(t.shape);
  if (t.dtype != DType::Float32) s += std::string(" ") + dtype_name(t.dtype);
  return s;
}

WeightInit WeightInit::torch_default(int64_t fan_in) {
  double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
  return uniform(-bound, bound);
}

// --- InferContext ---

void InferContext::fail(const std::string& field, const std::string& message) const {
  throw NodeShapeError(node_id, field, who + ": " + message);
}

void InferContext::infer_param(const std::string& name, const json& value,
                               const std::string& observed) {
  if (!params.contains(name) || params[name].is_null()) {
    params[name] = value;
    return;
  }
  if (params[name] != value)
    fail("params." + name, observed + ", " + name + " is " + params[name].dump());
}

// --- LayerDef ---

std::string LayerDef::who(std::string_view node_id) const {
  return name + " '" + std::string(node_id) + "'";
}

const ParamDef* LayerDef::find_param(std::string_view n) const {
  for (const ParamDef& p : params)
    if (p.name == n) return &p;
  return nullptr;
}

int LayerDef::input_index(std::string_view port) const {
  for (size_t i = 0; i < inputs.size(); ++i)
    if (inputs[i].name == port) return int(i);
  return -1;
}

int LayerDef::output_index(std::string_view port) const {
  for (size_t i = 0; i < outputs.size(); ++i)
    if (outputs[i].name == port) return int(i);
  return -1;
}

namespace {

bool integral(const json& v) {
  if (v.is_number_integer()) return true;
  if (v.is_number_float()) {
    double d = v.get<double>();
    return std::isfinite(d) && d == std::floor(d) && std::abs(d) < 9e15;
  }
  return false;
}

std::string num_str(double v) {
  if (v == std::floor(v) && std::abs(v) < 9e15) return std::to_string(int64_t(v));
  return layers::py_float(v);
}

std::string join_names(const std::vector<ParamDef>& ps) {
  std::string r;
  for (const ParamDef& p : ps) r += (r.empty() ? "" : ", ") + p.name;
  return r;
}

// Canonicalises `v` for `d`; returns an error text ("" when fine).
std::string check_value(const ParamDef& d, json& v) {
  auto range = [&](double x) -> std::string {
    if (d.min && d.max && (x < *d.min || x > *d.max))
      return "is " + num_str(x) + ", must be between " + num_str(*d.min) + " and " +
             num_str(*d.max);
    if (d.min && x < *d.min) return "is " + num_str(x) + ", must be at least " + num_str(*d.min);
    if (d.max && x > *d.max) return "is " + num_str(x) + ", must be at most " + num_str(*d.max);
    return "";
  };
  switch (d.type) {
    case ParamType::Int:
      if (!integral(v)) return "must be an integer, got " + v.dump();
      v = v.is_number_float() ? int64_t(v.get<double>()) : v.get<int64_t>();
      return range(double(v.get<int64_t>()));
    case ParamType::Float:
      if (!v.is_number()) return "must be a number, got " + v.dump();
      v = v.get<double>();
      if (!std::isfinite(v.get<double>())) return "must be finite, got " + v.dump();
      return range(v.get<double>());
    case ParamType::Bool:
      if (!v.is_boolean()) return "must be true or false, got " + v.dump();
      return "";
    case ParamType::String:
      if (!v.is_string()) return "must be a string, got " + v.dump();
      return "";
    case ParamType::Enum: {
      std::string choices;
      for (const auto& c : d.choices) choices += (choices.empty() ? "" : ", ") + c;
      if (!v.is_string() ||
          std::find(d.choices.begin(), d.choices.end(), v.get<std::string>()) == d.choices.end())
        return "must be one of " + choices + ", got " + v.dump();
      return "";
    }
    case ParamType::IntPair:
    case ParamType::IntList: {
      bool pair = d.type == ParamType::IntPair;
      if (pair && integral(v)) v = json::array({v, v});
      const char* expect = pair ? "an integer or a pair [a, b] of integers"
                                : "a list of integers such as [1, 28, 28]";
      if (!v.is_array() || (pair && v.size() != 2))
        return std::string("must be ") + expect + ", got " + v.dump();
      json canon = json::array();
      for (const json& e : v) {
        if (!integral(e)) return std::string("must be ") + expect + ", got " + v.dump();
        int64_t x = e.is_number_float() ? int64_t(e.get<double>()) : e.get<int64_t>();
        std::string r = range(double(x));
        if (!r.empty()) return "has an element that " + r + " (got " + v.dump() + ")";
        canon.push_back(x);
      }
      v = canon;
      return "";
    }
  }
  return "";
}

}  // namespace

json LayerDef::check_params(const std::string& node_id, const json& given,
                            std::vector<Diagnostic>& issues) const {
  std::string w = who(node_id);
  auto issue = [&](const std::string& param, const std::string& msg) {
    issues.push_back({Severity::Error, node_id, "params." + param, w + ": " + msg});
  };
  json out = json::object();
  if (!given.is_null() && !given.is_object()) {
    issues.push_back({Severity::Error, node_id, "params",
                      w + ": params must be an object, got " + given.dump()});
    return out;
  }
  if (given.is_object())
    for (auto it = given.begin(); it != given.end(); ++it)
      if (!find_param(it.key()))
        issue(it.key(), "unknown parameter '" + it.key() + "'; " + name +
                            (params.empty() ? " has no parameters"
                                            : " has parameters " + join_names(params)));
  for (const ParamDef& d : params) {
    bool set = given.is_object() && given.contains(d.name) && !given[d.name].is_null();
    if (!set) {
      if (d.presence == ParamPresence::Required)
        issue(d.name, "parameter '" + d.name + "' is required (" + d.description + ")");
      else if (d.presence == ParamPresence::Default)
        out[d.name] = d.default_value;
      continue;
    }
    json v = given[d.name];
    std::string err = check_value(d, v);
    if (!err.empty())
      issue(d.name, "parameter '" + d.name + "' " + err);
    else
      out[d.name] = v;
  }
  return out;
}

json LayerDef::resolve_params(const std::string& node_id, const json& given) const {
  std::vector<Diagnostic> issues;
  json p = check_params(node_id, given, issues);
  if (!issues.empty()) throw NodeValueError(node_id, issues[0].field, issues[0].message);
  return p;
}

std::vector<TensorType> LayerDef::infer_shapes(const std::string& node_id, json& p,
                                               std::vector<std::vector<TensorType>> in) const {
  InferContext c{node_id, who(node_id), p, std::move(in)};
  c.inputs.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const PortDef& port = inputs[i];
    size_t n = c.inputs[i].size();
    if (n == 0 && !port.optional)
      c.fail("inputs." + port.name, "input '" + port.name + "' is not connected");
    if (n > 1 && !port.variadic)
      c.fail("inputs." + port.name, "input '" + port.name + "' has " + std::to_string(n) +
                                        " incoming edges; it accepts one");
  }
  std::vector<TensorType> out = infer(c);
  NG_CHECK(out.size() == outputs.size(), "layer registry: ", name, " inferred ", out.size(),
           " outputs for ", outputs.size(), " ports");
  for (const ParamDef& d : params)
    NG_CHECK(d.presence != ParamPresence::Inferred || p.contains(d.name), "layer registry: ", name,
             " did not infer parameter '", d.name, "'");
  return out;
}

std::vector<WeightDef> LayerDef::weight_defs(const json& p) const {
  return weights ? weights(p) : std::vector<WeightDef>{};
}

int64_t LayerDef::parameter_count(const json& p) const {
  int64_t n = 0;
  for (const WeightDef& w : weight_defs(p))
    if (w.role == WeightRole::Parameter) n += ng::numel(w.shape);
  return n;
}

std::string LayerDef::torch_module(const json& p, const std::vector<Shape>& in_shapes) const {
  return torch.module ? torch.module(p, in_shapes) : std::string();
}

std::string LayerDef::torch_call(const json& p, const std::string& module_ref,
                                 const std::vector<std::string>& in) const {
  if (torch.call) return torch.call(p, module_ref, in);
  std::string r = module_ref + "(";
  for (size_t i = 0; i < in.size(); ++i) r += (i ? ", " : "") + in[i];
  return r + ")";
}

// --- LayerRegistry ---

// NOTE [One list of layers]: the kinds below are the only list of layer kinds in the program.
// A new kind is one LayerDef added in engine/graph/layers/; palette, inspector, validation,
// Model, CLI and exporters pick it up from here.
LayerRegistry::LayerRegistry() {
  layers::register_input_and_linear(*this);
  layers::register_convolution(*this);
  layers::register_normalization(*this);
  layers::register_activations(*this);
  layers::register_structure(*this);
  layers::register_losses(*this);
  std::stable_sort(kinds_.begin(), kinds_.end(), [](const LayerDef& a, const LayerDef& b) {
    return int(a.category) < int(b.category);
  });
}

const LayerRegistry& LayerRegistry::instance() {
  static const LayerRegistry r;
  return r;
}

void LayerRegistry::add(LayerDef def) {
  NG_CHECK(!find(def.name), "layer registry: kind '", def.name, "' is defined twice");
  NG_CHECK(def.infer && def.build, "layer registry: kind '", def.name,
           "' needs shape inference and a builder");
  kinds_.push_back(std::move(def));
}

const LayerDef* LayerRegistry::find(std::string_view type) const {
  for (const LayerDef& d : kinds_)
    if (d.name == type) return &d;
  return nullptr;
}

namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                  std::tolower(static_cast<unsigned char>(b[j - 1]));
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

const LayerDef& LayerRegistry::at(std::string_view type, std::string_view node_id) const {
  if (const LayerDef* d = find(type)) return *d;
  std::string msg = "unknown layer type '" + std::string(type) + "'";
  if (!node_id.empty()) msg += " (node '" + std::string(node_id) + "')";
  const LayerDef* best = nullptr;
  size_t best_d = 3;
  for (const LayerDef& d : kinds_) {
    size_t e = edit_distance(type, d.name);
    if (e < best_d) best_d = e, best = &d;
  }
  if (best) msg += "; did you mean '" + best->name + "'?";
  msg += "; known types: ";
  for (size_t i = 0; i < kinds_.size(); ++i) msg += (i ? ", " : "") + kinds_[i].name;
  throw Error(msg);
}

std::vector<std::string> LayerRegistry::names() const {
  std::vector<std::string> r;
  for (const LayerDef& d : kinds_) r.push_back(d.name);
  return r;
}

// --- helpers shared by the kind definitions ---

namespace layers {

std::string py_float(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".eninf") == std::string::npos) s += ".0";
  // Python writes exponents with at least two digits: 1e-05, 1e+20.
  size_t e = s.find('e');
  if (e != std::string::npos) {
    std::string mant = s.substr(0, e), ex = s.substr(e + 1);
    char sign = '+';
    if (!ex.empty() && (ex[0] == '-' || ex[0] == '+')) sign = ex[0], ex = ex.substr(1);
    if (ex.size() < 2) ex = "0" + ex;
    s = mant + "e" + sign + ex;
  }
  return s;
}

std::string py_tuple(const std::vector<int64_t>& v) {
  std::string r = "(";
  for (size_t i = 0; i < v.size(); ++i) r += (i ? ", " : "") + std::to_string(v[i]);
  return r + (v.size() == 1 ? ",)" : ")");
}

PortDef input_port(std::string description) {
  return {"input", std::move(description)};
}
PortDef output_port(std::string description) {
  return {"output", std::move(description)};
}

std::string shape_n(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ", ";
    r += s[i] < 0 ? std::string("N") : std::to_string(s[i]);
  }
  return r + "]";
}

void require_float(const InferContext& c, size_t port) {
  for (const TensorType& t : c.inputs.at(port))
    if (!is_floating(t.dtype))
      c.fail("inputs." + std::string("input"), std::string("expects floating-point values, got ") +
                                                   dtype_name(t.dtype) +
                                                   " (int64 ids only feed an Embedding)");
}

}  // namespace layers
}  // namespace ng
