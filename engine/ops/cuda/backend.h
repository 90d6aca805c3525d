// The CUDA backend's few public controls: is a device there, TF32 on or off, wait for the GPU.
// Everything else of the backend is reached through the kernel tables (ops/dispatch.h) and the
// CUDA allocator, installed by register_cuda_kernels() (ops/cuda/register.cpp).
//
//   if (ng::cuda_available()) model.to(ng::Device::cuda());
//   ng::set_cuda_tf32(false);   // pure float32 matrix products and convolutions
//   ng::cuda_synchronize();     // before reading a host clock
//
// This header compiles in every build: without NG_WITH_CUDA the functions are inline stubs that
// report no device, so callers need no #ifdef of their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/tensor.h"

namespace ng {

class Rng;

// Which weight gradients branch in a captured step, and how much the open branches may keep
// before the next one joins them first (NOTE [Weight-gradient branches] in ops/cuda/capture.h;
// set_cuda_branch_limits below). Read when a capture begins; the defaults come from
// NG_GRAPH_BRANCH_MB (4) and NG_GRAPH_HELD_MB (64), in MiB.
struct CudaBranchLimits {
  size_t max_grad_bytes = size_t(4) << 20;   // a layer's output gradient, at most
  size_t max_held_bytes = size_t(64) << 20;  // tensors kept and blocks held for open branches
};

#ifdef NG_WITH_CUDA

// True when the CUDA runtime finds at least one usable device. Never throws; the answer is
// computed once and cached.
bool cuda_available() noexcept;
// Why cuda_available() is false ("" when it is true), e.g. "no CUDA-capable device is detected".
std::string cuda_unavailable_reason();
// "NVIDIA H100 80GB HBM3 (sm_90, 79.1 GiB), CUDA runtime 13.0, cuDNN 9.19.0", or the reason
// there is none.
std::string cuda_device_description();

// NOTE [TF32]: matrix products (cuBLAS) and convolutions (cuDNN) on float32 may use TF32 tensor
// cores (10-bit mantissa products, float32 accumulation; relative error near 1e-3), as PyTorch
// does for convolutions by default. On by default; off gives IEEE float32 arithmetic. The
// environment variable NG_CUDA_TF32=0 turns it off at start-up.
void set_cuda_tf32(bool enabled) noexcept;
bool cuda_tf32() noexcept;

// Reproducible convolutions: only cuDNN algorithms that cuDNN reports as deterministic (some
// backward-filter and backward-data algorithms accumulate with atomics, so two runs of the same
// step can differ in the last bits), as torch.backends.cudnn.deterministic. Off by default (the
// fastest algorithm wins); NG_CUDNN_DETERMINISTIC=1 turns it on at start-up.
void set_cudnn_deterministic(bool enabled) noexcept;
bool cudnn_deterministic() noexcept;

// Waits until every queued GPU operation has finished; throws ng::Error on a device error.
void cuda_synchronize();

// Bytes the device reports free and total (0, 0 without a device).
void cuda_memory_info(size_t& free_bytes, size_t& total_bytes) noexcept;

// For tests: while on, every block the CUDA allocator hands out is first filled with 0xFF bytes
// (NaN as float32/float64, -1 as int64), so an output element a kernel forgets to write shows.
void set_cuda_poison_allocations(bool enabled) noexcept;

// NOTE [Weight-gradient branches] (ops/cuda/capture.h): in a captured training step, the work
// queued while a CudaBranch lives (a layer's weight and bias gradients) becomes a branch of the
// graph that runs beside the compute stream's chain, when the gradient it reads has at most
// CudaBranchLimits::max_grad_bytes (4 MiB) and branches are on. Outside a capture it does
// nothing. Its results may be read on the compute stream only after cuda_join_branches()
// (autograd joins before accumulating into a gradient and at the end of backward; a capture
// joins before it ends). Off by default; NG_GRAPH_BRANCHES=1 turns it on at start-up.
// `reads`: every tensor the branch's kernels read that was made outside it (kept alive until
// the join). A tensor left out of it races with the compute stream, which may be handed its
// block; CudaGraphBranches.ADelayedBranchChangesNothing is the test that shows such a race.
//   { CudaBranch br(gy.nbytes(), {gy, x});  gw = ...;  gb = ...; }   // gw, gb: leaves' gradients
class CudaBranch {
 public:
  CudaBranch(size_t grad_bytes, std::initializer_list<Tensor> reads);
  ~CudaBranch();
  CudaBranch(const CudaBranch&) = delete;
  CudaBranch& operator=(const CudaBranch&) = delete;

 private:
  bool on_ = false;
};
// The compute stream waits for the open branch of this thread's capture, if any.
void cuda_join_branches();
void set_cuda_graph_branches(bool on) noexcept;
bool cuda_graph_branches() noexcept;
void set_cuda_branch_limits(const CudaBranchLimits& limits);
CudaBranchLimits cuda_branch_limits();
// For tests: every branch captured from now on starts with a kernel that waits `ns`
// nanoseconds, so that a race between a branch and the compute stream shows in the results.
void set_cuda_branch_delay(uint64_t ns) noexcept;

#else

inline bool cuda_available() noexcept {
  return false;
}
inline std::string cuda_unavailable_reason() {
  return "this build of Neurograph has no CUDA backend (built without NG_WITH_CUDA)";
}
inline std::string cuda_device_description() {
  return cuda_unavailable_reason();
}
inline void set_cuda_tf32(bool) noexcept {}
inline bool cuda_tf32() noexcept {
  return false;
}
inline void set_cudnn_deterministic(bool) noexcept {}
inline bool cudnn_deterministic() noexcept {
  return false;
}
inline void cuda_synchronize() {}
inline void cuda_memory_info(size_t& free_bytes, size_t& total_bytes) noexcept {
  free_bytes = total_bytes = 0;
}
inline void set_cuda_poison_allocations(bool) noexcept {}
class CudaBranch {
 public:
  CudaBranch(size_t, std::initializer_list<Tensor>) {}
  CudaBranch(const CudaBranch&) = delete;
  CudaBranch& operator=(const CudaBranch&) = delete;
};
inline void cuda_join_branches() {}
inline void set_cuda_graph_branches(bool) noexcept {}
inline void set_cuda_branch_limits(const CudaBranchLimits&) {}
inline CudaBranchLimits cuda_branch_limits() {
  return {};
}
inline void set_cuda_branch_delay(uint64_t) noexcept {}
inline bool cuda_graph_branches() noexcept {
  return false;
}

#endif

// ---------------------------------------------------------------- asynchronous training steps
// The pieces a training step needs to run without waiting for the GPU (train/step_graph.h puts
// them together). Declared in every build; without NG_WITH_CUDA (ops/cuda_stubs.cpp) they
// report no device and throw ng::Error when used.

// NG_CUDA_GRAPHS=0 (or off / false) turns CUDA-graph capture of training steps off; read once.
bool cuda_graphs_enabled() noexcept;

// NOTE [Deferred device errors]: kernels that validate data on the GPU (cross-entropy's label
// range) record the first bad value in device memory instead of stopping the host, so a step
// needs no synchronisation. The record is looked at whenever the host waits for the GPU anyway:
// a device-to-host copy (item(), to_vector()), cuda_synchronize(), HostReadback::wait()/ready()
// and cuda_check_device_errors(), which throw it as ng::ValueError, e.g.
//   "CrossEntropyLoss 'loss': label 12 in row 3 is out of range for 10 classes (expected 0 to 9)".
// The record is cleared when thrown. Kernels skip the bad element (its loss is NaN), so
// nothing reads out of bounds meanwhile.
// Waits for the compute stream, then throws the recorded error if there is one.
void cuda_check_device_errors();

// True while this thread captures a CUDA graph (CudaGraph::begin_capture .. end_capture):
// work is recorded, not run, so nothing may read device memory or wait for the GPU.
bool cuda_capturing() noexcept;

// Queues a copy of `bytes` host bytes to device memory `dst` on the compute stream, through a
// pinned staging ring, so the host may reuse `src` at once and nothing waits (bytes <= 4096).
// Not allowed while capturing.
void cuda_upload_async(void* dst, const void* src, size_t bytes);

// NOTE [CUDA graphs]: CudaGraph records the work queued on the compute stream between
// begin_capture() and end_capture() (nothing runs meanwhile) and replay() queues all of it again
// with one launch. A replay reads and writes exactly the device addresses of the capture, so:
//   - memory allocated during the capture comes from a private pool kept for the graph's
//     lifetime (NOTE [Graph memory pools] in allocator.cpp); tensors created during the capture
//     (gradients, the loss) hold the values of the latest replay;
//   - values that change from replay to replay (inputs, learning rate, step counts, random
//     offsets) must live in device memory that the host updates before each replay();
//   - Philox draws of the capture (dropout) are rebased: before each replay the generators used
//     are written to device memory at their current offsets and advanced by what the capture
//     consumed, so every replay draws fresh numbers, as the eager steps would.
class CudaGraph {
 public:
  CudaGraph();
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Starts recording on the compute stream. Throws when a capture is already running.
  void begin_capture();
  // Ends recording and instantiates the graph; Rng offsets consumed by the capture are rewound
  // (the first replay draws them). On failure the graph stays empty and ng::Error is thrown.
  void end_capture();
  // Ends a capture that failed half-way (after an exception); never throws.
  void abort_capture() noexcept;
  // Back to a new, empty graph: the captured graph and its memory pool are given up (blocks
  // still held return to the shared cache when freed).
  void release() noexcept;
  bool ready() const;
  // During the capture: a device-to-device copy of `bytes` from src to dst as a node of the graph
  // (after the work captured so far, before the work captured next), whose source
  // set_copy_source() can move between replays, e.g. a batch's inputs into the graph's static
  // inputs. Returns the copy's index.
  size_t capture_copy(void* dst, const void* src, size_t bytes);
  // The copy `index` reads from src in the replays queued from now on (a host call; no work is
  // queued).
  void set_copy_source(size_t index, const void* src);
  // Queues one run of the captured work.
  void replay();
  // Number of kernel/copy nodes captured (for tests and benchmarks).
  size_t num_nodes() const;
  // Weight-gradient branches the capture forked, and how many times the open ones were joined
  // before a fork because of what they kept (NOTE [Weight-gradient branches]).
  size_t branches() const;
  size_t early_joins() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Copies device tensors to pinned host memory on the compute stream without waiting; the host
// values are read once the copies are done.
//   HostReadback rb;  rb.start({loss, logits});   ...   if (rb.ready()) auto v = rb.take();
class HostReadback {
 public:
  HostReadback();
  ~HostReadback();
  HostReadback(const HostReadback&) = delete;
  HostReadback& operator=(const HostReadback&) = delete;

  // Queues the copies (each tensor contiguous or not, any floating or int64 dtype, on cuda).
  void start(const std::vector<Tensor>& tensors);
  bool pending() const;
  // True when the copies are done (never blocks); throws a deferred device error.
  bool ready();
  // Blocks until the copies are done; throws a deferred device error.
  void wait();
  // CPU tensors with the copied values (waits first); the readback is free again afterwards.
  std::vector<Tensor> take();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// Host-to-device copies on the copy stream, from pinned staging buffers, so the next batch
// crosses while the current step computes; the compute stream waits (an event) for the copy
// before any work queued after upload(). Two slots used in turn; a slot is written again only
// after the compute work that read it (queued before release()) is done.
//   DeviceUploader up;
//   auto dev = up.upload({batch.inputs, batch.targets});   // cuda tensors, usable at once
//   step(dev[0], dev[1]);  up.release();                    // after queuing what reads them
class DeviceUploader {
 public:
  DeviceUploader();
  ~DeviceUploader();
  DeviceUploader(const DeviceUploader&) = delete;
  DeviceUploader& operator=(const DeviceUploader&) = delete;

  // Queues the copies of CPU tensors `srcs` into device tensors of the same shapes and dtypes,
  // returned at once (they are overwritten by the upload after next).
  std::vector<Tensor> upload(const std::vector<Tensor>& srcs);
  // The work that reads the last upload's tensors is queued.
  void release();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace ng
