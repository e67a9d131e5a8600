#!/usr/bin/env bash
# Builds pystrobe's packages from one static build (-DPYSTROBE_STATIC=ON):
#
#   OUT/pystrobe-V-linux-x86_64.tar.gz   pystrobe, pystrobe-diff (stripped),
#                                        README.md, THIRD_PARTY_LICENSES
#   OUT/pystrobe_V_amd64.deb             the same under /usr/bin (CPack)
#   OUT/pystrobe-V-py3-none-manylinux_2_17_x86_64.musllinux_1_1_x86_64.whl
#                                        pip puts both on PATH
#
# Usage: scripts/package.sh [OUT]      (default: dist/)
# Environment: STATIC_BUILD_DIR (default build-static; configured and built
# here when needed, a full build takes about 8 minutes on 2 cores).
# Exit codes: 0 built; 2 bad usage; 3 the build failed; 4 a package failed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ $# -gt 1 ] || [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then
  echo "usage: scripts/package.sh [OUT_DIR]" >&2
  exit 2
fi
out=$(realpath -m "${1:-dist}")
build=$(realpath -m "${STATIC_BUILD_DIR:-build-static}")

step() { echo "package: $*"; }

generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" "${generator[@]}" -DPYSTROBE_WERROR=ON \
    -DPYSTROBE_STATIC=ON -DPYSTROBE_TESTS=OFF >"$build.configure.log" 2>&1 || {
    echo "package: configuring $build failed: see $build.configure.log" >&2
    exit 3
  }
  rm -f "$build.configure.log"
fi
if ! grep -q '^PYSTROBE_STATIC:BOOL=ON' "$build/CMakeCache.txt"; then
  echo "package: $build is not a -DPYSTROBE_STATIC=ON build" >&2
  exit 2
fi
step "building $build"
cmake --build "$build" -j"$(nproc)" --target pystrobe pystrobe-diff >/dev/null || {
  echo "package: building $build failed" >&2
  exit 3
}
version=$("$build/pystrobe" --version | awk '{print $2}')

mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The install tree, stripped: the layout of the .deb and of the tarball.
cmake --install "$build" --prefix "$work/stage/usr" --strip >/dev/null
bin=$work/stage/usr/bin
doc=$work/stage/usr/share/doc/pystrobe
for b in pystrobe pystrobe-diff; do
  file "$bin/$b" | grep -q 'statically linked' || {
    echo "package: $bin/$b is not statically linked" >&2
    exit 4
  }
done

name=pystrobe-$version-linux-x86_64
step "$out/$name.tar.gz"
mkdir -p "$work/$name"
cp "$bin/pystrobe" "$bin/pystrobe-diff" "$doc/README.md" \
  "$doc/THIRD_PARTY_LICENSES" "$work/$name/"
tar -C "$work" --owner=0 --group=0 -czf "$out/$name.tar.gz.tmp" "$name"
mv "$out/$name.tar.gz.tmp" "$out/$name.tar.gz"

step "$out/pystrobe_${version}_amd64.deb (cpack)"
(cd "$build" && cpack -G DEB -B "$work/cpack" >"$work/cpack.log" 2>&1) || {
  echo "package: cpack failed:" >&2
  tail -n 20 "$work/cpack.log" >&2
  exit 4
}
mv "$work"/cpack/pystrobe_*_amd64.deb "$out/pystrobe_${version}_amd64.deb"

step "wheel"
python3 packaging/make_wheel.py --version "$version" --bin "$bin" \
  --readme "$doc/README.md" --licenses "$doc/THIRD_PARTY_LICENSES" \
  --out "$out" >/dev/null || exit 4

ls -l "$out"
