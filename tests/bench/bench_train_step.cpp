// CPU/GPU training-step benchmark on the reference models (../shared/bench/README.md): one step
// is zero_grad, forward, cross-entropy, backward and an SGD step (lr 0.01, momentum 0.9), on
// random normal inputs and random labels in 0-9. Prints one JSON line with the median step time
// over --steps steps after --warmup, and the process's peak resident memory (and on a GPU the
// peak of the engine's device memory). The step is the Trainer's own (train/step_graph.h): on
// cuda, after warm-up, one CUDA graph replay (--graphs 0 or NG_CUDA_GRAPHS=0: eager). The batch
// lives on the GPU as in PyTorch's reference (--data host: it crosses from host memory on the
// copy stream every step, as the trainer feeds it). Each step is timed to the end of its GPU
// work (a synchronisation after every step, as torch_reference.py does); "pipelined_ms" is the
// mean step time of the same steps queued back to back with one synchronisation at the end, as
// the trainer runs them.
//   bench_train_step --model lenet --batch 64 --threads 2
//   bench_train_step --model resnet20 --batch 512 --device cuda [--tf32 0] [--graphs 0]
//   [--keep-outputs 1] [--precision bf16]
// compare_cpu.py runs it beside PyTorch's reference script and reports the ratios.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/core/allocator.h"
#include "engine/core/parallel.h"
#include "engine/core/rng.h"
#include "engine/nn/model.h"
#include "engine/ops/autocast.h"
#include "engine/ops/conv.h"
#include "engine/ops/cuda/backend.h"
#include "engine/optim/sgd.h"
#include "engine/train/step_graph.h"

using namespace ng;

int main(int argc, char** argv) {
  std::string model_name = "mlp", graph_path, device_name = "cpu", precision_name = "float32";
  int tf32 = -1;  // -1: the backend's default
  int keep_outputs = 0;
  int graphs = 1;
  std::string data = "device";
  int64_t batch = 64;
  int threads = 2, steps = 50, warmup = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--model")
      model_name = v;
    else if (k == "--graph")
      graph_path = v;
    else if (k == "--batch")
      batch = std::stoll(v);
    else if (k == "--threads")
      threads = std::stoi(v);
    else if (k == "--steps")
      steps = std::stoi(v);
    else if (k == "--warmup")
      warmup = std::stoi(v);
    else if (k == "--device")
      device_name = v;
    else if (k == "--tf32")
      tf32 = std::stoi(v);
    else if (k == "--keep-outputs")
      keep_outputs = std::stoi(v);
    else if (k == "--graphs")
      graphs = std::stoi(v);
    else if (k == "--data")
      data = v;
    else if (k == "--precision")
      precision_name = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 1;
    }
  }
  if (graph_path.empty())
    graph_path = std::string(NG_SOURCE_DIR) + "/resources/examples/" + model_name + ".graph.json";
  try {
    set_num_threads(threads);
    if (device_name != "cpu" && device_name != "cuda")
      throw Error("--device: cpu or cuda, got '" + device_name + "'");
    const Device device = device_name == "cuda" ? Device::cuda() : Device::cpu();
    if (device.is_cuda() && !cuda_available())
      throw Error("--device cuda: " + cuda_unavailable_reason());
    if (tf32 >= 0) set_cuda_tf32(tf32 != 0);
    const Precision precision = parse_precision(precision_name, "--precision");
    if (precision == Precision::BFloat16 && !device.is_cuda())
      throw Error("--precision bf16: mixed precision runs on cuda only");
    AutocastScope autocast(precision);  // NOTE [Autocast]: the whole step, as the trainer does
    std::ifstream f(graph_path);
    if (!f) throw Error("cannot open " + graph_path);
    nlohmann::json j = nlohmann::json::parse(f);
    if (j.contains("graph")) j = j["graph"];
    Model model = Model::compile(GraphSpec::from_json(j), 0);
    model.to(device);
    Shape in_shape{batch};
    for (const auto& n : model.spec().nodes)
      if (n.type == "Input")
        for (auto d : n.params.at("shape")) in_shape.push_back(d.get<int64_t>());
    Rng rng(1);
    if (data != "host" && data != "device")
      throw Error("--data: host or device, got '" + data + "'");
    const Device data_device = data == "device" ? device : Device::cpu();
    Tensor x = Tensor::randn(in_shape, rng, DType::Float32, data_device);
    std::vector<int64_t> lab(batch);
    for (auto& l : lab) l = int64_t(rng.randint(10));
    Tensor y = Tensor::from_vector(lab, {batch}, data_device);
    std::vector<Tensor> params;
    for (auto& [name, p] : model.parameters()) params.push_back(p);
    SGD opt(params, {.lr = 0.01, .momentum = 0.9});
    model.set_mode(Mode::Train);
    // A training loop that shows no per-node activations drops each one after its last reader
    // (NOTE [Released activations]); --keep-outputs 1 measures the default instead.
    model.set_keep_outputs(keep_outputs != 0);
    train::TrainStep step(model, opt, {.cuda_graphs = graphs != 0});
    std::vector<double> times;
    double last_loss = 0;
    for (int s = 0; s < warmup + steps; ++s) {
      auto t0 = std::chrono::steady_clock::now();
      const train::TrainStep::Output& out = step.run(x, y);
      if (device.is_cuda()) cuda_synchronize();
      auto t1 = std::chrono::steady_clock::now();
      if (s >= warmup) times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      if (s == warmup + steps - 1) last_loss = out.loss.item();
    }
    // The same steps back to back, one wait at the end (the trainer's way on a GPU).
    double pipelined = 0;
    if (steps > 0) {
      auto t0 = std::chrono::steady_clock::now();
      for (int s = 0; s < steps; ++s) step.run(x, y);
      if (device.is_cuda()) cuda_synchronize();
      auto t1 = std::chrono::steady_clock::now();
      pipelined = std::chrono::duration<double, std::milli>(t1 - t0).count() / steps;
    }
    std::sort(times.begin(), times.end());
    double med = times.empty() ? 0 : times[times.size() / 2];
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    nlohmann::json out = {{"model", model_name},
                          {"batch", batch},
                          {"device", device_name},
                          {"threads", threads},
                          {"precision", precision_name},
                          {"median_ms", med},
                          {"min_ms", times.empty() ? 0 : times[0]},
                          {"samples_per_s", med > 0 ? batch / med * 1e3 : 0},
                          {"peak_rss_mb", ru.ru_maxrss / 1024.0},
                          {"final_loss", last_loss},
                          {"params", model.parameter_count()},
                          {"pipelined_ms", pipelined}};
    out["keep_outputs"] = keep_outputs != 0;
    // NOTE [Fused ReLU]: BatchNorm/Add steps that take the ReLU after them (0 with outputs kept).
    out["fused_relu"] = keep_outputs != 0 || !model.fuse_relu() ? 0 : model.fused_relu_count();
    // NOTE [ReLU gradient in the max pool]: pools that apply a convolution's ReLU derivative.
    out["relu_grads_in_pools"] =
        keep_outputs != 0 || !model.fuse_relu() ? 0 : model.relu_grads_in_pools();
    // NOTE [Batch norm into the add]: BatchNorm -> Add + ReLU in one apply pass (NG_BN_ADD_RELU=1).
    out["bn_add_fusions"] = keep_outputs != 0 || !model.fuse_relu() || !model.fuse_bn_add()
                                ? 0
                                : model.bn_add_fusions();
    out["channels_last"] = ng::channels_last_policy() == ng::ChannelsLastPolicy::Off  ? "off"
                           : ng::channels_last_policy() == ng::ChannelsLastPolicy::On ? "on"
                                                                                      : "auto";
    out["peak_alloc_mb"] = double(allocator(device).peak_bytes_in_use()) / (1 << 20);
    if (device.is_cuda()) {
      out["data"] = data;
      out["cuda_graphs"] = step.graphs_enabled();
      out["graph_captures"] = step.captures();
      out["graph_replays"] = step.replays();
      out["graph_nodes"] = step.graph_nodes();        // kernels and copies of one replayed step
      out["graph_branches"] = step.graph_branches();  // NOTE [Weight-gradient branches]
      out["graph_early_joins"] = step.graph_early_joins();
      if (!step.disabled_reason().empty()) out["graphs_off_reason"] = step.disabled_reason();
      out["gpu"] = cuda_device_description();
      out["tf32"] = cuda_tf32();
      out["peak_gpu_mb"] = double(allocator(device).peak_bytes_in_use()) / (1 << 20);
    }
    std::printf("%s\n", out.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_train_step: %s\n", e.what());
    return 1;
  }
}
