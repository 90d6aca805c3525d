#include "engine/core/parallel.h"

#include <algorithm>
#include <thread>

extern "C" void openblas_set_num_threads(int);

namespace ng {
namespace {
int g_threads = std::max(1u, std::thread::hardware_concurrency());
thread_local int t_threads = 0;  // set_thread_num_threads(); 0: g_threads
}  // namespace

void set_num_threads(int n) {
  g_threads = std::max(1, n);
#ifdef _OPENMP
  omp_set_num_threads(g_threads);
#endif
  openblas_set_num_threads(g_threads);
}

void set_thread_num_threads(int n) {
  t_threads = std::max(0, n);
#ifdef _OPENMP
  omp_set_num_threads(t_threads > 0 ? t_threads : g_threads);  // this thread's ICV only
#endif
}

int num_threads() {
  return t_threads > 0 ? t_threads : g_threads;
}

}  // namespace ng
