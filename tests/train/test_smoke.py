#!/usr/bin/python3
"""The training tools end to end on tiny networks and synthetic pictures (no download): two gloo ranks
through tools/train/train_all.py for a few steps, resuming, the f16 model file, and (when the C tool is
built) the C loader reading it. Also the scene renderer and the held-out split."""

import json
import os
import random
import re
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

torch.set_num_threads(2)

import data  # noqa: E402
from imagebart import modelfile, tokenizer  # noqa: E402


def run(args, **kw):
    env = dict(os.environ, IMAGEBART_TRAIN_CORES="2")
    proc = subprocess.run([sys.executable] + args, capture_output=True, text=True, env=env, timeout=150, **kw)
    if proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}")
    return proc.stdout + proc.stderr


class SceneTest(unittest.TestCase):
    def test_scenes(self):
        emoji = data.EmojiSet.synthetic()
        rng = random.Random(0)
        for _ in range(20):
            scene = data.render_scene(emoji, rng)
            self.assertEqual(scene.image.shape, (64, 64, 3))
            self.assertEqual(scene.image.dtype, np.uint8)
            self.assertTrue(tokenizer.words(scene.caption))
            self.assertTrue(1 <= len(scene.parts) <= 4)
        two = data.render_scene(emoji, rng, indices=[0, 1], subset_p=0.0, background_p=0.0)
        self.assertEqual(two.caption.count(" and "), 1)

    def test_split_by_identity(self):
        emoji = data.EmojiSet.synthetic()
        train = {i.identity for i in emoji.subset("train").items}
        held = {i.identity for i in emoji.subset("held_out").items}
        self.assertFalse(train & held)
        self.assertEqual(len(emoji.subset("train")) + len(emoji.subset("held_out")), len(emoji))


class EditSampleTest(unittest.TestCase):
    """Edits in training look like the editor's: a hole of the tokens a part's box touches is noised, the
    tokens around it stay x0, and only the hole counts in the loss."""

    def test_box_hole(self):
        from train_transformer import box_hole
        hole = box_hole((8, 8, 16), side=8, patch=8, grow=0)
        self.assertEqual(hole.nonzero().tolist(), [[1, 1], [1, 2], [2, 1], [2, 2]])
        self.assertEqual(int(box_hole((8, 8, 16), 8, 8, grow=1).sum()), 16)   # a pixel more touches the next tokens
        self.assertEqual(int(box_hole((-6, 60, 20), 8, 8, grow=0).sum()), 2)   # clipped to the picture

    def test_edit_batch(self):
        from train_transformer import edit_holes, encode_captions, make_batch, weighted_loss

        class Identity:  # a "VQGAN" whose tokens are given
            config = type("Config", (), {"n_codes": 16})

            def encode(self, x):
                return x

        emoji = data.EmojiSet.synthetic()
        rng = random.Random(3)
        scenes = [data.render_scene(emoji, rng, n=2) for _ in range(12)]
        for scene in scenes:
            self.assertTrue(scene.named and all(0 <= k < 2 for k in scene.named))
        holes = edit_holes(scenes, 8, 8, 0.5, random.Random(4))
        edits = [k for k in range(12) if not holes[k].all()]
        self.assertTrue(0 < len(edits) < 12)
        x0 = torch.randint(0, 16, (12, 64))
        tok = tokenizer.Tokenizer(tokenizer.build_vocab(["a b"]), 4)
        betas = torch.tensor([0.0, 0.5, 1.0])
        alphacum = torch.cumprod(1 - betas, 0)
        batch = make_batch(Identity(), tok, 16, alphacum, betas, [2], x0, encode_captions(tok, ["a"] * 12), 0.5,
                           gen=torch.Generator().manual_seed(5), holes=holes)
        target, weight = batch.target, batch.weight
        x_t = batch.src[:, 1 + 4:]
        prompts = (batch.src[:, 1:1 + 4] - 16).tolist()  # --drop-caption 0.5: some rows get the empty prompt
        self.assertEqual(set(map(tuple, prompts)), {tuple(tok.encode("a")), tuple(tok.encode(""))})
        self.assertTrue(torch.equal(batch.x0, x0))
        self.assertTrue(torch.equal(target[~holes], x0[~holes]))
        self.assertTrue(torch.equal(x_t[~holes], x0[~holes]))
        self.assertFalse(torch.equal(x_t[holes], x0[holes]))      # level 2 of 2: the hole is all noise
        self.assertTrue(torch.equal(weight, holes.float()))
        logits = torch.zeros(12, 64, 16)
        logits[~holes] = 100 * torch.nn.functional.one_hot(target[~holes], 16).float()
        # The tokens outside the holes, predicted perfectly here, add nothing: the loss is the hole's, ln 16.
        self.assertAlmostEqual(weighted_loss(logits, target, weight).item(), np.log(16), places=5)

    def test_posterior_target(self):
        """--target posterior: the distribution the drawn x_{t-1} comes from, given x_t and x0, at every hole
        token (checked against draws of the noising itself); x0 outside the hole; x0 itself at level 1."""
        from train_transformer import Batch, noise, posterior_target
        k, n = 4, 20000
        betas = torch.tensor([0.0, 0.25, 0.5, 0.75])  # as compute_betas gives them: betas[t] for level t
        alphacum = torch.cumprod(1 - betas, 0)
        x0 = torch.ones(1, n, dtype=torch.long)
        gen = torch.Generator().manual_seed(9)
        x_prev = noise(x0, alphacum[2], k, gen)   # level 3: x_2 from x0, then x_3 from x_2
        x_t = noise(x_prev, 1 - betas[3], k, gen)
        weight = torch.ones(1, n)
        weight[0, :10] = 0
        batch = Batch(torch.cat([torch.tensor([[3]]), x_t], 1), None, x_prev, weight, torch.tensor([3]), x0)
        q = posterior_target(batch, alphacum, betas, k)
        self.assertTrue(torch.allclose(q.sum(-1), torch.ones(1, n)))
        self.assertTrue(torch.equal(q[0, :10], torch.nn.functional.one_hot(x0[0, :10], k).float()))
        for seen in range(k):  # the tokens whose x_t is `seen`: their x_{t-1} histogram is q's row
            rows = (x_t[0] == seen).nonzero().flatten()
            rows = rows[rows >= 10]
            drawn = torch.bincount(x_prev[0, rows], minlength=k).float() / len(rows)
            self.assertLess((drawn - q[0, rows[0]]).abs().max().item(), 0.03)
        level1 = Batch(batch.src, None, x0, weight, torch.tensor([1]), x0)
        self.assertTrue(torch.equal(posterior_target(level1, alphacum, betas, k),
                                    torch.nn.functional.one_hot(x0, k).float()))

    def test_loader_workers(self):
        """--loader-workers: each worker draws its own scenes, holes and prompt tokens, shaped as training
        takes them; without workers the stream is the training process's own, the same every time."""
        from common import ScenePixels, SceneBatches, scene_loader
        from train_transformer import EditScenes
        tok = tokenizer.Tokenizer(tokenizer.build_vocab(data.EmojiSet.synthetic().all_captions()), 8)
        dataset = EditScenes(data.EmojiSet.synthetic(), tok, 6, 0, 0, 0, 8, 0.5)
        pixels, holes, ids = next(scene_loader(dataset, 0, torch.device("cpu")))
        self.assertEqual((pixels.shape, pixels.dtype), ((6, 3, 64, 64), torch.uint8))
        self.assertEqual((holes.shape, holes.dtype), ((6, 64), torch.bool))
        self.assertEqual(tuple(ids.shape), (6, 8))
        self.assertTrue(torch.equal(next(scene_loader(dataset, 0, torch.device("cpu")))[0], pixels))
        loader = scene_loader(dataset, 2, torch.device("cpu"))
        first, second = next(loader), next(loader)  # one from each worker, each its own stream
        self.assertFalse(torch.equal(first[0], second[0]))
        self.assertFalse(torch.equal(first[0], pixels))
        # The VQGAN's pixels: without workers the same scenes as SceneBatches' of the rank (the stream train_all
        # always drew); with them, another stream per worker.
        own = next(scene_loader(ScenePixels(data.EmojiSet.synthetic(), 6, 0, 0, 0), 0, torch.device("cpu")))
        self.assertTrue(torch.equal(own, SceneBatches(data.EmojiSet.synthetic(), 6, 0, 0, 0).next_pixels()[0]))
        worker = next(scene_loader(ScenePixels(data.EmojiSet.synthetic(), 6, 0, 0, 0), 1, torch.device("cpu")))
        self.assertEqual((worker.shape, worker.dtype), ((6, 3, 64, 64), torch.uint8))
        self.assertFalse(torch.equal(worker, own))

    def test_encoder_head(self):
        """--encoder-loss reads the encoder's own logits head at x_t's positions, image tokens only, and leaves
        the decoder's logits as the model computes them."""
        from train_transformer import TrainingForward
        from imagebart.transformer import StageConfig, build_transformer
        config = StageConfig(variant="residual_scaled", dim=16, enc_depth=1, dec_depth=1, enc_heads=2, dec_heads=2,
                             dim_head=8, enc_num_tokens=40, dec_num_tokens=16, enc_max_seq_len=1 + 4 + 9,
                             dec_max_seq_len=9, n_scales=2, xt_start=5, xt_size=9)
        model = build_transformer(config)
        model.set_alphas([1.0, 0.5, 0.0])
        src = torch.cat([torch.tensor([[2]]), torch.randint(16, 40, (1, 4)), torch.randint(0, 16, (1, 9))], 1)
        tgt = torch.randint(0, 16, (1, 9))
        logits, encoder_logits = TrainingForward(model, True)(src, tgt)
        self.assertTrue(torch.equal(logits, model(src, tgt)))
        enc = model.encode(src)[:, 5:]
        self.assertEqual(tuple(encoder_logits.shape), (1, 9, 16))
        self.assertTrue(torch.allclose(encoder_logits, model.encoder.to_logits(enc)[..., :16]))
        self.assertIsNone(TrainingForward(model, False)(src, tgt)[1])


class StepBudgetTest(unittest.TestCase):
    @staticmethod
    def run_budget(seconds_per_step, costlier_from=None):
        """Steps of a one-minute stage on a fake clock, seconds_per_step(step) each; returns the changes of
        args.steps as (step, steps), the args, and the clock at the end."""
        import argparse
        import common

        class OneProcess:
            main = False

            def mean(self, value):
                return torch.tensor(float(value))

        clock = [1000.0]
        saved = common.time.time
        common.time.time = lambda: clock[0]
        try:
            args = argparse.Namespace(minutes=1.0, extend=False, steps=10 ** 6)
            budget = common.StepBudget(args, OneProcess(), 0, t_begin=clock[0], warm=5, settle=200)
            changes = []
            for step in range(1, 5000):
                if step > args.steps:
                    break
                clock[0] += seconds_per_step(step)
                if budget.after_step(step):
                    changes.append((step, args.steps))
                if step == costlier_from:
                    budget.costlier_after(step)
        finally:
            common.time.time = saved
        return changes, args, clock[0]

    def test_measures_again_once_settled(self):
        """--minutes: the first steps can run fast on a loader's queue filled in advance; the number of steps
        fixed after them is corrected by a second measurement, so the stage still ends within its budget."""
        # The queue's 0.01 s a step, then the real 0.1 s.
        changes, args, _ = self.run_budget(lambda step: 0.01 if step <= 6 else 0.1)
        self.assertEqual([step for step, _ in changes], [6, 206])
        self.assertGreater(changes[0][1], 5000)            # the queue's speed: far too many steps
        self.assertAlmostEqual(changes[1][1], 206 + (60 - 20.05) / 0.1, delta=2)  # what fits the minute

    def test_costlier_steps_measured_again(self):
        """The VQGAN's adversarial steps, which start after the rate was measured, cost more: the number of
        steps is fixed again from their rate, so the stage still ends within its budget."""
        changes, args, clock = self.run_budget(lambda step: 0.1 if step <= 300 else 0.2, costlier_from=300)
        self.assertEqual([step for step, _ in changes], [6, 206, 350])
        self.assertAlmostEqual(changes[2][1], 350 + (60 - 30 - 10) / 0.2, delta=2)
        self.assertAlmostEqual(clock - 1000, 60, delta=0.5)  # the minute, not the 0.1 s rate's guess


    def test_pause_while_measuring(self):
        """A process stopped for ten minutes (SIGSTOP, a suspended laptop) while the rate is measured: the pause
        is neither the rate nor spent budget, so the stage fixes the steps it would have without it."""
        steady, _, _ = self.run_budget(lambda step: 0.1)
        paused, _, _ = self.run_budget(lambda step: 600.0 if step == 100 else 0.1)
        self.assertEqual([step for step, _ in paused], [6, 206])
        self.assertAlmostEqual(paused[1][1], steady[1][1], delta=2)


class FetchTest(unittest.TestCase):
    def test_tampered_tarball_is_refused(self):
        with tempfile.TemporaryDirectory() as cache:
            path = data.tarball_path(cache, "twitter")
            with open(path, "wb") as f:
                f.write(b"not the package")
            with self.assertRaisesRegex(RuntimeError, "hash mismatch"):
                data.verify_tarball(path, "twitter")
            with self.assertRaisesRegex(RuntimeError, "hash mismatch"):
                data.fetch(cache)  # an existing file is checked, not trusted


class SmokeTest(unittest.TestCase):
    def test_train_all_two_ranks(self):
        with tempfile.TemporaryDirectory() as tmp:
            run_dir, out = os.path.join(tmp, "run"), os.path.join(tmp, "model.safetensors")
            # Split in two calls, as on a machine lent for a while: the tokenizer (VQGAN, then its decoder)...
            every_call = [os.path.join(TRAIN, "train_all.py"), "--nproc", "2", "--tiny", "--synthetic-data",
                          "--run-dir", run_dir, "--vqgan-steps", "3", "--transformer-steps", "3", "--decoder-steps",
                          "3", "--threads", "1", "--ckpt-every", "2", "--log-every", "1", "--batch", "2"]
            log = run(every_call + ["--stop-after", "decoder", "--decoder-args", "--batch 3"])
            self.assertIn("held-out PSNR", log)
            self.assertFalse(os.path.exists(os.path.join(run_dir, "transformer.log.jsonl")))
            # ...then the same command goes on from the finished stages to the transformer and the model file.
            log = run(every_call + ["--out", out])
            self.assertIn("decoder.final.pt exists, skipping", log)
            self.assertIn("wrote " + out, log)
            for stage in ("vqgan", "transformer", "decoder"):
                with open(os.path.join(run_dir, f"{stage}.log.jsonl")) as f:
                    lines = [json.loads(x) for x in f]
                self.assertEqual([x["step"] for x in lines if "step" in x], [1, 2, 3])
                self.assertIn("final", lines[-1])

            # Resume: two more steps continue from the checkpoint at step 3.
            log = run([os.path.join(TRAIN, "launch.py"), "--nproc", "2", os.path.join(TRAIN, "train_transformer.py"),
                       "--tiny", "--synthetic-data", "--run-dir", run_dir, "--steps", "5", "--threads", "1",
                       "--log-every", "1"])
            self.assertIn("resuming at step 3", log)
            final = torch.load(os.path.join(run_dir, "transformer.final.pt"))
            self.assertEqual(final["step"], 5)
            self.assertNotIn("opt", final)
            # Held-out edits scored with their captions and with an empty prompt, at every level.
            self.assertEqual({k for k in final["metrics"] if "empty_prompt" in k},
                             {f"held_out_edit_loss_empty_prompt_level{t}" for t in (1, 2, 3)})

            # Extend: a finished stage trains 2 steps further, with a new warm-up of the learning rate; here
            # with the encoder's auxiliary loss, which trains one more parameter (its head): new optimizer moments.
            log = run([os.path.join(TRAIN, "train_transformer.py"), "--tiny", "--synthetic-data", "--run-dir",
                       run_dir, "--extend", "--steps", "2", "--threads", "1", "--log-every", "1", "--lr", "1e-3",
                       "--encoder-loss", "1"])
            self.assertIn("resuming at step 5", log)
            self.assertIn("the optimizer's moments start over", log)
            self.assertEqual(torch.load(os.path.join(run_dir, "transformer.final.pt"))["step"], 7)
            with open(os.path.join(run_dir, "transformer.log.jsonl")) as f:
                extended = [json.loads(x) for x in f if '"step"' in x and '"final"' not in x][-2:]
            self.assertEqual([x["step"] for x in extended], [6, 7])
            self.assertTrue(all(x["encoder_loss"] > 0 for x in extended))
            # A new cycle over the 2 steps (a 1-step warm-up to the full rate), not the tail of one over all 7.
            self.assertAlmostEqual(extended[0]["lr"], 1e-3)

            # The decoder stage trained the decoder side only: the exported tokenizer is the VQGAN stage's.
            tuned = modelfile.load_model(out).vqgan.state_dict()
            vqgan_stage = torch.load(os.path.join(run_dir, "vqgan.final.pt"))["state_dict"]
            self.assert_decoder_side_changed(vqgan_stage, tuned)

            header = modelfile.read_header(out)
            self.assertTrue(all(v["dtype"] == "F16" for k, v in header[0].items() if k != "__metadata__"))
            model = modelfile.load_model(out)
            self.assertEqual(model.conditioning["kind"], "text")
            self.assertEqual(model.n_levels, 3)
            self.assertEqual(len(model.transformers()), 1)  # the joint transformer is stored once
            tok = tokenizer.Tokenizer.from_config(model.conditioning)
            self.assertNotIn(tokenizer.UNK, tok.encode("cat face"))

            # A new transformer on a model file's tokenizer (tools/train/train_on_gpu.sh's default), its scenes
            # drawn by a loader worker, exports a model file with the same VQGAN.
            run_dir2, out2 = os.path.join(tmp, "run2"), os.path.join(tmp, "model2.safetensors")
            log = run([os.path.join(TRAIN, "train_all.py"), "--tiny", "--synthetic-data", "--run-dir", run_dir2,
                       "--out", out2, "--vqgan", out, "--transformer-steps", "2", "--batch", "2", "--threads", "1",
                       "--transformer-args", "--loader-workers 1", "--export-args", "--made-by 'a test'"])
            self.assertNotIn("train_vqgan", log)
            self.assertTrue(modelfile.read_config(out2)["provenance"].startswith("a test"))
            first, second = modelfile.read_safetensors(out)[0], modelfile.read_safetensors(out2)[0]
            vqgan_names = [k for k in first if k.startswith(modelfile.VQGAN_PREFIX)]
            self.assertTrue(vqgan_names)
            self.assertTrue(all(torch.equal(first[k], second[k]) for k in vqgan_names))

            # The decoder of a model file tuned further (here with the adversarial loss), and the file written
            # again around it: the same transformer and tokenizer, a new decoder.
            out3 = os.path.join(tmp, "model3.safetensors")
            log = run([os.path.join(TRAIN, "train_decoder.py"), "--tiny", "--synthetic-data", "--run-dir",
                       os.path.join(tmp, "run-decoder"), "--vqgan", out, "--model-out", out3, "--steps", "2",
                       "--batch", "2", "--threads", "1", "--disc-weight", "0.1", "--disc-start", "1"])
            self.assertRegex(log, r"held-out PSNR [\d.]+ -> [\d.]+ dB after 2 steps")
            log = run([os.path.join(TRAIN, "train_decoder.py"), "--tiny", "--synthetic-data", "--run-dir",
                       os.path.join(tmp, "run-decoder"), "--steps", "3", "--batch", "2", "--threads", "1"])
            self.assertIn("decoder: resuming at step 2", log)
            self.assertEqual(torch.load(os.path.join(tmp, "run-decoder", "decoder.final.pt"))["metrics"]["decoder_steps"], 3)
            first, third = modelfile.read_safetensors(out)[0], modelfile.read_safetensors(out3)[0]
            self.assertEqual(set(first), set(third))
            self.assertTrue(all(torch.equal(first[k], third[k]) for k in first
                                if not k.startswith(modelfile.VQGAN_PREFIX)))
            prefix = len(modelfile.VQGAN_PREFIX)
            self.assert_decoder_side_changed({k[prefix:]: v for k, v in first.items() if k.startswith(modelfile.VQGAN_PREFIX)},
                                             {k[prefix:]: v for k, v in third.items() if k.startswith(modelfile.VQGAN_PREFIX)})
            config, config3 = modelfile.read_config(out), modelfile.read_config(out3)
            self.assertIn("decoder tuned by", config3.pop("provenance"))
            config.pop("provenance")
            self.assertEqual(config, config3)

            # A decoder tuned on another tokenizer is refused by the export.
            torch.save(torch.load(os.path.join(tmp, "run-decoder", "decoder.final.pt")),
                       os.path.join(run_dir2, "decoder.final.pt"))
            with open(os.path.join(run_dir2, "vqgan.final.pt"), "rb") as f:
                stage1 = torch.load(f)
            stage1["state_dict"]["quant_conv.bias"] = stage1["state_dict"]["quant_conv.bias"] + 1
            torch.save(stage1, os.path.join(run_dir2, "vqgan.final.pt"))
            with self.assertRaisesRegex(AssertionError, "tuned on another tokenizer"):
                run([os.path.join(TRAIN, "export.py"), "--run-dir", run_dir2, "--out", out2])

            # The VQGAN's scenes drawn by a loader worker too.
            run_dir3 = os.path.join(tmp, "run3")
            run([os.path.join(TRAIN, "train_vqgan.py"), "--tiny", "--synthetic-data", "--run-dir", run_dir3,
                 "--steps", "2", "--batch", "2", "--threads", "1", "--loader-workers", "1"])
            self.assertEqual(torch.load(os.path.join(run_dir3, "vqgan.final.pt"))["metrics"]["steps"], 2)

            # The prompt probe reads the model's VQGAN and vocabulary and fits its linear map.
            log = run([os.path.join(TRAIN, "probe_prompt.py"), "--model", out, "--synthetic-data", "--scenes", "256",
                       "--passes", "2", "--threads", "1"])
            self.assertRegex(log, r"held-out emoji +[-+]\d\.\d{3}")

            cli = os.environ.get("IMAGEBART_CLI")
            if cli:
                info = subprocess.run([cli, "info", out], capture_output=True, text=True, check=True).stdout
                self.assertRegex(info, r"Conditioning: text, 16 prefix tokens")
                self.assertTrue(re.search(r"3 levels", info))

    def assert_decoder_side_changed(self, before, after):
        """Every tokenizer-side tensor the same (as f16, the file's precision), some decoder-side one changed."""
        from imagebart.vqgan import DECODER_SIDE
        self.assertEqual(set(before), set(after))
        same = {k: torch.equal(before[k].half(), after[k].half()) for k in before}
        self.assertTrue(all(same[k] for k in same if not k.startswith(DECODER_SIDE)))
        self.assertFalse(all(same[k] for k in same if k.startswith(DECODER_SIDE)))


if __name__ == "__main__":
    unittest.main()
