// CUDA conv2d forward / backward-data / backward-weight through cuDNN 9's legacy convolution
// API; the bias is added and reduced by our own kernels (conv_bias.cu).
//
// NOTE [cuDNN plans]: for every distinct problem (shapes, stride, padding, dilation, groups,
// dtype, TF32 setting) the descriptors and the three algorithms are chosen once and cached for
// the process. Each algorithm is chosen on the first call that needs it by timing, as PyTorch's
// cudnn.benchmark does: cudnnFind*AlgorithmEx runs every algorithm on that call's own buffers
// (it writes only the call's output, which the call then overwrites) with a scratch workspace
// of the plan's limit (NOTE [Convolution workspace]). The fastest one is kept that succeeded,
// fits the limit and, with TF32 off, uses plain FMA math and no FFT or Winograd transform
// (unless nothing else qualifies). The heuristics (cudnnGet*Algorithm_v7, nothing run) are the
// fallback: while the stream is being captured into a CUDA graph (timing would synchronise and
// break the capture), when the scratch workspace cannot be allocated, when Find fails, and
// always when the environment sets NG_CUDNN_FIND=0. NG_CUDNN_FIND_TRIALS=k (1 by default) times
// every algorithm k times and ranks them by their median (find_trials). The convolution
// descriptor's math type is set to the chosen algorithm's before each call, as cuDNN requires.
// NG_CUDNN_LOG=1 prints each choice (and Find's candidates with their times) to stderr.
//
// NOTE [Convolution workspace]: the workspace of the chosen algorithm is allocated for each call
// and returned at once, but it adds to the peak while the training step's activations are alive
// (the backward calls run when nearly all of them are). The limit is therefore tied to the
// problem, not to the device: twice the input, output and weight together, at least 16 MiB and
// at most 512 MiB. That leaves room for the algorithms that transpose NCHW operands to NHWC in
// the workspace around a tensor-core kernel (NOTE [Channels-last]), while FFT and Winograd
// variants that need several times the tensors are left out.
//
// NOTE [Channels-last]: cuDNN's fastest TF32 and bf16 kernels on sm_80+ are NHWC; given NCHW
// operands, some algorithms transpose around them inside the call (nchwToNhwc / nhwcToNchw
// kernels, ~1.5 ms of ResNet-20's step at batch 512 on an H200 before the engine had this).
// ng::conv2d (ops/conv.cpp) decides the layout per call (conv2d_runs_channels_last): on CUDA a
// large enough convolution, or one whose input is already channels-last, runs with x, w, y and
// the gradients in NHWC memory (logical shape unchanged, strides [H*W*C, 1, W*C, C]) and sets
// Conv2dParams::channels_last, which makes these descriptors CUDNN_TENSOR_NHWC (the filter as
// [O, KH, KW, C/G]). The weight is copied into that layout per call and its gradient copied
// back, a few microseconds each, so parameters, optimisers and checkpoints never see NHWC.
// Activations stay NHWC between layers: elementwise ops keep their input's layout, batch norm
// has NHWC kernels (norm.cu), and NCHW-only ops (pooling, reshape) call contiguous().

#include "engine/ops/conv.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>
#include <vector>

#include "engine/ops/cuda/backend.h"
#include "engine/ops/cuda/libs.h"
#include "engine/ops/elementwise.h"

namespace ng::cuda {
namespace {

constexpr size_t kMinWorkspace = size_t(16) << 20;
constexpr size_t kMaxWorkspace = size_t(512) << 20;

struct ConvKey {
  std::array<int64_t, 4> x, w;
  std::array<int64_t, 2> stride, padding, dilation;
  int64_t groups;
  DType dtype;
  bool tf32;
  bool deterministic;  // only algorithms cuDNN reports as deterministic
  bool nhwc;           // operands channels-last (NOTE [Channels-last])
  auto tie() const {
    return std::tie(x, w, stride, padding, dilation, groups, dtype, tf32, deterministic, nhwc);
  }
  bool operator<(const ConvKey& o) const { return tie() < o.tie(); }
};

template <class Algo>
struct Choice {
  Algo algo{};
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
  size_t workspace = 0;
};

struct Plan {
  ConvKey key;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnMathType_t base_math = CUDNN_DEFAULT_MATH;
  size_t workspace_limit = kMinWorkspace;  // NOTE [Convolution workspace]
  bool have_fwd = false, have_bwd_data = false, have_bwd_filter = false;
  // Whether backward-data's algorithm takes beta = 1 (conv2d_backward_data_add): until it refuses.
  bool bwd_data_add_ok = true;
  Choice<cudnnConvolutionFwdAlgo_t> fwd;
  Choice<cudnnConvolutionBwdDataAlgo_t> bwd_data;
  Choice<cudnnConvolutionBwdFilterAlgo_t> bwd_filter;
  // relu(conv + bias) in one call (conv2d_bias_relu_forward): checked once per problem.
  bool bias_relu_checked = false, bias_relu_ok = false;
  cudnnTensorDescriptor_t bias = nullptr;  // [1, O, 1, 1]
  size_t bias_relu_workspace = 0;
  // Descriptors live as long as the cache, i.e. the process.
};

int to_int(int64_t v, const char* what) {
  NG_CHECK(v <= INT32_MAX, "Conv2d on cuda: ", what, " ", v, " exceeds cuDNN's 32-bit limit");
  return int(v);
}

std::string problem_str(const ConvKey& k) {
  return detail::concat("input ", shape_str({k.x[0], k.x[1], k.x[2], k.x[3]}), ", weight ",
                        shape_str({k.w[0], k.w[1], k.w[2], k.w[3]}), ", stride [", k.stride[0],
                        ", ", k.stride[1], "], padding [", k.padding[0], ", ", k.padding[1],
                        "], dilation [", k.dilation[0], ", ", k.dilation[1], "], groups ", k.groups,
                        k.tf32 ? "" : ", TF32 off", k.nhwc ? ", NHWC" : "");
}

cudnnDataType_t data_type(DType dt) {
  if (dt == DType::Float32) return CUDNN_DATA_FLOAT;
  if (dt == DType::Float64) return CUDNN_DATA_DOUBLE;
  if (dt == DType::BFloat16) return CUDNN_DATA_BFLOAT16;  // bf16 autocast (NOTE [Autocast])
  throw Error(std::string("Conv2d on cuda: needs float32, float64 or bfloat16, got ") +
              dtype_name(dt));
}

// The convolution descriptor's arithmetic: bfloat16 data accumulates in float32 on tensor cores
// (cuDNN's PSEUDO_BFLOAT16_CONFIG); the other types compute in their own.
cudnnDataType_t compute_type(DType dt) {
  return dt == DType::BFloat16 ? CUDNN_DATA_FLOAT : data_type(dt);
}

std::unique_ptr<Plan> make_plan(const ConvKey& k, const Shape& y_shape) {
  NG_CHECK(k.x[0] * k.x[1] * k.x[2] * k.x[3] <= INT32_MAX &&
               y_shape[0] * y_shape[1] * y_shape[2] * y_shape[3] <= INT32_MAX,
           "Conv2d on cuda: ", problem_str(k),
           " has more than 2^31 elements in one tensor; use a smaller batch");
  auto p = std::make_unique<Plan>();
  p->key = k;
  const cudnnDataType_t dt = data_type(k.dtype);
  NG_CUDA_CHECK(cudnnCreateTensorDescriptor(&p->x));
  NG_CUDA_CHECK(cudnnCreateTensorDescriptor(&p->y));
  NG_CUDA_CHECK(cudnnCreateFilterDescriptor(&p->w));
  NG_CUDA_CHECK(cudnnCreateConvolutionDescriptor(&p->conv));
  const cudnnTensorFormat_t fmt = k.nhwc ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
  NG_CUDA_CHECK(cudnnSetTensor4dDescriptor(p->x, fmt, dt, to_int(k.x[0], "batch"),
                                           to_int(k.x[1], "channels"), to_int(k.x[2], "height"),
                                           to_int(k.x[3], "width")));
  NG_CUDA_CHECK(cudnnSetTensor4dDescriptor(p->y, fmt, dt, int(y_shape[0]), int(y_shape[1]),
                                           int(y_shape[2]), int(y_shape[3])));
  NG_CUDA_CHECK(cudnnSetFilter4dDescriptor(p->w, dt, fmt, int(k.w[0]), int(k.w[1]), int(k.w[2]),
                                           int(k.w[3])));
  NG_CUDA_CHECK(cudnnSetConvolution2dDescriptor(
      p->conv, int(k.padding[0]), int(k.padding[1]), int(k.stride[0]), int(k.stride[1]),
      int(k.dilation[0]), int(k.dilation[1]), CUDNN_CROSS_CORRELATION, compute_type(k.dtype)));
  NG_CUDA_CHECK(cudnnSetConvolutionGroupCount(p->conv, int(k.groups)));
  // Float32 without TF32 must be restricted to FMA kernels: the default math type lets cuDNN
  // pick TF32 tensor-core kernels on Ampere and later.
  p->base_math = (k.dtype == DType::Float32 && !k.tf32) ? CUDNN_FMA_MATH
                 : k.dtype == DType::BFloat16           ? CUDNN_TENSOR_OP_MATH
                                                        : CUDNN_DEFAULT_MATH;
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p->conv, p->base_math));
  const size_t elem = k.dtype == DType::Float64 ? 8 : 4;
  const int64_t elems = k.x[0] * k.x[1] * k.x[2] * k.x[3] + k.w[0] * k.w[1] * k.w[2] * k.w[3] +
                        y_shape[0] * y_shape[1] * y_shape[2] * y_shape[3];
  const size_t big = 2 * size_t(elems) * elem;
  p->workspace_limit = std::clamp(big, kMinWorkspace, kMaxWorkspace);
  int n = 0, c = 0, h = 0, w = 0;
  NG_CUDA_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w));
  NG_CHECK(n == y_shape[0] && c == y_shape[1] && h == y_shape[2] && w == y_shape[3],
           "Conv2d on cuda: cuDNN computes output [", n, ", ", c, ", ", h, ", ", w, "] for ",
           problem_str(k), ", the engine ", shape_str(y_shape));
  return p;
}

// FFT and Winograd algorithms compute through transforms whose rounding differs from a direct
// sum by more than float32's own (about 1e-5 relative on 3x3 kernels).
bool is_transform(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_FFT || a == CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED;
}
bool is_transform(cudnnConvolutionBwdDataAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD ||
         a == CUDNN_CONVOLUTION_BWD_DATA_ALGO_WINOGRAD_NONFUSED;
}
bool is_transform(cudnnConvolutionBwdFilterAlgo_t a) {
  return a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_FFT_TILING ||
         a == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_WINOGRAD_NONFUSED;
}

// Whether an algorithm reported by Find or the heuristics may be used: it ran (or can run), and
// with TF32 off it uses FMA math only and, when `strict`, no FFT or Winograd transform (TF32
// off asks for float32 accuracy; with TF32 on, TF32's own error is ~100x larger).
template <class Perf>
bool usable(const Perf& r, const Plan& p, bool strict) {
  if (r.status != CUDNN_STATUS_SUCCESS) return false;
  if (p.key.deterministic && r.determinism != CUDNN_DETERMINISTIC) return false;
  if (p.base_math == CUDNN_FMA_MATH && r.mathType != CUDNN_FMA_MATH) return false;
  if (strict && p.base_math == CUDNN_FMA_MATH && is_transform(r.algo)) return false;
  return true;
}

// Whether algorithms are timed: NG_CUDNN_FIND (not "0") at start-up, or set_conv_algorithm_timing.
std::atomic<bool>& timing_enabled() {
  static std::atomic<bool> on = [] {
    const char* v = std::getenv("NG_CUDNN_FIND");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return on;
}

// Find (timing) unless turned off or the stream is being captured (NOTE [cuDNN plans]).
bool may_time_algorithms() {
  if (!timing_enabled().load()) return false;
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  NG_CUDA_CHECK(cudaStreamIsCapturing(stream(), &st));
  return st == cudaStreamCaptureStatusNone;
}

// The three directions of a plan, for one chooser: each has its algorithm and perf types, and
// the Find, heuristic and workspace-size calls on the plan's descriptors.
struct FwdDir {
  using Algo = cudnnConvolutionFwdAlgo_t;
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static constexpr const char* name = "forward";
  static int max_count(cudnnHandle_t h) {
    int n = 0;
    NG_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &n));
    return n;
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, Plan& p, int n, int* got, Perf* out) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, n, got, out);
  }
  // a: the input (x), b: the weight (w), out: the output (y)
  static cudnnStatus_t find(cudnnHandle_t h, Plan& p, const void* a, const void* b, void* out,
                            int n, int* got, Perf* res, void* ws, size_t ws_bytes) {
    return cudnnFindConvolutionForwardAlgorithmEx(h, p.x, a, p.w, b, p.conv, p.y, out, n, got, res,
                                                  ws, ws_bytes);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, Plan& p, Algo algo, size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y, algo, bytes);
  }
  static Choice<Algo>& choice(Plan& p) { return p.fwd; }
  static bool& have(Plan& p) { return p.have_fwd; }
};

struct BwdDataDir {
  using Algo = cudnnConvolutionBwdDataAlgo_t;
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static constexpr const char* name = "backward-data";
  static int max_count(cudnnHandle_t h) {
    int n = 0;
    NG_CUDA_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &n));
    return n;
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, Plan& p, int n, int* got, Perf* out) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x, n, got, out);
  }
  // a: the weight (w), b: the output gradient (gy), out: the input gradient (gx)
  static cudnnStatus_t find(cudnnHandle_t h, Plan& p, const void* a, const void* b, void* out,
                            int n, int* got, Perf* res, void* ws, size_t ws_bytes) {
    return cudnnFindConvolutionBackwardDataAlgorithmEx(h, p.w, a, p.y, b, p.conv, p.x, out, n, got,
                                                       res, ws, ws_bytes);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, Plan& p, Algo algo, size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, p.conv, p.x, algo, bytes);
  }
  static Choice<Algo>& choice(Plan& p) { return p.bwd_data; }
  static bool& have(Plan& p) { return p.have_bwd_data; }
};

struct BwdFilterDir {
  using Algo = cudnnConvolutionBwdFilterAlgo_t;
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  static constexpr const char* name = "backward-weight";
  static int max_count(cudnnHandle_t h) {
    int n = 0;
    NG_CUDA_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &n));
    return n;
  }
  static cudnnStatus_t heuristic(cudnnHandle_t h, Plan& p, int n, int* got, Perf* out) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w, n, got, out);
  }
  // a: the input (x), b: the output gradient (gy), out: the weight gradient (gw)
  static cudnnStatus_t find(cudnnHandle_t h, Plan& p, const void* a, const void* b, void* out,
                            int n, int* got, Perf* res, void* ws, size_t ws_bytes) {
    return cudnnFindConvolutionBackwardFilterAlgorithmEx(h, p.x, a, p.y, b, p.conv, p.w, out, n,
                                                         got, res, ws, ws_bytes);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, Plan& p, Algo algo, size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x, p.y, p.conv, p.w, algo, bytes);
  }
  static Choice<Algo>& choice(Plan& p) { return p.bwd_filter; }
  static bool& have(Plan& p) { return p.have_bwd_filter; }
};

// Takes the first usable result (Find sorts by time, the heuristics by expected speed) whose
// workspace fits the plan's limit, without FFT / Winograd when TF32 is off if any other
// qualifies; false when there is none.
template <class Dir>
int take_first(Plan& p, const std::vector<typename Dir::Perf>& perf, int returned) {
  cudnnHandle_t h = cudnn();
  for (bool strict : {true, false}) {
    for (int i = 0; i < returned; ++i) {
      const auto& r = perf[size_t(i)];
      if (!usable(r, p, strict)) continue;
      NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, r.mathType));
      size_t ws = 0;
      if (Dir::workspace(h, p, r.algo, &ws) != CUDNN_STATUS_SUCCESS || ws > p.workspace_limit)
        continue;
      Dir::choice(p) = {r.algo, r.mathType, ws};
      Dir::have(p) = true;
      return i;
    }
  }
  return -1;
}

// NG_CUDNN_LOG=1: one line per choice on stderr (which algorithm, how it was chosen, its time
// and workspace, and the candidates Find timed), for reading the GPU benchmark.
template <class Dir>
void log_choice(const Plan& p, const std::vector<typename Dir::Perf>& perf, int returned,
                int chosen, bool timed) {
  static const bool on = [] {
    const char* v = std::getenv("NG_CUDNN_LOG");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  if (!on) return;
  const auto& r = perf[size_t(chosen)];
  std::string line =
      detail::concat("cuDNN ", Dir::name, " for ", problem_str(p.key), ": algo ", int(r.algo),
                     ", math ", int(r.mathType), ", workspace ", r.memory >> 20, " MiB, ",
                     timed ? "timed " : "heuristic ", r.time, " ms; candidates");
  for (int i = 0; i < returned; ++i)
    if (perf[size_t(i)].status == CUDNN_STATUS_SUCCESS)
      line += detail::concat(" ", int(perf[size_t(i)].algo), "/", int(perf[size_t(i)].mathType),
                             ":", perf[size_t(i)].time, "ms:", perf[size_t(i)].memory >> 20, "M");
  std::fprintf(stderr, "%s\n", line.c_str());
}

// NG_CUDNN_FIND_TRIALS (1 to 9, default 1): how many times Find times the algorithms of each
// problem. With more than one, each algorithm and math type that succeeded in every trial is
// ranked by its median time (NOTE [cuDNN plans]), so one noisy timing does not decide; an odd
// count is meant (with an even one the upper of the two middle times counts).
std::atomic<int>& find_trials_slot() {
  static std::atomic<int> n = [] {
    const char* v = std::getenv("NG_CUDNN_FIND_TRIALS");
    return std::clamp(v ? std::atoi(v) : 1, 1, 9);
  }();
  return n;
}
int find_trials() {
  return find_trials_slot().load();
}

std::atomic<int64_t>& find_calls_slot() {  // cudnnFind*AlgorithmEx calls so far
  static std::atomic<int64_t> n{0};
  return n;
}

// Times the algorithms `trials - 1` more times after the first Find (perf, returned) and replaces
// perf with the algorithms that succeeded every time, each with its median time, fastest first.
template <class Dir>
void refind(Plan& p, const void* a, const void* b, void* out, int trials, DeviceBuffer& ws,
            std::vector<typename Dir::Perf>& perf, int& returned) {
  using Perf = typename Dir::Perf;
  std::map<std::pair<int, int>, std::vector<float>> times;  // (algo, math) -> ms per trial
  auto record = [&](const std::vector<Perf>& r, int n) {
    for (int i = 0; i < n; ++i)
      if (r[size_t(i)].status == CUDNN_STATUS_SUCCESS)
        times[{int(r[size_t(i)].algo), int(r[size_t(i)].mathType)}].push_back(r[size_t(i)].time);
  };
  record(perf, returned);
  std::vector<Perf> again(perf.size());
  for (int t = 1; t < trials; ++t) {
    int got = 0;
    ++find_calls_slot();
    if (Dir::find(cudnn(), p, a, b, out, int(again.size()), &got, again.data(), ws.get(),
                  ws.bytes()) != CUDNN_STATUS_SUCCESS)
      return;  // keep the first trial's ranking
    record(again, got);
  }
  std::vector<Perf> merged;
  for (int i = 0; i < returned; ++i) {
    Perf r = perf[size_t(i)];
    if (r.status != CUDNN_STATUS_SUCCESS) continue;
    std::vector<float>& ts = times[{int(r.algo), int(r.mathType)}];
    if (int(ts.size()) < trials) continue;
    std::sort(ts.begin(), ts.end());
    r.time = ts[ts.size() / 2];
    merged.push_back(r);
  }
  if (merged.empty()) return;
  std::stable_sort(merged.begin(), merged.end(),
                   [](const Perf& x, const Perf& y) { return x.time < y.time; });
  returned = int(merged.size());
  std::copy(merged.begin(), merged.end(), perf.begin());
}

// Chooses the plan's algorithm for one direction (NOTE [cuDNN plans]); a, b and out are the
// call's buffers in Dir::find's order (out is overwritten). out null: the heuristics choose.
template <class Dir>
void choose(Plan& p, const void* a, const void* b, void* out) {
  cudnnHandle_t h = cudnn();
  const int max_count = std::max(Dir::max_count(h), 1);
  std::vector<typename Dir::Perf> perf(static_cast<size_t>(max_count));
  int returned = 0;
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.base_math));
  if (out && may_time_algorithms()) {
    bool timed = false;
    try {
      DeviceBuffer ws(p.workspace_limit);
      ++find_calls_slot();
      timed = Dir::find(h, p, a, b, out, max_count, &returned, perf.data(), ws.get(), ws.bytes()) ==
              CUDNN_STATUS_SUCCESS;
      const int trials = find_trials();
      if (timed && trials > 1) refind<Dir>(p, a, b, out, trials, ws, perf, returned);
    } catch (const Error&) {  // the scratch workspace did not fit: use the heuristics
      timed = false;
    }
    if (timed) {
      const int i = take_first<Dir>(p, perf, returned);
      if (i >= 0) return log_choice<Dir>(p, perf, returned, i, true);
    }
    NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.base_math));
  }
  returned = 0;
  NG_CUDA_CHECK(Dir::heuristic(h, p, max_count, &returned, perf.data()));
  const int i = take_first<Dir>(p, perf, returned);
  if (i >= 0) return log_choice<Dir>(p, perf, returned, i, false);
  throw Error(
      std::string("Conv2d on cuda: cuDNN offers no ") + Dir::name + " algorithm for " +
      problem_str(p.key) +
      (p.key.deterministic ? " among its deterministic ones (NG_CUDNN_DETERMINISTIC)" : ""));
}

// The cached plan for this problem (NOTE [cuDNN plans]); x_shape/w_shape/y_shape NCHW.
Plan& plan_for(const Shape& x_shape, const Shape& w_shape, const Shape& y_shape, DType dt,
               const Conv2dParams& prm) {
  static std::mutex mu;
  static std::map<ConvKey, std::unique_ptr<Plan>> cache;
  ConvKey k{{x_shape[0], x_shape[1], x_shape[2], x_shape[3]},
            {w_shape[0], w_shape[1], w_shape[2], w_shape[3]},
            prm.stride,
            prm.padding,
            prm.dilation,
            prm.groups,
            dt,
            dt == DType::Float32 && cuda_tf32(),
            cudnn_deterministic(),
            prm.channels_last};
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(k);
  if (it == cache.end()) it = cache.emplace(k, make_plan(k, y_shape)).first;
  return *it->second;
}

// alpha = 1, beta = 0 in the data's type (cuDNN reads doubles for double data).
struct Scalars {
  float f1 = 1.f, f0 = 0.f;
  double d1 = 1.0, d0 = 0.0;
  const void* one(DType dt) const { return dt == DType::Float64 ? (const void*)&d1 : &f1; }
  const void* zero(DType dt) const { return dt == DType::Float64 ? (const void*)&d0 : &f0; }
};

// x: [N, C, H, W], w: [O, C/G, KH, KW], b: [O] or undefined -> y: [N, O, Ho, Wo]
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& prm,
                    Tensor& y) {
  if (y.numel() == 0) return;
  Plan& p = plan_for(x.shape(), w.shape(), y.shape(), x.dtype(), prm);
  if (!p.have_fwd) choose<FwdDir>(p, x.raw_data(), w.raw_data(), y.raw_data());
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.fwd.math));
  DeviceBuffer ws(p.fwd.workspace);
  Scalars s;
  NG_CUDA_CHECK(cudnnConvolutionForward(cudnn(), s.one(x.dtype()), p.x, x.raw_data(), p.w,
                                        w.raw_data(), p.conv, p.fwd.algo, ws.get(), ws.bytes(),
                                        s.zero(x.dtype()), p.y, y.raw_data()));
  if (b.defined()) add_channel_bias(y, b);
}

// gy: [N, O, Ho, Wo], w: [O, C/G, KH, KW] -> gx: [N, C, H, W]
// add: gx += the result (beta = 1; NOTE [Gradients added in place by the kernel] in
// autograd/autograd.h), else gx = the result.
void backward_data(const Tensor& gy, const Tensor& w, const Conv2dParams& prm, Tensor& gx,
                   bool add) {
  if (gx.numel() == 0) return;
  Plan& p = plan_for(gx.shape(), w.shape(), gy.shape(), gy.dtype(), prm);
  if (!p.have_bwd_data) {
    if (add) {
      // Find overwrites its output: it times the algorithms on a scratch buffer, and where that
      // cannot be had (or Find would not run) the heuristics choose.
      std::unique_ptr<DeviceBuffer> scratch;
      if (may_time_algorithms()) {
        try {
          scratch = std::make_unique<DeviceBuffer>(gx.nbytes());
        } catch (const Error&) {
        }
      }
      choose<BwdDataDir>(p, w.raw_data(), gy.raw_data(), scratch ? scratch->get() : nullptr);
    } else {
      choose<BwdDataDir>(p, w.raw_data(), gy.raw_data(), gx.raw_data());
    }
  }
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.bwd_data.math));
  DeviceBuffer ws(p.bwd_data.workspace);
  Scalars s;
  const auto run = [&](void* out, bool beta_one) {
    return cudnnConvolutionBackwardData(
        cudnn(), s.one(gy.dtype()), p.w, w.raw_data(), p.y, gy.raw_data(), p.conv, p.bwd_data.algo,
        ws.get(), ws.bytes(), beta_one ? s.one(gy.dtype()) : s.zero(gy.dtype()), p.x, out);
  };
  if (add && p.bwd_data_add_ok) {
    const cudnnStatus_t st = run(gx.raw_data(), true);
    if (st != CUDNN_STATUS_NOT_SUPPORTED && st != CUDNN_STATUS_BAD_PARAM) {
      NG_CUDA_CHECK(st);
      return;
    }
    // The chosen algorithm refused beta = 1 before launching (Find timed it with beta = 0): from
    // now on this problem's gradient is written apart and added by a kernel of its own.
    p.bwd_data_add_ok = false;
  }
  if (add) {
    Tensor part =
        Tensor::empty(gx.shape(), gx.dtype(), gx.device(),
                      prm.channels_last ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous);
    NG_CUDA_CHECK(run(part.raw_data(), false));
    add_(gx, part);
    return;
  }
  NG_CUDA_CHECK(run(gx.raw_data(), false));
}

void conv2d_backward_data(const Tensor& gy, const Tensor& w, const Conv2dParams& prm, Tensor& gx) {
  backward_data(gy, w, prm, gx, false);
}

void conv2d_backward_data_add(const Tensor& gy, const Tensor& w, const Conv2dParams& prm,
                              Tensor& gx) {
  backward_data(gy, w, prm, gx, true);
}

// gy: [N, O, Ho, Wo], x: [N, C, H, W] -> gw: [O, C/G, KH, KW]; gb: [O] when defined
void conv2d_backward_weight(const Tensor& gy, const Tensor& x, const Conv2dParams& prm, Tensor& gw,
                            Tensor& gb) {
  if (gy.numel() == 0 || x.numel() == 0) {  // nothing to sum over: the gradients are zero
    fill_kernel(gw.device())(gw, 0.0);
    if (gb.defined()) fill_kernel(gb.device())(gb, 0.0);
    return;
  }
  Plan& p = plan_for(x.shape(), gw.shape(), gy.shape(), gy.dtype(), prm);
  if (!p.have_bwd_filter) choose<BwdFilterDir>(p, x.raw_data(), gy.raw_data(), gw.raw_data());
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.bwd_filter.math));
  DeviceBuffer ws(p.bwd_filter.workspace);
  Scalars s;
  NG_CUDA_CHECK(cudnnConvolutionBackwardFilter(cudnn(), s.one(gy.dtype()), p.x, x.raw_data(), p.y,
                                               gy.raw_data(), p.conv, p.bwd_filter.algo, ws.get(),
                                               ws.bytes(), s.zero(gy.dtype()), p.w, gw.raw_data()));
  if (gb.defined()) sum_per_channel(gy, gb);
}

// The ReLU of cudnnConvolutionBiasActivationForward (NaN not propagated: a NaN input gives 0,
// as the engine's ReLU does).
cudnnActivationDescriptor_t relu_activation() {
  static cudnnActivationDescriptor_t d = [] {
    cudnnActivationDescriptor_t a = nullptr;
    NG_CUDA_CHECK(cudnnCreateActivationDescriptor(&a));
    NG_CUDA_CHECK(
        cudnnSetActivationDescriptor(a, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0));
    return a;
  }();
  return d;
}

// y = relu(conv(x, w) + b) in one cuDNN call (NOTE [Fused ReLU] in engine/nn/model.h). cuDNN
// runs the ReLU only with the implicit-precomputed-GEMM algorithm, so that is the algorithm
// here, whatever Find picked for the plain forward; false (nothing written) where cuDNN does not
// offer it for the problem, and conv2d then runs the convolution and the ReLU separately.
bool conv2d_bias_relu_forward(const Tensor& x, const Tensor& w, const Tensor& b,
                              const Conv2dParams& prm, Tensor& y) {
  if (y.numel() == 0 || (x.dtype() != DType::Float32 && x.dtype() != DType::Float64)) return false;
  constexpr cudnnConvolutionFwdAlgo_t kAlgo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM;
  Plan& p = plan_for(x.shape(), w.shape(), y.shape(), x.dtype(), prm);
  cudnnHandle_t h = cudnn();
  if (!p.bias_relu_checked) {
    p.bias_relu_checked = true;
    NG_CUDA_CHECK(cudnnCreateTensorDescriptor(&p.bias));
    NG_CUDA_CHECK(cudnnSetTensor4dDescriptor(p.bias, CUDNN_TENSOR_NCHW, data_type(p.key.dtype), 1,
                                             int(y.size(1)), 1, 1));
    NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.base_math));
    size_t ws = 0;
    p.bias_relu_ok = cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y, kAlgo,
                                                             &ws) == CUDNN_STATUS_SUCCESS &&
                     ws <= p.workspace_limit;
    p.bias_relu_workspace = ws;
  }
  if (!p.bias_relu_ok) return false;
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.base_math));
  DeviceBuffer ws(p.bias_relu_workspace);
  Scalars s;
  // z = y with alpha2 = 0: nothing is added before the bias.
  const cudnnStatus_t st = cudnnConvolutionBiasActivationForward(
      h, s.one(x.dtype()), p.x, x.raw_data(), p.w, w.raw_data(), p.conv, kAlgo, ws.get(),
      ws.bytes(), s.zero(x.dtype()), p.y, y.raw_data(), p.bias, b.raw_data(), relu_activation(),
      p.y, y.raw_data());
  if (st == CUDNN_STATUS_NOT_SUPPORTED || st == CUDNN_STATUS_BAD_PARAM) {
    p.bias_relu_ok = false;  // refused before launching: from now on the separate ops
    return false;
  }
  NG_CUDA_CHECK(st);
  return true;
}

}  // namespace

void set_conv_algorithm_timing(bool timed) {
  timing_enabled().store(timed);
}

void set_conv_find_trials(int trials) {
  find_trials_slot().store(std::clamp(trials, 1, 9));
}

int conv_find_trials() {
  return find_trials();
}

int64_t conv_find_calls() {
  return find_calls_slot().load();
}

void register_conv() {
  conv2d_forward_kernel.set(DeviceType::CUDA, &conv2d_forward);
  conv2d_backward_data_kernel.set(DeviceType::CUDA, &conv2d_backward_data);
  conv2d_backward_data_add_kernel.set(DeviceType::CUDA, &conv2d_backward_data_add);
  conv2d_backward_weight_kernel.set(DeviceType::CUDA, &conv2d_backward_weight);
  conv2d_bias_relu_forward_kernel.set(DeviceType::CUDA, &conv2d_bias_relu_forward);
}

}  // namespace ng::cuda
