// RMSprop, exactly as torch.optim.RMSprop (the update rule is in ops/optim.h, RmspropHyper):
// a running mean of squared gradients (optionally centered by the running mean of gradients),
// eps added outside the square root, optional momentum and L2 weight decay.
//   ng::RMSprop opt(params, {.lr = 1e-2, .alpha = 0.99, .momentum = 0.9, .centered = true});
// State and checkpointing: NOTE [Optimizer state] in optimizer.h.
#pragma once

#include "engine/optim/optimizer.h"

namespace ng {

struct RmspropOptions {
  double lr = 1e-2;
  double alpha = 0.99;        // smoothing constant, in [0, 1)
  double eps = 1e-8;          // >= 0
  double weight_decay = 0.0;  // >= 0
  double momentum = 0.0;      // in [0, 1)
  bool centered = false;
};

class RMSprop : public Optimizer {
 public:
  // Throws ValueError naming "RMSprop" and the bad value.
  RMSprop(std::vector<Tensor> params, RmspropOptions options = {});

  // The options in force (lr = lr()).
  RmspropOptions options() const;
  std::map<std::string, double> hyperparams() const override;
  void load_hyperparams(const std::map<std::string, double>& hp) override;

 protected:
  void update(size_t i, Tensor& param, const Tensor& g) override;

 private:
  void validate(const RmspropOptions& o) const;
  static std::vector<HyperField> fields(RmspropOptions& o);
  RmspropOptions opts_;
};

}  // namespace ng
