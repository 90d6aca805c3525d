// bench_training_gui: measurements for the training GUI's bars (not a pass/fail test; it prints
// what it measures, one JSON line per measurement, and a summary):
//
//   replot     a LivePlot curve of 1,000,000 points: min/max decimation + one replot, while
//              following new data and after a zoom (bar: <= 10 ms); also decimating 1,000,000
//              raw points, and QCustomPlot's own drawing of 1,000,000 points for comparison
//   memory     RSS growth of the dashboard (plots + histogram heatmaps) fed 1,000,000 steps of
//              events at 30 Hz ticks (bar: <= 100 MB)
//   latency    the GUI thread's event-loop latency while LeNet trains at full speed in the main
//              window: a 10 ms timer's lateness, p50/p99/max (bar: p99 <= 50 ms)
//   throughput the GUI run's training throughput vs the same run headless, as the CLI runs it
//              (bar: >= 90%)
//
//   bench_training_gui [replot] [memory] [latency] [--epochs N] [--threads N] [--repeat N]
//                      [--pairs N]
//   (no section named: all). Run it on an idle machine; under Xvfb (DISPLAY) or offscreen.
//   NG_BENCH_HIDE_PLOTS=1: the GUI runs with the plots hidden (what drawing them costs).
//   OpenMP: like the neurograph executable, the bench sets OMP_WAIT_POLICY=ACTIVE and
//   GOMP_SPINCOUNT=1000 and re-executes itself when neither is set (NOTE [OpenMP waits]); the
//   CLI then runs with its own defaults. Set either variable to measure other settings (all
//   three runs then share them).
#include <malloc.h>

#include <QApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QProcessEnvironment>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "app/gui/main_window.h"
#include "app/gui/training/insights_panel.h"
#include "app/gui/training/metrics_dashboard.h"
#include "app/gui/training/training_ui.h"
#include "engine/core/openmp_env.h"
#include "engine/core/parallel.h"
#include "engine/io/project.h"
#include "engine/nn/model.h"
#include "engine/train/datasets.h"
#include "widgets/nodegraph/model/graph_model.h"
#include "widgets/plots/live_plot.h"
#pragma push_macro("emit")
#undef emit
#include "engine/train/trainer.h"
#pragma pop_macro("emit")

using namespace ng::gui;
using namespace ng::train;
using ng::plots::LivePlot;

namespace {

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(p / 100.0 * double(v.size())) - 1;
  return v[size_t(std::clamp(rank, 0.0, double(v.size() - 1)))];
}

double mean(const std::vector<double>& v) {
  return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / double(v.size());
}

double rssMb() {
  malloc_trim(0);
  return double(MetricsDashboard::residentBytes()) / 1048576.0;
}

void line(const char* name, const std::string& fields) {
  std::printf("{\"bench\": \"%s\", %s}\n", name, fields.c_str());
  std::fflush(stdout);
}

std::string fmt(const char* f, double a) {
  char b[64];
  std::snprintf(b, sizeof b, f, a);
  return b;
}

// A loss-like curve: decay, noise and a few spikes.
double lossAt(int64_t s, std::mt19937& rng) {
  std::normal_distribution<double> n(0.0, 0.05);
  double v = 2.0 * std::exp(-double(s) / 150000.0) + 0.1 + n(rng);
  if (s % 99991 == 0) v += 3.0;
  return v;
}

// ---- replot ------------------------------------------------------------------------------

void benchReplot(int repeat) {
  constexpr int64_t kN = 1'000'000;
  std::mt19937 rng(1);
  LivePlot plot;
  int p = plot.addPanel("Loss", 0, 0);
  plot.addCurve("loss", p, "training", QColor("#42a5f5"));
  plot.resize(1200, 500);
  if (qEnvironmentVariableIsSet("NG_BENCH_NO_AA")) plot.setNotAntialiasedElements(QCP::aeAll);
  plot.show();
  (void)QTest::qWaitForWindowExposed(&plot);
  std::vector<double> xs(kN), ys(kN);
  for (int64_t s = 1; s <= kN; ++s) {
    xs[size_t(s - 1)] = double(s);
    ys[size_t(s - 1)] = lossAt(s, rng);
    plot.append("loss", double(s), ys[size_t(s - 1)]);
  }
  plot.refresh();
  QApplication::processEvents();

  // Following: each tick brings a new point, the range grows, every point is decimated again.
  std::vector<double> follow;
  for (int i = 0; i < repeat; ++i) {
    plot.append("loss", double(kN + 1 + i), 0.2);
    QElapsedTimer t;
    t.start();
    plot.refresh();
    follow.push_back(double(t.nsecsElapsed()) / 1e6);
  }
  // Zoomed: a user's range; re-decimated for it, then replotted.
  std::vector<double> zoom, zoomDecimate;
  QCPAxis* x = plot.panelRect(p)->axis(QCPAxis::atBottom);
  for (int i = 0; i < repeat; ++i) {
    QElapsedTimer t;
    t.start();
    x->setRange(200000.0 + 1000.0 * i, 260000.0 + 1000.0 * i);  // as a wheel zoom does
    zoomDecimate.push_back(double(t.nsecsElapsed()) / 1e6);
    plot.replot(QCustomPlot::rpImmediateRefresh);
    zoom.push_back(double(t.nsecsElapsed()) / 1e6);
  }
  const auto* series = plot.series("loss");
  line("replot_follow_1M",
       "\"points\": 1000000, \"drawn\": " + std::to_string(plot.graph("loss")->dataCount()) +
           ", \"stored_bytes\": " + std::to_string(series->memoryBytes()) + ", \"mean_ms\": " +
           fmt("%.3f", mean(follow)) + ", \"p95_ms\": " + fmt("%.3f", percentile(follow, 95)) +
           ", \"max_ms\": " + fmt("%.3f", percentile(follow, 100)));
  line("replot_zoomed_1M", "\"decimate_mean_ms\": " + fmt("%.3f", mean(zoomDecimate)) +
                               ", \"drawn\": " + std::to_string(plot.graph("loss")->dataCount()) +
                               ", \"mean_ms\": " + fmt("%.3f", mean(zoom)) +
                               ", \"p95_ms\": " + fmt("%.3f", percentile(zoom, 95)) +
                               ", \"max_ms\": " + fmt("%.3f", percentile(zoom, 100)));

  // Decimating raw arrays of 1,000,000 points (data kept elsewhere, e.g. a loaded run).
  std::vector<double> raw;
  for (int i = 0; i < repeat; ++i) {
    QElapsedTimer t;
    t.start();
    auto pts = ng::plots::decimateMinMax(xs.data(), ys.data(), xs.size(), 1, double(kN), 1130);
    raw.push_back(double(t.nsecsElapsed()) / 1e6);
    if (pts.size() > 2 * 1130 + 4) std::printf("decimation produced too many points\n");
  }
  line("decimate_raw_1M", "\"mean_ms\": " + fmt("%.3f", mean(raw)) +
                              ", \"p95_ms\": " + fmt("%.3f", percentile(raw, 95)));

  // For comparison: QCustomPlot drawing all 1,000,000 points itself (its adaptive sampling).
  QCustomPlot full;
  full.resize(1200, 500);
  full.show();
  (void)QTest::qWaitForWindowExposed(&full);
  QVector<double> qx(xs.begin(), xs.end()), qy(ys.begin(), ys.end());
  full.addGraph()->setData(qx, qy, true);
  full.rescaleAxes();
  std::vector<double> own;
  for (int i = 0; i < std::min(repeat, 10); ++i) {
    QElapsedTimer t;
    t.start();
    full.replot(QCustomPlot::rpImmediateRefresh);
    own.push_back(double(t.nsecsElapsed()) / 1e6);
  }
  line("qcustomplot_all_points_1M", "\"mean_ms\": " + fmt("%.3f", mean(own)) +
                                        ", \"p95_ms\": " + fmt("%.3f", percentile(own, 95)));
}

// ---- memory ------------------------------------------------------------------------------

void benchMemory() {
  constexpr int64_t kSteps = 1'000'000, kPerTick = 300, kPerEpoch = 1000;
  MetricsDashboard d;
  InsightsPanel insights;
  d.resize(1200, 500);
  d.show();
  insights.show();
  (void)QTest::qWaitForWindowExposed(&d);
  std::mt19937 rng(2);
  const double before = rssMb();
  QElapsedTimer t;
  t.start();
  std::vector<TrainingEvent> tick;
  std::vector<double> refreshMs;  // the dashboard's redraw per tick (decimation + one replot)
  for (int64_t s = 1; s <= kSteps; ++s) {
    StepEvent e;
    e.epoch = (s - 1) / kPerEpoch + 1;
    e.batch = (s - 1) % kPerEpoch + 1;
    e.batches_per_epoch = kPerEpoch;
    e.step = s;
    e.total_steps = kSteps;
    e.lr = 0.01;
    e.batch_metrics.loss = lossAt(s, rng);
    e.batch_metrics.accuracy = 1.0 - 0.5 * e.batch_metrics.loss / 2.2;
    e.samples_per_s = 20000 + double(s % 977);
    tick.push_back(e);
    if (s % 50 == 0) {  // layer statistics, 8 parameters of 32 bins
      LayerStatsEvent ls;
      ls.step = s;
      for (int l = 0; l < 8; ++l) {
        LayerStats st;
        st.node = "layer" + std::to_string(l);
        st.param = "weight";
        st.weight = {0, 0.1, -0.3, 0.3, 1, 1000, std::vector<int64_t>(32, 30)};
        st.grad = {0, 0.01, -0.03, 0.03, 0.1, 1000, std::vector<int64_t>(32, 30)};
        ls.layers.push_back(st);
      }
      tick.push_back(ls);
    }
    if (s % kPerEpoch == 0) {
      EpochEvent ep;
      ep.epoch = s / kPerEpoch;
      ep.step = s;
      ep.train.loss = e.batch_metrics.loss;
      ep.train.accuracy = e.batch_metrics.accuracy;
      ep.val = ep.train;
      ep.val.samples = 1000;
      tick.push_back(ep);
    }
    if (s % kPerTick == 0) {
      d.addEvents(tick);
      for (const auto& ev : tick)
        if (auto* ls = std::get_if<LayerStatsEvent>(&ev)) insights.addLayerStats(*ls);
      tick.clear();
      d.sampleMemory();
      QElapsedTimer rt;
      rt.start();
      d.refresh();
      refreshMs.push_back(double(rt.nsecsElapsed()) / 1e6);
      insights.refresh();
      QApplication::processEvents();
    }
    if (s == 100000)
      line("memory_progress",
           "\"steps\": 100000, \"rss_growth_mb\": " + fmt("%.1f", rssMb() - before));
  }
  const double after = rssMb();
  line("memory_1M_steps",
       "\"rss_before_mb\": " + fmt("%.1f", before) + ", \"rss_after_mb\": " + fmt("%.1f", after) +
           ", \"rss_growth_mb\": " + fmt("%.1f", after - before) +
           ", \"plot_history_bytes\": " + std::to_string(d.plot()->memoryBytes()) +
           ", \"wall_s\": " + fmt("%.1f", double(t.elapsed()) / 1000.0));
  line("dashboard_refresh", "\"ticks\": " + std::to_string(refreshMs.size()) +
                                ", \"mean_ms\": " + fmt("%.2f", mean(refreshMs)) +
                                ", \"p95_ms\": " + fmt("%.2f", percentile(refreshMs, 95)) +
                                ", \"max_ms\": " + fmt("%.2f", percentile(refreshMs, 100)));
}

// ---- latency and throughput --------------------------------------------------------------

// The project's run, headless, as `neurograph-cli train` runs it (sink: a queue, drained at
// the end). Returns training samples per second over the run's wall time.
double headlessRun(const QString& project, int epochs, int threads) {
  ng::ProjectSpec p = ng::load_project(project.toStdString());
  p.training.epochs = epochs;
  if (threads > 0) ng::set_num_threads(threads);
  TrainingData data = make_datasets(p.dataset, QFileInfo(project).absolutePath().toStdString());
  ng::Model model = ng::Model::compile(p.graph, p.training.seed);
  QTemporaryDir out;
  TrainerOptions o;
  o.training = p.training;
  o.out_dir = out.path().toStdString();
  EventQueue q;
  Trainer t(model, data, o, &q);
  FinishedEvent f;
  if (qEnvironmentVariableIsSet("NG_BENCH_HEADLESS_MAIN_THREAD")) {
    f = t.run();
  } else {  // a thread of its own, as the CLI's... as the GUI's worker (same OpenMP setting)
    std::thread worker([&] { f = t.run(); });
    worker.join();
  }
  return double(data.train->size()) * epochs / f.wall_s;
}

// The real command-line program (`neurograph-cli train`, next to this binary): its training
// throughput over the run's wall time as it reports it (data loading excluded, validation and
// checkpoints included, as for the GUI). 0 when it cannot be run.
double cliRun(const QString& project, int epochs, int threads) {
  const QString cli = QCoreApplication::applicationDirPath() + "/neurograph-cli";
  if (!QFileInfo::exists(cli)) return 0;
  QTemporaryDir out;
  QStringList args = {"train",  project, "--epochs", QString::number(epochs),
                      "--json", "--out", out.path()};
  if (threads > 0) args << "--threads" << QString::number(threads);
  QProcess p;
  // The CLI as a user runs it: without the GUI's OpenMP settings (NOTE [OpenMP waits]).
  QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
  if (qEnvironmentVariableIsSet("NG_BENCH_GUI_SET_OPENMP")) {
    env.remove("OMP_WAIT_POLICY");
    env.remove("GOMP_SPINCOUNT");
  }
  p.setProcessEnvironment(env);
  p.start(cli, args);
  if (!p.waitForFinished(600000) || p.exitCode() != 0) return 0;
  for (const QByteArray& l : p.readAllStandardOutput().split('\n')) {
    QJsonObject o = QJsonDocument::fromJson(l).object();
    if (o.value("event").toString() == "done") {
      ng::ProjectSpec spec = ng::load_project(project.toStdString());
      TrainingData data =
          make_datasets(spec.dataset, QFileInfo(project).absolutePath().toStdString());
      return double(data.train->size()) * epochs / o.value("wall_s").toDouble();
    }
  }
  return 0;
}

struct GuiRun {
  double samplesPerS = 0;
  double guiCpuShare = 0;  // CPU time of the GUI thread / wall time of the run
  std::vector<double> lateMs;
};

double threadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

GuiRun guiRun(const QString& project, int epochs, int threads) {
  GuiRun r;
  MainWindow w;
  w.resize(1400, 900);
  w.show();
  (void)QTest::qWaitForWindowExposed(&w);
  w.openFile(project, true);
  ng::ProjectSpec p = w.model()->project();
  p.training.epochs = epochs;
  w.model()->setProject(p);
  QTemporaryDir runs;
  w.training()->setRunsRoot(runs.path());
  w.training()->setThreads(threads);
  double wall = 0;
  int64_t trainSamples = 0;
  QObject::connect(w.training()->controller(), &TrainingController::eventsReady,
                   [&](const std::vector<TrainingEvent>& es) {
                     for (const auto& e : es)
                       if (auto* ep = std::get_if<EpochEvent>(&e)) {
                         if (qEnvironmentVariableIsSet("NG_BENCH_VERBOSE"))
                           std::printf("#   gui epoch %lld: %.3f s\n", (long long)ep->epoch,
                                       ep->epoch_s);
                       } else if (auto* f = std::get_if<FinishedEvent>(&e)) {
                         wall = f->wall_s;
                         trainSamples = f->final_train.samples;
                       }
                   });
  // The probe: a 10 ms timer; its lateness is how long the GUI thread could not react.
  QElapsedTimer clock;
  QTimer probe;
  probe.setTimerType(Qt::PreciseTimer);
  probe.setInterval(10);
  qint64 last = 0;
  QObject::connect(&probe, &QTimer::timeout, [&] {
    qint64 now = clock.nsecsElapsed();
    if (last) r.lateMs.push_back(std::max(0.0, double(now - last) / 1e6 - 10.0));
    last = now;
  });
  if (qEnvironmentVariableIsSet("NG_BENCH_HIDE_PLOTS")) {  // what the plots cost
    QObject::connect(w.training()->controller(), &TrainingController::stateChanged, &w,
                     [&] { w.training()->plotsDock()->hide(); });
  }
  QTest::qWait(300);
  clock.start();
  probe.start();
  const double cpu0 = threadCpuSeconds();
  if (!w.training()->train()) {
    std::printf("the GUI run did not start\n");
    return r;
  }
  {  // the event loop as the application runs it (no polling of our own)
    QEventLoop loop;
    QObject::connect(w.training()->controller(), &TrainingController::stateChanged, &loop, [&] {
      if (!w.training()->controller()->active()) loop.quit();
    });
    if (w.training()->controller()->active()) loop.exec();
  }
  probe.stop();
  r.guiCpuShare = (threadCpuSeconds() - cpu0) / (double(clock.nsecsElapsed()) / 1e9);
  r.samplesPerS = wall > 0 ? double(trainSamples) * epochs / wall : 0;
  return r;
}

double loadAverage() {
  double l = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = -1;
    std::fclose(f);
  }
  return l;
}

// Pairs of runs, the order alternating (headless first, then GUI first), so that a change in
// the machine's load affects both sides; the ratio is taken per pair.
void benchLatency(int epochs, int threads, int pairs) {
  const QString lenet = MainWindow::findExample("lenet-mnist.ngraph");
  std::vector<double> cli, headless, gui, vsCli, vsHeadless, late, cpu;
  headlessRun(lenet, 1, threads);  // warm-up: page cache, allocator
  for (int i = 0; i < std::max(1, pairs); ++i) {
    double h = 0, c = 0;
    GuiRun g;
    if (i % 2 == 0) {  // the order alternates, so that drifting load hits every side
      c = cliRun(lenet, epochs, threads);
      h = headlessRun(lenet, epochs, threads);
      g = guiRun(lenet, epochs, threads);
    } else {
      g = guiRun(lenet, epochs, threads);
      h = headlessRun(lenet, epochs, threads);
      c = cliRun(lenet, epochs, threads);
    }
    headless.push_back(h);
    gui.push_back(g.samplesPerS);
    vsHeadless.push_back(g.samplesPerS / h);
    if (c > 0) {
      cli.push_back(c);
      vsCli.push_back(g.samplesPerS / c);
    }
    cpu.push_back(g.guiCpuShare);
    late.insert(late.end(), g.lateMs.begin(), g.lateMs.end());
    line("lenet_pair", "\"epochs\": " + std::to_string(epochs) + ", \"cli\": " + fmt("%.0f", c) +
                           ", \"headless\": " + fmt("%.0f", h) +
                           ", \"gui\": " + fmt("%.0f", g.samplesPerS) +
                           ", \"gui_vs_cli\": " + fmt("%.3f", c > 0 ? g.samplesPerS / c : 0.0) +
                           ", \"gui_vs_headless\": " + fmt("%.3f", vsHeadless.back()) +
                           ", \"latency_p99_ms\": " + fmt("%.2f", percentile(g.lateMs, 99)) +
                           ", \"gui_thread_cpu\": " + fmt("%.3f", g.guiCpuShare) +
                           ", \"loadavg\": " + fmt("%.2f", loadAverage()));
  }
  line("latency_lenet", "\"threads\": " + std::to_string(ng::num_threads()) +
                            ", \"samples\": " + std::to_string(late.size()) +
                            ", \"p50_ms\": " + fmt("%.2f", percentile(late, 50)) +
                            ", \"p99_ms\": " + fmt("%.2f", percentile(late, 99)) +
                            ", \"max_ms\": " + fmt("%.2f", percentile(late, 100)) +
                            ", \"gui_thread_cpu_mean\": " + fmt("%.3f", mean(cpu)));
  line("throughput_lenet",
       "\"samples_per_s_cli\": " + fmt("%.0f", mean(cli)) + ", \"samples_per_s_headless\": " +
           fmt("%.0f", mean(headless)) + ", \"samples_per_s_gui\": " + fmt("%.0f", mean(gui)) +
           ", \"gui_vs_cli_median\": " + fmt("%.3f", percentile(vsCli, 50)) +
           ", \"gui_vs_cli_min\": " + fmt("%.3f", percentile(vsCli, 0)) +
           ", \"gui_vs_headless_median\": " + fmt("%.3f", percentile(vsHeadless, 50)) +
           ", \"gui_vs_headless_min\": " + fmt("%.3f", percentile(vsHeadless, 0)));
}

}  // namespace

int main(int argc, char** argv) {
  // As the neurograph executable does (NOTE [OpenMP waits]); the marker tells cliRun() to run
  // the CLI with its own defaults.
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT")) {
    setenv("NG_BENCH_GUI_SET_OPENMP", "1", 1);
    ng::ensure_openmp_wait_policy(argc, argv);
  }
  if (qEnvironmentVariableIsEmpty("DISPLAY") && qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))
    qputenv("QT_QPA_PLATFORM", "offscreen");
  QTemporaryDir config;
  qputenv("XDG_CONFIG_HOME", config.path().toUtf8());
  QApplication app(argc, argv);
  QApplication::setOrganizationName("NeurographBench");
  QStringList args = app.arguments().mid(1);
  int epochs = 3, threads = 0, repeat = 30, pairs = 4;
  auto intArg = [&](const QString& name, int& v) {
    int i = args.indexOf(name);
    if (i >= 0 && i + 1 < args.size()) {
      v = args[i + 1].toInt();
      args.remove(i, 2);
    }
  };
  intArg("--epochs", epochs);
  intArg("--threads", threads);
  intArg("--repeat", repeat);
  intArg("--pairs", pairs);
  const bool all = args.isEmpty();
  std::printf("# platform %s, OMP_WAIT_POLICY=%s GOMP_SPINCOUNT=%s\n",
              qPrintable(QGuiApplication::platformName()),
              qgetenv("OMP_WAIT_POLICY").isEmpty() ? "(unset)" : qgetenv("OMP_WAIT_POLICY").data(),
              qgetenv("GOMP_SPINCOUNT").isEmpty() ? "(unset)" : qgetenv("GOMP_SPINCOUNT").data());
  if (all || args.contains("replot")) benchReplot(repeat);
  if (all || args.contains("memory")) benchMemory();
  if (all || args.contains("latency")) benchLatency(epochs, threads, pairs);
  return 0;
}
