#!/usr/bin/python3
"""Python-only checks of the twin and its tools: the KV-cache decoder equals the full pass, the two
samplers draw the same tokens, the model file round-trips in every storage type, and the schedules
give the reference's numbers. No C code involved."""

import json
import os
import unittest

import numpy as np

import parity_util  # noqa: F401  (sets up sys.path and torch threads)
from parity_util import TempDirTestCase
import torch

from imagebart import modelfile, sampling, schedule
from imagebart.testmodel import make_test_model

# KV-cache logits vs full recomputation: same math, different matmul shapes; relative to max |logit|.
CACHE_BOUND = 1e-5


class KvCacheTest(unittest.TestCase):
    def check(self, model, t, chunks, class_id=None):
        tr = model.transformer(t)
        h, w = model.token_shape
        gen = torch.Generator().manual_seed(t)
        x_t = torch.randint(0, model.n_codes, (2, h * w), generator=gen)
        src = model.source(t, x_t, class_id)
        tgt = torch.cat([torch.zeros(2, 1, dtype=torch.long),
                         torch.randint(0, model.n_codes, (2, h * w - 1), generator=gen)], dim=1)
        full = tr(src, tgt)
        cache = tr.start_decoding(src)
        parts, pos = [], 0
        for n in chunks:
            parts.append(tr.decode_next(cache, tgt[:, pos:pos + n]))
            pos += n
        inc = torch.cat(parts, dim=1)
        self.assertEqual(inc.shape, full[:, :pos].shape)
        err = parity_util.relative_error(inc.numpy(), full[:, :pos].numpy())
        self.assertLessEqual(err, CACHE_BOUND, f"cached vs full: {err:.3g}")

    def test_variants_one_token_at_a_time(self):
        for variant in ("plain", "scaled", "residual_scaled"):
            with self.subTest(variant=variant):
                model = make_test_model(variant=variant, seed=1)
                self.check(model, 2, [1] * 64)

    def test_chunks_and_conditioning(self):
        model = make_test_model(variant="residual_scaled", conditioning="class", dim=44, heads=(3, 5), seed=2)
        self.check(model, 3, [5, 1, 17, 40, 1], class_id=[4, 9])

    def test_full_pass_rejects_out_of_range_tokens(self):
        model = make_test_model(seed=3)
        src = model.source(1, torch.zeros(1, 64, dtype=torch.long))
        with self.assertRaises(ValueError):
            model.transformer(1)(src, torch.tensor([[0, model.n_codes]]))


class SamplingTest(unittest.TestCase):
    def test_official_and_cached_draw_the_same_tokens(self):
        model = make_test_model(variant="residual_scaled", seed=4)
        for t, top_k, temperature in ((3, 5, 1.0), (1, 0, 0.7)):
            with self.subTest(t=t):
                x_t = torch.randint(0, model.n_codes, (2, 64), generator=torch.Generator().manual_seed(0))
                src = model.source(t, x_t)
                tr = model.transformer(t)
                a = sampling.sample_level_official(tr, src, 64, top_k, temperature, torch.Generator().manual_seed(7))
                b = sampling.sample_level_cached(tr, src, 64, top_k, temperature, torch.Generator().manual_seed(7))
                self.assertTrue(torch.equal(a, b), "official and cached samplers disagree")

    def test_top_k_keeps_k(self):
        logits = torch.tensor([[0.5, 3.0, -1.0, 2.0, 1.0]])
        out = sampling.top_k_logits(logits, 2)
        self.assertEqual(torch.isfinite(out).sum().item(), 2)
        self.assertTrue(torch.isfinite(out[0, [1, 3]]).all())

    def test_chain_runs_to_x0(self):
        model = make_test_model(levels=2, conditioning="class", seed=5)
        chain = sampling.sample_chain(model, class_id=3, generator=torch.Generator().manual_seed(1))
        self.assertEqual(len(chain), 3)
        self.assertEqual(tuple(chain[-1].shape), (1, 8, 8))
        self.assertTrue(((chain[-1] >= 0) & (chain[-1] < model.n_codes)).all())


class ModelFileTest(TempDirTestCase):
    def roundtrip(self, model, dtype):
        path = os.path.join(self.tmp, f"m-{dtype}.safetensors")
        config = modelfile.save_model(model, path, dtype)
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
        self.assertEqual((8 + n) % 8, 0, "data section must start at a multiple of 8")
        self.assertEqual(modelfile.read_config(path), json.loads(json.dumps(config)))
        return path, modelfile.load_model(path)

    def test_roundtrip_all_dtypes(self):
        model = make_test_model(variant="scaled", conditioning="class", seed=6)
        torch_types = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
        for dtype, torch_dtype in torch_types.items():
            with self.subTest(dtype=dtype):
                path, back = self.roundtrip(model, dtype)
                tensors, _ = modelfile.read_safetensors(path)
                for name, value in modelfile.model_tensors(model):
                    self.assertEqual(tensors[name].dtype, torch_dtype)
                    # stored = the tensor rounded to the storage type (round to nearest even)
                    self.assertTrue(torch.equal(tensors[name].float(), value.to(torch_dtype).float()), name)
                for t in (1, 2, 3):
                    a = model.transformer(t).state_dict()
                    b = back.transformer(t).state_dict()
                    for k in a:
                        if k not in modelfile.UNUSED_TRANSFORMER_TENSORS:
                            self.assertTrue(torch.equal(a[k].to(torch_dtype).float(), b[k]), k)
                self.assertEqual(back.conditioning, model.conditioning)
                self.assertEqual(back.betas, model.betas)

    def test_joint_model_stores_weights_once(self):
        model = make_test_model(joint=True, levels=4, seed=7)
        path, back = self.roundtrip(model, "f32")
        header, _, _ = modelfile.read_header(path)
        prefixes = {e["prefix"] for e in modelfile.read_config(path)["levels"]}
        self.assertEqual(prefixes, {"shared0."})
        self.assertEqual(sum(1 for k in header if k.endswith("decoder.to_logits.weight")), 1)
        self.assertIs(back.transformer(1), back.transformer(4))
        self.assertFalse(any("encoder.to_logits" in k for k in header))

    def test_names_follow_the_format(self):
        model = make_test_model(variant="residual_scaled", depths=(2, 2), seed=8)
        names = {n for n, _ in modelfile.model_tensors(model)}
        for name in ("first_stage_model.quantize.embedding.weight", "first_stage_model.encoder.conv_in.weight",
                     "level1.transformer.encoder.attn_layers.layers.3.1.net.0.0.weight",
                     "level1.transformer.decoder.attn_layers.layers.4.1.to_k.weight",
                     "level1.transformer.decoder.attn_layers.layers.5.1.net.2.bias",
                     "level3.transformer.log_scalors", "level2.transformer.decoder.to_logits.bias"):
            self.assertIn(name, names)

    def test_reader_rejects_overlap_and_bad_offsets(self):
        path = os.path.join(self.tmp, "bad.safetensors")
        a, b = torch.ones(4), torch.ones(4)
        modelfile.write_safetensors(path, [("a", a), ("b", b)])
        with open(path, "rb") as f:
            data = bytearray(f.read())
        n = int.from_bytes(data[:8], "little")
        header = json.loads(data[8:8 + n])
        for offsets, message in (([8, 24], "overlap"), ([16, 40], "outside")):
            header["b"]["data_offsets"] = offsets
            text = json.dumps(header).encode()
            text += b" " * (-(8 + len(text)) % 8)
            with open(path, "wb") as f:
                f.write(len(text).to_bytes(8, "little") + text + data[8 + n:])
            with self.assertRaisesRegex(modelfile.ModelFileError, message):
                modelfile.read_safetensors(path)


class ScheduleTest(unittest.TestCase):
    def test_geometric(self):
        betas = schedule.geometric(4)
        self.assertEqual(betas.dtype, torch.float32)
        self.assertEqual(betas.tolist(), [0.0, np.float32(1 / 4), np.float32(1 / 3), 0.5, 1.0])

    def test_alphacum(self):
        betas = schedule.compute_betas("alphacum:1.0,0.8,0.2", 2)
        expected = np.array([0.0, 1 - 0.8 / 1.0, 1 - 0.2 / 0.8], dtype=np.float32)
        self.assertTrue(np.array_equal(betas.numpy(), expected))
        with self.assertRaises(schedule.ScheduleError):
            schedule.compute_betas("alphacum:1.0,0.5", 3)

    def test_metric_schedule_is_equidistant(self):
        # A table where the metric is linear in alphacum: equidistant metric = equidistant alphacum.
        alphacum = np.linspace(1.0, 0.0, 101)
        table = {"bernoulli": {"alphacum": alphacum, "PSIM": np.stack([1 - alphacum, 0 * alphacum], 1)}}
        betas = schedule.metric_betas(table, "bernoulli", "PSIM", 5)
        equi = np.array([1.0, 0.75, 0.5, 0.25, 0.0])
        expected = np.concatenate([[0.0], 1 - equi[1:] / equi[:-1]]).astype(np.float32)
        np.testing.assert_allclose(betas.numpy(), expected, atol=1e-6)
        self.assertEqual(betas.dtype, torch.float32)

    def test_names(self):
        self.assertEqual(schedule.parse_metric_name("bernoulli_PSIM"), ("in", "bernoulli", "PSIM"))
        self.assertEqual(schedule.parse_metric_name("ffhq_bernoulli_FID"), ("ffhq", "bernoulli", "FID"))


if __name__ == "__main__":
    unittest.main()
