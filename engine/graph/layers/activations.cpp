// Kinds: ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax, LogSoftmax.
#include "engine/graph/layers/layers.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/softmax.h"

namespace ng::layers {

namespace {

// An elementwise activation without parameters.
LayerDef simple(std::string name, std::string summary, std::string description, UnaryOp op,
                std::string torch) {
  LayerDef d;
  d.name = std::move(name);
  d.category = LayerCategory::Activation;
  d.summary = std::move(summary);
  d.description = std::move(description);
  d.inputs = {input_port()};
  d.outputs = {output_port("same shape as the input")};
  d.infer = [](InferContext& c) {
    require_float(c);
    return one(c.in().shape, c.in().dtype);
  };
  d.build = [op](const std::string&, const json&) -> LayerFn {
    return [op](LayerCall& c) { c.outputs[0] = unary(op, c.inputs[0]); };
  };
  d.torch.module = [torch](const json&, const std::vector<Shape>&) { return torch; };
  return d;
}

LayerDef leaky_relu_kind() {
  LayerDef d = simple("LeakyReLU", "Like ReLU, but negative values keep a small slope.",
                      "LeakyReLU(x) = x for x > 0 and negative_slope * x otherwise. The small "
                      "slope for negative inputs keeps a gradient flowing where a plain ReLU "
                      "would output zero and stop learning (a 'dead' unit).",
                      UnaryOp::LeakyRelu, "");
  d.params = {
      {.name = "negative_slope",
       .type = ParamType::Float,
       .default_value = 0.01,
       .min = 0.0,
       .description = "slope for negative inputs"},
  };
  d.build = [](const std::string&, const json& p) -> LayerFn {
    double slope = get_float(p, "negative_slope");
    return [slope](LayerCall& c) { c.outputs[0] = leaky_relu(c.inputs[0], slope); };
  };
  d.torch.module = [](const json& p, const std::vector<Shape>&) {
    return "nn.LeakyReLU(negative_slope=" + py_float(get_float(p, "negative_slope")) + ")";
  };
  return d;
}

LayerDef softmax_kind(bool log) {
  LayerDef d;
  d.name = log ? "LogSoftmax" : "Softmax";
  d.category = LayerCategory::Activation;
  d.summary = log ? "Logarithm of the softmax, computed stably."
                  : "Turns scores into probabilities that sum to 1.";
  d.description =
      log ? "LogSoftmax(x)_i = x_i - log(sum_j exp(x_j)) along dimension dim: the log of the "
            "softmax probabilities, computed without overflow. Pair it with a negative "
            "log-likelihood. Do not put it before CrossEntropyLoss, which already includes it."
          : "Softmax(x)_i = exp(x_i) / sum_j exp(x_j) along dimension dim (1 = the classes of "
            "[N, classes]). Every output is in (0, 1) and they sum to 1, so they read as "
            "probabilities. Do not put it before CrossEntropyLoss: that loss expects raw "
            "scores (logits) and applies log-softmax itself.";
  d.params = {
      {.name = "dim",
       .type = ParamType::Int,
       .default_value = 1,
       .description = "dimension that sums to 1 (1: classes; negative counts from the end)"},
  };
  d.inputs = {input_port()};
  d.outputs = {output_port("same shape as the input")};
  d.infer = [](InferContext& c) {
    require_float(c);
    const Shape& s = c.in().shape;
    int64_t dim = get_int(c.params, "dim"), rank = int64_t(s.size());
    int64_t a = dim < 0 ? dim + rank : dim;
    if (a < 0 || a >= rank)
      c.fail("params.dim",
             "dim " + std::to_string(dim) + " is out of range for input " + shape_n(s));
    if (a == 0)
      c.fail("params.dim", "dim " + std::to_string(dim) +
                               " is the batch dimension; use 1 for the classes of [N, C]");
    return one(s, c.in().dtype);
  };
  d.build = [log](const std::string&, const json& p) -> LayerFn {
    int64_t dim = get_int(p, "dim");
    if (log) return [dim](LayerCall& c) { c.outputs[0] = log_softmax(c.inputs[0], dim); };
    return [dim](LayerCall& c) { c.outputs[0] = softmax(c.inputs[0], dim); };
  };
  d.torch.module = [log](const json& p, const std::vector<Shape>&) {
    return std::string(log ? "nn.LogSoftmax" : "nn.Softmax") +
           "(dim=" + std::to_string(get_int(p, "dim")) + ")";
  };
  return d;
}

}  // namespace

void register_activations(LayerRegistry& r) {
  r.add(simple("ReLU", "max(0, x): the default non-linearity.",
               "ReLU(x) = max(0, x). It passes positive values unchanged and zeroes negative "
               "ones. Without a non-linearity between them, stacked Linear or Conv2d layers "
               "would collapse into a single linear map; ReLU is the cheap, standard choice.",
               UnaryOp::Relu, "nn.ReLU()"));
  r.add(leaky_relu_kind());
  r.add(simple("Sigmoid", "Squashes values into (0, 1).",
               "Sigmoid(x) = 1 / (1 + exp(-x)) maps any number into (0, 1), so it can read as a "
               "probability of a yes/no answer. Its gradient vanishes for large |x|, which makes "
               "deep stacks of it slow to train; prefer ReLU inside the network. For a binary "
               "classifier use BCEWithLogitsLoss on the raw score instead of Sigmoid + loss.",
               UnaryOp::Sigmoid, "nn.Sigmoid()"));
  r.add(simple("Tanh", "Squashes values into (-1, 1).",
               "Tanh(x) = (exp(x) - exp(-x)) / (exp(x) + exp(-x)) maps any number into (-1, 1), "
               "centred on 0, which makes it a better hidden activation than Sigmoid. Classic "
               "in recurrent networks; like Sigmoid, its gradient vanishes for large |x|.",
               UnaryOp::Tanh, "nn.Tanh()"));
  r.add(simple("GELU", "Smooth ReLU used by transformers.",
               "GELU(x) = x * Phi(x), where Phi is the standard normal CDF: a smooth version of "
               "ReLU that lets small negative values through. The default activation of BERT "
               "and GPT-style transformers.",
               UnaryOp::Gelu, "nn.GELU()"));
  r.add(softmax_kind(false));
  r.add(softmax_kind(true));
}

}  // namespace ng::layers
