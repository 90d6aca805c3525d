// What the CUDA test files share: a fixture base that skips without a device and runs each test
// with TF32 off and poisoned allocations (an output element a kernel forgets to write reads as
// NaN), random inputs on the host, GPU copies of them, and the relative error used by every
// parity check.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "engine/core/rng.h"
#include "engine/core/tensor.h"
#include "engine/ops/cuda/backend.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"
#include "engine/ops/reduce.h"

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

// Nodes of a CUDA graph capturing f: how many kernels and copies an op puts into a captured
// training step.
inline size_t captured_nodes(const std::function<void()>& f) {
  CudaGraph graph;
  graph.begin_capture();
  try {
    f();
  } catch (...) {
    graph.abort_capture();
    throw;
  }
  graph.end_capture();
  return graph.num_nodes();
}

// Batch norm's fixed-order reductions: the same x (GPU leaf), gamma (GPU leaf) and upstream
// gradient r give the same bits twice, forward and backward, whatever x's layout.
inline void expect_batch_norm_repeatable(const Tensor& x, const Tensor& g, const Tensor& r) {
  std::vector<std::vector<float>> ys, gxs, ggs;
  for (int rep = 0; rep < 2; ++rep) {
    Tensor xi = x, gi = g;
    xi.zero_grad();
    gi.zero_grad();
    Tensor y = batch_norm(x, g, Tensor(), Tensor(), Tensor(), Mode::Train);
    sum(mul(y, r)).backward();
    ys.push_back(y.to_vector<float>());
    gxs.push_back(x.grad().to_vector<float>());
    ggs.push_back(g.grad().to_vector<float>());
  }
  EXPECT_EQ(ys[0], ys[1]);
  EXPECT_EQ(gxs[0], gxs[1]);
  EXPECT_EQ(ggs[0], ggs[1]);
}

}  // namespace ng::testing
