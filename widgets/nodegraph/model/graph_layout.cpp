#include "widgets/nodegraph/model/graph_layout.h"

#include <QHash>
#include <QRectF>
#include <algorithm>
#include <cmath>
#include <vector>

#include "widgets/nodegraph/model/graph_model.h"

namespace ng::gui {

std::map<QString, QPointF> layeredLayout(const GraphModel& m,
                                         const std::function<QSizeF(const QString&)>& size,
                                         const LayoutOptions& opt) {
  const std::vector<Node>& nodes = m.nodes();
  const int n = int(nodes.size());
  QHash<QString, int> index;
  for (int i = 0; i < n; ++i) index.insert(nodes[size_t(i)].id, i);
  const size_t N = nodes.size();
  std::vector<std::vector<int>> pred(N), succ(N);
  for (const Edge& e : m.edges()) {
    int a = index.value(e.fromNode, -1), b = index.value(e.toNode, -1);
    if (a < 0 || b < 0 || a == b) continue;
    succ[size_t(a)].push_back(b);
    pred[size_t(b)].push_back(a);
  }

  // Column = longest path from a source (Kahn's order; nodes left on cycles come last).
  std::vector<int> indeg(N), col(N, 0), order;
  for (int i = 0; i < n; ++i) indeg[size_t(i)] = int(pred[size_t(i)].size());
  for (int i = 0; i < n; ++i)
    if (indeg[size_t(i)] == 0) order.push_back(i);
  for (size_t k = 0; k < order.size(); ++k)
    for (int s : succ[size_t(order[k])]) {
      col[size_t(s)] = std::max(col[size_t(s)], col[size_t(order[k])] + 1);
      if (--indeg[size_t(s)] == 0) order.push_back(s);
    }
  std::vector<bool> placed(N, false);
  for (int i : order) placed[size_t(i)] = true;
  for (int i = 0; i < n; ++i)
    if (!placed[size_t(i)]) {
      int c = 0;
      for (int p : pred[size_t(i)])
        if (placed[size_t(p)]) c = std::max(c, col[size_t(p)] + 1);
      col[size_t(i)] = c;
      placed[size_t(i)] = true;
      order.push_back(i);
    }

  int ncols = 0;
  for (int c : col) ncols = std::max(ncols, c + 1);
  std::vector<std::vector<int>> columns(static_cast<size_t>(ncols));
  for (int i : order) columns[size_t(col[size_t(i)])].push_back(i);

  auto sz = [&](int i) { return size ? size(nodes[size_t(i)].id) : QSizeF(160, 100); };
  // Order within a column by the mean row of the predecessors (barycentre), ties by file order.
  std::vector<double> row(N, 0);
  for (auto& c : columns) {
    std::vector<std::pair<double, int>> keyed;
    for (int i : c) {
      double sum = 0;
      int k = 0;
      for (int p : pred[size_t(i)])
        if (col[size_t(p)] < col[size_t(i)]) sum += row[size_t(p)], ++k;
      keyed.push_back({k ? sum / k : double(i), i});
    }
    std::stable_sort(keyed.begin(), keyed.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (size_t r = 0; r < keyed.size(); ++r) {
      c[r] = keyed[r].second;
      row[size_t(c[r])] = double(r);
    }
  }

  // Columns in bands of at most maxColumns, each band below the previous one, read like text.
  std::map<QString, QPointF> pos;
  int perBand = opt.maxColumns > 0 ? opt.maxColumns : std::max(ncols, 1);
  double bandTop = 0;
  for (int b0 = 0; b0 < ncols; b0 += perBand) {
    int b1 = std::min(ncols, b0 + perBand);
    std::vector<double> colHeight, colWidth;
    double bandHeight = 0;
    for (int c = b0; c < b1; ++c) {
      double w = 0, h = 0;
      for (int i : columns[size_t(c)]) {
        w = std::max(w, sz(i).width());
        h += sz(i).height();
      }
      h += opt.rowGap * double(std::max<size_t>(columns[size_t(c)].size(), 1) - 1);
      colWidth.push_back(w);
      colHeight.push_back(h);
      bandHeight = std::max(bandHeight, h);
    }
    double x = 0;
    for (int c = b0; c < b1; ++c) {
      double w = colWidth[size_t(c - b0)];
      double y = bandTop + (bandHeight - colHeight[size_t(c - b0)]) / 2;
      for (int i : columns[size_t(c)]) {
        pos[nodes[size_t(i)].id] = QPointF(std::round(x + (w - sz(i).width()) / 2), std::round(y));
        y += sz(i).height() + opt.rowGap;
      }
      x += w + opt.columnGap;
    }
    bandTop += bandHeight + opt.bandGap;
  }
  return pos;
}

std::map<QString, QPointF> layoutToFit(const GraphModel& m,
                                       const std::function<QSizeF(const QString&)>& size,
                                       QSizeF box, double* scale) {
  std::map<QString, QPointF> best;
  double bestScale = -1;
  int n = int(m.nodes().size());
  for (int k = n; k >= 1; --k) {
    LayoutOptions o;
    o.maxColumns = k;
    std::map<QString, QPointF> pos = layeredLayout(m, size, o);
    QRectF bounds;
    for (const auto& [id, p] : pos) bounds = bounds.united(QRectF(p, size(id)));
    // (the canvas never zooms in past 1:1 and a bit, so larger scales gain nothing)
    double s =
        std::min({box.width() / (bounds.width() + 80), box.height() / (bounds.height() + 80), 1.0});
    if (s > bestScale * 1.05) {
      bestScale = s;
      best = std::move(pos);
    }
  }
  if (scale) *scale = std::max(bestScale, 0.0);
  return best;
}

}  // namespace ng::gui
