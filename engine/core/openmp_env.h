// How the engine's OpenMP threads wait between parallel regions, in the GUI and the CLI.
//
// NOTE [OpenMP waits]
// The engine's kernels run in OpenMP parallel regions (libgomp) on the trainer's worker thread.
// libgomp lets the threads of a team whose master is not the process's first thread spin only
// ~100 times before sleeping on a futex (it "throttles" them), while the CLI's team (master =
// the main thread) spins 300,000 times. Measured on the 2-core development machine with LeNet
// (bench_training_gui): a trainer on a worker thread runs ~22,000 samples/s, the CLI ~26,000;
// OMP_WAIT_POLICY=ACTIVE with GOMP_SPINCOUNT=1000 brings the worker thread to ~26,000, and
// keeps waits short (1000 spins, then sleep) so that other processes' load does not turn the
// spinning into the 8x slowdown the CLI shows under oversubscription.
//
// The CLI uses the same settings: with libgomp's default spinning, a 2-core machine shared with
// other work ran a 5-epoch LeNet CLI run 7-20x slower than the GUI (one epoch 12.7 s against
// 0.88 s with these settings, measured beside four compiling processes).
//
// libgomp reads these variables once, when it is loaded, before main() runs: setting them in
// main() is too late. So the GUI's and the CLI's main() call this first: when neither variable is
// set, it sets both and re-executes the program (/proc/self/exe, same arguments). Set either
// variable yourself, or NG_NO_OPENMP_REEXEC=1, to keep your own settings.
#pragma once

namespace ng {

// Returns only when no re-execution was needed or it failed.
void ensure_openmp_wait_policy(int argc, char** argv);

}  // namespace ng
