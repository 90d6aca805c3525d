// A CPU "device" with a memory limit, for tests of what happens when a device runs out: the CPU
// allocator with allocations past `limit` bytes in use refused by OutOfMemoryError (as the CUDA
// allocator's are when the GPU is full) and capacity_bytes() reporting the limit. Installed for
// a scope by CpuAllocatorSwap; counts stay the real allocator's.
//   LimitedAllocator limited(ng::allocator(ng::Device::cpu()), 64 << 20);
//   { CpuAllocatorSwap swap(&limited);  ...train... }
#pragma once

#include "engine/core/allocator.h"
#include "engine/core/error.h"

namespace ng::testing {

class LimitedAllocator : public Allocator {
 public:
  LimitedAllocator(Allocator& base, size_t limit) : base_(base), limit_(limit) {}
  void* allocate(size_t bytes) override {
    if (base_.bytes_in_use() + bytes > limit_)
      throw OutOfMemoryError(detail::concat("test device out of memory: tried to allocate ", bytes,
                                            " bytes with ", base_.bytes_in_use(), " of ", limit_,
                                            " in use."));
    return base_.allocate(bytes);
  }
  void deallocate(void* p, size_t bytes) override { base_.deallocate(p, bytes); }
  void release_cache() override { base_.release_cache(); }
  size_t bytes_in_use() const override { return base_.bytes_in_use(); }
  size_t peak_bytes_in_use() const override { return base_.peak_bytes_in_use(); }
  void reset_peak() override { base_.reset_peak(); }
  size_t capacity_bytes() const override { return limit_; }

 private:
  Allocator& base_;
  size_t limit_;
};

struct CpuAllocatorSwap {
  Allocator* old;
  explicit CpuAllocatorSwap(Allocator* a) : old(&allocator(Device::cpu())) {
    set_allocator(DeviceType::CPU, a);
  }
  ~CpuAllocatorSwap() { set_allocator(DeviceType::CPU, old); }
  CpuAllocatorSwap(const CpuAllocatorSwap&) = delete;
  CpuAllocatorSwap& operator=(const CpuAllocatorSwap&) = delete;
};

}  // namespace ng::testing
