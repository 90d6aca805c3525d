#include "widgets/inspector/node_inspector.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QRegularExpression>
#include <QScrollArea>
#include <QSignalBlocker>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>
#include <climits>
#include <cmath>

#include "widgets/nodegraph/model/graph_model.h"
#include "widgets/nodegraph/view/node_style.h"

namespace ng::gui {

using nlohmann::json;

namespace {

// Shows floats the way people write them (0.1, 1e-05), not with fixed decimals.
class FloatSpin : public QDoubleSpinBox {
 public:
  using QDoubleSpinBox::QDoubleSpinBox;
  QString textFromValue(double v) const override { return QString::number(v, 'g', 10); }
  double valueFromText(const QString& t) const override { return t.toDouble(); }
  QValidator::State validate(QString& t, int&) const override {
    if (t.isEmpty() || t == "-" || t == "." || t.endsWith('e') || t.endsWith("e-"))
      return QValidator::Intermediate;
    bool ok = false;
    double v = t.toDouble(&ok);
    if (!ok) return QValidator::Invalid;
    return v >= minimum() && v <= maximum() ? QValidator::Acceptable : QValidator::Intermediate;
  }
};

QString listText(const json& v) {
  QStringList parts;
  if (v.is_array())
    for (const json& x : v) parts << QString::fromStdString(x.dump());
  else if (!v.is_null())
    parts << QString::fromStdString(v.dump());
  return parts.join(", ");
}

// "1, 28, 28", "[1, 28, 28]", "1x28x28" -> [1, 28, 28]; nullopt when not whole numbers.
std::optional<json> parseList(const QString& text) {
  QString t = text;
  t.remove('[').remove(']');
  QStringList parts = t.split(QRegularExpression("[,\\s\u00d7xX]+"), Qt::SkipEmptyParts);
  json r = json::array();
  for (const QString& p : parts) {
    bool ok = false;
    qlonglong v = p.toLongLong(&ok);
    if (!ok) return std::nullopt;
    r.push_back(int64_t(v));
  }
  return r;
}

int spinMin(const ng::ParamDef& d) {
  return d.min ? int(std::max<double>(*d.min, INT_MIN + 1)) : -1000000000;
}
int spinMax(const ng::ParamDef& d) {
  return d.max ? int(std::min<double>(*d.max, INT_MAX)) : 1000000000;
}

// A spin box that can show "auto" (an inferred value not known yet) or "required" (unset).
void setSpin(QSpinBox* s, const ng::ParamDef& d, const json& v, const QString& blank) {
  if (v.is_number_integer()) {
    s->setMinimum(spinMin(d));
    s->setSpecialValueText({});
    s->setValue(v.get<int>());
  } else {
    s->setMinimum(spinMin(d) - 1);
    s->setSpecialValueText(blank);
    s->setValue(s->minimum());
  }
}

}  // namespace

// ---- ParamEditor ---------------------------------------------------------------------------

ParamEditor::ParamEditor(const ng::ParamDef& def, QWidget* parent) : QWidget(parent), def_(def) {
  setObjectName(QString::fromStdString("param_" + def.name));
  auto* col = new QVBoxLayout(this);
  col->setContentsMargins(0, 0, 0, 0);
  col->setSpacing(2);
  auto* row = new QHBoxLayout;
  row->setContentsMargins(0, 0, 0, 0);
  row->setSpacing(4);
  col->addLayout(row);
  QString tip = QString::fromStdString(def.description);

  // Spin boxes would ask for the width of their largest value (a billion): let the dock decide.
  auto fit = [](QWidget* w) {
    w->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Fixed);
    w->setMinimumWidth(56);
  };
  auto intSpin = [&](bool emits = true) {
    auto* s = new QSpinBox(this);
    fit(s);
    s->setRange(spinMin(def), spinMax(def));
    s->setKeyboardTracking(false);
    s->setAccelerated(true);
    s->setToolTip(tip);
    if (emits) connect(s, &QSpinBox::valueChanged, this, &ParamEditor::emitCurrent);
    inputs_ << s;
    row->addWidget(s, 1);
    return s;
  };
  switch (def.type) {
    case ng::ParamType::Int:
      intSpin();
      break;
    case ng::ParamType::IntPair: {
      QSpinBox* a = intSpin(false);
      auto* times = new QLabel(QString::fromUtf8("\u00d7"), this);
      times->setToolTip(tr("While both numbers are equal, the first sets both."));
      row->addWidget(times);
      QSpinBox* b = intSpin();
      // Square stays square: one edit (and one undo step) sets both.
      connect(a, &QSpinBox::valueChanged, this, [this, b](int v) {
        if (!updating_ && b->value() == pairFirst_) {
          QSignalBlocker quiet(b);
          b->setValue(v);
        }
        pairFirst_ = v;
        emitCurrent();
      });
      break;
    }
    case ng::ParamType::Float: {
      auto* s = new FloatSpin(this);
      fit(s);
      s->setDecimals(10);
      s->setRange(def.min ? *def.min : -1e12, def.max ? *def.max : 1e12);
      s->setSingleStep(def.max && *def.max <= 1 ? 0.05 : 0.1);
      s->setKeyboardTracking(false);
      s->setToolTip(tip);
      connect(s, &QDoubleSpinBox::valueChanged, this, &ParamEditor::emitCurrent);
      inputs_ << s;
      row->addWidget(s, 1);
      break;
    }
    case ng::ParamType::Bool: {
      auto* c = new QCheckBox(this);
      c->setToolTip(tip);
      connect(c, &QCheckBox::toggled, this, &ParamEditor::emitCurrent);
      inputs_ << c;
      row->addWidget(c, 1);
      break;
    }
    case ng::ParamType::Enum: {
      auto* c = new QComboBox(this);
      fit(c);
      for (const std::string& ch : def.choices) c->addItem(QString::fromStdString(ch));
      c->setToolTip(tip);
      connect(c, &QComboBox::currentIndexChanged, this, &ParamEditor::emitCurrent);
      inputs_ << c;
      row->addWidget(c, 1);
      break;
    }
    case ng::ParamType::IntList:
    case ng::ParamType::String: {
      auto* e = new QLineEdit(this);
      e->setToolTip(tip);
      if (def.type == ng::ParamType::IntList) e->setPlaceholderText(tr("e.g. 1, 28, 28"));
      connect(e, &QLineEdit::editingFinished, this, &ParamEditor::emitCurrent);
      inputs_ << e;
      row->addWidget(e, 1);
      break;
    }
  }
  if (def.presence == ng::ParamPresence::Inferred) {
    auto_ = new QCheckBox(tr("auto"), this);
    auto_->setToolTip(tr("Inferred from the incoming shape. Untick to set it yourself."));
    connect(auto_, &QCheckBox::toggled, this, [this](bool on) {
      if (updating_) return;
      for (QWidget* w : inputs_) w->setEnabled(!on);
      if (on) {
        emit changed(json());
      } else {
        json v = current();
        if (v.is_null()) v = def_.min ? json(int64_t(*def_.min)) : json(1);
        emit changed(v);
      }
    });
    row->addWidget(auto_);
  } else if (def.presence == ng::ParamPresence::Default) {
    reset_ = new QToolButton(this);
    reset_->setText(QString::fromUtf8("\u21ba"));
    reset_->setToolTip(tr("Back to the default (%1)").arg(listText(def.default_value)));
    reset_->setAutoRaise(true);
    reset_->setFocusPolicy(Qt::NoFocus);  // it comes and goes: Tab would land elsewhere each time
    connect(reset_, &QToolButton::clicked, this, [this] { emit changed(json()); });
    row->addWidget(reset_);
  }
  message_ = new QLabel(this);
  message_->setWordWrap(true);
  message_->setVisible(false);
  message_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  col->addWidget(message_);
}

json ParamEditor::current() const {
  switch (def_.type) {
    case ng::ParamType::Int: {
      auto* s = static_cast<QSpinBox*>(inputs_[0]);
      return s->value() < spinMin(def_) ? json() : json(int64_t(s->value()));
    }
    case ng::ParamType::IntPair: {
      auto* a = static_cast<QSpinBox*>(inputs_[0]);
      auto* b = static_cast<QSpinBox*>(inputs_[1]);
      if (a->value() < spinMin(def_) && b->value() < spinMin(def_)) return json();
      int va = std::max(a->value(), spinMin(def_)), vb = std::max(b->value(), spinMin(def_));
      return json::array({va, vb});
    }
    case ng::ParamType::Float:
      return static_cast<QDoubleSpinBox*>(inputs_[0])->value();
    case ng::ParamType::Bool:
      return static_cast<QCheckBox*>(inputs_[0])->isChecked();
    case ng::ParamType::Enum:
      return static_cast<QComboBox*>(inputs_[0])->currentText().toStdString();
    case ng::ParamType::IntList: {
      auto v = parseList(static_cast<QLineEdit*>(inputs_[0])->text());
      return v ? *v : json();
    }
    case ng::ParamType::String:
      return static_cast<QLineEdit*>(inputs_[0])->text().toStdString();
  }
  return {};
}

void ParamEditor::show(const json& v) {
  QString blank = def_.presence == ng::ParamPresence::Inferred ? tr("auto") : tr("required");
  switch (def_.type) {
    case ng::ParamType::Int:
      setSpin(static_cast<QSpinBox*>(inputs_[0]), def_, v, blank);
      break;
    case ng::ParamType::IntPair: {
      json a = v, b = v;  // a single number means both
      if (v.is_array() && v.size() == 2) a = v[0], b = v[1];
      setSpin(static_cast<QSpinBox*>(inputs_[0]), def_, a, blank);
      setSpin(static_cast<QSpinBox*>(inputs_[1]), def_, b, blank);
      pairFirst_ = static_cast<QSpinBox*>(inputs_[0])->value();
      break;
    }
    case ng::ParamType::Float:
      static_cast<QDoubleSpinBox*>(inputs_[0])->setValue(v.is_number() ? v.get<double>() : 0.0);
      break;
    case ng::ParamType::Bool:
      static_cast<QCheckBox*>(inputs_[0])->setChecked(v.is_boolean() && v.get<bool>());
      break;
    case ng::ParamType::Enum: {
      auto* c = static_cast<QComboBox*>(inputs_[0]);
      QString t = v.is_string() ? QString::fromStdString(v.get<std::string>()) : QString();
      if (c->findText(t) < 0 && !t.isEmpty()) c->addItem(t);  // show a bad value as it is
      c->setCurrentIndex(c->findText(t));
      break;
    }
    case ng::ParamType::IntList:
      static_cast<QLineEdit*>(inputs_[0])->setText(listText(v));
      break;
    case ng::ParamType::String:
      static_cast<QLineEdit*>(inputs_[0])
          ->setText(v.is_string() ? QString::fromStdString(v.get<std::string>()) : QString());
      break;
  }
}

void ParamEditor::setValues(const json& user, const json& resolved) {
  updating_ = true;
  user_ = user;
  for (QWidget* w : inputs_) w->blockSignals(true);
  json shown = user.is_null() ? resolved : user;
  if (shown.is_null() && def_.presence == ng::ParamPresence::Default) shown = def_.default_value;
  show(shown);
  if (auto_) {
    auto_->setChecked(user.is_null());
    for (QWidget* w : inputs_) w->setEnabled(!user.is_null());
  }
  if (reset_) reset_->setVisible(!user.is_null() && user != def_.default_value);
  for (QWidget* w : inputs_) w->blockSignals(false);
  updating_ = false;
}

void ParamEditor::emitCurrent() {
  if (updating_) return;
  if (def_.type == ng::ParamType::IntList) {
    QString text = static_cast<QLineEdit*>(inputs_[0])->text();
    if (!parseList(text)) {
      setMessage(tr("Write whole numbers separated by commas, e.g. 1, 28, 28."), true);
      return;
    }
  }
  json v = current();
  if (v == user_) return;
  emit changed(v);
}

void ParamEditor::setMessage(const QString& text, bool error) {
  message_->setText(text);
  message_->setStyleSheet(
      QString("color: %1;").arg((error ? style::errorColor() : style::warningColor()).name()));
  message_->setVisible(!text.isEmpty());
  // A red frame on text fields (a style sheet would spoil spin boxes' and combo boxes' looks).
  for (QWidget* w : inputs_)
    if (qobject_cast<QLineEdit*>(w))
      w->setStyleSheet(text.isEmpty() || !error
                           ? QString()
                           : QString("border: 1px solid %1;").arg(style::errorColor().name()));
}

QString ParamEditor::message() const {
  return message_->text();
}

// ---- NodeInspector -------------------------------------------------------------------------

NodeInspector::NodeInspector(GraphModel* model, QWidget* parent) : QWidget(parent), model_(model) {
  setObjectName("nodeInspector");
  outer_ = new QVBoxLayout(this);
  outer_->setContentsMargins(0, 0, 0, 0);
  placeholder_ = new QLabel(this);
  setSelectionCount(0);
  placeholder_->setWordWrap(true);
  placeholder_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  placeholder_->setMargin(10);
  outer_->addWidget(placeholder_);

  connect(model_, &GraphModel::analysisChanged, this, &NodeInspector::refresh);
  connect(model_, &GraphModel::nodeParamsChanged, this, [this](const QString& id) {
    if (id == id_) refresh();
  });
  connect(model_, &GraphModel::nodeRemoved, this, [this](const QString& id) {
    if (id == id_) setNode({});
  });
  connect(model_, &GraphModel::nodeRenamed, this, [this](const QString& a, const QString& b) {
    if (a != id_) return;
    id_ = b;
    refresh();
  });
  connect(model_, &GraphModel::modelReset, this, [this] { setNode({}); });
}

QString NodeInspector::placeholderText() const {
  return placeholder_->text();
}

void NodeInspector::setSelectionCount(int count) {
  placeholder_->setText(
      count > 1 ? tr("%n nodes selected.\n\nCtrl+G makes a block of them, Ctrl+Shift+F puts a "
                     "frame around them; Ctrl+C copies, Del deletes. Select one to edit it.",
                     nullptr, count)
                : tr("Select a node to see and edit its parameters.\n\nAdd layers from the Layers "
                     "pane (drag one, or double-click it to put it after the selected node, "
                     "wired), or press Tab on the canvas."));
}

void NodeInspector::setNode(const QString& id) {
  const Node* n = model_->node(id);
  QString newId = n ? id : QString();
  QString newType = n ? n->type : QString();
  if (newId == id_ && newType == type_ && (page_ != nullptr) == !newId.isEmpty()) {
    refresh();
    return;
  }
  id_ = newId;
  type_ = newType;
  rebuild();
}

QString NodeInspector::descriptionText() const {
  return description_ ? description_->text() : QString();
}

void NodeInspector::rebuild() {
  delete page_;
  page_ = nullptr;
  editors_.clear();
  title_ = summary_ = output_ = issues_ = description_ = nameError_ = nullptr;
  name_ = nullptr;
  placeholder_->setVisible(id_.isEmpty());
  if (id_.isEmpty()) return;

  auto* scroll = new QScrollArea(this);
  scroll->setWidgetResizable(true);
  scroll->setFrameShape(QFrame::NoFrame);
  scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
  auto* page = new QWidget(scroll);
  auto* lay = new QVBoxLayout(page);
  lay->setContentsMargins(10, 8, 10, 8);
  lay->setSpacing(6);

  const ng::LayerDef* def = model_->layerDef(id_);
  auto* head = new QHBoxLayout;
  auto* icon = new QLabel(page);
  if (def) icon->setPixmap(style::categoryIcon(def->category).pixmap(32, 32));
  head->addWidget(icon);
  title_ = new QLabel(page);
  title_->setTextFormat(Qt::RichText);
  head->addWidget(title_, 1);
  lay->addLayout(head);
  summary_ = new QLabel(page);
  summary_->setWordWrap(true);
  summary_->setStyleSheet("font-style: italic;");
  lay->addWidget(summary_);

  auto* form = new QFormLayout;
  form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
  form->setLabelAlignment(Qt::AlignLeft);
  name_ = new QLineEdit(page);
  name_->setObjectName("nodeName");
  name_->setToolTip(tr("The node's id: unique, used in wires and in exported code."));
  connect(name_, &QLineEdit::editingFinished, this, &NodeInspector::commitName);
  form->addRow(tr("Name"), name_);
  nameError_ = new QLabel(page);
  nameError_->setWordWrap(true);
  nameError_->setStyleSheet(QString("color: %1;").arg(style::errorColor().name()));
  nameError_->setVisible(false);
  form->addRow(QString(), nameError_);
  output_ = new QLabel(page);
  output_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  output_->setWordWrap(true);
  form->addRow(tr("Output"), output_);
  lay->addLayout(form);

  if (def && !def->params.empty()) {
    auto* heading = new QLabel(tr("<b>Parameters</b>"), page);
    lay->addSpacing(4);
    lay->addWidget(heading);
    auto* params = new QFormLayout;
    params->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    for (const ng::ParamDef& p : def->params) {
      auto* ed = new ParamEditor(p, page);
      QString name = QString::fromStdString(p.name);
      auto* label =
          new QLabel(p.presence == ng::ParamPresence::Required ? name + " *" : name, page);
      label->setToolTip(QString::fromStdString(p.description));
      params->addRow(label, ed);
      editors_.insert(name, ed);
      connect(ed, &ParamEditor::changed, this,
              [this, name](const json& v) { model_->setParam(id_, name, v); });
    }
    lay->addLayout(params);
  }
  issues_ = new QLabel(page);
  issues_->setWordWrap(true);
  issues_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  lay->addWidget(issues_);
  if (def) {
    auto* about = new QLabel(tr("<b>About %1</b>").arg(QString::fromStdString(def->name)), page);
    lay->addSpacing(6);
    lay->addWidget(about);
    description_ = new QLabel(QString::fromStdString(def->description), page);
    description_->setWordWrap(true);
    description_->setTextInteractionFlags(Qt::TextSelectableByMouse);
    lay->addWidget(description_);
  }
  lay->addStretch(1);
  scroll->setWidget(page);
  page_ = scroll;
  outer_->addWidget(scroll);
  scroll->show();
  refresh();
}

void NodeInspector::refresh() {
  if (!page_ || id_.isEmpty()) return;
  const Node* n = model_->node(id_);
  if (!n) return;
  if (n->type != type_) {  // replaced by an undo: build again
    type_ = n->type;
    rebuild();
    return;
  }
  const ng::LayerDef* def = model_->layerDef(id_);
  title_->setText(QString("<span style='font-size:13pt; font-weight:600'>%1</span><br>%2")
                      .arg(n->type.toHtmlEscaped(),
                           def ? style::categoryLabel(def->category) : tr("unknown layer type")));
  summary_->setText(def ? QString::fromStdString(def->summary) : QString());
  if (!name_->hasFocus()) name_->setText(id_);

  QStringList out;
  if (def)
    for (size_t i = 0; i < def->outputs.size(); ++i)
      out << (def->outputs.size() > 1 ? QString::fromStdString(def->outputs[i].name) + ": " : "") +
                 [](const std::optional<ng::TensorType>& t) {
                   return t && t->shape.empty() ? tr("a scalar") : typeText(t);
                 }(model_->outputType(id_, int(i)));
  const ng::NodeInfo* info = model_->nodeInfo(id_);
  if (info && info->inferred)
    out << tr("%1 parameters, %2 per example")
               .arg(countText(model_->paramCount(id_)), bytesText(model_->outputBytes(id_)));
  output_->setText(out.join("\n"));

  json resolved = model_->resolvedParams(id_);
  std::vector<ng::Diagnostic> ds = model_->diagnostics(id_);
  for (auto it = editors_.begin(); it != editors_.end(); ++it) {
    std::string key = it.key().toStdString();
    json user = n->params.contains(key) ? n->params[key] : json();
    json res = resolved.is_object() && resolved.contains(key) ? resolved[key] : json();
    it.value()->setValues(user, res);
    QStringList msgs;
    bool error = false;
    for (const ng::Diagnostic& d : ds)
      if (d.field == "params." + key) {
        msgs << QString::fromStdString(d.message);
        error |= d.severity == ng::Severity::Error;
      }
    it.value()->setMessage(msgs.join('\n'), error);
  }
  QStringList other;
  for (const ng::Diagnostic& d : ds)
    if (d.field.rfind("params.", 0) != 0 ||
        !editors_.contains(QString::fromStdString(d.field.substr(7))))
      other << QString("<span style='color:%1'>%2</span>")
                   .arg((d.severity == ng::Severity::Error ? style::errorColor()
                                                           : style::warningColor())
                            .name(),
                        QString::fromStdString(d.message).toHtmlEscaped());
  issues_->setText(other.join("<br>"));
  issues_->setVisible(!other.isEmpty());
}

void NodeInspector::commitName() {
  if (!name_) return;
  QString wanted = name_->text();
  if (wanted == id_) {
    nameError_->setVisible(false);
    return;
  }
  QString why = model_->renameNode(id_, wanted);
  nameError_->setText(why);
  nameError_->setVisible(!why.isEmpty());
  if (!why.isEmpty()) name_->setText(id_);
}

}  // namespace ng::gui
