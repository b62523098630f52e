"""Builds a tiny fake official ImageBART release in a directory, laid out like CompVis/imagebart:
configs/<name>/<name>-scale<t>.yaml, configs/sampling/<name>.yaml, models/<name>/scale<t>.ckpt,
vqgan/<name>.ckpt, data/vqgan_indices/<name>_indices.npy, data/*_schedule_vs_metric.p.

Checkpoints are Lightning-style: state_dict with transformer.*, transformer_ema.* (different values:
the EMA ones are the "true" weights the converter must pick), first_stage_model.*, loss.* junk and
buffers, plus optimizer states, a callback keyed by a class and an AttributeDict of hyper-parameters,
so the restricted loader is exercised. The builder returns the twin modules that hold the true weights.

With gpt_top the coarsest level is a DecoderOnlyDenoiser with minGPT's GPT, as in every official release:
its config lists vocab_size, block_size, n_layer, n_head, n_embd (and input_vocab_size / n_unmasked where
given, as the ImageNet configs do), and its checkpoint carries the GPT's attention-mask buffers, which
LitEma does not copy.
"""

import collections
import os
import pickle

import numpy as np
import torch
import yaml

from imagebart.mingpt import GptConfig
from imagebart.testmodel import randomize_
from imagebart.transformer import StageConfig, build_transformer
from imagebart.vqgan import VqganConfig, VQModel

XT = "imagebart.modules.xtransformers.x_transformer."
TARGETS = {"plain": XT + "XTransformer", "scaled": XT + "ScaledXTransformer",
           "residual_scaled": XT + "ResidualScaledXTransformer"}
GPT_TARGET = "imagebart.modules.transformer.mingpt.GPT"
DECODER_ONLY_TARGET = "imagebart.models.diffusion.DecoderOnlyDenoiser"


class ModelCheckpoint:
    """Pickled by reference as a dict key, like Lightning's callback classes."""


class AttributeDict(dict):
    pass


def _write_yaml(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)


def gpt_transformer_config(gpt):
    """minGPT's transformer_config as the official configs write it: optional keys only when set."""
    tp = {"vocab_size": gpt.vocab_size, "block_size": gpt.block_size, "n_layer": gpt.n_layer, "n_head": gpt.n_head,
          "n_embd": gpt.n_embd}
    if gpt.input_vocab_size != gpt.vocab_size:
        tp = {"input_vocab_size": gpt.input_vocab_size, **tp}
    if gpt.n_unmasked:
        tp["n_unmasked"] = gpt.n_unmasked
    return {"target": GPT_TARGET, "params": tp}


def gpt_mask(gpt):
    """The reference's CausalSelfAttention.mask buffer."""
    mask = torch.tril(torch.ones(gpt.block_size, gpt.block_size))
    mask[:gpt.n_unmasked, :gpt.n_unmasked] = 1
    return mask.view(1, 1, gpt.block_size, gpt.block_size)


def level_yaml(spec, t, stage, joint=False):
    """A level config in the official shape (only the model part matters to the converter)."""
    if stage.variant == "gpt":
        config = level_yaml(spec, t, spec["xt_stage"])
        config["model"]["target"] = DECODER_ONLY_TARGET
        config["model"]["params"]["alpha"] = 1.0
        config["model"]["params"]["transformer_config"] = gpt_transformer_config(stage)
        return config
    tp = {"wrap_decoder": False, "dim": stage.dim,
          "enc_num_tokens": stage.enc_num_tokens, "enc_depth": stage.enc_depth, "enc_heads": stage.enc_heads,
          "enc_max_seq_len": stage.enc_max_seq_len, "dec_num_tokens": stage.dec_num_tokens,
          "dec_depth": stage.dec_depth, "dec_heads": stage.dec_heads, "tie_token_emb": False,
          "dec_max_seq_len": stage.dec_max_seq_len}
    if stage.dim_head != 64:
        tp["enc_attn_dim_head"] = tp["dec_attn_dim_head"] = stage.dim_head
    if stage.variant != "plain":
        tp = {"scale_pos": 0, "n_scales": stage.n_scales, **tp}
    if stage.variant == "residual_scaled":
        tp = {**tp, "xt_start": stage.xt_start, "xt_size": stage.xt_size}
    vq = spec["vqgan"]
    params = {"first_stage_key": "image", "monitor": "val/loss", "n_scales": spec["levels"],
              "single_scale": t, "top_k": spec["top_k"], "alpha": 0.0, "redraw_prob": spec["schedule"],
              "use_ema": spec["use_ema"]}
    if joint:
        del params["single_scale"]
    if spec["conditioning"] == "class":
        params["conditioner_config"] = {"target": "imagebart.util.ClassProvider", "params": {"key": "class_label"}}
    params["scheduler_config"] = {"target": "imagebart.lr_scheduler.LambdaWarmUpCosineScheduler",
                                  "params": {"warm_up_steps": 10, "lr_max": 1e-4}}
    params["transformer_config"] = {"target": TARGETS[stage.variant], "params": tp}
    params["first_stage_config"] = {
        "target": "imagebart.models.vqgan.VQGANWrapper",
        "params": {"ckpt_path": f"vqgan/{spec['name']}.ckpt",
                   "remap": f"data/vqgan_indices/{spec['name']}_indices.npy", "sane_index_shape": True,
                   "embed_dim": vq.embed_dim, "n_embed": vq.n_embed,
                   "ddconfig": {"double_z": False, "z_channels": vq.z_channels, "resolution": vq.resolution,
                                "in_channels": 3, "out_ch": 3, "ch": vq.ch, "ch_mult": list(vq.ch_mult),
                                "num_res_blocks": vq.num_res_blocks,
                                "attn_resolutions": list(vq.attn_resolutions), "dropout": 0.0},
                   "lossconfig": {"target": "taming.modules.losses.vqperceptual.DummyLoss"}}}
    return {"model": {"base_learning_rate": 0.0625,
                      "target": "imagebart.models.diffusion.DenoisingXTransformer", "params": params},
            "data": {"target": "main.DataModuleFromConfig", "params": {"batch_size": 2}},
            "lightning": {"trainer": {"benchmark": True}}}


def lightning_checkpoint(path, state_dict):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.save({"epoch": 7, "global_step": 1234, "pytorch-lightning_version": "1.4.2",
                "state_dict": state_dict,
                "optimizer_states": [{"state": {0: {"exp_avg": torch.zeros(3)}}, "param_groups": [{"lr": 1e-4}]}],
                "lr_schedulers": [{"last_epoch": 3}],
                "callbacks": {ModelCheckpoint: {"best_model_score": torch.tensor(1.5), "monitor": "val/loss"}},
                "hyper_parameters": AttributeDict(use_ema=True)}, path)


def schedule_table(path):
    """A metric table shaped like data/in_schedule_vs_metric.p: metric = 1 - alphacum^2 (numpy)."""
    alphacum = np.linspace(1.0, 0.0, 41)
    metric = np.stack([100 * (1 - alphacum ** 2), np.zeros_like(alphacum)], axis=1)
    table = {"bernoulli": {"alphacum": [np.float64(a) for a in alphacum], "PSIM": metric,
                           "FID": metric[::-1].copy()}}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        pickle.dump(table, f)
    return alphacum, metric[:, 0]


def _perturbed(tensor, gen):
    return tensor + torch.randn(tensor.shape, generator=gen) * 0.05 + 0.01


def build(root, name, variant="plain", levels=3, conditioning="none", schedule="bernoulli_PSIM",
          use_ema=True, vqgan_in_level=True, joint=False, dim=40, dim_head=12, heads=(3, 2), n_classes=12,
          seed=0, gpt_top=False, gpt_dim=32, gpt_layers=2, gpt_heads=4, n_unmasked=0, gpt_input_vocab=None):
    """Writes the release; returns (sampling_yaml_path, {t: true transformer}, true VQModel, spec).
    gpt_top: level T is a DecoderOnlyDenoiser (minGPT GPT of gpt_layers blocks, gpt_heads heads, n_embd
    gpt_dim, n_unmasked, input_vocab_size gpt_input_vocab or the image vocabulary)."""
    if joint and gpt_top:
        raise ValueError("a joint release has no separate top level")
    gen = torch.Generator().manual_seed(seed)
    vq = VqganConfig(resolution=32, ch=32, ch_mult=(1, 1, 2), num_res_blocks=1, attn_resolutions=(8,),
                     z_channels=8, embed_dim=6, n_embed=40,
                     remap=sorted(torch.randperm(40, generator=gen)[:29].tolist()))
    vqgan = randomize_(VQModel(vq), gen).eval()
    spec = {"name": name, "levels": levels, "top_k": 20, "schedule": schedule, "use_ema": use_ema,
            "conditioning": conditioning, "vqgan": vq}
    k, hw = vq.n_codes, vq.token_side ** 2
    n_prefix = 2 if conditioning == "class" else 1
    stage = StageConfig(variant=variant, dim=dim, dim_head=dim_head, enc_depth=2, dec_depth=1,
                        enc_heads=heads[0], dec_heads=heads[1],
                        enc_num_tokens=max(k, n_classes if conditioning == "class" else 0, levels + 1),
                        dec_num_tokens=k, enc_max_seq_len=n_prefix + hw, dec_max_seq_len=hw,
                        n_scales=levels if variant != "plain" else 0,
                        xt_start=n_prefix if variant == "residual_scaled" else 0,
                        xt_size=hw if variant == "residual_scaled" else 0)

    spec["xt_stage"] = stage
    gpt = GptConfig(vocab_size=k, block_size=n_prefix + hw - 1, n_layer=gpt_layers, n_head=gpt_heads,
                    n_embd=gpt_dim, input_vocab_size=gpt_input_vocab, n_unmasked=n_unmasked) if gpt_top else None

    np.save(os.path.join(_mkdir(root, "data", "vqgan_indices"), f"{name}_indices.npy"), np.array(vq.remap))
    if "bernoulli" in schedule:
        dset = schedule.split("_")[0] if schedule.count("_") == 2 else "in"
        schedule_table(os.path.join(root, "data", f"{dset}_schedule_vs_metric.p"))
    if conditioning == "class":
        _write_yaml(os.path.join(root, "data", "imagenet_ids2labels.yaml"),
                    {str(i): f"label number {i}" for i in range(n_classes)})

    # The separate VQGAN checkpoint: stale weights when the level checkpoint carries its own copy.
    stale = {k_: _perturbed(v, gen) for k_, v in vqgan.state_dict().items()}
    vq_sd = collections.OrderedDict(stale if vqgan_in_level else vqgan.state_dict())
    vq_sd["loss.discriminator.main.0.weight"] = torch.randn(4, 3, 4, 4, generator=gen)
    lightning_checkpoint(os.path.join(root, "vqgan", f"{name}.ckpt"), vq_sd)

    true = {}
    ckpts, configs = [], []
    shared = randomize_(build_transformer(stage), gen).eval() if joint else None
    for t in range(1, levels + 1):
        level_stage = gpt if gpt_top and t == levels else stage
        module = shared if joint else randomize_(build_transformer(level_stage), gen).eval()
        true[t] = module
        ckpt_rel = f"models/{name}/{'joint' if joint else f'scale{t}'}.ckpt"
        config_rel = f"configs/{name}/{name}-{'joint' if joint else f'scale{t}'}.yaml"
        ckpts.append(ckpt_rel)
        configs.append(config_rel)
        if joint and t > 1:
            continue
        sd = collections.OrderedDict()
        for n_, v in module.state_dict().items():
            sd["transformer." + n_] = _perturbed(v, gen) if use_ema else v.clone()
        if level_stage.variant == "gpt":  # buffers: in the state dict, not in the EMA
            for i in range(level_stage.n_layer):
                sd[f"transformer.blocks.{i}.attn.mask"] = gpt_mask(level_stage)
        if use_ema:
            sd["transformer_ema.decay"] = torch.tensor(0.9999)
            sd["transformer_ema.num_updates"] = torch.tensor(1234, dtype=torch.int32)
            for n_, v in module.state_dict().items():
                sd["transformer_ema." + n_.replace(".", "")] = v.clone()
        if vqgan_in_level and t == 1:
            for n_, v in vqgan.state_dict().items():
                sd["first_stage_model." + n_] = v.clone()
            sd["first_stage_model.quantize.used"] = torch.tensor(vq.remap)
        sd["sos_token"] = torch.tensor([0])
        sd["alphats"] = torch.ones(levels + 1)
        sd["loss.weight"] = torch.randn(3, generator=gen)
        lightning_checkpoint(os.path.join(root, ckpt_rel), sd)
        _write_yaml(os.path.join(root, config_rel), level_yaml(spec, t, level_stage, joint))

    sampling = os.path.join(root, "configs", "sampling", f"{name}.yaml")
    _write_yaml(sampling, {"checkpoints": ckpts, "configs": configs})
    return sampling, true, vqgan, spec


def _mkdir(*parts):
    path = os.path.join(*parts)
    os.makedirs(path, exist_ok=True)
    return path
