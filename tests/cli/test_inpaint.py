"""`imagebart inpaint` as a user meets it: the pixels outside the mask come back exactly, every level and
variant is written with --levels-dir, the result's PNG carries its recipe and replaying it gives the same
bytes, and bad input (sizes, files, options, another model's recipe) is refused with a message and nothing
written."""

import hashlib
import json
import os
import shlex
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "parity"))

from parity_util import TOOLS, assert_refused, read_png, require_cli, write_png  # noqa: E402

import numpy as np  # noqa: E402


def png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def write_rgba_png(path, rgba):
    h, w, _ = rgba.shape
    raw = b"".join(b"\x00" + rgba[y].tobytes() for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
                + png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))


def png_texts(path):
    """The text chunks (tEXt, zTXt, iTXt) of a PNG: {key: value}."""
    with open(path, "rb") as f:
        data = f.read()
    texts, pos = {}, 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if kind == b"tEXt":
            key, value = body.split(b"\0", 1)
            texts[key.decode("latin-1")] = value.decode("latin-1")
        elif kind == b"zTXt":
            key, rest = body.split(b"\0", 1)
            texts[key.decode("latin-1")] = zlib.decompress(rest[1:]).decode("latin-1")
        elif kind == b"iTXt":
            key, rest = body.split(b"\0", 1)
            compressed, rest = rest[0], rest[2:]
            _, rest = rest.split(b"\0", 1)
            _, text = rest.split(b"\0", 1)
            texts[key.decode("latin-1")] = (zlib.decompress(text) if compressed else text).decode("utf-8")
        pos += 12 + length
    return texts


class InpaintTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = os.path.join(cls.tmp.name, "model.safetensors")
        cls.other_model = os.path.join(cls.tmp.name, "other.safetensors")
        for path, seed in ((cls.model, "1"), (cls.other_model, "2")):
            subprocess.run([sys.executable, os.path.join(TOOLS, "make-test-model"), "--levels", "3", "--resolution", "16",
                            "--ch-mult", "1,2,2", "--attn-resolutions", "4", "--codes", "10", "--n-embed", "16",
                            "--gpt-top", "--seed", seed, "-o", path], check=True, capture_output=True)
        h, w = 37, 52
        y, x = np.mgrid[0:h, 0:w]
        cls.image = np.stack([128 + 100 * np.sin(x * 0.2), 128 + 100 * np.cos(y * 0.15), (x * 3 + y) % 256],
                             -1).clip(0, 255).astype(np.uint8)
        cls.mask = np.zeros((h, w), np.uint8)
        cls.mask[8:20, 20:41] = 255
        cls.mask[0:5, 0:3] = 255                      # touching the corner too
        cls.image_path = cls.path("in.png")
        cls.mask_path = cls.path("mask.png")
        write_png(cls.image_path, cls.image)
        write_png(cls.mask_path, np.repeat(cls.mask[:, :, None], 3, 2))

    @classmethod
    def text_model(cls):
        """A text-conditional model: a test model with room for 3 prefix tokens, its config's conditioning
        changed to a small vocabulary (the tensors do not depend on it)."""
        path = cls.path("text.safetensors")
        if os.path.exists(path):
            return path
        plain = cls.path("text-plain.safetensors")
        subprocess.run([sys.executable, os.path.join(TOOLS, "make-test-model"), "--levels", "2", "--resolution", "16",
                        "--ch-mult", "1,2,2", "--attn-resolutions", "4", "--codes", "10", "--n-embed", "16",
                        "--extra-positions", "3", "-o", plain], check=True, capture_output=True)
        with open(plain, "rb") as f:
            data = f.read()
        (length,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + length])
        config = json.loads(header["__metadata__"]["imagebart.config"])
        config["conditioning"] = {"kind": "text", "tokenizer": {"vocab": ["<pad>", "<unk>", "red", "door", "blue"],
                                                                "length": 3, "token_offset": 0}}
        header["__metadata__"]["imagebart.config"] = json.dumps(config)
        encoded = json.dumps(header).encode()
        encoded += b" " * (-(8 + len(encoded)) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(encoded)) + encoded + data[8 + length:])
        return path

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    @classmethod
    def path(cls, name):
        return os.path.join(cls.tmp.name, name)

    def run_tool(self, *args, ok=True):
        proc = subprocess.run([require_cli(self), "inpaint", *map(str, args)], capture_output=True, text=True,
                              timeout=300)
        if ok:
            self.assertEqual(proc.returncode, 0, proc.stderr)
        else:
            assert_refused(self, proc)
            self.assertTrue(proc.stderr.strip(), "an error needs a message")
        return proc

    def inpaint(self, out, *extra, image=None, mask=None, ok=True):
        return self.run_tool(self.model, "--image", image or self.image_path, "--mask", mask or self.mask_path,
                             "--out", out, *extra, ok=ok)

    def assert_outside_identical(self, result, image, mask):
        self.assertEqual(result.shape[:2], image.shape[:2])
        outside = mask == 0
        np.testing.assert_array_equal(result[..., :image.shape[2]][outside], image[outside])
        self.assertTrue((result[..., :3][~outside] != image[..., :3][~outside]).any(), "nothing was re-synthesized")

    def test_variants_and_levels(self):
        out = self.path("result.png")
        levels = self.path("levels")
        proc = self.inpaint(out, "--seed", "5", "--variants", "2", "--levels-dir", levels, "--chain", "2:2",
                            "--feather", "2")
        self.assertIn("seed 5", proc.stdout)
        for variant_out in (out, self.path("result-2.png")):
            self.assertIn(variant_out, proc.stdout)
            self.assert_outside_identical(read_png(variant_out), self.image, self.mask)
        self.assertFalse((read_png(out) == read_png(self.path("result-2.png"))).all())
        for t in (1, 2, 3):
            for v in (1, 2):
                level = read_png(os.path.join(levels, f"level-{t}-variant-{v}.png"))
                self.assert_outside_identical(level, self.image, self.mask)
        # The last level's picture is the result.
        np.testing.assert_array_equal(read_png(os.path.join(levels, "level-1-variant-1.png")), read_png(out))

    def test_recipe_and_replay(self):
        out = self.path("original.png")
        self.inpaint(out, "--seed", "18446744073709551615", "--start-level", "2", "--temperature", "2..0.5",
                     "--top-k", "3", "--no-colour-match")
        recipe = json.loads(png_texts(out)["imagebart-recipe"])
        with open(self.model, "rb") as f:
            self.assertEqual(recipe["model"]["sha256"], hashlib.sha256(f.read()).hexdigest())
        h, w = self.mask.shape
        rgba = np.concatenate([self.image, np.full((h, w, 1), 255, np.uint8)], 2)
        self.assertEqual(recipe["image"]["sha256"], hashlib.sha256(f"rgba8 {w}x{h}\n".encode() + rgba.tobytes()).hexdigest())
        self.assertEqual(recipe["mask"]["sha256"], hashlib.sha256(f"gray8 {w}x{h}\n".encode() + self.mask.tobytes()).hexdigest())
        self.assertEqual(recipe["seed"], "18446744073709551615")
        self.assertEqual(recipe["start_level"], 2)
        self.assertFalse(recipe["match_colours"])
        levels = {level["t"]: level for level in recipe["levels"]}
        self.assertAlmostEqual(levels[2]["temperature"], 2.0)
        self.assertAlmostEqual(levels[1]["temperature"], 0.5)
        self.assertEqual(levels[1]["top_k"], 3)

        replay = self.path("replay.png")
        self.run_tool(self.model, "--recipe", out, "--image", self.image_path, "--mask", self.mask_path, "--out", replay)
        with open(out, "rb") as a, open(replay, "rb") as b:
            self.assertEqual(a.read(), b.read())

        # A recipe as JSON works too; an explicit option overrides it.
        recipe_json = self.path("recipe.json")
        with open(recipe_json, "w") as f:
            json.dump(recipe, f)
        other_seed = self.path("other-seed.png")
        self.run_tool(self.model, "--recipe", recipe_json, "--image", self.image_path, "--mask", self.mask_path,
                      "--out", other_seed, "--seed", "7")
        self.assertEqual(json.loads(png_texts(other_seed)["imagebart-recipe"])["seed"], "7")

        # Another model: refused, nothing written. Another picture: a warning.
        refused = self.path("refused.png")
        proc = self.run_tool(self.other_model, "--recipe", out, "--image", self.image_path, "--mask", self.mask_path,
                             "--out", refused, ok=False)
        self.assertIn("another model", proc.stderr)
        self.assertFalse(os.path.exists(refused))
        proc = self.run_tool(self.model, "--recipe", out, "--image", replay, "--mask", self.mask_path,
                             "--out", self.path("warned.png"))
        self.assertIn("warning", proc.stderr)
        proc = self.run_tool(self.model, "--recipe", self.image_path, "--image", self.image_path,
                             "--mask", self.mask_path, "--out", refused, ok=False)
        self.assertIn("recipe", proc.stderr)

    def test_rgba_and_odd_sizes(self):
        rng = np.random.default_rng(3)
        for h, w in ((7, 9), (16, 16), (61, 23)):
            rgba = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
            mask = np.zeros((h, w), np.uint8)
            mask[h // 3:h - 1, 0:w // 2] = 255
            image_path, mask_path, out = self.path(f"rgba-{h}.png"), self.path(f"mask-{h}.png"), self.path(f"out-{h}.png")
            write_rgba_png(image_path, rgba)
            write_png(mask_path, np.repeat(mask[:, :, None], 3, 2))
            self.inpaint(out, "--seed", "1", image=image_path, mask=mask_path)
            result = read_png(out)
            self.assertEqual(result.shape, (h, w, 4))
            self.assert_outside_identical(result, rgba, mask)
            np.testing.assert_array_equal(result[..., 3], rgba[..., 3])

    def test_backends(self):
        # The Vulkan engine (lavapipe here) draws the same tokens, so the same pixels; the recipe names the engine.
        # Without a Vulkan loader, --backend vulkan is refused with the reason and auto runs on the CPU engine.
        cpu, vulkan = self.path("backend-cpu.png"), self.path("backend-vulkan.png")
        self.inpaint(cpu, "--seed", "5", "--backend", "cpu")
        devices = subprocess.run([require_cli(self), "devices"], capture_output=True, text=True, timeout=60).stdout
        if "No Vulkan device" not in devices:
            self.inpaint(vulkan, "--seed", "5", "--backend", "vulkan", "--variants", "2")
            np.testing.assert_array_equal(read_png(vulkan), read_png(cpu))
            self.assertEqual(json.loads(png_texts(vulkan)["imagebart-recipe"])["backend"], "vulkan")
        self.assertEqual(json.loads(png_texts(cpu)["imagebart-recipe"])["backend"], "cpu")
        no_loader = dict(os.environ, IMAGEBART_VULKAN_LOADER="/nonexistent/libvulkan.so.1")
        refused = self.path("backend-refused.png")
        proc = subprocess.run([require_cli(self), "inpaint", self.model, "--image", self.image_path, "--mask",
                               self.mask_path, "--out", refused, "--backend", "vulkan"], capture_output=True,
                              text=True, timeout=300, env=no_loader)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("Vulkan", proc.stderr)
        self.assertFalse(os.path.exists(refused))
        auto = self.path("backend-auto.png")
        proc = subprocess.run([require_cli(self), "inpaint", self.model, "--image", self.image_path, "--mask",
                               self.mask_path, "--out", auto, "--seed", "5", "--backend", "auto"],
                              capture_output=True, text=True, timeout=300, env=no_loader)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        np.testing.assert_array_equal(read_png(auto), read_png(cpu))

    def test_empty_mask(self):
        empty = self.path("empty-mask.png")
        write_png(empty, np.zeros(self.image.shape, np.uint8))
        out = self.path("unchanged.png")
        self.inpaint(out, mask=empty)
        np.testing.assert_array_equal(read_png(out), self.image)

    def test_prompt(self):
        model = self.text_model()
        out = self.path("prompted.png")
        proc = self.run_tool(model, "--image", self.image_path, "--mask", self.mask_path, "--out", out,
                             "--prompt", "Blue DOOR!", "--seed", "3")
        self.assertNotIn("warning", proc.stderr)
        recipe = json.loads(png_texts(out)["imagebart-recipe"])
        self.assertEqual(recipe["conditioning"], {"kind": "text", "tokens": [4, 3, 0]})
        self.assert_outside_identical(read_png(out), self.image, self.mask)
        # The same tokens given directly give the same picture; unknown and surplus words are warned about.
        direct = self.path("direct.png")
        self.run_tool(model, "--image", self.image_path, "--mask", self.mask_path, "--out", direct,
                      "--text-tokens", "4,3,0", "--seed", "3")
        np.testing.assert_array_equal(read_png(direct), read_png(out))
        proc = self.run_tool(model, "--image", self.image_path, "--mask", self.mask_path, "--out", direct,
                             "--prompt", "a red red red door")
        self.assertIn("vocabulary", proc.stderr)
        self.assertIn("left out", proc.stderr)
        for extra, words in ((("--text-tokens", "4,3"), "exactly 3"), (("--text-tokens", "4,3,9"), "vocabulary"),
                             ((), "--prompt"), (("--class", "1"), "class-conditional")):
            proc = self.run_tool(model, "--image", self.image_path, "--mask", self.mask_path, "--out",
                                 self.path("never-text.png"), *extra, ok=False)
            self.assertIn(words, proc.stderr)
        self.assertFalse(os.path.exists(self.path("never-text.png")))

    def test_conditioned_sample(self):
        """imagebart sample on a conditioned model is an edit of a blank picture with all of it masked: the same
        pixels as that edit by hand, with its recipe; the prompt or class changes the picture; misuse refused."""
        model = self.text_model()
        size = 16
        blank, full = self.path("blank.png"), self.path("full-mask.png")
        write_png(blank, np.full((size, size, 3), 255, np.uint8))
        write_png(full, np.full((size, size, 3), 255, np.uint8))
        sample, by_hand = self.path("sample-door.png"), self.path("by-hand-door.png")
        proc = subprocess.run([require_cli(self), "sample", model, "--prompt", "blue door", "--seed", "3", "--out",
                               sample], capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("seed 3", proc.stdout)
        self.run_tool(model, "--image", blank, "--mask", full, "--prompt", "blue door", "--seed", "3", "--feather", "0",
                      "--no-colour-match", "--out", by_hand)
        np.testing.assert_array_equal(read_png(sample), read_png(by_hand))
        self.assertEqual(json.loads(png_texts(sample)["imagebart-recipe"])["conditioning"],
                         {"kind": "text", "tokens": [4, 3, 0]})
        other = self.path("sample-red.png")
        subprocess.run([require_cli(self), "sample", model, "--prompt", "red", "--seed", "3", "--out", other],
                       check=True, capture_output=True, timeout=300)
        self.assertFalse(np.array_equal(read_png(sample), read_png(other)), "the prompt changed nothing")

        class_model = self.path("class.safetensors")
        subprocess.run([sys.executable, os.path.join(TOOLS, "make-test-model"), "--levels", "2", "--resolution", "16",
                        "--ch-mult", "1,2,2", "--attn-resolutions", "4", "--codes", "10", "--n-embed", "16",
                        "--conditioning", "class", "--classes", "3", "-o", class_model], check=True, capture_output=True)
        pictures = []
        for label in ("0", "2"):
            out = self.path("sample-class-%s.png" % label)
            subprocess.run([require_cli(self), "sample", class_model, "--class", label, "--seed", "5", "--out", out],
                           check=True, capture_output=True, timeout=300)
            pictures.append(read_png(out))
        self.assertEqual(pictures[0].shape, (size, size, 3))
        self.assertFalse(np.array_equal(*pictures), "the class changed nothing")

        never = self.path("never-sample.png")
        for args, words in (((model,), "--prompt"), ((model, "--class", "1"), "class-conditional"),
                            ((model, "--prompt", "red", "--guidance", "0"), "guidance"),
                            ((class_model, "--class", "7"), "class"),
                            ((self.model, "--prompt", "red"), "text-conditional")):
            proc = subprocess.run([require_cli(self), "sample", *args, "--out", never], capture_output=True, text=True,
                                  timeout=300)
            assert_refused(self, proc)
            self.assertIn(words, proc.stderr)
        proc = subprocess.run([require_cli(self), "sample", model, "--prompt", "red", "--out", self.path("never.f32")],
                              capture_output=True, text=True, timeout=300)
        assert_refused(self, proc)
        self.assertIn(".png", proc.stderr)
        self.assertFalse(os.path.exists(never) or os.path.exists(self.path("never.f32")))

    def test_samples_readme_command(self):
        """data/samples/README.md's command, as written there (the bundled model on a sample picture, from the
        source root): it runs, and the picture outside the mask comes back exactly."""
        root = os.path.normpath(os.path.join(TOOLS, ".."))
        with open(os.path.join(root, "data", "samples", "README.md")) as f:
            block = f.read().split("```sh\n", 1)[1].split("```", 1)[0]
        args = shlex.split(block.replace("\\\n", " "))
        self.assertEqual(args[:2], ["imagebart", "inpaint"])
        self.assertEqual(args[-2], "--out")
        out = self.path("sample-edited.png")
        args = [require_cli(self)] + args[1:-1] + [out]
        proc = subprocess.run(args, cwd=root, capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        picture, mask = (read_png(os.path.join(root, args[args.index(flag) + 1])) for flag in ("--image", "--mask"))
        self.assert_outside_identical(read_png(out), picture, mask[..., 0])

    def test_bad_input(self):
        out = self.path("never.png")
        small_mask = self.path("small-mask.png")
        write_png(small_mask, np.zeros((10, 10, 3), np.uint8))
        broken = self.path("broken.png")
        with open(broken, "wb") as f:
            f.write(b"\x89PNG\r\n\x1a\nnot really")
        cases = [
            (("--mask", small_mask), "same size"),
            (("--image", broken), "picture"),
            (("--image", self.path("absent.png")), "absent.png"),
            (("--mask", self.path("absent-mask.png")), "absent-mask.png"),
            (("--prompt", "a red door"), "text-conditional"),
            (("--class", "3"), "class-conditional"),
            (("--start-level", "0"), "--start-level"),
            (("--start-level", "4"), "--start-level"),
            (("--variants", "0"), "variants"),
            (("--temperature", "hot"), "--temperature"),
            (("--temperature", "0"), "temperature"),
            (("--top-k", "1.5"), "--top-k"),
            (("--top-k", "11"), "top-k"),
            (("--chain", "9:2"), "--chain"),
            (("--chain", "0"), "run between"),
            (("--feather", "-1"), "feather"),
            (("--seed", "-1"), "--seed"),
            (("--backend", "tpu"), "backend"),
        ]
        for extra, words in cases:
            args = dict(zip(extra[::2], extra[1::2]))
            image, mask = args.pop("--image", None), args.pop("--mask", None)
            rest = [item for pair in args.items() for item in pair]
            proc = self.inpaint(out, *rest, image=image, mask=mask, ok=False)
            self.assertIn(words, proc.stderr, extra)
            self.assertFalse(os.path.exists(out), extra)
        proc = self.run_tool(self.model, "--image", self.image_path, "--mask", self.mask_path, ok=False)
        self.assertIn("--out", proc.stderr)
        proc = self.run_tool(self.model, "--image", self.image_path, "--mask", self.mask_path, "--out",
                             self.path("x.jpg"), ok=False)
        self.assertIn(".png", proc.stderr)


if __name__ == "__main__":
    unittest.main()
