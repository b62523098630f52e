#!/usr/bin/python3
"""Starts N local processes of a training stage with the environment torchrun gives them
(MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE), waits for them, and stops the
others when one fails.

Why not torchrun: Debian's torch 1.13 torchrun breaks under Python 3.11 before starting any worker
(Std.from_str("0") returns None: Python 3.11 no longer iterates zero-valued flags). Every stage reads only
the standard variables, so on a machine with a working torchrun use it instead, e.g. across machines:
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29400 \
        tools/train/train_transformer.py --run-dir ...

Usage: launch.py --nproc N SCRIPT [ARGS...]
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(nproc, command):
    """Runs `command` (a list) nproc times; returns the first non-zero exit status, or 0."""
    if nproc == 1:
        return subprocess.call(command)
    port = str(free_port())
    procs = []
    for rank in range(nproc):
        env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=port, WORLD_SIZE=str(nproc), RANK=str(rank),
                   LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(nproc), GROUP_RANK="0")
        procs.append(subprocess.Popen(command, env=env))
    status = 0
    try:
        while procs:
            for p in list(procs):
                rc = p.poll()
                if rc is None:
                    continue
                procs.remove(p)
                if rc != 0 and status == 0:
                    status = rc
                    for other in procs:
                        other.send_signal(signal.SIGTERM)
            time.sleep(0.2)
    except KeyboardInterrupt:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            p.wait()
        raise
    return status


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nproc", type=int, default=1)
    p.add_argument("script")
    p.add_argument("args", nargs=argparse.REMAINDER)
    args = p.parse_args()
    sys.exit(launch(args.nproc, [sys.executable, args.script] + args.args))


if __name__ == "__main__":
    main()
