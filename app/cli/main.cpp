// neurograph-cli: train, evaluate, benchmark and inspect Neurograph projects from a terminal.
//
//   neurograph-cli train resources/examples/lenet-mnist.ngraph --epochs 5 --json
//   neurograph-cli eval resources/examples/lenet-mnist.ngraph runs/lenet-mnist-.../best.h5
//   neurograph-cli bench resources/examples/lenet-mnist.ngraph --batch 64 --json
//   neurograph-cli inspect runs/lenet-mnist-.../best.h5
//
// Exit codes: 0 success; 1 a user error (bad arguments, a missing or malformed project, missing
// data, a graph that does not fit its data, a non-finite loss), with a message naming the file,
// node or field; 2 an internal error; 130 a run stopped by Ctrl-C (last.h5 is written first).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <new>
#include <nlohmann/json.hpp>
#include <string>

#include "app/cli/commands.h"
#include "engine/core/error.h"
#include "engine/core/openmp_env.h"

namespace {

void print_error(const std::string& msg, bool json) {
  std::fprintf(stderr, "neurograph-cli: error: %s\n", msg.c_str());
  if (json) {
    std::string line = nlohmann::json{{"event", "error"}, {"message", msg}}.dump();
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  }
}

}  // namespace

int main(int argc, char** argv) {
  ng::ensure_openmp_wait_policy(argc, argv);  // NOTE [OpenMP waits]: may re-execute
  using namespace ng::cli;
  CLI::App app{"Neurograph command line: train, evaluate, benchmark and inspect projects",
               "neurograph-cli"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string(NG_VERSION));

  TrainArgs ta;
  auto* train = app.add_subcommand("train", "Train a project (*.ngraph)");
  train->add_option("project", ta.project, "project file")->required();
  train->add_option("--epochs", ta.epochs, "epochs of the run (a resumed run continues to this)");
  train->add_option("--device", ta.device, "cpu, cuda or auto (default: the project's)");
  train->add_option("--precision", ta.precision,
                    "float32, or bf16 mixed precision on a GPU (default: the project's)");
  train->add_option("--resume", ta.resume, "continue the run saved in this checkpoint");
  train->add_option("--out", ta.out,
                    "folder for checkpoints (default: runs/<project>-<time> beside the project; "
                    "with --resume, the checkpoint's folder)");
  train->add_option("--seed", ta.seed, "seed of the run (weights, shuffling, dropout)");
  train->add_flag("--json", ta.json, "print one JSON object per line to stdout");
  train->add_option("--threads", ta.threads, "CPU threads (default: all cores)");

  EvalArgs ea;
  auto* eval = app.add_subcommand("eval", "Validation loss and accuracy of a checkpoint");
  eval->add_option("project", ea.project, "project file")->required();
  eval->add_option("checkpoint", ea.checkpoint, "checkpoint (*.h5)")->required();
  eval->add_option("--device", ea.device, "cpu, cuda or auto");
  eval->add_option("--batch", ea.batch, "batch size (default: max(training.batch_size, 256))");
  eval->add_flag("--json", ea.json, "print one JSON object to stdout");
  eval->add_option("--threads", ea.threads, "CPU threads");

  BenchArgs ba;
  auto* bench = app.add_subcommand(
      "bench", "Time training steps on random inputs shaped like the project's input");
  bench->add_option("project", ba.project, "project file")->required();
  bench->add_option("--batch", ba.batch, "batch size (default: training.batch_size)");
  bench->add_option("--steps", ba.steps, "timed steps (default 50)");
  bench->add_option("--warmup", ba.warmup, "untimed steps first (default 10)");
  bench->add_option("--device", ba.device, "cpu, cuda or auto");
  bench->add_flag("--json", ba.json, "print {\"median_ms\", \"peak_mem_mb\", ...} to stdout");
  bench->add_option("--threads", ba.threads, "CPU threads");

  InspectArgs ia;
  auto* inspect = app.add_subcommand("inspect", "Describe a project or a checkpoint");
  inspect->add_option("path", ia.path, "project file (*.ngraph) or checkpoint (*.h5)")->required();
  inspect->add_flag("--json", ia.json, "print JSON");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);  // prints the message and the usage hint
    return 1;
  }

  const bool json = (train->parsed() && ta.json) || (eval->parsed() && ea.json) ||
                    (bench->parsed() && ba.json) || (inspect->parsed() && ia.json);
  try {
    if (train->parsed()) return run_train(ta);
    if (eval->parsed()) return run_eval(ea);
    if (bench->parsed()) return run_bench(ba);
    if (inspect->parsed()) return run_inspect(ia);
    return 1;
  } catch (const ng::Error& e) {
    print_error(e.what(), json);
    return 1;
  } catch (const std::filesystem::filesystem_error& e) {
    print_error(e.what(), json);
    return 1;
  } catch (const std::bad_alloc&) {
    print_error("out of memory", json);
    return 2;
  } catch (const std::exception& e) {
    print_error(std::string("internal error: ") + e.what(), json);
    return 2;
  } catch (...) {
    print_error("internal error (unknown exception)", json);
    return 2;
  }
}
