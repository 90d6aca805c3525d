// CUDA graphs of training steps (NOTE [CUDA graphs] in backend.h), the pinned-memory transfers
// that let a step run without waiting for the GPU (HostReadback, DeviceUploader,
// cuda_upload_async) and Philox offsets that a replay can move (capture.h).
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "engine/core/rng.h"
#include "engine/ops/cuda/backend.h"
#include "engine/ops/cuda/capture.h"
#include "engine/ops/cuda/common.h"

namespace ng {
namespace cuda {
namespace {

thread_local CudaGraph::Impl* t_capture = nullptr;  // the graph this thread is capturing

// A pinned host block grown on demand (cudaFreeHost waits for the device: growth is rare).
struct PinnedBlock {
  void* p = nullptr;
  size_t bytes = 0;
  void reserve(size_t n) {
    if (n <= bytes) return;
    if (p) NG_CUDA_CHECK(cudaFreeHost(p));
    p = nullptr;
    bytes = 0;
    NG_CUDA_CHECK(cudaHostAlloc(&p, n, cudaHostAllocDefault));
    bytes = n;
  }
  ~PinnedBlock() {
    if (p) cudaFreeHost(p);
  }
};

cudaEvent_t new_event() {
  cudaEvent_t e = nullptr;
  NG_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
  return e;
}

size_t align_up(size_t n) {
  return (n + 255) & ~size_t(255);
}

}  // namespace

// ---------------------------------------------------------------- CudaGraph

struct GeneratorUse {
  Rng* rng = nullptr;
  uint64_t start = 0;       // the offset when the capture began
  uint64_t consumed = 0;    // blocks the capture reserved
  uint64_t* dev = nullptr;  // {seed, offset} in device memory, read by the captured kernels
};

// Generators one capture may draw from (their device states are allocated before it starts).
constexpr size_t kMaxGenerators = 8;

}  // namespace cuda

struct CudaGraph::Impl {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  int pool = 0;
  bool capturing = false;
  size_t nodes = 0;
  // NOTE [Weight-gradient branches]
  bool branches_on = false;  // cuda_graph_branches() when the capture began
  CudaBranchLimits limits;   // cuda_branch_limits() when the capture began
  bool branch_open = false;  // this capture's side stream has work the compute has not joined
  size_t branches = 0;       // branches forked by the capture
  size_t early_joins = 0;    // joins before a fork, for what was kept (CudaBranchLimits)
  std::vector<Tensor> keep;  // what the open branches read, alive until the join
  size_t keep_bytes = 0;
  struct Copy {
    cudaGraphNode_t node;
    void* dst;
    const void* src;
    size_t bytes;
  };
  std::vector<Copy> copies;  // capture_copy()'s nodes
  std::vector<cuda::GeneratorUse> gens;
  uint64_t* gen_state = nullptr;  // [kMaxGenerators][2], allocated before the capture

  ~Impl() {
    if (exec) cudaGraphExecDestroy(exec);
    if (graph) cudaGraphDestroy(graph);
    if (gen_state) cudaFree(gen_state);
    if (pool) cuda::pool_release(pool);
  }
};

CudaGraph::CudaGraph() : impl_(std::make_unique<Impl>()) {}

CudaGraph::~CudaGraph() {
  if (impl_ && impl_->capturing) abort_capture();
}

void CudaGraph::begin_capture() {
  NG_CHECK(!cuda::t_capture, "CudaGraph: a capture is already in progress on this thread");
  NG_CHECK(!impl_->exec && !impl_->capturing, "CudaGraph: this graph was captured already");
  cudaStream_t s = cuda::compute_stream();
  impl_->branches_on = cuda_graph_branches();
  impl_->limits = cuda_branch_limits();
  if (impl_->branches_on) cuda::side_prepare();  // its stream and workspace, before the capture
  // No cudaMalloc during the capture.
  if (!impl_->gen_state)
    NG_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&impl_->gen_state),
                             cuda::kMaxGenerators * 2 * sizeof(uint64_t)));
  if (!impl_->pool) impl_->pool = cuda::pool_create();
  cuda::pool_begin(impl_->pool);
  const cudaError_t e = cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    cuda::pool_end();
    cuda::check(e, "cudaStreamBeginCapture", __FILE__, __LINE__);
  }
  impl_->capturing = true;
  cuda::t_capture = impl_.get();
}

void CudaGraph::end_capture() {
  NG_CHECK(impl_->capturing, "CudaGraph::end_capture without begin_capture");
  cuda_join_branches();  // a capture ends with its side stream joined
  cuda::t_capture = nullptr;
  impl_->capturing = false;
  cuda::pool_end();
  // The capture ran the host code only: rewind the generators, the first replay draws (also
  // when the capture turns out to have failed).
  for (auto& u : impl_->gens) {
    u.consumed = u.rng->offset() - u.start;
    u.rng->set_state(u.rng->seed(), u.start);
  }
  cudaGraph_t g = nullptr;
  NG_CUDA_CHECK(cudaStreamEndCapture(cuda::compute_stream(), &g));
  impl_->graph = g;
  NG_CUDA_CHECK(cudaGraphGetNodes(g, nullptr, &impl_->nodes));
  NG_CUDA_CHECK(cudaGraphInstantiate(&impl_->exec, g, 0));
}

void CudaGraph::abort_capture() noexcept {
  if (!impl_->capturing) return;
  cuda::t_capture = nullptr;
  impl_->capturing = false;
  cuda::side_leave();
  if (impl_->branch_open) {  // the compute stream must join the side stream to end the capture
    try {
      cuda::side_join();
    } catch (...) {
    }
    impl_->branch_open = false;
  }
  cuda::pool_end();  // also returns the blocks kept aside for branches
  cudaGraph_t g = nullptr;
  cudaStreamEndCapture(cuda::compute_stream(), &g);
  if (g) cudaGraphDestroy(g);
  cudaGetLastError();
  impl_->keep.clear();
  impl_->keep_bytes = 0;
  impl_->copies.clear();
  impl_->branches = 0;
  impl_->early_joins = 0;
  for (auto& u : impl_->gens) u.rng->set_state(u.rng->seed(), u.start);
}

void CudaGraph::release() noexcept {
  if (impl_->capturing) abort_capture();
  // (Where not even an empty Impl can be had, the old one stays, pool and all.)
  if (std::unique_ptr<Impl> fresh(new (std::nothrow) Impl()); fresh) impl_ = std::move(fresh);
}

bool CudaGraph::ready() const {
  return impl_->exec != nullptr;
}

size_t CudaGraph::num_nodes() const {
  return impl_->nodes;
}

size_t CudaGraph::branches() const {
  return impl_->branches;
}

size_t CudaGraph::early_joins() const {
  return impl_->early_joins;
}

size_t CudaGraph::capture_copy(void* dst, const void* src, size_t bytes) {
  NG_CHECK(impl_->capturing && bytes > 0, "CudaGraph::capture_copy: only during a capture, of at ",
           "least one byte");
  // A 1-D memcpy node added to the capture's graph by hand (the kind
  // cudaGraphExecMemcpyNodeSetParams1D can move), after the captured work's last nodes; the
  // stream's next captured work depends on it.
  cudaStream_t s = cuda::compute_stream();
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  cudaGraph_t g = nullptr;
  const cudaGraphNode_t* deps = nullptr;
  size_t n = 0;
  NG_CUDA_CHECK(cudaStreamGetCaptureInfo(s, &status, nullptr, &g, &deps, nullptr, &n));
  NG_CHECK(status == cudaStreamCaptureStatusActive && g,
           "CudaGraph::capture_copy: the compute stream is not capturing");
  cudaGraphNode_t node = nullptr;
  NG_CUDA_CHECK(
      cudaGraphAddMemcpyNode1D(&node, g, deps, n, dst, src, bytes, cudaMemcpyDeviceToDevice));
  NG_CUDA_CHECK(
      cudaStreamUpdateCaptureDependencies(s, &node, nullptr, 1, cudaStreamSetCaptureDependencies));
  impl_->copies.push_back({node, dst, src, bytes});
  return impl_->copies.size() - 1;
}

void CudaGraph::set_copy_source(size_t index, const void* src) {
  NG_CHECK(impl_->exec && index < impl_->copies.size(), "CudaGraph::set_copy_source: no copy ",
           index, " in an instantiated graph");
  Impl::Copy& c = impl_->copies[index];
  if (c.src == src) return;
  NG_CUDA_CHECK(cudaGraphExecMemcpyNodeSetParams1D(impl_->exec, c.node, c.dst, src, c.bytes,
                                                   cudaMemcpyDeviceToDevice));
  c.src = src;
}

void CudaGraph::replay() {
  NG_CHECK(impl_->exec, "CudaGraph::replay: nothing captured");
  for (auto& u : impl_->gens) {
    const uint64_t state[2] = {u.rng->seed(), u.rng->reserve(u.consumed)};
    cuda_upload_async(u.dev, state, sizeof state);
  }
  NG_CUDA_CHECK(cudaGraphLaunch(impl_->exec, cuda::compute_stream()));
}

bool cuda_capturing() noexcept {
  return cuda::t_capture != nullptr;
}

// ---------------------------------------------------------------- NOTE [Weight-gradient branches]

namespace {
// CudaBranchLimits' defaults (backend.h): gradients of at most 4 MiB get a branch (above it the
// kernels fill the GPU on their own), and what the open branches keep beyond 64 MiB is joined
// before another branch forks.
constexpr size_t kMiB = size_t(1) << 20;

size_t env_mib(const char* name, size_t fallback) {
  const char* v = std::getenv(name);
  if (!v || !*v) return fallback;
  char* end = nullptr;
  const double mib = std::strtod(v, &end);
  if (end == v || *end || !(mib >= 0) || mib > 1e9) {
    std::fprintf(stderr, "neurograph: ignoring %s=%s (expected a size in MiB)\n", name, v);
    return fallback;
  }
  return size_t(mib * double(kMiB));
}

std::mutex& limits_mutex() {
  static std::mutex m;
  return m;
}
CudaBranchLimits& limits_slot() {  // guarded by limits_mutex()
  static CudaBranchLimits l = [] {
    CudaBranchLimits d;
    return CudaBranchLimits{env_mib("NG_GRAPH_BRANCH_MB", d.max_grad_bytes),
                            env_mib("NG_GRAPH_HELD_MB", d.max_held_bytes)};
  }();
  return l;
}

std::atomic<int>& branches_slot() {  // -1: not read from the environment yet
  static std::atomic<int> v{-1};
  return v;
}

std::atomic<uint64_t>& branch_delay_slot() {
  static std::atomic<uint64_t> ns{0};
  return ns;
}
}  // namespace

void set_cuda_branch_delay(uint64_t ns) noexcept {
  branch_delay_slot().store(ns);
}

void set_cuda_graph_branches(bool on) noexcept {
  branches_slot().store(on ? 1 : 0);
}

void set_cuda_branch_limits(const CudaBranchLimits& limits) {
  std::lock_guard<std::mutex> lock(limits_mutex());
  limits_slot() = limits;
}

CudaBranchLimits cuda_branch_limits() {
  std::lock_guard<std::mutex> lock(limits_mutex());
  return limits_slot();
}

bool cuda_graph_branches() noexcept {
  int v = branches_slot().load();
  if (v < 0) {
    const char* env = std::getenv("NG_GRAPH_BRANCHES");
    v = env && *env && env[0] != '0' ? 1 : 0;
    branches_slot().store(v);
  }
  return v == 1;
}

CudaBranch::CudaBranch(size_t grad_bytes, std::initializer_list<Tensor> reads) {
  CudaGraph::Impl* g = cuda::t_capture;
  if (!g || !g->branches_on || grad_bytes > g->limits.max_grad_bytes || cuda::on_side()) return;
  // What the open branches keep, and what this one will, past the limit: the compute stream joins
  // them first, so that this branch (at least) still overlaps its layer's input gradient.
  size_t incoming = 0;
  for (const Tensor& t : reads)
    if (t.defined()) incoming += t.nbytes();
  if (g->branch_open && g->keep_bytes + cuda::held_bytes() + incoming > g->limits.max_held_bytes) {
    cuda_join_branches();
    ++g->early_joins;
  }
  for (const Tensor& t : reads)
    if (t.defined()) {
      g->keep.push_back(t);
      g->keep_bytes += t.nbytes();
    }
  g->branch_open = true;  // first: a join (abort_capture's too) follows even if the fork throws
  ++g->branches;
  try {
    cuda::side_fork();
    if (const uint64_t ns = branch_delay_slot().load()) cuda::spin(ns);
  } catch (...) {
    cuda::side_leave();  // no destructor runs for a constructor that throws
    throw;
  }
  on_ = true;
}

CudaBranch::~CudaBranch() {
  if (on_) cuda::side_leave();
}

void cuda_join_branches() {
  CudaGraph::Impl* g = cuda::t_capture;
  if (!g || !g->branch_open) return;
  cuda::side_join();
  g->branch_open = false;
  // The compute stream's later kernels are ordered after the branches: what they read and the
  // blocks they used may go.
  g->keep.clear();
  g->keep_bytes = 0;
  cuda::release_side_blocks();
}

namespace cuda {

PhiloxArgs philox_reserve(Rng& rng, uint64_t blocks) {
  PhiloxArgs a;
  a.seed = rng.seed();
  CudaGraph::Impl* g = t_capture;
  if (!g) {
    a.offset = rng.reserve(blocks);
    return a;
  }
  GeneratorUse* use = nullptr;
  for (auto& u : g->gens)
    if (u.rng == &rng) use = &u;
  if (!use) {
    NG_CHECK(g->gens.size() < kMaxGenerators, "CUDA graph capture: more than ", kMaxGenerators,
             " random generators in one step");
    GeneratorUse u;
    u.rng = &rng;
    u.start = rng.offset();
    u.dev = g->gen_state + 2 * g->gens.size();
    g->gens.push_back(u);
    use = &g->gens.back();
  }
  a.dev = use->dev;
  a.rel = rng.reserve(blocks) - use->start;
  return a;
}

// ---------------------------------------------------------------- cuda_upload_async

namespace {

// NOTE [Upload ring]: small host-to-device uploads (learning rates, step counts, generator
// offsets) go through kSlots pinned slots; a slot is written again only after the event of its
// previous copy completed, which in practice it has (kSlots uploads later).
struct UploadRing {
  static constexpr int kSlots = 64;
  static constexpr size_t kSlotBytes = 4096;
  PinnedBlock host;
  std::array<cudaEvent_t, kSlots> done{};
  std::array<bool, kSlots> used{};
  int next = 0;
  std::mutex mu;
  UploadRing() {
    host.reserve(kSlots * kSlotBytes);
    for (auto& e : done) e = new_event();
  }
};

UploadRing& upload_ring() {
  static UploadRing* r = new UploadRing();  // never destroyed, like the streams
  return *r;
}

}  // namespace
}  // namespace cuda

void cuda_upload_async(void* dst, const void* src, size_t bytes) {
  NG_CHECK(!cuda_capturing(), "cuda_upload_async: not allowed while capturing a CUDA graph");
  NG_CHECK(bytes <= cuda::UploadRing::kSlotBytes, "cuda_upload_async: ", bytes,
           " bytes is more than one slot (", cuda::UploadRing::kSlotBytes, ")");
  if (bytes == 0) return;
  cuda::UploadRing& r = cuda::upload_ring();
  std::lock_guard<std::mutex> lock(r.mu);
  const int k = r.next;
  r.next = (r.next + 1) % cuda::UploadRing::kSlots;
  if (r.used[k]) NG_CUDA_CHECK(cudaEventSynchronize(r.done[k]));
  char* slot = static_cast<char*>(r.host.p) + size_t(k) * cuda::UploadRing::kSlotBytes;
  std::memcpy(slot, src, bytes);
  cudaStream_t s = cuda::compute_stream();
  NG_CUDA_CHECK(cudaMemcpyAsync(dst, slot, bytes, cudaMemcpyHostToDevice, s));
  NG_CUDA_CHECK(cudaEventRecord(r.done[k], s));
  r.used[k] = true;
}

// ---------------------------------------------------------------- HostReadback

struct HostReadback::Impl {
  cuda::PinnedBlock host;
  cudaEvent_t done = nullptr;
  bool pending = false;
  struct Item {
    Shape shape;
    DType dtype;
    size_t offset, bytes;
  };
  std::vector<Item> items;
  ~Impl() {
    if (done) cudaEventDestroy(done);
  }
};

HostReadback::HostReadback() : impl_(std::make_unique<Impl>()) {}
HostReadback::~HostReadback() {
  if (impl_ && impl_->pending) cudaEventSynchronize(impl_->done);
}

void HostReadback::start(const std::vector<Tensor>& tensors) {
  NG_CHECK(!impl_->pending, "HostReadback::start: the previous copies were not taken");
  NG_CHECK(!cuda_capturing(), "HostReadback::start: not allowed while capturing a CUDA graph");
  if (!impl_->done) impl_->done = cuda::new_event();
  impl_->items.clear();
  size_t total = 0;
  for (const Tensor& t : tensors) {
    NG_CHECK(t.defined() && t.device().is_cuda(), "HostReadback: needs defined cuda tensors");
    const size_t bytes = t.nbytes();
    impl_->items.push_back({t.shape(), t.dtype(), total, bytes});
    total += cuda::align_up(bytes);
  }
  impl_->host.reserve(std::max<size_t>(total, 256));
  cudaStream_t s = cuda::compute_stream();
  for (size_t i = 0; i < tensors.size(); ++i) {
    Tensor c = tensors[i].contiguous();  // a stream-ordered copy kernel when it is a view
    const Impl::Item& it = impl_->items[i];
    if (it.bytes)
      NG_CUDA_CHECK(cudaMemcpyAsync(static_cast<char*>(impl_->host.p) + it.offset, c.raw_data(),
                                    it.bytes, cudaMemcpyDeviceToHost, s));
  }
  NG_CUDA_CHECK(cudaEventRecord(impl_->done, s));
  impl_->pending = true;
}

bool HostReadback::pending() const {
  return impl_->pending;
}

bool HostReadback::ready() {
  if (!impl_->pending) return true;
  const cudaError_t e = cudaEventQuery(impl_->done);
  if (e == cudaErrorNotReady) {
    cudaGetLastError();
    return false;
  }
  NG_CUDA_CHECK(e);
  cuda::raise_device_errors();
  return true;
}

void HostReadback::wait() {
  if (!impl_->pending) return;
  NG_CUDA_CHECK(cudaEventSynchronize(impl_->done));
  cuda::raise_device_errors();
}

std::vector<Tensor> HostReadback::take() {
  wait();
  std::vector<Tensor> out;
  for (const Impl::Item& it : impl_->items) {
    Tensor t = Tensor::empty(it.shape, it.dtype, Device::cpu());
    if (it.bytes)
      std::memcpy(t.raw_data(), static_cast<char*>(impl_->host.p) + it.offset, it.bytes);
    out.push_back(std::move(t));
  }
  impl_->pending = false;
  impl_->items.clear();
  return out;
}

// ---------------------------------------------------------------- DeviceUploader

struct DeviceUploader::Impl {
  struct Slot {
    cuda::PinnedBlock host;
    std::vector<Tensor> views;
    cudaEvent_t copied = nullptr;    // on the copy stream, after the copy into `views`
    cudaEvent_t consumed = nullptr;  // on the compute stream, after the work that read them
    bool used = false, released = true;
  };
  std::array<Slot, 2> slots;
  int next = 0, last = -1;
  ~Impl() {
    for (auto& s : slots) {
      if (s.copied) cudaEventDestroy(s.copied);
      if (s.consumed) cudaEventDestroy(s.consumed);
    }
  }
};

DeviceUploader::DeviceUploader() : impl_(std::make_unique<Impl>()) {}
DeviceUploader::~DeviceUploader() {
  // Queued copies read the pinned blocks: wait for them before those are freed.
  for (auto& s : impl_->slots)
    if (s.used && s.copied) cudaEventSynchronize(s.copied);
}

std::vector<Tensor> DeviceUploader::upload(const std::vector<Tensor>& srcs) {
  NG_CHECK(!cuda_capturing(), "DeviceUploader: not allowed while capturing a CUDA graph");
  Impl::Slot& s = impl_->slots[size_t(impl_->next)];
  impl_->last = impl_->next;
  impl_->next ^= 1;
  if (!s.copied) {
    s.copied = cuda::new_event();
    s.consumed = cuda::new_event();
  }
  cudaStream_t compute = cuda::compute_stream(), copy = cuda::copy_stream();
  // The pinned block is rewritten: its previous copy must be done.
  if (s.used) NG_CUDA_CHECK(cudaEventSynchronize(s.copied));
  bool same = s.views.size() == srcs.size();
  for (size_t i = 0; same && i < srcs.size(); ++i)
    same = s.views[i].shape() == srcs[i].shape() && s.views[i].dtype() == srcs[i].dtype();
  if (!same) {
    // New device tensors. Their blocks may have been freed by compute work still queued
    // (NOTE [One stream]), so the copy stream first waits for the compute stream as it is now.
    s.views.clear();
    for (const Tensor& t : srcs)
      s.views.push_back(Tensor::empty(t.shape(), t.dtype(), Device::cuda()));
    NG_CUDA_CHECK(cudaEventRecord(s.consumed, compute));
    s.released = true;
  }
  if (!s.used) {  // the first use: nothing to wait for but the compute stream's current work
    NG_CUDA_CHECK(cudaEventRecord(s.consumed, compute));
    s.released = true;
  }
  size_t total = 0;
  for (const Tensor& t : srcs) total += cuda::align_up(t.nbytes());
  s.host.reserve(std::max<size_t>(total, 256));
  size_t off = 0;
  for (const Tensor& t : srcs) {
    NG_CHECK(t.device().is_cpu(), "DeviceUploader: needs CPU tensors, got one on ",
             t.device().str());
    Tensor c = t.contiguous();
    std::memcpy(static_cast<char*>(s.host.p) + off, c.raw_data(), c.nbytes());
    off += cuda::align_up(t.nbytes());
  }
  // Without a release() since the slot's last use, its readers are whatever is queued now.
  if (!s.released) NG_CUDA_CHECK(cudaEventRecord(s.consumed, compute));
  NG_CUDA_CHECK(cudaStreamWaitEvent(copy, s.consumed, 0));
  off = 0;
  for (size_t i = 0; i < srcs.size(); ++i) {
    const size_t n = srcs[i].nbytes();
    if (n)
      NG_CUDA_CHECK(cudaMemcpyAsync(s.views[i].raw_data(), static_cast<char*>(s.host.p) + off, n,
                                    cudaMemcpyHostToDevice, copy));
    off += cuda::align_up(n);
  }
  NG_CUDA_CHECK(cudaEventRecord(s.copied, copy));
  NG_CUDA_CHECK(cudaStreamWaitEvent(compute, s.copied, 0));
  s.used = true;
  s.released = false;
  return s.views;
}

void DeviceUploader::release() {
  if (impl_->last < 0) return;
  Impl::Slot& s = impl_->slots[size_t(impl_->last)];
  if (s.released) return;
  NG_CUDA_CHECK(cudaEventRecord(s.consumed, cuda::compute_stream()));
  s.released = true;
}

}  // namespace ng
