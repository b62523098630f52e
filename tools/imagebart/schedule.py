"""Noise schedules: beta_0..beta_T of the forward process, computed exactly as the reference
(imagebart/models/diffusion.py set_noise_schedule and imagebart/modules/betas.py load_betas) computes
them, including its float32 rounding, so that alpha_t = 1 - beta_t matches bit for bit.

The model file stores the numbers, so this runs once, at conversion time.
"""

import os

import numpy as np
import torch

from .safeload import load_schedule_pickle


class ScheduleError(ValueError):
    pass


def geometric(n_levels):
    """beta_t = 1 / (T - t + 1): torch.cat([0.], 1 / arange(T, 0, -1)) in float32."""
    return torch.cat((torch.tensor([0.0]), 1.0 / torch.arange(n_levels, 0, -1))).float()


def from_alphacum(spec, n_levels):
    """"alphacum:a0,a1,..." -> beta_t = 1 - a_t / a_{t-1}, beta_0 = 0 (python floats, then float32)."""
    try:
        alphacum = [float(a) for a in spec[len("alphacum:"):].split(",")]
    except ValueError:
        raise ScheduleError(f"cannot parse {spec!r}") from None
    alpha = [1.0] + [at / atmo for at, atmo in zip(alphacum[1:], alphacum[:-1])]
    betas = torch.tensor([1 - a for a in alpha])
    if len(betas) != n_levels + 1:
        raise ScheduleError(f"{spec!r} gives {len(betas) - 1} levels, the model has {n_levels}")
    return betas


def _find_roots(x, y):
    """Where the piecewise-linear curve y(x) crosses zero (same interpolation as the reference)."""
    s = np.abs(np.diff(np.sign(y))).astype(bool)
    with np.errstate(divide="ignore", invalid="ignore"):  # a crossing exactly on a sample: ratio inf
        return x[:-1][s] + np.diff(x)[s] / (np.abs(y[1:][s] / y[:-1][s]) + 1)


def metric_betas(table, dist, metric, n_steps):
    """Betas whose levels are equidistant in `metric` (reference load_betas, float32 result)."""
    try:
        alphacum = np.array(table[dist]["alphacum"], dtype=np.float64)
        values = np.array(table[dist][metric], dtype=np.float64)[:, 0]
    except (KeyError, TypeError, IndexError, ValueError) as e:
        raise ScheduleError(f"schedule table has no usable {dist}/{metric} entry ({e})") from None
    equi = []
    for val in np.linspace(values.min(), values.max(), n_steps):
        roots = _find_roots(alphacum, values - val)
        if len(roots) == 0:
            raise ScheduleError(f"schedule table: no alphacum reaches {metric} = {val}")
        equi.append(roots[0])
    equi = np.array(equi)
    betas = np.concatenate((np.array([0.0]), 1 - equi[1:] / equi[:-1]))
    return torch.from_numpy(betas.astype(np.float32))


def parse_metric_name(name):
    """"bernoulli_PSIM" -> ("in", "bernoulli", "PSIM"); "ffhq_bernoulli_PSIM" -> ("ffhq", ...)."""
    parts = name.split("_")
    if len(parts) == 2:
        return ("in",) + tuple(parts)
    if len(parts) == 3:
        return tuple(parts)
    raise ScheduleError(f"schedule {name!r}: expected <dist>_<metric> or <dset>_<dist>_<metric>")


def schedule_table_path(root, name):
    dset, _, _ = parse_metric_name(name)
    return os.path.join(root, "data", f"{dset}_schedule_vs_metric.p")


def compute_betas(redraw_prob, n_levels, root=None):
    """betas[0..T] (float32 tensor) for the config's redraw_prob. Metric schedules read
    <root>/data/<dset>_schedule_vs_metric.p through the restricted unpickler."""
    if isinstance(redraw_prob, bool):
        raise ScheduleError(f"unsupported redraw_prob {redraw_prob!r}")
    if isinstance(redraw_prob, (int, float)):
        return torch.cat((torch.tensor([0.0]), redraw_prob * torch.ones(n_levels))).float()
    if not isinstance(redraw_prob, str):
        raise ScheduleError(f"unsupported redraw_prob {redraw_prob!r}")
    if redraw_prob == "geometric":
        return geometric(n_levels)
    if redraw_prob.startswith("alphacum:"):
        return from_alphacum(redraw_prob, n_levels)
    _, dist, metric = parse_metric_name(redraw_prob)
    if root is None:
        raise ScheduleError(f"schedule {redraw_prob!r} needs the release root for its table")
    path = schedule_table_path(root, redraw_prob)
    if not os.path.isfile(path):
        raise ScheduleError(f"schedule {redraw_prob!r} needs {path}, which does not exist")
    return metric_betas(load_schedule_pickle(path), dist, metric, n_levels + 1)


def check_betas(betas):
    """The model-file contract: betas[0] = 0, 0 < betas[t] <= 1."""
    b = [float(x) for x in betas]
    if len(b) < 2 or b[0] != 0.0 or not all(0.0 < x <= 1.0 for x in b[1:]):
        raise ScheduleError(f"betas must be 0 followed by T values in (0, 1], got {b}")
    return b


def alphas(betas):
    """alpha_t = 1 - beta_t in float32, as the reference's buffers and set_alphas hold them."""
    return 1.0 - torch.as_tensor(betas, dtype=torch.float32)
