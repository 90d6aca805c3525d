// TrainingSettingsDialog: the project's recipe for the next run, in two parts.
//   - Data: where the examples come from (a synthetic 2-D set, the bundled MNIST digits, IDX
//     files, CIFAR-10, a CSV table or a folder of images per class), with only the fields that
//     kind reads, the validation share, normalisation and augmentation. "Check the data" loads
//     it now and says what it holds and whether it fits the graph's Input, or what is wrong.
//   - Training: epochs, batch size, precision and the optimiser (its own dialog,
//     OptimizerDialog::For::NextRun).
// TrainingUi opens it from the Train menu and the toolbar while no run is active and stores the
// result in the document as one undo step (GraphModel::setRecipe), so it is saved with the
// project. Dataset paths are kept relative to the project's folder where they lie inside it.
//   TrainingSettingsDialog d(model->project(), projectDir, inputShape, ng::cuda_available());
//   if (d.exec() == QDialog::Accepted) model->setRecipe(d.dataset(), d.training());
#pragma once

#include <QDialog>
#include <QMap>
#include <optional>

#include "engine/core/shape.h"
#include "engine/io/project.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QStackedWidget;
class QLineEdit;
class QPushButton;
class QSpinBox;

namespace ng::gui {

class TrainingSettingsDialog : public QDialog {
  Q_OBJECT
 public:
  // `projectDir`: the project file's folder ("" for an unsaved project: paths stay absolute).
  // `inputShape`: one example's shape at the graph's Input node, when known (for the check).
  // `gpu`: whether this machine has a GPU (bf16 mixed precision trains only there).
  TrainingSettingsDialog(const ng::ProjectSpec& project, const QString& projectDir,
                         std::optional<ng::Shape> inputShape, bool gpu, QWidget* parent = nullptr);

  // The sections with the fields applied (everything the dialog does not show is kept).
  ng::DatasetSpec dataset() const;
  ng::TrainingSpec training() const;

  // Loads the dataset as the fields describe it; the summary or the error goes to
  // checkLabel(). True when it loads and fits the Input. checkData waits for it (tests);
  // startCheck, the button's, reads on a pool thread and shows the result when it arrives.
  bool checkData();
  void startCheck();
  QPushButton* checkButton() const { return checkButton_; }

  QComboBox* kindBox() const { return kind_; }
  // The fields of the chosen kind's page (null where it has none).
  QLineEdit* pathEdit() const { return page().path; }
  QDoubleSpinBox* validationBox() const { return page().val; }
  QComboBox* generatorBox() const { return generator_; }
  QSpinBox* sizeBox() const { return size_; }
  QSpinBox* classesBox() const { return classes_; }
  QDoubleSpinBox* noiseBox() const { return noise_; }
  QLineEdit* labelColumnEdit() const { return labelColumn_; }
  QComboBox* taskBox() const { return task_; }
  QLabel* checkLabel() const { return check_; }
  QSpinBox* epochsBox() const { return epochs_; }
  QSpinBox* batchBox() const { return batch_; }
  QComboBox* precisionBox() const { return precision_; }
  QLabel* optimizerLabel() const { return optimizerLabel_; }
  QPushButton* optimizerButton() const { return optimizerButton_; }
  // What the optimiser button would set (tests set it without opening the dialog).
  void setOptimizer(const ng::OptimizerSpec& o);
  // Whether a data field's row is shown for the chosen kind ("path", "generator", "size",
  // "classes", "noise", "label_column", "task", "val_fraction", "augment").
  bool rowShown(const QString& name) const;

 private:
  // One kind's fields, on a page of their own; the fields only some kinds read are per page.
  struct Page {
    QWidget* widget = nullptr;
    QLineEdit* path = nullptr;
    QDoubleSpinBox* val = nullptr;
    QCheckBox* flip = nullptr;
    QSpinBox* crop = nullptr;
  };
  const Page& page() const;
  void showOptimizer();
  void showCheck(const char* colour, const QString& text);
  void updateRows();
  void browse();

  ng::ProjectSpec project_;
  QString projectDir_;
  std::optional<ng::Shape> inputShape_;
  QStackedWidget* pages_;
  QMap<QString, Page> pageOf_;
  QComboBox *kind_, *generator_ = nullptr, *task_ = nullptr, *precision_;
  QLineEdit* labelColumn_ = nullptr;
  QSpinBox *size_ = nullptr, *classes_ = nullptr, *epochs_, *batch_;
  QDoubleSpinBox* noise_ = nullptr;
  QCheckBox* normalize_;
  QLabel *check_, *optimizerLabel_;
  QPushButton *optimizerButton_, *checkButton_;
  int checkTicket_ = 0;  // the check whose result may still be shown
};

}  // namespace ng::gui
