// Strided iteration for CPU kernels: walks N operands that share a logical shape but have their
// own strides (0 for a broadcast dimension), calling the body once per contiguous run of the
// innermost dimension. Dimensions are coalesced first, so contiguous tensors become one run.
//   for_each_strided<2>(shape, {out_strides, in_strides}, 32768,
//       [&](int64_t n, std::array<int64_t, 2> off, std::array<int64_t, 2> inner) { ... });
#pragma once

#include <algorithm>
#include <array>
#include <vector>

#include "engine/core/parallel.h"
#include "engine/core/shape.h"

namespace ng::cpu {

// Strides of `t_shape`/`t_strides` broadcast to `out` (0 where broadcast).
inline std::vector<int64_t> broadcast_strides(const Shape& t_shape,
                                              const std::vector<int64_t>& t_strides,
                                              const Shape& out) {
  std::vector<int64_t> s(out.size(), 0);
  size_t lead = out.size() - t_shape.size();
  for (size_t i = 0; i < t_shape.size(); ++i) s[lead + i] = t_shape[i] == 1 ? 0 : t_strides[i];
  return s;
}

template <int N, class F>
void for_each_strided(const Shape& shape, std::array<std::vector<int64_t>, N> strides,
                      int64_t grain, const F& f) {
  // Walk the dims in the order of the first operand's strides, largest first, so that an output
  // that is dense in any layout (contiguous, or channels-last: NOTE [Channels-last]) is visited
  // in memory order and its inner stride is 1.
  std::vector<size_t> order(shape.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return strides[0][a] > strides[0][b]; });
  // Coalesce: drop size-1 dims, merge i into i+1 when every operand is contiguous across them.
  Shape sh;
  std::array<std::vector<int64_t>, N> st;
  for (size_t i : order) {
    if (shape[i] == 1) continue;
    if (!sh.empty()) {
      bool merge = true;
      for (int k = 0; k < N; ++k)
        if (st[k].back() != strides[k][i] * shape[i]) merge = false;
      if (merge) {
        sh.back() *= shape[i];
        for (int k = 0; k < N; ++k) st[k].back() = strides[k][i];
        continue;
      }
    }
    sh.push_back(shape[i]);
    for (int k = 0; k < N; ++k) st[k].push_back(strides[k][i]);
  }
  int64_t total = numel(shape);
  if (total == 0) return;
  if (sh.empty()) {
    f(1, std::array<int64_t, N>{}, std::array<int64_t, N>{});
    return;
  }
  int r = int(sh.size());
  int64_t inner = sh[r - 1];
  std::array<int64_t, N> inner_st;
  for (int k = 0; k < N; ++k) inner_st[k] = st[k][r - 1];
  parallel_for(0, total, grain, [&](int64_t b, int64_t e) {
    // Multi-index of element b.
    std::vector<int64_t> idx(r);
    int64_t rem = b;
    for (int d = r - 1; d >= 0; --d) {
      idx[d] = rem % sh[d];
      rem /= sh[d];
    }
    std::array<int64_t, N> off{};
    for (int k = 0; k < N; ++k)
      for (int d = 0; d < r; ++d) off[k] += idx[d] * st[k][d];
    int64_t pos = b;
    while (pos < e) {
      int64_t n = std::min(inner - idx[r - 1], e - pos);
      f(n, off, inner_st);
      pos += n;
      // Advance the multi-index by n along the last dim, carrying.
      for (int k = 0; k < N; ++k) off[k] += n * inner_st[k];
      idx[r - 1] += n;
      for (int d = r - 1; d > 0 && idx[d] == sh[d]; --d) {
        for (int k = 0; k < N; ++k) off[k] -= sh[d] * st[k][d] - st[k][d - 1];
        idx[d] = 0;
        ++idx[d - 1];
      }
    }
  });
}

}  // namespace ng::cpu
