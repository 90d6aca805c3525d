// Project files (*.ngraph): the graph, the dataset and the training recipe of one model, as
// versioned JSON (sorted keys, 2-space indent, so that files diff well).
//
//   ProjectSpec p = load_project("resources/examples/lenet-mnist.ngraph");  // throws ProjectError
//   p.training.epochs = 10;
//   save_project(p, "my-lenet.ngraph");
//
// {"format": "neurograph-project", "version": 1,
//  "graph": {"nodes": [...], "edges": [...], "blocks": [...]},       (GraphSpec::from_json)
//  "dataset": {"kind": "mnist", ...},                                  (DatasetSpec)
//  "training": {"optimizer": {...}, "schedule": {...}, ...},           (TrainingSpec)
//  "ui": {...}}                                                        (kept as given)
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/core/error.h"
#include "engine/graph/diagnostic.h"
#include "engine/graph/graph_spec.h"

namespace ng {

inline constexpr int kProjectFormatVersion = 1;

// Where the data comes from. `kind` picks the loader; the other fields apply where they make
// sense for that kind (paths are relative to the project file's folder unless absolute).
//   mnist         the 10,000 digits converted by datasets/fetch_mnist.sh (path: its folder)
//   idx           official MNIST / Fashion-MNIST IDX files (path: folder)
//   cifar10       CIFAR-10 binary batches (path: folder)
//   csv           path: file; label_column: name; task classification or regression
//   image_folder  path: folder with one sub-folder per class; image_size [h, w]; channels
//   synthetic     generator: spiral | circles | moons | xor | blobs | sine (1-D regression);
//                 size, noise, classes, seed
struct DatasetSpec {
  std::string kind = "synthetic";
  std::string path;
  std::string generator = "spiral";
  int64_t size = 1000;
  double noise = 0.1;
  int64_t classes = 3;
  uint64_t seed = 0;
  std::string label_column;
  std::string task = "classification";              // or "regression"
  std::vector<int64_t> image_size;                  // image_folder: [h, w]
  int64_t channels = 0;                             // image_folder: 1 or 3 (0: as stored)
  double val_fraction = 0.2;                        // for sets without their own validation split
  bool normalize = false;                           // per-channel mean/std from the training split
  bool augment_flip = false;                        // random horizontal flip
  int64_t augment_crop_padding = 0;                 // random crop with this much zero padding
  nlohmann::json extra = nlohmann::json::object();  // fields a later kind needs, kept as given
  bool operator==(const DatasetSpec&) const = default;
};

struct OptimizerSpec {
  std::string type = "SGD";  // SGD | Adam | AdamW | RMSprop
  double lr = 0.01;
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // Adam/AdamW (RMSprop uses eps, alpha)
  double alpha = 0.99;
  bool centered = false;
  bool operator==(const OptimizerSpec&) const = default;
};

// One hyper-parameter of OptimizerSpec under torch.optim's name: a number or a switch, and the
// optimiser types that take it. The project reader and writer, the GUI's optimiser dialog and
// a resumed run's saved values all go by this one table.
struct OptimizerField {
  const char* name;                             // "momentum"
  double OptimizerSpec::*number = nullptr;      // set for a number
  bool OptimizerSpec::*flag = nullptr;          // set for a switch
  std::vector<std::string> types;               // "SGD", "Adam", "AdamW", "RMSprop"
  bool used_by(const std::string& type) const;  // case-insensitive
};
const std::vector<OptimizerField>& optimizer_fields();

struct ScheduleSpec {
  std::string type = "constant";  // constant | step | exponential | cosine | one_cycle
  int64_t step_size = 10;         // step: in epochs
  double gamma = 0.1;             // step, exponential
  double eta_min = 0.0;           // cosine
  double max_lr = 0.1;            // one_cycle
  double pct_start = 0.3;         // one_cycle
  int64_t warmup_steps = 0;       // linear warm-up before any of the above
  double warmup_start_factor = 0.1;
  bool operator==(const ScheduleSpec&) const = default;
};

struct CheckpointPolicy {
  bool every_epoch = true;
  bool best = true;                      // keep best.h5 by the monitored metric
  double every_minutes = 0.0;            // 0: off
  std::string monitor = "val_accuracy";  // val_/train_ accuracy or loss (loss: lower is better)
  bool operator==(const CheckpointPolicy&) const = default;
};

struct TrainingSpec {
  OptimizerSpec optimizer;
  ScheduleSpec schedule;
  int64_t batch_size = 64;
  int64_t epochs = 5;
  std::string device = "auto";        // cpu | cuda | auto
  std::string precision = "float32";  // float32 | bf16 (mixed precision on a GPU, NOTE [Autocast])
  uint64_t seed = 0;
  double clip_grad_norm = 0.0;          // 0: off
  int64_t early_stopping_patience = 0;  // epochs without improvement; 0: off
  int64_t stats_every_steps = 50;       // per-layer weight/gradient statistics cadence; 0: off
  CheckpointPolicy checkpoint;
  bool operator==(const TrainingSpec&) const = default;
};

struct ProjectSpec {
  GraphSpec graph;
  DatasetSpec dataset;
  TrainingSpec training;
  nlohmann::json ui = nlohmann::json::object();
  bool operator==(const ProjectSpec&) const = default;
};

// A project file that cannot be used: the message names the file, the node id or section and
// the field ("lenet.ngraph: training.batch_size: must be >= 1, got 0"); `diagnostics` lists
// every problem found, not just the first.
class ProjectError : public Error {
 public:
  ProjectError(const std::string& msg, std::vector<Diagnostic> diags)
      : Error(msg), diagnostics(std::move(diags)) {}
  std::vector<Diagnostic> diagnostics;
};

// Reads a project; throws ProjectError listing EVERY problem (docs/project-format.md): malformed
// JSON (with line and column), a foreign file, an unknown format version, unknown fields in any
// section, wrong types, out-of-range or unknown values, and the graph's errors from
// ng::validate(). `source` names the file in messages. Warnings do not throw; get them from
// validate_project().
ProjectSpec project_from_json(const nlohmann::json& j, const std::string& source = "<memory>");
ProjectSpec load_project(const std::string& path);

// For opening a work in progress (the GUI): the project is returned even when its graph or its
// values have errors, and `diagnostics` receives every error and warning. Still throws
// ProjectError for what a ProjectSpec cannot hold: malformed JSON, a foreign file, an unknown
// version, unknown fields, wrong types, a node without an id.
ProjectSpec project_from_json(const nlohmann::json& j, const std::string& source,
                              std::vector<Diagnostic>& diagnostics);
ProjectSpec load_project(const std::string& path, std::vector<Diagnostic>& diagnostics);

// dataset.generator's values for kind "synthetic" (engine/data/synthetic.h makes them).
const std::vector<std::string>& synthetic_generators();

// Every problem of a project held in memory, errors and warnings: the graph's (ng::validate)
// and the dataset and training values' (node_id "", field e.g. "training.optimizer.lr").
std::vector<Diagnostic> validate_project(const ProjectSpec& p);

// Every field written, defaults included, so that a file describes itself. load -> save ->
// load gives an equal ProjectSpec, and saving that again gives the same bytes.
nlohmann::json project_to_json(const ProjectSpec& p);
// The file's text: sorted keys, 2-space indent, a trailing newline.
std::string project_to_text(const ProjectSpec& p);
// Atomic (a temporary file renamed over `path`; NOTE [Project atomicity]). Does not validate:
// an unfinished graph can be saved. Throws ng::Error naming the path.
void save_project(const ProjectSpec& p, const std::string& path);

// A path from the project (dataset.path) as usable from the current directory: unchanged when
// empty or absolute, else relative to the folder of `project_file`.
//   resolve_project_path("resources/examples/lenet-mnist.ngraph", "../../datasets/mnist")
//     == "datasets/mnist"
std::string resolve_project_path(const std::string& project_file, const std::string& path);

}  // namespace ng
