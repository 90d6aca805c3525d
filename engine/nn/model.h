// Model: the executable network built from a GraphSpec. compile() validates the graph (all
// problems at once), orders the nodes topologically (branches and merges allowed), creates and
// initialises the weights from a seed, and builds each node's layer from the LayerRegistry.
// forward() then runs the precomputed plan: no JSON, no lookups by string, no bookkeeping
// allocation beyond the tensors themselves.
//
//   Model m = Model::compile(GraphSpec::from_json(j), /*seed=*/42);
//   Model::Result r = m.forward({x}, labels);   // x: [N, 1, 28, 28] for the Input node
//   r.loss.backward();                          // gradients in m.parameters()[i].second.grad()
//   r.outputs[m.node_index("conv1")];           // any node's activations, for the GUI
//   m.set_mode(Mode::Eval);                     // BatchNorm running stats, no dropout
//
// Parameter names are "<node id>/<param>" ("fc1/weight", "bn1/running_mean"), PyTorch's names
// after the slash, in topological order of the nodes (ties in GraphSpec order). A graph with
// blocks runs flattened (NOTE [Blocks]): its nodes are the copies ("body.2/fc/weight"), and
// analysis(), outputs and node_index() speak of them; spec() is the graph as given.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/core/rng.h"
#include "engine/core/tensor.h"
#include "engine/graph/graph_spec.h"
#include "engine/graph/layer_registry.h"
#include "engine/graph/validate.h"
#include "engine/ops/norm.h"  // Mode

namespace ng {

class Model {
 public:
  // Throws ng::Error listing every error diagnostic when the graph is invalid. The same seed
  // gives the same initial weights; each weight draws from its own stream keyed by its
  // qualified name, so editing one node does not change the others' initial weights.
  // `options.require_loss = false` compiles an inference-only graph.
  static Model compile(const GraphSpec& spec, uint64_t seed = 0,
                       const ValidateOptions& options = {});

  Model(Model&&) noexcept;
  Model& operator=(Model&&) noexcept;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model();

  struct Result {
    Tensor loss;        // scalar; undefined when no labels were given and the target is free
    Tensor prediction;  // what enters the loss's "input" port (the logits), when computed
    // Per node in GraphSpec order, the output of its first output port (undefined for a node
    // that could not run, e.g. the loss without labels).
    std::vector<Tensor> outputs;
  };

  // `inputs` follow input_ids() (the Input nodes in GraphSpec order); labels are the batch's
  // labels, used by the loss when its "target" port is unconnected. Inputs and labels are moved
  // to the model's device. Records autograd unless a NoGradGuard is alive.
  Result forward(const std::vector<Tensor>& inputs, const Tensor& labels = Tensor());
  // The same, reusing `result`'s storage from the previous step.
  void forward(const std::vector<Tensor>& inputs, const Tensor& labels, Result& result);
  // Inputs by Input node id; throws ng::Error for a missing or unknown id. (A separate name:
  // a braced list {x, t} would otherwise also match std::map's iterator-pair constructor.)
  Result forward_by_id(const std::map<std::string, Tensor, std::less<>>& inputs,
                       const Tensor& labels = Tensor());

  // Trainable weights and buffers (running statistics), as ("node/param", tensor).
  const std::vector<std::pair<std::string, Tensor>>& parameters() const { return params_; }
  const std::vector<std::pair<std::string, Tensor>>& buffers() const { return buffers_; }
  int64_t parameter_count() const;
  void zero_grad();

  void set_mode(Mode m) { mode_ = m; }
  Mode mode() const { return mode_; }
  // NOTE [Released activations]: by default forward() keeps every node's output until it
  // returns them in Result::outputs, so at the end of the forward pass the outputs that backward
  // does not need (a BatchNorm's output once the ReLU after it has run, an Add's output) are
  // alive beside the ones it does: for ResNet-20 that is 1.6x the memory (85 MB vs 53 MB at
  // batch 32 on the CPU). With keep_outputs off, a node's output is dropped as soon as the last
  // step that reads it has run (autograd keeps what backward needs), and Result::outputs comes
  // back empty; loss and prediction are still returned. For training loops that do not show
  // per-node activations.
  void set_keep_outputs(bool keep) { keep_outputs_ = keep; }
  bool keep_outputs() const { return keep_outputs_; }
  // NOTE [Fused ReLU]: a BatchNorm, Add, Linear or Conv2d whose output only a ReLU reads
  // computes the ReLU itself (batch norm: the ReLU op after it, or fused kernels as
  // set_batch_norm_relu_kernels says; Add: one kernel each way; Linear: cuBLASLt's RELU_BIAS
  // epilogue; Conv2d with a bias: cuDNN's ConvolutionBiasActivationForward) and the ReLU step is
  // skipped. That node's own output is then never materialised, so fusion applies only while
  // keep_outputs is off (nothing shows per-node activations). On by default; NG_FUSE_RELU=0 at
  // compile() turns it off. A Conv2d's fused ReLU read by one MaxPool2d alone leaves its derivative
  // to that pool (NOTE [ReLU gradient in the max pool] in ops/pool.h; NG_POOL_RELU_GRAD=0 at
  // compile() keeps it in the convolution).
  void set_fuse_relu(bool fuse) { fuse_relu_ = fuse; }
  bool fuse_relu() const { return fuse_relu_; }
  // Steps that absorb a ReLU when fusion applies (for tests and the benchmark).
  int fused_relu_count() const;
  // Conv2d -> ReLU -> MaxPool2d chains whose pool applies the ReLU's derivative (NOTE [ReLU
  // gradient in the max pool] in ops/pool.h), while ReLUs are fused.
  int relu_grads_in_pools() const;
  // NOTE [Batch norm into the add] (ops/cuda/norm.cu): a BatchNorm whose one reader is an Add
  // that takes the ReLU after it computes relu(batch_norm(x) + the Add's other input) itself
  // (batch_norm_add_relu) and the Add and ReLU steps are skipped, while ReLUs are fused. Off by
  // default until measured on a GPU; NG_BN_ADD_RELU=1 at compile() turns it on.
  void set_fuse_bn_add(bool fuse) { fuse_bn_add_ = fuse; }
  bool fuse_bn_add() const { return fuse_bn_add_; }
  int bn_add_fusions() const;  // such BatchNorm -> Add pairs (for tests and the benchmark)
  // Moves weights and buffers (gradients are dropped). Tensor handles from parameters() taken
  // before the move refer to the old copies: create optimisers after to().
  void to(Device d);
  Device device() const { return device_; }
  // The generator dropout draws from; its state goes into checkpoints.
  Rng& rng() { return rng_; }

  const GraphSpec& spec() const { return spec_; }
  // Inferred shapes, resolved params, parameter counts per node (for the GUI and exporters).
  const GraphAnalysis& analysis() const { return analysis_; }
  const std::vector<std::string>& input_ids() const { return input_ids_; }
  int node_index(std::string_view id) const { return analysis_.index_of(id); }
  // The loss node's id ("" when the graph has none).
  const std::string& loss_id() const { return loss_id_; }

 private:
  Model() = default;

  // One node of the plan, in topological order.
  struct Step {
    LayerFn fn;
    int node = -1;                     // GraphSpec index
    std::vector<int> in_slots;         // per input value; -1: undefined (free optional port)
    int w_begin = 0, w_count = 0;      // into weights_
    int out_begin = 0, out_count = 0;  // into slots_
    std::vector<int> last_use;         // slots no later step reads (NOTE [Released activations])
    bool absorbs_relu = false;         // a BatchNorm/Add/Linear/Conv2d read by one ReLU alone
    bool absorbed = false;             // that ReLU (NOTE [Fused ReLU])
    // NOTE [ReLU gradient in the max pool] (ops/pool.h): a Conv2d that absorbs a ReLU read by
    // one MaxPool2d alone, and that pool.
    bool relu_grad_by_reader = false, masks_relu_grad = false;
    // NOTE [Batch norm into the add] (ops/cuda/norm.cu): a BatchNorm read by one two-input Add
    // alone that absorbs its ReLU (add_skip_slot: the Add's other input; added: it did the sum
    // in this forward), and that Add (bn_step, bn_slot: the batch norm's step and output, passed
    // on as the Add's when that step added).
    int add_skip_slot = -1;
    bool added = false;
    int bn_step = -1, bn_slot = -1;
  };

  GraphSpec spec_;
  GraphAnalysis analysis_;
  std::vector<Step> steps_;
  std::vector<Tensor> weights_;  // all nodes' weights, step by step, in declared order
  std::vector<WeightRole> roles_;
  std::vector<std::pair<std::string, Tensor>> params_, buffers_;
  std::vector<int> first_out_slot_;  // per node (GraphSpec order)
  int n_out_slots_ = 0;              // node outputs; then the labels slot, then the inputs
  int labels_slot_ = 0;
  int prediction_slot_ = -1;
  int loss_slot_ = -1;
  std::vector<std::string> input_ids_;
  std::string loss_id_;
  std::vector<Tensor> slots_;    // values of the current step
  std::vector<Tensor> scratch_;  // inputs of the current layer call
  Mode mode_ = Mode::Train;
  bool keep_outputs_ = true;
  bool fuse_relu_ = true;
  bool fuse_bn_add_ = false;
  Device device_ = Device::cpu();
  Rng rng_;

  void refresh_named();
};

}  // namespace ng
