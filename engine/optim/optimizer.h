// Optimizer: updates a fixed list of parameters from their gradients, one fused kernel per
// parameter tensor (ops/optim.h). Subclasses: SGD (sgd.h), Adam and AdamW (adam.h), RMSprop
// (rmsprop.h); learning-rate schedules are in lr_schedule.h, gradient clipping in clip.h.
//
//   ng::SGD opt(model_params, {.lr = 0.1, .momentum = 0.9, .nesterov = true});
//   ng::CosineAnnealingLR sched(0.1, /*t_max=*/epochs);
//   for (int64_t epoch = 0; epoch < epochs; ++epoch) {
//     opt.set_lr(sched.lr(epoch));
//     for (auto& batch : data) {
//       opt.zero_grad();
//       loss(batch).backward();
//       ng::clip_grad_norm(opt.params(), 5.0);
//       opt.step();
//     }
//   }
//
// Parameters are leaf tensors that require grad, floating, contiguous, each listed once. A
// parameter whose grad() is undefined is skipped by step() (its state does not advance).
//
// NOTE [Optimizer state]
// Everything an optimiser needs to continue exactly where it stopped is
//   - name(): "SGD", "Adam", "AdamW" or "RMSprop" (a checkpoint should refuse another one);
//   - hyperparams(): every scalar option by name, "lr" included (booleans as 0 / 1);
//   - for each parameter i, state(i): named tensors. "step" (an int64 scalar on the CPU: the
//     updates applied to parameter i) and the buffers among slot_names() that exist, each of
//     the parameter's shape, dtype and device:
//       SGD: momentum_buffer (only with momentum, created on the first update)
//       Adam, AdamW: exp_avg, exp_avg_sq
//       RMSprop: square_avg, grad_avg (centered only), momentum_buffer (momentum > 0 only)
//     state(i) is empty before parameter i's first update. The names are PyTorch's.
// state(i) returns the live buffers (they share data with the optimiser: clone() them for a
// snapshot that later steps must not change). load_state(i, s) copies s in (converting dtype
// and device to the parameter's), replacing all of parameter i's state; an empty s resets it.
// load_hyperparams(hp) sets the options named in hp, validated as in the constructor. So
//   for (size_t i = 0; i < a.num_params(); ++i) b.load_state(i, a.state(i));
//   b.load_hyperparams(a.hyperparams());
// makes b take the same next step as a.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "engine/core/tensor.h"

namespace ng {

class Optimizer {
 public:
  using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter that has a gradient. Never recorded by autograd. On a GPU it
  // queues the updates without waiting (NOTE [Device hyper-parameters] in ops/optim.h).
  void step();
  // Drops every parameter's gradient (as PyTorch's zero_grad(set_to_none=True)).
  void zero_grad();

  double lr() const { return lr_; }
  // Throws ValueError when lr is negative or not finite.
  void set_lr(double lr);

  const std::string& name() const { return name_; }
  const std::vector<Tensor>& params() const { return params_; }
  size_t num_params() const { return params_.size(); }
  // Updates applied to parameter i so far.
  int64_t step_count(size_t i) const;

  // For a step captured as a CUDA graph (train/step_graph.h). The capture ran step()'s host
  // code once; each replay then needs its host half only: counting the update of the parameters
  // in `mask` (those that had a gradient in the capture) and writing the learning rate and step
  // counts to device memory, where the captured kernels read them.
  std::vector<bool> params_with_grad() const;
  void prepare_replay(const std::vector<bool>& mask);
  std::vector<int64_t> step_counts() const { return steps_; }
  void set_step_counts(const std::vector<int64_t>& counts);

  // NOTE [Optimizer state]
  const std::vector<std::string>& slot_names() const { return slot_names_; }
  NamedTensors state(size_t i) const;
  void load_state(size_t i, const NamedTensors& s);
  virtual std::map<std::string, double> hyperparams() const = 0;
  virtual void load_hyperparams(const std::map<std::string, double>& hp) = 0;

 protected:
  // name: the optimiser named in messages; slot_names: its per-parameter buffers.
  Optimizer(std::string name, std::vector<Tensor> params, double lr,
            std::vector<std::string> slot_names);

  // Updates params()[i] in place from g (contiguous, of the parameter's shape, dtype and
  // device). step_count(i) already counts this update.
  virtual void update(size_t i, Tensor& param, const Tensor& g) = 0;
  // NOTE [Fused updates] (ops/optim.h): the whole step's updates at once, parameter idx[j] from
  // grads[j] (contiguous; step counts already advanced). Returns false where the subclass or
  // the device has no such path; update() then runs per parameter.
  virtual bool update_all(const std::vector<size_t>& idx, const std::vector<Tensor>& grads) {
    (void)idx;
    (void)grads;
    return false;
  }

  // Where parameter i's kernel reads {lr, step} on a GPU (NOTE [Device hyper-parameters]);
  // null on the CPU.
  const double* device_scalars(size_t i) const;
  // Whether update() reads step_count() (Adam's bias correction). When not, the device copy
  // is only rewritten when the learning rate changes.
  virtual bool reads_step_count() const { return false; }

  // Buffer k of parameter i; undefined until created.
  Tensor& slot(size_t i, size_t k) { return slots_[i][k]; }
  // Buffer k of parameter i, created as zeros on first use.
  Tensor& zero_slot(size_t i, size_t k);

  // Range checks for hyper-parameters: throw ValueError "<name>: <what> must be ..., got <v>".
  // NaN fails every check.
  void check_min(const char* what, double v, double lo) const;  // v >= lo, finite
  // lo <= v < hi, or lo <= v <= hi with hi_inclusive.
  void check_range(const char* what, double v, double lo, double hi, bool hi_inclusive) const;
  // A named scalar option, for hyperparams() / load_hyperparams(): booleans read as 0 / 1.
  using HyperField = std::pair<const char*, std::variant<double*, bool*>>;
  static std::map<std::string, double> fields_to_map(const std::vector<HyperField>& fields);
  // Copies each entry of hp into the field of that name (a bool must be 0 or 1); an unknown
  // name throws ValueError listing the known ones. Subclasses assign into a copy of their
  // options, validate the copy, then commit it, so a rejected load changes nothing.
  void assign_hyperparams(const std::map<std::string, double>& hp,
                          const std::vector<HyperField>& fields) const;

 private:
  std::string name_;
  double lr_ = 0.0;
  std::vector<Tensor> params_;
  std::vector<std::string> slot_names_;
  std::vector<std::vector<Tensor>> slots_;  // [param][slot]
  std::vector<int64_t> steps_;              // [param]
  Tensor device_scalars_;                   // [param, 2] float64 {lr, step}, on a GPU only
  std::vector<double> uploaded_;            // what device_scalars_ holds (or will)

  void upload_scalars();
};

}  // namespace ng
