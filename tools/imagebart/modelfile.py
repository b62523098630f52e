"""Our model file (docs/model-format.md): a safetensors container whose `__metadata__` holds the
model config as JSON under "imagebart.config".

write_safetensors/read_safetensors are the container; save_model/load_model map an `ImageBART` twin to
and from it. The reader checks the container as strictly as the C loader does, so tests can use it to
validate what the writer produced.
"""

import json
import math
import os
import sys

import torch

from .mingpt import GptConfig
from .transformer import StageConfig, build_transformer
from .twin import ImageBART, Level
from .vqgan import VqganConfig, VQModel

FORMAT = "imagebart-studio-model"
FORMAT_VERSION = 1
CONFIG_KEY = "imagebart.config"
MAX_HEADER = 64 << 20

# name in our CLI/API -> (safetensors dtype, torch dtype)
DTYPES = {"f32": ("F32", torch.float32), "f16": ("F16", torch.float16), "bf16": ("BF16", torch.bfloat16)}
_READ_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
                "I32": torch.int32, "I64": torch.int64}

VQGAN_PREFIX = "first_stage_model."
# Official tensors that inference never reads: the encoder's (always created, never used) to_logits.
UNUSED_TRANSFORMER_TENSORS = ("encoder.to_logits.weight", "encoder.to_logits.bias")

_STAGE_ARCH_FIELDS = ("variant", "dim", "dim_head", "enc_depth", "dec_depth", "enc_heads", "dec_heads",
                      "enc_num_tokens", "dec_num_tokens", "enc_max_seq_len", "dec_max_seq_len")
# The official constructor arguments of each variant.
_STAGE_VARIANT_FIELDS = {"plain": (), "scaled": ("scale_pos", "n_scales"),
                         "residual_scaled": ("scale_pos", "n_scales", "xt_start", "xt_size")}
# A decoder-only level carries minGPT's constructor arguments instead.
_GPT_FIELDS = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd", "input_vocab_size", "n_unmasked")
_GPT_DEFAULTS = {"n_unmasked": 0}


class ModelFileError(ValueError):
    pass


# ---------------------------------------------------------------------------------------------------
# The container


def _element_size(dtype):
    return torch.empty((), dtype=dtype).element_size()


def _tensor_bytes(tensor, dtype):
    t = tensor.detach().to("cpu", torch.float32).to(dtype).contiguous()
    if dtype == torch.bfloat16:  # numpy has no bfloat16: write the raw 16-bit patterns
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def write_safetensors(path, tensors, dtype="f32", metadata=None):
    """tensors: list of (name, tensor), written in that order, contiguously, all as `dtype`
    (f32, f16 or bf16). The header is padded with spaces so the data section starts at a multiple
    of 8 bytes."""
    if sys.byteorder != "little":
        raise ModelFileError("writing model files needs a little-endian machine")
    if dtype not in DTYPES:
        raise ModelFileError(f"unknown dtype {dtype!r} (f32, f16, bf16)")
    st_dtype, torch_dtype = DTYPES[dtype]
    size = _element_size(torch_dtype)
    header, offset = {}, 0
    for name, tensor in tensors:
        if name in header or name == "__metadata__":
            raise ModelFileError(f"duplicate tensor name {name}")
        nbytes = tensor.numel() * size
        header[name] = {"dtype": st_dtype, "shape": list(tensor.shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-(8 + len(text)) % 8)
    tmp = path + ".part"
    try:
        with open(tmp, "wb") as f:
            f.write(len(text).to_bytes(8, "little"))
            f.write(text)
            for name, tensor in tensors:
                f.write(_tensor_bytes(tensor, torch_dtype))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _check_entry(name, entry, data_size):
    if not isinstance(entry, dict) or entry.get("dtype") not in _READ_DTYPES:
        raise ModelFileError(f"tensor {name}: missing or unknown dtype")
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if (not isinstance(shape, list) or len(shape) > 4
            or not all(type(d) is int and d > 0 for d in shape)):
        raise ModelFileError(f"tensor {name}: bad shape {shape}")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(type(o) is int for o in offsets) or not 0 <= offsets[0] <= offsets[1] <= data_size):
        raise ModelFileError(f"tensor {name}: data_offsets {offsets} outside the data section")
    if offsets[1] - offsets[0] != math.prod(shape) * _element_size(_READ_DTYPES[entry["dtype"]]):
        raise ModelFileError(f"tensor {name}: byte count does not match shape and dtype")


def _read_header(f, path, file_size):
    head = f.read(8)
    if len(head) < 8:
        raise ModelFileError(f"{path}: too short for a safetensors file")
    n = int.from_bytes(head, "little")
    if n > MAX_HEADER or n > file_size - 8:
        raise ModelFileError(f"{path}: header length {n} is impossible for a file of {file_size} bytes")
    try:
        header = json.loads(f.read(n).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(f"{path}: header is not JSON ({e})") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: header is not a JSON object")
    metadata = header.pop("__metadata__", {}) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise ModelFileError(f"{path}: __metadata__ must map strings to strings")
    return header, metadata, 8 + n


def read_safetensors(path):
    """-> (tensors {name: tensor in its stored dtype}, metadata {str: str}). Checks the header length,
    the JSON, every entry, and that no two tensors overlap."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        header, metadata, data_start = _read_header(f, path, size)
        body = f.read()
    tensors, spans = {}, []
    for name, entry in header.items():
        _check_entry(name, entry, len(body))
        begin, end = entry["data_offsets"]
        spans.append((begin, end, name))
        dtype = _READ_DTYPES[entry["dtype"]]
        tensors[name] = torch.frombuffer(bytearray(body[begin:end]), dtype=dtype).reshape(entry["shape"])
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise ModelFileError(f"{path}: tensors {n0} and {n1} overlap")
    return tensors, metadata


def read_header(path):
    """-> (tensor entries of the JSON header, metadata, byte offset of the data section), without
    reading the data."""
    with open(path, "rb") as f:
        return _read_header(f, path, os.path.getsize(path))


# ---------------------------------------------------------------------------------------------------
# ImageBART twin <-> file


def assign_prefixes(model):
    """Tensor prefix of every transformer: "level<t>." for one level, "shared<k>." when several levels
    use the same module (its weights are then stored once)."""
    prefixes, shared = {}, 0
    for module, ts in model.transformers():
        if len(ts) == 1:
            prefixes[id(module)] = f"level{ts[0]}."
        else:
            prefixes[id(module)] = f"shared{shared}."
            shared += 1
    return prefixes


def _level_config(level, prefix):
    c = level.transformer.config
    entry = {"t": level.t, "prefix": prefix}
    if c.variant == "gpt":
        entry["variant"] = "gpt"
        entry.update({k: getattr(c, k) for k in _GPT_FIELDS})
    else:
        entry.update({k: getattr(c, k) for k in _STAGE_ARCH_FIELDS})
        entry.update({k: getattr(c, k) for k in _STAGE_VARIANT_FIELDS[c.variant]})
    entry["top_k"] = int(level.top_k)
    entry["temperature"] = float(level.temperature)
    return entry


def build_config(model):
    """The `imagebart.config` dict of a twin model set."""
    prefixes = assign_prefixes(model)
    vq = model.vqgan.config.as_dict()
    if vq["remap"] is None:
        del vq["remap"]
    h, w = model.token_shape
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": model.name,
        "license": model.license,
        "provenance": model.provenance,
        "image": {"resolution": model.vqgan.config.resolution},
        "tokens": {"height": h, "width": w},
        "vqgan": vq,
        "schedule": {"name": model.schedule_name, "betas": [float(b) for b in model.betas]},
        "conditioning": model.conditioning,
        "levels": [_level_config(model.levels[t], prefixes[id(model.levels[t].transformer)])
                   for t in sorted(model.levels)],
    }


def model_tensors(model):
    """(name, tensor) of everything the file stores: VQGAN first, then each transformer once."""
    out = [(VQGAN_PREFIX + k, v) for k, v in model.vqgan.state_dict().items()]
    prefixes = assign_prefixes(model)
    for module, _ in model.transformers():
        prefix = prefixes[id(module)] + "transformer."
        out += [(prefix + k, v) for k, v in module.state_dict().items() if k not in UNUSED_TRANSFORMER_TENSORS]
    return out


def save_model(model, path, dtype="f32"):
    config = build_config(model)
    write_safetensors(path, model_tensors(model), dtype, {CONFIG_KEY: json.dumps(config, ensure_ascii=False)})
    return config


def _load_into(module, tensors, prefix, allowed_missing=()):
    own = {k[len(prefix):]: v.float() for k, v in tensors.items() if k.startswith(prefix)}
    missing, unexpected = module.load_state_dict(own, strict=False)
    missing = [k for k in missing if k not in allowed_missing]
    if missing or unexpected:
        raise ModelFileError(f"tensors under {prefix!r}: missing {missing[:5]}, unexpected {unexpected[:5]}")


def _stage_config(entries, prefix):
    """StageConfig or GptConfig of the levels stored under one prefix."""
    first = entries[0]
    variant = first.get("variant")
    if variant == "gpt":
        fields, defaults = ("variant",) + _GPT_FIELDS, dict(_GPT_DEFAULTS, input_vocab_size=first.get("vocab_size"))
    elif variant in _STAGE_VARIANT_FIELDS:
        fields, defaults = _STAGE_ARCH_FIELDS + _STAGE_VARIANT_FIELDS[variant], {"dim_head": 64}
    else:
        raise ModelFileError(f"unknown variant {variant!r}")
    for other in entries[1:]:
        if any(other.get(k, defaults.get(k)) != first.get(k, defaults.get(k)) for k in fields):
            raise ModelFileError(f"levels sharing prefix {prefix!r} disagree on the architecture")
    kwargs = {k: first[k] for k in fields if k in first}
    try:
        return GptConfig(**kwargs) if variant == "gpt" else StageConfig(**kwargs)
    except (TypeError, ValueError) as e:
        raise ModelFileError(f"levels under prefix {prefix!r}: {e}") from None


def load_model(path):
    """Reads our model file back into an ImageBART twin (float32 weights)."""
    tensors, metadata = read_safetensors(path)
    if CONFIG_KEY not in metadata:
        raise ModelFileError(f"{path}: no {CONFIG_KEY} in __metadata__")
    config = json.loads(metadata[CONFIG_KEY])
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{path}: not a {FORMAT} v{FORMAT_VERSION} file")
    vqgan = VQModel(VqganConfig(**config["vqgan"]))
    _load_into(vqgan, tensors, VQGAN_PREFIX)
    by_prefix = {}
    for entry in config["levels"]:
        by_prefix.setdefault(entry["prefix"], []).append(entry)
    levels = []
    for prefix, entries in by_prefix.items():
        module = build_transformer(_stage_config(entries, prefix))
        unused = UNUSED_TRANSFORMER_TENSORS if module.variant != "gpt" else ()
        for k in unused:  # not stored; zero them so the twin is deterministic
            module.get_parameter(k).data.zero_()
        _load_into(module, tensors, prefix + "transformer.", unused)
        levels += [Level(e["t"], module, e.get("top_k", 0), e.get("temperature", 1.0)) for e in entries]
    model = ImageBART(vqgan, levels, config["schedule"]["betas"], config["schedule"].get("name", "custom"),
                      config.get("conditioning"), config.get("name", ""), config.get("license", ""),
                      config.get("provenance", ""))
    return model.eval()


def read_config(path):
    """Only the config of a model file."""
    _, metadata, _ = read_header(path)
    return json.loads(metadata[CONFIG_KEY])
