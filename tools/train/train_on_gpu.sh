#!/usr/bin/env bash
# The default model on one CUDA GPU: tools/train/train_all.py with batches a GPU can use, the scenes drawn by all
# but two of the machine's cores (docs/model-card.md, "The whole model on a GPU").
#   tools/train/train_on_gpu.sh CACHE RUN_DIR OUT_MODEL [TRANSFORMER_MINUTES]
# By default the tokenizer (VQGAN and decoder) of data/models/default.safetensors is kept and only a new joint
# transformer is trained, for TRANSFORMER_MINUTES (default 7) at batch 256.
# VQGAN_MINUTES=M trains a new tokenizer first: the VQGAN for M minutes, then its decoder alone for
# DECODER_MINUTES (default 1), both at batch 128 (how the bundled model was made). STOP_AFTER=vqgan|decoder|
# transformer ends the run there; the same command later, with RUN_DIR's finished stages in place, goes on
# from them (a run split over calls).
# The model file is exported (f16) with a default guidance of 2 and top-k 32. CACHE holds emoji.npz
# (tools/train/data.py fetch && build). PYTHON picks the interpreter (default python3); TRAIN_ARGS adds options
# for train_all.py and every stage (the smoke test's --tiny --synthetic-data).
set -euo pipefail
cd "$(dirname "$0")/../.."
cache=$1 run_dir=$2 out=$3 transformer_minutes=${4:-7}
vqgan_minutes=${VQGAN_MINUTES:-0} decoder_minutes=${DECODER_MINUTES:-1}
python=${PYTHON:-python3}
workers=$(( $(nproc) > 2 ? $(nproc) - 2 : 0 ))
loader="--loader-workers $workers"

if [ "$vqgan_minutes" = 0 ]; then
  tokenizer=(--vqgan data/models/default.safetensors)
  made_by="the transformer, $transformer_minutes minutes on one GPU; the tokenizer of data/models/default.safetensors"
else
  tokenizer=(--vqgan-minutes "$vqgan_minutes" --vqgan-args "--batch 128 --lr 4e-4 $loader --log-every 100"
             --decoder-minutes "$decoder_minutes" --decoder-args "--batch 128 --lr 4e-4 $loader --log-every 100")
  made_by="on one GPU: the VQGAN $vqgan_minutes minutes, its decoder $decoder_minutes, the transformer $transformer_minutes"
fi
"$python" tools/train/train_all.py --nproc 1 --cache "$cache" --run-dir "$run_dir" --out "$out" \
  ${STOP_AFTER:+--stop-after "$STOP_AFTER"} "${tokenizer[@]}" --ckpt-every 2000 \
  --transformer-minutes "$transformer_minutes" \
  --transformer-args "--batch 256 --lr 1e-3 $loader --log-every 100" \
  --export-args "--guidance 2 --top-k 32 --made-by 'tools/train/train_on_gpu.sh: $made_by'" ${TRAIN_ARGS:-}
