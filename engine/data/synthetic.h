// Small synthetic sets for teaching: 2-D classification problems that show what a hidden layer
// buys (spiral, circles, moons, XOR, Gaussian blobs) and a 1-D regression (y = sin x + noise).
// Each is a pure function of its parameters: the same seed gives the same points. Sample i has
// class i % classes, so classes are balanced (within one sample) and interleaved.
//
//   auto s = data::make_spiral(300, /*arms=*/3, /*noise=*/0.1, /*seed=*/0);   // 300 x [2], 3
//   classes auto r = data::make_synthetic("sine", 200, 0.1, 0);                     // 200 x [1] ->
//   [1]
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/data/dataset.h"

namespace ng::data {

// `noise` is the standard deviation of Gaussian noise added to each coordinate (blobs: the
// spread of each cluster; sine: added to y).

// k arms winding out from the origin, radius 0 .. 1.
DatasetPtr make_spiral(int64_t n, int64_t arms, double noise, uint64_t seed);
// Class 0 on the unit circle, class 1 on a circle of radius `factor` inside it.
DatasetPtr make_circles(int64_t n, double noise, uint64_t seed, double factor = 0.5);
// Two interleaving half circles.
DatasetPtr make_moons(int64_t n, double noise, uint64_t seed);
// Points in [-1, 1]^2; class 1 where exactly one coordinate is negative.
DatasetPtr make_xor(int64_t n, double noise, uint64_t seed);
// k Gaussian clusters with centres evenly on a circle of radius 3.
DatasetPtr make_blobs(int64_t n, int64_t centers, double noise, uint64_t seed);
// Regression: x uniform in [-pi, pi], target sin(x) + noise; samples [1], targets [1].
DatasetPtr make_sine(int64_t n, double noise, uint64_t seed);

// By name, for the CLI and project files: "spiral", "circles", "moons", "xor", "blobs", "sine".
// `classes` is used by spiral (arms) and blobs (centres). Throws ng::ValueError listing the
// names for an unknown one, and for n < 1, noise < 0 or classes < 2.
DatasetPtr make_synthetic(const std::string& kind, int64_t n, double noise, uint64_t seed,
                          int64_t classes = 3);
const std::vector<std::string>& synthetic_kinds();

}  // namespace ng::data
