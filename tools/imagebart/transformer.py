"""The stage transformer of ImageBART: a PyTorch twin of the official x-transformers `XTransformer`
(with `wrap_decoder=False`) and its `ScaledXTransformer` / `ResidualScaledXTransformer` subclasses.

Only the configuration the published models use is implemented (pre-norm LayerNorm blocks, learned
absolute positions, no rotary/relative positions, no memory tokens), so the code stays close enough to
the reference to be read side by side with it. Module and parameter names are the official ones, so an
official `transformer.*` state dict loads with `strict=True`.

Besides the official full forward pass there is an incremental decoder (`start_decoding` /
`decode_next`) with a key/value cache; it must give the same logits as the full pass, which is what the
C engine's cached decoder is checked against.
"""

from dataclasses import dataclass, asdict

import torch
from torch import nn
import torch.nn.functional as F

VARIANTS = ("plain", "scaled", "residual_scaled")


@dataclass
class StageConfig:
    """Hyper-parameters of one stage transformer, named as in docs/model-format.md."""
    variant: str
    dim: int
    enc_depth: int
    dec_depth: int
    enc_heads: int
    dec_heads: int
    enc_num_tokens: int
    dec_num_tokens: int
    enc_max_seq_len: int
    dec_max_seq_len: int
    dim_head: int = 64
    scale_pos: int = 0
    n_scales: int = 0
    xt_start: int = 0
    xt_size: int = 0

    def __post_init__(self):
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown transformer variant {self.variant!r}")
        if self.variant != "plain" and self.n_scales < 1:
            raise ValueError(f"variant {self.variant} needs n_scales >= 1")

    # The names the rest of the twin uses for every level kind (GptConfig has them too).
    @property
    def n_input_tokens(self):
        return self.enc_num_tokens

    @property
    def n_output_tokens(self):
        return self.dec_num_tokens

    def as_dict(self):
        return asdict(self)


def _split_heads(t, heads):
    b, n, inner = t.shape
    return t.reshape(b, n, heads, inner // heads).transpose(1, 2)


def _merge_heads(t):
    b, h, n, d = t.shape
    return t.transpose(1, 2).reshape(b, n, h * d)


class Attention(nn.Module):
    """Multi-head attention as in the reference: bias-free q/k/v projections, a biased output
    projection, softmax(q k^T * dim_head^-0.5). The causal mask is written for queries that sit at the
    end of the key sequence, which is both the full pass (equal lengths) and the cached pass."""

    def __init__(self, dim, heads, dim_head, causal=False):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.causal = causal
        self.scale = dim_head ** -0.5
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(dim, inner, bias=False)
        self.to_v = nn.Linear(dim, inner, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def keys_values(self, source):
        """Keys and values of `source`, (b, heads, n, dim_head) each; cached by the decoder."""
        return _split_heads(self.to_k(source), self.heads), _split_heads(self.to_v(source), self.heads)

    def attend(self, x, k, v):
        q = _split_heads(self.to_q(x), self.heads)
        dots = torch.matmul(q, k.transpose(-1, -2)) * self.scale
        if self.causal:
            i, j = dots.shape[-2:]
            # Query row r is at absolute position r + (j - i) and sees keys up to that position.
            rows = torch.arange(i, device=dots.device).unsqueeze(1) + (j - i)
            cols = torch.arange(j, device=dots.device).unsqueeze(0)
            dots = dots.masked_fill(cols > rows, -torch.finfo(dots.dtype).max)
        attn = F.softmax(dots, dim=-1)
        return self.to_out(_merge_heads(torch.matmul(attn, v)))

    def forward(self, x, context=None):
        k, v = self.keys_values(x if context is None else context)
        return self.attend(x, k, v)


class FeedForward(nn.Module):
    """Linear -> exact (erf) GELU -> Linear; the Dropout keeps the official index `net.2`."""

    def __init__(self, dim, mult=4):
        super().__init__()
        inner = dim * mult
        self.net = nn.Sequential(
            nn.Sequential(nn.Linear(dim, inner), nn.GELU()),
            nn.Dropout(0.0),
            nn.Linear(inner, dim),
        )

    def forward(self, x):
        return self.net(x)


class AttentionLayers(nn.Module):
    """Pre-norm residual blocks: layers.{i}.0 is the LayerNorm, layers.{i}.1 the block.
    Encoder blocks are (a, f) * depth, decoder blocks (a causal, c cross, f) * depth."""

    def __init__(self, dim, depth, heads, dim_head, causal=False, cross_attend=False):
        super().__init__()
        self.layer_types = (("a", "c", "f") if cross_attend else ("a", "f")) * depth
        self.layers = nn.ModuleList()
        for kind in self.layer_types:
            if kind == "a":
                block = Attention(dim, heads, dim_head, causal=causal)
            elif kind == "c":
                block = Attention(dim, heads, dim_head, causal=False)
            else:
                block = FeedForward(dim)
            self.layers.append(nn.ModuleList([nn.LayerNorm(dim), block]))

    def forward(self, x, context=None):
        for kind, (norm, block) in zip(self.layer_types, self.layers):
            h = norm(x)
            out = block(h, context=context) if kind == "c" else block(h)
            x = out + x
        return x

    def forward_cached(self, x, cache):
        """Same as forward for new positions only: self-attention keys/values of earlier positions
        come from (and are appended to) `cache`, cross-attention ones were computed once."""
        ia = ic = 0
        for kind, (norm, block) in zip(self.layer_types, self.layers):
            h = norm(x)
            if kind == "a":
                k, v = block.keys_values(h)
                k = torch.cat([cache.self_k[ia], k], dim=2)
                v = torch.cat([cache.self_v[ia], v], dim=2)
                cache.self_k[ia], cache.self_v[ia] = k, v
                out = block.attend(h, k, v)
                ia += 1
            elif kind == "c":
                out = block.attend(h, cache.cross_k[ic], cache.cross_v[ic])
                ic += 1
            else:
                out = block(h)
            x = out + x
        return x


class AbsolutePositionalEmbedding(nn.Module):
    def __init__(self, dim, max_seq_len):
        super().__init__()
        self.emb = nn.Embedding(max_seq_len, dim)

    def forward(self, n, start=0):
        return self.emb(torch.arange(start, start + n, device=self.emb.weight.device))[None]


class TransformerWrapper(nn.Module):
    """Token + position embedding, attention layers, final LayerNorm and `to_logits`.
    The encoder has a `to_logits` too (the official class always creates one); it is never used and
    is not stored in our model file."""

    def __init__(self, num_tokens, max_seq_len, attn_layers, dim):
        super().__init__()
        self.num_tokens = num_tokens
        self.max_seq_len = max_seq_len
        self.token_emb = nn.Embedding(num_tokens, dim)
        self.pos_emb = AbsolutePositionalEmbedding(dim, max_seq_len)
        self.attn_layers = attn_layers
        self.norm = nn.LayerNorm(dim)
        self.to_logits = nn.Linear(dim, num_tokens)

    def embed(self, x, start=0):
        n = x.shape[1]
        if start + n > self.max_seq_len:
            raise ValueError(f"sequence of {start + n} tokens exceeds max_seq_len {self.max_seq_len}")
        if n and (x.min() < 0 or x.max() >= self.num_tokens):
            raise ValueError(f"token outside 0..{self.num_tokens - 1}")
        return self.token_emb(x) + self.pos_emb(n, start)

    def forward(self, x, context=None, return_embeddings=False):
        h = self.norm(self.attn_layers(self.embed(x), context=context))
        return h if return_embeddings else self.to_logits(h)


class DecoderCache:
    """Decoding state of one batch of sequences: the source (for the variants' logit adjustments),
    cross-attention keys/values of the encoder output, and the growing self-attention cache."""

    def __init__(self, src, cross_k, cross_v, n_self, batch, heads, dim_head, like):
        self.src = src
        self.cross_k = cross_k
        self.cross_v = cross_v
        empty = like.new_zeros((batch, heads, 0, dim_head))
        self.self_k = [empty] * n_self
        self.self_v = [empty] * n_self
        self.position = 0


class XTransformer(nn.Module):
    """Official XTransformer(wrap_decoder=False): forward(src, tgt) -> logits, (b, len(tgt), K).
    (The official forward returns (logits, None); the twin returns the first element.)"""

    variant = "plain"

    def __init__(self, config):
        super().__init__()
        self.config = config
        c = config
        self.encoder = TransformerWrapper(
            c.enc_num_tokens, c.enc_max_seq_len,
            AttentionLayers(c.dim, c.enc_depth, c.enc_heads, c.dim_head), c.dim)
        self.decoder = TransformerWrapper(
            c.dec_num_tokens, c.dec_max_seq_len,
            AttentionLayers(c.dim, c.dec_depth, c.dec_heads, c.dim_head, causal=True, cross_attend=True),
            c.dim)

    def encode(self, src):
        """Encoder output after its final LayerNorm (official `return_embeddings=True`)."""
        return self.encoder(src, return_embeddings=True)

    def adjust_logits(self, src, logits, start):
        """Variant hook: logits are decoder rows start .. start + n - 1."""
        return logits

    def forward(self, src, tgt, enc=None):
        if enc is None:
            enc = self.encode(src)
        return self.adjust_logits(src, self.decoder(tgt, context=enc), 0)

    def start_decoding(self, src, enc=None):
        if enc is None:
            enc = self.encode(src)
        cross = [block.keys_values(enc)
                 for kind, (_, block) in zip(self.decoder.attn_layers.layer_types,
                                             self.decoder.attn_layers.layers) if kind == "c"]
        return DecoderCache(src, [k for k, _ in cross], [v for _, v in cross], self.config.dec_depth,
                            src.shape[0], self.config.dec_heads, self.config.dim_head, enc)

    def decode_next(self, cache, tokens):
        """Feeds tokens (b, n) at positions cache.position .. + n - 1 and returns their logits:
        exactly those rows of forward(src, all tokens fed so far)."""
        start = cache.position
        h = self.decoder.embed(tokens, start)
        h = self.decoder.norm(self.decoder.attn_layers.forward_cached(h, cache))
        cache.position += tokens.shape[1]
        return self.adjust_logits(cache.src, self.decoder.to_logits(h), start)


class ScaledXTransformer(XTransformer):
    """Logits times exp(log_scalors[t - 1]), t = src[:, scale_pos] (the level's scale token)."""

    variant = "scaled"

    def __init__(self, config):
        super().__init__(config)
        self.log_scalors = nn.Parameter(torch.zeros(config.n_scales))

    def scale_index(self, src):
        scale = src[:, self.config.scale_pos] - 1
        if (scale < 0).any() or (scale >= self.config.n_scales).any():
            raise ValueError(f"scale token must be in 1..{self.config.n_scales}")
        return scale

    def adjust_logits(self, src, logits, start):
        scalors = torch.exp(self.log_scalors[self.scale_index(src)])
        return logits * scalors.reshape(logits.shape[0], 1, 1)


class ResidualScaledXTransformer(ScaledXTransformer):
    """Scaled, plus log(alpha_t * onehot(x_t) + (1 - alpha_t) / K) with x_t read from
    src[:, xt_start : xt_start + xt_size] and alpha_t = scale_alphas[t] (set_alphas, float32)."""

    variant = "residual_scaled"

    def __init__(self, config):
        super().__init__(config)
        self.scale_alphas = None

    def set_alphas(self, alphas):
        self.scale_alphas = torch.as_tensor(alphas, dtype=torch.float32)

    def adjust_logits(self, src, logits, start):
        if self.scale_alphas is None:
            raise RuntimeError("ResidualScaledXTransformer needs set_alphas() first")
        logits = super().adjust_logits(src, logits, start)
        scale = self.scale_index(src)
        c = self.config
        n = logits.shape[1]
        xt = src[:, c.xt_start:c.xt_start + c.xt_size][:, start:start + n]
        if xt.shape[1] < n:
            raise ValueError(f"x_t in src has fewer than {start + n} tokens")
        onehot = F.one_hot(xt, c.dec_num_tokens)
        alphas = self.scale_alphas.to(logits.device)[scale + 1].reshape(logits.shape[0], 1, 1)
        # Same operation order as the reference, in float32.
        residual = torch.log(alphas * onehot + (1 - alphas) * torch.ones_like(onehot) / c.dec_num_tokens)
        return logits + residual


_CLASSES = {cls.variant: cls for cls in (XTransformer, ScaledXTransformer, ResidualScaledXTransformer)}


def build_transformer(config):
    """The level module of a StageConfig (XTransformer variants) or GptConfig (decoder-only level)."""
    if config.variant == "gpt":
        from .mingpt import DecoderOnlyTransformer
        return DecoderOnlyTransformer(config)
    return _CLASSES[config.variant](config)
