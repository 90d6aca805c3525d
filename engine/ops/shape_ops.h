// Concatenation, splitting and embedding lookup, differentiable.
//   Tensor c = ng::concat({a, b}, 1);              // [N, 2, H, W] + [N, 3, H, W] -> [N, 5, H, W]
//   std::vector<Tensor> parts = ng::split(c, {2, 3}, 1);
//   Tensor e = ng::embedding(ids, table);          // ids: Int64 [...], table: [V, D] -> [..., D]
#pragma once

#include <string>
#include <vector>

#include "engine/core/tensor.h"
#include "engine/ops/dispatch.h"

namespace ng {

Tensor concat(const std::vector<Tensor>& xs, int64_t axis, const std::string& who = "Concat");
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t axis,
                          const std::string& who = "Split");
Tensor embedding(const Tensor& ids, const Tensor& table, const std::string& who = "Embedding");

// Embedding kernels: gather rows of table [V, D] for ids; backward scatter-adds gy into gtable
// (zeroed by the op).
using EmbeddingForwardFn = void(const Tensor& ids, const Tensor& table, Tensor& y);
using EmbeddingBackwardFn = void(const Tensor& ids, const Tensor& gy, Tensor& gtable);
NG_KERNEL_TABLE(embedding_forward_kernel, EmbeddingForwardFn);
NG_KERNEL_TABLE(embedding_backward_kernel, EmbeddingBackwardFn);

}  // namespace ng
