// OptimizerDialog: change the optimiser of a paused run: its type (SGD, Adam, AdamW, RMSprop) and
// the hyper-parameters of that type, with a line that says what happens to the optimiser's state
// (kept for the same type; a new type starts fresh). TrainingUi opens it from the Train menu and
// the toolbar while a run is paused and hands the result to TrainingController::setOptimizer.
//   OptimizerDialog d(controller->optimizer());
//   if (d.exec() == QDialog::Accepted) controller->setOptimizer(d.spec());
// With For::NextRun it edits the project's optimiser instead (TrainingSettingsDialog opens it):
// no run's state is involved, so the note about it is hidden.
#pragma once

#include <QDialog>
#include <QMap>
#include <QString>

#include "engine/io/project.h"

class QCheckBox;
class QComboBox;
class QFormLayout;
class QLabel;
class QLineEdit;

namespace ng::gui {

class OptimizerDialog : public QDialog {
  Q_OBJECT
 public:
  enum class For { PausedRun, NextRun };
  explicit OptimizerDialog(const ng::OptimizerSpec& current, QWidget* parent = nullptr,
                           For purpose = For::PausedRun);

  // The fields as a spec (fields of other types keep the current run's values).
  ng::OptimizerSpec spec() const;
  QComboBox* typeBox() const { return type_; }
  // "lr", "momentum", "dampening", "weight_decay", "beta1", "beta2", "eps", "alpha".
  QLineEdit* field(const QString& name) const { return fields_.value(name); }
  QCheckBox* nesterovBox() const { return nesterov_; }
  QCheckBox* centeredBox() const { return centered_; }
  QLabel* stateNote() const { return note_; }
  // Whether a field is shown for the chosen type.
  bool fieldShown(const QString& name) const;

 private:
  void update();

  ng::OptimizerSpec current_;
  For purpose_;
  QComboBox* type_;
  QFormLayout* form_;
  QMap<QString, QLineEdit*> fields_;
  QCheckBox *nesterov_, *centered_;
  QLabel* note_;
};

}  // namespace ng::gui
