// CUDA reduction kernel (sum, mean, max, min over any set of axes of a tensor with any strides).
// As on the CPU (ops/cpu/reduce_cpu.cpp) every output element is the reduction of its slice in
// double; max/min skip NaN the same way (acc = acc < v ? v : acc). Short slices take 8 threads
// per output (very short ones one thread); long ones one block per output with a fixed-order
// block sum (deterministic).
#include <math_constants.h>

#include "engine/ops/cuda/kernels.cuh"
#include "engine/ops/reduce.h"

namespace ng::cuda {
namespace {

__device__ __forceinline__ double reduce_init(ReduceOp op) {
  return op == ReduceOp::Max ? -CUDART_INF : op == ReduceOp::Min ? CUDART_INF : 0.0;
}

__device__ __forceinline__ double reduce_step(ReduceOp op, double acc, double v) {
  if (op == ReduceOp::Max) return acc < v ? v : acc;
  if (op == ReduceOp::Min) return v < acc ? v : acc;
  return acc + v;
}

// One thread per output element o: out[o] = reduce over the n_red elements of its slice.
// kept: offsets in x of the outputs; red: offsets within a slice.
template <class T>
__global__ void reduce_thread_kernel(ReduceOp op, int64_t n_out, int64_t n_red, Strided<1> kept,
                                     Strided<1> red, const T* x, T* out) {
  NG_GRID_STRIDE(o, n_out) {
    int64_t base[1];
    kept.offsets(o, base);
    double acc = reduce_init(op);
    for (int64_t k = 0; k < n_red; ++k) {
      int64_t off[1];
      red.offsets(k, off);
      acc = reduce_step(op, acc, double(x[base[0] + off[0]]));
    }
    if (op == ReduceOp::Mean) acc /= double(n_red > 0 ? n_red : 1);
    out[o] = T(acc);
  }
}

// Short slices (n_red < 128), e.g. a Linear layer's bias gradient, the sum over the batch of
// [64, 120]: a block of 32 outputs x 8 lanes of the slice. Threads side by side take adjacent
// outputs (coalesced when the kept axis is the innermost), each of the 8 lanes reads every 8th
// element of the slice, and lane 0 combines the 8 partial results in a fixed order
// (deterministic). One thread per output walking the whole slice, with a 64-bit division per
// element, took ~40 us for that bias gradient on an H200 (a third of a LeNet step).
constexpr int kColLanes = 8;

template <class T>
__global__ void reduce_cols_kernel(ReduceOp op, int64_t n_out, int64_t n_red, Strided<1> kept,
                                   Strided<1> red, const T* x, T* out) {
  __shared__ double part[kColLanes][33];
  const int64_t o = int64_t(blockIdx.x) * 32 + threadIdx.x;
  double acc = reduce_init(op);
  if (o < n_out) {
    int64_t base[1];
    kept.offsets(o, base);
    if (red.ndim <= 1) {  // one reduced axis (make_strided drops size-1 axes): a plain stride
      const int64_t st = red.ndim == 1 ? red.strides[0][0] : 0;
#pragma unroll 4
      for (int64_t k = threadIdx.y; k < n_red; k += kColLanes)
        acc = reduce_step(op, acc, double(x[base[0] + k * st]));
    } else {
      for (int64_t k = threadIdx.y; k < n_red; k += kColLanes) {
        int64_t off[1];
        red.offsets(k, off);
        acc = reduce_step(op, acc, double(x[base[0] + off[0]]));
      }
    }
  }
  part[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && o < n_out) {
    double r = part[0][threadIdx.x];
    for (int p = 1; p < kColLanes; ++p) r = reduce_step(op, r, part[p][threadIdx.x]);
    if (op == ReduceOp::Mean) r /= double(n_red > 0 ? n_red : 1);
    out[o] = T(r);
  }
}

// Max / min over the block, returned to every thread.
__device__ double block_extreme(ReduceOp op, double v) {
  __shared__ double buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s)
      buf[threadIdx.x] = reduce_step(op, buf[threadIdx.x], buf[threadIdx.x + s]);
    __syncthreads();
  }
  double r = buf[0];
  __syncthreads();
  return r;
}

// One block per output element (grid-stride over outputs), its threads striding the slice.
template <class T>
__global__ void reduce_block_kernel(ReduceOp op, int64_t n_out, int64_t n_red, Strided<1> kept,
                                    Strided<1> red, const T* x, T* out) {
  for (int64_t o = blockIdx.x; o < n_out; o += gridDim.x) {
    int64_t base[1];
    kept.offsets(o, base);
    double acc = reduce_init(op);
    for (int64_t k = threadIdx.x; k < n_red; k += blockDim.x) {
      int64_t off[1];
      red.offsets(k, off);
      acc = reduce_step(op, acc, double(x[base[0] + off[0]]));
    }
    acc = (op == ReduceOp::Sum || op == ReduceOp::Mean) ? block_sum(acc) : block_extreme(op, acc);
    if (threadIdx.x == 0) {
      if (op == ReduceOp::Mean) acc /= double(n_red > 0 ? n_red : 1);
      out[o] = T(acc);
    }
  }
}

void reduce(ReduceOp op, const Tensor& x, Tensor& out) {
  // out has x's rank with size 1 at the reduced axes (and is contiguous): split x's axes into
  // kept ones (the outputs, in out's order) and reduced ones (each output's slice).
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
  const int64_t n_out = numel(kept_shape), n_red = numel(red_shape);
  if (n_out == 0) return;
  auto kept = make_strided<1>(kept_shape, {kept_st});
  auto red = make_strided<1>(red_shape, {red_st});
  dispatch_floating(x.dtype(), "reduce", [&]<class T>() {
    if (n_red >= 128) {
      const unsigned blocks = unsigned(std::min<int64_t>(n_out, int64_t(1) << 20));
      reduce_block_kernel<T><<<blocks, kThreads, 0, stream()>>>(op, n_out, n_red, kept, red,
                                                                x.data<T>(), out.data<T>());
    } else if (n_red >= 4 && (n_out + 31) / 32 <= int64_t(0x7fffffff)) {
      const unsigned blocks = unsigned((n_out + 31) / 32);
      reduce_cols_kernel<T><<<blocks, dim3(32, kColLanes), 0, stream()>>>(
          op, n_out, n_red, kept, red, x.data<T>(), out.data<T>());
    } else {
      reduce_thread_kernel<T><<<grid_for(n_out), kThreads, 0, stream()>>>(
          op, n_out, n_red, kept, red, x.data<T>(), out.data<T>());
    }
    NG_CUDA_CHECK_LAUNCH("reduce kernel");
  });
}

}  // namespace

void register_reduce() {
  reduce_kernel.set(DeviceType::CUDA, &reduce);
}

}  // namespace ng::cuda
