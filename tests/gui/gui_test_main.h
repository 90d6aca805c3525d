// main() for the GUI test executables: a real X display when DISPLAY is set (CI starts Xvfb),
// else Qt's offscreen platform; settings and autosaves go to a temporary folder, never the
// user's.
#pragma once

#include <QApplication>
#include <QTemporaryDir>
#include <QTest>

#define NG_GUI_TEST_MAIN(TestClass)                                   \
  int main(int argc, char** argv) {                                   \
    if (qEnvironmentVariableIsEmpty("DISPLAY") &&                     \
        qEnvironmentVariableIsEmpty("WAYLAND_DISPLAY") &&             \
        qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM"))               \
      qputenv("QT_QPA_PLATFORM", "offscreen");                        \
    QTemporaryDir config;                                             \
    qputenv("XDG_CONFIG_HOME", (config.path() + "/config").toUtf8()); \
    qputenv("XDG_DATA_HOME", (config.path() + "/data").toUtf8());     \
    QApplication app(argc, argv);                                     \
    QApplication::setOrganizationName("NeurographTests");             \
    QApplication::setApplicationName(#TestClass);                     \
    TestClass t;                                                      \
    return QTest::qExec(&t, argc, argv);                              \
  }
