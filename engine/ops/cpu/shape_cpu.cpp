// Placeholder until the shape kernels land; keeps the kernel registry linkable.
#include "engine/ops/cpu/cpu_kernels.h"
namespace ng::cpu {
void register_shape() {}
}  // namespace ng::cpu
