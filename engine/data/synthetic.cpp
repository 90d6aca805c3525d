#include "engine/data/synthetic.h"

#include <cmath>

#include "engine/data/random.h"

namespace ng::data {

namespace {

constexpr double kPi = 3.14159265358979323846;

void check(const char* kind, int64_t n, double noise, int64_t classes) {
  if (n < 1 || !(noise >= 0.0) || classes < 2)
    throw ValueError(detail::concat("synthetic set '", kind, "': needs n >= 1 (got ", n,
                                    "), noise >= 0 (got ", noise, ") and at least 2 classes (got ",
                                    classes, ")"));
}

std::vector<std::string> numbered(int64_t k) {
  std::vector<std::string> names;
  for (int64_t c = 0; c < k; ++c) names.push_back(std::to_string(c));
  return names;
}

// Fills a 2-D classification set: point(i, class, position within class, count in class, u, z)
// gives sample i's noiseless point from three uniform draws u[0..2] in [0, 1).
template <class F>
DatasetPtr make_2d(const char* kind, int64_t n, int64_t k, double noise, uint64_t seed,
                   uint64_t stream, std::vector<std::string> names, const F& point) {
  check(kind, n, noise, k);
  auto ds = InMemoryDataset::classification(kind, {2}, n, std::move(names));
  Rng rng = stream_rng(seed, kSyntheticStream, stream);
  std::vector<double> u(size_t(3 * n)), z(size_t(2 * n));
  rng.fill_uniform(u.data(), 3 * n, 0.0, 1.0);
  rng.fill_normal(z.data(), 2 * n, 0.0, 1.0);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = i % k, pos = i / k, count = (n - c + k - 1) / k;
    double x = 0, y = 0;
    point(c, pos, count, &u[size_t(3 * i)], x, y);
    float* f = ds->float_features(i);
    f[0] = float(x + noise * z[size_t(2 * i)]);
    f[1] = float(y + noise * z[size_t(2 * i + 1)]);
    ds->labels()[size_t(i)] = c;
  }
  return ds;
}

}  // namespace

DatasetPtr make_spiral(int64_t n, int64_t arms, double noise, uint64_t seed) {
  return make_2d(
      "spiral", n, arms, noise, seed, 1, numbered(arms),
      [arms](int64_t c, int64_t pos, int64_t count, const double*, double& x, double& y) {
        // Evenly along the arm: radius t, angle turning 4 radians over the arm.
        const double t = (double(pos) + 0.5) / double(count);
        const double a = 2.0 * kPi * double(c) / double(arms) + 4.0 * t;
        x = t * std::sin(a);
        y = t * std::cos(a);
      });
}

DatasetPtr make_circles(int64_t n, double noise, uint64_t seed, double factor) {
  if (!(factor > 0.0 && factor < 1.0))
    throw ValueError(detail::concat("synthetic set 'circles': factor ", factor,
                                    " must lie strictly between 0 and 1"));
  return make_2d("circles", n, 2, noise, seed, 2, {"outer", "inner"},
                 [factor](int64_t c, int64_t, int64_t, const double* u, double& x, double& y) {
                   const double r = c == 0 ? 1.0 : factor, a = 2.0 * kPi * u[0];
                   x = r * std::cos(a);
                   y = r * std::sin(a);
                 });
}

DatasetPtr make_moons(int64_t n, double noise, uint64_t seed) {
  return make_2d("moons", n, 2, noise, seed, 3, {"upper", "lower"},
                 [](int64_t c, int64_t, int64_t, const double* u, double& x, double& y) {
                   const double a = kPi * u[0];
                   if (c == 0) {
                     x = std::cos(a);
                     y = std::sin(a);
                   } else {
                     x = 1.0 - std::cos(a);
                     y = 0.5 - std::sin(a);
                   }
                 });
}

DatasetPtr make_xor(int64_t n, double noise, uint64_t seed) {
  return make_2d("xor", n, 2, noise, seed, 4, {"same sign", "opposite sign"},
                 [](int64_t c, int64_t, int64_t, const double* u, double& x, double& y) {
                   // |x|, |y| in (0.05, 1]; the quadrant from a draw, the sign pattern from c.
                   const double ax = 0.05 + 0.95 * u[0], ay = 0.05 + 0.95 * u[1];
                   const bool x_neg = u[2] < 0.5;
                   x = x_neg ? -ax : ax;
                   y = (x_neg != (c == 1)) ? -ay : ay;
                 });
}

DatasetPtr make_blobs(int64_t n, int64_t centers, double noise, uint64_t seed) {
  return make_2d("blobs", n, centers, noise, seed, 5, numbered(centers),
                 [centers](int64_t c, int64_t, int64_t, const double*, double& x, double& y) {
                   const double a = 2.0 * kPi * double(c) / double(centers);
                   x = 3.0 * std::cos(a);
                   y = 3.0 * std::sin(a);
                 });
}

DatasetPtr make_sine(int64_t n, double noise, uint64_t seed) {
  check("sine", n, noise, 2);
  auto ds = InMemoryDataset::regression("sine", {1}, n, 1);
  Rng rng = stream_rng(seed, kSyntheticStream, 6);
  std::vector<double> u(static_cast<size_t>(n)), z(static_cast<size_t>(n));
  rng.fill_uniform(u.data(), n, -kPi, kPi);
  rng.fill_normal(z.data(), n, 0.0, 1.0);
  for (int64_t i = 0; i < n; ++i) {
    *ds->float_features(i) = float(u[size_t(i)]);
    ds->targets()[size_t(i)] = float(std::sin(u[size_t(i)]) + noise * z[size_t(i)]);
  }
  return ds;
}

const std::vector<std::string>& synthetic_kinds() {
  static const std::vector<std::string> k = {"spiral", "circles", "moons", "xor", "blobs", "sine"};
  return k;
}

DatasetPtr make_synthetic(const std::string& kind, int64_t n, double noise, uint64_t seed,
                          int64_t classes) {
  if (kind == "spiral") return make_spiral(n, classes, noise, seed);
  if (kind == "circles") return make_circles(n, noise, seed);
  if (kind == "moons") return make_moons(n, noise, seed);
  if (kind == "xor") return make_xor(n, noise, seed);
  if (kind == "blobs") return make_blobs(n, classes, noise, seed);
  if (kind == "sine") return make_sine(n, noise, seed);
  std::string names;
  for (const std::string& k : synthetic_kinds()) names += (names.empty() ? "" : ", ") + k;
  throw ValueError(detail::concat("unknown synthetic set '", kind, "' (known: ", names, ")"));
}

}  // namespace ng::data
