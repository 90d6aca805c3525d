#include "engine/train/metrics.h"

#include <algorithm>
#include <cmath>

namespace ng::train {

namespace {

// Host copy of a floating tensor as doubles (float32 or float64, any device, any strides).
std::vector<double> host_values(const Tensor& t) {
  Tensor c = t.detach();
  if (c.dtype() == DType::Float64) return c.to_vector<double>();
  std::vector<float> f = c.to(DType::Float32).to_vector<float>();
  return std::vector<double>(f.begin(), f.end());
}

}  // namespace

Metrics MetricAccumulator::add(double loss, const Tensor& prediction, const Tensor& targets) {
  Metrics m;
  m.loss = loss;
  m.k = k_;
  if (!targets.defined() || targets.dim() < 1) return m;
  const int64_t n = targets.size(0);
  m.samples = n;
  sums_.loss += loss * double(n);
  sums_.samples += double(n);
  if (!prediction.defined() || !label_metrics_) return m;

  if (targets.dtype() == DType::Int64) {
    // prediction: [N, C] scores, targets: [N] class indices
    if (prediction.dim() != 2 || prediction.size(0) != n) return m;
    const int64_t c = prediction.size(1);
    std::vector<double> p = host_values(prediction);
    std::vector<int64_t> y = targets.to_vector<int64_t>();
    int64_t correct = 0, in_top = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double* row = p.data() + i * c;
      // argmax: the first maximum, as torch.argmax
      int64_t best = 0;
      for (int64_t j = 1; j < c; ++j)
        if (row[j] > row[best]) best = j;
      correct += best == y[size_t(i)];
      if (k_ > 0 && y[size_t(i)] >= 0 && y[size_t(i)] < c) {
        // the label is in the top k when fewer than k classes score strictly higher
        const double v = row[y[size_t(i)]];
        int64_t higher = 0;
        for (int64_t j = 0; j < c; ++j) higher += row[j] > v;
        in_top += higher < k_;
      }
    }
    sums_.correct += double(correct);
    sums_.top_k += double(in_top);
    sums_.classified += double(n);
    m.accuracy = double(correct) / double(n);
    if (k_ > 0) m.top_k = double(in_top) / double(n);
    return m;
  }

  // regression: prediction and targets hold the same values per sample
  if (prediction.numel() != targets.numel()) return m;
  std::vector<double> p = host_values(prediction), t = host_values(targets);
  double sq = 0;
  for (size_t i = 0; i < p.size(); ++i) sq += (p[i] - t[i]) * (p[i] - t[i]);
  sums_.sq_err += sq;
  sums_.values += double(p.size());
  m.mse = p.empty() ? kNaN : sq / double(p.size());
  return m;
}

Metrics MetricAccumulator::result() const {
  Metrics m;
  m.k = k_;
  m.samples = int64_t(sums_.samples);
  if (sums_.samples > 0) m.loss = sums_.loss / sums_.samples;
  if (sums_.classified > 0) {
    m.accuracy = sums_.correct / sums_.classified;
    if (k_ > 0) m.top_k = sums_.top_k / sums_.classified;
  }
  if (sums_.values > 0) m.mse = sums_.sq_err / sums_.values;
  return m;
}

std::vector<double> MetricAccumulator::to_vector(const Sums& s) {
  return {s.loss, s.correct, s.top_k, s.sq_err, s.samples, s.values, s.classified};
}

MetricAccumulator::Sums MetricAccumulator::from_vector(const std::vector<double>& v) {
  NG_CHECK(v.size() == 7, "metric sums: expected 7 values, got ", v.size());
  return Sums{v[0], v[1], v[2], v[3], v[4], v[5], v[6]};
}

TensorStats tensor_stats(const Tensor& t, int bins) {
  TensorStats s;
  if (!t.defined() || t.numel() == 0) return s;
  NG_CHECK(bins >= 1, "tensor_stats: bins must be >= 1, got ", bins);
  std::vector<double> v = host_values(t);
  s.numel = int64_t(v.size());
  double sum = 0, sq = 0, lo = v[0], hi = v[0];
  bool finite_range = false;
  double flo = 0, fhi = 0;  // range of the finite values
  for (double x : v) {
    sum += x;
    sq += x * x;
    lo = std::min(lo, x);
    hi = std::max(hi, x);
    if (std::isfinite(x)) {
      if (!finite_range) flo = fhi = x, finite_range = true;
      flo = std::min(flo, x);
      fhi = std::max(fhi, x);
    }
  }
  const double n = double(v.size());
  s.mean = sum / n;
  double var = 0;
  for (double x : v) var += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(var / n);
  s.norm = std::sqrt(sq);
  // NaN compares false, so min/max above skip it unless it came first: recompute plainly.
  s.min = lo;
  s.max = hi;
  for (double x : v)
    if (std::isnan(x)) s.min = s.max = s.mean = s.std = s.norm = kNaN;
  s.histogram.assign(size_t(bins), 0);
  if (!finite_range) return s;
  const double width = (fhi - flo) / bins;
  for (double x : v) {
    if (!std::isfinite(x)) continue;
    int b = width > 0 ? int((x - flo) / width) : 0;
    s.histogram[size_t(std::clamp(b, 0, bins - 1))] += 1;
  }
  return s;
}

}  // namespace ng::train
