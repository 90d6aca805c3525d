#include <gtest/gtest.h>

#include "engine/core/parallel.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/reduce.h"
#include "engine/ops/shape_ops.h"
#include "tests/engine/gradcheck.h"

using ng::testing::contains;
using ng::testing::message_of;

using namespace ng;
using ng::testing::expect_gradients_match;
using ng::testing::rand64;

namespace {

Tensor weights(const Shape& s, uint64_t seed) {
  return rand64(s, seed, -1, 1, false);
}

}  // namespace

TEST(Concat, ValuesAlongEachAxis) {
  Tensor a = Tensor::from_vector<float>({1, 2, 3, 4}, {2, 2});
  Tensor b = Tensor::from_vector<float>({5, 6}, {1, 2});
  Tensor c = Tensor::from_vector<float>({7, 8, 9, 10, 11, 12}, {2, 3});
  Tensor r0 = concat({a, b}, 0);
  EXPECT_EQ(r0.shape(), (Shape{3, 2}));
  EXPECT_EQ(r0.to_vector<float>(), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  Tensor r1 = concat({a, c}, -1);
  EXPECT_EQ(r1.shape(), (Shape{2, 5}));
  EXPECT_EQ(r1.to_vector<float>(), (std::vector<float>{1, 2, 7, 8, 9, 3, 4, 10, 11, 12}));
  // A non-contiguous input is read through its strides.
  Tensor r2 = concat({a.transpose(0, 1), a}, 1);
  EXPECT_EQ(r2.to_vector<float>(), (std::vector<float>{1, 3, 1, 2, 2, 4, 3, 4}));
}

TEST(Concat, BackwardMatchesFiniteDifferences) {
  Tensor a = rand64({2, 1, 3}, 1), b = rand64({2, 3, 3}, 2), c = rand64({2, 2, 3}, 3, -1, 1, false);
  Tensor w = weights({2, 6, 3}, 4);
  expect_gradients_match(
      [&](const std::vector<Tensor>& in) {
        return sum(mul(concat({in[0], in[1], in[2]}, 1), w));
      },
      {a, b, c});
  Tensor w0 = weights({4, 3}, 5);
  expect_gradients_match(
      [&](const std::vector<Tensor>& in) {
        return sum(mul(square(concat({in[0], in[1]}, 0)), w0));
      },
      {rand64({1, 3}, 6), rand64({3, 3}, 7)});
}

TEST(Concat, MismatchedShapesNameLayerAndShapes) {
  std::string m = message_of<ShapeError>([&] {
    concat({Tensor::zeros({2, 3, 4}), Tensor::zeros({2, 5, 3})}, 1, "Concat 'cat1'");
  });
  EXPECT_TRUE(contains(m, "cat1") && contains(m, "[2, 5, 3]") && contains(m, "[2, 3, 4]")) << m;
  m = message_of<Error>([&] { concat({}, 0, "Concat 'cat2'"); });
  EXPECT_TRUE(contains(m, "cat2")) << m;
}

TEST(Split, ValuesAndRoundTrip) {
  Tensor x = Tensor::from_vector<float>({0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {2, 6});
  auto parts = split(x, {1, 3, 2}, 1);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].shape(), (Shape{2, 1}));
  EXPECT_EQ(parts[0].to_vector<float>(), (std::vector<float>{0, 6}));
  EXPECT_EQ(parts[1].to_vector<float>(), (std::vector<float>{1, 2, 3, 7, 8, 9}));
  EXPECT_EQ(parts[2].to_vector<float>(), (std::vector<float>{4, 5, 10, 11}));
  EXPECT_EQ(concat(parts, 1).to_vector<float>(), x.to_vector<float>());
  auto rows = split(x, {1, 1}, 0);
  EXPECT_EQ(rows[1].to_vector<float>(), (std::vector<float>{6, 7, 8, 9, 10, 11}));
}

TEST(Split, BackwardMatchesFiniteDifferencesWithUnusedParts) {
  Tensor x = rand64({3, 7, 2}, 8);
  Tensor w0 = weights({3, 2, 2}, 9), w2 = weights({3, 4, 2}, 10);
  // Parts 0 and 2 used, part 1 unused: its slice of the gradient is zero.
  expect_gradients_match(
      [&](const std::vector<Tensor>& in) {
        auto p = split(in[0], {2, 1, 4}, 1);
        return sum(mul(p[0], w0)) + sum(mul(square(p[2]), w2));
      },
      {x});
  x.zero_grad();
  auto p = split(x, {2, 1, 4}, -2);
  sum(p[0]).backward();
  auto g = x.grad().to_vector<double>();
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t k = 0; k < 7; ++k)
      for (int64_t j = 0; j < 2; ++j) EXPECT_EQ(g[(n * 7 + k) * 2 + j], k < 2 ? 1.0 : 0.0);
}

TEST(Split, SizesThatDoNotSumNameLayerAndShape) {
  std::string m = message_of<ShapeError>([&] {
    split(Tensor::zeros({2, 6}), {2, 3}, 1, "Split 'sp1'");
  });
  EXPECT_TRUE(contains(m, "sp1") && contains(m, "[2, 6]") && contains(m, "5")) << m;
}

TEST(Embedding, GathersRowsForIdsOfAnyShape) {
  Tensor table = Tensor::from_vector<float>({0, 1, 10, 11, 20, 21, 30, 31}, {4, 2});
  Tensor ids = Tensor::from_vector<int64_t>({3, 0, 2, 2, 1, 3}, {2, 3});
  Tensor y = embedding(ids, table);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(y.to_vector<float>(),
            (std::vector<float>{30, 31, 0, 1, 20, 21, 20, 21, 10, 11, 30, 31}));
  EXPECT_EQ(embedding(Tensor::from_vector<int64_t>({2}, {}), table).shape(), (Shape{2}));
}

TEST(Embedding, BackwardScatterAddsIntoTheTable) {
  Tensor table = rand64({5, 3}, 11);
  Tensor ids = Tensor::from_vector<int64_t>({4, 1, 4, 0, 4, 1}, {3, 2});  // repeats, row 2,3 unused
  Tensor w = weights({3, 2, 3}, 12);
  expect_gradients_match(
      [&](const std::vector<Tensor>& in) { return sum(mul(square(embedding(ids, in[0])), w)); },
      {table});
  table.zero_grad();
  sum(embedding(ids, table)).backward();
  auto g = table.grad().to_vector<double>();
  const double count[5] = {1, 2, 0, 0, 3};
  for (int v = 0; v < 5; ++v)
    for (int d = 0; d < 3; ++d) EXPECT_EQ(g[v * 3 + d], count[v]) << v;
}

TEST(Embedding, OutOfRangeIdNamesIdAndTableSize) {
  Tensor table = Tensor::zeros({10, 4});
  std::string m = message_of<ValueError>([&] {
    embedding(Tensor::from_vector<int64_t>({3, 12}, {2}), table, "Embedding 'emb'");
  });
  EXPECT_TRUE(contains(m, "'emb'") && contains(m, "id 12") && contains(m, "10")) << m;
  m = message_of<ValueError>(
      [&] { embedding(Tensor::from_vector<int64_t>({-1}, {1}), table, "Embedding 'emb'"); });
  EXPECT_TRUE(contains(m, "id -1")) << m;
  m = message_of<Error>([&] { embedding(Tensor::zeros({2}), table, "Embedding 'emb'"); });
  EXPECT_TRUE(contains(m, "int64")) << m;
}

TEST(Embedding, ThreadCountDoesNotChangeResults) {
  const int64_t V = 1000, D = 64, n = 2048;
  Tensor table = rand64({V, D}, 13);
  std::vector<int64_t> iv(n);
  for (int64_t i = 0; i < n; ++i) iv[i] = (i * 37 + i / 3) % V;
  Tensor ids = Tensor::from_vector<int64_t>(iv, {n});
  Tensor w = weights({n, D}, 14);
  std::vector<double> y[2], g[2];
  const int prev = num_threads();
  for (int threads : {1, 2}) {
    set_num_threads(threads);
    table.zero_grad();
    Tensor out = embedding(ids, table);
    sum(mul(out, w)).backward();
    y[threads - 1] = out.to_vector<double>();
    g[threads - 1] = table.grad().to_vector<double>();
  }
  set_num_threads(prev);
  EXPECT_EQ(y[0], y[1]);
  EXPECT_EQ(g[0], g[1]);  // each table row is summed in id order by one task
  // Spot-check against a plain gather.
  auto tv = table.to_vector<double>();
  for (int64_t i : {int64_t(0), int64_t(777), n - 1})
    for (int64_t d = 0; d < D; ++d) EXPECT_EQ(y[0][i * D + d], tv[iv[i] * D + d]);
}
