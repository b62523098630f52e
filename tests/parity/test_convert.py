#!/usr/bin/python3
"""tools/convert-checkpoint on tiny fake official releases (built at test time, see fake_release.py):
the right tensors (EMA ones), config, betas and labels end up in the file, errors are clear, and the
C tool's logits on the converted file match the twin holding the checkpoint's weights."""

import copy
import os
import subprocess
import sys
import unittest

import numpy as np
import yaml

import parity_util  # noqa: F401  (sets up sys.path and torch threads)
from parity_util import TempDirTestCase, TOOLS, assert_close, cli_logits, cli_path
import torch

import fake_release
from imagebart import modelfile, schedule

CONVERT = os.path.join(TOOLS, "convert-checkpoint")
# C logits vs the twin, f32 weights: max abs error relative to max |logit|.
LOGITS_BOUND = 1e-4


def expected_metric_betas(levels):
    """Independent of tools/imagebart/schedule.py: invert the fake table (metric = 100 (1 - a^2),
    linear between samples) with np.interp at equidistant metric values."""
    alphacum = np.linspace(1.0, 0.0, 41)
    metric = 100 * (1 - alphacum ** 2)
    equi = np.interp(np.linspace(metric.min(), metric.max(), levels + 1), metric, alphacum)
    return np.concatenate([[0.0], 1 - equi[1:] / equi[:-1]]).astype(np.float32)


def run_convert(sampling, root, out, *extra):
    return subprocess.run([sys.executable, CONVERT, sampling, "--root", root, "-o", out, *extra],
                          capture_output=True, text=True, timeout=120)


class ConvertTest(TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.releases = {}
        specs = {
            # unconditional, metric schedule, EMA, VQGAN inside the finest level's checkpoint
            "a": dict(variant="plain", levels=3, schedule="bernoulli_PSIM", seed=1),
            # class-conditional, residual, geometric, no EMA, VQGAN from ckpt_path, default dim_head 64
            "b": dict(variant="residual_scaled", levels=2, conditioning="class", schedule="geometric",
                      use_ema=False, vqgan_in_level=False, dim=48, dim_head=64, heads=(2, 3), seed=2),
            # one transformer for all levels, listed once per level
            "c": dict(variant="scaled", levels=4, joint=True, schedule="alphacum:1,0.9,0.6,0.3,0.1", seed=3),
        }
        for key, kwargs in specs.items():
            root = os.path.join(cls.tmp, key)
            sampling, true, vqgan, spec = fake_release.build(root, f"fake{key}", **kwargs)
            out = os.path.join(cls.tmp, f"{key}.safetensors")
            proc = run_convert(sampling, root, out, "--license", "test-license")
            if proc.returncode != 0:
                raise AssertionError(f"converting release {key} failed: {proc.stderr}")
            cls.releases[key] = {"root": root, "sampling": sampling, "true": true, "vqgan": vqgan, "out": out,
                                 "spec": spec, "config": modelfile.read_config(out)}

    def tensors(self, key):
        return modelfile.read_safetensors(self.releases[key]["out"])[0]

    def assert_transformers_stored(self, key, prefix_of):
        r = self.releases[key]
        tensors = self.tensors(key)
        for t, module in r["true"].items():
            for name, value in module.state_dict().items():
                full = f"{prefix_of(t)}transformer.{name}"
                if name in modelfile.UNUSED_TRANSFORMER_TENSORS:
                    self.assertNotIn(full, tensors)
                else:
                    self.assertTrue(torch.equal(tensors[full], value), f"{full} is not the EMA/true weight")

    def assert_vqgan_stored(self, key):
        tensors = self.tensors(key)
        for name, value in self.releases[key]["vqgan"].state_dict().items():
            self.assertTrue(torch.equal(tensors["first_stage_model." + name], value), name)

    def test_ema_weights_are_taken(self):
        self.assert_transformers_stored("a", lambda t: f"level{t}.")

    def test_vqgan_from_level_checkpoint_wins_over_ckpt_path(self):
        self.assert_vqgan_stored("a")

    def test_vqgan_from_ckpt_path(self):
        self.assert_vqgan_stored("b")
        self.assert_transformers_stored("b", lambda t: f"level{t}.")

    def test_no_junk_tensors(self):
        for key in self.releases:
            for name in self.tensors(key):
                self.assertTrue(name.startswith(("first_stage_model.", "level", "shared")), name)
                for junk in ("loss.", "transformer_ema", "quantize.used", "sos_token", "alphats"):
                    self.assertNotIn(junk, name)

    def test_config_of_metric_schedule_release(self):
        c = self.releases["a"]["config"]
        np.testing.assert_allclose(np.array(c["schedule"]["betas"], dtype=np.float32), expected_metric_betas(3),
                                   rtol=0, atol=2e-7)
        self.assertEqual(c["schedule"]["name"], "bernoulli_PSIM")
        self.assertEqual(c["conditioning"], {"kind": "none"})
        self.assertEqual(c["vqgan"]["remap"], self.releases["a"]["spec"]["vqgan"].remap)
        self.assertEqual(c["license"], "test-license")
        self.assertEqual(c["name"], "fakea")
        self.assertEqual(c["tokens"], {"height": 8, "width": 8})
        self.assertEqual([lv["t"] for lv in c["levels"]], [1, 2, 3])
        for lv in c["levels"]:
            self.assertEqual((lv["variant"], lv["top_k"], lv["dim_head"]), ("plain", 20, 12))
            self.assertNotIn("scale_pos", lv)

    def test_config_of_class_conditional_release(self):
        c = self.releases["b"]["config"]
        self.assertEqual(c["conditioning"]["kind"], "class")
        self.assertEqual(c["conditioning"]["labels"][:2], ["label number 0", "label number 1"])
        self.assertEqual(len(c["conditioning"]["labels"]), 12)
        self.assertEqual(c["schedule"]["betas"], [0.0, 0.5, 1.0])
        for lv in c["levels"]:
            self.assertEqual((lv["variant"], lv["xt_start"], lv["xt_size"], lv["dim_head"]),
                             ("residual_scaled", 2, 64, 64))

    def test_joint_release_shares_one_prefix(self):
        c = self.releases["c"]["config"]
        self.assertEqual({lv["prefix"] for lv in c["levels"]}, {"shared0."})
        self.assert_transformers_stored("c", lambda t: "shared0.")
        expected = schedule.from_alphacum("alphacum:1,0.9,0.6,0.3,0.1", 4).tolist()
        self.assertEqual(c["schedule"]["betas"], expected)

    def test_bf16_output(self):
        r = self.releases["a"]
        out = os.path.join(self.tmp, "a-bf16.safetensors")
        proc = run_convert(r["sampling"], r["root"], out, "--dtype", "bf16")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        tensors = modelfile.read_safetensors(out)[0]
        value = r["true"][2].state_dict()["decoder.to_logits.weight"]
        self.assertTrue(torch.equal(tensors["level2.transformer.decoder.to_logits.weight"], value.bfloat16()))

    # ---- errors ---------------------------------------------------------------------------------

    def variant_release(self, key, edit_levels, edit):
        """A copy of release `key`'s sampling YAML whose level configs `edit_levels` are edited."""
        r = self.releases[key]
        with open(r["sampling"]) as f:
            sampling = copy.deepcopy(yaml.safe_load(f))
        for level in edit_levels:
            rel = sampling["configs"][level - 1]
            with open(os.path.join(r["root"], rel)) as f:
                config = yaml.safe_load(f)
            edit(config)
            new_rel = rel.replace(".yaml", f"-edited-{edit.__name__}.yaml")
            with open(os.path.join(r["root"], new_rel), "w") as f:
                yaml.safe_dump(config, f)
            sampling["configs"][level - 1] = new_rel
        path = os.path.join(r["root"], f"sampling-{edit.__name__}.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(sampling, f)
        return path

    def assert_fails(self, sampling, *needles, key="a"):
        out = os.path.join(self.tmp, "should-not-exist.safetensors")
        proc = run_convert(sampling, self.releases[key]["root"], out)
        self.assertNotEqual(proc.returncode, 0)
        self.assertFalse(os.path.exists(out))
        self.assertIn("convert-checkpoint: error:", proc.stderr)
        self.assertNotIn("Traceback", proc.stderr)
        for needle in needles:
            self.assertIn(needle, proc.stderr)

    def test_missing_checkpoint(self):
        r = self.releases["a"]
        with open(r["sampling"]) as f:
            sampling = yaml.safe_load(f)
        sampling["checkpoints"][1] = "models/fakea/nowhere.ckpt"
        path = os.path.join(r["root"], "sampling-missing.yaml")
        with open(path, "w") as f:
            yaml.safe_dump(sampling, f)
        self.assert_fails(path, "nowhere.ckpt", "does not exist")

    def test_shape_mismatch(self):
        def wider(config):
            config["model"]["params"]["transformer_config"]["params"]["dim"] = 44
        self.assert_fails(self.variant_release("a", [2], wider), "scale2.ckpt", "shape", "44]")

    def test_decoder_only_level_is_refused(self):
        def gpt(config):
            config["model"]["target"] = "imagebart.models.diffusion.DecoderOnlyDenoiser"
            config["model"]["params"]["transformer_config"] = {
                "target": "imagebart.modules.transformer.mingpt.GPT", "params": {"n_layer": 2}}
        self.assert_fails(self.variant_release("a", [3], gpt), "DecoderOnlyDenoiser", "cannot be represented")

    def test_unknown_transformer_target(self):
        def fine(config):
            config["model"]["params"]["transformer_config"]["target"] = fake_release.XT + "FineScaledXTransformer"
        self.assert_fails(self.variant_release("a", [1], fine), "unknown transformer target", "FineScaledXTransformer")

    def test_missing_remap_file(self):
        def no_remap(config):
            config["model"]["params"]["first_stage_config"]["params"]["remap"] = "data/none.npy"
        self.assert_fails(self.variant_release("a", [1, 2, 3], no_remap), "none.npy", "does not exist")

    # ---- the C tool on the converted files -----------------------------------------------------

    def test_c_logits_match_the_checkpoint_twin(self):
        if not cli_path():
            raise unittest.SkipTest("IMAGEBART_CLI is not set")
        gen = torch.Generator().manual_seed(11)
        worst = 0.0
        for key, r in self.releases.items():
            c = r["config"]
            alphas = schedule.alphas(c["schedule"]["betas"])
            k, hw = len(c["vqgan"]["remap"]), 64
            for t, module in r["true"].items():
                if hasattr(module, "set_alphas"):
                    module.set_alphas(alphas)
                prefix = [t] + ([5] if c["conditioning"]["kind"] == "class" else [])
                src = torch.tensor([prefix + torch.randint(0, k, (hw,), generator=gen).tolist()])
                tgt = torch.tensor([[0] + torch.randint(0, k, (hw - 1,), generator=gen).tolist()])
                expected = module(src, tgt)[0].numpy()
                got = cli_logits(self, r["out"], t, src[0], tgt[0], self.tmp)
                worst = max(worst, assert_close(self, got, expected, LOGITS_BOUND, f"release {key} level {t}"))
        print(f"\nconverted files: C vs checkpoint twin, max relative logits error {worst:.3g}", file=sys.stderr)


if __name__ == "__main__":
    unittest.main()
