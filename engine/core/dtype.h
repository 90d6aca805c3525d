// Element types a Tensor can hold. Float32 is the training type on every device; Float64
// exists on the CPU for gradient checks; Int64 holds class labels and embedding indices.
// BFloat16 is a storage type only: the operands that bf16 mixed precision hands to the GPU's
// matrix products and convolutions (NOTE [Autocast], engine/ops/autocast.h). Tensors of it can
// be created, copied and cast (to and from every other dtype, on every device), but no op
// computes in it and autograd does not track it (is_floating() is false for it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace ng {

enum class DType : uint8_t { Float32, Float64, Int64, BFloat16 };

// One bfloat16 value on the host: the upper 16 bits of a float32 (sign, the same 8-bit
// exponent, 7 mantissa bits). float -> bfloat16 rounds to nearest, ties to even, as CUDA's
// __float2bfloat16_rn does; NaN stays NaN. bfloat16 -> float is exact.
struct bfloat16 {
  uint16_t bits = 0;

  bfloat16() = default;
  explicit bfloat16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) {  // NaN: keep it a (quiet) NaN
      bits = uint16_t((u >> 16) | 0x0040u);
      return;
    }
    u += 0x7fffu + ((u >> 16) & 1u);
    bits = uint16_t(u >> 16);
  }
  explicit operator float() const {
    const uint32_t u = uint32_t(bits) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }
  explicit operator double() const { return double(float(*this)); }
  explicit operator int64_t() const { return int64_t(float(*this)); }
  static bfloat16 from_bits(uint16_t b) {
    bfloat16 r;
    r.bits = b;
    return r;
  }
};

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32:
      return 4;
    case DType::Float64:
      return 8;
    case DType::Int64:
      return 8;
    case DType::BFloat16:
      return 2;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::Float32:
      return "float32";
    case DType::Float64:
      return "float64";
    case DType::Int64:
      return "int64";
    case DType::BFloat16:
      return "bfloat16";
  }
  return "?";
}

inline bool is_floating(DType t) {
  return t == DType::Float32 || t == DType::Float64;
}

template <class T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::Float32;
};
template <>
struct dtype_of<double> {
  static constexpr DType value = DType::Float64;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::Int64;
};
template <>
struct dtype_of<bfloat16> {
  static constexpr DType value = DType::BFloat16;
};

}  // namespace ng
