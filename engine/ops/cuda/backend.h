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
#include <string>

namespace ng {

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

// Waits until every queued GPU operation has finished; throws ng::Error on a device error.
void cuda_synchronize();

// Bytes the device reports free and total (0, 0 without a device).
void cuda_memory_info(size_t& free_bytes, size_t& total_bytes) noexcept;

// For tests: while on, every block the CUDA allocator hands out is first filled with 0xFF bytes
// (NaN as float32/float64, -1 as int64), so an output element a kernel forgets to write shows.
void set_cuda_poison_allocations(bool enabled) noexcept;

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
inline void cuda_synchronize() {}
inline void cuda_memory_info(size_t& free_bytes, size_t& total_bytes) noexcept {
  free_bytes = total_bytes = 0;
}
inline void set_cuda_poison_allocations(bool) noexcept {}

#endif

}  // namespace ng
