// neurograph: the desktop application.
//   neurograph [FILE]   opens FILE, or the LeNet example when no file is given; first offers
//                       to recover work a crash left unsaved (NOTE [Autosave])
#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QPainter>
#include <QTimer>

#include "app/gui/main_window.h"
#include "app/gui/theme.h"
#include "engine/core/openmp_env.h"

namespace {

QIcon appIcon() {
  QPixmap pm(64, 64);
  pm.fill(Qt::transparent);
  QPainter g(&pm);
  g.setRenderHint(QPainter::Antialiasing);
  g.setBrush(QColor(0x2f, 0x31, 0x36));
  g.setPen(Qt::NoPen);
  g.drawRoundedRect(QRectF(2, 2, 60, 60), 12, 12);
  g.setPen(QPen(QColor(0x9a, 0xa3, 0xb0), 3));
  QPointF a(16, 20), b(16, 44), c(48, 32);
  g.drawLine(a, c);
  g.drawLine(b, c);
  g.setPen(Qt::NoPen);
  g.setBrush(QColor(0x1e, 0x88, 0xe5));
  g.drawEllipse(a, 7, 7);
  g.drawEllipse(b, 7, 7);
  g.setBrush(QColor(0xd8, 0x1b, 0x60));
  g.drawEllipse(c, 8, 8);
  return QIcon(pm);
}

}  // namespace

int main(int argc, char** argv) {
  ng::ensure_openmp_wait_policy(argc, argv);  // NOTE [OpenMP waits]: may re-execute
  // Fractional scale factors (1.25, 1.5) as they are, not rounded: every size is in
  // device-independent pixels and the canvas draws vectors.
  QGuiApplication::setHighDpiScaleFactorRoundingPolicy(
      Qt::HighDpiScaleFactorRoundingPolicy::PassThrough);
  QApplication app(argc, argv);
  QApplication::setOrganizationName("Neurograph");
  QApplication::setApplicationName("Neurograph");
  QApplication::setApplicationVersion(NG_VERSION);
  ng::gui::applyTheme(ng::gui::savedTheme());  // View > Theme; dark by default
  app.setWindowIcon(appIcon());

  QCommandLineParser cli;
  cli.setApplicationDescription("Design neural networks as node graphs.");
  cli.addHelpOption();
  cli.addVersionOption();
  cli.addPositionalArgument("file", "A project file (*.ngraph) to open.", "[FILE]");
  cli.process(app);

  ng::gui::MainWindow w;
  w.show();
  QString file = cli.positionalArguments().value(0);
  if (!w.recoverAutosaves()) {
    if (!file.isEmpty())
      w.openFile(file, true);
    else if (QString lenet = ng::gui::MainWindow::findExample("lenet-mnist.ngraph");
             !lenet.isEmpty())
      w.openExample(lenet, true);
  }
  return app.exec();
}
