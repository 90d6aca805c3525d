// Kinds: Input, Linear, Embedding.
#include "engine/graph/layers/layers.h"
#include "engine/ops/matmul.h"
#include "engine/ops/shape_ops.h"

namespace ng::layers {

namespace {

LayerDef input_kind() {
  LayerDef d;
  d.name = "Input";
  d.category = LayerCategory::Input;
  d.summary = "Where a batch of data enters the network.";
  d.description =
      "An Input node stands for one batch of examples from the dataset. Its shape is the shape "
      "of ONE example, without the batch dimension: [1, 28, 28] for a grey 28x28 image "
      "(channels, height, width), [3, 32, 32] for a colour CIFAR image, [784] for a flattened "
      "vector. Every layer downstream works out its own shape from this one. Use dtype int64 "
      "when the data are token ids that feed an Embedding.";
  d.params = {
      {.name = "shape",
       .type = ParamType::IntList,
       .presence = ParamPresence::Required,
       .min = 1,
       .description = "shape of one example, without the batch dimension, e.g. [1, 28, 28]"},
      {.name = "dtype",
       .type = ParamType::Enum,
       .default_value = "float32",
       .choices = {"float32", "int64"},
       .description = "float32 for features and images, int64 for token ids"},
  };
  d.outputs = {output_port("the batch: [N, ...shape]")};
  d.infer = [](InferContext& c) {
    Shape s{-1};
    for (int64_t v : get_list(c.params, "shape")) s.push_back(v);
    return one(s, c.params["dtype"] == "int64" ? DType::Int64 : DType::Float32);
  };
  // The Model passes the fed batch as the single input of an Input node.
  d.build = [](const std::string& who, const json& p) -> LayerFn {
    Shape s = get_list(p, "shape");
    DType dt = p["dtype"] == "int64" ? DType::Int64 : DType::Float32;
    return [who, s, dt](LayerCall& c) {
      const Tensor& x = c.inputs[0];
      NG_CHECK(x.defined(), who, ": no batch was given for this input");
      bool ok = x.dim() == int64_t(s.size()) + 1 && x.dtype() == dt;
      for (size_t i = 0; ok && i < s.size(); ++i) ok = x.size(int64_t(i) + 1) == s[i];
      if (!ok) {
        Shape want{-1};
        want.insert(want.end(), s.begin(), s.end());
        throw ShapeError(who + ": expected a batch of shape " + shape_n(want) + " " +
                         dtype_name(dt) + ", got " + shape_str(x.shape()) + " " +
                         dtype_name(x.dtype()));
      }
      c.outputs[0] = x;
    };
  };
  return d;
}

LayerDef linear_kind() {
  LayerDef d;
  d.name = "Linear";
  d.absorbs_relu = true;  // NOTE [Fused ReLU]
  d.category = LayerCategory::Linear;
  d.summary = "Fully connected layer: y = x W^T + b.";
  d.description =
      "Every output is a weighted sum of all the inputs plus a bias: y = x W^T + b, with W of "
      "shape [out_features, in_features]. It is the basic building block of a multi-layer "
      "perceptron and the usual last layer of a classifier (out_features = number of classes). "
      "The input must be [N, in_features]; put a Flatten before it to use it after "
      "convolutions. in_features is read from the incoming shape when left empty. Weights "
      "start uniform in +-1/sqrt(in_features), as in PyTorch.";
  d.params = {
      {.name = "in_features",
       .type = ParamType::Int,
       .presence = ParamPresence::Inferred,
       .min = 1,
       .description = "size of each input vector; inferred from the input when empty"},
      {.name = "out_features",
       .type = ParamType::Int,
       .presence = ParamPresence::Required,
       .min = 1,
       .description = "size of each output vector (number of units)"},
      {.name = "bias",
       .type = ParamType::Bool,
       .default_value = true,
       .description = "learn an additive bias b"},
  };
  d.inputs = {input_port("[N, in_features]")};
  d.outputs = {output_port("[N, out_features]")};
  d.infer = [](InferContext& c) {
    require_float(c);
    const Shape& s = c.in().shape;
    if (s.size() != 2)
      c.fail("inputs.input",
             "expects input [N, features], got " + shape_n(s) + "; add a Flatten before it");
    c.infer_param("in_features", s[1], "input has " + std::to_string(s[1]) + " features");
    return one({-1, get_int(c.params, "out_features")});
  };
  d.weights = [](const json& p) {
    int64_t in = get_int(p, "in_features"), out = get_int(p, "out_features");
    std::vector<WeightDef> w{
        {"weight", {out, in}, WeightRole::Parameter, WeightInit::torch_default(in)}};
    if (get_bool(p, "bias"))
      w.push_back({"bias", {out}, WeightRole::Parameter, WeightInit::torch_default(in)});
    return w;
  };
  d.build = [](const std::string& who, const json& p) -> LayerFn {
    bool bias = get_bool(p, "bias");
    return [who, bias](LayerCall& c) {
      c.outputs[0] = linear(c.inputs[0], c.weights[0], bias ? c.weights[1] : Tensor(), who,
                            c.fused_relu);  // NOTE [Fused ReLU]
    };
  };
  d.torch.module = [](const json& p, const std::vector<Shape>&) {
    return "nn.Linear(" + std::to_string(get_int(p, "in_features")) + ", " +
           std::to_string(get_int(p, "out_features")) +
           (get_bool(p, "bias") ? "" : ", bias=False") + ")";
  };
  return d;
}

LayerDef embedding_kind() {
  LayerDef d;
  d.name = "Embedding";
  d.category = LayerCategory::Linear;
  d.summary = "Looks up a learned vector for each integer id.";
  d.description =
      "An Embedding is a table of num_embeddings vectors of size embedding_dim. Each int64 id "
      "in the input (a word or token number in [0, num_embeddings)) is replaced by its row of "
      "the table, so [N, T] ids become [N, T, embedding_dim] vectors. The table is learned like "
      "any weight; it starts normal(0, 1), as in PyTorch. Feed it from an Input whose dtype is "
      "int64.";
  d.params = {
      {.name = "num_embeddings",
       .type = ParamType::Int,
       .presence = ParamPresence::Required,
       .min = 1,
       .description = "number of distinct ids (vocabulary size)"},
      {.name = "embedding_dim",
       .type = ParamType::Int,
       .presence = ParamPresence::Required,
       .min = 1,
       .description = "size of each vector"},
  };
  d.inputs = {input_port("int64 ids [N, ...]")};
  d.outputs = {output_port("[N, ..., embedding_dim]")};
  d.infer = [](InferContext& c) {
    const TensorType& t = c.in();
    if (t.dtype != DType::Int64)
      c.fail("inputs.input", std::string("expects int64 ids, got ") + dtype_name(t.dtype) +
                                 "; set the Input node's dtype to int64");
    Shape s = t.shape;
    s.push_back(get_int(c.params, "embedding_dim"));
    return one(s);
  };
  d.weights = [](const json& p) {
    return std::vector<WeightDef>{{"weight",
                                   {get_int(p, "num_embeddings"), get_int(p, "embedding_dim")},
                                   WeightRole::Parameter,
                                   WeightInit::normal(0.0, 1.0)}};
  };
  d.build = [](const std::string& who, const json&) -> LayerFn {
    return [who](LayerCall& c) { c.outputs[0] = embedding(c.inputs[0], c.weights[0], who); };
  };
  d.torch.module = [](const json& p, const std::vector<Shape>&) {
    return "nn.Embedding(" + std::to_string(get_int(p, "num_embeddings")) + ", " +
           std::to_string(get_int(p, "embedding_dim")) + ")";
  };
  return d;
}

}  // namespace

void register_input_and_linear(LayerRegistry& r) {
  r.add(input_kind());
  r.add(linear_kind());
  r.add(embedding_kind());
}

}  // namespace ng::layers
