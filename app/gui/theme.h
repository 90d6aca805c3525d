// The application's look: the dark and the light theme (View > Theme), remembered in QSettings
// ("view/theme"). applyTheme() sets the Fusion style with the theme's palette for the widgets and
// switches the canvas colours (style::setTheme); open canvases repaint on the next update.
//   ng::gui::applyTheme(ng::gui::savedTheme());   // at start-up
//   ng::gui::applyTheme(style::Theme::Light);  ng::gui::saveTheme(style::Theme::Light);
#pragma once

#include "widgets/nodegraph/view/node_style.h"

namespace ng::gui {

void applyTheme(style::Theme t);
// The theme the user chose last (Dark when none).
style::Theme savedTheme();
void saveTheme(style::Theme t);

}  // namespace ng::gui
