#include "engine/train/step_graph.h"

#include <algorithm>

#include "engine/autograd/autograd.h"
#include "engine/ops/elementwise.h"

namespace ng::train {

// One captured batch shape.
struct TrainStep::Entry {
  Shape x_shape, y_shape;
  DType x_dtype = DType::Float32, y_dtype = DType::Int64;
  Mode mode = Mode::Train;
  int64_t seen = 0;
  bool failed = false;  // its capture failed: this shape runs eagerly
  CudaGraph graph;
  Tensor x, y;  // static inputs, read by the graph
  // The graph's own copies of the batch into x and y (CudaGraph::capture_copy), or -1 where the
  // batch is copied by a separate launch before each replay (an input that is not contiguous).
  int64_t x_copy = -1, y_copy = -1;
  std::vector<bool> mask;     // parameters the captured update touches
  std::vector<Tensor> grads;  // their gradients, written by each replay
  Tensor loss, prediction;    // written by each replay
};

TrainStep::TrainStep(Model& model, Optimizer& optimizer, StepOptions options)
    : model_(model), optim_(optimizer), opts_(options) {
  NG_CHECK(opts_.warmup_steps >= 1, "TrainStep: warmup_steps must be >= 1, got ",
           opts_.warmup_steps);
  NG_CHECK(opts_.max_graphs >= 1, "TrainStep: max_graphs must be >= 1, got ", opts_.max_graphs);
  if (model_.device().is_cuda()) {
    uploader_ = std::make_unique<DeviceUploader>();
    graphs_ = opts_.cuda_graphs && cuda_graphs_enabled();
    if (!graphs_)
      disabled_reason_ = opts_.cuda_graphs ? "NG_CUDA_GRAPHS=0" : "turned off by the caller";
  }
}

TrainStep::~TrainStep() = default;

void TrainStep::disable_graphs() {
  if (graphs_) disabled_reason_ = "turned off by the caller";
  graphs_ = false;
  reset();
}

void TrainStep::reset() {
  entries_.clear();
}

void TrainStep::eager(const Tensor& x, const Tensor& y, const Hooks& hooks) {
  optim_.zero_grad();
  model_.forward({x}, y, result_);
  NG_CHECK(result_.loss.defined(), "the loss node '", model_.loss_id(), "' produced no value");
  if (hooks.after_forward) hooks.after_forward(result_);
  // Per-node activations would keep every activation alive through backward.
  result_.outputs.clear();
  result_.loss.backward();
  if (hooks.after_backward) hooks.after_backward();
  optim_.step();
  out_.loss = result_.loss;
  out_.prediction = result_.prediction;
  out_.replayed = false;
}

TrainStep::Entry& TrainStep::entry_for(const Tensor& x, const Tensor& y) {
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    Entry& e = **it;
    if (e.x_shape == x.shape() && e.y_shape == y.shape() && e.x_dtype == x.dtype() &&
        e.y_dtype == y.dtype() && e.mode == model_.mode()) {
      entries_.splice(entries_.begin(), entries_, it);
      return e;
    }
  }
  auto e = std::make_unique<Entry>();
  e->x_shape = x.shape();
  e->y_shape = y.shape();
  e->x_dtype = x.dtype();
  e->y_dtype = y.dtype();
  e->mode = model_.mode();
  entries_.push_front(std::move(e));
  while (int(entries_.size()) > opts_.max_graphs) entries_.pop_back();
  return *entries_.front();
}

void TrainStep::capture(Entry& e, const Tensor& x, const Tensor& y) {
  const Device dev = model_.device();
  // Static inputs outside the capture's pool. The batch is copied into them by the graph's first
  // nodes (one launch per step instead of three), re-pointed at each batch before its replay.
  e.x = Tensor::empty(e.x_shape, e.x_dtype, dev);
  e.y = Tensor::empty(e.y_shape, e.y_dtype, dev);
  const std::vector<int64_t> counts = optim_.step_counts();
  e.graph.begin_capture();
  try {
    auto copy_node = [&](const Tensor& dst, const Tensor& src) -> int64_t {
      return src.is_contiguous() && src.numel() > 0
                 ? int64_t(e.graph.capture_copy(dst.raw_data(), src.raw_data(), src.nbytes()))
                 : -1;
    };
    e.x_copy = copy_node(e.x, x);
    e.y_copy = copy_node(e.y, y);
    optim_.zero_grad();
    model_.forward({e.x}, e.y, result_);
    NG_CHECK(result_.loss.defined(), "the loss node '", model_.loss_id(), "' produced no value");
    result_.outputs.clear();
    result_.loss.backward();
    optim_.step();
    e.graph.end_capture();
  } catch (...) {
    e.graph.abort_capture();
    optim_.set_step_counts(counts);
    optim_.zero_grad();
    result_ = Model::Result();
    throw;
  }
  optim_.set_step_counts(counts);  // the replays count their updates (prepare_replay)
  e.mask = optim_.params_with_grad();
  e.grads.clear();
  for (const Tensor& p : optim_.params()) e.grads.push_back(p.grad());
  e.loss = result_.loss;
  e.prediction = result_.prediction;
  result_ = Model::Result();
  ++captures_;
}

const CudaGraph* TrainStep::latest_graph() const {
  for (const auto& e : entries_)
    if (e->graph.ready()) return &e->graph;
  return nullptr;
}

size_t TrainStep::graph_nodes() const {
  const CudaGraph* g = latest_graph();
  return g ? g->num_nodes() : 0;
}

size_t TrainStep::graph_branches() const {
  const CudaGraph* g = latest_graph();
  return g ? g->branches() : 0;
}

size_t TrainStep::graph_early_joins() const {
  const CudaGraph* g = latest_graph();
  return g ? g->early_joins() : 0;
}

void TrainStep::replay(Entry& e) {
  optim_.prepare_replay(e.mask);
  e.graph.replay();
  ++replays_;
  // The parameters' gradients are the graph's (an eager step in between replaced them).
  const auto& params = optim_.params();
  for (size_t i = 0; i < params.size(); ++i) {
    Tensor p = params[i];
    if (e.grads[i].defined())
      p.set_grad(e.grads[i]);
    else
      p.zero_grad();
  }
  out_.loss = e.loss;
  out_.prediction = e.prediction;
  out_.replayed = true;
}

const TrainStep::Output& TrainStep::run(const Tensor& inputs, const Tensor& labels,
                                        const Hooks& hooks) {
  const Device dev = model_.device();
  if (!dev.is_cuda()) {
    eager(inputs, labels, hooks);
    return out_;
  }
  // The batch crosses on the copy stream (the compute stream waits for it in order).
  std::vector<Tensor> host, moved;
  const bool x_host = inputs.device().is_cpu(),
             y_host = labels.defined() && labels.device().is_cpu();
  if (x_host) host.push_back(inputs);
  if (y_host) host.push_back(labels);
  if (!host.empty()) moved = uploader_->upload(host);
  size_t k = 0;
  const Tensor x = x_host ? moved[k++] : inputs;
  const Tensor y = y_host ? moved[k++] : labels;

  const bool hooked = bool(hooks.after_forward) || bool(hooks.after_backward);
  Entry* e = nullptr;
  if (graphs_ && !hooked && y.defined()) {
    e = &entry_for(x, y);
    if (e->failed || ++e->seen <= opts_.warmup_steps) e = nullptr;
  }
  if (!e) {
    eager(x, y, hooks);
    uploader_->release();
    return out_;
  }
  if (!e->graph.ready()) {
    try {
      capture(*e, x, y);
    } catch (const std::exception& ex) {
      // A step that cannot be captured (an op that waits for the host) runs eagerly, without
      // the memory pool the capture had filled (out of memory, the eager step needs it).
      e->failed = true;
      e->graph.release();
      if (disabled_reason_.empty())
        disabled_reason_ = std::string("a batch shape could not be captured: ") + ex.what();
      eager(x, y, hooks);
      uploader_->release();
      return out_;
    }
  }
  // The batch into the static inputs: by the graph's own copy nodes (which copy bytes: a batch
  // that is not contiguous is made so first), else device to device on the compute stream
  // before the replay.
  const Tensor xs = e->x_copy >= 0 && !x.is_contiguous() ? x.contiguous() : x;
  const Tensor ys = e->y_copy >= 0 && !y.is_contiguous() ? y.contiguous() : y;
  if (e->x_copy >= 0)
    e->graph.set_copy_source(size_t(e->x_copy), xs.raw_data());
  else
    copy_(e->x, x);
  if (e->y_copy >= 0)
    e->graph.set_copy_source(size_t(e->y_copy), ys.raw_data());
  else
    copy_(e->y, y);
  replay(*e);
  uploader_->release();  // after the replay that reads the upload is queued
  return out_;
}

}  // namespace ng::train
