// Kinds: Conv2d, MaxPool2d, AvgPool2d, GlobalAvgPool.
#include "engine/graph/layers/layers.h"
#include "engine/ops/conv.h"
#include "engine/ops/pool.h"

namespace ng::layers {

namespace {

std::string hw(int64_t h, int64_t w) {
  return std::to_string(h) + "x" + std::to_string(w);
}

// Requires [N, C, H, W].
void require_nchw(const InferContext& c) {
  require_float(c);
  const Shape& s = c.in().shape;
  if (s.size() != 4)
    c.fail("inputs.input", "expects input [N, C, H, W] (channels, height, width), got " +
                               shape_n(s) +
                               (s.size() == 2 ? "; add a Reshape to give it channels and "
                                                "a height and width"
                                              : ""));
}

// Output extent of a sliding window; fails when the window does not fit.
int64_t window_out(const InferContext& c, const Shape& s, std::array<int64_t, 2> k,
                   std::array<int64_t, 2> st, std::array<int64_t, 2> pad,
                   std::array<int64_t, 2> dil, int axis) {
  int64_t in = s[2 + axis], span = dil[axis] * (k[axis] - 1) + 1;
  int64_t padded = in + 2 * pad[axis];
  if (padded < span) {
    int64_t ph = s[2] + 2 * pad[0], pw = s[3] + 2 * pad[1];
    int64_t kh = dil[0] * (k[0] - 1) + 1, kw = dil[1] * (k[1] - 1) + 1;
    c.fail("inputs.input", "input is " + hw(s[2], s[3]) + " (" + hw(ph, pw) +
                               " with padding) but the kernel spans " + hw(kh, kw) +
                               "; the output would be empty");
  }
  return (padded - span) / st[axis] + 1;
}

LayerDef conv2d_kind() {
  LayerDef d;
  d.name = "Conv2d";
  d.absorbs_relu = true;  // NOTE [Fused ReLU]
  d.category = LayerCategory::Convolution;
  d.summary = "2-D convolution: slides learned filters over an image.";
  d.description =
      "A convolution slides out_channels small filters (kernel_size, e.g. 3x3) over the input "
      "image; at every position each filter takes a weighted sum of the pixels under it across "
      "all input channels. The same filter weights are used everywhere, so a filter learns to "
      "detect one pattern (an edge, a texture) wherever it appears. stride skips positions "
      "(stride 2 halves the height and width), padding adds a border of zeros (padding 1 with "
      "a 3x3 kernel keeps the size), dilation spreads the kernel out, groups splits the "
      "channels into independent groups. Output height = (H + 2*padding - dilation*(kernel-1) "
      "- 1) / stride + 1. in_channels is read from the input when left empty.";
  d.params = {
      {.name = "in_channels",
       .type = ParamType::Int,
       .presence = ParamPresence::Inferred,
       .min = 1,
       .description = "channels of the input; inferred from the input when empty"},
      {.name = "out_channels",
       .type = ParamType::Int,
       .presence = ParamPresence::Required,
       .min = 1,
       .description = "number of filters, i.e. channels of the output"},
      {.name = "kernel_size",
       .type = ParamType::IntPair,
       .default_value = {3, 3},
       .min = 1,
       .description = "filter height and width"},
      {.name = "stride",
       .type = ParamType::IntPair,
       .default_value = {1, 1},
       .min = 1,
       .description = "step between filter positions (2 halves the size)"},
      {.name = "padding",
       .type = ParamType::IntPair,
       .default_value = {0, 0},
       .min = 0,
       .description = "zeros added on each side of the input"},
      {.name = "dilation",
       .type = ParamType::IntPair,
       .default_value = {1, 1},
       .min = 1,
       .description = "spacing between the filter's taps"},
      {.name = "groups",
       .type = ParamType::Int,
       .default_value = 1,
       .min = 1,
       .description = "split channels into independent groups (in_channels for depthwise)"},
      {.name = "bias",
       .type = ParamType::Bool,
       .default_value = true,
       .description = "learn one additive bias per output channel"},
  };
  d.inputs = {input_port("[N, in_channels, H, W]")};
  d.outputs = {output_port("[N, out_channels, Ho, Wo]")};
  d.infer = [](InferContext& c) {
    require_nchw(c);
    const Shape& s = c.in().shape;
    c.infer_param("in_channels", s[1], "input has " + std::to_string(s[1]) + " channels");
    int64_t cin = get_int(c.params, "in_channels"), cout = get_int(c.params, "out_channels");
    int64_t g = get_int(c.params, "groups");
    if (cin % g)
      c.fail("params.groups", "in_channels " + std::to_string(cin) +
                                  " is not divisible by groups " + std::to_string(g));
    if (cout % g)
      c.fail("params.groups", "out_channels " + std::to_string(cout) +
                                  " is not divisible by groups " + std::to_string(g));
    auto k = get_pair(c.params, "kernel_size"), st = get_pair(c.params, "stride"),
         pad = get_pair(c.params, "padding"), dil = get_pair(c.params, "dilation");
    int64_t ho = window_out(c, s, k, st, pad, dil, 0), wo = window_out(c, s, k, st, pad, dil, 1);
    return one({-1, cout, ho, wo});
  };
  d.weights = [](const json& p) {
    int64_t cin = get_int(p, "in_channels"), cout = get_int(p, "out_channels");
    int64_t g = get_int(p, "groups");
    auto k = get_pair(p, "kernel_size");
    int64_t fan_in = cin / g * k[0] * k[1];
    std::vector<WeightDef> w{{"weight",
                              {cout, cin / g, k[0], k[1]},
                              WeightRole::Parameter,
                              WeightInit::torch_default(fan_in)}};
    if (get_bool(p, "bias"))
      w.push_back({"bias", {cout}, WeightRole::Parameter, WeightInit::torch_default(fan_in)});
    return w;
  };
  d.build = [](const std::string& who, const json& p) -> LayerFn {
    Conv2dParams cp;
    cp.stride = get_pair(p, "stride");
    cp.padding = get_pair(p, "padding");
    cp.dilation = get_pair(p, "dilation");
    cp.groups = get_int(p, "groups");
    bool bias = get_bool(p, "bias");
    return [who, cp, bias](LayerCall& c) {
      c.outputs[0] = conv2d(c.inputs[0], c.weights[0], bias ? c.weights[1] : Tensor(), cp, who,
                            c.fused_relu,            // NOTE [Fused ReLU]
                            c.relu_grad_by_reader);  // NOTE [ReLU gradient in the max pool]
    };
  };
  d.torch.module = [](const json& p, const std::vector<Shape>&) {
    std::string r = "nn.Conv2d(" + std::to_string(get_int(p, "in_channels")) + ", " +
                    std::to_string(get_int(p, "out_channels")) +
                    ", kernel_size=" + py_tuple(get_pair(p, "kernel_size")) +
                    ", stride=" + py_tuple(get_pair(p, "stride")) +
                    ", padding=" + py_tuple(get_pair(p, "padding"));
    auto dil = get_pair(p, "dilation");
    if (dil[0] != 1 || dil[1] != 1) r += ", dilation=" + py_tuple(dil);
    if (get_int(p, "groups") != 1) r += ", groups=" + std::to_string(get_int(p, "groups"));
    if (!get_bool(p, "bias")) r += ", bias=False";
    return r + ")";
  };
  return d;
}

enum class PoolKind { Max, Avg };

LayerDef pool_kind(PoolKind kind) {
  bool is_max = kind == PoolKind::Max;
  LayerDef d;
  d.name = is_max ? "MaxPool2d" : "AvgPool2d";
  d.category = LayerCategory::Pooling;
  d.summary = is_max ? "Keeps the largest value in each window (downsampling)."
                     : "Averages each window (downsampling).";
  d.description =
      std::string(is_max ? "Max pooling slides a window (kernel_size) over each channel and "
                           "keeps only the largest value in it. "
                         : "Average pooling slides a window (kernel_size) over each channel "
                           "and keeps the mean of its values (padded zeros count). ") +
      "With the usual 2x2 window and stride 2 it halves the height and width, so later layers "
      "see a coarser, cheaper map and small shifts of the input matter less. It has no "
      "weights and keeps the number of channels. stride defaults to the kernel size.";
  d.params = {
      {.name = "kernel_size",
       .type = ParamType::IntPair,
       .default_value = {2, 2},
       .min = 1,
       .description = "window height and width"},
      {.name = "stride",
       .type = ParamType::IntPair,
       .presence = ParamPresence::Inferred,
       .min = 1,
       .description = "step between windows; the kernel size when empty"},
      {.name = "padding",
       .type = ParamType::IntPair,
       .default_value = {0, 0},
       .min = 0,
       .description = "border added on each side (at most half the kernel)"},
  };
  d.inputs = {input_port("[N, C, H, W]")};
  d.outputs = {output_port("[N, C, Ho, Wo]")};
  d.infer = [](InferContext& c) {
    require_nchw(c);
    const Shape& s = c.in().shape;
    auto k = get_pair(c.params, "kernel_size"), pad = get_pair(c.params, "padding");
    if (!c.params.contains("stride")) c.params["stride"] = c.params["kernel_size"];
    auto st = get_pair(c.params, "stride");
    for (int a = 0; a < 2; ++a)
      if (2 * pad[a] > k[a])
        c.fail("params.padding",
               "padding " + py_tuple(pad) + " must be at most half the kernel size " + py_tuple(k));
    int64_t ho = window_out(c, s, k, st, pad, {1, 1}, 0);
    int64_t wo = window_out(c, s, k, st, pad, {1, 1}, 1);
    return one({-1, s[1], ho, wo});
  };
  d.build = [is_max](const std::string& who, const json& p) -> LayerFn {
    Pool2dParams pp;
    pp.kernel = get_pair(p, "kernel_size");
    pp.stride = get_pair(p, "stride");
    pp.padding = get_pair(p, "padding");
    if (is_max)
      return [who, pp](LayerCall& c) {
        Pool2dParams q = pp;
        q.masks_relu_grad = c.masks_relu_grad;  // NOTE [ReLU gradient in the max pool]
        c.outputs[0] = max_pool2d(c.inputs[0], q, who);
      };
    return [who, pp](LayerCall& c) { c.outputs[0] = avg_pool2d(c.inputs[0], pp, who); };
  };
  d.torch.module = [is_max](const json& p, const std::vector<Shape>&) {
    std::string r = std::string(is_max ? "nn.MaxPool2d" : "nn.AvgPool2d") +
                    "(kernel_size=" + py_tuple(get_pair(p, "kernel_size")) +
                    ", stride=" + py_tuple(get_pair(p, "stride"));
    auto pad = get_pair(p, "padding");
    if (pad[0] || pad[1]) r += ", padding=" + py_tuple(pad);
    return r + ")";
  };
  return d;
}

LayerDef global_avg_pool_kind() {
  LayerDef d;
  d.name = "GlobalAvgPool";
  d.category = LayerCategory::Pooling;
  d.summary = "Averages each channel over the whole image: [N, C, H, W] -> [N, C].";
  d.description =
      "Global average pooling replaces each channel's whole HxW map by its mean, giving one "
      "number per channel. Modern CNNs (ResNet) use it after the last convolution instead of "
      "flattening, so the classifier needs few weights and the network accepts any image "
      "size. The output is [N, C], ready for a Linear layer.";
  d.inputs = {input_port("[N, C, H, W]")};
  d.outputs = {output_port("[N, C]")};
  d.infer = [](InferContext& c) {
    require_nchw(c);
    return one({-1, c.in().shape[1]});
  };
  d.build = [](const std::string& who, const json&) -> LayerFn {
    return [who](LayerCall& c) { c.outputs[0] = global_avg_pool(c.inputs[0], who); };
  };
  d.torch.module = [](const json&, const std::vector<Shape>&) {
    return std::string("nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())");
  };
  return d;
}

}  // namespace

void register_convolution(LayerRegistry& r) {
  r.add(conv2d_kind());
  r.add(pool_kind(PoolKind::Max));
  r.add(pool_kind(PoolKind::Avg));
  r.add(global_avg_pool_kind());
}

}  // namespace ng::layers
