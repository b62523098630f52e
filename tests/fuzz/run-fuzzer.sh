#!/bin/sh
# run-fuzzer.sh FUZZER CORPUS SECONDS: a short libFuzzer run from the seed corpus. New inputs go to a
# temporary folder, never into the source tree; a crash leaves its input in the build folder and fails.
# IMAGEBART_FUZZ_SECONDS overrides the time (0: only replay the corpus).
set -eu
fuzzer=$1
corpus=$2
seconds=${IMAGEBART_FUZZ_SECONDS:-$3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
artifacts="$(pwd)/fuzz-artifacts/$(basename "$fuzzer")"
mkdir -p "$artifacts"
# A small ASan quarantine: with the default one, fuzz-recipe-png's resident memory (GdkPixbuf's many freed
# buffers) grows past the RSS limit in long runs, with nothing leaked.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=32"
if [ "$seconds" -eq 0 ]; then
  exec "$fuzzer" -runs=0 "$corpus"
fi
"$fuzzer" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$artifacts/" "$work" "$corpus"
