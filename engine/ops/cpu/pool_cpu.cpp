// Placeholder until the pool kernels land; keeps the kernel registry linkable.
#include "engine/ops/cpu/cpu_kernels.h"
namespace ng::cpu {
void register_pool() {}
}  // namespace ng::cpu
