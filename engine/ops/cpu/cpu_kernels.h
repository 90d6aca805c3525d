// Entry points that install each group of CPU kernels into the op tables (ops/dispatch.h).
// register_cpu_kernels() in register.cpp calls them all; a new group adds one line there.
#pragma once

namespace ng::cpu {
void register_elementwise();
void register_reduce();
void register_gemm();
void register_conv();     // conv2d forward / backward-data / backward-weight
void register_pool();     // max, average, global-average pooling
void register_norm();     // batch norm, layer norm, dropout
void register_softmax();  // softmax, log-softmax, losses
void register_shape();    // concat, split, embedding
void register_optim();    // fused optimiser updates
}  // namespace ng::cpu
