#include "engine/optim/optimizer.h"

#include <algorithm>
#include <cmath>

#include "engine/autograd/autograd.h"
#include "engine/ops/autocast.h"
#include "engine/ops/cuda/backend.h"
#include "engine/ops/elementwise.h"

namespace ng {

Optimizer::Optimizer(std::string name, std::vector<Tensor> params, double lr,
                     std::vector<std::string> slot_names)
    : name_(std::move(name)), params_(std::move(params)), slot_names_(std::move(slot_names)) {
  set_lr(lr);
  if (params_.empty()) throw ValueError(name_ + ": got an empty parameter list");
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    if (!p.defined()) throw ValueError(detail::concat(name_, ": parameter ", i, " is undefined"));
    if (!is_floating(p.dtype()))
      throw ValueError(detail::concat(name_, ": parameter ", i, " is ", dtype_name(p.dtype()),
                                      ", needs float32 or float64"));
    if (!p.requires_grad() || !p.is_leaf())
      throw ValueError(detail::concat(name_, ": parameter ", i, " of shape ", shape_str(p.shape()),
                                      " is not a leaf tensor that requires grad"));
    if (!p.is_contiguous())
      throw ValueError(detail::concat(name_, ": parameter ", i, " of shape ", shape_str(p.shape()),
                                      " is not contiguous"));
    for (size_t j = 0; j < i; ++j)
      if (params_[j].same(p) ||
          (params_[j].raw_data() == p.raw_data() && params_[j].numel() > 0 && p.numel() > 0))
        throw ValueError(
            detail::concat(name_, ": parameters ", j, " and ", i, " are the same tensor"));
  }
  slots_.assign(params_.size(), std::vector<Tensor>(slot_names_.size()));
  steps_.assign(params_.size(), 0);
  if (params_[0].device().is_cuda())  // NOTE [Device hyper-parameters]
    device_scalars_ =
        Tensor::zeros({int64_t(params_.size()), 2}, DType::Float64, params_[0].device());
}

const double* Optimizer::device_scalars(size_t i) const {
  if (!device_scalars_.defined() || !params_[i].device().is_cuda()) return nullptr;
  return device_scalars_.data<double>() + 2 * i;
}

// {lr, step} of every parameter to device memory, before the update kernels of this step;
// nothing is queued when the values did not change.
void Optimizer::upload_scalars() {
  if (!device_scalars_.defined()) return;
  const bool steps = reads_step_count();
  std::vector<double> v(2 * params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    v[2 * i] = lr_;
    v[2 * i + 1] = steps ? double(steps_[i]) : 0.0;
  }
  if (v == uploaded_) return;
  constexpr size_t kChunk = 256;  // parameters per upload (4 KiB)
  for (size_t b = 0; b < params_.size(); b += kChunk) {
    const size_t e = std::min(params_.size(), b + kChunk);
    cuda_upload_async(device_scalars_.data<double>() + 2 * b, v.data() + 2 * b,
                      (e - b) * 2 * sizeof(double));
  }
  uploaded_ = std::move(v);
}

std::vector<bool> Optimizer::params_with_grad() const {
  std::vector<bool> m(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) m[i] = params_[i].grad().defined();
  return m;
}

void Optimizer::prepare_replay(const std::vector<bool>& mask) {
  NG_CHECK(mask.size() == params_.size(), name_, ": prepare_replay got ", mask.size(),
           " flags for ", params_.size(), " parameters");
  for (size_t i = 0; i < params_.size(); ++i)
    if (mask[i]) ++steps_[i];
  upload_scalars();
}

void Optimizer::set_step_counts(const std::vector<int64_t>& counts) {
  NG_CHECK(counts.size() == params_.size(), name_, ": set_step_counts got ", counts.size(),
           " counts for ", params_.size(), " parameters");
  steps_ = counts;
}

void Optimizer::set_lr(double lr) {
  if (!(lr >= 0.0) || !std::isfinite(lr))
    throw ValueError(detail::concat(name_, ": learning rate must be >= 0 and finite, got ", lr));
  lr_ = lr;
}

void Optimizer::step() {
  autograd::NoGradGuard no_grad;
  std::vector<size_t> idx;
  std::vector<Tensor> grads;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i];
    Tensor g = p.grad();
    if (!g.defined()) continue;
    NG_CHECK_SHAPE(g.shape() == p.shape(), name_, ": gradient of parameter ", i, " has shape ",
                   shape_str(g.shape()), ", the parameter ", shape_str(p.shape()));
    NG_CHECK(g.dtype() == p.dtype() && g.device() == p.device(), name_, ": gradient of parameter ",
             i, " is ", dtype_name(g.dtype()), " on ", g.device().str(), ", the parameter ",
             dtype_name(p.dtype()), " on ", p.device().str());
    if (!g.is_contiguous()) g = g.contiguous();
    autocast_forget(params_[i]);  // its bf16 copy is stale from here on (NOTE [Autocast])
    idx.push_back(i);
    grads.push_back(std::move(g));
  }
  for (size_t i : idx) ++steps_[i];  // counted first: the kernels read this step's values
  if (device_scalars_.defined()) {
    // Inside a capture the step graph writes them before each replay instead.
    if (!cuda_capturing()) upload_scalars();
    if (!idx.empty() && update_all(idx, grads)) return;
  }
  for (size_t j = 0; j < idx.size(); ++j) update(idx[j], params_[idx[j]], grads[j]);
}

void Optimizer::zero_grad() {
  for (Tensor& p : params_) p.zero_grad();
}

int64_t Optimizer::step_count(size_t i) const {
  if (i >= params_.size())
    throw ValueError(detail::concat(name_, ": parameter index ", i, " out of range (",
                                    params_.size(), " parameters)"));
  return steps_[i];
}

Tensor& Optimizer::zero_slot(size_t i, size_t k) {
  Tensor& t = slots_[i][k];
  if (!t.defined()) t = Tensor::zeros_like(params_[i]);
  return t;
}

// NOTE [Optimizer state]
Optimizer::NamedTensors Optimizer::state(size_t i) const {
  NamedTensors out;
  if (step_count(i) == 0) return out;
  out.emplace_back("step", Tensor::full({}, double(steps_[i]), DType::Int64));
  for (size_t k = 0; k < slot_names_.size(); ++k)
    if (slots_[i][k].defined()) out.emplace_back(slot_names_[k], slots_[i][k]);
  return out;
}

void Optimizer::load_state(size_t i, const NamedTensors& s) {
  step_count(i);  // throws when i is out of range
  const Tensor& p = params_[i];
  int64_t step = 0;
  std::vector<Tensor> slots(slot_names_.size());
  for (const auto& [name, t] : s) {
    if (!t.defined())
      throw ValueError(
          detail::concat(name_, ": state '", name, "' of parameter ", i, " is undefined"));
    if (name == "step") {
      double v = t.numel() == 1 ? t.item() : -1.0;
      if (!(v >= 0.0) || v != std::floor(v))
        throw ValueError(detail::concat(name_, ": state 'step' of parameter ", i,
                                        " must be one integer >= 0, got ", t.str()));
      step = int64_t(v);
      continue;
    }
    size_t k = 0;
    while (k < slot_names_.size() && slot_names_[k] != name) ++k;
    if (k == slot_names_.size()) {
      std::string known = "step";
      for (const auto& n : slot_names_) known += ", " + n;
      throw ValueError(detail::concat(name_, ": unknown state '", name, "' for parameter ", i,
                                      " (known: ", known, ")"));
    }
    NG_CHECK_SHAPE(t.shape() == p.shape(), name_, ": state '", name, "' of parameter ", i,
                   " has shape ", shape_str(t.shape()), ", the parameter ", shape_str(p.shape()));
    if (!is_floating(t.dtype()))
      throw ValueError(detail::concat(name_, ": state '", name, "' of parameter ", i, " is ",
                                      dtype_name(t.dtype()), ", needs a floating dtype"));
    Tensor c = Tensor::empty(p.shape(), p.dtype(), p.device());
    copy_(c, t.detach());
    slots[k] = c;
  }
  steps_[i] = step;
  slots_[i] = std::move(slots);
}

void Optimizer::check_min(const char* what, double v, double lo) const {
  if (!(v >= lo) || !std::isfinite(v))
    throw ValueError(detail::concat(name_, ": ", what, " must be >= ", lo, " and finite, got ", v));
}

void Optimizer::check_range(const char* what, double v, double lo, double hi,
                            bool hi_inclusive) const {
  bool ok = v >= lo && (hi_inclusive ? v <= hi : v < hi);
  if (!ok)
    throw ValueError(detail::concat(name_, ": ", what, " must be in [", lo, ", ", hi,
                                    hi_inclusive ? "]" : ")", ", got ", v));
}

std::map<std::string, double> Optimizer::fields_to_map(const std::vector<HyperField>& fields) {
  std::map<std::string, double> m;
  for (const auto& [name, ptr] : fields) {
    if (auto d = std::get_if<double*>(&ptr))
      m[name] = **d;
    else
      m[name] = *std::get<bool*>(ptr) ? 1.0 : 0.0;
  }
  return m;
}

void Optimizer::assign_hyperparams(const std::map<std::string, double>& hp,
                                   const std::vector<HyperField>& fields) const {
  for (const auto& [key, value] : hp) {
    auto it = fields.begin();
    while (it != fields.end() && key != it->first) ++it;
    if (it == fields.end()) {
      std::string known;
      for (const auto& f : fields) known += (known.empty() ? "" : ", ") + std::string(f.first);
      throw ValueError(
          detail::concat(name_, ": unknown hyper-parameter '", key, "' (known: ", known, ")"));
    }
    if (auto d = std::get_if<double*>(&it->second)) {
      **d = value;
    } else {
      if (value != 0.0 && value != 1.0)
        throw ValueError(detail::concat(name_, ": ", key, " must be 0 or 1, got ", value));
      *std::get<bool*>(it->second) = value != 0.0;
    }
  }
}

}  // namespace ng
