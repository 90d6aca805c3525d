// CPU reduction kernel: one output element per task, each reducing its (strided) slice.
#include <algorithm>
#include <limits>

#include "engine/ops/cpu/cpu_kernels.h"
#include "engine/ops/cpu/strided.h"
#include "engine/ops/reduce.h"

namespace ng::cpu {
namespace {

template <class T>
void reduce_t(ReduceOp op, const Tensor& x, Tensor& out) {
  const T* px = x.data<T>();
  T* po = out.data<T>();
  // Split axes into kept (outer) and reduced (inner).
  Shape kept_shape, red_shape;
  std::vector<int64_t> kept_st, red_st;
  for (int64_t i = 0; i < x.dim(); ++i) {
    if (out.shape()[i] == 1 && x.shape()[i] != 1) {
      red_shape.push_back(x.shape()[i]);
      red_st.push_back(x.strides()[i]);
    } else {
      kept_shape.push_back(x.shape()[i]);
      kept_st.push_back(x.strides()[i]);
    }
  }
  int64_t n_out = numel(kept_shape), n_red = numel(red_shape);
  auto kept_contig = contiguous_strides(kept_shape);
  parallel_for(0, n_out, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n_red)),
               [&](int64_t b, int64_t e) {
                 for (int64_t o = b; o < e; ++o) {
                   int64_t base = 0, rem = o;
                   for (size_t d = 0; d < kept_shape.size(); ++d) {
                     int64_t idx = rem / kept_contig[d];
                     rem %= kept_contig[d];
                     base += idx * kept_st[d];
                   }
                   double acc = op == ReduceOp::Max   ? -std::numeric_limits<double>::infinity()
                                : op == ReduceOp::Min ? std::numeric_limits<double>::infinity()
                                                      : 0.0;
                   // Serial strided walk over the reduced sub-space.
                   Shape rs = red_shape;
                   std::vector<int64_t> idx(rs.size(), 0);
                   for (int64_t k = 0; k < n_red; ++k) {
                     int64_t off = base;
                     for (size_t d = 0; d < rs.size(); ++d) off += idx[d] * red_st[d];
                     double v = double(px[off]);
                     if (op == ReduceOp::Max)
                       acc = std::max(acc, v);
                     else if (op == ReduceOp::Min)
                       acc = std::min(acc, v);
                     else
                       acc += v;
                     for (int d = int(rs.size()) - 1; d >= 0; --d) {
                       if (++idx[d] < rs[d]) break;
                       idx[d] = 0;
                     }
                   }
                   if (op == ReduceOp::Mean) acc /= double(std::max<int64_t>(1, n_red));
                   po[o] = T(acc);
                 }
               });
}

void reduce(ReduceOp op, const Tensor& x, Tensor& out) {
  if (x.dtype() == DType::Float32)
    reduce_t<float>(op, x, out);
  else if (x.dtype() == DType::Float64)
    reduce_t<double>(op, x, out);
  else
    throw Error("reduce: needs a floating tensor");
}

}  // namespace

void register_reduce() {
  reduce_kernel.set(DeviceType::CPU, &reduce);
}

}  // namespace ng::cpu
