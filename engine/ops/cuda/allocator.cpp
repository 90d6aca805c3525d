// The CUDA caching allocator, installed for DeviceType::CUDA by register_cuda_kernels().
//
// NOTE [CUDA block cache]: cudaMalloc and cudaFree are slow and cudaFree waits for the whole
// device, so freed blocks are kept in buckets of their rounded size and handed out again; a
// training step that allocates the same shapes every iteration calls cudaMalloc only in its
// first step. Blocks are rounded to 512 bytes (up to 1 MiB) or to 2 MiB (beyond), and looked up
// by exact rounded size. Reuse needs no synchronisation because every op runs on one stream
// (NOTE [One stream]). When cudaMalloc fails, the cache is returned to the device and the
// allocation tried once more before an out-of-memory error is thrown.
#include "engine/core/allocator.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/ops/cuda/backend.h"
#include "engine/ops/cuda/common.h"

namespace ng::cuda {
namespace {

std::atomic<bool> g_poison{false};

std::string gib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(size_t(1) << 30));
  return buf;
}

class CachingCudaAllocator final : public Allocator {
 public:
  static size_t round(size_t bytes) {
    constexpr size_t kSmall = size_t(1) << 20, kLarge = size_t(2) << 20;
    if (bytes <= kSmall) return (bytes + 511) & ~size_t(511);
    return (bytes + kLarge - 1) & ~(kLarge - 1);
  }

  void* allocate(size_t bytes) override {
    void* p = take(bytes);
    if (g_poison.load(std::memory_order_relaxed))
      NG_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, round(std::max<size_t>(bytes, 1)), stream()));
    return p;
  }

  void* take(size_t bytes) {
    const size_t b = round(std::max<size_t>(bytes, 1));
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(b);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= b;
        note_in_use(b);
        return p;
      }
    }
    require_device(Device::cuda(), "allocating device memory");
    void* p = nullptr;
    cudaError_t e = cudaMalloc(&p, b);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      release_cache();
      e = cudaMalloc(&p, b);
    }
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      throw Error(out_of_memory_message(bytes));
    }
    NG_CUDA_CHECK(e);
    std::lock_guard<std::mutex> lock(mu_);
    note_in_use(b);
    return p;
  }

  void deallocate(void* p, size_t bytes) override {
    if (!p) return;
    const size_t b = round(std::max<size_t>(bytes, 1));
    std::lock_guard<std::mutex> lock(mu_);
    in_use_ -= b;
    free_[b].push_back(p);
    cached_ += b;
  }

  // Returns every cached block to the device (after the queued work that may still use them).
  void release_cache() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty()) return;
    NG_CUDA_CHECK(cudaDeviceSynchronize());
    for (auto& [size, blocks] : free_)
      for (void* p : blocks) NG_CUDA_CHECK(cudaFree(p));
    free_.clear();
    cached_ = 0;
  }

  size_t bytes_in_use() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return in_use_;
  }
  size_t peak_bytes_in_use() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return peak_;
  }
  void reset_peak() override {
    std::lock_guard<std::mutex> lock(mu_);
    peak_ = in_use_;
  }

 private:
  void note_in_use(size_t b) {
    in_use_ += b;
    peak_ = std::max(peak_, in_use_);
  }

  std::string out_of_memory_message(size_t asked) const {
    size_t free_b = 0, total_b = 0;
    cuda_memory_info(free_b, total_b);
    size_t in_use;
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_use = in_use_;
    }
    return "CUDA out of memory: tried to allocate " + gib(asked) + "; the GPU has " + gib(free_b) +
           " free of " + gib(total_b) + " (Neurograph's tensors hold " + gib(in_use) +
           "). Try a smaller batch size or a smaller model.";
  }

  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0, in_use_ = 0, peak_ = 0;
};

}  // namespace

void set_poison(bool on) noexcept {
  g_poison.store(on);
}

Allocator* caching_allocator() {
  // Never destroyed: tensors in static storage may be freed after main returns, and the CUDA
  // runtime may already be gone by then (deallocate makes no CUDA call, so that is safe).
  static CachingCudaAllocator* a = new CachingCudaAllocator();
  return a;
}

}  // namespace ng::cuda

void ng::set_cuda_poison_allocations(bool enabled) noexcept {
  cuda::set_poison(enabled);
}
