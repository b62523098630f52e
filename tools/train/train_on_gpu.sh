#!/usr/bin/env bash
# The bundled model's transformer, trained on one CUDA GPU (how the shipped one was made: docs/model-card.md).
# The VQGAN of the shipped model file stays (stage 1 is not retrained); a new joint transformer is trained
# from scratch for MINUTES at batch 256, its scenes drawn by all but two of the machine's cores, then
# exported (f16) with that VQGAN, a default guidance of 2 and top-k 32 (measured: docs/model-card.md).
#   tools/train/train_on_gpu.sh CACHE RUN_DIR OUT_MODEL [MINUTES]
# CACHE holds emoji.npz (tools/train/data.py fetch && build). PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=$1 run_dir=$2 out=$3 minutes=${4:-7}
python=${PYTHON:-python3}
workers=$(( $(nproc) > 2 ? $(nproc) - 2 : 0 ))
"$python" tools/train/train_transformer.py --cache "$cache" --run-dir "$run_dir" \
  --vqgan data/models/default.safetensors --no-resume --batch 256 --lr 1e-3 --steps 10000000 \
  --minutes "$minutes" --loader-workers "$workers" --log-every 100 --ckpt-every 2000
"$python" tools/train/export.py --run-dir "$run_dir" --out "$out" --guidance 2 --top-k 32 \
  --made-by "tools/train/train_on_gpu.sh: the transformer, $minutes minutes on one GPU; the VQGAN of tools/train on 2 CPU cores"
