"""Shared helpers of the parity tests: finding the twin and the C command-line tool, running it,
writing PNG files without an image library, and comparing arrays with stated error bounds.

The tests run with /usr/bin/python3 (Debian's torch). IMAGEBART_CLI names the C tool (meson sets it);
without it, tests that need the C side are skipped and the Python-only tests still run.
"""

import os
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.environ.get("IMAGEBART_TOOLS") or os.path.normpath(os.path.join(HERE, "..", "..", "tools"))
sys.path.insert(0, TOOLS)

import torch  # noqa: E402

torch.set_num_threads(2)
torch.set_grad_enabled(False)


def cli_path():
    return os.environ.get("IMAGEBART_CLI")


def require_cli(test):
    """Skips the test when no C tool is configured; fails when one is configured but missing."""
    path = cli_path()
    if not path:
        raise unittest.SkipTest("IMAGEBART_CLI is not set (the C side is not built)")
    if not os.access(path, os.X_OK):
        test.fail(f"IMAGEBART_CLI={path} is not an executable")
    return path


def run_cli(test, *args, expect_ok=True):
    proc = subprocess.run([require_cli(test), *map(str, args)], capture_output=True, text=True, timeout=120)
    if expect_ok and proc.returncode != 0:
        test.fail(f"imagebart {' '.join(map(str, args))[:300]} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def assert_refused(test, proc):
    """The C tool refused the input with an error exit, not a crash: subprocess reports death by a
    signal (an assertion's abort, a segfault) as a negative return code, a shell as 128 + signal."""
    test.assertTrue(0 < proc.returncode < 128,
                    f"exit status {proc.returncode}: crashed instead of refusing ({proc.stderr.strip()[-300:]})")


def tokens_arg(values):
    return ",".join(str(int(v)) for v in np.asarray(values).reshape(-1))


def read_f32(path):
    return np.fromfile(path, dtype="<f4")


def cli_logits(test, model_path, t, src, tgt, workdir):
    """`imagebart logits` -> (len(tgt), K) float32."""
    out = os.path.join(workdir, "logits.f32")
    run_cli(test, "logits", model_path, "--level", t, "--src", tokens_arg(src), "--tgt", tokens_arg(tgt),
            "--out", out)
    data = read_f32(out)
    return data.reshape(len(np.asarray(tgt).reshape(-1)), -1)


def relative_error(actual, expected):
    """max |actual - expected| / max |expected|: the error relative to the output's scale."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise AssertionError(f"shape {actual.shape} != {expected.shape}")
    scale = max(np.abs(expected).max(), 1e-12)
    return np.abs(actual - expected).max() / scale


def assert_close(test, actual, expected, bound, what):
    err = relative_error(actual, expected)
    test.assertLessEqual(err, bound, f"{what}: relative error {err:.3g} > {bound:g}")
    return err


def _png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


def write_png(path, rgb):
    """rgb: (h, w, 3) uint8 -> 8-bit RGB PNG, no filtering, one IDAT chunk."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[y].tobytes() for y in range(h))
    png = (b"\x89PNG\r\n\x1a\n"
           + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
           + _png_chunk(b"IDAT", zlib.compress(raw, 9))
           + _png_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(png)


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def read_png(path):
    """8-bit grey, RGB or RGBA, non-interlaced PNG -> (h, w, channels) uint8 (enough for the C tool's output
    and the bundled samples' masks)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    w, h, depth, color, _, _, interlace = header
    channels = {0: 1, 2: 3, 6: 4}
    if depth != 8 or color not in channels or interlace:
        raise ValueError(f"{path}: unsupported PNG layout {header}")
    bpp = channels[color]
    raw, stride = zlib.decompress(idat), w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
            pred = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        prev = line
    return np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(h, w, bpp)


def image_to_twin(rgb):
    """The C tool's conversion: value / 127.5 - 1 in float32, CHW, batch of one."""
    x = rgb.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def smooth_test_image(resolution, seed):
    """A structured RGB image (gradients, a disc, noise) so that encoding uses many codes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:resolution, 0:resolution] / max(resolution - 1, 1)
    disc = ((x - 0.6) ** 2 + (y - 0.4) ** 2 < 0.08).astype(float)
    img = np.stack([x, y, 0.5 * (1 - x) + 0.5 * disc], axis=-1) * 255
    img += rng.normal(0, 20, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


class TempDirTestCase(unittest.TestCase):
    """A fresh temporary directory per test class, removed afterwards."""

    @classmethod
    def setUpClass(cls):
        cls._tmp = tempfile.TemporaryDirectory(prefix="imagebart-parity-")
        cls.tmp = cls._tmp.name

    @classmethod
    def tearDownClass(cls):
        cls._tmp.cleanup()
