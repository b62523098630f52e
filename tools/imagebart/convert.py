"""Converts an official ImageBART release (CompVis/imagebart layout) into our model file.

Input: a sampling YAML (configs/sampling/...) listing one checkpoint and one level config per level,
paths relative to the release root, finest level (scale 1, t = 1) first. For every level the converter
builds the twin transformer from the level config (an XTransformer variant under DenoisingXTransformer,
or minGPT's GPT under DecoderOnlyDenoiser, the official releases' coarsest level), loads the weights into
it strictly (the EMA copy when the config uses EMA and the checkpoint has one), and fails with a message
that names the file and the problem for anything it does not understand. Everything the configs alone
decide (architecture, sequence layout, schedule, conditioning) is checked before any checkpoint is read.
The VQGAN comes from the finest level, as in the reference sampler: its first_stage_config (ckpt_path,
remap) overlaid with the first_stage_model.* tensors of the level checkpoint.

Checkpoints and schedule tables are read through safeload, so a hostile file cannot run code.
"""

import os

import numpy as np
import torch
import yaml

from . import modelfile
from .safeload import UnsafeFileError, load_state_dict
from .schedule import ScheduleError, compute_betas
from .mingpt import GptConfig, autoset_n_layer
from .transformer import StageConfig, build_transformer
from .twin import ImageBART, Level
from .vqgan import VqganConfig, VQModel

MODEL_TARGET = "imagebart.models.diffusion.DenoisingXTransformer"
DECODER_ONLY_TARGET = "imagebart.models.diffusion.DecoderOnlyDenoiser"
_XT = "imagebart.modules.xtransformers.x_transformer."
TRANSFORMER_TARGETS = {_XT + "XTransformer": "plain", _XT + "ScaledXTransformer": "scaled",
                       _XT + "ResidualScaledXTransformer": "residual_scaled"}
GPT_TARGET = "imagebart.modules.transformer.mingpt.GPT"
VQGAN_TARGETS = ("imagebart.models.vqgan.VQGANWrapper", "taming.models.vqgan.VQModel")
CLASS_PROVIDER = "imagebart.util.ClassProvider"
LABELS_FILE = os.path.join("data", "imagenet_ids2labels.yaml")

# Transformer params the twin implements; any other option changes the architecture.
_STACK_KEYS = ("num_tokens", "depth", "heads", "max_seq_len", "attn_dim_head")
_KNOWN_TRANSFORMER_KEYS = ({"dim", "wrap_decoder", "tie_token_emb", "causal_decoder", "scale_pos", "n_scales",
                            "xt_start", "xt_size"}
                           | {f"{side}_{k}" for side in ("enc", "dec") for k in _STACK_KEYS})
# minGPT's constructor arguments (dropouts only matter for training).
_KNOWN_GPT_KEYS = {"vocab_size", "block_size", "n_layer", "n_head", "n_embd", "embd_pdrop", "resid_pdrop",
                   "attn_pdrop", "n_unmasked", "input_vocab_size", "autoset_layers"}
_IGNORED_DDCONFIG_KEYS = {"dropout", "tanh_out"}  # dropout: inference; tanh_out: taming's Decoder ignores it


class ConversionError(Exception):
    pass


def _read_yaml(path, what):
    if not os.path.isfile(path):
        raise ConversionError(f"{what} {path} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            return yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConversionError(f"{what} {path} is not valid YAML: {e}") from None


def _get(mapping, key, where, kind=None):
    if not isinstance(mapping, dict) or key not in mapping:
        raise ConversionError(f"{where}: missing {key!r}")
    value = mapping[key]
    if kind is not None and not isinstance(value, kind):
        raise ConversionError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return value


# ---------------------------------------------------------------------------------------------------
# Level configs


def stage_config_from_yaml(tconf, where):
    """transformer_config (target + params) -> StageConfig, refusing options the twin lacks."""
    target = _get(tconf, "target", where, str)
    if target not in TRANSFORMER_TARGETS:
        raise ConversionError(f"{where}: unknown transformer target {target} "
                              f"(supported: {', '.join(sorted(TRANSFORMER_TARGETS))})")
    variant = TRANSFORMER_TARGETS[target]
    p = tconf.get("params") or {}
    unknown = sorted(set(p) - _KNOWN_TRANSFORMER_KEYS)
    if unknown:
        raise ConversionError(f"{where}: unsupported transformer options {unknown}")
    if p.get("wrap_decoder", True) or not p.get("causal_decoder", True):
        raise ConversionError(f"{where}: only wrap_decoder: false with a causal decoder is supported")
    dim_heads = {p.get("enc_attn_dim_head", 64), p.get("dec_attn_dim_head", 64)}
    if len(dim_heads) != 1:
        raise ConversionError(f"{where}: encoder and decoder dim_head differ, the format has one dim_head")
    try:
        kwargs = dict(variant=variant, dim=int(p["dim"]), dim_head=dim_heads.pop(),
                      enc_depth=int(p["enc_depth"]), dec_depth=int(p["dec_depth"]),
                      enc_heads=int(p.get("enc_heads", 8)), dec_heads=int(p.get("dec_heads", 8)),
                      enc_num_tokens=int(p["enc_num_tokens"]), dec_num_tokens=int(p["dec_num_tokens"]),
                      enc_max_seq_len=int(p["enc_max_seq_len"]), dec_max_seq_len=int(p["dec_max_seq_len"]))
        if variant != "plain":
            kwargs.update(scale_pos=int(p["scale_pos"]), n_scales=int(p["n_scales"]))
        if variant == "residual_scaled":
            kwargs.update(xt_start=int(p["xt_start"]), xt_size=int(p["xt_size"]))
    except KeyError as e:
        raise ConversionError(f"{where}: transformer params lack {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:
        raise ConversionError(f"{where}: bad transformer params ({e})") from None
    return StageConfig(**kwargs), bool(p.get("tie_token_emb", False))


def gpt_config_from_yaml(tconf, where):
    """transformer_config of a DecoderOnlyDenoiser (minGPT's GPT) -> GptConfig, with GPT's defaults."""
    target = _get(tconf, "target", where, str)
    if target != GPT_TARGET:
        raise ConversionError(f"{where}: unknown transformer target {target} for {DECODER_ONLY_TARGET} "
                              f"(supported: {GPT_TARGET})")
    p = tconf.get("params") or {}
    unknown = sorted(set(p) - _KNOWN_GPT_KEYS)
    if unknown:
        raise ConversionError(f"{where}: unsupported GPT options {unknown}")
    try:
        n_embd = int(p.get("n_embd", 256))
        n_layer = autoset_n_layer(n_embd) if p.get("autoset_layers", False) else int(p.get("n_layer", 12))
        return GptConfig(vocab_size=int(p["vocab_size"]), block_size=int(p["block_size"]), n_layer=n_layer,
                         n_head=int(p.get("n_head", 8)), n_embd=n_embd,
                         input_vocab_size=int(p.get("input_vocab_size") or 0) or None,
                         n_unmasked=int(p.get("n_unmasked", 0)))
    except KeyError as e:
        raise ConversionError(f"{where}: GPT params lack {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:
        raise ConversionError(f"{where}: bad GPT params ({e})") from None


def read_level(root, config_rel, ckpt_rel, index):
    """One entry of the sampling YAML -> dict with the level config's pieces."""
    config_path = os.path.join(root, config_rel)
    where = config_path
    model = _get(_read_yaml(config_path, "level config"), "model", where, dict)
    target = _get(model, "target", where, str)
    if target not in (MODEL_TARGET, DECODER_ONLY_TARGET):
        raise ConversionError(f"{where}: unknown model target {target} "
                              f"(expected {MODEL_TARGET} or {DECODER_ONLY_TARGET})")
    params = _get(model, "params", where, dict)
    tconf = _get(params, "transformer_config", where, dict)
    if target == DECODER_ONLY_TARGET:
        # The reference asserts this: a decoder-only level never reads x_t, so it can only be the top.
        if params.get("single_scale") is None or params.get("single_scale") != params.get("n_scales"):
            raise ConversionError(f"{where}: {DECODER_ONLY_TARGET} must be the coarsest level "
                                  f"(single_scale {params.get('single_scale')}, n_scales {params.get('n_scales')})")
        stage, tied = gpt_config_from_yaml(tconf, where), False
    else:
        if params.get("regression", False):
            raise ConversionError(f"{where}: regression mode is not supported")
        stage, tied = stage_config_from_yaml(tconf, where)
    return {"index": index, "where": where, "config_rel": config_rel, "params": params, "stage": stage,
            "tied": tied, "ckpt": os.path.normpath(os.path.join(root, ckpt_rel)), "ckpt_rel": ckpt_rel,
            "single_scale": params.get("single_scale"), "n_scales": int(_get(params, "n_scales", where))}


def assign_levels(entries):
    """Level t of each entry: its single_scale; a joint config (no single_scale) listed once covers
    all n_scales levels, listed several times it is level = position (finest first)."""
    n_scales = {e["n_scales"] for e in entries}
    if len(n_scales) != 1:
        raise ConversionError(f"level configs disagree on n_scales: {sorted(n_scales)}")
    n = n_scales.pop()
    levels = {}
    for e in entries:
        if e["single_scale"] is not None:
            ts = [int(e["single_scale"])]
        elif len(entries) == 1:
            ts = list(range(1, n + 1))
        else:
            ts = [e["index"] + 1]
        for t in ts:
            if t in levels:
                raise ConversionError(f"{e['where']}: level {t} appears twice")
            levels[t] = e
    if sorted(levels) != list(range(1, n + 1)):
        raise ConversionError(f"the sampling YAML covers levels {sorted(levels)}, expected 1..{n}")
    return n, levels


# ---------------------------------------------------------------------------------------------------
# Weights


def _load_ckpt(path):
    if not os.path.isfile(path):
        raise ConversionError(f"checkpoint {path} does not exist")
    try:
        return load_state_dict(path)
    except (UnsafeFileError, OSError) as e:
        raise ConversionError(str(e)) from None


def select_transformer_weights(sd, names, use_ema, where):
    """The transformer tensors: EMA copies ("transformer_ema." + name without dots) when use_ema and the
    checkpoint has them, else "transformer.*". Returns (weights, used_ema)."""
    if use_ema:
        ema_keys = {n: "transformer_ema." + n.replace(".", "") for n in names}
        if len(set(ema_keys.values())) != len(ema_keys):
            raise ConversionError(f"{where}: EMA names are ambiguous for this architecture")
        present = {n: sd[k] for n, k in ema_keys.items() if k in sd}
        if present:
            if len(present) != len(names):
                missing = [k for n, k in ema_keys.items() if n not in present]
                raise ConversionError(f"{where}: EMA weights incomplete, missing {missing[:5]}")
            return present, True
    weights = {k[len("transformer."):]: v for k, v in sd.items() if k.startswith("transformer.")}
    return weights, False


def load_strict(module, weights, where, what, ignore=()):
    """Loads weights into module, with a clear message for every missing, unexpected or misshapen
    tensor."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected and k not in ignore]
    if missing or unexpected:
        raise ConversionError(f"{where}: {what} tensors do not match the config: "
                              f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                              f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
    for k, v in expected.items():
        if tuple(weights[k].shape) != tuple(v.shape):
            raise ConversionError(f"{where}: {what} tensor {k} has shape {list(weights[k].shape)}, "
                                  f"the config implies {list(v.shape)}")
        if not weights[k].is_floating_point():
            raise ConversionError(f"{where}: {what} tensor {k} is not floating point")
    module.load_state_dict({k: weights[k].float() for k in expected})


def check_gpt_masks(sd, config, where):
    """minGPT stores each block's attention mask as a buffer (transformer.blocks.{i}.attn.mask, never
    EMA'd); the twin computes it from block_size and n_unmasked, so a stored one must agree."""
    b, n = config.block_size, config.n_unmasked
    expected = torch.tril(torch.ones(b, b))
    expected[:n, :n] = 1
    expected = expected.view(1, 1, b, b)
    names = []
    for i in range(config.n_layer):
        name = f"transformer.blocks.{i}.attn.mask"
        if name in sd:
            mask = sd[name]
            if tuple(mask.shape) != tuple(expected.shape) or not torch.equal(mask.float(), expected):
                raise ConversionError(f"{where}: {name} does not match block_size {b} and n_unmasked {n} "
                                      "of the config")
            names.append(f"blocks.{i}.attn.mask")
    return names


def build_stage(entry, sd):
    """The twin transformer of one level checkpoint, and whether EMA weights were used."""
    module = build_transformer(entry["stage"])
    names = list(module.state_dict())
    ignore = check_gpt_masks(sd, entry["stage"], entry["ckpt"]) if module.variant == "gpt" else ()
    weights, used_ema = select_transformer_weights(sd, names, bool(entry["params"].get("use_ema", False)),
                                                   entry["ckpt"])
    load_strict(module, weights, entry["ckpt"], "transformer", ignore)
    return module.eval(), used_ema


# ---------------------------------------------------------------------------------------------------
# VQGAN


def _load_remap(root, rel, where):
    path = os.path.join(root, rel)
    if not os.path.isfile(path):
        raise ConversionError(f"{where}: remap file {path} does not exist")
    try:
        used = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ConversionError(f"{path}: not a readable .npy array ({e})") from None
    if used.ndim != 1 or used.dtype.kind not in "iu":
        raise ConversionError(f"{path}: expected a 1-D integer array, got {used.dtype} {used.shape}")
    return [int(i) for i in used]


def vqgan_config_from_yaml(root, fs, where):
    target = _get(fs, "target", where, str)
    if target not in VQGAN_TARGETS:
        raise ConversionError(f"{where}: unknown first stage target {target}")
    p = _get(fs, "params", where, dict)
    dd = _get(p, "ddconfig", where, dict)
    if dd.get("double_z", True):
        raise ConversionError(f"{where}: ddconfig double_z must be false")
    if not dd.get("resamp_with_conv", True) or dd.get("give_pre_end", False):
        raise ConversionError(f"{where}: unsupported ddconfig (resamp_with_conv/give_pre_end)")
    if p.get("unknown_index", "random") != "random":
        raise ConversionError(f"{where}: unknown_index {p['unknown_index']!r} is not supported")
    known = {"double_z", "resamp_with_conv", "give_pre_end", "resolution", "in_channels", "out_ch", "ch",
             "ch_mult", "num_res_blocks", "attn_resolutions", "z_channels"} | _IGNORED_DDCONFIG_KEYS
    unknown = sorted(set(dd) - known)
    if unknown:
        raise ConversionError(f"{where}: unsupported ddconfig options {unknown}")
    remap = _load_remap(root, p["remap"], where) if p.get("remap") else None
    try:
        return VqganConfig(resolution=int(dd["resolution"]), in_channels=int(dd.get("in_channels", 3)),
                           out_ch=int(dd.get("out_ch", 3)), ch=int(dd["ch"]), ch_mult=dd["ch_mult"],
                           num_res_blocks=int(dd["num_res_blocks"]),
                           attn_resolutions=dd.get("attn_resolutions") or [],
                           z_channels=int(dd["z_channels"]), embed_dim=int(p["embed_dim"]),
                           n_embed=int(p["n_embed"]), remap=remap)
    except KeyError as e:
        raise ConversionError(f"{where}: first stage config lacks {e.args[0]!r}") from None
    except (TypeError, ValueError) as e:
        raise ConversionError(f"{where}: bad first stage config ({e})") from None


def build_vqgan(root, entry, level_sd):
    """The finest level's VQGAN: first_stage_config.ckpt_path (if it exists) overlaid with the level
    checkpoint's first_stage_model.* tensors, which is what the reference ends up with."""
    where = entry["where"]
    fs = _get(entry["params"], "first_stage_config", where, dict)
    config = vqgan_config_from_yaml(root, fs, where)
    model = VQModel(config)
    weights = {}
    ckpt_rel = (fs.get("params") or {}).get("ckpt_path")
    if ckpt_rel and os.path.isfile(os.path.join(root, ckpt_rel)):
        weights.update(_load_ckpt(os.path.join(root, ckpt_rel)))
    prefix = "first_stage_model."
    weights.update({k[len(prefix):]: v for k, v in level_sd.items() if k.startswith(prefix)})
    used = weights.pop("quantize.used", None)
    if used is not None and config.remap is not None and used.tolist() != config.remap:
        raise ConversionError(f"{where}: the checkpoint's quantize.used differs from the remap file")
    weights = {k: v for k, v in weights.items() if not k.startswith("loss.")}
    source = f"{entry['ckpt']} (first_stage_model.*)" + (f" and {ckpt_rel}" if ckpt_rel else "")
    load_strict(model, weights, source, "VQGAN")
    return model.eval()


def _first_stage_signature(params):
    """What must agree between the levels' first stages. Options the VQGAN ignores do not count: the
    official ImageNet 4-scale configs say tanh_out: true on levels 1-3 and not on level 4."""
    fs = params.get("first_stage_config") or {}
    p = fs.get("params") or {}
    dd = p.get("ddconfig")
    if isinstance(dd, dict):
        dd = {k: v for k, v in dd.items() if k not in _IGNORED_DDCONFIG_KEYS}
    return (dd, p.get("embed_dim"), p.get("n_embed"), p.get("remap"))


# ---------------------------------------------------------------------------------------------------
# Conditioning, checks, assembly


def conditioning_from_yaml(root, params, enc_num_tokens, where):
    cc = params.get("conditioner_config")
    if cc is None:
        return {"kind": "none"}
    target = cc.get("target") if isinstance(cc, dict) else cc
    if target != CLASS_PROVIDER:
        raise ConversionError(f"{where}: unsupported conditioner {target} (only {CLASS_PROVIDER})")
    path = os.path.join(root, LABELS_FILE)
    if os.path.isfile(path):
        mapping = _read_yaml(path, "label file") or {}
        try:
            labels = [str(mapping.get(str(i), mapping.get(i))) for i in range(len(mapping))]
        except AttributeError:
            raise ConversionError(f"{path}: expected a mapping of class ids to labels") from None
        if "None" in labels:
            raise ConversionError(f"{path}: class ids must be 0..{len(mapping) - 1}")
    else:
        labels = [f"class {i}" for i in range(enc_num_tokens)]
    if len(labels) > enc_num_tokens:
        raise ConversionError(f"{where}: {len(labels)} classes but only {enc_num_tokens} encoder tokens")
    return {"kind": "class", "labels": labels, "token_offset": 0}


def check_stage(stage, t, n_levels, n_codes, hw, n_prefix, where, n_cond_tokens=0):
    """The sequence layout the sampler will use must fit the transformer. n_cond_tokens: conditioning
    token ids go up to n_cond_tokens - 1 (token_offset + number of classes)."""
    problems = []
    if stage.n_input_tokens < n_cond_tokens:
        problems.append(f"{stage.n_input_tokens} input tokens cannot hold the conditioning's {n_cond_tokens}")
    if stage.variant == "gpt":
        if stage.vocab_size != n_codes:
            problems.append(f"vocab_size {stage.vocab_size} != {n_codes} image tokens")
        if stage.input_vocab_size < max(n_codes, n_levels + 1):
            problems.append(f"input_vocab_size {stage.input_vocab_size} too small for tokens and scale tokens")
        if stage.block_size < n_prefix + hw - 1:
            problems.append(f"block_size {stage.block_size} too small for {n_prefix} prefix tokens and "
                            f"{hw - 1} image tokens")
        if t != n_levels:
            problems.append("a decoder-only level must be the coarsest")
        if problems:
            raise ConversionError(f"{where} (level {t}): " + "; ".join(problems))
        return
    if stage.dec_num_tokens != n_codes:
        problems.append(f"dec_num_tokens {stage.dec_num_tokens} != {n_codes} image tokens")
    if stage.enc_num_tokens < max(n_codes, n_levels + 1):
        problems.append(f"enc_num_tokens {stage.enc_num_tokens} too small for tokens and scale tokens")
    if stage.enc_max_seq_len < n_prefix + hw or stage.dec_max_seq_len < hw:
        problems.append("max_seq_len too small for the token grid")
    if stage.variant != "plain" and (stage.n_scales < n_levels or stage.scale_pos != 0):
        problems.append(f"scale_pos {stage.scale_pos}/n_scales {stage.n_scales} do not fit {n_levels} levels")
    if stage.variant == "residual_scaled" and (stage.xt_start != n_prefix or stage.xt_size != hw):
        problems.append(f"x_t at {stage.xt_start}+{stage.xt_size}, expected {n_prefix}+{hw}")
    if problems:
        raise ConversionError(f"{where} (level {t}): " + "; ".join(problems))


def plan_release(sampling_yaml, root):
    """Everything the configs decide, checked, without reading any checkpoint: a dict with entries (one
    per YAML line), levels {t: entry}, n_levels, vqgan_config, betas, conditioning."""
    sampling = _read_yaml(sampling_yaml, "sampling YAML")
    ckpts = _get(sampling, "checkpoints", sampling_yaml, list)
    configs = _get(sampling, "configs", sampling_yaml, list)
    if not ckpts or len(ckpts) != len(configs):
        raise ConversionError(f"{sampling_yaml}: needs as many checkpoints as configs (and at least one)")
    entries = [read_level(root, c, k, i) for i, (k, c) in enumerate(zip(ckpts, configs))]
    n_levels, levels = assign_levels(entries)
    finest = entries[0]
    for e in entries[1:]:
        if _first_stage_signature(e["params"]) != _first_stage_signature(finest["params"]):
            raise ConversionError(f"{e['where']}: first stage differs from the finest level's")
        if e["params"].get("redraw_prob") != finest["params"].get("redraw_prob"):
            raise ConversionError(f"{e['where']}: redraw_prob differs from the finest level's")
    fs = _get(finest["params"], "first_stage_config", finest["where"], dict)
    vq_config = vqgan_config_from_yaml(root, fs, finest["where"])
    try:
        betas = compute_betas(finest["params"].get("redraw_prob"), n_levels, root)
    except ScheduleError as e:
        raise ConversionError(f"{finest['where']}: {e}") from None
    cond = conditioning_from_yaml(root, finest["params"], finest["stage"].n_input_tokens, finest["where"])
    n_codes = vq_config.n_codes
    hw = vq_config.token_side ** 2
    n_prefix = 2 if cond["kind"] == "class" else 1
    n_cond_tokens = cond.get("token_offset", 0) + len(cond["labels"]) if cond["kind"] == "class" else 0
    for t, e in sorted(levels.items()):
        check_stage(e["stage"], t, n_levels, n_codes, hw, n_prefix, e["where"], n_cond_tokens)
    return {"entries": entries, "levels": levels, "n_levels": n_levels, "vqgan_config": vq_config,
            "betas": betas, "conditioning": cond}


def convert_release(sampling_yaml, root, name=None, license=None, provenance=None, log=print):
    """Reads the release and returns the ImageBART twin."""
    plan = plan_release(sampling_yaml, root)
    entries, levels = plan["entries"], plan["levels"]
    finest = entries[0]
    modules, ema_used, vqgan = {}, [], None
    for e in entries:
        if e["ckpt"] in modules:
            if modules[e["ckpt"]][1] != e["stage"]:
                raise ConversionError(f"{e['where']}: shares {e['ckpt']} with another level but not its config")
            continue
        log(f"reading {e['ckpt']}")
        sd = _load_ckpt(e["ckpt"])
        module, used_ema = build_stage(e, sd)
        modules[e["ckpt"]] = (module, e["stage"])
        ema_used.append(used_ema)
        if e is finest:
            vqgan = build_vqgan(root, e, sd)
        del sd

    betas, cond, n_codes = plan["betas"], plan["conditioning"], vqgan.config.n_codes
    level_list = []
    for t, e in sorted(levels.items()):
        top_k = e["params"].get("top_k")
        top_k = 100 if top_k is None else int(top_k)  # the reference's default
        level_list.append(Level(t, modules[e["ckpt"]][0], min(top_k, n_codes), 1.0))

    default_name = os.path.splitext(os.path.basename(sampling_yaml))[0]
    ema_note = "EMA weights" if all(ema_used) else ("training weights" if not any(ema_used) else "mixed")
    default_prov = (f"converted by tools/convert-checkpoint from {os.path.basename(sampling_yaml)}: "
                    + ", ".join(e["ckpt_rel"] for e in entries) + f" ({ema_note})")
    return ImageBART(vqgan, level_list, betas, str(finest["params"].get("redraw_prob")), cond,
                     name or default_name, license or "unspecified; see the original release",
                     provenance or default_prov).eval()


def convert(sampling_yaml, root, out, dtype="f32", name=None, license=None, provenance=None, log=print):
    model = convert_release(sampling_yaml, root, name, license, provenance, log)
    config = modelfile.save_model(model, out, dtype)
    log(f"wrote {out}: {model.n_levels} levels, K = {model.n_codes}, "
        f"{len(model.transformers())} transformer(s), {dtype}")
    return model, config
