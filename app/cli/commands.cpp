#include "app/cli/commands.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "app/cli/reporter.h"
#include "engine/core/parallel.h"
#include "engine/core/rng.h"
#include "engine/io/checkpoint.h"
#include "engine/io/project.h"
#include "engine/nn/model.h"
#include "engine/ops/autocast.h"
#include "engine/ops/cuda/backend.h"
#include "engine/train/datasets.h"
#include "engine/train/memory_fit.h"
#include "engine/train/trainer.h"

namespace ng::cli {

namespace fs = std::filesystem;
using namespace ng::train;

namespace {

struct Project {
  ProjectSpec spec;
  std::string dir;   // the project file's folder ("" for the current one)
  std::string name;  // file name without extension
};

Project open_project(const std::string& path) {
  if (!fs::exists(path)) throw Error("project file '" + path + "' not found");
  if (fs::is_directory(path)) throw Error("'" + path + "' is a folder, not a project file");
  Project p;
  p.spec = load_project(path);
  p.dir = fs::path(path).parent_path().string();
  p.name = fs::path(path).stem().string();
  return p;
}

// "auto" is the GPU (cuda:0) when the CUDA backend finds one, else the CPU. "cuda" is an error
// in a build without the CUDA backend or on a machine without a GPU.
Device resolve_device(const std::string& flag, const std::string& project_device) {
  const std::string d = flag.empty() ? project_device : flag;
  const std::string where = flag.empty() ? "training.device" : "--device";
  if (d.empty() || d == "cpu") return Device::cpu();
  if (d == "auto") return cuda_available() ? Device::cuda(0) : Device::cpu();
  if (d == "cuda" || d.rfind("cuda:", 0) == 0) {
#ifdef NG_WITH_CUDA
    const std::string idx = d == "cuda" ? "0" : d.substr(5);
    if (idx.empty() || idx.find_first_not_of("0123456789") != std::string::npos)
      throw UsageError(where + ": unknown device '" + d + "' (cpu, cuda, cuda:0 or auto)");
    if (!cuda_available())
      throw Error(where + " '" + d + "': no CUDA device is available (" +
                  cuda_unavailable_reason() + "); use --device cpu or auto");
    if (idx != "0")
      throw Error(where + " '" + d + "': only cuda:0 is supported in this version of Neurograph");
    return Device::cuda(0);
#else
    throw Error(where + " '" + d +
                "': this build of Neurograph has no CUDA backend (it was built without "
                "NG_WITH_CUDA); use --device cpu");
#endif
  }
  throw UsageError(where + ": unknown device '" + d + "' (cpu, cuda or auto)");
}

// --precision, else the project's training.precision. bf16 needs the GPU: refused on the CPU
// with a message that names where the setting came from.
Precision resolve_precision(const std::string& flag, const std::string& project_precision,
                            Device device) {
  const std::string where = flag.empty() ? "training.precision" : "--precision";
  Precision p;
  try {
    p = parse_precision(flag.empty() ? project_precision : flag, where);
  } catch (const Error& e) {
    if (flag.empty()) throw;
    throw UsageError(e.what());
  }
  if (p == Precision::BFloat16 && !device.is_cuda())
    throw Error(where + " bf16: mixed precision runs on a GPU only, and this run is on " +
                device.str() + (cuda_available() ? "" : " (" + cuda_unavailable_reason() + ")") +
                "; use --precision float32, or --device cuda on a machine with a GPU");
  return p;
}

void apply_threads(int threads) {
  if (threads < 0) throw UsageError("--threads: must be >= 1, got " + std::to_string(threads));
  if (threads > 0) set_num_threads(threads);
}

std::string timestamp() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return buf;
}

Model compile_on(const Project& p, uint64_t seed, Device device) {
  Model m = Model::compile(p.spec.graph, seed);
  if (device != Device::cpu()) m.to(device);
  return m;
}

void on_sigint(int) {
  Reporter::request_stop();
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // kB on Linux
}

}  // namespace

// --- train ---

int run_train(const TrainArgs& a) {
  apply_threads(a.threads);
  Project p = open_project(a.project);
  TrainingSpec& t = p.spec.training;
  if (a.epochs) {
    if (*a.epochs < 1) throw UsageError("--epochs: must be >= 1, got " + std::to_string(*a.epochs));
    t.epochs = *a.epochs;
  }
  if (a.seed) t.seed = *a.seed;
  const Device device = resolve_device(a.device, t.device);
  const Precision precision = resolve_precision(a.precision, t.precision, device);
  t.precision = precision_name(precision);
  if (!a.resume.empty() && !fs::exists(a.resume))
    throw Error("--resume: checkpoint '" + a.resume + "' not found");

  TrainingData data = make_datasets(p.spec.dataset, p.dir);
  Model model = compile_on(p, t.seed, device);

  // Output folder: --out; else the resumed checkpoint's folder; else runs/<name>-<time> beside
  // the project file.
  std::string out = a.out;
  if (out.empty() && !a.resume.empty()) out = fs::path(a.resume).parent_path().string();
  if (out.empty()) out = (fs::path(p.dir) / "runs" / (p.name + "-" + timestamp())).string();
  if (out.empty()) out = ".";

  ReporterOptions ro;
  ro.json = a.json;
  ro.progress = isatty(STDERR_FILENO) != 0;
  Reporter rep(ro);
  TrainerOptions to;
  to.training = t;
  to.out_dir = out;
  to.graph_json = p.spec.graph.to_json().dump();
  Trainer trainer(model, data, to, &rep);
  rep.set_trainer(&trainer);
  if (!a.resume.empty()) trainer.restore(a.resume);

  nlohmann::json start = {{"event", "start"},
                          {"project", a.project},
                          {"device", device.str()},
                          {"precision", t.precision},
                          {"threads", num_threads()},
                          {"params", model.parameter_count()},
                          {"train_samples", data.train->size()},
                          {"val_samples", data.val ? data.val->size() : 0},
                          {"batch_size", t.batch_size},
                          {"batches_per_epoch", trainer.steps_per_epoch()},
                          {"epochs", t.epochs},
                          {"out_dir", out}};
  if (!a.resume.empty()) {
    start["resumed_from"] = a.resume;
    start["start_epoch"] = trainer.epochs_completed();
  }
  if (a.json) {
    print_json_line(start);
  } else {
    std::printf(
        "training %s on %s%s (%d threads): %lld parameters, %lld training / %lld "
        "validation samples, %lld epochs of %lld steps -> %s\n",
        p.name.c_str(), device.str().c_str(),
        precision == Precision::BFloat16 ? " in bf16 mixed precision" : "", num_threads(),
        (long long)model.parameter_count(), (long long)data.train->size(),
        (long long)(data.val ? data.val->size() : 0), (long long)t.epochs,
        (long long)trainer.steps_per_epoch(), out.c_str());
    std::fflush(stdout);
  }

  std::signal(SIGINT, on_sigint);
  std::signal(SIGTERM, on_sigint);
  FinishedEvent f = trainer.run();
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);

  const std::string ckpt = !f.best_checkpoint.empty() ? f.best_checkpoint : f.last_checkpoint;
  if (a.json) {
    nlohmann::json done = {
        {"event", "done"},
        {"reason", finish_reason_name(f.reason)},
        {"epochs", f.epochs_completed},
        {"steps", f.steps},
        {"wall_s", f.wall_s},
        {"checkpoint", ckpt.empty() ? nlohmann::json() : nlohmann::json(ckpt)},
        {"last_checkpoint",
         f.last_checkpoint.empty() ? nlohmann::json() : nlohmann::json(f.last_checkpoint)},
        {"best_checkpoint",
         f.best_checkpoint.empty() ? nlohmann::json() : nlohmann::json(f.best_checkpoint)},
        {"monitor", f.monitor},
        {"best", f.best_metric},
        {"best_epoch", f.best_epoch}};
    if (f.final_train.samples > 0) add_metrics(done, "train", f.final_train);
    if (f.final_val.samples > 0) add_metrics(done, "val", f.final_val);
    print_json_line(done);
  } else {
    std::printf("%s after %lld epoch%s (%lld steps) in %.1f s", finish_reason_name(f.reason),
                (long long)f.epochs_completed, f.epochs_completed == 1 ? "" : "s",
                (long long)f.steps, f.wall_s);
    if (f.best_epoch > 0)
      std::printf("; best %s %.4f at epoch %lld", f.monitor.c_str(), f.best_metric,
                  (long long)f.best_epoch);
    std::printf("\n");
    if (!ckpt.empty()) std::printf("checkpoint: %s\n", ckpt.c_str());
  }
  return f.reason == FinishReason::Stopped && Reporter::stop_requested() ? 130 : 0;
}

// --- eval ---

int run_eval(const EvalArgs& a) {
  apply_threads(a.threads);
  Project p = open_project(a.project);
  if (!fs::exists(a.checkpoint)) throw Error("checkpoint '" + a.checkpoint + "' not found");
  const Device device = resolve_device(a.device, p.spec.training.device);
  TrainingData data = make_datasets(p.spec.dataset, p.dir);
  Model model = compile_on(p, p.spec.training.seed, device);
  load_weights(model, load_checkpoint(a.checkpoint), a.checkpoint);
  const bool has_val = data.val != nullptr;
  const data::DatasetPtr& ds = has_val ? data.val : data.train;
  const int64_t batch = a.batch > 0 ? a.batch : std::max<int64_t>(p.spec.training.batch_size, 256);
  if (a.batch < 0) throw UsageError("--batch: must be >= 1");
  auto t0 = std::chrono::steady_clock::now();
  Metrics m = evaluate(model, ds, batch, data.normalization);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const std::string prefix = has_val ? "val" : "train";
  if (a.json) {
    nlohmann::json j = {{"event", "eval"},
                        {"checkpoint", a.checkpoint},
                        {"split", prefix},
                        {"samples", m.samples},
                        {"wall_s", wall}};
    add_metrics(j, prefix, m);
    print_json_line(j);
  } else {
    std::printf("%s (%lld samples of %s): loss %.4f", has_val ? "validation" : "training set",
                (long long)m.samples, ds->name().c_str(), m.loss);
    if (!std::isnan(m.accuracy)) std::printf(", accuracy %.2f%%", 100 * m.accuracy);
    if (!std::isnan(m.top_k)) std::printf(", top-5 %.2f%%", 100 * m.top_k);
    if (!std::isnan(m.mse)) std::printf(", mse %.4g", m.mse);
    std::printf("\n");
  }
  return 0;
}

// --- bench ---

int run_bench(const BenchArgs& a) {
  apply_threads(a.threads);
  if (a.batch < 0) throw UsageError("--batch: must be >= 1");
  if (a.steps < 1) throw UsageError("--steps: must be >= 1");
  if (a.warmup < 0) throw UsageError("--warmup: must be >= 0");
  Project p = open_project(a.project);
  const TrainingSpec& t = p.spec.training;
  const Device device = resolve_device(a.device, t.device);
  const int64_t batch = a.batch > 0 ? a.batch : t.batch_size;
  Model model = compile_on(p, t.seed, device);
  if (model.input_ids().size() != 1)
    throw Error("bench: the graph has " + std::to_string(model.input_ids().size()) +
                " Input nodes; bench feeds exactly one");
  if (model.loss_id().empty()) throw Error("bench: the graph has no loss node");
  // Random inputs shaped like the Input node, targets like the loss expects.
  const RandomBatch rb = random_batch(model, batch, t.seed + 1);
  const Tensor& x = rb.x;
  const Tensor& y = rb.y;
  std::vector<Tensor> params;
  for (const auto& [name, w] : model.parameters()) params.push_back(w);
  std::unique_ptr<Optimizer> opt = make_optimizer(t.optimizer, params);
  model.set_mode(Mode::Train);
  Model::Result r;
  std::vector<double> times;
  double last_loss = 0;
  for (int s = 0; s < a.warmup + a.steps; ++s) {
    auto t0 = std::chrono::steady_clock::now();
    opt->zero_grad();
    model.forward({x}, y, r);
    r.loss.backward();
    opt->step();
    last_loss = r.loss.item();  // also waits for a device to finish the step
    auto t1 = std::chrono::steady_clock::now();
    if (s >= a.warmup) times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(times.begin(), times.end());
  const double median = times.size() % 2
                            ? times[times.size() / 2]
                            : 0.5 * (times[times.size() / 2 - 1] + times[times.size() / 2]);
  double mean = 0;
  for (double v : times) mean += v / double(times.size());
  nlohmann::json j = {{"event", "bench"},
                      {"project", a.project},
                      {"device", device.str()},
                      {"threads", num_threads()},
                      {"batch", batch},
                      {"steps", a.steps},
                      {"warmup", a.warmup},
                      {"median_ms", median},
                      {"min_ms", times.front()},
                      {"mean_ms", mean},
                      {"samples_per_s", batch / median * 1e3},
                      {"peak_mem_mb", peak_rss_mb()},
                      {"params", model.parameter_count()},
                      {"final_loss", last_loss}};
  if (a.json) {
    print_json_line(j);
  } else {
    std::printf(
        "%s on %s, batch %lld, %d threads: median step %.3f ms (min %.3f, mean %.3f) "
        "over %d steps, %.0f samples/s, peak memory %.1f MB\n",
        p.name.c_str(), device.str().c_str(), (long long)batch, num_threads(), median,
        times.front(), mean, a.steps, batch / median * 1e3, peak_rss_mb());
  }
  return 0;
}

}  // namespace ng::cli
