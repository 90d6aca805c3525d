// The linear layer's bias inside the cuBLASLt matrix product (NOTE [Fused linear bias] in
// ops/matmul.h): one kernel instead of two in the forward (no broadcast copy of b into y) and
// in the weight gradient (no separate column sum of g for db).
//
// As in gemm.cpp, row-major products are handed to cuBLAS as their column-major transposes:
//   forward   y^T [out, N] = W [out, in] . x^T [in, N]:  A = W (stored [in, out], op T),
//             B = x (stored [in, N], op N), m = out, n = N, k = in. CUBLASLT_EPILOGUE_BIAS adds a
//             vector of length m (the rows of D, the output features) to every column of D
//             (every sample), which is y = x W^T + b.
//   backward  dW^T [in, out] = x^T [in, N] . g [N, out]: A = x (stored [in, N], op N),
//             B = g (stored [out, N], op T), m = in, n = out, k = N. CUBLASLT_EPILOGUE_BGRADB
//             writes the sum of op(B) over the GEMM's k dimension, a vector of length n (the
//             columns of D, the output features): db[j] = sum_N g[N, j].
//
// NOTE [cuBLASLt plans]: each problem (direction, sizes, TF32 setting, operand alignments) gets
// its descriptors and the heuristic's first algorithm once, cached for the process like the
// cuDNN plans (NOTE [cuDNN plans] in conv.cpp); later calls set the pointers and run, so a call
// inside a CUDA-graph capture only queues the matmul (the heuristic query is host work, and the
// training step's eager warm-up steps make the plans before the capture anyway). The workspace
// is cuBLAS's fixed one (libs.h), so nothing is allocated. When cuBLASLt offers no algorithm
// for a problem (e.g. an epilogue it does not support for these types) the plan remembers
// that and the kernel returns false: linear() then runs the GEMM and the bias as before.
// Float32 only (TF32 as gemm.cpp when cuda_tf32() is on); float64 and bfloat16 autocast keep
// the cuBLAS path. Sizes of 1 are left to that path too (nothing to gain there, and PyTorch's
// addmm keeps such products off cuBLASLt as well).
// NG_CUBLASLT=0 (or off / false) turns the fused path off at start-up, for comparisons;
// NG_CUBLASLT_LOG=1 prints each plan's outcome (fused, or why not) to stderr.
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <tuple>

#include "engine/ops/cuda/backend.h"
#include "engine/ops/cuda/libs.h"
#include "engine/ops/matmul.h"

namespace ng::cuda {
namespace {

bool lt_enabled() {
  static const bool on = [] {
    const char* env = std::getenv("NG_CUBLASLT");
    return !(env && (std::strcmp(env, "0") == 0 || std::strcmp(env, "off") == 0 ||
                     std::strcmp(env, "false") == 0));
  }();
  return on;
}

// NG_CUBLASLT_LOG=1 prints each plan's outcome to stderr.
bool lt_log() {
  static const bool on = [] {
    const char* env = std::getenv("NG_CUBLASLT_LOG");
    return env && (std::strcmp(env, "1") == 0 || std::strcmp(env, "on") == 0 ||
                   std::strcmp(env, "true") == 0);
  }();
  return on;
}

enum class Direction { Forward, ForwardRelu, BackwardWeight };

// The largest power of two (at most 256) that divides the address: cuBLASLt's heuristic must be
// told how aligned the operands are, or it may pick a kernel that needs more.
uint32_t alignment(const void* p) {
  uint32_t a = 256;
  while (a > 1 && reinterpret_cast<uintptr_t>(p) % a != 0) a /= 2;
  return a;
}

struct PlanKey {
  Direction dir;
  int64_t m, n, k;
  bool tf32;
  uint32_t align_a, align_b, align_d, align_bias;
  auto tie() const { return std::tie(dir, m, n, k, tf32, align_a, align_b, align_d, align_bias); }
  bool operator<(const PlanKey& o) const { return tie() < o.tie(); }
};

struct Plan {
  bool ok = false;  // cuBLASLt offers an algorithm for this problem
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};  // needs at most the workspace it was chosen for (cuBLAS's)
  // Descriptors live as long as the cache, i.e. the process.
};

void set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attr, const void* v,
              size_t bytes) {
  NG_CUDA_CHECK(cublasLtMatmulDescSetAttribute(desc, attr, v, bytes));
}

// `bias`: the first call's vector, set before the heuristic is asked (as every call sets its own).
std::unique_ptr<Plan> make_plan(const PlanKey& k, void* bias) {
  auto p = std::make_unique<Plan>();
  const bool fwd = k.dir != Direction::BackwardWeight;
  const cublasComputeType_t compute = k.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  NG_CUDA_CHECK(cublasLtMatmulDescCreate(&p->desc, compute, CUDA_R_32F));
  const cublasOperation_t opa = fwd ? CUBLAS_OP_T : CUBLAS_OP_N;
  const cublasOperation_t opb = fwd ? CUBLAS_OP_N : CUBLAS_OP_T;
  set_desc(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &opa, sizeof opa);
  set_desc(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &opb, sizeof opb);
  const cublasLtEpilogue_t epi = k.dir == Direction::Forward       ? CUBLASLT_EPILOGUE_BIAS
                                 : k.dir == Direction::ForwardRelu ? CUBLASLT_EPILOGUE_RELU_BIAS
                                                                   : CUBLASLT_EPILOGUE_BGRADB;
  set_desc(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi);
  set_desc(p->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
  // Stored (column-major) shapes: op(A) is [m, k], op(B) is [k, n], D is [m, n].
  const uint64_t m = uint64_t(k.m), n = uint64_t(k.n), kk = uint64_t(k.k);
  if (fwd) {
    NG_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p->a, CUDA_R_32F, kk, m, int64_t(kk)));  // W
    NG_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p->b, CUDA_R_32F, kk, n, int64_t(kk)));  // x
  } else {
    NG_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p->a, CUDA_R_32F, m, kk, int64_t(m)));  // x
    NG_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p->b, CUDA_R_32F, n, kk, int64_t(n)));  // g
  }
  NG_CUDA_CHECK(cublasLtMatrixLayoutCreate(&p->d, CUDA_R_32F, m, n, int64_t(m)));

  size_t ws_bytes = 0;
  cublas_workspace(&ws_bytes);
  cublasLtMatmulPreference_t pref = nullptr;
  NG_CUDA_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  auto set_pref = [&](cublasLtMatmulPreferenceAttributes_t attr, const void* v, size_t bytes) {
    NG_CUDA_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attr, v, bytes));
  };
  set_pref(CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws_bytes, sizeof ws_bytes);
  set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &k.align_a, sizeof k.align_a);
  set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &k.align_b, sizeof k.align_b);
  set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &k.align_d, sizeof k.align_d);
  set_pref(CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &k.align_d, sizeof k.align_d);
  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  // D doubles as C (beta = 0, never read).
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(cublaslt(), p->desc, p->a, p->b, p->d,
                                                           p->d, pref, 1, &result, &returned);
  cublasLtMatmulPreferenceDestroy(pref);
  // Any refusal (NOT_SUPPORTED, INVALID_VALUE for a combination this cuBLASLt lacks, no result)
  // leaves the problem on the separate-kernel path, which is always correct.
  if (st == CUBLAS_STATUS_SUCCESS && returned > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
    p->ok = true;
    p->algo = result.algo;
  }
  if (lt_log())
    std::fprintf(stderr, "[cublaslt] %s m=%lld n=%lld k=%lld%s align %u/%u/%u/%u: %s (%s)\n",
                 k.dir == Direction::Forward       ? "linear forward (BIAS)"
                 : k.dir == Direction::ForwardRelu ? "linear forward (RELU_BIAS)"
                                                   : "linear dW+db (BGRADB)",
                 (long long)k.m, (long long)k.n, (long long)k.k, k.tf32 ? " TF32" : "", k.align_a,
                 k.align_b, k.align_d, k.align_bias,
                 p->ok ? "fused" : "not offered, separate kernels", cublasGetStatusName(st));
  return p;
}

// Runs D = op(A) op(B) with the plan's epilogue on `bias` (read in the forward, written in the
// backward); false when cuBLASLt cannot (nothing is written then).
bool run(Direction dir, int64_t m, int64_t n, int64_t k, const void* a, const void* b, void* d,
         void* bias) {
  static std::mutex mu;
  static std::map<PlanKey, std::unique_ptr<Plan>> cache;
  const PlanKey key{
      dir, m, n, k, cuda_tf32(), alignment(a), alignment(b), alignment(d), alignment(bias)};
  // The epilogue reads or writes the bias vector whole; keep to 16-byte aligned vectors (the
  // engine's parameters and fresh gradients are 256-byte aligned).
  if (key.align_bias < 16) return false;
  std::lock_guard<std::mutex> lock(mu);  // also guards the plan's bias-pointer attribute
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make_plan(key, bias)).first;
  Plan& p = *it->second;
  if (!p.ok) return false;
  set_desc(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias);
  size_t ws_bytes = 0;
  void* ws = cublas_workspace(&ws_bytes);
  const float one = 1.f, zero = 0.f;
  const cublasStatus_t st = cublasLtMatmul(cublaslt(), p.desc, &one, a, p.a, b, p.b, &zero, d, p.d,
                                           d, p.d, &p.algo, ws, ws_bytes, stream());
  if (st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE) {
    p.ok = false;  // refused before launching anything: from now on the separate kernels
    return false;
  }
  NG_CUDA_CHECK(st);
  return true;
}

bool usable(std::initializer_list<const Tensor*> ts, int64_t N, int64_t in, int64_t out) {
  if (!lt_enabled()) return false;
  for (const Tensor* t : ts)
    if (t->dtype() != DType::Float32 || !t->is_contiguous()) return false;
  return N > 1 && in > 1 && out > 1 && N <= INT_MAX && in <= INT_MAX && out <= INT_MAX;
}

bool linear_forward(const Tensor& x, const Tensor& w, const Tensor& b, bool relu, Tensor& y) {
  const int64_t N = x.size(0), in = x.size(1), out = w.size(0);
  if (!usable({&x, &w, &b, &y}, N, in, out)) return false;
  return run(relu ? Direction::ForwardRelu : Direction::Forward, out, N, in, w.data<float>(),
             x.data<float>(), y.data<float>(), b.data<float>());
}

bool linear_backward_weight(const Tensor& g, const Tensor& x, Tensor& dw, Tensor& db) {
  const int64_t N = x.size(0), in = x.size(1), out = g.size(1);
  if (!usable({&g, &x, &dw, &db}, N, in, out)) return false;
  return run(Direction::BackwardWeight, in, out, N, x.data<float>(), g.data<float>(),
             dw.data<float>(), db.data<float>());
}

}  // namespace

void register_linear() {
  linear_forward_kernel.set(DeviceType::CUDA, &linear_forward);
  linear_backward_weight_kernel.set(DeviceType::CUDA, &linear_backward_weight);
}

}  // namespace ng::cuda
