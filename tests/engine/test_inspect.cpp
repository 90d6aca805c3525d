// inspect: per-node shapes, parameters, FLOPs and activation memory of the example projects,
// checked against numbers worked out by hand; and the summary of a checkpoint written here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "engine/graph/layer_registry.h"
#include "engine/io/checkpoint.h"
#include "engine/io/inspect.h"
#include "tests/engine/gradcheck.h"

using ng::testing::contains;
using ng::testing::message_of;

using namespace ng;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

ProjectSpec example(const std::string& name) {
  std::string f = __FILE__;  // <root>/tests/engine/test_inspect.cpp
  return load_project(f.substr(0, f.rfind("/tests/engine/")) + "/resources/examples/" + name +
                      ".ngraph");
}

struct Expected {
  std::string id, type;
  Shape shape;
  int64_t params, flops, activation_bytes;
};

}  // namespace

// LeNet-5 by hand (FLOPs: a multiply-add is 2, the bias add 1, one per value for ReLU, one per
// window element for pooling, 5 per score for the cross-entropy):
//   conv1  [6, 28, 28]:  params 6*1*5*5 + 6 = 156;  FLOPs 2*5*5*1 * 6*28*28 + 6*28*28
//   conv2  [16, 10, 10]: params 16*6*5*5 + 16 = 2416; FLOPs 2*5*5*6 * 16*10*10 + 16*10*10
//   fc1    [120]:        params 400*120 + 120;        FLOPs 2*400*120 + 120
TEST(Inspect, LeNetRowsMatchHandComputedNumbers) {
  const std::vector<Expected> want = {
      {"input", "Input", {1, 28, 28}, 0, 0, 784 * 4},
      {"conv1", "Conv2d", {6, 28, 28}, 156, 2 * 5 * 5 * 1 * 6 * 28 * 28 + 6 * 28 * 28, 4704 * 4},
      {"relu1", "ReLU", {6, 28, 28}, 0, 4704, 4704 * 4},
      {"pool1", "MaxPool2d", {6, 14, 14}, 0, 6 * 14 * 14 * 4, 1176 * 4},
      {"conv2", "Conv2d", {16, 10, 10}, 2416, 2 * 5 * 5 * 6 * 16 * 10 * 10 + 1600, 1600 * 4},
      {"relu2", "ReLU", {16, 10, 10}, 0, 1600, 1600 * 4},
      {"pool2", "MaxPool2d", {16, 5, 5}, 0, 400 * 4, 400 * 4},
      {"flatten", "Flatten", {400}, 0, 0, 400 * 4},
      {"fc1", "Linear", {120}, 48120, 2 * 400 * 120 + 120, 120 * 4},
      {"relu3", "ReLU", {120}, 0, 120, 120 * 4},
      {"fc2", "Linear", {84}, 10164, 2 * 120 * 84 + 84, 84 * 4},
      {"relu4", "ReLU", {84}, 0, 84, 84 * 4},
      {"fc3", "Linear", {10}, 850, 2 * 84 * 10 + 10, 10 * 4},
      {"loss", "CrossEntropyLoss", {}, 0, 5 * 10, 0},
  };
  ProjectInspection r = inspect_project(example("lenet-mnist"), 64);
  ASSERT_EQ(r.rows.size(), want.size());
  int64_t flops = 0, act = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const InspectRow& row = r.rows[i];
    const Expected& e = want[i];
    SCOPED_TRACE(e.id);
    EXPECT_EQ(row.id, e.id);
    EXPECT_EQ(row.type, e.type);
    ASSERT_TRUE(row.shape_known);
    ASSERT_EQ(row.output_shapes.size(), 1u);
    EXPECT_EQ(row.output_shapes[0], e.shape);
    EXPECT_EQ(row.params, e.params);
    EXPECT_EQ(row.buffers, 0);
    EXPECT_EQ(row.flops, e.flops);
    EXPECT_EQ(row.activation_bytes, e.activation_bytes);
    flops += e.flops;
    act += e.activation_bytes;
  }
  EXPECT_EQ(r.rows[1].flops, 239904);
  EXPECT_EQ(r.params, 61706);
  EXPECT_EQ(r.buffers, 0);
  EXPECT_EQ(r.parameter_bytes, 61706 * 4);
  EXPECT_EQ(r.flops, flops);
  EXPECT_EQ(r.flops, 852420);
  EXPECT_TRUE(r.flops_complete);
  EXPECT_EQ(r.activation_bytes_per_example, act);
  EXPECT_EQ(r.activation_bytes, act * 64);
  EXPECT_TRUE(r.diagnostics.empty());
}

TEST(Inspect, MlpTotals) {
  ProjectInspection r = inspect_project(example("mlp-mnist"), 256);
  EXPECT_EQ(r.params, 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  // Three Linear layers, two ReLUs, the loss.
  int64_t flops =
      (2 * 784 * 256 + 256) + 256 + (2 * 256 * 128 + 128) + 128 + (2 * 128 * 10 + 10) + 5 * 10;
  EXPECT_EQ(r.flops, flops);
  EXPECT_EQ(r.batch, 256);
}

TEST(Inspect, ResNet20CountsParametersBuffersAndResidualAdds) {
  ProjectInspection r = inspect_project(example("resnet20-cifar10"), 128);
  // Convolutions (no bias): stem 3*16*9; stage 1: 6 x 16*16*9; stage 2: 16*32*9 + 5 x 32*32*9;
  // stage 3: 32*64*9 + 5 x 64*64*9; projections 16*32 and 32*64. BatchNorm weight and bias per
  // channel: 16 + 6*16 + 7*32 + 7*64. The classifier 64*10 + 10.
  int64_t convs = 3 * 16 * 9 + 6 * 16 * 16 * 9 + 16 * 32 * 9 + 5 * 32 * 32 * 9 + 32 * 64 * 9 +
                  5 * 64 * 64 * 9 + 16 * 32 + 32 * 64;
  int64_t bn_channels = 16 + 6 * 16 + 7 * 32 + 7 * 64;
  EXPECT_EQ(r.params, convs + 2 * bn_channels + 650);
  EXPECT_EQ(r.params, 272474);
  EXPECT_EQ(r.buffers, 2 * bn_channels);  // running mean and variance
  EXPECT_EQ(r.parameter_bytes, (r.params + r.buffers) * 4);
  for (const InspectRow& row : r.rows) {
    if (row.id == "s1b1_add") {
      EXPECT_EQ(row.output_shapes[0], (Shape{16, 32, 32}));
      EXPECT_EQ(row.flops, 16 * 32 * 32);  // one addition per value
    }
    if (row.id == "s2b1_shortcut_conv") {
      EXPECT_EQ(row.output_shapes[0], (Shape{32, 16, 16}));
      EXPECT_EQ(row.params, 16 * 32);
      EXPECT_EQ(row.flops, 2 * 16 * 32 * 16 * 16);  // 1x1, no bias
    }
    if (row.id == "stem_bn") {
      EXPECT_EQ(row.params, 32);
      EXPECT_EQ(row.buffers, 32);
      EXPECT_EQ(row.flops, 2 * 16 * 32 * 32);
    }
    if (row.id == "pool") {
      EXPECT_EQ(row.flops, 64 * 8 * 8);
    }
  }
}

TEST(Inspect, RowsFollowTopologicalOrder) {
  ProjectSpec p = example("lenet-mnist");
  std::reverse(p.graph.nodes.begin(), p.graph.nodes.end());  // file order must not matter
  ProjectInspection r = inspect_project(p, 1);
  ASSERT_EQ(r.rows.size(), 14u);
  EXPECT_EQ(r.rows.front().id, "input");
  EXPECT_EQ(r.rows[1].id, "conv1");
  EXPECT_EQ(r.rows.back().id, "loss");
}

TEST(Inspect, TextReportShowsEveryNodeAndTheTotals) {
  std::string s = inspect_project_report(example("lenet-mnist"), 64);
  for (const char* part :
       {"conv1", "Conv2d", "[6, 28, 28]", "156", "239,904", "18.4 KiB", "fc1", "48,120", "61,706",
        "852,420", "multiply-add counted as 2", "batch 64", "241.0 KiB"})
    EXPECT_TRUE(contains(s, part)) << part << "\n" << s;
  // One line per node between the header rule and the totals.
  size_t lines = std::count(s.begin(), s.end(), '\n');
  EXPECT_GE(lines, 14u + 4u);
}

TEST(Inspect, JsonFormCarriesRowsAndTotals) {
  json j = inspection_to_json(inspect_project(example("lenet-mnist"), 32));
  ASSERT_EQ(j["rows"].size(), 14u);
  EXPECT_EQ(j["rows"][1]["id"], "conv1");
  EXPECT_EQ(j["rows"][1]["output_shapes"], json::parse("[[6, 28, 28]]"));
  EXPECT_EQ(j["rows"][1]["params"], 156);
  EXPECT_EQ(j["rows"][1]["flops"], 239904);
  EXPECT_EQ(j["rows"][1]["activation_bytes"], 18816);
  EXPECT_EQ(j["totals"]["params"], 61706);
  EXPECT_EQ(j["totals"]["flops_per_example"], 852420);
  EXPECT_EQ(j["totals"]["flops_per_batch"], 852420 * 32);
  EXPECT_EQ(j["batch"], 32);
  EXPECT_TRUE(j["diagnostics"].empty());
}

TEST(Inspect, GraphWithErrorsStillGivesARowPerNode) {
  ProjectSpec p = example("lenet-mnist");
  p.graph.find("fc1")->params["in_features"] = 500;  // the input has 400
  ProjectInspection r = inspect_project(p, 8);
  ASSERT_EQ(r.rows.size(), 14u);
  bool saw_fc1 = false;
  for (const InspectRow& row : r.rows) {
    if (row.id == "conv1") {
      EXPECT_EQ(row.flops, 239904);
    }
    if (row.id == "fc1" || row.id == "fc3") {
      EXPECT_FALSE(row.shape_known);
      EXPECT_EQ(row.flops, -1);
      saw_fc1 |= row.id == "fc1";
    }
  }
  EXPECT_TRUE(saw_fc1);
  EXPECT_FALSE(r.flops_complete);
  ASSERT_FALSE(r.diagnostics.empty());
  EXPECT_EQ(r.diagnostics[0].node_id, "fc1");
  std::string s = inspect_project_report(p, 8);
  EXPECT_TRUE(contains(s, "in_features is 500")) << s;
  EXPECT_TRUE(contains(s, "?")) << s;
  EXPECT_TRUE(inspection_to_json(r)["rows"][8]["flops"].is_null());
}

TEST(Inspect, EveryRegisteredLayerTypeHasAFlopRule) {
  for (const LayerDef& d : LayerRegistry::instance().kinds())
    EXPECT_TRUE(has_flop_rule(d.name)) << d.name << " needs a rule in engine/io/inspect.cpp";
  EXPECT_FALSE(has_flop_rule("Conv3d"));
}

TEST(Inspect, BatchBelowOneIsRefused) {
  EXPECT_THROW(inspect_project(example("mlp-mnist"), 0), ValueError);
}

// --- checkpoints ------------------------------------------------------------------------------

namespace {

std::string temp_file(const std::string& name) {
  return (fs::temp_directory_path() / ("ng_inspect_" + std::to_string(::getpid()) + "_" + name))
      .string();
}

}  // namespace

TEST(InspectCheckpoint, SummarisesEverythingItHolds) {
  std::string path = temp_file("run.h5");
  Checkpoint c;
  c.graph_json = project_to_json(example("lenet-mnist"))["graph"].dump();
  c.weights.push_back({"conv1", "weight", Tensor::zeros({6, 1, 5, 5})});
  c.weights.push_back({"conv1", "bias", Tensor::zeros({6})});
  c.weights.push_back({"fc1", "weight", Tensor::zeros({120, 400})});
  c.buffers.push_back({"bn1", "running_mean", Tensor::zeros({16})});
  c.optimizer.type = "sgd";
  c.optimizer.hyper = {{"lr", 0.01}, {"momentum", 0.9}, {"weight_decay", 5e-4}};
  c.optimizer.params.push_back(
      {"conv1", "weight", {{"momentum_buffer", Tensor::zeros({6, 1, 5, 5})}}, {{"step", 375}}});
  c.training.epoch = 3;
  c.training.step = 375;
  c.training.best_metric_name = "val_accuracy";
  c.training.best_metric = 0.955;
  c.training.best_epoch = 2;
  c.training.history["train_loss"] = {0.9, 0.5, 0.25};
  c.training.history["val_accuracy"] = {0.9, 0.955, 0.95};
  c.app_version = "9.8.7";
  c.created = "2026-11-26T14:03:07Z";
  save_checkpoint(c, path);

  json j = inspect_checkpoint_json(path);
  EXPECT_EQ(j["format_version"], kCheckpointFormatVersion);
  EXPECT_EQ(j["app_version"], "9.8.7");
  EXPECT_EQ(j["created"], "2026-11-26T14:03:07Z");
  EXPECT_EQ(j["epoch"], 3);
  EXPECT_EQ(j["step"], 375);
  EXPECT_EQ(j["best_metric"]["name"], "val_accuracy");
  EXPECT_EQ(j["best_metric"]["value"], 0.955);
  EXPECT_EQ(j["best_metric"]["epoch"], 2);
  EXPECT_EQ(j["graph"]["nodes"], 14);
  ASSERT_EQ(j["weights"].size(), 3u);
  EXPECT_EQ(j["weights"][0]["name"], "conv1/weight");
  EXPECT_EQ(j["weights"][0]["shape"], json::parse("[6, 1, 5, 5]"));
  EXPECT_EQ(j["weights"][0]["count"], 150);
  EXPECT_EQ(j["weights"][2]["count"], 48000);
  EXPECT_EQ(j["buffers"][0]["name"], "bn1/running_mean");
  EXPECT_EQ(j["optimizer"]["type"], "sgd");
  EXPECT_EQ(j["optimizer"]["hyper"]["momentum"], 0.9);
  EXPECT_EQ(j["optimizer"]["state_params"], 1);
  EXPECT_EQ(j["optimizer"]["state_names"], json::parse(R"(["momentum_buffer"])"));
  EXPECT_EQ(j["history"]["train_loss"]["length"], 3);
  EXPECT_EQ(j["history"]["train_loss"]["last"], 0.25);

  std::string s = inspect_checkpoint_report(path);
  for (const char* part : {"format version  1",
                           "Neurograph 9.8.7",
                           "2026-11-26T14:03:07Z",
                           "epoch           3",
                           "step 375",
                           "val_accuracy = 0.955 (epoch 2)",
                           "14 nodes",
                           "conv1/weight",
                           "[6, 1, 5, 5]",
                           "150",
                           "fc1/weight",
                           "[120, 400]",
                           "48,000",
                           "bn1/running_mean",
                           "optimizer: sgd",
                           "lr = 0.01",
                           "momentum = 0.9",
                           "weight_decay = 0.0005",
                           "momentum_buffer",
                           "train_loss",
                           "0.25",
                           "val_accuracy"})
    EXPECT_TRUE(contains(s, part)) << part << "\n" << s;
  fs::remove(path);
}

TEST(InspectCheckpoint, AFreshRunWithoutOptimizerOrHistorySaysSo) {
  std::string path = temp_file("fresh.h5");
  Checkpoint c;
  c.graph_json = "{}";
  c.weights.push_back({"fc", "weight", Tensor::zeros({2, 2})});
  save_checkpoint(c, path);
  std::string s = inspect_checkpoint_report(path);
  EXPECT_TRUE(contains(s, "best metric     none")) << s;
  EXPECT_TRUE(contains(s, "optimizer: none saved")) << s;
  EXPECT_TRUE(contains(s, "history: none")) << s;
  fs::remove(path);
}

TEST(InspectCheckpoint, CorruptOrMissingFileIsAnErrorNamingThePath) {
  std::string path = temp_file("corrupt.h5");
  {
    std::ofstream out(path, std::ios::binary);
    out << "this is not an HDF5 file at all";
  }
  try {
    inspect_checkpoint_report(path);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), path)) << e.what();
  }
  fs::remove(path);
  try {
    inspect_checkpoint_json(temp_file("missing.h5"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), temp_file("missing.h5"))) << e.what();
  }
}
