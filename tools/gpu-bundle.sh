#!/bin/sh
# tools/gpu-bundle.sh BUILD OUT.tar.xz [FUZZ_BUILD]: packs what tools/gpu-benchmark.sh runs on a GPU machine that
# has a driver but none of our libraries: the command-line tool, benchmark-level, benchmark-edit and the Vulkan
# test programs from BUILD (stripped, in the build folder's layout), the shared libraries they load except the C
# library's own, and the Khronos validation layer (the tests run with it). With FUZZ_BUILD (a -Dfuzzing=true
# build), its libFuzzer harnesses come too, so that the machine's spare cores fuzz while the GPU is measured. With
# BEFORE_BUILD set (a build of the code to compare with), its benchmark-edit comes as tools/benchmark-edit-before.
# xz keeps OpenBLAS and the layer small enough to carry (the device tool takes 64 MiB).
set -eu

build=$1
out=$2
fuzz_build=${3:-}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

mkdir -p "$stage/cli" "$stage/tools" "$stage/tests" "$stage/lib" "$stage/layers" "$stage/fuzz"
cp "$build/cli/imagebart" "$stage/cli/"
cp "$build/tools/benchmark-level" "$build/tools/benchmark-edit" "$stage/tools/"
[ -x "$build/tools/benchmark-vulkan-linear" ] && cp "$build/tools/benchmark-vulkan-linear" "$stage/tools/"
[ -n "${BEFORE_BUILD:-}" ] && cp "$BEFORE_BUILD/tools/benchmark-edit" "$stage/tools/benchmark-edit-before"
for test in "$build"/tests/test-vulkan-*; do
  [ -x "$test" ] && [ -f "$test" ] && cp "$test" "$stage/tests/"
done
strip "$stage"/cli/* "$stage"/tools/* "$stage"/tests/*
if [ -n "$fuzz_build" ]; then
  for harness in "$fuzz_build"/tests/fuzz/fuzz-*; do
    case $harness in *fuzz-replay-*) continue ;; esac
    [ -x "$harness" ] && [ -f "$harness" ] && cp "$harness" "$stage/fuzz/"
  done
  strip --strip-debug "$stage"/fuzz/*
fi

# GdkPixbuf's loader modules but SVG's (which pulls in cairo and pango), with their module list: the host's
# modules, built against another version of the library, must not be loaded. gpu-benchmark.sh puts the
# bundle's path where @LOADERS@ stands. PNG and JPEG are built into the library.
loaders=$(pkg-config --variable=gdk_pixbuf_moduledir gdk-pixbuf-2.0)
mkdir -p "$stage/lib/pixbuf-loaders"
for module in "$loaders"/*.so; do
  case $(basename "$module") in *svg*) ;; *) cp "$module" "$stage/lib/pixbuf-loaders/" ;; esac
done
awk -v dir="$loaders/" '
  /^"/ && index($0, dir) == 2 { skip = ($0 ~ /svg/) }
  /^$/ { if (!skip) print; skip = 0; next }
  !skip { gsub(dir, "@LOADERS@/"); print }
' "$(pkg-config --variable=gdk_pixbuf_cache_file gdk-pixbuf-2.0)" > "$stage/lib/pixbuf-loaders/loaders.cache.in"

# Every library the programs load, but those every Linux has in a matching version (glibc's, the GCC runtime).
# GdkPixbuf finds a file's format through GIO's MIME sniffing, which needs shared-mime-info's database; a bare
# machine may have none ("Couldn't recognize the image file format" for a PNG). Its binary cache suffices.
mkdir -p "$stage/share/mime"
cp /usr/share/mime/mime.cache "$stage/share/mime/"

for program in "$stage"/cli/* "$stage"/tools/* "$stage"/tests/* "$stage"/fuzz/* "$stage"/lib/pixbuf-loaders/*.so; do
  [ -f "$program" ] || continue
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
