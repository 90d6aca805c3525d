// RunsPanel: the runs recorded in a project's run folder (runs/<name>-<time>/run.json, written
// by TrainingController: graph hash, dataset, seed, recipe, how it ended, per-epoch history,
// checkpoints), newest first. From a selected run: overlay its curves on the plots, continue it
// from its last checkpoint, or start a new run from its weights.
//   RunsPanel p;
//   p.setFolder("resources/examples/runs");
//   connect(&p, &RunsPanel::overlayRequested, dashboard, &MetricsDashboard::addOverlay);
#pragma once

#include <QJsonObject>
#include <QString>
#include <QWidget>

class QLabel;
class QPushButton;
class QTreeWidget;

namespace ng::gui {

class RunsPanel : public QWidget {
  Q_OBJECT
 public:
  explicit RunsPanel(QWidget* parent = nullptr);
  void setFolder(const QString& runsDir);
  const QString& folder() const { return folder_; }
  void refresh();
  QTreeWidget* list() const { return list_; }
  // The selected run's folder ("" for none) and its record.
  QString selectedRun() const;
  QJsonObject record(const QString& runDir) const;
  // Select a run by folder (tests, and after a run ends).
  void select(const QString& runDir);

  QPushButton* overlayButton() const { return overlay_; }
  QPushButton* resumeButton() const { return resume_; }
  QPushButton* weightsButton() const { return weights_; }

 signals:
  void overlayRequested(const QString& name, const QJsonObject& record);
  void resumeRequested(const QString& checkpoint);
  void weightsRequested(const QString& checkpoint);

 private:
  void updateButtons();

  QString folder_;
  QTreeWidget* list_;
  QLabel* empty_;
  QPushButton *overlay_, *resume_, *weights_;
};

}  // namespace ng::gui
