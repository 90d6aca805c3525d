// Where a tensor's memory lives. Kernels are looked up per DeviceType (see ops/dispatch.h),
// so adding a device means adding kernels, not changing ops.
#pragma once

#include <string>

namespace ng {

enum class DeviceType : int { CPU = 0, CUDA = 1 };
inline constexpr int kNumDeviceTypes = 2;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const {
    return type == DeviceType::CPU ? std::string("cpu") : "cuda:" + std::to_string(index);
  }
};

inline const char* device_type_name(DeviceType t) {
  return t == DeviceType::CPU ? "cpu" : "cuda";
}

}  // namespace ng
