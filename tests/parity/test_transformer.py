#!/usr/bin/python3
"""`imagebart logits` (the C engine's stage transformer) against the PyTorch twin, which follows the
official XTransformer / ScaledXTransformer / ResidualScaledXTransformer.

Error bound: max |C - twin| / max |twin| <= 1e-4 for every storage type. For f16/bf16 files the twin
is loaded from the same file, so both sides use the same rounded weights; only the arithmetic (f32 in
both, different summation order) differs.
"""

import os
import subprocess
import sys
import unittest
import zlib

import numpy as np

import parity_util
from parity_util import TempDirTestCase, TOOLS, assert_close, cli_logits, require_cli, run_cli
import torch

from imagebart import modelfile
from imagebart.testmodel import make_test_model

LOGITS_BOUND = 1e-4

BASE = dict(levels=3, dim=40, depths=(2, 1), heads=(3, 2), dim_head=12, codes=37, n_embed=48)
CASES = {
    **{f"{variant}-{dtype}": (dict(BASE, variant=variant, seed=i), dtype)
       for i, (variant, dtype) in enumerate((v, d) for v in ("plain", "scaled", "residual_scaled")
                                            for d in ("f32", "f16", "bf16"))},
    # one transformer for all levels, stored once under one prefix
    "joint": (dict(BASE, variant="residual_scaled", levels=4, joint=True, seed=20), "f32"),
    "joint-bf16": (dict(BASE, variant="scaled", levels=2, joint=True, seed=21), "bf16"),
    # dim not a multiple of 8, heads * dim_head != dim, decoder wider than encoder, longer max_seq_lens
    "odd": (dict(levels=2, variant="residual_scaled", dim=37, depths=(1, 2), heads=(5, 3), dim_head=7, codes=23,
                 n_embed=23, extra_positions=3, seed=22), "f32"),
    "class": (dict(BASE, variant="residual_scaled", conditioning="class", n_classes=50, seed=23), "f16"),
}


class TransformerParityTest(TempDirTestCase):
    worst = {}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.models = {}
        for name, (kwargs, dtype) in CASES.items():
            path = os.path.join(cls.tmp, f"{name}.safetensors")
            modelfile.save_model(make_test_model(**kwargs), path, dtype)
            cls.models[name] = (path, modelfile.load_model(path), dtype)

    @classmethod
    def tearDownClass(cls):
        summary = ", ".join(f"{d} {e:.2g}" for d, e in sorted(cls.worst.items()))
        print(f"\nlogits: worst relative error per storage type: {summary}", file=sys.stderr)
        super().tearDownClass()

    def setUp(self):
        require_cli(self)
        self.gen = torch.Generator().manual_seed(zlib.crc32(self.id().encode()))

    def random_tokens(self, n, high):
        return torch.randint(0, high, (n,), generator=self.gen)

    def source(self, model, t, length=None, class_id=3):
        h, w = model.token_shape
        src = model.source(t, self.random_tokens(h * w, model.n_codes)[None], class_id)[0]
        return src if length is None else src[:length]

    def target(self, model, length):
        return torch.cat([torch.zeros(1, dtype=torch.long), self.random_tokens(length - 1, model.n_codes)])

    def compare(self, name, t, src, tgt):
        path, twin, dtype = self.models[name]
        expected = twin.transformer(t)(src[None], tgt[None])[0].numpy()
        got = cli_logits(self, path, t, src, tgt, self.tmp)
        err = assert_close(self, got, expected, LOGITS_BOUND, f"{name} level {t} len(src) {len(src)} "
                                                              f"len(tgt) {len(tgt)}")
        self.worst[dtype] = max(self.worst.get(dtype, 0.0), err)
        return got

    def test_every_variant_dtype_and_level(self):
        for name in (n for n in CASES if n.split("-")[0] in ("plain", "scaled", "residual_scaled")):
            _, model, _ = self.models[name]
            for t in range(1, model.n_levels + 1):
                with self.subTest(name=name, t=t):
                    self.compare(name, t, self.source(model, t), self.target(model, 64))

    def test_joint_models(self):
        for name in ("joint", "joint-bf16"):
            _, model, _ = self.models[name]
            h, w = model.token_shape
            x_t = self.random_tokens(h * w, model.n_codes)
            tgt = self.target(model, 40)
            outputs = []
            for t in range(1, model.n_levels + 1):
                with self.subTest(name=name, t=t):
                    src = model.source(t, x_t[None])[0]
                    outputs.append(self.compare(name, t, src, tgt))
            # Same weights, but the scale token (and alpha_t) differ: the outputs must too.
            self.assertGreater(np.abs(outputs[0] - outputs[-1]).max(), 1e-3)

    def test_odd_sizes(self):
        _, model, _ = self.models["odd"]
        for t, tgt_len in ((1, 64), (2, 1), (2, 13)):
            with self.subTest(t=t, tgt_len=tgt_len):
                self.compare("odd", t, self.source(model, t), self.target(model, tgt_len))

    def test_target_of_length_one(self):
        for name in ("plain-f32", "residual_scaled-f16", "class"):
            _, model, _ = self.models[name]
            with self.subTest(name=name):
                self.compare(name, 1, self.source(model, 1), torch.zeros(1, dtype=torch.long))

    def test_class_conditioning(self):
        _, model, _ = self.models["class"]
        for class_id in (0, 49):
            with self.subTest(class_id=class_id):
                self.compare("class", 2, self.source(model, 2, class_id=class_id), self.target(model, 64))

    def test_short_source(self):
        """src shorter than enc_max_seq_len: the encoder sees fewer positions."""
        for name, length in (("plain-f32", 10), ("scaled-bf16", 1), ("odd", 65)):
            _, model, _ = self.models[name]
            with self.subTest(name=name, length=length):
                self.compare(name, 2, self.source(model, 2, length), self.target(model, 17))

    def test_residual_with_partial_x_t(self):
        """The reference only needs x_t for the rows it returns (src[xt_start : xt_start + len(tgt)]).
        The C tool may refuse a src that does not hold the whole x_t (a stricter contract, never needed
        by the sampler); if it answers, the answer must match."""
        _, model, _ = self.models["residual_scaled-f32"]
        src, tgt = self.source(model, 2, 1 + 20), self.target(model, 20)
        out = os.path.join(self.tmp, "partial.f32")
        proc = run_cli(self, "logits", self.models["residual_scaled-f32"][0], "--level", 2,
                       "--src", parity_util.tokens_arg(src), "--tgt", parity_util.tokens_arg(tgt), "--out", out,
                       expect_ok=False)
        if proc.returncode != 0:
            self.assertIn("x_t", proc.stderr)
            parity_util.assert_refused(self, proc)
            return
        self.compare("residual_scaled-f32", 2, src, tgt)

    def test_bad_tokens_are_refused(self):
        path, model, _ = self.models["plain-f32"]
        src = self.source(model, 1)
        for src_text, tgt_text in ((parity_util.tokens_arg(src), f"0,{model.n_codes}"),
                                   (f"1,{model.transformer(1).config.enc_num_tokens}", "0"),
                                   (parity_util.tokens_arg(list(src) * 2), "0")):
            proc = run_cli(self, "logits", path, "--level", 1, "--src", src_text, "--tgt", tgt_text,
                           "--out", os.path.join(self.tmp, "bad.f32"), expect_ok=False)
            parity_util.assert_refused(self, proc)

    def test_info(self):
        path, model, _ = self.models["joint"]
        proc = run_cli(self, "info", path)
        self.assertIn(model.name, proc.stdout)

    def test_make_test_model_script(self):
        path = os.path.join(self.tmp, "script.safetensors")
        proc = subprocess.run([sys.executable, os.path.join(TOOLS, "make-test-model"), "-o", path,
                               "--variant", "scaled", "--levels", "2", "--dim", "24", "--depths", "1,1",
                               "--heads", "2", "--dim-head", "8", "--codes", "20", "--n-embed", "20",
                               "--dtype", "f16", "--seed", "5"], capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        twin = modelfile.load_model(path)
        self.models["script"] = (path, twin, "f16")
        self.assertIsNone(twin.vqgan.config.remap)
        self.compare("script", 2, self.source(twin, 2), self.target(twin, 64))


if __name__ == "__main__":
    unittest.main()
