// How `neurograph-cli train` shows a run: an EventSink that draws a progress bar on stderr when
// stderr is a terminal (steps/s, ETA, loss, accuracy), and writes either one JSON object per
// line to stdout (--json) or one plain summary line per epoch.
//
//   Reporter rep({.json = true, .progress = isatty(2)});
//   Trainer t(model, data, options, &rep);
//   rep.set_trainer(&t);        // Ctrl-C (request_stop) then stops the run between two steps
#pragma once

#include <atomic>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "engine/train/events.h"

namespace ng::train {
class Trainer;
}

namespace ng::cli {

// One JSON line on stdout, flushed (NaN and inf become null).
void print_json_line(const nlohmann::json& j);

// Metrics as JSON fields "<prefix>_loss", "<prefix>_accuracy", "<prefix>_top5" (fractions),
// "<prefix>_mse"; the ones that do not apply are left out.
void add_metrics(nlohmann::json& j, const std::string& prefix, const train::Metrics& m);

struct ReporterOptions {
  bool json = false;      // JSON lines on stdout
  bool progress = false;  // progress bar on stderr
};

class Reporter : public train::EventSink {
 public:
  explicit Reporter(ReporterOptions o) : o_(o) {}
  void on_event(const train::TrainingEvent& e) override;
  void set_trainer(train::Trainer* t) { trainer_ = t; }

  // Async-signal-safe: asks the run to stop at the next event.
  static void request_stop() { stop_requested_ = true; }
  static bool stop_requested() { return stop_requested_; }

 private:
  void draw_bar(const train::StepEvent& s, bool force);
  void clear_bar();

  ReporterOptions o_;
  train::Trainer* trainer_ = nullptr;
  double last_draw_ = -1.0;
  bool bar_shown_ = false;
  static inline std::atomic<bool> stop_requested_{false};
};

}  // namespace ng::cli
