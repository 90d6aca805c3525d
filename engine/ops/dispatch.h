// One kernel table per op, indexed by device type (NOTE [Kernel tables]).
//
// An op declares its table once, next to its public function:
//   using ReluFn = void(const Tensor& x, Tensor& y);
//   NG_KERNEL_TABLE(relu_kernel, ReluFn);
// each backend fills its slot in its register function (ops/cpu/register.cpp,
// ops/cuda/register.cu):
//   relu_kernel.set(DeviceType::CPU, &cpu::relu);
// and the op calls the kernel for its inputs' device:
//   relu_kernel(x.device())(x, y);
// A missing kernel throws ng::Error naming the op and the device.
#pragma once

#include <array>

#include "engine/core/device.h"
#include "engine/core/error.h"

namespace ng {

// Loads every compiled backend's kernels into the tables, once.
void ensure_backends_registered();

template <class Fn>
class KernelTable {
 public:
  explicit constexpr KernelTable(const char* op) : op_(op) {}
  void set(DeviceType d, Fn* f) { fns_[int(d)] = f; }
  bool has(DeviceType d) const {
    ensure_backends_registered();
    return fns_[int(d)] != nullptr;
  }
  Fn* operator()(Device d) const {
    ensure_backends_registered();
    Fn* f = fns_[int(d.type)];
    if (!f) throw Error(std::string("op '") + op_ + "' has no kernel for device " + d.str());
    return f;
  }
  const char* name() const { return op_; }

 private:
  const char* op_;
  std::array<Fn*, kNumDeviceTypes> fns_{};
};

}  // namespace ng

#define NG_KERNEL_TABLE(name, signature)     \
  inline ::ng::KernelTable<signature> name { \
#name                                    \
  }
