#include "app/gui/example_gallery.h"

#include <QDialogButtonBox>
#include <QDir>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPainter>
#include <QPushButton>
#include <QVBoxLayout>
#include <map>

#include "engine/graph/validate.h"
#include "engine/io/project.h"
#include "widgets/nodegraph/model/graph_layout.h"
#include "widgets/nodegraph/model/graph_model.h"
#include "widgets/nodegraph/view/node_scene.h"
#include "widgets/nodegraph/view/node_style.h"

namespace ng::gui {

ExampleGallery::Entry ExampleGallery::describe(const QString& path, QSize size, double pixelRatio) {
  Entry e;
  e.path = path;
  e.name = QFileInfo(path).completeBaseName();
  GraphModel model;
  try {
    model.loadProject(path);
  } catch (const std::exception& ex) {
    e.error = QString::fromUtf8(ex.what());
    e.summary = QObject::tr("cannot be read");
    return e;
  }
  ng::ProjectSpec p = model.project();
  // Layers as trained (blocks expanded), by type in the order they first appear.
  const ng::GraphAnalysis& a = model.analysis();
  std::vector<std::pair<std::string, int>> kinds;
  for (int i : a.order) {
    const std::string& t = a.nodes[size_t(i)].type;
    auto it = std::find_if(kinds.begin(), kinds.end(), [&](const auto& k) { return k.first == t; });
    if (it == kinds.end())
      kinds.push_back({t, 1});
    else
      ++it->second;
  }
  QStringList parts;
  for (const auto& [t, n] : kinds)
    parts << (n > 1 ? QString("%1 \u00d7%2").arg(QString::fromStdString(t)).arg(n)
                    : QString::fromStdString(t));
  e.layers = parts.join(QString::fromUtf8(" \u00b7 "));
  e.layerCount = int(a.nodes.size());
  e.params = model.totalParams();
  e.dataset = QString::fromStdString(p.dataset.kind);
  if (p.dataset.kind == "synthetic") e.dataset += " " + QString::fromStdString(p.dataset.generator);
  e.summary =
      QObject::tr("%n layer(s) \u00b7 %1 parameters \u00b7 %2 \u00b7 %3, %4 epochs", nullptr,
                  e.layerCount)
          .arg(countText(e.params), e.dataset, QString::fromStdString(p.training.optimizer.type))
          .arg(p.training.epochs);
  if (!model.blockNames().isEmpty())
    e.summary += QObject::tr(" \u00b7 blocks: %1").arg(model.blockNames().join(", "));

  // The picture: the graph drawn by the canvas itself, fitted. A long chain saved as one row
  // would be a thin strip: it wraps into bands to suit the picture (as Auto Layout would).
  NodeGraphScene scene(&model);
  QRectF source = scene.nodesBoundingRect().adjusted(-30, -30, 30, 30);
  if (!source.isEmpty()) {
    double now = std::min(size.width() / source.width(), size.height() / source.height()), fit = 0;
    std::map<QString, QPointF> wrapped = layoutToFit(
        model, [&](const QString& id) { return scene.nodeSize(id); }, QSizeF(size), &fit);
    if (fit > 1.25 * now) {
      model.moveNodes(wrapped);
      source = scene.nodesBoundingRect().adjusted(-30, -30, 30, 30);
    }
  }
  QPixmap pm(size * pixelRatio);
  pm.setDevicePixelRatio(pixelRatio);
  pm.fill(style::canvasColor());
  if (!source.isEmpty()) {
    QPainter g(&pm);
    g.setRenderHint(QPainter::Antialiasing);
    g.setRenderHint(QPainter::TextAntialiasing);
    scene.render(&g, QRectF(QPointF(0, 0), QSizeF(size)), source, Qt::KeepAspectRatio);
  }
  e.picture = pm;
  return e;
}

ExampleGallery::ExampleGallery(const QString& dir, QWidget* parent) : QDialog(parent) {
  setObjectName("exampleGallery");
  setWindowTitle(tr("New from example"));
  QFontMetrics fm(font());
  const int unit = fm.height();  // sizes in text lines: sane at every scale factor
  const QSize thumb(unit * 9, unit * 5), big(unit * 30, unit * 16);
  const double ratio = devicePixelRatioF();

  auto* lay = new QVBoxLayout(this);
  auto* intro = new QLabel(tr("Start a new project from one of the examples. It opens as an "
                              "untitled copy: saving asks where."),
                           this);
  intro->setWordWrap(true);
  lay->addWidget(intro);
  auto* row = new QHBoxLayout;
  list_ = new QListWidget(this);
  list_->setObjectName("examples");
  list_->setIconSize(thumb);
  list_->setSpacing(2);
  list_->setWordWrap(true);
  list_->setMinimumWidth(thumb.width() + unit * 16);
  row->addWidget(list_, 2);
  auto* side = new QVBoxLayout;
  picture_ = new QLabel(this);
  picture_->setMinimumSize(big);
  picture_->setAlignment(Qt::AlignCenter);
  details_ = new QLabel(this);
  details_->setObjectName("details");
  details_->setWordWrap(true);
  details_->setTextFormat(Qt::RichText);
  details_->setAlignment(Qt::AlignTop | Qt::AlignLeft);
  side->addWidget(picture_);
  side->addWidget(details_, 1);
  row->addLayout(side, 3);
  lay->addLayout(row, 1);
  auto* buttons = new QDialogButtonBox(QDialogButtonBox::Open | QDialogButtonBox::Cancel, this);
  lay->addWidget(buttons);
  connect(buttons, &QDialogButtonBox::accepted, this, &QDialog::accept);
  connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
  connect(list_, &QListWidget::itemActivated, this, &QDialog::accept);
  connect(list_, &QListWidget::currentRowChanged, this, &ExampleGallery::showDetails);

  QStringList files =
      dir.isEmpty() ? QStringList() : QDir(dir).entryList({"*.ngraph"}, QDir::Files, QDir::Name);
  for (const QString& f : files) {
    Entry e = describe(QDir(dir).filePath(f), big, ratio);
    // The list's icon: the big picture scaled down (one rendering per example).
    QPixmap small = e.picture.isNull() ? QPixmap()
                                       : e.picture.scaled(thumb * ratio, Qt::KeepAspectRatio,
                                                          Qt::SmoothTransformation);
    small.setDevicePixelRatio(ratio);
    auto* it = new QListWidgetItem(QIcon(small), e.name + "\n" + e.summary, list_);
    it->setToolTip(e.error.isEmpty() ? e.layers : e.error);
    it->setData(Qt::UserRole, e.path);
    entries_ << e;
  }
  buttons->button(QDialogButtonBox::Open)->setEnabled(!entries_.isEmpty());
  if (entries_.isEmpty())
    details_->setText(tr("No examples found (resources/examples next to the program)."));
  else
    list_->setCurrentRow(0);
  list_->setFocus();
  resize(thumb.width() + unit * 16 + big.width() + unit * 3, big.height() + unit * 12);
}

QString ExampleGallery::chosenPath() const {
  QListWidgetItem* it = list_->currentItem();
  return it ? it->data(Qt::UserRole).toString() : QString();
}

void ExampleGallery::showDetails() {
  int row = list_->currentRow();
  if (row < 0 || row >= entries_.size()) return;
  const Entry& e = entries_[row];
  picture_->setPixmap(e.picture);
  details_->setText(
      e.error.isEmpty()
          ? QString("<b>%1</b><br>%2<br><br>%3")
                .arg(e.name.toHtmlEscaped(), e.summary.toHtmlEscaped(), e.layers.toHtmlEscaped())
          : QString("<b>%1</b><br>%2").arg(e.name.toHtmlEscaped(), e.error.toHtmlEscaped()));
}

}  // namespace ng::gui
