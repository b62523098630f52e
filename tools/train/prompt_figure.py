#!/usr/bin/python3
"""The model card's figures of prompts: prompted edits (docs/screenshots/prompt-edits.png), bundled sample
pictures with their masked emoji re-made by `imagebart inpaint` with a few prompts and seeds, one row per picture
and prompt (the picture, then one column per seed); with --whole, whole pictures drawn by `imagebart sample` from
scene captions alone (docs/screenshots/prompt-samples.png), one row per caption. Each 64x64 picture is scaled
up 2x without smoothing.

    /usr/bin/python3 tools/train/prompt_figure.py --cli build/cli/imagebart --model data/models/default.safetensors \\
        --out docs/screenshots/prompt-edits.png
    /usr/bin/python3 tools/train/prompt_figure.py --whole --out docs/screenshots/prompt-samples.png

The same seeds give the same tokens for models that share their transformer and tokenizer (a model whose
decoder alone was trained further, tools/train/train_decoder.py), so two such figures differ only in how the
tokens are drawn.
"""

import argparse
import os
import subprocess
import tempfile
import textwrap

from PIL import Image, ImageDraw

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SAMPLES = ["01-white-right-pointing", "02-woman-technologist-medium"]
PROMPTS = ["red heart", "cat face", "red apple", "yellow star", ""]
# Worded as the training scenes' captions are (tools/train/data.py), each naming its background.
CAPTIONS = ["red apple on a blue background", "yellow star on a black background",
            "cat face and red heart on a white and green checkerboard", "green apple on a pink and white gradient",
            "dog face on black and yellow stripes", ""]
SCALE, GAP, LABEL_WIDTH = 2, 4, 120


def inpaint(cli, model, sample, prompt, seed, out):
    picture = os.path.join(ROOT, "data", "samples", sample)
    subprocess.run([cli, "inpaint", model, "--image", picture + ".png", "--mask", picture + ".mask.png",
                    "--prompt", prompt, "--seed", str(seed), "--backend", "cpu", "--out", out],
                   check=True, capture_output=True)
    return Image.open(out).convert("RGB")


def sample_whole(cli, model, prompt, seed, out):
    subprocess.run([cli, "sample", model, "--prompt", prompt, "--seed", str(seed), "--backend", "cpu", "--out", out],
                   check=True, capture_output=True)
    return Image.open(out).convert("RGB")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cli", default=os.path.join(ROOT, "build", "cli", "imagebart"))
    p.add_argument("--model", default=os.path.join(ROOT, "data", "models", "default.safetensors"))
    p.add_argument("--out", required=True)
    p.add_argument("--seeds", default="1,2,3", help="comma-separated seeds, one column each")
    p.add_argument("--whole", action="store_true", help="whole pictures from captions (imagebart sample)")
    args = p.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]

    cell = 64 * SCALE
    if args.whole:
        rows = [(None, caption) for caption in CAPTIONS]
        label_width, first_column = 2 * LABEL_WIDTH, 0
    else:
        rows = [(sample, prompt) for sample in SAMPLES for prompt in PROMPTS]
        label_width, first_column = LABEL_WIDTH, 1
    figure = Image.new("RGB", (label_width + (first_column + len(seeds)) * (cell + GAP), len(rows) * (cell + GAP)),
                       "white")
    draw = ImageDraw.Draw(figure)
    with tempfile.TemporaryDirectory() as work:
        for r, (sample, prompt) in enumerate(rows):
            y = r * (cell + GAP)
            label = textwrap.fill(prompt, 36) if prompt else "(empty)"
            draw.multiline_text((4, y + cell // 2 - 12), label, fill="black")
            pictures = []
            if sample is not None:
                pictures.append(Image.open(os.path.join(ROOT, "data", "samples", sample + ".png")).convert("RGB"))
            for seed in seeds:
                out = os.path.join(work, f"{r}-{seed}.png")
                pictures.append(sample_whole(args.cli, args.model, prompt, seed, out) if sample is None
                                else inpaint(args.cli, args.model, sample, prompt, seed, out))
            for c, picture in enumerate(pictures):
                figure.paste(picture.resize((cell, cell), Image.NEAREST), (label_width + c * (cell + GAP), y))
    figure.save(args.out)
    print(f"wrote {args.out}: {len(rows)} rows, seeds {args.seeds}")


if __name__ == "__main__":
    main()
