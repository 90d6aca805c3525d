#!/usr/bin/env python3
"""Neurograph vs PyTorch: CPU training-step time and peak memory on the reference models.

Runs each case in its own process, alternating Neurograph (build/bin/bench_train_step) and
PyTorch (tests/bench/torch_reference.py, a copy of ../shared/bench's) so both see the same
machine state, repeats the pair `--rounds` times and keeps the best median of each side.
Peak resident memory is each process's ru_maxrss. Prints a table with the ratios
(Neurograph / PyTorch; <= 1.0 means Neurograph is faster or smaller) and, with --out, writes
it as Markdown with the machine it came from.

  python3 tests/bench/compare_cpu.py --threads 2 --out tests/bench/results/cpu-2thread.md
"""
import argparse, json, os, platform, resource, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BARS = {("mlp", 64): 1.0, ("mlp", 256): 1.0, ("lenet", 64): 1.0, ("lenet", 256): 1.0,
        ("resnet20", 128): 1.2}


def peak_rss_mb(cmd, env):
    # ru_maxrss of RUSAGE_CHILDREN is the max over all children so far, so measure each child
    # under /usr/bin/time-like accounting: run it via a tiny Python shim that reports its own.
    shim = ("import resource,subprocess,sys,json;"
            "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
            "sys.stdout.write(p.stdout);sys.stderr.write(p.stderr);"
            "print(json.dumps({'rss_kb':resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}));"
            "sys.exit(p.returncode)")
    p = subprocess.run([sys.executable, "-c", shim] + cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stdout}\n{p.stderr}")
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    result = [l for l in lines if "median_ms" in l][-1]
    result["peak_rss_mb"] = lines[-1]["rss_kb"] / 1024.0
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--cases", default="mlp:64,mlp:256,lenet:64,lenet:256,resnet20:128")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--bench", default=os.path.join(ROOT, "build", "bin", "bench_train_step"))
    ap.add_argument("--python", default="/usr/bin/python3", help="the Python that has torch")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    env = dict(os.environ)
    rows = []
    for case in a.cases.split(","):
        name, batch = case.split(":")
        steps = a.steps if name != "resnet20" else max(20, a.steps // 2)
        ng_best, pt_best = None, None
        for _ in range(a.rounds):
            ng = peak_rss_mb([a.bench, "--model", name, "--batch", batch, "--threads",
                              str(a.threads), "--steps", str(steps), "--warmup", str(a.warmup)], env)
            pt = peak_rss_mb([a.python, os.path.join(ROOT, "tests", "bench", "torch_reference.py"),
                              "--device", "cpu", "--threads", str(a.threads), "--cases", case,
                              "--steps", str(steps), "--warmup", str(a.warmup)], env)
            if ng_best is None or ng["median_ms"] < ng_best["median_ms"]:
                ng_best = ng
            if pt_best is None or pt["median_ms"] < pt_best["median_ms"]:
                pt_best = pt
        r = {"model": name, "batch": int(batch), "ng_ms": ng_best["median_ms"],
             "torch_ms": pt_best["median_ms"], "ng_rss_mb": ng_best["peak_rss_mb"],
             "torch_rss_mb": pt_best["peak_rss_mb"]}
        r["time_ratio"] = r["ng_ms"] / r["torch_ms"]
        r["mem_ratio"] = r["ng_rss_mb"] / r["torch_rss_mb"]
        r["bar"] = BARS.get((name, int(batch)), 1.0)
        rows.append(r)
        print(json.dumps(r), flush=True)

    cpu = "unknown"
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"):
                cpu = l.split(":", 1)[1].strip(); break
    except OSError:
        pass
    lines = [f"# CPU training step: Neurograph vs PyTorch ({a.threads} threads)", "",
             f"Machine: {cpu}, {os.cpu_count()} cores, {platform.platform()}; "
             f"date {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
             f"PyTorch {pt_best.get('torch', '?')}; best median of {a.rounds} alternating rounds, "
             f"{a.steps} steps after {a.warmup} warm-up (ResNet-20: {max(20, a.steps // 2)}).", "",
             "| model | batch | Neurograph ms | PyTorch ms | time ratio | bar | Neurograph RSS MB | PyTorch RSS MB | memory ratio |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        ok = "ok" if r["time_ratio"] <= r["bar"] else "MISSED"
        lines.append(f"| {r['model']} | {r['batch']} | {r['ng_ms']:.3f} | {r['torch_ms']:.3f} | "
                     f"{r['time_ratio']:.2f} ({ok}) | <= {r['bar']} | {r['ng_rss_mb']:.0f} | "
                     f"{r['torch_rss_mb']:.0f} | {r['mem_ratio']:.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
