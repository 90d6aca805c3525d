// Placeholder until the conv kernels land; keeps the kernel registry linkable.
#include "engine/ops/cpu/cpu_kernels.h"
namespace ng::cpu {
void register_conv() {}
}  // namespace ng::cpu
