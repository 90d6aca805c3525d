// The undo commands of GraphModel (NOTE [Every edit is a command]). Each one changes the model
// through its private mutators in redo() and puts it back in undo(); a command with children
// (removing nodes with their edges, pasting) runs them in order and reruns shape inference once.
//   model.undoStack()->push(new SetParamCommand(&model, "fc1", "out_features", 10));
// Normally GraphModel's editing functions build these; views never touch the model otherwise.
#pragma once

#include <QUndoCommand>
#include <map>

#include "widgets/nodegraph/model/graph_model.h"

namespace ng::gui {

// Base: shows the scope the command was made in (main graph or block), batches analysis around
// the command and its children; subclasses implement apply().
class GraphCommand : public QUndoCommand {
 public:
  GraphCommand(GraphModel* m, const QString& text, QUndoCommand* parent = nullptr)
      : QUndoCommand(text, parent), model_(m), scope_(m->scope()) {}
  void redo() final;
  void undo() final;
  const QString& scope() const { return scope_; }

 protected:
  virtual void apply(bool redo) { (void)redo; }

  // Forwarded mutators (GraphModel befriends only this class).
  void insertNode(int index, const Node& n) { model_->insertNode(index, n); }
  Node takeNode(const QString& id, int* index) { return model_->takeNode(id, index); }
  void insertEdge(int index, const Edge& e) { model_->insertEdge(index, e); }
  Edge takeEdge(int edgeId, int* index) { return model_->takeEdge(edgeId, index); }
  void setNodePos(const QString& id, QPointF p) { model_->setNodePos(id, p); }
  void setNodeParam(const QString& id, const QString& name, const nlohmann::json& v) {
    model_->setNodeParam(id, name, v);
  }
  void setNodeId(const QString& id, const QString& newId) { model_->setNodeId(id, newId); }
  int newEdgeId() { return model_->newEdgeId(); }
  int newFrameId() { return model_->newFrameId(); }
  void insertFrame(int index, const Frame& f) { model_->insertFrame(index, f); }
  Frame takeFrame(int id, int* index) { return model_->takeFrame(id, index); }
  void setFrameData(int id, const QString& title, const QRectF& r) {
    model_->setFrameData(id, title, r);
  }

  GraphModel* model_;
  QString scope_;
};

class AddNodeCommand : public GraphCommand {
 public:
  AddNodeCommand(GraphModel* m, Node n, QUndoCommand* parent = nullptr);
  const QString& nodeId() const { return node_.id; }

 protected:
  void apply(bool redo) override;

 private:
  Node node_;
  int index_ = -1;  // appended on first redo; its place afterwards
};

// Removes one node; the edges touching it must be gone (RemoveNodesCommand sees to that).
class RemoveNodeCommand : public GraphCommand {
 public:
  RemoveNodeCommand(GraphModel* m, const QString& id, QUndoCommand* parent = nullptr);

 protected:
  void apply(bool redo) override;

 private:
  QString id_;
  Node node_;
  int index_ = -1;
};

class AddEdgeCommand : public GraphCommand {
 public:
  // `e.id` is assigned here.
  AddEdgeCommand(GraphModel* m, Edge e, QUndoCommand* parent = nullptr);
  int edgeId() const { return edge_.id; }

 protected:
  void apply(bool redo) override;

 private:
  Edge edge_;
  int index_ = -1;
};

class RemoveEdgeCommand : public GraphCommand {
 public:
  RemoveEdgeCommand(GraphModel* m, int edgeId, QUndoCommand* parent = nullptr);

 protected:
  void apply(bool redo) override;

 private:
  int edgeId_;
  Edge edge_;
  int index_ = -1;
};

// Removes nodes with every edge touching them, loose edges and frames, as one step.
class RemoveNodesCommand : public GraphCommand {
 public:
  RemoveNodesCommand(GraphModel* m, const QStringList& ids, const QList<int>& edgeIds = {},
                     const QList<int>& frameIds = {});
};

class MoveNodesCommand : public GraphCommand {
 public:
  MoveNodesCommand(GraphModel* m, std::map<QString, QPointF> from, std::map<QString, QPointF> to,
                   const QString& text = {}, QUndoCommand* parent = nullptr);

 protected:
  void apply(bool redo) override;

 private:
  std::map<QString, QPointF> from_, to_;
};

// Consecutive changes of one parameter of one node merge (typing digits, spin-box steps).
class SetParamCommand : public GraphCommand {
 public:
  static constexpr int kId = 0x4e47;  // "NG"
  SetParamCommand(GraphModel* m, const QString& node, const QString& name, nlohmann::json value);
  int id() const override { return kId; }
  bool mergeWith(const QUndoCommand* other) override;

 protected:
  void apply(bool redo) override;

 private:
  QString node_, name_;
  nlohmann::json old_, new_;  // null: absent
};

class RenameNodeCommand : public GraphCommand {
 public:
  RenameNodeCommand(GraphModel* m, const QString& id, const QString& newId);

 protected:
  void apply(bool redo) override;

 private:
  QString old_, new_;
};

// Replaces the whole structure (every scope's nodes, edges and frames, the block definitions):
// making and unpacking blocks, which change two scopes at once. Views rebuild.
class DocumentCommand : public GraphCommand {
 public:
  DocumentCommand(GraphModel* m, const QString& text, GraphModel::Document before,
                  GraphModel::Document after);

 protected:
  void apply(bool redo) override;

 private:
  GraphModel::Document before_, after_;
};

// Replaces the project's recipe (dataset and training sections). Not a GraphCommand: the recipe
// belongs to no scope, so undoing it leaves the scope shown as it is.
class SetRecipeCommand : public QUndoCommand {
 public:
  struct Recipe {
    ng::DatasetSpec dataset;
    ng::TrainingSpec training;
  };
  SetRecipeCommand(GraphModel* m, Recipe before, Recipe after, const QString& text);
  void redo() override { model_->setRecipeData(after_.dataset, after_.training); }
  void undo() override { model_->setRecipeData(before_.dataset, before_.training); }
  // Both recipes' dataset paths through `f` (GraphModel::relocateDatasetPaths).
  template <class F>
  void rewritePaths(F f) {
    before_.dataset.path = f(before_.dataset.path);
    after_.dataset.path = f(after_.dataset.path);
  }

 private:
  GraphModel* model_;
  Recipe before_, after_;
};

// Adds a block definition (pasting a Block node whose definition the model lacks).
class AddBlockCommand : public GraphCommand {
 public:
  AddBlockCommand(GraphModel* m, const QString& name, GraphBody body,
                  QUndoCommand* parent = nullptr);

 protected:
  void apply(bool redo) override;

 private:
  QString name_;
  GraphBody body_;
  int index_ = -1;
};

class AddFrameCommand : public GraphCommand {
 public:
  // `f.id` is assigned here.
  AddFrameCommand(GraphModel* m, Frame f, QUndoCommand* parent = nullptr);
  int frameId() const { return frame_.id; }

 protected:
  void apply(bool redo) override;

 private:
  Frame frame_;
  int index_ = -1;
};

class RemoveFrameCommand : public GraphCommand {
 public:
  RemoveFrameCommand(GraphModel* m, int frameId, QUndoCommand* parent = nullptr);

 protected:
  void apply(bool redo) override;

 private:
  int id_;
  Frame frame_;
  int index_ = -1;
};

// A frame's new title and rectangle. Consecutive title edits of one frame merge.
class SetFrameCommand : public GraphCommand {
 public:
  static constexpr int kId = 0x4e48;
  SetFrameCommand(GraphModel* m, int frameId, const QString& title, const QRectF& rect,
                  QUndoCommand* parent = nullptr);
  int id() const override { return parent_ ? -1 : kId; }
  bool mergeWith(const QUndoCommand* other) override;

 protected:
  void apply(bool redo) override;

 private:
  int frame_;
  QString oldTitle_, newTitle_;
  QRectF oldRect_, newRect_;
  bool parent_ = false;
};

}  // namespace ng::gui
