// TrainingController: every state transition (NOTE [Training states] in training_controller.h),
// commands before the trainer exists, a stop during a checkpoint write, pause -> change the
// learning rate -> resume, failures before and during a run, and the run folder's files.
// Each run trains the spiral example on a worker thread; the GUI thread is never blocked.
#include <QElapsedTimer>
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
#include <thread>

#include "app/gui/training/event_channel.h"
#include "app/gui/training/training_controller.h"
#include "engine/io/checkpoint.h"
#include "engine/io/project.h"
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

  void theCudaDeviceIsRefusedWithoutTheBackend() {
#ifdef NG_WITH_CUDA
    QSKIP("this build has the CUDA backend");
#else
    TrainingController c;
    TrainingController::RunOptions o = options();
    o.device = "cuda";
    QVERIFY(!c.start(spiral(), o));
    QVERIFY(c.lastError().contains("NG_WITH_CUDA"));
    QCOMPARE(c.state(), State::Idle);
    QVERIFY(TrainingController::deviceAvailable("auto"));
    QVERIFY(TrainingController::deviceAvailable("cpu"));
#endif
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
