#include "engine/optim/adam.h"

#include "engine/ops/optim.h"

namespace ng {

Adam::Adam(std::vector<Tensor> params, AdamOptions options)
    : Adam("Adam", std::move(params), options, false) {}

Adam::Adam(const char* name, std::vector<Tensor> params, AdamOptions options, bool decoupled)
    : Optimizer(name, std::move(params), options.lr, {"exp_avg", "exp_avg_sq"}),
      opts_(options),
      decoupled_(decoupled) {
  validate(opts_);
}

AdamW::AdamW(std::vector<Tensor> params, AdamWOptions o)
    : Adam("AdamW", std::move(params),
           AdamOptions{.lr = o.lr,
                       .beta1 = o.beta1,
                       .beta2 = o.beta2,
                       .eps = o.eps,
                       .weight_decay = o.weight_decay},
           true) {}

void Adam::validate(const AdamOptions& o) const {
  check_min("learning rate", o.lr, 0.0);
  check_range("beta1", o.beta1, 0.0, 1.0, false);
  check_range("beta2", o.beta2, 0.0, 1.0, false);
  check_min("eps", o.eps, 0.0);
  check_min("weight_decay", o.weight_decay, 0.0);
}

AdamOptions Adam::options() const {
  AdamOptions o = opts_;
  o.lr = lr();
  return o;
}

std::vector<Optimizer::HyperField> Adam::fields(AdamOptions& o) {
  return {{"lr", &o.lr},
          {"beta1", &o.beta1},
          {"beta2", &o.beta2},
          {"eps", &o.eps},
          {"weight_decay", &o.weight_decay}};
}

std::map<std::string, double> Adam::hyperparams() const {
  AdamOptions o = options();
  return fields_to_map(fields(o));
}

void Adam::load_hyperparams(const std::map<std::string, double>& hp) {
  AdamOptions o = options();
  assign_hyperparams(hp, fields(o));
  validate(o);
  opts_ = o;
  set_lr(o.lr);
}

void Adam::update(size_t i, Tensor& param, const Tensor& g) {
  AdamHyper h{.lr = lr(),
              .beta1 = opts_.beta1,
              .beta2 = opts_.beta2,
              .eps = opts_.eps,
              .weight_decay = opts_.weight_decay,
              .decoupled_weight_decay = decoupled_,
              .step = step_count(i),
              .device_scalars = device_scalars(i)};
  adam_step_kernel(param.device())(h, param, g, zero_slot(i, 0), zero_slot(i, 1));
}

}  // namespace ng

namespace ng {

// NOTE [Fused updates]: every parameter in a few launches.
bool Adam::update_all(const std::vector<size_t>& idx, const std::vector<Tensor>& grads) {
  const Tensor& first = params()[idx[0]];
  if (!adam_multi_step_kernel.has(first.device().type)) return false;
  MultiTensorArgs a;
  for (size_t j = 0; j < idx.size(); ++j) {
    const Tensor& p = params()[idx[j]];
    if (p.dtype() != first.dtype() || p.device() != first.device()) return false;
  }
  for (size_t j = 0; j < idx.size(); ++j) {
    const size_t i = idx[j];
    a.params.push_back(params()[i]);
    a.grads.push_back(grads[j]);
    a.slot_a.push_back(zero_slot(i, 0));
    a.slot_b.push_back(zero_slot(i, 1));
    a.device_scalars.push_back(device_scalars(i));
  }
  AdamHyper h{.lr = lr(),
              .beta1 = opts_.beta1,
              .beta2 = opts_.beta2,
              .eps = opts_.eps,
              .weight_decay = opts_.weight_decay,
              .decoupled_weight_decay = decoupled_};
  adam_multi_step_kernel(first.device())(h, a);
  return true;
}

}  // namespace ng
