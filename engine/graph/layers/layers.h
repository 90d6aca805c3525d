// Internal to the layer registry: the functions that define the built-in kinds (one file per
// family, engine/graph/layers/*.cpp) and the small helpers they share. Include only there.
#pragma once

#include <array>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/graph/layer_registry.h"

// ParamDefs are written with designated initialisers, leaving the fields they do not need at
// their defaults; g++ 12 warns about that under -Wextra (GCC bug 96868, fixed in g++ 13).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace ng::layers {

using nlohmann::json;

void register_input_and_linear(LayerRegistry& r);  // Input, Linear, Embedding
void register_convolution(LayerRegistry& r);       // Conv2d, MaxPool2d, AvgPool2d, GlobalAvgPool
void register_normalization(LayerRegistry& r);     // BatchNorm, LayerNorm, Dropout
void register_activations(LayerRegistry& r);       // ReLU ... LogSoftmax
void register_structure(LayerRegistry& r);         // Flatten, Reshape, Add, Concat
void register_losses(LayerRegistry& r);            // CrossEntropyLoss, MSELoss, BCEWithLogitsLoss

// Reading resolved params (check_params has already validated types).
inline int64_t get_int(const json& p, const char* k) {
  return p.at(k).get<int64_t>();
}
inline double get_float(const json& p, const char* k) {
  return p.at(k).get<double>();
}
inline bool get_bool(const json& p, const char* k) {
  return p.at(k).get<bool>();
}
inline std::array<int64_t, 2> get_pair(const json& p, const char* k) {
  return {p.at(k)[0].get<int64_t>(), p.at(k)[1].get<int64_t>()};
}
inline std::vector<int64_t> get_list(const json& p, const char* k) {
  return p.at(k).get<std::vector<int64_t>>();
}

// Python literals for the PyTorch mapping: 0.01 -> "0.01", 1e-5 -> "1e-05", 1 -> "1.0";
// {5, 5} -> "(5, 5)"; {16, 5, 5} -> "(16, 5, 5)"; {64} -> "(64,)"; true -> "True".
std::string py_float(double v);
std::string py_tuple(const std::vector<int64_t>& v);
inline std::string py_tuple(const std::array<int64_t, 2>& v) {
  return py_tuple(std::vector<int64_t>{v[0], v[1]});
}
inline const char* py_bool(bool b) {
  return b ? "True" : "False";
}

// The standard single ports.
PortDef input_port(std::string description = "the tensor to transform");
PortDef output_port(std::string description = "the result");

// Per-sample dims of a shape with the batch as -1: [-1, 16, 5, 5] -> "[N, 16, 5, 5]".
std::string shape_n(const Shape& s);

// Output type with the input's dtype and a new shape.
inline std::vector<TensorType> one(Shape s, DType dt = DType::Float32) {
  return {TensorType{std::move(s), dt}};
}

// Requires a float input (not int64 ids) on port `port`.
void require_float(const InferContext& c, size_t port = 0);

}  // namespace ng::layers
