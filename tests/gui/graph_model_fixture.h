// What the GraphModel test files share: port keys by name and a small MLP built through the
// model's own API.
#pragma once

#include <QTest>

#include "widgets/nodegraph/model/graph_model.h"

namespace ng::gui::testing {

inline PortKey out(const QString& n, const QString& p = "output") {
  return {n, p, PortSide::Output};
}
inline PortKey in(const QString& n, const QString& p = "input") {
  return {n, p, PortSide::Input};
}

// x [features] -> fc1 (Linear hidden) -> relu -> fc2 (Linear classes) -> loss
inline void buildMlp(GraphModel& m, int features = 784, int hidden = 32, int classes = 10) {
  m.addNode("Input", {0, 0}, {{"shape", {features}}}, "x");
  m.addNode("Linear", {200, 0}, {{"out_features", hidden}}, "fc1");
  m.addNode("ReLU", {400, 0}, {}, "relu");
  m.addNode("Linear", {600, 0}, {{"out_features", classes}}, "fc2");
  m.addNode("CrossEntropyLoss", {800, 0}, {}, "loss");
  QCOMPARE(m.connect(out("x"), in("fc1")), QString());
  QCOMPARE(m.connect(out("fc1"), in("relu")), QString());
  QCOMPARE(m.connect(out("relu"), in("fc2")), QString());
  QCOMPARE(m.connect(out("fc2"), in("loss")), QString());
}

inline QString shapeOf(const GraphModel& m, const QString& id) {
  return typeText(m.outputType(id));
}

}  // namespace ng::gui::testing
