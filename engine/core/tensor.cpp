#include "engine/core/tensor.h"

#include <cstring>
#include <sstream>

#include "engine/autograd/autograd.h"
#include "engine/core/rng.h"
#include "engine/ops/elementwise.h"

namespace ng {

Tensor Tensor::empty(const Shape& shape, DType dt, Device d) {
  for (int64_t s : shape)
    NG_CHECK_SHAPE(s >= 0, "cannot create a tensor with a negative dimension: ", shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(ng::numel(shape)) * dtype_size(dt), d);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dt;
  return Tensor(std::move(impl));
}

namespace {

// Strides of a dense [N, C, H, W] tensor stored as NHWC.
std::vector<int64_t> channels_last_strides(const Shape& s) {
  return {s[2] * s[3] * s[1], 1, s[3] * s[1], s[1]};
}

}  // namespace

Tensor Tensor::empty(const Shape& shape, DType dt, Device d, MemoryFormat fmt) {
  Tensor t = empty(shape, dt, d);
  if (fmt == MemoryFormat::ChannelsLast) {
    NG_CHECK_SHAPE(shape.size() == 4, "a channels-last tensor must be 4-D [N, C, H, W], got ",
                   shape_str(shape));
    t.impl_->strides = channels_last_strides(shape);
  }
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dt, Device d) {
  return full(shape, 0.0, dt, d);
}
Tensor Tensor::ones(const Shape& shape, DType dt, Device d) {
  return full(shape, 1.0, dt, d);
}

Tensor Tensor::full(const Shape& shape, double v, DType dt, Device d) {
  Tensor t = empty(shape, dt, d);
  fill_(t, v);
  return t;
}

Tensor Tensor::randn(const Shape& shape, Rng& rng, DType dt, Device d) {
  Tensor t = empty(shape, dt, Device::cpu());
  if (dt == DType::Float32)
    rng.fill_normal(t.data<float>(), t.numel(), 0.0, 1.0);
  else if (dt == DType::Float64)
    rng.fill_normal(t.data<double>(), t.numel(), 0.0, 1.0);
  else
    throw Error("randn: dtype must be float32 or float64");
  return d.is_cpu() ? t : t.to(d);
}

Tensor Tensor::uniform(const Shape& shape, double lo, double hi, Rng& rng, DType dt, Device d) {
  Tensor t = empty(shape, dt, Device::cpu());
  if (dt == DType::Float32)
    rng.fill_uniform(t.data<float>(), t.numel(), lo, hi);
  else if (dt == DType::Float64)
    rng.fill_uniform(t.data<double>(), t.numel(), lo, hi);
  else
    throw Error("uniform: dtype must be float32 or float64");
  return d.is_cpu() ? t : t.to(d);
}

template <class T>
Tensor Tensor::from_vector(const std::vector<T>& v, const Shape& shape, Device d) {
  NG_CHECK_SHAPE(int64_t(v.size()) == ng::numel(shape), "from_vector: ", v.size(),
                 " values do not fill shape ", shape_str(shape));
  Tensor t = empty(shape, dtype_of<T>::value, Device::cpu());
  if (!v.empty()) std::memcpy(t.raw_data(), v.data(), v.size() * sizeof(T));
  return d.is_cpu() ? t : t.to(d);
}
template Tensor Tensor::from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor Tensor::from_vector<double>(const std::vector<double>&, const Shape&, Device);
template Tensor Tensor::from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, Device);

int64_t Tensor::size(int64_t d) const {
  return impl_->shape[normalize_axis(d, dim(), "Tensor::size")];
}

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (int i = int(dim()) - 1; i >= 0; --i) {
    if (impl_->shape[i] != 1 && impl_->strides[i] != acc) return false;
    acc *= impl_->shape[i];
  }
  return true;
}

bool Tensor::is_channels_last() const {
  if (dim() != 4) return false;
  const std::vector<int64_t> want = channels_last_strides(impl_->shape);
  for (int i = 0; i < 4; ++i)
    if (impl_->shape[i] != 1 && impl_->strides[i] != want[i]) return false;
  return true;
}

MemoryFormat Tensor::memory_format() const {
  return is_channels_last() && !is_contiguous() ? MemoryFormat::ChannelsLast
                                                : MemoryFormat::Contiguous;
}

template <class T>
T* Tensor::data() const {
  NG_CHECK(impl_, "data(): the tensor is undefined");
  NG_CHECK(dtype_of<T>::value == dtype(), "data(): tensor holds ", dtype_name(dtype()), ", not ",
           dtype_name(dtype_of<T>::value));
  return static_cast<T*>(impl_->storage->data()) + impl_->offset;
}
template float* Tensor::data<float>() const;
template double* Tensor::data<double>() const;
template int64_t* Tensor::data<int64_t>() const;
template bfloat16* Tensor::data<bfloat16>() const;

void* Tensor::raw_data() const {
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * dtype_size(dtype());
}

Tensor make_view(const Tensor& base, Shape shape, std::vector<int64_t> strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(shape(), dtype(), device());
  copy_(out, *this);
  if (autograd::should_record({this}))
    autograd::record(out, "Contiguous", {*this},
                     [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

bool Tensor::has_format(MemoryFormat fmt) const {
  return fmt == MemoryFormat::Contiguous || dim() != 4 ? is_contiguous() : is_channels_last();
}

Tensor Tensor::contiguous(MemoryFormat fmt) const {
  if (fmt == MemoryFormat::Contiguous || dim() != 4) return contiguous();
  if (has_format(fmt)) return *this;
  Tensor out = empty(shape(), dtype(), device(), fmt);
  copy_(out, *this);
  if (autograd::should_record({this}))
    autograd::record(out, "ChannelsLast", {*this},
                     [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor Tensor::reshape(Shape s) const {
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      NG_CHECK_SHAPE(infer < 0, "reshape: only one dimension may be -1, got ", shape_str(s));
      infer = int(i);
    } else {
      NG_CHECK_SHAPE(s[i] >= 0, "reshape: invalid target shape ", shape_str(s));
      known *= s[i];
    }
  }
  if (infer >= 0) {
    NG_CHECK_SHAPE(known > 0 && numel() % known == 0, "reshape: cannot reshape ",
                   shape_str(shape()), " (", numel(), " elements) into ", shape_str(s));
    s[infer] = numel() / known;
  }
  NG_CHECK_SHAPE(ng::numel(s) == numel(), "reshape: cannot reshape ", shape_str(shape()), " (",
                 numel(), " elements) into ", shape_str(s), " (", ng::numel(s), " elements)");
  Tensor src = contiguous();
  Tensor out = make_view(src, s, contiguous_strides(s), src.impl()->offset);
  if (autograd::should_record({&src})) {
    Shape in_shape = shape();
    autograd::record(out, "Reshape", {src}, [in_shape](const Tensor& g) {
      return std::vector<Tensor>{g.reshape(in_shape)};
    });
  }
  return out;
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  int s = normalize_axis(start, dim(), "flatten"), e = normalize_axis(end, dim(), "flatten");
  NG_CHECK(s <= e, "flatten: start axis ", start, " is after end axis ", end);
  Shape ns(shape().begin(), shape().begin() + s);
  int64_t m = 1;
  for (int i = s; i <= e; ++i) m *= shape()[i];
  ns.push_back(m);
  ns.insert(ns.end(), shape().begin() + e + 1, shape().end());
  return reshape(ns);
}

Tensor Tensor::permute(const std::vector<int64_t>& order) const {
  NG_CHECK_SHAPE(int64_t(order.size()) == dim(), "permute: ", order.size(),
                 " axes given for a tensor of rank ", dim());
  Shape ns(dim());
  std::vector<int64_t> st(dim());
  std::vector<bool> used(dim(), false);
  std::vector<int64_t> inverse(dim());
  for (int64_t i = 0; i < dim(); ++i) {
    int a = normalize_axis(order[i], dim(), "permute");
    NG_CHECK(!used[a], "permute: axis ", a, " appears twice");
    used[a] = true;
    ns[i] = shape()[a];
    st[i] = strides()[a];
    inverse[a] = i;
  }
  Tensor out = make_view(*this, ns, st, impl_->offset);
  if (autograd::should_record({this}))
    autograd::record(out, "Permute", {*this}, [inverse](const Tensor& g) {
      return std::vector<Tensor>{g.permute(inverse).contiguous()};
    });
  return out;
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  std::vector<int64_t> order(dim());
  for (int64_t i = 0; i < dim(); ++i) order[i] = i;
  std::swap(order[normalize_axis(a, dim(), "transpose")],
            order[normalize_axis(b, dim(), "transpose")]);
  return permute(order);
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor out = empty(shape(), dtype(), d);
  copy_(out, *this);
  if (autograd::should_record({this})) {
    Device from = device();
    autograd::record(out, "ToDevice", {*this},
                     [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
  }
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = empty(shape(), dt, device());
  copy_(out, *this);
  if (autograd::should_record({this}) && is_floating(dt)) {
    DType from = dtype();
    autograd::record(out, "Cast", {*this},
                     [from](const Tensor& g) { return std::vector<Tensor>{g.to(from)}; });
  }
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  copy_(out, *this);
  if (autograd::should_record({this}))
    autograd::record(out, "Clone", {*this}, [](const Tensor& g) { return std::vector<Tensor>{g}; });
  return out;
}

Tensor Tensor::detach() const {
  return make_view(*this, shape(), strides(), impl_->offset);
}

Tensor& Tensor::set_requires_grad(bool r) {
  NG_CHECK(!r || is_floating(dtype()), "requires_grad needs a floating tensor, got ",
           dtype_name(dtype()));
  if (!impl_->autograd) impl_->autograd = std::make_shared<AutogradMeta>();
  impl_->autograd->requires_grad = r;
  return *this;
}

void Tensor::set_grad(const Tensor& g) {
  if (!impl_->autograd) impl_->autograd = std::make_shared<AutogradMeta>();
  impl_->autograd->grad = g.impl_;
}

void Tensor::backward(const Tensor& grad) const {
  autograd::run_backward(*this, grad);
}

double Tensor::item() const {
  NG_CHECK(numel() == 1, "item(): tensor of shape ", shape_str(shape()), " is not a scalar");
  Tensor c = to(Device::cpu());
  switch (dtype()) {
    case DType::Float32:
      return *c.data<float>();
    case DType::Float64:
      return *c.data<double>();
    case DType::Int64:
      return double(*c.data<int64_t>());
    case DType::BFloat16:
      return double(float(*c.data<bfloat16>()));
  }
  return 0;
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  Tensor c = to(Device::cpu()).to(dtype_of<T>::value).contiguous();
  const T* p = c.data<T>();
  return std::vector<T>(p, p + numel());
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;

std::string Tensor::str(int max_elems) const {
  if (!defined()) return "Tensor(undefined)";
  std::ostringstream os;
  os << "Tensor(" << shape_str(shape()) << ", " << dtype_name(dtype()) << ", " << device().str()
     << ") [";
  auto v = to_vector<double>();
  for (int64_t i = 0; i < int64_t(v.size()) && i < max_elems; ++i) os << (i ? ", " : "") << v[i];
  if (int64_t(v.size()) > max_elems) os << ", ...";
  os << "]";
  return os.str();
}

}  // namespace ng
