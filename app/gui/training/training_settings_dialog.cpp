#include "app/gui/training/training_settings_dialog.h"

#include <QApplication>
#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDir>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPointer>
#include <QPushButton>
#include <QSpinBox>
#include <QStackedWidget>
#include <QStandardItemModel>
#include <QThreadPool>
#include <QVBoxLayout>
#include <algorithm>
#include <limits>

#include "app/gui/training/optimizer_dialog.h"
#include "engine/core/error.h"
#include "engine/data/dataset.h"
#include "engine/train/datasets.h"

namespace ng::gui {

namespace {

// The kinds of dataset.kind, with what each one reads besides the validation share.
struct Kind {
  const char* kind;
  const char* label;
  QStringList rows;
};
const std::vector<Kind>& kinds() {
  static const std::vector<Kind> k = {
      {"synthetic",
       QT_TR_NOOP("Synthetic 2-D set"),
       {"generator", "size", "classes", "noise", "val_fraction"}},
      {"mnist", QT_TR_NOOP("MNIST digits (the bundled sample)"), {"path", "augment"}},
      {"idx", QT_TR_NOOP("IDX files (MNIST format)"), {"path", "val_fraction", "augment"}},
      {"cifar10", QT_TR_NOOP("CIFAR-10 (binary version)"), {"path", "augment"}},
      {"csv", QT_TR_NOOP("CSV table"), {"path", "label_column", "task", "val_fraction"}},
      {"image_folder",
       QT_TR_NOOP("Image folder (a subfolder per class)"),
       {"path", "val_fraction", "augment"}},
  };
  return k;
}

const Kind& kindOf(const QString& kind) {
  for (const Kind& k : kinds())
    if (kind == k.kind) return k;
  return kinds().front();
}

QString shapeText(const ng::Shape& s) {
  return QString::fromStdString(ng::shape_str(s));
}

}  // namespace

TrainingSettingsDialog::TrainingSettingsDialog(const ng::ProjectSpec& project,
                                               const QString& projectDir,
                                               std::optional<ng::Shape> inputShape, bool gpu,
                                               QWidget* parent)
    : QDialog(parent), project_(project), projectDir_(projectDir), inputShape_(inputShape) {
  setObjectName("trainingSettingsDialog");
  setWindowTitle(tr("Training settings"));
  const ng::DatasetSpec& ds = project.dataset;
  const ng::TrainingSpec& tr_ = project.training;
  auto* lay = new QVBoxLayout(this);
  auto* intro = new QLabel(tr("What the next run trains on and how; saved with the project."));
  intro->setWordWrap(true);
  lay->addWidget(intro);

  // ---- data: the source, then a page of the fields that kind reads
  auto* dataBox = new QGroupBox(tr("Data"));
  auto* dataLay = new QVBoxLayout(dataBox);
  auto* sourceForm = new QFormLayout;
  kind_ = new QComboBox;
  kind_->setObjectName("settingsKind");
  for (const Kind& k : kinds()) kind_->addItem(tr(k.label), QString::fromLatin1(k.kind));
  sourceForm->addRow(tr("Source"), kind_);
  dataLay->addLayout(sourceForm);
  pages_ = new QStackedWidget;
  dataLay->addWidget(pages_);
  for (const Kind& k : kinds()) {
    Page pg;
    auto* w = new QWidget;
    w->setObjectName(QString("settingsPage_") + k.kind);
    auto* f = new QFormLayout(w);
    f->setContentsMargins(0, 0, 0, 0);
    if (k.rows.contains("path")) {
      auto* row = new QHBoxLayout;
      pg.path = new QLineEdit(QString::fromStdString(ds.path));
      pg.path->setObjectName("settingsPath");
      pg.path->setPlaceholderText(
          QString(k.kind) == "mnist" ? tr("empty: the bundled datasets/mnist")
          : QString(k.kind) == "csv" ? tr("a .csv file, relative to the project's folder")
                                     : tr("a folder, relative to the project's folder"));
      auto* browseButton = new QPushButton(tr("Browse..."));
      browseButton->setObjectName("settingsBrowse");
      row->addWidget(pg.path, 1);
      row->addWidget(browseButton);
      connect(browseButton, &QPushButton::clicked, this, &TrainingSettingsDialog::browse);
      f->addRow(tr("Location"), row);
    }
    if (k.rows.contains("generator")) {
      generator_ = new QComboBox;
      generator_->setObjectName("settingsGenerator");
      for (const std::string& g : ng::synthetic_generators())
        generator_->addItem(QString::fromStdString(g));
      // (regression1d, which the loader reads as sine but the project reader refuses, shows as
      // sine: OK writes the name the reader takes.)
      generator_->setCurrentIndex(
          std::max(0, generator_->findText(QString::fromStdString(
                          ds.generator == "regression1d" ? std::string("sine") : ds.generator))));
      generator_->setToolTip(tr("sine is a regression set (one input, one target; use MSELoss)"));
      f->addRow(tr("Generator"), generator_);
      size_ = new QSpinBox;
      size_->setObjectName("settingsSize");
      size_->setRange(1, std::numeric_limits<int>::max());
      size_->setValue(int(std::clamp<int64_t>(ds.size, 1, std::numeric_limits<int>::max())));
      f->addRow(tr("Examples"), size_);
      classes_ = new QSpinBox;
      classes_->setObjectName("settingsClasses");
      classes_->setRange(2, 100000);
      classes_->setValue(int(std::clamp<int64_t>(ds.classes, 2, 100000)));
      f->addRow(tr("Classes"), classes_);
      // Only spiral and blobs take a number of classes; the others make two (sine: none).
      auto classesFollow = [this] {
        const QString g = generator_->currentText();
        classes_->setEnabled(g == "spiral" || g == "blobs");
        classes_->setToolTip(classes_->isEnabled()
                                 ? tr("How many classes the set has")
                                 : tr("%1 makes a fixed number of classes").arg(g));
      };
      connect(generator_, &QComboBox::currentTextChanged, this, classesFollow);
      classesFollow();
      noise_ = new QDoubleSpinBox;
      noise_->setObjectName("settingsNoise");
      noise_->setRange(0.0, 1e6);
      noise_->setDecimals(3);
      noise_->setSingleStep(0.05);
      noise_->setValue(ds.noise);
      f->addRow(tr("Noise"), noise_);
    }
    if (k.rows.contains("label_column")) {
      labelColumn_ = new QLineEdit(QString::fromStdString(ds.label_column));
      labelColumn_->setObjectName("settingsLabelColumn");
      labelColumn_->setPlaceholderText(tr("the header of the target column"));
      f->addRow(tr("Label column"), labelColumn_);
      task_ = new QComboBox;
      task_->setObjectName("settingsTask");
      task_->addItem(tr("classification"), "classification");
      task_->addItem(tr("regression"), "regression");
      task_->setCurrentIndex(std::max(0, task_->findData(QString::fromStdString(ds.task))));
      f->addRow(tr("Task"), task_);
    }
    if (k.rows.contains("val_fraction")) {
      pg.val = new QDoubleSpinBox;
      pg.val->setObjectName("settingsValidation");
      pg.val->setRange(0.0, 0.99);
      pg.val->setDecimals(2);
      pg.val->setSingleStep(0.05);
      pg.val->setValue(std::clamp(ds.val_fraction, 0.0, 0.99));
      pg.val->setToolTip(tr("Share of the examples held out to validate"));
      f->addRow(tr("Validation share"), pg.val);
    }
    if (k.rows.contains("augment")) {
      auto* row = new QHBoxLayout;
      pg.flip = new QCheckBox(tr("Random horizontal flips"));
      pg.flip->setObjectName("settingsFlip");
      pg.flip->setChecked(ds.augment_flip);
      pg.crop = new QSpinBox;
      pg.crop->setObjectName("settingsCrop");
      pg.crop->setRange(0, 64);
      pg.crop->setValue(int(std::clamp<int64_t>(ds.augment_crop_padding, 0, 64)));
      pg.crop->setPrefix(tr("random crops, padding "));
      row->addWidget(pg.flip);
      row->addWidget(pg.crop);
      f->addRow(tr("Augmentation"), row);
    }
    pg.widget = w;
    pages_->addWidget(w);
    pageOf_[QString::fromLatin1(k.kind)] = pg;
  }
  normalize_ = new QCheckBox(tr("Normalise each channel (mean and spread of the training split)"));
  normalize_->setObjectName("settingsNormalize");
  normalize_->setChecked(ds.normalize);
  dataLay->addWidget(normalize_);
  auto* checkRow = new QHBoxLayout;
  checkButton_ = new QPushButton(tr("Check the data"));
  checkButton_->setObjectName("settingsCheck");
  check_ = new QLabel;
  check_->setObjectName("settingsCheckResult");
  check_->setWordWrap(true);
  check_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  checkRow->addWidget(checkButton_);
  checkRow->addWidget(check_, 1);
  dataLay->addLayout(checkRow);
  connect(checkButton_, &QPushButton::clicked, this, &TrainingSettingsDialog::startCheck);
  lay->addWidget(dataBox);

  // ---- training
  auto* trainBox = new QGroupBox(tr("Training"));
  auto* form = new QFormLayout(trainBox);
  epochs_ = new QSpinBox;
  epochs_->setObjectName("settingsEpochs");
  epochs_->setRange(1, std::numeric_limits<int>::max());
  epochs_->setValue(int(std::clamp<int64_t>(tr_.epochs, 1, std::numeric_limits<int>::max())));
  epochs_->setToolTip(tr("Passes over the training set"));
  form->addRow(tr("Epochs"), epochs_);
  batch_ = new QSpinBox;
  batch_->setObjectName("settingsBatchSize");
  batch_->setRange(1, 1 << 20);
  batch_->setValue(int(std::clamp<int64_t>(tr_.batch_size, 1, 1 << 20)));
  batch_->setToolTip(
      tr("Examples per training step. Larger batches use more memory; when a run runs out of "
         "it, Neurograph names a batch size that fits."));
  form->addRow(tr("Batch size"), batch_);
  precision_ = new QComboBox;
  precision_->setObjectName("settingsPrecision");
  precision_->addItem(tr("float32"), "float32");
  precision_->addItem(tr("bf16 mixed precision (GPU)"), "bf16");
  precision_->setCurrentIndex(
      std::max(0, precision_->findData(QString::fromStdString(tr_.precision))));
  if (!gpu && tr_.precision != "bf16")  // trains on a GPU only: not offered without one
    if (auto* items = qobject_cast<QStandardItemModel*>(precision_->model()))
      items->item(1)->setEnabled(false);
  precision_->setToolTip(
      gpu ? tr("bf16: matrix products and convolutions in bfloat16 on the GPU, weights and "
               "optimiser state in float32")
          : tr("bf16 mixed precision trains on a GPU only; this machine has none"));
  form->addRow(tr("Precision"), precision_);
  auto* opt = new QHBoxLayout;
  optimizerLabel_ = new QLabel;
  optimizerLabel_->setObjectName("settingsOptimizer");
  optimizerButton_ = new QPushButton(tr("Change..."));
  optimizerButton_->setObjectName("settingsOptimizerButton");
  opt->addWidget(optimizerLabel_, 1);
  opt->addWidget(optimizerButton_);
  form->addRow(tr("Optimiser"), opt);
  connect(optimizerButton_, &QPushButton::clicked, this, [this] {
    OptimizerDialog d(project_.training.optimizer, this, OptimizerDialog::For::NextRun);
    if (d.exec() == QDialog::Accepted) setOptimizer(d.spec());
  });
  lay->addWidget(trainBox);

  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  lay->addWidget(buttons);
  kind_->setCurrentIndex(std::max(0, kind_->findData(QString::fromStdString(ds.kind))));
  connect(kind_, &QComboBox::currentIndexChanged, this, [this] {
    ++checkTicket_;  // a check still reading was of the other kind
    check_->clear();
    updateRows();
  });
  updateRows();
  showOptimizer();
}

bool TrainingSettingsDialog::rowShown(const QString& name) const {
  return kindOf(kind_->currentData().toString()).rows.contains(name);
}

void TrainingSettingsDialog::updateRows() {
  // The page of the chosen kind; the others take no room, so the dialog fits the one shown.
  const Page& pg = page();
  for (int i = 0; i < pages_->count(); ++i)
    pages_->widget(i)->setSizePolicy(QSizePolicy::Preferred, pages_->widget(i) == pg.widget
                                                                 ? QSizePolicy::Preferred
                                                                 : QSizePolicy::Ignored);
  pages_->setCurrentWidget(pg.widget);
  if (isVisible()) adjustSize();
}

const TrainingSettingsDialog::Page& TrainingSettingsDialog::page() const {
  return pageOf_.find(kind_->currentData().toString()).value();
}

void TrainingSettingsDialog::browse() {
  QLineEdit* path = page().path;
  if (!path) return;
  const QString start =
      path->text().isEmpty() ? projectDir_ : QDir(projectDir_).absoluteFilePath(path->text());
  const bool file = kind_->currentData().toString() == "csv";
  const QString picked =
      file ? QFileDialog::getOpenFileName(this, tr("A CSV table"), start,
                                          tr("CSV files (*.csv *.csv.gz);;All files (*)"))
           : QFileDialog::getExistingDirectory(this, tr("The dataset's folder"), start);
  if (picked.isEmpty()) return;
  // Inside the project's folder: relative, so that the project can move with its data.
  QString rel = projectDir_.isEmpty() ? picked : QDir(projectDir_).relativeFilePath(picked);
  path->setText(rel.startsWith("../../..") || QDir::isAbsolutePath(rel) ? picked : rel);
}

void TrainingSettingsDialog::setOptimizer(const ng::OptimizerSpec& o) {
  project_.training.optimizer = o;
  showOptimizer();
}

void TrainingSettingsDialog::showOptimizer() {
  optimizerLabel_->setText(tr("%1, learning rate %2")
                               .arg(QString::fromStdString(project_.training.optimizer.type))
                               .arg(project_.training.optimizer.lr, 0, 'g', 6));
}

ng::DatasetSpec TrainingSettingsDialog::dataset() const {
  ng::DatasetSpec d = project_.dataset;
  const Page& pg = page();
  d.kind = kind_->currentData().toString().toStdString();
  if (pg.path) d.path = pg.path->text().trimmed().toStdString();
  if (rowShown("generator")) {
    d.generator = generator_->currentText().toStdString();
    d.size = size_->value();
    d.classes = classes_->value();
    d.noise = noise_->value();
  }
  if (rowShown("label_column")) {
    d.label_column = labelColumn_->text().trimmed().toStdString();
    d.task = task_->currentData().toString().toStdString();
  }
  if (pg.val) d.val_fraction = pg.val->value();
  d.normalize = normalize_->isChecked();
  // Augmentation only where the page offers it: crops and flips need images, and a kind
  // without them must not inherit another's.
  d.augment_flip = pg.flip && pg.flip->isChecked();
  d.augment_crop_padding = pg.crop ? pg.crop->value() : 0;
  return d;
}

ng::TrainingSpec TrainingSettingsDialog::training() const {
  ng::TrainingSpec s = project_.training;
  s.epochs = epochs_->value();
  s.batch_size = batch_->value();
  s.precision = precision_->currentData().toString().toStdString();
  return s;
}

void TrainingSettingsDialog::showCheck(const char* colour, const QString& text) {
  check_->setStyleSheet(QString("color: %1").arg(colour));
  check_->setText(text);
  if (isVisible()) adjustSize();  // room for the lines the text wraps into
}

namespace {

// What 'Check the data' found: a colour and a sentence.
struct CheckResult {
  bool ok = false;
  const char* colour = "#f44336";
  QString text;
};

CheckResult loadAndDescribe(const ng::DatasetSpec& spec, const std::string& dir,
                            const std::optional<ng::Shape>& input) {
  CheckResult r;
  try {
    const ng::train::TrainingData d = ng::train::make_datasets(spec, dir);
    const ng::data::Dataset& t = *d.train;
    QString text = TrainingSettingsDialog::tr("%1: %2 training")
                       .arg(QString::fromStdString(t.name()))
                       .arg(t.size());
    if (d.val) text += TrainingSettingsDialog::tr(" and %1 validation").arg(d.val->size());
    text += TrainingSettingsDialog::tr(" examples of %1").arg(shapeText(t.sample_shape()));
    text += t.task() == ng::data::Task::Classification
                ? (t.num_classes() == 1
                       ? TrainingSettingsDialog::tr(", 1 class.")
                       : TrainingSettingsDialog::tr(", %1 classes.").arg(t.num_classes()))
                : TrainingSettingsDialog::tr(", regression targets of %1 value(s).")
                      .arg(t.target_dim());
    if (input && *input != t.sample_shape()) {
      r.colour = "#ffa726";
      r.text = text + " " +
               TrainingSettingsDialog::tr("The graph's Input takes %1: set its shape to %2.")
                   .arg(shapeText(*input), shapeText(t.sample_shape()));
      return r;
    }
    r.ok = true;
    r.colour = "#66bb6a";
    r.text = text;
  } catch (const std::exception& e) {
    r.text = QString::fromUtf8(e.what());
  }
  return r;
}

}  // namespace

bool TrainingSettingsDialog::checkData() {
  QApplication::setOverrideCursor(Qt::WaitCursor);
  struct Restore {
    ~Restore() { QApplication::restoreOverrideCursor(); }
  } restore;
  const CheckResult r = loadAndDescribe(dataset(), projectDir_.toStdString(), inputShape_);
  showCheck(r.colour, r.text);
  return r.ok;
}

void TrainingSettingsDialog::startCheck() {
  // A large set (CIFAR-10, a folder of images) takes seconds to read: on a pool thread, the
  // dialog staying responsive; the result lands if the dialog is still open and unchanged.
  checkButton_->setEnabled(false);
  showCheck("#9aa3b0", tr("Reading the data..."));
  const int ticket = ++checkTicket_;
  QPointer<TrainingSettingsDialog> self(this);
  QThreadPool::globalInstance()->start(
      [self, ticket, spec = dataset(), dir = projectDir_.toStdString(), input = inputShape_] {
        const CheckResult r = loadAndDescribe(spec, dir, input);
        QMetaObject::invokeMethod(
            qApp,
            [self, ticket, r, spec] {
              if (!self) return;
              self->checkButton_->setEnabled(true);
              // Shown only for the fields as they still are.
              if (ticket == self->checkTicket_ && self->dataset() == spec)
                self->showCheck(r.colour, r.text);
              else
                self->check_->clear();
            },
            Qt::QueuedConnection);
      });
}

}  // namespace ng::gui
