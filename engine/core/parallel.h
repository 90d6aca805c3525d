// CPU threading: one OpenMP pool shared with OpenBLAS (when it is the OpenMP build), sized by
// set_num_threads(). parallel_for splits [begin, end) into contiguous chunks, one per thread,
// and runs serially when the range is below `grain` so small ops pay no fork/join cost.
//   parallel_for(0, n, 4096, [&](int64_t b, int64_t e) { for (i = b; i < e; ++i) y[i] = f(x[i]);
//   });
#pragma once

#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ng {

void set_num_threads(int n);
// Threads for parallel_for on the calling thread only, e.g. a background thread that must not
// compete with training (the GUI's insight views); 0: back to set_num_threads()'s. Also sets the
// thread's OpenMP default, which OpenBLAS (OpenMP build) follows for calls from this thread.
void set_thread_num_threads(int n);
int num_threads();  // for the calling thread

template <class F>
void parallel_for(int64_t begin, int64_t end, int64_t grain, const F& f) {
  int64_t n = end - begin;
  if (n <= 0) return;
#ifdef _OPENMP
  int nt = num_threads();
  if (nt > 1 && n > grain && !omp_in_parallel()) {
    int64_t chunks = std::min<int64_t>(nt, (n + grain - 1) / grain);
#pragma omp parallel num_threads(int(chunks))
    {
      int t = omp_get_thread_num();
      int64_t per = (n + chunks - 1) / chunks;
      int64_t b = begin + t * per, e = std::min(end, b + per);
      if (b < e) f(b, e);
    }
    return;
  }
#endif
  f(begin, end);
}

}  // namespace ng
