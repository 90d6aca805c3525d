#include "app/gui/theme.h"

#include <QApplication>
#include <QPalette>
#include <QSettings>
#include <QStyle>
#include <QStyleFactory>
#include <QWidget>

namespace ng::gui {

namespace {

// A dark palette that matches the dark canvas.
QPalette darkPalette() {
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
  p.setColor(QPalette::Light, QColor(0x45, 0x48, 0x50));
  p.setColor(QPalette::Midlight, QColor(0x3a, 0x3d, 0x44));
  p.setColor(QPalette::Mid, QColor(0x26, 0x28, 0x2d));
  p.setColor(QPalette::Dark, QColor(0x1c, 0x1e, 0x22));
  p.setColor(QPalette::Shadow, QColor(0x10, 0x11, 0x13));
  p.setColor(QPalette::Highlight, QColor(0x3d, 0x7e, 0xd6));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(0x6a, 0xa8, 0xf0));
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, QColor(0x7d, 0x82, 0x8a));
  // Fusion etches disabled menu text with the Light colour, a bright shadow on a dark menu:
  // no etching.
  p.setColor(QPalette::Disabled, QPalette::Light, Qt::transparent);
  return p;
}

// Fusion's light palette with the canvas's accents.
QPalette lightPalette(QStyle* fusion) {
  QPalette p = fusion->standardPalette();
  p.setColor(QPalette::Window, QColor(0xee, 0xef, 0xf2));
  p.setColor(QPalette::Base, Qt::white);
  p.setColor(QPalette::AlternateBase, QColor(0xf5, 0xf6, 0xf8));
  p.setColor(QPalette::ToolTipBase, QColor(0xff, 0xff, 0xf0));
  p.setColor(QPalette::ToolTipText, QColor(0x1f, 0x23, 0x29));
  p.setColor(QPalette::Highlight, QColor(0x2f, 0x6f, 0xc8));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::Link, QColor(0x1e, 0x5f, 0xb8));
  return p;
}

}  // namespace

void applyTheme(style::Theme t) {
  style::setTheme(t);
  auto* app = qobject_cast<QApplication*>(QCoreApplication::instance());
  if (!app) return;
  QStyle* fusion = QStyleFactory::create("Fusion");
  if (fusion) QApplication::setStyle(fusion);  // the application takes ownership
  QApplication::setPalette(t == style::Theme::Dark ? darkPalette()
                                                   : lightPalette(QApplication::style()));
  // Canvases and other custom-painted widgets pick the new colours up when they repaint.
  for (QWidget* w : QApplication::allWidgets()) w->update();
}

style::Theme savedTheme() {
  return QSettings().value("view/theme").toString() == "light" ? style::Theme::Light
                                                               : style::Theme::Dark;
}

void saveTheme(style::Theme t) {
  QSettings().setValue("view/theme", QString::fromLatin1(style::themeName(t)));
}

}  // namespace ng::gui
