// NodeInspector: the selected node's name, kind, output and parameters, with an editor per
// parameter generated from the layer registry's schema (no list of layers here): spin boxes with
// the schema's ranges for ints and floats, a combo box for enums, a check box for bools, two spin
// boxes for int pairs, a text field for int lists ("1, 28, 28"). Parameters shape inference
// fills in (in_features, in_channels, a pooling stride) have an "auto" switch and show the
// inferred value; defaults can be reset. The engine's messages about a parameter appear under
// its editor. Every change is an undo command on the model (GraphModel::setParam/renameNode).
// Below, the kind's longer description, for learners.
//   NodeInspector inspector(&model);
//   inspector.setNode("conv1");
#pragma once

#include <QHash>
#include <QWidget>
#include <nlohmann/json.hpp>

#include "engine/graph/layer_registry.h"

class QCheckBox;
class QToolButton;
class QLabel;
class QLineEdit;
class QFormLayout;
class QVBoxLayout;

namespace ng::gui {

class GraphModel;
class ParamEditor;

class NodeInspector : public QWidget {
  Q_OBJECT
 public:
  explicit NodeInspector(GraphModel* model, QWidget* parent = nullptr);
  // The node shown ("" for none).
  void setNode(const QString& id);
  const QString& node() const { return id_; }
  // With no node shown: how many are selected (several: what can be done with them).
  void setSelectionCount(int count);
  QString placeholderText() const;

  // For tests: the editor row of a parameter (nullptr when absent), its main input widget and
  // the text of its inline message.
  ParamEditor* paramEditor(const QString& name) const { return editors_.value(name); }
  QLineEdit* nameField() const { return name_; }
  QString descriptionText() const;

 private:
  void rebuild();
  void refresh();
  void commitName();

  GraphModel* model_;
  QString id_, type_;
  QVBoxLayout* outer_;
  QWidget* page_ = nullptr;
  QLabel* placeholder_;
  QLabel *title_ = nullptr, *summary_ = nullptr, *output_ = nullptr, *issues_ = nullptr,
         *description_ = nullptr, *nameError_ = nullptr;
  QLineEdit* name_ = nullptr;
  QHash<QString, ParamEditor*> editors_;
};

// One parameter's editor row (public for tests).
class ParamEditor : public QWidget {
  Q_OBJECT
 public:
  ParamEditor(const ng::ParamDef& def, QWidget* parent);
  // `user`: the value the node sets (null: unset); `resolved`: after defaults and inference.
  void setValues(const nlohmann::json& user, const nlohmann::json& resolved);
  void setMessage(const QString& text, bool error);
  QString message() const;
  // The editing widgets (spin boxes, combo box, ...), in order; and the "auto" switch. A pair
  // (kernel 3 x 3) stays square while it is: a new first number is the second's too.
  // The reset button is left out of the Tab chain (it comes and goes); typing the default
  // value does the same.
  QList<QWidget*> inputs() const { return inputs_; }
  QCheckBox* autoSwitch() const { return auto_; }
  QToolButton* resetButton() const { return reset_; }

 signals:
  // A new value for the parameter; null removes it (default or inferred again).
  void changed(const nlohmann::json& value);

 private:
  nlohmann::json current() const;  // from the inputs
  void show(const nlohmann::json& v);
  void emitCurrent();
  ng::ParamDef def_;
  QList<QWidget*> inputs_;
  QCheckBox* auto_ = nullptr;
  QToolButton* reset_ = nullptr;
  QLabel* message_;
  nlohmann::json user_;
  bool updating_ = false;
  int pairFirst_ = 0;  // a pair's first number as shown before the edit
};

}  // namespace ng::gui
