#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine:
#   ./dev.sh run    install what is missing, build, and run the program on the bundled model
#   ./dev.sh test   install what is missing, build, and run every test (also under ASan + UBSan)
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages: build tools and libraries, the PyTorch twin (test oracle), and OpenBLAS's threaded
# build (without it Debian's torch falls back to a reference BLAS about 30x slower); the Vulkan headers and
# glslc for the Vulkan engine, with Mesa's drivers (lavapipe runs its tests without a GPU) and the validation
# layer the tests run under; GTK 4 and libadwaita for the editor, xvfb for its tests, and the validators of
# its desktop, metainfo and translation files; clang with its sanitizer and libFuzzer runtimes and LLVM's
# symbolizer for the sanitizer and fuzz builds.
PACKAGES=(
  build-essential meson ninja-build pkg-config
  libglib2.0-dev libjson-glib-dev libgdk-pixbuf-2.0-dev
  libopenblas-dev libopenblas0-pthread
  python3 python3-torch python3-numpy python3-yaml python3-pil
  libvulkan-dev glslc mesa-vulkan-drivers vulkan-validationlayers
  libgtk-4-dev libadwaita-1-dev libepoxy-dev webp-pixbuf-loader xvfb xauth
  desktop-file-utils appstream gettext
  clang libclang-rt-14-dev llvm
)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=()
  for package in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing: ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}

build() {
  local dir=$1; shift
  [ -f "$dir/build.ninja" ] || meson setup "$dir" "$@"
  ninja -C "$dir"
}

run() {
  build build --buildtype=release
  local model=data/models/default.safetensors
  if [ ! -f "$model" ]; then
    # The trained default model is not bundled yet: show the pipeline on a small random model instead.
    model=build/demo-model.safetensors
    echo "No bundled model yet; making a small random demo model at $model"
    /usr/bin/python3 tools/make-test-model --variant residual_scaled --levels 3 --gpt-top -o "$model"
  fi
  # The model's description and one edit on the command line (tools/demo.sh; the tests run it too).
  tools/demo.sh build "$model" build/demo.png
  # The editor, on the same model (it finds its settings schema in build/data when not installed).
  if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    echo "No display: start the editor later with ./build/app/imagebart-studio --model $model"
    return
  fi
  echo "Starting the editor: ./build/app/imagebart-studio --model $model"
  ./build/app/imagebart-studio --model "$model"
}

# The JSON test logs of this run's meson test calls, in order (each call names its own with --logbase).
TEST_LOGS=()

# meson test in a build folder, its log kept under the name given; the other arguments go to meson test.
run_suite() {
  local dir=$1 logbase=$2; shift 2
  TEST_LOGS+=("$dir/meson-logs/$logbase.json")
  meson test -C "$dir" --print-errorlogs --num-processes 2 --logbase "$logbase" "$@"
}

# Adds up the results of every log, names each failed test with the end of its output (so that the last
# lines of a long CI log say what failed) and prints the totals.
summarize_tests() {
  /usr/bin/python3 - "${TEST_LOGS[@]}" <<'PY'
import json, os, sys
passed = failed = skipped = 0
for log in sys.argv[1:]:
    if not os.path.exists(log):
        print(f"FAILED: no test log {log}")
        failed += 1
        continue
    for line in open(log):
        if not line.strip():
            continue
        test = json.loads(line)
        if test["result"] in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif test["result"] == "SKIP":
            skipped += 1
        else:
            failed += 1
            print(f"FAILED {log}: {test['name']} ({test['result']}, {test['duration']:.1f} s)")
            output = (test.get("stdout") or "") + (test.get("stderr") or "")
            for tail_line in output.splitlines()[-25:]:
                print(f"    {tail_line}")
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
PY
}

run_tests() {
  local status=0
  build build --buildtype=release
  run_suite build testlog || status=1

  # The C tests again under clang's ASan + UBSan with LeakSanitizer (docs/reliability.md): the model suite
  # (parsers of untrusted files, fault injection, the load test), then the editor's. A build folder made by
  # gcc is redone. The editor's suppressions (tests/lsan.supp) name frames inside GTK's libraries, which
  # only the slow unwinder sees.
  if [ -f build-sanitize/build.ninja ] && ! grep -q '"clang"' build-sanitize/meson-info/intro-compilers.json; then
    rm -rf build-sanitize
  fi
  CC=clang build build-sanitize --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false
  local ubsan=halt_on_error=1:print_stacktrace=1
  local lsan=suppressions="$PWD/tests/lsan.supp":print_suppressions=0
  # Mesa's lavapipe (22.3.6-1+deb12u2) allocates once per load and never frees it; the Vulkan loader loads and
  # unloads it with every instance (each device listing), and GTK's GL start-up does the same with the parts
  # it shares, so LeakSanitizer finds 128 bytes per load in memory that is no longer mapped. Loaded for the
  # whole process it stays reachable: a leak of the driver's, not ours (docs/reliability.md, Sanitizers).
  local keep_driver
  keep_driver=$(ls /usr/lib/*/libvulkan_lvp.so 2>/dev/null | head -n 1 || true)
  LD_PRELOAD=$keep_driver UBSAN_OPTIONS=$ubsan LSAN_OPTIONS=$lsan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    run_suite build-sanitize testlog-model --timeout-multiplier 3 --suite model || status=1
  LD_PRELOAD=$keep_driver UBSAN_OPTIONS=$ubsan LSAN_OPTIONS=$lsan \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0 \
    run_suite build-sanitize testlog-app --timeout-multiplier 3 --suite app || status=1

  # The libFuzzer harnesses (tests/fuzz), each for a minute from its seed corpus.
  CC=clang CFLAGS=-fsanitize=fuzzer-no-link build build-fuzz --buildtype=debugoptimized -Dfuzzing=true \
    -Db_sanitize=address,undefined -Db_lundef=false -Dvulkan=disabled
  run_suite build-fuzz testlog --suite fuzz || status=1

  summarize_tests
  return $status
}

case "${1:-}" in
  run) install_packages; run ;;
  test) install_packages; run_tests ;;
  *) echo "usage: $0 run|test" >&2; exit 2 ;;
esac
