"""tools/eval: measured quality of a text-conditioned model file on the HELD-OUT split (emoji never seen in
training, tools/train/data.py), reproducibly (fixed seeds, every engine call on one thread), through the
product's own path: the C tool `imagebart` (encode, decode, inpaint --seed).

1. reconstruction: held-out scenes through `imagebart encode` + `decode`; PSNR and mean absolute error
   (the PyTorch twin's VQGAN on the same pictures as a cross-check);
2. inpainting: held-out scenes under four mask shapes (centre square, brush strokes, one emoji's box, half
   the picture) with an empty prompt; error in the masked region against the truth for the model and for
   two baselines (mean-colour fill, diffusion fill; tools/train/eval_fill.py), and a grid of examples
   with every level;
3. text-guided replacement: one emoji of a held-out scene masked and re-made with (a) a prompt naming an
   emoji of a target group, (b) an empty prompt, (c) a prompt of another group, all with the same seed; a
   judge trained here on the training split (tools/train/eval_judge.py) says which group each edited region
   shows; reported: how often it is the target group, with 95% Wilson intervals;
4. prompt sensitivity: how far the target prompt moves each level's token distributions in those edits' holes
   from the empty prompt's (the PyTorch twin, teacher-forced on one noise draw), against how far another noise
   draw moves them: a model that ignores its prompt shows nothing here, whatever the judge makes of its pixels.

Writes report.json, report.md, grid-inpaint.png, grid-text.png and grid-reconstruction.png to --out.
"""

import argparse
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, TOOLS)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import common  # noqa: E402
import data  # noqa: E402
import eval_fill as fill  # noqa: E402
import eval_judge as judging  # noqa: E402
import eval_report  # noqa: E402
from imagebart import modelfile  # noqa: E402

REPO = os.path.dirname(TOOLS)
DEFAULT_MODEL = os.path.join(REPO, "data", "models", "default.safetensors")

# How many of each. A full run measured 461 s of CPU time with 8 judge epochs and 20% of its examples through
# the VQGAN (about 90 ms a picture on one core, the largest single cost); these sizes add about 180 s, which
# keeps the run within about 10 minutes on 2 cores (the engine calls run 2 at once).
SIZES = {
    "full": dict(reconstruction=64, inpaint_scenes=32, text_cases=64, judge_examples=6000, judge_epochs=12,
                 judge_recon_share=0.35, judge_held_out=400, grid_scenes=2, grid_text=8, sensitivity_cases=64),
    "quick": dict(reconstruction=3, inpaint_scenes=2, text_cases=3, judge_examples=200, judge_epochs=1,
                  judge_recon_share=0.2, judge_held_out=40, grid_scenes=1, grid_text=2, sensitivity_cases=2),
}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def default_cli():
    env = os.environ.get("IMAGEBART_CLI")
    if env:
        return env
    built = os.path.join(REPO, "build", "cli", "imagebart")
    return built if os.path.exists(built) else (shutil.which("imagebart") or built)


def load_png(path):
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def save_png(path, array):
    from PIL import Image
    Image.fromarray(np.asarray(array, np.uint8)).save(path)


class Engine:
    """The C tool on one model file. Every call runs on one thread (--threads 1, --backend cpu), so results do
    not depend on how many calls run at once (--jobs) or on the machine's GPU."""

    def __init__(self, cli, model, work, jobs, backend="cpu", sampling=()):
        if not os.path.exists(cli):
            raise SystemExit(f"tools/eval: the C tool {cli} does not exist; build it (ninja -C BUILD) and pass "
                             "--cli BUILD/cli/imagebart or set IMAGEBART_CLI")
        self.cli, self.model, self.work, self.jobs, self.backend = cli, model, work, jobs, backend
        self.sampling = list(sampling)      # inpaint options other than the model's defaults, e.g. --top-k 16
        self.calls = 0

    def _run(self, command, *args):
        argv = [self.cli, command, "--threads", "1", "--backend", self.backend, *args]
        proc = subprocess.run(argv, capture_output=True, text=True)
        self.calls += 1
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def map(self, fn, items):
        with ThreadPoolExecutor(self.jobs) as pool:
            return list(pool.map(fn, items))

    def reconstruct(self, picture, name):
        """(tokens (h*w,), picture) through `imagebart encode` and `imagebart decode`."""
        src, out = os.path.join(self.work, name + ".png"), os.path.join(self.work, name + "-rec.png")
        save_png(src, picture)
        tokens = [int(v) for v in self._run("encode", self.model, src).split()]
        self._run("decode", self.model, "--tokens", ",".join(map(str, tokens)), "--out", out)
        return np.array(tokens), load_png(out)

    def inpaint(self, picture, mask, prompt, seed, name, levels_dir=None, guidance=None):
        """The result of `imagebart inpaint --seed` (and, with levels_dir, its level pictures there; with
        guidance, `--guidance`, else the model's default)."""
        src, mask_path = os.path.join(self.work, name + ".png"), os.path.join(self.work, name + "-mask.png")
        out = os.path.join(self.work, name + "-out.png")
        save_png(src, picture)
        save_png(mask_path, mask.astype(np.uint8) * 255)
        args = [self.model, "--image", src, "--mask", mask_path, "--out", out, "--seed", str(seed),
                "--prompt", prompt]
        if levels_dir:
            args += ["--levels-dir", levels_dir]
        if guidance is not None:
            args += ["--guidance", f"{guidance:g}"]
        self._run("inpaint", *args, *self.sampling)
        return load_png(out)


def held_out_scenes(emoji, n, seed, tag, parts=None):
    """n scenes of held-out emoji from their own random stream (tag), the same on every run."""
    rng = random.Random(f"eval/{tag}/{seed}")
    return [data.render_scene(emoji, rng, n=rng.choice(parts) if parts else None) for _ in range(n)]


# ---------------------------------------------------------------------------------------------------
# 1. reconstruction

def eval_reconstruction(engine, twin, scenes):
    results = engine.map(lambda k: engine.reconstruct(scenes[k].image, f"rec{k}"), range(len(scenes)))
    truth = np.stack([s.image for s in scenes])
    c_pictures = np.stack([r[1] for r in results])
    per = [fill.psnr_image(p, t) for p, t in zip(c_pictures, truth)]
    mse = float(((c_pictures.astype(np.float64) - truth) ** 2).mean())
    out = {"pictures": len(scenes), "engine": "imagebart encode + decode (C, CPU)",
           "psnr_db": float(np.mean([p for p, _ in per])), "psnr_db_min": float(np.min([p for p, _ in per])),
           "psnr_of_mean_mse_db": float(10 * np.log10(255.0 ** 2 / max(mse, 1e-10))),
           "mae": float(np.mean([m for _, m in per]))}
    with torch.no_grad():
        tokens = twin.vqgan.encode(torch.from_numpy(truth).permute(0, 3, 1, 2).float() / 127.5 - 1)
    t_pictures = judging.reconstruct(twin.vqgan, truth)
    c_tokens = np.stack([r[0] for r in results])
    out["twin"] = {"psnr_db": float(np.mean([fill.psnr_image(p, t)[0] for p, t in zip(t_pictures, truth)])),
                   "token_agreement": float((tokens.reshape(len(scenes), -1).numpy() == c_tokens).mean())}
    return out, c_pictures


# ---------------------------------------------------------------------------------------------------
# 2. inpainting with mask shapes

def eval_inpainting(engine, scenes, seed, grid_scenes):
    rng = random.Random(f"eval/masks/{seed}")
    cases = []
    for k, scene in enumerate(scenes):
        for shape in fill.MASK_SHAPES:
            cases.append({"scene": k, "shape": shape, "mask": fill.make_mask(shape, scene, rng),
                          "seed": seed * 100000 + len(cases) + 1,
                          "levels_dir": (os.path.join(engine.work, f"levels-{k}-{shape}") if k < grid_scenes
                                         else None)})

    def run(case):
        return engine.inpaint(scenes[case["scene"]].image, case["mask"], "", case["seed"],
                              f"inp{case['scene']}-{case['shape']}", case["levels_dir"])

    model_results = engine.map(run, cases)
    records = {shape: {"model": [], **{b: [] for b in fill.BASELINES}} for shape in fill.MASK_SHAPES}
    outside_kept = 0
    for case, result in zip(cases, model_results):
        truth, mask = scenes[case["scene"]].image, case["mask"]
        case["model"] = result
        records[case["shape"]]["model"].append(fill.region_errors(result, truth, mask))
        outside_kept += bool(np.array_equal(result[~mask], truth[~mask]))
        for name, baseline in fill.BASELINES.items():
            case[name] = np.clip(np.round(baseline(truth, mask)), 0, 255).astype(np.uint8)
            records[case["shape"]][name].append(fill.region_errors(case[name], truth, mask))
    table = {}
    for shape, methods in records.items():
        table[shape] = {"cases": len(methods["model"]),
                        "mask_coverage": float(np.mean([c["mask"].mean() for c in cases if c["shape"] == shape]))}
        for method, recs in methods.items():
            table[shape][method] = {key: fill.mean_of(recs, key) for key in ("mse", "psnr", "mae", "hist")}
    out = {"scenes": len(scenes), "prompt": "", "seeds": [c["seed"] for c in cases], "by_shape": table,
           "unmasked_pixels_kept": {"cases": outside_kept, "of": len(cases)}}
    return out, cases


def gradient_check(seed):
    """The baselines on smooth gradient pictures (no emoji) under the centre and brush masks: the diffusion
    fill must beat the mean fill there (a known property; the test suite checks it)."""
    rng = random.Random(f"eval/gradients/{seed}")
    errors = {name: [] for name in fill.BASELINES}
    for _ in range(8):
        a, b = rng.sample(list(data.COLORS.values()), 2)
        picture = fill.gradient_picture(a, b, rng.uniform(0, 2 * np.pi))
        for mask in (fill.centre_mask(), fill.brush_mask(rng)):
            for name, baseline in fill.BASELINES.items():
                errors[name].append(fill.region_errors(baseline(picture, mask), picture, mask))
    return {name: {"mse": fill.mean_of(r, "mse"), "psnr": fill.mean_of(r, "psnr")} for name, r in errors.items()}


# ---------------------------------------------------------------------------------------------------
# 3. text-guided replacement

def text_cases(held_out, train, n, seed):
    """n edits: a held-out scene of 1-2 emoji, its largest part masked; a target group (not the part's own)
    named by an emoji of the training split, and a mismatched group (neither)."""
    names = judging.prompt_names(train)
    groups = list(names)
    rng = random.Random(f"eval/text/{seed}")
    scenes = held_out_scenes(held_out, n, seed, "text-scenes", parts=(1, 2))
    cases = []
    for k, scene in enumerate(scenes):
        index, box, _ = fill.largest_part(scene)
        own = judging.group_of(held_out.items[index])
        target = rng.choice([g for g in groups if g != own])
        other = rng.choice([g for g in groups if g not in (own, target)] or [g for g in groups if g != target])
        cases.append({"scene": scene, "box": box, "mask": fill.box_mask(box), "own_group": own,
                      "target": target, "mismatched": other, "seed": seed * 100000 + 50000 + k,
                      "prompts": {"target": rng.choice(names[target]), "empty": "",
                                  "mismatched": rng.choice(names[other])}})
    return cases


def eval_text(engine, judge, classes, cases, guidance):
    jobs = [(k, kind) for k in range(len(cases)) for kind in ("target", "empty", "mismatched")]

    def run(job):
        k, kind = job
        case = cases[k]
        return engine.inpaint(case["scene"].image, case["mask"], case["prompts"][kind], case["seed"],
                              f"text{k}-{kind}", guidance=guidance)

    results = engine.map(run, jobs)
    crops = [judging.crop(result, cases[k]["box"]) for (k, _), result in zip(jobs, results)]
    predicted, _ = judging.predict(judge, crops)
    for (k, kind), result, p in zip(jobs, results, predicted):
        cases[k].setdefault("results", {})[kind] = result
        cases[k].setdefault("judged", {})[kind] = classes[p]
    original, _ = judging.predict(judge, [judging.crop(c["scene"].image, c["box"]) for c in cases])

    n = len(cases)
    out = {"cases": n, "guidance": guidance, "judge_classes": classes, "by_prompt": {}}
    for kind in ("target", "empty", "mismatched"):
        hits = sum(c["judged"][kind] == c["target"] for c in cases)
        counts = {}
        for c in cases:
            counts[c["judged"][kind]] = counts.get(c["judged"][kind], 0) + 1
        out["by_prompt"][kind] = {"target_group_hits": hits, "rate": hits / max(1, n),
                                  "ci95": fill.wilson(hits, n), "judged": dict(sorted(counts.items()))}
    own = sum(c["judged"]["mismatched"] == c["mismatched"] for c in cases)
    out["mismatched_prompt_own_group"] = {"hits": own, "rate": own / max(1, n), "ci95": fill.wilson(own, n)}
    a = [c["judged"]["target"] == c["target"] for c in cases]
    b = [c["judged"]["empty"] == c["target"] for c in cases]
    out["paired_target_vs_empty"] = {"target_only": sum(x and not y for x, y in zip(a, b)),
                                     "empty_only": sum(y and not x for x, y in zip(a, b))}
    out["original_region_judged_target"] = int(sum(classes[p] == c["target"] for p, c in zip(original, cases)))
    out["examples"] = [{"target": c["target"], "own_group": c["own_group"], "seed": c["seed"],
                        "prompts": c["prompts"], "judged": c["judged"]} for c in cases]
    return out


def prompt_sensitivity(twin, cases, seed):
    """Per level t: the mean KL (nats) over the hole's tokens between the level's distributions with the
    target prompt and with the empty prompt, both on the same x_t (x0 outside the hole; inside, x0 kept with
    the probability x_t keeps it, else a uniform token), teacher-forced on x_t; and, for scale, the KL between
    two draws of that noise with the target prompt."""
    from imagebart import tokenizer as tk

    tok = tk.Tokenizer.from_config(twin.conditioning)
    offset = twin.conditioning["token_offset"]
    side = twin.token_shape[0]
    keep = 1.0
    out = {}
    for t in range(1, twin.n_levels + 1):
        keep *= 1 - twin.betas[t]
        transformer = twin.transformer(t)
        by_prompt, by_noise = [], []
        for k, case in enumerate(cases):
            x = torch.from_numpy(np.ascontiguousarray(case["scene"].image)).permute(2, 0, 1).float()[None] / 127.5 - 1
            with torch.no_grad():
                x0 = twin.vqgan.encode(x).reshape(1, -1)
            patch = case["mask"].shape[0] // side
            hole = torch.from_numpy(case["mask"].reshape(side, patch, side, patch).any(axis=(1, 3)).reshape(1, -1))

            def log_probs(prompt, draw):
                gen = torch.Generator().manual_seed(seed * 1000003 + k * 7 + draw)
                kept = torch.rand(x0.shape, generator=gen) < keep
                x_t = torch.where(hole & ~kept, torch.randint(0, twin.n_codes, x0.shape, generator=gen), x0)
                src = torch.cat([torch.tensor([[t]]), torch.tensor([tok.encode(prompt)]) + offset, x_t], 1)
                tgt = torch.cat([torch.zeros(1, 1, dtype=torch.long), x_t[:, :-1]], 1)
                with torch.no_grad():
                    return torch.log_softmax(transformer(src, tgt).float(), -1)[hole]

            target = log_probs(case["prompts"]["target"], 0)
            empty, other_draw = log_probs("", 0), log_probs(case["prompts"]["target"], 1)
            by_prompt.append((target.exp() * (target - empty)).sum(-1).mean().item())
            by_noise.append((target.exp() * (target - other_draw)).sum(-1).mean().item())
        out[f"level{t}"] = {"kl_target_vs_empty_prompt": float(np.mean(by_prompt)),
                            "kl_between_noise_draws": float(np.mean(by_noise))}
    return {"cases": len(cases), "levels": out}


def judge_key(args, sizes, vqgan):
    """What a judge depends on: the VQGAN's weights (a share of its crops go through them), data, seed, sizes."""
    judge_sizes = {k: v for k, v in sizes.items() if k.startswith("judge_")}
    digest = hashlib.sha256(json.dumps([args.seed, judge_sizes, args.synthetic_data, args.cache]).encode())
    for name, tensor in sorted(vqgan.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cached_judge(args, sizes, train, held_out, vqgan):
    """(judge, classes, stats): from --judge-cache when it holds one for the same key, else trained (and kept)."""
    key = judge_key(args, sizes, vqgan)
    if args.judge_cache and os.path.exists(args.judge_cache):
        cached = common.load_run_file(args.judge_cache)
        if cached.get("key") == key:
            judge = judging.Judge(len(cached["classes"]), cached["width"])
            judge.load_state_dict(cached["state_dict"])
            log(f"eval: judge from {args.judge_cache}")
            return judge.eval(), cached["classes"], cached["stats"]
    judge, classes, stats = judging.train_judge(train, sizes["judge_examples"], sizes["judge_epochs"], args.seed,
                                                vqgan, sizes["judge_recon_share"], log=log)
    stats["held_out"] = judging.held_out_accuracy(judge, classes, held_out, sizes["judge_held_out"], args.seed, vqgan)
    if args.judge_cache:
        torch.save({"key": key, "state_dict": judge.state_dict(), "width": judge.head[1].in_features // 4,
                    "classes": classes, "stats": stats}, args.judge_cache)
    return judge, classes, stats


# ---------------------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(prog="tools/eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="the model file (default: data/models/default.safetensors)")
    p.add_argument("--out", required=True, help="the report folder (created)")
    p.add_argument("--quick", action="store_true", help="a few pictures and a tiny judge (the test suite)")
    p.add_argument("--cache", default=data.default_cache(), help="the data cache of tools/train/data.py")
    p.add_argument("--synthetic-data", action="store_true", help="the synthetic blobs of the training smoke test")
    p.add_argument("--cli", default=default_cli(), help="the C tool (default: $IMAGEBART_CLI or build/cli/imagebart)")
    p.add_argument("--jobs", type=int, default=2, help="engine calls at once (each on one thread)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads of the judge and the twin (more than 1 only helps on an idle machine)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep-work", action="store_true", help="keep every picture, mask and result in OUT/work")
    p.add_argument("--text-cases", type=int, help="held-out scenes of the text-guided replacement (default 64; "
                                                  "more narrow the intervals: each costs 3 engine calls a guidance)")
    p.add_argument("--judge-cache", help="keep the trained judge in this file and reuse it while the model's VQGAN, "
                                         "the data, the seed and the sizes stay the same (a judge takes minutes)")
    p.add_argument("--guidance", help="comma-separated guidance values for the text-guided replacement (default: "
                                      "the model's, and 1 when that is not 1); the first is the main result")
    p.add_argument("--top-k", help="`imagebart inpaint --top-k` for every edit (a value per level, top first), "
                                   "instead of the model's defaults")
    p.add_argument("--temperature", help="`imagebart inpaint --temperature` for every edit, as --top-k")
    p.add_argument("--chain", help="`imagebart inpaint --chain` (passes per level) for every edit, as --top-k")
    args = p.parse_args(argv)
    sizes = dict(SIZES["quick" if args.quick else "full"])
    if args.text_cases:
        sizes["text_cases"] = args.text_cases
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.time()
    timings = {}

    if args.synthetic_data:
        train, held_out = data.EmojiSet.synthetic(seed=0), data.EmojiSet.synthetic(seed=1)
    else:
        train, held_out = data.EmojiSet.load(args.cache, "train"), data.EmojiSet.load(args.cache, "held_out")
    twin = modelfile.load_model(args.model)
    config = modelfile.read_config(args.model)
    if twin.conditioning.get("kind") != "text":
        raise SystemExit(f"tools/eval: {args.model} is not a text-conditional model")
    model_guidance = float(twin.conditioning.get("guidance", 1.0))
    guidances = ([float(g) for g in args.guidance.split(",")] if args.guidance
                 else [model_guidance] + ([1.0] if model_guidance != 1.0 else []))
    os.makedirs(args.out, exist_ok=True)
    work = os.path.join(args.out, "work") if args.keep_work else tempfile.mkdtemp(prefix="ib-eval-")
    os.makedirs(work, exist_ok=True)
    sampling = [option for name, value in (("--top-k", args.top_k), ("--temperature", args.temperature),
                                           ("--chain", args.chain)) if value for option in (name, value)]
    engine = Engine(args.cli, args.model, work, args.jobs, sampling=sampling)
    report = {"model": {"path": os.path.abspath(args.model), "name": config.get("name", ""),
                        "size_bytes": os.path.getsize(args.model), "levels": twin.n_levels, "codes": twin.n_codes},
              "mode": "quick" if args.quick else "full", "seed": args.seed, "sizes": sizes,
              "top_k": args.top_k or "the model's", "temperature": args.temperature or "the model's",
              "chain": args.chain or "1",
              "data": "synthetic" if args.synthetic_data else "held-out split of tools/train/data.py",
              "held_out": {"pictures": len(held_out), "emoji": len({i.identity for i in held_out.items})},
              "command": "tools/eval " + " ".join(argv if argv is not None else sys.argv[1:])}
    try:
        t = time.time()
        scenes = held_out_scenes(held_out, sizes["reconstruction"], args.seed, "reconstruction")
        report["reconstruction"], rec_pictures = eval_reconstruction(engine, twin, scenes)
        timings["reconstruction"] = time.time() - t
        log(f"eval: reconstruction PSNR {report['reconstruction']['psnr_db']:.2f} dB "
            f"({timings['reconstruction']:.0f} s)")

        t = time.time()
        inpaint_scenes = held_out_scenes(held_out, sizes["inpaint_scenes"], args.seed, "inpainting")
        report["inpainting"], cases = eval_inpainting(engine, inpaint_scenes, args.seed, sizes["grid_scenes"])
        report["baselines_on_gradients"] = gradient_check(args.seed)
        timings["inpainting"] = time.time() - t
        log(f"eval: inpainting, {len(cases)} edits ({timings['inpainting']:.0f} s)")

        t = time.time()
        judge, classes, judge_stats = cached_judge(args, sizes, train, held_out, twin.vqgan)
        timings["judge"] = time.time() - t
        log(f"eval: judge trained, held-out accuracy {judge_stats['held_out']['original']:.3f} "
            f"({timings['judge']:.0f} s)")

        t = time.time()
        report["text_by_guidance"] = []
        for g in reversed(guidances):  # the main result last, so that tcases hold its pictures for the grid
            tcases = text_cases(held_out, train, sizes["text_cases"], args.seed)
            result = eval_text(engine, judge, classes, tcases, g)
            report["text_by_guidance"].insert(0, {k: result[k] for k in ("guidance", "cases", "by_prompt",
                                                                         "mismatched_prompt_own_group",
                                                                         "paired_target_vs_empty")})
        report["text"] = result
        report["text"]["judge"] = judge_stats
        report["prompt_sensitivity"] = prompt_sensitivity(twin, tcases[:sizes["sensitivity_cases"]], args.seed)
        timings["text"] = time.time() - t
        log(f"eval: text-guided replacement, {len(tcases)} cases x 3 prompts x {len(guidances)} guidance values "
            f"({timings['text']:.0f} s)")

        eval_report.write_grids(args.out, scenes, rec_pictures, inpaint_scenes, cases, tcases,
                                sizes["grid_scenes"], sizes["grid_text"], twin.n_levels)
    finally:
        if not args.keep_work:
            shutil.rmtree(work, ignore_errors=True)
    timings["total"] = time.time() - t0
    report["engine_calls"] = engine.calls
    report["seconds"] = {k: round(v, 1) for k, v in timings.items()}
    with open(os.path.join(args.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1, sort_keys=True)
    with open(os.path.join(args.out, "report.md"), "w") as f:
        f.write(eval_report.markdown(report))
    log(f"eval: wrote {args.out}/report.json, report.md and the grids in {timings['total']:.0f} s "
        f"({engine.calls} engine calls, {args.jobs} at once)")
    return report


if __name__ == "__main__":
    main()
