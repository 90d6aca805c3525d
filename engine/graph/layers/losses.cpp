// Kinds: CrossEntropyLoss, MSELoss, BCEWithLogitsLoss. A loss has the ports "input" (the
// prediction) and "target"; an unconnected target is the batch's labels from the dataset.
#include "engine/graph/layers/layers.h"
#include "engine/ops/softmax.h"

namespace ng::layers {

namespace {

enum class LossKind { CrossEntropy, MSE, BCE };

LayerDef loss_kind(LossKind kind) {
  LayerDef d;
  d.category = LayerCategory::Loss;
  switch (kind) {
    case LossKind::CrossEntropy:
      d.name = "CrossEntropyLoss";
      d.summary = "Classification loss on raw class scores (logits).";
      d.description =
          "Cross-entropy measures how much probability the network gives to the right class: "
          "it applies log-softmax to the scores [N, classes] and averages -log p(correct class) "
          "over the batch. The input must be the raw scores of the last Linear layer (no "
          "Softmax before it; the loss includes it). The target is one class id per example "
          "(int64), from the dataset's labels when the port is left unconnected. "
          "label_smoothing moves a little of the target probability to the other classes, "
          "which can reduce over-confidence.";
      d.params = {
          {.name = "label_smoothing",
           .type = ParamType::Float,
           .default_value = 0.0,
           .min = 0.0,
           .max = 1.0,
           .description = "share of the target spread uniformly over all classes"},
      };
      break;
    case LossKind::MSE:
      d.name = "MSELoss";
      d.summary = "Regression loss: mean squared difference to the target.";
      d.description =
          "Mean squared error: the average of (prediction - target)^2 over all values. The "
          "standard loss for predicting numbers (regression). The target has the "
          "prediction's shape; it is the dataset's labels when the port is left unconnected.";
      break;
    case LossKind::BCE:
      d.name = "BCEWithLogitsLoss";
      d.summary = "Yes/no (binary or multi-label) loss on raw scores.";
      d.description =
          "Binary cross-entropy on raw scores: each value is a separate yes/no question whose "
          "probability is sigmoid(score); the loss averages -[t log p + (1 - t) log(1 - p)]. "
          "Use it for binary and multi-label classification with targets in [0, 1] of the "
          "prediction's shape. It includes the Sigmoid (in a numerically stable way), so do "
          "not put one before it.";
      break;
  }
  d.inputs = {
      {"input",
       kind == LossKind::CrossEntropy ? "class scores (logits) [N, classes]" : "the prediction"},
      {"target",
       kind == LossKind::CrossEntropy
           ? "class ids, int64 [N]; the batch's labels when unconnected"
           : "values of the prediction's shape; the batch's labels when unconnected",
       /*variadic=*/false, /*optional=*/true},
  };
  d.outputs = {{"loss", "the mean loss over the batch (a scalar)"}};
  if (kind == LossKind::CrossEntropy)
    for (const char* k : {"Softmax", "LogSoftmax"})
      d.discouraged_inputs.push_back(
          {k, std::string("the loss expects raw scores (logits) and applies log-softmax itself; "
                          "remove the ") +
                  k});
  if (kind == LossKind::BCE)
    d.discouraged_inputs.push_back(
        {"Sigmoid",
         "the loss expects raw scores (logits) and applies the sigmoid itself; "
         "remove the Sigmoid"});
  d.infer = [kind](InferContext& c) {
    require_float(c);
    const TensorType& x = c.in(0);
    if (kind == LossKind::CrossEntropy) {
      if (x.shape.size() != 2)
        c.fail("inputs.input", "expects class scores [N, classes], got " + shape_n(x.shape) +
                                   (x.shape.size() > 2 ? "; add a Flatten and a Linear layer "
                                                         "with out_features = classes"
                                                       : ""));
      if (c.connected(1)) {
        const TensorType& t = c.in(1);
        if (t.dtype != DType::Int64 || t.shape.size() != 1)
          c.fail("inputs.target", "target must be int64 class ids [N], got " + type_str(t));
      }
    } else if (c.connected(1)) {
      const TensorType& t = c.in(1);
      if (t.shape != x.shape || !is_floating(t.dtype))
        c.fail("inputs.target",
               "target " + type_str(t) + " must match the prediction " + type_str(x));
    }
    return one({}, x.dtype);
  };
  d.build = [kind](const std::string& who, const json& p) -> LayerFn {
    double smoothing = kind == LossKind::CrossEntropy ? get_float(p, "label_smoothing") : 0.0;
    return [kind, who, smoothing](LayerCall& c) {
      const Tensor& x = c.inputs[0];
      const Tensor& t = c.inputs[1];
      NG_CHECK(t.defined(), who, ": no target; connect the 'target' port or give labels");
      switch (kind) {
        case LossKind::CrossEntropy:
          c.outputs[0] = cross_entropy(x, t, smoothing, who);
          break;
        case LossKind::MSE:
          c.outputs[0] = mse_loss(x, t, who);
          break;
        case LossKind::BCE:
          c.outputs[0] = bce_with_logits(x, t, who);
          break;
      }
    };
  };
  d.torch.module = [kind](const json& p, const std::vector<Shape>&) -> std::string {
    switch (kind) {
      case LossKind::CrossEntropy: {
        double s = get_float(p, "label_smoothing");
        return s == 0.0 ? "nn.CrossEntropyLoss()"
                        : "nn.CrossEntropyLoss(label_smoothing=" + py_float(s) + ")";
      }
      case LossKind::MSE:
        return "nn.MSELoss()";
      case LossKind::BCE:
        return "nn.BCEWithLogitsLoss()";
    }
    return "";
  };
  return d;
}

}  // namespace

void register_losses(LayerRegistry& r) {
  r.add(loss_kind(LossKind::CrossEntropy));
  r.add(loss_kind(LossKind::MSE));
  r.add(loss_kind(LossKind::BCE));
}

}  // namespace ng::layers
