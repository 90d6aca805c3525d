#include "engine/optim/rmsprop.h"

#include "engine/ops/optim.h"

namespace ng {

RMSprop::RMSprop(std::vector<Tensor> params, RmspropOptions options)
    : Optimizer("RMSprop", std::move(params), options.lr,
                {"square_avg", "grad_avg", "momentum_buffer"}),
      opts_(options) {
  validate(opts_);
}

void RMSprop::validate(const RmspropOptions& o) const {
  check_min("learning rate", o.lr, 0.0);
  check_range("alpha", o.alpha, 0.0, 1.0, false);
  check_min("eps", o.eps, 0.0);
  check_min("weight_decay", o.weight_decay, 0.0);
  check_range("momentum", o.momentum, 0.0, 1.0, false);
}

RmspropOptions RMSprop::options() const {
  RmspropOptions o = opts_;
  o.lr = lr();
  return o;
}

std::vector<Optimizer::HyperField> RMSprop::fields(RmspropOptions& o) {
  return {{"lr", &o.lr},
          {"alpha", &o.alpha},
          {"eps", &o.eps},
          {"weight_decay", &o.weight_decay},
          {"momentum", &o.momentum},
          {"centered", &o.centered}};
}

std::map<std::string, double> RMSprop::hyperparams() const {
  RmspropOptions o = options();
  return fields_to_map(fields(o));
}

void RMSprop::load_hyperparams(const std::map<std::string, double>& hp) {
  RmspropOptions o = options();
  assign_hyperparams(hp, fields(o));
  validate(o);
  opts_ = o;
  set_lr(o.lr);
}

void RMSprop::update(size_t i, Tensor& param, const Tensor& g) {
  RmspropHyper h{.lr = lr(),
                 .alpha = opts_.alpha,
                 .eps = opts_.eps,
                 .weight_decay = opts_.weight_decay,
                 .momentum = opts_.momentum,
                 .centered = opts_.centered,
                 .device_scalars = device_scalars(i)};
  Tensor& square_avg = zero_slot(i, 0);
  // Buffers the options do not use stay undefined (and out of state(i)).
  Tensor no_grad_avg, no_momentum_buffer;
  Tensor& grad_avg = opts_.centered ? zero_slot(i, 1) : no_grad_avg;
  Tensor& momentum_buffer = opts_.momentum > 0.0 ? zero_slot(i, 2) : no_momentum_buffer;
  rmsprop_step_kernel(param.device())(h, param, g, square_avg, grad_avg, momentum_buffer);
}

}  // namespace ng
