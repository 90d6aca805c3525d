#include "engine/ops/shape_ops.h"

#include "engine/autograd/autograd.h"
#include "engine/ops/elementwise.h"

namespace ng {
namespace {

// A view of t restricted to [start, start + len) along axis (shares storage, no autograd).
Tensor slice_view(const Tensor& t, int64_t axis, int64_t start, int64_t len) {
  Shape s = t.shape();
  s[axis] = len;
  return make_view(t, s, t.strides(), t.impl()->offset + start * t.strides()[axis]);
}

// A fresh contiguous copy of a slice (a gradient in a layout of its own: the waiting node's
// kernels walk contiguous memory).
Tensor slice_copy(const Tensor& t, int64_t axis, int64_t start, int64_t len) {
  Tensor v = slice_view(t, axis, start, len);
  Tensor out = Tensor::empty(v.shape(), v.dtype(), v.device());
  copy_(out, v);
  return out;
}

}  // namespace

Tensor concat(const std::vector<Tensor>& xs, int64_t axis, const std::string& who) {
  NG_CHECK(!xs.empty(), who, ": needs at least one input");
  for (size_t i = 0; i < xs.size(); ++i)
    NG_CHECK(xs[i].defined(), who, ": input ", i, " is undefined");
  const Tensor& x0 = xs[0];
  NG_CHECK_SHAPE(x0.dim() >= 1, who, ": cannot concatenate scalars");
  const int64_t ax = normalize_axis(axis, x0.dim(), who.c_str());
  Shape out_shape = x0.shape();
  out_shape[ax] = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const Tensor& x = xs[i];
    NG_CHECK(x.dtype() == x0.dtype(), who, ": input ", i, " is ", dtype_name(x.dtype()),
             " but input 0 is ", dtype_name(x0.dtype()));
    NG_CHECK(x.device() == x0.device(), who, ": input ", i, " is on ", x.device().str(),
             " but input 0 is on ", x0.device().str());
    bool fits = x.dim() == x0.dim();
    for (int64_t d = 0; fits && d < x.dim(); ++d) fits = d == ax || x.shape()[d] == x0.shape()[d];
    NG_CHECK_SHAPE(fits, who, ": input ", i, " has shape ", shape_str(x.shape()),
                   " but input 0 has shape ", shape_str(x0.shape()), "; all dims except axis ", ax,
                   " must match");
    out_shape[ax] += x.shape()[ax];
  }

  // xs[i]: [..., n_i, ...] -> out: [..., sum n_i, ...]; each input is copied into its slice.
  Tensor out = Tensor::empty(out_shape, x0.dtype(), x0.device());
  std::vector<int64_t> sizes;
  int64_t start = 0;
  for (const Tensor& x : xs) {
    const int64_t n = x.shape()[ax];
    Tensor dst = slice_view(out, ax, start, n);
    copy_(dst, x);
    sizes.push_back(n);
    start += n;
  }
  if (autograd::should_record(xs)) {
    std::vector<bool> need;
    for (const Tensor& x : xs) need.push_back(x.requires_grad());
    autograd::record(out, "Concat", xs, [ax, sizes, need](const Tensor& g) {
      // g: [..., sum n_i, ...] -> one slice per input
      std::vector<Tensor> gs(sizes.size());
      int64_t s = 0;
      for (size_t i = 0; i < sizes.size(); ++i) {
        if (need[i]) gs[i] = slice_copy(g, ax, s, sizes[i]);
        s += sizes[i];
      }
      return gs;
    });
  }
  return out;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis,
                          const std::string& who) {
  NG_CHECK(x.defined(), who, ": the input is undefined");
  NG_CHECK_SHAPE(x.dim() >= 1, who, ": cannot split a scalar");
  NG_CHECK(!sizes.empty(), who, ": needs at least one part size");
  const int64_t ax = normalize_axis(axis, x.dim(), who.c_str());
  int64_t total = 0;
  for (int64_t s : sizes) {
    NG_CHECK(s >= 0, who, ": part sizes must be non-negative, got ", s);
    total += s;
  }
  NG_CHECK_SHAPE(total == x.shape()[ax], who, ": part sizes sum to ", total, " but axis ", ax,
                 " of input shape ", shape_str(x.shape()), " has size ", x.shape()[ax]);

  // x: [..., sum n_i, ...] -> parts: [..., n_i, ...], views sharing x's storage.
  const bool rec = autograd::should_record({&x});
  std::vector<Tensor> parts;
  int64_t start = 0;
  for (int64_t n : sizes) {
    Tensor part = slice_view(x, ax, start, n);
    if (rec) {
      Shape xs = x.shape();
      autograd::record(part, "Split", {x}, [xs, ax, start, n](const Tensor& g) {
        // g: [..., n, ...] placed in zeros of x's shape
        Tensor gx = Tensor::zeros(xs, g.dtype(), g.device());
        Tensor dst = slice_view(gx, ax, start, n);
        copy_(dst, g);
        return std::vector<Tensor>{gx};
      });
    }
    parts.push_back(part);
    start += n;
  }
  return parts;
}

Tensor embedding(const Tensor& ids, const Tensor& table, const std::string& who) {
  NG_CHECK(ids.defined() && table.defined(), who, ": ids or table are undefined");
  NG_CHECK(ids.dtype() == DType::Int64, who, ": ids must be int64, got ", dtype_name(ids.dtype()));
  NG_CHECK(is_floating(table.dtype()), who, ": the table must be floating, got ",
           dtype_name(table.dtype()));
  NG_CHECK_SHAPE(table.dim() == 2, who, ": the table has shape ", shape_str(table.shape()),
                 ", expected [V, D]");
  NG_CHECK(ids.device() == table.device(), who, ": ids are on ", ids.device().str(),
           " but the table is on ", table.device().str());
  const int64_t V = table.size(0), D = table.size(1);
  // Ids are validated on the host (a copy only when they live on a device).
  Tensor ic = ids.to(Device::cpu()).contiguous();
  const int64_t* pi = ic.data<int64_t>();
  for (int64_t i = 0; i < ic.numel(); ++i)
    if (pi[i] < 0 || pi[i] >= V)
      throw ValueError(detail::concat(who, ": id ", pi[i], " at position ", i,
                                      " is out of range for a table of ", V, " rows (V = ", V,
                                      ")"));

  // ids: [...] -> y: [..., D]
  Tensor idc = ids.contiguous().detach();
  Tensor tc = table.contiguous().detach();
  Shape ys = ids.shape();
  ys.push_back(D);
  Tensor y = Tensor::empty(ys, table.dtype(), table.device());
  embedding_forward_kernel(table.device())(idc, tc, y);
  if (autograd::should_record({&table})) {
    autograd::record(y, "Embedding", {table}, [idc, V, D](const Tensor& g) {
      // g: [..., D] scatter-added into gtable: [V, D]
      Tensor gt = Tensor::zeros({V, D}, g.dtype(), g.device());
      embedding_backward_kernel(g.device())(idc, g.contiguous(), gt);
      return std::vector<Tensor>{gt};
    });
  }
  return y;
}

}  // namespace ng
