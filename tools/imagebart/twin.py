"""The PyTorch twin of a whole ImageBART model: the VQGAN tokenizer and one stage transformer per
diffusion level, with the schedule and conditioning that say how to drive them.

The architectures live in transformer.py, mingpt.py and vqgan.py (re-exported here); this file only ties
them together the way our model file does (docs/model-format.md): levels t = 1..T, several levels may
share one transformer, residual variants get alpha_t = 1 - beta_t from the schedule, decoder-only
(`gpt`) levels read [t, conditioning...] without x_t.
"""

from dataclasses import dataclass

import torch

from .schedule import alphas as schedule_alphas, check_betas
from .mingpt import GPT, GptConfig, DecoderOnlyTransformer
from .transformer import (
    VARIANTS, StageConfig, XTransformer, ScaledXTransformer, ResidualScaledXTransformer,
    build_transformer)
from .vqgan import VqganConfig, VQModel

__all__ = ["ImageBART", "Level", "VARIANTS", "StageConfig", "XTransformer", "ScaledXTransformer",
           "ResidualScaledXTransformer", "GPT", "GptConfig", "DecoderOnlyTransformer", "build_transformer",
           "VqganConfig", "VQModel"]


@dataclass
class Level:
    """Level t: its transformer inverts x_t -> x_{t-1} (an XTransformer variant, or a
    DecoderOnlyTransformer that draws x_{t-1} from [t, conditioning...] alone); top_k (0 = no cut) and
    temperature are its default sampling settings."""
    t: int
    transformer: XTransformer
    top_k: int = 0
    temperature: float = 1.0


class ImageBART:
    """A complete model set. `conditioning` is the config dict of docs/model-format.md
    ({"kind": "none"} or {"kind": "class", "labels": [...], "token_offset": 0})."""

    def __init__(self, vqgan, levels, betas, schedule_name="custom", conditioning=None, name="",
                 license="", provenance=""):
        self.vqgan = vqgan
        self.levels = {level.t: level for level in levels}
        self.betas = check_betas(betas)
        self.schedule_name = schedule_name
        self.conditioning = conditioning or {"kind": "none"}
        self.name, self.license, self.provenance = name, license, provenance
        if sorted(self.levels) != list(range(1, self.n_levels + 1)):
            raise ValueError(f"levels must be 1..{self.n_levels} (len(betas) - 1), got {sorted(self.levels)}")
        for level in self.levels.values():
            if level.transformer.config.n_output_tokens != self.n_codes:
                raise ValueError(f"level {level.t}: the transformer writes {level.transformer.config.n_output_tokens}"
                                 f" tokens, the number of image tokens is {self.n_codes}")
        self._share_alphas()

    @property
    def n_levels(self):
        return len(self.betas) - 1

    @property
    def n_codes(self):
        return self.vqgan.config.n_codes

    @property
    def token_shape(self):
        side = self.vqgan.config.token_side
        return side, side

    def transformer(self, t):
        return self.levels[t].transformer

    def transformers(self):
        """Distinct transformer modules with the levels using each, in level order."""
        groups = {}
        for t in sorted(self.levels):
            module = self.levels[t].transformer
            groups.setdefault(id(module), (module, []))[1].append(t)
        return list(groups.values())

    def _share_alphas(self):
        alphas = schedule_alphas(self.betas)
        for module, _ in self.transformers():
            if hasattr(module, "set_alphas"):
                module.set_alphas(alphas)

    def eval(self):
        self.vqgan.eval()
        for module, _ in self.transformers():
            module.eval()
        return self

    def is_decoder_only(self, t):
        return self.levels[t].transformer.variant == "gpt"

    def source(self, t, x_t=None, class_id=None):
        """The source of level t, (b, n): [t, (token_offset + class), x_t (flattened)] for the
        encoder-decoder levels; [t, (token_offset + class)] for a decoder-only level, which never reads
        x_t (it may be None there; given, it only sets the batch size)."""
        decoder_only = self.is_decoder_only(t)
        if x_t is not None:
            x_t = x_t.reshape(x_t.shape[0], -1)
            batch = x_t.shape[0]
        elif not decoder_only:
            raise ValueError(f"level {t} reads x_t")
        else:
            batch = 1 if class_id is None else torch.as_tensor(class_id).reshape(-1).shape[0]
        parts = [torch.full((batch, 1), t, dtype=torch.long)]
        if self.conditioning["kind"] == "class":
            if class_id is None:
                raise ValueError("this model needs a class")
            offset = self.conditioning.get("token_offset", 0)
            parts.append(torch.as_tensor(class_id, dtype=torch.long).reshape(-1, 1).expand(batch, 1) + offset)
        if not decoder_only:
            parts.append(x_t.long())
        return torch.cat(parts, dim=1)
