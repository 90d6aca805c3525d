// The asynchronous-step pieces of engine/ops/cuda/backend.h in a build without the CUDA backend:
// no device, so nothing can be captured, read back or uploaded (each use throws ng::Error).
#ifndef NG_WITH_CUDA

#include "engine/ops/cuda/backend.h"

namespace ng {

namespace {
[[noreturn]] void no_cuda(const char* what) {
  throw Error(std::string(what) + ": " + cuda_unavailable_reason());
}
}  // namespace

bool cuda_graphs_enabled() noexcept {
  return false;
}
void cuda_check_device_errors() {}
bool cuda_capturing() noexcept {
  return false;
}
void cuda_upload_async(void*, const void*, size_t) {
  no_cuda("cuda_upload_async");
}

struct CudaGraph::Impl {};
CudaGraph::CudaGraph() = default;
CudaGraph::~CudaGraph() = default;
void CudaGraph::begin_capture() {
  no_cuda("CudaGraph");
}
void CudaGraph::end_capture() {
  no_cuda("CudaGraph");
}
void CudaGraph::abort_capture() noexcept {}
void CudaGraph::release() noexcept {}
bool CudaGraph::ready() const {
  return false;
}
void CudaGraph::replay() {
  no_cuda("CudaGraph");
}
size_t CudaGraph::num_nodes() const {
  return 0;
}
size_t CudaGraph::branches() const {
  return 0;
}
size_t CudaGraph::early_joins() const {
  return 0;
}
size_t CudaGraph::capture_copy(void*, const void*, size_t) {
  no_cuda("CudaGraph");
}
void CudaGraph::set_copy_source(size_t, const void*) {
  no_cuda("CudaGraph");
}

struct HostReadback::Impl {};
HostReadback::HostReadback() = default;
HostReadback::~HostReadback() = default;
void HostReadback::start(const std::vector<Tensor>&) {
  no_cuda("HostReadback");
}
bool HostReadback::pending() const {
  return false;
}
bool HostReadback::ready() {
  return true;
}
void HostReadback::wait() {}
std::vector<Tensor> HostReadback::take() {
  return {};
}

struct DeviceUploader::Impl {};
DeviceUploader::DeviceUploader() = default;
DeviceUploader::~DeviceUploader() = default;
std::vector<Tensor> DeviceUploader::upload(const std::vector<Tensor>&) {
  no_cuda("DeviceUploader");
}
void DeviceUploader::release() {}

}  // namespace ng

#endif  // NG_WITH_CUDA
