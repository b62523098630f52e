#!/usr/bin/python3
"""How much a caption tells about the tokens of an edit's hole, measured without the transformer.

A linear map from the caption's words (a bag of words over the model's vocabulary) to the histogram of the
hole's VQGAN tokens is fitted on training scenes (the holes `train_transformer.py` makes: usually the box of
a part the caption names) and scored on new scenes of training emoji and on scenes of held-out emoji, against
the same map with no words (the prior): the gain, in nats a hole, is information the prompt carries and that
a text-conditioned model could learn. It stops at its best pass on the new scenes (a small weight penalty;
left to run it memorises). It also reports the gain on scenes whose caption holds a few common words.

    /usr/bin/python3 tools/train/probe_prompt.py --model data/models/default.safetensors --cache DIR

The default model's numbers are in docs/model-card.md; encoding the scenes takes most of the ten minutes.
"""

import argparse
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import torch  # noqa: E402

import common  # noqa: E402
import data  # noqa: E402
from imagebart import modelfile, tokenizer as tok  # noqa: E402
from train_transformer import edit_holes  # noqa: E402

WORDS = ("flag", "face", "hand", "heart", "cat", "tree", "red", "blue")


def scenes_as_rows(emoji, n, seed, vqgan, tokenizer, n_vocab):
    """(words (n, V) 0/1, hole histograms (n, K) summing to 1) of n scenes of emoji."""
    side, k = vqgan.config.token_side, vqgan.config.n_codes
    batches = common.SceneBatches(emoji, 256, seed, 0)
    rng = random.Random(seed)
    words, histograms = [], []
    for _ in range((n + 255) // 256):
        x, scenes = batches.next_scenes("cpu")
        holes = edit_holes(scenes, side, 64 // side, 1.0, rng)
        with torch.no_grad():
            x0 = vqgan.encode(x).flatten(1)
        counts = torch.zeros(len(scenes), k).scatter_add_(1, x0, holes.float())
        histograms.append(counts / counts.sum(1, keepdim=True))
        bag = torch.zeros(len(scenes), n_vocab)
        for row, scene in enumerate(scenes):
            for i in tokenizer.encode(scene.caption):
                if i != tok.PAD:
                    bag[row, i] = 1
        words.append(bag)
    return torch.cat(words)[:n], torch.cat(histograms)[:n]


def histogram_nats(logits, histograms):
    """Per row, nats of the histogram under the distribution of the logits."""
    return -(histograms * torch.log_softmax(logits, -1)).sum(1)


def cross_entropy(probe, words, histograms, with_words=True):
    """Per row, nats of the histogram under the probe's distribution (with no words: the prior)."""
    with torch.no_grad():
        return histogram_nats(probe(words if with_words else torch.zeros_like(words)), histograms)


def gain(probe, words, histograms):
    return (cross_entropy(probe, words, histograms, False) - cross_entropy(probe, words, histograms)).mean().item()


def fit(train, check, passes, penalty, seed):
    """The linear probe at its best pass on `check` (rows the fit never sees)."""
    torch.manual_seed(seed)
    words, histograms = train
    probe = torch.nn.Linear(words.shape[1], histograms.shape[1])
    optimizer = torch.optim.Adam(probe.parameters(), 3e-3)
    best, best_state, best_pass = None, None, 0
    for n in range(passes):
        for rows in torch.randperm(len(words)).split(512):
            loss = histogram_nats(probe(words[rows]), histograms[rows]).mean()
            loss = loss + penalty * probe.weight.pow(2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        score = gain(probe, *check)
        if best is None or score > best:
            best, best_pass = score, n + 1
            best_state = {k: v.clone() for k, v in probe.state_dict().items()}
    probe.load_state_dict(best_state)
    return probe, best_pass


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a text-conditional model file (its VQGAN and vocabulary)")
    p.add_argument("--cache", default=data.default_cache(), help="the data cache of tools/train/data.py")
    p.add_argument("--synthetic-data", action="store_true", help="random blobs instead of emoji (tests)")
    p.add_argument("--scenes", type=int, default=20480, help="training scenes (a tenth as many to score)")
    p.add_argument("--passes", type=int, default=12)
    p.add_argument("--penalty", type=float, default=1e-4, help="weight of the squared weights in the loss")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    twin = modelfile.load_model(args.model)
    if twin.conditioning.get("kind") != "text":
        raise SystemExit(f"{args.model} is not a text-conditional model")
    tokenizer = tok.Tokenizer.from_config(twin.conditioning)
    n_vocab = len(tokenizer.vocab)
    train = common.load_emoji(args, "train")
    held_out = common.load_emoji(args, "held_out")
    rows = {name: scenes_as_rows(emoji, n, args.seed + k, twin.vqgan, tokenizer, n_vocab)
            for k, (name, emoji, n) in enumerate((("train", train, args.scenes),
                                                   ("new scenes", train, max(1, args.scenes // 10)),
                                                   ("held-out emoji", held_out, max(1, args.scenes // 10))))}
    probe, best_pass = fit(rows["train"], rows["new scenes"], args.passes, args.penalty, args.seed)
    print(f"probe: best pass {best_pass} of {args.passes}; the words' gain over the prior, nats a hole:")
    for name in ("train", "new scenes", "held-out emoji"):
        print(f"  {name:15s} {gain(probe, *rows[name]):+.3f}  ({len(rows[name][0])} scenes)")
    for word in WORDS:
        column = tokenizer.index.get(word)
        if column is None:
            continue
        for name in ("new scenes", "held-out emoji"):
            words, histograms = rows[name]
            has = words[:, column] > 0
            if has.sum() >= 5:
                print(f"  '{word}' in {name}: {gain(probe, words[has], histograms[has]):+.3f} ({int(has.sum())} scenes)")


if __name__ == "__main__":
    main()
