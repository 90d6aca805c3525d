// Internal to the CUDA backend (engine/ops/cuda/*): error checks, the stream every kernel runs
// on, scratch buffers, dtype dispatch and the per-group register functions.
//
//   NG_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, cuda::stream()));
//   my_kernel<<<cuda::grid_for(n), cuda::kThreads, 0, cuda::stream()>>>(...);
//   NG_CUDA_CHECK_LAUNCH("my_kernel");
//
// NOTE [One stream]: every kernel, copy and library call of the backend is queued on one
// non-blocking stream, so work runs in the order the host issued it, and a block freed by the
// caching allocator can be handed to the next op at once (the op that used it was queued first).
// Host reads (D2H copies) wait for the stream. The backend is driven from one host thread at a
// time (the trainer's), as the engine's ops are. The one exception is inside a CUDA-graph
// capture, where weight gradients may be queued on a side stream as a parallel branch of the
// graph (NOTE [Weight-gradient branches] in capture.h), with the allocator keeping the blocks
// allocated there aside when freed until the branch is joined.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "engine/core/error.h"
#include "engine/core/tensor.h"

namespace ng::cuda {

// Throws ng::Error "CUDA error in <call> (<file>:<line>): <name>: <text>" unless e is success.
// The call's text names the op (the library function); file:line names our code.
void check(cudaError_t e, const char* call, const char* file, int line);

// The stream this thread's work goes to: the compute stream (NOTE [One stream]), or the side
// stream while a branch of a graph capture is queued (NOTE [Weight-gradient branches] in
// capture.h).
cudaStream_t stream();
// The backend's compute stream; created on first use, which also checks that a device is there
// (ng::Error naming the reason when not).
cudaStream_t compute_stream();

// Throws ng::Error when no device is usable, or when `d` is not cuda:0 (the only one supported).
void require_device(Device d, const char* who);

constexpr int kThreads = 256;

// Streaming multiprocessors of the device (asked once; 80 if the runtime cannot say), for
// kernels that size their grid to fill the GPU.
inline int sm_count() {
  static const int n = [] {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || v <= 0) {
      cudaGetLastError();
      return 80;
    }
    return v;
  }();
  return n;
}

// Blocks for a grid-stride loop over n elements (at least 1, at most 2^20).
inline unsigned int grid_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(std::clamp<int64_t>(b, 1, int64_t(1) << 20));
}

// A scratch block of device memory from the caching allocator, returned when it goes out of
// scope (NOTE [One stream] makes that safe while queued kernels still use it).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return p_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(p_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* p_ = nullptr;
  size_t bytes_ = 0;
};

// Calls f.template operator()<T>() with T = float or double for the tensor's dtype; other
// dtypes throw ng::Error naming `what`.
template <class F>
void dispatch_floating(DType dt, const char* what, const F& f) {
  switch (dt) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    default:
      throw Error(std::string(what) + " on cuda: needs a float32 or float64 tensor, got " +
                  dtype_name(dt));
  }
}

// Kernel groups, each installing its kernels into the op tables (called by
// register_cuda_kernels() in register.cpp).
void register_elementwise();  // binary, unary (+ backward), fill, copy, axpy
void register_reduce();
void register_gemm();    // cuBLAS
void register_linear();  // cuBLASLt bias epilogues (linear.cpp)
void register_conv();    // cuDNN
void register_pool();
void register_norm();
void register_softmax();  // softmax, log-softmax, cross-entropy
void register_shape();    // embedding
void register_optim();
Allocator* caching_allocator();  // allocator.cpp

// Convolution algorithms for plans made from now on (NOTE [cuDNN plans] in conv.cpp): chosen by
// timing (the default, unless NG_CUDNN_FIND=0) or from cuDNN's heuristics only. For tests.
void set_conv_algorithm_timing(bool timed);
// How many times Find times each algorithm (NG_CUDNN_FIND_TRIALS, 1 to 9), for plans made from now
// on, and how many Find calls the process has made. For tests.
void set_conv_find_trials(int trials);
int conv_find_trials();
int64_t conv_find_calls();

// Helpers shared between groups (conv_bias.cu), on contiguous [N, C, S] tensors:
//   y[n, c, s] += b[c]
void add_channel_bias(Tensor& y, const Tensor& b);
//   gb[c] = sum over n, s of gy[n, c, s]
void sum_per_channel(const Tensor& gy, Tensor& gb);

// bfloat16 casts (cast.cu), for the copy and fill kernels: dst = src converted (same shape, any
// strides, at least one side bfloat16), and every element of a bfloat16 tensor = v.
void cast_bf16(const Tensor& src, Tensor& dst);
void fill_bf16(Tensor& t, double v);

}  // namespace ng::cuda

#define NG_CUDA_CHECK(call) ::ng::cuda::check((call), #call, __FILE__, __LINE__)
// After a kernel launch: a bad launch configuration (or an earlier asynchronous fault) throws.
#define NG_CUDA_CHECK_LAUNCH(kernel_name) \
  ::ng::cuda::check(cudaGetLastError(), "launch of " kernel_name, __FILE__, __LINE__)
