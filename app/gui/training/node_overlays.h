// NodeOverlays: what training shows on the canvas, drawn as child items of the node cards
// (they never touch GraphModel): a red outline and a "training failed here" tag on the node an
// engine error names (its tooltip holds the engine's message), and a halo per node coloured by
// the node's gradient norm (blue: small, vanishing; yellow; red: large, exploding; log scale
// over the nodes of the last statistics step), with the norm written under the card.
//   NodeOverlays o(scene);
//   o.showFailure("fc2", "training stopped at epoch 3, step 7: the loss is NaN; ...");
//   o.setGradientNorms({{"fc1", 0.02}, {"fc2", 3.5}}, 450);
//   o.clear();
#pragma once

#include <QHash>
#include <QObject>
#include <QString>

namespace ng::gui {

class NodeGraphScene;

class NodeOverlays : public QObject {
  Q_OBJECT
 public:
  explicit NodeOverlays(NodeGraphScene* scene);
  ~NodeOverlays() override;

  void showFailure(const QString& node, const QString& message);
  void clearFailure();
  QString failedNode() const { return failedNode_; }

  void setGradientNorms(const QHash<QString, double>& norms, qint64 step);
  void clearGradientNorms();
  const QHash<QString, double>& gradientNorms() const { return norms_; }
  // The halo colour of a norm, given the smallest and largest norm shown.
  static QColor normColor(double norm, double lo, double hi);

  void clear() {
    clearFailure();
    clearGradientNorms();
  }

 private:
  void apply();
  void removeItems(int type);

  NodeGraphScene* scene_;
  QString failedNode_, failedMessage_;
  QHash<QString, double> norms_;
  qint64 normsStep_ = 0;
};

}  // namespace ng::gui
