#!/usr/bin/python3
"""Stage 2: the diffusion levels' transformer(s), text-conditioned, on the frozen VQGAN of stage 1.

Each step draws scenes, encodes them to x0 with the VQGAN, picks a level t per scene, noises x0 to x_{t-1}
(each token kept with probability alphacum_{t-1}, else uniform over the K tokens) and x_{t-1} to x_t (kept
with probability 1 - beta_t), and trains p(x_{t-1} | x_t, prompt) with cross-entropy: encoder source
[t, prompt tokens + token_offset, x_t], decoder target [0, x_{t-1}[:-1]] (docs/model-format.md). The prompt
is the scene's caption through tools/imagebart/tokenizer.py, empty (all PAD) for --drop-caption of the
scenes.

--edit-fraction of the scenes are edits, as the editor makes them (model/ib-edit-chain.c): a hole of tokens
(the box of a part the caption names, grown a little, or now and then a random rectangle) is noised to
x_{t-1} and x_t, every other token stays x0, and only the hole's tokens count in the loss. Without these the
model never sees clean context next to noise, which is all an edit shows it, least of all at the top level.

--target posterior (the default) trains the decoder on the distribution each x_{t-1} token is drawn from,
q(x_{t-1} | x_t, x0), instead of on the draw: the same objective in expectation, with much less noise at the
upper levels, where a drawn target keeps only a third (level 3) or two thirds (level 2) of x0.

--encoder-loss (off by default) weighs an auxiliary loss on the encoder: its own logits head
(`encoder.to_logits`, which the official class creates and inference never runs, so the model file does not
store it) predicts x0 at each hole token from the prompt and x_t, without the decoder. The decoder's target
x_{t-1} keeps only alphacum_{t-1} of x0 (a third at the top level), so the prompt's signal reaches it through
mostly random targets; the encoder's target is always the clean picture, which gives the prompt path a
direct, clean gradient, and the decoder an estimate of x0 in its memory to read. (On the bundled model, 750
steps of it moved nothing: docs/model-card.md.)

With --level T only that level is trained (one transformer per level); by default one joint
transformer learns every level, telling them apart by the scale token (the official "joint training").

Writes <run-dir>/transformer[-level<t>].final.pt: {"stage": StageConfig dict, "levels": [t...],
"state_dict", "betas", "tokenizer": {"vocab", "length", "token_offset"}, "metrics"}; an EMA of the weights
is what is saved.
"""

import argparse
import copy
import dataclasses
import json
import os
import random
import time
from typing import NamedTuple

import common
from common import Dist, Progress, Run, SceneBatches

import torch
import torch.nn.functional as F

from imagebart import modelfile, tokenizer as tok
from imagebart.modelfile import UNUSED_TRANSFORMER_TENSORS
from imagebart.schedule import compute_betas, alphas as schedule_alphas
from imagebart.transformer import StageConfig, build_transformer
from imagebart.vqgan import VqganConfig, VQModel

FULL = dict(dim=192, enc_depth=4, dec_depth=3, enc_heads=3, dec_heads=3, dim_head=64)
TINY = dict(dim=32, enc_depth=1, dec_depth=1, enc_heads=2, dec_heads=2, dim_head=16)


def unpack_vqgan(model_path, out_path):
    """Writes a model file's VQGAN as stage 1's final weights (config, state_dict, metrics from its
    provenance), so that a transformer can be trained, and exported, on a shipped tokenizer."""
    model = modelfile.load_model(model_path)
    provenance = model.provenance.split("metrics: ", 1)
    metrics = json.loads(provenance[1]).get("vqgan", {}) if len(provenance) == 2 else {}
    config = {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(model.vqgan.config).items()}
    torch.save({"config": config, "state_dict": model.vqgan.state_dict(), "metrics": metrics}, out_path)


def load_vqgan(path, device):
    final = common.load_run_file(path)
    vq = VQModel(VqganConfig(**final["config"]))
    vq.load_state_dict(final["state_dict"])
    return vq.to(device).eval()


def noise(tokens, keep_prob, k, generator=None):
    """Each token kept with keep_prob (per row, (b, 1)), else uniform over 0..k-1."""
    keep = torch.rand(tokens.shape, device=tokens.device, generator=generator) < keep_prob
    return torch.where(keep, tokens, torch.randint_like(tokens, k))


def box_hole(box, side, patch, grow):
    """(side, side) bool: the tokens whose patch meets the pixel box (x, y, size) grown by `grow` pixels."""
    x, y, size = box
    x0, y0, x1, y1 = x - grow, y - grow, x + size + grow, y + size + grow
    edges = torch.arange(side) * patch
    rows = (edges + patch > y0) & (edges < y1)
    cols = (edges + patch > x0) & (edges < x1)
    return rows[:, None] & cols[None, :]


def edit_holes(scenes, side, patch, fraction, rng):
    """(b, side*side) bool, the tokens each scene re-makes: all of them for a plain diffusion sample, a hole
    for the `fraction` of scenes that are edits (random.Random rng)."""
    holes = torch.ones(len(scenes), side, side, dtype=torch.bool)
    for k, scene in enumerate(scenes):
        if rng.random() >= fraction:
            continue
        if rng.random() < 0.8:
            named = scene.named or range(len(scene.parts))
            hole = box_hole(scene.parts[rng.choice(list(named))][1], side, patch, rng.randint(0, 4))
        else:
            h, w = rng.randint(1, side - 1), rng.randint(1, side - 1)
            y, x = rng.randint(0, side - h), rng.randint(0, side - w)
            hole = torch.zeros(side, side, dtype=torch.bool)
            hole[y:y + h, x:x + w] = True
        if hole.any():
            holes[k] = hole
    return holes.flatten(1)


class Batch(NamedTuple):
    src: torch.Tensor     # [t, prompt tokens + token_offset, x_t]
    tgt: torch.Tensor     # [0, x_{t-1}[:-1]]
    target: torch.Tensor  # x_{t-1}
    weight: torch.Tensor  # 1 at the tokens that count in the loss (the hole), else 0
    t: torch.Tensor       # the level of each row
    x0: torch.Tensor      # the clean tokens (the encoder's target)


def encode_captions(tokenizer, captions):
    """(b, L) long: each caption's prompt tokens."""
    return torch.tensor([tokenizer.encode(c) for c in captions], dtype=torch.long)


def make_batch(vq, tokenizer, token_offset, alphacum, betas, levels, x, ids, drop_caption, gen=None, holes=None):
    """A Batch of images x and their captions' tokens ids (encode_captions); holes (b, n) bool (default all)
    are the tokens noised, the others stay x0 and weigh nothing in the loss."""
    with torch.no_grad():
        x0 = vq.encode(x).flatten(1)
    b, k = x0.shape[0], vq.config.n_codes
    holes = torch.ones_like(x0, dtype=torch.bool) if holes is None else holes.to(x.device)
    t = torch.tensor(levels, device=x.device)[torch.randint(0, len(levels), (b,), device=x.device, generator=gen)]
    x_prev = torch.where(holes, noise(x0, alphacum[t - 1].unsqueeze(1), k, gen), x0)
    x_t = torch.where(holes, noise(x_prev, (1 - betas[t]).unsqueeze(1), k, gen), x_prev)
    drop = torch.rand(b, generator=gen, device=x.device) < drop_caption
    empty = torch.tensor(tokenizer.encode(""), dtype=torch.long, device=x.device)
    ids = torch.where(drop.unsqueeze(1), empty, ids.to(x.device))
    src = torch.cat([t.unsqueeze(1), ids + token_offset, x_t], 1)
    tgt = torch.cat([torch.zeros(b, 1, dtype=torch.long, device=x.device), x_prev[:, :-1]], 1)
    return Batch(src, tgt, x_prev, holes.float(), t, x0)


class EditScenes(common.ScenePixels):
    """Endless training batches drawn on the CPU: (images (b, 3, 64, 64) uint8, holes (b, n) bool, the
    captions' tokens (b, L)), each worker its own stream (common.ScenePixels), so that rendering, holes and
    tokenizing keep up with a GPU."""

    def __init__(self, emoji, tokenizer, batch, seed, rank, step, side, edit_fraction):
        super().__init__(emoji, batch, seed, rank, step)
        self.tokenizer, self.side, self.edit_fraction = tokenizer, side, edit_fraction

    def __iter__(self):
        name, batches = self.stream()
        hole_rng = random.Random(f"holes/{self.seed}/{name}/{self.step}")
        while True:
            images, scenes = batches.next_pixels()
            holes = edit_holes(scenes, self.side, 64 // self.side, self.edit_fraction, hole_rng)
            yield images, holes, encode_captions(self.tokenizer, [s.caption for s in scenes])


class TrainingForward(torch.nn.Module):
    """The transformer as training runs it (one module, so that DistributedDataParallel sees every
    parameter used): the decoder's logits, and with encoder_head the encoder's logits over the image tokens
    at x_t's positions (its own to_logits head, rows 0..K-1), else None."""

    def __init__(self, model, encoder_head):
        super().__init__()
        self.model, self.encoder_head = model, encoder_head

    def forward(self, src, tgt):
        enc = self.model.encode(src)
        logits = self.model(src, tgt, enc)
        if not self.encoder_head:
            return logits, None
        c, head = self.model.config, self.model.encoder.to_logits
        xt = enc[:, c.xt_start:c.xt_start + c.xt_size]
        return logits, F.linear(xt, head.weight[:c.dec_num_tokens], head.bias[:c.dec_num_tokens])


def posterior_target(batch, alphacum, betas, k):
    """(b, n, k): q(x_{t-1} | x_t, x0) at every token, the distribution the sampled target x_{t-1} is drawn
    from given what the batch shows the model. Training on it instead of on the one draw is the same objective
    in expectation (cross-entropy is linear in its target, and the decoder at token i sees only the draws before
    i), with far less noise: at the top level x_{t-1} keeps x0 at a third of the tokens, so a drawn target is
    mostly random and the hole's content, which the prompt is about, reaches the gradient diluted by that."""
    x0, x_t = batch.x0, batch.src[:, -batch.x0.shape[1]:]
    keep_x0 = alphacum[batch.t - 1].view(-1, 1, 1)  # q(x_{t-1} | x0): x0 kept, else uniform
    keep_prev = (1 - betas[batch.t]).view(-1, 1, 1)  # q(x_t | x_{t-1}): x_{t-1} kept, else uniform
    prior = keep_x0 * F.one_hot(x0, k) + (1 - keep_x0) / k
    likelihood = keep_prev * F.one_hot(x_t, k) + (1 - keep_prev) / k
    posterior = prior * likelihood
    posterior = posterior / posterior.sum(-1, keepdim=True)
    outside = batch.weight == 0  # outside an edit's hole x_{t-1} is x0
    return torch.where(outside.unsqueeze(-1), F.one_hot(x0, k).float(), posterior)


def weighted_loss(logits, target, weight):
    """Cross-entropy averaged over the tokens with weight 1; target (b, n) tokens or (b, n, k) distributions."""
    k = logits.shape[-1]
    target = target.reshape(-1, k) if target.is_floating_point() else target.reshape(-1)
    ce = F.cross_entropy(logits.reshape(-1, k), target, reduction="none")
    return (ce * weight.reshape(-1)).sum() / weight.sum()


def held_out_losses(model, vq, tokenizer, token_offset, alphacum, betas, levels, held_out, side, patch, device):
    """Per level, the cross-entropy of a fixed set of held-out scenes (the same on every rank): whole
    pictures, edits, and the same edits (same noise) with an empty prompt; their difference is what the
    prompt tells the model, in nats a hole token."""
    x, scenes = SceneBatches(held_out, 32, 999, 0).next_scenes(device)
    ids = encode_captions(tokenizer, [s.caption for s in scenes])
    edit = edit_holes(scenes, side, patch, 1.0, random.Random(778))
    out = {}
    with torch.no_grad():
        for t in levels:
            for name, holes, drop in (("held_out_loss", None, 0.0), ("held_out_edit_loss", edit, 0.0),
                                      ("held_out_edit_loss_empty_prompt", edit, 1.0)):
                gen = torch.Generator(device=device).manual_seed(777 + t)
                batch = make_batch(vq, tokenizer, token_offset, alphacum, betas, [t], x, ids, drop, gen, holes)
                out[f"{name}_level{t}"] = weighted_loss(model(batch.src, batch.tgt), batch.target,
                                                        batch.weight).item()
    return out


def stage_config(args, k, n_levels, n_vocab, text_length, n_tokens):
    token_offset = max(k, n_levels + 1)
    arch = TINY if args.tiny else FULL
    return StageConfig(variant="residual_scaled", enc_num_tokens=token_offset + n_vocab, dec_num_tokens=k,
                       enc_max_seq_len=1 + text_length + n_tokens, dec_max_seq_len=n_tokens, scale_pos=0,
                       n_scales=n_levels, xt_start=1 + text_length, xt_size=n_tokens, **arch), token_offset


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_common_args(p)
    p.add_argument("--levels", type=int, default=3, help="T, the number of diffusion levels")
    p.add_argument("--schedule", default="geometric")
    p.add_argument("--level", type=int, help="train only this level (a separate transformer)")
    p.add_argument("--text-length", type=int, default=16, help="L, prompt tokens")
    p.add_argument("--drop-caption", type=float, default=0.1)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--vqgan", help="stage 1 weights (default <run-dir>/vqgan.final.pt), or a model file whose "
                                   "VQGAN is copied to <run-dir>/vqgan.final.pt (a new transformer for a shipped model)")
    p.add_argument("--edit-fraction", type=float, default=0.5,
                   help="scenes trained as edits: a hole noised in clean context, the loss on the hole")
    p.add_argument("--encoder-loss", type=float, default=0.0,
                   help="weight of an auxiliary loss on the encoder: x0 at the hole's tokens from the prompt and x_t "
                        "(0, off: it did not make the bundled model read its prompt, docs/model-card.md)")
    p.add_argument("--target", choices=("posterior", "sample"), default="posterior",
                   help="the decoder's target: the distribution q(x_{t-1} | x_t, x0) (the same objective as the drawn "
                        "x_{t-1}, with less noise: on 2 cores the prompt is read 5 times as much, docs/model-card.md), "
                        "or the drawn x_{t-1} itself (the official code's)")
    common.add_loader_args(p)
    args = p.parse_args(argv)
    args.steps = args.steps or (20 if args.tiny else 3000)
    args.batch = args.batch or (4 if args.tiny else 16)
    args.lr = args.lr or 5e-4

    t_begin = time.time()
    dist_ = Dist(args.threads)
    torch.manual_seed(args.seed)
    name = "transformer" if args.level is None else f"transformer-level{args.level}"
    run = Run(args.run_dir, name, dist_)
    vqgan_path = args.vqgan or os.path.join(args.run_dir, "vqgan.final.pt")
    if vqgan_path.endswith(".safetensors"):
        vqgan_path = os.path.join(args.run_dir, "vqgan.final.pt")
        if dist_.main:
            unpack_vqgan(args.vqgan, vqgan_path)
        dist_.barrier()
    vq = load_vqgan(vqgan_path, dist_.device)
    emoji = common.load_emoji(args)

    # The vocabulary covers every emoji's words (held-out ones too: their pictures stay unseen).
    every = common.load_emoji(args, None) if not args.synthetic_data else emoji
    tokenizer = tok.Tokenizer(tok.build_vocab(every.all_captions()), args.text_length)
    betas = torch.as_tensor(compute_betas(args.schedule, args.levels)).float().to(dist_.device)
    alphacum = torch.cumprod(1 - betas, 0)
    side = vq.config.token_side
    config, token_offset = stage_config(args, vq.config.n_codes, args.levels, len(tokenizer.vocab),
                                        args.text_length, side * side)
    levels = list(range(1, args.levels + 1)) if args.level is None else [args.level]

    model = build_transformer(config)
    model.set_alphas(schedule_alphas(betas.cpu().tolist()))
    # The official init (x-transformers): token AND position embeddings N(0, 0.02). nn.Embedding's own N(0, 1)
    # for the positions made them 40 times the tokens, so that after the first LayerNorm a prompt word was a
    # 2% ripple on its position: the first bundled model learned to ignore its prompt (tools/eval's prompt
    # sensitivity: 0.0001 nats).
    with torch.no_grad():
        for wrapper in (model.encoder, model.decoder):
            wrapper.token_emb.weight.normal_(0, 0.02)
            wrapper.pos_emb.emb.weight.normal_(0, 0.02)
    for unused in UNUSED_TRANSFORMER_TENSORS:  # the encoder's logits head: never stored; trained by --encoder-loss
        model.get_parameter(unused).requires_grad_(args.encoder_loss > 0)
    # On the device before the optimizer exists and a checkpoint loads: a resumed optimizer's moments then land
    # where the parameters are.
    model.to(dist_.device)
    ema = copy.deepcopy(model).eval()
    for param in ema.parameters():
        param.requires_grad_(False)
    opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01)
    start = 0
    ckpt = run.load_checkpoint(args.no_resume)
    budget = common.StepBudget(args, dist_, ckpt["step"] if ckpt else 0, t_begin, ckpt["args"] if ckpt else None)
    if ckpt is not None:
        if ckpt["stage"] != config.as_dict() or ckpt["tokenizer"]["vocab"] != tokenizer.vocab:
            raise SystemExit(f"{run.ckpt_path} is for another configuration; use --no-resume or another --run-dir")
        model.load_state_dict(ckpt["model"])
        ema.load_state_dict(ckpt["ema"])
        try:
            opt.load_state_dict(ckpt["opt"])
        except ValueError:  # another set of trained parameters (--encoder-loss turned on or off)
            if not args.extend:
                raise
            if dist_.main:
                print(f"{name}: the trained parameters changed; the optimizer's moments start over", flush=True)
        start = ckpt["step"]
        torch.set_rng_state(ckpt["rng"]["torch"])
        if dist_.main:
            print(f"{name}: resuming at step {start} from {run.ckpt_path}", flush=True)
    ddp = dist_.wrap(TrainingForward(model, args.encoder_loss > 0))
    scenes = common.scene_loader(EditScenes(emoji, tokenizer, args.batch, args.seed, dist_.rank, start, side,
                                          args.edit_fraction), args.loader_workers, dist_.device)
    patch = 64 // side
    progress = Progress(name, start, args.steps, dist_.main)
    sums, n_sums, t_last = {}, 0, time.time()

    def state(step):
        return {"stage": config.as_dict(), "levels": levels, "betas": betas.cpu().tolist(),
                "schedule": args.schedule, "tokenizer": tokenizer.config(token_offset), "step": step}

    step = start - 1
    while step + 1 < args.steps:
        step += 1
        lr = common.phase_lr(args, step, max_warmup=300)
        common.set_lr(opt, lr)
        pixels, holes, ids = next(scenes)
        x = common.to_unit_range(pixels.to(dist_.device, non_blocking=True))
        batch = make_batch(vq, tokenizer, token_offset, alphacum, betas, levels, x, ids, args.drop_caption,
                           holes=holes)
        logits, encoder_logits = ddp(batch.src, batch.tgt)
        target = batch.target if args.target == "sample" else posterior_target(batch, alphacum, betas, vq.config.n_codes)
        decoder_loss = weighted_loss(logits, target, batch.weight)
        loss = decoder_loss
        if encoder_logits is not None:
            encoder_loss = weighted_loss(encoder_logits, batch.x0, batch.weight)
            loss = loss + args.encoder_loss * encoder_loss
            sums["encoder_loss"] = sums.get("encoder_loss", 0.0) + encoder_loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(args.ema, (1 + step) / (10 + step))
            if hasattr(torch, "_foreach_lerp_"):  # one kernel launch for all, where torch has it (2.0+)
                torch._foreach_lerp_(list(ema.parameters()), list(model.parameters()), 1 - decay)
            else:
                for e, m in zip(ema.parameters(), model.parameters()):
                    e.lerp_(m, 1 - decay)

        sums["loss"] = sums.get("loss", 0.0) + decoder_loss.item()
        n_sums += 1
        progress.update(step + 1, {"loss": decoder_loss.item()})
        if budget.after_step(step + 1):
            progress.total = args.steps
        if (step + 1) % args.log_every == 0 or step + 1 == args.steps:
            run.log({"step": step + 1, "lr": lr, "sec_per_step": (time.time() - t_last) / n_sums,
                     **{key: dist_.mean(total / n_sums).item() for key, total in sorted(sums.items())}})
            sums, n_sums, t_last = {}, 0, time.time()
        if (step + 1) % args.ckpt_every == 0 or step + 1 == args.steps:
            run.save_checkpoint({**state(step + 1), "model": model.state_dict(), "ema": ema.state_dict(),
                                 "opt": opt.state_dict(), "rng": common.random_state(), "args": vars(args)})

    held_out = common.load_emoji(args, "held_out")
    metrics = {"steps": args.steps, **held_out_losses(ema, vq, tokenizer, token_offset, alphacum, betas, levels,
                                                      held_out, side, patch, dist_.device)}
    run.log({"final": metrics})
    run.save_final({**state(args.steps), "state_dict": ema.state_dict(), "metrics": metrics})
    if dist_.main:
        losses = ", ".join(f"{k[len('held_out_'):]} {v:.3f}" for k, v in metrics.items() if k.startswith("held"))
        print(f"{name}: held-out {losses}; wrote {run.final_path}", flush=True)
    dist_.close()


if __name__ == "__main__":
    main()
