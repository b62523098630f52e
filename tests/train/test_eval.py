#!/usr/bin/python3
"""tools/eval on a tiny model trained for a few steps on synthetic pictures (as tests/train/test_smoke.py makes
one): the report's structure and counts, the C engine against the twin, unmasked pixels kept, seeded edits
repeatable, and the baselines' known properties (the diffusion fill reproduces a linear gradient, the mean
fill does not)."""

import json
import os
import random
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.environ.get("IMAGEBART_TOOLS") or os.path.normpath(os.path.join(HERE, "..", "..", "tools"))
TRAIN = os.path.join(TOOLS, "train")
sys.path.insert(0, TOOLS)
sys.path.insert(0, TRAIN)

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

import data  # noqa: E402
import eval_fill as fill  # noqa: E402
import eval_judge  # noqa: E402
import eval_tool  # noqa: E402
import export  # noqa: E402
import train_transformer  # noqa: E402
import train_vqgan  # noqa: E402


def run(args):
    env = dict(os.environ, IMAGEBART_TRAIN_CORES="1")
    proc = subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env, timeout=200)
    if proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc.stdout + proc.stderr


def gradient():
    return fill.gradient_picture((20, 200, 90), (240, 30, 160), 0.7)


class NotAgain(Exception):
    pass


class BaselineTest(unittest.TestCase):
    def test_diffusion_reproduces_gradients(self):
        picture = gradient()
        for mask in (fill.centre_mask(), fill.brush_mask(random.Random(3))):
            diffusion = fill.region_errors(fill.diffusion_fill(picture, mask)[0], picture, mask)
            mean = fill.region_errors(fill.mean_fill(picture, mask), picture, mask)
            self.assertGreater(mean["mse"], 50.0)
            self.assertLess(diffusion["mse"], mean["mse"] / 20)
        # An enclosed hole in a linear gradient is filled exactly (up to rounding).
        exact = fill.region_errors(fill.diffusion_fill(picture, fill.centre_mask())[0], picture, fill.centre_mask())
        self.assertLess(exact["mae"], 0.6)

    def test_fills_keep_unmasked_pixels(self):
        picture = np.random.default_rng(0).uniform(0, 255, (64, 64, 3))
        mask = fill.brush_mask(random.Random(1))
        for name, baseline in fill.BASELINES.items():
            out = baseline(picture, mask)
            np.testing.assert_array_equal(out[~mask], picture[~mask], err_msg=name)
        ring = fill.border(mask)
        np.testing.assert_allclose(fill.mean_fill(picture, mask)[mask][0], picture[ring].mean(0))

    def test_masks_and_metrics(self):
        rng = random.Random(0)
        scene = data.render_scene(data.EmojiSet.synthetic(), random.Random(5), n=2)
        coverage = {shape: fill.make_mask(shape, scene, rng).mean() for shape in fill.MASK_SHAPES}
        self.assertEqual(coverage["centre"], 0.25)
        self.assertEqual(coverage["half"], 0.5)
        self.assertTrue(0.05 < coverage["brush"] < 0.6, coverage)
        self.assertTrue(0.05 < coverage["box"] < 0.6, coverage)
        picture = np.round(gradient())
        same = fill.region_errors(picture, picture, fill.centre_mask())
        self.assertEqual((same["mse"], same["psnr"], same["hist"]), (0.0, 100.0, 0.0))
        red, blue = np.zeros((4, 3)), np.zeros((4, 3))
        red[:, 0], blue[:, 2] = 255, 255
        self.assertEqual(fill.histogram_distance(red, blue), 1.0)
        low, high = fill.wilson(0, 10)
        self.assertEqual(low, 0.0)
        self.assertAlmostEqual(high, 0.2775, places=3)
        low, high = fill.wilson(5, 10)
        self.assertAlmostEqual(low + high, 1.0, places=6)

    def test_groups(self):
        item = data.Item(identity="1F431", art="twitter", name="cat face", short_names=["cat"],
                         category="animals and nature", subcategory="animal mammal", tone="")
        self.assertEqual(eval_judge.group_of(item), "animal")
        item.category, item.subcategory = "flags", "country flag"
        self.assertEqual(eval_judge.group_of(item), "flag")
        item.category, item.subcategory = "objects", "tool"
        self.assertIsNone(eval_judge.group_of(item))


class EvalToolTest(unittest.TestCase):
    def test_quick_eval_of_a_tiny_model(self):
        cli = os.environ.get("IMAGEBART_CLI") or eval_tool.default_cli()
        self.assertTrue(os.path.exists(cli), f"the C tool {cli} is missing (set IMAGEBART_CLI)")
        with tempfile.TemporaryDirectory() as tmp:
            run_dir, model = os.path.join(tmp, "run"), os.path.join(tmp, "tiny.safetensors")
            # The training stages in this process (one rank), which saves starting torch three more times.
            common = ["--tiny", "--synthetic-data", "--run-dir", run_dir, "--steps", "2", "--batch", "2",
                      "--threads", "1", "--log-every", "1"]
            train_vqgan.main(common + ["--remap-scenes", "64", "--eval-scenes", "8"])
            train_transformer.main(common)
            export.main(["--run-dir", run_dir, "--out", model, "--guidance", "2"])

            # The same seed gives the same edit.
            engine = eval_tool.Engine(cli, model, tmp, 1)
            scene = data.render_scene(data.EmojiSet.synthetic(seed=1), random.Random(2))
            mask = fill.centre_mask()
            first = engine.inpaint(scene.image, mask, "red apple", 7, "a")
            np.testing.assert_array_equal(first, engine.inpaint(scene.image, mask, "red apple", 7, "b"))
            np.testing.assert_array_equal(first[~mask], scene.image[~mask])
            guided = engine.inpaint(scene.image, mask, "red apple", 7, "c", guidance=6)
            np.testing.assert_array_equal(guided[~mask], scene.image[~mask])

            out = os.path.join(tmp, "report")
            log = run([os.path.join(TOOLS, "eval"), "--model", model, "--out", out, "--quick", "--synthetic-data",
                       "--cli", cli, "--jobs", "2", "--temperature", "0.9"])
            self.assertIn("wrote " + out, log)
            with open(os.path.join(out, "report.json")) as f:
                report = json.load(f)
            self.assertEqual((report["temperature"], report["top_k"]), ("0.9", "the model's"))
            sizes = eval_tool.SIZES["quick"]

            rec = report["reconstruction"]
            self.assertEqual(rec["pictures"], sizes["reconstruction"])
            self.assertTrue(0 < rec["psnr_db"] < 100 and 0 < rec["mae"] < 255, rec)
            self.assertGreaterEqual(rec["twin"]["token_agreement"], 0.9)
            self.assertLess(abs(rec["twin"]["psnr_db"] - rec["psnr_db"]), 1.0)

            inp = report["inpainting"]
            self.assertEqual(set(inp["by_shape"]), set(fill.MASK_SHAPES))
            for shape, row in inp["by_shape"].items():
                self.assertEqual(row["cases"], sizes["inpaint_scenes"], shape)
                for method in ("model", "mean_fill", "diffusion_fill"):
                    self.assertTrue(0 < row[method]["psnr"] <= 100, (shape, method))
                    self.assertTrue(0 <= row[method]["hist"] <= 1, (shape, method))
            self.assertEqual(inp["unmasked_pixels_kept"]["cases"], inp["unmasked_pixels_kept"]["of"])
            self.assertEqual(len(set(inp["seeds"])), len(inp["seeds"]))
            grad = report["baselines_on_gradients"]
            self.assertGreater(grad["diffusion_fill"]["psnr"], grad["mean_fill"]["psnr"] + 10)

            text = report["text"]
            self.assertEqual(text["cases"], sizes["text_cases"])
            # The model's guidance (2, from the file) is the main result; 1 is measured beside it.
            self.assertEqual(text["guidance"], 2)
            self.assertEqual([row["guidance"] for row in report["text_by_guidance"]], [2, 1])
            self.assertEqual(set(text["by_prompt"]), {"target", "empty", "mismatched"})
            for kind, row in text["by_prompt"].items():
                self.assertTrue(0 <= row["target_group_hits"] <= text["cases"])
                self.assertTrue(row["ci95"][0] <= row["rate"] <= row["ci95"][1], kind)
                self.assertEqual(sum(row["judged"].values()), text["cases"])
            for example in text["examples"]:
                self.assertNotEqual(example["target"], example["own_group"])
                self.assertEqual(example["prompts"]["empty"], "")
                self.assertNotEqual(example["prompts"]["target"], example["prompts"]["mismatched"])
            self.assertIn("background", text["judge"]["classes"])
            self.assertEqual(text["judge"]["held_out"]["examples"], sizes["judge_held_out"])

            # Prompt sensitivity: every level, finite. At the top level x_t is all noise, so the residual of
            # residual_scaled is the same for every token and the network's logits alone decide: there an
            # untrained network's prompt tokens must move the distribution. (Below, the residual's weight on
            # x_t's token can hide a tiny network's differences.)
            sens = report["prompt_sensitivity"]
            self.assertEqual(sens["cases"], sizes["sensitivity_cases"])
            self.assertEqual(set(sens["levels"]), {"level1", "level2", "level3"})
            for name, row in sens["levels"].items():
                self.assertTrue(-1e-6 < row["kl_target_vs_empty_prompt"] < 100, (name, row))
                self.assertTrue(-1e-6 < row["kl_between_noise_draws"] < 100, (name, row))
            self.assertGreater(sens["levels"]["level3"]["kl_target_vs_empty_prompt"], 1e-6)

            self.check_judge_cache(model, os.path.join(tmp, "judge.pt"), sizes)

            with open(os.path.join(out, "report.md")) as f:
                markdown = f.read()
            for heading in ("## VQGAN reconstruction", "## Inpainting by mask shape", "## Text-guided replacement",
                            "## Prompt sensitivity"):
                self.assertIn(heading, markdown)
            self.assertIn("| guidance | target prompt |", markdown)
            self.assertEqual(markdown.count("| centre |") + markdown.count("| half |"), 2)
            from PIL import Image
            # columns of 128 + 4 pixels: the reconstructions, picture + mask + 3 prompts
            for name, columns in (("grid-reconstruction.png", sizes["reconstruction"]), ("grid-text.png", 5)):
                with Image.open(os.path.join(out, name)) as im:
                    self.assertEqual(im.width, columns * (128 + 4) + 4, name)
            with Image.open(os.path.join(out, "grid-inpaint.png")) as im:
                # picture, mask, 3 levels, result, 2 baselines; one row per mask shape
                self.assertEqual(im.width, 8 * (128 + 4) + 4)
                self.assertEqual(im.height, 14 + 4 + 4 * (128 + 14 + 4) + 4)

    def check_judge_cache(self, model, path, sizes):
        """A kept judge is reused for the same VQGAN (training it again would raise) and not for another."""
        import argparse
        from imagebart import modelfile
        twin = modelfile.load_model(model)
        args = argparse.Namespace(seed=1, synthetic_data=True, cache="", judge_cache=path)
        train, held_out = data.EmojiSet.synthetic(seed=0), data.EmojiSet.synthetic(seed=1)
        judge, classes, stats = eval_tool.cached_judge(args, sizes, train, held_out, twin.vqgan)
        self.assertTrue(os.path.exists(path))
        trained = eval_judge.train_judge

        def refuse(*a, **k):
            raise NotAgain()
        eval_judge.train_judge = refuse
        try:
            again, classes_again, stats_again = eval_tool.cached_judge(args, sizes, train, held_out, twin.vqgan)
            self.assertEqual((classes_again, stats_again), (classes, stats))
            for a, b in zip(judge.state_dict().values(), again.state_dict().values()):
                self.assertTrue(torch.equal(a, b))
            with torch.no_grad():
                next(twin.vqgan.parameters()).add_(0.01)
            with self.assertRaises(NotAgain):
                eval_tool.cached_judge(args, sizes, train, held_out, twin.vqgan)
        finally:
            eval_judge.train_judge = trained



if __name__ == "__main__":
    unittest.main()
