#!/bin/sh
# tools/gpu-bundle.sh BUILD OUT.tar.xz: packs what tools/gpu-benchmark.sh runs on a GPU machine that has a
# driver but none of our libraries: the command-line tool, benchmark-level and the Vulkan test programs from
# BUILD (stripped, in the build folder's layout), the shared libraries they load except the C library's own,
# and the Khronos validation layer (the tests run with it). xz keeps OpenBLAS and the layer small enough to
# carry (the device tool takes 64 MiB).
set -eu

build=$1
out=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage/cli" "$stage/tools" "$stage/tests" "$stage/lib" "$stage/layers"
cp "$build/cli/imagebart" "$stage/cli/"
cp "$build/tools/benchmark-level" "$stage/tools/"
for test in "$build"/tests/test-vulkan-*; do
  [ -x "$test" ] && [ -f "$test" ] && cp "$test" "$stage/tests/"
done
strip "$stage"/cli/* "$stage"/tools/* "$stage"/tests/*

# Every library the programs load, but those every Linux has in a matching version (glibc's, the GCC runtime).
for program in "$stage"/cli/* "$stage"/tools/* "$stage"/tests/*; do
  ldd "$program" | awk '/=> \// { print $3 }'
done | sort -u | while read -r library; do
  case $(basename "$library") in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libgcc_s.so*|libstdc++.so*) ;;
    *) cp -L "$library" "$stage/lib/" ;;
  esac
done

# The validation layer, with its manifest pointing next to itself.
layer=$(ls /usr/lib/*/libVkLayer_khronos_validation.so | head -n 1)
cp -L "$layer" "$stage/layers/"
sed 's|"library_path": *"[^"]*"|"library_path": "./libVkLayer_khronos_validation.so"|' \
  /usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json > "$stage/layers/VkLayer_khronos_validation.json"

tar -C "$stage" -cJf "$out" .
ls -la "$out"
