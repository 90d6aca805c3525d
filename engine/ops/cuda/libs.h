// Internal to the CUDA backend: the cuBLAS, cuBLASLt and cuDNN handles (cuBLAS and cuDNN bound
// to the backend's stream; cuBLASLt takes the stream per call) and NG_CUDA_CHECK overloads for
// their status codes.
//   NG_CUDA_CHECK(cublasGemmEx(cuda::cublas(), ...));
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cudnn.h>

#include "engine/ops/cuda/common.h"

namespace ng::cuda {

void check(cublasStatus_t s, const char* call, const char* file, int line);
void check(cudnnStatus_t s, const char* call, const char* file, int line);

// Created on first use, bound to stream(); cuBLAS gets a fixed workspace from the allocator.
cublasHandle_t cublas();
// cuBLAS's fixed workspace (allocated with the cublas() handle, which this creates if needed).
// cuBLASLt calls queue on the same stream, after and before the cuBLAS calls, so they share it.
void* cublas_workspace(size_t* bytes);
cublasLtHandle_t cublaslt();
cudnnHandle_t cudnn();

}  // namespace ng::cuda
