// widgets/plots: bounded metric histories and min/max decimation (checked against a plain
// per-column reference written here), the live plot's following, zoom and exports, histogram
// heatmaps and the confusion matrix's precision and recall.
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <algorithm>
#include <cmath>
#include <random>

#include "tests/gui/gui_test_main.h"
#include "widgets/plots/confusion_matrix_view.h"
#include "widgets/plots/histogram_heatmap.h"
#include "widgets/plots/live_plot.h"
#include "widgets/plots/metric_series.h"
#include "widgets/plots/tile_grid.h"

using namespace ng::plots;
using Point = MetricSeries::Point;

namespace {

bool contains(const std::vector<Point>& pts, Point p) {
  return std::find(pts.begin(), pts.end(), p) != pts.end();
}

// The reference: for each pixel column of [x0, x1], the smallest and the largest raw point.
void expectColumnsKept(const std::vector<Point>& raw, const std::vector<Point>& out, double x0,
                       double x1, int columns) {
  std::vector<int> lo(size_t(columns), -1), hi(size_t(columns), -1);
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i].x < x0 || raw[i].x > x1) continue;
    int c = std::min(columns - 1, int((raw[i].x - x0) / (x1 - x0) * columns));
    if (lo[size_t(c)] < 0 || raw[i].y < raw[size_t(lo[size_t(c)])].y) lo[size_t(c)] = int(i);
    if (hi[size_t(c)] < 0 || raw[i].y > raw[size_t(hi[size_t(c)])].y) hi[size_t(c)] = int(i);
  }
  for (int c = 0; c < columns; ++c) {
    if (lo[size_t(c)] < 0) continue;
    // Ties: some point of that column with the same value.
    auto has = [&](double y) {
      for (const Point& p : out)
        if (p.y == y && p.x >= x0 && p.x <= x1 &&
            std::min(columns - 1, int((p.x - x0) / (x1 - x0) * columns)) == c)
          return true;
      return false;
    };
    QVERIFY2(has(raw[size_t(lo[size_t(c)])].y), qPrintable(QString("column %1 min").arg(c)));
    QVERIFY2(has(raw[size_t(hi[size_t(c)])].y), qPrintable(QString("column %1 max").arg(c)));
  }
}

std::vector<Point> noisy(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> d(0.0, 1.0);
  std::vector<Point> v;
  for (int i = 0; i < n; ++i) v.push_back({double(i + 1), std::sin(i * 0.001) + 0.2 * d(rng)});
  return v;
}

}  // namespace

class PlotsTest : public QObject {
  Q_OBJECT

 private slots:
  // Shared symmetric scale: -max blue, 0 white, +max red; per tile: its min black, max white;
  // NaN blank. Tiles fill the widget, do not overlap, and a click names the tile.
  void tileGridColoursLayoutAndClicks() {
    using ng::plots::TileGrid;
    TileGrid g;
    g.resize(400, 300);
    g.show();
    QVERIFY(QTest::qWaitForWindowExposed(&g));
    std::vector<TileGrid::Tile> tiles;
    for (int k = 0; k < 6; ++k)
      tiles.push_back(TileGrid::Tile::image(2, 2, {-2.0f, 0.0f, 1.0f, float(k) / 10}));
    tiles[5].values[3] = 4.0f;  // the largest |value|
    g.setTiles(tiles, TileGrid::Scale::SharedSymmetric, "six");
    QCOMPARE(g.tileCount(), 6);
    QCOMPARE(g.maxAbs(), 4.0f);
    QImage a = g.tileImage(5);
    QCOMPARE(QColor(a.pixel(1, 1)), QColor(178, 24, 43));    // +4: the red end
    QCOMPARE(QColor(a.pixel(1, 0)), QColor(247, 247, 247));  // 0: white
    const QColor half = QColor(a.pixel(0, 0));  // -2: half way from white to blue (33, 102, 172)
    QCOMPARE(half, QColor(140, 174, 209));
    tiles[0].values = {1.0f, 3.0f, 2.0f, NAN};
    g.setTiles(tiles, TileGrid::Scale::PerTile, "per tile");
    QImage b = g.tileImage(0);
    QCOMPARE(qGray(b.pixel(0, 0)), 0);
    QCOMPARE(qGray(b.pixel(1, 0)), 255);
    QCOMPARE(qGray(b.pixel(0, 1)), 127);
    QCOMPARE(b.pixel(1, 1), g.palette().color(QPalette::Window).rgb());  // NaN: blank
    // Layout: inside the widget, no two tiles overlap, tiles as large as fit (3 x 2 here).
    for (int i = 0; i < 6; ++i) {
      QVERIFY(g.rect().contains(g.tileRect(i)));
      QVERIFY(g.tileRect(i).width() >= 80);
      for (int j = 0; j < i; ++j) QVERIFY(!g.tileRect(i).intersects(g.tileRect(j)));
      QCOMPARE(g.tileAt(g.tileRect(i).center()), i);
    }
    QCOMPARE(g.columns(), 3);
    g.setTiles(tiles, TileGrid::Scale::PerTile, {}, 2);
    QCOMPARE(g.columns(), 2);
    QSignalSpy clicked(&g, &TileGrid::tileClicked);
    QTest::mouseClick(&g, Qt::LeftButton, {}, g.tileRect(4).center());
    QCOMPARE(clicked.size(), 1);
    QCOMPARE(clicked[0][0].toInt(), 4);
    QTest::mouseClick(&g, Qt::LeftButton, {}, QPoint(1, 1));  // between tiles: nothing
    QCOMPARE(clicked.size(), 1);
  }

  void aShortSeriesKeepsEverySample() {
    MetricSeries s(64);
    std::vector<Point> raw = noisy(50, 1);
    for (const Point& p : raw) s.append(p.x, p.y);
    QCOMPARE(s.count(), int64_t(50));
    QCOMPARE(s.span(), int64_t(1));
    QVERIFY(s.points() == raw);
    s.append(51, std::nan(""));  // non-finite values are skipped
    QCOMPARE(s.count(), int64_t(50));
  }

  void aLongSeriesIsBoundedAndKeepsItsEnvelope() {
    MetricSeries s(1024);
    std::vector<Point> raw = noisy(100000, 2);
    raw[31337].y = 50.0;   // a spike
    raw[77777].y = -50.0;  // and a dip
    for (const Point& p : raw) s.append(p.x, p.y);
    QVERIFY(s.bucketCount() <= 1024);
    QVERIFY(s.memoryBytes() <= 1024 * 32);
    QVERIFY(s.span() >= 100000 / 1024);
    QCOMPARE(s.first(), raw.front());
    QCOMPARE(s.last(), raw.back());
    QCOMPARE(s.maxY(), 50.0);
    QCOMPARE(s.minY(), -50.0);
    std::vector<Point> kept = s.points();
    QVERIFY(contains(kept, raw[31337]));
    QVERIFY(contains(kept, raw[77777]));
    QVERIFY(std::is_sorted(kept.begin(), kept.end(),
                           [](const Point& a, const Point& b) { return a.x < b.x; }));
  }

  void decimationKeepsEachColumnsExtremesAndTheEnds() {
    std::vector<Point> raw = noisy(20000, 3);
    MetricSeries s(1 << 16);  // exact: every sample kept
    for (const Point& p : raw) s.append(p.x, p.y);
    for (auto [x0, x1, cols] : {std::tuple{1.0, 20000.0, 300}, std::tuple{5000.5, 6000.0, 200}}) {
      std::vector<Point> out = s.decimate(x0, x1, cols);
      QVERIFY(out.size() <= size_t(2 * cols + 4));
      QCOMPARE(out.front(), raw.front());
      QCOMPARE(out.back(), raw.back());
      QVERIFY(std::is_sorted(out.begin(), out.end(),
                             [](const Point& a, const Point& b) { return a.x < b.x; }));
      expectColumnsKept(raw, out, x0, x1, cols);
      if (x0 > 1) {  // the nearest points outside the range, so the line reaches the edges
        QVERIFY(contains(out, raw[5000 - 1]));  // x = 5000
        QVERIFY(contains(out, raw[6000]));      // x = 6001
      }
    }
    // The raw-array version draws the same points.
    std::vector<double> xs, ys;
    for (const Point& p : raw) xs.push_back(p.x), ys.push_back(p.y);
    QVERIFY(decimateMinMax(xs.data(), ys.data(), xs.size(), 5000.5, 6000.0, 200) ==
            s.decimate(5000.5, 6000.0, 200));
  }

  void decimatingAMillionPointsGivesAFewThousand() {
    MetricSeries s;
    for (int i = 1; i <= 1000000; ++i) s.append(i, std::sin(i * 1e-4));
    QVERIFY(s.memoryBytes() <= 1 << 20);
    std::vector<Point> out = s.decimate(1, 1e6, 1000);
    QVERIFY(out.size() <= 2004);
    QVERIFY(out.size() > 1000);
    QCOMPARE(out.back(), (Point{1e6, std::sin(1e6 * 1e-4)}));
  }

  // After one step a curve has one point: drawn as a dot (a line of one point is invisible);
  // once it has more, a plain line again; LineAndDots keeps dots while they stay apart.
  void aLonePointIsADot() {
    LivePlot plot;
    int p = plot.addPanel("Loss", 0, 0);
    plot.addCurve("batch", p, "batch", Qt::blue);
    plot.addCurve("epoch", p, "epoch", Qt::red, LivePlot::LineAndDots);
    plot.resize(800, 400);
    plot.show();
    QVERIFY(QTest::qWaitForWindowExposed(&plot));
    plot.append("batch", 1, 2.3);
    plot.append("epoch", 1, 2.0);
    QVERIFY(plot.refresh());
    QCOMPARE(plot.graph("batch")->scatterStyle().shape(), QCPScatterStyle::ssDisc);
    QCOMPARE(plot.graph("epoch")->scatterStyle().shape(), QCPScatterStyle::ssDisc);
    for (int i = 2; i <= 1000; ++i) plot.append("batch", i, 1.0 / i);
    for (int i = 2; i <= 5; ++i) plot.append("epoch", i * 200, 1.0 / i);
    QVERIFY(plot.refresh());
    QVERIFY(plot.graph("batch")->scatterStyle().isNone());
    QCOMPARE(plot.graph("epoch")->scatterStyle().shape(), QCPScatterStyle::ssDisc);
  }

  void livePlotFollowsZoomsAndReturns() {
    LivePlot plot;
    int p = plot.addPanel("Loss", 0, 0);
    plot.addCurve("loss", p, "loss", Qt::blue);
    plot.resize(800, 400);
    plot.show();
    QVERIFY(QTest::qWaitForWindowExposed(&plot));
    for (int i = 1; i <= 100000; ++i) plot.append("loss", i, std::sin(i * 0.01));
    QVERIFY(plot.refresh());
    QVERIFY(!plot.refresh());  // nothing changed: no replot
    QCPAxis* x = plot.panelRect(p)->axis(QCPAxis::atBottom);
    QCOMPARE(x->range().lower, 1.0);
    QCOMPARE(x->range().upper, 100000.0);
    const int whole = plot.graph("loss")->dataCount();
    // about two points per pixel column (the columns counted before the value axis took its
    // labels' width)
    QVERIFY2(whole <= 2 * (plot.panelRect(p)->width() + 40) + 4,
             qPrintable(QString("%1 points, %2 px").arg(whole).arg(plot.panelRect(p)->width())));

    // A zoom (as the wheel does): following stops, the curve is decimated again for the range,
    // down to what the history keeps (100,000 samples in 32,768 buckets: min and max of 4).
    auto drawnIn = [&](double a, double b) {
      auto data = plot.graph("loss")->data();
      int n = 0;
      for (auto it = data->constBegin(); it != data->constEnd(); ++it)
        n += it->key >= a && it->key <= b;
      return n;
    };
    const int before = drawnIn(1000, 1500);
    QSignalSpy following(&plot, &LivePlot::followingChanged);
    x->setRange(1000, 1500);
    QVERIFY(!plot.following());
    QCOMPARE(following.count(), 1);
    const int64_t span = plot.series("loss")->span();
    QCOMPARE(span, int64_t(4));
    const int after = drawnIn(1000, 1500);
    QVERIFY2(after >= 2 * 500 / span - 4 && after > 10 * before,
             qPrintable(QString("%1 -> %2").arg(before).arg(after)));
    plot.append("loss", 100001, 0);
    plot.refresh();
    QCOMPARE(x->range().upper, 1500.0);  // not following

    QTest::mouseDClick(&plot, Qt::LeftButton, {}, QPoint(400, 200));
    QVERIFY(plot.following());
    QCOMPARE(x->range().upper, 100001.0);

    // In epochs: x scaled.
    plot.setXScale(0.01, "epoch");
    QCOMPARE(x->range().upper, 1000.01);
  }

  void livePlotExportsAndForgets() {
    LivePlot plot;
    int p = plot.addPanel("Accuracy", 0, 0);
    plot.addCurve("a", p, "a", Qt::red);
    plot.addCurve("overlay.b", p, "b", Qt::green);
    for (int i = 1; i <= 3; ++i) plot.append("a", i, 0.1 * i), plot.append("overlay.b", i, 1);
    plot.resize(400, 300);
    plot.refresh();
    QTemporaryDir dir;
    QVERIFY(plot.exportCsv(dir.filePath("m.csv")));
    QFile f(dir.filePath("m.csv"));
    QVERIFY(f.open(QIODevice::ReadOnly | QIODevice::Text));
    QCOMPARE(QString::fromUtf8(f.readAll()),
             QString("curve,x,y\na,1,0.1\na,2,0.2\na,3,0.3\n"
                     "overlay.b,1,1\noverlay.b,2,1\noverlay.b,3,1\n"));
    QVERIFY(plot.exportPng(dir.filePath("m.png"), 400, 300));
    QCOMPARE(QImage(dir.filePath("m.png")).size(), QSize(400, 300));
    plot.clearData("overlay.");
    QCOMPARE(plot.series("a")->count(), int64_t(0));
    QCOMPARE(plot.series("overlay.b")->count(), int64_t(3));
    plot.removeCurve("overlay.b");
    QVERIFY(!plot.hasCurve("overlay.b"));
    QCOMPARE(plot.curveKeys(), QStringList{"a"});
  }

  void histogramHistoryIsBoundedAndNormalisedPerColumn() {
    HistogramHistory h(8);
    for (int s = 0; s < 20; ++s) h.add(s, -1.0 - s * 0.1, 1.0, {1, 2, 4, 2, 1});
    QVERIFY(h.columns().size() <= 8);
    QCOMPARE(h.columns().front().x, 0.0);  // the first column stays
    QCOMPARE(h.columns().back().x, 19.0);  // the newest is there
    QCOMPARE(h.lo(), -1.0 - 1.9);
    QCOMPARE(h.hi(), 1.0);
    auto r = h.raster(30);
    for (const auto& col : r) {
      QCOMPARE(*std::max_element(col.begin(), col.end()), 1.0);
      QVERIFY(*std::min_element(col.begin(), col.end()) >= 0.0);
    }
    // The last column spans [-2.9, 1]: its middle bin [-1.34, -0.56] (4 values) is the peak.
    const auto& last = r.back();
    const double rowH = (h.hi() - h.lo()) / 30;
    for (int row = 0; row < 30; ++row) {
      const double centre = h.lo() + (row + 0.5) * rowH;
      if (centre > -1.34 + rowH && centre < -0.56 - rowH) QCOMPARE(last[size_t(row)], 1.0);
      if (centre < -2.12 - rowH || centre > 0.22 + rowH) QVERIFY(last[size_t(row)] < 1.0);
    }
  }

  void confusionMatrixPrecisionAndRecall() {
    ConfusionMatrixView v;
    v.setMatrix(3, {50, 2, 0, 1, 45, 4, 0, 3, 47}, {"a", "b", "c"}, "test");
    QCOMPARE(v.count(1, 2), int64_t(4));
    QCOMPARE(v.precision(1), 45.0 / 50.0);  // column b: 2 + 45 + 3
    QCOMPARE(v.recall(1), 45.0 / 50.0);     // row b: 1 + 45 + 4
    QCOMPARE(v.precision(2), 47.0 / 51.0);
    QCOMPARE(v.recall(0), 50.0 / 52.0);
    QCOMPARE(v.accuracy(), 142.0 / 152.0);
    v.setMatrix(2, {0, 0, 3, 1}, {}, "");
    QVERIFY(std::isnan(v.recall(0)));  // class 0 never present
    QCOMPARE(v.precision(0), 0.0);
  }
};

NG_GUI_TEST_MAIN(PlotsTest)
#include "test_plots.moc"
