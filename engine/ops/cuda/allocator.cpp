// The CUDA caching allocator, installed for DeviceType::CUDA by register_cuda_kernels().
//
// NOTE [CUDA block cache]: cudaMalloc and cudaFree are slow and cudaFree waits for the whole
// device, so freed blocks are kept in buckets of their rounded size and handed out again; a
// training step that allocates the same shapes every iteration calls cudaMalloc only in its
// first step. Blocks are rounded to 512 bytes (up to 1 MiB) or to 2 MiB (beyond), and looked up
// by exact rounded size. Reuse needs no synchronisation because every op runs on one stream
// (NOTE [One stream]). When cudaMalloc fails, the cache is returned to the device and the
// allocation tried once more before an out-of-memory error is thrown.
//
// NOTE [Graph memory pools]: a CUDA graph replays the device addresses of its capture, so a block
// used during a capture must not be handed to anyone else while the graph lives. While a pool is
// active (CudaGraph::begin_capture .. end_capture) every allocation is served from that pool:
// first from its own free blocks, then by moving a block of the size out of the general cache
// (the warm-up step before a capture leaves exactly the sizes the capture asks for), and only
// when neither has one from cudaMalloc. Only the capturing thread's allocations are served so. A
// block allocated from a pool belongs to it until the pool is released (the graph is destroyed):
// freed, it goes back to the pool's free list, which only that pool's captures draw from, and it
// still counts as in use (the graph's replays use it). Releasing moves the pool's free blocks to
// the general cache; its blocks still held by tensors (gradients, a loss created during the
// capture) go there when freed. All of this is stream-ordered on the compute stream (NOTE [One
// stream]), so no block needs an event.
#include "engine/core/allocator.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "engine/ops/cuda/backend.h"
#include "engine/ops/cuda/capture.h"
#include "engine/ops/cuda/common.h"

namespace ng::cuda {
namespace {

std::atomic<bool> g_poison{false};

std::string gib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", double(bytes) / double(size_t(1) << 30));
  return buf;
}

// cudaMalloc with this thread's capture mode relaxed for the call: a capture in progress
// (NOTE [Graph memory pools]) otherwise refuses it as potentially unsafe. It queues no work, so
// the capture is not affected (PyTorch's allocator does the same).
cudaError_t malloc_in_any_mode(void** p, size_t bytes) {
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  cudaThreadExchangeStreamCaptureMode(&mode);
  const cudaError_t e = cudaMalloc(p, bytes);
  cudaThreadExchangeStreamCaptureMode(&mode);
  return e;
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
    if (on_side()) {  // NOTE [Weight-gradient branches]: a block a branch's kernels use
      std::lock_guard<std::mutex> lock(mu_);
      if (active_ && std::this_thread::get_id() == active_thread_) side_blocks_.insert(p);
    }
    if (g_poison.load(std::memory_order_relaxed))
      NG_CUDA_CHECK(cudaMemsetAsync(p, 0xFF, round(std::max<size_t>(bytes, 1)), stream()));
    return p;
  }

  void* take(size_t bytes) {
    const size_t b = round(std::max<size_t>(bytes, 1));
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (active_ && std::this_thread::get_id() == active_thread_) {  // NOTE [Graph memory pools]
        Pool& pool = *active_;
        void* p = nullptr;
        auto pit = pool.free.find(b);
        if (pit != pool.free.end() && !pit->second.empty()) {
          p = pit->second.back();
          pit->second.pop_back();
          pool.free_bytes -= b;
          return p;  // already counted in use
        }
        auto it = free_.find(b);
        if (it != free_.end() && !it->second.empty()) {
          p = it->second.back();
          it->second.pop_back();
          cached_ -= b;
          note_in_use(b);
          owner_[p] = pool.id;
          block_size_[p] = b;
          ++pool.blocks;
          return p;
        }
      }
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
    cudaError_t e = malloc_in_any_mode(&p, b);
    if (e == cudaErrorMemoryAllocation && !capturing()) {  // cudaFree may not run in a capture
      cudaGetLastError();
      release_cache();
      e = malloc_in_any_mode(&p, b);
    }
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      throw OutOfMemoryError(out_of_memory_message(bytes));
    }
    NG_CUDA_CHECK(e);
    std::lock_guard<std::mutex> lock(mu_);
    note_in_use(b);
    if (active_ && std::this_thread::get_id() == active_thread_) {
      owner_[p] = active_->id;
      block_size_[p] = b;
      ++active_->blocks;
    }
    return p;
  }

  void deallocate(void* p, size_t bytes) override {
    if (!p) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (!side_blocks_.empty() && side_blocks_.count(p)) {  // NOTE [Weight-gradient branches]
      held_.push_back({p, bytes});
      held_bytes_ += round(std::max<size_t>(bytes, 1));
      return;
    }
    release_locked(p, bytes);
  }

  // ---- NOTE [Weight-gradient branches]
  // The side stream has been joined: every block allocated on it is free to be reused as usual.
  void release_side_blocks() {
    std::lock_guard<std::mutex> lock(mu_);
    side_blocks_.clear();
    for (const auto& [p, bytes] : std::exchange(held_, {})) release_locked(p, bytes);
    held_bytes_ = 0;
  }
  size_t held_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return held_bytes_;
  }

  void release_locked(void* p, size_t bytes) {
    const size_t b = round(std::max<size_t>(bytes, 1));
    if (!owner_.empty()) {  // NOTE [Graph memory pools]
      auto o = owner_.find(p);
      if (o != owner_.end()) {
        auto pit = pools_.find(o->second);
        if (pit != pools_.end() && !pit->second.released) {
          pit->second.free[b].push_back(p);
          pit->second.free_bytes += b;
          return;  // stays in use: the graph's replays write it
        }
        if (pit != pools_.end() && --pit->second.blocks == 0) pools_.erase(pit);
        owner_.erase(o);
        block_size_.erase(p);
      }
    }
    in_use_ -= b;
    free_[b].push_back(p);
    cached_ += b;
  }

  // ---- NOTE [Graph memory pools]
  int pool_create() {
    std::lock_guard<std::mutex> lock(mu_);
    const int id = next_pool_++;
    pools_[id].id = id;
    return id;
  }
  void pool_begin(int id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pools_.find(id);
    NG_CHECK(it != pools_.end() && !it->second.released, "CUDA allocator: no pool ", id);
    NG_CHECK(!active_, "CUDA allocator: a capture pool is already active");
    active_ = &it->second;
    active_thread_ = std::this_thread::get_id();
  }
  void pool_end() {
    std::lock_guard<std::mutex> lock(mu_);
    side_blocks_.clear();  // a capture that ended with a branch open (an exception) gives them back
    for (const auto& [p, bytes] : std::exchange(held_, {})) release_locked(p, bytes);
    held_bytes_ = 0;
    if (active_ && pool_log()) log_pool(*active_);
    active_ = nullptr;
  }
  void pool_release(int id) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pools_.find(id);
    if (it == pools_.end()) return;
    Pool& pool = it->second;
    if (active_ == &pool) active_ = nullptr;
    pool.released = true;
    for (auto& [size, blocks] : pool.free)
      for (void* p : blocks) {
        owner_.erase(p);
        block_size_.erase(p);
        in_use_ -= size;
        free_[size].push_back(p);
        cached_ += size;
        --pool.blocks;
      }
    pool.free.clear();
    pool.free_bytes = 0;
    if (pool.blocks == 0) pools_.erase(it);
  }

  // Returns every cached block to the device (after the queued work that may still use them).
  void release_cache() override {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.empty() || active_) return;
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
  size_t capacity_bytes() const override {
    size_t free_b = 0, total_b = 0;
    cuda_memory_info(free_b, total_b);
    std::lock_guard<std::mutex> lock(mu_);
    return free_b + in_use_ + cached_;
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

  bool capturing() const {
    std::lock_guard<std::mutex> lock(mu_);
    return active_ != nullptr;
  }

  struct Pool {
    int id = 0;
    bool released = false;
    int64_t blocks = 0;  // blocks owned (free in the pool or held by tensors)
    size_t free_bytes = 0;
    std::unordered_map<size_t, std::vector<void*>> free;
  };

  // NG_CUDA_POOL_LOG=1: at the end of each capture, the pool's blocks by size on stderr (how
  // much of a captured step's footprint is blocks of sizes no later request matched).
  static bool pool_log() {
    static const bool on = [] {
      const char* v = std::getenv("NG_CUDA_POOL_LOG");
      return v && *v && v[0] != '0';
    }();
    return on;
  }
  void log_pool(const Pool& pool) const {
    std::map<size_t, int> held;
    for (const auto& [p, id] : owner_)
      if (id == pool.id) ++held[block_size_.count(p) ? block_size_.at(p) : 0];
    size_t total = 0;
    std::string line;
    for (const auto& [size, n] : held) {
      total += size * size_t(n);
      char item[64];  // (snprintf: GCC 12 warns falsely on the string concatenation here)
      std::snprintf(item, sizeof item, " %dx%zuK", n, size >> 10);
      line += item;
    }
    std::fprintf(stderr, "[cuda pool %d] %lld blocks, %.1f MiB (%.1f MiB free in the pool):%s\n",
                 pool.id, (long long)pool.blocks, double(total) / (1 << 20),
                 double(pool.free_bytes) / (1 << 20), line.c_str());
  }

  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0, in_use_ = 0, peak_ = 0;
  std::unordered_map<int, Pool> pools_;
  std::unordered_map<void*, int> owner_;          // pool blocks only
  std::unordered_map<void*, size_t> block_size_;  // their rounded sizes
  Pool* active_ = nullptr;
  std::thread::id active_thread_;  // the capturing thread: only its allocations use the pool
  // NOTE [Weight-gradient branches]: blocks allocated on the side stream since the last join,
  // and those of them freed meanwhile (not reusable until the join).
  std::unordered_set<void*> side_blocks_;
  std::vector<std::pair<void*, size_t>> held_;
  size_t held_bytes_ = 0;
  int next_pool_ = 1;
};

CachingCudaAllocator* the_allocator() {
  // Never destroyed: tensors in static storage may be freed after main returns, and the CUDA
  // runtime may already be gone by then (deallocate makes no CUDA call, so that is safe).
  static CachingCudaAllocator* a = new CachingCudaAllocator();
  return a;
}

}  // namespace

void set_poison(bool on) noexcept {
  g_poison.store(on);
}

Allocator* caching_allocator() {
  return the_allocator();
}

int pool_create() {
  return the_allocator()->pool_create();
}
void pool_begin(int pool) {
  the_allocator()->pool_begin(pool);
}
void pool_end() {
  the_allocator()->pool_end();
}
void pool_release(int pool) {
  the_allocator()->pool_release(pool);
}
void release_side_blocks() {
  the_allocator()->release_side_blocks();
}
size_t held_bytes() {
  return the_allocator()->held_bytes();
}

}  // namespace ng::cuda

void ng::set_cuda_poison_allocations(bool enabled) noexcept {
  cuda::set_poison(enabled);
}
