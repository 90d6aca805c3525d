// set_thread_num_threads: a thread-local thread count for parallel_for (a background thread
// that must not compete with training), leaving other threads at set_num_threads()'s.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "engine/core/parallel.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace {

// The distinct OpenMP thread numbers that run chunks of a large parallel_for.
std::set<int> threads_used() {
  std::mutex mu;
  std::set<int> ids;
  ng::parallel_for(0, 1 << 20, 1, [&](int64_t, int64_t) {
    int id = 0;
#ifdef _OPENMP
    id = omp_get_thread_num();
#endif
    std::lock_guard lk(mu);
    ids.insert(id);
  });
  return ids;
}

}  // namespace

TEST(ParallelThreads, AThreadLocalCountAppliesToItsThreadOnly) {
  ng::set_num_threads(2);
  std::set<int> background;
  int backgroundCount = 0;
  std::thread t([&] {
    ng::set_thread_num_threads(1);
    backgroundCount = ng::num_threads();
    background = threads_used();
  });
  t.join();
  EXPECT_EQ(backgroundCount, 1);
  EXPECT_EQ(background, std::set<int>{0});
  EXPECT_EQ(ng::num_threads(), 2);  // this thread is unchanged
#ifdef _OPENMP
  EXPECT_EQ(threads_used().size(), 2u);
#endif
}

TEST(ParallelThreads, ZeroReturnsToTheGlobalCount) {
  ng::set_num_threads(2);
  std::thread t([] {
    ng::set_thread_num_threads(1);
    EXPECT_EQ(ng::num_threads(), 1);
    ng::set_thread_num_threads(0);
    EXPECT_EQ(ng::num_threads(), 2);
  });
  t.join();
}
