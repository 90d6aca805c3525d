// Kinds: BatchNorm, LayerNorm, Dropout.
#include "engine/graph/layers/layers.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/norm.h"

namespace ng::layers {

namespace {

LayerDef batch_norm_kind() {
  LayerDef d;
  d.name = "BatchNorm";
  d.absorbs_relu = true;  // NOTE [Fused ReLU]
  d.category = LayerCategory::Normalization;
  d.summary = "Normalises each channel over the batch, then scales and shifts it.";
  d.description =
      "Batch normalisation rescales every channel to mean 0 and variance 1 using the "
      "statistics of the current batch, then applies a learned scale (weight) and shift "
      "(bias). It keeps activations in a healthy range, so deeper networks train faster and "
      "tolerate larger learning rates. During training it also keeps running averages of the "
      "mean and variance; in evaluation mode those are used instead of the batch's. Works on "
      "[N, C] (after a Linear, like BatchNorm1d) and on [N, C, H, W] (after a Conv2d, like "
      "BatchNorm2d). num_features is read from the input's channels when left empty.";
  d.params = {
      {.name = "num_features",
       .type = ParamType::Int,
       .presence = ParamPresence::Inferred,
       .min = 1,
       .description = "number of channels C; inferred from the input when empty"},
      {.name = "eps",
       .type = ParamType::Float,
       .default_value = 1e-5,
       .min = 0.0,
       .description = "added to the variance to avoid dividing by zero"},
      {.name = "momentum",
       .type = ParamType::Float,
       .default_value = 0.1,
       .min = 0.0,
       .max = 1.0,
       .description = "weight of the current batch in the running statistics"},
      {.name = "affine",
       .type = ParamType::Bool,
       .default_value = true,
       .description = "learn a scale and a shift per channel"},
  };
  d.inputs = {input_port("[N, C] or [N, C, H, W]")};
  d.outputs = {output_port("same shape as the input")};
  d.infer = [](InferContext& c) {
    require_float(c);
    const Shape& s = c.in().shape;
    if (s.size() < 2)
      c.fail("inputs.input", "expects input [N, C] or [N, C, H, W], got " + shape_n(s));
    c.infer_param("num_features", s[1], "input has " + std::to_string(s[1]) + " channels");
    return one(s);
  };
  d.weights = [](const json& p) {
    int64_t n = get_int(p, "num_features");
    std::vector<WeightDef> w;
    if (get_bool(p, "affine")) {
      w.push_back({"weight", {n}, WeightRole::Parameter, WeightInit::ones()});
      w.push_back({"bias", {n}, WeightRole::Parameter, WeightInit::zeros()});
    }
    w.push_back({"running_mean", {n}, WeightRole::Buffer, WeightInit::zeros()});
    w.push_back({"running_var", {n}, WeightRole::Buffer, WeightInit::ones()});
    return w;
  };
  d.build = [](const std::string& who, const json& p) -> LayerFn {
    bool affine = get_bool(p, "affine");
    double eps = get_float(p, "eps"), momentum = get_float(p, "momentum");
    return [who, affine, eps, momentum](LayerCall& c) {
      size_t b = affine ? 2 : 0;  // running stats follow weight and bias
      const Tensor gamma = affine ? c.weights[0] : Tensor(),
                   beta = affine ? c.weights[1] : Tensor();
      if (c.add_relu_skip) {  // NOTE [Batch norm into the add]
        c.outputs[0] = batch_norm_add_relu(c.inputs[0], gamma, beta, c.weights[b], c.weights[b + 1],
                                           c.mode, momentum, eps, *c.add_relu_skip, who);
        return;
      }
      c.outputs[0] = batch_norm(c.inputs[0], gamma, beta, c.weights[b], c.weights[b + 1], c.mode,
                                momentum, eps, who, c.fused_relu);  // NOTE [Fused ReLU]
    };
  };
  d.torch.module = [](const json& p, const std::vector<Shape>& in) {
    size_t rank = in.empty() ? 4 : in[0].size();
    std::string r = std::string(rank <= 3   ? "nn.BatchNorm1d("
                                : rank == 4 ? "nn.BatchNorm2d("
                                            : "nn.BatchNorm3d(") +
                    std::to_string(get_int(p, "num_features"));
    if (get_float(p, "eps") != 1e-5) r += ", eps=" + py_float(get_float(p, "eps"));
    if (get_float(p, "momentum") != 0.1) r += ", momentum=" + py_float(get_float(p, "momentum"));
    if (!get_bool(p, "affine")) r += ", affine=False";
    return r + ")";
  };
  return d;
}

LayerDef layer_norm_kind() {
  LayerDef d;
  d.name = "LayerNorm";
  d.category = LayerCategory::Normalization;
  d.summary = "Normalises each example over its last dimensions, then scales and shifts.";
  d.description =
      "Layer normalisation rescales the values of EACH example (not each channel across the "
      "batch) over its trailing dimensions normalized_shape to mean 0 and variance 1, then "
      "applies a learned per-element scale and shift. Unlike BatchNorm it behaves the same in "
      "training and evaluation and does not depend on the batch size, which is why "
      "transformers use it. normalized_shape defaults to the input's last dimension.";
  d.params = {
      {.name = "normalized_shape",
       .type = ParamType::IntList,
       .presence = ParamPresence::Inferred,
       .min = 1,
       .description = "trailing dims to normalise over; the last input dim when empty"},
      {.name = "eps",
       .type = ParamType::Float,
       .default_value = 1e-5,
       .min = 0.0,
       .description = "added to the variance to avoid dividing by zero"},
      {.name = "elementwise_affine",
       .type = ParamType::Bool,
       .default_value = true,
       .description = "learn a scale and a shift per element"},
  };
  d.inputs = {input_port("[N, ..., *normalized_shape]")};
  d.outputs = {output_port("same shape as the input")};
  d.infer = [](InferContext& c) {
    require_float(c);
    const Shape& s = c.in().shape;
    if (s.size() < 2) c.fail("inputs.input", "expects input [N, ..., D], got " + shape_n(s));
    if (!c.params.contains("normalized_shape"))
      c.params["normalized_shape"] = json::array({s.back()});
    std::vector<int64_t> ns = get_list(c.params, "normalized_shape");
    if (ns.empty()) c.fail("params.normalized_shape", "normalized_shape must not be empty");
    bool ok = ns.size() < s.size();
    for (size_t i = 0; ok && i < ns.size(); ++i) ok = s[s.size() - ns.size() + i] == ns[i];
    if (!ok)
      c.fail("params.normalized_shape",
             "input " + shape_n(s) + " does not end with normalized_shape " + shape_str(ns));
    return one(s);
  };
  d.weights = [](const json& p) {
    std::vector<WeightDef> w;
    if (get_bool(p, "elementwise_affine")) {
      Shape ns = get_list(p, "normalized_shape");
      w.push_back({"weight", ns, WeightRole::Parameter, WeightInit::ones()});
      w.push_back({"bias", ns, WeightRole::Parameter, WeightInit::zeros()});
    }
    return w;
  };
  d.build = [](const std::string& who, const json& p) -> LayerFn {
    bool affine = get_bool(p, "elementwise_affine");
    double eps = get_float(p, "eps");
    Shape ns = get_list(p, "normalized_shape");
    return [who, affine, eps, ns](LayerCall& c) {
      c.outputs[0] = layer_norm(c.inputs[0], ns, affine ? c.weights[0] : Tensor(),
                                affine ? c.weights[1] : Tensor(), eps, who);
    };
  };
  d.torch.module = [](const json& p, const std::vector<Shape>&) {
    std::string r = "nn.LayerNorm(" + shape_str(get_list(p, "normalized_shape"));
    if (get_float(p, "eps") != 1e-5) r += ", eps=" + py_float(get_float(p, "eps"));
    if (!get_bool(p, "elementwise_affine")) r += ", elementwise_affine=False";
    return r + ")";
  };
  return d;
}

LayerDef dropout_kind() {
  LayerDef d;
  d.name = "Dropout";
  d.category = LayerCategory::Normalization;
  d.summary = "Randomly zeroes values during training (regularisation).";
  d.description =
      "During training, Dropout sets each value to zero with probability p and multiplies the "
      "others by 1/(1-p), so the expected value is unchanged. The network cannot rely on any "
      "single unit and overfits less. In evaluation mode it does nothing. Typical p: 0.1 to "
      "0.5, before the last Linear layers.";
  d.params = {
      {.name = "p",
       .type = ParamType::Float,
       .default_value = 0.5,
       .min = 0.0,
       .max = 1.0,
       .description = "probability of zeroing each value"},
  };
  d.inputs = {input_port()};
  d.outputs = {output_port("same shape as the input")};
  d.infer = [](InferContext& c) {
    require_float(c);
    if (get_float(c.params, "p") >= 1.0)
      c.fail("params.p", "p is 1, which would drop every value; use p < 1");
    return one(c.in().shape, c.in().dtype);
  };
  d.build = [](const std::string& who, const json& p) -> LayerFn {
    double prob = get_float(p, "p");
    return [who, prob](LayerCall& c) {
      c.outputs[0] = dropout(c.inputs[0], prob, c.mode, *c.rng, who);
    };
  };
  d.torch.module = [](const json& p, const std::vector<Shape>&) {
    return "nn.Dropout(p=" + py_float(get_float(p, "p")) + ")";
  };
  return d;
}

}  // namespace

void register_normalization(LayerRegistry& r) {
  r.add(batch_norm_kind());
  r.add(layer_norm_kind());
  r.add(dropout_kind());
}

}  // namespace ng::layers
