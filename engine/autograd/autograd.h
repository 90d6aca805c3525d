// Reverse-mode automatic differentiation over a recorded graph.
//
// Every op that produces a tensor from inputs that require grad records a Node on its output:
// the inputs (the edges gradients flow to) and a backward closure over what the forward saved.
//   Tensor y = ...;                       // forward computed
//   if (autograd::should_record({&x, &w}))
//     autograd::record(y, "Linear", {x, w}, [x, w](const Tensor& gy) {
//       return std::vector<Tensor>{matmul(gy, w), matmul(gy.transpose(0, 1), x)};
//     });
// Tensor::backward() walks the graph in reverse topological order, accumulates gradients that
// meet at a tensor, and adds leaf gradients into Tensor::grad() (accumulating across calls
// until zero_grad()). The graph is released as it is consumed. Backward closures run with
// grad mode off, so they may call any op freely.
#pragma once

#include <functional>
#include <initializer_list>
#include <vector>

#include "engine/core/tensor.h"

namespace ng::autograd {

// Gradients for each input, aligned with Node::inputs; an undefined tensor means "none".
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_out)>;

// Where a gradient goes: the input's autograd record (null when the input needs no gradient)
// and its shape. An edge holds no tensor data (NOTE [Graph holds no data] in core/tensor.h).
struct Edge {
  std::shared_ptr<AutogradMeta> meta;
  Shape shape;
};

struct Node {
  const char* name;
  std::vector<Edge> inputs;
  BackwardFn backward;
};

bool grad_enabled();

// Evaluation scope: no graph is recorded while one is alive (per thread).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when grad mode is on and any input requires grad.
bool should_record(std::initializer_list<const Tensor*> inputs);
bool should_record(const std::vector<Tensor>& inputs);

// Marks `out` as produced by `name` from `inputs`, with `fn` as its backward.
void record(Tensor& out, const char* name, std::vector<Tensor> inputs, BackwardFn fn);

// Runs backward from `root` seeded with `grad` (ones for a scalar root when undefined).
void run_backward(const Tensor& root, const Tensor& grad);

// True when g is run_backward's own seed of ones (a scalar root without a given gradient), so a
// backward closure may skip multiplying by it.
bool is_unit_seed(const Tensor& g);

// NOTE [Gradients added in place by the kernel]: while a node's backward closure runs, the
// gradient already waiting for its input k (another reader's share, e.g. a residual block's
// shortcut), when that slot alone holds it; undefined otherwise (and outside a closure). A closure
// whose kernel can add its result into memory (cuDNN's beta = 1) may add input k's gradient into
// it and return that same tensor for input k: autograd then adds nothing, and the separate sum
// (a read of both and a write) is gone. Returned for one input only if no other input of the
// node is the same tensor.
Tensor accumulation_target(size_t k);

}  // namespace ng::autograd
