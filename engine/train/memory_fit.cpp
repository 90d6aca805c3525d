#include "engine/train/memory_fit.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "engine/autograd/autograd.h"
#include "engine/core/allocator.h"
#include "engine/core/error.h"
#include "engine/core/format.h"
#include "engine/core/rng.h"
#include "engine/ops/elementwise.h"
#include "engine/train/trainer.h"

namespace ng::train {

namespace {

// Everything of the model's state that a measuring step would change, put back on destruction.
class ModelStateGuard {
 public:
  explicit ModelStateGuard(Model& m)
      : m_(m), mode_(m.mode()), keep_(m.keep_outputs()), rng_(m.rng()) {
    autograd::NoGradGuard no_grad;
    for (const auto& [name, b] : m.buffers()) buffers_.push_back(b.clone());
    for (const auto& [name, p] : m.parameters()) grads_.push_back(p.grad());
    m.zero_grad();  // the measuring backward makes new gradients, not sums into these
  }
  ~ModelStateGuard() {
    try {
      restore();
    } catch (...) {  // a device failing now leaves the buffers as the measurement left them
    }
  }
  void restore() {
    // Host-side state first (a device failing below must not leave it changed).
    m_.rng() = rng_;
    m_.set_keep_outputs(keep_);
    m_.set_mode(mode_);
    const auto& params = m_.parameters();
    for (size_t i = 0; i < params.size() && i < grads_.size(); ++i) {
      Tensor p = params[i].second;
      if (grads_[i].defined())
        p.set_grad(grads_[i]);
      else
        p.zero_grad();
    }
    autograd::NoGradGuard no_grad;  // the running statistics: copies on the device
    const auto& bufs = m_.buffers();
    for (size_t i = 0; i < bufs.size() && i < buffers_.size(); ++i) {
      Tensor b = bufs[i].second;
      copy_(b, buffers_[i]);
    }
  }
  ModelStateGuard(const ModelStateGuard&) = delete;
  ModelStateGuard& operator=(const ModelStateGuard&) = delete;

 private:
  Model& m_;
  Mode mode_;
  bool keep_;
  Rng rng_;
  std::vector<Tensor> buffers_, grads_;
};

// Peak bytes of one forward + loss + backward at `batch`, counted from nothing allocated: the
// second of two runs, so that algorithm searches and first-use buffers are done.
size_t step_peak(Model& model, int64_t batch) {
  Allocator& a = allocator(model.device());
  size_t peak = 0;
  for (int run = 0; run < 2; ++run) {
    model.zero_grad();
    a.release_cache();
    a.reset_peak();
    {
      RandomBatch rb = random_batch(model, batch, 1234 + uint64_t(batch));
      Model::Result r;
      model.forward({rb.x}, rb.y, r);
      NG_CHECK(r.loss.defined(), "the graph computes no loss");
      r.outputs.clear();  // as TrainStep does: per-node outputs would live through backward
      r.loss.backward();
      (void)r.loss.item();  // waits for a device to finish
    }
    model.zero_grad();
    peak = a.peak_bytes_in_use();
  }
  a.release_cache();
  return peak;
}

}  // namespace

RandomBatch random_batch(const Model& model, int64_t batch, uint64_t seed) {
  const GraphAnalysis& an = model.analysis();
  NG_CHECK(an.input_nodes.size() == 1, "the graph has ", an.input_nodes.size(),
           " Input nodes; random inputs are made for exactly one");
  NG_CHECK(an.loss_node >= 0, "the graph has no loss node");
  auto batch_shape = [&](const Shape& s) {
    Shape r = s;
    if (!r.empty()) r[0] = batch;
    return r;
  };
  const NodeInfo& in = an.nodes[size_t(an.input_nodes[0])];
  NG_CHECK(!in.outputs.empty() && in.outputs[0], "Input '", in.id, "': its shape is not known");
  Rng rng(seed);
  RandomBatch rb;
  const TensorType& it = *in.outputs[0];
  rb.x = it.dtype == DType::Int64 ? Tensor::zeros(batch_shape(it.shape), DType::Int64)
                                  : Tensor::randn(batch_shape(it.shape), rng, it.dtype);
  const NodeInfo& loss = an.nodes[size_t(an.loss_node)];
  const PortLink& pl = loss.inputs.at(0).at(0);
  const auto& pred_type = an.nodes[size_t(pl.node)].outputs[size_t(pl.port)];
  NG_CHECK(pred_type.has_value(), "loss '", loss.id, "': the shape it is given is not known");
  const Shape pred = batch_shape(pred_type->shape);
  if (loss.type == "CrossEntropyLoss") {
    const int64_t classes = pred.size() >= 2 ? pred[1] : 2;
    std::vector<int64_t> lab(static_cast<size_t>(batch));
    for (auto& l : lab) l = int64_t(rng.randint(uint64_t(classes)));
    rb.y = Tensor::from_vector(lab, {batch});
  } else {
    rb.y = Tensor::uniform(pred, 0.0, 1.0, rng);
  }
  rb.x = rb.x.to(model.device());
  rb.y = rb.y.to(model.device());
  return rb;
}

BatchFit fit_batch_size(Model& model, size_t capacity_bytes, size_t pending_state_bytes,
                        int64_t failed_batch, int64_t probe) {
  NG_CHECK(probe >= 1, "fit_batch_size: probe must be >= 1");
  ModelStateGuard guard(model);
  model.set_mode(Mode::Train);
  // As the Trainer's steps run: on a GPU each activation is dropped after its last reader.
  if (model.device().is_cuda()) model.set_keep_outputs(false);
  const double share = kFitShare * double(capacity_bytes);

  BatchFit f;
  f.capacity_bytes = capacity_bytes;
  f.host = !model.device().is_cuda();
  // The estimate: a line through two small batches.
  int64_t b1 = probe;
  size_t p1 = 0, p2 = 0;
  bool line = false;
  for (;;) {
    try {
      p1 = step_peak(model, b1);
      p2 = step_peak(model, 2 * b1);
      line = true;
      break;
    } catch (const OutOfMemoryError&) {
      if (b1 == 1) break;  // not even two examples: the check below tries one
      b1 = 1;
    }
  }
  const int64_t cap = std::min<int64_t>(failed_batch > 1 ? failed_batch - 1 : kMaxBatch, kMaxBatch);
  int64_t candidate = 1;
  if (line && p2 > p1) {
    f.per_example_bytes = (double(p2) - double(p1)) / double(b1);
    f.fixed_bytes =
        std::max(0.0, double(p1) - f.per_example_bytes * double(b1)) + double(pending_state_bytes);
    const double room = share - f.fixed_bytes;
    f.max_batch = room > 0 ? int64_t(std::min(std::floor(room / f.per_example_bytes), 1e15)) : 0;
    candidate = std::clamp<int64_t>(f.max_batch, 1, cap);
  } else if (line) {
    candidate = cap;  // no growth seen at small batches: the check below finds the size
  }
  // The check: the step measured at the candidate (a power of two), halved until it fits. The
  // line runs low where the peak moves from the end of backward (small batches: weight
  // gradients) to its start (large ones: every activation alive), so it is never trusted alone.
  int64_t b = 1;
  while (b * 2 <= candidate) b *= 2;
  for (; b >= 1; b /= 2) {
    try {
      if (double(step_peak(model, b)) + double(pending_state_bytes) <= share) {
        f.batch = b;
        break;
      }
    } catch (const OutOfMemoryError&) {
    }
  }
  if (f.max_batch < f.batch) f.max_batch = f.batch;
  return f;
}

std::string BatchFit::describe(int64_t failed_batch) const {
  const std::string of = human_bytes(double(capacity_bytes)) +
                         (host ? " the machine can hold" : " the device can hold");
  const std::string need = per_example_bytes > 0
                               ? "the step takes about " + human_bytes(fixed_bytes) + " plus " +
                                     human_bytes(per_example_bytes) + " per example, of " + of
                               : "measured against the " + of;
  if (batch == 0)
    return "Not even a batch of 1 fits (" + need + "): the model is too large for this " +
           (host ? "machine; make it smaller." : "device; make it smaller or train on the CPU.");
  std::string s = "A batch of " + std::to_string(batch) + " fits (" + need + ")";
  if (failed_batch > 0) s += "; " + std::to_string(failed_batch) + " did not";
  s += ". Set the batch size in Training settings (training.batch_size in the project file).";
  return s;
}

size_t pending_optimizer_state_bytes(const Optimizer& opt, const OptimizerSpec& spec) {
  // Buffers per parameter: those a throwaway optimiser of the same kind makes for a one-element
  // parameter in one step ("step" is a count, not a buffer).
  Tensor probe = Tensor::zeros({1}).set_requires_grad(true);
  probe.set_grad(Tensor::zeros({1}));
  std::unique_ptr<Optimizer> o = make_optimizer(spec, {probe});
  o->step();
  size_t buffers = 0;
  for (const auto& [name, t] : o->state(0))
    if (name != "step" && t.numel() == 1) ++buffers;
  // Those a parameter lacks (a first step that ran out part-way has made some, or none).
  size_t bytes = 0;
  for (size_t i = 0; i < opt.params().size(); ++i) {
    const Tensor& p = opt.params()[i];
    size_t have = 0;
    for (const auto& [name, t] : opt.state(i))
      if (name != "step" && t.numel() == p.numel()) ++have;
    if (have < buffers) bytes += (buffers - have) * p.nbytes();
  }
  return bytes;
}

}  // namespace ng::train
