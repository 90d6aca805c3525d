#include "engine/core/rng.h"

#include <cmath>

#include "engine/core/parallel.h"

namespace ng {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  for (int r = 0; r < 10; ++r) {
    uint64_t p0 = uint64_t(M0) * c[0], p1 = uint64_t(M1) * c[2];
    uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
    uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
    c = {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
    k[0] += W0;
    k[1] += W1;
  }
  return c;
}

namespace {

inline std::array<uint32_t, 4> block(uint64_t seed, uint64_t ctr) {
  return philox4x32({uint32_t(ctr), uint32_t(ctr >> 32), 0u, 0u},
                    {uint32_t(seed), uint32_t(seed >> 32)});
}
// 24 (float) or 32 random bits to [0, 1).
inline double unit(uint32_t u) {
  return (u >> 8) * (1.0 / 16777216.0);
}

// Philox on kLanes consecutive counters at once: the same arithmetic in every lane, written
// as plain loops over arrays so the compiler vectorises the 32x32->64 multiplies.
constexpr int kLanes = 16;
inline void philox_lanes(uint64_t seed, uint64_t ctr0, uint32_t out[4][kLanes]) {
  constexpr uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u, W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
  uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    uint64_t c = ctr0 + uint64_t(l);
    c0[l] = uint32_t(c), c1[l] = uint32_t(c >> 32), c2[l] = 0, c3[l] = 0;
  }
  uint32_t k0 = uint32_t(seed), k1 = uint32_t(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    for (int l = 0; l < kLanes; ++l) {
      uint64_t p0 = uint64_t(M0) * c0[l], p1 = uint64_t(M1) * c2[l];
      uint32_t n0 = uint32_t(p1 >> 32) ^ c1[l] ^ k0, n2 = uint32_t(p0 >> 32) ^ c3[l] ^ k1;
      c1[l] = uint32_t(p1), c3[l] = uint32_t(p0), c0[l] = n0, c2[l] = n2;
    }
    k0 += W0;
    k1 += W1;
  }
  for (int l = 0; l < kLanes; ++l)
    out[0][l] = c0[l], out[1][l] = c1[l], out[2][l] = c2[l], out[3][l] = c3[l];
}

template <class F>
void for_blocks(uint64_t seed, uint64_t offset, int64_t n, const F& f) {
  int64_t nb = (n + 3) / 4;
  int64_t ng = (nb + kLanes - 1) / kLanes;
  parallel_for(0, ng, 256, [&](int64_t b, int64_t e) {
    uint32_t r[4][kLanes];
    for (int64_t g = b; g < e; ++g) {
      philox_lanes(seed, offset + uint64_t(g * kLanes), r);
      for (int l = 0; l < kLanes && g * kLanes + l < nb; ++l)
        f(g * kLanes + l, std::array<uint32_t, 4>{r[0][l], r[1][l], r[2][l], r[3][l]});
    }
  });
}

}  // namespace

template <class T>
void Rng::fill_uniform(T* out, int64_t n, double lo, double hi) {
  for_blocks(seed_, offset_, n, [&](int64_t bi, std::array<uint32_t, 4> r) {
    for (int l = 0; l < 4; ++l) {
      int64_t i = bi * 4 + l;
      if (i < n) out[i] = T(lo + (hi - lo) * unit(r[l]));
    }
  });
  offset_ += uint64_t((n + 3) / 4);
}

template <class T>
void Rng::fill_normal(T* out, int64_t n, double mean, double stddev) {
  // Box-Muller on lanes (0,1) and (2,3) of each block.
  for_blocks(seed_, offset_, n, [&](int64_t bi, std::array<uint32_t, 4> r) {
    for (int p = 0; p < 2; ++p) {
      double u1 = 1.0 - unit(r[2 * p]);  // (0, 1]
      double u2 = unit(r[2 * p + 1]);
      double rad = std::sqrt(-2.0 * std::log(u1));
      double z0 = rad * std::cos(2.0 * M_PI * u2), z1 = rad * std::sin(2.0 * M_PI * u2);
      int64_t i = bi * 4 + 2 * p;
      if (i < n) out[i] = T(mean + stddev * z0);
      if (i + 1 < n) out[i + 1] = T(mean + stddev * z1);
    }
  });
  offset_ += uint64_t((n + 3) / 4);
}

template <class T>
void Rng::fill_bernoulli(T* out, int64_t n, double keep, double scale) {
  for_blocks(seed_, offset_, n, [&](int64_t bi, std::array<uint32_t, 4> r) {
    for (int l = 0; l < 4; ++l) {
      int64_t i = bi * 4 + l;
      if (i < n) out[i] = unit(r[l]) < keep ? T(scale) : T(0);
    }
  });
  offset_ += uint64_t((n + 3) / 4);
}

uint32_t Rng::next_u32() {
  return block(seed_, offset_++)[0];
}

template void Rng::fill_uniform<float>(float*, int64_t, double, double);
template void Rng::fill_uniform<double>(double*, int64_t, double, double);
template void Rng::fill_normal<float>(float*, int64_t, double, double);
template void Rng::fill_normal<double>(double*, int64_t, double, double);
template void Rng::fill_bernoulli<float>(float*, int64_t, double, double);
template void Rng::fill_bernoulli<double>(double*, int64_t, double, double);

}  // namespace ng
