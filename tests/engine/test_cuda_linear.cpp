// CUDA linear layer with its bias inside the cuBLASLt product (NOTE [Fused linear bias] in
// ops/matmul.h, engine/ops/cuda/linear.cpp): y = x W^T + b as one kernel, dW = g^T x with
// db = sum_N g as one kernel. Checked against the CPU linear() (forward and the gradients of x,
// W and b) and against plain double-precision loops (the kernels called directly), for LeNet's
// three layers, odd sizes, sizes of 1 (the cuBLAS path), no bias, a frozen weight or bias, and
// misaligned operand views; with TF32 off (||gpu - ref|| / ||ref|| <= 1e-5) and on (<= 3e-3).
// Then the kernel count: with the bias fused, a captured forward and weight gradient hold no
// more kernels than the bare products, and a plan first made during a capture replays correctly.
// Every test skips (GTEST_SKIP) where no CUDA device is present.
#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "engine/ops/cuda/backend.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/matmul.h"
#include "engine/ops/reduce.h"
#include "tests/engine/cuda_test_util.h"

using namespace ng;
using namespace ng::testing;

namespace {

constexpr double kTol = 1e-5;      // float32, TF32 off
constexpr double kTolTf32 = 3e-3;  // TF32 tensor cores

class CudaLinear : public CudaTestBase {};

struct Case {
  int64_t N, in, out;
  bool bias = true;
  bool grad_x = true, grad_w = true, grad_b = true;
  int64_t x_offset = 0;  // x (and W) as views this many elements into a larger buffer
};

std::string case_str(const Case& c) {
  return detail::concat("N=", c.N, " in=", c.in, " out=", c.out, c.bias ? "" : " no bias",
                        c.grad_x ? "" : " x frozen", c.grad_w ? "" : " W frozen",
                        c.bias && !c.grad_b ? " b frozen" : "",
                        c.x_offset ? detail::concat(" offset ", c.x_offset) : std::string());
}

// A view of `t`'s values `offset` elements into a fresh contiguous buffer on `d`.
Tensor at_offset(const Tensor& t, int64_t offset, Device d) {
  if (offset == 0) return t.detach().to(d).detach();
  Tensor buf = Tensor::zeros({offset + t.numel()}, t.dtype(), d);
  std::vector<int64_t> strides{t.size(1), 1};
  Tensor v = make_view(buf, t.shape(), strides, offset);
  copy_(v, t.to(d));
  return v;
}

// linear() on the GPU against linear() on the CPU: the output, then the gradients of
// sum(y * r) for x, W and b (those that require grad).
void check_linear(const Case& c, double tol, uint64_t seed) {
  SCOPED_TRACE(case_str(c));
  Tensor x = rnd({c.N, c.in}, seed), w = rnd({c.out, c.in}, seed + 1, -0.3, 0.3);
  Tensor b = c.bias ? rnd({c.out}, seed + 2) : Tensor();
  Tensor r = rnd({c.N, c.out}, seed + 3, 0.5, 1.5);
  auto leaf = [](Tensor t, bool g) {
    if (t.defined() && g) t.set_requires_grad(true);
    return t;
  };
  Tensor xc = leaf(x.detach(), c.grad_x), wc = leaf(w.detach(), c.grad_w),
         bc = leaf(b.defined() ? b.detach() : Tensor(), c.grad_b);
  Tensor xg = leaf(at_offset(x, c.x_offset, kGpu), c.grad_x),
         wg = leaf(at_offset(w, c.x_offset, kGpu), c.grad_w),
         bg = leaf(b.defined() ? b.detach().to(kGpu).detach() : Tensor(), c.grad_b);
  Tensor yc = linear(xc, wc, bc), yg = linear(xg, wg, bg);
  ASSERT_TRUE(yg.device() == kGpu);
  EXPECT_LE(rel_err(yg, yc), tol) << "forward";
  if (!yc.requires_grad()) return;
  sum(mul(yc, r)).backward();
  sum(mul(yg, r.to(kGpu))).backward();
  auto grads = [&](const Tensor& gpu, const Tensor& cpu, const char* what) {
    if (!cpu.defined() || !cpu.requires_grad()) return;
    ASSERT_TRUE(gpu.grad().defined() && cpu.grad().defined()) << what << " got no gradient";
    EXPECT_TRUE(gpu.grad().device() == kGpu);
    EXPECT_LE(rel_err(gpu.grad(), cpu.grad()), tol) << "gradient of " << what;
  };
  grads(xg, xc, "x");
  grads(wg, wc, "W");
  grads(bg, bc, "b");
}

std::vector<Case> cases() {
  std::vector<Case> v = {
      {64, 400, 120},  // LeNet-5's three layers at batch 64
      {64, 120, 84},
      {64, 84, 10},
      {3, 5, 7},  // odd sizes
      {3, 5, 7, false},
      {33, 70, 45},
      {1, 5, 7},  // sizes of 1 take the cuBLAS path
      {4, 1, 3},
      {5, 6, 1},
      {64, 120, 84, true, true, false, true},   // only b trains: its column sum alone
      {64, 120, 84, true, true, true, false},   // b frozen: dW alone
      {64, 84, 10, true, false, true, true},    // x needs no gradient (a first layer)
      {64, 84, 10, true, true, true, true, 1},  // operands 4 bytes past an aligned address
      {7, 12, 9, true, true, true, true, 3},
  };
  return v;
}

// Row-major double references: y = x W^T + b; dW = g^T x; db = sum_N g.
std::vector<double> ref_forward(const Tensor& x, const Tensor& w, const Tensor& b) {
  const int64_t N = x.size(0), in = x.size(1), out = w.size(0);
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>(),
                      bv = b.to_vector<double>(), y(size_t(N * out));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < out; ++o) {
      double s = bv[size_t(o)];
      for (int64_t i = 0; i < in; ++i) s += xv[size_t(n * in + i)] * wv[size_t(o * in + i)];
      y[size_t(n * out + o)] = s;
    }
  return y;
}

double rel_err_to(const Tensor& a, const std::vector<double>& ref) {
  std::vector<double> av = a.to_vector<double>();
  EXPECT_EQ(av.size(), ref.size());
  double d = 0, n = 0;
  for (size_t i = 0; i < av.size() && i < ref.size(); ++i) {
    if (std::isnan(av[i])) return std::numeric_limits<double>::infinity();
    d += (av[i] - ref[i]) * (av[i] - ref[i]);
    n += ref[i] * ref[i];
  }
  return n > 0 ? std::sqrt(d / n) : std::sqrt(d);
}

}  // namespace

TEST_F(CudaLinear, ForwardAndGradientsMatchTheCpuInFloat32) {
  uint64_t seed = 100;
  for (const Case& c : cases()) check_linear(c, kTol, seed += 10);
}

TEST_F(CudaLinear, ForwardAndGradientsMatchTheCpuWithTf32) {
  set_cuda_tf32(true);
  uint64_t seed = 300;
  for (const Case& c : cases()) check_linear(c, kTolTf32, seed += 10);
}

// The CUDA kernels themselves: they must take LeNet's float32 layers (returning false would
// silently leave the step on the two-kernel path) and write every element (allocations are
// poisoned with NaN).
TEST_F(CudaLinear, FusedKernelsTakeLeNetsLayersAndMatchADoubleReference) {
  ASSERT_TRUE(linear_forward_kernel.has(DeviceType::CUDA));
  ASSERT_TRUE(linear_backward_weight_kernel.has(DeviceType::CUDA));
  const std::vector<std::vector<int64_t>> shapes = {
      {64, 400, 120}, {64, 120, 84}, {64, 84, 10}, {3, 5, 7}, {2, 2, 2}};
  uint64_t seed = 500;
  for (bool tf32 : {false, true}) {
    set_cuda_tf32(tf32);
    const double tol = tf32 ? kTolTf32 : kTol;
    for (const auto& s : shapes) {
      const int64_t N = s[0], in = s[1], out = s[2];
      SCOPED_TRACE(detail::concat("N=", N, " in=", in, " out=", out, tf32 ? " TF32" : ""));
      Tensor x = rnd({N, in}, seed++), w = rnd({out, in}, seed++, -0.3, 0.3),
             b = rnd({out}, seed++), g = rnd({N, out}, seed++);
      Tensor xg = x.to(kGpu), wg = w.to(kGpu), bg = b.to(kGpu), gg = g.to(kGpu);
      Tensor y = Tensor::empty({N, out}, DType::Float32, kGpu);
      ASSERT_TRUE(linear_forward_kernel(kGpu)(xg, wg, bg, false, y)) << "forward not fused";
      EXPECT_LE(rel_err_to(y, ref_forward(x, w, b)), tol) << "y";
      Tensor dw = Tensor::empty({out, in}, DType::Float32, kGpu);
      Tensor db = Tensor::empty({out}, DType::Float32, kGpu);
      ASSERT_TRUE(linear_backward_weight_kernel(kGpu)(gg, xg, dw, db)) << "dW, db not fused";
      // dW = g^T x is the forward of x^T (as [in, N]) through "weights" g^T ([out, N]), no bias.
      std::vector<double> gv = g.to_vector<double>(), xv = x.to_vector<double>();
      std::vector<double> dw_ref(size_t(out * in), 0.0), db_ref(size_t(out), 0.0);
      for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < out; ++o) {
          const double gno = gv[size_t(n * out + o)];
          db_ref[size_t(o)] += gno;
          for (int64_t i = 0; i < in; ++i)
            dw_ref[size_t(o * in + i)] += gno * xv[size_t(n * in + i)];
        }
      EXPECT_LE(rel_err_to(dw, dw_ref), tol) << "dW";
      EXPECT_LE(rel_err_to(db, db_ref), tol) << "db";
    }
  }
}

TEST_F(CudaLinear, KernelsDeclineWhatTheyDoNotHandle) {
  // float64 and sizes of 1 stay on the cuBLAS path: the kernels say so and write nothing.
  Tensor x = rnd({4, 5}, 1, -1, 1, DType::Float64).to(kGpu),
         w = rnd({3, 5}, 2, -1, 1, DType::Float64).to(kGpu),
         b = rnd({3}, 3, -1, 1, DType::Float64).to(kGpu);
  Tensor y = Tensor::empty({4, 3}, DType::Float64, kGpu);
  EXPECT_FALSE(linear_forward_kernel(kGpu)(x, w, b, false, y));
  Tensor x1 = rnd({1, 5}, 4).to(kGpu), w1 = rnd({3, 5}, 5).to(kGpu), b1 = rnd({3}, 6).to(kGpu);
  Tensor y1 = Tensor::empty({1, 3}, DType::Float32, kGpu);
  EXPECT_FALSE(linear_forward_kernel(kGpu)(x1, w1, b1, false, y1));
  // linear() still computes them.
  Tensor xc = rnd({4, 5}, 1, -1, 1, DType::Float64), wc = rnd({3, 5}, 2, -1, 1, DType::Float64),
         bc = rnd({3}, 3, -1, 1, DType::Float64);
  EXPECT_LE(rel_err(linear(x, w, b), linear(xc, wc, bc)), 1e-12);
}

// The point of the fusion: a bias costs no kernel of its own in a captured step.
TEST_F(CudaLinear, TheBiasAddsNoKernelToACapturedForwardOrWeightGradient) {
  set_cuda_poison_allocations(false);  // no fill kernels in the counts
  set_cuda_tf32(true);                 // as a training step runs
  const int64_t N = 64, in = 120, out = 84;
  Tensor x = rnd({N, in}, 11).to(kGpu), w = rnd({out, in}, 12).to(kGpu),
         b = rnd({out}, 13).to(kGpu), g = rnd({N, out}, 14).to(kGpu);
  Tensor dw = Tensor::empty({out, in}, DType::Float32, kGpu),
         db = Tensor::empty({out}, DType::Float32, kGpu);
  // Eager first, as the training step's warm-up: plans and handles exist before the captures.
  linear(x, w, b);
  linear(x, w, Tensor());
  ASSERT_TRUE(linear_backward_weight_kernel(kGpu)(g, x, dw, db));
  cuda_synchronize();
  auto nodes = captured_nodes;
  const size_t with_bias = nodes([&] { linear(x, w, b); });
  const size_t without_bias = nodes([&] { linear(x, w, Tensor()); });
  EXPECT_LE(with_bias, without_bias) << "the forward's bias adds kernels";
  // With a ReLU after it (NOTE [Fused ReLU]), still no more than the bare product.
  linear(x, w, b, "Linear", true);
  cuda_synchronize();
  const size_t with_relu = nodes([&] { linear(x, w, b, "Linear", true); });
  EXPECT_LE(with_relu, without_bias) << "the fused ReLU adds kernels";
  // dW with db: on the H200 (cuBLAS 13) the BGRADB epilogue takes one node more than the bare
  // GEMM, so it is measured against what it replaces, the GEMM and a separate column sum.
  const size_t fused = nodes([&] { linear_backward_weight_kernel(kGpu)(g, x, dw, db); });
  const size_t separate = nodes([&] {
    gemm_kernel(kGpu)(true, false, out, in, N, 1.0, g, x, 0.0, dw);
    Tensor s = sum(g, {0});
  });
  EXPECT_LE(fused, separate) << "dW + db fused takes more kernels than the GEMM and a sum";
}

// linear(..., relu = true) on the GPU: relu(x w^T + b) and all three gradients through the
// fused ReLU, against the CPU's composed ops.
TEST_F(CudaLinear, FusedReluMatchesTheCpu) {
  for (auto [N, in, out] : {std::array<int64_t, 3>{64, 400, 120}, {64, 120, 84}, {3, 5, 7}}) {
    Tensor x = grad_leaf(rnd({N, in}, 31)), w = grad_leaf(rnd({out, in}, 32, -0.3, 0.3)),
           b = grad_leaf(rnd({out}, 33));
    Tensor xg = on_gpu(x), wg = on_gpu(w), bg = on_gpu(b);
    Tensor y = relu(linear(x, w, b));
    Tensor yg = linear(xg, wg, bg, "Linear", true);
    EXPECT_LT(rel_err(yg, y), 1e-5) << N << "x" << in << "->" << out;
    Tensor gy = rnd({N, out}, 34);
    sum(mul(y, gy)).backward();
    sum(mul(yg, gy.to(kGpu))).backward();
    EXPECT_LT(rel_err(xg.grad(), x.grad()), 1e-5);
    EXPECT_LT(rel_err(wg.grad(), w.grad()), 1e-5);
    EXPECT_LT(rel_err(bg.grad(), b.grad()), 1e-5);
  }
}

// A shape first seen inside a capture makes its plan there (no GPU work, no allocation), and
// the replays compute with the values the inputs hold at each replay.
TEST_F(CudaLinear, APlanMadeDuringACaptureReplaysWithNewInputs) {
  const int64_t N = 6, in = 19, out = 11;
  Tensor x = Tensor::zeros({N, in}, DType::Float32, kGpu), w = rnd({out, in}, 21).to(kGpu),
         b = rnd({out}, 22).to(kGpu), g = Tensor::zeros({N, out}, DType::Float32, kGpu);
  Tensor dw = Tensor::empty({out, in}, DType::Float32, kGpu),
         db = Tensor::empty({out}, DType::Float32, kGpu);
  // The libraries' handles and cuBLAS's workspace exist before (another shape, eagerly), as in a
  // training step's warm-up; this shape's plans do not.
  linear(rnd({4, 8}, 20).to(kGpu), rnd({3, 8}, 21).to(kGpu), rnd({3}, 22).to(kGpu));
  cuda_synchronize();
  CudaGraph graph;
  graph.begin_capture();
  Tensor y;
  bool fused = false;
  try {
    y = linear(x, w, b);
    fused = linear_backward_weight_kernel(kGpu)(g, x, dw, db);
  } catch (...) {
    graph.abort_capture();
    throw;
  }
  graph.end_capture();
  EXPECT_TRUE(fused);
  for (uint64_t round = 0; round < 2; ++round) {
    Tensor xv = rnd({N, in}, 30 + round), gv = rnd({N, out}, 40 + round);
    copy_(x, xv.to(kGpu));
    copy_(g, gv.to(kGpu));
    graph.replay();
    cuda_synchronize();
    SCOPED_TRACE(detail::concat("replay ", round));
    EXPECT_LE(rel_err(y, linear(xv, w.to(Device::cpu()), b.to(Device::cpu()))), kTol);
    EXPECT_LE(rel_err(dw, matmul(gv.transpose(0, 1), xv)), kTol);
    EXPECT_LE(rel_err(db, sum(gv, {0})), kTol);
  }
}
