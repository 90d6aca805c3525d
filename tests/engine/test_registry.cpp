// The layer registry: kinds, parameter checking, shape inference of every kind (happy path
// and error message), weights and initialisation, and the PyTorch mapping.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "engine/graph/layer_registry.h"
#include "engine/graph/layers/layers.h"
#include "tests/engine/gradcheck.h"

using ng::testing::contains;
using ng::testing::message_of;

using namespace ng;
using nlohmann::json;

namespace {

const LayerRegistry& reg() {
  return LayerRegistry::instance();
}

TensorType T(Shape s, DType dt = DType::Float32) {
  return {std::move(s), dt};
}

// Resolves params for node "n" and infers its output types; `resolved` gets the params.
std::vector<TensorType> infer(const std::string& type, const json& params,
                              std::vector<std::vector<TensorType>> in, json* resolved = nullptr) {
  const LayerDef& d = reg().at(type);
  json p = d.resolve_params("n", params);
  auto out = d.infer_shapes("n", p, std::move(in));
  if (resolved) *resolved = p;
  return out;
}

// Shape of the single output.
Shape out_shape(const std::string& type, const json& params, std::vector<TensorType> in) {
  std::vector<std::vector<TensorType>> ports;
  for (auto& t : in) ports.push_back({t});
  auto out = infer(type, params, ports);
  EXPECT_EQ(out.size(), 1u);
  return out.at(0).shape;
}

// The NodeShapeError that inference throws: message and field ("" when none is thrown).
struct Failure {
  std::string message, field;
};
Failure infer_failure(const std::string& type, const json& params,
                      std::vector<std::vector<TensorType>> in) {
  try {
    infer(type, params, std::move(in));
  } catch (const NodeShapeError& e) {
    EXPECT_EQ(e.node(), "n");
    return {e.what(), e.field()};
  }
  return {"", ""};
}

// Every problem check_params finds, as "field: message".
std::vector<Diagnostic> param_issues(const std::string& type, const json& params) {
  std::vector<Diagnostic> issues;
  reg().at(type).check_params("n", params, issues);
  return issues;
}

}  // namespace

// --- the registry itself ---

TEST(LayerRegistry, DefinesEveryKindOfTheDesign) {
  std::set<std::string> want = {"Input",     "Linear",           "Conv2d",    "MaxPool2d",
                                "AvgPool2d", "GlobalAvgPool",    "BatchNorm", "LayerNorm",
                                "Dropout",   "Flatten",          "Reshape",   "ReLU",
                                "LeakyReLU", "Sigmoid",          "Tanh",      "GELU",
                                "Softmax",   "LogSoftmax",       "Add",       "Concat",
                                "Embedding", "CrossEntropyLoss", "MSELoss",   "BCEWithLogitsLoss"};
  auto names = reg().names();
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), want);
  EXPECT_EQ(names.size(), want.size()) << "a kind is registered twice";
}

TEST(LayerRegistry, EveryKindIsDocumentedForLearnersAndComplete) {
  for (const LayerDef& d : reg().kinds()) {
    SCOPED_TRACE(d.name);
    EXPECT_FALSE(d.summary.empty());
    EXPECT_LT(d.summary.size(), 90u) << "the summary is one line";
    EXPECT_GT(d.description.size(), 150u) << "the description explains the layer";
    EXPECT_TRUE(d.infer && d.build);
    EXPECT_EQ(d.outputs.size(), 1u);
    for (const ParamDef& p : d.params) {
      EXPECT_FALSE(p.description.empty()) << p.name;
      if (p.presence == ParamPresence::Default) {
        EXPECT_FALSE(p.default_value.is_null()) << p.name;
      }
      if (p.type == ParamType::Enum) {
        EXPECT_FALSE(p.choices.empty()) << p.name;
      }
    }
    for (const PortDef& p : d.inputs) EXPECT_FALSE(p.description.empty()) << p.name;
    if (d.is_loss()) {
      ASSERT_EQ(d.inputs.size(), 2u);
      EXPECT_EQ(d.inputs[0].name, "input");
      EXPECT_EQ(d.inputs[1].name, "target");
      EXPECT_TRUE(d.inputs[1].optional);
    }
  }
}

TEST(LayerRegistry, PaletteOrderGroupsKindsByCategory) {
  const auto& kinds = reg().kinds();
  for (size_t i = 1; i < kinds.size(); ++i)
    EXPECT_LE(int(kinds[i - 1].category), int(kinds[i].category))
        << kinds[i - 1].name << " before " << kinds[i].name;
  EXPECT_EQ(kinds.front().name, "Input");
  EXPECT_STREQ(category_name(reg().at("Conv2d").category), "Convolution");
  EXPECT_STREQ(category_name(reg().at("CrossEntropyLoss").category), "Loss");
}

TEST(LayerRegistry, UnknownTypeNamesNodeSuggestsAndListsKnownTypes) {
  try {
    reg().at("Conv3d", "c1");
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_TRUE(contains(m, "unknown layer type 'Conv3d' (node 'c1')")) << m;
    EXPECT_TRUE(contains(m, "did you mean 'Conv2d'?")) << m;
    EXPECT_TRUE(contains(m, "known types: Input, ")) << m;
    EXPECT_TRUE(contains(m, "BCEWithLogitsLoss")) << m;
  }
  EXPECT_EQ(reg().find("Conv3d"), nullptr);
  EXPECT_EQ(reg().find("Conv2d")->name, "Conv2d");
}

// --- parameter checking ---

TEST(LayerParams, DefaultsAreFilledAndIntPairsCanonicalised) {
  json p = reg().at("Conv2d").resolve_params("c1", {{"out_channels", 6}, {"kernel_size", 5}});
  EXPECT_EQ(p["kernel_size"], json({5, 5}));
  EXPECT_EQ(p["stride"], json({1, 1}));
  EXPECT_EQ(p["padding"], json({0, 0}));
  EXPECT_EQ(p["groups"], 1);
  EXPECT_EQ(p["bias"], true);
  EXPECT_FALSE(p.contains("in_channels")) << "inferred later from the input";
  // An integral float from a GUI is an integer; null means "not set".
  json q =
      reg().at("Linear").resolve_params("fc", {{"out_features", 10.0}, {"in_features", nullptr}});
  EXPECT_TRUE(q["out_features"].is_number_integer());
  EXPECT_FALSE(q.contains("in_features"));
}

TEST(LayerParams, UnknownParameterNamesNodeParameterAndTheKnownOnes) {
  try {
    reg().at("Linear").resolve_params("fc1", {{"out_feature", 10}});
    FAIL();
  } catch (const ValueError& e) {
    std::string m = e.what();
    EXPECT_TRUE(contains(m, "Linear 'fc1': unknown parameter 'out_feature'")) << m;
    EXPECT_TRUE(contains(m, "in_features, out_features, bias")) << m;
  }
}

TEST(LayerParams, WrongTypeMissingRequiredOutOfRangeAndBadEnumNameNodeParameterAndValue) {
  auto one_issue = [](const std::string& type, const json& params) {
    auto is = param_issues(type, params);
    EXPECT_EQ(is.size(), 1u) << type << " " << params.dump();
    return is.empty() ? Diagnostic{} : is[0];
  };
  Diagnostic d = one_issue("Linear", {{"out_features", "10"}});
  EXPECT_EQ(d.field, "params.out_features");
  EXPECT_EQ(d.message, "Linear 'n': parameter 'out_features' must be an integer, got \"10\"");
  d = one_issue("Linear", {{"out_features", 2.5}});
  EXPECT_EQ(d.message, "Linear 'n': parameter 'out_features' must be an integer, got 2.5");
  d = one_issue("Linear", json::object());
  EXPECT_EQ(d.field, "params.out_features");
  EXPECT_TRUE(contains(d.message, "Linear 'n': parameter 'out_features' is required")) << d.message;
  d = one_issue("Linear", {{"out_features", 0}});
  EXPECT_EQ(d.message, "Linear 'n': parameter 'out_features' is 0, must be at least 1");
  d = one_issue("Dropout", {{"p", 1.5}});
  EXPECT_EQ(d.message, "Dropout 'n': parameter 'p' is 1.5, must be between 0 and 1");
  d = one_issue("Linear", {{"out_features", 3}, {"bias", 1}});
  EXPECT_EQ(d.message, "Linear 'n': parameter 'bias' must be true or false, got 1");
  d = one_issue("Input", {{"shape", {1, 28, 28}}, {"dtype", "float16"}});
  EXPECT_EQ(d.field, "params.dtype");
  EXPECT_EQ(d.message,
            "Input 'n': parameter 'dtype' must be one of float32, int64, got \"float16\"");
  d = one_issue("Conv2d", {{"out_channels", 6}, {"stride", {1, 0}}});
  EXPECT_TRUE(contains(d.message,
                       "parameter 'stride' has an element that is 0, must be at "
                       "least 1 (got [1,0])"))
      << d.message;
  d = one_issue("Conv2d", {{"out_channels", 6}, {"kernel_size", {3, 3, 3}}});
  EXPECT_TRUE(contains(d.message, "parameter 'kernel_size' must be an integer or a pair"))
      << d.message;
  d = one_issue("Input", {{"shape", "28x28"}});
  EXPECT_TRUE(contains(d.message, "parameter 'shape' must be a list of integers")) << d.message;
}

TEST(LayerParams, EveryProblemOfANodeIsReportedAtOnce) {
  auto is = param_issues("Conv2d", {{"kernel_size", 0}, {"strides", 2}, {"bias", "yes"}});
  std::set<std::string> fields;
  for (const auto& d : is) fields.insert(d.field);
  EXPECT_EQ(fields, (std::set<std::string>{"params.kernel_size", "params.strides", "params.bias",
                                           "params.out_channels"}));
  EXPECT_THROW(reg().at("Conv2d").resolve_params("c", {{"strides", 2}}), ValueError);
}

// --- shape inference, kind by kind ---

TEST(ShapeInference, InputPrependsTheBatchAndKeepsDtype) {
  auto out = infer("Input", {{"shape", {1, 28, 28}}}, {});
  EXPECT_EQ(out[0], T({-1, 1, 28, 28}));
  out = infer("Input", {{"shape", {12}}, {"dtype", "int64"}}, {});
  EXPECT_EQ(out[0], T({-1, 12}, DType::Int64));
}

TEST(ShapeInference, LinearInfersInFeaturesAndNamesMismatch) {
  json p;
  auto out = infer("Linear", {{"out_features", 120}}, {{T({-1, 400})}}, &p);
  EXPECT_EQ(out[0], T({-1, 120}));
  EXPECT_EQ(p["in_features"], 400);
  EXPECT_EQ(out_shape("Linear", {{"in_features", 400}, {"out_features", 120}}, {T({-1, 400})}),
            (Shape{-1, 120}));
  Failure f =
      infer_failure("Linear", {{"in_features", 256}, {"out_features", 120}}, {{T({-1, 400})}});
  EXPECT_EQ(f.message, "Linear 'n': input has 400 features, in_features is 256");
  EXPECT_EQ(f.field, "params.in_features");
  f = infer_failure("Linear", {{"out_features", 120}}, {{T({-1, 16, 5, 5})}});
  EXPECT_EQ(f.message,
            "Linear 'n': expects input [N, features], got [N, 16, 5, 5]; add a Flatten before it");
  EXPECT_EQ(f.field, "inputs.input");
  f = infer_failure("Linear", {{"out_features", 3}}, {{T({-1, 4}, DType::Int64)}});
  EXPECT_TRUE(contains(f.message, "expects floating-point values, got int64")) << f.message;
}

TEST(ShapeInference, LinearInputMustBeConnectedOnce) {
  Failure f = infer_failure("Linear", {{"out_features", 3}}, {{}});
  EXPECT_EQ(f.message, "Linear 'n': input 'input' is not connected");
  f = infer_failure("Linear", {{"out_features", 3}}, {{T({-1, 4}), T({-1, 4})}});
  EXPECT_EQ(f.message, "Linear 'n': input 'input' has 2 incoming edges; it accepts one");
}

TEST(ShapeInference, Conv2dFollowsTheOutputSizeFormula) {
  // Ho = (H + 2p - d(k-1) - 1) / s + 1, computed here by hand.
  json p;
  auto out = infer("Conv2d", {{"out_channels", 6}, {"kernel_size", 5}, {"padding", 2}},
                   {{T({-1, 1, 28, 28})}}, &p);
  EXPECT_EQ(out[0].shape, (Shape{-1, 6, 28, 28}));
  EXPECT_EQ(p["in_channels"], 1);
  EXPECT_EQ(out_shape("Conv2d", {{"out_channels", 16}, {"kernel_size", 5}}, {T({-1, 6, 14, 14})}),
            (Shape{-1, 16, 10, 10}));
  // H: (32 + 2 - 2*2 - 1) / 2 + 1 = 15;  W: (20 + 0 - 1*(1-1) - 1) / 3 + 1 = 7
  EXPECT_EQ(out_shape("Conv2d",
                      {{"out_channels", 8},
                       {"kernel_size", {3, 1}},
                       {"stride", {2, 3}},
                       {"padding", {1, 0}},
                       {"dilation", {2, 1}}},
                      {T({-1, 4, 32, 20})}),
            (Shape{-1, 8, 15, 7}));
  EXPECT_EQ(out_shape("Conv2d", {{"out_channels", 8}, {"groups", 4}}, {T({-1, 4, 8, 8})}),
            (Shape{-1, 8, 6, 6}));
}

TEST(ShapeInference, Conv2dErrorsNameChannelsGroupsAndSizes) {
  Failure f =
      infer_failure("Conv2d", {{"in_channels", 1}, {"out_channels", 6}}, {{T({-1, 3, 32, 32})}});
  EXPECT_EQ(f.message, "Conv2d 'n': input has 3 channels, in_channels is 1");
  EXPECT_EQ(f.field, "params.in_channels");
  f = infer_failure("Conv2d", {{"out_channels", 6}, {"groups", 4}}, {{T({-1, 6, 8, 8})}});
  EXPECT_EQ(f.message, "Conv2d 'n': in_channels 6 is not divisible by groups 4");
  EXPECT_EQ(f.field, "params.groups");
  f = infer_failure("Conv2d", {{"out_channels", 6}, {"kernel_size", 5}}, {{T({-1, 1, 4, 4})}});
  EXPECT_EQ(f.message,
            "Conv2d 'n': input is 4x4 (4x4 with padding) but the kernel spans 5x5; the output "
            "would be empty");
  f = infer_failure("Conv2d", {{"out_channels", 6}}, {{T({-1, 784})}});
  EXPECT_TRUE(contains(f.message,
                       "expects input [N, C, H, W] (channels, height, width), got "
                       "[N, 784]; add a Reshape"))
      << f.message;
}

TEST(ShapeInference, PoolingDefaultsStrideToKernelAndChecksPadding) {
  json p;
  auto out = infer("MaxPool2d", json::object(), {{T({-1, 6, 28, 28})}}, &p);
  EXPECT_EQ(out[0].shape, (Shape{-1, 6, 14, 14}));
  EXPECT_EQ(p["stride"], json({2, 2}));
  EXPECT_EQ(out_shape("MaxPool2d", json::object(), {T({-1, 16, 7, 7})}), (Shape{-1, 16, 3, 3}));
  EXPECT_EQ(out_shape("AvgPool2d", {{"kernel_size", 3}, {"stride", 1}, {"padding", 1}},
                      {T({-1, 4, 9, 9})}),
            (Shape{-1, 4, 9, 9}));
  Failure f =
      infer_failure("MaxPool2d", {{"kernel_size", 2}, {"padding", 2}}, {{T({-1, 4, 9, 9})}});
  EXPECT_EQ(f.message, "MaxPool2d 'n': padding (2, 2) must be at most half the kernel size (2, 2)");
  EXPECT_EQ(f.field, "params.padding");
  f = infer_failure("AvgPool2d", {{"kernel_size", 4}}, {{T({-1, 4, 3, 3})}});
  EXPECT_TRUE(contains(f.message, "the output would be empty")) << f.message;
}

TEST(ShapeInference, GlobalAvgPoolKeepsChannels) {
  EXPECT_EQ(out_shape("GlobalAvgPool", json::object(), {T({-1, 64, 8, 8})}), (Shape{-1, 64}));
  Failure f = infer_failure("GlobalAvgPool", json::object(), {{T({-1, 64})}});
  EXPECT_EQ(f.message,
            "GlobalAvgPool 'n': expects input [N, C, H, W] (channels, height, width), got "
            "[N, 64]; add a Reshape to give it channels and a height and width");
}

TEST(ShapeInference, BatchNormWorksOnFeaturesAndImages) {
  json p;
  EXPECT_EQ(infer("BatchNorm", json::object(), {{T({-1, 16, 8, 8})}}, &p)[0].shape,
            (Shape{-1, 16, 8, 8}));
  EXPECT_EQ(p["num_features"], 16);
  EXPECT_EQ(out_shape("BatchNorm", json::object(), {T({-1, 32})}), (Shape{-1, 32}));
  Failure f = infer_failure("BatchNorm", {{"num_features", 8}}, {{T({-1, 16, 4, 4})}});
  EXPECT_EQ(f.message, "BatchNorm 'n': input has 16 channels, num_features is 8");
  f = infer_failure("BatchNorm", json::object(), {{T({-1})}});
  EXPECT_EQ(f.message, "BatchNorm 'n': expects input [N, C] or [N, C, H, W], got [N]");
}

TEST(ShapeInference, LayerNormDefaultsToTheLastDimension) {
  json p;
  EXPECT_EQ(infer("LayerNorm", json::object(), {{T({-1, 10, 64})}}, &p)[0].shape,
            (Shape{-1, 10, 64}));
  EXPECT_EQ(p["normalized_shape"], json({64}));
  EXPECT_EQ(out_shape("LayerNorm", {{"normalized_shape", {10, 64}}}, {T({-1, 10, 64})}),
            (Shape{-1, 10, 64}));
  Failure f = infer_failure("LayerNorm", {{"normalized_shape", {32}}}, {{T({-1, 10, 64})}});
  EXPECT_EQ(f.message, "LayerNorm 'n': input [N, 10, 64] does not end with normalized_shape [32]");
  EXPECT_EQ(f.field, "params.normalized_shape");
}

TEST(ShapeInference, DropoutKeepsShapeAndRejectsDroppingEverything) {
  EXPECT_EQ(out_shape("Dropout", {{"p", 0.2}}, {T({-1, 7, 3})}), (Shape{-1, 7, 3}));
  Failure f = infer_failure("Dropout", {{"p", 1.0}}, {{T({-1, 7})}});
  EXPECT_EQ(f.message, "Dropout 'n': p is 1, which would drop every value; use p < 1");
}

TEST(ShapeInference, FlattenJoinsTheChosenDimensions) {
  EXPECT_EQ(out_shape("Flatten", json::object(), {T({-1, 16, 5, 5})}), (Shape{-1, 400}));
  EXPECT_EQ(out_shape("Flatten", {{"start_dim", 2}}, {T({-1, 16, 5, 5})}), (Shape{-1, 16, 25}));
  EXPECT_EQ(out_shape("Flatten", {{"end_dim", 2}}, {T({-1, 16, 5, 5})}), (Shape{-1, 80, 5}));
  Failure f = infer_failure("Flatten", {{"start_dim", 3}}, {{T({-1, 16, 5})}});
  EXPECT_EQ(f.message, "Flatten 'n': start_dim 3 is out of range for input [N, 16, 5]");
  f = infer_failure("Flatten", {{"start_dim", 2}, {"end_dim", 1}}, {{T({-1, 16, 5, 5})}});
  EXPECT_EQ(f.message, "Flatten 'n': end_dim 1 comes before start_dim 2");
}

TEST(ShapeInference, ReshapeKeepsTheNumberOfValues) {
  EXPECT_EQ(out_shape("Reshape", {{"shape", {1, 28, 28}}}, {T({-1, 784})}), (Shape{-1, 1, 28, 28}));
  EXPECT_EQ(out_shape("Reshape", {{"shape", {4, -1}}}, {T({-1, 16, 5, 5})}), (Shape{-1, 4, 100}));
  Failure f = infer_failure("Reshape", {{"shape", {3, 100}}}, {{T({-1, 16, 5, 5})}});
  EXPECT_EQ(f.message,
            "Reshape 'n': cannot reshape [N, 16, 5, 5] (400 values per example) into "
            "[N, 3, 100] (300 values)");
  f = infer_failure("Reshape", {{"shape", {3, -1}}}, {{T({-1, 400})}});
  EXPECT_TRUE(contains(f.message, "400 is not divisible by 3")) << f.message;
  f = infer_failure("Reshape", {{"shape", {-1, -1}}}, {{T({-1, 400})}});
  EXPECT_EQ(f.message, "Reshape 'n': shape [-1, -1] has more than one -1");
}

TEST(ShapeInference, ActivationsKeepShapeAndNeedFloats) {
  for (const char* k : {"ReLU", "LeakyReLU", "Sigmoid", "Tanh", "GELU", "Softmax", "LogSoftmax"}) {
    SCOPED_TRACE(k);
    EXPECT_EQ(out_shape(k, json::object(), {T({-1, 10, 3})}), (Shape{-1, 10, 3}));
    Failure f = infer_failure(k, json::object(), {{T({-1, 10}, DType::Int64)}});
    EXPECT_EQ(f.message, std::string(k) +
                             " 'n': expects floating-point values, got int64 (int64 "
                             "ids only feed an Embedding)");
  }
}

TEST(ShapeInference, SoftmaxDimMustNotBeTheBatch) {
  EXPECT_EQ(out_shape("Softmax", {{"dim", -1}}, {T({-1, 10})}), (Shape{-1, 10}));
  Failure f = infer_failure("Softmax", {{"dim", 0}}, {{T({-1, 10})}});
  EXPECT_EQ(f.message,
            "Softmax 'n': dim 0 is the batch dimension; use 1 for the classes of [N, C]");
  f = infer_failure("LogSoftmax", {{"dim", 2}}, {{T({-1, 10})}});
  EXPECT_EQ(f.message, "LogSoftmax 'n': dim 2 is out of range for input [N, 10]");
  EXPECT_EQ(f.field, "params.dim");
}

TEST(ShapeInference, AddNeedsTwoEqualShapes) {
  auto out =
      infer("Add", json::object(), {{T({-1, 16, 8, 8}), T({-1, 16, 8, 8}), T({-1, 16, 8, 8})}});
  EXPECT_EQ(out[0].shape, (Shape{-1, 16, 8, 8}));
  Failure f = infer_failure("Add", json::object(), {{T({-1, 16, 32, 32}), T({-1, 32, 16, 16})}});
  EXPECT_EQ(f.message,
            "Add 'n': input 2 has shape [N, 32, 16, 16] but input 1 has [N, 16, 32, 32]; a sum "
            "needs equal shapes (on a residual shortcut, match them with a 1x1 Conv2d)");
  f = infer_failure("Add", json::object(), {{T({-1, 4})}});
  EXPECT_EQ(f.message, "Add 'n': needs at least 2 inputs, got 1");
}

TEST(ShapeInference, ConcatSumsTheJoinedDimension) {
  EXPECT_EQ(infer("Concat", json::object(), {{T({-1, 16, 8, 8}), T({-1, 32, 8, 8})}})[0].shape,
            (Shape{-1, 48, 8, 8}));
  EXPECT_EQ(
      infer("Concat", {{"dim", -1}}, {{T({-1, 3, 2}), T({-1, 3, 5}), T({-1, 3, 1})}})[0].shape,
      (Shape{-1, 3, 8}));
  Failure f = infer_failure("Concat", json::object(), {{T({-1, 16, 8, 8}), T({-1, 32, 4, 4})}});
  EXPECT_EQ(f.message,
            "Concat 'n': input 2 has shape [N, 32, 4, 4] but input 1 has [N, 16, 8, 8]; all "
            "dimensions except dim 1 must match");
  f = infer_failure("Concat", {{"dim", 0}}, {{T({-1, 4}), T({-1, 4})}});
  EXPECT_TRUE(contains(f.message, "dim 0 is the batch dimension")) << f.message;
}

TEST(ShapeInference, EmbeddingTakesInt64Ids) {
  auto out = infer("Embedding", {{"num_embeddings", 1000}, {"embedding_dim", 64}},
                   {{T({-1, 12}, DType::Int64)}});
  EXPECT_EQ(out[0], T({-1, 12, 64}));
  Failure f = infer_failure("Embedding", {{"num_embeddings", 1000}, {"embedding_dim", 64}},
                            {{T({-1, 12})}});
  EXPECT_EQ(f.message,
            "Embedding 'n': expects int64 ids, got float32; set the Input node's dtype to int64");
}

TEST(ShapeInference, LossesGiveAScalarAndCheckTheirTarget) {
  EXPECT_EQ(infer("CrossEntropyLoss", json::object(), {{T({-1, 10})}, {}})[0], T({}));
  EXPECT_EQ(infer("CrossEntropyLoss", json::object(), {{T({-1, 10})}, {T({-1}, DType::Int64)}})[0],
            T({}));
  Failure f = infer_failure("CrossEntropyLoss", json::object(), {{T({-1, 10, 4})}, {}});
  EXPECT_EQ(f.message,
            "CrossEntropyLoss 'n': expects class scores [N, classes], got [N, 10, 4]; add a "
            "Flatten and a Linear layer with out_features = classes");
  f = infer_failure("CrossEntropyLoss", json::object(), {{T({-1, 10})}, {T({-1, 10})}});
  EXPECT_EQ(f.message, "CrossEntropyLoss 'n': target must be int64 class ids [N], got [N, 10]");
  EXPECT_EQ(f.field, "inputs.target");
  EXPECT_EQ(infer("MSELoss", json::object(), {{T({-1, 3})}, {T({-1, 3})}})[0], T({}));
  f = infer_failure("MSELoss", json::object(), {{T({-1, 3})}, {T({-1, 4})}});
  EXPECT_EQ(f.message, "MSELoss 'n': target [N, 4] must match the prediction [N, 3]");
  EXPECT_EQ(infer("BCEWithLogitsLoss", json::object(), {{T({-1, 5})}, {}})[0], T({}));
  f = infer_failure("BCEWithLogitsLoss", json::object(), {{}, {}});
  EXPECT_EQ(f.message, "BCEWithLogitsLoss 'n': input 'input' is not connected");
}

// --- weights ---

TEST(LayerWeights, ShapesRolesAndPyTorchInitialisation) {
  const LayerDef& lin = reg().at("Linear");
  json p = lin.resolve_params("fc", {{"in_features", 784}, {"out_features", 256}});
  auto w = lin.weight_defs(p);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_EQ(w[0].name, "weight");
  EXPECT_EQ(w[0].shape, (Shape{256, 784}));
  EXPECT_EQ(w[0].init.kind, WeightInit::Kind::Uniform);
  EXPECT_DOUBLE_EQ(w[0].init.b, 1.0 / 28.0);  // 1/sqrt(784)
  EXPECT_DOUBLE_EQ(w[0].init.a, -1.0 / 28.0);
  EXPECT_EQ(w[1].shape, (Shape{256}));
  EXPECT_DOUBLE_EQ(w[1].init.b, 1.0 / 28.0);
  EXPECT_EQ(lin.parameter_count(p), 784 * 256 + 256);
  p["bias"] = false;
  EXPECT_EQ(lin.weight_defs(p).size(), 1u);

  const LayerDef& conv = reg().at("Conv2d");
  p = conv.resolve_params("c", {{"in_channels", 6}, {"out_channels", 16}, {"kernel_size", 5}});
  w = conv.weight_defs(p);
  EXPECT_EQ(w[0].shape, (Shape{16, 6, 5, 5}));
  EXPECT_DOUBLE_EQ(w[0].init.b, 1.0 / std::sqrt(150.0));  // fan_in = 6 * 5 * 5
  p = conv.resolve_params("c", {{"in_channels", 8}, {"out_channels", 8}, {"groups", 4}});
  EXPECT_EQ(conv.weight_defs(p)[0].shape, (Shape{8, 2, 3, 3}));

  const LayerDef& bn = reg().at("BatchNorm");
  p = bn.resolve_params("b", {{"num_features", 16}});
  w = bn.weight_defs(p);
  ASSERT_EQ(w.size(), 4u);
  EXPECT_EQ(w[0].name, "weight");
  EXPECT_EQ(w[0].init.kind, WeightInit::Kind::Ones);
  EXPECT_EQ(w[1].init.kind, WeightInit::Kind::Zeros);
  EXPECT_EQ(w[2].name, "running_mean");
  EXPECT_EQ(w[2].role, WeightRole::Buffer);
  EXPECT_EQ(w[2].init.kind, WeightInit::Kind::Zeros);
  EXPECT_EQ(w[3].name, "running_var");
  EXPECT_EQ(w[3].init.kind, WeightInit::Kind::Ones);
  EXPECT_EQ(bn.parameter_count(p), 32);

  const LayerDef& emb = reg().at("Embedding");
  w = emb.weight_defs({{"num_embeddings", 100}, {"embedding_dim", 8}});
  EXPECT_EQ(w[0].init.kind, WeightInit::Kind::Normal);
  EXPECT_EQ(w[0].init.a, 0.0);
  EXPECT_EQ(w[0].init.b, 1.0);
  EXPECT_TRUE(reg().at("ReLU").weight_defs(json::object()).empty());
}

// --- PyTorch mapping ---

TEST(TorchMapping, ConstructorExpressionsMatchTorchNn) {
  auto module = [](const std::string& type, const json& given, Shape in) {
    const LayerDef& d = reg().at(type);
    json p = d.resolve_params("n", given);
    d.infer_shapes("n", p, {{T(in)}});
    return d.torch_module(p, {in});
  };
  EXPECT_EQ(
      module("Conv2d", {{"out_channels", 6}, {"kernel_size", 5}, {"padding", 2}}, {-1, 1, 28, 28}),
      "nn.Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))");
  EXPECT_EQ(module("Conv2d", {{"out_channels", 8}, {"groups", 2}, {"bias", false}, {"dilation", 2}},
                   {-1, 4, 28, 28}),
            "nn.Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), padding=(0, 0), "
            "dilation=(2, 2), groups=2, bias=False)");
  EXPECT_EQ(module("Linear", {{"out_features", 256}}, {-1, 784}), "nn.Linear(784, 256)");
  EXPECT_EQ(module("Linear", {{"out_features", 2}, {"bias", false}}, {-1, 3}),
            "nn.Linear(3, 2, bias=False)");
  EXPECT_EQ(module("MaxPool2d", json::object(), {-1, 6, 28, 28}),
            "nn.MaxPool2d(kernel_size=(2, 2), stride=(2, 2))");
  EXPECT_EQ(
      module("AvgPool2d", {{"kernel_size", 3}, {"stride", 1}, {"padding", 1}}, {-1, 6, 28, 28}),
      "nn.AvgPool2d(kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))");
  EXPECT_EQ(module("GlobalAvgPool", json::object(), {-1, 6, 8, 8}),
            "nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())");
  EXPECT_EQ(module("BatchNorm", json::object(), {-1, 16, 8, 8}), "nn.BatchNorm2d(16)");
  EXPECT_EQ(module("BatchNorm", {{"eps", 1e-3}, {"momentum", 0.01}}, {-1, 32}),
            "nn.BatchNorm1d(32, eps=0.001, momentum=0.01)");
  EXPECT_EQ(module("LayerNorm", {{"eps", 1e-6}}, {-1, 5, 64}), "nn.LayerNorm([64], eps=1e-06)");
  EXPECT_EQ(module("Dropout", json::object(), {-1, 5}), "nn.Dropout(p=0.5)");
  EXPECT_EQ(module("Flatten", json::object(), {-1, 16, 5, 5}), "nn.Flatten()");
  EXPECT_EQ(module("LeakyReLU", json::object(), {-1, 5}), "nn.LeakyReLU(negative_slope=0.01)");
  EXPECT_EQ(module("ReLU", json::object(), {-1, 5}), "nn.ReLU()");
  EXPECT_EQ(module("GELU", json::object(), {-1, 5}), "nn.GELU()");
  EXPECT_EQ(module("Softmax", json::object(), {-1, 5}), "nn.Softmax(dim=1)");
  EXPECT_EQ(module("LogSoftmax", {{"dim", -1}}, {-1, 5}), "nn.LogSoftmax(dim=-1)");
  EXPECT_EQ(reg().at("Embedding").torch_module({{"num_embeddings", 1000}, {"embedding_dim", 64}}),
            "nn.Embedding(1000, 64)");
  EXPECT_EQ(reg().at("CrossEntropyLoss").torch_module({{"label_smoothing", 0.1}}),
            "nn.CrossEntropyLoss(label_smoothing=0.1)");
  EXPECT_EQ(reg().at("CrossEntropyLoss").torch_module({{"label_smoothing", 0.0}}),
            "nn.CrossEntropyLoss()");
  EXPECT_EQ(reg().at("MSELoss").torch_module(json::object()), "nn.MSELoss()");
  EXPECT_EQ(reg().at("Input").torch_module({{"shape", {3}}}), "");
}

TEST(TorchMapping, CallsForModulesAndFunctionalKinds) {
  EXPECT_EQ(reg().at("Linear").torch_call({}, "self.fc1", {"x"}), "self.fc1(x)");
  EXPECT_EQ(reg().at("CrossEntropyLoss").torch_call({}, "self.loss", {"logits", "y"}),
            "self.loss(logits, y)");
  EXPECT_EQ(reg().at("Add").torch_call({}, "", {"a", "b", "c"}), "a + b + c");
  EXPECT_EQ(reg().at("Concat").torch_call({{"dim", 1}}, "", {"a", "b"}),
            "torch.cat([a, b], dim=1)");
  EXPECT_EQ(reg().at("Reshape").torch_call({{"shape", {16, 5, 5}}}, "", {"x"}),
            "x.reshape(x.shape[0], 16, 5, 5)");
}

TEST(TorchMapping, PythonLiteralsMatchPythonRepr) {
  using layers::py_float;
  EXPECT_EQ(py_float(1e-5), "1e-05");
  EXPECT_EQ(py_float(0.1), "0.1");
  EXPECT_EQ(py_float(1.0), "1.0");
  EXPECT_EQ(py_float(0.5), "0.5");
  EXPECT_EQ(py_float(1e20), "1e+20");
  EXPECT_EQ(layers::py_tuple(std::vector<int64_t>{64}), "(64,)");
  EXPECT_EQ(layers::py_tuple(std::vector<int64_t>{5, 5}), "(5, 5)");
}
