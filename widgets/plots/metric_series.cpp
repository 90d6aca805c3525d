#include "widgets/plots/metric_series.h"

#include <algorithm>
#include <cmath>

namespace ng::plots {

using Point = MetricSeries::Point;

namespace {

// NOTE [Min/max decimation]
// Points arrive in x order. Those left of x0 only update `before` (the last of them), the first
// one right of x1 becomes `after`; the others fall into pixel columns, and each column keeps its
// smallest and largest point, written out in x order when the next column starts. The series'
// first and last points bracket the result.
class ColumnDecimator {
 public:
  ColumnDecimator(double x0, double x1, int columns)
      : x0_(x0), x1_(x1), columns_(std::max(1, columns)) {
    scale_ = x1 > x0 ? double(columns_) / (x1 - x0) : 0.0;
    out_.reserve(size_t(2 * columns_ + 4));
  }

  // false once a point right of x1 was seen (the caller may stop feeding).
  bool add(const Point& p) {
    if (p.x < x0_) {
      before_ = p;
      haveBefore_ = true;
      return true;
    }
    if (p.x > x1_) {
      after_ = p;
      haveAfter_ = true;
      return false;
    }
    if (!flushedBefore_) {
      flushedBefore_ = true;
      if (haveBefore_) push(before_);
    }
    int c = std::min(columns_ - 1, int((p.x - x0_) * scale_));
    if (c != col_) {
      flush();
      col_ = c;
      lo_ = hi_ = p;
    } else {
      if (p.y < lo_.y) lo_ = p;
      if (p.y > hi_.y) hi_ = p;
    }
    return true;
  }

  std::vector<Point> finish(const Point& first, const Point& last) {
    if (!flushedBefore_ && haveBefore_) push(before_);
    flush();
    if (haveAfter_) push(after_);
    // The series' first and last points, exactly, at both ends.
    if (out_.empty() || !(out_.front() == first)) out_.insert(out_.begin(), first);
    if (!(out_.back() == last)) out_.push_back(last);
    return std::move(out_);
  }

 private:
  void flush() {
    if (col_ < 0) return;
    if (lo_ == hi_) {
      push(lo_);
    } else if (lo_.x <= hi_.x) {
      push(lo_);
      push(hi_);
    } else {
      push(hi_);
      push(lo_);
    }
    col_ = -1;
  }
  void push(const Point& p) {
    if (out_.empty() || !(out_.back() == p)) out_.push_back(p);
  }

  double x0_, x1_, scale_;
  int columns_;
  int col_ = -1;
  Point lo_, hi_, before_, after_;
  bool haveBefore_ = false, haveAfter_ = false, flushedBefore_ = false;
  std::vector<Point> out_;
};

}  // namespace

MetricSeries::MetricSeries(size_t capacity)
    : capacity_(std::max<size_t>(2, capacity & ~size_t(1))) {}

void MetricSeries::append(double x, double y) {
  if (!std::isfinite(x) || !std::isfinite(y)) return;
  const Point p{x, y};
  if (count_ == 0) {
    first_ = p;
    minY_ = maxY_ = y;
  }
  last_ = p;
  minY_ = std::min(minY_, y);
  maxY_ = std::max(maxY_, y);
  ++count_;
  if (buckets_.empty() || inTail_ >= span_) {
    if (buckets_.size() >= capacity_) compact();  // every bucket is full here
    if (buckets_.capacity() == 0) buckets_.reserve(std::min<size_t>(capacity_, 1024));
    buckets_.push_back({p, p});
    inTail_ = 1;
    return;
  }
  Bucket& b = buckets_.back();
  if (y < b.lo.y) b.lo = p;
  if (y > b.hi.y) b.hi = p;
  ++inTail_;
}

void MetricSeries::compact() {
  // Neighbours merge in pairs; the span doubles. Called with every bucket full and an even
  // count, so every merged bucket is full again.
  size_t n = buckets_.size() / 2;
  for (size_t i = 0; i < n; ++i) {
    const Bucket& a = buckets_[2 * i];
    const Bucket& b = buckets_[2 * i + 1];
    Bucket m;
    m.lo = b.lo.y < a.lo.y ? b.lo : a.lo;
    m.hi = b.hi.y > a.hi.y ? b.hi : a.hi;
    buckets_[i] = m;
  }
  buckets_.resize(n);
  span_ *= 2;
  inTail_ = span_;
}

void MetricSeries::clear() {
  buckets_.clear();
  buckets_.shrink_to_fit();
  span_ = 1;
  inTail_ = 0;
  count_ = 0;
  first_ = last_ = {};
  minY_ = maxY_ = 0;
}

std::vector<Point> MetricSeries::points() const {
  std::vector<Point> out;
  out.reserve(buckets_.size() * (span_ == 1 ? 1 : 2));
  for (const Bucket& b : buckets_) {
    const Point& a = b.lo.x <= b.hi.x ? b.lo : b.hi;
    const Point& c = b.lo.x <= b.hi.x ? b.hi : b.lo;
    out.push_back(a);
    if (!(a == c)) out.push_back(c);
  }
  return out;
}

std::vector<Point> MetricSeries::decimate(double x0, double x1, int columns) const {
  if (count_ == 0) return {};
  ColumnDecimator d(x0, x1, columns);
  // The first bucket that reaches x0, and one before it (for the point left of the range).
  auto it = std::partition_point(buckets_.begin(), buckets_.end(),
                                 [&](const Bucket& b) { return std::max(b.lo.x, b.hi.x) < x0; });
  if (it != buckets_.begin()) --it;
  for (; it != buckets_.end(); ++it) {
    const Point& a = it->lo.x <= it->hi.x ? it->lo : it->hi;
    const Point& c = it->lo.x <= it->hi.x ? it->hi : it->lo;
    if (!d.add(a)) break;
    if (!(a == c) && !d.add(c)) break;
  }
  return d.finish(first_, last_);
}

std::vector<Point> decimateMinMax(const double* x, const double* y, size_t n, double x0, double x1,
                                  int columns) {
  if (n == 0) return {};
  ColumnDecimator d(x0, x1, columns);
  size_t i = size_t(std::lower_bound(x, x + n, x0) - x);
  if (i > 0) --i;
  for (; i < n; ++i)
    if (!d.add({x[i], y[i]})) break;
  return d.finish({x[0], y[0]}, {x[n - 1], y[n - 1]});
}

}  // namespace ng::plots
