// Micro-benchmark: conv2d and pooling forward/backward on the layer shapes of LeNet-5 (batch 64)
// and ResNet-20 (batch 128), 2 threads by default. For each layer it prints the median wall ms
// per call of each kernel alone, of a whole forward+backward through the op and autograd, and
// the process CPU ms per forward+backward summed over all threads; then the total per training
// step of each model (each shape weighted by how often the model uses it).
//   ./build/bin/bench_conv [threads] [reps] [min]   ("min": the fastest call, not the median)
// On a shared machine the wall times swing with the other load; the CPU time does not, and on
// an idle machine wall ~= CPU / threads. Run with OMP_WAIT_POLICY=passive for the CPU column:
// otherwise idle OpenMP threads spin between calls and their spinning is counted too.
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd/autograd.h"
#include "engine/core/parallel.h"
#include "engine/core/rng.h"
#include "engine/ops/conv.h"
#include "engine/ops/pool.h"

using namespace ng;

namespace {

int g_reps = 30;
bool g_min = false;  // report the fastest call instead of the median (for a busy machine)

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

struct Timing {
  double wall_ms;  // median (or fastest) call
  double cpu_ms;   // mean process CPU time per call, all threads
};

Timing time_calls(const std::function<void()>& f) {
  for (int i = 0; i < 3; ++i) f();  // warm-up: caches, allocator, OpenBLAS buffers
  std::vector<double> t;
  const double c0 = cpu_seconds();
  for (int i = 0; i < g_reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  const double cpu = (cpu_seconds() - c0) * 1e3 / g_reps;
  std::sort(t.begin(), t.end());
  return {g_min ? t.front() : t[t.size() / 2], cpu};
}

struct ConvLayer {
  const char* name;
  Shape x, w;
  Conv2dParams p;
  bool bias, input_grad;  // input_grad: false for a network's first layer
  int count;              // uses per training step
};

Conv2dParams cp(int64_t stride, int64_t pad) {
  Conv2dParams p;
  p.stride = {stride, stride};
  p.padding = {pad, pad};
  return p;
}

void print_header(const char* title) {
  std::printf("\n%s\n%-24s %-18s %7s %8s %7s %8s %8s %8s %5s %8s\n", title, "layer", "input", "fwd",
              "bwd-data", "bwd-w", "op f+b", "GFLOP/s", "cpu f+b", "uses", "step ms");
}

// Returns the step total (wall ms) of forward + backward, weighted by count.
double bench_convs(const char* model, const std::vector<ConvLayer>& layers, Timing& total_cpu) {
  print_header(model);
  Rng rng(1);
  double total = 0;
  for (const auto& l : layers) {
    Tensor x = Tensor::randn(l.x, rng), w = Tensor::randn(l.w, rng);
    Tensor b = l.bias ? Tensor::randn({l.w[0]}, rng) : Tensor();
    Shape ys = conv2d_output_shape(l.x, l.w, l.p);
    Tensor y = Tensor::empty(ys), gy = Tensor::randn(ys, rng);
    Tensor gx = Tensor::empty(l.x), gw = Tensor::empty(l.w);
    Tensor gb = l.bias ? Tensor::empty({l.w[0]}) : Tensor();
    const Device cpu = Device::cpu();
    double f = time_calls([&] { conv2d_forward_kernel(cpu)(x, w, b, l.p, y); }).wall_ms;
    double bd = l.input_grad
                    ? time_calls([&] { conv2d_backward_data_kernel(cpu)(gy, w, l.p, gx); }).wall_ms
                    : 0.0;
    double bw = time_calls([&] { conv2d_backward_weight_kernel(cpu)(gy, x, l.p, gw, gb); }).wall_ms;
    // Through the op and autograd, as a training step runs it.
    x.set_requires_grad(l.input_grad);
    w.set_requires_grad(true);
    if (b.defined()) b.set_requires_grad(true);
    Timing op = time_calls([&] {
      w.zero_grad();
      if (b.defined()) b.zero_grad();
      x.zero_grad();
      conv2d(x, w, b, l.p).backward(gy);
    });
    // MACs of one pass: N * O * Ho * Wo * (C/G) * KH * KW; forward + backward = 3 passes
    // (2 without the input gradient), 2 FLOP each.
    double macs = double(numel(ys)) * double(l.w[1] * l.w[2] * l.w[3]);
    double gflops = macs * 2 * (l.input_grad ? 3 : 2) / (op.wall_ms * 1e-3) / 1e9;
    std::printf("%-24s %-18s %7.3f %8.3f %7.3f %8.3f %8.1f %8.3f %5d %8.2f\n", l.name,
                shape_str(l.x).c_str(), f, bd, bw, op.wall_ms, gflops, op.cpu_ms, l.count,
                op.wall_ms * l.count);
    total += op.wall_ms * l.count;
    total_cpu.cpu_ms += op.cpu_ms * l.count;
  }
  return total;
}

double bench_pool(const char* name, const Shape& xs, bool max, int count, Timing& total_cpu) {
  Rng rng(2);
  Tensor x = Tensor::randn(xs, rng).set_requires_grad(true);
  Pool2dParams p;  // 2x2, stride 2
  Tensor y = max ? max_pool2d(x, p) : global_avg_pool(x);
  Tensor gy = Tensor::randn(y.shape(), rng);
  double f = time_calls([&] {
               autograd::NoGradGuard ng;
               Tensor t = max ? max_pool2d(x, p) : global_avg_pool(x);
             }).wall_ms;
  Timing fb = time_calls([&] {
    x.zero_grad();
    (max ? max_pool2d(x, p) : global_avg_pool(x)).backward(gy);
  });
  std::printf("%-24s %-18s %7.3f %8s %7s %8.3f %8s %8.3f %5d %8.2f\n", name, shape_str(xs).c_str(),
              f, "", "", fb.wall_ms, "", fb.cpu_ms, count, fb.wall_ms * count);
  total_cpu.cpu_ms += fb.cpu_ms * count;
  return fb.wall_ms * count;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 2;
  if (argc > 2) g_reps = std::max(1, std::atoi(argv[2]));
  g_min = argc > 3 && std::string(argv[3]) == "min";
  set_num_threads(threads);
  std::printf("conv2d / pooling, %d threads, %s of %d calls, ms per call\n", threads,
              g_min ? "fastest" : "median", g_reps);
  std::printf(
      "fwd, bwd-data, bwd-w: the kernels alone; op f+b: conv2d + backward via autograd;\n"
      "cpu f+b: process CPU ms per op f+b, all threads\n");

  Timing lenet_cpu{0, 0};
  double lenet = bench_convs(
      "LeNet-5, batch 64",
      {{"conv1 1->6 5x5 pad 2", {64, 1, 28, 28}, {6, 1, 5, 5}, cp(1, 2), true, false, 1},
       {"conv2 6->16 5x5", {64, 6, 14, 14}, {16, 6, 5, 5}, cp(1, 0), true, true, 1}},
      lenet_cpu);
  lenet += bench_pool("maxpool1 2x2", {64, 6, 28, 28}, true, 1, lenet_cpu);
  lenet += bench_pool("maxpool2 2x2", {64, 16, 10, 10}, true, 1, lenet_cpu);
  std::printf("LeNet-5 step, conv + pool forward+backward: %.2f ms wall, %.2f ms CPU\n", lenet,
              lenet_cpu.cpu_ms);

  Timing resnet_cpu{0, 0};
  double resnet = bench_convs(
      "ResNet-20, batch 128",
      {{"stem 3->16 3x3", {128, 3, 32, 32}, {16, 3, 3, 3}, cp(1, 1), false, false, 1},
       {"16->16 3x3 @32", {128, 16, 32, 32}, {16, 16, 3, 3}, cp(1, 1), false, true, 6},
       {"16->32 3x3 s2 @32", {128, 16, 32, 32}, {32, 16, 3, 3}, cp(2, 1), false, true, 1},
       {"proj 16->32 1x1 s2 @32", {128, 16, 32, 32}, {32, 16, 1, 1}, cp(2, 0), false, true, 1},
       {"32->32 3x3 @16", {128, 32, 16, 16}, {32, 32, 3, 3}, cp(1, 1), false, true, 5},
       {"32->64 3x3 s2 @16", {128, 32, 16, 16}, {64, 32, 3, 3}, cp(2, 1), false, true, 1},
       {"proj 32->64 1x1 s2 @16", {128, 32, 16, 16}, {64, 32, 1, 1}, cp(2, 0), false, true, 1},
       {"64->64 3x3 @8", {128, 64, 8, 8}, {64, 64, 3, 3}, cp(1, 1), false, true, 5}},
      resnet_cpu);
  resnet += bench_pool("global avg pool @8", {128, 64, 8, 8}, false, 1, resnet_cpu);
  std::printf("ResNet-20 step, conv + pool forward+backward: %.2f ms wall, %.2f ms CPU\n", resnet,
              resnet_cpu.cpu_ms);
  return 0;
}
