// ConfusionMatrixView: a confusion matrix (rows: true class, columns: predicted class) as a grid
// of cells shaded by the share of the row (so each class's errors read the same whatever its
// size), with the counts, each class's recall at the end of its row and precision under its
// column, and the overall accuracy in the title.
//   ConfusionMatrixView v;
//   v.setMatrix(3, {50, 2, 0,  1, 45, 4,  0, 3, 47}, {"a", "b", "c"}, "validation, epoch 4");
//   v.precision(1);   // 45 / (2 + 45 + 3)
#pragma once

#include <QStringList>
#include <QWidget>
#include <cstdint>
#include <vector>

namespace ng::plots {

class ConfusionMatrixView : public QWidget {
  Q_OBJECT
 public:
  explicit ConfusionMatrixView(QWidget* parent = nullptr);
  void setMatrix(int classes, std::vector<int64_t> counts, QStringList names,
                 const QString& caption);
  void clear();

  int classes() const { return n_; }
  int64_t count(int truth, int predicted) const { return counts_[size_t(truth * n_ + predicted)]; }
  // NaN when the class was never predicted / never present.
  double precision(int c) const;
  double recall(int c) const;
  double accuracy() const;
  QSize sizeHint() const override { return {360, 320}; }

 protected:
  void paintEvent(QPaintEvent*) override;

 private:
  int n_ = 0;
  std::vector<int64_t> counts_;
  QStringList names_;
  QString caption_;
};

}  // namespace ng::plots
