#include "app/cli/reporter.h"

#include <chrono>
#include <cmath>

#include "engine/train/trainer.h"

namespace ng::cli {

using namespace ng::train;

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  long t = long(s + 0.5);
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
  return buf;
}

// " loss 0.1234 acc 95.12% top5 99.80%" / " loss 0.1234 mse 0.0123"
std::string metrics_text(const Metrics& m) {
  std::string s = " loss " + fmt("%.4f", m.loss);
  if (!std::isnan(m.accuracy)) s += " acc " + fmt("%.2f%%", 100 * m.accuracy);
  if (!std::isnan(m.top_k)) s += " top5 " + fmt("%.2f%%", 100 * m.top_k);
  if (!std::isnan(m.mse)) s += " mse " + fmt("%.4g", m.mse);
  return s;
}

double wall_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

void print_json_line(const nlohmann::json& j) {
  // nlohmann writes NaN and inf as null.
  std::string s = j.dump();
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

void add_metrics(nlohmann::json& j, const std::string& prefix, const Metrics& m) {
  j[prefix + "_loss"] = m.loss;
  if (!std::isnan(m.accuracy)) j[prefix + "_accuracy"] = m.accuracy;
  if (!std::isnan(m.top_k)) j[prefix + "_top5"] = m.top_k;
  if (!std::isnan(m.mse)) j[prefix + "_mse"] = m.mse;
}

void Reporter::clear_bar() {
  if (!bar_shown_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  bar_shown_ = false;
}

void Reporter::draw_bar(const StepEvent& s, bool force) {
  const double now = wall_now();
  if (!force && now - last_draw_ < 0.1) return;  // at most 10 redraws a second
  last_draw_ = now;
  const int width = 24;
  const double frac = s.batches_per_epoch > 0 ? double(s.batch) / s.batches_per_epoch : 0.0;
  const int fill = int(frac * width);
  std::string bar(size_t(fill), '#');
  bar += std::string(size_t(width - fill), '.');
  const double steps_per_s = s.samples_per_s > 0 && s.batch_metrics.samples > 0
                                 ? s.samples_per_s / double(s.batch_metrics.samples)
                                 : 0.0;
  const double eta = steps_per_s > 0 ? double(s.total_steps - s.step) / steps_per_s : NAN;
  std::string line = "\r\033[Kepoch " + std::to_string(s.epoch) + " [" + bar + "] " +
                     std::to_string(s.batch) + "/" + std::to_string(s.batches_per_epoch) + " " +
                     fmt("%.0f", steps_per_s) + " steps/s ETA " + duration(eta) +
                     metrics_text(s.running);
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  bar_shown_ = true;
}

void Reporter::on_event(const TrainingEvent& ev) {
  if (stop_requested_ && trainer_) trainer_->stop();
  if (const auto* s = std::get_if<StepEvent>(&ev)) {
    if (o_.progress) draw_bar(*s, s->batch == s->batches_per_epoch);
  } else if (const auto* e = std::get_if<EpochEvent>(&ev)) {
    clear_bar();
    if (o_.json) {
      nlohmann::json j = {
          {"event", "epoch"}, {"epoch", e->epoch}, {"epochs", e->epochs}, {"step", e->step}};
      add_metrics(j, "train", e->train);
      if (e->val.samples > 0) add_metrics(j, "val", e->val);
      j["lr"] = e->lr;
      j["epoch_s"] = e->epoch_s;
      j["improved"] = e->improved;
      print_json_line(j);
    } else {
      std::string line = "epoch " + std::to_string(e->epoch) + "/" + std::to_string(e->epochs) +
                         "  train" + metrics_text(e->train);
      if (e->val.samples > 0) line += "  val" + metrics_text(e->val);
      line += "  lr " + fmt("%.4g", e->lr) + "  " + fmt("%.1fs", e->epoch_s);
      if (e->improved) line += "  *";
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    }
  } else if (const auto* c = std::get_if<CheckpointEvent>(&ev)) {
    if (o_.json)
      print_json_line({{"event", "checkpoint"},
                       {"kind", checkpoint_kind_name(c->kind)},
                       {"path", c->path},
                       {"epoch", c->epoch},
                       {"step", c->step}});
  } else if (const auto* st = std::get_if<StateEvent>(&ev)) {
    (void)st;
  } else if (std::get_if<FailedEvent>(&ev) || std::get_if<FinishedEvent>(&ev)) {
    clear_bar();
  }
}

}  // namespace ng::cli
