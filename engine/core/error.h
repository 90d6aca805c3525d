// ng::Error: the one exception type the engine throws for a user's mistake or a failed
// device call. Messages name the op or layer and the shapes or values involved, e.g.
//   throw ng::Error("Conv2d 'conv2': input has 3 channels, weight expects 1");
// Nothing in the engine calls abort() or exit() on bad input; callers (CLI, GUI) catch this.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace ng {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

// Thrown where a shape does not fit an op or a layer.
class ShapeError : public Error {
 public:
  using Error::Error;
};

// Thrown where a value (parameter, index, label) is out of its allowed range.
class ValueError : public Error {
 public:
  using Error::Error;
};

// Thrown where a device's memory runs out (CUDA allocator). What the step needed and what the
// device had are in the message; the Trainer adds a batch size that fits (NOTE [Batch size that
// fits], engine/train/memory_fit.h).
class OutOfMemoryError : public Error {
 public:
  using Error::Error;
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace ng

// NG_CHECK(cond, parts...): throws ng::Error built from the streamed parts when cond is false.
#define NG_CHECK(cond, ...)                                            \
  do {                                                                 \
    if (!(cond)) throw ::ng::Error(::ng::detail::concat(__VA_ARGS__)); \
  } while (0)
#define NG_CHECK_SHAPE(cond, ...)                                           \
  do {                                                                      \
    if (!(cond)) throw ::ng::ShapeError(::ng::detail::concat(__VA_ARGS__)); \
  } while (0)
