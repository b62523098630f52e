#!/usr/bin/env bash
# What `./dev.sh run` shows on the command line before it starts the editor: the model's description, then
# one picture through all of its levels. For a conditioned model that is an edit of a bundled sample picture
# (its first emoji re-made from a prompt, or from the first class); for an unconditional one, a sample.
# The test suite runs it too (quick-start-demo), so that the README's first command keeps working.
#   tools/demo.sh BUILD_DIR MODEL OUT.png
set -euo pipefail
cd "$(dirname "$0")/.."
build=$1 model=$2 out=$3
cli="$build/cli/imagebart"
sample=data/samples/01-white-right-pointing

info=$("$cli" info "$model")
echo "$info"
case "$(sed -n 's/^Conditioning: \([a-z]*\).*/\1/p' <<<"$info")" in
  text)
    "$cli" inpaint "$model" --image "$sample.png" --mask "$sample.mask.png" --prompt "red apple" --seed 1 \
      --out "$out"
    echo "Wrote $out: $sample.png with its masked emoji re-made from the prompt \"red apple\"" ;;
  class)
    "$cli" inpaint "$model" --image "$sample.png" --mask "$sample.mask.png" --class 0 --seed 1 --out "$out"
    echo "Wrote $out: $sample.png with its masked emoji re-made as class 0" ;;
  none)
    "$cli" sample "$model" --seed 1 --out "$out"
    echo "Wrote $out: a sample" ;;
  *)
    echo "tools/demo.sh: $model: no conditioning line in imagebart info" >&2
    exit 1 ;;
esac
