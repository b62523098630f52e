#!/usr/bin/python3
"""Stage 1: the VQGAN image tokenizer (64x64 RGB -> 8x8 tokens), trained on scenes.

Loss: L1 + MSE reconstruction, the codebook and commitment terms with a straight-through estimator, and
(from --disc-start on) a hinge patch-adversarial loss against a small PatchGAN discriminator. No perceptual
loss: no pretrained network is available. The codebook starts as encoder outputs of the first batch and
rows unused for --restart-every steps are re-seeded from encoder outputs, so the codebook stays in use (a
30-step run on the emoji scenes used 1 of 512 rows without this, 498 with it). At the end the used rows
become the remap (the model's K image tokens), and the held-out reconstruction PSNR is logged.

Writes <run-dir>/vqgan.final.pt: {"config": VqganConfig as a dict (with remap), "state_dict", "metrics"}.
"""

import argparse
import math
import time

import common
from common import Dist, Progress, Run, SceneBatches

import torch
from torch import nn
import torch.nn.functional as F

from imagebart.vqgan import VqganConfig, VQModel

# Sized for the budget of issue 6 (the whole training in about 2.5 hours on 2 CPU cores).
FULL = dict(resolution=64, ch=32, ch_mult=(1, 2, 2, 4), num_res_blocks=1, attn_resolutions=(8,), z_channels=64,
            embed_dim=16, n_embed=512)
TINY = dict(resolution=64, ch=32, ch_mult=(1, 1, 1, 1), num_res_blocks=1, attn_resolutions=(), z_channels=32,
            embed_dim=8, n_embed=64)


class Discriminator(nn.Module):
    """PatchGAN: one logit per overlapping patch (GroupNorm, so it needs no batch statistics)."""

    def __init__(self, ch=64, layers=3):
        super().__init__()
        mods = [nn.Conv2d(3, ch, 4, 2, 1), nn.LeakyReLU(0.2)]
        c = ch
        for i in range(1, layers):
            stride = 2 if i < layers - 1 else 1
            mods += [nn.Conv2d(c, c * 2, 4, stride, 1), nn.GroupNorm(8, c * 2), nn.LeakyReLU(0.2)]
            c *= 2
        mods += [nn.Conv2d(c, 1, 4, 1, 1)]
        self.net = nn.Sequential(*mods)

    def forward(self, x):
        return self.net(x)


class AdversarialTraining:
    """A generator (the whole VQGAN, or its decoder side) trained against a PatchGAN: both optimizers, the two
    adversarial losses, and what the stage's checkpoints hold."""

    def __init__(self, vq, generator_params, disc, lr):
        self.vq, self.disc = vq, disc
        self.opt_g = torch.optim.Adam(generator_params, lr=lr, betas=(0.5, 0.9))
        self.opt_d = torch.optim.Adam(disc.parameters(), lr=lr, betas=(0.5, 0.9))

    def set_lr(self, lr):
        common.set_lr(self.opt_g, lr)
        common.set_lr(self.opt_d, lr)

    def resume(self, run, args, dist_, t_begin, disc_start_given):
        """Loads the run's checkpoint, if there is one and --no-resume is not given: networks, optimizers, random
        state, and the step at which the adversarial loss starts (unless --disc-start is given). Returns the
        step to start from and the stage's StepBudget."""
        ckpt = run.load_checkpoint(args.no_resume)
        budget = common.StepBudget(args, dist_, ckpt["step"] if ckpt else 0, t_begin, ckpt["args"] if ckpt else None)
        if ckpt is None:
            return 0, budget
        if not disc_start_given:
            args.disc_start = ckpt["args"]["disc_start"]
        self.vq.load_state_dict(ckpt["vq"])
        self.disc.load_state_dict(ckpt["disc"])
        self.opt_g.load_state_dict(ckpt["opt_g"])
        self.opt_d.load_state_dict(ckpt["opt_d"])
        torch.set_rng_state(ckpt["rng"]["torch"])
        if dist_.main:
            print(f"{run.stage}: resuming at step {ckpt['step']} from {run.ckpt_path}", flush=True)
        return ckpt["step"], budget

    def checkpoint(self, run, step, args):
        run.save_checkpoint({"vq": self.vq.state_dict(), "disc": self.disc.state_dict(),
                             "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(), "step": step,
                             "rng": common.random_state(), "args": vars(args)})

    def generator_step(self, loss):
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()

    def generator_loss(self, xrec):
        """The generator's hinge term, -D(xrec), through the bare discriminator with its weights frozen: no
        gradient sync for a network that does not learn here."""
        for param in self.disc.parameters():
            param.requires_grad_(False)
        loss = -self.disc(xrec).mean()
        for param in self.disc.parameters():
            param.requires_grad_(True)
        return loss

    def discriminator_step(self, disc_ddp, x, xrec):
        """One hinge step of the discriminator (disc_ddp: it wrapped for the ranks) on real and generated
        pictures; returns its loss."""
        d_loss = 0.5 * (F.relu(1 - disc_ddp(x)).mean() + F.relu(1 + disc_ddp(xrec.detach())).mean())
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        return d_loss


class LossMeans:
    """A stage's per-step losses, averaged over each --log-every window into the run's log."""

    def __init__(self):
        self.sums, self.n, self.t_last = {}, 0, time.time()

    def add(self, values):
        for k, v in values.items():
            self.sums[k] = self.sums.get(k, 0.0) + v
        self.n += 1

    def log_if_due(self, step, lr, args, run, dist_):
        if step % args.log_every != 0 and step != args.steps:
            return
        means = {k: dist_.mean(v / self.n).item() for k, v in self.sums.items()}
        run.log({"step": step, "lr": lr, "sec_per_step": (time.time() - self.t_last) / self.n, **means})
        self.sums, self.n, self.t_last = {}, 0, time.time()


class Autoencoder(nn.Module):
    """The VQModel's training forward: straight-through quantization over the whole codebook."""

    def __init__(self, vq):
        super().__init__()
        self.vq = vq

    def forward(self, x):
        h = self.vq.encode_latent(x)
        b, e, hh, ww = h.shape
        z = h.permute(0, 2, 3, 1).reshape(-1, e)
        codes = self.vq.quantize.embedding.weight
        d = z.pow(2).sum(1, keepdim=True) + codes.pow(2).sum(1) - 2 * z @ codes.t()
        idx = d.argmin(1)
        zq = codes[idx]
        codebook = F.mse_loss(zq, z.detach())
        commit = F.mse_loss(z, zq.detach())
        zq = (z + (zq - z).detach()).reshape(b, hh, ww, e).permute(0, 3, 1, 2)
        return self.vq.decoder(self.vq.post_quant_conv(zq)), codebook, commit, idx, z.detach()


def psnr(a, b):
    """a, b in [-1, 1]; PSNR over 0..255 images, averaged per image."""
    mse = ((a.clamp(-1, 1) - b.clamp(-1, 1)) / 2).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1 / mse.clamp_min(1e-10))).mean().item()


def held_out_psnr(vq, args, device):
    """Mean PSNR of args.eval_scenes held-out scenes through encode + decode: always the same scenes, so that
    the VQGAN stage's score and the decoder stage's before and after compare."""
    batches = SceneBatches(common.load_emoji(args, "held_out"), 64, 12345, 0)
    scores = []
    vq.eval()
    with torch.no_grad():
        for _ in range(math.ceil(args.eval_scenes / 64)):
            x, _ = batches.next(device)
            scores.append(psnr(vq.decode(vq.encode(x)), x))
    return sum(scores) / len(scores)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_args(p)
    p.add_argument("--disc-start", type=int, help="step at which the adversarial loss starts")
    p.add_argument("--disc-weight", type=float, default=0.1)
    p.add_argument("--restart-every", type=int, default=50, help="re-seed rows unused for this many steps")
    p.add_argument("--remap-scenes", type=int, help="scenes encoded to find the used codes (default 2048)")
    p.add_argument("--eval-scenes", type=int, help="held-out scenes for the PSNR (default 256)")
    common.add_loader_args(p)
    args = p.parse_args(argv)
    args.steps = args.steps or (20 if args.tiny else 2000)
    args.batch = args.batch or (4 if args.tiny else 16)
    args.lr = args.lr or 2e-4
    args.remap_scenes = args.remap_scenes or (128 if args.tiny else 2048)
    args.eval_scenes = args.eval_scenes or (64 if args.tiny else 256)
    disc_start_given = args.disc_start is not None
    args.disc_start = args.disc_start if disc_start_given else (args.steps * 2) // 5
    t_begin = time.time()

    dist_ = Dist(args.threads)
    torch.manual_seed(args.seed)
    run = Run(args.run_dir, "vqgan", dist_)
    config = VqganConfig(**(TINY if args.tiny else FULL))
    # On the device before the optimizers exist and a checkpoint loads: a resumed optimizer's moments then land
    # where the parameters are.
    vq = VQModel(config).to(dist_.device)
    disc = Discriminator(ch=16 if args.tiny else 64).to(dist_.device)
    training = AdversarialTraining(vq, vq.parameters(), disc, args.lr)
    start, budget = training.resume(run, args, dist_, t_begin, disc_start_given)
    model = dist_.wrap(Autoencoder(vq))
    disc_ddp = dist_.wrap(disc)
    emoji = common.load_emoji(args)
    pixels = common.scene_loader(common.ScenePixels(emoji, args.batch, args.seed, dist_.rank, start),
                                 args.loader_workers, dist_.device)
    progress = Progress("vqgan", start, args.steps, dist_.main)
    usage = torch.zeros(config.n_embed, device=dist_.device)
    losses = LossMeans()

    step = start - 1
    while step + 1 < args.steps:
        step += 1
        lr = common.phase_lr(args, step, max_warmup=200)
        training.set_lr(lr)
        x = common.to_unit_range(next(pixels).to(dist_.device, non_blocking=True))
        adversarial = step >= args.disc_start
        if step == 0:
            # Data-dependent codebook init: rows drawn from the first batch's latents (rank 0's, broadcast).
            # From the default N(0, 1) rows, far from the small early latents, one row wins everything.
            with torch.no_grad():
                weight = vq.quantize.embedding.weight
                h = vq.encode_latent(x).permute(0, 2, 3, 1).reshape(-1, config.embed_dim)
                pick = torch.randint(0, h.shape[0], (config.n_embed,), device=h.device)
                weight.copy_(h[pick] + 0.01 * h.std() * torch.randn_like(h[pick]))
                dist_.broadcast_(weight.data)

        xrec, codebook, commit, idx, z = model(x)
        rec = F.l1_loss(xrec, x) + F.mse_loss(xrec, x)
        loss = rec + codebook + 0.25 * commit
        g_loss = training.generator_loss(xrec) if adversarial else torch.zeros(())
        training.generator_step(loss + args.disc_weight * g_loss)
        d_loss = training.discriminator_step(disc_ddp, x, xrec) if adversarial else torch.zeros(())

        # Re-seed codebook rows that no rank used since the last restart from this batch's latents (rank 0's,
        # broadcast, so every rank keeps the same codebook).
        usage += torch.bincount(idx, minlength=config.n_embed).float()
        if (step + 1) % args.restart_every == 0 and step + 1 < args.steps:
            dist_.sum_(usage)
            dead = (usage == 0).nonzero().flatten()
            with torch.no_grad():
                weight = vq.quantize.embedding.weight
                if len(dead) and dist_.main:
                    pick = torch.randint(0, z.shape[0], (len(dead),), device=z.device)
                    weight[dead] = z[pick] + 0.01 * z.std() * torch.randn_like(z[pick])
                dist_.broadcast_(weight.data)
            usage.zero_()

        values = {"rec": rec.item(), "commit": commit.item(), "g": g_loss.item(), "d": d_loss.item()}
        losses.add(values)
        progress.update(step + 1, values)
        if budget.after_step(step + 1):
            progress.total = args.steps
            if not disc_start_given and step + 1 <= args.disc_start:  # once started, the adversarial loss stays
                args.disc_start = max(step + 1, (args.steps * 2) // 5)
        if step + 1 == args.disc_start:
            budget.costlier_after(step + 1)  # the discriminator's steps come on top from here
        losses.log_if_due(step + 1, lr, args, run, dist_)
        if (step + 1) % args.ckpt_every == 0 and step + 1 < args.steps:
            training.checkpoint(run, step + 1, args)
    training.checkpoint(run, args.steps, args)

    # The used codebook rows become the remap; then the held-out PSNR with the final tokenizer.
    vq.eval()
    counts = torch.zeros(config.n_embed, device=dist_.device)
    remap_batches = SceneBatches(emoji, 64, args.seed + 1, dist_.rank)
    with torch.no_grad():
        for _ in range(math.ceil(args.remap_scenes / 64 / dist_.world)):
            x, _ = remap_batches.next(dist_.device)
            counts += torch.bincount(vq.code_distances(x).argmin(-1).flatten(), minlength=config.n_embed).float()
    dist_.sum_(counts)
    remap = counts.nonzero().flatten().tolist()
    final = VqganConfig(**{**config.as_dict(), "remap": remap})
    vq_final = VQModel(final).to(dist_.device)
    vq_final.load_state_dict(vq.state_dict())
    metrics = {"codes_used": len(remap), "held_out_psnr": held_out_psnr(vq_final, args, dist_.device),
               "steps": args.steps}
    run.log({"final": metrics})
    run.save_final({"config": final.as_dict(), "state_dict": {k: v.cpu() for k, v in vq_final.state_dict().items()},
                    "metrics": metrics})
    if dist_.main:
        print(f"vqgan: {len(remap)} of {config.n_embed} codes used, held-out PSNR {metrics['held_out_psnr']:.2f} dB;"
              f" wrote {run.final_path}", flush=True)
    dist_.close()


if __name__ == "__main__":
    main()
