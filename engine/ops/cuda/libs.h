// Internal to the CUDA backend: the cuBLAS and cuDNN handles (bound to the backend's stream) and
// NG_CUDA_CHECK overloads for their status codes.
//   NG_CUDA_CHECK(cublasGemmEx(cuda::cublas(), ...));
#pragma once

#include <cublas_v2.h>
#include <cudnn.h>

#include "engine/ops/cuda/common.h"

namespace ng::cuda {

void check(cublasStatus_t s, const char* call, const char* file, int line);
void check(cudnnStatus_t s, const char* call, const char* file, int line);

// Created on first use, bound to stream(); cuBLAS gets a fixed workspace from the allocator.
cublasHandle_t cublas();
cudnnHandle_t cudnn();

}  // namespace ng::cuda
