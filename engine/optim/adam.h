// Adam and AdamW, exactly as torch.optim.Adam and torch.optim.AdamW (the update rule is in
// ops/optim.h, AdamHyper): bias-corrected moments, eps added outside the square root.
//   ng::Adam  adam(params, {.lr = 1e-3});                          // wd: L2 added to the gradient
//   ng::AdamW adamw(params, {.lr = 1e-3, .weight_decay = 0.05});   // wd: p -= lr*wd*p first
// The two differ only in where weight decay enters; with weight_decay = 0 they are identical.
// State and checkpointing: NOTE [Optimizer state] in optimizer.h.
#pragma once

#include "engine/optim/optimizer.h"

namespace ng {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;         // in [0, 1)
  double beta2 = 0.999;       // in [0, 1)
  double eps = 1e-8;          // >= 0
  double weight_decay = 0.0;  // >= 0
};

// AdamW's defaults are PyTorch's: weight_decay 0.01.
struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

class Adam : public Optimizer {
 public:
  // Throws ValueError naming "Adam" and the bad value.
  Adam(std::vector<Tensor> params, AdamOptions options = {});

  // The options in force (lr = lr()).
  AdamOptions options() const;
  std::map<std::string, double> hyperparams() const override;
  void load_hyperparams(const std::map<std::string, double>& hp) override;

 protected:
  Adam(const char* name, std::vector<Tensor> params, AdamOptions options, bool decoupled);
  void update(size_t i, Tensor& param, const Tensor& g) override;
  bool update_all(const std::vector<size_t>& idx, const std::vector<Tensor>& grads) override;
  bool reads_step_count() const override { return true; }

 private:
  void validate(const AdamOptions& o) const;
  static std::vector<HyperField> fields(AdamOptions& o);
  AdamOptions opts_;
  bool decoupled_;
};

class AdamW : public Adam {
 public:
  // Throws ValueError naming "AdamW" and the bad value.
  AdamW(std::vector<Tensor> params, AdamWOptions options = {});
};

}  // namespace ng
