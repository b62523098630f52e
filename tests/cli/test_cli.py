"""The imagebart command line as a user meets it: every command on a small model, and every kind of bad
input refused with a message and a non-zero exit status (never a crash, never a partial output file)."""

import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "parity"))

from parity_util import TOOLS, assert_refused, read_png, require_cli, write_png  # noqa: E402

import numpy as np  # noqa: E402


class CommandLineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = os.path.join(cls.tmp.name, "model.safetensors")
        subprocess.run([sys.executable, os.path.join(TOOLS, "make-test-model"), "--levels", "2", "--resolution", "16",
                        "--ch-mult", "1,2,2", "--attn-resolutions", "4", "--codes", "10", "--n-embed", "16", "--gpt-top", "-o", cls.model],
                       check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def run_tool(self, *args, env=None, ok=True):
        merged = dict(os.environ, **(env or {}))
        proc = subprocess.run([require_cli(self), *map(str, args)], capture_output=True, text=True, timeout=120,
                              env=merged)
        if ok:
            self.assertEqual(proc.returncode, 0, proc.stderr)
        else:
            assert_refused(self, proc)
            self.assertTrue(proc.stderr.strip(), "an error needs a message")
        return proc

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def grid(self):
        return ",".join(str(i % 10) for i in range(16))

    def test_quick_start_demo(self):
        """tools/demo.sh, what `./dev.sh run` (the README's first command) runs before the editor: on the bundled
        text model a prompted edit of a sample picture, on an unconditional and a class-conditional model what
        each can do, every one a picture."""
        root = os.path.normpath(os.path.join(TOOLS, ".."))
        build = os.path.dirname(os.path.dirname(os.path.abspath(require_cli(self))))
        class_model = os.path.join(self.tmp.name, "class.safetensors")
        subprocess.run([sys.executable, os.path.join(TOOLS, "make-test-model"), "--levels", "2", "--resolution", "16",
                        "--ch-mult", "1,2,2", "--attn-resolutions", "4", "--codes", "10", "--n-embed", "16",
                        "--conditioning", "class", "--classes", "3", "-o", class_model], check=True, capture_output=True)
        for model, size, says in ((os.path.join(root, "data", "models", "default.safetensors"), 64, "red apple"),
                                  (self.model, 16, "a sample"), (class_model, 64, "class 0")):
            out = os.path.join(self.tmp.name, "demo.png")
            if os.path.exists(out):
                os.remove(out)
            proc = subprocess.run(["bash", os.path.join(TOOLS, "demo.sh"), build, model, out], capture_output=True,
                                  text=True, timeout=300)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn(says, proc.stdout)
            self.assertEqual(read_png(out).shape[:2], (size, size))

    def test_usage(self):
        self.assertIn("Commands", self.run_tool("--help").stdout)
        self.assertIn("unknown command", self.run_tool("frobnicate", ok=False).stderr)
        proc = subprocess.run([require_cli(self)], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 1)

    def test_info(self):
        out = self.run_tool("info", self.model).stdout
        for words in ("Model:", "Image: 16x16 pixels, 4x4 tokens", "Schedule: geometric, 2 levels", "Level 1:",
                      "Level 2: gpt", "Conditioning: none", "Weights:"):
            self.assertIn(words, out)

    def test_model_from_environment(self):
        out = self.run_tool("info", env={"IMAGEBART_MODEL": self.model}).stdout
        self.assertIn("Level 2", out)
        proc = self.run_tool("info", env={"IMAGEBART_MODEL": self.path("absent.safetensors")}, ok=False)
        self.assertIn("absent.safetensors", proc.stderr)

    def test_bad_model_files(self):
        with open(self.model, "rb") as f:
            data = f.read()
        cases = {"empty": b"", "truncated": data[: len(data) // 2], "text": b"hello, not a model\n" * 10}
        for name, content in cases.items():
            path = self.path(name + ".safetensors")
            with open(path, "wb") as f:
                f.write(content)
            proc = self.run_tool("info", path, ok=False)
            self.assertIn("model file", proc.stderr)
        self.assertIn("Could not open", self.run_tool("info", self.path("missing"), ok=False).stderr)
        self.assertIn("folder", self.run_tool("info", self.tmp.name, ok=False).stderr)

    def test_common_options(self):
        no_loader = {"IMAGEBART_VULKAN_LOADER": "/nonexistent/libvulkan.so.1"}
        self.assertIn("No Vulkan loader",
                      self.run_tool("info", self.model, "--backend", "vulkan", env=no_loader, ok=False).stderr)
        self.run_tool("info", self.model, "--backend", "auto", env=no_loader)
        self.assertIn("--device", self.run_tool("info", self.model, "--backend", "cpu", "--device", "0", ok=False).stderr)
        self.assertIn("devices", self.run_tool("info", self.model, "--device", "no such gpu", ok=False).stderr)
        self.assertIn("Unknown --backend", self.run_tool("info", self.model, "--backend", "tpu", ok=False).stderr)
        self.assertIn("--threads", self.run_tool("info", self.model, "--threads", "-3", ok=False).stderr)
        self.run_tool("info", self.model, "--backend", "cpu", "--threads", "1")
        self.run_tool("info", self.model, "--bogus-option", ok=False)
        self.run_tool("info", self.model, "extra", "arguments", ok=False)

    def test_devices(self):
        # Lists the devices, or says plainly that there is none; never fails for want of Vulkan.
        self.assertTrue(self.run_tool("devices").stdout.strip())
        proc = self.run_tool("devices", env={"IMAGEBART_VULKAN_LOADER": "/nonexistent/libvulkan.so.1"})
        self.assertIn("No Vulkan device", proc.stdout)
        self.assertIn("CPU engine", proc.stdout)
        self.run_tool("devices", "extra", ok=False)

    def test_decode(self):
        png, raw = self.path("decoded.png"), self.path("decoded.f32")
        self.run_tool("decode", self.model, "--tokens", self.grid(), "--out", png)
        self.assertEqual(read_png(png).shape, (16, 16, 3))
        self.run_tool("decode", self.model, "--tokens", self.grid(), "--out", raw)
        self.assertEqual(os.path.getsize(raw), 3 * 16 * 16 * 4)

        for tokens, message in (("1,2,3", "has 3 tokens"), (self.grid() + ",1", "has 17 tokens"),
                                (self.grid().replace("0", "10", 1), "not a token"), ("a,b", "not a token"),
                                ("", "comma-separated"), ("-1," + self.grid()[2:], "not a token")):
            out = self.path("refused.png")
            proc = self.run_tool("decode", self.model, "--tokens", tokens, "--out", out, ok=False)
            self.assertIn(message, proc.stderr)
            self.assertFalse(os.path.exists(out), "a refused command must not leave an output file")
        self.assertIn("--out", self.run_tool("decode", self.model, "--tokens", self.grid(), ok=False).stderr)
        proc = self.run_tool("decode", self.model, "--tokens", self.grid(), "--out", "/nonexistent/dir/x.png", ok=False)
        self.assertIn("Could not write", proc.stderr)

    def test_encode(self):
        rng = np.random.default_rng(3)
        square, wide = self.path("square.png"), self.path("wide.png")
        write_png(square, rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
        write_png(wide, rng.integers(0, 256, (20, 40, 3), dtype=np.uint8))
        rows = self.run_tool("encode", self.model, square).stdout.split("\n")[:-1]
        self.assertEqual(len(rows), 4)
        for row in rows:
            self.assertTrue(all(0 <= int(v) < 10 for v in row.split()) and len(row.split()) == 4)
        proc = self.run_tool("encode", self.model, wide)
        self.assertIn("centre square", proc.stderr)

        broken = self.path("broken.png")
        with open(broken, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
        self.assertIn("Could not read the image", self.run_tool("encode", self.model, broken, ok=False).stderr)
        self.assertIn("Could not read the image", self.run_tool("encode", self.model, self.path("none.png"),
                                                                ok=False).stderr)

    def test_logits(self):
        out = self.path("logits.f32")
        self.run_tool("logits", self.model, "--level", "1", "--src", "1," + self.grid(), "--tgt", "0,1,2",
                      "--out", out)
        self.assertEqual(os.path.getsize(out), 3 * 10 * 4)
        for args, message in ((["--level", "0"], "--level"), (["--level", "3"], "--level"),
                              (["--level", "1", "--src", "99"], "not a token"),
                              (["--level", "1", "--src", "1," + self.grid(), "--tgt", "0," * 16 + "0"], ""),
                              (["--level", "1", "--src", "1,2"], "--tgt")):
            self.run_tool("logits", self.model, *args, "--out", self.path("refused.f32"), ok=False)

    def test_logits_vulkan(self):
        # The Vulkan engine's logits are the CPU engine's (where a Vulkan device exists, lavapipe included).
        for level, src, tgt in ((1, "1," + self.grid(), "0,1,2,3,4,5"), (2, "2,3", "0,1,2,3,4")):
            cpu, vk = self.path("cpu.f32"), self.path("vk.f32")
            args = ["logits", self.model, "--level", str(level), "--src", src, "--tgt", tgt]
            self.run_tool(*args, "--out", cpu, "--backend", "cpu")
            proc = subprocess.run([require_cli(self), *args, "--out", vk, "--backend", "vulkan"], capture_output=True,
                                  text=True, timeout=120)
            if proc.returncode != 0 and "No Vulkan" in proc.stderr:
                self.skipTest("no Vulkan device: " + proc.stderr.strip())
            self.assertEqual(proc.returncode, 0, proc.stderr)
            a, b = np.fromfile(cpu, dtype=np.float32), np.fromfile(vk, dtype=np.float32)
            self.assertEqual(a.shape, b.shape)
            self.assertLess(np.linalg.norm(a - b) / np.linalg.norm(a), 1e-5)

    def test_vqgan_vulkan(self):
        # encode and decode on the Vulkan engine give the CPU engine's image and tokens (a near-tie aside).
        cpu, vk, png = self.path("cpu.f32"), self.path("vk.f32"), self.path("cpu.png")
        self.run_tool("decode", self.model, "--tokens", self.grid(), "--out", cpu, "--backend", "cpu")
        self.run_tool("decode", self.model, "--tokens", self.grid(), "--out", png, "--backend", "cpu")
        proc = subprocess.run([require_cli(self), "decode", self.model, "--tokens", self.grid(), "--out", vk,
                               "--backend", "vulkan"], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 and "No Vulkan" in proc.stderr:
            self.skipTest("no Vulkan device: " + proc.stderr.strip())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        a, b = np.fromfile(cpu, dtype=np.float32), np.fromfile(vk, dtype=np.float32)
        self.assertLess(np.linalg.norm(a - b) / np.linalg.norm(a), 1e-5)
        tokens = [self.run_tool("encode", self.model, png, "--backend", backend).stdout.split()
                  for backend in ("cpu", "vulkan")]
        self.assertEqual(len(tokens[0]), 16)
        self.assertLessEqual(sum(x != y for x, y in zip(*tokens)), 1)

    def test_sample_vulkan(self):
        # The device draws the CPU engine's tokens from the same seed: the same picture up to rounding.
        cpu, vk = self.path("sample-cpu.f32"), self.path("sample-vk.f32")
        self.run_tool("sample", self.model, "--seed", "7", "--out", cpu, "--backend", "cpu")
        proc = subprocess.run([require_cli(self), "sample", self.model, "--seed", "7", "--out", vk, "--backend", "vulkan"],
                              capture_output=True, text=True, timeout=120)
        if proc.returncode != 0 and "No Vulkan" in proc.stderr:
            self.skipTest("no Vulkan device: " + proc.stderr.strip())
        self.assertEqual(proc.returncode, 0, proc.stderr)
        a, b = np.fromfile(cpu, dtype=np.float32), np.fromfile(vk, dtype=np.float32)
        self.assertLess(np.linalg.norm(a - b) / np.linalg.norm(a), 1e-5)

    def test_sample_is_reproducible(self):
        a, b, c = self.path("a.png"), self.path("b.png"), self.path("c.png")
        self.assertIn("seed 5", self.run_tool("sample", self.model, "--seed", "5", "--out", a).stdout)
        self.run_tool("sample", self.model, "--seed", "5", "--out", b)
        self.run_tool("sample", self.model, "--seed", "6", "--out", c)
        self.assertTrue(np.array_equal(read_png(a), read_png(b)))
        self.assertFalse(np.array_equal(read_png(a), read_png(c)))
        self.assertIn("--seed", self.run_tool("sample", self.model, "--seed", "-1", "--out", a, ok=False).stderr)


if __name__ == "__main__":
    unittest.main()
