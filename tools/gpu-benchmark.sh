#!/bin/sh
# tools/gpu-benchmark.sh BUNDLE.tar.xz: the Vulkan engine on a machine with a GPU, in one go, logs under $OUT:
#   1. the GPU (nvidia-smi) and what `imagebart devices` lists;
#   2. the Vulkan test programs (every kernel, the sampler, whole-network parity of logits, encode and decode
#      against the CPU engine on small models) on the GPU, under the validation layer;
#   3. the benchmark at the FFHQ size: the Vulkan engine (per-kernel times, GFLOP/s, time per level and per
#      token step) against the PyTorch twin with a KV cache on the same card;
#   4. the PyTorch-twin parity suites with --backend vulkan, if time is left.
# BUNDLE comes from tools/gpu-bundle.sh (the programs and the libraries a bare machine lacks); .gl holds the .debs
# of libvulkan1 and of libglvnd (libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2), without which the NVIDIA
# driver's Vulkan ICD does not load (see the device tool's README). Run from the
# repository root; python3 must have PyTorch (with CUDA for the twin on the GPU). Each step has a time limit,
# so that the whole run fits one call of the device tool. To try it on a machine without a GPU (lavapipe, the
# twin on the CPU, a small model): GPU_NAME=llvmpipe TWIN_DEVICE=cpu BENCH_ARGS=--small tools/gpu-benchmark.sh B
set -u
gpu_name=${GPU_NAME:-NVIDIA}
twin_device=${TWIN_DEVICE:-cuda}
bench_args=${BENCH_ARGS:-}
budget=${BUDGET_SECONDS:-300}

bundle=$1
out=${OUT:-/tmp/gpu-benchmark}
root=/tmp/imagebart-gpu
mkdir -p "$out" "$root"
log="$out/gpu.log"
started=$(date +%s)

say () { echo "== $* ($(( $(date +%s) - started )) s)" | tee -a "$log"; }

# The Vulkan loader (tools' README: .gl holds libvulkan1's .deb), our programs and libraries.
for f in .gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
ldconfig
tar -xJf "$bundle" -C "$root"
export LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VK_LAYER_PATH="$root/layers"
export XDG_CACHE_HOME=/tmp/imagebart-cache
cli="$root/cli/imagebart"

say "GPU"
nvidia-smi 2>&1 | tee "$out/nvidia-smi.txt" >> "$log"
say "imagebart devices"
ls /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d >> "$log" 2>&1
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
           /etc/vulkan/icd.d/nvidia_icd.json; do
  "$cli" devices > "$out/devices.txt" 2>&1 && grep -qi "$gpu_name" "$out/devices.txt" && break
  # The driver's ICD manifest is not always where the loader looks by default on these machines.
  [ -f "$icd" ] || continue
  export VK_DRIVER_FILES=$icd
  echo "(no $gpu_name device listed; trying VK_DRIVER_FILES=$VK_DRIVER_FILES)" >> "$log"
done
cat "$out/devices.txt" >> "$log"

say "Vulkan tests on the GPU (validation layer on)"
export IMAGEBART_TEST_VULKAN_DEVICE=$gpu_name
for test in ops sampler transformer vqgan image device faults; do
  program="$root/tests/test-vulkan-$test"
  [ -x "$program" ] || continue
  # At most a third of the budget for the tests, so that the benchmark runs whatever happens here.
  left=$(( budget / 3 - ($(date +%s) - started) ))
  [ "$left" -gt 5 ] || { echo "test-vulkan-$test: no time left" | tee -a "$log"; continue; }
  OMP_NUM_THREADS=4 timeout "$left" "$program" --tap > "$out/test-$test.tap" 2>&1
  echo "test-vulkan-$test: exit $? ($(grep -c '^ok' "$out/test-$test.tap") ok, $(grep -c '^not ok' "$out/test-$test.tap") not ok)" | tee -a "$log"
done
cat "$out"/test-*.tap > "$out/tests.tap" && rm -f "$out"/test-*.tap

say "Benchmark: the Vulkan engine against the PyTorch twin with a KV cache, FFHQ size"
# The model file (770 MB at the FFHQ size) is written here, by the twin's code: too large to carry.
left=$(( budget - 30 - ($(date +%s) - started) ))
# shellcheck disable=SC2086
PYTHONUNBUFFERED=1 timeout "$left" python3 tools/benchmark --build "$root" --threads "$(nproc)" \
  --backend vulkan --device "$gpu_name" --twin-device "$twin_device" $bench_args > "$out/benchmark.txt" 2>&1
echo "benchmark: exit $?" >> "$log"
cat "$out/benchmark.txt" >> "$log"

left=$(( budget - ($(date +%s) - started) ))
[ "$left" -gt 120 ] && left=120
if [ "$left" -gt 30 ]; then
  say "PyTorch-twin parity suites with --backend vulkan ($left s at most)"
  IMAGEBART_CLI="$cli" PYTHONUNBUFFERED=1 timeout "$left" python3 tests/parity/test_vulkan.py 2>&1 \
    | tail -n 40 > "$out/parity.txt"
  tail -n 5 "$out/parity.txt" >> "$log"
fi
say "done"
