#!/bin/sh
# tools/gpu-benchmark.sh BUNDLE.tar.xz: the Vulkan engine on a machine with a GPU, in one go, logs under $OUT:
#   1. the GPU (nvidia-smi) and what `imagebart devices` lists (gpu.log);
#   2. the Vulkan test programs (every kernel, the sampler, whole-network parity of logits, encode and decode
#      against the CPU engine on small models) on the GPU, under the validation layer (tests.tap);
#   3. the benchmark at the FFHQ size: the Vulkan engine (per-kernel times, GFLOP/s, time per level and per
#      token step) against the PyTorch twin with a KV cache on the same card, then the engine alone with the
#      per-kernel profiles of its encoder pass and of the level, as built and with each of LEVEL_VARIANTS (kernel
#      switches, default IMAGEBART_VK_SPLIT_ATTENTION=0: the baselines on the same card) (benchmark.txt);
#   4. an edit's level against its mask on the GPU (benchmark-edit --backend vulkan): the FFHQ-size level and
#      the bundled model (edit.txt);
#   5. the PyTorch-twin parity suites with --backend vulkan, if time is left (parity.txt);
#   6. the linear layer's kernels and tiles on the FFHQ size's shapes (LINEAR_ARGS: other shapes), f32 and f16
#      weights (linear.txt);
#   STEPS picks which of them run (default "tests benchmark edit parity"; "level" is the FFHQ-size level of 3
#   alone, without the twin; "linear" is 6). When the bundle holds
#   tools/benchmark-edit-before (gpu-bundle.sh's BEFORE_BUILD, the build to compare with), 4 runs it too,
#   alternating with the current one on the same card;
#   and, when the bundle holds libFuzzer harnesses, FUZZ_CPUS names spare cores (e.g. 8-15) that fuzz the parsers
#   the whole time while 1-5 run on the others (BENCH_CPUS), or FUZZ_AFTER=1 fuzzes on every core for the time
#   left after 5 (fuzz.txt, crash inputs in fuzz-crashes.tar; FUZZ_PLAN names the harnesses, one per core).
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
steps=" ${STEPS:-tests benchmark edit parity} "
bench_cpus=${BENCH_CPUS:-}
fuzz_cpus=${FUZZ_CPUS:-}

bundle=$1
out=${OUT:-/tmp/gpu-benchmark}
root=/tmp/imagebart-gpu
mkdir -p "$out" "$root"
log="$out/gpu.log"
started=$(date +%s)

say () { echo "== $* ($(( $(date +%s) - started )) s)" | tee -a "$log"; }
left_of () { echo $(( $1 - ($(date +%s) - started) )); }
# The measured programs run on BENCH_CPUS (when given), apart from the fuzzers' cores.
pinned () { if [ -n "$bench_cpus" ]; then taskset -c "$bench_cpus" "$@"; else "$@"; fi; }

# The Vulkan loader (tools' README: .gl holds libvulkan1's .deb), our programs and libraries.
for f in .gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
ldconfig
tar -xJf "$bundle" -C "$root"
export LD_LIBRARY_PATH="$root/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export VK_LAYER_PATH="$root/layers"
# The bundle's GdkPixbuf loaders, not the host's (built against another version of the library).
sed "s|@LOADERS@|$root/lib/pixbuf-loaders|" "$root/lib/pixbuf-loaders/loaders.cache.in" > "$root/lib/pixbuf-loaders/loaders.cache"
export GDK_PIXBUF_MODULE_FILE="$root/lib/pixbuf-loaders/loaders.cache"
export XDG_DATA_DIRS="$root/share:${XDG_DATA_DIRS:-/usr/local/share:/usr/share}"
export XDG_CACHE_HOME=/tmp/imagebart-cache
cli="$root/cli/imagebart"

wants () { case $steps in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# Fuzzing: one process per core of CPUS, each harness restarted after a crash, until SECONDS have passed.
fuzz_pids=""
start_fuzzers () {
  cpus_list=$1
  fuzz_seconds=$2
  mkdir -p /tmp/fuzz/crashes
  # Harnesses by need (docs/reliability.md): the editor's had the fewest runs.
  plan=${FUZZ_PLAN:-"project-file project-file project-file image image model-header model-header model-header"}
  cpus=$(taskset -c "$cpus_list" nproc)
  i=0
  for name in $plan; do
    [ "$i" -lt "$cpus" ] || break
    [ -x "$root/fuzz/fuzz-$name" ] || continue
    mkdir -p "/tmp/fuzz/$name-$i/corpus"
    (
      end=$(( $(date +%s) + fuzz_seconds ))
      while [ "$(date +%s)" -lt "$(( end - 5 ))" ]; do
        # The image harness needs room past GdkPixbuf's multi-GB allocations from header fields.
        ASAN_OPTIONS=quarantine_size_mb=32:allocator_may_return_null=1:detect_leaks=0 \
          taskset -c "$cpus_list" "$root/fuzz/fuzz-$name" -max_total_time=$(( end - $(date +%s) )) -timeout=20 \
          -rss_limit_mb=8192 -malloc_limit_mb=8192 -print_final_stats=1 -artifact_prefix="/tmp/fuzz/crashes/$name-$i-" \
          "/tmp/fuzz/$name-$i/corpus" "tests/fuzz/corpus/$name" >> "/tmp/fuzz/$name-$i.log" 2>&1
        echo "exit $?" >> "/tmp/fuzz/$name-$i.log"
      done
    ) &
    fuzz_pids="$fuzz_pids $!"
    i=$(( i + 1 ))
  done
  echo "fuzzing: $i processes on cpus $cpus_list for $fuzz_seconds s" >> "$log"
}
have_fuzzers () { ls "$root"/fuzz/fuzz-* > /dev/null 2>&1; }
# FUZZ_CPUS: spare cores fuzz the whole run, next to the measurements.
if [ -n "$fuzz_cpus" ] && have_fuzzers; then
  start_fuzzers "$fuzz_cpus" $(( budget - 15 ))
fi

say "GPU"
nvidia-smi >> "$log" 2>&1
lscpu | grep -E "Model name|^CPU\(s\)" >> "$log" 2>&1
say "imagebart devices"
ls /usr/local/nvidia/share/vulkan/icd.d /usr/share/vulkan/icd.d /etc/vulkan/icd.d >> "$log" 2>&1
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json \
           /etc/vulkan/icd.d/nvidia_icd.json; do
  "$cli" devices > /tmp/devices.txt 2>&1 && grep -qi "$gpu_name" /tmp/devices.txt && break
  # The driver's ICD manifest is not always where the loader looks by default on these machines.
  [ -f "$icd" ] || continue
  export VK_DRIVER_FILES=$icd
  echo "(no $gpu_name device listed; trying VK_DRIVER_FILES=$VK_DRIVER_FILES)" >> "$log"
done
cat /tmp/devices.txt >> "$log"

export IMAGEBART_TEST_VULKAN_DEVICE="$gpu_name"
wants tests && say "Vulkan tests on the GPU (validation layer on)"
wants tests && for test in ${VULKAN_TESTS:-ops sampler transformer vqgan image device faults}; do
  program="$root/tests/test-vulkan-$test"
  [ -x "$program" ] || continue
  # At most a quarter of the budget for the tests, so that the benchmarks run whatever happens here.
  left=$(left_of $(( budget / 4 )))
  [ "$left" -gt 5 ] || { echo "test-vulkan-$test: no time left" | tee -a "$log"; continue; }
  OMP_NUM_THREADS=4 pinned timeout "$left" "$program" --tap > "/tmp/test-$test.tap" 2>&1
  echo "test-vulkan-$test: exit $? ($(grep -c '^ok' "/tmp/test-$test.tap") ok, $(grep -c '^not ok' "/tmp/test-$test.tap") not ok)" | tee -a "$log"
done
wants tests && cat /tmp/test-*.tap > "$out/tests.tap"

# The model file (770 MB at the FFHQ size) is written here, by the twin's code: too large to carry.
model=$root/benchmark-ffhq-level.safetensors
case $bench_args in *--small*) model=$root/benchmark-small-level.safetensors ;; esac
if wants benchmark; then
  say "Benchmark: the Vulkan engine against the PyTorch twin with a KV cache, FFHQ size"
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 pinned timeout "$(left_of $(( budget * 3 / 5 )))" python3 tools/benchmark --build "$root" \
    --model "$model" --threads 8 --backend vulkan --device "$gpu_name" --twin-device "$twin_device" $bench_args \
    > "$out/benchmark.txt" 2>&1
  echo "benchmark: exit $?" >> "$log"
  grep -E "^\(a\)|^\(b\)|^\(c\)|faster|slower" "$out/benchmark.txt" >> "$log"
elif wants level || wants edit; then
  say "The FFHQ-size model file"
  # shellcheck disable=SC2086
  python3 tools/benchmark --build "$root" --model "$model" --write-model-only $bench_args >> "$log" 2>&1
  echo "model: exit $?" >> "$log"
fi
if [ -f "$model" ] && { wants benchmark || wants level; }; then
  # The level on the engine alone, with the per-kernel profiles of its encoder pass and of the whole level: as
  # built, then with each of LEVEL_VARIANTS (VAR=VALUE switches of the kernels: the baselines on the same card).
  for variant in default ${LEVEL_VARIANTS:-IMAGEBART_VK_SPLIT_ATTENTION=0}; do
    say "The level on the engine alone ($variant)"
    echo "== $variant benchmark-level" >> "$out/benchmark.txt"
    (
      [ "$variant" = default ] || export "${variant?}"
      pinned timeout "$(left_of $(( budget * 3 / 5 + 30 )))" "$root/tools/benchmark-level" "$model" --level 1 \
        --repeats 3 --backend vulkan --skip-machine --device "$gpu_name"
    ) >> "$out/benchmark.txt" 2>&1
    echo "benchmark-level $variant: exit $?" >> "$log"
  done
fi
if wants linear && [ -x "$root/tools/benchmark-vulkan-linear" ]; then
  say "The linear layer's kernels and tiles"
  for dtype in f32 f16; do
    echo "== benchmark-vulkan-linear --dtype $dtype" >> "$out/linear.txt"
    # shellcheck disable=SC2086
    pinned timeout "$(left_of $(( budget * 3 / 4 )))" "$root/tools/benchmark-vulkan-linear" --device "$gpu_name" \
      --dtype "$dtype" ${LINEAR_ARGS:-} >> "$out/linear.txt" 2>&1
    echo "benchmark-vulkan-linear $dtype: exit $?" >> "$log"
  done
fi
if [ -f "$model" ] && wants edit; then
  say "An edit's level against its mask on the GPU"
  programs=benchmark-edit
  [ -x "$root/tools/benchmark-edit-before" ] && programs="benchmark-edit-before benchmark-edit benchmark-edit-before benchmark-edit"
  for m in "$model" data/models/default.safetensors; do
    for program in $programs; do
      left=$(left_of $(( budget * 9 / 10 )))
      [ "$left" -gt 5 ] || { echo "$program $(basename "$m"): no time left" >> "$log"; continue; }
      echo "== $program --backend vulkan $(basename "$m")" >> "$out/edit.txt"
      pinned timeout "$left" "$root/tools/$program" "$m" --backend vulkan \
        --device "$gpu_name" --level 1 --repeats "${EDIT_REPEATS:-4}" --variants 4 >> "$out/edit.txt" 2>&1
      echo "$program $(basename "$m"): exit $?" >> "$log"
    done
  done
fi

left=$(left_of $(( budget - 20 )))
if wants parity && [ "$left" -gt 30 ]; then
  say "PyTorch-twin parity suites with --backend vulkan ($left s at most)"
  IMAGEBART_CLI="$cli" PYTHONUNBUFFERED=1 pinned timeout "$left" python3 tests/parity/test_vulkan.py -v \
    > "$out/parity.txt" 2>&1
  echo "parity: exit $?" >> "$log"
  tail -n 5 "$out/parity.txt" >> "$log"
fi

# FUZZ_AFTER=1: every core fuzzes the time that is left once the measurements are done.
left=$(left_of $(( budget - 10 )))
if [ "${FUZZ_AFTER:-0}" = 1 ] && [ -z "$fuzz_pids" ] && [ "$left" -gt 30 ] && have_fuzzers; then
  say "Fuzzing on every core"
  start_fuzzers "0-$(( $(nproc) - 1 ))" "$left"
fi
if [ -n "$fuzz_pids" ]; then
  say "Waiting for the fuzzers"
  # shellcheck disable=SC2086
  wait $fuzz_pids
  for f in /tmp/fuzz/*.log; do
    echo "== $(basename "$f" .log)"
    grep -E "^stat::|^#[0-9]+.*(DONE|pulse)|ERROR|SUMMARY|^exit " "$f" | tail -n 12
  done > "$out/fuzz.txt"
  if ls /tmp/fuzz/crashes/* > /dev/null 2>&1; then
    tar -C /tmp/fuzz -cf "$out/fuzz-crashes.tar" crashes
  fi
fi
say "done"
