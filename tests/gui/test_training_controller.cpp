// TrainingController: every state transition (NOTE [Training states] in training_controller.h),
// commands before the trainer exists, a stop during a checkpoint write, pause -> change the
// learning rate -> resume, failures before and during a run, and the run folder's files.
// Each run trains the spiral example on a worker thread; the GUI thread is never blocked.
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <thread>

#include "app/gui/training/event_channel.h"
#include "app/gui/training/training_controller.h"
#include "engine/io/checkpoint.h"
#include "engine/io/project.h"
#include "engine/ops/cuda/backend.h"
#include "tests/gui/gui_test_main.h"

using namespace ng::gui;
using namespace ng::train;
using State = TrainingController::State;

Q_DECLARE_METATYPE(ng::gui::TrainingController::State)

namespace {

QString spiralPath() {
  return QString(NG_SOURCE_DIR) + "/resources/examples/spiral-mlp.ngraph";
}

ng::ProjectSpec spiral(int64_t epochs = 1000) {
  ng::ProjectSpec p = ng::load_project(spiralPath().toStdString());
  p.training.epochs = epochs;
  return p;
}

// Records the controller's states and every event it hands out.
struct Recorder {
  explicit Recorder(TrainingController& c) {
    QObject::connect(&c, &TrainingController::stateChanged,
                     [this](State now, State) { states.push_back(now); });
    QObject::connect(&c, &TrainingController::eventsReady,
                     [this](const std::vector<TrainingEvent>& es) {
                       for (const auto& e : es) events.push_back(e);
                     });
  }
  template <class T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& e : events)
      if (auto* x = std::get_if<T>(&e)) out.push_back(*x);
    return out;
  }
  int steps() const { return int(all<StepEvent>().size()); }
  bool pausedEventSeen() const {
    for (const auto& s : all<StateEvent>())
      if (s.state == TrainerState::Paused) return true;
    return false;
  }
  std::vector<State> states;
  std::vector<TrainingEvent> events;
};

// NOTE [Checkpoint hook in tests]: save_checkpoint calls this with "temp_written" after the
// temporary file is complete; the first call holds the write there until released.
std::atomic<bool> g_holdWrite{false}, g_inWrite{false}, g_released{false};
void holdingHook(const char* stage, const std::string&) {
  if (std::string(stage) != "temp_written" || !g_holdWrite.exchange(false)) return;
  g_inWrite = true;
  while (!g_released) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

// The optimiser state a checkpoint holds for parameter `name` ("fc1/weight").
const ng::OptimizerParamState& stateOf(const ng::Checkpoint& c, const std::string& name) {
  for (const auto& s : c.optimizer.params)
    if (s.qualified_name() == name) return s;
  throw std::runtime_error("no optimiser state for " + name);
}

std::vector<float> weightOf(const ng::Checkpoint& c, const std::string& name) {
  for (const auto& w : c.weights)
    if (w.node + "/" + w.name == name) return w.tensor.contiguous().to_vector<float>();
  throw std::runtime_error("no weight " + name);
}

}  // namespace

class TrainingControllerTest : public QObject {
  Q_OBJECT

 private:
  QTemporaryDir tmp_;
  int runs_ = 0;
  TrainingController::RunOptions options(bool paused = false) {
    TrainingController::RunOptions o;
    o.projectFile = spiralPath();
    o.runDir = tmp_.filePath(QString("run%1").arg(++runs_));
    o.startPaused = paused;
    return o;
  }

 private slots:
  void initTestCase() { qRegisterMetaType<State>(); }

  void eventChannelKeepsOrderAcrossThreads() {
    EventChannel ch;
    constexpr int kN = 20000;
    std::thread producer([&] {
      for (int i = 1; i <= kN; ++i) {
        StepEvent s;
        s.step = i;
        ch.push(s);
      }
    });
    int64_t next = 1;
    while (next <= kN) {
      for (const TrainingEvent& e : ch.drain()) {
        QCOMPARE(std::get<StepEvent>(e).step, next);
        ++next;
      }
    }
    producer.join();
    QVERIFY(ch.empty());
    QCOMPARE(ch.pushedCount(), int64_t(kN));
  }

  void idleIgnoresCommandsThatNeedARun() {
    TrainingController c;
    Recorder r(c);
    c.pause();
    c.resume();
    c.step();
    c.stop();
    c.setLearningRate(0.1);
    QCOMPARE(c.state(), State::Idle);
    QVERIFY(r.states.empty());
  }

  void runPauseResumeStopGoesThroughEveryState() {
    TrainingController c;
    Recorder r(c);
    QSignalSpy finished(&c, &TrainingController::finished);
    QVERIFY(c.start(spiral(), options()));
    QCOMPARE(c.state(), State::Running);
    QVERIFY(!c.start(spiral(), options()));  // one run at a time
    QTRY_VERIFY_WITH_TIMEOUT(r.steps() >= 5, 20000);

    c.pause();
    QCOMPARE(c.state(), State::Paused);
    QTRY_VERIFY_WITH_TIMEOUT(r.pausedEventSeen(), 5000);
    const int held = r.steps();
    QTest::qWait(300);
    QCOMPARE(r.steps(), held);  // no step while paused

    c.resume();
    QCOMPARE(c.state(), State::Running);
    QTRY_VERIFY_WITH_TIMEOUT(r.steps() > held + 5, 10000);

    c.stop();
    QCOMPARE(c.state(), State::Stopping);
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 10000);
    QCOMPARE(r.states, (std::vector<State>{State::Running, State::Paused, State::Running,
                                           State::Stopping, State::Idle}));
    QCOMPARE(finished.count(), 1);
    QCOMPARE(finished.at(0).at(0).toString(), QString("stopped"));
    // Stopped mid-run: last.h5 where it stopped, readable, at the step the GUI saw last.
    QVERIFY(QFileInfo::exists(c.lastCheckpoint()));
    ng::Checkpoint ck = ng::load_checkpoint(c.lastCheckpoint().toStdString());
    QCOMPARE(ck.training.step, int64_t(r.all<StepEvent>().back().step));
    QVERIFY(!ck.weights.empty());
  }

  void stepFromPausedTakesExactlyOneBatch() {
    TrainingController c;
    Recorder r(c);
    QVERIFY(c.start(spiral(), options(/*paused=*/true)));
    QCOMPARE(c.state(), State::Paused);
    QTest::qWait(400);  // the data loads, the trainer waits
    QCOMPARE(r.steps(), 0);
    c.step();
    QCOMPARE(c.state(), State::Paused);
    QTRY_COMPARE_WITH_TIMEOUT(r.steps(), 1, 10000);
    c.step();
    QTRY_COMPARE_WITH_TIMEOUT(r.steps(), 2, 10000);
    QTest::qWait(300);
    QCOMPARE(r.steps(), 2);
    QCOMPARE(r.all<StepEvent>().back().step, int64_t(2));
    c.stop();
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 10000);
  }

  void stepWhileRunningPauses() {
    TrainingController c;
    Recorder r(c);
    QVERIFY(c.start(spiral(), options()));
    QTRY_VERIFY_WITH_TIMEOUT(r.steps() >= 3, 20000);
    c.step();
    QCOMPARE(c.state(), State::Paused);
    QTRY_VERIFY_WITH_TIMEOUT(r.pausedEventSeen(), 5000);
    const int held = r.steps();
    QTest::qWait(300);
    QCOMPARE(r.steps(), held);
    c.resume();
    QTRY_VERIFY_WITH_TIMEOUT(r.steps() > held, 10000);
    c.stop();
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 10000);
  }

  void pauseChangeLearningRateResume() {
    TrainingController c;
    Recorder r(c);
    QVERIFY(c.start(spiral(), options()));
    QTRY_VERIFY_WITH_TIMEOUT(r.steps() >= 3, 20000);
    c.pause();
    QTRY_VERIFY_WITH_TIMEOUT(r.pausedEventSeen(), 5000);
    const size_t before = r.all<StepEvent>().size();
    for (const StepEvent& s : r.all<StepEvent>()) QCOMPARE(s.lr, 0.01);
    c.setLearningRate(0.00125);
    QCOMPARE(c.state(), State::Paused);
    c.resume();
    QTRY_VERIFY_WITH_TIMEOUT(r.all<StepEvent>().size() > before + 3, 10000);
    std::vector<StepEvent> steps = r.all<StepEvent>();
    for (size_t i = before; i < steps.size(); ++i) QCOMPARE(steps[i].lr, 0.00125);
    QCOMPARE(c.learningRate(), 0.00125);
    c.stop();
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 10000);
    // The optimiser (Adam) kept its state and took the new rate.
    ng::Checkpoint ck = ng::load_checkpoint(c.lastCheckpoint().toStdString());
    QCOMPARE(ck.optimizer.hyper.at("lr"), 0.00125);
    QVERIFY(ck.optimizer.params.at(0).tensors.count("exp_avg"));
  }

  // Trains `before` single steps of `p` (paused), calls `between`, trains `after` more and stops;
  // the checkpoint written where it stopped, and the log.
  void stepsAround(ng::Checkpoint& out, const ng::ProjectSpec& p, int before,
                   const std::function<void(TrainingController&)>& between, int after,
                   QStringList* log = nullptr) {
    TrainingController c;
    Recorder r(c);
    QStringList lines;
    QObject::connect(&c, &TrainingController::message, [&](const QString& t, int) { lines << t; });
    QVERIFY(c.start(p, options(/*paused=*/true)));
    for (int i = 1; i <= before; ++i) {
      c.step();
      QTRY_COMPARE_WITH_TIMEOUT(r.steps(), i, 10000);  // each step waits for the one before
    }
    between(c);
    for (int i = 1; i <= after; ++i) {
      c.step();
      QTRY_COMPARE_WITH_TIMEOUT(r.steps(), before + i, 10000);
    }
    c.stop();
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 10000);
    if (log) *log = lines;
    out = ng::load_checkpoint(c.lastCheckpoint().toStdString());
  }

  // Paused after 3 SGD steps (momentum 0.9): switching to SGD with another learning rate keeps
  // the momentum buffers (m4 = 0.9 m3 + g4, w4 = w3 - lr m4); switching to Adam starts Adam
  // fresh (step 1, exp_avg = (1 - beta1) g4), which also gives g4 independently.
  void changeTheOptimiserWhilePausedKeepsMomentumOfTheSameType() {
    ng::ProjectSpec p = spiral();
    p.training.optimizer = {.type = "SGD", .lr = 0.05, .momentum = 0.9};
    const std::string w = "fc2/weight";
    ng::Checkpoint at3, same, other;
    stepsAround(
        at3, p, 3, [](TrainingController&) {}, 0);
    QStringList sameLog, otherLog;
    stepsAround(
        same, p, 3,
        [](TrainingController& c) {
          QVERIFY(c.setOptimizer({.type = "SGD", .lr = 0.02, .momentum = 0.9}));
          QCOMPARE(c.optimizer().lr, 0.02);
        },
        1, &sameLog);
    stepsAround(
        other, p, 3,
        [](TrainingController& c) {
          QVERIFY(c.setOptimizer({.type = "Adam", .lr = 0.001, .beta1 = 0.9, .beta2 = 0.999}));
        },
        1, &otherLog);
    QVERIFY(!at3.weights.empty() && !same.weights.empty() && !other.weights.empty());
    QCOMPARE(QString::fromStdString(same.optimizer.type), QString("sgd"));
    QCOMPARE(same.optimizer.hyper.at("lr"), 0.02);
    QCOMPARE(stateOf(same, w).scalars.at("step"), 4.0);  // carried on: 3 + 1
    QCOMPARE(QString::fromStdString(other.optimizer.type), QString("adam"));
    QCOMPARE(stateOf(other, w).scalars.at("step"), 1.0);  // fresh
    QVERIFY(!stateOf(other, w).tensors.count("momentum_buffer"));
    QVERIFY(sameLog.filter("is kept").size() == 1);
    QVERIFY2(otherLog.filter("starts with fresh state").size() == 1,
             qPrintable(otherLog.join('\n')));

    const std::vector<float> m3 =
        stateOf(at3, w).tensors.at("momentum_buffer").contiguous().to_vector<float>();
    const std::vector<float> m4 =
        stateOf(same, w).tensors.at("momentum_buffer").contiguous().to_vector<float>();
    const std::vector<float> a4 =
        stateOf(other, w).tensors.at("exp_avg").contiguous().to_vector<float>();
    const std::vector<float> w3 = weightOf(at3, w), w4 = weightOf(same, w);
    QCOMPARE(m4.size(), m3.size());
    double gNorm = 0;
    for (size_t i = 0; i < m3.size(); ++i) {
      const double g4 = a4[i] / 0.1;  // Adam's first step: exp_avg = (1 - beta1) g
      gNorm += g4 * g4;
      QVERIFY2(
          std::abs(m4[i] - (0.9 * m3[i] + g4)) <= 1e-5 + 1e-4 * std::abs(m4[i]),
          qPrintable(QString("momentum %1: %2 vs %3").arg(i).arg(m4[i]).arg(0.9 * m3[i] + g4)));
      QVERIFY(std::abs(w4[i] - (w3[i] - 0.02 * m4[i])) <= 1e-6 + 1e-5 * std::abs(w4[i]));
    }
    QVERIFY(gNorm > 0);  // a real gradient: the check above could tell the two apart
    double mNorm = 0;
    for (float v : m3) mNorm += double(v) * v;
    QVERIFY(mNorm > 1e-3 * gNorm);
  }

  void aBadOptimiserIsRefusedAndNothingChanges() {
    TrainingController c;
    Recorder r(c);
    QStringList warnings;
    QObject::connect(&c, &TrainingController::message, [&](const QString& t, int level) {
      if (level == 1) warnings << t;
    });
    QVERIFY(!c.setOptimizer({.type = "SGD"}));  // idle: nothing to change
    QVERIFY(c.start(spiral(), options(/*paused=*/true)));
    c.step();
    QTRY_COMPARE_WITH_TIMEOUT(r.steps(), 1, 10000);
    QVERIFY(!c.setOptimizer({.type = "Adagrad"}));
    QVERIFY(!c.setOptimizer({.type = "SGD", .momentum = 1.5}));
    QCOMPARE(warnings.size(), 2);
    QVERIFY(warnings[0].contains("Adagrad"));
    QVERIFY(warnings[1].contains("momentum"));
    QCOMPARE(QString::fromStdString(c.optimizer().type), QString("Adam"));
    c.stop();
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 10000);
    ng::Checkpoint ck = ng::load_checkpoint(c.lastCheckpoint().toStdString());
    QCOMPARE(QString::fromStdString(ck.optimizer.type), QString("adam"));
  }

  // A checkpoint written after a switch to RMSprop resumes in a project that still names Adam.
  void aRunResumesWithTheOptimiserItWasSwitchedTo() {
    QString last;
    {
      TrainingController c;
      Recorder r(c);
      QVERIFY(c.start(spiral(), options(/*paused=*/true)));
      c.step();
      QTRY_COMPARE_WITH_TIMEOUT(r.steps(), 1, 10000);
      QVERIFY(c.setOptimizer({.type = "RMSprop", .lr = 0.001, .momentum = 0.5}));
      c.setLearningRate(0.0005);
      c.step();
      QTRY_COMPARE_WITH_TIMEOUT(r.steps(), 2, 10000);
      c.stop();
      QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 10000);
      last = c.lastCheckpoint();
      // run.json records the changes and when they came.
      QFile f(c.runDir() + "/run.json");
      QVERIFY(f.open(QIODevice::ReadOnly));
      const QJsonArray changes = QJsonDocument::fromJson(f.readAll()).object()["changes"].toArray();
      QCOMPARE(changes.size(), 2);
      QCOMPARE(changes[0].toObject()["after_step"].toInt(), 1);
      QCOMPARE(changes[0].toObject()["optimizer"].toObject()["type"].toString(),
               QString("RMSprop"));
      QCOMPARE(changes[0].toObject()["optimizer"].toObject()["momentum"].toDouble(), 0.5);
      QCOMPARE(changes[1].toObject()["lr"].toDouble(), 0.0005);
    }
    TrainingController c;
    Recorder r(c);
    TrainingController::RunOptions o = options(/*paused=*/true);
    o.resumeFrom = last;
    QVERIFY(c.start(spiral(), o));
    c.step();
    QTRY_VERIFY_WITH_TIMEOUT(r.steps() == 1 || c.state() == State::Failed, 10000);
    QVERIFY2(c.state() != State::Failed, qPrintable(c.lastError()));
    QCOMPARE(r.all<StepEvent>().back().step, int64_t(3));
    c.stop();
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 10000);
    ng::Checkpoint ck = ng::load_checkpoint(c.lastCheckpoint().toStdString());
    QCOMPARE(QString::fromStdString(ck.optimizer.type), QString("rmsprop"));
    QCOMPARE(ck.optimizer.hyper.at("momentum"), 0.5);
    QCOMPARE(ck.optimizer.hyper.at("lr"), 0.0005);
  }

  void aRunThatCompletesEndsIdleWithItsRecord() {
    TrainingController c;
    Recorder r(c);
    QSignalSpy finished(&c, &TrainingController::finished);
    QSignalSpy saved(&c, &TrainingController::checkpointWritten);
    QVERIFY(c.start(spiral(3), options()));
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 30000);
    QCOMPARE(r.states, (std::vector<State>{State::Running, State::Idle}));
    QCOMPARE(finished.at(0).at(0).toString(), QString("completed"));
    QCOMPARE(int(r.all<EpochEvent>().size()), 3);
    QVERIFY(saved.count() >= 3);  // last.h5 every epoch (+ best.h5)
    QCOMPARE(QFileInfo(c.lastCheckpoint()).fileName(), QString("last.h5"));
    QCOMPARE(QFileInfo(c.bestCheckpoint()).fileName(), QString("best.h5"));
    QCOMPARE(ng::load_checkpoint(c.lastCheckpoint().toStdString()).training.epoch, int64_t(3));
    // run.json: what was trained and how it ended; project.ngraph: the graph as trained.
    QFile f(c.runDir() + "/run.json");
    QVERIFY(f.open(QIODevice::ReadOnly));
    QJsonObject run = QJsonDocument::fromJson(f.readAll()).object();
    QCOMPARE(run["format"].toString(), QString("neurograph-run"));
    QCOMPARE(run["status"].toString(), QString("completed"));
    QCOMPARE(run["epochs_completed"].toInt(), 3);
    QCOMPARE(run["graph_hash"].toString().size(), 16);
    QCOMPARE(run["history"].toObject()["val_accuracy"].toArray().size(), 3);
    QCOMPARE(ng::load_project((c.runDir() + "/project.ngraph").toStdString()).graph,
             spiral().graph);
  }

  void commandsBeforeTheTrainerExistsAreKept() {
    // Stop right after start: the data may still be loading; the run ends without training.
    {
      TrainingController c;
      QSignalSpy finished(&c, &TrainingController::finished);
      QVERIFY(c.start(spiral(), options()));
      c.stop();
      QCOMPARE(c.state(), State::Stopping);
      QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 10000);
      QCOMPARE(finished.count(), 1);
      QCOMPARE(finished.at(0).at(0).toString(), QString("stopped"));
    }
    // Pause right after start: no step until resume.
    {
      TrainingController c;
      Recorder r(c);
      QVERIFY(c.start(spiral(), options()));
      c.pause();
      QCOMPARE(c.state(), State::Paused);
      QTest::qWait(300);
      const int held = r.steps();
      QTest::qWait(300);
      QCOMPARE(r.steps(), held);
      c.resume();
      QTRY_VERIFY_WITH_TIMEOUT(r.steps() > held + 2, 10000);
      c.stop();
      QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 10000);
    }
  }

  void stopDuringACheckpointWriteKeepsTheGuiResponsive() {
    ng::detail::set_checkpoint_save_hook(&holdingHook);
    g_released = false;
    g_inWrite = false;
    g_holdWrite = true;
    TrainingController c;
    Recorder r(c);
    QVERIFY(c.start(spiral(), options()));
    QTRY_VERIFY_WITH_TIMEOUT(g_inWrite.load(), 20000);  // the epoch-1 last.h5 is being written

    QElapsedTimer t;
    t.start();
    c.stop();
    QVERIFY2(t.elapsed() < 50, "stop() must not wait for the write");
    QCOMPARE(c.state(), State::Stopping);
    // The GUI thread keeps running its event loop while the worker is held in the write.
    int ticks = 0;
    QTimer probe;
    connect(&probe, &QTimer::timeout, [&] { ++ticks; });
    probe.start(10);
    QTest::qWait(300);
    QVERIFY(ticks >= 10);
    QCOMPARE(c.state(), State::Stopping);

    g_released = true;
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 10000);
    ng::detail::set_checkpoint_save_hook(nullptr);
    QCOMPARE(r.states.back(), State::Idle);
    // The held write completed, the stop wrote last.h5 again; both whole, no temporaries.
    ng::Checkpoint ck = ng::load_checkpoint(c.lastCheckpoint().toStdString());
    QCOMPARE(ck.training.epoch, int64_t(1));
    for (const auto& entry : std::filesystem::directory_iterator(c.runDir().toStdString()))
      QVERIFY2(entry.path().extension() != ".tmp", entry.path().c_str());
  }

  void aNonFiniteLossFailsAndNamesTheNode() {
    TrainingController c;
    Recorder r(c);
    QSignalSpy failed(&c, &TrainingController::failed);
    ng::ProjectSpec p = spiral();
    p.training.optimizer.type = "SGD";
    p.training.optimizer.lr = 1e38;
    QVERIFY(c.start(p, options()));
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Failed, 20000);
    QCOMPARE(failed.count(), 1);
    const QString node = failed.at(0).at(1).toString();
    QVERIFY2(!node.isEmpty(), qPrintable(failed.at(0).at(0).toString()));
    QVERIFY(failed.at(0).at(0).toString().contains("'" + node + "'"));
    QVERIFY(c.lastError().contains("learning rate"));
    // Failed -> Running: a new run starts.
    QVERIFY(c.start(spiral(), options()));
    QCOMPARE(c.state(), State::Running);
    c.stop();
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Idle, 10000);
    QCOMPARE(r.states, (std::vector<State>{State::Running, State::Failed, State::Running,
                                           State::Stopping, State::Idle}));
  }

  void dataThatDoesNotFitFailsBeforeTheRun() {
    TrainingController c;
    QSignalSpy failed(&c, &TrainingController::failed);
    ng::ProjectSpec p = spiral();
    p.dataset.classes = 5;  // the graph's fc3 gives 3 class scores
    QVERIFY(c.start(p, options()));
    QTRY_COMPARE_WITH_TIMEOUT(c.state(), State::Failed, 20000);
    QVERIFY(failed.at(0).at(0).toString().contains("'fc3' gives 3 class scores"));
  }

  void theCudaDeviceIsRefusedWithoutAGpu() {
    if (ng::cuda_available()) QSKIP("this machine has a GPU");
    TrainingController c;
    TrainingController::RunOptions o = options();
    o.device = "cuda";
    QVERIFY(!c.start(spiral(), o));
    // The engine's reason: no CUDA backend in this build, or no device on this machine.
    QVERIFY2(c.lastError().contains(QString::fromStdString(ng::cuda_unavailable_reason())),
             qPrintable(c.lastError()));
    QCOMPARE(c.state(), State::Idle);
    QVERIFY(TrainingController::deviceAvailable("auto"));
    QVERIFY(TrainingController::deviceAvailable("cpu"));
    QVERIFY(!TrainingController::deviceAvailable("cuda:0"));
  }

  void destroyingTheControllerStopsAndJoinsTheRun() {
    auto* c = new TrainingController;
    Recorder r(*c);
    QVERIFY(c->start(spiral(), options()));
    QTRY_VERIFY_WITH_TIMEOUT(r.steps() >= 3, 20000);
    const QString dir = c->runDir();
    QElapsedTimer t;
    t.start();
    delete c;
    QVERIFY(t.elapsed() < 5000);
    QVERIFY(QFileInfo::exists(dir + "/last.h5"));  // saved where it stopped
  }
};

NG_GUI_TEST_MAIN(TrainingControllerTest)
#include "test_training_controller.moc"
