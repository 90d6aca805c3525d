#include "engine/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>

#include "engine/autograd/autograd.h"
#include "engine/core/allocator.h"
#include "engine/data/dataloader.h"
#include "engine/ops/elementwise.h"
#include "engine/optim/adam.h"
#include "engine/optim/clip.h"
#include "engine/optim/rmsprop.h"
#include "engine/optim/sgd.h"
#include "engine/train/memory_fit.h"

namespace ng::train {

namespace fs = std::filesystem;

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

double seconds_now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// "node/param" -> ("node", "param"); node ids may contain '/', parameter names do not.
std::pair<std::string, std::string> split_qualified(const std::string& q) {
  size_t slash = q.rfind('/');
  if (slash == std::string::npos) return {q, ""};
  return {q.substr(0, slash), q.substr(slash + 1)};
}

bool all_finite(const Tensor& t) {
  Tensor c = t.detach();
  if (c.dtype() == DType::Float64) {
    for (double v : c.to_vector<double>())
      if (!std::isfinite(v)) return false;
    return true;
  }
  for (float v : c.to_vector<float>())
    if (!std::isfinite(v)) return false;
  return true;
}

// Rethrows a ValueError from an optimiser or schedule constructor with the project field.
template <class F>
auto with_field(const char* field, const F& f) {
  try {
    return f();
  } catch (const Error& e) {
    throw Error(std::string(field) + ": " + e.what());
  }
}

const std::vector<std::string>& monitor_names() {
  static const std::vector<std::string> names = {"val_accuracy", "val_loss",       "val_top5",
                                                 "val_mse",      "train_accuracy", "train_loss",
                                                 "train_top5",   "train_mse"};
  return names;
}

}  // namespace

// --- optimiser and schedule from the recipe ---

std::unique_ptr<Optimizer> make_optimizer(const OptimizerSpec& s, std::vector<Tensor> params) {
  const std::string type = lower(s.type);
  if (type != "sgd" && type != "adam" && type != "adamw" && type != "rmsprop")
    throw Error("training.optimizer.type: unknown optimizer '" + s.type +
                "' (known: SGD, Adam, AdamW, RMSprop)");
  return with_field("training.optimizer", [&]() -> std::unique_ptr<Optimizer> {
    if (type == "sgd")
      return std::make_unique<SGD>(std::move(params), SgdOptions{.lr = s.lr,
                                                                 .momentum = s.momentum,
                                                                 .dampening = s.dampening,
                                                                 .weight_decay = s.weight_decay,
                                                                 .nesterov = s.nesterov});
    if (type == "adam")
      return std::make_unique<Adam>(std::move(params), AdamOptions{.lr = s.lr,
                                                                   .beta1 = s.beta1,
                                                                   .beta2 = s.beta2,
                                                                   .eps = s.eps,
                                                                   .weight_decay = s.weight_decay});
    if (type == "adamw")
      return std::make_unique<AdamW>(std::move(params),
                                     AdamWOptions{.lr = s.lr,
                                                  .beta1 = s.beta1,
                                                  .beta2 = s.beta2,
                                                  .eps = s.eps,
                                                  .weight_decay = s.weight_decay});
    if (type == "rmsprop")
      return std::make_unique<RMSprop>(std::move(params),
                                       RmspropOptions{.lr = s.lr,
                                                      .alpha = s.alpha,
                                                      .eps = s.eps,
                                                      .weight_decay = s.weight_decay,
                                                      .momentum = s.momentum,
                                                      .centered = s.centered});
    return nullptr;  // unreachable: checked above
  });
}

LrPlan::LrPlan(const TrainingSpec& t, int64_t steps_per_epoch) {
  const ScheduleSpec& s = t.schedule;
  const double base = t.optimizer.lr;
  const int64_t epochs = std::max<int64_t>(1, t.epochs);
  total_steps_ = std::max<int64_t>(1, epochs * steps_per_epoch);
  static const char* known[] = {"constant", "step", "exponential", "cosine", "one_cycle"};
  if (std::find(std::begin(known), std::end(known), s.type) == std::end(known))
    throw Error("training.schedule.type: unknown schedule '" + s.type +
                "' (known: constant, step, exponential, cosine, one_cycle)");
  sched_ = with_field("training.schedule", [&]() -> std::shared_ptr<LrSchedule> {
    if (s.type == "constant") return std::make_shared<FixedLR>(base);
    if (s.type == "step") return std::make_shared<StepLR>(base, s.step_size, s.gamma);
    if (s.type == "exponential") return std::make_shared<ExponentialLR>(base, s.gamma);
    if (s.type == "cosine") return std::make_shared<CosineAnnealingLR>(base, epochs, s.eta_min);
    if (s.type == "one_cycle") {
      per_step_ = true;
      return std::make_shared<OneCycleLR>(s.max_lr, total_steps_, s.pct_start);
    }
    return nullptr;  // unreachable: checked above
  });
  NG_CHECK(s.warmup_steps >= 0, "training.schedule.warmup_steps: must be >= 0, got ",
           s.warmup_steps);
  NG_CHECK(s.warmup_start_factor >= 0.0 && s.warmup_start_factor <= 1.0,
           "training.schedule.warmup_start_factor: must be in [0, 1], got ", s.warmup_start_factor);
  warmup_ = s.warmup_steps;
  start_factor_ = s.warmup_start_factor;
}

double LrPlan::lr(int64_t epoch, int64_t step) const {
  double v = per_step_ ? sched_->lr(std::min(step, total_steps_ - 1)) : sched_->lr(epoch);
  if (step < warmup_) v *= start_factor_ + (1.0 - start_factor_) * double(step) / double(warmup_);
  return v;
}

// --- evaluation and weights ---

bool loss_target_from_graph(const GraphAnalysis& a) {
  if (a.loss_node < 0) return false;
  const NodeInfo& loss = a.nodes[size_t(a.loss_node)];
  return loss.inputs.size() > 1 && !loss.inputs[1].empty();  // ports: input, target
}

Metrics evaluate(Model& model, const data::DatasetPtr& ds, int64_t batch_size,
                 const data::Normalization& norm, int prefetch) {
  NG_CHECK(ds && ds->size() > 0, "evaluate: the dataset is empty");
  NG_CHECK(batch_size >= 1, "evaluate: batch size must be >= 1, got ", batch_size);
  struct ModeGuard {
    Model& m;
    Mode prev;
    ~ModeGuard() { m.set_mode(prev); }
  } guard{model, model.mode()};
  model.set_mode(Mode::Eval);
  autograd::NoGradGuard no_grad;
  data::DataLoaderOptions lo;
  lo.batch_size = batch_size;
  lo.shuffle = false;
  lo.normalization = norm;
  lo.prefetch = prefetch;
  data::DataLoader loader(ds, lo);
  loader.start_epoch(0);
  const bool labels = !loss_target_from_graph(model.analysis());
  MetricAccumulator acc(labels && ds->task() == data::Task::Classification ? ds->num_classes() : 0,
                        labels);
  Model::Result r;
  while (auto b = loader.next()) {
    model.forward({b->inputs}, b->targets, r);
    acc.add(r.loss.defined() ? r.loss.item() : kNaN, r.prediction, b->targets);
  }
  return acc.result();
}

void load_weights(Model& model, const Checkpoint& c, const std::string& source) {
  autograd::NoGradGuard no_grad;
  auto load = [&](const std::vector<std::pair<std::string, Tensor>>& mine,
                  const std::vector<NamedTensor>& theirs, const char* what) {
    std::map<std::string, const Tensor*> saved;
    for (const NamedTensor& t : theirs) saved[t.node + "/" + t.name] = &t.tensor;
    for (const auto& [name, t] : mine) {
      auto it = saved.find(name);
      NG_CHECK(it != saved.end(), "checkpoint '", source, "': no ", what, " '", name,
               "' (it was saved from another graph?)");
      NG_CHECK_SHAPE(it->second->shape() == t.shape(), "checkpoint '", source, "': ", what, " '",
                     name, "' has shape ", shape_str(it->second->shape()), ", the graph's is ",
                     shape_str(t.shape()));
      Tensor dst = t.detach();
      copy_(dst, *it->second);
      saved.erase(it);
    }
    NG_CHECK(saved.empty(), "checkpoint '", source, "': ", what, " '", saved.begin()->first,
             "' is not in the graph (it was saved from another graph?)");
  };
  load(model.parameters(), c.weights, "weight");
  load(model.buffers(), c.buffers, "buffer");
}

// --- Trainer ---

Trainer::Trainer(Model& model, TrainingData data, TrainerOptions options, EventSink* sink)
    : model_(model), data_(std::move(data)), options_(std::move(options)), sink_(sink) {
  const TrainingSpec& t = options_.training;
  NG_CHECK(data_.train && data_.train->size() > 0, "Trainer: the training set is empty");
  NG_CHECK(t.batch_size >= 1, "training.batch_size: must be >= 1, got ", t.batch_size);
  NG_CHECK(t.epochs >= 1, "training.epochs: must be >= 1, got ", t.epochs);
  NG_CHECK(t.stats_every_steps >= 0, "training.stats_every_steps: must be >= 0, got ",
           t.stats_every_steps);
  NG_CHECK(t.early_stopping_patience >= 0, "training.early_stopping_patience: must be >= 0, got ",
           t.early_stopping_patience);
  NG_CHECK(t.clip_grad_norm >= 0.0, "training.clip_grad_norm: must be >= 0, got ",
           t.clip_grad_norm);
  NG_CHECK(t.checkpoint.every_minutes >= 0.0,
           "training.checkpoint.every_minutes: must be >= 0, got ", t.checkpoint.every_minutes);
  NG_CHECK(options_.stats_bins >= 1, "Trainer: stats_bins must be >= 1");
  precision_ = parse_precision(t.precision, "training.precision");
  NG_CHECK(precision_ == Precision::Float32 || model_.device().is_cuda(),
           "training.precision: \"bf16\" mixed precision needs a CUDA device, but the model is on ",
           model_.device().str(), "; use \"float32\" on the CPU");
  check_data_fits();

  for (const auto& [name, p] : model_.parameters()) params_.push_back(p);
  NG_CHECK(!params_.empty(), "Trainer: the graph has no trainable parameters");
  optim_ = make_optimizer(t.optimizer, params_);

  // A loss whose target is wired from the graph (an autoencoder) does not use the labels: then
  // only the loss is a metric, as for regression.
  const bool labels = !loss_target_from_graph(model_.analysis());
  const bool classification = labels && data_.train->task() == data::Task::Classification;
  num_classes_ = classification ? data_.train->num_classes() : 0;
  train_acc_ = MetricAccumulator(num_classes_, labels);
  steps_per_epoch_ = (data_.train->size() + t.batch_size - 1) / t.batch_size;
  lr_plan_ = std::make_unique<LrPlan>(t, steps_per_epoch_);
  lr_ = lr_plan_->lr(0, 0);
  data_seed_ = t.seed;
  model_.rng().set_state(t.seed, 0);

  // The monitored metric, after the fallbacks (no validation set; regression).
  std::string m = t.checkpoint.monitor;
  const auto& names = monitor_names();
  if (std::find(names.begin(), names.end(), m) == names.end()) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    throw Error("training.checkpoint.monitor: unknown metric '" + m + "' (known: " + known + ")");
  }
  if (!data_.val && m.rfind("val_", 0) == 0) m = "train_" + m.substr(4);
  auto ends_with = [](const std::string& s, const std::string& e) {
    return s.size() >= e.size() && s.compare(s.size() - e.size(), e.size(), e) == 0;
  };
  if (!classification && (ends_with(m, "_accuracy") || ends_with(m, "_top5")))
    m = m.substr(0, m.rfind('_')) + "_loss";
  if (classification && ends_with(m, "_mse")) m = m.substr(0, m.rfind('_')) + "_loss";
  if (ends_with(m, "_top5") && top_k_for(num_classes_) == 0)
    m = m.substr(0, m.rfind('_')) + "_accuracy";
  monitor_ = m;
  monitor_higher_ = ends_with(m, "_accuracy") || ends_with(m, "_top5");
}

Trainer::~Trainer() = default;

void Trainer::check_data_fits() const {
  const GraphAnalysis& a = model_.analysis();
  const data::Dataset& ds = *data_.train;
  const auto& ids = model_.input_ids();
  NG_CHECK(ids.size() == 1, "the graph has ", ids.size(),
           " Input nodes; a dataset feeds exactly one");
  NG_CHECK(!model_.loss_id().empty(), "the graph has no loss node; training needs one");
  const NodeInfo& in = a.nodes[size_t(a.input_nodes[0])];
  if (!in.outputs.empty() && in.outputs[0]) {
    Shape want(in.outputs[0]->shape.begin() + 1, in.outputs[0]->shape.end());
    NG_CHECK_SHAPE(want == ds.sample_shape(), "Input '", in.id, "' expects samples of shape ",
                   shape_str(want), ", dataset '", ds.name(), "' gives ",
                   shape_str(ds.sample_shape()), " (set the Input node's shape to ",
                   shape_str(ds.sample_shape()), ")");
  }
  const NodeInfo& loss = a.nodes[size_t(a.loss_node)];
  const bool classification = ds.task() == data::Task::Classification;
  if (loss_target_from_graph(a)) {
    // The graph supplies the target (e.g. the flattened input of an autoencoder): the labels
    // play no part, whatever the dataset's task.
  } else if (loss.type == "CrossEntropyLoss") {
    NG_CHECK(classification, "CrossEntropyLoss '", loss.id, "' needs class labels, dataset '",
             ds.name(), "' is a regression set (use MSELoss)");
    // prediction: [N, C] from the node feeding the loss's first port
    if (!loss.inputs.empty() && !loss.inputs[0].empty()) {
      const PortLink& l = loss.inputs[0][0];
      const NodeInfo& p = a.nodes[size_t(l.node)];
      const auto& out = p.outputs[size_t(l.port)];
      if (out && out->shape.size() == 2 && out->shape[1] < ds.num_classes())
        throw ShapeError(detail::concat("node '", p.id, "' gives ", out->shape[1],
                                        " class scores, dataset '", ds.name(), "' has ",
                                        ds.num_classes(), " classes (make '", p.id, "' output ",
                                        ds.num_classes(), ")"));
    }
  } else if (loss.type == "MSELoss") {
    NG_CHECK(!classification, "MSELoss '", loss.id, "' needs float targets, dataset '", ds.name(),
             "' is a classification set (use CrossEntropyLoss)");
  }
  if (data_.val)
    NG_CHECK_SHAPE(data_.val->sample_shape() == ds.sample_shape(), "validation set '",
                   data_.val->name(), "' has samples of shape ",
                   shape_str(data_.val->sample_shape()), ", the training set ",
                   shape_str(ds.sample_shape()));
}

void Trainer::emit(const TrainingEvent& e) {
  if (sink_) sink_->on_event(e);
}

// --- controls ---

void Trainer::pause() {
  std::lock_guard lk(mu_);
  pause_ = true;
  cv_.notify_all();
}

void Trainer::resume() {
  std::lock_guard lk(mu_);
  pause_ = false;
  single_steps_ = 0;
  cv_.notify_all();
}

void Trainer::step_once() {
  std::lock_guard lk(mu_);
  pause_ = true;
  ++single_steps_;
  cv_.notify_all();
}

void Trainer::stop() {
  std::lock_guard lk(mu_);
  stop_ = true;
  cv_.notify_all();
}

void Trainer::set_lr(double lr) {
  if (!(std::isfinite(lr) && lr >= 0.0))
    throw ValueError(
        detail::concat("Trainer::set_lr: the learning rate must be finite and >= 0, got ", lr));
  std::lock_guard lk(mu_);
  new_lr_ = lr;
  lr_changed_ = true;
}

void Trainer::set_optimizer(const OptimizerSpec& spec) {
  // Validated now, over a stand-in parameter, so that the caller hears of a bad value at once.
  make_optimizer(spec, {Tensor::zeros({1}).set_requires_grad(true)});
  std::lock_guard lk(mu_);
  new_optim_ = spec;
  optim_changed_ = true;
}

bool Trainer::gate() {
  // Before a pause or a stop, every step so far is read back and reported.
  if (pause_.load() || stop_.load()) drain_steps(true);
  if (!pause_.load() && !stop_.load()) {
    if (state_ == TrainerState::Paused) {  // resumed after single steps
      state_ = TrainerState::Running;
      emit(StateEvent{TrainerState::Running, epoch_ + 1, step_});
    }
    return true;
  }
  for (;;) {
    std::unique_lock lk(mu_);
    if (stop_) return false;
    if (!pause_) break;
    if (single_steps_ > 0) {
      --single_steps_;
      return true;  // one step; the state stays as it is
    }
    if (state_ != TrainerState::Paused) {
      lk.unlock();  // never call the sink under the lock: it may call the controls
      state_ = TrainerState::Paused;
      emit(StateEvent{TrainerState::Paused, epoch_ + 1, step_});
      continue;
    }
    cv_.wait(lk, [&] { return stop_ || !pause_ || single_steps_ > 0; });
  }
  if (state_ == TrainerState::Paused) {
    state_ = TrainerState::Running;
    emit(StateEvent{TrainerState::Running, epoch_ + 1, step_});
  }
  return true;
}

// --- the run ---

FinishedEvent Trainer::run() {
  NG_CHECK(!ran_, "Trainer::run: a trainer runs once; create another one to train again");
  ran_ = true;
  const TrainingSpec& t = options_.training;
  t0_ = seconds_now();
  last_save_ = t0_;
  try {
    AutocastScope autocast(precision_);  // training steps and validation (NOTE [Autocast])
    data::DataLoaderOptions lo;
    lo.batch_size = t.batch_size;
    lo.shuffle = true;
    lo.seed = data_seed_;
    lo.normalization = data_.normalization;
    lo.augmentation = data_.augmentation;
    lo.prefetch = options_.prefetch;
    data::DataLoader loader(data_.train, lo);
    NG_CHECK(loader.num_batches() == steps_per_epoch_, "Trainer: the DataLoader makes ",
             loader.num_batches(), " batches per epoch, expected ", steps_per_epoch_);

    step_runner_ = std::make_unique<TrainStep>(model_, *optim_,
                                               StepOptions{.cuda_graphs = options_.cuda_graphs});
    if (t.clip_grad_norm > 0.0)  // clipping reads the gradient norm on the host every step
      step_runner_->disable_graphs();
    // On a GPU nothing reads a step's per-node outputs (a non-finite loss is traced through the
    // gradients, train/step_graph.h), so each is dropped after its last reader (NOTE [Released
    // activations]): ResNet-20 at batch 512 peaks at ~1070 MB instead of ~1360 (bench_train_step
    // on an H200). The CPU keeps them to name the node where a loss turns non-finite.
    struct KeepOutputs {
      Model& m;
      bool saved;
      ~KeepOutputs() { m.set_keep_outputs(saved); }
    } keep_outputs{model_, model_.keep_outputs()};
    if (model_.device().is_cuda()) model_.set_keep_outputs(false);

    state_ = TrainerState::Running;
    emit(StateEvent{TrainerState::Running, epoch_ + 1, step_});
    FinishReason reason = FinishReason::Completed;
    while (epoch_ < t.epochs) {
      epoch_t0_ = seconds_now();
      epoch_samples_ = 0;
      if (batch_in_epoch_ == 0) train_acc_.reset();
      model_.set_mode(Mode::Train);
      loader.start_epoch(epoch_, batch_in_epoch_);
      bool stopped = false;
      while (auto b = loader.next()) {
        if (!gate()) {
          stopped = true;
          break;
        }
        train_step(*b);
        if (t.checkpoint.every_minutes > 0 && !options_.out_dir.empty() &&
            seconds_now() - last_save_ >= t.checkpoint.every_minutes * 60.0 &&
            batch_in_epoch_ < steps_per_epoch_) {
          drain_steps(true);
          save(CheckpointKind::Timed);
        }
      }
      drain_steps(true);
      // A stop or pause that arrives during an epoch's last step or its validation takes effect
      // before the next epoch's first step (the gate comes after fetching a batch, so that a
      // single step is always a step).
      if (stopped) {
        loader.stop();
        reason = FinishReason::Stopped;
        break;
      }
      if (end_epoch()) {
        reason = FinishReason::EarlyStopped;
        break;
      }
    }
    if (reason == FinishReason::Stopped) {
      state_ = TrainerState::Stopping;
      if (!options_.out_dir.empty()) save(CheckpointKind::Stopped);
    }
    FinishedEvent f;
    f.reason = reason;
    f.epochs_completed = epoch_;
    f.steps = step_;
    f.wall_s = seconds_now() - t0_;
    f.last_checkpoint = last_path_;
    f.best_checkpoint = best_path_;
    f.monitor = monitor_;
    f.best_metric = best_;
    f.best_epoch = best_epoch_;
    f.final_train = last_train_;
    f.final_val = last_val_;
    state_ = TrainerState::Finished;
    emit(f);
    return f;
  } catch (const OutOfMemoryError& e) {
    state_ = TrainerState::Failed;
    FailedEvent f{e.what(), std::string(), epoch_ + 1, step_};
    f.batch_size = options_.training.batch_size;
    if (validating_) {
      f.message += " (while validating, in batches of " + std::to_string(f.batch_size) + ")";
    } else if (const BatchFit fit = fit_after_out_of_memory(); fit.capacity_bytes > 0) {
      f.message += " " + fit.describe(f.batch_size);
      f.suggested_batch_size = fit.batch;
    }
    emit(f);
    throw OutOfMemoryError(f.message);
  } catch (const std::exception& e) {
    state_ = TrainerState::Failed;
    const auto* nf = dynamic_cast<const NonFiniteError*>(&e);
    emit(FailedEvent{e.what(), nf ? nf->node : std::string(), epoch_ + 1, step_});
    throw;
  }
}

BatchFit Trainer::fit_after_out_of_memory() {
  // NOTE [Batch size that fits]. The failed step's tensors are gone with the exception; the
  // step runner's graphs, their pools and the steps not read back yet hold memory the
  // measurement must not count.
  try {
    pending_.clear();
    step_runner_.reset();
    model_.zero_grad();  // the failed step's gradients: nothing to keep, nothing to count
    Allocator& a = allocator(model_.device());
    a.release_cache();
    const size_t capacity = a.capacity_bytes();
    if (capacity == 0) return {};        // a device whose size is not known
    AutocastScope autocast(precision_);  // measured as the steps ran
    OptimizerSpec spec = options_.training.optimizer;
    {
      std::lock_guard lk(mu_);
      if (optim_changed_) spec = new_optim_;
    }
    return fit_batch_size(model_, capacity, pending_optimizer_state_bytes(*optim_, spec),
                          options_.training.batch_size);
  } catch (const std::exception&) {
    // The measurement itself failed (fit_batch_size reports "not even one example" as batch 0
    // rather than throwing): the message stays as it was, with no batch named.
    return {};
  }
}

void Trainer::train_step(const data::Batch& b) {
  if (optim_changed_.exchange(false)) {  // set_optimizer(): same type keeps its state
    drain_steps(true);                   // every queued step of the old optimiser has finished
    std::lock_guard lk(mu_);
    std::unique_ptr<Optimizer> next = make_optimizer(new_optim_, params_);
    if (lower(next->name()) == lower(optim_->name()))
      for (size_t i = 0; i < params_.size(); ++i) next->load_state(i, optim_->state(i));
    // The step runner (and its captured CUDA graphs) refers to the optimiser it was made with.
    const bool graphs_off = !step_runner_->disabled_reason().empty();
    step_runner_.reset();
    optim_ = std::move(next);
    step_runner_ = std::make_unique<TrainStep>(model_, *optim_,
                                               StepOptions{.cuda_graphs = options_.cuda_graphs});
    if (graphs_off) step_runner_->disable_graphs();
    TrainingSpec& spec = options_.training;
    spec.optimizer = new_optim_;
    if (spec.schedule.type == "one_cycle") spec.schedule.max_lr = new_optim_.lr;
    lr_plan_ = std::make_unique<LrPlan>(spec, steps_per_epoch_);
  }
  if (lr_changed_.exchange(false)) {  // set_lr(): the schedule starts from the new base
    std::lock_guard lk(mu_);
    TrainingSpec& spec = options_.training;
    (spec.schedule.type == "one_cycle" ? spec.schedule.max_lr : spec.optimizer.lr) = new_lr_;
    lr_plan_ = std::make_unique<LrPlan>(spec, steps_per_epoch_);
  }
  const TrainingSpec& t = options_.training;
  lr_ = lr_plan_->lr(epoch_, step_);
  optim_->set_lr(lr_);
  const bool on_gpu = model_.device().is_cuda();
  const bool stats =
      t.stats_every_steps > 0 && (step_ == 0 || (step_ + 1) % t.stats_every_steps == 0);
  if (stats) drain_steps(true);  // keep the events in step order

  TrainStep::Hooks hooks;
  if (!on_gpu)  // the CPU has the loss at once: check it while the activations are there
    hooks.after_forward = [&](Model::Result& r) {
      const double loss = r.loss.item();
      if (!std::isfinite(loss))
        non_finite(std::string("the loss is ") + (std::isnan(loss) ? "NaN"
                                                  : loss > 0       ? "inf"
                                                                   : "-inf"),
                   step_ + 1, &r.outputs);
    };
  if (t.clip_grad_norm > 0.0 || stats)
    hooks.after_backward = [&] {
      if (t.clip_grad_norm > 0.0) {
        double norm = clip_grad_norm(params_, t.clip_grad_norm);
        if (!std::isfinite(norm))
          non_finite(std::isnan(norm) ? "the gradient norm is NaN" : "the gradient norm is inf",
                     step_ + 1);
      }
      if (stats) emit_layer_stats();
    };
  const TrainStep::Output& out = step_runner_->run(b.inputs, b.targets, hooks);
  ++step_;
  ++batch_in_epoch_;

  PendingStep p;
  p.targets = b.targets;
  p.epoch = epoch_ + 1;
  p.batch = batch_in_epoch_;
  p.step = step_;
  p.lr = lr_;
  if (!on_gpu) {
    p.loss = out.loss;
    p.prediction = out.prediction;
    finish_step(p);
    return;
  }
  // GPU: the values come back without waiting; steps are reported in order as they arrive.
  if (readbacks_.empty()) readbacks_.push_back(std::make_unique<HostReadback>());
  p.readback = std::move(readbacks_.back());
  readbacks_.pop_back();
  std::vector<Tensor> values{out.loss};
  if (out.prediction.defined()) values.push_back(out.prediction);
  p.readback->start(values);
  pending_.push_back(std::move(p));
  constexpr size_t kInFlight = 3;  // steps queued ahead of their report
  while (pending_.size() > kInFlight) {
    pending_.front().readback->wait();
    drain_steps(false);
  }
  drain_steps(false);
}

void Trainer::drain_steps(bool all) {
  while (!pending_.empty()) {
    PendingStep& p = pending_.front();
    if (!all && !p.readback->ready()) break;
    std::vector<Tensor> v = p.readback->take();  // waits when `all`
    p.loss = v[0];
    if (v.size() > 1) p.prediction = v[1];
    readbacks_.push_back(std::move(p.readback));
    PendingStep done = std::move(p);
    pending_.pop_front();
    finish_step(done);
  }
}

void Trainer::finish_step(PendingStep& p) {
  const double loss = p.loss.item();
  if (!std::isfinite(loss))  // on a GPU, found a step or two after it happened
    non_finite(std::string("the loss is ") + (std::isnan(loss) ? "NaN"
                                              : loss > 0       ? "inf"
                                                               : "-inf"),
               p.step);
  const TrainingSpec& t = options_.training;
  StepEvent e;
  e.batch_metrics = train_acc_.add(loss, p.prediction, p.targets);
  epoch_samples_ += e.batch_metrics.samples;
  const double now = seconds_now();
  e.epoch = p.epoch;
  e.batch = p.batch;
  e.batches_per_epoch = steps_per_epoch_;
  e.step = p.step;
  e.total_steps = t.epochs * steps_per_epoch_;
  e.lr = p.lr;
  e.running = train_acc_.result();
  e.samples_per_s = now > epoch_t0_ ? double(epoch_samples_) / (now - epoch_t0_) : 0.0;
  e.elapsed_s = now - t0_;
  emit(e);
}

void Trainer::emit_layer_stats() {
  LayerStatsEvent e;
  e.epoch = epoch_ + 1;
  e.step = step_ + 1;
  for (const auto& [name, p] : model_.parameters()) {
    LayerStats s;
    std::tie(s.node, s.param) = split_qualified(name);
    s.weight = tensor_stats(p, options_.stats_bins);
    s.grad = tensor_stats(p.grad(), options_.stats_bins);
    e.layers.push_back(std::move(s));
  }
  emit(e);
}

void Trainer::non_finite(const std::string& what, int64_t step,
                         const std::vector<Tensor>* outputs) {
  // The first node, in topological order, whose output holds inf or NaN.
  const GraphAnalysis& a = model_.analysis();
  std::string node, type;
  const std::vector<Tensor> none;
  const std::vector<Tensor>& outs = outputs ? *outputs : none;
  for (int i : a.order) {
    if (size_t(i) >= outs.size()) break;  // released before backward
    const Tensor& out = outs[size_t(i)];
    if (!out.defined() || !is_floating(out.dtype())) continue;
    if (!all_finite(out)) {
      node = a.nodes[size_t(i)].id;
      type = a.nodes[size_t(i)].type;
      break;
    }
  }
  if (node.empty())  // a non-finite gradient with finite outputs: name the parameter's node
    for (const auto& [name, p] : model_.parameters())
      if (p.grad().defined() && !all_finite(p.grad())) {
        node = split_qualified(name).first;
        type = a.find(node) ? a.find(node)->type : "";
        break;
      }
  std::string msg =
      detail::concat("training stopped at epoch ", epoch_ + 1, ", step ", step, ": ", what);
  if (!node.empty())
    msg += "; the first node whose output is not finite is '" + node + "' (" + type + ")";
  msg += detail::concat(". Lower the learning rate (now ", lr_,
                        "), clip gradients (training.clip_grad_norm) or check the data");
  throw NonFiniteError(msg, node);
}

double Trainer::metric_value(const Metrics& train, const Metrics& val) const {
  const Metrics& m = monitor_.rfind("val_", 0) == 0 ? val : train;
  const std::string what = monitor_.substr(monitor_.find('_') + 1);
  if (what == "accuracy") return m.accuracy;
  if (what == "top5") return m.top_k;
  if (what == "mse") return m.mse;
  return m.loss;
}

bool Trainer::end_epoch() {
  const TrainingSpec& t = options_.training;
  const Metrics tr = train_acc_.result();
  Metrics va;
  if (data_.val) {
    // Validation runs in batches of at least 256 (no gradients: far less memory per example
    // than a training step). Out of device memory that way, it runs in the training batches,
    // which fit.
    validating_ = true;
    struct Validating {
      bool& v;
      ~Validating() { v = false; }
    } validating{validating_};
    const int64_t vb = std::max<int64_t>(t.batch_size, 256);
    try {
      va = evaluate(model_, data_.val, vb, data_.normalization, options_.prefetch);
    } catch (const OutOfMemoryError&) {
      if (vb == t.batch_size) throw;
      allocator(model_.device()).release_cache();
      va = evaluate(model_, data_.val, t.batch_size, data_.normalization, options_.prefetch);
    }
  }
  model_.set_mode(Mode::Train);
  ++epoch_;
  batch_in_epoch_ = 0;
  last_train_ = tr;
  last_val_ = va;

  const bool classification = num_classes_ > 0;
  auto record = [&](const std::string& prefix, const Metrics& m) {
    history_[prefix + "_loss"].push_back(m.loss);
    if (classification) {
      history_[prefix + "_accuracy"].push_back(m.accuracy);
      if (m.k > 0) history_[prefix + "_top5"].push_back(m.top_k);
    } else {
      history_[prefix + "_mse"].push_back(m.mse);
    }
  };
  record("train", tr);
  if (data_.val) record("val", va);
  const double now = seconds_now();
  history_["lr"].push_back(lr_);
  history_["epoch_s"].push_back(now - epoch_t0_);

  const double m = metric_value(tr, va);
  const bool improved =
      std::isfinite(m) && (std::isnan(best_) || (monitor_higher_ ? m > best_ : m < best_));
  if (improved) {
    best_ = m;
    best_epoch_ = epoch_;
  }
  EpochEvent e;
  e.epoch = epoch_;
  e.epochs = t.epochs;
  e.step = step_;
  e.lr = lr_;
  e.train = tr;
  e.val = va;
  e.monitor = monitor_;
  e.monitored = m;
  e.improved = improved;
  e.epoch_s = now - epoch_t0_;
  e.elapsed_s = now - t0_;
  emit(e);

  if (!options_.out_dir.empty()) {
    if (t.checkpoint.every_epoch) save(CheckpointKind::Last);
    if (improved && t.checkpoint.best) save(CheckpointKind::Best);
  }
  return t.early_stopping_patience > 0 && best_epoch_ > 0 &&
         epoch_ - best_epoch_ >= t.early_stopping_patience && epoch_ < t.epochs;
}

void Trainer::save(CheckpointKind kind) {
  fs::create_directories(options_.out_dir);
  const std::string path =
      (fs::path(options_.out_dir) / (kind == CheckpointKind::Best ? "best.h5" : "last.h5"))
          .string();
  save_checkpoint(checkpoint(), path);
  if (kind == CheckpointKind::Best) {
    best_path_ = path;
  } else {
    last_path_ = path;
    last_save_ = seconds_now();
  }
  emit(CheckpointEvent{kind, path, epoch_, step_});
}

Checkpoint Trainer::checkpoint() const {
  Checkpoint c;
  c.graph_json = options_.graph_json.empty() ? model_.spec().to_json().dump() : options_.graph_json;
  for (const auto& [name, p] : model_.parameters()) {
    auto [node, param] = split_qualified(name);
    c.weights.push_back({node, param, p.detach()});
  }
  for (const auto& [name, b] : model_.buffers()) {
    auto [node, param] = split_qualified(name);
    c.buffers.push_back({node, param, b.detach()});
  }
  c.optimizer.type = lower(optim_->name());
  c.optimizer.hyper = optim_->hyperparams();
  const auto& named = model_.parameters();
  for (size_t i = 0; i < optim_->num_params(); ++i) {
    Optimizer::NamedTensors s = optim_->state(i);
    if (s.empty()) continue;
    OptimizerParamState ps;
    std::tie(ps.node, ps.param) = split_qualified(named[i].first);
    for (auto& [k, v] : s) {
      if (k == "step")
        ps.scalars[k] = v.item();
      else
        ps.tensors[k] = v.detach();
    }
    c.optimizer.params.push_back(std::move(ps));
  }
  c.training.epoch = epoch_;
  c.training.step = step_;
  c.training.rng_seed = model_.rng().seed();
  c.training.rng_offset = model_.rng().offset();
  c.training.best_metric_name = monitor_;
  c.training.best_metric = best_;
  c.training.best_epoch = best_epoch_;
  c.training.history = history_;
  if (batch_in_epoch_ > 0)
    c.training.history["epoch_partial"] = MetricAccumulator::to_vector(train_acc_.sums());
  return c;
}

void Trainer::restore(const std::string& path) {
  NG_CHECK(!ran_, "Trainer::restore: call it before run()");
  Checkpoint c = load_checkpoint(path);
  load_weights(model_, c, path);

  if (!c.optimizer.type.empty()) {
    NG_CHECK(lower(c.optimizer.type) == lower(optim_->name()), "checkpoint '", path,
             "': saved with optimizer ", c.optimizer.type, ", the project uses ", optim_->name(),
             " (a resumed run keeps its optimizer; set training.optimizer.type to ",
             c.optimizer.type, ")");
    optim_->load_hyperparams(c.optimizer.hyper);
    const auto& named = model_.parameters();
    std::map<std::string, const OptimizerParamState*> saved;
    for (const auto& s : c.optimizer.params) saved[s.qualified_name()] = &s;
    for (size_t i = 0; i < named.size(); ++i) {
      Optimizer::NamedTensors state;
      auto it = saved.find(named[i].first);
      if (it != saved.end()) {
        for (const auto& [k, v] : it->second->scalars)
          state.emplace_back(k, Tensor::full({}, v, DType::Int64));
        for (const auto& [k, v] : it->second->tensors) state.emplace_back(k, v);
        saved.erase(it);
      }
      optim_->load_state(i, state);
    }
    NG_CHECK(saved.empty(), "checkpoint '", path, "': optimizer state for '", saved.begin()->first,
             "', which is not a parameter of the graph");
  }

  const TrainingCheckpoint& tc = c.training;
  NG_CHECK(tc.epoch >= 0 && tc.step >= 0, "checkpoint '", path, "': bad epoch/step");
  const int64_t batch = tc.step - tc.epoch * steps_per_epoch_;
  NG_CHECK(batch >= 0 && batch < steps_per_epoch_, "checkpoint '", path, "': step ", tc.step,
           " after ", tc.epoch, " epochs does not fit ", steps_per_epoch_,
           " batches per epoch (was it saved with another batch size or dataset?)");
  epoch_ = tc.epoch;
  step_ = tc.step;
  batch_in_epoch_ = batch;
  model_.rng().set_state(tc.rng_seed, tc.rng_offset);
  data_seed_ = tc.rng_seed;
  history_ = tc.history;
  train_acc_.reset();
  if (auto it = history_.find("epoch_partial"); it != history_.end()) {
    if (batch > 0) train_acc_.set_sums(MetricAccumulator::from_vector(it->second));
    history_.erase(it);
  }
  if (tc.best_metric_name == monitor_) {
    best_ = tc.best_metric;
    best_epoch_ = tc.best_epoch;
  }
  const fs::path dir(options_.out_dir);
  if (!options_.out_dir.empty() && fs::exists(dir / "best.h5"))
    best_path_ = (dir / "best.h5").string();
}

// --- names ---

const char* trainer_state_name(TrainerState s) {
  switch (s) {
    case TrainerState::Idle:
      return "idle";
    case TrainerState::Running:
      return "running";
    case TrainerState::Paused:
      return "paused";
    case TrainerState::Stopping:
      return "stopping";
    case TrainerState::Finished:
      return "finished";
    case TrainerState::Failed:
      return "failed";
  }
  return "?";
}

const char* checkpoint_kind_name(CheckpointKind k) {
  switch (k) {
    case CheckpointKind::Last:
      return "last";
    case CheckpointKind::Best:
      return "best";
    case CheckpointKind::Timed:
      return "timed";
    case CheckpointKind::Stopped:
      return "stopped";
  }
  return "?";
}

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Completed:
      return "completed";
    case FinishReason::EarlyStopped:
      return "early_stopped";
    case FinishReason::Stopped:
      return "stopped";
  }
  return "?";
}

// --- EventQueue ---

void EventQueue::on_event(const TrainingEvent& e) {
  {
    std::lock_guard lk(mu_);
    q_.push_back(e);
  }
  cv_.notify_all();
}

std::vector<TrainingEvent> EventQueue::drain() {
  std::lock_guard lk(mu_);
  std::vector<TrainingEvent> out(std::make_move_iterator(q_.begin()),
                                 std::make_move_iterator(q_.end()));
  q_.clear();
  return out;
}

std::vector<TrainingEvent> EventQueue::wait_and_drain(int timeout_ms) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, std::chrono::milliseconds(timeout_ms), [&] { return !q_.empty(); });
  std::vector<TrainingEvent> out(std::make_move_iterator(q_.begin()),
                                 std::make_move_iterator(q_.end()));
  q_.clear();
  return out;
}

}  // namespace ng::train
