#!/usr/bin/python3
"""`imagebart encode` / `imagebart decode` (the C engine's VQGAN) against the PyTorch twin of
taming-transformers' VQModel, with our remap rule (nearest *used* code).

Bounds: decode, max |C - twin| / max |twin| <= 1e-4 on the raw .f32 output, PNG output within one
8-bit step of the twin. Encode: tokens equal, except that a position may pick the other of two codes
whose (twin) distances differ by at most 1e-5 relative to the distance scale at that position.
"""

import os
import sys
import unittest

import numpy as np

import parity_util
from parity_util import (TempDirTestCase, assert_close, image_to_twin, read_f32, read_png, require_cli, run_cli,
                         smooth_test_image, tokens_arg, write_png)
import torch

from imagebart import modelfile
from imagebart.testmodel import make_test_model

DECODE_BOUND = 1e-4
TIE_BOUND = 1e-5

CASES = {
    "default-f32": (dict(seed=30), "f32"),
    "default-f16": (dict(seed=31), "f16"),
    "default-bf16": (dict(seed=32), "bf16"),
    # no remap, two resolutions with attention (one at full resolution), 2 res blocks, channel change
    "noremap-attn": (dict(codes=40, n_embed=40, ch_mult=(1, 2), num_res_blocks=2, attn_resolutions=(16, 32),
                          seed=33), "f32"),
    # 4x4 tokens, odd latent sizes, no attention outside the middle blocks
    "odd": (dict(ch=64, ch_mult=(1, 1, 1, 2), attn_resolutions=(), z_channels=5, embed_dim=3, codes=17,
                 n_embed=29, seed=34), "f32"),
}


class VqganParityTest(TempDirTestCase):
    worst = {"decode": 0.0, "flips": 0, "tokens": 0}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.models = {}
        for name, (kwargs, dtype) in CASES.items():
            path = os.path.join(cls.tmp, f"{name}.safetensors")
            modelfile.save_model(make_test_model(levels=1, **kwargs), path, dtype)
            cls.models[name] = (path, modelfile.load_model(path))

    @classmethod
    def tearDownClass(cls):
        w = cls.worst
        print(f"\nvqgan: decode worst relative error {w['decode']:.2g}; encode tie flips {w['flips']} "
              f"of {w['tokens']} tokens", file=sys.stderr)
        super().tearDownClass()

    def setUp(self):
        require_cli(self)

    def encode(self, name, seed):
        path, twin = self.models[name]
        res = twin.vqgan.config.resolution
        rgb = smooth_test_image(res, seed)
        png = os.path.join(self.tmp, f"{name}-{seed}.png")
        write_png(png, rgb)
        proc = run_cli(self, "encode", path, png)
        got = np.array([[int(v) for v in line.split()] for line in proc.stdout.strip().splitlines()])
        image = image_to_twin(rgb)
        expected = twin.vqgan.encode(image)[0].numpy()
        self.assertEqual(got.shape, expected.shape, "token grid shape")
        distances = twin.vqgan.code_distances(image)[0]
        latent = twin.vqgan.encode_latent(image)[0].reshape(twin.vqgan.config.embed_dim, -1)
        flips = 0
        for p in np.flatnonzero(got.reshape(-1) != expected.reshape(-1)):
            c, e = int(got.reshape(-1)[p]), int(expected.reshape(-1)[p])
            self.assertTrue(0 <= c < twin.n_codes, f"token {c} out of range")
            scale = max(abs(distances[p, e].item()), abs(distances[p, c].item()),
                        (latent[:, p] ** 2).sum().item(), 1e-12)
            gap = abs(distances[p, c].item() - distances[p, e].item()) / scale
            self.assertLessEqual(gap, TIE_BOUND, f"{name}: position {p}: C picked {c}, twin {e}, "
                                                 f"distance gap {gap:.3g} is not a tie")
            flips += 1
        self.worst["flips"] += flips
        self.worst["tokens"] += got.size
        return got

    def test_encode(self):
        for name in CASES:
            for seed in (0, 1):
                with self.subTest(name=name, seed=seed):
                    tokens = self.encode(name, seed)
                    self.assertGreater(len(np.unique(tokens)), 1, "a structured image should use several codes")

    def decode(self, name, tokens):
        path, twin = self.models[name]
        out = os.path.join(self.tmp, f"{name}.f32")
        run_cli(self, "decode", path, "--tokens", tokens_arg(tokens), "--out", out)
        res = twin.vqgan.config.resolution
        got = read_f32(out).reshape(3, res, res)
        expected = twin.vqgan.decode(torch.as_tensor(tokens).reshape(1, *twin.token_shape))[0].numpy()
        err = assert_close(self, got, expected, DECODE_BOUND, f"{name} decode")
        self.worst["decode"] = max(self.worst["decode"], err)
        return expected

    def test_decode(self):
        gen = torch.Generator().manual_seed(3)
        for name in CASES:
            _, twin = self.models[name]
            h, w = twin.token_shape
            with self.subTest(name=name):
                self.decode(name, torch.randint(0, twin.n_codes, (h * w,), generator=gen))

    def test_decode_extreme_tokens(self):
        _, twin = self.models["default-f32"]
        h, w = twin.token_shape
        for tokens in (np.zeros(h * w, dtype=int), np.full(h * w, twin.n_codes - 1)):
            self.decode("default-f32", tokens)

    def test_encode_decode_roundtrip_png(self):
        path, twin = self.models["default-f32"]
        tokens = self.encode("default-f32", 2)
        expected = self.decode("default-f32", tokens.reshape(-1))
        png = os.path.join(self.tmp, "decoded.png")
        run_cli(self, "decode", path, "--tokens", tokens_arg(tokens), "--out", png)
        pixels = read_png(png)[..., :3].astype(int)
        want = np.rint((np.clip(expected, -1, 1) + 1) * 127.5).transpose(1, 2, 0)
        self.assertLessEqual(np.abs(pixels - want).max(), 1, "PNG pixels differ by more than one step")

    def test_bad_tokens_are_refused(self):
        path, twin = self.models["default-f32"]
        h, w = twin.token_shape
        for tokens in ([0] * (h * w - 1), [twin.n_codes] * (h * w), [-1] * (h * w)):
            proc = run_cli(self, "decode", path, "--tokens", ",".join(map(str, tokens)),
                           "--out", os.path.join(self.tmp, "bad.f32"), expect_ok=False)
            parity_util.assert_refused(self, proc)


if __name__ == "__main__":
    unittest.main()
