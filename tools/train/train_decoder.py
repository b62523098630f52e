#!/usr/bin/python3
"""Stage 3, after the transformer (or on a shipped model file): more training for the VQGAN's decoder alone.

The encoder, its projection and the codebook stay frozen, so every picture keeps exactly the tokens it had and a
transformer trained on them stays valid: the decoder can go on learning after (or while, on another machine)
the transformer is trained, and a shipped model file's pictures get sharper without retraining anything else.
Only post_quant_conv and the decoder learn, by default from the reconstruction loss alone (L1 + MSE). With
--disc-weight W > 0 a hinge patch-adversarial loss joins it, as in the VQGAN stage, against a new PatchGAN that
trains from the first step (the decoder feels it from --disc-start on); on the bundled model that cost
reconstruction (held-out PSNR +0.6 dB after 1,000 such steps, +1.3 dB after 200 without) and did not take the
"specks" away, docs/model-card.md. A decoder step costs less than a VQGAN step (no encoder backward).

Input: <run-dir>/vqgan.final.pt, or --vqgan MODEL.safetensors (its VQGAN). Output: <run-dir>/decoder.final.pt,
the whole VQGAN in vqgan.final.pt's format with the tuned decoder and the held-out PSNR before and after;
tools/train/export.py uses it in place of vqgan.final.pt. With --model-out, the --vqgan model file itself is
written again with the tuned decoder (everything else, transformer and settings, as it was).
"""

import argparse
import json
import os
import time

import common
from common import Dist, Progress, Run

import torch
import torch.nn.functional as F

from imagebart import modelfile
from imagebart.vqgan import DECODER_SIDE, VqganConfig, VQModel
from train_transformer import unpack_vqgan
from train_vqgan import AdversarialTraining, Discriminator, LossMeans, held_out_psnr


def tuned_parameters(vq):
    """Freezes everything but the decoder side; returns the parameters that learn."""
    params = []
    for name, param in vq.named_parameters():
        param.requires_grad_(name.startswith(DECODER_SIDE))
        if param.requires_grad:
            params.append(param)
    return params


def write_model_file(model_path, vq, metrics, out_path, made_by):
    """The model file again, its decoder side replaced by vq's (f16, like the bundled file)."""
    model = modelfile.load_model(model_path)
    tuned = {k: v for k, v in vq.state_dict().items() if k.startswith(DECODER_SIDE)}
    model.vqgan.load_state_dict({**model.vqgan.state_dict(), **{k: v.cpu() for k, v in tuned.items()}})
    # The provenance ends in the training metrics as JSON (export.py): the VQGAN's entry becomes the new one.
    head, found, tail = model.provenance.partition("metrics: ")
    every = json.loads(tail) if found else {}
    every["vqgan"] = metrics
    model.provenance = f"{head.rstrip('; ')}, decoder tuned by {made_by}; metrics: " + json.dumps(every, sort_keys=True)
    modelfile.save_model(model, out_path, "f16")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_args(p)
    p.add_argument("--vqgan", help="start from this model file's VQGAN (default: <run-dir>/vqgan.final.pt)")
    p.add_argument("--model-out", help="with --vqgan MODEL: write MODEL again, with the tuned decoder, here")
    p.add_argument("--disc-start", type=int, help="step at which the decoder feels the adversarial loss")
    p.add_argument("--disc-weight", type=float, default=0.0,
                   help="weight of the adversarial loss (0: none, no discriminator is trained)")
    p.add_argument("--eval-scenes", type=int, help="held-out scenes for the PSNR (default 256)")
    common.add_loader_args(p)
    args = p.parse_args(argv)
    if args.model_out and not (args.vqgan or "").endswith(".safetensors"):
        p.error("--model-out needs --vqgan MODEL.safetensors")
    args.steps = args.steps or (20 if args.tiny else 2000)
    args.batch = args.batch or (4 if args.tiny else 16)
    args.lr = args.lr or 1e-4
    args.eval_scenes = args.eval_scenes or (64 if args.tiny else 256)
    disc_start_given = args.disc_start is not None
    args.disc_start = args.disc_start if disc_start_given else args.steps // 5
    t_begin = time.time()

    dist_ = Dist(args.threads)
    torch.manual_seed(args.seed)
    run = Run(args.run_dir, "decoder", dist_)
    vqgan_path = os.path.join(args.run_dir, "vqgan.final.pt")
    if args.vqgan:
        if dist_.main:
            unpack_vqgan(args.vqgan, vqgan_path)
        dist_.barrier()
    stage1 = common.load_run_file(vqgan_path)
    vq = VQModel(VqganConfig(**stage1["config"]))
    vq.load_state_dict(stage1["state_dict"])
    vq.to(dist_.device)
    psnr_before = held_out_psnr(vq, args, dist_.device)
    if dist_.main:
        print(f"decoder: held-out PSNR before {psnr_before:.2f} dB", flush=True)

    params = tuned_parameters(vq)
    disc = Discriminator(ch=16 if args.tiny else 64).to(dist_.device)
    training = AdversarialTraining(vq, params, disc, args.lr)
    start, budget = training.resume(run, args, dist_, t_begin, disc_start_given)
    decoder_side = torch.nn.Sequential(vq.post_quant_conv, vq.decoder)
    decoder_ddp = dist_.wrap(decoder_side)
    disc_ddp = dist_.wrap(disc)
    emoji = common.load_emoji(args)
    pixels = common.scene_loader(common.ScenePixels(emoji, args.batch, args.seed, dist_.rank, start),
                                 args.loader_workers, dist_.device)
    progress = Progress("decoder", start, args.steps, dist_.main)
    losses = LossMeans()

    vq.train()
    step = start - 1
    while step + 1 < args.steps:
        step += 1
        lr = common.phase_lr(args, step, max_warmup=100)
        training.set_lr(lr)
        x = common.to_unit_range(next(pixels).to(dist_.device, non_blocking=True))
        with torch.no_grad():   # the frozen half: the codebook entries of the picture's tokens
            zq = vq.quantize.entries(vq.encode(x))
        xrec = decoder_ddp(zq)
        rec = F.l1_loss(xrec, x) + F.mse_loss(xrec, x)
        adversarial = args.disc_weight > 0 and step >= args.disc_start
        g_loss = training.generator_loss(xrec) if adversarial else torch.zeros(())
        training.generator_step(rec + args.disc_weight * g_loss)
        # The discriminator learns from the first step, so that it is no longer random when the decoder feels it.
        d_loss = training.discriminator_step(disc_ddp, x, xrec) if args.disc_weight > 0 else torch.zeros(())

        values = {"rec": rec.item(), "g": g_loss.item(), "d": d_loss.item()}
        losses.add(values)
        progress.update(step + 1, values)
        if budget.after_step(step + 1):
            progress.total = args.steps
            if not disc_start_given and step + 1 <= args.disc_start:  # once started, the adversarial loss stays
                args.disc_start = max(step + 1, args.steps // 5)
        if args.disc_weight > 0 and step + 1 == args.disc_start:
            budget.costlier_after(step + 1)  # the adversarial term comes on top from here
        losses.log_if_due(step + 1, lr, args, run, dist_)
        if (step + 1) % args.ckpt_every == 0 and step + 1 < args.steps:
            training.checkpoint(run, step + 1, args)
    training.checkpoint(run, args.steps, args)

    psnr_after = held_out_psnr(vq, args, dist_.device)
    metrics = {**stage1["metrics"], "held_out_psnr": psnr_after, "decoder_psnr_before": psnr_before,
               "decoder_steps": args.steps}
    run.log({"final": metrics})
    run.save_final({"config": stage1["config"], "state_dict": {k: v.cpu() for k, v in vq.state_dict().items()},
                    "metrics": metrics})
    if dist_.main:
        print(f"decoder: held-out PSNR {psnr_before:.2f} -> {psnr_after:.2f} dB after {args.steps} steps;"
              f" wrote {run.final_path}", flush=True)
        if args.model_out:
            write_model_file(args.vqgan, vq, metrics, args.model_out, "tools/train/train_decoder.py")
            print(f"decoder: wrote {args.model_out}", flush=True)
    dist_.close()


if __name__ == "__main__":
    main()
