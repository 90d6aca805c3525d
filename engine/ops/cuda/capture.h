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

// NOTE [Weight-gradient branches]: a block allocated while this thread queues on the side
// stream is kept aside when freed instead of returning to the pool (a side kernel may still use
// it when the graph replays, and nothing orders it before the compute-stream kernel the block
// would be handed to next), until release_side_blocks() after the side stream is joined.
void release_side_blocks();
size_t held_bytes();  // bytes kept aside so far

// ---- NOTE [Weight-gradient branches]
// In a captured training step each layer's weight gradient depends only on the layer's input
// and output gradient, and nothing on the critical path (the input gradient, then the layers
// below) reads it before the optimiser. For small layers, where each kernel is a few
// microseconds and leaves most of the GPU idle, CudaBranch (backend.h) queues the weight and bias
// gradients on a side stream forked from the compute stream, so the captured graph holds them
// as a parallel branch that runs beside the input-gradient chain:
//   - fork: the side stream waits for an event recorded on the compute stream (the branch sees
//     every earlier kernel); the side stream's branches run in order among themselves;
//   - until the join, no block a branch reads or writes may be handed to a later kernel of the
//     compute stream that does not wait for it: the tensors a branch reads (the output gradient
//     and the saved input) are kept alive by the capture, and blocks allocated on the side
//     stream (outputs, workspaces, temporaries) are kept aside by the allocator when freed;
//   - join: the compute stream waits for an event recorded on the side stream, and both of the
//     above are let go. It happens at the end of backward (before the optimiser), before any
//     kernel that reads a gradient made on a branch (autograd's accumulation), before a branch
//     forks whose reads would take what is kept past CudaBranchLimits::max_held_bytes, and
//     before the capture ends;
//   - the cuBLAS and cuDNN handles follow stream(), so they are bound to the side stream during
//     a branch, cuBLAS with a workspace of its own (convolution workspaces come from the
//     allocator per call).
// The early join comes before the new branch forks, not when the old one closes, so every
// branch overlaps at least its own layer's input gradient. What is kept is then at most the
// limit, or one branch's reads alone, plus the blocks that branch frees on the side stream (its
// convolution workspace, a channels-last weight gradient), held until the next join. Only
// gradients of at most CudaBranchLimits::max_grad_bytes (4 MiB) branch: ResNet-20 at batch 512
// does not; NG_GRAPH_BRANCH_MB raises the limit to measure whether its large layers gain from
// the overlap too.
// Eager steps (no capture) run everything on the compute stream, as before.
void side_prepare();  // creates the side stream, its handles and events (not while capturing)
void side_fork();     // this thread's launches go to the side stream, after the compute's
void side_leave() noexcept;  // ... and back to the compute stream
bool on_side() noexcept;     // between side_fork and side_leave
void spin(uint64_t ns);      // queues a kernel that waits ns nanoseconds (spin.cu; for tests)
void side_join();            // the compute stream waits for everything queued on the side stream

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
