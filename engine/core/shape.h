// Shape helpers: a shape is a list of dimension sizes, row-major (last dimension fastest).
//   Shape s{64, 1, 28, 28};  numel(s) == 50176;  shape_str(s) == "[64, 1, 28, 28]"
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ng {

using Shape = std::vector<int64_t>;

inline int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

inline std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ", ";
    r += std::to_string(s[i]);
  }
  return r + "]";
}

inline std::vector<int64_t> contiguous_strides(const Shape& s) {
  std::vector<int64_t> st(s.size());
  int64_t acc = 1;
  for (int i = int(s.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

// Normalises a possibly negative axis against a rank; throws ng::Error when out of range.
int normalize_axis(int64_t axis, int64_t rank, const char* what);

// Broadcast two shapes NumPy-style; throws ng::ShapeError naming `op` when they do not fit.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace ng
