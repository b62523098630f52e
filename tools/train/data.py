#!/usr/bin/python3
"""Training data of the default model: emoji art from the npm registry and synthetic scenes built from it.

Nothing here is committed: `fetch` downloads two pinned npm packages into a cache folder (outside git,
default ~/.cache/imagebart-studio/train-data or $IMAGEBART_TRAIN_CACHE) and checks their hashes; `build`
reads emoji.json and the 64x64 PNGs into one array file (emoji.npz) with the captions and the split.

- emoji-datasource-twitter@16.0.0: Twemoji art, CC-BY 4.0 (credit: Twitter, Inc and other contributors).
- emoji-datasource-google@16.0.0: Noto Emoji art, Apache-2.0.

An *item* is one emoji picture (one art set, one skin tone). Its *identity* is the base emoji (the
`unified` code point sequence without a skin tone), shared by both art sets and all skin tones; the
held-out split takes whole identities (a deterministic hash of `unified`), so no held-out emoji is seen in
training in any art set or tone.

A *scene* is a 64x64 RGB picture: 1-4 items at varied scales and positions, alpha-composited on a plain,
gradient, striped, checkered or dotted background, with a caption naming its parts (often only a random
subset of them, or only one) and sometimes the background. Captions use the emoji's name or a short name,
its skin tone, or (rarely) just its subcategory ("animal mammal").

Commands: data.py fetch | build | stats | preview OUT.png   (all take --cache DIR)
"""

import argparse
import base64
import hashlib
import io
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from dataclasses import dataclass

import numpy as np

RESOLUTION = 64

# name, version, npm "integrity" (sha512 of the tarball), sha256 of the tarball, license, art set
PACKAGES = {
    "twitter": ("emoji-datasource-twitter", "16.0.0",
                "sha512-7F+uCuHH+7Qnrc15P5tnbvKkg9E6tlzi4MnT2uW1RlN4pLYTza6cP/dstIfSDMtpjFLWuZewWg8jBbuL2eyELQ==",
                "f64a530c63bca463bd8317fdc4615ce63a53a0c65018e4ce2d848aaba7a28877", "CC-BY-4.0"),
    "google": ("emoji-datasource-google", "16.0.0",
               "sha512-ZRexfzs7MVoLnmzZmNsO4TKhnAJp5D++Vm6PpUpH/jEQQlemp3l88CjZ+DoZ2faM9R4QxZkOPJCoT8DlPhfQ3A==",
               "fb5fd131b362aab7a55542d2a147a79708cce0a8b1c1bbacd470172708b5c438", "Apache-2.0"),
}

SKIN_TONES = {"1F3FB": "light skin tone", "1F3FC": "medium light skin tone", "1F3FD": "medium skin tone",
              "1F3FE": "medium dark skin tone", "1F3FF": "dark skin tone"}

# Background colours with their names (the names are caption words).
COLORS = {
    "white": (245, 245, 245), "black": (20, 20, 20), "gray": (128, 128, 128), "red": (220, 40, 40),
    "orange": (245, 140, 30), "yellow": (245, 220, 50), "green": (60, 170, 70), "blue": (50, 100, 220),
    "purple": (140, 60, 190), "pink": (245, 150, 190), "brown": (130, 80, 40), "cyan": (60, 200, 220),
}
BACKGROUND_KINDS = ("plain", "gradient", "stripes", "checks", "dots")
HELD_OUT_PERCENT = 6
CACHE_FORMAT = 1


def default_cache():
    return os.environ.get("IMAGEBART_TRAIN_CACHE") or os.path.join(
        os.path.expanduser("~"), ".cache", "imagebart-studio", "train-data")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------
# fetch

def tarball_path(cache, art):
    name, version = PACKAGES[art][:2]
    return os.path.join(cache, f"{name}-{version}.tgz")


def verify_tarball(path, art):
    """Raises unless the file has both pinned hashes."""
    _, _, integrity, sha256, _ = PACKAGES[art]
    with open(path, "rb") as f:
        data = f.read()
    got512 = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    got256 = hashlib.sha256(data).hexdigest()
    if got512 != integrity or got256 != sha256:
        raise RuntimeError(f"{path}: hash mismatch (sha256 {got256}, expected {sha256}); delete it and fetch again")


def fetch(cache):
    os.makedirs(cache, exist_ok=True)
    for art, (name, version, *_rest) in PACKAGES.items():
        path = tarball_path(cache, art)
        if not os.path.exists(path):
            log(f"fetching {name}@{version} ...")
            if shutil.which("npm"):
                subprocess.run(["npm", "pack", "--silent", f"{name}@{version}"], cwd=cache, check=True,
                               stdout=subprocess.DEVNULL)
            else:  # the registry's tarball URL, what npm itself downloads
                url = f"https://registry.npmjs.org/{name}/-/{name}-{version}.tgz"
                with urllib.request.urlopen(url) as response, open(path + ".part", "wb") as out:
                    shutil.copyfileobj(response, out)
                os.replace(path + ".part", path)
        verify_tarball(path, art)
        log(f"{name}@{version}: hashes verified")


# ---------------------------------------------------------------------------------------------------
# build

@dataclass
class Item:
    identity: str        # base `unified`
    art: str             # twitter | google
    name: str            # lower-case name, e.g. "cat face"
    short_names: list
    category: str
    subcategory: str
    tone: str            # "" or e.g. "medium skin tone"


def _clean(text):
    return " ".join(text.lower().replace("_", " ").replace("-", " ").replace("&", "and").split())


def _entries(meta, art):
    """(Item, image file name) of every picture of one art set; skips the skin tone swatches."""
    for e in meta:
        if e.get("category") == "Component" or not e.get(f"has_img_{art}"):
            continue
        name = _clean(e.get("name") or e["short_name"])
        base = dict(identity=e["unified"], art=art, name=name,
                    short_names=[_clean(s) for s in e.get("short_names", [])],
                    category=_clean(e["category"]), subcategory=_clean(e["subcategory"]))
        yield Item(tone="", **base), e["image"]
        for key, variation in (e.get("skin_variations") or {}).items():
            if key in SKIN_TONES and variation.get(f"has_img_{art}"):
                yield Item(tone=SKIN_TONES[key], **base), variation["image"]


def is_held_out(identity):
    return int(hashlib.sha1(identity.encode()).hexdigest(), 16) % 100 < HELD_OUT_PERCENT


def build(cache):
    from PIL import Image

    items, images = [], []
    for art in PACKAGES:
        path = tarball_path(cache, art)
        verify_tarball(path, art)
        with tarfile.open(path, "r:gz") as tar:
            meta = json.load(tar.extractfile("package/emoji.json"))
            members = {m.name: m for m in tar.getmembers()}
            for item, image in _entries(meta, art):
                member = members.get(f"package/img/{art}/64/{image}")
                if member is None:
                    continue
                with Image.open(io.BytesIO(tar.extractfile(member).read())) as im:
                    rgba = np.asarray(im.convert("RGBA").resize((RESOLUTION, RESOLUTION), Image.LANCZOS))
                items.append(item)
                images.append(rgba)
        log(f"{art}: {sum(1 for i in items if i.art == art)} pictures")
    meta = {"format": CACHE_FORMAT, "items": [vars(i) for i in items],
            "packages": {art: f"{p[0]}@{p[1]}" for art, p in PACKAGES.items()}}
    out = os.path.join(cache, "emoji.npz")
    np.savez(out + ".part.npz", images=np.stack(images), meta=np.frombuffer(json.dumps(meta).encode(), np.uint8))
    os.replace(out + ".part.npz", out)
    log(f"wrote {out}: {len(items)} pictures, {len({i.identity for i in items})} emoji")


class EmojiSet:
    """The built pictures: images (n, 64, 64, 4) uint8 and their Items; `split` selects train/held_out."""

    def __init__(self, images, items):
        self.images = images
        self.items = items

    @classmethod
    def load(cls, cache, split=None):
        path = os.path.join(cache, "emoji.npz")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path} is missing: run tools/train/data.py fetch and build first")
        with np.load(path) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            images = z["images"]
        if meta.get("format") != CACHE_FORMAT:
            raise RuntimeError(f"{path} is from another version of data.py: run build again")
        items = [Item(**i) for i in meta["items"]]
        return cls(images, items).subset(split)

    def subset(self, split):
        if split is None:
            return self
        want = split == "held_out"
        keep = [k for k, item in enumerate(self.items) if is_held_out(item.identity) == want]
        return EmojiSet(self.images[keep], [self.items[k] for k in keep])

    def __len__(self):
        return len(self.items)

    def all_captions(self):
        """Every caption text a scene can use, for the vocabulary."""
        out = [phrase for item in self.items for phrase in [item.name, item.tone, item.subcategory,
                                                            item.category] + item.short_names]
        out += list(COLORS) + ["on a background gradient stripes checkerboard dots and with"]
        return out

    @classmethod
    def synthetic(cls, n=24, seed=0):
        """Random blobs standing in for emoji (tests and smoke runs, no download)."""
        rng = np.random.default_rng(seed)
        images = np.zeros((n, RESOLUTION, RESOLUTION, 4), np.uint8)
        yy, xx = np.mgrid[0:RESOLUTION, 0:RESOLUTION]
        names = ["cat face", "dog face", "red apple", "green apple", "sun", "moon", "star", "heart"]
        items = []
        for k in range(n):
            color = rng.integers(0, 256, 3)
            r = rng.integers(12, 30)
            mask = (yy - 32) ** 2 + (xx - 32) ** 2 < r * r
            images[k, mask, :3] = color
            images[k, mask, 3] = 255
            items.append(Item(identity=f"X{k % 12}", art="twitter" if k % 2 else "google", name=names[k % 8],
                              short_names=[names[k % 8].split()[0]], category="test", subcategory="blob",
                              tone="" if k % 3 else "medium skin tone"))
        return cls(images, items)


# ---------------------------------------------------------------------------------------------------
# scenes

def _jitter(color, rng, amount=18):
    return np.clip(np.array(color, np.float32) + np.array([rng.uniform(-amount, amount) for _ in range(3)], np.float32), 0, 255)


def render_background(rng):
    """(64, 64, 3) float32 in 0..255 and its caption phrase."""
    kind = rng.choices(BACKGROUND_KINDS, weights=(4, 3, 1, 1, 1))[0]
    c1, c2 = rng.sample(list(COLORS), 2)
    a, b = _jitter(COLORS[c1], rng), _jitter(COLORS[c2], rng)
    yy, xx = np.mgrid[0:RESOLUTION, 0:RESOLUTION].astype(np.float32) / (RESOLUTION - 1)
    if kind == "plain":
        return np.broadcast_to(a, (RESOLUTION, RESOLUTION, 3)).copy(), f"on a {c1} background"
    if kind == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        s = np.cos(angle) * (xx - 0.5) + np.sin(angle) * (yy - 0.5)
        s = (s - s.min()) / (s.max() - s.min())
        return (1 - s[..., None]) * a + s[..., None] * b, f"on a {c1} and {c2} gradient"
    period = rng.randint(6, 16)
    px, py = (xx * (RESOLUTION - 1)).astype(int), (yy * (RESOLUTION - 1)).astype(int)
    if kind == "stripes":
        sel = ((px if rng.random() < 0.5 else py) // (period // 2 + 1)) % 2 == 0
        phrase = f"on {c1} and {c2} stripes"
    elif kind == "checks":
        sel = ((px // period) + (py // period)) % 2 == 0
        phrase = f"on a {c1} and {c2} checkerboard"
    else:
        cx, cy = px % period - period / 2, py % period - period / 2
        sel = cx * cx + cy * cy > (period / 4) ** 2
        phrase = f"on a {c1} background with {c2} dots"
    return np.where(sel[..., None], a, b).astype(np.float32), phrase


def item_caption(item, rng):
    """A caption naming one item: its name or a short name, with its skin tone; rarely its subcategory."""
    r = rng.random()
    if r < 0.05:
        return item.subcategory
    text = item.name if r < 0.75 or not item.short_names else rng.choice(item.short_names)
    if item.tone and rng.random() < 0.8:
        text = f"{text} {item.tone}"
    return text


def _paste(canvas, rgba, x, y, size):
    from PIL import Image
    im = np.asarray(Image.fromarray(rgba).resize((size, size), Image.BILINEAR), np.float32)
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + size, RESOLUTION), min(y + size, RESOLUTION)
    if x1 <= x0 or y1 <= y0:
        return
    patch = im[y0 - y:y1 - y, x0 - x:x1 - x]
    alpha = patch[..., 3:4] / 255.0
    canvas[y0:y1, x0:x1] = canvas[y0:y1, x0:x1] * (1 - alpha) + patch[..., :3] * alpha


def _overlap(a, b):
    ix = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[1] + a[2], b[1] + b[2]) - max(a[1], b[1]))
    return ix * iy / min(a[2] * a[2], b[2] * b[2])


def layout(n, rng):
    """n boxes (x, y, size) that overlap little."""
    boxes = []
    for _ in range(n):
        for _attempt in range(20):
            size = rng.randint(36, 64) if n == 1 else rng.randint(20, 40)
            box = (rng.randint(-size // 8, RESOLUTION - size + size // 8),
                   rng.randint(-size // 8, RESOLUTION - size + size // 8), size)
            if all(_overlap(box, other) < 0.15 for other in boxes):
                break
        boxes.append(box)
    return boxes


@dataclass
class Scene:
    image: np.ndarray    # (64, 64, 3) uint8
    caption: str
    parts: list          # [(item index, (x, y, size), caption of the item)]
    background: str
    named: tuple = ()    # positions in `parts` of the parts the caption names


def render_scene(emoji, rng, n=None, indices=None, background_p=0.3, subset_p=0.5):
    """One scene; `rng` is a random.Random. `n` (1-4) and `indices` (the items) may be given."""
    if n is None:
        n = len(indices) if indices is not None else rng.choices((1, 2, 3, 4), weights=(4, 3, 2, 1))[0]
    if indices is None:
        indices = [rng.randrange(len(emoji)) for _ in range(n)]
    canvas, phrase = render_background(rng)
    parts = []
    for index, box in zip(indices, layout(n, rng)):
        _paste(canvas, emoji.images[index], *box)
        parts.append((index, box, item_caption(emoji.items[index], rng)))
    named = list(parts)
    if n > 1 and rng.random() < subset_p:
        named = rng.sample(parts, rng.randint(1, n - 1))
    caption = " and ".join(p[2] for p in named)
    if rng.random() < background_p:
        caption = f"{caption} {phrase}"
    named_positions = tuple(k for k, part in enumerate(parts) if any(part is n for n in named))
    return Scene(np.clip(canvas + 0.5, 0, 255).astype(np.uint8), caption, parts, phrase, named_positions)


# ---------------------------------------------------------------------------------------------------
# command line

def _save_png(path, array):
    from PIL import Image
    Image.fromarray(array).save(path)


def _slug(text, words=3):
    return "-".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split()[:words])


def write_samples(cache, out_dir, count, seed):
    """Sample pictures for the editor: scenes of two held-out emoji (never seen in training), each with a
    mask over its first emoji (the box grown by 2 pixels) and a listing of captions, masks and an edit to try."""
    from PIL import Image
    emoji = EmojiSet.load(cache, "held_out")
    rng = random.Random(f"samples/{seed}")
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for number in range(1, count + 1):
        scene = render_scene(emoji, rng, n=2, background_p=1.0, subset_p=0.0)
        (_, (x, y, size), masked_caption), (_, _, kept_caption) = scene.parts
        name = f"{number:02d}-{_slug(masked_caption)}"
        mask = np.zeros((RESOLUTION, RESOLUTION), np.uint8)
        mask[max(y - 2, 0):min(y + size + 2, RESOLUTION), max(x - 2, 0):min(x + size + 2, RESOLUTION)] = 255
        Image.fromarray(scene.image).save(os.path.join(out_dir, f"{name}.png"))
        Image.fromarray(mask).save(os.path.join(out_dir, f"{name}.mask.png"))
        rows.append((name, scene.caption, masked_caption, kept_caption))
    with open(os.path.join(out_dir, "README.md"), "w") as listing:
        listing.write("# Sample pictures\n\n"
                      f"Made by `tools/train/data.py samples` (seed {seed}) from held-out emoji, which the default "
                      "model never saw in training. Each `NAME.png` (64 x 64, the model's native size) has a "
                      "`NAME.mask.png` over its first emoji. Twemoji art by Twitter, Inc and other contributors "
                      "(CC-BY 4.0); Noto Emoji art by Google (Apache-2.0).\n\n"
                      "| picture | caption | masked | kept |\n|---|---|---|---|\n")
        for name, caption, masked, kept in rows:
            listing.write(f"| `{name}.png` | {caption} | {masked} | {kept} |\n")
        listing.write("\nTo try one from the command line (any prompt; the model follows the words of its captions):\n\n"
                      "```sh\n"
                      f"imagebart inpaint data/models/default.safetensors --image data/samples/{rows[0][0]}.png \\\n"
                      f"    --mask data/samples/{rows[0][0]}.mask.png --prompt \"red apple\" --seed 1 --out edited.png\n"
                      "```\n")
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=("fetch", "build", "stats", "preview", "samples"))
    p.add_argument("out", nargs="?", help="preview: the PNG to write; samples: the folder")
    p.add_argument("--count", type=int, default=8, help="samples: how many pictures")
    p.add_argument("--cache", default=default_cache())
    p.add_argument("--split", choices=("train", "held_out"), default="train")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.command == "fetch":
        fetch(args.cache)
    elif args.command == "build":
        build(args.cache)
    elif args.command == "stats":
        for split in ("train", "held_out"):
            e = EmojiSet.load(args.cache, split)
            print(f"{split}: {len(e)} pictures, {len({i.identity for i in e.items})} emoji")
    elif args.command == "samples":
        for name, caption, _, _ in write_samples(args.cache, args.out, args.count, args.seed):
            print(f"{name}: {caption}")
    else:
        emoji = EmojiSet.load(args.cache, args.split)
        rng = random.Random(args.seed)
        scenes = [render_scene(emoji, rng) for _ in range(32)]
        grid = np.concatenate([np.concatenate([s.image for s in scenes[r * 8:(r + 1) * 8]], 1) for r in range(4)])
        _save_png(args.out, grid)
        for s in scenes:
            print(s.caption)


if __name__ == "__main__":
    main()
