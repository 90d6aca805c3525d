// The subcommands of neurograph-cli. Each returns the process's exit code on success paths and
// throws on failure: ng::Error (and UsageError) for a user's mistake -> exit 1, anything else ->
// exit 2 (main.cpp maps them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "engine/core/error.h"

namespace ng::cli {

// A mistake in the command line itself (bad value, conflicting options).
class UsageError : public Error {
 public:
  using Error::Error;
};

struct TrainArgs {
  std::string project;
  std::optional<int64_t> epochs;
  std::string device;     // cpu | cuda | auto; empty: the project's training.device
  std::string precision;  // float32 | bf16; empty: the project's training.precision
  std::string resume;
  std::string out;
  std::optional<uint64_t> seed;
  bool json = false;
  int threads = 0;  // 0: as the engine chooses (all cores)
};
int run_train(const TrainArgs& a);

struct EvalArgs {
  std::string project, checkpoint;
  std::string device;
  int64_t batch = 0;  // 0: max(training.batch_size, 256)
  bool json = false;
  int threads = 0;
};
int run_eval(const EvalArgs& a);

struct BenchArgs {
  std::string project;
  int64_t batch = 0;  // 0: training.batch_size
  int steps = 50, warmup = 10;
  std::string device;
  bool json = false;
  int threads = 0;
};
int run_bench(const BenchArgs& a);

struct InspectArgs {
  std::string path;  // a project (*.ngraph) or a checkpoint (*.h5)
  bool json = false;
};
int run_inspect(const InspectArgs& a);

}  // namespace ng::cli
