// Project files (*.ngraph): the bundled examples load, follow their recipes and round-trip
// byte for byte; every kind of bad file is refused with every problem, its node id and field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "engine/autograd/autograd.h"
#include "engine/graph/validate.h"
#include "engine/io/project.h"
#include "engine/nn/model.h"
#include "engine/optim/adam.h"
#include "tests/engine/gradcheck.h"

using ng::testing::contains;
using ng::testing::message_of;

using namespace ng;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string repo_root() {
  std::string f = __FILE__;  // <root>/tests/engine/test_project.cpp
  return f.substr(0, f.rfind("/tests/engine/"));
}

std::string example_path(const std::string& name) {
  return repo_root() + "/resources/examples/" + name;
}

const std::vector<std::string> kExamples = {"mlp-mnist",  "lenet-mnist",       "resnet20-cifar10",
                                            "spiral-mlp", "autoencoder-mnist", "spiral-blocks"};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("ng_project_" + std::string(info->test_suite_name()) +
                                         "_" + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> r;
    for (const auto& e : fs::directory_iterator(path_)) r.push_back(e.path().filename().string());
    return r;
  }

 private:
  fs::path path_;
};

// A small valid project: Input [4] -> Linear 3 -> CrossEntropyLoss.
json tiny_project() {
  return json::parse(R"({
    "format": "neurograph-project", "version": 1,
    "graph": {
      "nodes": [
        {"id": "x", "type": "Input", "params": {"shape": [4]}, "position": [0, 0]},
        {"id": "fc1", "type": "Linear", "params": {"out_features": 3}, "position": [180, 0]},
        {"id": "loss", "type": "CrossEntropyLoss", "params": {}, "position": [360, 0]}
      ],
      "edges": [{"from": "x", "to": "fc1"}, {"from": "fc1", "to": "loss:input"}]
    },
    "dataset": {"kind": "synthetic", "generator": "blobs", "classes": 3},
    "training": {"optimizer": {"type": "Adam", "lr": 0.001}, "schedule": {"type": "constant"},
                 "checkpoint": {"monitor": "val_loss"}, "batch_size": 16}
  })");
}

// The ProjectError thrown for `j` (fails the test when nothing is thrown).
ProjectError error_of(const json& j, const std::string& source = "bad.ngraph") {
  try {
    project_from_json(j, source);
  } catch (const ProjectError& e) {
    return e;
  }
  ADD_FAILURE() << "no ProjectError for " << j.dump();
  return ProjectError("", {});
}

ProjectError error_of_file(const std::string& path) {
  try {
    load_project(path);
  } catch (const ProjectError& e) {
    return e;
  }
  ADD_FAILURE() << "no ProjectError for " << path;
  return ProjectError("", {});
}

const Diagnostic* find_diag(const std::vector<Diagnostic>& ds, const std::string& node,
                            const std::string& field) {
  for (const Diagnostic& d : ds)
    if (d.node_id == node && d.field == field && d.severity == Severity::Error) return &d;
  return nullptr;
}

std::string listing(const std::vector<Diagnostic>& ds) {
  std::string r;
  for (const Diagnostic& d : ds) r += "  [" + d.node_id + "] " + d.field + ": " + d.message + "\n";
  return r;
}

}  // namespace

// --- the bundled examples ---------------------------------------------------------------------

TEST(ProjectExamples, EachLoadsWithZeroErrorDiagnostics) {
  for (const std::string& name : kExamples) {
    SCOPED_TRACE(name);
    ProjectSpec p = load_project(example_path(name + ".ngraph"));
    std::vector<Diagnostic> ds = validate_project(p);
    EXPECT_FALSE(has_errors(ds)) << listing(ds);
    EXPECT_TRUE(analyze(p.graph).ok());
  }
}

TEST(ProjectExamples, RoundTripLoadSaveLoadIsExactAndTheFilesAreCanonical) {
  TempDir dir;
  for (const std::string& name : kExamples) {
    SCOPED_TRACE(name);
    std::string original = example_path(name + ".ngraph");
    ProjectSpec a = load_project(original);
    save_project(a, dir.file(name + ".1.ngraph"));
    ProjectSpec b = load_project(dir.file(name + ".1.ngraph"));
    EXPECT_TRUE(a == b);
    EXPECT_EQ(project_to_json(a), project_to_json(b));
    save_project(b, dir.file(name + ".2.ngraph"));
    std::string first = read_file(dir.file(name + ".1.ngraph"));
    EXPECT_EQ(first, read_file(dir.file(name + ".2.ngraph")));
    // The bundled file is exactly what the saver writes, so saving it changes nothing.
    EXPECT_EQ(read_file(original), first);
  }
}

// The benchmark's graph files and the .ngraph examples describe the same models: they must not
// drift apart.
TEST(ProjectExamples, GraphsEqualTheBenchmarkGraphFiles) {
  for (auto [project, graph] : std::vector<std::pair<std::string, std::string>>{
           {"mlp-mnist", "mlp"}, {"lenet-mnist", "lenet"}, {"resnet20-cifar10", "resnet20"}}) {
    SCOPED_TRACE(project);
    ProjectSpec p = load_project(example_path(project + ".ngraph"));
    std::ifstream in(example_path(graph + ".graph.json"));
    GraphSpec g = GraphSpec::from_json(json::parse(in));
    EXPECT_TRUE(p.graph == g);
  }
}

TEST(ProjectExamples, MnistModelsFollowTheReferenceRecipe) {
  for (std::string name : {"mlp-mnist", "lenet-mnist"}) {
    SCOPED_TRACE(name);
    ProjectSpec p = load_project(example_path(name + ".ngraph"));
    EXPECT_EQ(p.dataset.kind, "mnist");
    EXPECT_EQ(p.dataset.path, "../../datasets/mnist");
    EXPECT_EQ(resolve_project_path(example_path(name + ".ngraph"), p.dataset.path),
              repo_root() + "/datasets/mnist");
    EXPECT_EQ(p.training.optimizer.type, "SGD");
    EXPECT_EQ(p.training.optimizer.lr, 0.01);
    EXPECT_EQ(p.training.optimizer.momentum, 0.9);
    EXPECT_EQ(p.training.optimizer.weight_decay, 0.0);
    EXPECT_FALSE(p.training.optimizer.nesterov);
    EXPECT_EQ(p.training.schedule.type, "constant");
    EXPECT_EQ(p.training.batch_size, 64);
    EXPECT_EQ(p.training.epochs, 5);
    EXPECT_EQ(p.training.seed, 0u);
    EXPECT_FALSE(p.dataset.normalize);  // the reference feeds the raw [0, 1] pixels
  }
}

TEST(ProjectExamples, ResNet20Cifar10Recipe) {
  ProjectSpec p = load_project(example_path("resnet20-cifar10.ngraph"));
  EXPECT_EQ(p.dataset.kind, "cifar10");
  EXPECT_FALSE(p.dataset.path.empty());
  EXPECT_TRUE(p.dataset.normalize);
  EXPECT_TRUE(p.dataset.augment_flip);
  EXPECT_EQ(p.dataset.augment_crop_padding, 4);
  EXPECT_EQ(p.training.batch_size, 128);
  EXPECT_EQ(p.training.optimizer.type, "SGD");
  EXPECT_EQ(p.training.optimizer.lr, 0.1);
  EXPECT_EQ(p.training.optimizer.momentum, 0.9);
  EXPECT_EQ(p.training.optimizer.weight_decay, 5e-4);
  EXPECT_EQ(p.training.schedule.type, "cosine");
  // Residual Adds (9 blocks) and the two projection shortcuts.
  int adds = 0, shortcuts = 0;
  for (const NodeSpec& n : p.graph.nodes) {
    adds += n.type == "Add";
    shortcuts += n.type == "Conv2d" && n.params.value("kernel_size", json()) == json({1, 1});
  }
  EXPECT_EQ(adds, 9);
  EXPECT_EQ(shortcuts, 2);
}

TEST(ProjectExamples, SpiralAndAutoencoderRecipes) {
  ProjectSpec s = load_project(example_path("spiral-mlp.ngraph"));
  EXPECT_EQ(s.dataset.kind, "synthetic");
  EXPECT_EQ(s.dataset.generator, "spiral");
  EXPECT_EQ(s.dataset.classes, 3);
  EXPECT_EQ(s.training.optimizer.type, "Adam");
  EXPECT_EQ(s.training.optimizer.lr, 0.01);
  EXPECT_EQ(s.training.batch_size, 32);
  GraphAnalysis sa = analyze(s.graph);
  EXPECT_EQ(sa.find("input")->outputs[0]->shape, (Shape{-1, 2}));
  EXPECT_EQ(sa.find("fc3")->outputs[0]->shape, (Shape{-1, 3}));

  ProjectSpec a = load_project(example_path("autoencoder-mnist.ngraph"));
  EXPECT_EQ(a.dataset.kind, "mnist");
  GraphAnalysis aa = analyze(a.graph);
  ASSERT_TRUE(aa.ok()) << format_diagnostics(aa.diagnostics);
  const NodeInfo* loss = aa.find("loss");
  ASSERT_NE(loss, nullptr);
  EXPECT_EQ(loss->type, "MSELoss");
  // The loss compares the Sigmoid output with the flattened input, not with labels.
  ASSERT_EQ(loss->inputs.size(), 2u);
  ASSERT_EQ(loss->inputs[0].size(), 1u);
  ASSERT_EQ(loss->inputs[1].size(), 1u);
  EXPECT_EQ(aa.nodes[size_t(loss->inputs[0][0].node)].type, "Sigmoid");
  EXPECT_EQ(aa.nodes[size_t(loss->inputs[1][0].node)].id, "flatten");
  EXPECT_EQ(aa.find("code")->outputs[0]->shape, (Shape{-1, 32}));
  EXPECT_EQ(aa.find("output")->outputs[0]->shape, (Shape{-1, 784}));
  EXPECT_EQ(a.training.checkpoint.monitor, "val_loss");  // no accuracy for a reconstruction
}

TEST(ProjectExamples, NodesAreLaidOutLeftToRight) {
  for (const std::string& name : kExamples) {
    SCOPED_TRACE(name);
    ProjectSpec p = load_project(example_path(name + ".ngraph"));
    std::set<std::pair<double, double>> seen;
    for (const NodeSpec& n : p.graph.nodes)
      EXPECT_TRUE(seen.insert({n.position[0], n.position[1]}).second)
          << n.id << " sits on another node";
    for (const EdgeSpec& e : p.graph.edges)
      EXPECT_LT(p.graph.find(e.from.node)->position[0], p.graph.find(e.to.node)->position[0])
          << e.from.str() << " -> " << e.to.str();
  }
}

// The spiral example must train quickly to high accuracy with its own recipe (graph, Adam lr,
// batch size, epochs). The points follow data::make_spiral's layout (arm c of k starts at angle
// 2*pi*c/k and turns 4 radians while the radius grows from 0 to 1), with the example's noise.
TEST(ProjectExamples, SpiralTrainsToHighAccuracyWithItsRecipe) {
  ProjectSpec p = load_project(example_path("spiral-mlp.ngraph"));
  const int64_t n = p.dataset.size, arms = p.dataset.classes;
  std::mt19937 gen(1);
  std::normal_distribution<double> noise(0.0, p.dataset.noise);
  std::vector<float> xs;
  std::vector<int64_t> ys;
  for (int64_t i = 0; i < n; ++i) {  // sample i is on arm i % arms
    int64_t c = i % arms, pos = i / arms, count = (n - c + arms - 1) / arms;
    double t = (double(pos) + 0.5) / double(count),
           a = 2.0 * M_PI * double(c) / double(arms) + 4.0 * t;
    xs.push_back(float(t * std::sin(a) + noise(gen)));
    xs.push_back(float(t * std::cos(a) + noise(gen)));
    ys.push_back(c);
  }
  std::vector<int64_t> order(size_t(n), 0);
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), gen);
  const int64_t n_train = int64_t(double(n) * (1.0 - p.dataset.val_fraction));
  auto batch = [&](int64_t from, int64_t to) {
    std::vector<float> bx;
    std::vector<int64_t> by;
    for (int64_t i = from; i < to; ++i) {
      int64_t k = order[size_t(i)];
      bx.insert(bx.end(), {xs[size_t(2 * k)], xs[size_t(2 * k + 1)]});
      by.push_back(ys[size_t(k)]);
    }
    return std::pair{Tensor::from_vector(bx, {to - from, 2}), Tensor::from_vector(by, {to - from})};
  };

  Model m = Model::compile(p.graph, p.training.seed);
  std::vector<Tensor> params;
  for (const auto& [name, t] : m.parameters()) params.push_back(t);
  ASSERT_EQ(p.training.optimizer.type, "Adam");
  Adam opt(params, {.lr = p.training.optimizer.lr});
  for (int64_t epoch = 0; epoch < p.training.epochs; ++epoch) {
    std::shuffle(order.begin(), order.begin() + n_train, gen);
    for (int64_t i = 0; i < n_train; i += p.training.batch_size) {
      auto [x, y] = batch(i, std::min(n_train, i + p.training.batch_size));
      opt.zero_grad();
      m.forward({x}, y).loss.backward();
      opt.step();
    }
  }
  autograd::NoGradGuard no_grad;
  auto [x, y] = batch(n_train, n);
  std::vector<float> scores = m.forward({x}, y).prediction.to_vector<float>();
  std::vector<int64_t> labels = y.to_vector<int64_t>();
  int64_t correct = 0;
  for (size_t k = 0; k < labels.size(); ++k) {
    const float* s = &scores[k * size_t(arms)];
    correct += std::max_element(s, s + arms) - s == labels[k];
  }
  EXPECT_GE(double(correct) / double(labels.size()), 0.9);
}

// --- the saver --------------------------------------------------------------------------------

TEST(ProjectFile, SaverWritesEveryFieldSortedWithTwoSpaceIndentAndTrailingNewline) {
  TempDir dir;
  ProjectSpec p;  // all defaults, empty graph
  save_project(p, dir.file("p.ngraph"));
  std::string text = read_file(dir.file("p.ngraph"));
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_NE(text[text.size() - 2], '\n');
  EXPECT_EQ(text.substr(0, 4), "{\n  ");
  json j = json::parse(text);
  auto keys = [](const json& o) {
    std::vector<std::string> k;
    for (auto it = o.begin(); it != o.end(); ++it) k.push_back(it.key());
    return k;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(keys(j), (V{"dataset", "format", "graph", "training", "ui", "version"}));
  EXPECT_EQ(keys(j["dataset"]),
            (V{"augment_crop_padding", "augment_flip", "channels", "classes", "extra", "generator",
               "image_size", "kind", "label_column", "noise", "normalize", "path", "seed", "size",
               "task", "val_fraction"}));
  EXPECT_EQ(keys(j["training"]),
            (V{"batch_size", "checkpoint", "clip_grad_norm", "device", "early_stopping_patience",
               "epochs", "optimizer", "precision", "schedule", "seed", "stats_every_steps"}));
  EXPECT_EQ(keys(j["training"]["optimizer"]),
            (V{"alpha", "beta1", "beta2", "centered", "dampening", "eps", "lr", "momentum",
               "nesterov", "type", "weight_decay"}));
  EXPECT_EQ(keys(j["training"]["schedule"]),
            (V{"eta_min", "gamma", "max_lr", "pct_start", "step_size", "type",
               "warmup_start_factor", "warmup_steps"}));
  EXPECT_EQ(keys(j["training"]["checkpoint"]),
            (V{"best", "every_epoch", "every_minutes", "monitor"}));
  // Keys appear in sorted order in the text itself.
  EXPECT_LT(text.find("\"dataset\""), text.find("\"format\""));
  EXPECT_LT(text.find("\"format\""), text.find("\"graph\""));
  EXPECT_LT(text.find("\"training\""), text.find("\"version\""));
  EXPECT_TRUE(contains(text, "\n  \"format\": \"neurograph-project\",\n"));
  EXPECT_TRUE(contains(text, "\n    \"batch_size\": 64,\n"));
  EXPECT_EQ(text, project_to_text(p));
}

TEST(ProjectFile, EveryNonDefaultValueRoundTrips) {
  TempDir dir;
  ProjectSpec p = project_from_json(tiny_project());
  p.graph.nodes[1].position = {181.25, -40.5};
  p.graph.nodes[0].position = {-0.0, 1e-3};
  p.graph.blocks = json::parse(R"([{"name": "head",
      "nodes": [{"id": "in", "type": "BlockInput", "params": {}, "position": [0, 0]},
                {"id": "out", "type": "BlockOutput", "params": {}, "position": [200, 0]}],
      "edges": [{"from": "in", "to": "out"}]}])");  // a definition no node uses
  p.dataset = {};
  p.dataset.kind = "image_folder";
  p.dataset.path = "/data/pets";
  p.dataset.generator = "moons";
  p.dataset.size = 12345;
  p.dataset.noise = 0.3;
  p.dataset.classes = 7;
  p.dataset.seed = std::numeric_limits<uint64_t>::max();
  p.dataset.label_column = "label";
  p.dataset.task = "regression";
  p.dataset.image_size = {64, 48};
  p.dataset.channels = 3;
  p.dataset.val_fraction = 0.125;
  p.dataset.normalize = true;
  p.dataset.augment_flip = true;
  p.dataset.augment_crop_padding = 2;
  p.dataset.extra = {{"future_field", {1, 2, 3}}, {"é", "ü"}};
  TrainingSpec& t = p.training;
  t.optimizer = {"RMSprop", 3e-4, 0.5, 0.25, false, 1e-5, 0.8, 0.95, 1e-6, 0.9, true};
  t.schedule = {"one_cycle", 7, 0.5, 1e-6, 0.3, 0.25, 100, 0.01};
  t.batch_size = 3;
  t.epochs = 17;
  t.device = "cuda";
  t.precision = "bf16";
  t.seed = 1234567890123456789ull;
  t.clip_grad_norm = 1.5;
  t.early_stopping_patience = 4;
  t.stats_every_steps = 0;
  t.checkpoint = {false, false, 2.5, "train_loss"};
  p.ui = {{"zoom", 1.25}, {"selected", {"fc1"}}, {"panels", {{"plots", true}}}};
  ASSERT_FALSE(has_errors(validate_project(p))) << listing(validate_project(p));

  save_project(p, dir.file("a.ngraph"));
  ProjectSpec q = load_project(dir.file("a.ngraph"));
  EXPECT_TRUE(p == q);
  EXPECT_EQ(q.dataset.seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(q.graph.nodes[1].position[0], 181.25);
  EXPECT_EQ(q.training.optimizer.lr, 3e-4);
  save_project(q, dir.file("b.ngraph"));
  EXPECT_EQ(read_file(dir.file("a.ngraph")), read_file(dir.file("b.ngraph")));
}

TEST(ProjectFile, ValuesWrittenAsIntegersOrOmittedReadBackToTheSameBytes) {
  // A hand-written file: integral numbers for real fields, most fields left out. The first save
  // makes it canonical; the second is byte-identical.
  TempDir dir;
  json j = tiny_project();
  j["training"]["optimizer"]["lr"] = 1;
  write_file(dir.file("hand.ngraph"), j.dump());
  ProjectSpec a = load_project(dir.file("hand.ngraph"));
  EXPECT_EQ(a.training.optimizer.lr, 1.0);
  EXPECT_EQ(a.training.epochs, TrainingSpec{}.epochs);  // a default
  save_project(a, dir.file("1.ngraph"));
  ProjectSpec b = load_project(dir.file("1.ngraph"));
  EXPECT_TRUE(a == b);
  save_project(b, dir.file("2.ngraph"));
  EXPECT_EQ(read_file(dir.file("1.ngraph")), read_file(dir.file("2.ngraph")));
}

TEST(ProjectFile, SaveReplacesAtomicallyAndLeavesNoTemporaryFile) {
  TempDir dir;
  ProjectSpec p = project_from_json(tiny_project());
  save_project(p, dir.file("p.ngraph"));
  p.training.epochs = 9;
  save_project(p, dir.file("p.ngraph"));
  EXPECT_EQ(load_project(dir.file("p.ngraph")).training.epochs, 9);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"p.ngraph"});

  // A failed save names the path and leaves the old file untouched.
  std::string before = read_file(dir.file("p.ngraph"));
  ProjectSpec bad = p;
  bad.dataset.label_column = std::string("\xff\xfe", 2);  // not UTF-8: cannot be written
  try {
    save_project(bad, dir.file("p.ngraph"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), dir.file("p.ngraph"))) << e.what();
  }
  EXPECT_EQ(read_file(dir.file("p.ngraph")), before);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"p.ngraph"});

  try {
    save_project(p, dir.file("missing/p.ngraph"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), "missing/p.ngraph")) << e.what();
    EXPECT_TRUE(contains(e.what(), "does not exist")) << e.what();
  }
}

TEST(ProjectFile, ResolvesDatasetPathsAgainstTheProjectFolder) {
  EXPECT_EQ(resolve_project_path("resources/examples/lenet-mnist.ngraph", "../../datasets/mnist"),
            "datasets/mnist");
  EXPECT_EQ(resolve_project_path("/home/u/p/x.ngraph", "data/train.csv"),
            "/home/u/p/data/train.csv");
  EXPECT_EQ(resolve_project_path("x.ngraph", "data"), "data");
  EXPECT_EQ(resolve_project_path("/a/x.ngraph", "/abs/data"), "/abs/data");
  EXPECT_EQ(resolve_project_path("/a/x.ngraph", ""), "");
}

// --- refused files ----------------------------------------------------------------------------

TEST(ProjectFile, MalformedJsonNamesTheFileLineAndColumn) {
  TempDir dir;
  std::string path = dir.file("broken.ngraph");
  write_file(path, "{\n  \"format\": \"neurograph-project\",\n  \"version\": 1,\n}\n");
  ProjectError e = error_of_file(path);
  std::string msg = e.what();
  EXPECT_TRUE(contains(msg, path + ": malformed JSON at line 4, column 1")) << msg;
  ASSERT_EQ(e.diagnostics.size(), 1u);
  EXPECT_TRUE(contains(e.diagnostics[0].message, "line 4, column 1"));

  // A bad literal is reported where the parser gave up: the '}' after "tru".
  write_file(path, "{\n  \"version\": 1,\n  \"ui\": {\"a\": tru}\n}\n");
  msg = error_of_file(path).what();
  EXPECT_TRUE(contains(msg, path + ": malformed JSON at line 3, column 18")) << msg;

  write_file(path, "");
  msg = error_of_file(path).what();
  EXPECT_TRUE(contains(msg, path + ": malformed JSON at line 1, column 1")) << msg;
}

TEST(ProjectFile, MissingFileNamesThePath) {
  ProjectError e = error_of_file("/nonexistent/dir/x.ngraph");
  EXPECT_TRUE(contains(e.what(), "/nonexistent/dir/x.ngraph: cannot open")) << e.what();
}

TEST(ProjectFile, ForeignFileIsRefused) {
  json j = tiny_project();
  j["format"] = "keras-model";
  std::string msg = error_of(j, "model.ngraph").what();
  EXPECT_TRUE(contains(msg, "model.ngraph: not a Neurograph project")) << msg;
  EXPECT_TRUE(contains(msg, "\"keras-model\"")) << msg;

  // A bare graph (the benchmark's .graph.json) is pointed at the wrapper it lacks.
  json bare = tiny_project()["graph"];
  msg = error_of(bare, "mlp.graph.json").what();
  EXPECT_TRUE(contains(msg, "mlp.graph.json: not a Neurograph project")) << msg;
  EXPECT_TRUE(contains(msg, "bare graph")) << msg;

  msg = error_of(json::array({1, 2}), "list.ngraph").what();
  EXPECT_TRUE(contains(msg, "list.ngraph: not a Neurograph project")) << msg;
}

TEST(ProjectFile, UnknownVersionIsRefusedSayingWhichVersionsAreUnderstood) {
  json j = tiny_project();
  j["version"] = 2;
  ProjectError e = error_of(j, "future.ngraph");
  std::string msg = e.what();
  EXPECT_TRUE(contains(msg, "future.ngraph: version: project format version 2 is not understood"))
      << msg;
  EXPECT_TRUE(contains(msg, "reads version 1")) << msg;
  EXPECT_TRUE(contains(msg, "newer Neurograph")) << msg;
  ASSERT_EQ(e.diagnostics.size(), 1u);
  EXPECT_EQ(e.diagnostics[0].field, "version");

  j["version"] = "1";
  EXPECT_TRUE(contains(error_of(j).what(), "version \"1\" is not understood"));
  j.erase("version");
  EXPECT_TRUE(contains(error_of(j).what(), "version: missing"));
}

TEST(ProjectFile, UnknownFieldIsReportedInEverySection) {
  struct Case {
    std::string pointer;  // where "bogus" is added
    std::string node, field;
  };
  std::vector<Case> cases = {
      {"", "", "bogus"},
      {"/graph", "", "graph.bogus"},
      {"/graph/nodes/1", "fc1", "bogus"},
      {"/graph/edges/1", "loss", "edges[1]"},
      {"/dataset", "", "dataset.bogus"},
      {"/training", "", "training.bogus"},
      {"/training/optimizer", "", "training.optimizer.bogus"},
      {"/training/schedule", "", "training.schedule.bogus"},
      {"/training/checkpoint", "", "training.checkpoint.bogus"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.pointer);
    json j = tiny_project();
    j[json::json_pointer(c.pointer)]["bogus"] = 1;
    ProjectError e = error_of(j, "p.ngraph");
    ASSERT_EQ(e.diagnostics.size(), 1u) << listing(e.diagnostics);
    EXPECT_EQ(e.diagnostics[0].node_id, c.node);
    EXPECT_EQ(e.diagnostics[0].field, c.field);
    EXPECT_TRUE(contains(e.diagnostics[0].message, "bogus")) << e.diagnostics[0].message;
    EXPECT_TRUE(contains(e.what(), "p.ngraph: ")) << e.what();
  }
  // A near miss gets a suggestion, and the section's fields are listed.
  json j = tiny_project();
  j["training"]["batchsize"] = 32;
  std::string msg = error_of(j).what();
  EXPECT_TRUE(contains(msg, "training.batchsize: unknown field")) << msg;
  EXPECT_TRUE(contains(msg, "did you mean 'batch_size'?")) << msg;
  EXPECT_TRUE(contains(msg, "early_stopping_patience")) << msg;
}

TEST(ProjectFile, OutOfRangeAndUnknownValuesNameTheirField) {
  struct Case {
    std::string pointer;
    json value;
    std::string field, fragment;
  };
  std::vector<Case> cases = {
      {"/training/batch_size", 0, "training.batch_size", "must be >= 1, got 0"},
      {"/training/epochs", 0, "training.epochs", "must be >= 1, got 0"},
      {"/training/optimizer/lr", 0, "training.optimizer.lr", "must be > 0, got 0"},
      {"/training/optimizer/lr", -0.5, "training.optimizer.lr", "must be > 0, got -0.5"},
      {"/training/optimizer/momentum", 1.0, "training.optimizer.momentum", "[0, 1)"},
      {"/training/optimizer/beta2", 1.5, "training.optimizer.beta2", "[0, 1)"},
      {"/training/optimizer/weight_decay", -1, "training.optimizer.weight_decay", ">= 0"},
      {"/training/optimizer/type", "sgd", "training.optimizer.type",
       "unknown optimizer type \"sgd\"; use one of \"SGD\", \"Adam\", \"AdamW\", \"RMSprop\""},
      {"/training/schedule/type", "linear", "training.schedule.type", "unknown schedule type"},
      {"/training/schedule/step_size", 0, "training.schedule.step_size", ">= 1"},
      {"/training/schedule/warmup_start_factor", 0, "training.schedule.warmup_start_factor",
       "(0, 1]"},
      {"/training/device", "gpu", "training.device", "unknown device \"gpu\""},
      {"/training/precision", "fp16", "training.precision",
       "unknown precision \"fp16\"; use one of \"float32\", \"bf16\""},
      {"/training/precision", "BF16", "training.precision", "did you mean 'bf16'?"},
      {"/training/clip_grad_norm", -1, "training.clip_grad_norm", ">= 0"},
      {"/training/checkpoint/monitor", "accuracy", "training.checkpoint.monitor",
       "did you mean 'val_accuracy'?"},
      {"/training/checkpoint/every_minutes", -5, "training.checkpoint.every_minutes", ">= 0"},
      {"/dataset/kind", "imagenet", "dataset.kind", "unknown dataset kind \"imagenet\""},
      {"/dataset/val_fraction", 1.0, "dataset.val_fraction", "must be in [0, 1), got 1"},
      {"/dataset/val_fraction", -0.1, "dataset.val_fraction", "[0, 1)"},
      {"/dataset/generator", "swirl", "dataset.generator", "unknown generator \"swirl\""},
      {"/dataset/size", 0, "dataset.size", ">= 1"},
      {"/dataset/classes", 1, "dataset.classes", ">= 2"},
      {"/dataset/task", "ranking", "dataset.task", "unknown task"},
      {"/dataset/image_size", {28}, "dataset.image_size", "[height, width]"},
      {"/dataset/channels", 2, "dataset.channels", "0 (as stored), 1 (grey) or 3 (colour)"},
      {"/dataset/augment_crop_padding", -1, "dataset.augment_crop_padding", ">= 0"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.pointer + " = " + c.value.dump());
    json j = tiny_project();
    j[json::json_pointer(c.pointer)] = c.value;
    ProjectError e = error_of(j, "p.ngraph");
    ASSERT_EQ(e.diagnostics.size(), 1u) << listing(e.diagnostics);
    EXPECT_EQ(e.diagnostics[0].node_id, "");
    EXPECT_EQ(e.diagnostics[0].field, c.field);
    EXPECT_TRUE(contains(e.diagnostics[0].message, c.field + ": ")) << e.diagnostics[0].message;
    EXPECT_TRUE(contains(e.diagnostics[0].message, c.fragment)) << e.diagnostics[0].message;
    EXPECT_TRUE(contains(e.what(), "p.ngraph: " + c.field)) << e.what();
  }
}

TEST(ProjectFile, CrossFieldRules) {
  json j = tiny_project();
  j["training"]["optimizer"] = {{"type", "SGD"}, {"lr", 0.1}, {"nesterov", true}};
  ProjectError e = error_of(j);
  ASSERT_NE(find_diag(e.diagnostics, "", "training.optimizer.nesterov"), nullptr)
      << listing(e.diagnostics);
  EXPECT_TRUE(contains(e.what(), "momentum > 0 and dampening 0"));

  j = tiny_project();
  j["dataset"] = {{"kind", "cifar10"}};
  e = error_of(j);
  ASSERT_NE(find_diag(e.diagnostics, "", "dataset.path"), nullptr) << listing(e.diagnostics);
  EXPECT_TRUE(contains(e.what(), "kind \"cifar10\" needs a path"));
  // MNIST without a path is the bundled sample (datasets/mnist, found upwards): no error.
  j = tiny_project();
  j["dataset"] = {{"kind", "mnist"}};
  EXPECT_NO_THROW(project_from_json(j));

  j = tiny_project();
  j["dataset"] = {{"kind", "csv"}, {"path", "iris.csv"}};
  e = error_of(j);
  ASSERT_NE(find_diag(e.diagnostics, "", "dataset.label_column"), nullptr)
      << listing(e.diagnostics);
  j["dataset"]["label_column"] = "species";
  EXPECT_NO_THROW(project_from_json(j));
}

TEST(ProjectFile, WrongTypesNameTheFieldAndTheValue) {
  struct Case {
    std::string pointer;
    json value;
    std::string field, fragment;
  };
  std::vector<Case> cases = {
      {"/training/batch_size", "64", "training.batch_size", "must be an integer, got \"64\""},
      {"/training/batch_size", 64.5, "training.batch_size", "must be an integer, got 64.5"},
      {"/training/optimizer/lr", "fast", "training.optimizer.lr", "must be a number"},
      {"/training/seed", -1, "training.seed", "must be an integer >= 0, got -1"},
      {"/dataset/normalize", 1, "dataset.normalize", "must be true or false"},
      {"/dataset/image_size", {1.5, 2}, "dataset.image_size", "a list of integers"},
      {"/dataset/extra", 3, "dataset.extra", "must be an object"},
      {"/training/optimizer", "adam", "training.optimizer", "must be an object, got string"},
      {"/dataset", json::array(), "dataset", "must be an object, got array"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.pointer + " = " + c.value.dump());
    json j = tiny_project();
    j[json::json_pointer(c.pointer)] = c.value;
    ProjectError e = error_of(j);
    ASSERT_EQ(e.diagnostics.size(), 1u) << listing(e.diagnostics);
    EXPECT_EQ(e.diagnostics[0].field, c.field);
    EXPECT_TRUE(contains(e.diagnostics[0].message, c.fragment)) << e.diagnostics[0].message;
  }
}

TEST(ProjectFile, SeveralProblemsAreAllReportedWithTheirFields) {
  json j = tiny_project();
  j["training"]["batch_size"] = 0;
  j["training"]["optimizer"]["lr"] = 0;
  j["training"]["optimiser"] = json::object();  // unknown field (British spelling)
  j["dataset"]["kind"] = "imagenet";
  j["dataset"]["val_fraction"] = 2;
  j["graph"]["nodes"][1]["params"]["in_features"] = 5;  // Input gives 4
  j["graph"]["edges"].push_back({{"from", "nowhere"}, {"to", "loss:target"}});
  ProjectError e = error_of(j, "many.ngraph");
  const auto& ds = e.diagnostics;
  SCOPED_TRACE(listing(ds));
  EXPECT_NE(find_diag(ds, "", "training.batch_size"), nullptr);
  EXPECT_NE(find_diag(ds, "", "training.optimizer.lr"), nullptr);
  const Diagnostic* unknown = find_diag(ds, "", "training.optimiser");
  ASSERT_NE(unknown, nullptr);
  EXPECT_TRUE(contains(unknown->message, "did you mean 'optimizer'?"));
  EXPECT_NE(find_diag(ds, "", "dataset.kind"), nullptr);
  EXPECT_NE(find_diag(ds, "", "dataset.val_fraction"), nullptr);
  const Diagnostic* shape = find_diag(ds, "fc1", "params.in_features");
  ASSERT_NE(shape, nullptr);
  EXPECT_TRUE(contains(shape->message, "Linear 'fc1': input has 4 features, in_features is 5"));
  const Diagnostic* edge = find_diag(ds, "loss", "edges[2]");
  ASSERT_NE(edge, nullptr);
  EXPECT_TRUE(contains(edge->message, "there is no node 'nowhere'"));
  EXPECT_EQ(ds.size(), 7u);
  // The message: one line per error, each naming the file.
  std::string msg = e.what();
  EXPECT_EQ(std::count(msg.begin(), msg.end(), '\n'), 6);
  std::istringstream lines(msg);
  for (std::string line; std::getline(lines, line);)
    EXPECT_EQ(line.rfind("many.ngraph: ", 0), 0u) << line;
}

TEST(ProjectFile, GraphErrorsCarryTheirNodeIds) {
  // A cycle, an unconnected input, two losses and a dangling port, all at once.
  json j = tiny_project();
  j["graph"] = json::parse(R"({
    "nodes": [
      {"id": "x", "type": "Input", "params": {"shape": [4]}},
      {"id": "a", "type": "Linear", "params": {"out_features": 4}},
      {"id": "b", "type": "ReLU"},
      {"id": "c", "type": "Linear", "params": {"out_features": 3}},
      {"id": "loss1", "type": "CrossEntropyLoss"},
      {"id": "loss2", "type": "CrossEntropyLoss"}
    ],
    "edges": [
      {"from": "a", "to": "b"}, {"from": "b", "to": "a"},
      {"from": "c", "to": "loss1:input"}, {"from": "x", "to": "loss2:prediction"}
    ]})");
  ProjectError e = error_of(j);
  const auto& ds = e.diagnostics;
  SCOPED_TRACE(listing(ds));
  ASSERT_NE(find_diag(ds, "a", "inputs"), nullptr);
  EXPECT_TRUE(contains(find_diag(ds, "a", "inputs")->message, "cycle"));
  EXPECT_NE(find_diag(ds, "b", "inputs"), nullptr);
  ASSERT_NE(find_diag(ds, "c", "inputs.input"), nullptr);
  EXPECT_TRUE(contains(find_diag(ds, "c", "inputs.input")->message, "is not connected"));
  ASSERT_NE(find_diag(ds, "loss2", "type"), nullptr);
  EXPECT_TRUE(contains(find_diag(ds, "loss2", "type")->message, "2 loss nodes"));
  ASSERT_NE(find_diag(ds, "loss2", "edges[3]"), nullptr);
  EXPECT_TRUE(contains(find_diag(ds, "loss2", "edges[3]")->message, "no input port 'prediction'"));

  // No loss at all.
  j = tiny_project();
  j["graph"]["nodes"].erase(2);
  j["graph"]["edges"].erase(1);
  e = error_of(j);
  ASSERT_NE(find_diag(e.diagnostics, "", "graph"), nullptr) << listing(e.diagnostics);
  EXPECT_TRUE(contains(e.what(), "no loss node"));
}

TEST(ProjectFile, StructuralGraphProblemsAreAllReported) {
  json j = tiny_project();
  j["graph"]["nodes"].push_back({{"type", "ReLU"}});  // no id
  j["graph"]["nodes"][1]["position"] = {1, 2, 3};     // not [x, y]
  j["graph"]["nodes"][1]["params"]["out_features"] = 3;
  j["graph"]["nodes"][2]["type"] = 7;                // not a string
  j["graph"]["edges"].push_back({{"from", "fc1"}});  // no "to"
  j["graph"]["edges"].push_back(42);                 // not an object
  j["graph"]["colour"] = "red";                      // unknown
  ProjectError e = error_of(j);
  const auto& ds = e.diagnostics;
  SCOPED_TRACE(listing(ds));
  EXPECT_NE(find_diag(ds, "", "graph.nodes[3].id"), nullptr);
  EXPECT_NE(find_diag(ds, "fc1", "position"), nullptr);
  ASSERT_NE(find_diag(ds, "loss", "type"), nullptr);
  EXPECT_TRUE(contains(find_diag(ds, "loss", "type")->message, "must be a string"));
  EXPECT_NE(find_diag(ds, "fc1", "edges[2]"), nullptr);
  EXPECT_NE(find_diag(ds, "", "edges[3]"), nullptr);
  EXPECT_NE(find_diag(ds, "", "graph.colour"), nullptr);
  // The untyped node is reported once, not again as "unknown layer type ''".
  int on_loss_type = 0;
  for (const Diagnostic& d : ds) on_loss_type += d.node_id == "loss" && d.field == "type";
  EXPECT_EQ(on_loss_type, 1);
}

TEST(ProjectFile, LenientLoadOpensAWorkInProgressWithItsDiagnostics) {
  TempDir dir;
  json j = tiny_project();
  j["graph"]["edges"].erase(1);  // the loss is not connected
  j["training"]["batch_size"] = 0;
  write_file(dir.file("wip.ngraph"), j.dump(2));
  EXPECT_THROW(load_project(dir.file("wip.ngraph")), ProjectError);

  std::vector<Diagnostic> ds;
  ProjectSpec p = load_project(dir.file("wip.ngraph"), ds);
  EXPECT_EQ(p.graph.nodes.size(), 3u);
  EXPECT_EQ(p.training.batch_size, 0);
  EXPECT_NE(find_diag(ds, "loss", "inputs.input"), nullptr) << listing(ds);
  EXPECT_NE(find_diag(ds, "", "training.batch_size"), nullptr) << listing(ds);
  bool warned = false;  // fc1's output is unused
  for (const Diagnostic& d : ds) warned |= d.severity == Severity::Warning && d.node_id == "fc1";
  EXPECT_TRUE(warned) << listing(ds);
  // It can be saved as it is and opened again.
  save_project(p, dir.file("wip2.ngraph"));
  std::vector<Diagnostic> ds2;
  EXPECT_TRUE(load_project(dir.file("wip2.ngraph"), ds2) == p);

  // What a ProjectSpec cannot hold still throws.
  j["training"]["bogus"] = 1;
  write_file(dir.file("wip.ngraph"), j.dump(2));
  EXPECT_THROW(load_project(dir.file("wip.ngraph"), ds), ProjectError);
}

TEST(ProjectFile, PrecisionDefaultsToFloat32AndRoundTripsAsBf16) {
  TempDir dir;
  json j = tiny_project();
  ASSERT_FALSE(j["training"].contains("precision"));
  ProjectSpec p = project_from_json(j);
  EXPECT_EQ(p.training.precision, "float32");
  EXPECT_TRUE(contains(project_to_text(p), "\n    \"precision\": \"float32\",\n"));
  j["training"]["precision"] = "bf16";
  j["training"]["device"] = "cuda";
  p = project_from_json(j);
  EXPECT_EQ(p.training.precision, "bf16");
  for (const Diagnostic& d : validate_project(p)) EXPECT_NE(d.field, "training.precision");
  save_project(p, dir.file("amp.ngraph"));
  EXPECT_TRUE(contains(read_file(dir.file("amp.ngraph")), "\"precision\": \"bf16\""));
  ProjectSpec q = load_project(dir.file("amp.ngraph"));
  EXPECT_EQ(q.training.precision, "bf16");
  EXPECT_TRUE(p == q);
  // Not a string: the field and the value are named.
  j["training"]["precision"] = 16;
  ProjectError e = error_of(j, "amp.ngraph");
  ASSERT_EQ(e.diagnostics.size(), 1u) << listing(e.diagnostics);
  EXPECT_EQ(e.diagnostics[0].field, "training.precision");
  EXPECT_TRUE(contains(e.what(), "amp.ngraph: training.precision")) << e.what();
}

TEST(ProjectFile, Bf16WithTheCpuAsDeviceLoadsWithAWarning) {
  json j = tiny_project();
  j["training"]["precision"] = "bf16";
  j["training"]["device"] = "cpu";
  ProjectSpec p = project_from_json(j);  // a warning does not stop the load
  std::vector<Diagnostic> ds = validate_project(p);
  EXPECT_FALSE(has_errors(ds)) << listing(ds);
  int found = 0;
  for (const Diagnostic& d : ds)
    if (d.field == "training.precision") {
      ++found;
      EXPECT_EQ(d.severity, Severity::Warning);
      EXPECT_TRUE(contains(d.message, "GPU")) << d.message;
    }
  EXPECT_EQ(found, 1) << listing(ds);
}

TEST(ProjectFile, WarningsDoNotStopALoad) {
  json j = tiny_project();
  j["graph"]["nodes"].push_back({{"id", "soft"}, {"type", "Softmax"}});
  j["graph"]["edges"][1] = {{"from", "fc1"}, {"to", "soft"}};
  j["graph"]["edges"].push_back({{"from", "soft"}, {"to", "loss:input"}});
  ProjectSpec p = project_from_json(j);
  std::vector<Diagnostic> ds = validate_project(p);
  EXPECT_FALSE(has_errors(ds));
  ASSERT_FALSE(ds.empty());
  EXPECT_EQ(ds[0].node_id, "loss");
  EXPECT_EQ(ds[0].severity, Severity::Warning);
}
