// CPU kernels for embedding lookup (concat and split are strided copies through copy_kernel).
// Ids are validated by the op, so the kernels index without checks.
#include <algorithm>
#include <cstring>

#include "engine/core/parallel.h"
#include "engine/ops/cpu/cpu_kernels.h"
#include "engine/ops/shape_ops.h"

namespace ng::cpu {
namespace {

// y[i, :] = table[ids[i], :]
template <class T>
void embedding_forward_t(const Tensor& ids, const Tensor& table, Tensor& y) {
  const int64_t n = ids.numel(), D = table.size(1);
  const int64_t* pi = ids.data<int64_t>();
  const T* pt = table.data<T>();
  T* py = y.data<T>();
  parallel_for(0, n, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, D)),
               [&](int64_t b, int64_t e) {
                 for (int64_t i = b; i < e; ++i)
                   std::memcpy(py + i * D, pt + pi[i] * D, size_t(D) * sizeof(T));
               });
}

// gtable[ids[i], :] += gy[i, :]. Tasks own disjoint ranges of table rows and each scans all
// ids, so no two threads write one row and the sum order is the id order (deterministic).
template <class T>
void embedding_backward_t(const Tensor& ids, const Tensor& gy, Tensor& gtable) {
  const int64_t n = ids.numel(), V = gtable.size(0), D = gtable.size(1);
  const int64_t* pi = ids.data<int64_t>();
  const T* pg = gy.data<T>();
  T* pt = gtable.data<T>();
  const int64_t work = n * D;
  parallel_for(0, V, work > 32768 ? 1 : V, [&](int64_t v0, int64_t v1) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t v = pi[i];
      if (v < v0 || v >= v1) continue;
      T* dst = pt + v * D;
      const T* src = pg + i * D;
#pragma omp simd
      for (int64_t d = 0; d < D; ++d) dst[d] += src[d];
    }
  });
}

void embedding_forward(const Tensor& ids, const Tensor& table, Tensor& y) {
  if (table.dtype() == DType::Float32) return embedding_forward_t<float>(ids, table, y);
  if (table.dtype() == DType::Float64) return embedding_forward_t<double>(ids, table, y);
  throw Error(std::string("embedding: unsupported dtype ") + dtype_name(table.dtype()));
}
void embedding_backward(const Tensor& ids, const Tensor& gy, Tensor& gtable) {
  if (gtable.dtype() == DType::Float32) return embedding_backward_t<float>(ids, gy, gtable);
  if (gtable.dtype() == DType::Float64) return embedding_backward_t<double>(ids, gy, gtable);
  throw Error(std::string("embedding backward: unsupported dtype ") + dtype_name(gtable.dtype()));
}

}  // namespace

void register_shape() {
  embedding_forward_kernel.set(DeviceType::CPU, &embedding_forward);
  embedding_backward_kernel.set(DeviceType::CPU, &embedding_backward);
}

}  // namespace ng::cpu
