// CUDA conv2d forward / backward-data / backward-weight through cuDNN 9's legacy convolution
// API; the bias is added and reduced by our own kernels (conv_bias.cu).
//
// NOTE [cuDNN plans]: for every distinct problem (shapes, stride, padding, dilation, groups,
// dtype, TF32 setting) the descriptors and the three algorithms are chosen once and cached for
// the process. Algorithms come from cuDNN's heuristics (cudnnGet*Algorithm_v7, nothing is run
// to time them): the first one that succeeds, fits the workspace limit and, with TF32 off, uses
// plain FMA math. The convolution descriptor's math type is set to the chosen algorithm's before
// each call, as cuDNN requires.
#include "engine/ops/conv.h"

#include <array>
#include <cstdint>
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

constexpr size_t kMaxWorkspace = size_t(512) << 20;

struct ConvKey {
  std::array<int64_t, 4> x, w;
  std::array<int64_t, 2> stride, padding, dilation;
  int64_t groups;
  DType dtype;
  bool tf32;
  auto tie() const { return std::tie(x, w, stride, padding, dilation, groups, dtype, tf32); }
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
  bool have_fwd = false, have_bwd_data = false, have_bwd_filter = false;
  Choice<cudnnConvolutionFwdAlgo_t> fwd;
  Choice<cudnnConvolutionBwdDataAlgo_t> bwd_data;
  Choice<cudnnConvolutionBwdFilterAlgo_t> bwd_filter;
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
                        k.tf32 ? "" : ", TF32 off");
}

cudnnDataType_t data_type(DType dt) {
  if (dt == DType::Float32) return CUDNN_DATA_FLOAT;
  if (dt == DType::Float64) return CUDNN_DATA_DOUBLE;
  throw Error(std::string("Conv2d on cuda: needs float32 or float64, got ") + dtype_name(dt));
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
  NG_CUDA_CHECK(cudnnSetTensor4dDescriptor(p->x, CUDNN_TENSOR_NCHW, dt, to_int(k.x[0], "batch"),
                                           to_int(k.x[1], "channels"), to_int(k.x[2], "height"),
                                           to_int(k.x[3], "width")));
  NG_CUDA_CHECK(cudnnSetTensor4dDescriptor(p->y, CUDNN_TENSOR_NCHW, dt, int(y_shape[0]),
                                           int(y_shape[1]), int(y_shape[2]), int(y_shape[3])));
  NG_CUDA_CHECK(cudnnSetFilter4dDescriptor(p->w, dt, CUDNN_TENSOR_NCHW, int(k.w[0]), int(k.w[1]),
                                           int(k.w[2]), int(k.w[3])));
  NG_CUDA_CHECK(cudnnSetConvolution2dDescriptor(
      p->conv, int(k.padding[0]), int(k.padding[1]), int(k.stride[0]), int(k.stride[1]),
      int(k.dilation[0]), int(k.dilation[1]), CUDNN_CROSS_CORRELATION, dt));
  NG_CUDA_CHECK(cudnnSetConvolutionGroupCount(p->conv, int(k.groups)));
  // Float32 without TF32 must be restricted to FMA kernels: the default math type lets cuDNN
  // pick TF32 tensor-core kernels on Ampere and later.
  p->base_math = (k.dtype == DType::Float32 && !k.tf32) ? CUDNN_FMA_MATH : CUDNN_DEFAULT_MATH;
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p->conv, p->base_math));
  int n = 0, c = 0, h = 0, w = 0;
  NG_CUDA_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv, p->x, p->w, &n, &c, &h, &w));
  NG_CHECK(n == y_shape[0] && c == y_shape[1] && h == y_shape[2] && w == y_shape[3],
           "Conv2d on cuda: cuDNN computes output [", n, ", ", c, ", ", h, ", ", w, "] for ",
           problem_str(k), ", the engine ", shape_str(y_shape));
  return p;
}

// Whether a heuristic result may be used: it ran, and with TF32 off it uses FMA math only.
template <class Perf>
bool usable(const Perf& r, const Plan& p) {
  if (r.status != CUDNN_STATUS_SUCCESS) return false;
  if (p.base_math == CUDNN_FMA_MATH && r.mathType != CUDNN_FMA_MATH) return false;
  return true;
}

void choose_fwd(Plan& p) {
  const ConvKey& k = p.key;
  cudnnHandle_t h = cudnn();
  int max_count = 0, returned = 0;
  NG_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(h, &max_count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(size_t(std::max(max_count, 1)));
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.base_math));
  NG_CUDA_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, max_count,
                                                       &returned, perf.data()));
  for (int i = 0; i < returned; ++i) {
    if (!usable(perf[size_t(i)], p)) continue;
    NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, perf[size_t(i)].mathType));
    size_t ws = 0;
    if (cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y, perf[size_t(i)].algo,
                                                &ws) != CUDNN_STATUS_SUCCESS ||
        ws > kMaxWorkspace)
      continue;
    p.fwd = {perf[size_t(i)].algo, perf[size_t(i)].mathType, ws};
    p.have_fwd = true;
    return;
  }
  throw Error("Conv2d on cuda: cuDNN offers no forward algorithm for " + problem_str(k));
}

void choose_bwd_data(Plan& p) {
  const ConvKey& k = p.key;
  cudnnHandle_t h = cudnn();
  int max_count = 0, returned = 0;
  NG_CUDA_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, &max_count));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> perf(size_t(std::max(max_count, 1)));
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.base_math));
  NG_CUDA_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x, max_count,
                                                            &returned, perf.data()));
  for (int i = 0; i < returned; ++i) {
    if (!usable(perf[size_t(i)], p)) continue;
    NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, perf[size_t(i)].mathType));
    size_t ws = 0;
    if (cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, p.conv, p.x, perf[size_t(i)].algo,
                                                     &ws) != CUDNN_STATUS_SUCCESS ||
        ws > kMaxWorkspace)
      continue;
    p.bwd_data = {perf[size_t(i)].algo, perf[size_t(i)].mathType, ws};
    p.have_bwd_data = true;
    return;
  }
  throw Error("Conv2d on cuda: cuDNN offers no backward-data algorithm for " + problem_str(k));
}

void choose_bwd_filter(Plan& p) {
  const ConvKey& k = p.key;
  cudnnHandle_t h = cudnn();
  int max_count = 0, returned = 0;
  NG_CUDA_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, &max_count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> perf(size_t(std::max(max_count, 1)));
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.base_math));
  NG_CUDA_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w, max_count,
                                                              &returned, perf.data()));
  for (int i = 0; i < returned; ++i) {
    if (!usable(perf[size_t(i)], p)) continue;
    NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, perf[size_t(i)].mathType));
    size_t ws = 0;
    if (cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, p.x, p.y, p.conv, p.w, perf[size_t(i)].algo, &ws) != CUDNN_STATUS_SUCCESS ||
        ws > kMaxWorkspace)
      continue;
    p.bwd_filter = {perf[size_t(i)].algo, perf[size_t(i)].mathType, ws};
    p.have_bwd_filter = true;
    return;
  }
  throw Error("Conv2d on cuda: cuDNN offers no backward-weight algorithm for " + problem_str(k));
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
            dt == DType::Float32 && cuda_tf32()};
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
  if (!p.have_fwd) choose_fwd(p);
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.fwd.math));
  DeviceBuffer ws(p.fwd.workspace);
  Scalars s;
  NG_CUDA_CHECK(cudnnConvolutionForward(cudnn(), s.one(x.dtype()), p.x, x.raw_data(), p.w,
                                        w.raw_data(), p.conv, p.fwd.algo, ws.get(), ws.bytes(),
                                        s.zero(x.dtype()), p.y, y.raw_data()));
  if (b.defined()) add_channel_bias(y, b);
}

// gy: [N, O, Ho, Wo], w: [O, C/G, KH, KW] -> gx: [N, C, H, W]
void conv2d_backward_data(const Tensor& gy, const Tensor& w, const Conv2dParams& prm, Tensor& gx) {
  if (gx.numel() == 0) return;
  Plan& p = plan_for(gx.shape(), w.shape(), gy.shape(), gy.dtype(), prm);
  if (!p.have_bwd_data) choose_bwd_data(p);
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.bwd_data.math));
  DeviceBuffer ws(p.bwd_data.workspace);
  Scalars s;
  NG_CUDA_CHECK(cudnnConvolutionBackwardData(cudnn(), s.one(gy.dtype()), p.w, w.raw_data(), p.y,
                                             gy.raw_data(), p.conv, p.bwd_data.algo, ws.get(),
                                             ws.bytes(), s.zero(gy.dtype()), p.x, gx.raw_data()));
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
  if (!p.have_bwd_filter) choose_bwd_filter(p);
  NG_CUDA_CHECK(cudnnSetConvolutionMathType(p.conv, p.bwd_filter.math));
  DeviceBuffer ws(p.bwd_filter.workspace);
  Scalars s;
  NG_CUDA_CHECK(cudnnConvolutionBackwardFilter(cudnn(), s.one(gy.dtype()), p.x, x.raw_data(), p.y,
                                               gy.raw_data(), p.conv, p.bwd_filter.algo, ws.get(),
                                               ws.bytes(), s.zero(gy.dtype()), p.w, gw.raw_data()));
  if (gb.defined()) sum_per_channel(gy, gb);
}

}  // namespace

void register_conv() {
  conv2d_forward_kernel.set(DeviceType::CUDA, &conv2d_forward);
  conv2d_backward_data_kernel.set(DeviceType::CUDA, &conv2d_backward_data);
  conv2d_backward_weight_kernel.set(DeviceType::CUDA, &conv2d_backward_weight);
}

}  // namespace ng::cuda
