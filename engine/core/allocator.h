// Per-device memory allocators. The CPU allocator hands out 64-byte aligned blocks and keeps
// freed blocks in size buckets, so the steady-state training step reuses the same memory instead
// of returning to malloc (large mallocs are fresh mmaps whose page faults cost more than the math).
//   void* p = allocator(Device::cpu()).allocate(bytes);  ...  allocator(...).deallocate(p, bytes);
#pragma once

#include <cstddef>

#include "engine/core/device.h"

namespace ng {

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* p, size_t bytes) = 0;
  // Returns cached blocks to the system.
  virtual void release_cache() {}
  virtual size_t bytes_in_use() const { return 0; }
  virtual size_t peak_bytes_in_use() const { return 0; }
  virtual void reset_peak() {}
  // The most this allocator could hold now: its blocks (in use and cached) plus what the device
  // has free (the CPU: the machine's available memory); 0 where that is not known. Sizes the
  // batch that fits after an OutOfMemoryError (engine/train/memory_fit.h).
  virtual size_t capacity_bytes() const { return 0; }
};

// The allocator for a device; throws ng::Error when the device has none (e.g. no CUDA build).
Allocator& allocator(Device d);
// Backends install their allocator once at start-up.
void set_allocator(DeviceType t, Allocator* a);

inline constexpr size_t kStorageAlignment = 64;

}  // namespace ng
