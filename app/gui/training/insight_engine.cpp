#include "app/gui/training/insight_engine.h"

#include <QMetaObject>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>

#include "engine/autograd/autograd.h"
#include "engine/core/parallel.h"
#include "engine/nn/model.h"
#include "engine/ops/elementwise.h"

namespace ng::gui {

namespace {

constexpr int64_t kMaxSamples = 4000;  // the confusion matrix looks at most at this many
constexpr int kGrid = 120;             // decision-boundary cells per side
constexpr int64_t kBatch = 512;

// Features of samples [begin, end) of `ds`, normalised as the DataLoader does (per channel =
// dimension 0 of the sample shape).
std::vector<float> features(const ng::data::Dataset& ds, int64_t begin, int64_t end,
                            const ng::data::Normalization& norm) {
  const int64_t n = ds.sample_numel();
  std::vector<float> x(size_t((end - begin) * n));
  for (int64_t i = begin; i < end; ++i) ds.copy_features(i, x.data() + (i - begin) * n);
  if (!norm.empty()) {
    const int64_t channels = int64_t(norm.mean.size());
    const int64_t per = channels > 0 ? n / channels : n;
    for (int64_t i = 0; i < end - begin; ++i)
      for (int64_t c = 0; c < channels; ++c) {
        float* p = x.data() + i * n + c * per;
        const float m = norm.mean[size_t(c)], s = norm.std[size_t(c)];
        for (int64_t k = 0; k < per; ++k) p[k] = (p[k] - m) / s;
      }
  }
  return x;
}

ng::Shape batchShape(const ng::Shape& sample, int64_t n) {
  ng::Shape s;
  s.push_back(n);
  for (int64_t d : sample) s.push_back(d);
  return s;
}

}  // namespace

// The evaluation model of the worker: compiled once per graph, weights copied per snapshot.
struct InsightEngine::Work {
  std::shared_ptr<const RunData> run;
  std::unique_ptr<ng::Model> model;
  int64_t classes = 0;
  ng::Shape sampleShape;

  // Logits [n, classes] of a batch of samples (features as the model takes them).
  std::vector<float> logits(const std::vector<float>& x, int64_t n) {
    ng::Tensor in = ng::Tensor::from_vector<float>(x, batchShape(sampleShape, n));
    ng::Tensor labels = ng::Tensor::from_vector<int64_t>(std::vector<int64_t>(size_t(n), 0), {n});
    ng::Model::Result r = model->forward({in}, labels);
    if (!r.prediction.defined()) return {};
    return r.prediction.contiguous().to_vector<float>();
  }

  void load(const RunSnapshot& s) {
    if (!model || run->graph != s.run->graph) {
      run = s.run;
      model = std::make_unique<ng::Model>(ng::Model::compile(*run->graph, run->seed));
      model->set_mode(ng::Mode::Eval);
      const ng::data::Dataset& ds = *run->train;
      classes = ds.task() == ng::data::Task::Classification ? ds.num_classes() : 0;
      sampleShape = ds.sample_shape();
    }
    run = s.run;
    ng::autograd::NoGradGuard no_grad;
    auto copy = [](const std::vector<std::pair<std::string, ng::Tensor>>& mine,
                   const std::vector<std::pair<std::string, ng::Tensor>>& theirs) {
      std::map<std::string, const ng::Tensor*> by;
      for (const auto& [n, t] : theirs) by[n] = &t;
      for (const auto& [n, t] : mine) {
        auto it = by.find(n);
        if (it == by.end() || it->second->shape() != t.shape()) continue;
        ng::Tensor dst = t.detach();
        ng::copy_(dst, *it->second);
      }
    };
    copy(model->parameters(), s.params);
    copy(model->buffers(), s.buffers);
  }
};

InsightEngine::InsightEngine(QObject* parent) : QObject(parent) {
  worker_ = std::thread([this] { loop(); });
}

InsightEngine::~InsightEngine() {
  {
    std::lock_guard lk(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  worker_.join();
}

void InsightEngine::submit(std::shared_ptr<const RunSnapshot> snapshot) {
  if (!snapshot || !snapshot->run) return;
  const ng::data::Dataset& ds = *snapshot->run->train;
  takesImages_ = ds.sample_shape() == ng::Shape{1, 28, 28};
  {
    std::lock_guard lk(mu_);
    pending_ = std::move(snapshot);
  }
  cv_.notify_all();
}

void InsightEngine::setViews(bool confusion, bool boundary) {
  std::lock_guard lk(mu_);
  wantConfusion_ = confusion;
  wantBoundary_ = boundary;
}

void InsightEngine::classifyImage(std::vector<float> pixels) {
  {
    std::lock_guard lk(mu_);
    image_ = std::move(pixels);
    imageDirty_ = true;
  }
  cv_.notify_all();
}

void InsightEngine::loop() {
  // One thread: the views must not take the cores training runs on (NOTE [Insight duty
  // cycle]).
  ng::set_thread_num_threads(1);
  Work w;
  std::shared_ptr<const RunSnapshot> current;
  for (;;) {
    std::shared_ptr<const RunSnapshot> snap;
    std::vector<float> image;
    bool classify = false, confusion = false, boundary = false;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return quit_ || pending_ || imageDirty_; });
      if (quit_) return;
      snap = std::move(pending_);
      pending_.reset();
      classify = imageDirty_ || (snap && !image_.empty());
      imageDirty_ = false;
      image = image_;
      confusion = wantConfusion_;
      boundary = wantBoundary_;
    }
    const auto t0 = std::chrono::steady_clock::now();
    try {
      if (snap) {
        w.load(*snap);
        current = snap;
      }
      if (!current || w.classes <= 1) {
        if (snap)
          QMetaObject::invokeMethod(
              this,
              [this] {
                emit unavailable(tr("These views need a classification model (class scores)."));
              },
              Qt::QueuedConnection);
        continue;
      }
      const RunData& run = *w.run;
      QStringList names;
      for (const std::string& n : run.train->class_names()) names << QString::fromStdString(n);
      auto argmax = [&](const float* row, float* prob) {
        int best = 0;
        float m = row[0];
        for (int c = 1; c < w.classes; ++c)
          if (row[c] > m) m = row[c], best = c;
        if (prob) {  // softmax of the best
          double z = 0;
          for (int c = 0; c < w.classes; ++c) z += std::exp(double(row[c] - m));
          *prob = float(1.0 / z);
        }
        return best;
      };

      if (snap && confusion) {
        // Confusion matrix.
        const ng::data::DatasetPtr& ds = run.val ? run.val : run.train;
        Confusion c;
        c.epoch = snap->epoch;
        c.step = snap->step;
        c.classes = int(w.classes);
        c.names = names;
        c.set = run.val ? tr("validation") : tr("training");
        c.counts.assign(size_t(w.classes * w.classes), 0);
        const int64_t n = std::min(ds->size(), kMaxSamples);
        for (int64_t b = 0; b < n; b += kBatch) {
          const int64_t e = std::min(n, b + kBatch);
          std::vector<float> lg = w.logits(features(*ds, b, e, run.normalization), e - b);
          if (lg.size() < size_t((e - b) * w.classes)) break;
          for (int64_t i = b; i < e; ++i) {
            const int pred = argmax(lg.data() + (i - b) * w.classes, nullptr);
            const int64_t truth = ds->label(i);
            if (truth >= 0 && truth < w.classes) ++c.counts[size_t(truth * w.classes + pred)];
          }
        }
        QMetaObject::invokeMethod(
            this, [this, c] { emit confusionReady(c); }, Qt::QueuedConnection);
      }
      if (snap && boundary) {
        // Decision regions for 2-D inputs.
        if (w.sampleShape == ng::Shape{2}) {
          Boundary bd;
          bd.epoch = snap->epoch;
          bd.step = snap->step;
          bd.classes = int(w.classes);
          bd.nx = bd.ny = kGrid;
          double lo[2] = {1e300, 1e300}, hi[2] = {-1e300, -1e300};
          float f[2];
          for (const ng::data::DatasetPtr& set : {run.train, run.val}) {
            if (!set) continue;
            for (int64_t i = 0; i < set->size(); ++i) {
              set->copy_features(i, f);
              for (int k = 0; k < 2; ++k)
                lo[k] = std::min(lo[k], double(f[k])), hi[k] = std::max(hi[k], double(f[k]));
            }
          }
          for (int k = 0; k < 2; ++k) {
            double m = 0.1 * std::max(1e-6, hi[k] - lo[k]);
            lo[k] -= m;
            hi[k] += m;
          }
          bd.x0 = lo[0];
          bd.x1 = hi[0];
          bd.y0 = lo[1];
          bd.y1 = hi[1];
          std::vector<float> grid(size_t(kGrid * kGrid * 2));
          for (int j = 0; j < kGrid; ++j)
            for (int i = 0; i < kGrid; ++i) {
              float* p = grid.data() + 2 * (j * kGrid + i);
              p[0] = float(lo[0] + (hi[0] - lo[0]) * (i + 0.5) / kGrid);
              p[1] = float(lo[1] + (hi[1] - lo[1]) * (j + 0.5) / kGrid);
              if (!run.normalization.empty())
                for (int k = 0; k < 2; ++k)
                  p[k] =
                      (p[k] - run.normalization.mean[size_t(k)]) / run.normalization.std[size_t(k)];
            }
          std::vector<float> lg = w.logits(grid, int64_t(kGrid) * kGrid);
          if (lg.size() == size_t(kGrid * kGrid * w.classes)) {
            bd.cls.resize(size_t(kGrid * kGrid));
            bd.conf.resize(size_t(kGrid * kGrid));
            for (int k = 0; k < kGrid * kGrid; ++k)
              bd.cls[size_t(k)] = argmax(lg.data() + int64_t(k) * w.classes, &bd.conf[size_t(k)]);
            const ng::data::DatasetPtr& pts = run.val ? run.val : run.train;
            for (int64_t i = 0; i < std::min<int64_t>(pts->size(), 2000); ++i) {
              pts->copy_features(i, f);
              bd.x.push_back(f[0]);
              bd.y.push_back(f[1]);
              bd.label.push_back(int(pts->label(i)));
            }
            QMetaObject::invokeMethod(
                this, [this, bd] { emit boundaryReady(bd); }, Qt::QueuedConnection);
          }
        }
      }

      // The drawing pad's image.
      if (classify && !image.empty() && w.sampleShape == ng::Shape{1, 28, 28} &&
          image.size() == 784) {
        if (!run.normalization.empty())
          for (float& v : image) v = (v - run.normalization.mean[0]) / run.normalization.std[0];
        std::vector<float> lg = w.logits(image, 1);
        if (lg.size() == size_t(w.classes)) {
          ImageGuess g;
          g.step = current->step;
          g.names = names;
          const float m = *std::max_element(lg.begin(), lg.end());
          double z = 0;
          for (float v : lg) z += std::exp(double(v - m));
          for (float v : lg) g.probs.push_back(std::exp(double(v - m)) / z);
          QMetaObject::invokeMethod(
              this, [this, g] { emit imageClassified(g); }, Qt::QueuedConnection);
        }
      }
      QMetaObject::invokeMethod(
          this, [this] { ++evaluated_; }, Qt::QueuedConnection);
    } catch (const std::exception& e) {
      const QString why = QString::fromUtf8(e.what());
      QMetaObject::invokeMethod(
          this, [this, why] { emit unavailable(why); }, Qt::QueuedConnection);
    }
    // NOTE [Insight duty cycle]: after an evaluation of a snapshot that took T, rest 2T (at
    // most a second) so that the views take at most a third of a core from training. A drawn
    // image is answered at once.
    if (snap) {
      auto rest = std::min<std::chrono::steady_clock::duration>(
          2 * (std::chrono::steady_clock::now() - t0), std::chrono::seconds(1));
      std::unique_lock lk(mu_);
      cv_.wait_for(lk, rest, [&] { return quit_ || imageDirty_; });
    }
  }
}

}  // namespace ng::gui
