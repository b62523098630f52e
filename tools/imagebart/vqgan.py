"""The VQGAN image tokenizer: a PyTorch twin of taming-transformers' `VQModel` (encoder, decoder,
vector quantizer, quant_conv, post_quant_conv), with the official parameter names.

One deliberate difference from the reference: with a codebook remap, an image position whose nearest
code is unused is mapped to the nearest *used* code (argmin over the used rows only). The reference
picks a random used code instead, which makes encoding non-deterministic and is bad for editing.
"""

from dataclasses import dataclass, asdict, field

import torch
from torch import nn
import torch.nn.functional as F


@dataclass
class VqganConfig:
    """The VQModel's `ddconfig` plus embed_dim/n_embed, named as in docs/model-format.md."""
    resolution: int
    ch: int
    ch_mult: tuple
    num_res_blocks: int
    attn_resolutions: tuple
    z_channels: int
    embed_dim: int
    n_embed: int
    in_channels: int = 3
    out_ch: int = 3
    remap: list = field(default=None)

    def __post_init__(self):
        self.ch_mult = tuple(int(m) for m in self.ch_mult)
        self.attn_resolutions = tuple(int(r) for r in self.attn_resolutions)
        if self.remap is not None:
            self.remap = [int(i) for i in self.remap]
            if not self.remap or min(self.remap) < 0 or max(self.remap) >= self.n_embed:
                raise ValueError("remap entries must be codebook rows 0..n_embed-1")
            if len(set(self.remap)) != len(self.remap):
                raise ValueError("remap has duplicate entries")
        for mult in self.ch_mult:
            if (self.ch * mult) % 32:
                raise ValueError("every ch * ch_mult must be a multiple of 32 (GroupNorm with 32 groups)")
        if self.resolution % self.downsampling:
            raise ValueError("resolution must be divisible by 2^(len(ch_mult)-1)")

    @property
    def downsampling(self):
        return 2 ** (len(self.ch_mult) - 1)

    @property
    def token_side(self):
        return self.resolution // self.downsampling

    @property
    def n_codes(self):
        """K, the number of model tokens."""
        return len(self.remap) if self.remap is not None else self.n_embed

    def as_dict(self):
        d = asdict(self)
        d["ch_mult"] = list(self.ch_mult)
        d["attn_resolutions"] = list(self.attn_resolutions)
        return d


def Normalize(channels):
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


def swish(x):
    return x * torch.sigmoid(x)


class Upsample(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Downsample(nn.Module):
    """Zero padding on the right and bottom only, then a stride-2 3x3 convolution."""

    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, 2, 0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1, 0, 1), mode="constant", value=0))


class ResnetBlock(nn.Module):
    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.norm1 = Normalize(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1)
        self.norm2 = Normalize(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, 1, 1, 0)
        else:
            self.nin_shortcut = None

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))
        if self.nin_shortcut is not None:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all h*w positions, scaled by C^-0.5, as in the reference."""

    def __init__(self, channels):
        super().__init__()
        self.norm = Normalize(channels)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        h_ = self.norm(x)
        q, k, v = self.q(h_), self.k(h_), self.v(h_)
        b, c, h, w = q.shape
        q = q.reshape(b, c, h * w).permute(0, 2, 1)
        k = k.reshape(b, c, h * w)
        weights = torch.bmm(q, k) * (int(c) ** (-0.5))
        weights = F.softmax(weights, dim=2)
        v = v.reshape(b, c, h * w)
        out = torch.bmm(v, weights.permute(0, 2, 1)).reshape(b, c, h, w)
        return x + self.proj_out(out)


def _stage(blocks, attns):
    stage = nn.Module()
    stage.block = nn.ModuleList(blocks)
    stage.attn = nn.ModuleList(attns)
    return stage


def _middle(channels):
    mid = nn.Module()
    mid.block_1 = ResnetBlock(channels, channels)
    mid.attn_1 = AttnBlock(channels)
    mid.block_2 = ResnetBlock(channels, channels)
    return mid


def _run_middle(mid, h):
    return mid.block_2(mid.attn_1(mid.block_1(h)))


def _run_stage(stage, h):
    for i, block in enumerate(stage.block):
        h = block(h)
        if len(stage.attn) > 0:
            h = stage.attn[i](h)
    return h


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv_in = nn.Conv2d(c.in_channels, c.ch, 3, 1, 1)
        in_mult = (1,) + c.ch_mult
        res = c.resolution
        self.down = nn.ModuleList()
        for level, mult in enumerate(c.ch_mult):
            block_in = c.ch * in_mult[level]
            blocks, attns = [], []
            for _ in range(c.num_res_blocks):
                blocks.append(ResnetBlock(block_in, c.ch * mult))
                block_in = c.ch * mult
                if res in c.attn_resolutions:
                    attns.append(AttnBlock(block_in))
            stage = _stage(blocks, attns)
            if level != len(c.ch_mult) - 1:
                stage.downsample = Downsample(block_in)
                res //= 2
            self.down.append(stage)
        self.mid = _middle(block_in)
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, c.z_channels, 3, 1, 1)

    def forward(self, x):
        h = self.conv_in(x)
        for stage in self.down:
            h = _run_stage(stage, h)
            if hasattr(stage, "downsample"):
                h = stage.downsample(h)
        h = _run_middle(self.mid, h)
        return self.conv_out(swish(self.norm_out(h)))


class Decoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        n = len(c.ch_mult)
        block_in = c.ch * c.ch_mult[-1]
        res = c.token_side
        self.conv_in = nn.Conv2d(c.z_channels, block_in, 3, 1, 1)
        self.mid = _middle(block_in)
        stages = []
        for level in reversed(range(n)):
            blocks, attns = [], []
            for _ in range(c.num_res_blocks + 1):
                blocks.append(ResnetBlock(block_in, c.ch * c.ch_mult[level]))
                block_in = c.ch * c.ch_mult[level]
                if res in c.attn_resolutions:
                    attns.append(AttnBlock(block_in))
            stage = _stage(blocks, attns)
            if level != 0:
                stage.upsample = Upsample(block_in)
                res *= 2
            stages.insert(0, stage)
        self.up = nn.ModuleList(stages)
        self.norm_out = Normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, c.out_ch, 3, 1, 1)

    def forward(self, z):
        h = _run_middle(self.mid, self.conv_in(z))
        for stage in reversed(self.up):
            h = _run_stage(stage, h)
            if hasattr(stage, "upsample"):
                h = stage.upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


class VectorQuantizer(nn.Module):
    """Codebook lookup; model tokens index the remap list (or the codebook without remap)."""

    def __init__(self, c):
        super().__init__()
        self.embedding = nn.Embedding(c.n_embed, c.embed_dim)
        rows = c.remap if c.remap is not None else range(c.n_embed)
        self.register_buffer("rows", torch.tensor(list(rows), dtype=torch.long), persistent=False)

    def distances(self, h):
        """Squared L2 distances (b, h*w, K) from each latent vector to each used code, computed as the
        reference does: |z|^2 + |e|^2 - 2 z.e."""
        b, e, hh, ww = h.shape
        z = h.permute(0, 2, 3, 1).reshape(-1, e)
        codes = self.embedding.weight[self.rows]
        d = (torch.sum(z ** 2, dim=1, keepdim=True) + torch.sum(codes ** 2, dim=1)
             - 2 * torch.matmul(z, codes.t()))
        return d.reshape(b, hh * ww, -1)

    def entries(self, tokens):
        """tokens (b, h, w) -> latents (b, embed_dim, h, w)."""
        if tokens.min() < 0 or tokens.max() >= len(self.rows):
            raise ValueError(f"token outside 0..{len(self.rows) - 1}")
        return self.embedding(self.rows[tokens]).permute(0, 3, 1, 2).contiguous()


# The parameters that turn codebook entries into pixels (name prefixes in VQModel's state_dict): the rest, the
# tokenizer half, decides which tokens a picture gets.
DECODER_SIDE = ("post_quant_conv.", "decoder.")


class VQModel(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        self.quantize = VectorQuantizer(config)
        self.quant_conv = nn.Conv2d(config.z_channels, config.embed_dim, 1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.z_channels, 1)

    def encode_latent(self, image):
        """image (b, 3, R, R) in [-1, 1] -> pre-quantization latent (b, embed_dim, R/f, R/f)."""
        return self.quant_conv(self.encoder(image))

    def code_distances(self, image):
        return self.quantize.distances(self.encode_latent(image))

    def encode(self, image):
        """image -> model tokens (b, R/f, R/f): the nearest used code at each position."""
        side = image.shape[-1] // self.config.downsampling
        return self.code_distances(image).argmin(dim=-1).reshape(image.shape[0], -1, side)

    def decode(self, tokens):
        """tokens (b, h, w) -> image (b, out_ch, R, R), nominally in [-1, 1], not clamped."""
        return self.decoder(self.post_quant_conv(self.quantize.entries(tokens)))
