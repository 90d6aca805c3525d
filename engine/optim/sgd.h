// Stochastic gradient descent with momentum, dampening, Nesterov momentum and L2 weight decay,
// exactly as torch.optim.SGD (the update rule is in ops/optim.h, SgdHyper):
//   ng::SGD opt(params, {.lr = 0.1, .momentum = 0.9, .weight_decay = 5e-4, .nesterov = true});
// The momentum buffer is set to the first gradient (not dampened) on a parameter's first update.
// State and checkpointing: NOTE [Optimizer state] in optimizer.h.
#pragma once

#include "engine/optim/optimizer.h"

namespace ng {

struct SgdOptions {
  double lr = 1e-3;
  double momentum = 0.0;      // in [0, 1)
  double dampening = 0.0;     // in [0, 1]; must be 0 with Nesterov
  double weight_decay = 0.0;  // >= 0, added to the gradient as wd * p
  bool nesterov = false;      // needs momentum > 0
};

class SGD : public Optimizer {
 public:
  // Throws ValueError naming "SGD" and the bad value.
  SGD(std::vector<Tensor> params, SgdOptions options = {});

  // The options in force (lr = lr()).
  SgdOptions options() const;
  std::map<std::string, double> hyperparams() const override;
  void load_hyperparams(const std::map<std::string, double>& hp) override;

 protected:
  void update(size_t i, Tensor& param, const Tensor& g) override;
  bool update_all(const std::vector<size_t>& idx, const std::vector<Tensor>& grads) override;

 private:
  void validate(const SgdOptions& o) const;
  static std::vector<HyperField> fields(SgdOptions& o);
  SgdOptions opts_;
};

}  // namespace ng
