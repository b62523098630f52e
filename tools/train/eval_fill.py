"""Masks, the two inpainting baselines and the masked-region metrics of tools/eval (numpy only).

Pictures are (h, w, 3) uint8 or float arrays in 0..255; masks are (h, w) bool, True = re-synthesize.

Baselines, both fill only the masked pixels and keep the others:
- mean fill: every hole pixel gets the mean colour of the hole's border (the unmasked pixels 4-adjacent to it);
- diffusion fill: the hole solves Laplace's equation with the border colours as boundary values (each hole
  pixel the mean of its 4 neighbours, the picture's edge mirrored), by red-black successive over-relaxation
  started from the mean fill. A linear gradient is harmonic, so this fill reproduces it exactly wherever the
  hole is enclosed by known pixels: a known property the tests check.
"""

import numpy as np

SIZE = 64
MASK_SHAPES = ("centre", "brush", "box", "half")


# ---------------------------------------------------------------------------------------------------
# masks

def centre_mask(size=SIZE, side=None):
    """A centred square covering a quarter of the picture (side size / 2)."""
    side = side or size // 2
    m = np.zeros((size, size), bool)
    a = (size - side) // 2
    m[a:a + side, a:a + side] = True
    return m


def brush_mask(rng, size=SIZE, strokes=(3, 5), width=(6, 11), steps=(8, 16)):
    """Random brush strokes: random walks of round dabs, as a user paints; rng is a random.Random."""
    m = np.zeros((size, size), bool)
    yy, xx = np.mgrid[0:size, 0:size]
    for _ in range(rng.randint(*strokes)):
        x, y = rng.uniform(8, size - 8), rng.uniform(8, size - 8)
        radius = rng.uniform(*width) / 2
        angle = rng.uniform(0, 2 * np.pi)
        for _step in range(rng.randint(*steps)):
            m |= (xx - x) ** 2 + (yy - y) ** 2 <= radius * radius
            angle += rng.uniform(-0.8, 0.8)
            x = float(np.clip(x + 4 * np.cos(angle), 0, size - 1))
            y = float(np.clip(y + 4 * np.sin(angle), 0, size - 1))
    return m


def box_mask(box, size=SIZE, grow=1):
    """A part's box (x, y, side) from data.render_scene, grown by `grow` pixels and clipped to the picture."""
    x, y, side = box
    m = np.zeros((size, size), bool)
    m[max(0, y - grow):min(size, y + side + grow), max(0, x - grow):min(size, x + side + grow)] = True
    return m


def half_mask(rng, size=SIZE):
    """The left, right, top or bottom half."""
    m = np.zeros((size, size), bool)
    side, h = rng.choice(("left", "right", "top", "bottom")), size // 2
    if side == "left":
        m[:, :h] = True
    elif side == "right":
        m[:, h:] = True
    elif side == "top":
        m[:h] = True
    else:
        m[h:] = True
    return m


def make_mask(shape, scene, rng, size=SIZE):
    """The mask of one shape for a scene (data.Scene); `box` masks the scene's largest visible part."""
    if shape == "centre":
        return centre_mask(size)
    if shape == "brush":
        return brush_mask(rng, size)
    if shape == "box":
        return box_mask(largest_part(scene, size)[1], size)
    if shape == "half":
        return half_mask(rng, size)
    raise ValueError(f"unknown mask shape {shape!r} (one of {', '.join(MASK_SHAPES)})")


def visible_area(box, size=SIZE):
    x, y, side = box
    return max(0, min(size, x + side) - max(0, x)) * max(0, min(size, y + side) - max(0, y))


def largest_part(scene, size=SIZE):
    """The part (index, box, caption) of a scene with the largest box inside the picture."""
    return max(scene.parts, key=lambda part: visible_area(part[1], size))


def gradient_picture(a, b, angle, size=SIZE):
    """A linear gradient from colour a to colour b along `angle` (radians), float64 in 0..255."""
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    s = np.cos(angle) * xx + np.sin(angle) * yy
    s = (s - s.min()) / (s.max() - s.min())
    return (1 - s[..., None]) * np.array(a, np.float64) + s[..., None] * np.array(b, np.float64)


# ---------------------------------------------------------------------------------------------------
# baselines

def border(mask):
    """Unmasked pixels 4-adjacent to the mask."""
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown & ~mask


def mean_fill(image, mask):
    out = image.astype(np.float64).copy()
    ring = border(mask)
    colour = out[ring].mean(0) if ring.any() else np.full(3, 127.5)
    out[mask] = colour
    return out


def diffusion_fill(image, mask, omega=1.9, tolerance=1e-3, max_iterations=3000):
    """Laplace fill by red-black SOR; returns (picture as float64, iterations run)."""
    out = mean_fill(image, mask)
    if not mask.any():
        return out, 0
    h, w = mask.shape
    parity = (np.add.outer(np.arange(h), np.arange(w)) % 2).astype(bool)
    colours = [mask & ~parity, mask & parity]
    for iteration in range(1, max_iterations + 1):
        largest = 0.0
        for sel in colours:
            padded = np.pad(out, ((1, 1), (1, 1), (0, 0)), mode="edge")
            neighbours = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]) / 4
            step = omega * (neighbours[sel] - out[sel])
            out[sel] += step
            if step.size:
                largest = max(largest, float(np.abs(step).max()))
        if largest < tolerance:
            return out, iteration
    return out, max_iterations


BASELINES = {"mean_fill": lambda image, mask: mean_fill(image, mask),
             "diffusion_fill": lambda image, mask: diffusion_fill(image, mask)[0]}


# ---------------------------------------------------------------------------------------------------
# metrics

def region_errors(result, truth, mask, bins=8):
    """Errors of `result` against `truth` over the masked pixels (0..255 scale): mse, psnr (dB, capped at
    100 for an exact match), mae, and hist: the total variation distance (0..1) between the colour histograms
    of the two regions (bins levels per channel)."""
    a = np.clip(np.round(np.asarray(result, np.float64)), 0, 255)[mask]
    b = np.asarray(truth, np.float64)[mask]
    if a.size == 0:
        raise ValueError("the mask is empty")
    mse = float(((a - b) ** 2).mean())
    psnr = 100.0 if mse < 1e-10 else min(100.0, 10 * np.log10(255.0 ** 2 / mse))
    return {"mse": mse, "psnr": float(psnr), "mae": float(np.abs(a - b).mean()),
            "hist": histogram_distance(a, b, bins)}


def histogram_distance(a, b, bins=8):
    """Total variation distance between the joint RGB histograms of two pixel lists (n, 3) in 0..255."""
    def hist(pixels):
        q = np.clip((pixels * bins / 256).astype(int), 0, bins - 1)
        index = (q[:, 0] * bins + q[:, 1]) * bins + q[:, 2]
        return np.bincount(index, minlength=bins ** 3) / len(index)
    return float(0.5 * np.abs(hist(a) - hist(b)).sum())


def psnr_image(result, truth):
    """PSNR (dB) and mean absolute error of a whole picture, 0..255 scale."""
    d = np.asarray(result, np.float64) - np.asarray(truth, np.float64)
    mse = float((d ** 2).mean())
    return (100.0 if mse < 1e-10 else min(100.0, 10 * np.log10(255.0 ** 2 / mse))), float(np.abs(d).mean())


def wilson(hits, n, z=1.96):
    """The Wilson score interval (95% by default) of a proportion hits / n."""
    if n == 0:
        return (0.0, 1.0)
    p = hits / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def mean_of(records, key):
    values = [r[key] for r in records]
    return float(np.mean(values)) if values else float("nan")
