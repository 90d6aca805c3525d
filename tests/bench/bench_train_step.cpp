// CPU/GPU training-step benchmark on the reference models (../shared/bench/README.md): one step
// is zero_grad, forward, cross-entropy, backward and an SGD step (lr 0.01, momentum 0.9), on
// random normal inputs and random labels in 0-9. Prints one JSON line with the median step time
// over --steps steps after --warmup, and the process's peak resident memory (and on a GPU the
// peak of the engine's device memory). On cuda each step is timed to the end of its GPU work.
//   bench_train_step --model lenet --batch 64 --threads 2
//   bench_train_step --model resnet20 --batch 512 --device cuda [--tf32 0]
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
#include "engine/ops/cuda/backend.h"
#include "engine/optim/sgd.h"

using namespace ng;

int main(int argc, char** argv) {
  std::string model_name = "mlp", graph_path, device_name = "cpu";
  int tf32 = -1;  // -1: the backend's default
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
    Tensor x = Tensor::randn(in_shape, rng, DType::Float32, device);
    std::vector<int64_t> lab(batch);
    for (auto& l : lab) l = int64_t(rng.randint(10));
    Tensor y = Tensor::from_vector(lab, {batch}, device);
    std::vector<Tensor> params;
    for (auto& [name, p] : model.parameters()) params.push_back(p);
    SGD opt(params, {.lr = 0.01, .momentum = 0.9});
    model.set_mode(Mode::Train);
    Model::Result r;
    std::vector<double> times;
    double last_loss = 0;
    for (int s = 0; s < warmup + steps; ++s) {
      auto t0 = std::chrono::steady_clock::now();
      opt.zero_grad();
      model.forward({x}, y, r);
      r.outputs.clear();  // as the trainer does: activations live only as long as backward needs
      r.loss.backward();
      opt.step();
      if (device.is_cuda()) cuda_synchronize();
      auto t1 = std::chrono::steady_clock::now();
      if (s >= warmup) times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      if (s == warmup + steps - 1) last_loss = r.loss.item();
    }
    std::sort(times.begin(), times.end());
    double med = times.empty() ? 0 : times[times.size() / 2];
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    nlohmann::json out = {{"model", model_name},
                          {"batch", batch},
                          {"device", device_name},
                          {"threads", threads},
                          {"median_ms", med},
                          {"min_ms", times.empty() ? 0 : times[0]},
                          {"samples_per_s", med > 0 ? batch / med * 1e3 : 0},
                          {"peak_rss_mb", ru.ru_maxrss / 1024.0},
                          {"final_loss", last_loss},
                          {"params", model.parameter_count()}};
    if (device.is_cuda()) {
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
