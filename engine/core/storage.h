// Storage: one block of device memory shared by a tensor and its views.
#pragma once

#include <cstddef>
#include <memory>

#include "engine/core/allocator.h"
#include "engine/core/device.h"

namespace ng {

class Storage {
 public:
  Storage(size_t bytes, Device d) : bytes_(bytes), device_(d) {
    data_ = allocator(d).allocate(bytes);
  }
  ~Storage() { allocator(device_).deallocate(data_, bytes_); }
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
  Device device_;
};

}  // namespace ng
