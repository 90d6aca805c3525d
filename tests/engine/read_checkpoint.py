#!/usr/bin/env python3
"""Reads a Neurograph checkpoint with h5py and checks it against docs/checkpoint-format.md.

Every name the document lists must exist with its documented type and shape, nothing
undocumented may appear, and every value must equal what the writer wrote (given in a JSON
side file by the C++ test CheckpointInterop.WritesFixtureForH5py).

  read_checkpoint.py CHECKPOINT.h5 EXPECTED.json            check a file the engine wrote
  read_checkpoint.py --writer ng_engine_tests --workdir DIR  run the writer into DIR first

ctest runs the second form (CheckpointInterop.H5pyReadsEveryDocumentedName) with Debian's
/usr/bin/python3 and python3-h5py. Exit status 0 only when every check passed.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

try:
    import h5py
    import numpy as np
except ImportError as e:
    sys.exit(
        f"read_checkpoint.py: FAIL: cannot import h5py/numpy with {sys.executable} ({e}).\n"
        "Install python3-h5py (scripts/setup.sh does); the checkpoint interop test cannot "
        "pass without it.")

FORMAT = "neurograph-checkpoint"
FORMAT_VERSION = 1
# docs/checkpoint-format.md, "Names": the fixed part of the layout.
TOP_GROUPS = {"model", "weights", "buffers", "optimizer", "training"}
ROOT_ATTRS = {"format": "str", "format_version": "<i8", "app_version": "str", "created": "str"}
TRAINING_ATTRS = {"epoch": "<i8", "step": "<i8", "rng_seed": "<u8", "rng_offset": "<u8",
                  "best_metric_name": "str", "best_metric": "<f8", "best_epoch": "<i8"}
TENSOR_DTYPES = {"float32": "<f4", "float64": "<f8", "int64": "<i8"}


def escape(name):
    """A node id, parameter, buffer, state or series name as one HDF5 link name (documented)."""
    if name == ".":
        return "%2E"
    return name.replace("%", "%25").replace("/", "%2F")


def doc_example(path):
    """The example of docs/checkpoint-format.md ("Reading it with h5py"), as a function."""
    def unescape(link):  # the reverse of the escaping of node ids and names
        return link.replace("%2F", "/").replace("%2E", ".").replace("%25", "%")

    with h5py.File(path, "r") as f:
        assert f.attrs["format"] == "neurograph-checkpoint" and f.attrs["format_version"] <= 1
        weights = {(unescape(node), unescape(name)): ds[()]  # numpy arrays, float32
                   for node, group in f["weights"].items()  # nodes in the model's order
                   for name, ds in group.items()}
        graph = json.loads(f["model/graph_json"].asstr()[()])
        seed = int(f["training"].attrs["rng_seed"])  # numpy uint64 -> exact int
        losses = f["training/history/train_loss"][()]  # float64, one per epoch
    return weights, graph, seed, losses


class Checker:
    def __init__(self, path):
        self.path = path
        self.f = h5py.File(path, "r")
        self.failures = []
        self.checked = 0

    def check(self, cond, msg):
        self.checked += 1
        if not cond:
            self.failures.append(msg)
        return cond

    def attr(self, obj, name, kind, expected, where):
        """Attribute `name` of `obj` has kind ("str" or a numpy dtype string) and value."""
        if not self.check(name in obj.attrs, f"{where}: missing attribute '{name}'"):
            return
        aid = obj.attrs.get_id(name)
        self.check(aid.shape == (), f"{where}@{name}: shape {aid.shape}, expected scalar")
        value = obj.attrs[name]
        if kind == "str":
            info = h5py.check_string_dtype(aid.dtype)
            self.check(info is not None and info.encoding == "utf-8" and info.length is None,
                       f"{where}@{name}: dtype {aid.dtype}, expected a variable-length UTF-8 string")
            self.check(isinstance(value, str), f"{where}@{name}: read as {type(value)}, not str")
        else:
            self.check(aid.dtype == np.dtype(kind), f"{where}@{name}: dtype {aid.dtype}, expected {kind}")
            value = value.item() if hasattr(value, "item") else value
        self.check(value == expected or (value != value and expected != expected),
                   f"{where}@{name}: {value!r} != expected {expected!r}")

    def names(self, group, expected, what):
        """The links of `group` are exactly `expected`, listed in that (creation) order."""
        got = list(group)
        self.check(got == expected, f"{group.name}: {what} {got}, expected {expected}")

    def tensor(self, path, exp):
        ds = self.f.get(path)
        if not self.check(isinstance(ds, h5py.Dataset), f"{path}: missing dataset"):
            return
        dtype = np.dtype(TENSOR_DTYPES[exp["dtype"]])
        shape = tuple(exp["shape"])
        self.check(ds.dtype == dtype, f"{path}: dtype {ds.dtype}, expected {dtype}")
        self.check(ds.shape == shape, f"{path}: shape {ds.shape}, expected {shape}")
        self.check(set(ds.attrs) == {"shape"}, f"{path}: attributes {set(ds.attrs)}, expected {{'shape'}}")
        if "shape" in ds.attrs:
            s = ds.attrs["shape"]
            self.check(s.dtype == np.dtype("<i8") and s.shape == (len(shape),) and tuple(s) == shape,
                       f"{path}@shape: {s!r} ({s.dtype}), expected int64 {list(shape)}")
        got = np.asarray(ds[()], dtype=dtype).reshape(-1)
        want = np.asarray(exp["values"], dtype=dtype).reshape(-1)
        self.check(got.tobytes() == want.tobytes(), f"{path}: values {got} != expected {want}")

    def named_tensors(self, top, entries):
        group = self.f[top]
        nodes = []
        for e in entries:
            if escape(e["node"]) not in nodes:
                nodes.append(escape(e["node"]))
        self.names(group, nodes, "nodes")
        for node in nodes:
            names = [escape(e["name"]) for e in entries if escape(e["node"]) == node]
            if self.check(isinstance(group.get(node), h5py.Group), f"{top}/{node}: not a group"):
                self.names(group[node], names, "names")
        for e in entries:
            self.tensor(f"{top}/{escape(e['node'])}/{escape(e['name'])}", e)

    def run(self, exp):
        f = self.f
        self.check(set(f.attrs) == set(ROOT_ATTRS), f"/: attributes {set(f.attrs)}, expected {set(ROOT_ATTRS)}")
        for name, kind in ROOT_ATTRS.items():
            self.attr(f, name, kind, exp["root"][name], "/")
        self.check(exp["root"]["format"] == FORMAT and exp["root"]["format_version"] == FORMAT_VERSION,
                   "expected.json is for another format")
        self.check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", str(f.attrs.get("created"))) is not None,
                   f"/@created: {f.attrs.get('created')!r} is not ISO 8601 UTC")
        self.check(set(f) == TOP_GROUPS, f"/: groups {sorted(f)}, expected {sorted(TOP_GROUPS)}")
        for g in TOP_GROUPS:
            self.check(isinstance(f.get(g), h5py.Group), f"/{g}: missing group")

        # /model/graph_json: scalar variable-length UTF-8 string.
        self.check(list(f["model"]) == ["graph_json"], f"/model: {list(f['model'])}")
        ds = f["model/graph_json"]
        info = h5py.check_string_dtype(ds.dtype)
        self.check(ds.shape == () and info is not None and info.encoding == "utf-8",
                   f"/model/graph_json: shape {ds.shape} dtype {ds.dtype}, expected a scalar UTF-8 string")
        self.check(ds.asstr()[()] == exp["graph_json"], "/model/graph_json: value differs")

        self.named_tensors("/weights", exp["weights"])
        self.named_tensors("/buffers", exp["buffers"])

        # /optimizer: type and hyper-parameters as attributes, state per parameter.
        opt, eo = f["optimizer"], exp["optimizer"]
        self.check(set(opt.attrs) == {"type"} | set(eo["hyper"]), f"/optimizer: attributes {set(opt.attrs)}")
        self.attr(opt, "type", "str", eo["type"], "/optimizer")
        for name, value in eo["hyper"].items():
            self.attr(opt, name, "<f8", value, "/optimizer")
        self.check(list(opt) == ["state"], f"/optimizer: {list(opt)}, expected ['state']")
        state = opt["state"]
        nodes = []
        for p in eo["params"]:
            if escape(p["node"]) not in nodes:
                nodes.append(escape(p["node"]))
        self.names(state, nodes, "nodes")
        for p in eo["params"]:
            path = f"/optimizer/state/{escape(p['node'])}/{escape(p['param'])}"
            pg = f.get(path)
            if not self.check(isinstance(pg, h5py.Group), f"{path}: missing group"):
                continue
            self.check(set(pg.attrs) == set(p["scalars"]), f"{path}: attributes {set(pg.attrs)}")
            for name, value in p["scalars"].items():
                self.attr(pg, name, "<f8", value, path)
            self.check(set(pg) == {escape(t["name"]) for t in p["tensors"]}, f"{path}: {list(pg)}")
            for t in p["tensors"]:
                self.tensor(f"{path}/{escape(t['name'])}", t)

        # /training: counters, RNG state and best metric as attributes; history datasets.
        tr, et = f["training"], exp["training"]
        self.check(set(tr.attrs) == set(TRAINING_ATTRS), f"/training: attributes {set(tr.attrs)}")
        for name, kind in TRAINING_ATTRS.items():
            self.attr(tr, name, kind, et[name], "/training")
        self.check(list(tr) == ["history"], f"/training: {list(tr)}, expected ['history']")
        hist = tr["history"]
        self.check(set(hist) == {escape(k) for k in et["history"]}, f"/training/history: {list(hist)}")
        for name, series in et["history"].items():
            path = f"/training/history/{escape(name)}"
            ds = f.get(path)
            if not self.check(isinstance(ds, h5py.Dataset), f"{path}: missing dataset"):
                continue
            self.check(ds.dtype == np.dtype("<f8") and ds.shape == (len(series),),
                       f"{path}: {ds.dtype} {ds.shape}, expected float64 ({len(series)},)")
            self.check(ds[()].tolist() == series, f"{path}: {ds[()].tolist()} != {series}")

        # The documented example reads the same weights.
        f.close()
        weights, graph, seed, losses = doc_example(self.path)
        self.check(graph == json.loads(exp["graph_json"]), "doc example: graph differs")
        self.check(seed == et["rng_seed"], f"doc example: seed {seed} != {et['rng_seed']}")
        self.check(losses.tolist() == et["history"]["train_loss"], "doc example: train_loss differs")
        self.check(len(weights) == len(exp["weights"]), "doc example: weight count differs")
        for e in exp["weights"]:
            got = weights.get((e["node"], e["name"]))
            want = np.asarray(e["values"], dtype=TENSOR_DTYPES[e["dtype"]]).reshape(e["shape"])
            self.check(got is not None and np.array_equal(got, want),
                       f"doc example: weight {e['node']}/{e['name']} differs")


def run_writer(writer, workdir):
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    test = "CheckpointInterop.WritesFixtureForH5py"
    env = dict(os.environ, NG_CHECKPOINT_INTEROP_DIR=workdir)
    r = subprocess.run([writer, f"--gtest_filter={test}"], env=env, capture_output=True, text=True)
    if r.returncode != 0 or "[  PASSED  ] 1 test" not in r.stdout:
        sys.exit(f"read_checkpoint.py: FAIL: the writer {writer} --gtest_filter={test} "
                 f"did not pass (exit {r.returncode}):\n{r.stdout}\n{r.stderr}")
    return os.path.join(workdir, "checkpoint.h5"), os.path.join(workdir, "expected.json")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint", nargs="?")
    ap.add_argument("expected", nargs="?")
    ap.add_argument("--writer", help="ng_engine_tests, run to write the fixture")
    ap.add_argument("--workdir", help="where the writer puts checkpoint.h5 and expected.json")
    a = ap.parse_args()
    if a.writer:
        if not a.workdir:
            ap.error("--writer needs --workdir")
        a.checkpoint, a.expected = run_writer(a.writer, a.workdir)
    elif not (a.checkpoint and a.expected):
        ap.error("give CHECKPOINT.h5 EXPECTED.json, or --writer and --workdir")

    with open(a.expected, encoding="utf-8") as fh:
        expected = json.load(fh)
    c = Checker(a.checkpoint)
    try:
        c.run(expected)
    finally:
        if c.f.id.valid:
            c.f.close()
    if c.failures:
        print(f"read_checkpoint.py: FAIL: {len(c.failures)} of {c.checked} checks on {a.checkpoint}:")
        for m in c.failures:
            print("  " + m)
        return 1
    print(f"read_checkpoint.py: OK: {c.checked} checks on {a.checkpoint} "
          f"(h5py {h5py.__version__}, HDF5 {h5py.version.hdf5_version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
