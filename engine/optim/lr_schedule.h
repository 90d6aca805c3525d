// Learning-rate schedules: pure functions from an index t = 0, 1, 2, ... (an epoch or a step,
// as the caller counts) to a learning rate. Holding no mutable state, they resume exactly:
// after a restart, opt.set_lr(schedule.lr(t)) at the saved t. The closed forms are PyTorch's
// (torch.optim.lr_scheduler), with last_epoch = t.
//
//   ng::CosineAnnealingLR cosine(0.1, /*t_max=*/90);
//   for (int64_t epoch = 0; epoch < 90; ++epoch) { opt.set_lr(cosine.lr(epoch)); train(); }
//
//   // 500 steps of linear warm-up from 0.01 * 3e-4 to 3e-4, then cosine decay to 0:
//   auto sched = ng::LinearWarmup(500, 0.01,
//                                 std::make_shared<ng::CosineAnnealingLR>(3e-4, 9500));
//
// Constructors and lr(t) throw ng::ValueError naming the schedule and the bad value.
#pragma once

#include <cstdint>
#include <memory>

namespace ng {

class LrSchedule {
 public:
  virtual ~LrSchedule() = default;
  // The learning rate at index t >= 0.
  virtual double lr(int64_t t) const = 0;
};

// lr(t) = lr: the end of a warm-up that is followed by nothing else.
class FixedLR : public LrSchedule {
 public:
  explicit FixedLR(double lr);
  double lr(int64_t t) const override;

 private:
  double lr_;
};

// lr(t) = base_lr * gamma^floor(t / step_size)  (torch StepLR).
class StepLR : public LrSchedule {
 public:
  StepLR(double base_lr, int64_t step_size, double gamma = 0.1);
  double lr(int64_t t) const override;

 private:
  double base_, gamma_;
  int64_t step_size_;
};

// lr(t) = base_lr * gamma^t  (torch ExponentialLR).
class ExponentialLR : public LrSchedule {
 public:
  ExponentialLR(double base_lr, double gamma);
  double lr(int64_t t) const override;

 private:
  double base_, gamma_;
};

// lr(t) = eta_min + (base_lr - eta_min) * (1 + cos(pi * t / t_max)) / 2  (torch
// CosineAnnealingLR's closed form: base_lr at 0, eta_min at t_max, and periodic after).
class CosineAnnealingLR : public LrSchedule {
 public:
  CosineAnnealingLR(double base_lr, int64_t t_max, double eta_min = 0.0);
  double lr(int64_t t) const override;

 private:
  double base_, eta_min_;
  int64_t t_max_;
};

// Linear warm-up, then another schedule (torch LinearLR followed by SequentialLR):
//   t <  warmup: after->lr(0) * (start_factor + (1 - start_factor) * t / warmup)
//   t >= warmup: after->lr(t - warmup)   (the next schedule starts at its own index 0)
class LinearWarmup : public LrSchedule {
 public:
  LinearWarmup(int64_t warmup_steps, double start_factor, std::shared_ptr<const LrSchedule> after);
  // Warm-up to a constant base_lr.
  LinearWarmup(int64_t warmup_steps, double start_factor, double base_lr);
  double lr(int64_t t) const override;

 private:
  int64_t warmup_;
  double start_;
  std::shared_ptr<const LrSchedule> after_;
};

// The 1cycle policy with cosine annealing, as torch OneCycleLR (three_phase=False, no
// momentum cycling): from max_lr/div_factor up to max_lr over the first pct_start of
// total_steps, then down to max_lr/(div_factor*final_div_factor). As in PyTorch the peak is at
// t = pct_start*total_steps - 1, the end value at t = total_steps - 1, and t > total_steps
// throws.
class OneCycleLR : public LrSchedule {
 public:
  OneCycleLR(double max_lr, int64_t total_steps, double pct_start = 0.3, double div_factor = 25.0,
             double final_div_factor = 1e4);
  double lr(int64_t t) const override;

 private:
  double max_lr_, initial_lr_, min_lr_, peak_step_;
  int64_t total_;
};

}  // namespace ng
