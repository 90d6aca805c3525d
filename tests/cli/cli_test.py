#!/usr/bin/env python3
"""neurograph-cli end to end, one case per ctest entry (tests/cli/CMakeLists.txt):
   cli_test.py --cli build/bin/neurograph-cli --source . --workdir build/tests/cli/x CASE
Each case runs the binary as a user would and checks exit codes, JSON lines and messages."""
import argparse, json, os, shutil, subprocess, sys

p = argparse.ArgumentParser()
p.add_argument("--cli", required=True)
p.add_argument("--source", required=True)
p.add_argument("--workdir", required=True)
p.add_argument("case")
a = p.parse_args()
EX = os.path.join(a.source, "resources", "examples")
SPIRAL = os.path.join(EX, "spiral-mlp.ngraph")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)


def run(*args, timeout=300):
    r = subprocess.run([a.cli, *args], capture_output=True, text=True, timeout=timeout)
    print("$ neurograph-cli", " ".join(args), "->", r.returncode, file=sys.stderr)
    if r.stderr:
        print(r.stderr.rstrip()[-2000:], file=sys.stderr)
    return r


def json_lines(out):
    lines = []
    for line in out.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            check(False, f"stdout line is not JSON: {line!r}")
    return lines


def project_variant(name, edit):
    """A copy of an example project in the work dir, changed by edit(dict)."""
    src = json.load(open(os.path.join(EX, name)))
    edit(src)
    path = os.path.join(a.workdir, "variant-" + name)
    json.dump(src, open(path, "w"), indent=2, sort_keys=True)
    return path


def expect_user_error(r, *needles):
    check(r.returncode == 1, f"exit code 1 expected, got {r.returncode}")
    for n in needles:
        check(n in r.stderr, f"stderr should mention {n!r}")
    check("error" in r.stderr, "stderr should say error")


def case_train_json():
    out = os.path.join(a.workdir, "run")
    r = run("train", SPIRAL, "--epochs", "2", "--json", "--out", out, "--threads", "2")
    check(r.returncode == 0, f"train exit code {r.returncode}")
    ev = json_lines(r.stdout)
    kinds = [e.get("event") for e in ev]
    check(kinds[0] == "start", "first line is the start event")
    check(kinds[-1] == "done", "last line is the done event")
    epochs = [e for e in ev if e.get("event") == "epoch"]
    check([e["epoch"] for e in epochs] == [1, 2], "one epoch line per epoch, in order")
    for e in epochs:
        for k in ("train_loss", "val_loss", "val_accuracy"):
            check(isinstance(e.get(k), float), f"epoch line has {k}")
        check(0.0 <= e["val_accuracy"] <= 1.0, "accuracy is a fraction")
    done = ev[-1]
    check(isinstance(done.get("wall_s"), float) and done["wall_s"] > 0, "done has wall_s")
    ckpt = done.get("checkpoint")
    check(ckpt is not None and os.path.isfile(ckpt), "done names an existing checkpoint")
    check(os.path.isfile(os.path.join(out, "last.h5")), "last.h5 written")
    check(kinds.index("checkpoint") > kinds.index("epoch"), "a checkpoint line follows an epoch")
    if not ckpt or not os.path.isfile(ckpt):
        return
    # inspect reads it (text and JSON)
    r = run("inspect", ckpt)
    check(r.returncode == 0, "inspect CKPT exit code 0")
    check("fc1/weight" in r.stdout, "inspect lists the weights")
    r = run("inspect", ckpt, "--json")
    check(r.returncode == 0, "inspect CKPT --json exit code 0")
    try:
        j = json.loads(r.stdout)
        check("fc1/weight" in json.dumps(j), "inspect --json lists the weights")
    except ValueError:
        check(False, "inspect --json prints JSON")
    # eval gives the checkpoint's validation accuracy back
    r = run("eval", SPIRAL, ckpt, "--json")
    check(r.returncode == 0, "eval exit code 0")
    e = json_lines(r.stdout)[-1]
    check(abs(e.get("val_accuracy", -1) - done["best"]) < 1e-9,
          f"eval accuracy {e.get('val_accuracy')} equals the best epoch's {done['best']}")
    # resume continues the run from epoch 2 to 3
    r = run("train", SPIRAL, "--epochs", "3", "--json", "--resume", os.path.join(out, "last.h5"))
    check(r.returncode == 0, "resume exit code 0")
    ev = json_lines(r.stdout)
    check(ev[0].get("start_epoch") == 2, "resumed after 2 epochs")
    check([e["epoch"] for e in ev if e.get("event") == "epoch"] == [3], "only epoch 3 is trained")
    check(ev[-1].get("epochs") == 3 and ev[-1].get("steps") == 3 * ev[0]["batches_per_epoch"],
          "done counts the whole run")


def case_train_blocks():
    # A project whose body is a block repeated 3 times trains like any other: its weights are
    # the flattened copies'.
    blocks = os.path.join(EX, "spiral-blocks.ngraph")
    out = os.path.join(a.workdir, "run")
    r = run("train", blocks, "--epochs", "3", "--json", "--out", out, "--threads", "2")
    check(r.returncode == 0, f"train exit code {r.returncode}")
    ev = json_lines(r.stdout)
    check(ev and ev[0].get("params") == 3363, "the flattened graph's parameters")
    check(ev and ev[-1].get("event") == "done" and ev[-1].get("best", 0) > 0.5,
          "trains to better than chance")
    r = run("inspect", os.path.join(out, "last.h5"))
    check(r.returncode == 0, "inspect CKPT exit code 0")
    for w in ("body.1/fc/weight", "body.3/fc/bias", "head/weight"):
        check(w in r.stdout, f"the checkpoint holds {w}")
    r = run("inspect", blocks)
    check(r.returncode == 0 and "body.2/add" in r.stdout, "inspect lists the copies")


def case_inspect_project():
    r = run("inspect", SPIRAL)
    check(r.returncode == 0, "inspect PROJECT exit code 0")
    check("fc1" in r.stdout and "Linear" in r.stdout, "inspect lists the nodes")


def case_missing_project():
    r = run("train", os.path.join(a.workdir, "no-such.ngraph"))
    expect_user_error(r, "no-such.ngraph", "not found")


def case_malformed_project():
    path = os.path.join(a.workdir, "broken.ngraph")
    open(path, "w").write('{"format": "neurograph-project", "version": 1, "graph": {')
    r = run("train", path)
    expect_user_error(r, "broken.ngraph")
    # well-formed JSON whose graph names an unknown layer type: the node is named
    path = project_variant("spiral-mlp.ngraph", lambda j: j["graph"]["nodes"][1].update(
        {"type": "Lineer"}))
    r = run("train", path)
    expect_user_error(r, "Lineer", "fc1")
    # a bad training value names the field
    path = project_variant("spiral-mlp.ngraph", lambda j: j["training"].update(
        {"batch_size": 0}))
    r = run("train", path)
    expect_user_error(r, "batch_size")


def case_missing_dataset():
    path = project_variant("lenet-mnist.ngraph", lambda j: j["dataset"].update(
        {"path": "no-mnist-here"}))
    r = run("train", path, "--json")
    expect_user_error(r, "no-mnist-here", "fetch_mnist.sh")
    check(json_lines(r.stdout)[-1].get("event") == "error", "--json ends with an error line")
    path = project_variant("resnet20-cifar10.ngraph", lambda j: j["dataset"].update(
        {"path": "no-cifar-here"}))
    r = run("train", path)
    expect_user_error(r, "no-cifar-here", "CIFAR-10")


def case_bench_json():
    r = run("bench", SPIRAL, "--json", "--steps", "5", "--warmup", "1", "--batch", "16")
    check(r.returncode == 0, "bench exit code 0")
    j = json_lines(r.stdout)[-1]
    check(isinstance(j.get("median_ms"), float) and j["median_ms"] > 0, "median_ms > 0")
    check(isinstance(j.get("peak_mem_mb"), float) and j["peak_mem_mb"] > 0, "peak_mem_mb > 0")
    check(j.get("batch") == 16, "the batch asked for")


def case_bad_arguments():
    r = run("train")
    check(r.returncode == 1, f"missing PROJECT: exit 1, got {r.returncode}")
    # Without a GPU (or without the CUDA backend) "--device cuda" is a clear error; with one it
    # trains (tests/gpu/check.sh runs this suite on the GPU machine).
    gpu = shutil.which("nvidia-smi") and subprocess.run(
        ["nvidia-smi", "-L"], capture_output=True).returncode == 0
    r = run("train", SPIRAL, "--device", "cuda", "--epochs", "1",
            "--out", os.path.join(a.workdir, "cuda"))
    if not gpu or r.returncode != 0:
        expect_user_error(r, "CUDA")
    r = run("train", SPIRAL, "--device", "tpu")
    expect_user_error(r, "tpu")
    r = run("train", SPIRAL, "--epochs", "0")
    expect_user_error(r, "--epochs")
    r = run("frobnicate")
    check(r.returncode == 1, f"unknown subcommand: exit 1, got {r.returncode}")
    r = run("eval", SPIRAL, os.path.join(a.workdir, "none.h5"))
    expect_user_error(r, "none.h5")


def case_non_finite_loss():
    path = project_variant("spiral-mlp.ngraph", lambda j: j["training"].update(
        {"optimizer": dict(j["training"]["optimizer"], type="SGD", lr=1e38)}))
    r = run("train", path, "--epochs", "3", "--out", os.path.join(a.workdir, "nan"))
    expect_user_error(r, "not finite", "learning rate")


def case_every_example_trains():
    """Every bundled example starts training as shipped (one epoch; the MNIST ones need
    datasets/mnist, which scripts/setup.sh fetches), except ResNet-20, whose CIFAR-10 files a
    user supplies: it must say where they go."""
    mnist = os.path.isfile(os.path.join(a.source, "datasets", "mnist", "train-images-idx3-ubyte"))
    check(mnist, "datasets/mnist is missing: run datasets/fetch_mnist.sh (scripts/setup.sh does)")
    for name in sorted(os.listdir(EX)):
        if not name.endswith(".ngraph"):
            continue
        if name.startswith("resnet20-cifar10"):
            r = run("train", os.path.join(EX, name), "--epochs", "1",
                    "--out", os.path.join(a.workdir, name))
            if not os.path.isdir(os.path.join(a.source, "datasets", "cifar-10-batches-bin")):
                expect_user_error(r, "CIFAR-10", "data_batch_1.bin")
            continue
        if "mnist" in name and not mnist:
            continue
        r = run("train", os.path.join(EX, name), "--epochs", "1", "--json", "--threads", "2",
                "--out", os.path.join(a.workdir, name))
        check(r.returncode == 0, f"{name}: exit code {r.returncode}")
        events = json_lines(r.stdout) if r.returncode == 0 else []
        done = [e for e in events if e.get("event") == "done"]
        check(len(done) == 1 and os.path.isfile(done[0].get("checkpoint", "")),
              f"{name}: a done line with a checkpoint")


cases = {k[5:]: v for k, v in globals().items() if k.startswith("case_")}
if a.case not in cases:
    sys.exit(f"unknown case {a.case}; known: {', '.join(cases)}")
shutil.rmtree(a.workdir, ignore_errors=True)
os.makedirs(a.workdir)
cases[a.case]()
if failures:
    print(f"{len(failures)} check(s) failed", file=sys.stderr)
    sys.exit(1)
print("ok")
