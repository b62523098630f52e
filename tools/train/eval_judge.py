"""The judge of tools/eval's text-guided replacement: a small CNN that tells which group of emoji a region
shows, trained by the eval tool on the TRAINING split only, so that it judges edits of held-out scenes.

Groups are coarse, visually coherent sets of emoji that a prompt can name (faces, animals, food, vehicles,
...), from emoji.json's category and subcategory; emoji outside every group (most objects, symbols of many
kinds, activities) are not used. One more class, "background", is a crop of background with no emoji, so
an edit that only paints background is judged as such rather than as some group.

A training example is a crop of a rendered scene at one part's box (the way the eval crops edited
regions), resized to 32x32; a share of the scenes first goes through the evaluated model's VQGAN (encode +
decode), so that the judge knows the blur of pictures the model makes.
"""

import random
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

import data

CROP = 32
BACKGROUND = "background"

# group -> {category: subcategories (None: all of them)}
GROUPS = {
    "face": {"smileys and emotion": ("cat face", "monkey face", "face affection", "face concerned",
                                     "face glasses", "face hand", "face hat", "face negative",
                                     "face neutral skeptical", "face sleepy", "face smiling", "face tongue",
                                     "face unwell")},
    "heart": {"smileys and emotion": ("heart",)},
    "person": {"people and body": ("person", "person activity", "person fantasy", "person gesture",
                                   "person resting", "person role", "person sport", "family")},
    "hand": {"people and body": ("hand fingers closed", "hand fingers open", "hand fingers partial",
                                 "hand prop", "hand single finger", "hands")},
    "animal": {"animals and nature": ("animal amphibian", "animal bird", "animal bug", "animal mammal",
                                      "animal marine", "animal reptile")},
    "plant": {"animals and nature": ("plant flower", "plant other")},
    "food": {"food and drink": ("food asian", "food fruit", "food prepared", "food sweet", "food vegetable",
                                "drink")},
    "flag": {"flags": None},
    "vehicle": {"travel and places": ("transport air", "transport ground", "transport water")},
    "sky": {"travel and places": ("sky and weather",)},
}


def group_of(item):
    """The group of an emoji item, or None. Synthetic test items (category "test") are grouped by name."""
    if item.category == "test":
        return item.name
    subcategories = GROUPS_BY_CATEGORY.get(item.category, {})
    return subcategories.get(item.subcategory, subcategories.get(None))


GROUPS_BY_CATEGORY = {}
for _group, _spec in GROUPS.items():
    for _category, _subs in _spec.items():
        for _sub in (_subs or (None,)):
            GROUPS_BY_CATEGORY.setdefault(_category, {})[_sub] = _group


def items_by_group(emoji):
    """{group: [item index]} of an EmojiSet, groups sorted."""
    out = {}
    for k, item in enumerate(emoji.items):
        g = group_of(item)
        if g is not None:
            out.setdefault(g, []).append(k)
    return dict(sorted(out.items()))


def prompt_names(emoji):
    """{group: sorted distinct names} of an EmojiSet: what a prompt naming an emoji of that group says."""
    return {g: sorted({emoji.items[k].name for k in ks}) for g, ks in items_by_group(emoji).items()}


def crop(image, box, size=CROP):
    """The part of a 64x64 picture inside box (x, y, side), clipped, resized to size x size."""
    from PIL import Image
    x, y, side = box
    h, w = image.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + side), min(h, y + side)
    patch = Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1]).astype(np.uint8))
    return np.asarray(patch.resize((size, size), Image.BILINEAR))


def render_examples(emoji, classes, n, rng):
    """n (picture, box, label) examples, classes drawn uniformly: a scene with an emoji of the class as its
    first part and 0-2 random others, or (background) a plain background and a random box."""
    groups = items_by_group(emoji)
    pictures, boxes, labels = [], [], []
    for _ in range(n):
        label = rng.randrange(len(classes))
        if classes[label] == BACKGROUND:
            picture, _ = data.render_background(rng)
            side = rng.randint(20, 48)
            box = (rng.randint(0, 64 - side), rng.randint(0, 64 - side), side)
            picture = np.clip(picture + 0.5, 0, 255).astype(np.uint8)
        else:
            indices = [rng.choice(groups[classes[label]])]
            indices += [rng.randrange(len(emoji)) for _ in range(rng.randint(0, 2))]
            scene = data.render_scene(emoji, rng, indices=indices)
            picture, box = scene.image, scene.parts[0][1]
        pictures.append(picture)
        boxes.append(box)
        labels.append(label)
    return np.stack(pictures), boxes, np.array(labels)


@torch.no_grad()
def reconstruct(vqgan, pictures, batch=64):
    """Pictures (n, 64, 64, 3) uint8 through a VQGAN twin (encode + decode), as uint8."""
    out = []
    for k in range(0, len(pictures), batch):
        x = torch.from_numpy(pictures[k:k + batch]).permute(0, 3, 1, 2).float() / 127.5 - 1
        y = vqgan.decode(vqgan.encode(x)).clamp(-1, 1)
        out.append(((y + 1) * 127.5 + 0.5).clamp(0, 255).byte().permute(0, 2, 3, 1).numpy())
    return np.concatenate(out) if out else pictures


def to_tensor(crops):
    return torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float() / 127.5 - 1


class Judge(nn.Module):
    def __init__(self, n_classes, width=16):
        super().__init__()

        def block(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        w = width
        self.features = nn.Sequential(*block(3, w), *block(w, w), nn.MaxPool2d(2),
                                      *block(w, 2 * w), *block(2 * w, 2 * w), nn.MaxPool2d(2),
                                      *block(2 * w, 4 * w), nn.MaxPool2d(2), *block(4 * w, 4 * w))
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * w, n_classes))

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def _augment(x, generator):
    """Random horizontal flips and shifts of up to 3 pixels (edge-padded)."""
    flip = torch.rand(x.shape[0], generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    padded = F.pad(x, (3, 3, 3, 3), mode="replicate")
    dx, dy = torch.randint(0, 7, (2,), generator=generator).tolist()
    return padded[:, :, dy:dy + x.shape[2], dx:dx + x.shape[3]]


def train_judge(emoji_train, n_examples, epochs, seed, vqgan=None, recon_share=0.5, width=16, log=print):
    """Trains a Judge on the training split; returns (judge, classes, stats)."""
    t0 = time.time()
    classes = list(items_by_group(emoji_train)) + [BACKGROUND]
    rng = random.Random(f"judge/{seed}")
    pictures, boxes, labels = render_examples(emoji_train, classes, n_examples, rng)
    n_recon = int(round(recon_share * n_examples)) if vqgan is not None else 0
    if n_recon:
        pictures[:n_recon] = reconstruct(vqgan, pictures[:n_recon])
    crops = np.stack([crop(p, b) for p, b in zip(pictures, boxes)])
    x, y = to_tensor(crops), torch.from_numpy(labels)
    t_data = time.time() - t0
    log(f"judge: {n_examples} training crops ({n_recon} through the VQGAN) in {t_data:.0f} s")

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    judge = Judge(len(classes), width)
    opt = torch.optim.AdamW(judge.parameters(), lr=2e-3, weight_decay=1e-4)
    batch = 64
    steps = max(1, epochs * ((len(x) + batch - 1) // batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    judge.train()
    step, correct, seen = 0, 0, 0
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        correct, seen, total = 0, 0, 0.0
        for k in range(0, len(x), batch):
            idx = order[k:k + batch]
            logits = judge(_augment(x[idx], generator))
            loss = F.cross_entropy(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            correct += (logits.argmax(1) == y[idx]).sum().item()
            seen += len(idx)
            total += loss.item() * len(idx)
        log(f"judge: epoch {epoch + 1}/{epochs}, loss {total / max(1, seen):.3f}, "
            f"train accuracy {correct / max(1, seen):.3f} ({time.time() - t0:.0f} s)")
    judge.eval()
    stats = {"classes": classes, "examples": int(n_examples), "reconstructed_share": n_recon / max(1, n_examples),
             "epochs": epochs, "train_accuracy_last_epoch": correct / max(1, seen),
             "seconds_data": round(t_data, 1), "seconds": round(time.time() - t0, 1)}
    return judge, classes, stats


@torch.no_grad()
def predict(judge, crops, batch=256):
    """Class indices and probabilities (n, classes) of crops (n, 32, 32, 3) uint8."""
    x = to_tensor(np.stack(crops))
    probs = torch.cat([F.softmax(judge(x[k:k + batch]), 1) for k in range(0, len(x), batch)])
    return probs.argmax(1).numpy(), probs.numpy()


def held_out_accuracy(judge, classes, emoji_held_out, n, seed, vqgan=None):
    """The judge's accuracy on n examples rendered from held-out emoji: {"original", "reconstructed"
    (through the VQGAN, when given), "per_class"} (groups absent from the held-out split are skipped)."""
    present = set(items_by_group(emoji_held_out)) | {BACKGROUND}
    rng = random.Random(f"judge-held-out/{seed}")
    usable = [c for c in classes if c in present]
    pictures, boxes, labels = render_examples(emoji_held_out, usable, n, rng)
    labels = np.array([classes.index(usable[k]) for k in labels])
    out = {"examples": int(n)}
    variants = {"original": pictures}
    if vqgan is not None:
        variants["reconstructed"] = reconstruct(vqgan, pictures)
    for name, pics in variants.items():
        pred, _ = predict(judge, [crop(p, b) for p, b in zip(pics, boxes)])
        out[name] = float((pred == labels).mean())
        if name == "original":
            out["per_class"] = {classes[c]: float((pred[labels == c] == c).mean())
                                for c in sorted(set(labels.tolist()))}
    return out
