#!/usr/bin/python3
"""tools/convert-checkpoint on tiny fake official releases (built at test time, see fake_release.py):
the right tensors (EMA ones), config, betas and labels end up in the file, errors are clear, and the
C tool's logits on the converted file match the twin holding the checkpoint's weights. Releases d and e
have a decoder-only (minGPT) top level as the official ones do; the official sampling YAMLs themselves
(from the local mirror of CompVis/imagebart, when present) must pass every check short of the weights."""

import copy
import os
import shutil
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
from imagebart.convert import ConversionError, plan_release

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
            # FFHQ-like: residual levels under a GPT top level (vocab_size, block_size 64 = 1 + 63, EMA)
            "d": dict(variant="residual_scaled", levels=3, gpt_top=True, schedule="geometric", seed=4),
            # ImageNet-like: class-conditional plain levels under a GPT with n_unmasked 2 and
            # input_vocab_size 40 > K = 29; training weights (the mask buffers sit among them)
            "e": dict(variant="plain", levels=3, gpt_top=True, conditioning="class", n_unmasked=2,
                      gpt_input_vocab=40, use_ema=False, vqgan_in_level=False, gpt_dim=48, gpt_heads=3,
                      gpt_layers=3, seed=5),
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

    def test_gpt_levels_are_taken(self):
        for key in ("d", "e"):
            with self.subTest(key=key):
                self.assert_transformers_stored(key, lambda t: f"level{t}.")
                names = [n for n in self.tensors(key) if n.startswith("level3.")]
                self.assertIn("level3.transformer.pos_emb", names)
                self.assertFalse([n for n in names if "mask" in n])

    def test_config_of_gpt_levels(self):
        d = self.releases["d"]["config"]["levels"][2]
        self.assertEqual(d, {"t": 3, "prefix": "level3.", "variant": "gpt", "vocab_size": 29, "block_size": 64,
                             "n_layer": 2, "n_head": 4, "n_embd": 32, "input_vocab_size": 29, "n_unmasked": 0,
                             "top_k": 20, "temperature": 1.0})
        e = self.releases["e"]["config"]
        self.assertEqual(e["conditioning"]["kind"], "class")
        top = e["levels"][2]
        self.assertEqual((top["variant"], top["block_size"], top["n_layer"], top["n_head"], top["n_embd"],
                          top["input_vocab_size"], top["n_unmasked"]), ("gpt", 65, 3, 3, 48, 40, 2))
        self.assertEqual([lv["variant"] for lv in e["levels"][:2]], ["plain", "plain"])

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

    def test_decoder_only_level_below_the_top_is_refused(self):
        def gpt(config):
            config["model"]["target"] = "imagebart.models.diffusion.DecoderOnlyDenoiser"
            config["model"]["params"]["transformer_config"] = {
                "target": "imagebart.modules.transformer.mingpt.GPT", "params": {"vocab_size": 29, "block_size": 64}}
        self.assert_fails(self.variant_release("a", [2], gpt), "DecoderOnlyDenoiser", "coarsest")

    def test_gpt_options_and_targets_are_checked(self):
        def rotary(config):
            config["model"]["params"]["transformer_config"]["params"]["rotary_emb"] = True
        self.assert_fails(self.variant_release("d", [3], rotary), "unsupported GPT options", "rotary_emb", key="d")

        def vit(config):
            config["model"]["params"]["transformer_config"]["target"] = "imagebart.modules.transformer.vit.ViT"
        self.assert_fails(self.variant_release("d", [3], vit), "unknown transformer target", "vit.ViT", key="d")

        def short_block(config):
            config["model"]["params"]["transformer_config"]["params"]["block_size"] = 62
        self.assert_fails(self.variant_release("d", [3], short_block), "block_size 62", key="d")

        def wrong_vocab(config):
            config["model"]["params"]["transformer_config"]["params"]["vocab_size"] = 30
        self.assert_fails(self.variant_release("d", [3], wrong_vocab), "vocab_size 30", key="d")

    def test_gpt_mask_must_match_n_unmasked(self):
        """The checkpoint's mask buffers record n_unmasked; a config that says otherwise is refused."""
        def unmasked(config):
            config["model"]["params"]["transformer_config"]["params"]["n_unmasked"] = 0
        self.assert_fails(self.variant_release("e", [3], unmasked), "attn.mask", "n_unmasked 0", key="e")

    def test_gpt_shapes_are_checked(self):
        def wider(config):
            config["model"]["params"]["transformer_config"]["params"]["n_embd"] = 36
        self.assert_fails(self.variant_release("d", [3], wider), "scale3.ckpt", "shape", key="d")

    def test_unknown_transformer_target(self):
        def fine(config):
            config["model"]["params"]["transformer_config"]["target"] = fake_release.XT + "FineScaledXTransformer"
        self.assert_fails(self.variant_release("a", [1], fine), "unknown transformer target", "FineScaledXTransformer")

    def test_missing_remap_file(self):
        def no_remap(config):
            config["model"]["params"]["first_stage_config"]["params"]["remap"] = "data/none.npy"
        self.assert_fails(self.variant_release("a", [1, 2, 3], no_remap), "none.npy", "does not exist")

    # ---- the official configs ------------------------------------------------------------------

    def test_official_sampling_yamls_plan(self):
        """Every official sampling YAML passes all checks that need no weights (configs, remap files,
        schedule tables and labels from the mirror)."""
        repo = os.environ.get("IMAGEBART_REFERENCE_REPOS", "/work/.mirror/CompVis+imagebart/repo").split(":")[0]
        if not os.path.isdir(repo) or shutil.which("git") is None:
            raise unittest.SkipTest("no mirror of CompVis/imagebart")
        root = os.path.join(self.tmp, "official")
        os.makedirs(root, exist_ok=True)
        archive = subprocess.run(["git", "-C", repo, "archive", "HEAD", "configs", "data/vqgan_indices",
                                  "data/imagenet_ids2labels.yaml", "data/in_schedule_vs_metric.p",
                                  "data/ffhq_schedule_vs_metric.p"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", root], input=archive, check=True)
        expected = {  # sampling YAML: (levels, K, top level's (n_layer, n_embd, input_vocab_size, n_unmasked))
            "ffhq/ffhq_4_scales_geometric.yaml": (4, 548, (26, 800, 548, 0)),
            "ffhq/ffhq_2_scales_custom.yaml": (2, 548, (36, 1216, 548, 0)),
            "imagenet/imagenet_4_scales_geometric.yaml": (4, 973, (36, 1216, 1000, 2)),
            "imagenet/imagenet_5_scales_custom.yaml": (5, 973, (36, 1216, 1000, 2)),
            "lsun/churches_3_scales.yaml": (3, 1022, (36, 1216, 1022, 0)),
            "lsun/beds_3_scales.yaml": (3, None, (None, 1216, 1017, 0)),
            "lsun/cats_3_scales.yaml": (3, None, (None, 1216, 1014, 0)),
        }
        found = sorted(os.path.relpath(os.path.join(d, f), os.path.join(root, "configs", "sampling"))
                       for d, _, fs in os.walk(os.path.join(root, "configs", "sampling")) for f in fs)
        self.assertEqual(found, sorted(expected))
        # The official imagenet_5_scales_custom.yaml ends in a stray ">" line, which no YAML parser (nor
        # the official sampler's OmegaConf) accepts: the converter says where, and reads the repaired file.
        broken = os.path.join(root, "configs", "sampling", "imagenet", "imagenet_5_scales_custom.yaml")
        with open(broken) as f:
            lines = f.read().splitlines()
        if lines and lines[-1].strip() == ">":
            with self.assertRaisesRegex(ConversionError, "(?s)not valid YAML.*line 14"):
                plan_release(broken, root)
            with open(broken, "w") as f:
                f.write("\n".join(lines[:-1]) + "\n")
        for rel, (n_levels, k, top) in expected.items():
            with self.subTest(sampling=rel):
                try:
                    plan = plan_release(os.path.join(root, "configs", "sampling", rel), root)
                except ConversionError as e:
                    self.fail(f"{rel}: {e}")
                self.assertEqual(plan["n_levels"], n_levels)
                if k is not None:
                    self.assertEqual(plan["vqgan_config"].n_codes, k)
                gpt = plan["levels"][n_levels]["stage"]
                self.assertEqual(gpt.variant, "gpt")
                got = (gpt.n_layer, gpt.n_embd, gpt.input_vocab_size, gpt.n_unmasked)
                self.assertEqual([g for g, e in zip(got, top) if e is not None], [e for e in top if e is not None])
                self.assertEqual(gpt.vocab_size, plan["vqgan_config"].n_codes)
                self.assertTrue(all(plan["levels"][t]["stage"].variant != "gpt" for t in range(1, n_levels)))
                if rel.startswith("imagenet"):
                    self.assertEqual(len(plan["conditioning"]["labels"]), 1000)

    # ---- the C tool on the converted files -----------------------------------------------------

    def check_c_logits(self, gpt_levels):
        """C logits on the converted files against the twins holding the checkpoints' weights: the
        encoder-decoder levels, or (gpt_levels) the decoder-only ones, with full-length targets."""
        if not cli_path():
            raise unittest.SkipTest("IMAGEBART_CLI is not set")
        gen = torch.Generator().manual_seed(11 + gpt_levels)
        worst, n = 0.0, 0
        for key, r in self.releases.items():
            c = r["config"]
            alphas = schedule.alphas(c["schedule"]["betas"])
            k, hw = len(c["vqgan"]["remap"]), 64
            for t, module in r["true"].items():
                if (module.variant == "gpt") != gpt_levels:
                    continue
                if hasattr(module, "set_alphas"):
                    module.set_alphas(alphas)
                prefix = [t] + ([5] if c["conditioning"]["kind"] == "class" else [])
                x_t = [] if module.variant == "gpt" else torch.randint(0, k, (hw,), generator=gen).tolist()
                src = torch.tensor([prefix + x_t])
                tgt = torch.tensor([[0] + torch.randint(0, k, (hw - 1,), generator=gen).tolist()])
                expected = module(src, tgt)[0].numpy()
                with self.subTest(release=key, t=t):
                    got = cli_logits(self, r["out"], t, src[0], tgt[0], self.tmp)
                    worst = max(worst, assert_close(self, got, expected, LOGITS_BOUND, f"release {key} level {t}"))
                    n += 1
        kind = "gpt levels" if gpt_levels else "encoder-decoder levels"
        print(f"\nconverted files, {kind}: C vs checkpoint twin, max relative logits error {worst:.3g} "
              f"({n} levels)", file=sys.stderr)

    def test_c_logits_match_the_checkpoint_twin(self):
        self.check_c_logits(gpt_levels=False)

    def test_c_logits_of_gpt_levels_match_the_checkpoint_twin(self):
        self.check_c_logits(gpt_levels=True)

if __name__ == "__main__":
    unittest.main()
