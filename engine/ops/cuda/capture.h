// Internal to the CUDA backend: what CUDA-graph capture (graph.cpp, NOTE [CUDA graphs] in
// backend.h) needs from the rest of the backend — the copy stream, the allocator's private
// pools, the deferred error record and Philox offsets that a replay can move.
//
//   const PhiloxArgs a = philox_reserve(rng, blocks);   // in a kernel launcher
//   my_kernel<<<g, kThreads, 0, stream()>>>(a, ...);    // counter = a.base() + i / 4 on device
#pragma once

#include <cstdint>
#include <string>

#include "engine/core/rng.h"
#include "engine/ops/cuda/common.h"

namespace ng::cuda {

// The second stream (NOTE [One stream] holds for the compute stream; the copy stream only
// carries DeviceUploader's host-to-device copies, ordered against compute by events).
cudaStream_t copy_stream();

// ---- NOTE [Graph memory pools] (allocator.cpp)
// Creates a pool; while it is active (between pool_begin and pool_end, on the capturing thread)
// every allocation is served from it and every block freed into it stays in it.
int pool_create();
void pool_begin(int pool);
void pool_end();
// The graph that owned the pool is gone: its free blocks return to the general cache, and its
// blocks still held by tensors return there when freed.
void pool_release(int pool);

// ---- NOTE [Deferred device errors] (backend.h)
struct DeviceErrorRecord {
  int64_t flag;  // 1 once a kernel recorded an error
  int64_t site;  // error_site() of the op
  int64_t value, row, classes;
};
// Where kernels record: `claim` (device memory) decides the one writer by atomicCAS; `record`
// is mapped host memory, so the host reads it without a copy after any synchronisation.
struct DeviceErrorSlot {
  unsigned long long* claim;
  DeviceErrorRecord* record;
};
DeviceErrorSlot device_error_slot();
// A small id for a message prefix such as "CrossEntropyLoss 'loss'" (interned, never freed).
int64_t error_site(const std::string& who);
// After the host waited for the compute stream: throws the recorded error, if any, clearing it.
void raise_device_errors();

// ---- Philox draws that a graph replay can rebase.
// Counter of element block i: base + i, where base is `offset` in an eager launch and, inside a
// capture, dev[1] + rel (dev: the generator's {seed, offset} in device memory, written before
// each replay). The seed is `seed`, or dev[0] inside a capture.
struct PhiloxArgs {
  uint64_t seed = 0, offset = 0;
  const uint64_t* dev = nullptr;
  uint64_t rel = 0;
#ifdef __CUDACC__
  __device__ __forceinline__ uint64_t key() const {
    return dev ? dev[0] : seed;
  }
  __device__ __forceinline__ uint64_t base() const {
    return dev ? dev[1] + rel : offset;
  }
#endif
};
// Reserves `blocks` counters of `rng` (as Rng::reserve) for a kernel launch.
PhiloxArgs philox_reserve(Rng& rng, uint64_t blocks);

}  // namespace ng::cuda
