// Project files (*.ngraph): reading with every problem reported, validation of the recipe
// against the allowed values, and the canonical, atomic writer. docs/project-format.md lists
// every field.
#include "engine/io/project.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "engine/graph/validate.h"

namespace ng {

using nlohmann::json;
namespace fs = std::filesystem;

const std::vector<std::string>& synthetic_generators() {
  static const std::vector<std::string> k = {"spiral", "circles", "moons", "xor", "blobs", "sine"};
  return k;
}

namespace {

const std::vector<std::string>& dataset_kinds() {
  static const std::vector<std::string> k = {"mnist", "idx",          "cifar10",
                                             "csv",   "image_folder", "synthetic"};
  return k;
}
const std::vector<std::string>& dataset_tasks() {
  static const std::vector<std::string> k = {"classification", "regression"};
  return k;
}
}  // namespace

bool OptimizerField::used_by(const std::string& type) const {
  auto lower = [](std::string s) {
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string t = lower(type);
  for (const std::string& k : types)
    if (lower(k) == t) return true;
  return false;
}

const std::vector<OptimizerField>& optimizer_fields() {
  using O = OptimizerSpec;
  static const std::vector<OptimizerField> k = {
      {"lr", &O::lr, nullptr, {"SGD", "Adam", "AdamW", "RMSprop"}},
      {"momentum", &O::momentum, nullptr, {"SGD", "RMSprop"}},
      {"dampening", &O::dampening, nullptr, {"SGD"}},
      {"nesterov", nullptr, &O::nesterov, {"SGD"}},
      {"weight_decay", &O::weight_decay, nullptr, {"SGD", "Adam", "AdamW", "RMSprop"}},
      {"beta1", &O::beta1, nullptr, {"Adam", "AdamW"}},
      {"beta2", &O::beta2, nullptr, {"Adam", "AdamW"}},
      {"eps", &O::eps, nullptr, {"Adam", "AdamW", "RMSprop"}},
      {"alpha", &O::alpha, nullptr, {"RMSprop"}},
      {"centered", nullptr, &O::centered, {"RMSprop"}},
  };
  return k;
}

namespace {

const std::vector<std::string>& optimizer_types() {
  static const std::vector<std::string> k = {"SGD", "Adam", "AdamW", "RMSprop"};
  return k;
}
const std::vector<std::string>& schedule_types() {
  static const std::vector<std::string> k = {"constant", "step", "exponential", "cosine",
                                             "one_cycle"};
  return k;
}
const std::vector<std::string>& devices() {
  static const std::vector<std::string> k = {"auto", "cpu", "cuda"};
  return k;
}
const std::vector<std::string>& precisions() {
  static const std::vector<std::string> k = {"float32", "bf16"};
  return k;
}
const std::vector<std::string>& monitors() {
  static const std::vector<std::string> k = {"val_accuracy", "val_loss", "train_accuracy",
                                             "train_loss"};
  return k;
}

bool one_of(const std::string& v, const std::vector<std::string>& allowed) {
  return std::find(allowed.begin(), allowed.end(), v) != allowed.end();
}

// "a, b, c"
std::string join(const std::vector<std::string>& xs) {
  std::string r;
  for (const std::string& x : xs) r += (r.empty() ? "" : ", ") + x;
  return r;
}

// "\"a\", \"b\""
std::string quoted_list(const std::vector<std::string>& xs) {
  std::string r;
  for (const std::string& x : xs) r += (r.empty() ? "\"" : ", \"") + x + "\"";
  return r;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// " (did you mean 'batch_size'?)" for a near miss (a few edits, ignoring case, or one name
// inside the other: "accuracy" -> "val_accuracy"), else "".
std::string suggestion(const std::string& key, const std::vector<std::string>& known) {
  std::string best, k0 = lower(key);
  size_t best_d = std::max<size_t>(2, key.size() / 3) + 1;
  for (const std::string& k : known) {
    std::string k1 = lower(k);
    size_t d = edit_distance(k0, k1);
    if (k0.size() >= 3 && (k1.find(k0) != std::string::npos || k0.find(k1) != std::string::npos))
      d = std::min<size_t>(d, 1);
    if (d < best_d) best_d = d, best = k;
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

// A value as it appears in the file, shortened for messages.
std::string shown(const json& v) {
  std::string s = v.dump();
  return s.size() > 40 ? s.substr(0, 37) + "..." : s;
}

std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

// NOTE [Project diagnostics]
// Problems outside the graph sit on node_id "" and the dotted path of the field
// ("training.optimizer.lr"); their message starts with that path. Graph problems keep
// validate()'s node id and field and name the layer. Nothing stops at the first problem.
struct Problems {
  std::vector<Diagnostic>& out;
  void error(const std::string& node, const std::string& field, const std::string& msg) {
    out.push_back({Severity::Error, node, field, msg});
  }
  // A problem with a field outside the graph: "<path>: <what>".
  void field(const std::string& path, const std::string& what) {
    error("", path, path + ": " + what);
  }
};

// Reads the fields of one section (a JSON object) into a struct, recording every wrong type and
// every field the section does not have; a field left out keeps its default.
class SectionReader {
 public:
  SectionReader(const json* j, std::string path, Problems& p)
      : j_(j), path_(std::move(path)), p_(p) {
    if (j_ && !j_->is_object()) {
      p_.field(path_, std::string("must be an object, got ") + j_->type_name() + " " + shown(*j_));
      j_ = nullptr;
    }
  }

  void read(const char* key, std::string& v) {
    if (const json* x = get(key)) {
      if (x->is_string())
        v = x->get<std::string>();
      else
        wrong(key, "a string", *x);
    }
  }
  void read(const char* key, int64_t& v) {
    if (const json* x = get(key)) {
      if (x->is_number_integer() &&
          (!x->is_number_unsigned() || x->get<uint64_t>() <= uint64_t(INT64_MAX)))
        v = x->get<int64_t>();
      else
        wrong(key, "an integer", *x);
    }
  }
  void read(const char* key, uint64_t& v) {
    if (const json* x = get(key)) {
      if (x->is_number_unsigned() || (x->is_number_integer() && x->get<int64_t>() >= 0))
        v = x->get<uint64_t>();
      else
        wrong(key, "an integer >= 0", *x);
    }
  }
  void read(const char* key, double& v) {
    if (const json* x = get(key)) {
      if (x->is_number())
        v = x->get<double>();
      else
        wrong(key, "a number", *x);
    }
  }
  void read(const char* key, bool& v) {
    if (const json* x = get(key)) {
      if (x->is_boolean())
        v = x->get<bool>();
      else
        wrong(key, "true or false", *x);
    }
  }
  void read(const char* key, std::vector<int64_t>& v) {
    if (const json* x = get(key)) {
      bool ok = x->is_array();
      for (size_t i = 0; ok && i < x->size(); ++i) ok = (*x)[i].is_number_integer();
      if (ok)
        v = x->get<std::vector<int64_t>>();
      else
        wrong(key, "a list of integers", *x);
    }
  }
  // An object kept as given.
  void read_object(const char* key, json& v) {
    if (const json* x = get(key)) {
      if (x->is_object())
        v = *x;
      else
        wrong(key, "an object", *x);
    }
  }
  // A nested section: nullptr when absent (its reader then keeps every default).
  const json* section(const char* key) { return get(key); }
  std::string path(const char* key) const { return path_ + "." + key; }

  // Reports the fields that were never asked for.
  void finish() {
    if (!j_) return;
    for (auto it = j_->begin(); it != j_->end(); ++it)
      if (!one_of(it.key(), known_))
        p_.field(path_ + "." + it.key(), "unknown field; " + path_ + " has " +
                                             join(sorted_known()) + suggestion(it.key(), known_));
  }

 private:
  const json* j_;
  std::string path_;
  Problems& p_;
  std::vector<std::string> known_;

  const json* get(const char* key) {
    known_.push_back(key);
    if (!j_) return nullptr;
    auto it = j_->find(key);
    return it == j_->end() ? nullptr : &*it;
  }
  void wrong(const char* key, const char* expected, const json& got) {
    p_.field(path(key), std::string("must be ") + expected + ", got " + shown(got));
  }
  std::vector<std::string> sorted_known() const {
    std::vector<std::string> k = known_;
    std::sort(k.begin(), k.end());
    return k;
  }
};

// --- reading the sections --------------------------------------------------------------------

DatasetSpec read_dataset(const json* j, Problems& p) {
  DatasetSpec d;
  SectionReader r(j, "dataset", p);
  r.read("kind", d.kind);
  r.read("path", d.path);
  r.read("generator", d.generator);
  r.read("size", d.size);
  r.read("noise", d.noise);
  r.read("classes", d.classes);
  r.read("seed", d.seed);
  r.read("label_column", d.label_column);
  r.read("task", d.task);
  r.read("image_size", d.image_size);
  r.read("channels", d.channels);
  r.read("val_fraction", d.val_fraction);
  r.read("normalize", d.normalize);
  r.read("augment_flip", d.augment_flip);
  r.read("augment_crop_padding", d.augment_crop_padding);
  r.read_object("extra", d.extra);
  r.finish();
  return d;
}

OptimizerSpec read_optimizer(const json* j, Problems& p) {
  OptimizerSpec o;
  SectionReader r(j, "training.optimizer", p);
  r.read("type", o.type);
  for (const OptimizerField& f : optimizer_fields()) {
    if (f.number)
      r.read(f.name, o.*f.number);
    else
      r.read(f.name, o.*f.flag);
  }
  r.finish();
  return o;
}

ScheduleSpec read_schedule(const json* j, Problems& p) {
  ScheduleSpec s;
  SectionReader r(j, "training.schedule", p);
  r.read("type", s.type);
  r.read("step_size", s.step_size);
  r.read("gamma", s.gamma);
  r.read("eta_min", s.eta_min);
  r.read("max_lr", s.max_lr);
  r.read("pct_start", s.pct_start);
  r.read("warmup_steps", s.warmup_steps);
  r.read("warmup_start_factor", s.warmup_start_factor);
  r.finish();
  return s;
}

CheckpointPolicy read_checkpoint_policy(const json* j, Problems& p) {
  CheckpointPolicy c;
  SectionReader r(j, "training.checkpoint", p);
  r.read("every_epoch", c.every_epoch);
  r.read("best", c.best);
  r.read("every_minutes", c.every_minutes);
  r.read("monitor", c.monitor);
  r.finish();
  return c;
}

TrainingSpec read_training(const json* j, Problems& p) {
  TrainingSpec t;
  SectionReader r(j, "training", p);
  t.optimizer = read_optimizer(r.section("optimizer"), p);
  t.schedule = read_schedule(r.section("schedule"), p);
  r.read("batch_size", t.batch_size);
  r.read("epochs", t.epochs);
  r.read("device", t.device);
  r.read("precision", t.precision);
  r.read("seed", t.seed);
  r.read("clip_grad_norm", t.clip_grad_norm);
  r.read("early_stopping_patience", t.early_stopping_patience);
  r.read("stats_every_steps", t.stats_every_steps);
  t.checkpoint = read_checkpoint_policy(r.section("checkpoint"), p);
  r.finish();
  return t;
}

// The "graph" object, read leniently so that every structural problem is reported (the rules
// are GraphSpec::from_json's): a node without an id string is dropped; a node with a bad type,
// params or position is kept (type "" / {} / [0, 0]) so that its edges still resolve. Nodes
// whose type could not be read are added to `untyped` (their "unknown type ''" diagnostic from
// validation would repeat ours).
GraphSpec read_graph(const json& j, Problems& p, std::set<std::string>& untyped) {
  GraphSpec g;
  if (!j.is_object()) {
    p.field("graph",
            std::string("must be an object with \"nodes\" and \"edges\", got ") + j.type_name());
    return g;
  }
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!one_of(it.key(), {"nodes", "edges", "blocks"}))
      p.field("graph." + it.key(), "unknown field; graph has blocks, edges, nodes" +
                                       suggestion(it.key(), {"nodes", "edges", "blocks"}));
  if (j.contains("nodes") && !j["nodes"].is_array())
    p.field("graph.nodes", std::string("must be a list of nodes, got ") + j["nodes"].type_name());
  else if (j.contains("nodes"))
    for (size_t i = 0; i < j["nodes"].size(); ++i) {
      const json& n = j["nodes"][i];
      std::string at = "graph.nodes[" + std::to_string(i) + "]";
      if (!n.is_object()) {
        p.field(at, "a node must be an object {\"id\", \"type\", \"params\", \"position\"}, got " +
                        shown(n));
        continue;
      }
      if (!n.contains("id") || !n["id"].is_string()) {
        std::string type = n.contains("type") && n["type"].is_string()
                               ? " (" + n["type"].get<std::string>() + ")"
                               : "";
        p.field(at + ".id", "node " + std::to_string(i) + type + " needs an \"id\" string, got " +
                                (n.contains("id") ? shown(n["id"]) : std::string("nothing")));
        continue;
      }
      NodeSpec node;
      node.id = n["id"].get<std::string>();
      std::string who = "graph: node '" + node.id + "'";
      if (n.contains("type") && n["type"].is_string()) {
        node.type = n["type"].get<std::string>();
      } else {
        p.error(node.id, "type",
                who + ": field 'type' must be a string (a layer type such as \"Linear\"), got " +
                    (n.contains("type") ? shown(n["type"]) : std::string("nothing")));
        untyped.insert(node.id);
      }
      if (n.contains("params") && !n["params"].is_null()) {
        if (n["params"].is_object())
          node.params = n["params"];
        else
          p.error(node.id, "params",
                  who + ": field 'params' must be an object, got " + shown(n["params"]));
      }
      if (n.contains("position") && !n["position"].is_null()) {
        const json& pos = n["position"];
        if (pos.is_array() && pos.size() == 2 && pos[0].is_number() && pos[1].is_number())
          node.position = {pos[0].get<double>(), pos[1].get<double>()};
        else
          p.error(node.id, "position",
                  who + ": field 'position' must be [x, y], got " + shown(pos));
      }
      for (auto it = n.begin(); it != n.end(); ++it)
        if (!one_of(it.key(), {"id", "type", "params", "position"}))
          p.error(node.id, it.key(),
                  who + ": unknown field '" + it.key() +
                      "' (a node has id, type, params and position)" +
                      suggestion(it.key(), {"id", "type", "params", "position"}));
      g.nodes.push_back(std::move(node));
    }
  if (j.contains("edges") && !j["edges"].is_array())
    p.field("graph.edges", std::string("must be a list of edges, got ") + j["edges"].type_name());
  else if (j.contains("edges"))
    for (size_t k = 0; k < j["edges"].size(); ++k) {
      const json& e = j["edges"][k];
      std::string field = "edges[" + std::to_string(k) + "]";
      std::string edge = "graph: edge " + std::to_string(k);
      if (!e.is_object()) {
        p.error("", field, edge + " must be an object {\"from\", \"to\"}, got " + shown(e));
        continue;
      }
      // Placed on the target node when it can be read (as validate() does).
      std::string at;
      for (const char* end : {"to", "from"})
        if (at.empty() && e.contains(end) && e[end].is_string())
          at = PortRef::parse(e[end].get<std::string>()).node;
      bool ok = true;
      for (const char* end : {"from", "to"})
        if (!e.contains(end) || !e[end].is_string() || e[end].get<std::string>().empty()) {
          p.error(at, field,
                  edge + ": field '" + end +
                      "' must be a string \"node:port\" (or \"node\"), got " +
                      (e.contains(end) ? shown(e[end]) : std::string("nothing")));
          ok = false;
        }
      for (auto it = e.begin(); it != e.end(); ++it)
        if (!one_of(it.key(), {"from", "to"}))
          p.error(at, field, edge + ": unknown field '" + it.key() + "' (an edge has from and to)");
      if (ok)
        g.edges.push_back({PortRef::parse(e["from"].get<std::string>()),
                           PortRef::parse(e["to"].get<std::string>())});
    }
  if (j.contains("blocks") && !j["blocks"].is_null()) {
    if (j["blocks"].is_array())
      g.blocks = j["blocks"];
    else
      p.field("graph.blocks", std::string("must be a list, got ") + j["blocks"].type_name());
  }
  return g;
}

// --- value checks ----------------------------------------------------------------------------

void check_min(Problems& p, const std::string& path, double v, double lo) {
  if (!(v >= lo && std::isfinite(v))) p.field(path, "must be >= " + num(lo) + ", got " + num(v));
}
void check_positive(Problems& p, const std::string& path, double v) {
  if (!(v > 0 && std::isfinite(v))) p.field(path, "must be > 0, got " + num(v));
}
// [lo, hi) or [lo, hi].
void check_range(Problems& p, const std::string& path, double v, double lo, double hi,
                 bool hi_inclusive) {
  bool ok = v >= lo && (hi_inclusive ? v <= hi : v < hi);
  if (!ok)
    p.field(path, "must be in [" + num(lo) + ", " + num(hi) + (hi_inclusive ? "]" : ")") +
                      ", got " + num(v));
}
void check_min_int(Problems& p, const std::string& path, int64_t v, int64_t lo) {
  if (v < lo) p.field(path, "must be >= " + std::to_string(lo) + ", got " + std::to_string(v));
}
void check_choice(Problems& p, const std::string& path, const std::string& v,
                  const std::vector<std::string>& allowed, const std::string& what) {
  if (!one_of(v, allowed))
    p.field(path, "unknown " + what + " \"" + v + "\"; use one of " + quoted_list(allowed) +
                      suggestion(v, allowed));
}

void check_dataset(const DatasetSpec& d, Problems& p) {
  check_choice(p, "dataset.kind", d.kind, dataset_kinds(), "dataset kind");
  // (mnist without a path: the bundled datasets/mnist, looked for upwards from the project.)
  if (d.kind != "synthetic" && d.kind != "mnist" && one_of(d.kind, dataset_kinds()) &&
      d.path.empty())
    p.field("dataset.path", "a dataset of kind \"" + d.kind +
                                "\" needs a path (relative to the project file's folder, or "
                                "absolute)");
  if (d.kind == "csv" && d.label_column.empty())
    p.field("dataset.label_column",
            "a dataset of kind \"csv\" needs label_column, the name of the column holding the "
            "label");
  check_choice(p, "dataset.generator", d.generator, synthetic_generators(), "generator");
  check_min_int(p, "dataset.size", d.size, 1);
  check_min(p, "dataset.noise", d.noise, 0.0);
  check_min_int(p, "dataset.classes", d.classes, 2);
  check_choice(p, "dataset.task", d.task, dataset_tasks(), "task");
  if (!d.image_size.empty() &&
      (d.image_size.size() != 2 || d.image_size[0] < 1 || d.image_size[1] < 1)) {
    std::string s;
    for (int64_t v : d.image_size) s += (s.empty() ? "" : ", ") + std::to_string(v);
    p.field("dataset.image_size",
            "must be [height, width] with both >= 1 (or [] to keep each image's size), got [" + s +
                "]");
  }
  if (d.channels != 0 && d.channels != 1 && d.channels != 3)
    p.field("dataset.channels",
            "must be 0 (as stored), 1 (grey) or 3 (colour), got " + std::to_string(d.channels));
  check_range(p, "dataset.val_fraction", d.val_fraction, 0.0, 1.0, false);
  check_min_int(p, "dataset.augment_crop_padding", d.augment_crop_padding, 0);
}

void check_training(const TrainingSpec& t, Problems& p) {
  const OptimizerSpec& o = t.optimizer;
  check_choice(p, "training.optimizer.type", o.type, optimizer_types(), "optimizer type");
  check_positive(p, "training.optimizer.lr", o.lr);
  check_range(p, "training.optimizer.momentum", o.momentum, 0.0, 1.0, false);
  check_range(p, "training.optimizer.dampening", o.dampening, 0.0, 1.0, true);
  check_min(p, "training.optimizer.weight_decay", o.weight_decay, 0.0);
  check_range(p, "training.optimizer.beta1", o.beta1, 0.0, 1.0, false);
  check_range(p, "training.optimizer.beta2", o.beta2, 0.0, 1.0, false);
  check_min(p, "training.optimizer.eps", o.eps, 0.0);
  check_range(p, "training.optimizer.alpha", o.alpha, 0.0, 1.0, false);
  if (o.type == "SGD" && o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
    p.field("training.optimizer.nesterov",
            "Nesterov momentum needs momentum > 0 and dampening 0, got momentum " +
                num(o.momentum) + " and dampening " + num(o.dampening));

  const ScheduleSpec& s = t.schedule;
  check_choice(p, "training.schedule.type", s.type, schedule_types(), "schedule type");
  check_min_int(p, "training.schedule.step_size", s.step_size, 1);
  check_positive(p, "training.schedule.gamma", s.gamma);
  check_min(p, "training.schedule.eta_min", s.eta_min, 0.0);
  check_positive(p, "training.schedule.max_lr", s.max_lr);
  check_range(p, "training.schedule.pct_start", s.pct_start, 0.0, 1.0, true);
  check_min_int(p, "training.schedule.warmup_steps", s.warmup_steps, 0);
  if (!(s.warmup_start_factor > 0.0 && s.warmup_start_factor <= 1.0))
    p.field("training.schedule.warmup_start_factor",
            "must be in (0, 1], got " + num(s.warmup_start_factor));

  check_min_int(p, "training.batch_size", t.batch_size, 1);
  check_min_int(p, "training.epochs", t.epochs, 1);
  check_choice(p, "training.device", t.device, devices(), "device");
  check_choice(p, "training.precision", t.precision, precisions(), "precision");
  if (t.precision == "bf16" && t.device == "cpu")
    p.out.push_back({Severity::Warning, "", "training.precision",
                     "training.precision: \"bf16\" mixed precision runs on a GPU only, and "
                     "training.device is \"cpu\": training there is refused; use \"float32\", "
                     "or device \"cuda\" or \"auto\""});
  check_min(p, "training.clip_grad_norm", t.clip_grad_norm, 0.0);
  check_min_int(p, "training.early_stopping_patience", t.early_stopping_patience, 0);
  check_min_int(p, "training.stats_every_steps", t.stats_every_steps, 0);

  check_min(p, "training.checkpoint.every_minutes", t.checkpoint.every_minutes, 0.0);
  check_choice(p, "training.checkpoint.monitor", t.checkpoint.monitor, monitors(), "metric");
}

// --- errors ----------------------------------------------------------------------------------

// "<source>: <message>" per error, one per line.
[[noreturn]] void throw_project_error(const std::string& source, std::vector<Diagnostic> ds) {
  std::string msg;
  for (const Diagnostic& d : ds)
    if (d.severity == Severity::Error) msg += (msg.empty() ? "" : "\n") + source + ": " + d.message;
  throw ProjectError(msg, std::move(ds));
}

[[noreturn]] void refuse(const std::string& source, const std::string& field,
                         const std::string& message) {
  throw_project_error(source, {{Severity::Error, "", field, message}});
}

// Everything up to validation: the header, each section's structure, types and field names.
// `structural` receives those problems; the returned spec has defaults where a field was bad.
ProjectSpec parse_project(const json& j, const std::string& source,
                          std::vector<Diagnostic>& structural, std::set<std::string>& untyped) {
  if (!j.is_object())
    refuse(source, "format",
           std::string("not a Neurograph project: expected a JSON object with \"format\": "
                       "\"neurograph-project\", got ") +
               j.type_name());
  auto fmt = j.find("format");
  if (fmt == j.end()) {
    bool bare_graph = j.contains("nodes") || j.contains("edges");
    refuse(source, "format",
           std::string("not a Neurograph project: it has no \"format\" field (expected "
                       "\"neurograph-project\")") +
               (bare_graph ? "; it looks like a bare graph (nodes and edges): a project wraps it "
                             "as {\"format\": \"neurograph-project\", \"version\": 1, \"graph\": "
                             "...}"
                           : ""));
  }
  if (!fmt->is_string() || fmt->get<std::string>() != "neurograph-project")
    refuse(source, "format",
           "not a Neurograph project: \"format\" is " + shown(*fmt) +
               ", expected \"neurograph-project\"");
  auto ver = j.find("version");
  if (ver == j.end())
    refuse(source, "version",
           "version: missing; this Neurograph reads project format version " +
               std::to_string(kProjectFormatVersion));
  if (!ver->is_number_integer() || ver->get<int64_t>() != kProjectFormatVersion)
    refuse(source, "version",
           "version: project format version " + shown(*ver) +
               " is not understood; this Neurograph reads version " +
               std::to_string(kProjectFormatVersion) +
               (ver->is_number_integer() && ver->get<int64_t>() > kProjectFormatVersion
                    ? " (the file was written by a newer Neurograph; update to open it)"
                    : ""));

  Problems p{structural};
  static const std::vector<std::string> top = {"format",  "version",  "graph",
                                               "dataset", "training", "ui"};
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!one_of(it.key(), top))
      p.field(it.key(), "unknown field; a project has " + join(top) + suggestion(it.key(), top));

  ProjectSpec spec;
  if (auto g = j.find("graph"); g != j.end())
    spec.graph = read_graph(*g, p, untyped);
  else
    p.field("graph", "missing; a project needs a \"graph\" with nodes and edges");
  auto section = [&](const char* key) -> const json* {
    auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
  };
  spec.dataset = read_dataset(section("dataset"), p);
  spec.training = read_training(section("training"), p);
  if (const json* ui = section("ui")) {
    if (ui->is_object())
      spec.ui = *ui;
    else
      p.field("ui", std::string("must be an object, got ") + ui->type_name());
  }
  return spec;
}

ProjectSpec from_json_impl(const json& j, const std::string& source,
                           std::vector<Diagnostic>* lenient) {
  std::vector<Diagnostic> structural;
  std::set<std::string> untyped;
  ProjectSpec spec = parse_project(j, source, structural, untyped);
  std::vector<Diagnostic> checks = validate_project(spec);
  // Drop validation's "unknown layer type ''" for nodes whose type could not be read.
  std::erase_if(checks, [&](const Diagnostic& d) {
    return d.field == "type" && untyped.count(d.node_id) && spec.graph.find(d.node_id) &&
           spec.graph.find(d.node_id)->type.empty();
  });
  std::vector<Diagnostic> all = structural;
  all.insert(all.end(), checks.begin(), checks.end());
  if (has_errors(structural) || (!lenient && has_errors(all)))
    throw_project_error(source, std::move(all));
  if (lenient) *lenient = std::move(all);
  return spec;
}

std::string read_text(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    refuse(path, "", "cannot open the project file: it is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) refuse(path, "", std::string("cannot open the project file: ") + std::strerror(errno));
  std::ostringstream os;
  os << in.rdbuf();
  if (in.bad()) refuse(path, "", "cannot read the project file");
  return os.str();
}

json parse_text(const std::string& text, const std::string& path) {
  try {
    return json::parse(text);
  } catch (const json::parse_error& e) {
    // Line and column of the offending character (e.byte is 1-based; nlohmann counts bytes).
    size_t at = e.byte == 0 ? 0 : std::min<size_t>(e.byte - 1, text.size());
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at; ++i) {
      if (text[i] == '\n')
        ++line, col = 1;
      else
        ++col;
    }
    std::string what = e.what();
    size_t colon = what.find(": ", what.find("parse error"));
    std::string detail = colon == std::string::npos ? what : what.substr(colon + 2);
    std::string msg = "malformed JSON at line " + std::to_string(line) + ", column " +
                      std::to_string(col) + ": " + detail;
    refuse(path, "", msg);
  }
}

}  // namespace

// --- public API ------------------------------------------------------------------------------

std::vector<Diagnostic> validate_project(const ProjectSpec& p) {
  std::vector<Diagnostic> ds = validate(p.graph);
  Problems problems{ds};
  check_dataset(p.dataset, problems);
  check_training(p.training, problems);
  return ds;
}

ProjectSpec project_from_json(const json& j, const std::string& source) {
  return from_json_impl(j, source, nullptr);
}

ProjectSpec project_from_json(const json& j, const std::string& source,
                              std::vector<Diagnostic>& diagnostics) {
  return from_json_impl(j, source, &diagnostics);
}

ProjectSpec load_project(const std::string& path) {
  return project_from_json(parse_text(read_text(path), path), path);
}

ProjectSpec load_project(const std::string& path, std::vector<Diagnostic>& diagnostics) {
  return project_from_json(parse_text(read_text(path), path), path, diagnostics);
}

json project_to_json(const ProjectSpec& p) {
  json graph = p.graph.to_json();
  // Whole-number positions are written as integers ([180, 0], not [180.0, 0.0]); they read
  // back as the same doubles.
  for (json& n : graph["nodes"])
    for (json& v : n["position"])
      if (v.is_number_float()) {
        double x = v.get<double>();
        if (std::isfinite(x) && std::floor(x) == x && std::abs(x) < 1e15 &&
            !(x == 0 && std::signbit(x)))
          v = int64_t(x);
      }
  const DatasetSpec& d = p.dataset;
  json dataset = {{"kind", d.kind},
                  {"path", d.path},
                  {"generator", d.generator},
                  {"size", d.size},
                  {"noise", d.noise},
                  {"classes", d.classes},
                  {"seed", d.seed},
                  {"label_column", d.label_column},
                  {"task", d.task},
                  {"image_size", d.image_size},
                  {"channels", d.channels},
                  {"val_fraction", d.val_fraction},
                  {"normalize", d.normalize},
                  {"augment_flip", d.augment_flip},
                  {"augment_crop_padding", d.augment_crop_padding},
                  {"extra", d.extra.is_null() ? json::object() : d.extra}};
  const TrainingSpec& t = p.training;
  const OptimizerSpec& o = t.optimizer;
  const ScheduleSpec& s = t.schedule;
  const CheckpointPolicy& c = t.checkpoint;
  json optimizer = {{"type", o.type}};
  for (const OptimizerField& f : optimizer_fields()) {
    if (f.number)
      optimizer[f.name] = o.*f.number;
    else
      optimizer[f.name] = o.*f.flag;
  }
  json training = {{"optimizer", optimizer},
                   {"schedule",
                    {{"type", s.type},
                     {"step_size", s.step_size},
                     {"gamma", s.gamma},
                     {"eta_min", s.eta_min},
                     {"max_lr", s.max_lr},
                     {"pct_start", s.pct_start},
                     {"warmup_steps", s.warmup_steps},
                     {"warmup_start_factor", s.warmup_start_factor}}},
                   {"batch_size", t.batch_size},
                   {"epochs", t.epochs},
                   {"device", t.device},
                   {"precision", t.precision},
                   {"seed", t.seed},
                   {"clip_grad_norm", t.clip_grad_norm},
                   {"early_stopping_patience", t.early_stopping_patience},
                   {"stats_every_steps", t.stats_every_steps},
                   {"checkpoint",
                    {{"every_epoch", c.every_epoch},
                     {"best", c.best},
                     {"every_minutes", c.every_minutes},
                     {"monitor", c.monitor}}}};
  return {{"format", "neurograph-project"},
          {"version", kProjectFormatVersion},
          {"graph", graph},
          {"dataset", dataset},
          {"training", training},
          {"ui", p.ui.is_null() ? json::object() : p.ui}};
}

std::string project_to_text(const ProjectSpec& p) {
  // nlohmann::json keeps object keys sorted, so the text is canonical: sorted keys, 2-space
  // indent, one trailing newline.
  try {
    return project_to_json(p).dump(2) + "\n";
  } catch (const json::type_error& e) {
    throw Error(std::string("project: cannot write it as JSON: ") + e.what());
  }
}

namespace {
std::atomic<uint64_t> g_temp_counter{0};

void write_all(int fd, const std::string& text, const std::string& temp, const std::string& path) {
  const char* data = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, data, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0)
      throw Error("project '" + path + "': cannot write '" + temp + "': " + std::strerror(errno));
    data += n;
    left -= size_t(n);
  }
}
}  // namespace

// NOTE [Project atomicity]
// As for checkpoints (NOTE [Checkpoint atomicity] in checkpoint.cpp): the text goes to
// "<path>.<pid>.<n>.tmp" in the same directory, is fsync'ed, then renamed over `path`; any
// failure removes the temporary file and leaves a previous `path` untouched.
void save_project(const ProjectSpec& p, const std::string& path) {
  std::string text;
  try {
    text = project_to_text(p);
  } catch (const Error& e) {
    throw Error("project '" + path + "': " + e.what());
  }
  fs::path target(path);
  fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    throw Error("project '" + path + "': the directory '" + dir.string() + "' does not exist");
  if (fs::is_directory(target, ec)) throw Error("project '" + path + "': the path is a directory");
  std::string temp = path + "." + std::to_string(::getpid()) + "." +
                     std::to_string(g_temp_counter.fetch_add(1)) + ".tmp";
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw Error("project '" + path + "': cannot create '" + temp + "': " + std::strerror(errno));
  try {
    write_all(fd, text, temp, path);
    if (::fsync(fd) != 0)
      throw Error("project '" + path + "': cannot sync '" + temp + "': " + std::strerror(errno));
    int rc = ::close(fd);
    fd = -1;
    if (rc != 0)
      throw Error("project '" + path + "': cannot close '" + temp + "': " + std::strerror(errno));
    if (::rename(temp.c_str(), path.c_str()) != 0)
      throw Error("project '" + path + "': cannot rename '" + temp +
                  "' over it: " + std::strerror(errno));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    fs::remove(temp, ec);
    throw;
  }
  // Make the rename itself durable; some file systems refuse fsync on a directory.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::string resolve_project_path(const std::string& project_file, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute()) return path;
  fs::path dir = fs::path(project_file).parent_path();
  return dir.empty() ? path : (dir / path).lexically_normal().string();
}

}  // namespace ng
