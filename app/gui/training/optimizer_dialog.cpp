#include "app/gui/training/optimizer_dialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleValidator>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

namespace ng::gui {

namespace {

// The fields of each type, as torch.optim names them (ng::optimizer_fields).
QStringList fieldsOf(const QString& type) {
  QStringList names;
  for (const ng::OptimizerField& f : ng::optimizer_fields())
    if (f.used_by(type.toStdString())) names << QString::fromLatin1(f.name);
  return names;
}

QString stateName(const QString& type) {
  const QString t = type.toLower();
  if (t == "sgd") return QObject::tr("momentum buffers");
  if (t == "rmsprop") return QObject::tr("running averages");
  return QObject::tr("moment estimates and step counts");
}

}  // namespace

OptimizerDialog::OptimizerDialog(const ng::OptimizerSpec& current, QWidget* parent, For purpose)
    : QDialog(parent), current_(current), purpose_(purpose) {
  setObjectName("optimizerDialog");
  setWindowTitle(purpose == For::NextRun ? tr("Optimiser") : tr("Change the optimiser"));
  auto* lay = new QVBoxLayout(this);
  auto* intro = new QLabel(purpose == For::NextRun
                               ? tr("The next run trains with this optimiser.")
                               : tr("The paused run continues with these settings from its next "
                                    "step."));
  intro->setWordWrap(true);
  lay->addWidget(intro);
  form_ = new QFormLayout;
  type_ = new QComboBox;
  type_->setObjectName("optimizerType");
  for (const char* t : {"SGD", "Adam", "AdamW", "RMSprop"}) type_->addItem(t);
  const int at = type_->findText(QString::fromStdString(current.type), Qt::MatchFixedString);
  type_->setCurrentIndex(std::max(0, at));
  form_->addRow(tr("Type"), type_);
  auto addField = [&](const QString& name, const QString& label, double value, double lo, double hi,
                      const QString& tip) {
    auto* e = new QLineEdit(QString::number(value, 'g', 8));
    e->setObjectName("opt_" + name);
    auto* v = new QDoubleValidator(lo, hi, 12, e);
    v->setNotation(QDoubleValidator::ScientificNotation);
    v->setLocale(QLocale::c());
    e->setValidator(v);
    e->setToolTip(tip);
    fields_[name] = e;
    form_->addRow(label, e);
  };
  addField("lr", tr("Learning rate"), current.lr, 0, 100,
           tr("The schedule's base rate from the next step"));
  addField("momentum", tr("Momentum"), current.momentum, 0, 0.999999, tr("In [0, 1)"));
  addField("dampening", tr("Dampening"), current.dampening, 0, 1,
           tr("In [0, 1]; 0 with Nesterov momentum"));
  nesterov_ = new QCheckBox(tr("Nesterov momentum"));
  nesterov_->setObjectName("opt_nesterov");
  nesterov_->setChecked(current.nesterov);
  form_->addRow(QString(), nesterov_);
  addField("beta1", tr("Beta 1"), current.beta1, 0, 0.999999, tr("In [0, 1)"));
  addField("beta2", tr("Beta 2"), current.beta2, 0, 0.999999, tr("In [0, 1)"));
  addField("alpha", tr("Alpha"), current.alpha, 0, 1, tr("RMSprop's smoothing constant"));
  addField("eps", tr("Epsilon"), current.eps, 0, 1, tr("Added to the denominator, >= 0"));
  centered_ = new QCheckBox(tr("Centered"));
  centered_->setObjectName("opt_centered");
  centered_->setChecked(current.centered);
  form_->addRow(QString(), centered_);
  addField("weight_decay", tr("Weight decay"), current.weight_decay, 0, 100, tr(">= 0"));
  lay->addLayout(form_);
  note_ = new QLabel;
  note_->setObjectName("optimizerStateNote");
  note_->setWordWrap(true);
  note_->setVisible(purpose == For::PausedRun);
  lay->addWidget(note_);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel);
  buttons->button(QDialogButtonBox::Ok)->setText(tr("Apply"));
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  lay->addWidget(buttons);
  connect(type_, &QComboBox::currentTextChanged, this, &OptimizerDialog::update);
  update();
}

bool OptimizerDialog::fieldShown(const QString& name) const {
  return fieldsOf(type_->currentText()).contains(name);
}

void OptimizerDialog::update() {
  const QStringList shown = fieldsOf(type_->currentText());
  for (auto it = fields_.begin(); it != fields_.end(); ++it)
    form_->setRowVisible(it.value(), shown.contains(it.key()));
  form_->setRowVisible(nesterov_, shown.contains("nesterov"));
  form_->setRowVisible(centered_, shown.contains("centered"));
  const QString from = QString::fromStdString(current_.type);
  const QString to = type_->currentText();
  if (from.compare(to, Qt::CaseInsensitive) == 0)
    note_->setText(tr("Same optimiser: its %1 are kept.").arg(stateName(to)));
  else
    note_->setText(tr("A new optimiser: %1 starts with fresh state; the %2 of %3 are dropped.")
                       .arg(to, stateName(from), from));
}

ng::OptimizerSpec OptimizerDialog::spec() const {
  ng::OptimizerSpec s = current_;
  s.type = type_->currentText().toStdString();
  for (const ng::OptimizerField& f : ng::optimizer_fields()) {
    if (!f.number) continue;  // the switches are check boxes, read below
    const QLineEdit* e = fields_.value(QString::fromLatin1(f.name));
    bool ok = false;
    const double v = e ? QLocale::c().toDouble(e->text(), &ok) : 0.0;
    if (ok) s.*f.number = v;
  }
  s.nesterov = nesterov_->isChecked();
  s.centered = centered_->isChecked();
  return s;
}

}  // namespace ng::gui
