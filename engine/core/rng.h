// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011). Element i of a fill is a
// pure function of (seed, offset + i / 4), so the same seed gives the same initial weights,
// dropout masks and shuffles on any device and with any number of threads.
//   Rng rng(42);
//   rng.fill_normal(w.data<float>(), w.numel(), 0.0, 0.1);
#pragma once

#include <array>
#include <cstdint>

namespace ng {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key);

class Rng {
 public:
  explicit Rng(uint64_t seed = 0, uint64_t offset = 0) : seed_(seed), offset_(offset) {}

  uint64_t seed() const { return seed_; }
  // Number of 128-bit blocks consumed so far; saved in checkpoints to resume a run exactly.
  uint64_t offset() const { return offset_; }
  void set_state(uint64_t seed, uint64_t offset) { seed_ = seed, offset_ = offset; }

  // Uniform in [lo, hi) and normal(mean, std), float or double.
  template <class T>
  void fill_uniform(T* out, int64_t n, double lo, double hi);
  template <class T>
  void fill_normal(T* out, int64_t n, double mean, double stddev);
  // Bernoulli(keep) as 0/1 scaled by `scale` (dropout masks).
  template <class T>
  void fill_bernoulli(T* out, int64_t n, double keep, double scale);

  // Reserves `blocks` counters and returns the first, for kernels that draw on their own
  // (a CUDA dropout kernel draws block offset + i/4 exactly as the CPU does).
  uint64_t reserve(uint64_t blocks) {
    uint64_t o = offset_;
    offset_ += blocks;
    return o;
  }
  uint32_t next_u32();
  uint64_t next_u64() { return (uint64_t(next_u32()) << 32) | next_u32(); }
  // Uniform integer in [0, n).
  uint64_t randint(uint64_t n) { return next_u64() % n; }

 private:
  uint64_t seed_, offset_;
};

}  // namespace ng
