"""Sampling the reverse chain, two ways that draw the same tokens:

- `sample_level_official` follows the reference DenoisingXTransformer.sample: the encoder runs once,
  then for every new token the whole decoder runs again over the whole prefix (no cache). On a
  decoder-only (gpt) level it is the reference's vanilla sampling (DenoisingTransformer.sample with
  use_past_for_sampling false): the whole GPT runs again over [src, tokens so far] for every token.
- `sample_level_cached` feeds one token at a time through the decoder's key/value cache (for a gpt
  level: src is prefilled with minGPT's mask, then one token at a time).

Both take logits of the last position, divide by the temperature, keep the top k, and draw with
torch.multinomial from the same generator in the same order, so with equal logits they return equal
tokens. The benchmark times one against the other; the tests check that they agree.

`sample_level_with_past` is the reference's default for gpt levels (mingpt.sample_with_past), which
prefills the conditioning WITHOUT any mask and never lets a position see later ones. It equals the other
two when the minGPT mask says the same: n_unmasked <= len(src) <= max(1, n_unmasked) (true of every
official release: n_unmasked 0 with src [t], n_unmasked 2 with src [t, class]); otherwise the reference's
sampler and its own training forward disagree, and the twin's other samplers follow the forward.
"""

import torch
import torch.nn.functional as F


def top_k_logits(logits, k):
    """Reference top_k_logits: everything below the k-th largest value becomes -inf."""
    v, _ = torch.topk(logits, k)
    out = logits.clone()
    out[out < v[..., [-1]]] = -float("inf")
    return out


def _draw(logits, temperature, top_k, generator):
    logits = logits / temperature
    if top_k and top_k < logits.shape[-1]:
        logits = top_k_logits(logits, top_k)
    probs = F.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator)


def _sos(src):
    return torch.zeros((src.shape[0], 1), dtype=torch.long, device=src.device)


@torch.no_grad()
def sample_level_official(transformer, src, steps, top_k=None, temperature=1.0, generator=None, guide=None):
    """x_{t-1} (b, steps) given src = [t, (cond), x_t]. guide (b, steps, K), optional, is added to the
    logits as the reference inpainting does (log one-hot of known tokens, 0 elsewhere)."""
    enc = transformer.encode(src)
    x = _sos(src)
    for _ in range(steps):
        logits = transformer(src, x, enc=enc)
        if guide is not None:
            logits = logits + guide[:, :logits.shape[1]]
        x = torch.cat((x, _draw(logits[:, -1, :], temperature, top_k, generator)), dim=1)
    return x[:, 1:]


@torch.no_grad()
def sample_level_cached(transformer, src, steps, top_k=None, temperature=1.0, generator=None, guide=None):
    """Same as sample_level_official, one decoder position per step through the KV cache."""
    cache = transformer.start_decoding(src)
    token = _sos(src)
    out = []
    for i in range(steps):
        logits = transformer.decode_next(cache, token)[:, -1, :]
        if guide is not None:
            logits = logits + guide[:, i]
        token = _draw(logits, temperature, top_k, generator)
        out.append(token)
    return torch.cat(out, dim=1)


@torch.no_grad()
def sample_level_with_past(transformer, src, steps, top_k=None, temperature=1.0, generator=None, guide=None):
    """The reference's mingpt.sample_with_past on a gpt level (DecoderOnlyTransformer): src (the
    conditioning) runs through the GPT without a mask, then each new token attends to everything before
    it. Same drawing as the other samplers."""
    if transformer.variant != "gpt":
        raise ValueError("sample_level_with_past is for decoder-only levels")
    x, past, start = src, None, 0
    out = []
    for n in range(steps):
        logits, past = transformer.run(x, past, start, masked=False)
        start += x.shape[1]
        logits = logits[:, -1, :]
        if guide is not None:
            logits = logits + guide[:, n]
        x = _draw(logits, temperature, top_k, generator)
        out.append(x)
    return torch.cat(out, dim=1)


@torch.no_grad()
def sample_chain(model, x_start=None, t_start=None, class_id=None, cached=True, generator=None,
                 top_k=None, temperature=None, callback=None):
    """Runs levels t_start .. 1 (default T .. 1) from x_start (default: uniform noise, batch 1) and
    returns [x_{t_start}, ..., x_0] as (b, h, w) token grids (a decoder-only level ignores its x_t).
    top_k/temperature override the levels' defaults when given. callback(t - 1, x) sees each new level."""
    h, w = model.token_shape
    t_start = t_start or model.n_levels
    if x_start is None:
        x_start = torch.randint(0, model.n_codes, (1, h, w), generator=generator)
    sample = sample_level_cached if cached else sample_level_official
    x = x_start.reshape(-1, h, w)
    chain = [x]
    for t in range(t_start, 0, -1):
        level = model.levels[t]
        src = model.source(t, x, class_id)
        k = level.top_k if top_k is None else top_k
        temp = level.temperature if temperature is None else temperature
        x = sample(level.transformer, src, h * w, k, temp, generator).reshape(-1, h, w)
        chain.append(x)
        if callback is not None:
            callback(t - 1, x)
    return chain
