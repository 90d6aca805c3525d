#include "engine/core/openmp_env.h"

#include <unistd.h>

#include <cstdlib>

namespace ng {

void ensure_openmp_wait_policy(int argc, char** argv) {
#ifdef __linux__
  (void)argc;
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") ||
      std::getenv("NG_NO_OPENMP_REEXEC"))
    return;
  setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
  setenv("GOMP_SPINCOUNT", "1000", 1);
  execv("/proc/self/exe", argv);  // only returns on failure: run on with the defaults
  unsetenv("OMP_WAIT_POLICY");
  unsetenv("GOMP_SPINCOUNT");
#else
  (void)argc;
  (void)argv;
#endif
}

}  // namespace ng
