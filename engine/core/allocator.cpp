#include "engine/core/allocator.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/core/error.h"
#include "engine/core/format.h"

namespace ng {

void ensure_backends_registered();  // ops/dispatch.h

namespace {

// NOTE [CPU block cache]: blocks are rounded up to a bucket size and cached by exact bucket, so
// a training step that allocates the same shapes every iteration finds every block in the cache
// from its second step on. The cache is capped; beyond the cap freed blocks go back to the OS.
class CachingCpuAllocator final : public Allocator {
 public:
  static size_t round(size_t bytes) {
    if (bytes <= 4096) return (bytes + 63) & ~size_t(63);
    if (bytes <= (1u << 20)) return (bytes + 4095) & ~size_t(4095);
    return (bytes + 65535) & ~size_t(65535);
  }

  void* allocate(size_t bytes) override {
    size_t b = round(std::max<size_t>(bytes, 1));
    {
      std::lock_guard<std::mutex> lock(mu_);
      in_use_ += b;
      peak_ = std::max(peak_, in_use_);
      auto it = free_.find(b);
      if (it != free_.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        cached_ -= b;
        return p;
      }
    }
    void* p = std::aligned_alloc(kStorageAlignment, b);
    if (!p) {  // the cached blocks back to the system, then once more
      release_cache();
      p = std::aligned_alloc(kStorageAlignment, b);
    }
    if (!p) {
      size_t held;
      {
        std::lock_guard<std::mutex> lock(mu_);
        in_use_ -= b;
        held = in_use_;
      }
      const size_t avail = available_bytes();
      throw OutOfMemoryError("out of host memory: tried to allocate " + human_bytes(double(b)) +
                             (avail
                                  ? "; the machine has " + human_bytes(double(avail)) + " available"
                                  : std::string()) +
                             " (Neurograph's tensors hold " + human_bytes(double(held)) +
                             "). Try a smaller batch size or a smaller model.");
    }
    return p;
  }

  void deallocate(void* p, size_t bytes) override {
    if (!p) return;
    size_t b = round(std::max<size_t>(bytes, 1));
    std::lock_guard<std::mutex> lock(mu_);
    in_use_ -= b;
    if (cached_ + b > kCacheCap) {
      std::free(p);
      return;
    }
    free_[b].push_back(p);
    cached_ += b;
  }

  void release_cache() override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [sz, v] : free_)
      for (void* p : v) std::free(p);
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
  // What the machine has available (MemAvailable: free memory and reclaimable caches) plus the
  // blocks this allocator holds; 0 where /proc/meminfo cannot be read.
  size_t capacity_bytes() const override {
    const size_t avail = available_bytes();
    if (avail == 0) return 0;
    std::lock_guard<std::mutex> lock(mu_);
    return avail + in_use_ + cached_;
  }

 private:
  static constexpr size_t kCacheCap = size_t(2) << 30;
  static size_t available_bytes() {
    std::FILE* f = std::fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    size_t kib = 0;
    while (std::fgets(line, sizeof line, f))
      if (std::sscanf(line, "MemAvailable: %zu kB", &kib) == 1) break;
    std::fclose(f);
    return kib * 1024;
  }
  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0, in_use_ = 0, peak_ = 0;
};

std::array<Allocator*, kNumDeviceTypes>& table() {
  static CachingCpuAllocator* cpu = new CachingCpuAllocator();  // lives for the process
  static std::array<Allocator*, kNumDeviceTypes> t{cpu, nullptr};
  return t;
}

}  // namespace

Allocator& allocator(Device d) {
  Allocator* a = table()[int(d.type)];
  if (!a) {
    // A device backend installs its allocator when the backends register (ops/dispatch.h),
    // which may not have happened yet if the first thing a program does is allocate there.
    ensure_backends_registered();
    a = table()[int(d.type)];
  }
  NG_CHECK(a, "device ", d.str(), " is not available in this build of Neurograph");
  return *a;
}

void set_allocator(DeviceType t, Allocator* a) {
  table()[int(t)] = a;
}

}  // namespace ng
