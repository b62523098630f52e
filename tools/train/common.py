"""What every training stage shares: torch.distributed set-up, the run folder with its log and checkpoints,
a progress bar, and the scene batches.

Run a stage on one process (`/usr/bin/python3 tools/train/train_vqgan.py ...`) or on many through torchrun
(`torchrun --nproc_per_node N tools/train/train_vqgan.py ...`, or across machines with --nnodes and a
rendezvous): with WORLD_SIZE > 1 the stage joins a process group (NCCL on GPUs, gloo on CPUs), wraps its
networks in DistributedDataParallel and each rank draws its own scenes; the batch size is per rank.
Only rank 0 writes logs and checkpoints.

A run folder holds `<stage>.log.jsonl` (one line per logged step), `<stage>.ckpt` (the latest checkpoint:
weights, optimizer states, step, random states; resumed from automatically) and the finished weights
(`<stage>.final.pt`, no optimizer states). Run folders and data live outside git.
"""

import json
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # tools/, for the imagebart twin

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import data  # noqa: E402


def default_run_dir():
    return os.environ.get("IMAGEBART_TRAIN_RUNS") or os.path.join(
        os.path.expanduser("~"), ".cache", "imagebart-studio", "train-runs", "default")


def add_common_args(p):
    p.add_argument("--run-dir", default=default_run_dir(), help="the run folder (checkpoints, logs, weights)")
    p.add_argument("--cache", default=data.default_cache(), help="the data cache of tools/train/data.py")
    p.add_argument("--synthetic-data", action="store_true", help="random blobs instead of emoji (tests)")
    p.add_argument("--steps", type=int, help="train until this step")
    p.add_argument("--batch", type=int, help="scenes per step and rank")
    p.add_argument("--lr", type=float)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads per rank (0: cores / ranks)")
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    p.add_argument("--tiny", action="store_true", help="tiny networks (smoke tests)")
    p.add_argument("--minutes", type=float, default=0,
                   help="time budget: after a few steps, set --steps so that the stage ends in this many minutes "
                        "(kept when the run resumes)")
    p.add_argument("--extend", action="store_true",
                   help="train a stage further than its checkpoint: --steps more steps, or as many as fit "
                        "--minutes from now, with a new learning-rate warm-up and cosine cycle (an interrupted "
                        "extension resumes without --extend)")


class Dist:
    """rank, world size, device; all_reduce helpers that are no-ops on one process."""

    def __init__(self, threads=0):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
        if torch.cuda.is_available():
            self.device = torch.device("cuda", local)
            torch.cuda.set_device(self.device)
            torch.backends.cuda.matmul.allow_tf32 = True  # float32 weights, TensorFloat-32 products
            torch.backends.cudnn.allow_tf32 = True
        else:
            self.device = torch.device("cpu")
        if self.world > 1:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        if self.device.type == "cpu":
            cores = int(os.environ.get("IMAGEBART_TRAIN_CORES", os.cpu_count() or 2))
            torch.set_num_threads(threads or max(1, cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE",
                                                                                       self.world)))))

    @property
    def main(self):
        return self.rank == 0

    def wrap(self, module):
        if self.world == 1:
            return module
        from torch.nn.parallel import DistributedDataParallel
        return DistributedDataParallel(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)

    def mean(self, value):
        t = torch.as_tensor(value, dtype=torch.float64, device=self.device).clone()
        if self.world > 1:
            dist.all_reduce(t)
            t /= self.world
        return t

    def sum_(self, tensor):
        if self.world > 1:
            dist.all_reduce(tensor)
        return tensor

    def broadcast_(self, tensor):
        if self.world > 1:
            dist.broadcast(tensor, 0)
        return tensor

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def close(self):
        if self.world > 1:
            dist.destroy_process_group()


def unwrap(module):
    return module.module if hasattr(module, "module") else module


def load_emoji(args, split="train"):
    if args.synthetic_data:
        return data.EmojiSet.synthetic(seed=0 if split == "train" else 1)
    return data.EmojiSet.load(args.cache, split)


class SceneBatches:
    """Endless batches of scenes for one rank: (images (b, 3, 64, 64) in [-1, 1], captions)."""

    def __init__(self, emoji, batch, seed, rank, step=0):
        self.emoji, self.batch = emoji, batch
        # Every (seed, rank, step) gets its own scenes, so a resumed run does not replay the same ones.
        self.rng = random.Random(f"{seed}/{rank}/{step}")

    def next(self, device):
        images, scenes = self.next_scenes(device)
        return images, [s.caption for s in scenes]

    def next_scenes(self, device):
        """(images, the data.Scene of each)."""
        images, scenes = self.next_pixels()
        return to_unit_range(images.to(device)), scenes

    def next_pixels(self):
        """(images (b, 3, 64, 64) uint8 on the CPU, the data.Scene of each without its image): what a
        loader worker sends, a quarter of the floats' bytes."""
        scenes = [data.render_scene(self.emoji, self.rng) for _ in range(self.batch)]
        images = torch.from_numpy(np.stack([s.image for s in scenes])).permute(0, 3, 1, 2)
        for scene in scenes:
            scene.image = None
        return images, scenes


class ScenePixels(torch.utils.data.IterableDataset):
    """Endless batches of scene pixels ((b, 3, 64, 64) uint8) drawn on the CPU. Under a DataLoader with workers
    (scene_loader) each worker draws its own scenes, its own stream of the rank, so that drawing keeps up with
    a GPU; without workers the stream is the rank's own, the same as SceneBatches'."""

    def __init__(self, emoji, batch, seed, rank, step):
        super().__init__()
        self.emoji, self.batch, self.seed, self.rank, self.step = emoji, batch, seed, rank, step

    def stream(self):
        """The stream's name (the rank, or rank.worker) and its SceneBatches."""
        worker = torch.utils.data.get_worker_info()
        name = f"{self.rank}" if worker is None else f"{self.rank}.{worker.id}"
        if worker is not None:
            torch.set_num_threads(1)
        return name, SceneBatches(self.emoji, self.batch, self.seed, name, self.step)

    def __iter__(self):
        _, batches = self.stream()
        while True:
            yield batches.next_pixels()[0]


def scene_loader(dataset, workers, device):
    """An endless iterator over a ScenePixels-like dataset's batches, drawn by `workers` processes (0: this
    one), pinned for a copy to the GPU."""
    kwargs = dict(num_workers=workers, persistent_workers=True, prefetch_factor=4) if workers else {}
    return iter(torch.utils.data.DataLoader(dataset, batch_size=None, pin_memory=device.type == "cuda", **kwargs))


def add_loader_args(p):
    p.add_argument("--loader-workers", type=int, default=0,
                   help="processes drawing the scenes (0: the training process itself; on a GPU, enough to feed it)")


def to_unit_range(pixels):
    """uint8 pixels -> floats in [-1, 1], the networks' input."""
    return pixels.float() / 127.5 - 1


class Progress:
    """A progress bar on stderr (rank 0): step, rate, time left, the latest losses."""

    def __init__(self, stage, start, total, enabled=True):
        self.stage, self.start, self.total, self.enabled = stage, start, total, enabled
        self.t0 = time.time()
        self.tty = sys.stderr.isatty()
        self.last_print = 0.0

    def update(self, step, values):
        if not self.enabled:
            return
        now = time.time()
        done = step - self.start
        rate = (now - self.t0) / max(1, done)
        left = rate * (self.total - step)
        frac = step / max(1, self.total)
        bar = "#" * int(24 * frac) + "-" * (24 - int(24 * frac))
        text = (f"{self.stage} [{bar}] {step}/{self.total} {rate:.2f}s/step, {left / 60:.1f} min left  "
                + " ".join(f"{k} {v:.4f}" for k, v in values.items()))
        if self.tty:
            sys.stderr.write("\r" + text[:160].ljust(160))
            if step >= self.total:
                sys.stderr.write("\n")
        elif now - self.last_print > 30 or step >= self.total or done == 1:
            sys.stderr.write(text + "\n")
            self.last_print = now
        sys.stderr.flush()


class Run:
    """The run folder of one stage: log lines, checkpoints, final weights (rank 0 writes)."""

    def __init__(self, run_dir, stage, dist_):
        self.dir, self.stage, self.dist = run_dir, stage, dist_
        if dist_.main:
            os.makedirs(run_dir, exist_ok=True)
        self.ckpt_path = os.path.join(run_dir, f"{stage}.ckpt")
        self.final_path = os.path.join(run_dir, f"{stage}.final.pt")
        self.log_path = os.path.join(run_dir, f"{stage}.log.jsonl")

    def log(self, record):
        if self.dist.main:
            with open(self.log_path, "a") as f:
                f.write(json.dumps(record) + "\n")

    def _save(self, obj, path):
        if self.dist.main:
            torch.save(obj, path + ".part")
            os.replace(path + ".part", path)

    def save_checkpoint(self, state):
        self._save(state, self.ckpt_path)
        self.dist.barrier()

    def load_checkpoint(self, no_resume):
        if no_resume or not os.path.exists(self.ckpt_path):
            return None
        return load_run_file(self.ckpt_path)

    def save_final(self, state):
        self._save(state, self.final_path)
        self.dist.barrier()


class StepBudget:
    """--minutes: times steps start+1 .. start+1+warm of this process (the first step is slow), then fixes
    args.steps so that the stage, counted from `t_begin`, ends within the budget; `settle` steps later it
    measures again and fixes args.steps once more (the first steps can run fast on a loader's queue filled
    in advance, or slow while caches warm up). The fixed number is saved in the checkpoint's args, and a
    resumed run keeps it. A step that takes over PAUSE_FACTOR times the window's median counts as a median
    step: the process was stopped or the machine suspended, and the time beyond is neither training's rate nor
    spent budget (so a pause while it measures does not cut the stage short; a checkpoint's write, a step or
    two long, still counts).

    --extend: the run goes on past a finished checkpoint at step `start`; args.phase_start = start marks where
    the new learning-rate cycle begins (phase_lr), and is kept by a run that resumes the extension."""

    def __init__(self, args, dist_, start, t_begin, resumed_args=None, warm=5, settle=200):
        self.args, self.dist, self.t_begin = args, dist_, t_begin
        args.phase_start = resumed_args.get("phase_start", 0) if resumed_args else 0
        if args.extend:
            if resumed_args is None:
                raise SystemExit("--extend needs a checkpoint of the stage in the run folder")
            args.phase_start = start
            if not args.minutes:
                args.steps = start + args.steps
            args.steps_fixed = not args.minutes
        elif args.minutes and resumed_args and resumed_args.get("steps_fixed"):
            args.steps, args.steps_fixed = resumed_args["steps"], True
        else:
            args.steps_fixed = not args.minutes
        # The steps after which to measure the rate (from the step before): none when the number is fixed.
        self.marks = [] if args.steps_fixed else [start + 1 + warm, start + 1 + warm + settle]
        self.timed = bool(self.marks)
        # The window of timed steps starts after step window_start; previous: when the last step ended.
        self.window_start, self.durations, self.previous, self.paused = start + 1, [], None, 0.0

    def costlier_after(self, step, count=50):
        """Call after finishing `step` when the steps after it cost more (the VQGAN's adversarial phase, which
        starts after the rate was measured): times `count` of them and fixes args.steps again, so that the stage
        still ends within its budget."""
        if self.timed and step + count < self.args.steps:
            self.start_window(step, time.time())
            self.marks = sorted([m for m in self.marks if m > step] + [step + count])

    PAUSE_FACTOR = 10

    def start_window(self, step, now):
        self.window_start, self.durations, self.previous = step, [], now

    def window_rate(self):
        """The mean step of the window, a step over PAUSE_FACTOR times the median counted as a median step and
        a pause; the pauses are added to self.paused."""
        median = float(np.median(self.durations))
        paused = [d - median for d in self.durations if d > self.PAUSE_FACTOR * median]
        self.paused += sum(paused)
        return (sum(self.durations) - sum(paused)) / len(self.durations)

    def after_step(self, step):
        """Call after finishing `step` (1-based count); True when args.steps changed."""
        if not self.marks:
            return False
        now = time.time()
        if step == self.window_start:
            self.start_window(step, now)
        elif self.previous is not None:
            self.durations.append(now - self.previous)
            self.previous = now
        if step != self.marks[0]:
            return False
        rate = self.dist.mean(self.window_rate()).item()
        left = self.args.minutes * 60 - self.dist.mean(now - self.t_begin - self.paused).item()
        self.args.steps = max(step + 1, step + int(left / rate))
        self.args.steps_fixed = True
        self.start_window(step, now)
        self.marks = [m for m in self.marks[1:] if m < self.args.steps]
        if self.dist.main:
            print(f"\n{rate:.3f} s/step: training {self.args.steps} steps to fit {self.args.minutes:g} minutes",
                  file=sys.stderr, flush=True)
        return True


def load_run_file(path):
    """A checkpoint or final weights these tools wrote (a run folder's, the eval's judge), onto the CPU. Their
    dicts hold settings and logs beside the tensors, which PyTorch 2.6 and later refuse to unpickle by default
    (weights_only): said explicitly, every PyTorch reads them the same way. Never for files from elsewhere
    (model files go through tools/imagebart/safeload.py)."""
    return torch.load(path, map_location="cpu", weights_only=False)


def random_state():
    return {"python": random.getstate(), "torch": torch.get_rng_state()}


def cosine_lr(step, total, base, warmup):
    if step < warmup:
        return base * (step + 1) / warmup
    frac = (step - warmup) / max(1, total - warmup)
    # A Python float: it lands in the optimizers' state, and so in the checkpoints.
    return float(base * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * min(1.0, frac)))))


def phase_lr(args, step, max_warmup):
    """The learning rate of `step`: a warm-up, then a cosine down to a tenth, over the current phase (the
    whole run, or an --extend from args.phase_start on)."""
    done, total = step - args.phase_start, args.steps - args.phase_start
    return cosine_lr(done, total, args.lr, warmup=min(max_warmup, total // 10 + 1))


def set_lr(optimizer, lr):
    for group in optimizer.param_groups:
        group["lr"] = lr
