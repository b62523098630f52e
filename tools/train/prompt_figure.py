#!/usr/bin/python3
"""The model card's figure of prompted edits (docs/screenshots/prompt-edits.png): bundled sample pictures,
their masked emoji re-made by `imagebart inpaint` with a few prompts and seeds, one row per picture and prompt
(the picture, then one column per seed), each 64x64 result scaled up 2x without smoothing.

    /usr/bin/python3 tools/train/prompt_figure.py --cli build/cli/imagebart --model data/models/default.safetensors \\
        --out docs/screenshots/prompt-edits.png

The same seeds give the same tokens for models that share their transformer and tokenizer (a model whose
decoder alone was trained further, tools/train/train_decoder.py), so two such figures differ only in how the
tokens are drawn.
"""

import argparse
import os
import subprocess
import tempfile

from PIL import Image, ImageDraw

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SAMPLES = ["01-white-right-pointing", "02-woman-technologist-medium"]
PROMPTS = ["red heart", "cat face", "red apple", "yellow star", ""]
SCALE, GAP, LABEL_WIDTH = 2, 4, 120


def inpaint(cli, model, sample, prompt, seed, out):
    picture = os.path.join(ROOT, "data", "samples", sample)
    subprocess.run([cli, "inpaint", model, "--image", picture + ".png", "--mask", picture + ".mask.png",
                    "--prompt", prompt, "--seed", str(seed), "--backend", "cpu", "--out", out],
                   check=True, capture_output=True)
    return Image.open(out).convert("RGB")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cli", default=os.path.join(ROOT, "build", "cli", "imagebart"))
    p.add_argument("--model", default=os.path.join(ROOT, "data", "models", "default.safetensors"))
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", default="1,2,3", help="comma-separated seeds, one column each")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]

    cell = 64 * SCALE
    rows = [(sample, prompt) for sample in SAMPLES for prompt in PROMPTS]
    figure = Image.new("RGB", (LABEL_WIDTH + (1 + len(seeds)) * (cell + GAP), len(rows) * (cell + GAP)), "white")
    draw = ImageDraw.Draw(figure)
    with tempfile.TemporaryDirectory() as work:
        for r, (sample, prompt) in enumerate(rows):
            y = r * (cell + GAP)
            draw.text((4, y + cell // 2 - 5), prompt or "(empty)", fill="black")
            pictures = [Image.open(os.path.join(ROOT, "data", "samples", sample + ".png")).convert("RGB")]
            pictures += [inpaint(args.cli, args.model, sample, prompt, seed, os.path.join(work, f"{r}-{seed}.png"))
                         for seed in seeds]
            for c, picture in enumerate(pictures):
                figure.paste(picture.resize((cell, cell), Image.NEAREST), (LABEL_WIDTH + c * (cell + GAP), y))
    figure.save(args.out)
    print(f"wrote {args.out}: {len(rows)} rows, seeds {args.seeds}")


if __name__ == "__main__":
    main()
