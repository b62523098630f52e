#!/usr/bin/python3
"""The twin against the official code itself: CompVis/imagebart's x_transformer.py and
taming-transformers' diffusionmodules/model.py + vqvae/quantize.py, read at test time from local git
mirrors (nothing of them is stored in this repository). Skipped when the mirrors are absent.

Set IMAGEBART_REFERENCE_REPOS="<imagebart git dir>:<taming git dir>" to point at other clones.
The reference needs einops; a small stand-in below covers the patterns used on the paths we run.

Expected: identical state-dict names, order and shapes; logits and VQGAN outputs bitwise equal (the
bound below only leaves room for a different BLAS choosing another summation order).
"""

import contextlib
import importlib
import io
import os
import shutil
import subprocess
import sys
import unittest

import parity_util  # noqa: F401  (sets up sys.path and torch threads)
from parity_util import TempDirTestCase
import torch

from imagebart import schedule
from imagebart.testmodel import make_test_model

DEFAULT_REPOS = "/work/.mirror/CompVis+imagebart/repo:/work/.mirror/CompVis+taming-transformers/repo"
BOUND = 1e-6

REFERENCE_FILES = {
    0: ["imagebart/modules/xtransformers/x_transformer.py",
        "imagebart/modules/xtransformers/autoregressive_wrapper.py",
        "imagebart/modules/xtransformers/positional_embeddings.py"],
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
    sys.path.insert(0, root)
    with contextlib.redirect_stdout(io.StringIO()):
        return (importlib.import_module("ref_imagebart.modules.xtransformers.x_transformer"),
                importlib.import_module("taming.modules.diffusionmodules.model"),
                importlib.import_module("taming.modules.vqvae.quantize"))


class ReferenceTest(TempDirTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.xt, cls.model, cls.quantize = extract_reference(cls.tmp)
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
