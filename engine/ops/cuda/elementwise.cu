// CUDA kernels for elementwise ops, fill, copy (host <-> device, device <-> device, strided,
// casting) and axpy. The per-element arithmetic is the CPU kernels' own (ops/elementwise_math.h);
// operands with any strides (broadcast included) go through Strided<N>, contiguous ones index
// directly.
#include <cmath>

#include "engine/ops/cuda/capture.h"
#include "engine/ops/cuda/kernels.cuh"
#include "engine/ops/elementwise.h"
#include "engine/ops/elementwise_math.h"

namespace ng::cuda {
namespace {

using elementwise::apply_binary;
using elementwise::apply_unary;
using elementwise::unary_derivative;

// ---------------------------------------------------------------- binary

template <class T>
__global__ void binary_contig_kernel(BinaryOp op, int64_t n, T* out, const T* a, const T* b) {
  NG_GRID_STRIDE(i, n) out[i] = apply_binary(op, a[i], b[i]);
}

// out dense (row-major in make_strided_out's order); a and b at their (broadcast) strides.
template <class T>
__global__ void binary_strided_kernel(BinaryOp op, int64_t n, Strided<2> ix, T* out, const T* a,
                                      const T* b) {
  NG_GRID_STRIDE(i, n) {
    int64_t off[2];
    ix.offsets(i, off);
    out[i] = apply_binary(op, a[off[0]], b[off[1]]);
  }
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = out.numel();
  if (n == 0) return;
  dispatch_floating(out.dtype(), "elementwise op", [&]<class T>() {
    auto ix = make_strided_out<2>(out.shape(), out.strides(),
                                  {broadcast_strides(a.shape(), a.strides(), out.shape()),
                                   broadcast_strides(b.shape(), b.strides(), out.shape())});
    if (ix.contiguous())
      binary_contig_kernel<T>
          <<<grid_for(n), kThreads, 0, stream()>>>(op, n, out.data<T>(), a.data<T>(), b.data<T>());
    else
      binary_strided_kernel<T><<<grid_for(n), kThreads, 0, stream()>>>(op, n, ix, out.data<T>(),
                                                                       a.data<T>(), b.data<T>());
    NG_CUDA_CHECK_LAUNCH("binary elementwise kernel");
  });
}

// ---------------------------------------------------------------- unary

// y dense (row-major in make_strided_out's order); x at its strides.
template <class T>
__global__ void unary_strided_k(UnaryOp op, int64_t n, Strided<1> ix, const T* x, T* y, T alpha) {
  NG_GRID_STRIDE(i, n) {
    int64_t off[1];
    ix.offsets(i, off);
    y[i] = apply_unary(op, x[off[0]], alpha);
  }
}

template <class T>
__global__ void unary_contig_kernel(UnaryOp op, int64_t n, const T* x, T* y, T alpha) {
  NG_GRID_STRIDE(i, n) y[i] = apply_unary(op, x[i], alpha);
}

void unary(UnaryOp op, const Tensor& x, Tensor& y, double alpha) {
  const int64_t n = y.numel();
  if (n == 0) return;
  dispatch_floating(x.dtype(), unary_op_name(op), [&]<class T>() {
    auto ix = make_strided_out<1>(x.shape(), y.strides(), {x.strides()});
    if (ix.contiguous())
      unary_contig_kernel<T>
          <<<grid_for(n), kThreads, 0, stream()>>>(op, n, x.data<T>(), y.data<T>(), T(alpha));
    else
      unary_strided_k<T>
          <<<grid_for(n), kThreads, 0, stream()>>>(op, n, ix, x.data<T>(), y.data<T>(), T(alpha));
    NG_CUDA_CHECK_LAUNCH("unary elementwise kernel");
  });
}

// gin = gout * f'(x), from x and/or y = f(x) (whichever unary_backward_uses(op) names; the
// other pointer may be null). All dense in one layout (contiguous or channels-last).
template <class T>
__global__ void unary_backward_k(UnaryOp op, int64_t n, const T* x, const T* y, const T* g, T* gi,
                                 T a) {
  NG_GRID_STRIDE(i, n) {
    const T v = x ? x[i] : T(0), out = y ? y[i] : T(0);
    gi[i] = g[i] * unary_derivative(op, v, out, a);
  }
}

void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& gout, Tensor& gin,
                    double alpha) {
  const int64_t n = gin.numel();
  if (n == 0) return;
  dispatch_floating(gout.dtype(), unary_op_name(op), [&]<class T>() {
    const T* px = x.defined() ? x.data<T>() : nullptr;
    const T* py = y.defined() ? y.data<T>() : nullptr;
    unary_backward_k<T><<<grid_for(n), kThreads, 0, stream()>>>(op, n, px, py, gout.data<T>(),
                                                                gin.data<T>(), T(alpha));
    NG_CUDA_CHECK_LAUNCH("unary backward kernel");
  });
}

// ---------------------------------------------------------------- fill

template <class T>
__global__ void fill_kernel_t(int64_t n, Strided<1> ix, T* p, T v) {
  NG_GRID_STRIDE(i, n) {
    int64_t off[1];
    ix.offsets(i, off);
    p[off[0]] = v;
  }
}

template <class T>
void fill_t(Tensor& t, double v) {
  const int64_t n = t.numel();
  auto ix = make_strided_out<1>(t.shape(), t.strides(), {t.strides()});
  if (v == 0.0 && ix.contiguous()) {  // 0.0 and int 0 are all-zero bytes
    NG_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, size_t(n) * sizeof(T), stream()));
    return;
  }
  fill_kernel_t<T><<<grid_for(n), kThreads, 0, stream()>>>(n, ix, t.data<T>(), T(v));
  NG_CUDA_CHECK_LAUNCH("fill kernel");
}

void fill(Tensor& t, double v) {
  require_device(t.device(), "fill");
  if (t.numel() == 0) return;
  switch (t.dtype()) {
    case DType::Float32:
      return fill_t<float>(t, v);
    case DType::Float64:
      return fill_t<double>(t, v);
    case DType::Int64:
      return fill_t<int64_t>(t, v);
    case DType::BFloat16:
      return fill_bf16(t, v);
  }
}

// ---------------------------------------------------------------- copy

// dst[off0] = D(src[off1]) over a shared logical shape.
template <class S, class D>
__global__ void copy_kernel_t(int64_t n, Strided<2> ix, const S* src, D* dst) {
  NG_GRID_STRIDE(i, n) {
    int64_t off[2];
    ix.offsets(i, off);
    dst[off[0]] = D(src[off[1]]);
  }
}

template <class S, class D>
void copy_d2d_t(const Tensor& src, Tensor& dst) {
  const int64_t n = dst.numel();
  auto ix = make_strided_out<2>(dst.shape(), dst.strides(), {dst.strides(), src.strides()});
  copy_kernel_t<S, D><<<grid_for(n), kThreads, 0, stream()>>>(n, ix, src.data<S>(), dst.data<D>());
  NG_CUDA_CHECK_LAUNCH("strided copy kernel");
}

template <class S>
void copy_d2d_from(const Tensor& src, Tensor& dst) {
  switch (dst.dtype()) {
    case DType::Float32:
      return copy_d2d_t<S, float>(src, dst);
    case DType::Float64:
      return copy_d2d_t<S, double>(src, dst);
    case DType::Int64:
      return copy_d2d_t<S, int64_t>(src, dst);
    case DType::BFloat16:
      return cast_bf16(src, dst);
  }
}

// Both on the device: a memcpy when the layouts and dtypes agree (both contiguous, or both
// channels-last), else the strided kernel.
void copy_d2d(const Tensor& src, Tensor& dst) {
  const bool same_dense = (src.is_contiguous() && dst.is_contiguous()) ||
                          (src.is_channels_last() && dst.is_channels_last());
  if (src.dtype() == dst.dtype() && same_dense) {
    NG_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), dst.nbytes(),
                                  cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  switch (src.dtype()) {
    case DType::Float32:
      return copy_d2d_from<float>(src, dst);
    case DType::Float64:
      return copy_d2d_from<double>(src, dst);
    case DType::Int64:
      return copy_d2d_from<int64_t>(src, dst);
    case DType::BFloat16:
      return cast_bf16(src, dst);  // cast.cu
  }
}

// Host -> device. The bytes cross as src's dtype in a contiguous layout; strides and casts are
// handled on the host side (before) or the device side (after) by the usual copy kernels.
void copy_h2d(const Tensor& src, Tensor& dst) {
  Tensor hs = src;
  if (!src.is_contiguous()) {
    hs = Tensor::empty(src.shape(), src.dtype(), Device::cpu());
    copy_kernel(Device::cpu())(src, hs);
  }
  // A pageable H2D cudaMemcpyAsync returns once the host bytes are staged, so `hs` may go.
  if (dst.is_contiguous() && dst.dtype() == src.dtype()) {
    NG_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), hs.raw_data(), dst.nbytes(),
                                  cudaMemcpyHostToDevice, stream()));
    return;
  }
  Tensor ds = Tensor::empty(src.shape(), src.dtype(), dst.device());
  NG_CUDA_CHECK(
      cudaMemcpyAsync(ds.raw_data(), hs.raw_data(), ds.nbytes(), cudaMemcpyHostToDevice, stream()));
  copy_d2d(ds, dst);
}

// Device -> host; waits for the stream, so the host sees every earlier op's result.
void copy_d2h(const Tensor& src, Tensor& dst) {
  Tensor ds = src;
  if (!src.is_contiguous()) {
    ds = Tensor::empty(src.shape(), src.dtype(), src.device());
    copy_d2d(src, ds);
  }
  const bool direct = dst.is_contiguous() && dst.dtype() == src.dtype();
  Tensor hs = direct ? dst : Tensor::empty(src.shape(), src.dtype(), Device::cpu());
  NG_CUDA_CHECK(
      cudaMemcpyAsync(hs.raw_data(), ds.raw_data(), hs.nbytes(), cudaMemcpyDeviceToHost, stream()));
  NG_CUDA_CHECK(cudaStreamSynchronize(stream()));
  raise_device_errors();  // NOTE [Deferred device errors]: the host waited anyway
  if (!direct) copy_kernel(Device::cpu())(hs, dst);
}

void copy(const Tensor& src, Tensor& dst) {
  const bool from_dev = src.device().is_cuda(), to_dev = dst.device().is_cuda();
  if (from_dev) require_device(src.device(), "copy");
  if (to_dev) require_device(dst.device(), "copy");
  if (dst.numel() == 0) return;
  if (from_dev && to_dev) return copy_d2d(src, dst);
  if (to_dev) return copy_h2d(src, dst);
  if (from_dev) return copy_d2h(src, dst);
  copy_kernel(Device::cpu())(src, dst);
}

// ---------------------------------------------------------------- axpy

template <class T>
__global__ void axpy_kernel_t(int64_t n, T a, const T* x, T* y) {
  NG_GRID_STRIDE(i, n) y[i] += a * x[i];
}

void axpy(double alpha, const Tensor& x, Tensor& y) {
  NG_CHECK(x.dtype() == y.dtype(), "axpy: dtypes differ");
  const int64_t n = y.numel();
  if (n == 0) return;
  dispatch_floating(y.dtype(), "axpy", [&]<class T>() {
    axpy_kernel_t<T><<<grid_for(n), kThreads, 0, stream()>>>(n, T(alpha), x.data<T>(), y.data<T>());
    NG_CUDA_CHECK_LAUNCH("axpy kernel");
  });
}

}  // namespace

void register_elementwise() {
  binary_kernel.set(DeviceType::CUDA, &binary);
  unary_kernel.set(DeviceType::CUDA, &unary);
  unary_backward_kernel.set(DeviceType::CUDA, &unary_backward);
  fill_kernel.set(DeviceType::CUDA, &fill);
  copy_kernel.set(DeviceType::CUDA, &copy);
  axpy_kernel.set(DeviceType::CUDA, &axpy);
}

}  // namespace ng::cuda
