#!/usr/bin/python3
"""The last stage: the finished weights of a run -> one model file (docs/model-format.md), f16 by default.

Reads <run-dir>/vqgan.final.pt (or decoder.final.pt: the same tokenizer, its decoder trained further) and
either <run-dir>/transformer.final.pt (one joint transformer: its weights are stored once, under a shared
prefix) or one transformer-level<t>.final.pt per level, and
writes them with tools/imagebart/modelfile.py, the tokenizer's vocabulary in the config
(conditioning kind "text"), and the training metrics in the provenance. No optimizer state, no data.
"""

import argparse
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402

from common import load_run_file  # noqa: E402
from imagebart import modelfile  # noqa: E402
from imagebart.transformer import StageConfig, build_transformer  # noqa: E402
from imagebart.twin import ImageBART, Level  # noqa: E402
from imagebart.schedule import alphas as schedule_alphas  # noqa: E402
from imagebart.vqgan import DECODER_SIDE, VqganConfig, VQModel  # noqa: E402

LICENSE = ("Weights: CC-BY-4.0. Trained on Twemoji art (emoji-datasource-twitter@16.0.0, CC-BY 4.0, "
           "Copyright Twitter, Inc and other contributors) and Noto Emoji art (emoji-datasource-google@16.0.0, "
           "Apache-2.0, Google). See docs/model-card.md.")


# The defaults stored for a model of the 2-core recipe (train_all.py), measured by tools/eval --guidance and
# --top-k on its transformer (model card, "The decoder's target: the posterior"): without guidance it does not
# follow its prompt. train_on_gpu.sh stores its own (2 and 32).
DEFAULT_GUIDANCE = 4.0
DEFAULT_TOP_K = 32


def transformer_files(run_dir):
    joint = os.path.join(run_dir, "transformer.final.pt")
    if os.path.exists(joint):
        return [joint]
    files = sorted(glob.glob(os.path.join(run_dir, "transformer-level*.final.pt")))
    if not files:
        raise SystemExit(f"{run_dir}: no transformer.final.pt or transformer-level<t>.final.pt")
    return files


def vqgan_final(run_dir):
    """The run's finished VQGAN: the decoder stage's (train_decoder.py) when there is one. Its tokenizer half
    must be the VQGAN stage's, which the transformer was trained on."""
    vq_final = load_run_file(os.path.join(run_dir, "vqgan.final.pt"))
    tuned_path = os.path.join(run_dir, "decoder.final.pt")
    if not os.path.exists(tuned_path):
        return vq_final
    tuned = load_run_file(tuned_path)
    for name, tensor in vq_final["state_dict"].items():
        if not name.startswith(DECODER_SIDE) and not torch.equal(tensor, tuned["state_dict"][name]):
            raise SystemExit(f"{tuned_path}: its {name} is not vqgan.final.pt's: tuned on another tokenizer")
    return tuned


def build_model(run_dir, top_k=0, guidance=1.0, name="ImageBART Studio emoji 64 px (text)", made_by="tools/train"):
    vq_final = vqgan_final(run_dir)
    vqgan = VQModel(VqganConfig(**vq_final["config"]))
    vqgan.load_state_dict(vq_final["state_dict"])
    levels, tokenizer, betas, schedule, metrics = [], None, None, None, {"vqgan": vq_final["metrics"]}
    for path in transformer_files(run_dir):
        final = load_run_file(path)
        module = build_transformer(StageConfig(**final["stage"]))
        module.load_state_dict(final["state_dict"])
        if tokenizer is not None and (final["tokenizer"] != tokenizer or final["betas"] != betas):
            raise SystemExit(f"{path}: another tokenizer or schedule than the other levels")
        tokenizer, betas, schedule = final["tokenizer"], final["betas"], final["schedule"]
        metrics[os.path.basename(path).split(".")[0]] = final["metrics"]
        levels += [Level(t, module, top_k, 1.0) for t in final["levels"]]
    for module in {id(level.transformer): level.transformer for level in levels}.values():
        module.set_alphas(schedule_alphas(betas))
    conditioning = {"kind": "text", "token_offset": tokenizer["token_offset"], "tokenizer": tokenizer}
    if guidance != 1.0:  # training drops some captions, so the empty prompt is the unconditional mode
        conditioning["guidance"] = guidance
    provenance = f"{made_by} (see docs/model-card.md); metrics: " + json.dumps(metrics, sort_keys=True)
    return ImageBART(vqgan, levels, betas, schedule, conditioning, name, LICENSE, provenance).eval()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    from common import default_run_dir
    p.add_argument("--run-dir", default=default_run_dir())
    p.add_argument("--out", required=True)
    p.add_argument("--dtype", default="f16", choices=("f16", "f32", "bf16"))
    p.add_argument("--top-k", type=int, default=DEFAULT_TOP_K, help="the levels' default top-k (0: no cut)")
    p.add_argument("--guidance", type=float, default=DEFAULT_GUIDANCE,
                   help="the default classifier-free guidance scale stored in the file (1: none)")
    p.add_argument("--made-by", default="tools/train", help="how the weights were made: the provenance's first words")
    args = p.parse_args(argv)
    model = build_model(args.run_dir, args.top_k, args.guidance, made_by=args.made_by)
    modelfile.save_model(model, args.out, args.dtype)
    print(f"wrote {args.out}: {os.path.getsize(args.out) / 1e6:.1f} MB, {model.n_levels} levels, "
          f"K = {model.n_codes}, {len(model.conditioning['tokenizer']['vocab'])} words", flush=True)


if __name__ == "__main__":
    main()
