#!/usr/bin/python3
"""Trains the default model from nothing: data, VQGAN, decoder, transformer, model file.

    /usr/bin/python3 tools/train/train_all.py --nproc 2 --out data/models/default.safetensors

runs, in order (the training stages by time budget by default: after a few steps each fixes its number of
steps to end within --vqgan-minutes / --decoder-minutes / --transformer-minutes; each step is skipped when
its result exists, and a stage resumes from its checkpoint, so the same command continues an interrupted run):
 1. tools/train/data.py fetch + build          (npm packages -> <cache>/emoji.npz; skipped when that exists)
 2. tools/train/train_vqgan.py                 (-> <run-dir>/vqgan.final.pt)
 3. tools/train/train_decoder.py               (-> <run-dir>/decoder.final.pt: the decoder alone trained further
                                                 on the finished tokenizer; --decoder-minutes 0 skips it)
 4. tools/train/train_transformer.py           (-> <run-dir>/transformer.final.pt; --per-level: one per level)
 5. tools/train/export.py                      (-> --out, f16)
With --vqgan MODEL the tokenizer of a model file is kept (stages 2 and 3 skipped): a new transformer for it.
--stop-after ends the run after a stage, so that a run can be split over machines or calls (what the run
folder holds is picked up again). Stages 2 to 4 run on --nproc local processes (tools/train/launch.py;
torch.distributed with gloo on CPUs, NCCL on GPUs). Other options are passed to every training stage (--batch,
--seed, --threads, ...); --vqgan-args, --decoder-args, --transformer-args and --export-args to one of them.
"""

import argparse
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import data  # noqa: E402
from common import default_run_dir  # noqa: E402
from launch import launch  # noqa: E402

STAGES = ("vqgan", "decoder", "transformer")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nproc", type=int, default=1, help="training processes (ranks) on this machine")
    p.add_argument("--run-dir", default=default_run_dir())
    p.add_argument("--cache", default=data.default_cache())
    p.add_argument("--out", help="the model file to write (needed unless --stop-after ends the run before it)")
    p.add_argument("--vqgan", help="keep this model file's tokenizer (VQGAN and decoder): train a transformer for it")
    p.add_argument("--vqgan-steps", type=int, help="a fixed number of steps instead of --vqgan-minutes")
    p.add_argument("--transformer-steps", type=int, help="a fixed number of steps instead of --transformer-minutes")
    p.add_argument("--vqgan-minutes", type=float, default=45, help="time budget of the VQGAN stage")
    p.add_argument("--transformer-minutes", type=float, default=85,
                   help="time budget of the transformer stage (of each level with --per-level)")
    p.add_argument("--decoder-steps", type=int, help="a fixed number of steps of the decoder stage")
    p.add_argument("--decoder-minutes", type=float, default=15,
                   help="time budget of the decoder stage (0, without --decoder-steps: no such stage)")
    for stage in STAGES + ("export",):
        p.add_argument(f"--{stage}-args", default="", help=f"options for the {stage} stage alone (one string)")
    p.add_argument("--stop-after", choices=STAGES, help="end the run after this stage")
    p.add_argument("--levels", type=int, default=3)
    p.add_argument("--per-level", action="store_true", help="one transformer per level instead of a joint one")
    p.add_argument("--tiny", action="store_true")
    p.add_argument("--synthetic-data", action="store_true")
    p.add_argument("--force", action="store_true", help="train the stages again even if finished")
    args, rest = p.parse_known_args(argv)
    if args.out is None and args.stop_after is None:
        p.error("--out is needed (or --stop-after)")
    if args.vqgan and args.stop_after in ("vqgan", "decoder"):
        p.error(f"--vqgan keeps a model file's tokenizer: there is no {args.stop_after} stage to stop after")

    common = ["--run-dir", args.run_dir, "--cache", args.cache] + rest
    if args.tiny:
        common.append("--tiny")
    if args.synthetic_data:
        common.append("--synthetic-data")
    elif not os.path.exists(os.path.join(args.cache, "emoji.npz")):
        data.fetch(args.cache)
        data.build(args.cache)

    def stage(script, extra, result):
        if os.path.exists(os.path.join(args.run_dir, result)) and not args.force:
            print(f"train_all: {result} exists, skipping {script} (--force trains it again)", flush=True)
            return
        status = launch(args.nproc, [sys.executable, os.path.join(HERE, script)] + common + extra)
        if status != 0:
            raise SystemExit(f"train_all: {script} failed ({status})")

    def budget(steps, minutes):
        return ["--steps", str(steps)] if steps else ["--steps", "100000", "--minutes", str(minutes)]

    if not args.vqgan:
        stage("train_vqgan.py", budget(args.vqgan_steps, args.vqgan_minutes) + shlex.split(args.vqgan_args),
              "vqgan.final.pt")
        if args.stop_after == "vqgan":
            return
        if args.decoder_steps or args.decoder_minutes:
            stage("train_decoder.py", budget(args.decoder_steps, args.decoder_minutes) + shlex.split(args.decoder_args),
                  "decoder.final.pt")
        if args.stop_after == "decoder":
            return

    transformer = (budget(args.transformer_steps, args.transformer_minutes) + ["--levels", str(args.levels)]
                   + (["--vqgan", args.vqgan] if args.vqgan else []) + shlex.split(args.transformer_args))
    if args.per_level:
        for t in range(1, args.levels + 1):
            stage("train_transformer.py", transformer + ["--level", str(t)], f"transformer-level{t}.final.pt")
    else:
        stage("train_transformer.py", transformer, "transformer.final.pt")
    if args.stop_after == "transformer":
        return
    subprocess.run([sys.executable, os.path.join(HERE, "export.py"), "--run-dir", args.run_dir, "--out", args.out]
                   + shlex.split(args.export_args), check=True)


if __name__ == "__main__":
    main()
