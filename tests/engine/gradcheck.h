// Finite-difference gradient checking in float64 (central differences), for tests.
//   auto f = [&](const std::vector<Tensor>& in) { return ng::sum(ng::relu(in[0])); };
//   expect_gradients_match(f, {x, w});   // x, w: float64 tensors with requires_grad
// The checked function must return a scalar. Each input that requires grad is perturbed
// element by element; its analytic gradient from backward() must match within tolerance.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/autograd/autograd.h"
#include "engine/core/rng.h"
#include "engine/core/tensor.h"

namespace ng::testing {

using ScalarFn = std::function<Tensor(const std::vector<Tensor>&)>;

inline void expect_gradients_match(const ScalarFn& f, std::vector<Tensor> inputs, double eps = 1e-6,
                                   double atol = 1e-6, double rtol = 1e-4) {
  for (auto& t : inputs) ASSERT_EQ(t.dtype(), DType::Float64) << "gradcheck needs float64 inputs";
  for (auto& t : inputs) t.zero_grad();
  Tensor out = f(inputs);
  ASSERT_EQ(out.numel(), 1) << "gradcheck: the function must return a scalar";
  out.backward();
  for (size_t k = 0; k < inputs.size(); ++k) {
    Tensor& x = inputs[k];
    if (!x.requires_grad()) continue;
    Tensor g = x.grad();
    ASSERT_TRUE(g.defined()) << "input " << k << " got no gradient";
    std::vector<double> analytic = g.to_vector<double>();
    ASSERT_TRUE(x.is_contiguous());
    double* p = x.data<double>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      double orig = p[i];
      double fp, fm;
      {
        autograd::NoGradGuard ng;
        p[i] = orig + eps;
        fp = f(inputs).item();
        p[i] = orig - eps;
        fm = f(inputs).item();
        p[i] = orig;
      }
      double numeric = (fp - fm) / (2 * eps);
      EXPECT_NEAR(analytic[i], numeric, atol + rtol * std::abs(numeric))
          << "input " << k << " element " << i << " of shape " << shape_str(x.shape());
    }
  }
}

// A float64 tensor of random values in [lo, hi) that requires grad.
inline Tensor rand64(const Shape& s, uint64_t seed, double lo = -1.0, double hi = 1.0,
                     bool requires_grad = true) {
  Rng rng(seed);
  Tensor t = Tensor::uniform(s, lo, hi, rng, DType::Float64);
  t.set_requires_grad(requires_grad);
  return t;
}

// The message of the exception E that f throws ("" when it throws nothing).
template <class E, class F>
std::string message_of(F f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace ng::testing
