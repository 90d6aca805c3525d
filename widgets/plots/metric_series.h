// MetricSeries: the history of one plotted metric (loss per step, validation accuracy per
// epoch, ...) in bounded memory, and min/max decimation for drawing it.
//
// Storage: a series keeps at most `capacity` buckets of 2 points each (32 bytes per bucket;
// the default 32,768 buckets are 1 MiB), however many points are appended. Each bucket holds
// the minimum and the maximum point of `span()` consecutive samples; while the series is short
// every sample is its own bucket (exact). When the buckets are full, neighbours merge in pairs
// and the span doubles, so a 1,000,000-step run costs the same memory as a 65,536-step one and
// still draws its envelope exactly (no spike is lost). The first and the last sample are kept
// exactly.
//
// Decimation (NOTE [Min/max decimation]): for a visible x-range drawn on `columns` pixel
// columns, each column gets the minimum and the maximum point that fall in it, in x order;
// the series' first and last points are always part of the result, and so are the nearest
// points just outside the range (so that the line runs to the plot's edges). The result has at
// most 2 * columns + 4 points, whatever the series' length; drawing it looks the same as
// drawing every point.
//
//   MetricSeries loss;
//   for (int64_t s = 1; s <= 1'000'000; ++s) loss.append(double(s), loss_at(s));
//   std::vector<MetricSeries::Point> pts = loss.decimate(0, 1e6, 800);   // <= 1604 points
//
// Samples must come in non-decreasing x order (training steps); non-finite values are skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ng::plots {

class MetricSeries {
 public:
  struct Point {
    double x = 0, y = 0;
    bool operator==(const Point&) const = default;
  };

  explicit MetricSeries(size_t capacity = 32768);

  void append(double x, double y);
  void clear();

  // Samples appended (finite ones), and what is kept of them.
  int64_t count() const { return count_; }
  bool empty() const { return count_ == 0; }
  size_t bucketCount() const { return buckets_.size(); }
  int64_t span() const { return span_; }  // samples per bucket (1 while exact)
  size_t capacity() const { return capacity_; }
  size_t memoryBytes() const { return buckets_.capacity() * sizeof(Bucket); }
  Point first() const { return first_; }
  Point last() const { return last_; }
  double minY() const { return minY_; }
  double maxY() const { return maxY_; }

  // What is kept, in x order: every sample while span() == 1, else each bucket's minimum and
  // maximum (for export and tests).
  std::vector<Point> points() const;

  // The points to draw x in [x0, x1] on `columns` pixel columns (see the note above).
  std::vector<Point> decimate(double x0, double x1, int columns) const;

 private:
  struct Bucket {
    Point lo, hi;  // the smallest and the largest sample of the bucket
  };
  void compact();

  size_t capacity_;
  std::vector<Bucket> buckets_;
  int64_t span_ = 1;    // samples per full bucket
  int64_t inTail_ = 0;  // samples in the last bucket
  int64_t count_ = 0;
  Point first_, last_;
  double minY_ = 0, maxY_ = 0;
};

// Min/max decimation of raw arrays (x non-decreasing), for data held elsewhere; the same rules
// as MetricSeries::decimate.
std::vector<MetricSeries::Point> decimateMinMax(const double* x, const double* y, size_t n,
                                                double x0, double x1, int columns);

}  // namespace ng::plots
