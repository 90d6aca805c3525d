// Kinds: Flatten, Reshape, Add, Concat.
#include "engine/graph/layers/layers.h"
#include "engine/ops/elementwise.h"
#include "engine/ops/shape_ops.h"

namespace ng::layers {

namespace {

std::string join(const std::vector<std::string>& xs, const std::string& sep) {
  std::string r;
  for (size_t i = 0; i < xs.size(); ++i) r += (i ? sep : "") + xs[i];
  return r;
}

LayerDef flatten_kind() {
  LayerDef d;
  d.name = "Flatten";
  d.category = LayerCategory::Structure;
  d.summary = "Flattens each example into a vector: [N, C, H, W] -> [N, C*H*W].";
  d.description =
      "Flatten joins the dimensions start_dim..end_dim into one, keeping the batch. Its usual "
      "job is to turn the [N, C, H, W] maps of a convolutional network into the [N, features] "
      "vectors a Linear layer expects: [N, 16, 5, 5] becomes [N, 400]. No weights, and the "
      "values are not changed or copied.";
  d.params = {
      {.name = "start_dim",
       .type = ParamType::Int,
       .default_value = 1,
       .min = 1,
       .description = "first dimension to flatten (1: the first after the batch)"},
      {.name = "end_dim",
       .type = ParamType::Int,
       .default_value = -1,
       .description = "last dimension to flatten (-1: the last one)"},
  };
  d.inputs = {input_port()};
  d.outputs = {output_port("[N, product of the flattened dims, ...]")};
  d.infer = [](InferContext& c) {
    const Shape& s = c.in().shape;
    int64_t rank = int64_t(s.size()), start = get_int(c.params, "start_dim");
    int64_t end0 = get_int(c.params, "end_dim"), end = end0 < 0 ? end0 + rank : end0;
    if (start >= rank)
      c.fail("params.start_dim",
             "start_dim " + std::to_string(start) + " is out of range for input " + shape_n(s));
    if (end < 1 || end >= rank)
      c.fail("params.end_dim",
             "end_dim " + std::to_string(end0) + " is out of range for input " + shape_n(s));
    if (end < start)
      c.fail("params.end_dim", "end_dim " + std::to_string(end0) + " comes before start_dim " +
                                   std::to_string(start));
    Shape out(s.begin(), s.begin() + start);
    int64_t m = 1;
    for (int64_t i = start; i <= end; ++i) m *= s[i];
    out.push_back(m);
    out.insert(out.end(), s.begin() + end + 1, s.end());
    return one(out, c.in().dtype);
  };
  d.build = [](const std::string&, const json& p) -> LayerFn {
    int64_t start = get_int(p, "start_dim"), end = get_int(p, "end_dim");
    return [start, end](LayerCall& c) { c.outputs[0] = c.inputs[0].flatten(start, end); };
  };
  d.torch.module = [](const json& p, const std::vector<Shape>&) {
    int64_t start = get_int(p, "start_dim"), end = get_int(p, "end_dim");
    if (start == 1 && end == -1) return std::string("nn.Flatten()");
    return "nn.Flatten(start_dim=" + std::to_string(start) + ", end_dim=" + std::to_string(end) +
           ")";
  };
  return d;
}

LayerDef reshape_kind() {
  LayerDef d;
  d.name = "Reshape";
  d.category = LayerCategory::Structure;
  d.summary = "Gives each example a new shape with the same number of values.";
  d.description =
      "Reshape rearranges the values of each example into `shape` (without the batch), e.g. "
      "[784] into [1, 28, 28] so that a flat vector can enter a Conv2d. The number of values "
      "must stay the same; one entry may be -1 to mean 'whatever is left'.";
  d.params = {
      {.name = "shape",
       .type = ParamType::IntList,
       .presence = ParamPresence::Required,
       .min = -1,
       .description = "new shape of one example, e.g. [1, 28, 28]; one entry may be -1"},
  };
  d.inputs = {input_port()};
  d.outputs = {output_port("[N, ...shape]")};
  d.infer = [](InferContext& c) {
    const Shape& s = c.in().shape;
    std::vector<int64_t> target = get_list(c.params, "shape");
    int64_t have = 1, known = 1;
    for (size_t i = 1; i < s.size(); ++i) have *= s[i];
    int free = -1;
    for (size_t i = 0; i < target.size(); ++i) {
      if (target[i] == -1) {
        if (free >= 0)
          c.fail("params.shape", "shape " + shape_str(target) + " has more than one -1");
        free = int(i);
      } else if (target[i] == 0) {
        c.fail("params.shape", "shape " + shape_str(target) + " has a zero dimension");
      } else {
        known *= target[i];
      }
    }
    Shape out{-1};
    out.insert(out.end(), target.begin(), target.end());
    if (free >= 0) {
      if (have % known)
        c.fail("params.shape", "cannot reshape " + shape_n(s) + " (" + std::to_string(have) +
                                   " values per example) into " + shape_n(out) + ": " +
                                   std::to_string(have) + " is not divisible by " +
                                   std::to_string(known));
      out[size_t(free) + 1] = have / known;
    } else if (known != have) {
      c.fail("params.shape", "cannot reshape " + shape_n(s) + " (" + std::to_string(have) +
                                 " values per example) into " + shape_n(out) + " (" +
                                 std::to_string(known) + " values)");
    }
    return one(out, c.in().dtype);
  };
  d.build = [](const std::string&, const json& p) -> LayerFn {
    std::vector<int64_t> target = get_list(p, "shape");
    return [target](LayerCall& c) {
      Shape s{c.inputs[0].size(0)};
      s.insert(s.end(), target.begin(), target.end());
      c.outputs[0] = c.inputs[0].reshape(std::move(s));
    };
  };
  d.torch.call = [](const json& p, const std::string&, const std::vector<std::string>& in) {
    std::string r = in.at(0) + ".reshape(" + in.at(0) + ".shape[0]";
    for (int64_t v : get_list(p, "shape")) r += ", " + std::to_string(v);
    return r + ")";
  };
  return d;
}

// Inputs of a variadic merge: at least two.
void require_two(const InferContext& c) {
  if (c.inputs[0].size() < 2)
    c.fail("inputs.input", "needs at least 2 inputs, got " + std::to_string(c.inputs[0].size()));
}

LayerDef add_kind() {
  LayerDef d;
  d.name = "Add";
  d.absorbs_relu = true;  // NOTE [Fused ReLU]
  d.category = LayerCategory::Structure;
  d.summary = "Sums its inputs elementwise (residual connections).";
  d.description =
      "Add sums two or more tensors of the same shape, value by value. Its main use is the "
      "residual (skip) connection of a ResNet: a block's output is added to its input, so the "
      "block only has to learn a correction and gradients reach early layers directly. When "
      "the shapes differ (a block that changes channels or halves the size), put a 1x1 Conv2d "
      "with the same stride on the shortcut.";
  d.inputs = {{"input", "two or more tensors of the same shape", /*variadic=*/true}};
  d.outputs = {output_port("same shape as the inputs")};
  d.infer = [](InferContext& c) {
    require_two(c);
    require_float(c);
    const TensorType& a = c.in(0, 0);
    for (size_t k = 1; k < c.inputs[0].size(); ++k)
      if (c.in(0, k).shape != a.shape)
        c.fail("inputs.input",
               "input " + std::to_string(k + 1) + " has shape " + shape_n(c.in(0, k).shape) +
                   " but input 1 has " + shape_n(a.shape) +
                   "; a sum needs equal shapes (on a residual shortcut, match them with a 1x1 "
                   "Conv2d)");
    return one(a.shape, a.dtype);
  };
  d.build = [](const std::string&, const json&) -> LayerFn {
    return [](LayerCall& c) {
      const size_t n = c.inputs.size();
      // NOTE [Fused ReLU]: the last sum takes the ReLU that follows the node.
      auto sum2 = [&](const Tensor& a, const Tensor& b, bool last) {
        return last && c.fused_relu ? add_relu(a, b) : add(a, b);
      };
      Tensor y = sum2(c.inputs[0], c.inputs[1], n == 2);
      for (size_t k = 2; k < n; ++k) y = sum2(y, c.inputs[k], k + 1 == n);
      c.outputs[0] = y;
    };
  };
  d.torch.call = [](const json&, const std::string&, const std::vector<std::string>& in) {
    return join(in, " + ");
  };
  return d;
}

LayerDef concat_kind() {
  LayerDef d;
  d.name = "Concat";
  d.category = LayerCategory::Structure;
  d.summary = "Joins its inputs along a dimension (channels by default).";
  d.description =
      "Concat stacks two or more tensors along dimension dim, in the order of their edges: "
      "[N, 16, H, W] and [N, 32, H, W] joined on dim 1 (channels) give [N, 48, H, W]. All "
      "other dimensions must match. Used to merge parallel branches (Inception, DenseNet, "
      "U-Net skip connections).";
  d.params = {
      {.name = "dim",
       .type = ParamType::Int,
       .default_value = 1,
       .description = "dimension to join along (1: channels or features)"},
  };
  d.inputs = {{"input", "two or more tensors, joined in edge order", /*variadic=*/true}};
  d.outputs = {output_port("the joined tensor")};
  d.infer = [](InferContext& c) {
    require_two(c);
    const TensorType& a = c.in(0, 0);
    int64_t rank = int64_t(a.shape.size()), dim = get_int(c.params, "dim");
    int64_t ax = dim < 0 ? dim + rank : dim;
    if (ax < 0 || ax >= rank)
      c.fail("params.dim",
             "dim " + std::to_string(dim) + " is out of range for input " + shape_n(a.shape));
    if (ax == 0)
      c.fail("params.dim", "dim 0 is the batch dimension; use 1 to join channels or features");
    Shape out = a.shape;
    for (size_t k = 1; k < c.inputs[0].size(); ++k) {
      const TensorType& b = c.in(0, k);
      bool ok = b.shape.size() == a.shape.size() && b.dtype == a.dtype;
      for (int64_t i = 0; ok && i < rank; ++i) ok = i == ax || b.shape[i] == a.shape[i];
      if (!ok)
        c.fail("inputs.input", "input " + std::to_string(k + 1) + " has shape " + type_str(b) +
                                   " but input 1 has " + type_str(a) +
                                   "; all dimensions except dim " + std::to_string(dim) +
                                   " must match");
      out[ax] += b.shape[ax];
    }
    return one(out, a.dtype);
  };
  d.build = [](const std::string& who, const json& p) -> LayerFn {
    int64_t dim = get_int(p, "dim");
    return [who, dim](LayerCall& c) {
      c.outputs[0] = concat(std::vector<Tensor>(c.inputs.begin(), c.inputs.end()), dim, who);
    };
  };
  d.torch.call = [](const json& p, const std::string&, const std::vector<std::string>& in) {
    return "torch.cat([" + join(in, ", ") + "], dim=" + std::to_string(get_int(p, "dim")) + ")";
  };
  return d;
}

}  // namespace

void register_structure(LayerRegistry& r) {
  r.add(flatten_kind());
  r.add(reshape_kind());
  r.add(add_kind());
  r.add(concat_kind());
}

}  // namespace ng::layers
