// Tensor: an n-dimensional array on a device, with the autograd hooks the engine records on.
// Tensors are cheap handles (a shared pointer); copies share data. Views (reshape, transpose,
// permute) share storage; ops that need contiguous memory call contiguous().
//
//   Tensor x = Tensor::randn({64, 784}, rng);             // float32 on the CPU
//   Tensor w = Tensor::zeros({256, 784}).set_requires_grad(true);
//   Tensor y = ng::linear(x, w, b);                        // ops live in engine/ops/
//   ng::sum(y).backward();  w.grad();                      // autograd in engine/autograd/
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/device.h"
#include "engine/core/dtype.h"
#include "engine/core/error.h"
#include "engine/core/shape.h"
#include "engine/core/storage.h"

namespace ng {

class Rng;
struct TensorImpl;
namespace autograd {
struct Node;
}

// Autograd state of one tensor, kept apart from its data. NOTE [Graph holds no data]: the
// recorded graph refers to its tensors through this record only, so an activation's memory is
// freed as soon as no layer's backward needs it, not when the whole graph goes.
// A leaf that requires grad accumulates into `grad`; a non-leaf has grad_fn.
struct AutogradMeta {
  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;
  std::shared_ptr<autograd::Node> grad_fn;
};

// How a 4-D [N, C, H, W] tensor lies in memory. On CUDA, convolutions and batch norm run on
// NHWC memory (cuDNN's tensor-core kernels are NHWC), as PyTorch's channels_last does (NOTE
// [Channels-last] in engine/ops/cuda/conv.cpp). The logical shape stays [N, C, H, W]; only the
// strides differ: [H*W*C, 1, W*C, C]. Elementwise ops keep their input's layout; ops whose kernels
// are NCHW-only call contiguous() and get NCHW, so every op is correct with either layout.
enum class MemoryFormat { Contiguous, ChannelsLast };

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  std::vector<int64_t> strides;  // in elements
  int64_t offset = 0;            // in elements
  DType dtype = DType::Float32;
  std::shared_ptr<AutogradMeta> autograd;  // null until the tensor takes part in autograd
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // --- construction ---
  static Tensor empty(const Shape& shape, DType dt = DType::Float32, Device d = Device::cpu());
  // A dense tensor in `fmt` (ChannelsLast needs a 4-D shape).
  static Tensor empty(const Shape& shape, DType dt, Device d, MemoryFormat fmt);
  static Tensor zeros(const Shape& shape, DType dt = DType::Float32, Device d = Device::cpu());
  static Tensor ones(const Shape& shape, DType dt = DType::Float32, Device d = Device::cpu());
  static Tensor full(const Shape& shape, double v, DType dt = DType::Float32,
                     Device d = Device::cpu());
  static Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
  static Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }
  static Tensor randn(const Shape& shape, Rng& rng, DType dt = DType::Float32,
                      Device d = Device::cpu());
  static Tensor uniform(const Shape& shape, double lo, double hi, Rng& rng,
                        DType dt = DType::Float32, Device d = Device::cpu());
  template <class T>
  static Tensor from_vector(const std::vector<T>& v, const Shape& shape, Device d = Device::cpu());
  static Tensor scalar(double v, DType dt = DType::Float32, Device d = Device::cpu()) {
    return full({}, v, dt, d);
  }

  // --- properties ---
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl_->shape; }
  int64_t dim() const { return int64_t(impl_->shape.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return ng::numel(impl_->shape); }
  const std::vector<int64_t>& strides() const { return impl_->strides; }
  bool is_contiguous() const;
  // 4-D with the strides of a dense NHWC tensor (size-1 dims ignored). Can hold together with
  // is_contiguous() when C == 1 or H == W == 1; both layouts are then the same memory order
  // for anything that indexes by channel.
  bool is_channels_last() const;
  // ChannelsLast when channels-last and not also contiguous, else Contiguous.
  MemoryFormat memory_format() const;
  // Whether the memory is already in `fmt` (what contiguous(fmt) returns without a copy):
  // contiguous, or channels-last for a 4-D tensor.
  bool has_format(MemoryFormat fmt) const;
  DType dtype() const { return impl_->dtype; }
  Device device() const { return impl_->storage->device(); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype()); }

  // Typed pointer to the first element; throws when T does not match the dtype.
  template <class T>
  T* data() const;
  void* raw_data() const;

  // --- views and copies (autograd-aware) ---
  Tensor contiguous() const;
  // This tensor in `fmt`, copied only when it is not already so (autograd-aware).
  Tensor contiguous(MemoryFormat fmt) const;
  Tensor reshape(Shape shape) const;  // one dim may be -1
  Tensor flatten(int64_t start = 1, int64_t end = -1) const;
  Tensor transpose(int64_t a, int64_t b) const;
  Tensor permute(const std::vector<int64_t>& order) const;
  Tensor to(Device d) const;
  Tensor to(DType dt) const;
  Tensor clone() const;
  // Shares data, no autograd history.
  Tensor detach() const;

  // --- autograd ---
  bool requires_grad() const { return impl_ && impl_->autograd && impl_->autograd->requires_grad; }
  Tensor& set_requires_grad(bool r);
  bool is_leaf() const { return !impl_->autograd || !impl_->autograd->grad_fn; }
  Tensor grad() const {
    return impl_->autograd && impl_->autograd->grad ? Tensor(impl_->autograd->grad) : Tensor();
  }
  void set_grad(const Tensor& g);
  void zero_grad() {
    if (impl_->autograd) impl_->autograd->grad.reset();
  }
  // Reverse-mode differentiation from this tensor; a scalar unless `grad` is given.
  void backward(const Tensor& grad = Tensor()) const;

  // --- host access (copies to the CPU when needed) ---
  double item() const;
  template <class T>
  std::vector<T> to_vector() const;
  std::string str(int max_elems = 16) const;

  const std::shared_ptr<TensorImpl>& impl() const { return impl_; }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// A view of `base` with another shape/strides/offset, sharing its storage (no autograd).
Tensor make_view(const Tensor& base, Shape shape, std::vector<int64_t> strides, int64_t offset);

}  // namespace ng
