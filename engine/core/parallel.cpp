#include "engine/core/parallel.h"

#include <algorithm>
#include <thread>

extern "C" void openblas_set_num_threads(int);

namespace ng {
namespace {
int g_threads = std::max(1u, std::thread::hardware_concurrency());
}

void set_num_threads(int n) {
  g_threads = std::max(1, n);
#ifdef _OPENMP
  omp_set_num_threads(g_threads);
#endif
  openblas_set_num_threads(g_threads);
}

int num_threads() {
  return g_threads;
}

}  // namespace ng
