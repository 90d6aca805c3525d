// Placeholder until the optim kernels land; keeps the kernel registry linkable.
#include "engine/ops/cpu/cpu_kernels.h"
namespace ng::cpu {
void register_optim() {}
}  // namespace ng::cpu
