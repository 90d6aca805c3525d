// Drag-and-drop and clipboard formats of the node graph.
//   application/x-neurograph-layer   a layer type name ("Conv2d"), dragged from the palette
//   application/x-neurograph-graph   a graph fragment {"nodes": [...], "edges": [...]} (JSON),
//                                    also put on the clipboard as plain text
#pragma once

#include <QString>

namespace ng::gui::mime {

inline const QString kLayerType = QStringLiteral("application/x-neurograph-layer");
inline const QString kGraphFragment = QStringLiteral("application/x-neurograph-graph");

}  // namespace ng::gui::mime
