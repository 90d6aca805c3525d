// The CUDA backend's runtime pieces: device detection, error checks, the stream, the cuBLAS,
// cuBLASLt and cuDNN handles, the TF32 switch and synchronisation.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <vector>

#include "engine/core/allocator.h"
#include "engine/ops/cuda/backend.h"
#include "engine/ops/cuda/capture.h"
#include "engine/ops/cuda/common.h"
#include "engine/ops/cuda/libs.h"

namespace ng {
namespace cuda {
namespace {

// "engine/ops/cuda/x.cpp" rather than the absolute path of the build machine.
const char* short_path(const char* file) {
  const char* p = std::strstr(file, "engine/");
  return p ? p : file;
}

std::string where(const char* call, const char* file, int line) {
  return detail::concat(call, " (", short_path(file), ":", line, ")");
}

struct Availability {
  bool ok = false;
  std::string reason;
};

const Availability& availability() noexcept {
  static const Availability a = [] {
    Availability r;
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
      r.reason = detail::concat("the CUDA runtime finds no usable device (", cudaGetErrorName(e),
                                ": ", cudaGetErrorString(e), ")");
      cudaGetLastError();  // clear it
    } else if (n == 0) {
      r.reason = "the CUDA runtime reports no device";
    } else {
      r.ok = true;
    }
    return r;
  }();
  return a;
}

std::atomic<bool>& tf32_flag() noexcept {
  static std::atomic<bool> flag = [] {
    const char* env = std::getenv("NG_CUDA_TF32");
    return !(env && (std::strcmp(env, "0") == 0 || std::strcmp(env, "off") == 0 ||
                     std::strcmp(env, "false") == 0));
  }();
  return flag;
}

}  // namespace

void check(cudaError_t e, const char* call, const char* file, int line) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear a non-sticky error so that the next call starts clean
  throw Error(detail::concat("CUDA error in ", where(call, file, line), ": ", cudaGetErrorName(e),
                             ": ", cudaGetErrorString(e)));
}

void check(cublasStatus_t s, const char* call, const char* file, int line) {
  if (s == CUBLAS_STATUS_SUCCESS) return;
  throw Error(detail::concat("cuBLAS error in ", where(call, file, line), ": ",
                             cublasGetStatusName(s), ": ", cublasGetStatusString(s)));
}

void check(cudnnStatus_t s, const char* call, const char* file, int line) {
  if (s == CUDNN_STATUS_SUCCESS) return;
  char detail_msg[512] = {};
  cudnnGetLastErrorString(detail_msg, sizeof detail_msg);
  throw Error(detail::concat("cuDNN error in ", where(call, file, line), ": ",
                             cudnnGetErrorString(s), detail_msg[0] ? ": " : "", detail_msg));
}

void require_device(Device d, const char* who) {
  if (!availability().ok)
    throw Error(detail::concat(who, ": cannot use ", d.str(), ": ", availability().reason));
  if (d.index != 0)
    throw Error(detail::concat(who, ": ", d.str(),
                               " is not supported yet; the CUDA backend uses cuda:0 only"));
}

namespace {
// NOTE [Weight-gradient branches]: while this thread queues a branch of a graph capture, its
// launches and library calls go to the side stream: the cuBLAS and cuDNN handles are bound to
// it for the branch (as PyTorch binds its handles to the current stream on every call), cuBLAS
// with the side's own workspace, since the two streams' kernels may run at once.
thread_local bool t_on_side = false;

struct Side {
  cudaStream_t stream = nullptr;
  void* workspace = nullptr;  // cuBLAS's (and cuBLASLt's) on the side stream
  cudaEvent_t fork = nullptr, join = nullptr;
};
Side* g_side = nullptr;  // made by side_prepare(), never destroyed (like the stream)
std::mutex g_side_mu;
}  // namespace

cudaStream_t compute_stream() {
  static cudaStream_t s = [] {
    require_device(Device::cuda(0), "CUDA backend");
    cudaStream_t st = nullptr;
    NG_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    return st;  // never destroyed: kernels may be queued until the process ends
  }();
  return s;
}

cudaStream_t stream() {
  return t_on_side ? g_side->stream : compute_stream();
}

cudaStream_t copy_stream() {
  static cudaStream_t s = [] {
    cudaStream_t st = nullptr;
    NG_CUDA_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    return st;
  }();
  stream();  // the device check, and the compute stream first
  return s;
}

// ---- NOTE [Deferred device errors]

namespace {

struct ErrorState {
  std::mutex mu;
  DeviceErrorSlot slot{};
  DeviceErrorRecord* host = nullptr;  // the record's host address
  std::vector<std::string> sites;
};

ErrorState& error_state() {
  static ErrorState* st = [] {
    auto* e = new ErrorState();  // never destroyed, like the stream
    stream();                    // the device check
    NG_CUDA_CHECK(cudaMalloc(&e->slot.claim, sizeof(unsigned long long)));
    NG_CUDA_CHECK(cudaMemset(e->slot.claim, 0, sizeof(unsigned long long)));
    void* host = nullptr;
    NG_CUDA_CHECK(cudaHostAlloc(&host, sizeof(DeviceErrorRecord), cudaHostAllocMapped));
    std::memset(host, 0, sizeof(DeviceErrorRecord));
    void* dev = nullptr;
    NG_CUDA_CHECK(cudaHostGetDevicePointer(&dev, host, 0));
    e->slot.record = static_cast<DeviceErrorRecord*>(dev);
    e->host = static_cast<DeviceErrorRecord*>(host);
    return e;
  }();
  return *st;
}

}  // namespace

DeviceErrorSlot device_error_slot() {
  return error_state().slot;
}

int64_t error_site(const std::string& who) {
  ErrorState& e = error_state();
  std::lock_guard<std::mutex> lock(e.mu);
  for (size_t i = 0; i < e.sites.size(); ++i)
    if (e.sites[i] == who) return int64_t(i);
  e.sites.push_back(who);
  return int64_t(e.sites.size() - 1);
}

void raise_device_errors() {
  if (!availability().ok) return;
  ErrorState& e = error_state();
  volatile DeviceErrorRecord* r = e.host;
  if (r->flag == 0) return;
  std::string who;
  {
    std::lock_guard<std::mutex> lock(e.mu);
    who = r->site >= 0 && size_t(r->site) < e.sites.size() ? e.sites[size_t(r->site)] : "an op";
  }
  const int64_t value = r->value, row = r->row, classes = r->classes;
  r->flag = 0;
  if (!cuda_capturing())  // re-arm the claim for the next error
    NG_CUDA_CHECK(cudaMemsetAsync(e.slot.claim, 0, sizeof(unsigned long long), compute_stream()));
  throw ValueError(detail::concat(who, ": label ", value, " in row ", row, " is out of range for ",
                                  classes, " classes (expected 0 to ", classes - 1, ")"));
}

namespace {
// A fixed workspace from our allocator (32 MiB, cuBLAS's advice for Hopper), so that cuBLAS
// never allocates on its own during a step.
constexpr size_t kCublasWorkspace = size_t(32) << 20;

struct Cublas {
  cublasHandle_t handle = nullptr;
  void* workspace = nullptr;  // kept for the process
};

// NOTE [Weight-gradient branches]: the cuBLAS and cuDNN handles follow this thread's stream (as
// PyTorch binds its handles on every call): rebound, cuBLAS with that stream's workspace,
// whenever stream() differs from the stream they were bound to last.
cudaStream_t g_blas_bound = nullptr, g_dnn_bound = nullptr;

const Cublas& cublas_state() {
  static const Cublas c = [] {
    Cublas r;
    cudaStream_t st = compute_stream();
    NG_CUDA_CHECK(cublasCreate(&r.handle));
    NG_CUDA_CHECK(cublasSetStream(r.handle, st));
    r.workspace = allocator(Device::cuda()).allocate(kCublasWorkspace);
    NG_CUDA_CHECK(cublasSetWorkspace(r.handle, r.workspace, kCublasWorkspace));
    g_blas_bound = st;
    return r;
  }();
  return c;
}
}  // namespace

cublasHandle_t cublas() {
  const Cublas& c = cublas_state();
  const cudaStream_t st = stream();
  if (g_blas_bound != st) {
    size_t bytes = 0;
    void* ws = cublas_workspace(&bytes);
    // cublasSetStream resets the handle's workspace to cuBLAS's own pool: ours goes after it.
    NG_CUDA_CHECK(cublasSetStream(c.handle, st));
    NG_CUDA_CHECK(cublasSetWorkspace(c.handle, ws, bytes));
    g_blas_bound = st;
  }
  return c.handle;
}

void* cublas_workspace(size_t* bytes) {
  *bytes = kCublasWorkspace;
  return t_on_side ? g_side->workspace : cublas_state().workspace;
}

cublasLtHandle_t cublaslt() {
  static cublasLtHandle_t h = [] {
    stream();  // the device check
    cublasLtHandle_t hh = nullptr;
    NG_CUDA_CHECK(cublasLtCreate(&hh));
    return hh;
  }();
  return h;
}

cudnnHandle_t cudnn() {
  static cudnnHandle_t h = [] {
    cudaStream_t st = compute_stream();
    cudnnHandle_t hh = nullptr;
    NG_CUDA_CHECK(cudnnCreate(&hh));
    NG_CUDA_CHECK(cudnnSetStream(hh, st));
    g_dnn_bound = st;
    return hh;
  }();
  const cudaStream_t st = stream();
  if (g_dnn_bound != st) {  // NOTE [Weight-gradient branches]
    NG_CUDA_CHECK(cudnnSetStream(h, st));
    g_dnn_bound = st;
  }
  return h;
}

// ---- NOTE [Weight-gradient branches]

void side_prepare() {
  std::lock_guard<std::mutex> lock(g_side_mu);
  if (g_side) return;
  cublas_state();  // the handles exist before any capture
  cudnn();
  Side s;
  try {
    NG_CUDA_CHECK(cudaStreamCreateWithFlags(&s.stream, cudaStreamNonBlocking));
    NG_CUDA_CHECK(cudaEventCreateWithFlags(&s.fork, cudaEventDisableTiming));
    NG_CUDA_CHECK(cudaEventCreateWithFlags(&s.join, cudaEventDisableTiming));
    s.workspace = allocator(Device::cuda()).allocate(kCublasWorkspace);
  } catch (...) {
    if (s.join) cudaEventDestroy(s.join);
    if (s.fork) cudaEventDestroy(s.fork);
    if (s.stream) cudaStreamDestroy(s.stream);
    throw;
  }
  g_side = new Side(s);
}

void side_fork() {
  NG_CHECK(g_side && !t_on_side, "CUDA branch: side stream not prepared, or already forked");
  NG_CUDA_CHECK(cudaEventRecord(g_side->fork, compute_stream()));
  NG_CUDA_CHECK(cudaStreamWaitEvent(g_side->stream, g_side->fork, 0));
  t_on_side = true;
}

void side_leave() noexcept {
  t_on_side = false;
}

bool on_side() noexcept {
  return t_on_side;
}

void side_join() {
  NG_CHECK(g_side && !t_on_side, "CUDA branch: join from inside a branch");
  NG_CUDA_CHECK(cudaEventRecord(g_side->join, g_side->stream));
  NG_CUDA_CHECK(cudaStreamWaitEvent(compute_stream(), g_side->join, 0));
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) {
  if (bytes) p_ = allocator(Device::cuda()).allocate(bytes);
}
DeviceBuffer::~DeviceBuffer() {
  if (p_) allocator(Device::cuda()).deallocate(p_, bytes_);
}

}  // namespace cuda

bool cuda_available() noexcept {
  return cuda::availability().ok;
}

std::string cuda_unavailable_reason() {
  return cuda::availability().reason;
}

std::string cuda_device_description() {
  if (!cuda_available()) return cuda_unavailable_reason();
  cudaDeviceProp p{};
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) {
    cudaGetLastError();
    return "cuda:0 (properties unavailable)";
  }
  int rt = 0;
  cudaRuntimeGetVersion(&rt);
  const size_t cv = cudnnGetVersion();
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "%s (sm_%d%d, %d SMs, %.1f GiB), CUDA runtime %d.%d, cuDNN %zu.%zu.%zu", p.name,
                p.major, p.minor, p.multiProcessorCount, double(p.totalGlobalMem) / double(1 << 30),
                rt / 1000, (rt % 1000) / 10, cv / 10000, (cv % 10000) / 100, cv % 100);
  return buf;
}

void set_cuda_tf32(bool enabled) noexcept {
  cuda::tf32_flag().store(enabled);
}

bool cuda_tf32() noexcept {
  return cuda::tf32_flag().load();
}

namespace {
std::atomic<bool>& deterministic_flag() noexcept {
  static std::atomic<bool> flag = [] {
    const char* env = std::getenv("NG_CUDNN_DETERMINISTIC");
    return env && (std::strcmp(env, "1") == 0 || std::strcmp(env, "on") == 0 ||
                   std::strcmp(env, "true") == 0);
  }();
  return flag;
}
}  // namespace

void set_cudnn_deterministic(bool enabled) noexcept {
  deterministic_flag().store(enabled);
}

bool cudnn_deterministic() noexcept {
  return deterministic_flag().load();
}

void cuda_synchronize() {
  if (!cuda_available()) return;
  NG_CUDA_CHECK(cudaStreamSynchronize(cuda::compute_stream()));
  cuda::raise_device_errors();
}

void cuda_check_device_errors() {
  cuda_synchronize();
}

bool cuda_graphs_enabled() noexcept {
  static const bool on = [] {
    const char* env = std::getenv("NG_CUDA_GRAPHS");
    return !(env && (std::strcmp(env, "0") == 0 || std::strcmp(env, "off") == 0 ||
                     std::strcmp(env, "false") == 0));
  }();
  return on && cuda_available();
}

void cuda_memory_info(size_t& free_bytes, size_t& total_bytes) noexcept {
  free_bytes = total_bytes = 0;
  if (!cuda_available()) return;
  if (cudaMemGetInfo(&free_bytes, &total_bytes) != cudaSuccess) {
    cudaGetLastError();
    free_bytes = total_bytes = 0;
  }
}

}  // namespace ng
