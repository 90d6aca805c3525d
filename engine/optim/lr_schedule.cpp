#include "engine/optim/lr_schedule.h"

#include <cmath>
#include <numbers>

#include "engine/core/error.h"

namespace ng {
namespace {

void check_lr(const char* who, const char* what, double v) {
  if (!(v >= 0.0) || !std::isfinite(v))
    throw ValueError(detail::concat(who, ": ", what, " must be >= 0 and finite, got ", v));
}

void check_positive(const char* who, const char* what, double v) {
  if (!(v > 0.0) || !std::isfinite(v))
    throw ValueError(detail::concat(who, ": ", what, " must be > 0 and finite, got ", v));
}

void check_index(const char* who, int64_t t) {
  if (t < 0) throw ValueError(detail::concat(who, ": step index must be >= 0, got ", t));
}

// From `start` at pct = 0 to `end` at pct = 1 along half a cosine (torch's _annealing_cos).
double anneal_cos(double start, double end, double pct) {
  return end + (start - end) / 2.0 * (std::cos(std::numbers::pi * pct) + 1.0);
}

}  // namespace

FixedLR::FixedLR(double lr) : lr_(lr) {
  check_lr("FixedLR", "lr", lr);
}

double FixedLR::lr(int64_t t) const {
  check_index("FixedLR", t);
  return lr_;
}

StepLR::StepLR(double base_lr, int64_t step_size, double gamma)
    : base_(base_lr), gamma_(gamma), step_size_(step_size) {
  check_lr("StepLR", "base_lr", base_lr);
  if (step_size < 1)
    throw ValueError(detail::concat("StepLR: step_size must be >= 1, got ", step_size));
  check_positive("StepLR", "gamma", gamma);
}

double StepLR::lr(int64_t t) const {
  check_index("StepLR", t);
  return base_ * std::pow(gamma_, double(t / step_size_));
}

ExponentialLR::ExponentialLR(double base_lr, double gamma) : base_(base_lr), gamma_(gamma) {
  check_lr("ExponentialLR", "base_lr", base_lr);
  check_positive("ExponentialLR", "gamma", gamma);
}

double ExponentialLR::lr(int64_t t) const {
  check_index("ExponentialLR", t);
  return base_ * std::pow(gamma_, double(t));
}

CosineAnnealingLR::CosineAnnealingLR(double base_lr, int64_t t_max, double eta_min)
    : base_(base_lr), eta_min_(eta_min), t_max_(t_max) {
  check_lr("CosineAnnealingLR", "base_lr", base_lr);
  check_lr("CosineAnnealingLR", "eta_min", eta_min);
  if (t_max < 1)
    throw ValueError(detail::concat("CosineAnnealingLR: t_max must be >= 1, got ", t_max));
}

double CosineAnnealingLR::lr(int64_t t) const {
  check_index("CosineAnnealingLR", t);
  return eta_min_ +
         (base_ - eta_min_) * (1.0 + std::cos(std::numbers::pi * double(t) / double(t_max_))) / 2.0;
}

LinearWarmup::LinearWarmup(int64_t warmup_steps, double start_factor,
                           std::shared_ptr<const LrSchedule> after)
    : warmup_(warmup_steps), start_(start_factor), after_(std::move(after)) {
  if (warmup_steps < 1)
    throw ValueError(detail::concat("LinearWarmup: warmup_steps must be >= 1, got ", warmup_steps));
  if (!(start_factor > 0.0 && start_factor <= 1.0))
    throw ValueError(
        detail::concat("LinearWarmup: start_factor must be in (0, 1], got ", start_factor));
  if (!after_) throw ValueError("LinearWarmup: the schedule after the warm-up is null");
}

LinearWarmup::LinearWarmup(int64_t warmup_steps, double start_factor, double base_lr)
    : LinearWarmup(warmup_steps, start_factor, std::make_shared<FixedLR>(base_lr)) {}

double LinearWarmup::lr(int64_t t) const {
  check_index("LinearWarmup", t);
  if (t >= warmup_) return after_->lr(t - warmup_);
  return after_->lr(0) * (start_ + (1.0 - start_) * double(t) / double(warmup_));
}

OneCycleLR::OneCycleLR(double max_lr, int64_t total_steps, double pct_start, double div_factor,
                       double final_div_factor)
    : max_lr_(max_lr), total_(total_steps) {
  check_positive("OneCycleLR", "max_lr", max_lr);
  if (total_steps < 1)
    throw ValueError(detail::concat("OneCycleLR: total_steps must be >= 1, got ", total_steps));
  if (!(pct_start >= 0.0 && pct_start <= 1.0))
    throw ValueError(detail::concat("OneCycleLR: pct_start must be in [0, 1], got ", pct_start));
  check_positive("OneCycleLR", "div_factor", div_factor);
  check_positive("OneCycleLR", "final_div_factor", final_div_factor);
  initial_lr_ = max_lr / div_factor;
  min_lr_ = initial_lr_ / final_div_factor;
  peak_step_ = pct_start * double(total_steps) - 1.0;
}

double OneCycleLR::lr(int64_t t) const {
  check_index("OneCycleLR", t);
  if (t > total_)
    throw ValueError(detail::concat("OneCycleLR: step ", t, " is past total_steps = ", total_));
  // Two phases, as torch: [0, peak] warms up, [peak, total - 1] anneals. A phase of length 0
  // (which torch divides by) counts as complete.
  double x = double(t);
  if (x <= peak_step_) {
    double pct = peak_step_ > 0.0 ? x / peak_step_ : 1.0;
    return anneal_cos(initial_lr_, max_lr_, pct);
  }
  double len = double(total_ - 1) - peak_step_;
  double pct = len > 0.0 ? (x - peak_step_) / len : 1.0;
  return anneal_cos(max_lr_, min_lr_, pct);
}

}  // namespace ng
