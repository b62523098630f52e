#!/bin/sh
# campaign.sh BUILD OUT NAME:SECONDS...: long libFuzzer runs, one harness after the other, at low priority.
# BUILD is a -Dfuzzing=true build; each harness grows its corpus in OUT/NAME/corpus from the seeds in
# tests/fuzz/corpus/NAME, keeps crash inputs in OUT/NAME/ and its log in OUT/NAME.log. After a crash the
# harness goes on for the rest of its time. Run two at once on two cores: see docs/reliability.md.
set -u
build=$1
out=$2
shift 2
source_dir=$(cd "$(dirname "$0")" && pwd)
for spec in "$@"; do
  name=${spec%%:*}
  seconds=${spec#*:}
  mkdir -p "$out/$name/corpus"
  end=$(( $(date +%s) + seconds ))
  while [ "$(date +%s)" -lt "$end" ]; do
    left=$(( end - $(date +%s) ))
    nice -n 15 "$build/tests/fuzz/fuzz-$name" -max_total_time="$left" -timeout=20 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$out/$name/" "$out/$name/corpus" "$source_dir/corpus/$name" \
      >> "$out/$name.log" 2>&1
    echo "exit $?" >> "$out/$name.log"
  done
done
