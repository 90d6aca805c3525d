// Automatic layered layout, left to right: every node sits one column to the right of its
// furthest predecessor (longest path from the sources), columns are ordered to keep wires
// straight (the mean row of each node's predecessors), and each column is centred vertically.
// With LayoutOptions::maxColumns a long network wraps into bands, read like lines of text.
//   std::map<QString, QPointF> pos = layeredLayout(model, [&](const QString& id) {
//     return scene.nodeItem(id)->size(); });
//   model.moveNodes(pos, "Auto layout");
#pragma once

#include <QPointF>
#include <QSizeF>
#include <functional>
#include <map>

namespace ng::gui {

class GraphModel;

struct LayoutOptions {
  double columnGap = 90;  // between the widest node of a column and the next column
  double rowGap = 40;
  // Long chains wrap: at most this many columns side by side (0: no limit); the next columns
  // start again at the left, one band lower.
  int maxColumns = 0;
  double bandGap = 90;
};

// Top-left positions for every node; `size` gives a node's size (160x100 when empty). Nodes on
// a cycle are placed after their other predecessors.
std::map<QString, QPointF> layeredLayout(const GraphModel& m,
                                         const std::function<QSizeF(const QString&)>& size = {},
                                         const LayoutOptions& options = {});

// The layered layout whose band width (LayoutOptions::maxColumns) lets the whole graph be shown
// in `box` at the largest scale, up to 1:1 (fewer bands on a near tie); `scale` receives it.
// The canvas's auto layout and the example gallery's pictures.
std::map<QString, QPointF> layoutToFit(const GraphModel& m,
                                       const std::function<QSizeF(const QString&)>& size,
                                       QSizeF box, double* scale = nullptr);

}  // namespace ng::gui
