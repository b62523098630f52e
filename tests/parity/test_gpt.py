#!/usr/bin/python3
"""Decoder-only (minGPT, variant "gpt") levels, the official releases' coarsest level.

Python only: the twin's cached decoding equals the full pass, its samplers agree, ImageBART.source gives
the gpt prefix, the model file round-trips gpt levels with the names and config keys of
docs/model-format.md, tools/make-test-model --gpt-top works. (The twin against the reference code itself
is in test_reference.py.)

With the C tool (IMAGEBART_CLI): `imagebart logits` on gpt levels against the twin, which computes what
the official DecoderOnlyDenoiser.forward computes: GPT(src ++ tgt[1:]) rows len(src) - 1 onwards.
Error bound: max |C - twin| / max |twin| <= 1e-4 for every storage type (f16/bf16: the twin is loaded
from the same file, so both sides use the same rounded weights).
"""

import json
import os
import subprocess
import sys
import unittest
import zlib

import numpy as np

import parity_util
from parity_util import TempDirTestCase, TOOLS, assert_close, cli_logits, require_cli, run_cli
import torch

from imagebart import modelfile, sampling
from imagebart.mingpt import DecoderOnlyTransformer
from imagebart.testmodel import make_test_model

LOGITS_BOUND = 1e-4
CACHE_BOUND = 1e-5

BASE = dict(levels=3, dim=40, depths=(1, 1), heads=(2, 2), dim_head=12, codes=37, n_embed=48, gpt_top=True,
            gpt_layers=2, gpt_heads=4)
CLASS = dict(BASE, conditioning="class", n_classes=30, gpt_extra_inputs=5)


def random_tokens(gen, n, high, batch=None):
    return torch.randint(0, high, (n,) if batch is None else (batch, n), generator=gen)


def target(gen, model, length, batch=None):
    """[start, random image tokens...]; the start token is 0 as in the encoder-decoder levels."""
    rest = random_tokens(gen, length - 1, model.n_codes, batch)
    start = torch.zeros((1,) if batch is None else (batch, 1), dtype=torch.long)
    return torch.cat([start, rest], dim=-1)


# ---------------------------------------------------------------------------------------------------
# Python only


class GptTwinTest(unittest.TestCase):
    def check_cache(self, model, chunks, class_id=None):
        """Rows fed through the cache equal the full pass over everything fed so far."""
        t = model.n_levels
        tr = model.transformer(t)
        gen = torch.Generator().manual_seed(sum(chunks))
        src = model.source(t, None, class_id)
        tgt = target(gen, model, sum(chunks), batch=src.shape[0])
        cache = tr.start_decoding(src)
        pos = 0
        for n in chunks:
            got = tr.decode_next(cache, tgt[:, pos:pos + n])
            expected = tr(src, tgt[:, :pos + n])[:, pos:]
            self.assertEqual(got.shape, expected.shape)
            err = parity_util.relative_error(got.numpy(), expected.numpy())
            self.assertLessEqual(err, CACHE_BOUND, f"cached vs full at rows {pos}..{pos + n - 1}: {err:.3g}")
            pos += n

    def test_cache_one_token_at_a_time(self):
        self.check_cache(make_test_model(**BASE, seed=1), [1] * 64)

    def test_cache_chunks_with_class(self):
        for n_unmasked in (0, 2):
            with self.subTest(n_unmasked=n_unmasked):
                model = make_test_model(**dict(CLASS, n_unmasked=n_unmasked), seed=2)
                self.check_cache(model, [3, 1, 17, 40, 3], class_id=[4, 29])

    def test_cache_n_unmasked_beyond_the_source(self):
        """n_unmasked 4 > len(src) 1: earlier positions see later ones until 4 tokens exist; the cache
        must recompute until then."""
        model = make_test_model(**dict(BASE, n_unmasked=4), seed=3)
        self.check_cache(model, [1] * 10 + [54])
        self.check_cache(model, [2, 5, 57])

    def test_samplers_agree(self):
        for kwargs, class_id in ((dict(BASE), None), (dict(CLASS, n_unmasked=2), [3, 17]),
                                 (dict(CLASS, n_unmasked=0), [3, 17]), (dict(BASE, n_unmasked=3), None)):
            model = make_test_model(**kwargs, seed=4)
            t = model.n_levels
            tr = model.transformer(t)
            src = model.source(t, torch.zeros(2, 64, dtype=torch.long), class_id)
            draws = {name: fn(tr, src, 64, 7, 0.9, torch.Generator().manual_seed(5)) for name, fn in (
                ("official", sampling.sample_level_official), ("cached", sampling.sample_level_cached),
                ("with_past", sampling.sample_level_with_past))}
            with self.subTest(**{k: v for k, v in kwargs.items() if k in ("conditioning", "n_unmasked")}):
                self.assertEqual(tuple(draws["cached"].shape), (2, 64))
                self.assertTrue(torch.equal(draws["official"], draws["cached"]))
                # The reference's with-past sampler skips the mask on the prefix and never updates earlier
                # positions: the same where minGPT's mask agrees (see sampling.py).
                n_unmasked = tr.config.n_unmasked
                self.assertEqual(torch.equal(draws["with_past"], draws["cached"]),
                                 n_unmasked <= src.shape[1] <= max(1, n_unmasked))
                if n_unmasked <= src.shape[1] <= max(1, n_unmasked):
                    self.assertTrue(torch.equal(draws["with_past"], draws["cached"]))

    def test_guide_forces_tokens(self):
        model = make_test_model(**BASE, seed=6)
        tr = model.transformer(3)
        known = torch.randint(0, model.n_codes, (1, 64), generator=torch.Generator().manual_seed(0))
        guide = torch.log(torch.nn.functional.one_hot(known, model.n_codes).float())
        guide[:, 10:20] = 0  # unknown positions
        src = model.source(3)
        for fn in (sampling.sample_level_official, sampling.sample_level_cached, sampling.sample_level_with_past):
            x = fn(tr, src, 64, 0, 1.0, torch.Generator().manual_seed(1), guide)
            with self.subTest(sampler=fn.__name__):
                self.assertTrue(torch.equal(x[:, :10], known[:, :10]))
                self.assertTrue(torch.equal(x[:, 20:], known[:, 20:]))

    def test_source_of_a_gpt_level(self):
        model = make_test_model(**CLASS, seed=7)
        x_t = torch.randint(0, model.n_codes, (2, 8, 8))
        self.assertEqual(model.source(3, x_t, 5).tolist(), [[3, 5], [3, 5]])
        self.assertEqual(model.source(3, None, [1, 2]).tolist(), [[3, 1], [3, 2]])
        self.assertEqual(model.source(2, x_t, 5).shape, (2, 2 + 64))
        with self.assertRaises(ValueError):
            model.source(2, None, 5)
        uncond = make_test_model(**BASE, seed=7)
        self.assertEqual(uncond.source(3).tolist(), [[3]])

    def test_chain_top_level_ignores_x_start(self):
        model = make_test_model(**CLASS, seed=8)
        chains = [sampling.sample_chain(model, x_start=torch.full((1, 8, 8), v), class_id=4,
                                        generator=torch.Generator().manual_seed(2)) for v in (0, 5)]
        self.assertEqual(len(chains[0]), 4)
        self.assertTrue(torch.equal(chains[0][1], chains[1][1]))
        self.assertTrue(((chains[0][-1] >= 0) & (chains[0][-1] < model.n_codes)).all())

    def test_refuses_bad_input(self):
        model = make_test_model(**BASE, seed=9)
        tr = model.transformer(3)
        src = model.source(3)
        with self.assertRaises(ValueError):  # block_size = 64 = 1 + 63
            tr(src, target(torch.Generator().manual_seed(0), model, 65)[None])
        with self.assertRaises(ValueError):
            tr(torch.tensor([[tr.config.input_vocab_size]]), torch.zeros(1, 1, dtype=torch.long))


class GptModelFileTest(TempDirTestCase):
    def test_roundtrip_all_dtypes(self):
        model = make_test_model(**dict(CLASS, n_unmasked=2), seed=10)
        torch_types = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
        for dtype, torch_dtype in torch_types.items():
            with self.subTest(dtype=dtype):
                path = os.path.join(self.tmp, f"gpt-{dtype}.safetensors")
                config = modelfile.save_model(model, path, dtype)
                self.assertEqual(modelfile.read_config(path), json.loads(json.dumps(config)))
                back = modelfile.load_model(path)
                tr = back.transformer(3)
                self.assertIsInstance(tr, DecoderOnlyTransformer)
                self.assertEqual(tr.config, model.transformer(3).config)
                for k, v in model.transformer(3).state_dict().items():
                    self.assertTrue(torch.equal(v.to(torch_dtype).float(), tr.state_dict()[k]), k)
                self.assertNotIsInstance(back.transformer(2), DecoderOnlyTransformer)

    def test_config_entry_and_names_follow_the_format(self):
        model = make_test_model(**dict(CLASS, n_unmasked=2, gpt_layers=3), seed=11)
        path = os.path.join(self.tmp, "names.safetensors")
        modelfile.save_model(model, path)
        entry = modelfile.read_config(path)["levels"][2]
        self.assertEqual(entry, {"t": 3, "prefix": "level3.", "variant": "gpt", "vocab_size": 37, "block_size": 65,
                                 "n_layer": 3, "n_head": 4, "n_embd": 40, "input_vocab_size": 42, "n_unmasked": 2,
                                 "top_k": 18, "temperature": 1.0})
        header, _, _ = modelfile.read_header(path)
        shapes = {k: v["shape"] for k, v in header.items() if k.startswith("level3.")}
        p = "level3.transformer."
        expected = {p + "tok_emb.weight": [42, 40], p + "pos_emb": [1, 65, 40], p + "ln_f.weight": [40],
                    p + "ln_f.bias": [40], p + "head.weight": [37, 40]}
        for i in range(3):
            b = f"{p}blocks.{i}."
            for ln in ("ln1", "ln2"):
                expected.update({f"{b}{ln}.weight": [40], f"{b}{ln}.bias": [40]})
            for lin in ("key", "query", "value", "proj"):
                expected.update({f"{b}attn.{lin}.weight": [40, 40], f"{b}attn.{lin}.bias": [40]})
            expected.update({f"{b}mlp.0.weight": [160, 40], f"{b}mlp.0.bias": [160],
                             f"{b}mlp.2.weight": [40, 160], f"{b}mlp.2.bias": [40]})
        self.assertEqual(shapes, expected)

    def test_defaults_when_reading(self):
        """input_vocab_size defaults to vocab_size and n_unmasked to 0 (docs/model-format.md)."""
        model = make_test_model(**BASE, seed=12)
        path = os.path.join(self.tmp, "defaults.safetensors")
        modelfile.save_model(model, path)
        tensors, metadata = modelfile.read_safetensors(path)
        config = json.loads(metadata[modelfile.CONFIG_KEY])
        del config["levels"][2]["input_vocab_size"], config["levels"][2]["n_unmasked"]
        tensors["level3.transformer.tok_emb.weight"] = tensors["level3.transformer.tok_emb.weight"][:37]
        modelfile.write_safetensors(path, list(tensors.items()), "f32",
                                    {modelfile.CONFIG_KEY: json.dumps(config)})
        c = modelfile.load_model(path).transformer(3).config
        self.assertEqual((c.input_vocab_size, c.n_unmasked), (37, 0))

    def test_make_test_model_script(self):
        path = os.path.join(self.tmp, "script.safetensors")
        proc = subprocess.run([sys.executable, os.path.join(TOOLS, "make-test-model"), "-o", path, "--levels", "2",
                               "--gpt-top", "--gpt-heads", "3", "--gpt-layers", "1", "--gpt-dim", "36",
                               "--n-unmasked", "2", "--conditioning", "class", "--dtype", "bf16", "--seed", "5"],
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        entry = modelfile.read_config(path)["levels"][1]
        self.assertEqual((entry["variant"], entry["n_head"], entry["n_layer"], entry["n_embd"], entry["n_unmasked"]),
                         ("gpt", 3, 1, 36, 2))


# ---------------------------------------------------------------------------------------------------
# The C tool


CASES = {
    # name: (make_test_model kwargs, dtype)
    **{f"uncond-{d}": (dict(BASE, seed=20 + i), d) for i, d in enumerate(("f32", "f16", "bf16"))},
    # class-conditional, n_unmasked 2 (the official ImageNet levels), input_vocab_size > vocab_size
    **{f"class-{d}": (dict(CLASS, n_unmasked=2, seed=30 + i), d) for i, d in enumerate(("f32", "f16", "bf16"))},
    # class-conditional with a causal prefix
    "class-n0": (dict(CLASS, n_unmasked=0, seed=40), "f32"),
    # n_embd 36 / 3 heads, 3 blocks, longer block_size, other K, n_unmasked 1
    "odd": (dict(BASE, codes=23, n_embed=23, gpt_dim=36, gpt_heads=3, gpt_layers=3, extra_positions=3,
                 n_unmasked=1, seed=41), "f32"),
    # a model that is one gpt level
    "gpt-only": (dict(BASE, levels=1, seed=42), "f16"),
    # n_unmasked beyond the source: positions 0..3 see each other, i.e. row 0 sees tgt[1..3]
    "beyond": (dict(BASE, n_unmasked=4, seed=43), "f32"),
}


class GptParityTest(TempDirTestCase):
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
        print(f"\ngpt logits: worst relative error per storage type: {summary}", file=sys.stderr)
        super().tearDownClass()

    def setUp(self):
        require_cli(self)
        self.gen = torch.Generator().manual_seed(zlib.crc32(self.id().encode()))

    def compare(self, name, src, tgt, t=None):
        path, twin, dtype = self.models[name]
        t = t or twin.n_levels
        expected = twin.transformer(t)(src[None], tgt[None])[0].numpy()
        got = cli_logits(self, path, t, src, tgt, self.tmp)
        err = assert_close(self, got, expected, LOGITS_BOUND,
                           f"{name} level {t} src {src.tolist()[:3]} len(tgt) {len(tgt)}")
        self.worst[dtype] = max(self.worst.get(dtype, 0.0), err)
        return got

    def gpt_source(self, name, class_id=None):
        twin = self.models[name][1]
        if twin.conditioning["kind"] == "class" and class_id is None:
            class_id = int(torch.randint(0, len(twin.conditioning["labels"]), (1,), generator=self.gen))
        return twin.source(twin.n_levels, None, class_id)[0]

    def test_dtypes_full_length(self):
        for name in (n for n in CASES if n.startswith(("uncond-", "class-"))):
            twin = self.models[name][1]
            with self.subTest(name=name):
                self.compare(name, self.gpt_source(name), target(self.gen, twin, 64))

    def test_target_of_length_one(self):
        """One row: the GPT output at the last conditioning position (p(z_0 | t, c))."""
        for name in ("uncond-f32", "class-f16", "class-n0", "odd"):
            with self.subTest(name=name):
                self.compare(name, self.gpt_source(name), torch.zeros(1, dtype=torch.long))

    def test_partial_targets(self):
        for name, length in (("uncond-bf16", 2), ("class-f32", 17), ("class-n0", 33), ("odd", 64), ("gpt-only", 40)):
            twin = self.models[name][1]
            with self.subTest(name=name, length=length):
                self.compare(name, self.gpt_source(name), target(self.gen, twin, length))

    def test_class_conditioning(self):
        twin = self.models["class-f32"][1]
        outputs = []
        for class_id in (0, 29):
            with self.subTest(class_id=class_id):
                tgt = target(torch.Generator().manual_seed(1), twin, 64)
                outputs.append(self.compare("class-f32", self.gpt_source("class-f32", class_id), tgt))
        self.assertGreater(np.abs(outputs[0] - outputs[1]).max(), 1e-3)

    def test_start_token_is_not_read(self):
        path, twin, _ = self.models["class-f32"]
        src = self.gpt_source("class-f32", 3)
        tgt = target(self.gen, twin, 20)
        other = tgt.clone()
        other[0] = 11
        a = cli_logits(self, path, 3, src, tgt, self.tmp)
        b = cli_logits(self, path, 3, src, other, self.tmp)
        self.assertTrue(np.array_equal(a, b))

    def test_n_unmasked_beyond_the_source(self):
        """Per docs/model-format.md the logits are the full pass GPT(S ++ T[1:]), so with n_unmasked 4 and
        one source token, rows 0..2 see tgt[1..3] (a configuration no official release uses)."""
        twin = self.models["beyond"][1]
        for length in (1, 3, 64):
            with self.subTest(length=length):
                self.compare("beyond", self.gpt_source("beyond"), target(self.gen, twin, length))

    def test_encoder_decoder_levels_of_a_gpt_model(self):
        twin = self.models["class-f16"][1]
        for t in (1, 2):
            with self.subTest(t=t):
                src = twin.source(t, random_tokens(self.gen, 64, twin.n_codes)[None], 7)[0]
                self.compare("class-f16", src, target(self.gen, twin, 64), t)

    def test_bad_input_is_refused(self):
        path, twin, _ = self.models["class-f32"]
        c = twin.transformer(3).config
        good_src = parity_util.tokens_arg(self.gpt_source("class-f32", 1))
        for src_text, tgt_text in ((f"3,{c.input_vocab_size}", "0"),  # token beyond the embedding
                                   (good_src, f"0,{c.input_vocab_size}"),
                                   (good_src, parity_util.tokens_arg([0] * 65)),  # 2 + 64 > block_size 65
                                   (parity_util.tokens_arg([3] * 66), "0")):
            with self.subTest(src=src_text[:20], tgt=tgt_text[:20]):
                proc = run_cli(self, "logits", path, "--level", 3, "--src", src_text, "--tgt", tgt_text,
                               "--out", os.path.join(self.tmp, "bad.f32"), expect_ok=False)
                parity_util.assert_refused(self, proc)

    def test_info(self):
        path, twin, _ = self.models["uncond-f32"]
        proc = run_cli(self, "info", path)
        self.assertIn(twin.name, proc.stdout)

    def test_sample_runs_through_the_gpt_level(self):
        """Smoke test of `imagebart sample` on a model whose top level is a gpt level (the C sampler's
        draws cannot be compared with the twin's: different random streams)."""
        for name in ("uncond-f32", "gpt-only"):
            path, twin, _ = self.models[name]
            out = os.path.join(self.tmp, f"sample-{name}.f32")
            with self.subTest(name=name):
                run_cli(self, "sample", path, "--seed", 3, "--out", out)
                image = parity_util.read_f32(out)
                res = twin.vqgan.config.resolution
                self.assertEqual(image.size, 3 * res * res)
                self.assertTrue(np.isfinite(image).all())


if __name__ == "__main__":
    unittest.main()
