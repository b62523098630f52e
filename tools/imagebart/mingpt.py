"""Decoder-only levels: a PyTorch twin of the official minGPT `GPT`
(imagebart/modules/transformer/mingpt.py) and of the `DecoderOnlyDenoiser` that drives it
(imagebart/models/diffusion.py), which the official releases use for the coarsest level, where x_T is
pure noise and the level only needs [t, conditioning...].

`GPT` keeps minGPT's module and parameter names (tok_emb, pos_emb, blocks.{i}.{ln1, attn.{key, query,
value, proj}, ln2, mlp.0, mlp.2}, ln_f, head), so an official `transformer.*` state dict loads into it;
only the attention mask, a buffer in the reference, is computed from `n_unmasked` instead of stored.
The mask is minGPT's: causal, except that the first `n_unmasked` positions see each other both ways.
`GPT.forward(idx)` returns the logits (the reference returns `(logits, loss)`).

`DecoderOnlyTransformer` is the same module seen as a level, with the interface of the encoder-decoder
twin (`forward(src, tgt)`, `start_decoding`, `decode_next`): src = [t, conditioning...] (no x_t),
tgt = [start, z_0, ..., z_{n-2}] with tgt[0] not read, and the result is what
`DecoderOnlyDenoiser.forward(z, c=src)` computes: GPT(src ++ tgt[1:]) at positions len(src) - 1 on.
"""

import math
from dataclasses import dataclass, asdict

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


def layers_from_width(d, a=5.039, b=5.55e-2):
    """The reference's rule for autoset_layers (arXiv 2006.12467)."""
    return (math.log(d) - a) / b


@dataclass
class GptConfig:
    """minGPT's constructor arguments, named as in docs/model-format.md."""
    vocab_size: int
    block_size: int
    n_layer: int = 12
    n_head: int = 8
    n_embd: int = 256
    input_vocab_size: int = None
    n_unmasked: int = 0
    variant: str = "gpt"

    def __post_init__(self):
        if self.variant != "gpt":
            raise ValueError(f"GptConfig variant must be 'gpt', got {self.variant!r}")
        if not self.input_vocab_size:  # as the reference: None or 0 means vocab_size
            self.input_vocab_size = self.vocab_size
        for name in ("vocab_size", "block_size", "n_head", "n_embd", "input_vocab_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        if self.n_layer < 0:
            raise ValueError("n_layer must not be negative")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd {self.n_embd} is not a multiple of n_head {self.n_head}")
        if not 0 <= self.n_unmasked <= self.block_size:
            raise ValueError(f"n_unmasked must be in 0..block_size ({self.block_size})")

    @property
    def head_size(self):
        return self.n_embd // self.n_head

    # The names the rest of the twin uses for every level kind.
    @property
    def n_input_tokens(self):
        return self.input_vocab_size

    @property
    def n_output_tokens(self):
        return self.vocab_size

    def as_dict(self):
        return asdict(self)


def attention_mask(n_unmasked, q_start, n_q, n_k, device=None):
    """minGPT's mask for queries at absolute positions q_start .. q_start + n_q - 1 and keys 0 .. n_k - 1:
    True where the query may look. Key k is visible to query q if k <= q, or if both are among the first
    n_unmasked positions."""
    q = torch.arange(q_start, q_start + n_q, device=device).unsqueeze(1)
    k = torch.arange(n_k, device=device).unsqueeze(0)
    return (k <= q) | ((q < n_unmasked) & (k < n_unmasked))


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention with biased key/query/value/proj Linears, softmax(q k^T / sqrt(hs))
    with masked entries at -inf, as the reference."""

    def __init__(self, config):
        super().__init__()
        c = config
        self.key = nn.Linear(c.n_embd, c.n_embd)
        self.query = nn.Linear(c.n_embd, c.n_embd)
        self.value = nn.Linear(c.n_embd, c.n_embd)
        self.proj = nn.Linear(c.n_embd, c.n_embd)
        self.n_head = c.n_head
        self.n_unmasked = c.n_unmasked

    def _heads(self, t):
        b, n, c = t.shape
        return t.view(b, n, self.n_head, c // self.n_head).transpose(1, 2)

    def forward(self, x, past=None, start=0, masked=True):
        """x: (b, n, C), positions start .. start + n - 1. past: (keys, values) of positions 0 .. start - 1
        or None (then start must be 0). Returns (y, (keys, values) of positions 0 .. start + n - 1).
        masked=False is the reference's forward_with_past, which applies no mask at all."""
        b, n, c = x.shape
        k, q, v = self._heads(self.key(x)), self._heads(self.query(x)), self._heads(self.value(x))
        if past is not None:
            k = torch.cat((past[0], k), dim=-2)
            v = torch.cat((past[1], v), dim=-2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        if masked:
            mask = attention_mask(self.n_unmasked, start, n, k.shape[-2], x.device)
            att = att.masked_fill(~mask, float("-inf"))
        att = F.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(b, n, c)
        return self.proj(y), (k, v)


class Block(nn.Module):
    """x + attn(ln1(x)), then x + mlp(ln2(x)); mlp = Linear, GELU (exact), Linear, Dropout (indices kept)."""

    def __init__(self, config):
        super().__init__()
        c = config
        self.ln1 = nn.LayerNorm(c.n_embd)
        self.ln2 = nn.LayerNorm(c.n_embd)
        self.attn = CausalSelfAttention(c)
        self.mlp = nn.Sequential(nn.Linear(c.n_embd, 4 * c.n_embd), nn.GELU(), nn.Linear(4 * c.n_embd, c.n_embd),
                                 nn.Dropout(0.0))

    def forward(self, x, past=None, start=0, masked=True):
        a, present = self.attn(self.ln1(x), past, start, masked)
        x = x + a
        x = x + self.mlp(self.ln2(x))
        return x, present


class GPT(nn.Module):
    """minGPT's GPT (eval only: no dropout). forward(idx) -> logits (b, len, vocab_size)."""

    def __init__(self, config):
        super().__init__()
        self.config = c = config
        self.block_size = c.block_size
        self.tok_emb = nn.Embedding(c.input_vocab_size, c.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, c.block_size, c.n_embd))
        self.blocks = nn.Sequential(*[Block(c) for _ in range(c.n_layer)])
        self.ln_f = nn.LayerNorm(c.n_embd)
        self.head = nn.Linear(c.n_embd, c.vocab_size, bias=False)

    def get_block_size(self):
        return self.block_size

    def check_tokens(self, idx, start=0):
        n = idx.shape[1]
        if start + n > self.block_size:
            raise ValueError(f"sequence of {start + n} tokens exceeds block_size {self.block_size}")
        if n and (idx.min() < 0 or idx.max() >= self.config.input_vocab_size):
            raise ValueError(f"token outside 0..{self.config.input_vocab_size - 1}")

    def run(self, idx, past=None, start=0, masked=True):
        """Tokens idx at positions start .. start + n - 1, given the keys/values `past` (one (k, v) per
        block) of positions 0 .. start - 1. Returns (logits, presents: (k, v) per block of all positions).
        Exact only if no earlier position may see the new ones, i.e. start == 0 or start >= n_unmasked.
        masked=False drops the mask, as the reference's forward_with_past does."""
        self.check_tokens(idx, start)
        x = self.tok_emb(idx) + self.pos_emb[:, start:start + idx.shape[1], :]
        presents = []
        for i, block in enumerate(self.blocks):
            x, present = block(x, past[i] if past is not None else None, start, masked)
            presents.append(present)
        return self.head(self.ln_f(x)), presents

    def forward(self, idx):
        return self.run(idx)[0]


class GptCache:
    """Decoding state of a decoder-only level: all tokens fed so far (src, then tgt[1:]), the keys and
    values of every block, the logits of the last position fed, and the number of tgt rows produced."""

    def __init__(self, src):
        self.src = src
        self.tokens = src[:, :0]
        self.past = None
        self.last_logits = None
        self.position = 0


class DecoderOnlyTransformer(GPT):
    """The official DecoderOnlyDenoiser's transformer as a level (see the module docstring).
    forward(src, tgt) is the level's logits; the plain minGPT forward is `gpt_forward(idx)`."""

    variant = "gpt"

    def gpt_forward(self, idx):
        return GPT.forward(self, idx)

    def encode(self, src):
        """No encoder: the conditioning is part of the one sequence."""
        return None

    def forward(self, src, tgt, enc=None):
        """DecoderOnlyDenoiser.forward(z, c=src) with tgt = [start, z_0, ..., z_{n-2}]:
        GPT(src ++ tgt[1:]) rows len(src) - 1 onwards, (b, len(tgt), vocab_size)."""
        if tgt.shape[1] < 1:
            raise ValueError("tgt needs at least the start token")
        logits = self.gpt_forward(torch.cat((src, tgt[:, 1:]), dim=1))
        return logits[:, src.shape[1] - 1:]

    def _extend(self, cache, tokens, first):
        """Appends tokens to the sequence; returns the logits of positions first .. end (first may be the
        last position fed before). While positions below n_unmasked are still being filled, earlier
        positions see the new tokens, so everything is recomputed."""
        start = cache.tokens.shape[1]
        cache.tokens = torch.cat((cache.tokens, tokens), dim=1)
        if 0 < start < self.config.n_unmasked:
            logits, cache.past = self.run(cache.tokens)
            logits = logits[:, first:]
        else:
            logits, cache.past = self.run(tokens, cache.past, start)
            if first < start:
                logits = torch.cat((cache.last_logits[:, first - start:], logits), dim=1)
        cache.last_logits = logits[:, -1:]
        return logits

    def start_decoding(self, src, enc=None):
        """Prefills src (the first n_unmasked positions seeing each other, as in the full pass)."""
        if src.shape[1] < 1:
            raise ValueError("src needs at least the scale token")
        cache = GptCache(src)
        self._extend(cache, src, 0)
        return cache

    def decode_next(self, cache, tokens):
        """Feeds tgt tokens (b, n) at tgt positions cache.position .. + n - 1 and returns their logits:
        exactly those rows of forward(src, all tgt tokens fed so far). tgt[0] is not read."""
        n = tokens.shape[1]
        first = cache.src.shape[1] - 1 + cache.position  # GPT position of the first row asked for
        if cache.position == 0:
            tokens = tokens[:, 1:]
        if n == 0:
            return cache.last_logits[:, :0]
        cache.position += n
        if tokens.shape[1] == 0:  # only the start token: the prefill's last row
            return cache.last_logits
        return self._extend(cache, tokens, first)


def autoset_n_layer(n_embd):
    """n_layer when the config says autoset_layers: int(np.around(layers_from_width(n_embd)))."""
    return int(np.around(layers_from_width(n_embd)))
