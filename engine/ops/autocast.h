// bf16 mixed precision ("autocast"), as PyTorch's torch.autocast(device_type="cuda",
// dtype=torch.bfloat16) does it: a scoped, per-thread setting that the trainer turns on for
// training.precision = "bf16".
//
//   ng::AutocastScope amp(ng::Precision::BFloat16);
//   model.forward({x}, y, r);  r.loss.backward();   // products and convolutions in bf16
//   opt.step();                                     // float32 master weights
//
// NOTE [Autocast]
// While a bf16 scope is alive on a thread, the matrix products (matmul, linear) and convolutions
// (conv2d) of float32 tensors on a CUDA device run with bfloat16 inputs and weights on tensor
// cores, accumulating in float32 (cuBLAS CUBLAS_COMPUTE_32F; cuDNN's float32 compute type).
// Everything else stays float32: the model's parameters (the master weights the optimiser
// updates), the optimiser's state, batch-norm statistics, softmax, the losses, every reduction
// and elementwise op, and the gradients that reach the parameters. Each op's result is float32
// (a matrix product writes float32 straight from its accumulator; a convolution's bfloat16 output
// is widened), so nothing downstream sees bfloat16. Backward runs the same products in bf16:
// the gradient flowing in is rounded to bfloat16, multiplied with the bfloat16 copies kept from
// forward, and the results are float32 gradients. CPU tensors are never affected (the trainer
// refuses bf16 on the CPU), nor are float64 ones.
//
// No loss scaling: bfloat16 has float32's 8-bit exponent (range ~1e-38 .. 3e38), so gradients
// that float32 can hold do not underflow in bfloat16, unlike float16's 5-bit exponent for which
// PyTorch's GradScaler exists. Only the mantissa is short (8 significant bits: rounding up to 2^-8
// relative), which accumulation in float32 and float32 master weights absorb.
//
// Weight casts: a parameter (a leaf tensor that requires grad) is cast to bfloat16 once and the
// copy is kept, per thread, until the optimiser updates that parameter (Optimizer::step calls
// autocast_forget) or the outermost scope ends; so a step casts each weight once, however often
// forward and backward use it, and validation passes between two steps cast nothing again.
// Activations are cast on every use (they change every call). Code that changes a parameter in
// place by other means while a bf16 scope is alive must call autocast_forget(param) too.
//
// Convolutions for which cuDNN offers no bfloat16 algorithm run in float32 instead (remembered
// per problem), so bf16 never makes a model fail that float32 trains.
#pragma once

#include <cstdint>
#include <string>

#include "engine/core/tensor.h"

namespace ng {

struct Conv2dParams;

enum class Precision : uint8_t { Float32, BFloat16 };

// "float32" or "bf16", the spelling of training.precision and --precision.
const char* precision_name(Precision p);
// Parses "float32" or "bf16"; anything else throws ng::Error naming `where` and both values.
Precision parse_precision(const std::string& s, const std::string& where);

// Sets this thread's precision for its lifetime, restoring the previous one after. Scopes nest.
// Entering or leaving a scope that changes the precision drops the cached weight copies.
class AutocastScope {
 public:
  explicit AutocastScope(Precision p);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  Precision prev_;
};

// This thread's precision (Float32 outside every scope).
Precision autocast_precision();

// True when a product or convolution of `dt` operands on `d` runs in bf16 now: a bf16 scope is
// active on this thread, d is a CUDA device and dt is float32.
bool autocast_bf16(Device d, DType dt);

// The bfloat16 copy of a float32 tensor (contiguous, same shape and device). A parameter's copy
// comes from the cache (NOTE [Autocast]); any other tensor is cast on every call.
Tensor autocast_bf16_copy(const Tensor& t, MemoryFormat fmt = MemoryFormat::Contiguous);
// Drops the cached copy of `param`, if any (the optimiser, before it updates the parameter).
void autocast_forget(const Tensor& param);
// Parameter casts made on this thread so far (to check that a step casts each weight once).
int64_t autocast_weight_casts();

// The bf16 paths of the ops (engine/ops/matmul.cpp and conv.cpp call them when autocast_bf16()
// is true; the operands have been checked there). Float32 results, autograd recorded.
Tensor matmul_bf16(const Tensor& a, const Tensor& b);
Tensor linear_bf16(const Tensor& x, const Tensor& w, const Tensor& b);
Tensor conv2d_bf16(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p,
                   const Shape& y_shape);

}  // namespace ng
