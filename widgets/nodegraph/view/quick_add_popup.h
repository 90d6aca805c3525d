// The quick-add popup: Tab on the canvas opens it at the cursor; typing filters every layer kind
// of the registry (by name, then category and summary); Enter or a click adds the highlighted
// kind, Escape closes it.
//   auto* popup = new QuickAddPopup(view);
//   connect(popup, &QuickAddPopup::chosen, view, [&](const QString& type) { ... });
//   popup->popup(QCursor::pos());
#pragma once

#include "widgets/nodegraph/view/filter_list_popup.h"

namespace ng::gui {

// chosen() gives the layer kind's name; shownKeys() lists the kinds shown, best match first.
class QuickAddPopup : public FilterListPopup {
  Q_OBJECT
 public:
  explicit QuickAddPopup(QWidget* parent = nullptr);

 private:
  void applyFilter(const QString& text) override;
};

}  // namespace ng::gui
