#include "app/gui/training/training_controller.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QStandardPaths>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

#include "app/gui/training/event_channel.h"
#include "app/gui/training/run_snapshot.h"
#include "engine/autograd/autograd.h"
#include "engine/core/parallel.h"
#include "engine/io/checkpoint.h"
#include "engine/nn/model.h"
#include "engine/ops/cuda/backend.h"
#include "engine/train/datasets.h"
// Qt's `emit` keyword is a macro; the engine's Trainer has a member of that name.
#pragma push_macro("emit")
#undef emit
#include "engine/train/trainer.h"
#pragma pop_macro("emit")

namespace ng::gui {

using namespace ng::train;
namespace fs = std::filesystem;

namespace {

// FNV-1a over the graph's JSON: names the graph a run trained (run.json "graph_hash").
std::string graphHash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
  return buf;
}

nlohmann::json metricsJson(const Metrics& m) {
  nlohmann::json j = {{"samples", m.samples}};
  auto put = [&](const char* k, double v) {
    if (std::isfinite(v)) j[k] = v;
  };
  put("loss", m.loss);
  put("accuracy", m.accuracy);
  put("top_k", m.top_k);
  put("mse", m.mse);
  return j;
}

// A resumed run continues with the optimiser its checkpoint holds, also when it was changed
// while paused (TrainingController::setOptimizer) and the project still names another: its type
// and hyper-parameters; the learning rate too under a constant schedule (under the others it is
// the schedule's value at that step, not its base).
void resumeOptimizer(const OptimizerCheckpoint& saved, TrainingSpec& t) {
  if (saved.type.empty()) return;
  for (const char* name : {"SGD", "Adam", "AdamW", "RMSprop"}) {
    std::string lower = name;
    for (char& ch : lower) ch = char(std::tolower((unsigned char)ch));
    if (lower == saved.type) t.optimizer.type = name;
  }
  OptimizerSpec& o = t.optimizer;
  const bool constant_lr = t.schedule.type == "constant" && t.schedule.warmup_steps == 0;
  for (const ng::OptimizerField& f : ng::optimizer_fields()) {
    if (std::string_view(f.name) == "lr" && !constant_lr) continue;
    auto it = saved.hyper.find(f.name);
    if (it == saved.hyper.end()) continue;
    if (f.number)
      o.*f.number = it->second;
    else
      o.*f.flag = it->second != 0.0;
  }
}

// run.json: what a run trained and how it ended (the runs panel and resuming read it).
void writeRunRecord(const fs::path& dir, const nlohmann::json& j) {
  const fs::path tmp = dir / "run.json.tmp";
  {
    std::ofstream f(tmp);
    f << j.dump(2) << "\n";
  }
  std::error_code ec;
  fs::rename(tmp, dir / "run.json", ec);
}

}  // namespace

// What the GUI thread and the worker share. The worker owns the Trainer; the GUI reaches it
// only through `trainer` under `mu`, which neither side holds for longer than a control call.
struct TrainingController::Shared {
  EventChannel channel;
  std::mutex mu;
  Trainer* trainer = nullptr;  // guarded by mu; set while run() may be called
  // Commands that came before the trainer existed (guarded by mu).
  bool stop = false, pause = false;
  int steps = 0;
  std::optional<double> lr;
  std::optional<OptimizerSpec> optimizer;
  // What the user changed during the run, after which step (run.json "changes"; guarded by mu).
  nlohmann::json changes = nlohmann::json::array();
  std::atomic<bool> done{false};  // the worker has nothing left to do (join is immediate)
  // Weight snapshots for the insight views: taken on the trainer's thread at most every
  // snapshotMs (0: none), the newest kept.
  std::atomic<int> snapshotMs{0};
  std::mutex snapMu;
  std::shared_ptr<const RunSnapshot> snapshot;  // guarded by snapMu
  std::atomic<uint64_t> snapSeq{0};
};

namespace {

// The trainer's sink: events into the channel and, when the insight views want them, copies of
// the weights between two steps (the trainer's thread is the only one touching the model).
class SnapshotSink : public EventSink {
 public:
  SnapshotSink(TrainingController::Shared& sh, Model& m, std::shared_ptr<const RunData> run)
      : sh_(sh), model_(m), run_(std::move(run)) {}

  void on_event(const TrainingEvent& e) override {
    sh_.channel.push(e);
    const int ms = sh_.snapshotMs.load(std::memory_order_relaxed);
    const bool finished = std::holds_alternative<FinishedEvent>(e);
    if (ms <= 0 && !finished) return;  // the final weights are always kept (the drawing pad)
    int64_t epoch = 0, step = 0;
    bool last = false;
    if (auto* s = std::get_if<StepEvent>(&e)) {
      epoch = s->epoch;
      step = s->step;
    } else if (auto* ep = std::get_if<EpochEvent>(&e)) {
      epoch = ep->epoch;
      step = ep->step;
    } else if (auto* f = std::get_if<FinishedEvent>(&e)) {
      epoch = f->epochs_completed;
      step = f->steps;
      last = true;  // the final weights, always
    } else {
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (!last && taken_ && now - last_ < std::chrono::milliseconds(ms)) return;
    taken_ = true;
    last_ = now;
    auto snap = std::make_shared<RunSnapshot>();
    snap->epoch = epoch;
    snap->step = step;
    snap->run = run_;
    autograd::NoGradGuard no_grad;
    // Host copies, taken here between two steps: the insight thread then never queues work on
    // the GPU's stream, which a CUDA-graph capture of the next step may be recording.
    auto host_copy = [](const Tensor& t) {
      return t.device().is_cpu() ? t.detach().clone() : t.detach().to(Device::cpu());
    };
    for (const auto& [name, t] : model_.parameters()) snap->params.emplace_back(name, host_copy(t));
    for (const auto& [name, t] : model_.buffers()) snap->buffers.emplace_back(name, host_copy(t));
    {
      std::lock_guard lk(sh_.snapMu);
      sh_.snapshot = std::move(snap);
    }
    sh_.snapSeq.fetch_add(1, std::memory_order_release);
  }

 private:
  TrainingController::Shared& sh_;
  Model& model_;
  std::shared_ptr<const RunData> run_;
  bool taken_ = false;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace

TrainingController::TrainingController(QObject* parent) : QObject(parent) {
  timer_.setInterval(33);  // ~30 Hz
  connect(&timer_, &QTimer::timeout, this, &TrainingController::poll);
}

TrainingController::~TrainingController() {
  // NOTE [Worker lifetime]: cancel, then join; the trainer finishes its step (and a checkpoint
  // write in progress) and writes last.h5 where it stopped.
  if (shared_) {
    std::lock_guard lk(shared_->mu);
    if (shared_->trainer)
      shared_->trainer->stop();
    else
      shared_->stop = true;
  }
  if (worker_.joinable()) worker_.join();
}

QString TrainingController::stateName(State s) {
  switch (s) {
    case State::Idle:
      return tr("idle");
    case State::Running:
      return tr("running");
    case State::Paused:
      return tr("paused");
    case State::Stopping:
      return tr("stopping");
    case State::Failed:
      return tr("failed");
  }
  return {};
}

bool TrainingController::deviceAvailable(const QString& device, QString* why) {
  if (device.isEmpty() || device == "auto" || device == "cpu") return true;
  if (device == "cuda" || device.startsWith("cuda:")) {
    if (ng::cuda_available()) return true;
    if (why)
      *why = tr("No GPU: %1. Training runs on the CPU.")
                 .arg(QString::fromStdString(ng::cuda_unavailable_reason()));
    return false;
  }
  if (why) *why = tr("Unknown device '%1' (auto, cpu or cuda).").arg(device);
  return false;
}

QString TrainingController::gpuDescription() {
  if (!ng::cuda_available()) return QString::fromStdString(ng::cuda_unavailable_reason());
  size_t freeB = 0, totalB = 0;
  ng::cuda_memory_info(freeB, totalB);
  QString d = QString::fromStdString(ng::cuda_device_description());
  if (totalB > 0)
    d += tr("; %1 of %2 GiB free")
             .arg(double(freeB) / double(1ull << 30), 0, 'f', 1)
             .arg(double(totalB) / double(1ull << 30), 0, 'f', 1);
  return d;
}

void TrainingController::setState(State s) {
  if (s == state_) return;
  State before = state_;
  state_ = s;
  emit stateChanged(s, before);
}

bool TrainingController::start(const ng::ProjectSpec& project, const RunOptions& o) {
  lastError_.clear();
  if (active()) {
    lastError_ = tr("A run is already active.");
    return false;
  }
  QString why;
  if (!deviceAvailable(o.device, &why)) {
    lastError_ = why;
    return false;
  }
  if (worker_.joinable()) worker_.join();  // a finished run's worker (done already)

  // The run folder: next to the project (runs/ is git-ignored), or the app's data folder.
  QString dir = o.runDir;
  if (dir.isEmpty()) {
    QFileInfo fi(o.projectFile);
    QString root = o.projectFile.isEmpty()
                       ? QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)
                       : fi.absolutePath();
    QString name = o.projectFile.isEmpty() ? QString("untitled") : fi.completeBaseName();
    QString base = QDir(root).filePath("runs/" + name + "-" +
                                       QDateTime::currentDateTime().toString("yyyyMMdd-HHmmss"));
    dir = base;
    for (int i = 2; QFileInfo::exists(dir); ++i) dir = base + "-" + QString::number(i);
  }
  runDir_ = QDir(dir).absolutePath();
  lastCheckpoint_.clear();
  bestCheckpoint_.clear();
  sawFailure_ = false;
  lr_ = project.training.optimizer.lr;
  optimizer_ = project.training.optimizer;
  stepsPerEpoch_ = globalStep_ = epochsDone_ = eventsReceived_ = 0;

  shared_ = std::make_shared<Shared>();
  shared_->pause = o.startPaused;
  shared_->snapshotMs = snapshotMs_;
  snapSeq_ = 0;
  const std::string projectDir = !o.dataDir.isEmpty() ? o.dataDir.toStdString()
                                 : o.projectFile.isEmpty()
                                     ? std::string(".")
                                     : QFileInfo(o.projectFile).absolutePath().toStdString();
  const std::string runDir = runDir_.toStdString();
  const std::string resume = o.resumeFrom.toStdString();
  const std::string weights = o.weightsFrom.toStdString();
  const std::string device = o.device.toStdString();
  const int threads = o.threads;
  // NOTE [Worker copies its inputs]: the project, paths and options are copied into the
  // closure; the worker touches nothing of the GUI's.
  worker_ = std::thread(
      [sh = shared_, p = project, projectDir, runDir, resume, weights, device, threads] {
        nlohmann::json record;
        try {
          if (threads > 0) ng::set_num_threads(threads);
          TrainingData data = make_datasets(p.dataset, projectDir);
          ProjectSpec project = p;
          if (!resume.empty()) resumeOptimizer(load_checkpoint(resume).optimizer, project.training);
          Model model = Model::compile(project.graph, project.training.seed);
          if (device == "cuda" || device.rfind("cuda:", 0) == 0 ||
              (device == "auto" && ng::cuda_available()))
            model.to(Device::cuda(device.rfind("cuda:", 0) == 0 ? std::stoi(device.substr(5)) : 0));
          if (!weights.empty()) load_weights(model, load_checkpoint(weights), weights);
          TrainerOptions to;
          to.training = project.training;
          to.out_dir = runDir;
          to.graph_json = p.graph.to_json().dump();
          auto runData = std::make_shared<RunData>();
          runData->graph = std::make_shared<const GraphSpec>(p.graph);
          runData->seed = p.training.seed;
          runData->train = data.train;
          runData->val = data.val;
          runData->normalization = data.normalization;
          SnapshotSink sink(*sh, model, runData);
          Trainer trainer(model, data, to, &sink);
          if (!resume.empty()) trainer.restore(resume);

          fs::create_directories(runDir);
          save_project(p, (fs::path(runDir) / "project.ngraph").string());
          record = {{"format", "neurograph-run"},
                    {"version", 1},
                    {"graph_hash", graphHash(to.graph_json)},
                    {"project", project_to_json(p)},
                    {"dataset",
                     {{"name", data.train->name()},
                      {"train_samples", data.train->size()},
                      {"val_samples", data.val ? data.val->size() : 0}}},
                    {"seed", p.training.seed},
                    {"device", device},
                    {"threads", ng::num_threads()},
                    {"parameters", model.parameter_count()},
                    {"started", iso8601_utc_now()},
                    {"resumed_from", resume},
                    {"weights_from", weights},
                    {"status", "running"}};
          writeRunRecord(runDir, record);

          {
            std::lock_guard lk(sh->mu);
            if (sh->stop) {  // stopped while the data loaded: nothing trained, nothing to save
              FinishedEvent f;
              f.reason = FinishReason::Stopped;
              f.epochs_completed = trainer.epochs_completed();
              f.steps = trainer.global_step();
              sh->channel.push(f);
              record["status"] = "stopped";
              writeRunRecord(runDir, record);
              sh->done = true;
              return;
            }
            if (sh->pause) trainer.pause();
            for (int i = 0; i < sh->steps; ++i) trainer.step_once();
            if (sh->optimizer) trainer.set_optimizer(*sh->optimizer);
            if (sh->lr) trainer.set_lr(*sh->lr);
            sh->trainer = &trainer;
          }
          try {
            FinishedEvent f = trainer.run();
            record["status"] = finish_reason_name(f.reason);
            record["last_checkpoint"] = f.last_checkpoint;
            record["best_checkpoint"] = f.best_checkpoint;
            record["monitor"] = f.monitor;
            if (std::isfinite(f.best_metric)) record["best_metric"] = f.best_metric;
            record["best_epoch"] = f.best_epoch;
            record["final_train"] = metricsJson(f.final_train);
            record["final_val"] = metricsJson(f.final_val);
          } catch (const std::exception& e) {  // FailedEvent was sent by the trainer
            record["status"] = "failed";
            record["error"] = e.what();
          }
          {
            std::lock_guard lk(sh->mu);
            sh->trainer = nullptr;
          }
          {
            std::lock_guard lk(sh->mu);
            if (!sh->changes.empty()) record["changes"] = sh->changes;
          }
          record["finished"] = iso8601_utc_now();
          record["epochs_completed"] = trainer.epochs_completed();
          record["steps"] = trainer.global_step();
          record["history"] = trainer.history();
          writeRunRecord(runDir, record);
        } catch (const std::exception& e) {
          // Before the run: the data, the graph, a checkpoint to resume or the run folder.
          FailedEvent f;
          f.message = e.what();
          sh->channel.push(f);
          if (!record.is_null()) {
            record["status"] = "failed";
            record["error"] = e.what();
            writeRunRecord(runDir, record);
          }
        }
        sh->done = true;
      });
  setState(o.startPaused ? State::Paused : State::Running);
  emit message(tr("Run started: %1").arg(QDir::toNativeSeparators(runDir_)), 0);
  timer_.start();
  return true;
}

void TrainingController::setSnapshotInterval(int ms) {
  snapshotMs_ = std::max(0, ms);
  if (shared_) shared_->snapshotMs = snapshotMs_;
}

void TrainingController::pause() {
  if (state_ != State::Running) return;
  {
    std::lock_guard lk(shared_->mu);
    if (shared_->trainer)
      shared_->trainer->pause();
    else
      shared_->pause = true;
  }
  setState(State::Paused);
}

void TrainingController::resume() {
  if (state_ != State::Paused) return;
  {
    std::lock_guard lk(shared_->mu);
    if (shared_->trainer) {
      shared_->trainer->resume();
    } else {
      shared_->pause = false;
      shared_->steps = 0;
    }
  }
  setState(State::Running);
}

void TrainingController::step() {
  if (state_ != State::Running && state_ != State::Paused) return;
  {
    std::lock_guard lk(shared_->mu);
    if (shared_->trainer) {
      shared_->trainer->step_once();
    } else {
      shared_->pause = true;
      ++shared_->steps;
    }
  }
  setState(State::Paused);
}

void TrainingController::stop() {
  if (state_ != State::Running && state_ != State::Paused) return;
  {
    std::lock_guard lk(shared_->mu);
    if (shared_->trainer)
      shared_->trainer->stop();
    else
      shared_->stop = true;
  }
  setState(State::Stopping);
  emit message(tr("Stopping: the run ends after its current step and saves last.h5."), 0);
}

void TrainingController::setLearningRate(double lr) {
  if (state_ != State::Running && state_ != State::Paused) return;
  if (!(std::isfinite(lr) && lr >= 0)) {
    emit message(tr("Learning rate %1 refused: it must be a finite number >= 0.").arg(lr), 1);
    return;
  }
  {
    std::lock_guard lk(shared_->mu);
    if (shared_->trainer)
      shared_->trainer->set_lr(lr);
    else
      shared_->lr = lr;
    shared_->changes.push_back({{"after_step", globalStep_}, {"lr", lr}});
  }
  optimizer_.lr = lr;
  emit message(tr("Learning rate set to %1 from the next step on.").arg(lr), 0);
}

bool TrainingController::setOptimizer(const OptimizerSpec& spec) {
  if (state_ != State::Running && state_ != State::Paused) return false;
  const QString from = QString::fromStdString(optimizer_.type);
  const QString to = QString::fromStdString(spec.type);
  try {
    std::lock_guard lk(shared_->mu);
    if (shared_->trainer) {
      shared_->trainer->set_optimizer(spec);
    } else {
      make_optimizer(spec, {Tensor::zeros({1}).set_requires_grad(true)});  // validates
      shared_->optimizer = spec;
      shared_->lr.reset();  // spec.lr is the newer rate
    }
    ProjectSpec p;
    p.training.optimizer = spec;
    shared_->changes.push_back(
        {{"after_step", globalStep_}, {"optimizer", project_to_json(p)["training"]["optimizer"]}});
  } catch (const std::exception& e) {
    emit message(tr("Optimiser not changed: %1").arg(QString::fromUtf8(e.what())), 1);
    return false;
  }
  optimizer_ = spec;
  if (from.compare(to, Qt::CaseInsensitive) == 0)
    emit message(tr("Optimiser %1 (learning rate %2) from the next step; its state (%3) is "
                    "kept.")
                     .arg(to)
                     .arg(spec.lr)
                     .arg(to.compare("SGD", Qt::CaseInsensitive) == 0 ? tr("momentum buffers")
                          : to.startsWith("Adam", Qt::CaseInsensitive)
                              ? tr("moment estimates and step counts")
                              : tr("running averages")),
                 0);
  else
    emit message(tr("Optimiser changed from %1 to %2 (learning rate %3) from the next step: %2 "
                    "starts with fresh state; the state of %1 is dropped.")
                     .arg(from, to)
                     .arg(spec.lr),
                 0);
  return true;
}

void TrainingController::poll() {
  if (!shared_) {
    timer_.stop();
    return;
  }
  // Read `done` before draining: when it is set, every event is already in the channel.
  const bool done = shared_->done.load(std::memory_order_acquire);
  std::vector<TrainingEvent> events = shared_->channel.drain();
  eventsReceived_ += int64_t(events.size());
  for (const TrainingEvent& e : events) handle(e);
  if (!events.empty()) emit eventsReady(events);
  if (uint64_t seq = shared_->snapSeq.load(std::memory_order_acquire); seq != snapSeq_) {
    snapSeq_ = seq;
    std::shared_ptr<const RunSnapshot> snap;
    {
      std::lock_guard lk(shared_->snapMu);
      snap = shared_->snapshot;
    }
    if (snap) emit snapshotReady(snap);
  }
  if (done) finishRun();
}

void TrainingController::handle(const TrainingEvent& e) {
  if (auto* s = std::get_if<StepEvent>(&e)) {
    lr_ = s->lr;
    stepsPerEpoch_ = s->batches_per_epoch;
    globalStep_ = s->step;
  } else if (auto* ep = std::get_if<EpochEvent>(&e)) {
    epochsDone_ = ep->epoch;
    globalStep_ = ep->step;
  } else if (auto* c = std::get_if<CheckpointEvent>(&e)) {
    QString path = QString::fromStdString(c->path);
    (c->kind == CheckpointKind::Best ? bestCheckpoint_ : lastCheckpoint_) = path;
    emit checkpointWritten(path, QString::fromUtf8(checkpoint_kind_name(c->kind)), c->epoch,
                           c->step);
  } else if (auto* f = std::get_if<FailedEvent>(&e)) {
    sawFailure_ = true;
    lastError_ = QString::fromStdString(f->message);
    emit message(lastError_, 2);
    emit failed(lastError_, QString::fromStdString(f->node));
    if (f->suggested_batch_size > 0)
      emit batchSizeSuggested(f->suggested_batch_size, f->batch_size);
  } else if (auto* fin = std::get_if<FinishedEvent>(&e)) {
    QString reason = QString::fromUtf8(finish_reason_name(fin->reason));
    QString text =
        tr("Run %1 after %n epoch(s), %2 steps, %3 s.", nullptr, int(fin->epochs_completed))
            .arg(reason)
            .arg(fin->steps)
            .arg(fin->wall_s, 0, 'f', 1);
    if (fin->best_epoch > 0)
      text += tr(" Best %1 %2 at epoch %3.")
                  .arg(QString::fromStdString(fin->monitor))
                  .arg(fin->best_metric, 0, 'f', 4)
                  .arg(fin->best_epoch);
    emit message(text, 0);
    emit finished(reason);
  }
}

void TrainingController::finishRun() {
  timer_.stop();
  if (worker_.joinable()) worker_.join();  // immediate: the worker set `done` as its last act
  shared_.reset();
  setState(sawFailure_ ? State::Failed : State::Idle);
}

}  // namespace ng::gui
