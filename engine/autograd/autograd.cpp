#include "engine/autograd/autograd.h"

#include <map>
#include <mutex>
#include <unordered_map>
#include <unordered_set>

#include "engine/ops/cuda/backend.h"
#include "engine/ops/elementwise.h"

namespace ng::autograd {
namespace {
thread_local bool t_grad_enabled = true;
}

bool grad_enabled() {
  return t_grad_enabled;
}

NoGradGuard::NoGradGuard() : prev_(t_grad_enabled) {
  t_grad_enabled = false;
}
NoGradGuard::~NoGradGuard() {
  t_grad_enabled = prev_;
}

bool should_record(std::initializer_list<const Tensor*> inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && t->defined() && t->requires_grad()) return true;
  return false;
}

bool should_record(const std::vector<Tensor>& inputs) {
  if (!t_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

void record(Tensor& out, const char* name, std::vector<Tensor> inputs, BackwardFn fn) {
  auto node = std::make_shared<Node>();
  node->name = name;
  node->inputs.reserve(inputs.size());
  for (const Tensor& t : inputs)
    node->inputs.push_back(t.defined() && t.requires_grad() ? Edge{t.impl()->autograd, t.shape()}
                                                            : Edge{});
  node->backward = std::move(fn);
  auto meta = std::make_shared<AutogradMeta>();
  meta->requires_grad = true;
  meta->grad_fn = std::move(node);
  out.impl()->autograd = std::move(meta);
}

namespace {

// A copy of g in memory of its own, in g's layout (contiguous or channels-last).
std::shared_ptr<TensorImpl> owned_copy(const Tensor& g) {
  Tensor own = Tensor::empty(g.shape(), g.dtype(), g.device(), g.memory_format());
  copy_(own, g);
  return own.impl();
}

// Adds g into a parameter's gradient (a leaf's slot), taking ownership when the slot is empty.
// The slot must own its memory: the optimiser and gradient clipping write it in place, and the
// next step accumulates into it. g may come from a weight-gradient branch of a captured step,
// which the compute stream must join before a kernel reads g (NOTE [Weight-gradient branches]).
void accumulate_leaf(std::shared_ptr<TensorImpl>& slot, const Tensor& g) {
  if (!slot) {
    // A gradient may alias another tensor: Add passes grad_out through to both inputs, which a
    // waiting node's slot may hold too (NOTE [Shared pending gradients]), and backward(gin) on a
    // parameter hands over the caller's gin. Only a tensor nothing else holds (its one holder is
    // the closure's result, or backward's own) is taken as it is.
    const bool exclusive = g.impl().use_count() == 1 && g.impl()->storage.use_count() == 1;
    // A channels-last gradient stays so (NOTE [Channels-last]).
    if (exclusive && (g.is_contiguous() || g.is_channels_last())) {
      slot = g.impl();
      return;
    }
    cuda_join_branches();
    slot = owned_copy(g);
    return;
  }
  cuda_join_branches();
  Tensor s(slot);
  add_(s, g);
}

// NOTE [Shared pending gradients]: the gradient waiting for a node's backward may be shared: Add
// hands the same tensor to both of its inputs (a residual block's shortcut and its last layer),
// Flatten a view of the one it got. The slot takes it as it is, without a copy, since backward
// closures only read their incoming gradient. A second gradient for the same slot is added in
// place only when the slot is the tensor's one holder (then nothing else sees the write), and
// otherwise into a new tensor. Only a layout the closures cannot walk (neither contiguous nor
// channels-last) is copied.
void accumulate_pending(std::shared_ptr<TensorImpl>& slot, const Tensor& g) {
  if (!slot) {
    slot = g.is_contiguous() || g.is_channels_last() ? g.impl() : owned_copy(g);
    return;
  }
  Tensor s(slot);
  const bool alone = slot.use_count() == 2 && slot->storage.use_count() == 1;  // slot and s
  if (alone) {
    add_(s, g);
  } else {
    slot = add(s, g).impl();
  }
}

// The seed of backward() on a scalar: a 1 of the root's dtype on its device, made once per
// (device, dtype) and kept for the process, so that a step's backward starts without a fill
// kernel (a node of a captured CUDA graph). The cache keeps a reference to its storage, so it is
// never written in place: a parameter's slot copies it, and a pending gradient adds into a new
// tensor (NOTE [Shared pending gradients]). While a CUDA graph is captured no new one is made
// (its memory would belong to the graph's pool): the seed is then filled as part of the capture.
std::mutex& seed_mu() {
  static std::mutex mu;
  return mu;
}
std::map<std::pair<std::string, DType>, Tensor>& seed_cache() {
  static auto* cache = new std::map<std::pair<std::string, DType>, Tensor>();  // never freed
  return *cache;
}

Tensor ones_seed(const Tensor& root) {
  auto* cache = &seed_cache();
  const std::pair<std::string, DType> key{root.device().str(), root.dtype()};
  std::lock_guard<std::mutex> lock(seed_mu());
  auto it = cache->find(key);
  if (it == cache->end()) {
    if (root.device().is_cuda() && cuda_capturing())
      return Tensor::ones(root.shape(), root.dtype(), root.device());
    it = cache->emplace(key, Tensor::ones({}, root.dtype(), root.device())).first;
  }
  return it->second.reshape(root.shape());
}

}  // namespace

namespace {
// The gradients waiting for each record's backward (run_backward's).
using Pending = std::unordered_map<AutogradMeta*, std::shared_ptr<TensorImpl>>;

// NOTE [Gradients added in place by the kernel]: the node whose closure runs, the waiting
// gradients, and the ones handed to the closure per input (looked up only when a closure asks).
// A result is taken as added in place only when it is the tensor handed out for that input: the
// same tensor may also arrive shared (Add's pass-through), and is then added as usual.
thread_local const Node* t_node = nullptr;
thread_local Pending* t_pending = nullptr;
thread_local std::vector<TensorImpl*> t_given;

// While a node's closure runs (also when it throws); a backward run inside a closure gets its
// own, and the outer one's comes back after it.
struct TargetsScope {
  const Node* node;
  Pending* pending;
  std::vector<TensorImpl*> given;
  TargetsScope(const Node* n, Pending* p)
      : node(t_node), pending(t_pending), given(std::move(t_given)) {
    t_node = n;
    t_pending = p;
    t_given.clear();
  }
  ~TargetsScope() {
    t_node = node;
    t_pending = pending;
    t_given = std::move(given);
  }
};
}  // namespace

Tensor accumulation_target(size_t k) {
  if (!t_node || !t_pending || k >= t_node->inputs.size()) return Tensor();
  const Edge& in = t_node->inputs[k];
  if (!in.meta || !in.meta->grad_fn || !in.meta->requires_grad) return Tensor();
  for (size_t j = 0; j < t_node->inputs.size(); ++j)
    if (j != k && t_node->inputs[j].meta == in.meta) return Tensor();  // an input read twice
  auto slot = t_pending->find(in.meta.get());
  if (slot == t_pending->end() || !slot->second || slot->second.use_count() != 1 ||
      slot->second->storage.use_count() != 1)
    return Tensor();
  if (t_given.size() < t_node->inputs.size()) t_given.resize(t_node->inputs.size(), nullptr);
  t_given[k] = slot->second.get();
  return Tensor(slot->second);
}

bool is_unit_seed(const Tensor& g) {
  if (!g.defined() || g.numel() != 1) return false;
  std::lock_guard<std::mutex> lock(seed_mu());
  const auto& cache = seed_cache();
  auto it = cache.find({g.device().str(), g.dtype()});
  return it != cache.end() && it->second.impl()->storage == g.impl()->storage;
}

void run_backward(const Tensor& root, const Tensor& grad_in) {
  NG_CHECK(root.requires_grad(), "backward: the tensor does not require grad (no parameter ",
           "or input that requires grad was used to compute it)");
  Tensor grad = grad_in;
  if (!grad.defined()) {
    NG_CHECK(root.numel() == 1, "backward: a gradient must be given for a non-scalar tensor of ",
             "shape ", shape_str(root.shape()));
    grad = ones_seed(root);
  }
  NG_CHECK_SHAPE(grad.shape() == root.shape(), "backward: gradient shape ", shape_str(grad.shape()),
                 " does not match tensor shape ", shape_str(root.shape()));

  // Topological order over the autograd records that carry a grad_fn (iterative DFS,
  // post-order). `order` holds strong references: releasing a consumed node frees its inputs'
  // records otherwise.
  const std::shared_ptr<AutogradMeta>& root_meta = root.impl()->autograd;
  if (!root_meta->grad_fn) {  // backward on a leaf
    accumulate_leaf(root_meta->grad, grad);
    return;
  }
  std::vector<std::shared_ptr<AutogradMeta>> order;
  std::unordered_set<AutogradMeta*> seen;
  std::vector<std::pair<std::shared_ptr<AutogradMeta>, size_t>> stack;
  stack.push_back({root_meta, 0});
  seen.insert(root_meta.get());
  while (!stack.empty()) {
    auto& [t, i] = stack.back();
    auto& ins = t->grad_fn->inputs;
    if (i < ins.size()) {
      const std::shared_ptr<AutogradMeta>& c = ins[i++].meta;
      if (c && c->grad_fn && c->requires_grad && seen.insert(c.get()).second)
        stack.push_back({c, 0});
    } else {
      order.push_back(std::move(t));
      stack.pop_back();
    }
  }

  // Backward closures compute with ordinary ops; nothing they do is recorded (no double
  // backward), so the pass allocates no graph of its own.
  NoGradGuard no_grad;
  Pending pending;
  pending[root_meta.get()] = grad.impl();
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    AutogradMeta* t = it->get();
    auto pit = pending.find(t);
    if (pit == pending.end()) continue;
    Tensor g(pit->second);
    pending.erase(pit);
    std::shared_ptr<Node> node = std::move(t->grad_fn);  // release the graph as we go
    std::vector<Tensor> grads;
    std::vector<TensorImpl*> given;  // NOTE [Gradients added in place by the kernel], per input
    {
      TargetsScope scope(node.get(), &pending);
      grads = node->backward(g);
      given = std::move(t_given);
    }
    // Release the incoming gradient before handing the results on: a closure that returns a view
    // of it (Flatten's reshape, Add's pass-through) then hands over memory nothing else holds,
    // which a parameter's slot can take without a copy (NOTE [Shared pending gradients]).
    g = Tensor();
    for (size_t k = 0; k < node->inputs.size() && k < grads.size(); ++k) {
      const Edge& in = node->inputs[k];
      if (!in.meta || !in.meta->requires_grad || !grads[k].defined()) continue;
      NG_CHECK_SHAPE(grads[k].shape() == in.shape, "backward of ", node->name,
                     ": gradient for input ", k, " has shape ", shape_str(grads[k].shape()),
                     " but the input has shape ", shape_str(in.shape));
      if (k < given.size() && given[k] && grads[k].impl().get() == given[k])
        continue;  // already in its slot
      if (in.meta->grad_fn)
        accumulate_pending(pending[in.meta.get()], grads[k]);
      else
        accumulate_leaf(in.meta->grad, grads[k]);
    }
  }
  // Whoever reads the parameters' gradients next (the optimiser) runs on the compute stream.
  cuda_join_branches();
}

}  // namespace ng::autograd
