// batch_norm(..., relu = true): relu(batch_norm(x)) in the batch-norm passes on cuda (NOTE [Batch
// norm with ReLU] in engine/ops/cuda/norm.cu), composed elsewhere.
//   - CPU: the result and every gradient equal relu(batch_norm(x)) bit for bit.
//   - CUDA, NCHW and channels-last, float32 and float64, odd and ResNet shapes:
//       * against the same GPU's relu(batch_norm(x)) (two ops): y, the running statistics and
//         every gradient equal by value, so the mask recomputed in the backward is the
//         forward's;
//       * against the CPU: y to rounding, and the gradients against the CPU's batch norm
//         backward with the ReLU's mask taken from the GPU's y (a value within rounding of 0
//         may fall on either side of it on the two devices; the gradient of relu(batch_norm)
//         given the mask is then an independent reference);
//       * inputs whose values sit exactly at the mean (x == mean, beta == 0, so
//         (x - mean) * scale + beta == 0): no NaN, and y and the gradients match the CPU's
//         composition directly (the derivative at 0 is 0 on both).
// Allocations are poisoned (NaN), so an element a kernel forgets to write fails. The CUDA tests
// skip without a device.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/autograd/autograd.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"
#include "engine/ops/reduce.h"
#include "tests/engine/cuda_test_util.h"

using namespace ng;
using namespace ng::testing;

namespace {

// max |a - b| over the values (by value: -0 == 0); infinity on NaN or a shape mismatch.
double max_abs_diff(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return std::numeric_limits<double>::infinity();
  std::vector<double> va = a.to_vector<double>(), vb = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) || std::isnan(vb[i])) return std::numeric_limits<double>::infinity();
    m = std::max(m, std::abs(va[i] - vb[i]));
  }
  return m;
}

bool any_nan(const Tensor& t) {
  for (double v : t.to_vector<double>())
    if (std::isnan(v)) return true;
  return false;
}

// 1 where t > 0, else 0, on the CPU.
Tensor positive_mask(const Tensor& t) {
  std::vector<double> v = t.to_vector<double>();
  for (double& e : v) e = e > 0 ? 1.0 : 0.0;
  return Tensor::from_vector(v, t.shape()).to(t.dtype());
}

// x: per channel, the first half of the batch holds multiples of 1/4 in [-3/4, 3/4] (about a
// third exactly 0), the second half their negatives, so every channel's mean is exactly 0 and
// with beta == 0 the zeros of x give (x - mean) * scale + beta == 0 exactly.
Tensor values_at_the_mean(const Shape& s, uint64_t seed, DType dt) {
  const int64_t N = s[0], per_n = numel(s) / N;
  std::vector<double> u = rnd({numel(s)}, seed, 0, 1, DType::Float64).to_vector<double>();
  std::vector<double> v(size_t(numel(s)));
  for (int64_t n = 0; n < N / 2; ++n)
    for (int64_t i = 0; i < per_n; ++i) {
      const double q = std::floor(u[size_t(n * per_n + i)] * 7.0) - 3.0;  // -3 .. 3
      const double w = std::abs(q) <= 1 && u[size_t(n * per_n + i)] * 10 < 5 ? 0.0 : q / 4;
      v[size_t(n * per_n + i)] = w;
      v[size_t((n + N / 2) * per_n + i)] = -w;
    }
  return Tensor::from_vector(v, s).to(dt);
}

struct Inputs {
  Tensor x, gamma, beta, rm, rv, r;  // CPU; r weighs the loss sum(y * r)
};

Inputs make_inputs(const Shape& s, uint64_t seed, DType dt, bool at_mean) {
  const int64_t C = s[1];
  Inputs in;
  // Beta in [-1, 1] puts many of the normalised values near 0 (the ReLU's kink).
  in.x = at_mean ? values_at_the_mean(s, seed, dt) : rnd(s, seed, -2, 3, dt);
  in.gamma = rnd({C}, seed + 1, 0.5, 1.5, dt);
  in.beta = at_mean ? Tensor::zeros({C}, dt) : rnd({C}, seed + 2, -1, 1, dt);
  in.rm = rnd({C}, seed + 3, -0.1, 0.1, dt);
  in.rv = rnd({C}, seed + 4, 0.5, 1.5, dt);
  in.r = rnd(s, seed + 5, -1, 1.5, dt);
  return in;
}

struct BnRun {
  Tensor y, rm, rv, gx, ggamma, gbeta;
};

// The running statistics, on `dev`, that a run updates.
void start_run(BnRun& out, const Inputs& in, Device dev) {
  out.rm = in.rm.clone().to(dev);
  out.rv = in.rv.clone().to(dev);
}

// y and the gradients after backward.
void finish_run(BnRun& out, const Tensor& y, const Tensor& x, const Tensor& g, const Tensor& b) {
  out.y = y.detach();
  out.gx = x.grad();
  out.ggamma = g.grad();
  out.gbeta = b.grad();
}

// batch_norm on `dev` (channels-last x there when cl), fused (relu = true) or as two ops, and
// the gradients of sum(y * r * extra) (extra: a CPU mask, or undefined).
BnRun run(const Inputs& in, Device dev, bool cl, bool fused, const Tensor& extra = Tensor()) {
  Tensor x = in.x.detach().to(dev);
  if (cl) x = x.contiguous(MemoryFormat::ChannelsLast).detach();
  x.set_requires_grad(true);
  Tensor g = grad_leaf(in.gamma.detach().to(dev)), b = grad_leaf(in.beta.detach().to(dev));
  BnRun out;
  start_run(out, in, dev);
  Tensor y = fused ? batch_norm(x, g, b, out.rm, out.rv, Mode::Train, 0.1, 1e-5, "bn", true)
                   : relu(batch_norm(x, g, b, out.rm, out.rv, Mode::Train, 0.1, 1e-5, "bn"));
  Tensor w = in.r.to(dev);
  if (extra.defined()) w = mul(w, extra.to(dev));
  sum(mul(y, w)).backward();
  finish_run(out, y, x, g, b);
  return out;
}

// The CPU reference given the ReLU's mask: batch norm's y and the gradients of
// sum(batch_norm(x) * mask * r).
BnRun cpu_given_mask(const Inputs& in, const Tensor& mask) {
  Tensor x = grad_leaf(in.x.clone()), g = grad_leaf(in.gamma.clone()),
         b = grad_leaf(in.beta.clone());
  BnRun out;
  out.rm = in.rm.clone();
  out.rv = in.rv.clone();
  Tensor y = batch_norm(x, g, b, out.rm, out.rv, Mode::Train, 0.1, 1e-5, "bn");
  sum(mul(y, mul(mask, in.r))).backward();
  out.y = relu(y).detach();
  out.gx = x.grad();
  out.ggamma = g.grad();
  out.gbeta = b.grad();
  return out;
}

void expect_equal_runs(const BnRun& a, const BnRun& b, const std::string& what) {
  ASSERT_TRUE(a.gx.defined() && a.ggamma.defined() && a.gbeta.defined()) << what;
  EXPECT_EQ(max_abs_diff(a.y, b.y), 0) << what << ": y";
  EXPECT_EQ(max_abs_diff(a.rm, b.rm), 0) << what << ": running_mean";
  EXPECT_EQ(max_abs_diff(a.rv, b.rv), 0) << what << ": running_var";
  // gx: the fused kernel's a * gy + b * (x - mean) + d may round differently from the plain
  // one's (the compiler contracts the two instantiations' arithmetic differently): within a few
  // float ulps, as measured on an H200 (at most 2.4e-7 absolute).
  EXPECT_LE(rel_err(a.gx, b.gx), 1e-6) << what << ": gx";
  EXPECT_EQ(max_abs_diff(a.ggamma, b.ggamma), 0) << what << ": ggamma";
  EXPECT_EQ(max_abs_diff(a.gbeta, b.gbeta), 0) << what << ": gbeta";
}

// The same bits in every output, running statistic and gradient.
void expect_identical_runs(const BnRun& a, const BnRun& b) {
  EXPECT_EQ(max_abs_diff(a.y, b.y), 0) << "y";
  EXPECT_EQ(max_abs_diff(a.rm, b.rm), 0) << "running_mean";
  EXPECT_EQ(max_abs_diff(a.rv, b.rv), 0) << "running_var";
  EXPECT_EQ(max_abs_diff(a.gx, b.gx), 0) << "gx";
  EXPECT_EQ(max_abs_diff(a.ggamma, b.ggamma), 0) << "ggamma";
  EXPECT_EQ(max_abs_diff(a.gbeta, b.gbeta), 0) << "gbeta";
}

void expect_close_runs(const BnRun& gpu, const BnRun& ref, double tol, const std::string& what) {
  EXPECT_LE(rel_err(gpu.y, ref.y), tol) << what << ": y";
  EXPECT_LE(rel_err(gpu.rm, ref.rm), tol) << what << ": running_mean";
  EXPECT_LE(rel_err(gpu.rv, ref.rv), tol) << what << ": running_var";
  EXPECT_LE(rel_err(gpu.gx, ref.gx), tol) << what << ": gx";
  EXPECT_LE(rel_err(gpu.ggamma, ref.ggamma), tol) << what << ": ggamma";
  EXPECT_LE(rel_err(gpu.gbeta, ref.gbeta), tol) << what << ": gbeta";
}

// ------------------------------------------------------------------------------------- CPU

TEST(BatchNormRelu, OnTheCpuEqualsReluOfBatchNormBitForBit) {
  for (DType dt : {DType::Float32, DType::Float64})
    for (const Shape& s : std::vector<Shape>{{4, 3, 5, 5}, {6, 8}, {8, 16, 4, 4}}) {
      SCOPED_TRACE(shape_str(s) + " " + dtype_name(dt));
      for (bool at_mean : {false, true}) {
        const Inputs in = make_inputs(s, 11, dt, at_mean && s.size() == 4);
        const BnRun fused = run(in, Device::cpu(), false, true);
        const BnRun plain = run(in, Device::cpu(), false, false);
        expect_equal_runs(fused, plain, "cpu");
        EXPECT_FALSE(any_nan(fused.gx));
      }
    }
}

// The references of the CUDA tests, checked on the CPU: given the CPU's own mask,
// cpu_given_mask is relu(batch_norm)'s step; values_at_the_mean has channel means of exactly 0,
// so its zeros come out as exactly 0 with a zero gradient.
TEST(BatchNormRelu, TheReferencesOfTheCudaTestsHold) {
  for (DType dt : {DType::Float32, DType::Float64}) {
    SCOPED_TRACE(dtype_name(dt));
    const Inputs in = make_inputs({8, 16, 6, 6}, 31, dt, false);
    const BnRun plain = run(in, Device::cpu(), false, false);
    expect_equal_runs(cpu_given_mask(in, positive_mask(plain.y)), plain, "given the cpu's mask");
    // A mask that is not the ReLU's gives another gradient.
    EXPECT_GT(max_abs_diff(cpu_given_mask(in, Tensor::ones({8, 16, 6, 6}, dt)).gx, plain.gx), 0.1);

    const Inputs at = make_inputs({8, 16, 6, 6}, 32, dt, true);
    const BnRun r = run(at, Device::cpu(), false, true);
    std::vector<double> x = at.x.to_vector<double>(), y = r.y.to_vector<double>(),
                        gx = r.gx.to_vector<double>();
    int64_t zeros = 0;
    for (size_t i = 0; i < x.size(); ++i)
      if (x[i] == 0) {
        ++zeros;
        EXPECT_EQ(y[i], 0) << i;
        EXPECT_FALSE(std::isnan(gx[i])) << i;
      }
    EXPECT_GT(zeros, int64_t(x.size()) / 10);
    EXPECT_LE(max_abs_diff(r.rm, mul_scalar(at.rm, 0.9)), 1e-7);  // the batch mean is 0
  }
}

TEST(BatchNormRelu, InEvalModeEqualsReluOfBatchNorm) {
  const Inputs in = make_inputs({4, 3, 5, 5}, 21, DType::Float32, false);
  Tensor y1 = batch_norm(in.x, in.gamma, in.beta, in.rm, in.rv, Mode::Eval, 0.1, 1e-5, "bn", true);
  Tensor y2 = relu(batch_norm(in.x, in.gamma, in.beta, in.rm, in.rv, Mode::Eval, 0.1, 1e-5, "bn"));
  EXPECT_EQ(max_abs_diff(y1, y2), 0);
  // The ReLU does something here: some outputs are 0, some positive.
  const std::vector<float> v = y1.to_vector<float>();
  EXPECT_GT(std::count(v.begin(), v.end(), 0.0f), 10);
  EXPECT_GT(std::count_if(v.begin(), v.end(), [](float e) { return e > 0; }), 10);
}

// ------------------------------------------------------------------------------------ CUDA

// The fused kernels are opt-in (set_batch_norm_relu_kernels): these tests turn them on.
class CudaBatchNormRelu : public CudaTestBase {
 protected:
  void SetUp() override {
    CudaTestBase::SetUp();
    saved_ = batch_norm_relu_kernels_mode();
    set_batch_norm_relu_kernels(true);
  }
  void TearDown() override {
    set_batch_norm_relu_kernels(saved_);
    CudaTestBase::TearDown();
  }

 private:
  BatchNormReluKernels saved_ = BatchNormReluKernels::Off;
};

const std::vector<Shape>& cuda_shapes() {
  static const std::vector<Shape> s = {
      {2, 3, 5, 7},      // C = 3: scalar loads
      {8, 16, 32, 32},   // ResNet-20 stage 1 (small batch): float4 loads
      {8, 32, 16, 16},   // stage 2
      {8, 64, 8, 8},     // stage 3
      {6, 7, 3, 5},      // C = 7
      {4, 5, 1, 1},      // H == W == 1: both layouts at once
      {1099, 64, 2, 2},  // many rows, a ragged last chunk
      {16, 10},          // [N, C]
  };
  return s;
}

void cuda_case(const Shape& s, uint64_t seed, DType dt, bool cl, bool at_mean) {
  const std::string what = shape_str(s) + " " + dtype_name(dt) + (cl ? " channels-last" : "") +
                           (at_mean ? " at the mean" : "");
  SCOPED_TRACE(what);
  const double tol = dt == DType::Float32 ? 1e-5 : 1e-10;
  const Inputs in = make_inputs(s, seed, dt, at_mean);
  const BnRun fused = run(in, kGpu, cl, true);
  if (cl && s.size() == 4) {
    EXPECT_TRUE(fused.y.is_channels_last()) << "y";
    EXPECT_TRUE(fused.gx.is_channels_last()) << "gx";
  }
  EXPECT_FALSE(any_nan(fused.y) || any_nan(fused.gx) || any_nan(fused.ggamma) ||
               any_nan(fused.gbeta));
  // The same device's two ops.
  expect_equal_runs(fused, run(in, kGpu, cl, false), "gpu fused vs gpu relu(batch_norm)");
  // The CPU, given the GPU's mask; at the mean, the CPU's own composition.
  const BnRun ref = at_mean ? run(in, Device::cpu(), false, false)
                            : cpu_given_mask(in, positive_mask(fused.y.to(Device::cpu())));
  expect_close_runs(fused, ref, tol, "gpu fused vs cpu");
  // The ReLU does something: a fair share of the outputs are 0.
  const std::vector<double> v = fused.y.to_vector<double>();
  const auto zeros = std::count(v.begin(), v.end(), 0.0);
  EXPECT_GT(zeros, int64_t(v.size()) / 10);
  EXPECT_LT(zeros, int64_t(v.size()));
}

TEST_F(CudaBatchNormRelu, MatchesTheCpuAndTheTwoOpsInFloat32) {
  uint64_t seed = 100;
  for (const Shape& s : cuda_shapes())
    for (bool cl : {false, true}) cuda_case(s, seed++, DType::Float32, cl && s.size() == 4, false);
}

TEST_F(CudaBatchNormRelu, MatchesTheCpuAndTheTwoOpsInFloat64) {
  uint64_t seed = 200;
  for (const Shape& s : cuda_shapes())
    for (bool cl : {false, true}) cuda_case(s, seed++, DType::Float64, cl && s.size() == 4, false);
}

TEST_F(CudaBatchNormRelu, ValuesExactlyAtTheMeanGiveZeroAndNoNaN) {
  uint64_t seed = 300;
  for (DType dt : {DType::Float32, DType::Float64})
    for (const Shape& s : std::vector<Shape>{{8, 16, 32, 32}, {4, 64, 8, 8}, {6, 7, 3, 5}})
      for (bool cl : {false, true}) cuda_case(s, seed++, dt, cl, true);
}

TEST_F(CudaBatchNormRelu, EvalModeComposesOnTheGpu) {
  const Inputs in = make_inputs({4, 16, 8, 8}, 400, DType::Float32, false);
  Tensor xg = in.x.to(kGpu).contiguous(MemoryFormat::ChannelsLast);
  Tensor rm = in.rm.to(kGpu), rv = in.rv.to(kGpu), g = in.gamma.to(kGpu), b = in.beta.to(kGpu);
  Tensor y = batch_norm(xg, g, b, rm, rv, Mode::Eval, 0.1, 1e-5, "bn", true);
  Tensor yc = relu(batch_norm(in.x, in.gamma, in.beta, in.rm, in.rv, Mode::Eval, 0.1, 1e-5, "bn"));
  EXPECT_LE(rel_err(y, yc), 1e-5);
}

TEST_F(CudaBatchNormRelu, IsBitwiseRepeatable) {
  const Inputs in = make_inputs({64, 16, 16, 16}, 500, DType::Float32, false);
  const BnRun a = run(in, kGpu, true, true), b = run(in, kGpu, true, true);
  expect_equal_runs(a, b, "two runs");
}

// NG_BN_RELU_KERNELS=fwd (BatchNormReluKernels::Forward): the forward in one pass, the backward
// through relu_backward from that output and then batch norm's own backward kernels, so every
// value and gradient is the two ops' exactly (the same apply arithmetic, the same mask y > 0, the
// same backward kernels), in y's layout.
TEST_F(CudaBatchNormRelu, TheFusedForwardAloneEqualsTheTwoOpsExactly) {
  set_batch_norm_relu_kernels(BatchNormReluKernels::Forward);
  EXPECT_TRUE(batch_norm_relu_kernels());
  uint64_t seed = 600;
  for (DType dt : {DType::Float32, DType::Float64})
    for (const Shape& s : cuda_shapes())
      for (bool cl : {false, true}) {
        if (cl && s.size() != 4) continue;
        SCOPED_TRACE(shape_str(s) + " " + dtype_name(dt) + (cl ? " channels-last" : ""));
        const Inputs in = make_inputs(s, seed++, dt, false);
        const BnRun fwd = run(in, kGpu, cl, true), two = run(in, kGpu, cl, false);
        // The fused forward ran: batch norm's node is the output's (relu's would be otherwise).
        {
          Tensor xg = in.x.to(kGpu);
          if (cl) xg = xg.contiguous(MemoryFormat::ChannelsLast);
          xg.set_requires_grad(true);
          Tensor rm = in.rm.to(kGpu), rv = in.rv.to(kGpu);
          Tensor y = batch_norm(xg, in.gamma.to(kGpu), in.beta.to(kGpu), rm, rv, Mode::Train, 0.1,
                                1e-5, "bn", true);
          ASSERT_TRUE(y.impl()->autograd && y.impl()->autograd->grad_fn);
          EXPECT_STREQ(y.impl()->autograd->grad_fn->name, "BatchNorm");
        }
        if (cl) {
          EXPECT_TRUE(fwd.y.is_channels_last() && fwd.gx.is_channels_last());
        }
        expect_identical_runs(fwd, two);
        // The ReLU does something here.
        const std::vector<double> v = fwd.y.to_vector<double>();
        EXPECT_GT(std::count(v.begin(), v.end(), 0.0), int64_t(v.size()) / 10);
      }
}

// The switch itself: the environment's spelling and the bool setter's meaning.
TEST(BatchNormReluSwitch, BoolSetterMeansBothOrOff) {
  const BatchNormReluKernels saved = batch_norm_relu_kernels_mode();
  set_batch_norm_relu_kernels(true);
  EXPECT_EQ(batch_norm_relu_kernels_mode(), BatchNormReluKernels::Both);
  set_batch_norm_relu_kernels(BatchNormReluKernels::Forward);
  EXPECT_TRUE(batch_norm_relu_kernels());
  set_batch_norm_relu_kernels(false);
  EXPECT_EQ(batch_norm_relu_kernels_mode(), BatchNormReluKernels::Off);
  EXPECT_FALSE(batch_norm_relu_kernels());
  set_batch_norm_relu_kernels(saved);
}

// On the CPU (no fused kernels) every mode composes: relu(batch_norm(x)) exactly.
TEST(BatchNormRelu, EveryKernelModeComposesOnTheCpu) {
  const BatchNormReluKernels saved = batch_norm_relu_kernels_mode();
  const Inputs in = make_inputs({4, 3, 5, 5}, 700, DType::Float32, false);
  const BnRun two = run(in, Device::cpu(), false, false);
  for (BatchNormReluKernels k :
       {BatchNormReluKernels::Off, BatchNormReluKernels::Both, BatchNormReluKernels::Forward}) {
    set_batch_norm_relu_kernels(k);
    const BnRun one = run(in, Device::cpu(), false, true);
    EXPECT_EQ(max_abs_diff(one.y, two.y), 0);
    EXPECT_EQ(max_abs_diff(one.gx, two.gx), 0);
    EXPECT_EQ(max_abs_diff(one.ggamma, two.ggamma), 0);
  }
  set_batch_norm_relu_kernels(saved);
}

}  // namespace

// ---------------------------------------------- NOTE [Batch norm into the add] (ops/cuda/norm.cu)

namespace {

struct AddRun : BnRun {
  Tensor gskip;
};

// relu(batch_norm(x) + skip) on `dev`, in one op (into) or as batch_norm then add_relu, with the
// gradients of sum(y * r). x channels-last when cl; skip too when skip_cl, and then one element
// past a 16-byte boundary when misaligned (a view into a larger buffer).
AddRun add_run(const Inputs& in, const Tensor& skip_cpu, Device dev, bool cl, bool skip_cl,
               bool into, bool misaligned = false) {
  auto place = [&](const Tensor& t, bool channels_last) {
    Tensor d = t.detach().to(dev);
    if (channels_last) d = d.contiguous(MemoryFormat::ChannelsLast).detach();
    d.set_requires_grad(true);
    return d;
  };
  Tensor x = place(in.x, cl), skip = place(skip_cpu, skip_cl);
  if (misaligned) {  // the same values at offset 1 of a buffer one element longer
    const Shape& s = skip_cpu.shape();
    Tensor big = Tensor::zeros({numel(s) + 1}, skip_cpu.dtype(), dev);
    Tensor view = make_view(big, s, skip.strides(), 1);
    copy_(view, skip.detach());
    skip = view.detach();
    skip.set_requires_grad(true);
  }
  Tensor g = grad_leaf(in.gamma.detach().to(dev)), b = grad_leaf(in.beta.detach().to(dev));
  AddRun out;
  start_run(out, in, dev);
  Tensor y =
      into ? batch_norm_add_relu(x, g, b, out.rm, out.rv, Mode::Train, 0.1, 1e-5, skip, "bn")
           : add_relu(batch_norm(x, g, b, out.rm, out.rv, Mode::Train, 0.1, 1e-5, "bn"), skip);
  sum(mul(y, in.r.to(dev))).backward();
  finish_run(out, y, x, g, b);
  out.gskip = skip.grad();
  return out;
}

void expect_same_add_runs(const AddRun& a, const AddRun& b) {
  expect_identical_runs(a, b);
  EXPECT_EQ(max_abs_diff(a.gskip, b.gskip), 0) << "gskip";
}

}  // namespace

// One apply pass (relu((x - mean) * scale + beta + skip)), then add_relu's backward and batch
// norm's: the same values and gradients as the two ops on the same GPU bit for bit, NCHW and
// channels-last, float and double; with the skip in the other layout the op composes (still the
// same).
TEST_F(CudaBatchNormRelu, BatchNormIntoTheAddEqualsTheTwoOpsExactly) {
  uint64_t seed = 800;
  for (DType dt : {DType::Float32, DType::Float64})
    for (const Shape& s : cuda_shapes())
      for (int layout = 0; layout < 3; ++layout) {  // NCHW, channels-last, mixed
        const bool cl = layout >= 1 && s.size() == 4, skip_cl = layout == 1 && s.size() == 4;
        if (layout >= 1 && s.size() != 4) continue;
        SCOPED_TRACE(shape_str(s) + " " + dtype_name(dt) + " layout " + std::to_string(layout));
        const Inputs in = make_inputs(s, seed, dt, false);
        const Tensor skip = rnd(s, seed + 7, -1.5, 1.0, dt);
        seed += 10;
        const AddRun into = add_run(in, skip, kGpu, cl, skip_cl, true);
        const AddRun two = add_run(in, skip, kGpu, cl, skip_cl, false);
        expect_same_add_runs(into, two);
        if (cl) {
          EXPECT_TRUE(into.y.is_channels_last());
        }
        // y against the CPU's composition, to rounding (the gradients are the GPU's two ops',
        // checked against the CPU by their own tests: a sum within rounding of 0 may take the
        // ReLU's other side on the CPU, which moves a gradient by a whole term).
        const AddRun cpu = add_run(in, skip, Device::cpu(), false, false, false);
        EXPECT_LE(rel_err(into.y, cpu.y), dt == DType::Float32 ? 1e-5 : 1e-10);
        // The ReLU does something here.
        const std::vector<double> v = into.y.to_vector<double>();
        EXPECT_GT(std::count(v.begin(), v.end(), 0.0), int64_t(v.size()) / 10);
      }
}

// The fused op ran (its own autograd node), and a channels-last skip one element off a 16-byte
// boundary (scalar loads in the apply pass) leaves the statistics as batch norm's own: still the
// two ops' values bit for bit, running statistics included.
TEST_F(CudaBatchNormRelu, BatchNormIntoTheAddRunsFusedAndAnOddSkipAddressChangesNothing) {
  const Shape s{8, 16, 32, 32};
  const Inputs in = make_inputs(s, 900, DType::Float32, false);
  const Tensor skip = rnd(s, 907, -1.5, 1.0, DType::Float32);
  {
    Tensor x = in.x.to(kGpu).contiguous(MemoryFormat::ChannelsLast);
    Tensor sk = skip.to(kGpu).contiguous(MemoryFormat::ChannelsLast);
    x.set_requires_grad(true);
    Tensor rm = in.rm.to(kGpu), rv = in.rv.to(kGpu);
    Tensor y = batch_norm_add_relu(x, grad_leaf(in.gamma.to(kGpu)), grad_leaf(in.beta.to(kGpu)), rm,
                                   rv, Mode::Train, 0.1, 1e-5, sk, "bn");
    ASSERT_TRUE(y.impl()->autograd && y.impl()->autograd->grad_fn);
    EXPECT_STREQ(y.impl()->autograd->grad_fn->name, "BatchNormAddReLU");
  }
  const AddRun odd = add_run(in, skip, kGpu, true, true, true, true);
  const AddRun two = add_run(in, skip, kGpu, true, true, false, true);
  expect_same_add_runs(odd, two);
  expect_same_add_runs(odd, add_run(in, skip, kGpu, true, true, true, false));
}
