// TileGrid: small images in a grid, as large as the widget allows: a conv layer's filters (one
// tile per output filter and input channel), a node's feature maps for one sample (one tile per
// channel), or a gallery of samples with a caption under each. Values become colours either per
// tile (its own min..max as black..white: feature maps, images) or over all tiles at once,
// symmetric around zero (blue..white..red: weights, so that signs and sizes compare across
// filters). A NaN value is left blank; a tile without an image shows its text instead (e.g. a
// 2-D point's coordinates). Clicking a tile emits tileClicked(i).
//   TileGrid g;
//   g.setTiles({{.w = 5, .h = 5, .values = w0}, {.w = 5, .h = 5, .values = w1}},
//              TileGrid::Scale::SharedSymmetric, "conv1: 2 filters");
//   connect(&g, &TileGrid::tileClicked, this, [](int i) { ... });
#pragma once

#include <QColor>
#include <QImage>
#include <QString>
#include <QWidget>
#include <utility>
#include <vector>

namespace ng::plots {

class TileGrid : public QWidget {
  Q_OBJECT
 public:
  struct Tile {
    int w = 0, h = 0;
    std::vector<float> values;  // h * w, row-major (3 * h * w, channel-major, when rgb)
    bool rgb = false;
    QString text;     // drawn in the tile when it has no image (w or h 0)
    QString caption;  // drawn under the tile (may hold a line break)
    QString tip;      // the tile's tooltip
    QColor frame;     // a frame around the tile; invalid: none
    // A w x h image tile (rgb: three channel planes), nothing else set.
    static Tile image(int w, int h, std::vector<float> values, bool rgb = false) {
      Tile t;
      t.w = w;
      t.h = h;
      t.values = std::move(values);
      t.rgb = rgb;
      return t;
    }
  };
  enum class Scale { PerTile, SharedSymmetric };

  explicit TileGrid(QWidget* parent = nullptr);

  // columns 0: chosen so that the tiles are as large as possible.
  void setTiles(std::vector<Tile> tiles, Scale scale, const QString& caption, int columns = 0);
  void clear();
  // What an empty grid says.
  void setEmptyText(const QString& text);

  int tileCount() const { return int(tiles_.size()); }
  const Tile& tile(int i) const { return tiles_[size_t(i)]; }
  QImage tileImage(int i) const { return images_[size_t(i)]; }
  QString caption() const { return caption_; }
  Scale scale() const { return scale_; }
  // The largest |value| over all tiles (the colour scale's end with SharedSymmetric).
  float maxAbs() const { return maxAbs_; }
  // Where tile i is drawn (widget coordinates); the tile under a point, or -1.
  QRect tileRect(int i) const;
  int tileAt(QPoint p) const;
  int columns() const { return cols_; }

  QSize sizeHint() const override { return {360, 320}; }
  QSize minimumSizeHint() const override { return {120, 100}; }

 signals:
  void tileClicked(int index);

 protected:
  void paintEvent(QPaintEvent*) override;
  void mousePressEvent(QMouseEvent* e) override;
  void resizeEvent(QResizeEvent* e) override;
  bool event(QEvent* e) override;  // tooltips

 private:
  void layoutTiles();
  int captionLines() const;
  int headerHeight() const;  // the caption's, wrapped to the width
  QFont captionFont() const;

  std::vector<Tile> tiles_;
  std::vector<QImage> images_;
  Scale scale_ = Scale::PerTile;
  QString caption_, empty_;
  float maxAbs_ = 0;
  int fixedCols_ = 0;
  // Layout (layoutTiles): columns, cell size and the grid's origin.
  int cols_ = 1, cell_ = 0, colW_ = 0, captionH_ = 0, gap_ = 5;
  double aspect_ = 1.0;
  QPoint origin_;
};

}  // namespace ng::plots
