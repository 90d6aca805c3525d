// Seeded randomness for the data pipeline, built on the Philox generator (engine/core/rng.h).
// Every draw is a pure function of (seed, stream, ...) so that a resumed run, a prefetch thread
// and a synchronous loop all see the same shuffles and augmentations.
//   Rng r = data::stream_rng(seed, data::kShuffleStream, epoch);
//   std::vector<int64_t> order = data::permutation(n, r);
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "engine/core/rng.h"

namespace ng::data {

// Streams keep the draws of different purposes apart for one user seed.
inline constexpr uint64_t kShuffleStream = 1, kAugmentStream = 2, kSplitStream = 3,
                          kSyntheticStream = 4;

// SplitMix64 finaliser: spreads (seed, stream, index) over a 64-bit Philox key.
inline uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// A generator keyed by (seed, stream, index), starting at counter 0.
inline Rng stream_rng(uint64_t seed, uint64_t stream, uint64_t index) {
  return Rng(mix64(mix64(mix64(seed) ^ stream) ^ index));
}

// Fisher-Yates permutation of [0, n) drawn from `rng`.
inline std::vector<int64_t> permutation(int64_t n, Rng& rng) {
  std::vector<int64_t> p(size_t(n > 0 ? n : 0));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  for (int64_t i = n - 1; i > 0; --i) {
    auto j = int64_t(rng.randint(uint64_t(i + 1)));
    std::swap(p[size_t(i)], p[size_t(j)]);
  }
  return p;
}

// Uniform float in [0, 1) with 24 random bits.
inline float uniform01(Rng& rng) {
  return float(rng.next_u32() >> 8) * (1.0f / 16777216.0f);
}

}  // namespace ng::data
