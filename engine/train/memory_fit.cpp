#include "engine/train/memory_fit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>
#include <vector>

#include "engine/autograd/autograd.h"
#include "engine/core/allocator.h"
#include "engine/core/error.h"
#include "engine/core/rng.h"
#include "engine/ops/elementwise.h"
#include "engine/train/trainer.h"

namespace ng::train {

namespace {

std::string size_str(double bytes) {
  char buf[32];
  if (bytes >= double(1 << 30))
    std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / double(1 << 30));
  else if (bytes >= double(1 << 20))
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / double(1 << 20));
  else
    std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / double(1 << 10));
  return buf;
}

// Everything of the model's state that a measuring step would change, put back on destruction.
class ModelStateGuard {
 public:
  explicit ModelStateGuard(Model& m)
      : m_(m), mode_(m.mode()), keep_(m.keep_outputs()), rng_(m.rng()) {
    autograd::NoGradGuard no_grad;
    for (const auto& [name, b] : m.buffers()) buffers_.push_back(b.clone());
    for (const auto& [name, p] : m.parameters()) {
      grads_.push_back(p.grad());
      Tensor(p).zero_grad();  // the measuring backward makes new gradients, not sums into these
    }
  }
  ~ModelStateGuard() {
    try {
      restore();
    } catch (...) {  // a device failing now leaves the buffers as the measurement left them
    }
  }
  void restore() {
    autograd::NoGradGuard no_grad;
    const auto& bufs = m_.buffers();
    for (size_t i = 0; i < bufs.size() && i < buffers_.size(); ++i) {
      Tensor b = bufs[i].second;
      copy_(b, buffers_[i]);
    }
    const auto& params = m_.parameters();
    for (size_t i = 0; i < params.size() && i < grads_.size(); ++i) {
      Tensor p = params[i].second;
      if (grads_[i].defined())
        p.set_grad(grads_[i]);
      else
        p.zero_grad();
    }
    m_.rng() = rng_;
    m_.set_keep_outputs(keep_);
    m_.set_mode(mode_);
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
    for (const auto& [name, p] : model.parameters()) Tensor(p).zero_grad();
    a.release_cache();
    a.reset_peak();
    {
      RandomBatch rb = random_batch(model, batch, 1234 + uint64_t(batch));
      Model::Result r;
      model.forward({rb.x}, rb.y, r);
      NG_CHECK(r.loss.defined(), "the graph computes no loss");
      r.loss.backward();
      (void)r.loss.item();  // waits for a device to finish
    }
    for (const auto& [name, p] : model.parameters()) Tensor(p).zero_grad();
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
                        int64_t probe) {
  NG_CHECK(probe >= 1, "fit_batch_size: probe must be >= 1");
  ModelStateGuard guard(model);
  model.set_mode(Mode::Train);
  // As the Trainer's steps run: on a GPU each activation is dropped after its last reader.
  if (model.device().is_cuda()) model.set_keep_outputs(false);

  BatchFit f;
  f.capacity_bytes = capacity_bytes;
  int64_t b1 = probe;
  size_t p1 = 0, p2 = 0;
  for (;;) {
    try {
      p1 = step_peak(model, b1);
      p2 = step_peak(model, 2 * b1);
      break;
    } catch (const OutOfMemoryError&) {
      if (b1 == 1) throw;  // not even one or two examples: the caller keeps its own message
      b1 = 1;
    }
  }
  // Two points of a straight line; a flat or falling one (noise at tiny batches) counts the
  // larger peak as fixed and the difference as at least one byte per example.
  const double slope = std::max(1.0, (double(p2) - double(p1)) / double(b1));
  f.per_example_bytes = slope;
  f.fixed_bytes = std::max(0.0, double(p1) - slope * double(b1)) + double(pending_state_bytes);
  const double room = kFitShare * double(capacity_bytes) - f.fixed_bytes;
  f.max_batch = room > 0 ? int64_t(std::floor(room / slope)) : 0;
  f.batch = 0;
  if (f.max_batch >= 1) {
    f.batch = 1;
    while (f.batch * 2 <= f.max_batch) f.batch *= 2;
  }
  return f;
}

std::string BatchFit::describe(int64_t failed_batch) const {
  const std::string need = "the step takes about " + size_str(fixed_bytes) + " plus " +
                           size_str(per_example_bytes) + " per example, of " +
                           size_str(double(capacity_bytes)) + " the device can hold";
  if (batch == 0)
    return "Not even a batch of 1 fits" +
           (per_example_bytes > 0
                ? " (" + need + ")"
                : " in the " + size_str(double(capacity_bytes)) + " the device can hold") +
           ": the model is too large for this device; make it smaller or train on the CPU.";
  std::string s = "A batch of " + std::to_string(batch) + " fits (" + need;
  if (max_batch > batch) s += "; up to about " + std::to_string(max_batch);
  s += ")";
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
  size_t bytes = 0;
  for (size_t i = 0; i < opt.params().size(); ++i)
    if (opt.state(i).empty()) bytes += buffers * opt.params()[i].nbytes();
  return bytes;
}

}  // namespace ng::train
