// What the CUDA test files share: a fixture base that skips without a device and runs each test
// with TF32 off and poisoned allocations (an output element a kernel forgets to write reads as
// NaN), random inputs on the host, GPU copies of them, and the relative error used by every
// parity check.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "engine/core/rng.h"
#include "engine/core/tensor.h"
#include "engine/ops/cuda/backend.h"

namespace ng::testing {

inline const Device kGpu = Device::cuda();

// GPU tests: skipped without a device; TF32 off and allocations poisoned for their duration.
class CudaTestBase : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!cuda_available()) {
      GTEST_SKIP() << "no CUDA device here: " << cuda_unavailable_reason();
    }
    saved_tf32_ = cuda_tf32();
    set_cuda_tf32(false);
    set_cuda_poison_allocations(true);
  }
  void TearDown() override {
    if (!cuda_available()) return;
    set_cuda_tf32(saved_tf32_);
    set_cuda_poison_allocations(false);
  }

 private:
  bool saved_tf32_ = true;
};

// Random values in [lo, hi) on the CPU, float32 unless asked.
inline Tensor rnd(const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0,
                  DType dt = DType::Float32) {
  Rng rng(seed);
  return Tensor::uniform(s, lo, hi, rng, dt);
}

inline Tensor grad_leaf(Tensor t) {
  t.set_requires_grad(true);
  return t;
}

// The same values on the GPU, a leaf that requires grad when `t` does.
inline Tensor on_gpu(const Tensor& t) {
  Tensor g = t.detach().to(kGpu).detach();
  if (t.requires_grad()) g.set_requires_grad(true);
  return g;
}

// ||a - b|| / ||b|| in double on the host (||a - b|| when b is all zeros); NaN anywhere gives
// infinity, so it never passes.
inline double rel_err(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  if (a.shape() != b.shape()) return std::numeric_limits<double>::infinity();
  std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  double d = 0, n = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) || std::isnan(vb[i])) return std::numeric_limits<double>::infinity();
    d += (va[i] - vb[i]) * (va[i] - vb[i]);
    n += vb[i] * vb[i];
  }
  return n > 0 ? std::sqrt(d / n) : std::sqrt(d);
}

}  // namespace ng::testing
