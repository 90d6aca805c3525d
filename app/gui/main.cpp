// neurograph: the desktop application.
//   neurograph [FILE]   opens FILE, or the LeNet example when no file is given; first offers
//                       to recover work a crash left unsaved (NOTE [Autosave])
#include <QApplication>
#include <QCommandLineParser>
#include <QFileInfo>
#include <QPainter>
#include <QPalette>
#include <QStyleFactory>
#include <QTimer>

#include "app/gui/main_window.h"

namespace {

// A dark Fusion palette that matches the canvas.
void applyDarkTheme(QApplication& app) {
  app.setStyle(QStyleFactory::create("Fusion"));
  QPalette p;
  QColor window(0x2f, 0x31, 0x36), base(0x24, 0x26, 0x2b), text(0xe6, 0xe8, 0xeb);
  p.setColor(QPalette::Window, window);
  p.setColor(QPalette::WindowText, text);
  p.setColor(QPalette::Base, base);
  p.setColor(QPalette::AlternateBase, QColor(0x2b, 0x2d, 0x32));
  p.setColor(QPalette::ToolTipBase, QColor(0x40, 0x43, 0x4a));
  p.setColor(QPalette::ToolTipText, text);
  p.setColor(QPalette::PlaceholderText, QColor(0x8a, 0x8f, 0x98));
  p.setColor(QPalette::Text, text);
  p.setColor(QPalette::Button, window);
  p.setColor(QPalette::ButtonText, text);
  p.setColor(QPalette::BrightText, Qt::white);
  p.setColor(QPalette::Highlight, QColor(0x3d, 0x7e, 0xd6));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(0x6a, 0xa8, 0xf0));
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, QColor(0x7d, 0x82, 0x8a));
  app.setPalette(p);
}

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
  QApplication app(argc, argv);
  QApplication::setOrganizationName("Neurograph");
  QApplication::setApplicationName("Neurograph");
  QApplication::setApplicationVersion(NG_VERSION);
  applyDarkTheme(app);
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
