// The look of the node graph, in one place: colours per layer category (node headers, palette
// icons), the canvas colours for the dark and the light theme, and the category icons drawn with
// QPainter (no image files).
//   QColor c = style::categoryColor(ng::LayerCategory::Convolution);
//   QIcon i = style::categoryIcon(ng::LayerCategory::Loss);
//   style::setTheme(style::Theme::Light);   // then repaint the views
#pragma once

#include <QColor>
#include <QIcon>

#include "engine/graph/layer_registry.h"

namespace ng::gui::style {

QColor categoryColor(ng::LayerCategory c);
// A small picture of what the category does (a kernel grid for convolution, a hinge for
// activations, a target for losses, ...) on the category colour.
QIcon categoryIcon(ng::LayerCategory c);
QString categoryLabel(ng::LayerCategory c);  // "Convolution"

inline constexpr double kNodeWidth = 156;
inline constexpr double kHeaderHeight = 24;
inline constexpr double kPortRow = 18;
inline constexpr double kPortRadius = 5.5;

enum class Theme { Dark, Light };
// The theme the colours below follow (Dark until set). Views repaint themselves; the widgets'
// palette is the application's business (app/gui/theme.h).
void setTheme(Theme t);
Theme theme();
const char* themeName(Theme t);  // "dark", "light"

QColor canvasColor();  // background
QColor gridColor();    // grid dots
QColor nodeBodyColor();
QColor nodeTextColor();
QColor nodeDimTextColor();  // secondary text
QColor wireColor();
QColor selectionColor();
QColor errorColor();
QColor warningColor();
QColor okColor();       // a compatible port while drawing a wire
QColor blockColor();    // the header of a Block node and its stacked cards
QColor shadowColor();   // under node cards
QColor outlineColor();  // node card outline and separator lines
QColor frameColor();    // a frame's body (translucent) and title bar

}  // namespace ng::gui::style
