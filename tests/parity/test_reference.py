#!/usr/bin/python3
"""The twin against the official code itself: CompVis/imagebart's x_transformer.py, mingpt.py and the
DecoderOnlyDenoiser / DenoisingTransformer methods of models/diffusion.py (forward, sample,
sample_single_scale: lifted out of the file, since the module needs Lightning), and taming-transformers'
diffusionmodules/model.py + vqvae/quantize.py, read at test time from local git mirrors (nothing of them
is stored in this repository). Skipped when the mirrors are absent.

Set IMAGEBART_REFERENCE_REPOS="<imagebart git dir>:<taming git dir>" to point at other clones.
The reference needs einops and (for mingpt.py) transformers; small stand-ins below cover what the paths
we run use.

Expected: identical state-dict names, order and shapes; logits and VQGAN outputs bitwise equal (the
bound below only leaves room for a different BLAS choosing another summation order).
"""

import ast
import contextlib
import importlib
import io
import os
import shutil
import subprocess
import sys
import textwrap
import time
import unittest

import parity_util  # noqa: F401  (sets up sys.path and torch threads)
from parity_util import TempDirTestCase
import torch
import torch.nn.functional as F

from imagebart import sampling, schedule
from imagebart.mingpt import GptConfig
from imagebart.testmodel import make_test_model, randomize_
from imagebart.transformer import build_transformer

DEFAULT_REPOS = "/work/.mirror/CompVis+imagebart/repo:/work/.mirror/CompVis+taming-transformers/repo"
BOUND = 1e-6

REFERENCE_FILES = {
    0: ["imagebart/modules/xtransformers/x_transformer.py",
        "imagebart/modules/xtransformers/autoregressive_wrapper.py",
        "imagebart/modules/xtransformers/positional_embeddings.py",
        "imagebart/modules/transformer/mingpt.py"],
    1: ["taming/modules/diffusionmodules/model.py", "taming/modules/vqvae/quantize.py"],
}

EINOPS_STANDIN = '''
def rearrange(t, pattern, **kw):
    p = " ".join(pattern.split())
    if p == "b n (h d) -> b h n d":
        b, n, hd = t.shape
        return t.reshape(b, n, kw["h"], hd // kw["h"]).permute(0, 2, 1, 3)
    if p == "b h n d -> b n (h d)":
        b, h, n, d = t.shape
        return t.permute(0, 2, 1, 3).reshape(b, n, h * d)
    simple = {"i -> () () i ()": lambda t: t[None, None, :, None],
              "j -> () () () j": lambda t: t[None, None, None, :],
              "b c h w -> b h w c": lambda t: t.permute(0, 2, 3, 1),
              "b h w c -> b c h w": lambda t: t.permute(0, 3, 1, 2),
              "n d -> d n": lambda t: t.permute(1, 0)}
    return simple[p](t)

def repeat(*args, **kwargs):
    raise NotImplementedError("not on the paths the twin test runs")

reduce = repeat
'''

TRANSFORMERS_STANDIN = '''
def top_k_top_p_filtering(*args, **kwargs):
    raise NotImplementedError("top_p is not on the paths the twin test runs")
'''

# Methods of imagebart/models/diffusion.py run on a stand-in `self` (class name, method name).
DIFFUSION_METHODS = (("DecoderOnlyDenoiser", "forward"), ("DecoderOnlyDenoiser", "sample_single_scale"),
                     ("DenoisingTransformer", "sample"), ("DenoisingTransformer", "top_k_logits"))


def extract_methods(source, mingpt):
    """The DIFFUSION_METHODS as plain functions {"Class.method": function}, compiled from the reference
    source with the names they use (torch, F, time, sample_with_past) in scope."""
    tree = ast.parse(source)
    wanted, found = set(DIFFUSION_METHODS), {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and (node.name, item.name) in wanted:
                    found[f"{node.name}.{item.name}"] = ast.get_source_segment(source, item)
    if len(found) != len(wanted):
        raise AssertionError(f"reference diffusion.py lacks {sorted(wanted)}: found {sorted(found)}")
    out = {}
    for key, text in found.items():
        scope = {"torch": torch, "F": F, "time": time, "sample_with_past": mingpt.sample_with_past}
        exec(compile(textwrap.dedent(text), f"<reference {key}>", "exec"), scope)
        out[key] = scope[key.split(".")[1]]
    return out


def extract_reference(tmp):
    repos = os.environ.get("IMAGEBART_REFERENCE_REPOS", DEFAULT_REPOS).split(":")
    if len(repos) != 2 or not all(os.path.isdir(r) for r in repos) or shutil.which("git") is None:
        raise unittest.SkipTest("reference mirrors not available")
    root = os.path.join(tmp, "reference")
    for index, files in REFERENCE_FILES.items():
        for rel in files:
            text = subprocess.run(["git", "-C", repos[index], "show", f"HEAD:{rel}"], capture_output=True,
                                  text=True, check=True).stdout
            # The reference package is called imagebart, like ours: load it as ref_imagebart.
            rel = rel.replace("imagebart/", "ref_imagebart/", 1)
            text = text.replace("from imagebart.", "from ref_imagebart.")
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
    for dirpath, _, _ in os.walk(root):
        open(os.path.join(dirpath, "__init__.py"), "a").close()
    with open(os.path.join(root, "einops.py"), "w") as f:
        f.write(EINOPS_STANDIN)
    with open(os.path.join(root, "transformers.py"), "w") as f:
        f.write(TRANSFORMERS_STANDIN)
    diffusion = subprocess.run(["git", "-C", repos[0], "show", "HEAD:imagebart/models/diffusion.py"],
                               capture_output=True, text=True, check=True).stdout
    sys.path.insert(0, root)
    with contextlib.redirect_stdout(io.StringIO()):
        mingpt = importlib.import_module("ref_imagebart.modules.transformer.mingpt")
        return (importlib.import_module("ref_imagebart.modules.xtransformers.x_transformer"),
                importlib.import_module("taming.modules.diffusionmodules.model"),
                importlib.import_module("taming.modules.vqvae.quantize"),
                mingpt, extract_methods(diffusion, mingpt))


class ReferenceTest(TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.xt, cls.model, cls.quantize, cls.mingpt, cls.diffusion = extract_reference(cls.tmp)
        except unittest.SkipTest:
            cls.tearDownClass()
            raise

    def official_transformer(self, twin):
        c = twin.config
        kwargs = dict(wrap_decoder=False, dim=c.dim, tie_token_emb=False,
                      enc_num_tokens=c.enc_num_tokens, enc_depth=c.enc_depth, enc_heads=c.enc_heads,
                      enc_max_seq_len=c.enc_max_seq_len, enc_attn_dim_head=c.dim_head,
                      dec_num_tokens=c.dec_num_tokens, dec_depth=c.dec_depth, dec_heads=c.dec_heads,
                      dec_max_seq_len=c.dec_max_seq_len, dec_attn_dim_head=c.dim_head)
        cls = {"plain": self.xt.XTransformer, "scaled": self.xt.ScaledXTransformer,
               "residual_scaled": self.xt.ResidualScaledXTransformer}[c.variant]
        if c.variant != "plain":
            kwargs.update(scale_pos=c.scale_pos, n_scales=c.n_scales)
        if c.variant == "residual_scaled":
            kwargs.update(xt_start=c.xt_start, xt_size=c.xt_size)
        with contextlib.redirect_stdout(io.StringIO()):
            return cls(**kwargs).eval()

    def test_transformer(self):
        gen = torch.Generator().manual_seed(0)
        for variant in ("plain", "scaled", "residual_scaled"):
            for conditioning in ("none", "class"):
                model = make_test_model(variant=variant, conditioning=conditioning, dim=44, heads=(3, 5),
                                        depths=(2, 2), seed=40)
                twin = model.transformer(2)
                ref = self.official_transformer(twin)
                self.assertEqual([(k, v.shape) for k, v in ref.state_dict().items()],
                                 [(k, v.shape) for k, v in twin.state_dict().items()])
                ref.load_state_dict(twin.state_dict(), strict=True)
                if variant == "residual_scaled":
                    ref.set_alphas(schedule.alphas(model.betas))
                for t in (1, 3):
                    src = model.source(t, torch.randint(0, model.n_codes, (2, 64), generator=gen), [1, 7])
                    for n in (1, 30, 64):
                        tgt = torch.randint(0, model.n_codes, (2, n), generator=gen)
                        with self.subTest(variant=variant, conditioning=conditioning, t=t, n=n):
                            expected = ref(src, tgt)[0]
                            err = (twin(src, tgt) - expected).abs().max() / expected.abs().max()
                            self.assertLessEqual(err.item(), BOUND)

    # ---- decoder-only (minGPT) levels --------------------------------------------------------------

    def gpt_pair(self, seed, **kwargs):
        """A random twin DecoderOnlyTransformer and the reference GPT holding the same weights."""
        config = GptConfig(**kwargs)
        twin = randomize_(build_transformer(config), torch.Generator().manual_seed(seed)).eval()
        with contextlib.redirect_stdout(io.StringIO()):
            ref = self.mingpt.GPT(config.vocab_size, config.block_size, n_layer=config.n_layer,
                                  n_head=config.n_head, n_embd=config.n_embd, n_unmasked=config.n_unmasked,
                                  input_vocab_size=kwargs.get("input_vocab_size")).eval()
        ref_sd = ref.state_dict()
        masks = [k for k in ref_sd if k.endswith(".attn.mask")]
        self.assertEqual(len(masks), config.n_layer)
        self.assertEqual([(k, v.shape) for k, v in ref_sd.items() if k not in masks],
                         [(k, v.shape) for k, v in twin.state_dict().items()])
        missing, unexpected = ref.load_state_dict(twin.state_dict(), strict=False)
        self.assertEqual((sorted(missing), unexpected), (sorted(masks), []))
        return twin, ref

    def reference_self(self, ref, vanilla=False):
        """A stand-in for a DecoderOnlyDenoiser instance: what its methods read."""
        methods = self.diffusion

        class Denoiser:
            transformer = ref
            vanilla_sampling = vanilla
            sampling_time = 0.0  # set: sample_single_scale then skips its timing print

            def sample(self_, *args, **kwargs):
                return methods["DenoisingTransformer.sample"](self_, *args, **kwargs)

            def top_k_logits(self_, logits, k):
                return methods["DenoisingTransformer.top_k_logits"](self_, logits, k)

            def __call__(self_, z, c):
                return methods["DecoderOnlyDenoiser.forward"](self_, z, c)

            def sample_single_scale(self_, *args, **kwargs):
                return methods["DecoderOnlyDenoiser.sample_single_scale"](self_, *args, **kwargs)

        return Denoiser()

    def test_gpt_forward(self):
        gen = torch.Generator().manual_seed(2)
        for n_unmasked, input_vocab in ((0, None), (2, 45), (5, None)):
            twin, ref = self.gpt_pair(43 + n_unmasked, vocab_size=37, block_size=70, n_layer=2, n_head=4,
                                      n_embd=32, n_unmasked=n_unmasked, input_vocab_size=input_vocab)
            for n in (1, 3, 30, 70):
                with self.subTest(n_unmasked=n_unmasked, n=n):
                    idx = torch.randint(0, input_vocab or 37, (2, n), generator=gen)
                    expected = ref(idx)[0]
                    err = (twin.gpt_forward(idx) - expected).abs().max() / expected.abs().max()
                    self.assertLessEqual(err.item(), BOUND)

    def test_decoder_only_denoiser_forward(self):
        """The level's logits(src, tgt) are DecoderOnlyDenoiser.forward(z, c=src) with tgt = [0, z[:-1]]."""
        gen = torch.Generator().manual_seed(3)
        for n_unmasked, prefix in ((0, 1), (2, 2), (0, 2)):
            twin, ref = self.gpt_pair(50 + n_unmasked, vocab_size=37, block_size=prefix + 63, n_layer=2,
                                      n_head=2, n_embd=24, n_unmasked=n_unmasked, input_vocab_size=50)
            denoiser = self.reference_self(ref)
            c = torch.cat([torch.full((2, 1), 3), torch.randint(0, 50, (2, prefix - 1), generator=gen)], dim=1)
            for n in (1, 17, 64):
                with self.subTest(n_unmasked=n_unmasked, prefix=prefix, n=n):
                    z = torch.randint(0, 37, (2, n), generator=gen)
                    expected, target = denoiser(z, c)
                    self.assertTrue(torch.equal(target, z))
                    tgt = torch.cat([torch.zeros(2, 1, dtype=torch.long), z[:, :-1]], dim=1)
                    got = twin(c, tgt)
                    self.assertEqual(got.shape, expected.shape)
                    err = (got - expected).abs().max() / expected.abs().max()
                    self.assertLessEqual(err.item(), BOUND)

    def test_gpt_sampling(self):
        """The reference's DecoderOnlyDenoiser.sample_single_scale, with past (its default) and vanilla,
        against the twin's samplers, all drawing from the global generator. Where the conditioning
        cannot see itself under minGPT's mask (n_unmasked 0 with a class token), the reference's
        sample_with_past (no mask on the prefill) departs from its own forward; then the twin's cached and
        official samplers follow vanilla sampling (= the forward) and sample_level_with_past the former."""
        for n_unmasked, with_class in ((0, False), (2, True), (0, True)):
            prefix = 2 if with_class else 1
            twin, ref = self.gpt_pair(60 + n_unmasked + prefix, vocab_size=37, block_size=prefix + 63, n_layer=2,
                                      n_head=2, n_embd=24, n_unmasked=n_unmasked, input_vocab_size=50)
            scale = torch.full((2, 1), 4)
            cond = torch.tensor([[7], [44]]) if with_class else None
            src = scale if cond is None else torch.cat([scale, cond], dim=1)
            draws = {}
            for name, run in (
                    ("ref_past", lambda: self.reference_self(ref).sample_single_scale(
                        torch.zeros(2, 64, dtype=torch.long), scale, None, 64, temperature=0.8, top_k=9, cond=cond)),
                    ("ref_vanilla", lambda: self.reference_self(ref, vanilla=True).sample_single_scale(
                        torch.zeros(2, 64, dtype=torch.long), scale, None, 64, temperature=0.8, top_k=9, cond=cond)),
                    ("with_past", lambda: sampling.sample_level_with_past(twin, src, 64, 9, 0.8)),
                    ("official", lambda: sampling.sample_level_official(twin, src, 64, 9, 0.8)),
                    ("cached", lambda: sampling.sample_level_cached(twin, src, 64, 9, 0.8))):
                torch.manual_seed(123)
                draws[name] = run()
            with self.subTest(n_unmasked=n_unmasked, with_class=with_class):
                self.assertTrue(torch.equal(draws["with_past"], draws["ref_past"]))
                self.assertTrue(torch.equal(draws["official"], draws["ref_vanilla"]))
                self.assertTrue(torch.equal(draws["cached"], draws["ref_vanilla"]))
                consistent = n_unmasked >= prefix or prefix == 1
                self.assertEqual(torch.equal(draws["ref_past"], draws["ref_vanilla"]), consistent)

    def test_vqgan(self):
        gen = torch.Generator().manual_seed(1)
        for kwargs in (dict(seed=41), dict(ch_mult=(1, 2), attn_resolutions=(16, 32), num_res_blocks=2, seed=42)):
            twin = make_test_model(levels=1, **kwargs).vqgan
            c = twin.config
            dd = dict(double_z=False, z_channels=c.z_channels, resolution=c.resolution, in_channels=3, out_ch=3,
                      ch=c.ch, ch_mult=list(c.ch_mult), num_res_blocks=c.num_res_blocks,
                      attn_resolutions=list(c.attn_resolutions), dropout=0.0)
            with contextlib.redirect_stdout(io.StringIO()):
                parts = {"encoder": self.model.Encoder(**dd), "decoder": self.model.Decoder(**dd),
                         "quantize": self.quantize.VectorQuantizer2(c.n_embed, c.embed_dim, beta=0.25),
                         "quant_conv": torch.nn.Conv2d(c.z_channels, c.embed_dim, 1),
                         "post_quant_conv": torch.nn.Conv2d(c.embed_dim, c.z_channels, 1)}
            sd = twin.state_dict()
            ref_names = sorted(f"{p}.{k}" for p, m in parts.items() for k in m.state_dict())
            self.assertEqual(ref_names, sorted(sd))
            for p, m in parts.items():
                m.load_state_dict({k[len(p) + 1:]: v for k, v in sd.items() if k.startswith(p + ".")})
                m.eval()
            image = torch.rand(2, 3, c.resolution, c.resolution, generator=gen) * 2 - 1
            latent = parts["quant_conv"](parts["encoder"](image))
            self.assertTrue(torch.equal(latent, twin.encode_latent(image)))
            _, _, (_, _, rows) = parts["quantize"](latent)
            rows = rows.reshape(2, -1)
            tokens = twin.encode(image).reshape(2, -1)
            # Where the overall nearest code is a used one, both pick it (the rest is our remap rule).
            used = torch.isin(rows, twin.quantize.rows)
            self.assertTrue(torch.equal(twin.quantize.rows[tokens][used], rows[used]))
            z = parts["quantize"].embedding(twin.quantize.rows[tokens])
            z = z.reshape(2, c.token_side, c.token_side, -1).permute(0, 3, 1, 2).contiguous()
            expected = parts["decoder"](parts["post_quant_conv"](z))
            got = twin.decode(tokens.reshape(2, c.token_side, c.token_side))
            self.assertLessEqual(((got - expected).abs().max() / expected.abs().max()).item(), BOUND)


if __name__ == "__main__":
    unittest.main()
