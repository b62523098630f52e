"""Small random ImageBART models for tests and benchmarks.

Every parameter gets random values at a realistic scale, including LayerNorm/GroupNorm gains and
biases, biases and log_scalors that are zero in a freshly built official model: a parity test on
all-zero or all-one parameters would not notice a missing bias or a swapped norm.
"""

import math

import torch
from torch import nn

from .mingpt import GptConfig
from .transformer import StageConfig, build_transformer
from .twin import ImageBART, Level
from .schedule import compute_betas
from .vqgan import VqganConfig, VQModel


def _normal(shape, std, gen):
    return torch.randn(shape, generator=gen) * std


def randomize_(module, gen):
    """Fills every parameter of `module` in place (see the module docstring)."""
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, (nn.LayerNorm, nn.GroupNorm)):
                sub.weight.copy_(1 + _normal(sub.weight.shape, 0.2, gen))
                sub.bias.copy_(_normal(sub.bias.shape, 0.1, gen))
            elif isinstance(sub, (nn.Linear, nn.Conv2d)):
                fan_in = sub.weight[0].numel()
                sub.weight.copy_(_normal(sub.weight.shape, 1 / math.sqrt(fan_in), gen))
                if sub.bias is not None:
                    sub.bias.copy_(_normal(sub.bias.shape, 0.1, gen))
            elif isinstance(sub, nn.Embedding):
                sub.weight.copy_(_normal(sub.weight.shape, 0.5, gen))
        for name, param in module.named_parameters(recurse=False):
            if name == "log_scalors":
                param.copy_(_normal(param.shape, 0.3, gen))
            elif name == "pos_emb":  # minGPT's position embedding is a bare Parameter
                param.copy_(_normal(param.shape, 0.5, gen))
        # Wider logits than a plain init, so top-k cuts and argmaxes are meaningful.
        if hasattr(module, "decoder") and hasattr(module.decoder, "to_logits"):
            module.decoder.to_logits.weight.mul_(3.0)
        if hasattr(module, "head") and isinstance(module.head, nn.Linear):
            module.head.weight.mul_(3.0)
    return module


def random_remap(n_embed, n_codes, gen):
    if n_codes >= n_embed:
        return None
    return sorted(torch.randperm(n_embed, generator=gen)[:n_codes].tolist())


def make_test_model(variant="residual_scaled", levels=3, dim=40, depths=(2, 1), heads=(3, 2), dim_head=12,
                    codes=37, n_embed=48, resolution=32, ch=32, ch_mult=(1, 1, 2), num_res_blocks=1,
                    attn_resolutions=None, z_channels=8, embed_dim=6, joint=False, seed=0,
                    conditioning="none", n_classes=10, schedule="geometric", top_k=None, name=None,
                    extra_positions=0, gpt_top=False, gpt_dim=None, gpt_layers=2, gpt_heads=2, n_unmasked=None,
                    gpt_extra_inputs=0):
    """A random ImageBART twin. depths and heads are (encoder, decoder) pairs; extra_positions makes
    both max_seq_lens (and a gpt level's block_size) longer than the token grid needs (allowed, and an odd
    size for the engine).

    gpt_top makes level T a decoder-only (minGPT) level as in the official releases: n_embd gpt_dim
    (default dim), gpt_layers blocks of gpt_heads heads, n_unmasked (default: the prefix length with
    class conditioning, as the official ImageNet configs; 0 without), input_vocab_size gpt_extra_inputs
    larger than needed (the official ImageNet level has 1000 inputs for 973 image tokens)."""
    gen = torch.Generator().manual_seed(seed)
    vq_config = VqganConfig(resolution=resolution, ch=ch, ch_mult=ch_mult, num_res_blocks=num_res_blocks,
                            attn_resolutions=attn_resolutions if attn_resolutions is not None
                            else [resolution // 2 ** (len(ch_mult) - 1)],
                            z_channels=z_channels, embed_dim=embed_dim, n_embed=n_embed,
                            remap=random_remap(n_embed, codes, gen))
    vqgan = randomize_(VQModel(vq_config), gen).eval()
    k = vq_config.n_codes
    hw = vq_config.token_side ** 2
    n_prefix = 2 if conditioning == "class" else 1
    stage = StageConfig(variant=variant, dim=dim, dim_head=dim_head, enc_depth=depths[0], dec_depth=depths[1],
                        enc_heads=heads[0], dec_heads=heads[1],
                        enc_num_tokens=max(k, levels + 1, n_classes if conditioning == "class" else 0),
                        dec_num_tokens=k, enc_max_seq_len=n_prefix + hw + extra_positions,
                        dec_max_seq_len=hw + extra_positions,
                        scale_pos=0, n_scales=levels if variant != "plain" else 0,
                        xt_start=n_prefix if variant == "residual_scaled" else 0,
                        xt_size=hw if variant == "residual_scaled" else 0)
    shared = randomize_(build_transformer(stage), gen).eval() if joint else None
    level_list = []
    for t in range(1, levels + 1):
        if gpt_top and t == levels:
            gpt = GptConfig(vocab_size=k, block_size=n_prefix + hw - 1 + extra_positions, n_layer=gpt_layers,
                            n_head=gpt_heads, n_embd=gpt_dim or dim,
                            input_vocab_size=stage.enc_num_tokens + gpt_extra_inputs,
                            n_unmasked=(n_prefix if conditioning == "class" else 0) if n_unmasked is None
                            else n_unmasked)
            module = randomize_(build_transformer(gpt), gen).eval()
        else:
            module = shared if joint else randomize_(build_transformer(stage), gen).eval()
        level_list.append(Level(t, module, top_k if top_k is not None else max(1, k // 2), 1.0))
    cond = {"kind": "none"}
    if conditioning == "class":
        cond = {"kind": "class", "labels": [f"class {i}" for i in range(n_classes)], "token_offset": 0}
    betas = compute_betas(schedule, levels)
    return ImageBART(vqgan, level_list, betas, schedule, cond,
                     name or f"random test model ({variant}{' + gpt top' if gpt_top else ''}, {levels} levels, "
                             f"seed {seed})",
                     "CC0-1.0 (random weights)", f"tools/make-test-model, seed {seed}").eval()
