#include "engine/nn/model.h"

#include <algorithm>
#include <cstdlib>

#include "engine/autograd/autograd.h"

namespace ng {

Model::Model(Model&&) noexcept = default;
Model& Model::operator=(Model&&) noexcept = default;
Model::~Model() = default;

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

// The initial value of one weight, from its own Philox stream: seed mixed with its name.
Tensor initial_weight(const WeightDef& w, const std::string& qualified, uint64_t seed) {
  Rng rng(splitmix64(seed ^ fnv1a64(qualified)));
  switch (w.init.kind) {
    case WeightInit::Kind::Zeros:
      return Tensor::zeros(w.shape);
    case WeightInit::Kind::Ones:
      return Tensor::ones(w.shape);
    case WeightInit::Kind::Uniform:
      return Tensor::uniform(w.shape, w.init.a, w.init.b, rng);
    case WeightInit::Kind::Normal: {
      Tensor t = Tensor::empty(w.shape);
      rng.fill_normal(t.data<float>(), t.numel(), w.init.a, w.init.b);
      return t;
    }
  }
  return Tensor();
}

}  // namespace

Model Model::compile(const GraphSpec& spec, uint64_t seed, const ValidateOptions& options) {
  Model m;
  m.spec_ = spec;
  m.analysis_ = analyze(spec, options);
  if (!m.analysis_.ok()) {
    std::vector<Diagnostic> errors;
    for (const Diagnostic& d : m.analysis_.diagnostics)
      if (d.severity == Severity::Error) errors.push_back(d);
    throw Error("the graph has " + std::to_string(errors.size()) + " problem" +
                (errors.size() == 1 ? "" : "s") + ":\n" + format_diagnostics(errors));
  }
  m.rng_ = Rng(seed);
  const auto& nodes = m.analysis_.nodes;

  // Slots: every output port of every node, then the labels, then the fed inputs.
  m.first_out_slot_.resize(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    m.first_out_slot_[i] = m.n_out_slots_;
    m.n_out_slots_ += int(nodes[i].def->outputs.size());
  }
  m.labels_slot_ = m.n_out_slots_;
  for (int i : m.analysis_.input_nodes) m.input_ids_.push_back(nodes[size_t(i)].id);
  m.slots_.resize(size_t(m.n_out_slots_) + 1 + m.input_ids_.size());

  for (int i : m.analysis_.order) {
    const NodeInfo& n = nodes[size_t(i)];
    Step s;
    s.node = i;
    if (n.def->category == LayerCategory::Input) {
      auto pos = std::find(m.analysis_.input_nodes.begin(), m.analysis_.input_nodes.end(), i);
      s.in_slots.push_back(m.labels_slot_ + 1 + int(pos - m.analysis_.input_nodes.begin()));
    }
    for (size_t p = 0; p < n.inputs.size(); ++p) {
      if (n.inputs[p].empty()) {
        // NOTE [Free loss target]: an unconnected loss target is the batch's labels.
        s.in_slots.push_back(n.def->is_loss() ? m.labels_slot_ : -1);
        continue;
      }
      for (const PortLink& l : n.inputs[p])
        s.in_slots.push_back(m.first_out_slot_[size_t(l.node)] + l.port);
    }
    s.w_begin = int(m.weights_.size());
    for (const WeightDef& w : n.weights) {
      std::string q = n.id + "/" + w.name;
      Tensor t = initial_weight(w, q, seed);
      if (w.role == WeightRole::Parameter) t.set_requires_grad(true);
      m.weights_.push_back(t);
      m.roles_.push_back(w.role);
    }
    s.w_count = int(m.weights_.size()) - s.w_begin;
    s.out_begin = m.first_out_slot_[size_t(i)];
    s.out_count = int(n.def->outputs.size());
    s.fn = n.def->build(n.def->who(n.id), n.params);
    if (n.def->is_loss() && i == m.analysis_.loss_node) {
      m.loss_id_ = n.id;
      m.loss_slot_ = s.out_begin;
      m.prediction_slot_ = s.in_slots.empty() ? -1 : s.in_slots[0];
    }
    m.scratch_.resize(std::max(m.scratch_.size(), s.in_slots.size()));
    m.steps_.push_back(std::move(s));
  }
  // NOTE [Released activations]: the step after which each node output is read no more (its
  // producer when nothing reads it). The loss and the prediction are kept for the Result.
  std::vector<int> last(size_t(m.n_out_slots_), -1);
  for (size_t k = 0; k < m.steps_.size(); ++k) {
    const Step& s = m.steps_[k];
    for (int o = 0; o < s.out_count; ++o) last[size_t(s.out_begin + o)] = int(k);
    for (int slot : s.in_slots)
      if (slot >= 0 && slot < m.n_out_slots_) last[size_t(slot)] = int(k);
  }
  for (int slot = 0; slot < m.n_out_slots_; ++slot)
    if (last[size_t(slot)] >= 0 && slot != m.loss_slot_ && slot != m.prediction_slot_)
      m.steps_[size_t(last[size_t(slot)])].last_use.push_back(slot);
  // NOTE [Fused ReLU]: a single-output kind that absorbs a ReLU (LayerDef::absorbs_relu), read by
  // one ReLU alone.
  std::vector<int> readers(size_t(m.n_out_slots_), 0), reader(size_t(m.n_out_slots_), -1);
  for (size_t k = 0; k < m.steps_.size(); ++k)
    for (int slot : m.steps_[k].in_slots)
      if (slot >= 0 && slot < m.n_out_slots_) {
        ++readers[size_t(slot)];
        reader[size_t(slot)] = int(k);
      }
  // NG_POOL_RELU_GRAD=0: the max pools leave the ReLU's derivative to the ReLU (for A/B timing).
  const char* prg = std::getenv("NG_POOL_RELU_GRAD");
  const bool pool_relu_grad = !(prg && std::string(prg) == "0");
  for (Step& s : m.steps_) {
    if (!nodes[size_t(s.node)].def->absorbs_relu || s.out_count != 1) continue;
    const int slot = s.out_begin;
    if (readers[size_t(slot)] != 1 || slot == m.loss_slot_ || slot == m.prediction_slot_) continue;
    Step& r = m.steps_[size_t(reader[size_t(slot)])];
    if (nodes[size_t(r.node)].def->name != "ReLU" || r.in_slots.size() != 1) continue;
    s.absorbs_relu = true;
    r.absorbed = true;
    // NOTE [ReLU gradient in the max pool]: a Conv2d's ReLU read by one MaxPool2d alone.
    const int rslot = r.out_begin;
    if (!pool_relu_grad || nodes[size_t(s.node)].def->name != "Conv2d" || r.out_count != 1 ||
        readers[size_t(rslot)] != 1 || rslot == m.loss_slot_ || rslot == m.prediction_slot_)
      continue;
    Step& q = m.steps_[size_t(reader[size_t(rslot)])];
    if (nodes[size_t(q.node)].def->name != "MaxPool2d") continue;
    s.relu_grad_by_reader = true;
    q.masks_relu_grad = true;
  }
  // NOTE [Batch norm into the add] (ops/cuda/norm.cu): a BatchNorm read by one two-input Add
  // alone, an Add that absorbs its ReLU, whose other input is made before the batch norm runs.
  std::vector<int> producer(size_t(m.n_out_slots_), -1);
  for (size_t k = 0; k < m.steps_.size(); ++k)
    for (int o = 0; o < m.steps_[k].out_count; ++o)
      producer[size_t(m.steps_[k].out_begin + o)] = int(k);
  for (size_t k = 0; k < m.steps_.size(); ++k) {
    Step& s = m.steps_[k];
    if (nodes[size_t(s.node)].def->name != "BatchNorm" || s.out_count != 1 || s.absorbs_relu)
      continue;
    const int slot = s.out_begin;
    if (readers[size_t(slot)] != 1 || slot == m.loss_slot_ || slot == m.prediction_slot_) continue;
    Step& a = m.steps_[size_t(reader[size_t(slot)])];
    // (Of two BatchNorms into one Add only the later one can qualify: the earlier one's other
    // input is not made yet. bn_step is checked all the same.)
    if (nodes[size_t(a.node)].def->name != "Add" || !a.absorbs_relu || a.in_slots.size() != 2 ||
        a.bn_step >= 0)
      continue;
    const int other = a.in_slots[0] == slot ? a.in_slots[1] : a.in_slots[0];
    if (other < 0 || other == slot) continue;
    if (other < m.n_out_slots_ && producer[size_t(other)] >= int(k)) continue;  // not made yet
    s.add_skip_slot = other;
    a.bn_step = int(k);
    a.bn_slot = slot;
  }
  if (const char* v = std::getenv("NG_FUSE_RELU"); v && std::string(v) == "0") m.fuse_relu_ = false;
  if (const char* v = std::getenv("NG_BN_ADD_RELU"); v && std::string(v) == "1")
    m.fuse_bn_add_ = true;
  m.refresh_named();
  return m;
}

void Model::refresh_named() {
  params_.clear();
  buffers_.clear();
  for (const Step& s : steps_) {
    const NodeInfo& n = analysis_.nodes[size_t(s.node)];
    for (int k = 0; k < s.w_count; ++k) {
      size_t w = size_t(s.w_begin + k);
      auto entry = std::make_pair(n.id + "/" + n.weights[size_t(k)].name, weights_[w]);
      (roles_[w] == WeightRole::Parameter ? params_ : buffers_).push_back(std::move(entry));
    }
  }
}

int Model::relu_grads_in_pools() const {
  int n = 0;
  for (const Step& s : steps_) n += s.masks_relu_grad ? 1 : 0;
  return n;
}

int Model::bn_add_fusions() const {
  int n = 0;
  for (const Step& s : steps_) n += s.add_skip_slot >= 0 ? 1 : 0;
  return n;
}

int Model::fused_relu_count() const {
  int n = 0;
  for (const Step& s : steps_) n += s.absorbs_relu ? 1 : 0;
  return n;
}

int64_t Model::parameter_count() const {
  int64_t n = 0;
  for (const auto& p : params_) n += p.second.numel();
  return n;
}

void Model::zero_grad() {
  for (auto& p : params_) p.second.zero_grad();
}

void Model::to(Device d) {
  if (d == device_) return;
  autograd::NoGradGuard no_grad;
  for (size_t w = 0; w < weights_.size(); ++w) {
    Tensor t = weights_[w].detach().to(d).detach();
    if (roles_[w] == WeightRole::Parameter) t.set_requires_grad(true);
    weights_[w] = t;
  }
  device_ = d;
  refresh_named();
}

void Model::forward(const std::vector<Tensor>& inputs, const Tensor& labels, Result& r) {
  if (inputs.size() != input_ids_.size()) {
    std::string ids;
    for (const auto& id : input_ids_) ids += (ids.empty() ? "" : ", ") + id;
    throw Error("Model: the graph has " + std::to_string(input_ids_.size()) + " input" +
                (input_ids_.size() == 1 ? "" : "s") + " (" + ids + "), got " +
                std::to_string(inputs.size()) + " tensors");
  }
  auto on_device = [&](const Tensor& t) {
    return !t.defined() || t.device() == device_ ? t : t.to(device_);
  };
  for (Tensor& v : slots_) v = Tensor();
  slots_[size_t(labels_slot_)] = on_device(labels);
  for (size_t k = 0; k < inputs.size(); ++k)
    slots_[size_t(labels_slot_) + 1 + k] = on_device(inputs[k]);

  const bool fuse = fuse_relu_ && !keep_outputs_;  // NOTE [Fused ReLU]
  const bool fuse_bn_add = fuse && fuse_bn_add_;   // NOTE [Batch norm into the add]
  for (Step& s : steps_) {
    // The layer before computed this ReLU, or the batch norm before computed this Add and its
    // ReLU: pass that output on.
    const int pass = fuse && s.absorbed ? s.in_slots[0]
                     : fuse_bn_add && s.bn_step >= 0 && steps_[size_t(s.bn_step)].added ? s.bn_slot
                                                                                        : -1;
    if (pass >= 0) {
      Tensor& in = slots_[size_t(pass)];
      slots_[size_t(s.out_begin)] = in;
      in = Tensor();
      for (int slot : s.last_use) slots_[size_t(slot)] = Tensor();
      continue;
    }
    s.added = false;
    bool runnable = true;
    for (size_t k = 0; k < s.in_slots.size(); ++k) {
      int slot = s.in_slots[k];
      scratch_[k] = slot < 0 ? Tensor() : slots_[size_t(slot)];
      if (slot >= 0 && !scratch_[k].defined()) runnable = false;  // e.g. no labels
    }
    if (!runnable) continue;
    LayerCall call;
    call.inputs = std::span<const Tensor>(scratch_.data(), s.in_slots.size());
    call.weights = std::span<Tensor>(weights_.data() + s.w_begin, size_t(s.w_count));
    call.outputs = std::span<Tensor>(slots_.data() + s.out_begin, size_t(s.out_count));
    call.mode = mode_;
    call.rng = &rng_;
    call.fused_relu = fuse && s.absorbs_relu;
    call.relu_grad_by_reader = fuse && s.relu_grad_by_reader;
    call.masks_relu_grad = fuse && s.masks_relu_grad;
    // A shortcut that could not be made (a step without its inputs) leaves the Add to run, or
    // to be skipped, on its own.
    s.added = fuse_bn_add && s.add_skip_slot >= 0 && slots_[size_t(s.add_skip_slot)].defined();
    call.add_relu_skip = s.added ? &slots_[size_t(s.add_skip_slot)] : nullptr;
    s.fn(call);
    if (!keep_outputs_) {
      for (size_t k = 0; k < s.in_slots.size(); ++k) scratch_[k] = Tensor();
      for (int slot : s.last_use) slots_[size_t(slot)] = Tensor();
    }
  }
  for (size_t k = 0; k < scratch_.size(); ++k) scratch_[k] = Tensor();

  r.loss = loss_slot_ >= 0 ? slots_[size_t(loss_slot_)] : Tensor();
  r.prediction = prediction_slot_ >= 0 ? slots_[size_t(prediction_slot_)] : Tensor();
  if (keep_outputs_) {
    r.outputs.resize(first_out_slot_.size());
    for (size_t i = 0; i < first_out_slot_.size(); ++i)
      r.outputs[i] = slots_[size_t(first_out_slot_[i])];
  } else {
    r.outputs.clear();
  }
  // The slots are not kept: the caller owns the activations (and the autograd graph).
  for (Tensor& v : slots_) v = Tensor();
}

Model::Result Model::forward(const std::vector<Tensor>& inputs, const Tensor& labels) {
  Result r;
  forward(inputs, labels, r);
  return r;
}

Model::Result Model::forward_by_id(const std::map<std::string, Tensor, std::less<>>& inputs,
                                   const Tensor& labels) {
  std::vector<Tensor> ordered;
  for (const std::string& id : input_ids_) {
    auto it = inputs.find(id);
    NG_CHECK(it != inputs.end(), "Model: no tensor given for Input '", id, "'");
    ordered.push_back(it->second);
  }
  for (const auto& [id, t] : inputs) {
    bool known = std::find(input_ids_.begin(), input_ids_.end(), id) != input_ids_.end();
    NG_CHECK(known, "Model: '", id, "' is not an Input node of the graph");
  }
  return forward(ordered, labels);
}

}  // namespace ng
