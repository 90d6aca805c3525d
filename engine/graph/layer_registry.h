// The layer registry: THE one place a layer kind is defined (NOTE [One list of layers]).
// Each LayerDef carries everything the rest of the program needs to know about a kind: name,
// category, a summary and a description for learners, typed parameters with defaults and
// ranges, input/output ports, shape inference, weight shapes and their initialisation, the
// builder of the executable layer, and the PyTorch mapping exporters use. The palette, the
// inspector, validation, Model::compile, the CLI's `inspect` and every exporter read it;
// nothing else keeps a list of layers.
//
//   const LayerDef& conv = LayerRegistry::instance().at("Conv2d", "c1");
//   nlohmann::json p = conv.resolve_params("c1", {{"out_channels", 6}, {"kernel_size", 5}});
//   auto out = conv.infer_shapes("c1", p, {{{{-1, 1, 28, 28}}}});   // -> [-1, 6, 24, 24]
//   p["in_channels"] == 1;                                         // inferred from the input
//   conv.torch_module(p, {{-1, 1, 28, 28}});
//     // "nn.Conv2d(1, 6, kernel_size=(5, 5), stride=(1, 1), padding=(0, 0))"
//
// Shapes seen by shape inference carry the batch dimension as -1: [-1, 1, 28, 28].
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/core/rng.h"
#include "engine/core/tensor.h"
#include "engine/graph/diagnostic.h"
#include "engine/ops/norm.h"  // ng::Mode

namespace ng {

enum class LayerCategory {
  Input,
  Linear,
  Convolution,
  Pooling,
  Normalization,
  Activation,
  Structure,
  Loss
};
const char* category_name(LayerCategory c);

enum class ParamType { Int, Float, Bool, Enum, IntPair, IntList, String };
// "int", "float", "bool", "enum", "int-pair", "int-list", "string"
const char* param_type_name(ParamType t);

// How a parameter gets its value when the node does not set it.
enum class ParamPresence {
  Default,   // takes ParamDef::default_value
  Required,  // the user must set it
  Inferred,  // shape inference derives it from the incoming shape (in_features, in_channels,
             // a pooling stride equal to the kernel); when set, it must agree
};

struct ParamDef {
  std::string name;
  ParamType type = ParamType::Int;
  ParamPresence presence = ParamPresence::Default;
  nlohmann::json default_value;      // for Default: int, float, bool, string or [a, b] / [..]
  std::optional<double> min, max;    // inclusive; for int-pair and int-list, each element
  std::vector<std::string> choices;  // for Enum
  std::string description;           // one sentence for the inspector's tooltip
};

struct PortDef {
  std::string name;
  std::string description;
  bool variadic = false;  // accepts several edges, in edge-list order (Add, Concat)
  bool optional = false;  // may stay unconnected (a loss's "target": then the batch's labels)
};

// What flows along an edge at shape-inference time: the shape with the batch as -1 and dtype.
struct TensorType {
  Shape shape;
  DType dtype = DType::Float32;
  bool operator==(const TensorType&) const = default;
};
// "[N, 1, 28, 28]" (the batch shown as N) and " int64" appended for non-float32 dtypes.
std::string type_str(const TensorType& t);

// Handed to a kind's shape inference.
struct InferContext {
  std::string node_id;
  std::string who;                              // "Linear 'fc1'", for messages
  nlohmann::json& params;                       // checked, defaults filled; set Inferred here
  std::vector<std::vector<TensorType>> inputs;  // per input port, the incoming values in order

  bool connected(size_t port) const { return port < inputs.size() && !inputs[port].empty(); }
  const TensorType& in(size_t port = 0, size_t k = 0) const { return inputs.at(port).at(k); }
  // Throws NodeShapeError(node_id, field, who + ": " + message).
  [[noreturn]] void fail(const std::string& field, const std::string& message) const;
  // An Inferred param: stores `value` when absent; when the user set it and it differs, fails
  // on "params.<name>" with "<who>: <observed>, <name> is <set>", e.g.
  //   infer_param("in_features", 400, "input has 400 features")
  //   -> "Linear 'fc1': input has 400 features, in_features is 256"
  void infer_param(const std::string& name, const nlohmann::json& value,
                   const std::string& observed);
};

// Trainable parameters get gradients; buffers (running statistics) do not.
enum class WeightRole { Parameter, Buffer };

struct WeightInit {
  enum class Kind { Zeros, Ones, Uniform, Normal } kind = Kind::Zeros;
  double a = 0, b = 0;  // Uniform: [a, b); Normal: mean a, standard deviation b
  static WeightInit zeros() { return {Kind::Zeros}; }
  static WeightInit ones() { return {Kind::Ones}; }
  static WeightInit uniform(double lo, double hi) { return {Kind::Uniform, lo, hi}; }
  static WeightInit normal(double mean, double std) { return {Kind::Normal, mean, std}; }
  // PyTorch's default for Linear/Conv weight and bias: kaiming_uniform(a = sqrt(5)) is
  // U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  static WeightInit torch_default(int64_t fan_in);
};

// One weight tensor of a layer; `name` is PyTorch's (weight, bias, running_mean, ...).
struct WeightDef {
  std::string name;
  Shape shape;
  WeightRole role = WeightRole::Parameter;
  WeightInit init;
};

// One call of an executable layer. `inputs` holds the input ports in order, a variadic port
// contributing each of its edges in order; an unconnected optional port is an undefined Tensor
// (the Model passes the batch's labels for a loss's "target"). `weights` are this node's
// WeightDefs in declared order; the layer writes one Tensor per output port into `outputs`.
struct LayerCall {
  std::span<const Tensor> inputs;
  std::span<Tensor> weights;
  std::span<Tensor> outputs;
  Mode mode = Mode::Train;
  Rng* rng = nullptr;  // the model's generator (dropout)
  // Set by Model for a BatchNorm, Add, Linear or Conv2d whose only reader is a ReLU (NOTE
  // [Fused ReLU]): the layer returns ReLU(its output), and the ReLU step is skipped.
  bool fused_relu = false;
  // NOTE [ReLU gradient in the max pool] (ops/pool.h), set by Model in pairs: on a Conv2d with
  // fused_relu whose ReLU's one reader is a MaxPool2d (relu_grad_by_reader: its backward leaves
  // the ReLU's derivative to that pool), and on that MaxPool2d (masks_relu_grad).
  bool relu_grad_by_reader = false;
  bool masks_relu_grad = false;
  // Set by Model on a BatchNorm whose one reader is an Add that absorbs a ReLU (NOTE [Batch norm
  // into the add] in ops/cuda/norm.cu): the layer returns relu(its output + *add_relu_skip), the
  // Add's other input, and the Add and ReLU steps are skipped.
  const Tensor* add_relu_skip = nullptr;
};
using LayerFn = std::function<void(LayerCall&)>;

// PyTorch mapping for exporters. `module` gives the constructor expression of the torch.nn
// module ("nn.Linear(784, 256)"), or is empty for kinds without a module (Input, Add, Concat,
// Reshape). `call` gives the forward expression from the module attribute ("self.fc1") and the
// input expressions; when empty, the call is "<module>(<in0>, <in1>, ...)".
struct TorchMapping {
  std::function<std::string(const nlohmann::json& params, const std::vector<Shape>& in_shapes)>
      module;
  std::function<std::string(const nlohmann::json& params, const std::string& module_ref,
                            const std::vector<std::string>& inputs)>
      call;
};

struct LayerDef {
  std::string name;  // "Conv2d"
  LayerCategory category = LayerCategory::Structure;
  std::string summary;      // one line for the palette
  std::string description;  // a paragraph for learners (what it computes, when to use it)
  std::vector<ParamDef> params;
  std::vector<PortDef> inputs, outputs;

  // Output types per output port from the input types; reads and may complete ctx.params.
  std::function<std::vector<TensorType>(InferContext&)> infer;
  // The weights for resolved params (empty function: none).
  std::function<std::vector<WeightDef>(const nlohmann::json& params)> weights;
  // The executable layer for resolved params; `who` names the node in op errors.
  std::function<LayerFn(const std::string& who, const nlohmann::json& params)> build;
  TorchMapping torch;
  // Kinds that should not feed this kind's first input, with the advice validation shows as a
  // warning: {"Softmax", "the loss expects raw scores (logits) ...; remove the Softmax"}.
  std::vector<std::pair<std::string, std::string>> discouraged_inputs;
  // Its layer honours LayerCall::fused_relu (NOTE [Fused ReLU] in engine/nn/model.h): a Model
  // lets it compute the ReLU that alone reads its output.
  bool absorbs_relu = false;

  bool is_loss() const { return category == LayerCategory::Loss; }
  std::string who(std::string_view node_id) const;  // "Linear 'fc1'"
  const ParamDef* find_param(std::string_view n) const;
  int input_index(std::string_view port) const;   // -1 when absent
  int output_index(std::string_view port) const;  // -1 when absent

  // Checks `given` (a node's params) against this definition and returns them with defaults
  // filled in and values canonicalised (an int-pair given as 5 becomes [5, 5]); Inferred params
  // the user left out stay absent until infer_shapes sets them. Every problem (unknown
  // parameter, wrong type, missing required, out of range, bad enum) is appended to `issues`
  // as an Error on "params.<name>".
  nlohmann::json check_params(const std::string& node_id, const nlohmann::json& given,
                              std::vector<Diagnostic>& issues) const;
  // The same, throwing NodeValueError (an ng::ValueError) with the first problem.
  nlohmann::json resolve_params(const std::string& node_id, const nlohmann::json& given) const;

  // Runs shape inference: `params` from check_params (completed in place), inputs per port.
  // Checks the ports' connection counts first; throws NodeShapeError naming the node.
  std::vector<TensorType> infer_shapes(const std::string& node_id, nlohmann::json& params,
                                       std::vector<std::vector<TensorType>> inputs) const;
  std::vector<WeightDef> weight_defs(const nlohmann::json& params) const;
  // Sum of the sizes of the trainable parameters.
  int64_t parameter_count(const nlohmann::json& params) const;

  // Exporter helpers (defaults applied): constructor expression ("" when none) and call.
  std::string torch_module(const nlohmann::json& params,
                           const std::vector<Shape>& in_shapes = {}) const;
  std::string torch_call(const nlohmann::json& params, const std::string& module_ref,
                         const std::vector<std::string>& inputs) const;
};

class LayerRegistry {
 public:
  // Every built-in kind, registered on first use (explicit calls, no static initialisers).
  static const LayerRegistry& instance();

  // nullptr when unknown.
  const LayerDef* find(std::string_view type) const;
  // Throws ng::Error "unknown layer type 'Conv3d' (node 'c1'); known types: Input, ...".
  const LayerDef& at(std::string_view type, std::string_view node_id = {}) const;
  // All kinds in palette order (by category, then as registered).
  const std::vector<LayerDef>& kinds() const { return kinds_; }
  std::vector<std::string> names() const;

  // Used by the kind definitions (engine/graph/layers/*.cpp) while the registry is built.
  void add(LayerDef def);

 private:
  LayerRegistry();
  std::vector<LayerDef> kinds_;
};

}  // namespace ng
