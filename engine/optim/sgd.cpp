#include "engine/optim/sgd.h"

#include "engine/ops/optim.h"

namespace ng {

SGD::SGD(std::vector<Tensor> params, SgdOptions options)
    : Optimizer("SGD", std::move(params), options.lr, {"momentum_buffer"}), opts_(options) {
  validate(opts_);
}

void SGD::validate(const SgdOptions& o) const {
  check_min("learning rate", o.lr, 0.0);
  check_range("momentum", o.momentum, 0.0, 1.0, false);
  check_range("dampening", o.dampening, 0.0, 1.0, true);
  check_min("weight_decay", o.weight_decay, 0.0);
  if (o.nesterov && (o.momentum <= 0.0 || o.dampening != 0.0))
    throw ValueError(
        detail::concat("SGD: Nesterov momentum needs momentum > 0 and dampening 0, "
                       "got momentum ",
                       o.momentum, " and dampening ", o.dampening));
}

SgdOptions SGD::options() const {
  SgdOptions o = opts_;
  o.lr = lr();
  return o;
}

std::vector<Optimizer::HyperField> SGD::fields(SgdOptions& o) {
  return {{"lr", &o.lr},
          {"momentum", &o.momentum},
          {"dampening", &o.dampening},
          {"weight_decay", &o.weight_decay},
          {"nesterov", &o.nesterov}};
}

std::map<std::string, double> SGD::hyperparams() const {
  SgdOptions o = options();
  return fields_to_map(fields(o));
}

void SGD::load_hyperparams(const std::map<std::string, double>& hp) {
  SgdOptions o = options();
  assign_hyperparams(hp, fields(o));
  validate(o);
  opts_ = o;
  set_lr(o.lr);
}

void SGD::update(size_t i, Tensor& param, const Tensor& g) {
  SgdHyper h{.lr = lr(),
             .momentum = opts_.momentum,
             .dampening = opts_.dampening,
             .weight_decay = opts_.weight_decay,
             .nesterov = opts_.nesterov,
             .device_scalars = device_scalars(i)};
  Tensor& buf = slot(i, 0);
  bool init = false;
  if (opts_.momentum != 0.0 && !buf.defined()) {
    buf = Tensor::empty_like(param);  // NOTE: the kernel sets it to the first gradient
    init = true;
  }
  sgd_step_kernel(param.device())(h, init, param, g, buf);
}

}  // namespace ng

namespace ng {

// NOTE [Fused updates]: every parameter in a few launches, once the momentum buffers exist.
bool SGD::update_all(const std::vector<size_t>& idx, const std::vector<Tensor>& grads) {
  const Tensor& first = params()[idx[0]];
  if (!sgd_multi_step_kernel.has(first.device().type)) return false;
  MultiTensorArgs a;
  for (size_t j = 0; j < idx.size(); ++j) {
    const size_t i = idx[j];
    const Tensor& p = params()[i];
    if (p.dtype() != first.dtype() || p.device() != first.device()) return false;
    const Tensor& buf = slot(i, 0);
    if (opts_.momentum != 0.0 && !buf.defined()) return false;  // the first update sets it
    a.params.push_back(p);
    a.grads.push_back(grads[j]);
    a.slot_a.push_back(buf);
    a.device_scalars.push_back(device_scalars(i));
  }
  SgdHyper h{.lr = lr(),
             .momentum = opts_.momentum,
             .dampening = opts_.dampening,
             .weight_decay = opts_.weight_decay,
             .nesterov = opts_.nesterov};
  sgd_multi_step_kernel(first.device())(h, a);
  return true;
}

}  // namespace ng
