// CUDA casts to and from bfloat16, the storage type of bf16 mixed precision (NOTE [Autocast],
// engine/ops/autocast.h). Reached through the copy kernel (elementwise.cu routes every device
// copy that has a bfloat16 side here) and fill. The hot pair, contiguous float32 <-> bfloat16,
// moves 4 elements per thread and step (a 16-byte float4 against an 8-byte bfloat16 quad);
// everything else (other dtypes, strided or broadcast views, unaligned tails) goes through one
// strided element-wise kernel. float32 -> bfloat16 rounds to nearest even
// (__float2bfloat16_rn), as the host's ng::bfloat16 does, so both devices give the same bits.
#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "engine/ops/cuda/kernels.cuh"

namespace ng::cuda {
namespace {

// Element conversions through float (bfloat16 holds no more than float does).
template <class S>
__device__ __forceinline__ float to_float(S v) {
  return float(v);
}
template <>
__device__ __forceinline__ float to_float<__nv_bfloat16>(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
template <class D>
__device__ __forceinline__ D from_float(float v) {
  return D(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
// Doubles go straight to bfloat16 through float: one rounding to float first, as on the host.
template <class S, class D>
__device__ __forceinline__ D convert(S v) {
  if constexpr (std::is_same_v<S, D>)
    return v;
  else if constexpr (std::is_same_v<D, double> && !std::is_same_v<S, __nv_bfloat16>)
    return D(v);
  else
    return from_float<D>(to_float<S>(v));
}

template <class S, class D>
__global__ void cast_strided_kernel(int64_t n, Strided<2> ix, const S* src, D* dst) {
  NG_GRID_STRIDE(i, n) {
    int64_t off[2];
    ix.offsets(i, off);
    dst[off[0]] = convert<S, D>(src[off[1]]);
  }
}

// Contiguous float32 -> bfloat16, 4 per step: n4 quads, src 16-byte and dst 8-byte aligned.
__global__ void f32_to_bf16_vec4(int64_t n4, const float4* src, uint2* dst) {
  NG_GRID_STRIDE(i, n4) {
    const float4 v = src[i];
    const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y);
    const __nv_bfloat162 hi = __floats2bfloat162_rn(v.z, v.w);
    uint2 out;
    out.x = *reinterpret_cast<const uint32_t*>(&lo);
    out.y = *reinterpret_cast<const uint32_t*>(&hi);
    dst[i] = out;
  }
}

// Contiguous bfloat16 -> float32, 4 per step.
__global__ void bf16_to_f32_vec4(int64_t n4, const uint2* src, float4* dst) {
  NG_GRID_STRIDE(i, n4) {
    const uint2 v = src[i];
    const __nv_bfloat162 lo = *reinterpret_cast<const __nv_bfloat162*>(&v.x);
    const __nv_bfloat162 hi = *reinterpret_cast<const __nv_bfloat162*>(&v.y);
    const float2 a = __bfloat1622float2(lo), b = __bfloat1622float2(hi);
    dst[i] = make_float4(a.x, a.y, b.x, b.y);
  }
}

// The device element type behind a DType (bfloat16 as CUDA's own).
template <class F>
void dispatch_any(DType dt, const F& f) {
  switch (dt) {
    case DType::Float32:
      return f.template operator()<float>();
    case DType::Float64:
      return f.template operator()<double>();
    case DType::Int64:
      return f.template operator()<int64_t>();
    case DType::BFloat16:
      return f.template operator()<__nv_bfloat16>();
  }
}

bool aligned(const void* p, size_t a) {
  return reinterpret_cast<uintptr_t>(p) % a == 0;
}

void cast_strided(const Tensor& src, Tensor& dst) {
  const int64_t n = dst.numel();
  auto ix = make_strided_out<2>(dst.shape(), dst.strides(), {dst.strides(), src.strides()});
  dispatch_any(src.dtype(), [&]<class S>() {
    dispatch_any(dst.dtype(), [&]<class D>() {
      cast_strided_kernel<S, D><<<grid_for(n), kThreads, 0, stream()>>>(
          n, ix, static_cast<const S*>(src.raw_data()), static_cast<D*>(dst.raw_data()));
      NG_CUDA_CHECK_LAUNCH("bfloat16 cast kernel");
    });
  });
}

// A contiguous, aligned run of 4-element groups; the rest (at most 3 elements) as views for the
// strided kernel. Returns false when the layout does not allow it.
bool cast_vectorised(const Tensor& src, Tensor& dst) {
  // Both contiguous, or both channels-last (NOTE [Channels-last]): the same flat order.
  if (!(src.is_contiguous() && dst.is_contiguous()) &&
      !(src.is_channels_last() && dst.is_channels_last()))
    return false;
  const bool down = src.dtype() == DType::Float32 && dst.dtype() == DType::BFloat16;
  const bool up = src.dtype() == DType::BFloat16 && dst.dtype() == DType::Float32;
  if (!down && !up) return false;
  const void* s = src.raw_data();
  void* d = dst.raw_data();
  if (!aligned(s, down ? 16 : 8) || !aligned(d, down ? 8 : 16)) return false;
  const int64_t n = dst.numel(), n4 = n / 4;
  if (n4 > 0) {
    if (down)
      f32_to_bf16_vec4<<<grid_for(n4), kThreads, 0, stream()>>>(n4, static_cast<const float4*>(s),
                                                                static_cast<uint2*>(d));
    else
      bf16_to_f32_vec4<<<grid_for(n4), kThreads, 0, stream()>>>(n4, static_cast<const uint2*>(s),
                                                                static_cast<float4*>(d));
    NG_CUDA_CHECK_LAUNCH("bfloat16 vectorised cast kernel");
  }
  if (n % 4 != 0) {
    const int64_t done = n4 * 4, rest = n - done;
    Tensor st = make_view(src, {rest}, {1}, src.impl()->offset + done);
    Tensor dt = make_view(dst, {rest}, {1}, dst.impl()->offset + done);
    cast_strided(st, dt);
  }
  return true;
}

template <class T>
__global__ void fill_bits_kernel(int64_t n, Strided<1> ix, T* p, T v) {
  NG_GRID_STRIDE(i, n) {
    int64_t off[1];
    ix.offsets(i, off);
    p[off[0]] = v;
  }
}

}  // namespace

// dst = src converted, both on the device, same shape, any strides, at least one of them
// bfloat16 (any other dtype on the other side).
void cast_bf16(const Tensor& src, Tensor& dst) {
  if (dst.numel() == 0) return;
  NG_CHECK(src.shape() == dst.shape(), "cast on cuda: shapes differ (", shape_str(src.shape()),
           " and ", shape_str(dst.shape()), ")");
  if (src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous()) {
    NG_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), dst.nbytes(),
                                  cudaMemcpyDeviceToDevice, stream()));
    return;
  }
  if (cast_vectorised(src, dst)) return;
  cast_strided(src, dst);
}

void fill_bf16(Tensor& t, double v) {
  const int64_t n = t.numel();
  if (n == 0) return;
  const uint16_t bits = bfloat16(float(v)).bits;
  auto ix = make_strided_out<1>(t.shape(), t.strides(), {t.strides()});
  if (bits == 0 && ix.contiguous()) {
    NG_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, t.nbytes(), stream()));
    return;
  }
  fill_bits_kernel<uint16_t>
      <<<grid_for(n), kThreads, 0, stream()>>>(n, ix, static_cast<uint16_t*>(t.raw_data()), bits);
  NG_CUDA_CHECK_LAUNCH("bfloat16 fill kernel");
}

}  // namespace ng::cuda
